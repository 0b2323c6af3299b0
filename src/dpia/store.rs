//! DPIA SQL and workflow. Every change bumps the revision, keeps a snapshot of the
//! document and records its audit event, in the caller's transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Answer, CoveredPurpose, Document, DpiaError, DpiaStatus, DpiaView, QuestionView, Register, Risk, RiskRegister,
    SectionView, Template, Workbench,
};
use crate::audit::{self, Actor, Event};
use crate::policy::PolicyEngine;
use crate::problem::FieldError;
use crate::purposes::{self, Language, PurposeId};
use crate::timestamp::Timestamp;

/// A DPIA row as stored.
struct Stored {
    id: String,
    title: String,
    template: String,
    template_version: u32,
    language: Language,
    status: DpiaStatus,
    revision: i32,
    document: Document,
    review_date: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<Timestamp>,
    decision_rationale: Option<String>,
    created_by: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

const SELECT: &str = "SELECT id, title, template_id, template_version, language, status, revision, document, \
     review_date, decided_by, decided_at, decision_rationale, created_by, created_at, updated_at FROM dpias";

/// A timestamp column of a row that belongs to DPIA `id`.
fn time_column(row: &AnyRow, name: &str, id: &str) -> Result<Timestamp, DpiaError> {
    let text: String = row.try_get(name)?;
    Timestamp::parse(&text).map_err(|_| DpiaError::Corrupt(id.to_owned()))
}

fn stored_from_row(row: &AnyRow) -> Result<Stored, DpiaError> {
    let id: String = row.try_get("id")?;
    let corrupt = || DpiaError::Corrupt(id.clone());
    let language: String = row.try_get("language")?;
    let status: String = row.try_get("status")?;
    let document: String = row.try_get("document")?;
    let decided_at: Option<String> = row.try_get("decided_at")?;
    Ok(Stored {
        title: row.try_get("title")?,
        template: row.try_get("template_id")?,
        template_version: u32::try_from(row.try_get::<i64, _>("template_version")?).map_err(|_| corrupt())?,
        language: if language == "nl" { Language::Nl } else { Language::En },
        status: DpiaStatus::parse(&status).ok_or_else(corrupt)?,
        revision: row.try_get("revision")?,
        document: serde_json::from_str(&document).map_err(|_| corrupt())?,
        review_date: row.try_get("review_date")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: decided_at.map(|text| Timestamp::parse(&text).map_err(|_| corrupt())).transpose()?,
        decision_rationale: row.try_get("decision_rationale")?,
        created_by: row.try_get("created_by")?,
        created_at: time_column(row, "created_at", &id)?,
        updated_at: time_column(row, "updated_at", &id)?,
        id,
    })
}

async fn load(connection: &mut AnyConnection, id: &str) -> Result<Stored, DpiaError> {
    let sql = format!("{SELECT} WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()).fetch_optional(connection).await?;
    row.as_ref().map(stored_from_row).transpose()?.ok_or_else(|| DpiaError::NotFound(id.to_owned()))
}

/// The purposes a DPIA covers and the version each was assessed at.
async fn covered(connection: &mut AnyConnection, id: &str) -> Result<Vec<(PurposeId, i32)>, DpiaError> {
    let rows =
        sqlx::query("SELECT purpose_id, purpose_version FROM dpia_purposes WHERE dpia_id = $1 ORDER BY purpose_id")
            .bind(id.to_owned())
            .fetch_all(connection)
            .await?;
    rows.iter()
        .map(|row| {
            let purpose: String = row.try_get("purpose_id")?;
            let purpose = PurposeId::parse(&purpose).map_err(|_| DpiaError::Corrupt(id.to_owned()))?;
            Ok((purpose, row.try_get("purpose_version")?))
        })
        .collect()
}

fn template<'a>(workbench: &'a Workbench, stored: &Stored) -> Result<&'a Template, DpiaError> {
    workbench.templates.get(&stored.template).ok_or_else(|| DpiaError::UnknownTemplate(stored.template.clone()))
}

