//! The client registry over HTTP: register, list, change purposes, suspend, rotate.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ClientError, ClientView, IssuedCredentials, NewClient, purpose_ids};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppJson, ProblemDetails};

use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client))
        .routes(routes!(set_client_purposes))
        .routes(routes!(change_client_status))
        .routes(routes!(rotate_client_credentials))
}

/// An analytics tool to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientBody {
    /// Lowercase letters, digits and dashes; the HTTP Basic user name.
    id: String,
    name: String,
    organisation: String,
    /// Who answers for the tool.
    contact: String,
    /// The `sub` of the tool's bearer tokens at the institution's issuer; the id when absent.
    #[serde(default)]
    token_subject: Option<String>,
    /// The purposes it may read for.
    #[schema(value_type = Vec<String>)]
    purposes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPurposesBody {
    #[schema(value_type = Vec<String>)]
    purposes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientStatusBody {
    /// `active` or `suspended`.
    status: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateClientBody {
    /// A new token subject, when the tool was registered anew at the identity provider.
    #[serde(default)]
    token_subject: Option<String>,
}

fn new_client(body: NewClientBody) -> Result<NewClient, ClientError> {
    super::new_client(body.id, body.name, body.organisation, body.contact, body.token_subject, &body.purposes)
}

/// The registered clients.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", operation_id = "list_clients",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every client with its purposes, without secrets", body = [ClientView]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_clients(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<ClientView>>, ApiError> {
    // Listing concerns the registry as a whole, which `Client::"*"` stands for.
    state.gate.authorize(&principal, Action::ManageClients, Resource::Client("*".to_owned())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(super::list(&mut connection).await?))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", operation_id = "get_client",
    params(("id" = String, Path, description = "Client id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client with its purposes", body = ClientView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_client(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    state.gate.authorize(&principal, Action::ManageClients, Resource::Client(id.clone())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(super::get(&mut connection, &id).await?))
}

/// Register an analytics tool.
///
/// Returns its secret once (for HTTP Basic, when the tool has no bearer tokens); Consentry
/// keeps only a hash of it.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", operation_id = "create_client",
    request_body = NewClientBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The client and its secret, shown once", body = IssuedCredentials),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id or token subject is taken", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid field or an unknown purpose", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn create_client(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<NewClientBody>,
) -> Result<(StatusCode, Json<IssuedCredentials>), ApiError> {
    let client = new_client(body)?;
    let decision = state.gate.authorize(&principal, Action::ManageClients, Resource::Client(client.id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let issued = super::register(&mut tx, &client, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Change the purposes a client may read for.
#[utoipa::path(put, path = "/api/v1/clients/{id}/purposes", tag = "clients", operation_id = "set_client_purposes",
    params(("id" = String, Path, description = "Client id")),
    request_body = ClientPurposesBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client with its new purposes", body = ClientView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An unknown purpose", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn set_client_purposes(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<ClientPurposesBody>,
) -> Result<Json<ClientView>, ApiError> {
    let mut errors = Vec::new();
    let purposes = purpose_ids(&body.purposes, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let decision = state.gate.authorize(&principal, Action::ManageClients, Resource::Client(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let client = super::set_purposes(&mut tx, &id, &purposes, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(client))
}

/// Suspend or reactivate a client.
///
/// A suspended client reads nothing, whichever purposes it is registered for.
#[utoipa::path(post, path = "/api/v1/clients/{id}/status", tag = "clients", operation_id = "change_client_status",
    params(("id" = String, Path, description = "Client id")),
    request_body = ClientStatusBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client in its new status", body = ClientView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn change_client_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<ClientStatusBody>,
) -> Result<Json<ClientView>, ApiError> {
    let decision = state.gate.authorize(&principal, Action::ManageClients, Resource::Client(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let client = super::set_status(&mut tx, &id, &body.status, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(client))
}

/// Rotate a client's credentials.
///
/// Issues a new secret (the old one stops working at once) and, when given, moves the
/// client to a new token subject. Send `{}` to keep the token subject.
#[utoipa::path(post, path = "/api/v1/clients/{id}/rotate", tag = "clients", operation_id = "rotate_client_credentials",
    params(("id" = String, Path, description = "Client id")),
    request_body = RotateClientBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret, shown once", body = IssuedCredentials),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The token subject belongs to another client", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn rotate_client_credentials(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<RotateClientBody>,
) -> Result<Json<IssuedCredentials>, ApiError> {
    if body.token_subject.as_deref().is_some_and(|subject| subject.trim().is_empty()) {
        return Err(ApiError::invalid_field("token_subject", "must not be empty when given"));
    }
    let decision = state.gate.authorize(&principal, Action::ManageClients, Resource::Client(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let issued =
        super::rotate(&mut tx, &id, body.token_subject.as_deref(), &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(issued))
}
