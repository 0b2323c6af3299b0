//! Consent SQL: inserts and reads only — the ledger has no update or delete.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ConsentError, ConsentEvent, Method, Relation};
use crate::audit::{self, Actor, Event};
use crate::purposes::{Language, LegalBasis, PurposeId};
use crate::timestamp::Timestamp;

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConsentRecord {
    pub id: Uuid,
    pub subject: Uuid,
    #[schema(value_type = String)]
    pub purpose: PurposeId,
    pub purpose_version: i32,
    pub event: ConsentEvent,
    /// The legal basis when it was recorded, as a GDPR article code (`A6-1-a`).
    pub legal_basis: String,
    /// The purpose version whose notice the student saw.
    pub notice_version: i32,
    pub language: Language,
    pub method: Method,
    /// Who recorded it: the student, a staff member, a guardian, or the import.
    pub recorded_by: String,
    pub relation: Relation,
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: Timestamp,
}

const COLUMNS: &str = "id, subject_id, purpose_id, purpose_version, event, legal_basis, notice_version, language, method, \
                       actor_id, relation, recorded_at";

fn record_from_row(row: &AnyRow) -> Result<ConsentRecord, ConsentError> {
    let id: String = row.try_get("id")?;
    let corrupt = || ConsentError::Corrupt(id.clone());
    let text = |column: &str| row.try_get::<String, _>(column);
    Ok(ConsentRecord {
        id: Uuid::parse_str(&id).map_err(|_| corrupt())?,
        subject: Uuid::parse_str(&text("subject_id")?).map_err(|_| corrupt())?,
        purpose: PurposeId::parse(&text("purpose_id")?).map_err(|_| corrupt())?,
        purpose_version: row.try_get("purpose_version")?,
        event: ConsentEvent::parse(&text("event")?).ok_or_else(corrupt)?,
        legal_basis: text("legal_basis")?,
        notice_version: row.try_get("notice_version")?,
        language: match text("language")?.as_str() {
            "nl" => Language::Nl,
            "en" => Language::En,
            _ => return Err(corrupt()),
        },
        method: Method::parse(&text("method")?).ok_or_else(corrupt)?,
        recorded_by: text("actor_id")?,
        relation: Relation::parse(&text("relation")?).ok_or_else(corrupt)?,
        recorded_at: Timestamp::parse(&text("recorded_at")?).map_err(|_| corrupt())?,
    })
}

/// A choice to append.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub subject: Uuid,
    pub purpose: PurposeId,
    pub purpose_version: i32,
    pub legal_basis: LegalBasis,
    pub event: ConsentEvent,
    pub notice_version: i32,
    pub language: Language,
    pub method: Method,
    pub relation: Relation,
    pub recorded_at: Timestamp,
}

