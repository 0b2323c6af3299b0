//! The purpose register over HTTP.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Purpose, PurposeDefinition, PurposeError, PurposeId, PurposeStatus, store};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppJson, ProblemDetails};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_purposes, create_purpose))
        .routes(routes!(get_purpose, update_purpose))
        .routes(routes!(create_purpose_version))
        .routes(routes!(change_purpose_status))
}

/// A new purpose.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePurpose {
    id: PurposeId,
    definition: PurposeDefinition,
}

/// A lifecycle step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    status: PurposeStatus,
}

/// The processing register.
///
/// Every purpose at its current version, with its legal basis and what it reads.
#[utoipa::path(get, path = "/api/v1/purposes", tag = "purposes", operation_id = "list_purposes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All purposes", body = [Purpose]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_purposes(State(state): State<AppState>, _caller: Principal) -> Result<Json<Vec<Purpose>>, ApiError> {
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(store::list(&mut connection).await?))
}

/// One purpose.
#[utoipa::path(get, path = "/api/v1/purposes/{id}", tag = "purposes", operation_id = "get_purpose",
    params(("id" = String, Path, description = "Purpose id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The purpose at its current version", body = Purpose),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_purpose(
    State(state): State<AppState>,
    _caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<Purpose>, ApiError> {
    let id = PurposeId::from_path(&id)?;
    let mut connection = state.db.pool().acquire().await?;
    let purpose = store::get(&mut connection, &id).await?.ok_or(PurposeError::NotFound(id.to_string()))?;
    Ok(Json(purpose))
}

/// Register a purpose.
///
/// Privacy officers only. The purpose starts as a draft at version 1.
#[utoipa::path(post, path = "/api/v1/purposes", tag = "purposes", operation_id = "create_purpose",
    request_body = CreatePurpose,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new draft purpose", body = Purpose),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid definition; `errors` names each field", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn create_purpose(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(request): AppJson<CreatePurpose>,
) -> Result<(StatusCode, Json<Purpose>), ApiError> {
    let errors = request.definition.validate(&state.catalogue);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let decision =
        state.gate.authorize(&principal, Action::ManagePurpose, Resource::Purpose(request.id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let purpose =
        store::insert(&mut tx, &request.id, &request.definition, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(purpose)))
}

/// Edit a draft purpose.
///
/// Only drafts change in place; an active or suspended purpose gets a new version instead.
#[utoipa::path(put, path = "/api/v1/purposes/{id}", tag = "purposes", operation_id = "update_purpose",
    params(("id" = String, Path, description = "Purpose id")),
    request_body = PurposeDefinition,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The edited draft", body = Purpose),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The purpose is retired", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid definition, or the purpose is not a draft", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn update_purpose(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(definition): AppJson<PurposeDefinition>,
) -> Result<Json<Purpose>, ApiError> {
    change(state, principal, &id, definition, true).await.map(Json)
}

/// Publish a new version of a purpose.
///
/// A version that reads more (fields, categories, retention, finer granularity) needs
/// fresh consent where the purpose rests on consent; a narrower one keeps it.
#[utoipa::path(post, path = "/api/v1/purposes/{id}/versions", tag = "purposes", operation_id = "create_purpose_version",
    params(("id" = String, Path, description = "Purpose id")),
    request_body = PurposeDefinition,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The purpose at its new version", body = Purpose),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The purpose is retired", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid definition", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn create_purpose_version(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(definition): AppJson<PurposeDefinition>,
) -> Result<(StatusCode, Json<Purpose>), ApiError> {
    change(state, principal, &id, definition, false).await.map(|purpose| (StatusCode::CREATED, Json(purpose)))
}

async fn change(
    state: AppState,
    principal: Principal,
    id: &str,
    definition: PurposeDefinition,
    in_place: bool,
) -> Result<Purpose, ApiError> {
    let id = PurposeId::from_path(id)?;
    let errors = definition.validate(&state.catalogue);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let decision = state.gate.authorize(&principal, Action::ManagePurpose, Resource::Purpose(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let purpose =
        store::update(&mut tx, &id, &definition, in_place, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(purpose)
}

/// Move a purpose along its lifecycle.
///
/// `draft` → `active` → `suspended` ⇄ `active`; `active` or `suspended` → `retired`.
#[utoipa::path(post, path = "/api/v1/purposes/{id}/status", tag = "purposes", operation_id = "change_purpose_status",
    params(("id" = String, Path, description = "Purpose id")),
    request_body = StatusChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The purpose in its new status", body = Purpose),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not a step the lifecycle allows", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn change_purpose_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(change): AppJson<StatusChange>,
) -> Result<Json<Purpose>, ApiError> {
    let id = PurposeId::from_path(&id)?;
    let decision = state.gate.authorize(&principal, Action::ManagePurpose, Resource::Purpose(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let purpose = store::set_status(&mut tx, &id, change.status, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(purpose))
}
