//! Learning analytics with a human in the loop. An analytics run reads through the
//! gateway like any tool (as the internal client `consentry-analytics`, for
//! `dropout-prevention`): students who objected are absent from its data, from its group
//! means and from its proposals. It computes indicators and a transparent risk, and
//! proposes interventions that only the student's mentor can turn into action.

mod indicators;
mod review;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

pub use indicators::{CourseIndicators, INDICATORS, Indicator, MODEL_VERSION, Tallies, default_norms, risk};
pub use review::{
    DecisionBody, Intervention, Oversight, Proposal, decide, decline, interventions, of_mentor as proposals_of, open,
    oversight, set_stopped,
};
pub use routes::router;

use crate::audit::{self, Actor, Decision, Event};
use crate::auth::{Principal, PrincipalKind};
use crate::db::Db;
use crate::gateway::{Filters, GovernedRecord, Keys, ReadRequest, Reader};
use crate::policy::{Action, Gate};
use crate::purposes::{PurposeError, PurposeId};
use crate::records::RecordKind;
use crate::timestamp::Timestamp;

/// The internal client analytics reads as.
pub const ANALYTICS_CLIENT: &str = "consentry-analytics";
/// The purpose runs read for and propose under.
pub const PURPOSE: &str = "dropout-prevention";
/// A risk from which a mentor gets a proposal at all: below it a student is on track
/// enough that a proposal would only crowd the mentor's list.
const PROPOSE_FROM: f64 = 0.3;
/// A risk from which the proposal is an invitation for a conversation.
const INVITE_FROM: f64 = 0.35;
/// How long a proposal waits for its mentor.
const PROPOSAL_DAYS: i64 = 14;