/// Writes the row as it now is, with a new revision, its snapshot and its audit event.
async fn save(
    connection: &mut AnyConnection,
    stored: &mut Stored,
    change: &str,
    details: serde_json::Value,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<(), DpiaError> {
    stored.revision += 1;
    stored.updated_at = Timestamp::now();
    let document = serde_json::to_string(&stored.document).map_err(|_| DpiaError::Corrupt(stored.id.clone()))?;
    sqlx::query(
        "UPDATE dpias SET title = $1, status = $2, revision = $3, document = $4, review_date = $5, decided_by = $6, \
         decided_at = $7, decision_rationale = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(stored.title.clone())
    .bind(stored.status.as_str())
    .bind(stored.revision)
    .bind(document.clone())
    .bind(stored.review_date.clone())
    .bind(stored.decided_by.clone())
    .bind(stored.decided_at.map(Timestamp::to_storage))
    .bind(stored.decision_rationale.clone())
    .bind(stored.updated_at.to_storage())
    .bind(stored.id.clone())
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO dpia_revisions (dpia_id, revision, status, change, document, changed_by, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(stored.id.clone())
    .bind(stored.revision)
    .bind(stored.status.as_str())
    .bind(change.to_owned())
    .bind(document)
    .bind(actor.id.clone())
    .bind(stored.updated_at.to_storage())
    .execute(&mut *connection)
    .await?;
    let mut details = details;
    details["revision"] = json!(stored.revision);
    details["status"] = json!(stored.status.as_str());
    let event = Event::new(actor.clone(), &format!("dpia.{change}"), format!("Dpia::{}", stored.id))
        .decided(audit::Decision::Allow, reasons)
        .details(details);
    audit::record(connection, event).await?;
    Ok(())
}

fn only_drafts(stored: &Stored) -> Result<(), DpiaError> {
    if stored.status == DpiaStatus::Draft {
        Ok(())
    } else {
        Err(DpiaError::NotNow(format!(
            "the DPIA is {}; reopen it as a draft to change it",
            stored.status.as_str().replace('_', " ")
        )))
    }
}

/// What a new DPIA is started with.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDpia {
    pub template: String,
    pub purposes: Vec<PurposeId>,
    pub title: String,
    pub language: Language,
}

/// Starts a DPIA from a template, prefilled from the register.
pub async fn create(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    engine: &PolicyEngine,
    new: &NewDpia,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<DpiaView, DpiaError> {
    let mut errors = Vec::new();
    if new.title.trim().is_empty() {
        errors.push(FieldError::new("title", "a DPIA needs a title"));
    }
    if new.purposes.is_empty() {
        errors.push(FieldError::new("purposes", "a DPIA covers at least one purpose"));
    }
    let template = workbench.templates.get(&new.template);
    if template.is_none() {
        let known: Vec<&str> = workbench.templates.all().map(|template| template.id.as_str()).collect();
        errors.push(FieldError::new(
            "template",
            format!("no template `{}`; use one of {}", new.template, known.join(", ")),
        ));
    }
    for (index, purpose) in new.purposes.iter().enumerate() {
        if purposes::get(connection, purpose).await?.is_none() {
            errors.push(FieldError::new(format!("purposes[{index}]"), format!("no purpose `{purpose}`")));
        }
    }
    let Some(template) = template.filter(|_| errors.is_empty()) else { return Err(DpiaError::Invalid(errors)) };
    let mut ids = new.purposes.clone();
    ids.sort();
    ids.dedup();
    let register = Register::read(connection, &ids, engine, &workbench.deployment).await?;
    let mut document = Document::default();
    for question in template.questions() {
        if let Some(fact) = question.prefill {
            document
                .answers
                .insert(question.id.clone(), Answer { prefill: Some(register.fact(fact)), ..Answer::default() });
        }
    }
    document.register.risks = template
        .risks
        .iter()
        .enumerate()
        .map(|(index, suggested)| Risk::named(format!("r{}", index + 1), suggested.title.get(new.language)))
        .collect();
    let id = Uuid::now_v7().to_string();
    let now = Timestamp::now();
    let text = serde_json::to_string(&document).map_err(|_| DpiaError::Corrupt(id.clone()))?;
    sqlx::query(
        "INSERT INTO dpias (id, title, template_id, template_version, language, status, revision, document, \
         created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'draft', 0, $6, $7, $8, $8)",
    )
    .bind(id.clone())
    .bind(new.title.trim().to_owned())
    .bind(template.id.clone())
    .bind(i64::from(template.version))
    .bind(new.language.as_str())
    .bind(text)
    .bind(actor.id.clone())
    .bind(now.to_storage())
    .execute(&mut *connection)
    .await?;
    for purpose in &register.purposes {
        sqlx::query("INSERT INTO dpia_purposes (dpia_id, purpose_id, purpose_version) VALUES ($1, $2, $3)")
            .bind(id.clone())
            .bind(purpose.id.as_str())
            .bind(purpose.version)
            .execute(&mut *connection)
            .await?;
    }
    let mut stored = load(connection, &id).await?;
    let details = json!({ "template": template.id, "purposes": ids });
    save(connection, &mut stored, "created", details, actor, reasons).await?;
    view(connection, workbench, engine, &id).await
}

/// The DPIA with every answer, what has gone stale, and why it asks for review.
pub async fn view(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    engine: &PolicyEngine,
    id: &str,
) -> Result<DpiaView, DpiaError> {
    let stored = load(connection, id).await?;
    let template = template(workbench, &stored)?;
    let assessed = covered(connection, id).await?;
    let ids: Vec<PurposeId> = assessed.iter().map(|(purpose, _)| purpose.clone()).collect();
    let register = Register::read(connection, &ids, engine, &workbench.deployment).await?;
    let mut purposes = Vec::new();
    for ((purpose, version), current) in assessed.iter().zip(&register.purposes) {
        let versions = purposes::versions(connection, purpose).await?;
        purposes.push(CoveredPurpose {
            id: purpose.to_string(),
            assessed_version: *version,
            current_version: current.version,
            widened_since: !versions.still_covers(*version, current.version),
        });
    }
    let facts = register.facts();
    let mut stale = Vec::new();
    let sections = template
        .sections
        .iter()
        .map(|section| SectionView {
            id: section.id.clone(),
            title: section.title.clone(),
            help: section.help.clone(),
            risks: section.risks,
            questions: section
                .questions
                .iter()
                .map(|question| {
                    let answer = stored.document.answers.get(&question.id).cloned().unwrap_or_default();
                    let current = question.prefill.and_then(|fact| facts.get(&fact)).cloned();
                    let is_stale = match (&answer.prefill, &current) {
                        (Some(seen), Some(now)) => seen.data != now.data,
                        _ => false,
                    };
                    if is_stale {
                        stale.push(question.id.clone());
                    }
                    QuestionView {
                        id: question.id.clone(),
                        text: question.text.clone(),
                        help: question.help.clone(),
                        fact: question.prefill,
                        answer,
                        stale: is_stale,
                        current: current.filter(|_| is_stale),
                    }
                })
                .collect(),
        })
        .collect();
    let mut needs_review = Vec::new();
    if stored.status == DpiaStatus::Approved {
        if !stale.is_empty() {
            needs_review
                .push(format!("the register changed since approval; answers no longer matching: {}", stale.join(", ")));
        }
        for purpose in purposes.iter().filter(|purpose| purpose.widened_since) {
            needs_review.push(format!(
                "purpose {} version {} reads more than the assessed version {}",
                purpose.id, purpose.current_version, purpose.assessed_version
            ));
        }
        let today = Timestamp::now().to_storage();
        if let Some(date) = stored.review_date.as_ref().filter(|date| today.as_str() >= date.as_str()) {
            needs_review.push(format!("the review date {date} has come"));
        }
    }
    let comments = comments(connection, id).await?;
    Ok(DpiaView {
        id: stored.id,
        title: stored.title,
        template: template.id.clone(),
        template_version: stored.template_version,
        template_title: template.title.clone(),
        language: stored.language,
        status: stored.status,
        revision: stored.revision,
        purposes,
        sections,
        risks: stored.document.register.risks,
        measures: stored.document.register.measures,
        stale,
        needs_review,
        review_date: stored.review_date,
        decided_by: stored.decided_by,
        decided_at: stored.decided_at,
        decision_rationale: stored.decision_rationale,
        comments,
        created_by: stored.created_by,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    })
}

/// One line of the DPIA register.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DpiaSummary {
    pub id: String,
    pub title: String,
    pub template: String,
    pub status: super::DpiaStatus,
    pub revision: i32,
    pub purposes: Vec<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub review_date: Option<String>,
    pub needs_review: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Every DPIA, most recently changed first.
pub async fn list(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    engine: &PolicyEngine,
) -> Result<Vec<DpiaSummary>, DpiaError> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM dpias ORDER BY updated_at DESC, id").fetch_all(&mut *connection).await?;
    let mut summaries = Vec::new();
    for id in ids {
        let view = view(connection, workbench, engine, &id).await?;
        summaries.push(DpiaSummary {
            id: view.id,
            title: view.title,
            template: view.template,
            status: view.status,
            revision: view.revision,
            purposes: view.purposes.into_iter().map(|purpose| purpose.id).collect(),
            review_date: view.review_date,
            needs_review: view.needs_review,
            updated_at: view.updated_at,
        });
    }
    Ok(summaries)
}

/// Writes people's answer to one question (a prefilled answer keeps its register part).
pub async fn set_answer(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    id: &str,
    question: &str,
    text: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<(), DpiaError> {
    let mut stored = load(connection, id).await?;
    if template(workbench, &stored)?.question(question).is_none() {
        return Err(DpiaError::UnknownQuestion(question.to_owned()));
    }
    only_drafts(&stored)?;
    let answer = stored.document.answers.entry(question.to_owned()).or_default();
    answer.text = Some(text.trim().to_owned()).filter(|text| !text.is_empty());
    answer.answered_by = Some(actor.id.clone());
    answer.answered_at = Some(Timestamp::now());
    save(connection, &mut stored, "answered", json!({ "question": question }), actor, reasons).await
}

/// Replaces the risks and measures.
pub async fn set_risk_register(
    connection: &mut AnyConnection,
    id: &str,
    register: RiskRegister,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<(), DpiaError> {
    let errors = register.validate();
    if !errors.is_empty() {
        return Err(DpiaError::Invalid(errors));
    }
    let mut stored = load(connection, id).await?;
    only_drafts(&stored)?;
    let details = json!({ "risks": register.risks.len(), "measures": register.measures.len() });
    stored.document.register = register;
    save(connection, &mut stored, "risks_changed", details, actor, reasons).await
}

/// Takes the register's current facts into the prefilled answers and the purposes'
/// current versions as the assessed ones.
pub async fn refresh(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    engine: &PolicyEngine,
    id: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<(), DpiaError> {
    let mut stored = load(connection, id).await?;
    only_drafts(&stored)?;
    let template = template(workbench, &stored)?;
    let ids: Vec<PurposeId> = covered(connection, id).await?.into_iter().map(|(purpose, _)| purpose).collect();
    let register = Register::read(connection, &ids, engine, &workbench.deployment).await?;
    let mut changed = Vec::new();
    for question in template.questions() {
        if let Some(fact) = question.prefill {
            let now = register.fact(fact);
            let answer = stored.document.answers.entry(question.id.clone()).or_default();
            if answer.prefill.as_ref().is_none_or(|seen| seen.data != now.data) {
                changed.push(question.id.clone());
            }
            answer.prefill = Some(now);
        }
    }
    for purpose in &register.purposes {
        sqlx::query("UPDATE dpia_purposes SET purpose_version = $1 WHERE dpia_id = $2 AND purpose_id = $3")
            .bind(purpose.version)
            .bind(id.to_owned())
            .bind(purpose.id.as_str())
            .execute(&mut *connection)
            .await?;
    }
    save(connection, &mut stored, "refreshed", json!({ "answers_changed": changed }), actor, reasons).await
}

/// Hands the draft to the DPO, once it is complete.
pub async fn submit(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    id: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<(), DpiaError> {
    let mut stored = load(connection, id).await?;
    only_drafts(&stored)?;
    let missing = stored.document.incomplete(template(workbench, &stored)?);
    if !missing.is_empty() {
        return Err(DpiaError::Invalid(missing));
    }
    stored.status = DpiaStatus::InReview;
    save(connection, &mut stored, "submitted", json!({}), actor, reasons).await
}

/// Takes a DPIA back to draft, e.g. for a review; an approval no longer stands.
pub async fn reopen(
    connection: &mut AnyConnection,
    id: &str,
    reason: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<(), DpiaError> {
    if reason.trim().is_empty() {
        return Err(DpiaError::Invalid(vec![FieldError::new("reason", "say why the DPIA is reopened")]));
    }
    let mut stored = load(connection, id).await?;
    if stored.status == DpiaStatus::Draft {
        return Err(DpiaError::NotNow("the DPIA is a draft already".to_owned()));
    }
    let from = stored.status.as_str();
    stored.status = DpiaStatus::Draft;
    save(connection, &mut stored, "reopened", json!({ "from": from, "reason": reason.trim() }), actor, reasons).await
}

/// The DPO's decision on a DPIA in review.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DpiaDecision {
    pub decision: Verdict,
    #[serde(default)]
    pub rationale: String,
    /// When the DPIA is to be reviewed again (`YYYY-MM-DD`, within three years); required
    /// for an approval.
    #[serde(default)]
    pub review_date: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Rejected,
}

pub async fn decide(
    connection: &mut AnyConnection,
    id: &str,
    decision: &DpiaDecision,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<(), DpiaError> {
    let today = time::OffsetDateTime::now_utc().date();
    let review_date = match (&decision.review_date, decision.decision) {
        (Some(text), _) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            match time::Date::parse(text, &format) {
                Ok(date) if date > today && date <= today.saturating_add(time::Duration::days(3 * 366)) => {
                    Some(text.clone())
                }
                _ => {
                    return Err(DpiaError::Invalid(vec![FieldError::new(
                        "review_date",
                        "a date (YYYY-MM-DD) after today and within three years",
                    )]));
                }
            }
        }
        (None, Verdict::Approved) => {
            return Err(DpiaError::Invalid(vec![FieldError::new(
                "review_date",
                "an approval sets the next review date",
            )]));
        }
        (None, Verdict::Rejected) => None,
    };
    if decision.decision == Verdict::Rejected && decision.rationale.trim().is_empty() {
        return Err(DpiaError::Invalid(vec![FieldError::new("rationale", "say why the DPIA is rejected")]));
    }
    let mut stored = load(connection, id).await?;
    if stored.status != DpiaStatus::InReview {
        return Err(DpiaError::NotNow(format!(
            "the DPIA is {}; only a DPIA in review is decided",
            stored.status.as_str().replace('_', " ")
        )));
    }
    let (status, change) = match decision.decision {
        Verdict::Approved => (DpiaStatus::Approved, "approved"),
        Verdict::Rejected => (DpiaStatus::Rejected, "rejected"),
    };
    stored.status = status;
    stored.review_date = review_date;
    stored.decided_by = Some(actor.id.clone());
    stored.decided_at = Some(Timestamp::now());
    stored.decision_rationale = Some(decision.rationale.trim().to_owned()).filter(|text| !text.is_empty());
    let purposes: BTreeMap<String, i32> =
        covered(connection, id).await?.into_iter().map(|(purpose, version)| (purpose.to_string(), version)).collect();
    let details =
        json!({ "purposes": purposes, "review_date": stored.review_date, "rationale": stored.decision_rationale });
    save(connection, &mut stored, change, details, actor, reasons).await
}

/// Whether an approved DPIA covers `purpose` at `version`: one approved for that version,
/// or for an earlier one no later version widened.
pub async fn approval_covers(
    connection: &mut AnyConnection,
    purpose: &PurposeId,
    version: i32,
) -> Result<bool, DpiaError> {
    let assessed: Vec<i32> = sqlx::query_scalar(
        "SELECT p.purpose_version FROM dpia_purposes p JOIN dpias d ON d.id = p.dpia_id \
         WHERE p.purpose_id = $1 AND d.status = 'approved'",
    )
    .bind(purpose.as_str())
    .fetch_all(&mut *connection)
    .await?;
    if assessed.is_empty() {
        return Ok(false);
    }
    let versions = purposes::versions(connection, purpose).await?;
    Ok(assessed.into_iter().any(|assessed| versions.still_covers(assessed, version)))
}

/// Marks the approved DPIAs of a purpose for review when a new version reads more.
pub async fn purpose_versioned(
    connection: &mut AnyConnection,
    purpose: &PurposeId,
    version: i32,
    widens: bool,
    actor: &Actor,
) -> Result<(), DpiaError> {
    if !widens {
        return Ok(());
    }
    let approved: Vec<String> = sqlx::query_scalar(
        "SELECT d.id FROM dpias d JOIN dpia_purposes p ON p.dpia_id = d.id \
         WHERE p.purpose_id = $1 AND d.status = 'approved' ORDER BY d.id",
    )
    .bind(purpose.as_str())
    .fetch_all(&mut *connection)
    .await?;
    for id in approved {
        let event = Event::new(actor.clone(), "dpia.review_requested", format!("Dpia::{id}"))
            .purpose(purpose.as_str())
            .details(json!({ "reason": format!("purpose {purpose} version {version} reads more than the assessed version") }));
        audit::record(connection, event).await?;
    }
    Ok(())
}

/// A remark on a DPIA, optionally on one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Comment {
    pub id: String,
    pub question: Option<String>,
    pub author: String,
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

async fn comments(connection: &mut AnyConnection, id: &str) -> Result<Vec<Comment>, DpiaError> {
    let rows = sqlx::query(
        "SELECT id, question, author, body, created_at FROM dpia_comments WHERE dpia_id = $1 ORDER BY created_at, id",
    )
    .bind(id.to_owned())
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Comment {
                id: row.try_get("id")?,
                question: row.try_get("question")?,
                author: row.try_get("author")?,
                body: row.try_get("body")?,
                created_at: time_column(row, "created_at", id)?,
            })
        })
        .collect()
}

/// Adds a comment, in any status: reviewers comment on what they review.
pub async fn comment(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    id: &str,
    question: Option<&str>,
    body: &str,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<Comment, DpiaError> {
    if body.trim().is_empty() {
        return Err(DpiaError::Invalid(vec![FieldError::new("body", "a comment needs text")]));
    }
    let stored = load(connection, id).await?;
    if let Some(question) = question
        && template(workbench, &stored)?.question(question).is_none()
    {
        return Err(DpiaError::Invalid(vec![FieldError::new(
            "question",
            format!("the template has no question `{question}`"),
        )]));
    }
    let comment = Comment {
        id: Uuid::now_v7().to_string(),
        question: question.map(str::to_owned),
        author: actor.id.clone(),
        body: body.trim().to_owned(),
        created_at: Timestamp::now(),
    };
    sqlx::query(
        "INSERT INTO dpia_comments (id, dpia_id, question, author, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(comment.id.clone())
    .bind(id.to_owned())
    .bind(comment.question.clone())
    .bind(comment.author.clone())
    .bind(comment.body.clone())
    .bind(comment.created_at.to_storage())
    .execute(&mut *connection)
    .await?;
    let event = Event::new(actor.clone(), "dpia.commented", format!("Dpia::{id}"))
        .decided(audit::Decision::Allow, reasons)
        .details(json!({ "comment": comment.id, "question": comment.question }));
    audit::record(connection, event).await?;
    Ok(comment)
}

/// One entry of a DPIA's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RevisionEntry {
    pub revision: i32,
    pub status: String,
    pub change: String,
    pub changed_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub changed_at: Timestamp,
}

pub async fn revisions(connection: &mut AnyConnection, id: &str) -> Result<Vec<RevisionEntry>, DpiaError> {
    load(connection, id).await?;
    let rows = sqlx::query(
        "SELECT revision, status, change, changed_by, changed_at FROM dpia_revisions WHERE dpia_id = $1 ORDER BY revision",
    )
    .bind(id.to_owned())
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RevisionEntry {
                revision: row.try_get("revision")?,
                status: row.try_get("status")?,
                change: row.try_get("change")?,
                changed_by: row.try_get("changed_by")?,
                changed_at: time_column(row, "changed_at", id)?,
            })
        })
        .collect()
}

/// The document as it was at one revision.
pub async fn revision(connection: &mut AnyConnection, id: &str, revision: i32) -> Result<Document, DpiaError> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT document FROM dpia_revisions WHERE dpia_id = $1 AND revision = $2")
            .bind(id.to_owned())
            .bind(revision)
            .fetch_optional(connection)
            .await?;
    let text = text.ok_or_else(|| DpiaError::NotFound(format!("{id} revision {revision}")))?;
    serde_json::from_str(&text).map_err(|_| DpiaError::Corrupt(id.to_owned()))
}
