//! `consentry import survey FILE.csv`: questionnaire answers, all or nothing, idempotent.
//!
//! Columns: `instrument,item,student_number,score,answered_at`. Each answer is one
//! `wellbeing` record whose id derives from its content, so importing the same file twice
//! stores it once.

use std::io::Read;

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{IngestError, sources};
use crate::audit::{self, Actor, ActorKind, Event};
use crate::db::Db;
use crate::directory::{self, IdentifierScheme};
use crate::records::{Category, NewRecord, RecordKind};
use crate::timestamp::Timestamp;

/// Namespace of the content-derived ids of survey answers (UUIDv5).
const ANSWER_NAMESPACE: Uuid = Uuid::from_u128(0x5c0e_27a1_7d4b_4c52_9a0e_3b1f_6d2c_8e41);

#[derive(Debug, Deserialize)]
struct Line {
    instrument: String,
    item: String,
    student_number: String,
    score: f64,
    answered_at: String,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyReport {
    pub lines: usize,
    pub stored: usize,
    pub already_stored: usize,
    /// Answers no purpose reads, not stored (GDPR Art. 5(1)(c)).
    pub dropped: usize,
}

pub async fn import_survey(db: &Db, source: &str, input: impl Read, file: &str) -> Result<SurveyReport, IngestError> {
    let mut tx = db.begin().await?;
    let source = sources::find(&mut tx, source).await?;
    if !source.kinds.iter().any(|kind| kind == "survey") {
        return Err(IngestError::KindNotAllowed("survey answers".to_owned()));
    }
    let needed = super::store::Needed::load(&mut tx, crate::config::IngestMode::Minimise).await?;
    let keep = needed.keeps("survey.answer");
    let mut problems = Vec::new();
    let mut answers = Vec::new();
    let progress = super::import::spinner("reading answers");
    for (index, line) in csv::Reader::from_reader(input).into_deserialize::<Line>().enumerate() {
        let number = index + 2;
        progress.inc(1);
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                problems.push(format!("{file} line {number}: {error}"));
                continue;
            }
        };
        let Some(subject) =
            directory::subject_by_identifier(&mut tx, IdentifierScheme::StudentNumber, &line.student_number).await?
        else {
            problems.push(format!("{file} line {number}: no student has the number `{}`", line.student_number));
            continue;
        };
        let answered_at = match Timestamp::parse(&line.answered_at) {
            Ok(at) => at,
            Err(error) => {
                problems.push(format!("{file} line {number}: {error}"));
                continue;
            }
        };
        if line.instrument.trim().is_empty() || line.item.trim().is_empty() {
            problems.push(format!("{file} line {number}: instrument and item must not be empty"));
            continue;
        }
        let key = format!("{}|{}|{}|{}", line.instrument, line.item, subject, answered_at);
        let id = Uuid::new_v5(&ANSWER_NAMESPACE, key.as_bytes());
        let mut record =
            NewRecord::new(id, subject, source.id.as_str(), RecordKind::Survey, Category::Wellbeing, answered_at);
        record.item = Some(line.item);
        record.value_text = Some(line.instrument);
        record.value_number = Some(line.score);
        answers.push(record);
    }
    progress.finish_and_clear();
    if !problems.is_empty() {
        return Err(IngestError::Lines(problems));
    }
    let lines = answers.len();
    let mut report = SurveyReport { lines, stored: 0, already_stored: 0, dropped: 0 };
    if !keep {
        report.dropped = lines;
        answers.clear();
    }
    let mut new = Vec::new();
    for answer in answers {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM records WHERE id = $1")
            .bind(answer.id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            report.already_stored += 1;
        } else {
            new.push(answer);
        }
    }
    report.stored = new.len();
    super::store::insert(&mut tx, &mut new).await?;
    let actor = Actor { id: source.id.clone(), kind: ActorKind::Client, roles: Vec::new() };
    let event = Event::new(actor, "ingest.survey", format!("Source::{}", source.id)).details(json!({
        "file": file,
        "lines": report.lines,
        "stored": report.stored,
        "already_stored": report.already_stored,
        "dropped": report.dropped,
    }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(report)
}
