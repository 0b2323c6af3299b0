//! Human review: mentors open each proposal (its explanation first) and approve, reject or
//! amend it; nothing reaches a student before that. A stop switch halts proposals and
//! decisions; oversight reports how reviewers and models fare.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AnalyticsError, MODEL_VERSION, PURPOSE};
use crate::audit::{self, Actor, Decision, Event};
use crate::problem::FieldError;
use crate::timestamp::Timestamp;

/// A proposal to store.
pub struct NewProposal {
    pub run: Uuid,
    pub subject: String,
    pub mentor: String,
    pub action: &'static str,
    pub rank: i32,
    pub score: f64,
    pub explanation: Value,
    pub expires_at: Timestamp,
    pub now: Timestamp,
}

/// The mentor of each student: the first mentor of their first group.
pub async fn mentors(connection: &mut AnyConnection) -> Result<HashMap<String, String>, AnalyticsError> {
    let rows = sqlx::query(
        "SELECT m.subject_id, g.user_id FROM group_members m JOIN group_mentors g ON g.group_id = m.group_id \
         ORDER BY m.subject_id, m.group_id, g.user_id",
    )
    .fetch_all(connection)
    .await?;
    let mut mentors = HashMap::new();
    for row in rows {
        mentors.entry(row.try_get("subject_id")?).or_insert(row.try_get("user_id")?);
    }
    Ok(mentors)
}

pub async fn insert(connection: &mut AnyConnection, proposal: &NewProposal) -> Result<(), AnalyticsError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO proposals (id, run_id, subject_id, mentor_id, action, rank, score, explanation, model_version, \
         status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11)",
    )
    .bind(id.to_string())
    .bind(proposal.run.to_string())
    .bind(proposal.subject.clone())
    .bind(proposal.mentor.clone())
    .bind(proposal.action)
    .bind(proposal.rank)
    .bind(proposal.score)
    .bind(proposal.explanation.to_string())
    .bind(MODEL_VERSION)
    .bind(proposal.now.to_storage())
    .bind(proposal.expires_at.to_storage())
    .execute(&mut *connection)
    .await?;
    let subject = Uuid::parse_str(&proposal.subject).ok();
    let mut event = Event::new(Actor::system("analytics"), "proposal.created", format!("Proposal::{id}"))
        .purpose(PURPOSE)
        .decided(Decision::Allow, vec![MODEL_VERSION.to_owned()])
        .details(json!({
            "run": proposal.run, "action": proposal.action, "rank": proposal.rank, "score": proposal.score,
            "mentor": proposal.mentor, "model_version": MODEL_VERSION,
        }));
    if let Some(subject) = subject {
        event = event.subject(subject);
    }
    audit::record(connection, event).await?;
    Ok(())
}

/// A proposal as its mentor sees it: the explanation first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Proposal {
    pub id: Uuid,
    #[schema(value_type = Object)]
    pub explanation: Value,
    pub subject: Uuid,
    pub mentor: String,
    pub action: String,
    pub rank: i32,
    pub score: f64,
    pub model_version: String,
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub opened_at: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub rationale: Option<String>,
    pub amended_action: Option<String>,
    pub amended_text: Option<String>,
}

const COLUMNS: &str = "id, explanation, subject_id, mentor_id, action, rank, score, model_version, status, created_at, \
                       expires_at, opened_at, decided_by, decided_at, rationale, amended_action, amended_text";

fn from_row(row: &AnyRow) -> Result<Proposal, AnalyticsError> {
    let id: String = row.try_get("id")?;
    let corrupt = || AnalyticsError::Purpose(crate::purposes::PurposeError::Corrupt(format!("proposal {id}")));
    let explanation: String = row.try_get("explanation")?;
    Ok(Proposal {
        id: Uuid::parse_str(&id).map_err(|_| corrupt())?,
        explanation: serde_json::from_str(&explanation).unwrap_or(Value::Null),
        subject: Uuid::parse_str(&row.try_get::<String, _>("subject_id")?).map_err(|_| corrupt())?,
        mentor: row.try_get("mentor_id")?,
        action: row.try_get("action")?,
        rank: row.try_get("rank")?,
        score: row.try_get("score")?,
        model_version: row.try_get("model_version")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        opened_at: row.try_get("opened_at")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        rationale: row.try_get("rationale")?,
        amended_action: row.try_get("amended_action")?,
        amended_text: row.try_get("amended_text")?,
    })
}

