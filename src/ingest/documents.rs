//! The xAPI document resources: activity state, activity profiles and agent profiles
//! (xAPI 1.0.3 §7.3–7.6). Learning content writes them, so a source pointed at Consentry
//! must not fail on them. In `minimise` mode they hold data no purpose reads: writes are
//! accepted and not kept, reads find nothing. In `conformant` mode they are kept.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use super::IngestError;
use crate::audit::chain::encode_hex;
use crate::timestamp::Timestamp;

/// Which document resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    State,
    ActivityProfile,
    AgentProfile,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::ActivityProfile => "activity_profile",
            Self::AgentProfile => "agent_profile",
        }
    }
}

/// Where a document lives: the resource and its scope (activity, agent, registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource: Resource,
    pub activity: Option<String>,
    /// The agent as canonical JSON.
    pub agent: Option<String>,
    pub registration: Option<String>,
}

impl Scope {
    fn text(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.resource.as_str(),
            self.activity.as_deref().unwrap_or_default(),
            self.agent.as_deref().unwrap_or_default(),
            self.registration.as_deref().unwrap_or_default()
        )
    }

    fn key(&self, document: &str) -> String {
        let text = format!("{}|{document}", self.text());
        encode_hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
    }
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub content_type: String,
    pub content: Vec<u8>,
    pub etag: String,
}

fn etag(content: &[u8]) -> String {
    format!("\"{}\"", encode_hex(ring::digest::digest(&ring::digest::SHA256, content).as_ref()))
}

pub async fn get(
    connection: &mut AnyConnection,
    scope: &Scope,
    document: &str,
) -> Result<Option<Document>, IngestError> {
    let row = sqlx::query("SELECT content_type, content, etag FROM xapi_documents WHERE key = $1")
        .bind(scope.key(document))
        .fetch_optional(connection)
        .await?;
    row.map(|row| {
        let content: String = row.try_get("content")?;
        Ok(Document {
            content_type: row.try_get("content_type")?,
            content: STANDARD.decode(content).unwrap_or_default(),
            etag: row.try_get("etag")?,
        })
    })
    .transpose()
}

/// The ids of the documents in a scope, optionally changed since a moment.
pub async fn ids(
    connection: &mut AnyConnection,
    scope: &Scope,
    since: Option<Timestamp>,
) -> Result<Vec<String>, IngestError> {
    let since = since.map(Timestamp::to_storage).unwrap_or_default();
    Ok(sqlx::query_scalar(
        "SELECT document_id FROM xapi_documents WHERE scope = $1 AND updated_at > $2 ORDER BY document_id",
    )
    .bind(scope.text())
    .bind(since)
    .fetch_all(connection)
    .await?)
}

/// Stores a document; with `merge`, JSON objects are merged into the stored one (POST).
pub async fn put(
    connection: &mut AnyConnection,
    source: &str,
    scope: &Scope,
    document: &str,
    content_type: &str,
    content: &[u8],
    merge: bool,
) -> Result<(), IngestError> {
    let mut content_type = content_type.to_owned();
    let mut content = content.to_vec();
    if merge && let Some(existing) = get(connection, scope, document).await? {
        let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).ok().filter(Value::is_object);
        match (parse(&existing.content), parse(&content)) {
            (Some(Value::Object(mut stored)), Some(Value::Object(new))) => {
                stored.extend(new);
                content = serde_json::to_vec(&stored).unwrap_or_default();
                content_type = "application/json".to_owned();
            }
            _ => return Err(IngestError::NotMergeable),
        }
    }
    let key = scope.key(document);
    sqlx::query("DELETE FROM xapi_documents WHERE key = $1").bind(key.clone()).execute(&mut *connection).await?;
    sqlx::query(
        "INSERT INTO xapi_documents (key, resource, source_id, document_id, scope, content_type, content, etag, \
         updated_at, agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(key)
    .bind(scope.resource.as_str())
    .bind(source.to_owned())
    .bind(document.to_owned())
    .bind(scope.text())
    .bind(content_type)
    .bind(STANDARD.encode(&content))
    .bind(etag(&content))
    .bind(Timestamp::now().to_storage())
    .bind(scope.agent.clone())
    .execute(connection)
    .await?;
    Ok(())
}

/// Deletes one document, or every document of the scope (state only, xAPI §7.4).
pub async fn delete(connection: &mut AnyConnection, scope: &Scope, document: Option<&str>) -> Result<(), IngestError> {
    match document {
        Some(document) => {
            sqlx::query("DELETE FROM xapi_documents WHERE key = $1")
                .bind(scope.key(document))
                .execute(connection)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM xapi_documents WHERE scope = $1").bind(scope.text()).execute(connection).await?
        }
    };
    Ok(())
}
