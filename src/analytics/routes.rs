//! Analytics and review over HTTP.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::review::{self, DecisionBody, Intervention, Oversight, Proposal};
use super::{AnalyticsError, RunReport, RunWindow};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppJson, ProblemDetails};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_analytics_run))
        .routes(routes!(set_analytics_stop))
        .routes(routes!(get_analytics_oversight))
        .routes(routes!(list_proposals))
        .routes(routes!(get_proposal))
        .routes(routes!(decide_proposal))
        .routes(routes!(list_my_interventions))
        .routes(routes!(decline_intervention))
}

fn proposal_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| AnalyticsError::UnknownProposal(Uuid::nil()).into())
}

/// Run the analytics for a window.
///
/// Reads through the gateway, scores every student the purpose may use, and proposes
/// interventions to their mentors. Running the same window again proposes nothing new.
#[utoipa::path(post, path = "/api/v1/analytics/runs", tag = "analytics", operation_id = "start_analytics_run",
    request_body = RunWindow,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The run", body = RunReport),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Analytics is stopped", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid window", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn start_analytics_run(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(window): AppJson<RunWindow>,
) -> Result<(StatusCode, Json<RunReport>), ApiError> {
    state.gate.authorize(&principal, Action::ControlAnalytics, Resource::PolicySet).await?;
    let keys = Arc::clone(&state.gateway);
    let report = super::run(&state.db, &state.gate, &keys, window, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// `true` stops new proposals and decisions on pending ones; `false` resumes.
    stopped: bool,
    reason: String,
}

/// The stop switch (AI Act Art. 14(4)(e)).
#[utoipa::path(post, path = "/api/v1/analytics/stop", tag = "analytics", operation_id = "set_analytics_stop",
    request_body = StopBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Set"),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "No reason", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn set_analytics_stop(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<StopBody>,
) -> Result<StatusCode, ApiError> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::invalid_field("reason", "say why, for the audit log"));
    }
    let decision = state.gate.authorize(&principal, Action::ControlAnalytics, Resource::PolicySet).await?;
    let mut tx = state.db.begin().await?;
    review::set_stopped(
        &mut tx,
        body.stopped,
        &body.reason,
        &Actor::from(&principal),
        decision.reasons,
        state.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Oversight: approval and override rates per model version and mentor, and drift.
#[utoipa::path(get, path = "/api/v1/analytics/oversight", tag = "analytics", operation_id = "get_analytics_oversight",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures", body = Oversight),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_analytics_oversight(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Oversight>, ApiError> {
    state.gate.authorize(&principal, Action::ReadAudit, Resource::AuditLog).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(review::oversight(&mut connection).await?))
}

/// My mentees' proposals, in invitation order.
#[utoipa::path(get, path = "/api/v1/proposals", tag = "analytics", operation_id = "list_proposals",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Proposals assigned to me", body = [Proposal]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_proposals(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Proposal>>, ApiError> {
    super::expire(&state.db, state.clock.now()).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(review::of_mentor(&mut connection, &principal.id).await?))
}

/// Open a proposal: its explanation first.
///
/// Opening is required before deciding, and is logged as a view of the student's
/// indicators (the student sees it among their disclosures).
#[utoipa::path(get, path = "/api/v1/proposals/{id}", tag = "analytics", operation_id = "get_proposal",
    params(("id" = String, Path, description = "Proposal id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The proposal", body = Proposal),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not this student's mentor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such proposal", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_proposal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Proposal>, ApiError> {
    let id = proposal_id(&id)?;
    state.gate.authorize(&principal, Action::ViewProposal, Resource::Proposal(id.to_string())).await?;
    let mut tx = state.db.begin().await?;
    let proposal = review::open(&mut tx, id, &Actor::from(&principal), state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(proposal))
}

/// Decide a proposal: approve, reject or amend (with a rationale for the last two).
#[utoipa::path(post, path = "/api/v1/proposals/{id}/decision", tag = "analytics", operation_id = "decide_proposal",
    params(("id" = String, Path, description = "Proposal id")),
    request_body = DecisionBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decided proposal", body = Proposal),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not this student's mentor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such proposal", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not opened yet, decided already, expired, or analytics is stopped", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid decision", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn decide_proposal(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<DecisionBody>,
) -> Result<Json<Proposal>, ApiError> {
    let id = proposal_id(&id)?;
    body.validate()?;
    let decision = state.gate.authorize(&principal, Action::DecideProposal, Resource::Proposal(id.to_string())).await?;
    let mut tx = state.db.begin().await?;
    let decided =
        review::decide(&mut tx, id, &body, &Actor::from(&principal), decision.reasons, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Json(decided))
}

/// My interventions: only what a mentor approved (or amended), with why.
#[utoipa::path(get, path = "/api/v1/me/interventions", tag = "analytics", operation_id = "list_my_interventions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Approved interventions", body = [Intervention]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_my_interventions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<Intervention>>, ApiError> {
    let (subject, _) = crate::rights::signed_in_student(&state, &principal, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(review::interventions(&mut connection, subject).await?))
}

/// Decline an intervention.
#[utoipa::path(post, path = "/api/v1/me/interventions/{id}/decline", tag = "analytics", operation_id = "decline_intervention",
    params(("id" = String, Path, description = "Intervention id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Declined"),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such intervention of mine", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn decline_intervention(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = proposal_id(&id)?;
    let (subject, reasons) = crate::rights::signed_in_student(&state, &principal, Action::ViewOwnData).await?;
    let mut tx = state.db.begin().await?;
    review::decline(&mut tx, subject, id, &Actor::from(&principal), reasons, state.clock.now()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
