//! Storing statements: identity mapping, minimisation at the door, idempotency.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::IngestError;
use super::xapi::{ActorId, Statement};
use crate::audit::chain::encode_hex;
use crate::catalogue::Catalogue;
use crate::config::IngestMode;
use crate::directory::{self, IdentifierScheme, NewSubject};
use crate::records::{self, Category, NewRecord, RecordKind};
use crate::timestamp::Timestamp;

/// The catalogue fields some active or draft purpose reads, and those an active purpose
/// with a GDPR Art. 9(2) condition reads: what minimisation keeps.
#[derive(Debug, Clone, Default)]
pub struct Needed {
    fields: BTreeSet<String>,
    special_allowed: BTreeSet<String>,
    /// Keep everything (conformant mode); special-category data is still refused.
    everything: bool,
}

impl Needed {
    pub async fn load(connection: &mut AnyConnection, mode: IngestMode) -> Result<Self, IngestError> {
        let mut needed = Needed { everything: mode == IngestMode::Conformant, ..Needed::default() };
        for purpose in crate::purposes::list(connection).await? {
            use crate::purposes::PurposeStatus::{Active, Draft};
            if !matches!(purpose.status, Active | Draft) {
                continue;
            }
            let art9 = purpose.status == Active && purpose.definition.art9_condition.is_some();
            for field in purpose.definition.fields {
                if art9 {
                    needed.special_allowed.insert(field.clone());
                }
                needed.fields.insert(field);
            }
        }
        Ok(needed)
    }

    pub fn keeps(&self, field: &str) -> bool {
        self.everything || self.fields.contains(field)
    }
}

/// What one statement leaves in storage, and what it drops.
pub struct Minimised {
    pub record: NewRecord,
    pub dropped: Vec<String>,
}

/// Keeps only the catalogued fields some purpose needs; refuses special-category content
/// no purpose with an Art. 9 condition reads.
pub fn minimise(
    source: &str,
    statement: &Statement,
    subject: Uuid,
    courses: &BTreeMap<String, String>,
    needed: &Needed,
    catalogue: &Catalogue,
    index: usize,
) -> Result<Minimised, IngestError> {
    let mut dropped = Vec::new();
    let mut extensions = serde_json::Map::new();
    for (path, value) in &statement.extensions {
        match catalogue.get(path) {
            Some(field) if field.category == Category::Special && !needed.special_allowed.contains(path) => {
                return Err(IngestError::Special { index, field: path.clone() });
            }
            Some(_) if needed.keeps(path) => {
                extensions.insert(path.clone(), value.clone());
            }
            _ => dropped.push(path.clone()),
        }
    }
    let mut keep = |field: &str, present: bool| {
        let kept = needed.keeps(field);
        if present && !kept {
            dropped.push(field.to_owned());
        }
        present && kept
    };
    let occurred_at = statement.timestamp.unwrap_or_else(Timestamp::now);
    let scored = statement.score_scaled.is_some() || statement.success.is_some();
    let category = if scored && (needed.keeps("result.score.scaled") || needed.keeps("result.success")) {
        Category::Assessment
    } else {
        Category::Activity
    };
    let mut record = NewRecord::new(Uuid::now_v7(), subject, source, RecordKind::Xapi, category, occurred_at);
    record.statement_id = statement.id;
    if !extensions.is_empty() {
        record.extensions = Some(serde_json::Value::Object(extensions).to_string());
    }
    if needed.everything {
        record.payload = Some(statement.raw.to_string());
    }
    if keep("verb.id", true) {
        record.verb = Some(statement.verb.clone());
    }
    if keep("object.id", statement.object_id.is_some()) {
        record.object_id = statement.object_id.clone();
    }
    if keep("object.definition.type", statement.object_type.is_some()) {
        record.object_type = statement.object_type.clone();
    }
    if keep("result.score.scaled", statement.score_scaled.is_some()) {
        record.score_scaled = statement.score_scaled;
    }
    if keep("result.success", statement.success.is_some()) {
        record.success = statement.success;
    }
    if keep("result.completion", statement.completion.is_some()) {
        record.completion = statement.completion;
    }
    if keep("result.duration", statement.duration_ms.is_some()) {
        record.duration_ms = statement.duration_ms;
    }
    if keep("context.registration", statement.registration.is_some()) {
        record.registration = statement.registration;
    }
    if keep("context.contextActivities.parent", !statement.parents.is_empty()) {
        record.course_id = statement.parents.iter().find_map(|parent| courses.get(parent).cloned());
    }
    Ok(Minimised { record, dropped })
}