pub async fn get(connection: &mut AnyConnection, id: Uuid) -> Result<Proposal, AnalyticsError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM proposals WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(connection)
        .await?
        .ok_or(AnalyticsError::UnknownProposal(id))?;
    from_row(&row)
}

/// A mentor's proposals in invitation order: pending ones first, then decided ones.
pub async fn of_mentor(connection: &mut AnyConnection, mentor: &str) -> Result<Vec<Proposal>, AnalyticsError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM proposals WHERE mentor_id = $1 ORDER BY CASE WHEN status = 'pending' THEN 0 ELSE 1 END, \
         created_at DESC, rank"
    )))
    .bind(mentor.to_owned())
    .fetch_all(connection)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Marks a proposal opened by its mentor, and logs that they viewed the student's
/// indicators (the student sees it among their disclosures).
pub async fn open(
    connection: &mut AnyConnection,
    id: Uuid,
    mentor: &Actor,
    now: Timestamp,
) -> Result<Proposal, AnalyticsError> {
    let proposal = get(connection, id).await?;
    if proposal.opened_at.is_none() {
        sqlx::query("UPDATE proposals SET opened_at = $1 WHERE id = $2")
            .bind(now.to_storage())
            .bind(id.to_string())
            .execute(&mut *connection)
            .await?;
    }
    crate::gateway::record_view(
        connection,
        &mentor.id,
        PURPOSE,
        proposal.subject,
        &["indicators"],
        json!({ "proposal": id }),
        now,
    )
    .await?;
    get(connection, id).await
}

/// A mentor's decision.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve`, `reject` or `amend`.
    pub decision: String,
    /// Why; required to reject or amend.
    #[serde(default)]
    pub rationale: Option<String>,
    /// Amend: another action.
    #[serde(default)]
    pub action: Option<String>,
    /// Amend: the text the student will read.
    #[serde(default)]
    pub text: Option<String>,
}

const ACTIONS: [&str; 3] = ["invite_conversation", "offer_extra_material", "check_in"];

impl DecisionBody {
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        let mut errors = Vec::new();
        let blank = |text: &Option<String>| text.as_deref().is_none_or(|text| text.trim().is_empty());
        match self.decision.as_str() {
            "approve" => {}
            "reject" | "amend" if blank(&self.rationale) => {
                errors.push(FieldError::new("rationale", "say why: rejecting or amending overrides the model"));
            }
            "reject" | "amend" => {}
            _ => errors.push(FieldError::new("decision", "approve, reject or amend")),
        }
        if self.decision == "amend" {
            if blank(&self.action) && blank(&self.text) {
                errors.push(FieldError::new("text", "an amendment changes the action or the text"));
            }
            if self.action.as_deref().is_some_and(|action| !ACTIONS.contains(&action)) {
                errors.push(FieldError::new("action", format!("one of {}", ACTIONS.join(", "))));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(AnalyticsError::Invalid(errors)) }
    }
}

