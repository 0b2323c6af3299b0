//! The policies over HTTP: read, draft, simulate, replay, activate, roll back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::editing::{self, Outcome, PolicyDiff, Replay, SetView, SimulatedRequest};
use super::store::{self, PolicyFile, StoredSet};
use super::{Action, Resource};
use crate::auth::Principal;
use crate::problem::{ApiError, AppJson, ProblemDetails};
use crate::server::AppState;
use crate::timestamp::Timestamp;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_active_policies))
        .routes(routes!(list_policy_versions))
        .routes(routes!(create_policy_draft))
        .routes(routes!(simulate_policies))
        .routes(routes!(replay_policy_draft))
        .routes(routes!(activate_policy_draft))
        .routes(routes!(rollback_policies))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    /// Every policy file of the set, in full.
    files: Vec<PolicyFile>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateBody {
    /// The set to try; the active one when absent (0 is the set from files).
    #[serde(default)]
    version: Option<i64>,
    requests: Vec<SimulatedRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    from: Option<Timestamp>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    /// Activate a set without the shipped forbid policies anyway, for this reason.
    #[serde(default)]
    override_forbid_guarantees: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The version to make active again; 0 returns to the set from files.
    version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Activation {
    version: i64,
    diff: PolicyDiff,
}

async fn active_version(state: &AppState) -> Result<i64, ApiError> {
    let mut connection = state.db.pool().acquire().await?;
    Ok(store::active(&mut connection).await?.map_or(0, |set| set.version))
}

/// The active policies.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", operation_id = "get_active_policies",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The active set: files, schema, policy ids", body = SetView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_active_policies(State(state): State<AppState>, principal: Principal) -> Result<Json<SetView>, ApiError> {
    state.gate.authorize(&principal, Action::EditPolicy, Resource::PolicySet).await?;
    let version = active_version(&state).await?;
    Ok(Json(editing::view(version, &state.gate.engine())))
}

/// Every stored policy set: drafts, the active one, and those before it.
#[utoipa::path(get, path = "/api/v1/policies/versions", tag = "policies", operation_id = "list_policy_versions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored sets by version; version 0, the files, is implied", body = [StoredSet]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_policy_versions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<StoredSet>>, ApiError> {
    state.gate.authorize(&principal, Action::EditPolicy, Resource::PolicySet).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(store::list(&mut connection).await?))
}

/// Submit a draft policy set.
///
/// The full text of every file; validated against the schema in strict mode. Each problem
/// names its file, line and column. Nothing invalid is stored.
#[utoipa::path(post, path = "/api/v1/policies/drafts", tag = "policies", operation_id = "create_policy_draft",
    request_body = DraftBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The stored draft", body = StoredSet),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The set is too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid policies; `errors` names file, line and column", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn create_policy_draft(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<DraftBody>,
) -> Result<(StatusCode, Json<StoredSet>), ApiError> {
    editing::check_files(&body.files)?;
    state.gate.authorize(&principal, Action::EditPolicy, Resource::PolicySet).await?;
    let draft = editing::save_draft(&state.gate, &state.db, &body.files, &principal.id).await?;
    Ok((StatusCode::CREATED, Json(draft)))
}

/// Simulate requests against a set.
///
/// The decision and the determining policies for each request, with today's entities.
#[utoipa::path(post, path = "/api/v1/policies/simulate", tag = "policies", operation_id = "simulate_policies",
    request_body = SimulateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One outcome per request, in order", body = [Outcome]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown action or resource", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn simulate_policies(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<SimulateBody>,
) -> Result<Json<Vec<Outcome>>, ApiError> {
    state.gate.authorize(&principal, Action::EditPolicy, Resource::PolicySet).await?;
    let engine = match body.version {
        Some(version) => editing::engine_of(&state.gate, &state.db, version).await?.0,
        None => state.gate.engine(),
    };
    let mut outcomes = Vec::new();
    for request in &body.requests {
        outcomes.push(editing::simulate(&state.gate, &engine, request).await?);
    }
    Ok(Json(outcomes))
}

/// Replay a draft against recorded decisions.
///
/// Evaluates the draft on every access decision the audit log holds for the period and
/// lists each one it would decide differently: what a change does, before it goes live.
#[utoipa::path(post, path = "/api/v1/policies/drafts/{version}/replay", tag = "policies", operation_id = "replay_policy_draft",
    params(("version" = i64, Path, description = "Draft version")),
    request_body = ReplayBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decisions the draft changes", body = Replay),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn replay_policy_draft(
    State(state): State<AppState>,
    principal: Principal,
    Path(version): Path<i64>,
    AppJson(body): AppJson<ReplayBody>,
) -> Result<Json<Replay>, ApiError> {
    state.gate.authorize(&principal, Action::EditPolicy, Resource::PolicySet).await?;
    let (engine, _) = editing::engine_of(&state.gate, &state.db, version).await?;
    Ok(Json(editing::replay(&state.gate, &state.db, &engine, body.from, body.until).await?))
}

/// Activate a draft.
///
/// The next request is decided by it. Refused when the set drops the shipped forbid
/// guarantees, unless a reason to override them is given; audited with the diff.
#[utoipa::path(post, path = "/api/v1/policies/drafts/{version}/activate", tag = "policies", operation_id = "activate_policy_draft",
    params(("version" = i64, Path, description = "Draft version")),
    request_body = ActivateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active, with what changed", body = Activation),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The set drops the forbid guarantees", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn activate_policy_draft(
    State(state): State<AppState>,
    principal: Principal,
    Path(version): Path<i64>,
    AppJson(body): AppJson<ActivateBody>,
) -> Result<Json<Activation>, ApiError> {
    let decision = state.gate.authorize(&principal, Action::ActivatePolicy, Resource::PolicySet).await?;
    let reason = body.override_forbid_guarantees.as_deref();
    let diff = editing::activate_draft(&state.gate, &state.db, version, &principal, reason, decision.reasons).await?;
    Ok(Json(Activation { version, diff }))
}

/// Roll back to an earlier set.
///
/// One call: the given version (0: the set from files) decides the next request.
#[utoipa::path(post, path = "/api/v1/policies/rollback", tag = "policies", operation_id = "rollback_policies",
    request_body = RollbackBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active again, with what changed", body = Activation),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The set drops the forbid guarantees", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn rollback_policies(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<RollbackBody>,
) -> Result<Json<Activation>, ApiError> {
    let decision = state.gate.authorize(&principal, Action::ActivatePolicy, Resource::PolicySet).await?;
    let diff = editing::roll_back(&state.gate, &state.db, body.version, &principal, decision.reasons).await?;
    Ok(Json(Activation { version: body.version, diff }))
}
