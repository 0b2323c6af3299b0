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
    statement: &Statement,
    subject: Uuid,
    courses: &BTreeMap<String, String>,
    needed: &Needed,
    catalogue: &Catalogue,
    index: usize,
) -> Result<Minimised, IngestError> {
    let mut dropped = Vec::new();
    for (path, _) in &statement.extensions {
        match catalogue.get(path) {
            Some(field) if field.category == Category::Special && !needed.special_allowed.contains(path) => {
                return Err(IngestError::Special { index, field: path.clone() });
            }
            Some(_) if needed.keeps(path) => {}
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
    let mut record = NewRecord::new(Uuid::now_v7(), subject, "xapi", RecordKind::Xapi, category, occurred_at);
    record.statement_id = statement.id;
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
    if keep("context.contextActivities.parent", !statement.parents.is_empty()) {
        record.course_id = statement.parents.iter().find_map(|parent| courses.get(parent).cloned());
    }
    Ok(Minimised { record, dropped })
}

/// The subject an actor names, registered with the identifiers seen when unknown. Names
/// and e-mail addresses go to the identity table only.
pub async fn subject_for(
    connection: &mut AnyConnection,
    actor: &ActorId,
    name: Option<&str>,
) -> Result<Uuid, IngestError> {
    let (scheme, value, email) = match actor {
        ActorId::Mbox(mbox) => {
            (IdentifierScheme::XapiMbox, mbox.clone(), mbox.strip_prefix("mailto:").map(str::to_owned))
        }
        ActorId::MboxSha1sum(sum) => (IdentifierScheme::XapiMboxSha1sum, sum.clone(), None),
        ActorId::Account { home_page, name } => (IdentifierScheme::XapiAccount, format!("{home_page}|{name}"), None),
        ActorId::OpenId(openid) => (IdentifierScheme::XapiOpenId, openid.clone(), None),
    };
    if let Some(subject) = directory::subject_by_identifier(connection, scheme, &value).await? {
        return Ok(subject);
    }
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

/// The content hash stored for a statement id, if that id is stored.
pub async fn stored_hash(connection: &mut AnyConnection, id: Uuid) -> Result<Option<Option<String>>, IngestError> {
    Ok(sqlx::query_scalar("SELECT content_sha256 FROM records WHERE statement_id = $1")
        .bind(id.to_string())
        .fetch_optional(connection)
        .await?)
}

/// Stores minimised records.
pub async fn insert(connection: &mut AnyConnection, records: &[NewRecord]) -> Result<u64, IngestError> {
    Ok(records::insert(connection, records).await?)
}
