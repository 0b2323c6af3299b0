//! The client registry: analytics tools that read through the gateway, the purposes each
//! may read for, and how each authenticates. A tool calls with a bearer token from the
//! institution's issuer whose `sub` is its registered token subject, or, without an
//! identity provider, with HTTP Basic and the secret Consentry issued it.

mod routes;
mod store;

use serde::Serialize;
use utoipa::ToSchema;

pub use routes::router;
pub use store::{
    Registration, authenticate, get, insert, list, register, registration, rotate, set_purposes, set_status,
};

use crate::auth::secrets::RandomFailure;
use crate::problem::FieldError;
use crate::purposes::{PurposeError, PurposeId};
use crate::timestamp::Timestamp;

/// A client as administrators see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClientView {
    pub id: String,
    pub name: String,
    pub organisation: String,
    /// Who answers for the tool (an e-mail address or team).
    pub contact: String,
    /// The `sub` its bearer tokens carry.
    pub token_subject: String,
    /// The purposes it may read for.
    #[schema(value_type = Vec<String>)]
    pub purposes: Vec<PurposeId>,
    /// `active` or `suspended`.
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A client to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: String,
    pub name: String,
    pub organisation: String,
    pub contact: String,
    pub token_subject: String,
    pub purposes: Vec<PurposeId>,
}

/// A freshly issued secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IssuedCredentials {
    pub client: ClientView,
    /// The HTTP Basic password, with the client id as user name; it is not stored.
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no client is registered as `{0}`")]
    NotFound(String),
    #[error("a client with the id `{0}` exists already")]
    Exists(String),
    #[error("the token subject `{0}` belongs to another client")]
    SubjectTaken(String),
    #[error("invalid client")]
    Invalid(Vec<FieldError>),
    #[error("the client id and secret do not match a registered client")]
    Unauthenticated,
    #[error("the client `{0}` is suspended")]
    Suspended(String),
    #[error(transparent)]
    Random(#[from] RandomFailure),
    #[error(transparent)]
    Purpose(#[from] PurposeError),
}

impl From<sqlx::Error> for ClientError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::audit::AuditError> for ClientError {
    fn from(error: crate::audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

/// Whether `id` can name a client: the HTTP Basic user name and a path segment.
pub fn valid_id(id: &str) -> bool {
    (2..=63).contains(&id.len()) && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
