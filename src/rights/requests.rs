//! Data-subject requests: received with a deadline of one month (Art. 12(3)), extendable
//! once by up to two months with a reason, worked by the privacy office; every change is
//! audited and told to the student.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::RightsError;
use crate::audit::{self, Actor, Decision, Event};
use crate::db::Db;
use crate::problem::FieldError;
use crate::timestamp::{Direction, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Access,
    Rectification,
    Erasure,
    Restriction,
    Objection,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Rectification => "rectification",
            Self::Erasure => "erasure",
            Self::Restriction => "restriction",
            Self::Objection => "objection",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Access, Self::Rectification, Self::Erasure, Self::Restriction, Self::Objection]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Received,
    InProgress,
    WaitingForStudent,
    Done,
    Refused,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::InProgress => "in_progress",
            Self::WaitingForStudent => "waiting_for_student",
            Self::Done => "done",
            Self::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Received, Self::InProgress, Self::WaitingForStudent, Self::Done, Self::Refused]
            .into_iter()
            .find(|state| state.as_str() == text)
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Self::Done | Self::Refused)
    }
}

/// A request as the student and the privacy office see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DataRequest {
    pub id: Uuid,
    pub subject: Uuid,
    pub kind: RequestKind,
    /// The student's text and, for rectification, the record and what is wrong.
    #[schema(value_type = Object)]
    pub details: Value,
    pub state: RequestState,
    pub received_at: String,
    pub deadline: String,
    /// Whole days until the deadline (negative when past).
    pub due_in_days: i64,
    pub overdue: bool,
    pub extension_reason: Option<String>,
    pub reply: Option<String>,
    pub updated_at: String,
}

const COLUMNS: &str =
    "id, subject_id, kind, details, state, received_at, deadline, extension_reason, reply, updated_at";

fn from_row(row: &AnyRow, now: Timestamp) -> Result<DataRequest, RightsError> {
    let id: String = row.try_get("id")?;
    let corrupt = || RightsError::Purpose(crate::purposes::PurposeError::Corrupt(format!("request {id}")));
    let deadline: String = row.try_get("deadline")?;
    let state = RequestState::parse(&row.try_get::<String, _>("state")?).ok_or_else(corrupt)?;
    let due = Timestamp::parse(&deadline).map_err(|_| corrupt())?;
    let seconds = due.unix_seconds() - now.unix_seconds();
    let details: String = row.try_get("details")?;
    Ok(DataRequest {
        id: Uuid::parse_str(&id).map_err(|_| corrupt())?,
        subject: Uuid::parse_str(&row.try_get::<String, _>("subject_id")?).map_err(|_| corrupt())?,
        kind: RequestKind::parse(&row.try_get::<String, _>("kind")?).ok_or_else(corrupt)?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
        state,
        received_at: row.try_get("received_at")?,
        // Whole days, rounded up: with 4 days and 23 hours left the request is due in 5.
        due_in_days: (seconds + 86_399).div_euclid(86_400),
        overdue: state.is_open() && seconds < 0,
        deadline,
        extension_reason: row.try_get("extension_reason")?,
        reply: row.try_get("reply")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A request a student files.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub kind: RequestKind,
    /// In the student's words.
    pub text: String,
    /// Rectification: the record that is wrong (its id in the export).
    #[serde(default)]
    pub record: Option<Uuid>,
    /// Objection: the purpose objected to.
    #[serde(default)]
    pub purpose: Option<String>,
}

impl NewRequest {
    pub fn validate(&self) -> Result<(), RightsError> {
        let mut errors = Vec::new();
        if self.text.trim().is_empty() {
            errors.push(FieldError::new("text", "say what you ask for, in your own words"));
        }
        if self.kind == RequestKind::Rectification && self.record.is_none() {
            errors.push(FieldError::new("record", "name the record that is wrong (its id in your export)"));
        }
        if self.kind == RequestKind::Objection && self.purpose.is_none() {
            errors.push(FieldError::new("purpose", "name the purpose you object to"));
        }
        if errors.is_empty() { Ok(()) } else { Err(RightsError::Invalid(errors)) }
    }
}

async fn notify(
    connection: &mut AnyConnection,
    request: &DataRequest,
    message: String,
    now: Timestamp,
) -> Result<(), RightsError> {
    sqlx::query(
        "INSERT INTO notifications (id, subject_id, request_id, message, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(request.subject.to_string())
    .bind(request.id.to_string())
    .bind(message)
    .bind(now.to_storage())
    .execute(connection)
    .await?;
    Ok(())
}

fn event(actor: &Actor, action: &str, request: &DataRequest, reasons: Vec<String>, details: Value) -> Event {
    Event::new(actor.clone(), action, format!("DataRequest::{}", request.id))
        .subject(request.subject)
        .decided(Decision::Allow, reasons)
        .details(details)
}

/// Files a request with its deadline, one month on; audited and acknowledged.
pub async fn file(
    connection: &mut AnyConnection,
    subject: Uuid,
    new: &NewRequest,
    actor: &Actor,
    reasons: Vec<String>,
    now: Timestamp,
) -> Result<DataRequest, RightsError> {
    new.validate()?;
    let id = Uuid::now_v7();
    let deadline = now.shifted(&crate::timestamp::months(1), Direction::Forward);
    let details = json!({ "text": new.text, "record": new.record, "purpose": new.purpose });
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO data_requests ({COLUMNS}) VALUES ($1, $2, $3, $4, 'received', $5, $6, NULL, NULL, $5)"
    )))
    .bind(id.to_string())
    .bind(subject.to_string())
    .bind(new.kind.as_str())
    .bind(details.to_string())
    .bind(now.to_storage())
    .bind(deadline.to_storage())
    .execute(&mut *connection)
    .await?;
    let request = get(connection, id, now).await?;
    let details = json!({ "kind": new.kind.as_str(), "deadline": request.deadline });
    audit::record(connection, event(actor, "request.received", &request, reasons, details)).await?;
    let message = format!(
        "We received your {} request on {}; we answer by {} at the latest.",
        new.kind.as_str(),
        &request.received_at[..10],
        &request.deadline[..10]
    );
    notify(connection, &request, message, now).await?;
    Ok(request)
}

