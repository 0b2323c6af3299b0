//! Access decisions, made by Cedar: the one place that decides every access. Handlers
//! ask [`Gate::authorize`] once per request and get the decision with the ids of the
//! policies that made it; every denial lands in the audit log with those ids.
//!
//! This module is the only importer of `cedar_policy`. Policies and their schema live in
//! `policies/`; entities (roles, mentorships, teaching, guardianship, purposes) are read
//! from the database for each request.

mod engine;
mod entities;
mod tables;

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

pub use engine::{InvalidPolicies, PolicyEngine, PolicyProblem, SHIPPED_POLICIES, SHIPPED_SCHEMA};
pub use tables::{TableOutcome, run_tables, uncovered};

use crate::audit::{self, Actor, AuditError, Event};
use crate::auth::Principal;
use crate::db::Db;
use crate::purposes::PurposeId;

/// Protected operations; each is an action of `policies/schema.cedarschema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadAudit,
    ExportAudit,
    ManagePurpose,
    ManageOwnConsent,
    RecordConsentOnBehalf,
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

/// What an action is performed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    AuditLog,
    Purpose(PurposeId),
    Subject(Uuid),
}

impl Resource {
    /// How the audit log names the resource.
    pub fn audit_name(&self) -> String {
        match self {
            Resource::AuditLog => "AuditLog".to_owned(),
            Resource::Purpose(id) => format!("Purpose::{id}"),
            Resource::Subject(id) => format!("Subject::{id}"),
        }
    }
}

/// The outcome of one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The `@id`s of the policies that decided, or why none did.
    pub reasons: Vec<String>,
}

impl Decision {
    /// Whether `policy` is among the policies that permitted.
    pub fn permitted_by(&self, policy: &str) -> bool {
        self.allowed && self.reasons.iter().any(|reason| reason == policy)
    }
}

/// The shipped policy that lets guardians act for students under 16 (UAVG Art. 5).
pub const GUARDIAN_POLICY: &str = "consent-guardians-of-students-under-16";

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("you may not {action}: {}", reasons.join("; "))]
    Denied { action: &'static str, reasons: Vec<String> },
    #[error("the authorization request could not be evaluated: {0}")]
    Evaluation(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<sqlx::Error> for PolicyError {
    fn from(error: sqlx::Error) -> Self {
        Self::Audit(error.into())
    }
}

/// The policy engine together with the store it reads entities from.
#[derive(Debug, Clone)]
pub struct Gate {
    engine: Arc<PolicyEngine>,
    db: Db,
}

impl Gate {
    pub fn new(engine: Arc<PolicyEngine>, db: Db) -> Self {
        Self { engine, db }
    }

    /// Decides whether `principal` may perform `action` on `resource`; a denial is
    /// recorded in the audit log with the deciding policies before it is returned.
    /// Allowed actions are recorded by the caller, with the change they make.
    pub async fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource,
    ) -> Result<Decision, PolicyError> {
        let mut connection = self.db.pool().acquire().await?;
        let request = entities::build(&mut connection, self.engine.schema(), principal, action, &resource).await?;
        drop(connection);
        let evaluation = self
            .engine
            .evaluate(request.principal, request.action, request.resource, request.context, &request.entities)
            .map_err(PolicyError::Evaluation)?;
        for error in &evaluation.errors {
            tracing::warn!(action = action.as_str(), %error, "a policy failed to evaluate and was skipped");
        }
        if evaluation.allowed {
            return Ok(Decision { allowed: true, reasons: evaluation.policy_ids });
        }
        let reasons = if evaluation.policy_ids.is_empty() {
            vec![format!("no policy permits {}", action.as_str())]
        } else {
            evaluation.policy_ids.iter().map(|id| format!("forbidden by {id}")).collect()
        };
        let event = Event::new(Actor::from(principal), "access.denied", resource.audit_name())
            .decided(audit::Decision::Deny, reasons.clone())
            .details(json!({ "action": action.as_str(), "why": reasons }));
        audit::record_alone(&self.db, event).await?;
        Err(PolicyError::Denied { action: action.as_str(), reasons })
    }
}
