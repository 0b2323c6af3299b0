//! Client registry SQL.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{ClientError, ClientView, IssuedCredentials, NewClient};
use crate::audit::{self, Actor, Decision, Event};
use crate::auth::{Principal, PrincipalKind, secrets};
use crate::problem::FieldError;
use crate::purposes::PurposeId;
use crate::timestamp::Timestamp;

const COLUMNS: &str = "id, name, organisation, contact, token_subject, status, created_at";

async fn purposes_by_client(
    connection: &mut AnyConnection,
    client: Option<&str>,
) -> Result<BTreeMap<String, Vec<PurposeId>>, ClientError> {
    let query = match client {
        Some(id) => sqlx::query(
            "SELECT client_id, purpose_id FROM client_purposes WHERE client_id = $1 ORDER BY client_id, purpose_id",
        )
        .bind(id.to_owned()),
        None => sqlx::query("SELECT client_id, purpose_id FROM client_purposes ORDER BY client_id, purpose_id"),
    };
    let mut purposes: BTreeMap<String, Vec<PurposeId>> = BTreeMap::new();
    for row in query.fetch_all(connection).await? {
        let client: String = row.try_get("client_id")?;
        let purpose: String = row.try_get("purpose_id")?;
        if let Ok(purpose) = PurposeId::parse(&purpose) {
            purposes.entry(client).or_default().push(purpose);
        }
    }
    Ok(purposes)
}

fn view_from_row(row: &AnyRow, purposes: &mut BTreeMap<String, Vec<PurposeId>>) -> Result<ClientView, ClientError> {
    let id: String = row.try_get("id")?;
    let created_at: String = row.try_get("created_at")?;
    Ok(ClientView {
        purposes: purposes.remove(&id).unwrap_or_default(),
        token_subject: row.try_get::<Option<String>, _>("token_subject")?.unwrap_or_else(|| id.clone()),
        name: row.try_get("name")?,
        organisation: row.try_get("organisation")?,
        contact: row.try_get("contact")?,
        status: row.try_get("status")?,
        created_at: Timestamp::parse(&created_at).unwrap_or_else(|_| Timestamp::now()),
        id,
    })
}