/// How the identifier table names an actor.
pub fn identifier(actor: &ActorId) -> (IdentifierScheme, String) {
    match actor {
        ActorId::Mbox(mbox) => (IdentifierScheme::XapiMbox, mbox.clone()),
        ActorId::MboxSha1sum(sum) => (IdentifierScheme::XapiMboxSha1sum, sum.clone()),
        ActorId::Account { home_page, name } => (IdentifierScheme::XapiAccount, format!("{home_page}|{name}")),
        ActorId::OpenId(openid) => (IdentifierScheme::XapiOpenId, openid.clone()),
    }
}

/// The subjects of the identifiers given that are known, by (scheme, value), in one query
/// per 500 identifiers.
pub async fn known_subjects(
    connection: &mut AnyConnection,
    identifiers: &[(IdentifierScheme, String)],
) -> Result<BTreeMap<(String, String), Uuid>, IngestError> {
    let mut known = BTreeMap::new();
    for chunk in identifiers.chunks(500) {
        let sql = format!(
            "SELECT scheme, value, subject_id FROM subject_identifiers WHERE value IN ({})",
            crate::db::in_list(connection, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (_, value) in chunk {
            query = query.bind(value.clone());
        }
        for row in query.fetch_all(&mut *connection).await? {
            let subject: String = row.try_get("subject_id")?;
            if let Ok(subject) = Uuid::parse_str(&subject) {
                known.insert((row.try_get("scheme")?, row.try_get("value")?), subject);
            }
        }
    }
    Ok(known)
}

/// Registers an actor seen for the first time as a subject. Names and e-mail addresses go
/// to the identity table only.
pub async fn new_subject(
    connection: &mut AnyConnection,
    actor: &ActorId,
    name: Option<&str>,
) -> Result<Uuid, IngestError> {
    let (scheme, value) = identifier(actor);
    let email = match actor {
        ActorId::Mbox(mbox) => mbox.strip_prefix("mailto:").map(str::to_owned),
        _ => None,
    };
    let subject = NewSubject {
        id: Uuid::now_v7(),
        display_name: name.unwrap_or("(unknown learner)").to_owned(),
        email,
        date_of_birth: None,
        identifiers: vec![(scheme, value)],
    };
    directory::insert_subjects(connection, std::slice::from_ref(&subject)).await?;
    Ok(subject.id)
}

/// The courses by the xAPI activity id the LMS uses for them.
pub async fn courses_by_iri(connection: &mut AnyConnection) -> Result<BTreeMap<String, String>, IngestError> {
    let rows = sqlx::query("SELECT id, activity_iri FROM courses").fetch_all(connection).await?;
    rows.iter().map(|row| Ok((row.try_get("activity_iri")?, row.try_get("id")?))).collect()
}

/// SHA-256 of a statement's canonical JSON without the properties the LRS sets itself.
pub fn content_hash(raw: &Value) -> String {
    let mut statement = raw.clone();
    if let Some(map) = statement.as_object_mut() {
        for key in ["stored", "authority", "version"] {
            map.remove(key);
        }
    }
    let canonical = serde_jcs::to_vec(&statement).unwrap_or_default();
    encode_hex(ring::digest::digest(&ring::digest::SHA256, &canonical).as_ref())
}

/// The content hashes stored for the statement ids given that are stored, in one query
/// per 500 ids.
pub async fn stored_hashes(
    connection: &mut AnyConnection,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, Option<String>>, IngestError> {
    let mut stored = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT statement_id, content_sha256 FROM records WHERE statement_id IN ({})",
            crate::db::in_list(connection, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *connection).await? {
            let id: String = row.try_get("statement_id")?;
            if let Ok(id) = Uuid::parse_str(&id) {
                stored.insert(id, row.try_get("content_sha256")?);
            }
        }
    }
    Ok(stored)
}

/// Stores minimised records, each with its expiry.
pub async fn insert(connection: &mut AnyConnection, records: &mut [NewRecord]) -> Result<u64, IngestError> {
    crate::retention::stamp(connection, records).await?;
    Ok(records::insert(connection, records).await?)
}

/// Marks a statement of `source` voided; voiding statements themselves cannot be voided.
pub async fn void(connection: &mut AnyConnection, source: &str, target: Uuid) -> Result<(), IngestError> {
    sqlx::query(
        "UPDATE records SET voided = 1 WHERE statement_id = $1 AND source = $2 AND (verb IS NULL OR verb <> $3)",
    )
    .bind(target.to_string())
    .bind(source.to_owned())
    .bind(super::xapi::VOIDED)
    .execute(connection)
    .await?;
    Ok(())
}