/// Appends a choice and its audit event, in the caller's transaction. The student's
/// records get their expiry recomputed in the same transaction: what a withdrawn consent
/// alone kept is deleted at once, and the event says how much.
pub async fn record(
    connection: &mut AnyConnection,
    new: NewRecord,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<ConsentRecord, ConsentError> {
    let stored = ConsentRecord {
        id: Uuid::now_v7(),
        subject: new.subject,
        purpose: new.purpose,
        purpose_version: new.purpose_version,
        event: new.event,
        legal_basis: new.legal_basis.code().to_owned(),
        notice_version: new.notice_version,
        language: new.language,
        method: new.method,
        recorded_by: actor.id.clone(),
        relation: new.relation,
        recorded_at: new.recorded_at,
    };
    let sql =
        format!("INSERT INTO consent_records ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stored.id.to_string())
        .bind(stored.subject.to_string())
        .bind(stored.purpose.as_str())
        .bind(stored.purpose_version)
        .bind(stored.event.as_str())
        .bind(stored.legal_basis.clone())
        .bind(stored.notice_version)
        .bind(stored.language.as_str())
        .bind(stored.method.as_str())
        .bind(stored.recorded_by.clone())
        .bind(stored.relation.as_str())
        .bind(stored.recorded_at.to_storage())
        .execute(&mut *connection)
        .await?;
    let erased = crate::retention::recompute_subject(connection, stored.subject, stored.recorded_at).await?;
    let mut erased: Vec<(&str, u64)> = erased.iter().map(|(category, count)| (category.as_str(), *count)).collect();
    erased.sort();
    let event = Event::new(
        actor.clone(),
        &format!("consent.{}", stored.event.as_str()),
        format!("Purpose::{}", stored.purpose),
    )
    .subject(stored.subject)
    .purpose(stored.purpose.as_str())
    .decided(audit::Decision::Allow, reasons)
    .details(json!({
        "record": stored.id,
        "purpose_version": stored.purpose_version,
        "method": stored.method.as_str(),
        "relation": stored.relation.as_str(),
        "records_erased": erased.into_iter().collect::<BTreeMap<_, _>>(),
    }));
    audit::record(connection, event).await?;
    Ok(stored)
}

/// The latest record of `subject` for `purpose`: their current choice.
pub async fn latest(
    connection: &mut AnyConnection,
    subject: Uuid,
    purpose: &PurposeId,
) -> Result<Option<ConsentRecord>, ConsentError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM consent_records WHERE subject_id = $1 AND purpose_id = $2 ORDER BY recorded_at DESC, id DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(subject.to_string())
        .bind(purpose.as_str())
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(record_from_row).transpose()
}

/// Every record of `subject` for `purpose`, oldest first.
pub async fn history(
    connection: &mut AnyConnection,
    subject: Uuid,
    purpose: &PurposeId,
) -> Result<Vec<ConsentRecord>, ConsentError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM consent_records WHERE subject_id = $1 AND purpose_id = $2 ORDER BY recorded_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(subject.to_string())
        .bind(purpose.as_str())
        .fetch_all(connection)
        .await?;
    rows.iter().map(record_from_row).collect()
}

/// The latest record of `subject` for each purpose they ever chose for.
pub async fn latest_by_purpose(
    connection: &mut AnyConnection,
    subject: Uuid,
) -> Result<BTreeMap<PurposeId, ConsentRecord>, ConsentError> {
    let sql = format!("SELECT {COLUMNS} FROM consent_records WHERE subject_id = $1 ORDER BY recorded_at, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(subject.to_string()).fetch_all(connection).await?;
    let mut latest = BTreeMap::new();
    for row in &rows {
        let record = record_from_row(row)?;
        latest.insert(record.purpose.clone(), record);
    }
    Ok(latest)
}

/// Every record for `purpose`, oldest first.
pub async fn records_for_purpose(
    connection: &mut AnyConnection,
    purpose: &PurposeId,
) -> Result<Vec<ConsentRecord>, ConsentError> {
    let sql = format!("SELECT {COLUMNS} FROM consent_records WHERE purpose_id = $1 ORDER BY recorded_at, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(purpose.as_str()).fetch_all(connection).await?;
    rows.iter().map(record_from_row).collect()
}

/// Every record of these subjects, oldest first (the last per subject and purpose is the
/// current choice), in one query per 500 subjects.
pub async fn records_for_subjects(
    connection: &mut AnyConnection,
    subjects: &[String],
) -> Result<Vec<ConsentRecord>, ConsentError> {
    let mut records = Vec::new();
    for chunk in subjects.chunks(500) {
        let sql = format!(
            "SELECT {COLUMNS} FROM consent_records WHERE subject_id IN ({}) ORDER BY recorded_at, id",
            crate::db::in_list(connection, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for subject in chunk {
            query = query.bind(subject.clone());
        }
        for row in query.fetch_all(&mut *connection).await? {
            records.push(record_from_row(&row)?);
        }
    }
    Ok(records)
}
