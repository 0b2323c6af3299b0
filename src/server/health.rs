//! Liveness, readiness and metrics, for load balancers and monitoring.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::problem::{ApiError, ProblemDetails};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_health)).routes(routes!(get_readiness)).routes(routes!(get_metrics))
}

/// Is the process up?
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "get_health",
    responses((status = 200, description = "The process is running", body = String, content_type = "text/plain")))]
async fn get_health() -> &'static str {
    "ok"
}

/// Can the server take traffic?
///
/// Ready when the database answers and its schema is at the version this binary needs.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "get_readiness",
    responses(
        (status = 200, description = "Database reachable and migrated", body = String, content_type = "text/plain"),
        (status = 503, description = "Database unreachable or not migrated", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_readiness(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.db.ready().await?;
    Ok("ready")
}

/// Metrics in Prometheus text format.
///
/// Requests by route and status, request latency, and database pool usage.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "get_metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4")))]
async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (open, idle) = state.db.pool_usage();
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
