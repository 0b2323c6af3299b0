//! Reading statements back (xAPI 1.0.3 §2.1.3), for the source that sent them only: no
//! other system reads learning data except through the governed gateway. In `minimise`
//! mode a statement comes back as stored, with only the fields kept.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::IngestError;

/// Which statements to read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub statement_id: Option<Uuid>,
    pub voided_statement_id: Option<Uuid>,
    pub subject: Option<Uuid>,
    pub registration: Option<Uuid>,
    pub verb: Option<String>,
    pub activity: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: i64,
    pub ascending: bool,
    /// The record id the previous page ended at.
    pub after: Option<Uuid>,
}

/// A page of statements and where the next one starts.
pub struct Page {
    pub statements: Vec<Value>,
    pub next: Option<Uuid>,
}

const COLUMNS: &str = "id, statement_id, subject_id, verb, object_id, object_type, score_scaled, success, completion, \
                       duration_ms, course_id, occurred_at, stored_at, payload, registration, extensions";

pub async fn read(connection: &mut AnyConnection, source: &str, query: &Query) -> Result<Page, IngestError> {
    // A voided statement is found only by `voidedStatementId` (xAPI 1.0.3 §2.1.3).
    let voided = i32::from(query.voided_statement_id.is_some());
    let mut conditions = vec!["source = $1".to_owned(), "kind = 'xapi'".to_owned(), format!("voided = {voided}")];
    let mut binds: Vec<String> = vec![source.to_owned()];
    let mut condition = |sql: &str, value: Option<String>| {
        if let Some(value) = value {
            binds.push(value);
            conditions.push(sql.replace('?', &format!("${}", binds.len())));
        }
    };
    condition("statement_id = ?", query.voided_statement_id.or(query.statement_id).map(|id| id.to_string()));
    condition("subject_id = ?", query.subject.map(|subject| subject.to_string()));
    condition("registration = ?", query.registration.map(|id| id.to_string()));
    condition("verb = ?", query.verb.clone());
    condition("object_id = ?", query.activity.clone());
    condition("stored_at > ?", query.since.clone());
    condition("stored_at <= ?", query.until.clone());
    let (order, cursor) = if query.ascending { ("ASC", "id > ?") } else { ("DESC", "id < ?") };
    condition(cursor, query.after.map(|after| after.to_string()));
    let sql = format!(
        "SELECT {COLUMNS} FROM records WHERE {} ORDER BY id {order} LIMIT {}",
        conditions.join(" AND "),
        query.limit + 1
    );
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        statement = statement.bind(value);
    }
    let mut rows = statement.fetch_all(&mut *connection).await?;
    let next = if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().and_then(|row| row.try_get::<String, _>("id").ok()).and_then(|id| Uuid::parse_str(&id).ok())
    } else {
        None
    };
    let courses: BTreeMap<String, String> = sqlx::query("SELECT id, activity_iri FROM courses")
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .filter_map(|row| Some((row.try_get("id").ok()?, row.try_get("activity_iri").ok()?)))
        .collect();
    let mut statements = Vec::new();
    for row in &rows {
        statements.push(statement_from_row(connection, row, source, &courses).await?);
    }
    Ok(Page { statements, next })
}

/// The xAPI actor a subject was known by.
async fn actor(connection: &mut AnyConnection, subject: &str) -> Result<Value, IngestError> {
    let rows = sqlx::query(
        "SELECT scheme, value FROM subject_identifiers WHERE subject_id = $1 AND scheme LIKE 'xapi_%' ORDER BY scheme",
    )
    .bind(subject.to_owned())
    .fetch_all(connection)
    .await?;
    let Some(row) = rows.first() else {
        return Ok(
            json!({ "objectType": "Agent", "account": { "homePage": "urn:consentry:subject", "name": subject } }),
        );
    };
    let scheme: String = row.try_get("scheme")?;
    let value: String = row.try_get("value")?;
    Ok(match scheme.as_str() {
        "xapi_mbox" => json!({ "objectType": "Agent", "mbox": value }),
        "xapi_mbox_sha1sum" => json!({ "objectType": "Agent", "mbox_sha1sum": value }),
        "xapi_openid" => json!({ "objectType": "Agent", "openid": value }),
        _ => {
            let (home_page, name) = value.split_once('|').unwrap_or((value.as_str(), ""));
            json!({ "objectType": "Agent", "account": { "homePage": home_page, "name": name } })
        }
    })
}

