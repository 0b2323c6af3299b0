//! Record SQL.

use sqlx::AnyConnection;

use super::{Category, Column, NewRecord, RecordKind};
use crate::db::{DbError, PlaceholderStyle, SqlValue, insert_rows};
use crate::timestamp::Timestamp;

const COLUMNS: [&str; 24] = [
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
    "extensions",
    "expires_at",
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
                record.extensions.clone().into(),
                record.expires_at.map(Timestamp::to_storage).into(),
            ]
        })
        .collect();
    insert_rows(connection, "records", &COLUMNS, &rows).await
}

/// How many records are stored.
pub async fn count(connection: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(connection).await?)
}

/// A read over the records table: which columns, which rows. The columns every scan
/// selects first are `id, subject_id, kind, category, occurred_at` (indices 0 to 4); the
/// requested columns follow in their order.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub columns: Vec<Column>,
    pub categories: Vec<Category>,
    pub kind: Option<RecordKind>,
    /// Only these kinds, when a filter names a field only some kinds may show.
    pub kinds: Option<Vec<RecordKind>>,
    /// Stored-text bounds on `occurred_at`: at or after, and before.
    pub since: Option<String>,
    pub until: Option<String>,
    pub course: Option<String>,
    pub activity: Option<String>,
    pub verb: Option<String>,
    pub subject: Option<String>,
    /// Keyset position `(occurred_at, id)` to continue after; implies `ordered`.
    pub after: Option<(String, String)>,
    /// In `(occurred_at, id)` order, for pages. Unordered scans read in storage order,
    /// which is the fastest way through a whole table.
    pub ordered: bool,
    /// At most this many rows: pages read in chunks, since a server that is sent a query
    /// without a limit (PostgreSQL) sorts and sends every row however few are taken.
    pub limit: Option<usize>,
}

/// Index of the first requested column in a scanned row.
pub const FIRST_REQUESTED_COLUMN: usize = 5;

impl Scan {
    /// The SQL text and its bound values, in order.
    pub fn sql(&self, style: PlaceholderStyle) -> (String, Vec<String>) {
        let mut binds: Vec<String> = Vec::new();
        let placeholder = |value: String, binds: &mut Vec<String>| {
            binds.push(value);
            match style {
                PlaceholderStyle::Numbered => format!("${}", binds.len()),
                PlaceholderStyle::Anonymous => "?".to_owned(),
            }
        };
        let mut sql = String::from("SELECT id, subject_id, kind, category, occurred_at");
        for column in &self.columns {
            sql.push_str(", ");
            sql.push_str(column.sql_name());
        }
        sql.push_str(" FROM records WHERE voided = 0");
        let categories: Vec<String> =
            self.categories.iter().map(|category| placeholder(category.as_str().to_owned(), &mut binds)).collect();
        if categories.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            sql.push_str(&format!(" AND category IN ({})", categories.join(", ")));
        }
        if let Some(kinds) = &self.kinds {
            let kinds: Vec<String> =
                kinds.iter().map(|kind| placeholder(kind.as_str().to_owned(), &mut binds)).collect();
            if kinds.is_empty() {
                sql.push_str(" AND 1 = 0");
            } else {
                sql.push_str(&format!(" AND kind IN ({})", kinds.join(", ")));
            }
        }
        let conditions = [
            ("kind = ", self.kind.map(|kind| kind.as_str().to_owned())),
            ("occurred_at >= ", self.since.clone()),
            ("occurred_at < ", self.until.clone()),
            ("course_id = ", self.course.clone()),
            ("object_id = ", self.activity.clone()),
            ("verb = ", self.verb.clone()),
            ("subject_id = ", self.subject.clone()),
        ];
        for (condition, value) in conditions {
            if let Some(value) = value {
                let marker = placeholder(value, &mut binds);
                sql.push_str(&format!(" AND {condition}{marker}"));
            }
        }
        if let Some((at, id)) = &self.after {
            let (first, second, third) = (
                placeholder(at.clone(), &mut binds),
                placeholder(at.clone(), &mut binds),
                placeholder(id.clone(), &mut binds),
            );
            sql.push_str(&format!(" AND (occurred_at > {first} OR (occurred_at = {second} AND id > {third}))"));
        }
        if self.ordered || self.after.is_some() {
            sql.push_str(" ORDER BY occurred_at, id");
        }
        if let Some(limit) = self.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        (sql, binds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limited_scan_says_so() {
        let scan = Scan { categories: vec![Category::Activity], ordered: true, limit: Some(500), ..Scan::default() };
        let (sql, _) = scan.sql(PlaceholderStyle::Numbered);
        assert!(sql.ends_with(" ORDER BY occurred_at, id LIMIT 500"), "{sql}");
    }

    #[test]
    fn a_scan_binds_every_value_and_orders_only_pages() {
        let scan = Scan {
            columns: vec![Column::Verb],
            categories: vec![Category::Activity, Category::Assessment],
            kinds: Some(vec![RecordKind::Xapi]),
            since: Some("2026-01-01T00:00:00.000000Z".to_owned()),
            course: Some("c01".to_owned()),
            ..Scan::default()
        };
        let (sql, binds) = scan.sql(PlaceholderStyle::Numbered);
        assert_eq!(
            sql,
            "SELECT id, subject_id, kind, category, occurred_at, verb FROM records WHERE voided = 0 \
             AND category IN ($1, $2) AND kind IN ($3) AND occurred_at >= $4 AND course_id = $5"
        );
        assert_eq!(binds, ["activity", "assessment", "xapi", "2026-01-01T00:00:00.000000Z", "c01"]);
        let page = Scan { after: Some(("t".to_owned(), "r".to_owned())), ..Scan::default() };
        let (sql, binds) = page.sql(PlaceholderStyle::Anonymous);
        assert!(sql.contains("1 = 0"), "no category means no rows");
        assert!(sql.ends_with("AND (occurred_at > ? OR (occurred_at = ? AND id > ?)) ORDER BY occurred_at, id"));
        assert_eq!(binds, ["t", "t", "r"]);
    }
}
