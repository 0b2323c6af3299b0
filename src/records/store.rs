//! Record SQL.

use sqlx::AnyConnection;

use super::NewRecord;
use crate::db::{DbError, SqlValue, insert_rows};
use crate::timestamp::Timestamp;

const COLUMNS: [&str; 19] = [
    "id",
    "subject_id",
    "source",
    "kind",
    "category",
    "occurred_at",
    "stored_at",
    "course_id",
    "statement_id",
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
];

/// Stores records; returns how many were written.
pub async fn insert(connection: &mut AnyConnection, records: &[NewRecord]) -> Result<u64, DbError> {
    let stored_at = Timestamp::now().to_storage();
    let text = |value: Option<&str>| SqlValue::Text(value.map(str::to_owned));
    let rows: Vec<Vec<SqlValue>> = records
        .iter()
        .map(|record| {
            vec![
                record.id.to_string().into(),
                record.subject_id.to_string().into(),
                record.source.into(),
                record.kind.as_str().into(),
                record.category.as_str().into(),
                record.occurred_at.to_storage().into(),
                stored_at.as_str().into(),
                record.course_id.clone().into(),
                record.statement_id.map(|id| id.to_string()).into(),
                text(record.verb),
                record.object_id.clone().into(),
                text(record.object_type),
                SqlValue::Real(record.score_scaled),
                SqlValue::Bool(record.success),
                SqlValue::Bool(record.completion),
                SqlValue::Int(record.duration_ms),
                text(record.item),
                record.value_text.clone().into(),
                SqlValue::Real(record.value_number),
            ]
        })
        .collect();
    insert_rows(connection, "records", &COLUMNS, &rows).await
}

/// How many records are stored.
pub async fn count(connection: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(connection).await?)
}