/// Records a mentor's decision on a proposal they opened.
pub async fn decide(
    connection: &mut AnyConnection,
    id: Uuid,
    body: &DecisionBody,
    actor: &Actor,
    reasons: Vec<String>,
    now: Timestamp,
) -> Result<Proposal, AnalyticsError> {
    body.validate()?;
    let (stopped, reason): (i16, Option<String>) =
        sqlx::query_as("SELECT stopped, reason FROM analytics_state WHERE id = 1").fetch_one(&mut *connection).await?;
    if stopped != 0 {
        return Err(AnalyticsError::Stopped(reason.unwrap_or_default()));
    }
    let proposal = get(connection, id).await?;
    if proposal.status != "pending" {
        return Err(AnalyticsError::NotNow(format!("the proposal is {} already", proposal.status)));
    }
    if proposal.expires_at <= now.to_storage() {
        return Err(AnalyticsError::NotNow("the proposal has expired".to_owned()));
    }
    if proposal.opened_at.is_none() {
        return Err(AnalyticsError::NotNow(
            "open the proposal and read its explanation first (GET /api/v1/proposals/{id})".to_owned(),
        ));
    }
    let status = match body.decision.as_str() {
        "approve" => "approved",
        "reject" => "rejected",
        _ => "amended",
    };
    sqlx::query(
        "UPDATE proposals SET status = $1, decided_by = $2, decided_at = $3, rationale = $4, amended_action = $5, \
         amended_text = $6 WHERE id = $7",
    )
    .bind(status)
    .bind(actor.id.clone())
    .bind(now.to_storage())
    .bind(body.rationale.clone())
    .bind(body.action.clone())
    .bind(body.text.clone())
    .bind(id.to_string())
    .execute(&mut *connection)
    .await?;
    let event = Event::new(actor.clone(), "proposal.decided", format!("Proposal::{id}"))
        .subject(proposal.subject)
        .purpose(PURPOSE)
        .decided(Decision::Allow, reasons)
        .details(json!({
            "decision": body.decision,
            "override": status != "approved",
            "model_version": proposal.model_version,
            "action": proposal.action,
            "rationale": body.rationale,
        }));
    audit::record(connection, event).await?;
    get(connection, id).await
}

/// Sets or lifts the stop switch, audited.
pub async fn set_stopped(
    connection: &mut AnyConnection,
    stop: bool,
    reason: &str,
    actor: &Actor,
    reasons: Vec<String>,
    now: Timestamp,
) -> Result<(), AnalyticsError> {
    sqlx::query("UPDATE analytics_state SET stopped = $1, reason = $2, since = $3 WHERE id = 1")
        .bind(i16::from(stop))
        .bind(reason.to_owned())
        .bind(now.to_storage())
        .execute(&mut *connection)
        .await?;
    let action = if stop { "analytics.stopped" } else { "analytics.resumed" };
    let event = Event::new(actor.clone(), action, "Analytics")
        .decided(Decision::Allow, reasons)
        .details(json!({ "reason": reason, "model_version": MODEL_VERSION }));
    audit::record(connection, event).await?;
    Ok(())
}

/// An approved intervention, as the student reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Intervention {
    pub id: Uuid,
    pub action: String,
    /// What the mentor proposes, in plain words.
    pub text: String,
    /// Why, in plain words: which indicators were below the norm.
    pub why: Vec<String>,
    pub data_used: Vec<String>,
    pub decided_by: String,
    pub decided_at: String,
    pub declined: bool,
}

fn plain(action: &str) -> &'static str {
    match action {
        "invite_conversation" => "Your mentor invites you for a conversation about how your studies are going.",
        "offer_extra_material" => "Your mentor offers you extra material to practise with.",
        _ => "Your mentor would like to check in with you.",
    }
}

/// Approved and amended interventions for a student; nothing pending or rejected.
pub async fn interventions(connection: &mut AnyConnection, subject: Uuid) -> Result<Vec<Intervention>, AnalyticsError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, declined_at FROM proposals WHERE subject_id = $1 AND status IN ('approved', 'amended') \
         ORDER BY decided_at DESC"
    )))
    .bind(subject.to_string())
    .fetch_all(&mut *connection)
    .await?;
    rows.iter()
        .map(|row| {
            let proposal = from_row(row)?;
            let declined: Option<String> = row.try_get("declined_at")?;
            let action = proposal.amended_action.clone().unwrap_or(proposal.action.clone());
            let why = proposal.explanation["courses"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|course| {
                    let name = course["course"].as_str().unwrap_or_default().to_owned();
                    course["indicators"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|indicator| indicator["below_norm"] == true)
                        .map(move |indicator| {
                            format!(
                                "{name}: {} was {:.0} %, the norm is {:.0} % and your group's average {:.0} %",
                                indicator["name"].as_str().unwrap_or_default().replace('_', " "),
                                indicator["value"].as_f64().unwrap_or_default() * 100.0,
                                indicator["norm"].as_f64().unwrap_or_default() * 100.0,
                                indicator["group_mean"].as_f64().unwrap_or_default() * 100.0
                            )
                        })
                })
                .collect();
            Ok(Intervention {
                id: proposal.id,
                text: proposal.amended_text.clone().unwrap_or_else(|| plain(&action).to_owned()),
                action,
                why,
                data_used: vec!["activity in the learning environment".to_owned(), "assessment results".to_owned()],
                decided_by: proposal.decided_by.unwrap_or_default(),
                decided_at: proposal.decided_at.unwrap_or_default(),
                declined: declined.is_some(),
            })
        })
        .collect()
}

