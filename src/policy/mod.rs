//! Access decisions, made by Cedar: the one place that decides every access. Handlers
//! ask [`Gate::authorize`] once per request and get the decision with the ids of the
//! policies that made it; every denial lands in the audit log with those ids.
//!
//! This module is the only importer of `cedar_policy`. Policies and their schema live in
//! `policies/`; entities (roles, mentorships, teaching, guardianship, purposes) are read
//! from the database for each request.

mod editing;
mod engine;
mod entities;
mod routes;
mod store;
mod tables;

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

pub use editing::{
    ChangedDecision, FORBID_GUARANTEES, Outcome, PolicyDiff, Replay, SimulatedPrincipal, SimulatedRequest,
    StoredSetOrFiles, activate_draft, activated_engine, diff, engine_of, replay, roll_back, save_draft, simulate,
};
pub use engine::{Grant, InvalidPolicies, PolicyEngine, PolicyProblem, SHIPPED_POLICIES, SHIPPED_SCHEMA};
pub use routes::router;
pub use store::{PolicyFile, StoredSet, list as policy_versions};
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
    EditPolicy,
    ActivatePolicy,
    ManageSources,
    ManageClients,
    ReadRecords,
    ReadAggregates,
    EraseSubject,
    ViewOwnData,
    ExportOwnData,
    FileDataRequest,
    HandleDataRequest,
    ViewProposal,
    DecideProposal,
    ControlAnalytics,
    GrantRoles,
    ViewDpia,
    EditDpia,
    ApproveDpia,
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
            Action::EditPolicy => "EditPolicy",
            Action::ActivatePolicy => "ActivatePolicy",
            Action::ManageSources => "ManageSources",
            Action::ManageClients => "ManageClients",
            Action::ReadRecords => "ReadRecords",
            Action::ReadAggregates => "ReadAggregates",
            Action::EraseSubject => "EraseSubject",
            Action::ViewOwnData => "ViewOwnData",
            Action::ExportOwnData => "ExportOwnData",
            Action::FileDataRequest => "FileDataRequest",
            Action::HandleDataRequest => "HandleDataRequest",
            Action::ViewProposal => "ViewProposal",
            Action::DecideProposal => "DecideProposal",
            Action::ControlAnalytics => "ControlAnalytics",
            Action::GrantRoles => "GrantRoles",
            Action::ViewDpia => "ViewDpia",
            Action::EditDpia => "EditDpia",
            Action::ApproveDpia => "ApproveDpia",
        }
    }

    pub const ALL: [Action; 24] = [
        Action::ReadAudit,
        Action::ExportAudit,
        Action::ManagePurpose,
        Action::ManageOwnConsent,
        Action::RecordConsentOnBehalf,
        Action::ViewConsentSummary,
        Action::EditPolicy,
        Action::ActivatePolicy,
        Action::ManageSources,
        Action::ManageClients,
        Action::ReadRecords,
        Action::ReadAggregates,
        Action::EraseSubject,
        Action::ViewOwnData,
        Action::ExportOwnData,
        Action::FileDataRequest,
        Action::HandleDataRequest,
        Action::ViewProposal,
        Action::DecideProposal,
        Action::ControlAnalytics,
        Action::GrantRoles,
        Action::ViewDpia,
        Action::EditDpia,
        Action::ApproveDpia,
    ];

    /// Whether the action reads data through the gateway, with a [`ReadContext`].
    pub fn is_read(self) -> bool {
        matches!(self, Action::ReadRecords | Action::ReadAggregates)
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

/// What an action is performed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    AuditLog,
    Purpose(PurposeId),
    Subject(Uuid),
    PolicySet,
    Source(String),
    Client(String),
    /// A student's request; `*` for the queue as a whole.
    DataRequest(String),
    /// An intervention proposed for one student.
    Proposal(String),
    /// A data protection impact assessment; `*` for the register of them.
    Dpia(String),
}

impl Resource {
    /// How the audit log names the resource.
    pub fn audit_name(&self) -> String {
        match self {
            Resource::AuditLog => "AuditLog".to_owned(),
            Resource::Purpose(id) => format!("Purpose::{id}"),
            Resource::Subject(id) => format!("Subject::{id}"),
            Resource::PolicySet => "PolicySet".to_owned(),
            Resource::Source(id) => format!("Source::{id}"),
            Resource::Client(id) => format!("Client::{id}"),
            Resource::DataRequest(id) => format!("DataRequest::{id}"),
            Resource::Proposal(id) => format!("Proposal::{id}"),
            Resource::Dpia(id) => format!("Dpia::{id}"),
        }
    }

