//! Record SQL.

use sqlx::AnyConnection;

use super::NewRecord;
use crate::db::{DbError, SqlValue, insert_rows};
use crate::timestamp::Timestamp;

const COLUMNS: [&str; 22] = [
    "id",
    "subject_id",
    "source",
    "kind",
    "category",
    "occurred_at",
    "stored_at",
    "course_id",
    "statement_id",
    "content_sha256",
    "verb",
    "object_id",
    "object_type",
    "score_scaled",
    "success",
    "completion",
    "duration_ms",
    "item",
    "value_text",
    "value_number",
    "payload",
    "registration",
];

/// Stores records; returns how many were written.
pub async fn insert(connection: &mut AnyConnection, records: &[NewRecord]) -> Result<u64, DbError> {
    let stored_at = Timestamp::now().to_storage();
    let rows: Vec<Vec<SqlValue>> = records
        .iter()
        .map(|record| {
            vec![
                record.id.to_string().into(),
                record.subject_id.to_string().into(),
                record.source.as_str().into(),
                record.kind.as_str().into(),
                record.category.as_str().into(),
                record.occurred_at.to_storage().into(),
                stored_at.as_str().into(),
                record.course_id.clone().into(),
                record.statement_id.map(|id| id.to_string()).into(),
                record.content_sha256.clone().into(),
                record.verb.clone().into(),
                record.object_id.clone().into(),
                record.object_type.clone().into(),
                SqlValue::Real(record.score_scaled),
                SqlValue::Bool(record.success),
                SqlValue::Bool(record.completion),
                SqlValue::Int(record.duration_ms),
                record.item.clone().into(),
                record.value_text.clone().into(),
                SqlValue::Real(record.value_number),
                record.payload.clone().into(),
                record.registration.map(|id| id.to_string()).into(),
            ]
        })
        .collect();
    insert_rows(connection, "records", &COLUMNS, &rows).await
}

/// How many records are stored.
pub async fn count(connection: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(connection).await?)
}