/// A student declines an intervention offered to them.
pub async fn decline(
    connection: &mut AnyConnection,
    subject: Uuid,
    id: Uuid,
    actor: &Actor,
    reasons: Vec<String>,
    now: Timestamp,
) -> Result<(), AnalyticsError> {
    let proposal = get(connection, id).await?;
    if proposal.subject != subject || !matches!(proposal.status.as_str(), "approved" | "amended") {
        return Err(AnalyticsError::UnknownProposal(id));
    }
    sqlx::query("UPDATE proposals SET declined_at = $1 WHERE id = $2")
        .bind(now.to_storage())
        .bind(id.to_string())
        .execute(&mut *connection)
        .await?;
    let event = Event::new(actor.clone(), "intervention.declined", format!("Proposal::{id}"))
        .subject(subject)
        .purpose(PURPOSE)
        .decided(Decision::Allow, reasons);
    audit::record(connection, event).await?;
    Ok(())
}

/// Oversight figures (AI Act Art. 14): decisions per model version and mentor, and the
/// score distribution of each run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Oversight {
    #[schema(value_type = Object)]
    pub reviewers: Value,
    #[schema(value_type = Object)]
    pub runs: Value,
    /// Change of the mean score between the last two runs.
    pub drift: Option<f64>,
    pub stopped: bool,
}

pub async fn oversight(connection: &mut AnyConnection) -> Result<Oversight, AnalyticsError> {
    let rows = sqlx::query(
        "SELECT model_version, mentor_id, status, COUNT(*) AS n FROM proposals GROUP BY model_version, mentor_id, status",
    )
    .fetch_all(&mut *connection)
    .await?;
    let mut counts: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    for row in rows {
        counts
            .entry((row.try_get("model_version")?, row.try_get("mentor_id")?))
            .or_default()
            .insert(row.try_get("status")?, row.try_get("n")?);
    }
    let reviewers: Vec<Value> = counts
        .into_iter()
        .map(|((model, mentor), statuses)| {
            let count = |status: &str| statuses.get(status).copied().unwrap_or(0);
            let decided = count("approved") + count("rejected") + count("amended");
            let rate = |n: i64| if decided == 0 { None } else { Some(n as f64 / decided as f64) };
            json!({
                "model_version": model, "mentor": mentor, "pending": count("pending"), "decided": decided,
                "approval_rate": rate(count("approved")), "override_rate": rate(count("rejected") + count("amended")),
            })
        })
        .collect();
    let runs: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, started_at, summary FROM analytics_runs ORDER BY started_at")
            .fetch_all(&mut *connection)
            .await?;
    let runs: Vec<Value> = runs
        .into_iter()
        .map(|(id, at, summary)| {
            let summary: Value = serde_json::from_str(&summary).unwrap_or(Value::Null);
            json!({ "run": id, "at": at, "model_version": summary["model_version"], "scores": summary["scores"], "proposals": summary["proposals"] })
        })
        .collect();
    let means: Vec<f64> = runs.iter().filter_map(|run| run["scores"]["mean"].as_f64()).collect();
    let drift = (means.len() >= 2).then(|| means[means.len() - 1] - means[means.len() - 2]);
    let (stopped,): (i16,) =
        sqlx::query_as("SELECT stopped FROM analytics_state WHERE id = 1").fetch_one(connection).await?;
    Ok(Oversight { reviewers: json!(reviewers), runs: json!(runs), drift, stopped: stopped != 0 })
}
