//! The disclosure log: per read, which subjects' records left, how many, which fields, to
//! whom, for which purpose, when; written with the read's one audit event, in one
//! transaction. Compact by design: a read of a million records over 2,000 students stores
//! one read row and 2,000 disclosure rows.

use serde_json::json;
use uuid::Uuid;

use super::GatewayError;
use super::scope::Disclosed;
use crate::audit::{self, Actor, Decision, Event};
use crate::db::{Db, SqlValue, insert_rows};
use crate::policy::{Action, ReadContext};
use crate::purposes::PurposeId;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Records,
    Aggregates,
}

impl Shape {
    fn as_str(self) -> &'static str {
        match self {
            Self::Records => "records",
            Self::Aggregates => "aggregates",
        }
    }
}

/// What is known about a read before its first row.
#[derive(Debug, Clone)]
pub struct ReadLog {
    pub actor: Actor,
    pub action: Action,
    pub shape: Shape,
    pub purpose: PurposeId,
    pub purpose_version: i32,
    pub fields: Vec<String>,
    pub filters: serde_json::Value,
    pub context: ReadContext,
    /// The policies that allowed it.
    pub policies: Vec<String>,
    pub started_at: Timestamp,
}

/// Records a finished read: its row, one disclosure row per subject, and its audit event.
pub async fn record(db: &Db, log: ReadLog, disclosed: Vec<Disclosed>, complete: bool) -> Result<Uuid, GatewayError> {
    let id = Uuid::now_v7();
    let records: u64 = disclosed.iter().map(|share| share.records).sum();
    let finished_at = Timestamp::now();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO gateway_reads (id, client_id, purpose_id, purpose_version, shape, fields, filters, records, \
         subjects, started_at, finished_at, complete) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id.to_string())
    .bind(log.actor.id.clone())
    .bind(log.purpose.as_str())
    .bind(log.purpose_version)
    .bind(log.shape.as_str())
    .bind(json!(log.fields).to_string())
    .bind(log.filters.to_string())
    .bind(i64::try_from(records).unwrap_or(i64::MAX))
    .bind(i64::try_from(disclosed.len()).unwrap_or(i64::MAX))
    .bind(log.started_at.to_storage())
    .bind(finished_at.to_storage())
    .bind(i16::from(complete))
    .execute(&mut *tx)
    .await?;
    let read = SqlValue::from(id.to_string());
    let rows: Vec<Vec<SqlValue>> = disclosed
        .iter()
        .map(|share| {
            vec![
                read.clone(),
                share.subject.as_str().into(),
                SqlValue::Int(Some(i64::try_from(share.records).unwrap_or(i64::MAX))),
            ]
        })
        .collect();
    insert_rows(&mut tx, "disclosures", &["read_id", "subject_id", "records"], &rows).await?;
    let event = Event::new(log.actor, "access.allowed", format!("Purpose::{}", log.purpose))
        .purpose(log.purpose.as_str())
        .decided(Decision::Allow, log.policies.clone())
        .details(json!({
            "action": log.action.as_str(),
            "policies": log.policies,
            "context": log.context,
            "read": id,
            "shape": log.shape.as_str(),
            "records": records,
            "subjects": disclosed.len(),
            "fields": log.fields,
            "filters": log.filters,
            "complete": complete,
        }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(id)
}