    /// The resource an audit event names, for replaying its decision.
    pub fn from_audit_name(name: &str) -> Option<Self> {
        match name.split_once("::") {
            None if name == "AuditLog" => Some(Resource::AuditLog),
            None if name == "PolicySet" => Some(Resource::PolicySet),
            Some(("Purpose", id)) => PurposeId::parse(id).ok().map(Resource::Purpose),
            Some(("Subject", id)) => Uuid::parse_str(id).ok().map(Resource::Subject),
            Some(("Source", id)) => Some(Resource::Source(id.to_owned())),
            Some(("Client", id)) => Some(Resource::Client(id.to_owned())),
            Some(("DataRequest", id)) => Some(Resource::DataRequest(id.to_owned())),
            Some(("Proposal", id)) => Some(Resource::Proposal(id.to_owned())),
            Some(("Dpia", id)) => Some(Resource::Dpia(id.to_owned())),
            _ => None,
        }
    }
}

/// What a gateway read asks for, which the read actions' policies look at: the data
/// categories it touches and, for a read narrowed to one course, that course.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadContext {
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course: Option<String>,
}

/// The policies behind an evaluation, as audit events and problems name them.
fn reasons(action: &str, evaluation: &engine::Evaluation) -> Vec<String> {
    match (evaluation.allowed, evaluation.policy_ids.is_empty()) {
        (true, _) => evaluation.policy_ids.clone(),
        (false, true) => vec![format!("no policy permits {action}")],
        (false, false) => evaluation.policy_ids.iter().map(|id| format!("forbidden by {id}")).collect(),
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
    Invalid(InvalidPolicies),
    #[error("no policy set has the version {0}")]
    UnknownVersion(i64),
    #[error("the set drops the shipped guarantees {}; give `override_forbid_guarantees` with a reason to activate it anyway", .0.join(", "))]
    GuaranteesMissing(Vec<String>),
    #[error("version {version} is {status}, not a draft; roll back to it instead")]
    NotADraft { version: i64, status: String },
    #[error("a policy set may hold at most {0} bytes")]
    TooLarge(usize),
    #[error("file {0} needs a name ending in .cedar, without folders")]
    FileName(usize),
    #[error("`{0}` is not an action of the schema")]
    UnknownAction(String),
    #[error(
        "`{0}` is not a resource: use AuditLog, PolicySet, Purpose::<id>, Subject::<uuid>, Source::<id>, Client::<id>, Proposal::<id>, DataRequest::<id> or Dpia::<id>"
    )]
    UnknownResource(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<crate::db::DbError> for PolicyError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Audit(error.into())
    }
}

impl From<sqlx::Error> for PolicyError {
    fn from(error: sqlx::Error) -> Self {
        Self::Audit(error.into())
    }
}

/// A request with its entities, read once and decided as often as needed (benchmarks).
pub struct Prepared(entities::CedarRequest);

impl Prepared {
    /// Whether `engine` allows the request.
    pub fn decide(&self, engine: &PolicyEngine) -> Result<bool, PolicyError> {
        let request = &self.0;
        engine
            .evaluate(
                request.principal.clone(),
                request.action.clone(),
                request.resource.clone(),
                request.context.clone(),
                &request.entities,
            )
            .map(|evaluation| evaluation.allowed)
            .map_err(PolicyError::Evaluation)
    }
}

/// The policy engine together with the store it reads entities from. The active engine
/// can be replaced while the server runs (activation, rollback); each request uses the one
/// active when it was authorized.
#[derive(Debug, Clone)]
pub struct Gate {
    active: Arc<RwLock<Arc<PolicyEngine>>>,
    /// The set from `policies/` (or `policies_dir`), which applies when none was activated.
    files: Arc<PolicyEngine>,
    db: Db,
}

impl Gate {
    pub fn new(files: Arc<PolicyEngine>, active: Option<Arc<PolicyEngine>>, db: Db) -> Self {
        let current = active.unwrap_or_else(|| Arc::clone(&files));
        Self { active: Arc::new(RwLock::new(current)), files, db }
    }

