//! `consentry import consents FILE`: choices recorded elsewhere (paper forms, an older
//! system), imported all or nothing.

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;
use uuid::Uuid;

use super::store::{NewRecord, latest, record};
use super::{ConsentEvent, ConsentRecord, ConsentState, Method, Relation, check_choice};
use crate::audit::Actor;
use crate::db::Db;
use crate::directory::{self, IdentifierScheme};
use crate::purposes::{self, Language, Purpose, PurposeId, PurposeVersions};
use crate::timestamp::Timestamp;

/// One line of the import file. Columns: `student_number,purpose,event,recorded_at`, and
/// optionally `method` (`paper`, `phone`, `web`; default `import`), `language` (`nl`, `en`;
/// default `nl`) and `notice_version` (default: the purpose's current version).
#[derive(Debug, Deserialize)]
struct Line {
    student_number: String,
    purpose: String,
    event: String,
    recorded_at: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    notice_version: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Every problem found, by line; nothing was imported.
    #[error("nothing was imported; fix these lines:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Consent(#[from] super::ConsentError),
}

/// Imports every line or none; returns how many records were written.
pub async fn import_consents(db: &Db, input: impl Read, source: &str) -> Result<usize, ImportError> {
    let mut tx = db.begin().await.map_err(super::ConsentError::from)?;
    let mut problems = Vec::new();
    let mut purposes: HashMap<String, Option<(Purpose, PurposeVersions)>> = HashMap::new();
    let mut subjects: HashMap<String, Option<Uuid>> = HashMap::new();
    let mut latest_records: HashMap<(Uuid, PurposeId), Option<ConsentRecord>> = HashMap::new();
    let mut pending = Vec::new();
    let now = Timestamp::now();
    for (index, line) in csv::Reader::from_reader(input).into_deserialize::<Line>().enumerate() {
        // The header is line 1.
        let number = index + 2;
        let mut problem = |text: String| problems.push(format!("line {number}: {text}"));
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                problem(error.to_string());
                continue;
            }
        };
        if !subjects.contains_key(&line.student_number) {
            let subject =
                directory::subject_by_identifier(&mut tx, IdentifierScheme::StudentNumber, &line.student_number)
                    .await
                    .map_err(super::ConsentError::from)?;
            subjects.insert(line.student_number.clone(), subject);
        }
        if !purposes.contains_key(&line.purpose) {
            let found = match PurposeId::parse(&line.purpose) {
                Ok(id) => match purposes::get(&mut tx, &id).await.map_err(super::ConsentError::from)? {
                    Some(purpose) => {
                        Some((purpose, purposes::versions(&mut tx, &id).await.map_err(super::ConsentError::from)?))
                    }
                    None => None,
                },
                Err(_) => None,
            };
            purposes.insert(line.purpose.clone(), found);
        }
        let Some(subject) = subjects[&line.student_number] else {
            problem(format!("no student has the number `{}`", line.student_number));
            continue;
        };
        let Some((purpose, versions)) = &purposes[&line.purpose] else {
            problem(format!("no purpose has the id `{}`", line.purpose));
            continue;
        };
        let Some(event) = ConsentEvent::parse(&line.event) else {
            problem(format!("`{}` is not an event: given, withdrawn, objected or objection_lifted", line.event));
            continue;
        };
        let recorded_at = match Timestamp::parse(&line.recorded_at) {
            Ok(at) if at <= now => at,
            Ok(_) => {
                problem(format!("`{}` lies in the future", line.recorded_at));
                continue;
            }
            Err(error) => {
                problem(error.to_string());
                continue;
            }
        };
        let method = match line.method.as_deref().map(Method::parse) {
            None => Method::Import,
            Some(Some(method)) => method,
            Some(None) => {
                problem("method must be paper, phone, web or import".to_owned());
                continue;
            }
        };
        let language = match line.language.as_deref() {
            None | Some("nl") => Language::Nl,
            Some("en") => Language::En,
            Some(other) => {
                problem(format!("language `{other}` is neither nl nor en"));
                continue;
            }
        };
        let notice_version = line.notice_version.unwrap_or(purpose.version);
        if !(1..=purpose.version).contains(&notice_version) {
            problem(format!("notice_version must be 1 to {}", purpose.version));
            continue;
        }
        let key = (subject, purpose.id.clone());
        if !latest_records.contains_key(&key) {
            let stored = latest(&mut tx, subject, &purpose.id).await?;
            latest_records.insert(key.clone(), stored);
        }
        let previous = latest_records[&key].as_ref();
        if previous.is_some_and(|previous| previous.recorded_at > recorded_at) {
            problem("is older than a choice already recorded for this student and purpose".to_owned());
            continue;
        }
        let state = ConsentState::derive(purpose, versions, previous);
        if let Err(why) = check_choice(purpose, state, event) {
            problem(why);
            continue;
        }
        let new = NewRecord {
            subject,
            purpose: purpose.id.clone(),
            purpose_version: purpose.version,
            legal_basis: purpose.definition.legal_basis,
            event,
            notice_version,
            language,
            method,
            relation: Relation::Import,
            recorded_at,
        };
        // What this line leaves behind is what the next line for the same pair starts from.
        latest_records.insert(key, Some(preview(&new)));
        pending.push(new);
    }
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    let actor = Actor::system("consent-import");
    let reasons = vec![format!("import of {source}")];
    for new in &pending {
        record(&mut tx, new.clone(), &actor, reasons.clone()).await?;
    }
    tx.commit().await.map_err(super::ConsentError::from)?;
    Ok(pending.len())
}

/// The record a pending line will become, for checking the lines after it.
fn preview(new: &NewRecord) -> ConsentRecord {
    ConsentRecord {
        id: Uuid::nil(),
        subject: new.subject,
        purpose: new.purpose.clone(),
        purpose_version: new.purpose_version,
        event: new.event,
        legal_basis: new.legal_basis.code().to_owned(),
        notice_version: new.notice_version,
        language: new.language,
        method: new.method,
        recorded_by: String::new(),
        relation: new.relation,
        recorded_at: new.recorded_at,
    }
}