pub async fn get(connection: &mut AnyConnection, id: Uuid, now: Timestamp) -> Result<DataRequest, RightsError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM data_requests WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(connection)
        .await?
        .ok_or(RightsError::UnknownRequest(id))?;
    from_row(&row, now)
}

/// A student's requests, newest first.
pub async fn of_subject(
    connection: &mut AnyConnection,
    subject: Uuid,
    now: Timestamp,
) -> Result<Vec<DataRequest>, RightsError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM data_requests WHERE subject_id = $1 ORDER BY received_at DESC, id DESC"
    )))
    .bind(subject.to_string())
    .fetch_all(connection)
    .await?;
    rows.iter().map(|row| from_row(row, now)).collect()
}

/// The privacy office's queue: open requests by deadline, then the closed ones.
pub async fn queue(
    connection: &mut AnyConnection,
    open_only: bool,
    now: Timestamp,
) -> Result<Vec<DataRequest>, RightsError> {
    let filter = if open_only { "WHERE state NOT IN ('done', 'refused')" } else { "" };
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM data_requests {filter} ORDER BY deadline, id")))
            .fetch_all(connection)
            .await?;
    let mut requests: Vec<DataRequest> = rows.iter().map(|row| from_row(row, now)).collect::<Result<_, _>>()?;
    requests.sort_by_key(|request| !request.state.is_open());
    Ok(requests)
}

/// What the privacy office does with a request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Handling {
    /// Answer the student; optionally wait for them or mark the work as started.
    Reply {
        text: String,
        #[serde(default)]
        waiting_for_student: bool,
    },
    /// Extend the deadline by one or two months, once, with the reason (Art. 12(3)).
    Extend { months: u8, reason: String },
    /// Carry the request out: erasure erases, restriction restricts, objection records the
    /// objection, rectification annotates the record, access points to the export.
    Fulfil { text: String },
    /// Refuse, with the reason the student is told.
    Refuse { reason: String },
    /// End a restriction that was granted.
    LiftRestriction { text: String },
}

/// What carrying out a request needs beyond the store.
pub struct Fulfilment<'a> {
    pub now: Timestamp,
    /// Signs erasure certificates.
    pub key: &'a crate::datadir::SigningKey,
    pub reasons: Vec<String>,
}

