//! The audit log over HTTP: search, export, verify, and the public key.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::checkpoint::PublicKey;
use super::export::{ExportFormat, ExportRequest, start_export};
use super::{Actor, AuditEvent, Decision, Event, EventFilter, Report, record_alone, store, verify_recorded};
use crate::auth::Principal;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppQuery, FieldError, ProblemDetails};
use crate::server::AppState;
use crate::timestamp::Timestamp;

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;
const AUDIT_LOG: &str = "AuditLog";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_events))
        .routes(routes!(export_audit_events))
        .routes(routes!(verify_audit_log))
        .routes(routes!(get_audit_public_key))
}

/// Filters shared by search and export. `until` is exclusive.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<Timestamp>,
    /// Events before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
    /// Only this actor (user or client id).
    actor: Option<String>,
    /// Only events about this subject (internal id).
    subject: Option<String>,
    /// Only events for this purpose.
    purpose: Option<String>,
    /// Only this action, e.g. `audit.exported`.
    action: Option<String>,
    #[param(inline)]
    decision: Option<Decision>,
    /// Where the previous page ended (`next_cursor`).
    cursor: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    limit: Option<i64>,
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

fn time_range(from: Option<Timestamp>, until: Option<Timestamp>) -> Result<(), ApiError> {
    match (from, until) {
        (Some(from), Some(until)) if from >= until => {
            Err(ApiError::invalid_field("until", format!("must be later than `from` ({from})")))
        }
        _ => Ok(()),
    }
}

/// Search the audit log.
///
/// Privacy officers and the DPO search by time, actor, subject, purpose, action and
/// decision. The search itself is recorded.
#[utoipa::path(
    get,
    path = "/api/v1/audit/events",
    tag = "audit",
    operation_id = "list_audit_events",
    params(SearchParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Matching events in seq order", body = EventPage),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid parameter", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn list_audit_events(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(params): AppQuery<SearchParams>,
) -> Result<Json<EventPage>, ApiError> {
    time_range(params.from, params.until)?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field("limit", format!("must be between 1 and {MAX_PAGE}")));
    }
    let after = match &params.cursor {
        Some(cursor) => {
            cursor.parse::<i64>().map_err(|_| ApiError::invalid_field("cursor", "is not a cursor this API gave out"))?
        }
        None => 0,
    };
    let decision = state.gate.authorize(&principal, Action::ReadAudit, Resource::AuditLog).await?;
    let filter = EventFilter {
        from: params.from,
        until: params.until,
        actor: params.actor,
        subject: params.subject,
        purpose: params.purpose,
        action: params.action,
        decision: params.decision,
    };
    let event = Event::new(Actor::from(&principal), "audit.searched", AUDIT_LOG)
        .decided(Decision::Allow, decision.reasons)
        .details(json!({ "filter": describe(&filter), "cursor": after, "limit": limit }));
    record_alone(&state.db, event).await?;
    let events = store::list_events(state.db.pool(), &filter, after, limit).await?;
    let next_cursor =
        (events.len() as i64 == limit).then(|| events.last().map(|event| event.seq.to_string())).flatten();
    Ok(Json(EventPage { events, next_cursor }))
}

fn describe(filter: &EventFilter) -> serde_json::Value {
    json!({
        "from": filter.from,
        "until": filter.until,
        "actor": filter.actor,
        "subject": filter.subject,
        "purpose": filter.purpose,
        "action": filter.action,
        "decision": filter.decision,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<Timestamp>,
    /// Events before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
    /// `jsonl` (default) or `csv`.
    #[param(inline)]
    format: Option<ExportFormat>,
    /// Encrypt to this age recipient (`age1…`); repeat for several.
    #[serde(default)]
    recipient: Vec<String>,
}

/// Export the audit log.
///
/// Streams the events of a time range with the signed checkpoints among them and a
/// signature over the whole, as JSON Lines or CSV, encrypted with age when recipients are
/// given. `consentry audit verify --export FILE` checks it offline. The export is recorded.
#[utoipa::path(
    get,
    path = "/api/v1/audit/export",
    tag = "audit",
    operation_id = "export_audit_events",
    params(ExportParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export, streamed: JSON Lines, CSV (`text/csv`), or an age file (`application/octet-stream`) when encrypted", content_type = "application/jsonl"),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid recipient, time range or format", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn export_audit_events(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(params): AppQuery<ExportParams>,
) -> Result<Response, ApiError> {
    time_range(params.from, params.until)?;
    let (recipients, errors): (Vec<_>, Vec<_>) = params
        .recipient
        .iter()
        .enumerate()
        .map(|(index, text)| {
            text.parse::<age::x25519::Recipient>().map_err(|_| {
                FieldError::new(format!("recipient[{index}]"), format!("`{text}` is not an age recipient (age1…)"))
            })
        })
        .partition(Result::is_ok);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors.into_iter().filter_map(Result::err).collect()));
    }
    let recipients: Vec<_> = recipients.into_iter().filter_map(Result::ok).collect();
    let format = params.format.unwrap_or(ExportFormat::Jsonl);
    let decision = state.gate.authorize(&principal, Action::ExportAudit, Resource::AuditLog).await?;
    let filter = EventFilter { from: params.from, until: params.until, ..EventFilter::default() };
    let event = Event::new(Actor::from(&principal), "audit.exported", AUDIT_LOG)
        .decided(Decision::Allow, decision.reasons)
        .details(
            json!({ "from": filter.from, "until": filter.until, "format": format, "recipients": recipients.len() }),
        );
    record_alone(&state.db, event).await?;

    let encrypted = !recipients.is_empty();
    let receiver =
        start_export(state.db.clone(), state.audit_key.clone(), ExportRequest { filter, format, recipients });
    let body = Body::from_stream(futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    }));
    let (content_type, suffix) =
        if encrypted { ("application/octet-stream", ".age") } else { (format.content_type(), "") };
    let filename = format!("consentry-audit-{}.{}{suffix}", Timestamp::now().unix_seconds(), format.extension());
    let disposition = format!("attachment; filename=\"{filename}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// Verify the audit log.
///
/// Recomputes the whole hash chain and checks every checkpoint signature; names the first
/// seq where the log was changed. The check itself is recorded.
#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    tag = "audit",
    operation_id = "verify_audit_log",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verification report (`valid` false on tampering)", body = Report),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn verify_audit_log(State(state): State<AppState>, principal: Principal) -> Result<Json<Report>, ApiError> {
    let decision = state.gate.authorize(&principal, Action::ReadAudit, Resource::AuditLog).await?;
    let public_key = state.audit_key.public_key().to_vec();
    Ok(Json(verify_recorded(&state.db, &public_key, Actor::from(&principal), decision.reasons).await?))
}

/// The audit signing key.
///
/// The Ed25519 public key that signs checkpoints and exports, for verifying them offline.
#[utoipa::path(
    get,
    path = "/api/v1/audit/public-key",
    tag = "audit",
    operation_id = "get_audit_public_key",
    responses((status = 200, description = "The public key", body = PublicKey))
)]
async fn get_audit_public_key(State(state): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey::of(&state.audit_key))
}
