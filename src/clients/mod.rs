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
/// Purpose ids from text, each fault named by its place in the list.
pub fn purpose_ids(texts: &[String], errors: &mut Vec<FieldError>) -> Vec<PurposeId> {
    let mut ids = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        match PurposeId::parse(text) {
            Ok(id) if ids.contains(&id) => errors.push(FieldError::new(format!("purposes[{index}]"), "listed twice")),
            Ok(id) => ids.push(id),
            Err(why) => errors.push(FieldError::new(format!("purposes[{index}]"), why)),
        }
    }
    ids
}

/// A client to register, checked: every problem names its field.
pub fn new_client(
    id: String,
    name: String,
    organisation: String,
    contact: String,
    token_subject: Option<String>,
    purposes: &[String],
) -> Result<NewClient, ClientError> {
    let mut errors = Vec::new();
    if !valid_id(&id) {
        errors.push(FieldError::new("id", "2 to 63 lowercase letters, digits and dashes"));
    }
    for (field, value) in [("name", &name), ("organisation", &organisation), ("contact", &contact)] {
        if value.trim().is_empty() {
            errors.push(FieldError::new(field, "must not be empty"));
        }
    }
    if token_subject.as_deref().is_some_and(|subject| subject.trim().is_empty()) {
        errors.push(FieldError::new("token_subject", "must not be empty when given"));
    }
    let purposes = purpose_ids(purposes, &mut errors);
    if !errors.is_empty() {
        return Err(ClientError::Invalid(errors));
    }
    Ok(NewClient {
        token_subject: token_subject.unwrap_or_else(|| id.clone()),
        id,
        name,
        organisation,
        contact,
        purposes,
    })
}

pub fn valid_id(id: &str) -> bool {
    (2..=63).contains(&id.len()) && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
