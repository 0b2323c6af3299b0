//! Registered source systems and how they authenticate (HTTP Basic: source id and secret).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{SHA256, digest};
use sqlx::{AnyConnection, Row};

use super::IngestError;
use crate::audit::chain::encode_hex;
use crate::timestamp::Timestamp;

/// An authenticated source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub kinds: Vec<String>,
}

fn secret_hash(secret: &str) -> String {
    encode_hex(digest(&SHA256, secret.as_bytes()).as_ref())
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
        .bind(secret_hash(secret))
        .bind(Timestamp::now().to_storage())
        .execute(connection)
        .await?;
    Ok(())
}

/// The active source an `Authorization: Basic …` header names, if its secret matches.
pub async fn authenticate(connection: &mut AnyConnection, authorization: Option<&str>) -> Result<Source, IngestError> {
    let encoded = authorization.and_then(|value| value.strip_prefix("Basic ")).ok_or(IngestError::Unauthenticated)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| IngestError::Unauthenticated)?;
    let decoded = String::from_utf8(decoded).map_err(|_| IngestError::Unauthenticated)?;
    let (id, secret) = decoded.split_once(':').ok_or(IngestError::Unauthenticated)?;
    let row = sqlx::query("SELECT name, kinds, secret_sha256, status FROM sources WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(connection)
        .await?
        .ok_or(IngestError::Unauthenticated)?;
    let stored: String = row.try_get("secret_sha256")?;
    // Comparing digests, not secrets: timing reveals nothing an attacker can steer.
    if stored != secret_hash(secret) {
        return Err(IngestError::Unauthenticated);
    }
    let status: String = row.try_get("status")?;
    if status != "active" {
        return Err(IngestError::Suspended(id.to_owned()));
    }
    let kinds: String = row.try_get("kinds")?;
    Ok(Source {
        id: id.to_owned(),
        name: row.try_get("name")?,
        kinds: serde_json::from_str(&kinds).unwrap_or_default(),
    })
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
    let kinds: String = row.try_get("kinds")?;
    Ok(Source {
        id: id.to_owned(),
        name: row.try_get("name")?,
        kinds: serde_json::from_str(&kinds).unwrap_or_default(),
    })
}
