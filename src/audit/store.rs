//! Audit SQL: appending under the head's lock, reading events and checkpoints back.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::chain::expected_hash;
use super::checkpoint::{Anchor, Checkpoint};
use super::{Actor, ActorKind, AuditError, AuditEvent, Decision, Event};
use crate::auth::Role;
use crate::db::Db;
use crate::timestamp::Timestamp;

const EVENT_COLUMNS: &str = "seq, at, actor_id, actor_kind, actor_roles, action, resource, subject_id, purpose, decision, reasons, details, prev_hash, hash";

/// Appends `event` to the log inside the caller's transaction and returns it as stored.
///
/// The first statement moves the chain head, which takes its row lock (PostgreSQL) or the
/// write lock (SQLite): concurrent appenders queue there, so every event gets the next
/// seq and links to the event committed before it. If the transaction rolls back, the
/// head, the event and the change it describes all roll back together.
pub async fn record(connection: &mut AnyConnection, event: Event) -> Result<AuditEvent, AuditError> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *connection)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let mut stored = AuditEvent {
        seq,
        at: Timestamp::now(),
        actor: event.actor,
        action: event.action,
        resource: event.resource,
        subject: event.subject.map(|subject| subject.to_string()),
        purpose: event.purpose,
        decision: event.decision,
        reasons: event.reasons,
        details: event.details,
        prev_hash,
        hash: String::new(),
    };
    stored.hash = expected_hash(&stored).ok_or_else(|| AuditError::Corrupt {
        seq: seq - 1,
        why: "the chain head does not hold a SHA-256 hash".to_owned(),
    })?;
    let sql = format!(
        "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stored.seq)
        .bind(stored.at.to_storage())
        .bind(stored.actor.id.clone())
        .bind(stored.actor.kind.as_str())
        .bind(json_text(&stored.actor.roles))
        .bind(stored.action.clone())
        .bind(stored.resource.clone())
        .bind(stored.subject.clone())
        .bind(stored.purpose.clone())
        .bind(stored.decision.as_str())
        .bind(json_text(&stored.reasons))
        .bind(json_text(&stored.details))
        .bind(stored.prev_hash.clone())
        .bind(stored.hash.clone())
        .execute(&mut *connection)
        .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(stored.hash.clone())
        .execute(&mut *connection)
        .await?;
    Ok(stored)
}

/// Records an event that accompanies no other change (a read, a refusal, a token issued)
/// in a transaction of its own.
pub async fn record_alone(db: &Db, event: Event) -> Result<AuditEvent, AuditError> {
    let mut tx = db.begin().await?;
    let stored = record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(stored)
}

fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Which events to read; every part is optional. `until` is exclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub action: Option<String>,
    pub decision: Option<Decision>,
}

/// Up to `limit` events matching `filter` with seq above `after_seq`, in seq order.
pub async fn list_events(
    pool: &AnyPool,
    filter: &EventFilter,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, AuditError> {
    let mut conditions = vec!["seq > $1".to_owned()];
    let mut texts: Vec<String> = Vec::new();
    let mut condition = |column: &str, operator: &str, value: Option<String>| {
        if let Some(value) = value {
            texts.push(value);
            conditions.push(format!("{column} {operator} ${}", texts.len() + 1));
        }
    };
    condition("at", ">=", filter.from.map(Timestamp::to_storage));
    condition("at", "<", filter.until.map(Timestamp::to_storage));
    condition("actor_id", "=", filter.actor.clone());
    condition("subject_id", "=", filter.subject.clone());
    condition("purpose", "=", filter.purpose.clone());
    condition("action", "=", filter.action.clone());
    condition("decision", "=", filter.decision.map(|decision| decision.as_str().to_owned()));
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE {} ORDER BY seq LIMIT ${}",
        conditions.join(" AND "),
        texts.len() + 2
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after_seq);
    for text in texts {
        query = query.bind(text);
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter().map(event_from_row).collect()
}

/// Up to `limit` events after `after_seq`, each read on its own, so that verification can
/// name an unreadable row instead of failing the whole page.
pub async fn verification_page(
    pool: &AnyPool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Result<AuditEvent, (i64, String)>>, AuditError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after_seq).bind(limit).fetch_all(pool).await?;
    Ok(rows
        .iter()
        .map(|row| {
            event_from_row(row).map_err(|error| match error {
                AuditError::Corrupt { seq, why } => (seq, why),
                other => (row.try_get("seq").unwrap_or(after_seq + 1), other.to_string()),
            })
        })
        .collect())
}