/// Every registered client.
pub async fn list(connection: &mut AnyConnection) -> Result<Vec<ClientView>, ClientError> {
    let mut purposes = purposes_by_client(connection, None).await?;
    let sql = format!("SELECT {COLUMNS} FROM clients ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(connection).await?;
    rows.iter().map(|row| view_from_row(row, &mut purposes)).collect()
}

/// One client.
pub async fn get(connection: &mut AnyConnection, id: &str) -> Result<ClientView, ClientError> {
    let sql = format!("SELECT {COLUMNS} FROM clients WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(|| ClientError::NotFound(id.to_owned()))?;
    let mut purposes = purposes_by_client(connection, Some(id)).await?;
    view_from_row(&row, &mut purposes)
}

async fn check_purposes(connection: &mut AnyConnection, purposes: &[PurposeId]) -> Result<(), ClientError> {
    let mut errors = Vec::new();
    for (index, purpose) in purposes.iter().enumerate() {
        if crate::purposes::get(connection, purpose).await?.is_none() {
            errors.push(FieldError::new(format!("purposes[{index}]"), format!("no purpose has the id `{purpose}`")));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ClientError::Invalid(errors)) }
}

async fn replace_purposes(connection: &mut AnyConnection, id: &str, purposes: &[PurposeId]) -> Result<(), ClientError> {
    sqlx::query("DELETE FROM client_purposes WHERE client_id = $1")
        .bind(id.to_owned())
        .execute(&mut *connection)
        .await?;
    let now = Timestamp::now().to_storage();
    for purpose in purposes {
        sqlx::query("INSERT INTO client_purposes (client_id, purpose_id, registered_at) VALUES ($1, $2, $3)")
            .bind(id.to_owned())
            .bind(purpose.as_str())
            .bind(now.clone())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// Stores a client with its purposes and the digest of `secret`, without an audit event:
/// for seeding, where the seed run itself is the event.
pub async fn insert(connection: &mut AnyConnection, client: &NewClient, secret: &str) -> Result<(), ClientError> {
    sqlx::query(
        "INSERT INTO clients (id, name, organisation, contact, token_subject, secret_sha256, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
    )
    .bind(client.id.clone())
    .bind(client.name.clone())
    .bind(client.organisation.clone())
    .bind(client.contact.clone())
    .bind(client.token_subject.clone())
    .bind(secrets::digest_hex(secret))
    .bind(Timestamp::now().to_storage())
    .execute(&mut *connection)
    .await?;
    replace_purposes(connection, &client.id, &client.purposes).await
}

fn event(actor: &Actor, action: &str, id: &str, reasons: Vec<String>, details: serde_json::Value) -> Event {
    Event::new(actor.clone(), action, format!("Client::{id}")).decided(Decision::Allow, reasons).details(details)
}

/// Registers a client for its purposes and issues its first secret, with the audit event,
/// in the caller's transaction.
pub async fn register(
    connection: &mut AnyConnection,
    client: &NewClient,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<IssuedCredentials, ClientError> {
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM clients WHERE id = $1 OR token_subject = $2")
        .bind(client.id.clone())
        .bind(client.token_subject.clone())
        .fetch_optional(&mut *connection)
        .await?;
    match taken {
        Some(id) if id == client.id => return Err(ClientError::Exists(id)),
        Some(_) => return Err(ClientError::SubjectTaken(client.token_subject.clone())),
        None => {}
    }
    check_purposes(connection, &client.purposes).await?;
    let secret = secrets::issue()?;
    insert(connection, client, &secret).await?;
    let details = json!({ "token_subject": client.token_subject, "purposes": client.purposes });
    audit::record(connection, event(actor, "client.registered", &client.id, reasons, details)).await?;
    Ok(IssuedCredentials { client: get(connection, &client.id).await?, secret })
}

/// Replaces the purposes a client may read for.
pub async fn set_purposes(
    connection: &mut AnyConnection,
    id: &str,
    purposes: &[PurposeId],
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<ClientView, ClientError> {
    let before = get(connection, id).await?;
    check_purposes(connection, purposes).await?;
    replace_purposes(connection, id, purposes).await?;
    let details = json!({ "from": before.purposes, "to": purposes });
    audit::record(connection, event(actor, "client.purposes_changed", id, reasons, details)).await?;
    get(connection, id).await
}

/// Suspends or reactivates a client; a suspended client reads nothing.
pub async fn set_status(
    connection: &mut AnyConnection,
    id: &str,
    status: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<ClientView, ClientError> {
    if !crate::ingest::sources::STATUSES.contains(&status) {
        return Err(ClientError::Invalid(vec![FieldError::new("status", "must be active or suspended")]));
    }
    let before = get(connection, id).await?;
    sqlx::query("UPDATE clients SET status = $1 WHERE id = $2")
        .bind(status.to_owned())
        .bind(id.to_owned())
        .execute(&mut *connection)
        .await?;
    let details = json!({ "from": before.status, "to": status });
    audit::record(connection, event(actor, "client.status_changed", id, reasons, details)).await?;
    get(connection, id).await
}

/// Issues a new secret, and optionally moves the client to a new token subject (a new
/// registration at the identity provider); the old credentials stop working at once.
pub async fn rotate(
    connection: &mut AnyConnection,
    id: &str,
    token_subject: Option<&str>,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<IssuedCredentials, ClientError> {
    let before = get(connection, id).await?;
    let subject = token_subject.unwrap_or(&before.token_subject);
    let holder: Option<String> = sqlx::query_scalar("SELECT id FROM clients WHERE token_subject = $1 AND id <> $2")
        .bind(subject.to_owned())
        .bind(id.to_owned())
        .fetch_optional(&mut *connection)
        .await?;
    if holder.is_some() {
        return Err(ClientError::SubjectTaken(subject.to_owned()));
    }
    let secret = secrets::issue()?;
    sqlx::query("UPDATE clients SET secret_sha256 = $1, token_subject = $2 WHERE id = $3")
        .bind(secrets::digest_hex(&secret))
        .bind(subject.to_owned())
        .bind(id.to_owned())
        .execute(&mut *connection)
        .await?;
    let details = json!({ "token_subject": { "from": before.token_subject, "to": subject } });
    audit::record(connection, event(actor, "client.credentials_rotated", id, reasons, details)).await?;
    Ok(IssuedCredentials { client: get(connection, id).await?, secret })
}

/// What the gateway and the policies need to know about the client behind a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    pub active: bool,
    pub purposes: Vec<PurposeId>,
}

/// The client whose tokens carry `token_subject`, if one is registered.
pub async fn registration(
    connection: &mut AnyConnection,
    token_subject: &str,
) -> Result<Option<Registration>, ClientError> {
    let row = sqlx::query("SELECT id, status FROM clients WHERE token_subject = $1")
        .bind(token_subject.to_owned())
        .fetch_optional(&mut *connection)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let purposes = purposes_by_client(connection, Some(&id)).await?.remove(&id).unwrap_or_default();
    Ok(Some(Registration { id, active: status == "active", purposes }))
}

/// The client an `Authorization: Basic …` header names, if its secret matches, as the
/// principal its tokens would make (identified by its token subject).
pub async fn authenticate(connection: &mut AnyConnection, authorization: &str) -> Result<Principal, ClientError> {
    let (id, secret) = secrets::basic_credentials(authorization).ok_or(ClientError::Unauthenticated)?;
    let row = sqlx::query("SELECT token_subject, secret_sha256, status FROM clients WHERE id = $1")
        .bind(id.clone())
        .fetch_optional(connection)
        .await?
        .ok_or(ClientError::Unauthenticated)?;
    let stored: Option<String> = row.try_get("secret_sha256")?;
    // Comparing digests, not secrets: timing reveals nothing an attacker can steer.
    if stored.as_deref() != Some(secrets::digest_hex(&secret).as_str()) {
        return Err(ClientError::Unauthenticated);
    }
    let status: String = row.try_get("status")?;
    if status != "active" {
        return Err(ClientError::Suspended(id));
    }
    let token_subject: Option<String> = row.try_get("token_subject")?;
    Ok(Principal { id: token_subject.unwrap_or(id), kind: PrincipalKind::Client, roles: Default::default() })
}
