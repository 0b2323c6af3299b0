//! The download of everything about a student (GDPR Art. 20): one zip of JSON files with a
//! README that explains each. A student's data is small (hundreds to thousands of
//! records), so the archive is built in memory and sent in one response.

use std::io::Write;

use serde_json::{Map, Value, json};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;
use zip::write::SimpleFileOptions;

use super::RightsError;
use crate::config::InstitutionConfig;

const README: &str = "Your data at the institution, as Consentry keeps it (GDPR Art. 20).

identity.json       your name, e-mail address and the identifiers systems know you by
statements.json     your learning activity as xAPI statements (only the fields kept)
enrolments.json     your course enrolments from the student information system
grades.json         your grades
survey.json         your questionnaire answers
consents.json       every choice you made per purpose, and a receipt for your current one
disclosures.json    every read of your data by an analytics tool: when, who, why, how much
requests.json       your requests (access, rectification, erasure, restriction, objection)
interventions.json  what your mentor decided to offer you, and why

Each record has an `id`: name it when you ask for a correction.
";

fn json_file(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Records of one kind, with the kept fields.
async fn records(connection: &mut AnyConnection, subject: &str, kind: &str) -> Result<Vec<Value>, RightsError> {
    let rows = sqlx::query(
        "SELECT id, source, category, occurred_at, expires_at, course_id, verb, object_id, object_type, score_scaled, \
         success, completion, duration_ms, registration, item, value_text, value_number, extensions \
         FROM records WHERE subject_id = $1 AND kind = $2 ORDER BY occurred_at, id",
    )
    .bind(subject.to_owned())
    .bind(kind.to_owned())
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            let mut record = Map::new();
            for column in [
                "id",
                "source",
                "category",
                "occurred_at",
                "expires_at",
                "course_id",
                "verb",
                "object_id",
                "object_type",
                "registration",
                "item",
                "value_text",
                "extensions",
            ] {
                if let Some(text) = row.try_get::<Option<String>, _>(column)? {
                    let value = if column == "extensions" {
                        serde_json::from_str(&text).unwrap_or(Value::String(text))
                    } else {
                        Value::String(text)
                    };
                    record.insert(column.to_owned(), value);
                }
            }
            for column in ["score_scaled", "value_number"] {
                if let Some(number) = row.try_get::<Option<f64>, _>(column)? {
                    record.insert(column.to_owned(), json!(number));
                }
            }
            for column in ["success", "completion"] {
                if let Some(flag) = row.try_get::<Option<i64>, _>(column)? {
                    record.insert(column.to_owned(), json!(flag != 0));
                }
            }
            if let Some(ms) = row.try_get::<Option<i64>, _>("duration_ms")? {
                record.insert("duration_ms".to_owned(), json!(ms));
            }
            Ok(Value::Object(record))
        })
        .collect()
}

/// An xAPI rendering of a stored statement, with the student as actor.
fn statement(record: &Value, actor: &Value) -> Value {
    let mut statement = json!({
        "id": record["id"],
        "actor": actor,
        "verb": { "id": record["verb"] },
        "object": { "objectType": "Activity", "id": record["object_id"] },
        "timestamp": record["occurred_at"],
    });
    if let Some(kind) = record.get("object_type") {
        statement["object"]["definition"] = json!({ "type": kind });
    }
    let mut result = Map::new();
    if let Some(score) = record.get("score_scaled") {
        result.insert("score".to_owned(), json!({ "scaled": score }));
    }
    for flag in ["success", "completion"] {
        if let Some(value) = record.get(flag) {
            result.insert(flag.to_owned(), value.clone());
        }
    }
    if let Some(ms) = record.get("duration_ms").and_then(Value::as_i64) {
        result.insert("duration".to_owned(), json!(crate::timestamp::duration_from_millis(ms)));
    }
    if !result.is_empty() {
        statement["result"] = Value::Object(result);
    }
    if let Some(course) = record.get("course_id") {
        statement["context"] = json!({ "extensions": { "urn:consentry:course": course } });
    }
    statement
}

/// The student's whole file as a zip archive.
pub async fn export_zip(
    connection: &mut AnyConnection,
    subject: Uuid,
    institution: &InstitutionConfig,
) -> Result<Vec<u8>, RightsError> {
    let id = subject.to_string();
    let data = super::my_data(connection, subject).await?;
    let actor = json!({ "objectType": "Agent", "name": data.name, "mbox": data.email.as_ref().map(|email| format!("mailto:{email}")) });
    let statements: Vec<Value> =
        records(connection, &id, "xapi").await?.iter().map(|record| statement(record, &actor)).collect();
    let enrolments = records(connection, &id, "enrolment").await?;
    let grades = records(connection, &id, "grade").await?;
    let survey = records(connection, &id, "survey").await?;
    let history = crate::consent::records_for_subjects(connection, std::slice::from_ref(&id)).await?;
    let mut receipts = Vec::new();
    for (purpose, record) in crate::consent::latest_by_purpose(connection, subject).await? {
        let current = crate::consent::status(connection, subject, &purpose).await?;
        let at_version = crate::purposes::definition_at(connection, &purpose, record.purpose_version).await?;
        let notice = crate::purposes::definition_at(connection, &purpose, record.notice_version).await?;
        if let (Some(at_version), Some(notice)) = (at_version, notice) {
            receipts.push(crate::consent::Receipt::new(&record, current.state, &at_version, &notice, institution));
        }
    }
    let disclosures = crate::gateway::disclosures_of(connection, subject).await?;
    let requests = super::requests::of_subject(connection, subject, crate::timestamp::Timestamp::now()).await?;
    let interventions = crate::analytics::interventions(connection, subject)
        .await
        .map_err(|error| RightsError::Export(error.to_string()))?;
    let files: [(&str, Vec<u8>); 10] = [
        ("README.txt", README.as_bytes().to_vec()),
        (
            "identity.json",
            json_file(
                &json!({ "subject": subject, "name": data.name, "email": data.email, "identifiers": data.identifiers }),
            ),
        ),
        ("statements.json", json_file(&json!(statements))),
        ("enrolments.json", json_file(&json!(enrolments))),
        ("grades.json", json_file(&json!(grades))),
        ("survey.json", json_file(&json!(survey))),
        ("consents.json", json_file(&json!({ "history": history, "receipts": receipts }))),
        ("disclosures.json", json_file(&json!(disclosures))),
        ("requests.json", json_file(&json!(requests))),
        ("interventions.json", json_file(&json!(interventions))),
    ];
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let failed = |error: &dyn std::fmt::Display| RightsError::Export(error.to_string());
    for (name, bytes) in files {
        archive.start_file(name, options).map_err(|error| failed(&error))?;
        archive.write_all(&bytes).map_err(|error| failed(&error))?;
    }
    Ok(archive.finish().map_err(|error| failed(&error))?.into_inner())
}
