//! The disclosure log: per read, which subjects' records left, how many, which fields, to
//! whom, for which purpose, when; written with the read's one audit event, in one
//! transaction. Compact by design: a read of a million records over 2,000 students stores
//! one read row and 2,000 disclosure rows.

use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
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

/// Logs that a person viewed one student's data derived from `purpose` (a mentor opening
/// a proposal), as a read of one record, in the caller's transaction; the student sees it
/// among their disclosures.
pub async fn record_view(
    connection: &mut AnyConnection,
    viewer: &str,
    purpose: &str,
    subject: Uuid,
    fields: &[&str],
    filters: serde_json::Value,
    now: Timestamp,
) -> Result<(), GatewayError> {
    let read = Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO gateway_reads (id, client_id, purpose_id, purpose_version, shape, fields, filters, records, subjects, \
         started_at, finished_at, complete) VALUES ($1, $2, $3, 0, 'records', $4, $5, 1, 1, $6, $6, 1)",
    )
    .bind(read.clone())
    .bind(viewer.to_owned())
    .bind(purpose.to_owned())
    .bind(json!(fields).to_string())
    .bind(filters.to_string())
    .bind(now.to_storage())
    .execute(&mut *connection)
    .await?;
    sqlx::query("INSERT INTO disclosures (read_id, subject_id, records) VALUES ($1, $2, 1)")
        .bind(read)
        .bind(subject.to_string())
        .execute(connection)
        .await?;
    Ok(())
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

/// One read through the gateway that included the student.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Disclosure {
    pub read: String,
    pub at: String,
    /// The tool (client id) or person who read.
    pub reader: String,
    pub reader_name: Option<String>,
    pub purpose: String,
    /// `records` or `aggregates`.
    pub shape: String,
    /// How many of the student's records the read included.
    pub records: u64,
    /// The fields the read may carry.
    pub fields: Vec<String>,
}

/// Every gateway read that included `subject`, newest first.
pub async fn of_subject(connection: &mut AnyConnection, subject: Uuid) -> Result<Vec<Disclosure>, GatewayError> {
    let rows = sqlx::query(
        "SELECT r.id, r.started_at, r.client_id, c.name, r.purpose_id, r.shape, r.fields, d.records \
         FROM disclosures d JOIN gateway_reads r ON r.id = d.read_id \
         LEFT JOIN clients c ON c.token_subject = r.client_id \
         WHERE d.subject_id = $1 ORDER BY r.started_at DESC, r.id DESC",
    )
    .bind(subject.to_string())
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            let fields: String = row.try_get("fields")?;
            let records: i64 = row.try_get("records")?;
            Ok(Disclosure {
                read: row.try_get("id")?,
                at: row.try_get("started_at")?,
                reader: row.try_get("client_id")?,
                reader_name: row.try_get("name")?,
                purpose: row.try_get("purpose_id")?,
                shape: row.try_get("shape")?,
                records: u64::try_from(records).unwrap_or(0),
                fields: serde_json::from_str(&fields).unwrap_or_default(),
            })
        })
        .collect()
}
