//! The tamper-evident audit log: every decision and change, hash-chained, signed at
//! intervals, searchable, exportable and verifiable (GDPR Art. 5(2) and 30; AI Act Art. 12).
//!
//! There is one way in: [`record`], inside the transaction of the change it describes, so
//! that the change and its event commit or roll back together.

pub mod chain;
mod checkpoint;
mod export;
mod routes;
mod store;
mod verify;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

pub use chain::GENESIS_HASH;
pub use checkpoint::{Checkpoint, Checkpointer, PublicKey, checkpoint_now, prune};
pub use export::{ExportFormat, ExportRecord, decrypt, is_encrypted};
pub use routes::router;
pub use store::{EventFilter, list_events, load_checkpoints, record, record_alone};
pub use verify::{Report, Tampering, verify_export, verify_recorded, verify_store};

use crate::auth::{Principal, PrincipalKind, Role};
use crate::timestamp::Timestamp;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    /// A user's or client's id, or the name of one of Consentry's own jobs.
    pub id: String,
    pub kind: ActorKind,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Client,
    /// Consentry itself: checkpoints, pruning, retention sweeps.
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
            Self::System => "system",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::User, Self::Client, Self::System].into_iter().find(|kind| kind.as_str() == text)
    }
}

impl Actor {
    /// One of Consentry's own jobs.
    pub fn system(job: &str) -> Self {
        Self { id: job.to_owned(), kind: ActorKind::System, roles: Vec::new() }
    }
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Self {
        let kind = match principal.kind {
            PrincipalKind::User => ActorKind::User,
            PrincipalKind::Client => ActorKind::Client,
        };
        Self { id: principal.id.clone(), kind, roles: principal.roles.iter().copied().collect() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// An event to record. Refer to students by internal subject id only: no names, e-mail
/// addresses or record contents in any field.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub actor: Actor,
    /// `<area>.<verb>`, e.g. `audit.exported`, `consent.withdrawn`.
    pub action: String,
    /// What was acted on, e.g. `AuditLog`, `Purpose::learning-research`.
    pub resource: String,
    pub subject: Option<Uuid>,
    pub purpose: Option<String>,
    pub decision: Decision,
    /// The policy or rule ids that decided.
    pub reasons: Vec<String>,
    pub details: Value,
}

impl Event {
    /// An allowed action with no details yet.
    pub fn new(actor: Actor, action: &str, resource: impl Into<String>) -> Self {
        Self {
            actor,
            action: action.to_owned(),
            resource: resource.into(),
            subject: None,
            purpose: None,
            decision: Decision::Allow,
            reasons: Vec::new(),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    pub fn decided(mut self, decision: Decision, reasons: Vec<String>) -> Self {
        self.decision = decision;
        self.reasons = reasons;
        self
    }

    pub fn subject(mut self, subject: Uuid) -> Self {
        self.subject = Some(subject);
        self
    }

    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: Actor,
    pub action: String,
    pub resource: String,
    /// Internal subject id (UUID), when the event concerns one student.
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub decision: Decision,
    pub reasons: Vec<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    /// Hex SHA-256 of the previous event (64 zeros before the first).
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash` (as bytes) followed by this event's canonical JSON.
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("the audit log holds an unreadable event at seq {seq}: {why}")]
    Corrupt { seq: i64, why: String },
    #[error("{0}")]
    Export(String),
}

impl From<sqlx::Error> for AuditError {
    fn from(error: sqlx::Error) -> Self {
        Self::Db(error.into())
    }
}
