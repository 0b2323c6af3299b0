//! The demo login: tokens for the demo institution's people and clients.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use serde_json::json;

use crate::audit::{self, Actor, ActorKind, Decision, Event};
use crate::auth::{PrincipalKind, Role};
use crate::problem::{ApiError, AppJson, ProblemDetails};
use crate::server::AppState;

const DEFAULT_LIFETIME_SECONDS: u64 = 3600;
const MAX_LIFETIME_SECONDS: u64 = 24 * 3600;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_demo_token))
}

/// Whom to sign a demo token for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoTokenRequest {
    /// A demo person's or client's id, e.g. `s0001`, `mentor01`, `po1`, `demo-dashboard`.
    sub: String,
    /// Roles to put in the token instead of the person's own.
    #[serde(default)]
    roles: Option<Vec<Role>>,
    /// Lifetime in seconds, 60 to 86400; one hour when absent.
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A signed demo bearer token.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoTokenResponse {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    expires_in: u64,
    sub: String,
    kind: PrincipalKind,
    roles: Vec<Role>,
}

/// Sign in as a demo person or client.
///
/// Demo servers only (`consentry serve --demo`): returns a bearer token signed by the demo
/// issuer, as the institution's identity provider would. Elsewhere this is 404.
#[utoipa::path(
    post,
    path = "/api/v1/demo/tokens",
    tag = "demo",
    operation_id = "create_demo_token",
    request_body = DemoTokenRequest,
    responses(
        (status = 201, description = "A token for the demo principal", body = DemoTokenResponse),
        (status = 400, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a demo server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not sent as JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown principal, role or lifetime", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn create_demo_token(
    State(state): State<AppState>,
    AppJson(request): AppJson<DemoTokenRequest>,
) -> Result<(StatusCode, Json<DemoTokenResponse>), ApiError> {
    let demo = state
        .demo
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this server is not a demo server and issues no tokens"))?;
    let principal = demo.institution.principal(&request.sub).ok_or_else(|| {
        ApiError::invalid_field(
            "sub",
            format!("no demo person or client has the id `{}`; `consentry demo users` lists them", request.sub),
        )
    })?;
    let expires_in = request.expires_in.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    if !(60..=MAX_LIFETIME_SECONDS).contains(&expires_in) {
        return Err(ApiError::invalid_field(
            "expires_in",
            format!("must be between 60 and {MAX_LIFETIME_SECONDS} seconds"),
        ));
    }
    let roles = request.roles.unwrap_or(principal.roles);
    let access_token = demo
        .issuer
        .mint(&principal.id, principal.kind, &roles, Duration::from_secs(expires_in))
        .map_err(ApiError::internal)?;
    let actor = Actor { id: principal.id.clone(), kind: audit_kind(principal.kind), roles: roles.clone() };
    let event = Event::new(actor, "demo.token_issued", format!("Principal::{}", principal.id))
        .decided(Decision::Allow, vec!["demo-login".to_owned()])
        .details(json!({ "roles": roles, "expires_in": expires_in }));
    audit::record_alone(&state.db, event).await?;
    let response = DemoTokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        sub: principal.id,
        kind: principal.kind,
        roles,
    };
    Ok((StatusCode::CREATED, Json(response)))
}

fn audit_kind(kind: PrincipalKind) -> ActorKind {
    match kind {
        PrincipalKind::User => ActorKind::User,
        PrincipalKind::Client => ActorKind::Client,
    }
}