fn event_from_row(row: &AnyRow) -> Result<AuditEvent, AuditError> {
    let seq: i64 = row.try_get("seq")?;
    let corrupt = |why: String| AuditError::Corrupt { seq, why };
    let json = |column: &str| -> Result<Value, AuditError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|error| corrupt(format!("{column}: {error}")))
    };
    let at: String = row.try_get("at")?;
    let kind: String = row.try_get("actor_kind")?;
    let decision: String = row.try_get("decision")?;
    let roles: Vec<Role> = serde_json::from_value(json("actor_roles")?).map_err(|error| corrupt(error.to_string()))?;
    let reasons: Vec<String> = serde_json::from_value(json("reasons")?).map_err(|error| corrupt(error.to_string()))?;
    Ok(AuditEvent {
        seq,
        at: Timestamp::parse(&at).map_err(|error| corrupt(error.to_string()))?,
        actor: Actor {
            id: row.try_get("actor_id")?,
            kind: ActorKind::parse(&kind).ok_or_else(|| corrupt(format!("actor kind `{kind}`")))?,
            roles,
        },
        action: row.try_get("action")?,
        resource: row.try_get("resource")?,
        subject: row.try_get("subject_id")?,
        purpose: row.try_get("purpose")?,
        decision: match decision.as_str() {
            "allow" => Decision::Allow,
            "deny" => Decision::Deny,
            other => return Err(corrupt(format!("decision `{other}`"))),
        },
        reasons,
        details: json("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// The chain head: the last seq appended and its hash.
pub async fn head(connection: &mut AnyConnection) -> Result<(i64, String), AuditError> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(connection).await?;
    Ok((row.try_get("seq")?, row.try_get("hash")?))
}

/// The same, taking the head's lock for the rest of the transaction.
pub async fn lock_head(connection: &mut AnyConnection) -> Result<(i64, String), AuditError> {
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut *connection).await?;
    head(connection).await
}

pub async fn load_checkpoints(pool: &AnyPool, from_seq: i64, to_seq: i64) -> Result<Vec<Checkpoint>, AuditError> {
    let rows = sqlx::query(
        "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
    )
    .bind(from_seq)
    .bind(to_seq)
    .fetch_all(pool)
    .await?;
    rows.iter().map(checkpoint_from_row).collect()
}

pub async fn last_checkpoint(connection: &mut AnyConnection) -> Result<Option<Checkpoint>, AuditError> {
    let row = sqlx::query("SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

pub async fn insert_checkpoint(connection: &mut AnyConnection, checkpoint: &Checkpoint) -> Result<(), AuditError> {
    sqlx::query("INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)")
        .bind(checkpoint.seq)
        .bind(checkpoint.hash.clone())
        .bind(checkpoint.at.to_storage())
        .bind(checkpoint.key_id.clone())
        .bind(checkpoint.signature.clone())
        .execute(connection)
        .await?;
    Ok(())
}

fn checkpoint_from_row(row: &AnyRow) -> Result<Checkpoint, AuditError> {
    let seq: i64 = row.try_get("seq")?;
    let at: String = row.try_get("at")?;
    Ok(Checkpoint {
        seq,
        hash: row.try_get("hash")?,
        at: Timestamp::parse(&at).map_err(|error| AuditError::Corrupt { seq, why: error.to_string() })?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

pub async fn anchor(pool: &AnyPool) -> Result<Option<Anchor>, AuditError> {
    let row = sqlx::query("SELECT seq, hash, at, key_id, signature FROM audit_anchor WHERE id = 1")
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(|row| checkpoint_from_row(row).map(Anchor)).transpose()
}

/// Removes every event up to `through_seq` and the checkpoints among them, leaving
/// `anchor` in their place.
pub async fn remove_prefix(connection: &mut AnyConnection, anchor: &Anchor) -> Result<u64, AuditError> {
    let Anchor(checkpoint) = anchor;
    sqlx::query("DELETE FROM audit_anchor").execute(&mut *connection).await?;
    sqlx::query("INSERT INTO audit_anchor (id, seq, hash, at, key_id, signature) VALUES (1, $1, $2, $3, $4, $5)")
        .bind(checkpoint.seq)
        .bind(checkpoint.hash.clone())
        .bind(checkpoint.at.to_storage())
        .bind(checkpoint.key_id.clone())
        .bind(checkpoint.signature.clone())
        .execute(&mut *connection)
        .await?;
    sqlx::query("DELETE FROM audit_checkpoints WHERE seq <= $1").bind(checkpoint.seq).execute(&mut *connection).await?;
    let removed =
        sqlx::query("DELETE FROM audit_events WHERE seq <= $1").bind(checkpoint.seq).execute(&mut *connection).await?;
    Ok(removed.rows_affected())
}

/// The last event recorded before `cutoff`, as (seq, hash).
pub async fn last_event_before(
    connection: &mut AnyConnection,
    cutoff: Timestamp,
) -> Result<Option<(i64, String)>, AuditError> {
    let row = sqlx::query("SELECT seq, hash FROM audit_events WHERE at < $1 ORDER BY seq DESC LIMIT 1")
        .bind(cutoff.to_storage())
        .fetch_optional(connection)
        .await?;
    row.map(|row| Ok((row.try_get("seq")?, row.try_get("hash")?))).transpose()
}