    /// The engine deciding now.
    pub fn engine(&self) -> Arc<PolicyEngine> {
        self.active
            .read()
            .map(|engine| Arc::clone(&engine))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// The set from files, which version 0 of the policy history stands for.
    pub fn files_engine(&self) -> Arc<PolicyEngine> {
        Arc::clone(&self.files)
    }

    fn replace(&self, engine: Arc<PolicyEngine>) {
        match self.active.write() {
            Ok(mut active) => *active = engine,
            Err(poisoned) => *poisoned.into_inner() = engine,
        }
    }

    /// Reads the entities of a request from the store, ready for [`Prepared::decide`].
    pub async fn prepare(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Result<Prepared, PolicyError> {
        let mut connection = self.db.pool().acquire().await?;
        let request =
            entities::build(&mut connection, self.engine().schema(), principal, action, resource, None).await?;
        Ok(Prepared(request))
    }

    /// Evaluates a request with `engine`, reading entities from the store.
    pub async fn evaluate(
        &self,
        engine: &PolicyEngine,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        context: Option<&ReadContext>,
    ) -> Result<engine::Evaluation, PolicyError> {
        let mut connection = self.db.pool().acquire().await?;
        let request = entities::build(&mut connection, engine.schema(), principal, action, resource, context).await?;
        drop(connection);
        engine
            .evaluate(request.principal, request.action, request.resource, request.context, &request.entities)
            .map_err(PolicyError::Evaluation)
    }

    /// Decides whether the source `id` (registered for `kinds`) may deliver data of `kind`,
    /// and records the decision.
    pub async fn authorize_ingest(&self, id: &str, kinds: &[String], kind: &str) -> Result<Decision, PolicyError> {
        let engine = self.engine();
        let request = entities::source_request(engine.schema(), id, kinds, true, kind)?;
        let evaluation = engine
            .evaluate(request.principal, request.action, request.resource, request.context, &request.entities)
            .map_err(PolicyError::Evaluation)?;
        let actor = Actor { id: id.to_owned(), kind: audit::ActorKind::Client, roles: Vec::new() };
        self.record(actor, "Ingest", &format!("Source::{id}"), evaluation, None).await
    }

    /// Decides whether `principal` may perform `action` on `resource`, and records the
    /// decision, allowed or denied, with the policies that made it.
    pub async fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource,
    ) -> Result<Decision, PolicyError> {
        let evaluation = self.evaluate(&self.engine(), principal, action, &resource, None).await?;
        for error in &evaluation.errors {
            tracing::warn!(action = action.as_str(), %error, "a policy failed to evaluate and was skipped");
        }
        let subject = match &resource {
            Resource::Subject(subject) => Some(*subject),
            _ => None,
        };
        self.record(Actor::from(principal), action.as_str(), &resource.audit_name(), evaluation, subject).await
    }

    /// Decides a gateway read without recording it: the gateway records one event per
    /// read, with the decision, its reason and what the read disclosed.
    pub async fn decide_read(
        &self,
        principal: &Principal,
        action: Action,
        purpose: &PurposeId,
        context: &ReadContext,
    ) -> Result<Decision, PolicyError> {
        let resource = Resource::Purpose(purpose.clone());
        let evaluation = self.evaluate(&self.engine(), principal, action, &resource, Some(context)).await?;
        for error in &evaluation.errors {
            tracing::warn!(action = action.as_str(), %error, "a policy failed to evaluate and was skipped");
        }
        Ok(Decision { allowed: evaluation.allowed, reasons: reasons(action.as_str(), &evaluation) })
    }

    /// Records a decision in the audit log and turns it into the caller's answer.
    async fn record(
        &self,
        actor: Actor,
        action: &'static str,
        resource: &str,
        evaluation: engine::Evaluation,
        subject: Option<Uuid>,
    ) -> Result<Decision, PolicyError> {
        let reasons = reasons(action, &evaluation);
        let (name, decision) = if evaluation.allowed {
            ("access.allowed", audit::Decision::Allow)
        } else {
            ("access.denied", audit::Decision::Deny)
        };
        let mut event = Event::new(actor, name, resource)
            .decided(decision, reasons.clone())
            .details(json!({ "action": action, "policies": evaluation.policy_ids }));
        if let Some(subject) = subject {
            event = event.subject(subject);
        }
        if let Some(purpose) = resource.strip_prefix("Purpose::") {
            event = event.purpose(purpose);
        }
        audit::record_alone(&self.db, event).await?;
        if evaluation.allowed {
            Ok(Decision { allowed: true, reasons })
        } else {
            Err(PolicyError::Denied { action, reasons })
        }
    }
}