/// Does what the request asks; returns what was done, for the audit event.
async fn carry_out(
    connection: &mut AnyConnection,
    request: &DataRequest,
    actor: &Actor,
    context: &Fulfilment<'_>,
) -> Result<Value, RightsError> {
    let text = request.details["text"].as_str().unwrap_or_default().to_owned();
    Ok(match request.kind {
        RequestKind::Access => json!({ "export": "/api/v1/me/export" }),
        RequestKind::Erasure => {
            let reason = format!("Art. 17 request {}: {text}", request.id);
            let certificate = crate::retention::erase(
                connection,
                request.subject,
                &reason,
                actor,
                context.reasons.clone(),
                context.key,
                context.now,
            )
            .await?;
            json!({ "certificate": certificate.certificate.id })
        }
        RequestKind::Restriction => {
            sqlx::query(
                "INSERT INTO subject_restrictions (subject_id, request_id, since) VALUES ($1, $2, $3) \
                 ON CONFLICT (subject_id) DO NOTHING",
            )
            .bind(request.subject.to_string())
            .bind(request.id.to_string())
            .bind(context.now.to_storage())
            .execute(&mut *connection)
            .await?;
            json!({ "restricted": true })
        }
        RequestKind::Objection => {
            let purpose = request.details["purpose"].as_str().unwrap_or_default();
            let purpose = crate::purposes::PurposeId::from_path(purpose)?;
            let choosing = crate::consent::Choosing {
                event: crate::consent::ConsentEvent::Objected,
                language: crate::purposes::Language::En,
                notice_version: None,
                method: crate::consent::Method::Api,
                relation: crate::consent::Relation::Staff,
            };
            crate::consent::choose(connection, request.subject, &purpose, choosing, actor, context.reasons.clone())
                .await?;
            json!({ "objected": purpose })
        }
        RequestKind::Rectification => {
            let record = request.details["record"].as_str().unwrap_or_default().to_owned();
            let owner: Option<String> = sqlx::query_scalar("SELECT subject_id FROM records WHERE id = $1")
                .bind(record.clone())
                .fetch_optional(&mut *connection)
                .await?;
            if owner.as_deref() != Some(request.subject.to_string().as_str()) {
                return Err(RightsError::NotNow(format!("the record `{record}` is not one of this student's")));
            }
            sqlx::query(
                "INSERT INTO record_annotations (id, record_id, request_id, note, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(Uuid::now_v7().to_string())
            .bind(record.clone())
            .bind(request.id.to_string())
            .bind(text)
            .bind(context.now.to_storage())
            .execute(&mut *connection)
            .await?;
            json!({ "annotated": record })
        }
    })
}

/// What one handling does to a request.
struct Step {
    state: RequestState,
    /// The answer to keep on the request.
    reply: Option<String>,
    /// A new deadline with its reason.
    extension: Option<(String, String)>,
    /// The audit event's action.
    action: &'static str,
    /// What the student is told.
    message: String,
    /// The audit event's details.
    details: Value,
}

impl Step {
    fn new(state: RequestState, action: &'static str, message: String, details: Value) -> Self {
        Self { state, reply: None, extension: None, action, message, details }
    }

    fn replying(self, text: &str) -> Self {
        Self { reply: Some(text.to_owned()), ..self }
    }
}

/// Moves a request on in a transaction of its own and returns it as it now stands. Once a
/// fulfilled erasure has committed, the store gives its freed pages back, so that the erased
/// data does not linger in them.
pub async fn handle_and_reclaim(
    db: &Db,
    id: Uuid,
    handling: &Handling,
    actor: &Actor,
    context: &Fulfilment<'_>,
) -> Result<DataRequest, RightsError> {
    let mut tx = db.begin().await?;
    let handled = handle(&mut tx, id, handling, actor, context).await?;
    tx.commit().await?;
    if matches!(handling, Handling::Fulfil { .. }) && handled.kind == RequestKind::Erasure {
        db.reclaim().await?;
    }
    Ok(handled)
}

/// Moves a request on; returns it as it now stands. Everything it changes commits with the
/// request's audit event and the student's notification.
pub async fn handle(
    connection: &mut AnyConnection,
    id: Uuid,
    handling: &Handling,
    actor: &Actor,
    context: &Fulfilment<'_>,
) -> Result<DataRequest, RightsError> {
    let reasons = context.reasons.clone();
    let now = context.now;
    let request = get(connection, id, now).await?;
    let closed = || RightsError::NotNow(format!("the request is {} already", request.state.as_str()));
    let Step { state, reply, extension, action, message, details } = match handling {
        Handling::Reply { text, waiting_for_student } => {
            if !request.state.is_open() {
                return Err(closed());
            }
            let state = if *waiting_for_student { RequestState::WaitingForStudent } else { RequestState::InProgress };
            Step::new(state, "request.replied", text.clone(), json!({ "state": state.as_str() })).replying(text)
        }
        Handling::Extend { months, reason } => {
            if !request.state.is_open() {
                return Err(closed());
            }
            if request.extension_reason.is_some() {
                return Err(RightsError::NotNow("the deadline was extended once already".to_owned()));
            }
            if !(1..=2).contains(months) || reason.trim().is_empty() {
                return Err(RightsError::Invalid(vec![FieldError::new(
                    "months",
                    "extend by 1 or 2 months, with a reason (GDPR Art. 12(3))",
                )]));
            }
            let period = crate::timestamp::months(u32::from(*months));
            let deadline = Timestamp::parse(&request.deadline)
                .map_err(|_| RightsError::NotNow("the stored deadline cannot be read".to_owned()))?
                .shifted(&period, Direction::Forward)
                .to_storage();
            let message = format!("We need more time: we now answer by {}. Why: {reason}", &deadline[..10]);
            let details = json!({ "months": months, "deadline": deadline });
            Step {
                extension: Some((deadline, reason.clone())),
                ..Step::new(request.state, "request.extended", message, details)
            }
        }
        Handling::Refuse { reason } => {
            if !request.state.is_open() {
                return Err(closed());
            }
            if reason.trim().is_empty() {
                return Err(RightsError::Invalid(vec![FieldError::new("reason", "say why, for the student")]));
            }
            let message = format!("Your request was refused. Why: {reason}");
            Step::new(RequestState::Refused, "request.refused", message, json!({})).replying(reason)
        }
        Handling::Fulfil { text } => {
            if !request.state.is_open() {
                return Err(closed());
            }
            let outcome = carry_out(connection, &request, actor, context).await?;
            let message = format!("Your request was carried out. {text}");
            Step::new(RequestState::Done, "request.fulfilled", message, outcome).replying(text)
        }
        Handling::LiftRestriction { text } => {
            if request.kind != RequestKind::Restriction || request.state != RequestState::Done {
                return Err(RightsError::NotNow("only a granted restriction can be lifted".to_owned()));
            }
            let lifted = sqlx::query("DELETE FROM subject_restrictions WHERE subject_id = $1")
                .bind(request.subject.to_string())
                .execute(&mut *connection)
                .await?
                .rows_affected();
            let message = format!("The restriction of processing was lifted. {text}");
            Step::new(RequestState::Done, "request.restriction_lifted", message, json!({ "lifted": lifted }))
                .replying(text)
        }
    };
    let (deadline, extension_reason) = match extension {
        Some((deadline, reason)) => (deadline, Some(reason)),
        None => (request.deadline.clone(), request.extension_reason.clone()),
    };
    sqlx::query(
        "UPDATE data_requests SET state = $1, reply = COALESCE($2, reply), deadline = $3, extension_reason = $4, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(state.as_str())
    .bind(reply)
    .bind(deadline)
    .bind(extension_reason)
    .bind(now.to_storage())
    .bind(id.to_string())
    .execute(&mut *connection)
    .await?;
    let updated = get(connection, id, now).await?;
    audit::record(connection, event(actor, action, &updated, reasons, details)).await?;
    notify(connection, &updated, message, now).await?;
    Ok(updated)
}

/// A message to a student about their requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    pub request: Option<String>,
    pub message: String,
    pub created_at: String,
}

pub async fn notifications(connection: &mut AnyConnection, subject: Uuid) -> Result<Vec<Notification>, RightsError> {
    let rows = sqlx::query(
        "SELECT id, request_id, message, created_at FROM notifications WHERE subject_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(subject.to_string())
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Notification {
                id: row.try_get("id")?,
                request: row.try_get("request_id")?,
                message: row.try_get("message")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