async fn statement_from_row(
    connection: &mut AnyConnection,
    row: &AnyRow,
    source: &str,
    courses: &BTreeMap<String, String>,
) -> Result<Value, IngestError> {
    let stored: String = row.try_get("stored_at")?;
    let authority = json!({ "objectType": "Agent", "account": { "homePage": "urn:consentry:source", "name": source } });
    if let Some(payload) = row.try_get::<Option<String>, _>("payload")? {
        let mut statement: Value = serde_json::from_str(&payload).unwrap_or_default();
        if let Some(map) = statement.as_object_mut() {
            map.insert("stored".to_owned(), json!(stored));
            map.insert("authority".to_owned(), authority);
        }
        return Ok(statement);
    }
    let subject: String = row.try_get("subject_id")?;
    let mut statement = Map::new();
    statement.insert("id".to_owned(), json!(row.try_get::<Option<String>, _>("statement_id")?));
    statement.insert("actor".to_owned(), actor(connection, &subject).await?);
    statement.insert("verb".to_owned(), json!({ "id": row.try_get::<Option<String>, _>("verb")? }));
    // Kept extensions, by catalogue name: `result.extensions.<IRI>` and the like.
    let kept: Map<String, Value> = row
        .try_get::<Option<String>, _>("extensions")?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let extensions_of = |prefix: &str| -> Map<String, Value> {
        kept.iter().filter_map(|(name, value)| Some((name.strip_prefix(prefix)?.to_owned(), value.clone()))).collect()
    };
    let mut object = json!({ "objectType": "Activity", "id": row.try_get::<Option<String>, _>("object_id")? });
    let mut definition = Map::new();
    if let Some(kind) = row.try_get::<Option<String>, _>("object_type")? {
        definition.insert("type".to_owned(), json!(kind));
    }
    let object_extensions = extensions_of("object.definition.extensions.");
    if !object_extensions.is_empty() {
        definition.insert("extensions".to_owned(), Value::Object(object_extensions));
    }
    if !definition.is_empty() {
        object["definition"] = Value::Object(definition);
    }
    statement.insert("object".to_owned(), object);
    let mut result = Map::new();
    if let Some(scaled) = row.try_get::<Option<f64>, _>("score_scaled")? {
        result.insert("score".to_owned(), json!({ "scaled": scaled }));
    }
    if let Some(success) = row.try_get::<Option<i64>, _>("success")? {
        result.insert("success".to_owned(), json!(success != 0));
    }
    if let Some(completion) = row.try_get::<Option<i64>, _>("completion")? {
        result.insert("completion".to_owned(), json!(completion != 0));
    }
    if let Some(ms) = row.try_get::<Option<i64>, _>("duration_ms")? {
        result.insert("duration".to_owned(), json!(format!("PT{}.{:02}S", ms / 1000, (ms % 1000) / 10)));
    }
    let result_extensions = extensions_of("result.extensions.");
    if !result_extensions.is_empty() {
        result.insert("extensions".to_owned(), Value::Object(result_extensions));
    }
    if !result.is_empty() {
        statement.insert("result".to_owned(), Value::Object(result));
    }
    let mut context = Map::new();
    if let Some(parent) =
        row.try_get::<Option<String>, _>("course_id")?.and_then(|course| courses.get(&course).cloned())
    {
        context.insert("contextActivities".to_owned(), json!({ "parent": [{ "id": parent }] }));
    }
    if let Some(registration) = row.try_get::<Option<String>, _>("registration")? {
        context.insert("registration".to_owned(), json!(registration));
    }
    let context_extensions = extensions_of("context.extensions.");
    if !context_extensions.is_empty() {
        context.insert("extensions".to_owned(), Value::Object(context_extensions));
    }
    if !context.is_empty() {
        statement.insert("context".to_owned(), Value::Object(context));
    }
    statement.insert("timestamp".to_owned(), json!(row.try_get::<String, _>("occurred_at")?));
    statement.insert("stored".to_owned(), json!(stored));
    statement.insert("authority".to_owned(), authority);
    statement.insert("version".to_owned(), json!("1.0.3"));
    Ok(Value::Object(statement))
}
