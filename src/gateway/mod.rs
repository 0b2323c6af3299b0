//! The governed read gateway: the one road from stored data to any analytics tool.
//!
//! Every read runs the same pipeline, in this order: the policy decides (`ReadRecords` or
//! `ReadAggregates` on the purpose) → one snapshot of the store is opened → the consent
//! ledger gives the subjects the purpose may use → each category is cut to the purpose's
//! retention window → rows are projected onto exactly the purpose's fields → subjects and
//! records get per-purpose, per-reader pseudonyms → the result streams out → the
//! disclosure log and one audit event record what left.

mod aggregates;
mod disclosure;
mod keys;
mod read;
mod routes;
mod scope;

use serde::Serialize;
use utoipa::ToSchema;

pub use aggregates::{AggregateRequest, AggregateResult, DEFAULT_MIN_CELL_SIZE};
pub use disclosure::{Disclosure, of_subject as disclosures_of, record_view};
pub use keys::{BadCursor, KeyError, Keys};
pub use read::{FieldNeed, Filters, Prepared, ReadRequest, Reader, prepare, stream};
pub use routes::router;

use crate::auth::Principal;
use crate::clients::ClientError;
use crate::policy::PolicyError;
use crate::problem::FieldError;
use crate::purposes::PurposeError;

/// Why a read was refused; each denial names what the tool developer can change.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the client `{client}` is not registered for the purpose `{purpose}`")]
    NotRegisteredForPurpose { client: String, purpose: String },
    #[error("the client `{0}` is suspended")]
    ClientSuspended(String),
    #[error("the purpose `{purpose}` is {status}; only active purposes are read")]
    PurposeNotActive { purpose: String, status: &'static str },
    #[error("the purpose `{0}` allows aggregates only; ask POST /api/v1/purposes/{0}/aggregates")]
    AggregateOnlyPurpose(String),
    #[error("`{parameter}` needs the field `{field}`, which the purpose `{purpose}` may not read")]
    FieldNotAllowed { parameter: String, field: String, purpose: String },
    #[error("you may not {action} for this purpose: {}", reasons.join("; "))]
    Denied { action: &'static str, reasons: Vec<String> },
    #[error("no student of this read has the pseudonym `{0}`")]
    UnknownPseudonym(String),
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Cursor(#[from] BadCursor),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Purpose(#[from] PurposeError),
}

impl From<sqlx::Error> for GatewayError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::db::DbError> for GatewayError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::audit::AuditError> for GatewayError {
    fn from(error: crate::audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::consent::ConsentError> for GatewayError {
    fn from(error: crate::consent::ConsentError) -> Self {
        match error {
            crate::consent::ConsentError::Purpose(error) => Self::Purpose(error),
            other => Self::Purpose(PurposeError::Corrupt(other.to_string())),
        }
    }
}

impl GatewayError {
    /// The stable reason a denial is audited and answered with.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotRegisteredForPurpose { .. } => "not-registered-for-purpose",
            Self::ClientSuspended(_) => "client-suspended",
            Self::PurposeNotActive { .. } => "purpose-not-active",
            Self::AggregateOnlyPurpose(_) => "aggregate-only-purpose",
            Self::FieldNotAllowed { .. } => "field-not-allowed",
            _ => "forbidden",
        }
    }
}

/// One record as a tool receives it: pseudonymous, projected to the purpose's fields.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct GovernedRecord {
    /// A reference to the record, stable for this tool and purpose only.
    pub record: String,
    /// The student's pseudonym for this tool and purpose.
    pub subject: String,
    /// `xapi`, `enrolment`, `grade` or `survey`.
    pub kind: String,
    pub category: String,
    /// When it happened (RFC 3339): every record carries its time, because retention
    /// windows and `since`/`until` are defined on it.
    pub occurred_at: String,
    /// The purpose's fields this record has, by catalogue name.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A page of records.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct RecordPage {
    pub purpose: String,
    pub records: Vec<GovernedRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The principal a denial or read is audited as.
fn actor(principal: &Principal) -> crate::audit::Actor {
    crate::audit::Actor::from(principal)
}
