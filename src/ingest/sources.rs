//! Registered source systems and how they authenticate (HTTP Basic: source id and secret).

use sqlx::{AnyConnection, Row};

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::IngestError;
use crate::audit::{self, Actor, Event};
use crate::auth::secrets;
use crate::timestamp::Timestamp;

/// Record kinds a source may be registered for.
pub const KINDS: [&str; 4] = ["xapi", "enrolment", "grade", "survey"];

/// A source as administrators see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SourceView {
    pub id: String,
    pub name: String,
    pub kinds: Vec<String>,
    /// `active` or `suspended`.
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A freshly issued secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IssuedSecret {
    pub source: SourceView,
    /// Use as the HTTP Basic password with the source id as user name; it is not stored.
    pub secret: String,
}

pub async fn list(connection: &mut AnyConnection) -> Result<Vec<SourceView>, IngestError> {
    let rows = sqlx::query("SELECT id, name, kinds, status, created_at FROM sources ORDER BY id")
        .fetch_all(connection)
        .await?;
    rows.iter().map(view_from_row).collect()
}

async fn view(connection: &mut AnyConnection, id: &str) -> Result<SourceView, IngestError> {
    let row = sqlx::query("SELECT id, name, kinds, status, created_at FROM sources WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(connection)
        .await?
        .ok_or_else(|| IngestError::UnknownSource(id.to_owned()))?;
    view_from_row(&row)
}

fn view_from_row(row: &sqlx::any::AnyRow) -> Result<SourceView, IngestError> {
    let kinds: String = row.try_get("kinds")?;
    let created_at: String = row.try_get("created_at")?;
    Ok(SourceView {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kinds: serde_json::from_str(&kinds).unwrap_or_default(),
        status: row.try_get("status")?,
        created_at: Timestamp::parse(&created_at).unwrap_or_else(|_| Timestamp::now()),
    })
}

fn event(actor: &Actor, action: &str, id: &str, reasons: Vec<String>, details: serde_json::Value) -> Event {
    Event::new(actor.clone(), action, format!("Source::{id}"))
        .decided(crate::audit::Decision::Allow, reasons)
        .details(details)
}

/// Registers a source and issues its first secret, with the audit event, in the caller's
/// transaction.
pub async fn create(
    connection: &mut AnyConnection,
    id: &str,
    name: &str,
    kinds: &[&str],
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<IssuedSecret, IngestError> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM sources WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(&mut *connection)
        .await?;
    if exists.is_some() {
        return Err(IngestError::SourceExists(id.to_owned()));
    }
    let secret = secrets::issue()?;
    register(connection, id, name, kinds, &secret).await?;
    audit::record(connection, event(actor, "source.registered", id, reasons, json!({ "kinds": kinds }))).await?;
    Ok(IssuedSecret { source: view(connection, id).await?, secret })
}

/// Issues a new secret; the old one stops working at once.
pub async fn rotate(
    connection: &mut AnyConnection,
    id: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<IssuedSecret, IngestError> {
    view(connection, id).await?;
    let secret = secrets::issue()?;
    sqlx::query("UPDATE sources SET secret_sha256 = $1 WHERE id = $2")
        .bind(secrets::digest_hex(&secret))
        .bind(id.to_owned())
        .execute(&mut *connection)
        .await?;
    audit::record(connection, event(actor, "source.secret_rotated", id, reasons, json!({}))).await?;
    Ok(IssuedSecret { source: view(connection, id).await?, secret })
}

/// Suspends or reactivates a source.
/// Every problem with a source to register, each naming its field.
pub fn check_new(id: &str, name: &str, kinds: &[String]) -> Result<(), IngestError> {
    let mut errors = Vec::new();
    let id_ok =
        (2..=63).contains(&id.len()) && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        errors.push(crate::problem::FieldError::new("id", "2 to 63 lowercase letters, digits and dashes"));
    }
    if name.trim().is_empty() {
        errors.push(crate::problem::FieldError::new("name", "must not be empty"));
    }
    if kinds.is_empty() {
        errors.push(crate::problem::FieldError::new("kinds", "a source delivers at least one kind"));
    }
    for (index, kind) in kinds.iter().enumerate() {
        if !KINDS.contains(&kind.as_str()) {
            errors.push(crate::problem::FieldError::new(
                format!("kinds[{index}]"),
                format!("must be one of {}", KINDS.join(", ")),
            ));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(IngestError::InvalidFields(errors)) }
}

/// What a source can be: delivering, or refused until reactivated.
pub const STATUSES: [&str; 2] = ["active", "suspended"];

pub async fn set_status(
    connection: &mut AnyConnection,
    id: &str,
    status: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<SourceView, IngestError> {
    if !STATUSES.contains(&status) {
        return Err(IngestError::InvalidFields(vec![crate::problem::FieldError::new(
            "status",
            "must be active or suspended",
        )]));
    }
    let before = view(connection, id).await?;
    sqlx::query("UPDATE sources SET status = $1 WHERE id = $2")
        .bind(status.to_owned())
        .bind(id.to_owned())
        .execute(&mut *connection)
        .await?;
    let details = json!({ "from": before.status, "to": status });
    audit::record(connection, event(actor, "source.status_changed", id, reasons, details)).await?;
    view(connection, id).await
}

/// An authenticated source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub kinds: Vec<String>,
}

/// Registers a source with its secret (stored hashed).
pub async fn register(
    connection: &mut AnyConnection,
    id: &str,
    name: &str,
    kinds: &[&str],
    secret: &str,
) -> Result<(), IngestError> {
    sqlx::query("INSERT INTO sources (id, name, kinds, secret_sha256, status, created_at) VALUES ($1, $2, $3, $4, 'active', $5)")
        .bind(id.to_owned())
        .bind(name.to_owned())
        .bind(serde_json::to_string(kinds).unwrap_or_else(|_| "[]".to_owned()))
        .bind(secrets::digest_hex(secret))
        .bind(Timestamp::now().to_storage())
        .execute(connection)
        .await?;
    Ok(())
}

/// The active source an `Authorization: Basic …` header names, if its secret matches.
/// (Bearer tokens are verified by the caller, which then uses [`find`].)
pub async fn authenticate(connection: &mut AnyConnection, authorization: Option<&str>) -> Result<Source, IngestError> {
    let (id, secret) = authorization.and_then(secrets::basic_credentials).ok_or(IngestError::Unauthenticated)?;
    let row = sqlx::query("SELECT name, kinds, secret_sha256, status FROM sources WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(connection)
        .await?
        .ok_or(IngestError::Unauthenticated)?;
    let stored: String = row.try_get("secret_sha256")?;
    // Comparing digests, not secrets: timing reveals nothing an attacker can steer.
    if stored != secrets::digest_hex(&secret) {
        return Err(IngestError::Unauthenticated);
    }
    let status: String = row.try_get("status")?;
    if status != "active" {
        return Err(IngestError::Suspended(id));
    }
    source_from_row(&id, &row)
}

/// The active source with this id, for imports run by an operator.
pub async fn find(connection: &mut AnyConnection, id: &str) -> Result<Source, IngestError> {
    let row = sqlx::query("SELECT name, kinds, status FROM sources WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(connection)
        .await?
        .ok_or_else(|| IngestError::UnknownSource(id.to_owned()))?;
    let status: String = row.try_get("status")?;
    if status != "active" {
        return Err(IngestError::Suspended(id.to_owned()));
    }
    source_from_row(id, &row)
}

fn source_from_row(id: &str, row: &sqlx::any::AnyRow) -> Result<Source, IngestError> {
    let kinds: String = row.try_get("kinds")?;
    Ok(Source {
        id: id.to_owned(),
        name: row.try_get("name")?,
        kinds: serde_json::from_str(&kinds).unwrap_or_default(),
    })
}
