//! Access decisions: one call per request, returning the decision and the rules that made
//! it, so that handlers never test roles themselves and every decision can be audited.
//!
//! The rules below are the shipped defaults for the actions that exist so far. The policy
//! engine issue moves them into Cedar policies that privacy officers edit at run time;
//! this interface (action in, decision with rule ids out) stays.

use serde_json::json;

use crate::audit::{self, Actor, AuditError, Event};
use crate::auth::{Principal, Role};
use crate::db::Db;

/// Protected operations; each mirrors an action of the Cedar schema to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Search and verify the audit log.
    ReadAudit,
    /// Export the audit log.
    ExportAudit,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ReadAudit => "ReadAudit",
            Action::ExportAudit => "ExportAudit",
        }
    }
}

/// The outcome of one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The ids of the rules that permitted, or why nothing did.
    pub reasons: Vec<String>,
}

struct Rule {
    id: &'static str,
    actions: &'static [Action],
    roles: &'static [Role],
}

/// Accountability (GDPR Art. 5(2)) is the privacy officer's and the DPO's job: they, and
/// nobody else, read and export the log of everyone's actions.
const RULES: &[Rule] = &[Rule {
    id: "audit-log-privacy-officers-and-dpo",
    actions: &[Action::ReadAudit, Action::ExportAudit],
    roles: &[Role::PrivacyOfficer, Role::Dpo],
}];

/// Decides whether `principal` may perform `action`. Default deny.
pub fn authorize(principal: &Principal, action: Action) -> Decision {
    let permitting: Vec<String> = RULES
        .iter()
        .filter(|rule| rule.actions.contains(&action) && rule.roles.iter().any(|role| principal.roles.contains(role)))
        .map(|rule| rule.id.to_owned())
        .collect();
    if permitting.is_empty() {
        Decision { allowed: false, reasons: vec![format!("no rule permits {} for this principal", action.as_str())] }
    } else {
        Decision { allowed: true, reasons: permitting }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("you may not {action}: {}", reasons.join("; "))]
    Denied { action: &'static str, reasons: Vec<String> },
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Authorizes, and when the answer is no, records the refusal in the audit log before
/// returning it: denials are decisions too (who tried what, and why it was refused).
/// Allowed actions are recorded by the caller, with the change they make.
pub async fn authorize_recorded(
    db: &Db,
    principal: &Principal,
    action: Action,
    resource: &str,
) -> Result<Decision, PolicyError> {
    let decision = authorize(principal, action);
    if decision.allowed {
        return Ok(decision);
    }
    let event = Event::new(Actor::from(principal), "access.denied", resource)
        .decided(audit::Decision::Deny, decision.reasons.clone())
        .details(json!({ "action": action.as_str() }));
    audit::record_alone(db, event).await?;
    Err(PolicyError::Denied { action: action.as_str(), reasons: decision.reasons })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::auth::PrincipalKind;

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            id: "someone".to_owned(),
            kind: PrincipalKind::User,
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn privacy_officers_and_the_dpo_read_and_export_the_audit_log() {
        for role in [Role::PrivacyOfficer, Role::Dpo] {
            for action in [Action::ReadAudit, Action::ExportAudit] {
                let decision = authorize(&principal(&[role]), action);
                assert!(decision.allowed, "{role} {action:?}");
                assert_eq!(decision.reasons, vec!["audit-log-privacy-officers-and-dpo"]);
            }
        }
    }

    #[test]
    fn everyone_else_is_denied_with_a_reason() {
        for role in [Role::Student, Role::Mentor, Role::Teacher, Role::Admin] {
            let decision = authorize(&principal(&[role]), Action::ReadAudit);
            assert!(!decision.allowed, "{role}");
            assert!(!decision.reasons.is_empty());
        }
        assert!(!authorize(&principal(&[]), Action::ExportAudit).allowed);
    }
}