/// The model in words, as a DPIA describes it.
pub fn model_description() -> crate::purposes::Localized {
    let indicators = INDICATORS.join(", ");
    let (propose, invite) = (PROPOSE_FROM * 100.0, INVITE_FROM * 100.0);
    crate::purposes::Localized {
        nl: format!(
            "{MODEL_VERSION}: een transparante regel, geen getraind model. Per student en cursus de indicatoren {indicators}, \
             elk naast het groepsgemiddelde en een norm; het risico is het gemiddelde tekort onder de normen. Vanaf \
             {propose:.0} % een voorstel aan de mentor, vanaf {invite:.0} % een uitnodiging voor een gesprek; elk voorstel \
             vervalt na {PROPOSAL_DAYS} dagen en draagt zijn uitleg mee."
        ),
        en: format!(
            "{MODEL_VERSION}: a transparent rule, not a trained model. Per student and course the indicators {indicators}, \
             each beside the group mean and a norm; the risk is the mean shortfall below the norms. From {propose:.0} % a \
             proposal to the mentor, from {invite:.0} % an invitation for a conversation; every proposal expires after \
             {PROPOSAL_DAYS} days and carries its explanation."
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("analytics is stopped: {0}")]
    Stopped(String),
    #[error("no proposal has the id `{0}`")]
    UnknownProposal(Uuid),
    #[error("{0}")]
    NotNow(String),
    #[error("invalid request")]
    Invalid(Vec<crate::problem::FieldError>),
    #[error(transparent)]
    Gateway(#[from] crate::gateway::GatewayError),
    #[error(transparent)]
    Purpose(#[from] PurposeError),
}

impl From<sqlx::Error> for AnalyticsError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::db::DbError> for AnalyticsError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<audit::AuditError> for AnalyticsError {
    fn from(error: audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::clients::ClientError> for AnalyticsError {
    fn from(error: crate::clients::ClientError) -> Self {
        Self::Gateway(error.into())
    }
}

/// The window a run looks at.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunWindow {
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunReport {
    pub run: Uuid,
    pub model_version: String,
    pub since: String,
    pub until: String,
    /// Students with data in the window whom the purpose may use.
    pub students_scored: usize,
    pub proposals: usize,
    /// Whether this window was run before (nothing new was proposed).
    pub repeated: bool,
    /// Mean and quartiles of the risk scores.
    #[schema(value_type = Object)]
    pub scores: serde_json::Value,
}

/// Whether the stop switch is on, and why.
pub async fn stopped(db: &Db) -> Result<Option<String>, AnalyticsError> {
    let (stopped, reason): (i16, Option<String>) =
        sqlx::query_as("SELECT stopped, reason FROM analytics_state WHERE id = 1").fetch_one(db.pool()).await?;
    Ok((stopped != 0).then(|| reason.unwrap_or_default()))
}

/// The internal client, registered for the analytics purposes on first use.
async fn reader(db: &Db) -> Result<Reader, AnalyticsError> {
    let mut tx = db.begin().await?;
    if crate::clients::registration(&mut tx, ANALYTICS_CLIENT).await?.is_none() {
        let mut purposes = Vec::new();
        for id in ["personal-dashboard", PURPOSE] {
            let id = PurposeId::parse(id).map_err(PurposeError::Corrupt)?;
            if crate::purposes::get(&mut tx, &id).await?.is_some() {
                purposes.push(id);
            }
        }
        let client = crate::clients::NewClient {
            id: ANALYTICS_CLIENT.to_owned(),
            name: "Consentry analytics".to_owned(),
            organisation: "Consentry (internal)".to_owned(),
            contact: "the privacy office".to_owned(),
            token_subject: ANALYTICS_CLIENT.to_owned(),
            purposes,
        };
        // Nobody logs in as this client: its secret is random and thrown away.
        let secret = crate::auth::secrets::issue().map_err(crate::clients::ClientError::from)?;
        crate::clients::insert(&mut tx, &client, &secret).await?;
    }
    tx.commit().await?;
    let principal =
        Principal { id: ANALYTICS_CLIENT.to_owned(), kind: PrincipalKind::Client, roles: Default::default() };
    Ok(Reader::resolve(db, principal).await?)
}

/// What the students did in the window, read through the gateway and tallied line by line
/// as the chunks arrive, so a run's memory grows with the students, not their records.
async fn read(
    db: &Db,
    gate: &Gate,
    keys: &Arc<Keys>,
    reader: &Reader,
    window: RunWindow,
    now: Timestamp,
) -> Result<Tallies, AnalyticsError> {
    let purpose = PurposeId::parse(PURPOSE).map_err(PurposeError::Corrupt)?;
    let filters = Filters {
        kind: Some(RecordKind::Xapi),
        since: Some(window.since),
        until: Some(window.until),
        ..Filters::default()
    };
    let request =
        ReadRequest { reader, action: Action::ReadRecords, purpose: &purpose, filters: &filters, needs: &[], now };
    let prepared = crate::gateway::prepare(db, gate, &request).await?;
    let mut chunks = Box::pin(crate::gateway::stream(prepared, db.clone(), Arc::clone(keys)));
    let mut tallies = Tallies::new(window.since.unix_seconds(), window.until.unix_seconds());
    // A chunk may end inside a line: the rest waits for the next chunk.
    let mut pending = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| PurposeError::Corrupt(format!("the analytics read failed: {error}")))?;
        pending.extend_from_slice(&chunk);
        let Some(last_newline) = pending.iter().rposition(|byte| *byte == b'\n') else { continue };
        for line in pending[..last_newline].split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
            if let Ok(record) = serde_json::from_slice::<GovernedRecord>(line) {
                tallies.add(&record);
            }
        }
        pending.drain(..=last_newline);
    }
    Ok(tallies)
}

/// Scores every student in the window and proposes interventions to their mentors; a
/// window already run returns its first report.
pub async fn run(
    db: &Db,
    gate: &Gate,
    keys: &Arc<Keys>,
    window: RunWindow,
    now: Timestamp,
) -> Result<RunReport, AnalyticsError> {
    if let Some(reason) = stopped(db).await? {
        return Err(AnalyticsError::Stopped(reason));
    }
    if window.until <= window.since {
        return Err(AnalyticsError::Invalid(vec![crate::problem::FieldError::new("until", "must come after since")]));
    }
    let (since, until) = (window.since.to_storage(), window.until.to_storage());
    let earlier: Option<(String, String)> = sqlx::query_as(
        "SELECT id, summary FROM analytics_runs WHERE model_version = $1 AND window_start = $2 AND window_end = $3",
    )
    .bind(MODEL_VERSION)
    .bind(since.clone())
    .bind(until.clone())
    .fetch_optional(db.pool())
    .await?;
    if let Some((id, summary)) = earlier {
        let mut report: RunReport =
            serde_json::from_str(&summary).map_err(|_| PurposeError::Corrupt(format!("run {id}")))?;
        report.repeated = true;
        return Ok(report);
    }
    let reader = reader(db).await?;
    let by_pseudonym = read(db, gate, keys, &reader, window, now).await?.indicators(&default_norms());

    let mut tx = db.begin().await?;
    let subjects = crate::directory::subject_ids(&mut tx).await?;
    let subject_of: HashMap<String, String> =
        subjects.into_iter().map(|subject| (keys.pseudonym(PURPOSE, &reader.id, &subject), subject)).collect();
    let mentors = review::mentors(&mut tx).await?;
    let mut scored: Vec<(String, f64, Vec<CourseIndicators>)> = by_pseudonym
        .into_iter()
        .filter_map(|(pseudonym, courses)| Some((subject_of.get(&pseudonym)?.clone(), risk(&courses), courses)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut scores: Vec<f64> = scored.iter().map(|(_, score, _)| *score).collect();
    scores.sort_by(f64::total_cmp);
    let quartile = |q: f64| scores.get(((scores.len().saturating_sub(1)) as f64 * q).round() as usize).copied();
    let run = Uuid::now_v7();
    let mut report = RunReport {
        run,
        model_version: MODEL_VERSION.to_owned(),
        since: since.clone(),
        until: until.clone(),
        students_scored: scored.len(),
        proposals: 0,
        repeated: false,
        scores: json!({
            "mean": if scores.is_empty() { 0.0 } else { scores.iter().sum::<f64>() / scores.len() as f64 },
            "q1": quartile(0.25), "median": quartile(0.5), "q3": quartile(0.75),
        }),
    };
    sqlx::query(
        "INSERT INTO analytics_runs (id, model_version, window_start, window_end, started_at, summary) VALUES ($1, $2, $3, $4, $5, '{}')",
    )
    .bind(run.to_string())
    .bind(MODEL_VERSION)
    .bind(since)
    .bind(until)
    .bind(now.to_storage())
    .execute(&mut *tx)
    .await?;
    let mut ranks: BTreeMap<String, i32> = BTreeMap::new();
    for (subject, score, courses) in &scored {
        let below: Vec<&Indicator> = courses
            .iter()
            .flat_map(|course| course.indicators.iter())
            .filter(|indicator| indicator.below_norm)
            .collect();
        let Some(mentor) = mentors.get(subject) else { continue };
        if below.is_empty() || *score < PROPOSE_FROM {
            continue;
        }
        let action = if *score >= INVITE_FROM {
            "invite_conversation"
        } else if below.iter().any(|indicator| indicator.name == "test_score") {
            "offer_extra_material"
        } else {
            "check_in"
        };
        let rank = ranks.entry(mentor.clone()).or_insert(0);
        *rank += 1;
        let explanation = json!({
            "model_version": MODEL_VERSION,
            "purpose": PURPOSE,
            "legal_basis": "A6-1-e",
            "data_categories": ["activity", "assessment"],
            "score": score,
            "courses": courses,
        });
        let proposal = review::NewProposal {
            run,
            subject: subject.clone(),
            mentor: mentor.clone(),
            action,
            rank: *rank,
            score: *score,
            explanation,
            expires_at: now.plus_seconds(PROPOSAL_DAYS * 86_400),
            now,
        };
        review::insert(&mut tx, &proposal).await?;
        report.proposals += 1;
    }
    sqlx::query("UPDATE analytics_runs SET summary = $1 WHERE id = $2")
        .bind(serde_json::to_string(&report).unwrap_or_default())
        .bind(run.to_string())
        .execute(&mut *tx)
        .await?;
    let event = Event::new(Actor::system("analytics"), "analytics.run", format!("Purpose::{PURPOSE}"))
        .purpose(PURPOSE)
        .decided(Decision::Allow, vec![MODEL_VERSION.to_owned()])
        .details(json!({
            "run": run,
            "model_version": MODEL_VERSION,
            "window": { "since": report.since, "until": report.until },
            "input_categories": ["activity", "assessment"],
            "legal_basis": "A6-1-e",
            "students_scored": report.students_scored,
            "proposals": report.proposals,
            "scores": report.scores,
        }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(report)
}

/// Marks pending proposals past their time as expired.
pub async fn expire(db: &Db, now: Timestamp) -> Result<u64, AnalyticsError> {
    let expired = sqlx::query("UPDATE proposals SET status = 'expired' WHERE status = 'pending' AND expires_at <= $1")
        .bind(now.to_storage())
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(expired)
}

/// The scheduled run: at the configured interval, the last `window_weeks` up to today
/// (a window per day, so a second run on one day proposes nothing new).
pub struct Scheduler {
    pub db: Db,
    pub gate: Gate,
    pub keys: Arc<Keys>,
    pub clock: crate::timestamp::Clock,
    pub every: std::time::Duration,
    pub window_weeks: i64,
}

impl Scheduler {
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        loop {
            tokio::select! {
                _ = ticks.tick() => self.tick().await,
                _ = stop.changed() => return,
            }
        }
    }

    async fn tick(&self) {
        let now = self.clock.now();
        let today = now.unix_seconds() - now.unix_seconds().rem_euclid(86_400);
        let (Some(since), Some(until)) =
            (Timestamp::from_unix_seconds(today - self.window_weeks * 7 * 86_400), Timestamp::from_unix_seconds(today))
        else {
            return;
        };
        if let Err(error) = expire(&self.db, now).await {
            tracing::warn!(%error, "could not expire old proposals");
        }
        match run(&self.db, &self.gate, &self.keys, RunWindow { since, until }, now).await {
            Ok(report) => tracing::info!(proposals = report.proposals, repeated = report.repeated, "analytics run"),
            Err(AnalyticsError::Stopped(reason)) => tracing::info!(%reason, "analytics is stopped; no scheduled run"),
            Err(error) => tracing::warn!(%error, "the scheduled analytics run failed"),
        }
    }
}
