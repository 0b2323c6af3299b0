//! The source registry over HTTP: register, list, rotate secrets, suspend.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sources::{self, IssuedSecret, SourceView};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppJson, ProblemDetails};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sources, create_source))
        .routes(routes!(rotate_source_secret))
        .routes(routes!(change_source_status))
        .routes(routes!(get_dropped_fields))
}

/// A source to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSourceBody {
    /// Lowercase letters, digits and dashes; the HTTP Basic user name.
    id: String,
    name: String,
    /// Record kinds it may deliver: `xapi`, `enrolment`, `grade`, `survey`.
    kinds: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceStatusBody {
    /// `active` or `suspended`.
    status: String,
}

fn validate(body: &NewSourceBody) -> Result<(), super::IngestError> {
    sources::check_new(&body.id, &body.name, &body.kinds)
}

/// The registered sources.
#[utoipa::path(get, path = "/api/v1/sources", tag = "ingest", operation_id = "list_sources",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every source, without secrets", body = [SourceView]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_sources(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<SourceView>>, ApiError> {
    // Listing concerns the registry as a whole, which `Source::"*"` stands for.
    state.gate.authorize(&principal, Action::ManageSources, Resource::Source("*".to_owned())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(sources::list(&mut connection).await?))
}

/// Register a source.
///
/// Returns its secret once; Consentry keeps only a hash of it.
#[utoipa::path(post, path = "/api/v1/sources", tag = "ingest", operation_id = "create_source",
    request_body = NewSourceBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The source and its secret, shown once", body = IssuedSecret),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id, name or kinds", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn create_source(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<NewSourceBody>,
) -> Result<(StatusCode, Json<IssuedSecret>), ApiError> {
    validate(&body)?;
    let decision = state.gate.authorize(&principal, Action::ManageSources, Resource::Source(body.id.clone())).await?;
    let kinds: Vec<&str> = body.kinds.iter().map(String::as_str).collect();
    let mut tx = state.db.begin().await?;
    let issued =
        sources::create(&mut tx, &body.id, &body.name, &kinds, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Rotate a source's secret.
///
/// The old secret stops working at once; the new one is shown once.
#[utoipa::path(post, path = "/api/v1/sources/{id}/rotate", tag = "ingest", operation_id = "rotate_source_secret",
    params(("id" = String, Path, description = "Source id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret, shown once", body = IssuedSecret),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn rotate_source_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<IssuedSecret>, ApiError> {
    let decision = state.gate.authorize(&principal, Action::ManageSources, Resource::Source(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let issued = sources::rotate(&mut tx, &id, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(issued))
}

/// Suspend or reactivate a source.
#[utoipa::path(post, path = "/api/v1/sources/{id}/status", tag = "ingest", operation_id = "change_source_status",
    params(("id" = String, Path, description = "Source id")),
    request_body = SourceStatusBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The source in its new status", body = SourceView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn change_source_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<SourceStatusBody>,
) -> Result<Json<SourceView>, ApiError> {
    let decision = state.gate.authorize(&principal, Action::ManageSources, Resource::Source(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let source = sources::set_status(&mut tx, &id, &body.status, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(source))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DroppedParams {
    /// Batches at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<crate::timestamp::Timestamp>,
    /// Batches before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<crate::timestamp::Timestamp>,
}

/// What minimisation dropped.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct DroppedReport {
    /// Batches looked at.
    batches: u64,
    /// Statements stored in them.
    stored: u64,
    /// Fields no purpose reads, by how often they were dropped.
    dropped: std::collections::BTreeMap<String, u64>,
}

/// The minimisation report.
///
/// For privacy officers and the DPO: which fields the sources sent that no purpose reads,
/// and how often they were dropped at the door, over a period (from the ingest audit events).
#[utoipa::path(get, path = "/api/v1/ingest/dropped", tag = "ingest", operation_id = "get_dropped_fields",
    params(DroppedParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Dropped fields with counts", body = DroppedReport),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid parameter", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_dropped_fields(
    State(state): State<AppState>,
    principal: Principal,
    crate::problem::AppQuery(params): crate::problem::AppQuery<DroppedParams>,
) -> Result<Json<DroppedReport>, ApiError> {
    state.gate.authorize(&principal, Action::ReadAudit, Resource::AuditLog).await?;
    let filter = crate::audit::EventFilter {
        from: params.from,
        until: params.until,
        action: Some("ingest.xapi".to_owned()),
        ..crate::audit::EventFilter::default()
    };
    let mut report = DroppedReport { batches: 0, stored: 0, dropped: std::collections::BTreeMap::new() };
    let mut after = 0;
    loop {
        let events = crate::audit::list_events(state.db.pool(), &filter, after, 1000).await?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        for event in events {
            report.batches += 1;
            report.stored += event.details["stored"].as_u64().unwrap_or(0);
            if let Some(fields) = event.details["dropped"].as_object() {
                for (field, count) in fields {
                    *report.dropped.entry(field.clone()).or_default() += count.as_u64().unwrap_or(0);
                }
            }
        }
    }
    Ok(Json(report))
}
