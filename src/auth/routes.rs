//! `GET /api/v1/me` and the demo issuer's key set.

use axum::Json;
use axum::extract::State;
use jsonwebtoken::jwk::JwkSet;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Principal, PrincipalKind, Role};
use crate::problem::{ApiError, ProblemDetails};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me)).routes(routes!(get_jwks))
}

/// The caller as Consentry sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The token's subject: a person's login id or a client's id.
    id: String,
    kind: PrincipalKind,
    roles: Vec<Role>,
}

/// Who am I?
///
/// The identity and roles Consentry took from the caller's bearer token.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Missing or invalid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn get_me(principal: Principal) -> Json<MeResponse> {
    Json(MeResponse { id: principal.id, kind: principal.kind, roles: principal.roles.into_iter().collect() })
}

/// The demo token issuer's public keys.
///
/// Only a demo server (`consentry serve --demo`) issues tokens itself; elsewhere this is 404.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    operation_id = "get_jwks",
    responses(
        (status = 200, description = "JSON Web Key Set (RFC 7517)", body = Object),
        (status = 404, description = "Not a demo server", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn get_jwks(State(state): State<AppState>) -> Result<Json<JwkSet>, ApiError> {
    let demo = state
        .demo
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this server is not a demo server and issues no tokens"))?;
    Ok(Json(demo.issuer.jwks()))
}
