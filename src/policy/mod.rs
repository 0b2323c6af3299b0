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
    /// Register, change and move purposes along their lifecycle.
    ManagePurpose,
    /// Make one's own choices as a student.
    ManageOwnConsent,
    /// Record a choice for a student.
    RecordConsentOnBehalf,
    /// See how students chose for a purpose, in counts.
    ViewConsentSummary,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ReadAudit => "ReadAudit",
            Action::ExportAudit => "ExportAudit",
            Action::ManagePurpose => "ManagePurpose",
            Action::ManageOwnConsent => "ManageOwnConsent",
            Action::RecordConsentOnBehalf => "RecordConsentOnBehalf",
            Action::ViewConsentSummary => "ViewConsentSummary",
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

/// What is known about the principal's relation to the resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The principal is a registered guardian of the student, who is under 16.
    pub guardian_of_minor: bool,
}

/// Who a rule admits: holders of some roles, or principals in a relation.
enum Admits {
    Roles(&'static [Role]),
    GuardianOfMinor,
}

struct Rule {
    id: &'static str,
    actions: &'static [Action],
    admits: Admits,
}

/// The rule that lets guardians act for students under 16 (UAVG Art. 5).
pub const GUARDIAN_RULE: &str = "consent-guardians-of-students-under-16";

const RULES: &[Rule] = &[
    // Accountability (GDPR Art. 5(2)) is the privacy officer's and the DPO's job: they, and
    // nobody else, read and export the log of everyone's actions.
    Rule {
        id: "audit-log-privacy-officers-and-dpo",
        actions: &[Action::ReadAudit, Action::ExportAudit],
        admits: Admits::Roles(&[Role::PrivacyOfficer, Role::Dpo]),
    },
    // The Art. 30 register is kept by privacy officers.
    Rule {
        id: "purposes-privacy-officers",
        actions: &[Action::ManagePurpose],
        admits: Admits::Roles(&[Role::PrivacyOfficer]),
    },
    Rule { id: "consent-students-own", actions: &[Action::ManageOwnConsent], admits: Admits::Roles(&[Role::Student]) },
    // Paper forms and phone calls reach the privacy office or the administration.
    Rule {
        id: "consent-on-behalf-staff",
        actions: &[Action::RecordConsentOnBehalf],
        admits: Admits::Roles(&[Role::PrivacyOfficer, Role::Admin]),
    },
    Rule { id: GUARDIAN_RULE, actions: &[Action::RecordConsentOnBehalf], admits: Admits::GuardianOfMinor },
    Rule {
        id: "consent-summary-privacy-officers-and-dpo",
        actions: &[Action::ViewConsentSummary],
        admits: Admits::Roles(&[Role::PrivacyOfficer, Role::Dpo]),
    },
];

/// Decides whether `principal` may perform `action`. Default deny.
pub fn authorize(principal: &Principal, action: Action) -> Decision {
    authorize_with(principal, action, Facts::default())
}

/// The same, knowing `facts` about the principal's relation to the resource.
pub fn authorize_with(principal: &Principal, action: Action, facts: Facts) -> Decision {
    let permitting: Vec<String> = RULES
        .iter()
        .filter(|rule| rule.actions.contains(&action))
        .filter(|rule| match rule.admits {
            Admits::Roles(roles) => roles.iter().any(|role| principal.roles.contains(role)),
            Admits::GuardianOfMinor => facts.guardian_of_minor,
        })
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
    authorize_recorded_with(db, principal, action, Facts::default(), resource).await
}

/// [`authorize_recorded`], knowing `facts` about the principal's relation to the resource.
pub async fn authorize_recorded_with(
    db: &Db,
    principal: &Principal,
    action: Action,
    facts: Facts,
    resource: &str,
) -> Result<Decision, PolicyError> {
    let decision = authorize_with(principal, action, facts);
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
    fn guardians_act_only_for_minors_and_staff_for_anyone() {
        let guardian = principal(&[]);
        let minor = Facts { guardian_of_minor: true };
        assert_eq!(authorize_with(&guardian, Action::RecordConsentOnBehalf, minor).reasons, vec![GUARDIAN_RULE]);
        assert!(!authorize(&guardian, Action::RecordConsentOnBehalf).allowed);
        assert!(authorize(&principal(&[Role::Admin]), Action::RecordConsentOnBehalf).allowed);
        assert!(!authorize(&principal(&[Role::Mentor]), Action::RecordConsentOnBehalf).allowed);
    }

    #[test]
    fn only_privacy_officers_manage_purposes() {
        assert!(authorize(&principal(&[Role::PrivacyOfficer]), Action::ManagePurpose).allowed);
        for role in [Role::Dpo, Role::Admin, Role::Student, Role::Mentor] {
            assert!(!authorize(&principal(&[role]), Action::ManagePurpose).allowed, "{role}");
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
