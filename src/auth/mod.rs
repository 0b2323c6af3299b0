//! Who is calling: bearer tokens verified into a [`Principal`].
//!
//! Analytics tools and scripts call with JWT bearer tokens from the institution's issuer,
//! verified against its published keys. In demo mode Consentry is also its own issuer
//! ([`DemoIssuer`]). Deciding what a principal may do is the policy module's job, not this
//! one's: this module only establishes identity and claimed roles.

mod demo_issuer;
mod login;
pub mod oidc;
mod routes;
pub mod secrets;
pub mod sessions;
mod verifier;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use demo_issuer::{DEMO_ISSUER, DemoIssuer};
pub use login::{end_session, router as login_router};
pub use routes::router;
pub use sessions::SessionStore;
pub use verifier::TokenVerifier;

use crate::problem::ApiError;

/// What a person does at the institution; policies decide what each role may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Role {
    Student,
    Mentor,
    Teacher,
    PrivacyOfficer,
    Dpo,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Student, Role::Mentor, Role::Teacher, Role::PrivacyOfficer, Role::Dpo, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Mentor => "mentor",
            Role::Teacher => "teacher",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Dpo => "dpo",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person logs in; a client is an analytics tool acting for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    Client,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    pub roles: BTreeSet<Role>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this request needs a bearer token in the Authorization header")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    #[error("tokens signed with {0} are not accepted; use RS256, ES256 or EdDSA")]
    AlgorithmNotAllowed(String),
    #[error("the token was signed by a key no trusted issuer publishes")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not meant for this service (wrong audience)")]
    WrongAudience,
    #[error("the token comes from an issuer this service does not trust")]
    WrongIssuer,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token lacks a required claim or has one of the wrong type: {0}")]
    BadClaims(String),
    #[error("the session has ended; sign in again")]
    SessionEnded,
    #[error("a request made with the session cookie must send the session's CSRF token in X-CSRF-Token")]
    CsrfMismatch,
    /// The issuer's keys could not be fetched: our fault or theirs, never the caller's.
    #[error("the token issuer's keys could not be fetched: {0}")]
    Unavailable(String),
}

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
    SessionStore: FromRef<S>,
{
    type Rejection = ApiError;

    /// A bearer token (tools, scripts, and people's tokens, whose claimed roles are joined
    /// by the roles granted here), or else the session cookie of a person who signed in; with the cookie, a state-changing request must carry the session's CSRF
    /// token in `X-CSRF-Token`.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session_cookie = parts
            .headers
            .get(header::COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|header| sessions::cookie(header, sessions::COOKIE));
        if let (None, Some(token)) = (parts.headers.get(header::AUTHORIZATION), session_cookie) {
            let store = SessionStore::from_ref(state);
            let mut connection = store.db.pool().acquire().await?;
            let session = sessions::resolve(&mut connection, &token, store.lifetimes, store.clock.now())
                .await
                .map_err(ApiError::internal)?
                .ok_or(AuthError::SessionEnded)?;
            let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
            let csrf = parts.headers.get(sessions::CSRF_HEADER).and_then(|value| value.to_str().ok());
            if !safe && csrf != Some(session.csrf.as_str()) {
                return Err(AuthError::CsrfMismatch.into());
            }
            return Ok(session.principal);
        }
        let value = parts.headers.get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::NotBearer.into());
        }
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        let mut principal = verifier.verify(token.trim()).await?;
        if principal.kind == PrincipalKind::User {
            // The roles a token claims, plus those granted here.
            let store = SessionStore::from_ref(state);
            let mut connection = store.db.pool().acquire().await?;
            principal
                .roles
                .extend(crate::directory::roles_of(&mut connection, &principal.id).await?.unwrap_or_default());
        }
        Ok(principal)
    }
}
