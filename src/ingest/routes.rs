//! The xAPI statements resource that an LMS points at.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{IngestError, ingest_statements, sources};
use crate::problem::{ApiError, ProblemDetails, parse_json};
use crate::server::AppState;

const VERSION_HEADER: &str = "x-experience-api-version";
const VERSION: &str = "1.0.3";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_statements)).routes(routes!(get_about))
}

/// What this LRS speaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct About {
    version: Vec<&'static str>,
}

/// xAPI versions supported (xAPI 1.0.3 §7.7).
#[utoipa::path(get, path = "/xapi/about", tag = "ingest", operation_id = "get_xapi_about",
    responses((status = 200, description = "Supported versions", body = About)))]
async fn get_about() -> Response {
    let mut response = Json(About { version: vec![VERSION, "2.0.0"] }).into_response();
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
    response
}

/// Store statements.
///
/// One statement or an array, from a registered source (HTTP Basic). Validated by the
/// xAPI 1.0.3 rules, mapped to students, minimised to what registered purposes read, and
/// stored all or nothing. Returns the statement ids.
#[utoipa::path(post, path = "/xapi/statements", tag = "ingest", operation_id = "post_xapi_statements",
    params(("X-Experience-API-Version" = String, Header, description = "1.0.3 (or 1.0.x, 2.0.0)")),
    request_body(content = Object, description = "A statement or an array of statements"),
    security(("basic" = [])),
    responses(
        (status = 200, description = "The ids of the statements, in order", body = [String]),
        (status = 400, description = "A statement breaks an xAPI rule; `errors` names statement and property", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The source is suspended or may not deliver statements", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A statement id is stored with other content", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Too many statements or too large a body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Special-category data no purpose may read", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn post_statements(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let mut connection = state.db.pool().acquire().await?;
    let source = sources::authenticate(&mut connection, authorization).await?;
    drop(connection);
    let version = headers.get(VERSION_HEADER).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !(version.starts_with("1.0.") || version == "2.0.0") {
        return Err(IngestError::Version.into());
    }
    let body: serde_json::Value = parse_json(&body)?;
    let report = ingest_statements(&state.db, &state.ingest, &source, &body).await?;
    let ids: Vec<Uuid> = report.ids;
    let mut response = Json(ids).into_response();
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
    Ok(response)
}
