//! The xAPI statements resource that an LMS points at.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{IngestError, ingest_statements, sources};
use crate::problem::{ApiError, AppQuery, ProblemDetails, ProblemType, parse_json};
use crate::server::AppState;

const VERSION_HEADER: &str = "x-experience-api-version";
const VERSION: &str = "1.0.3";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_statements, put_statement, get_statements))
        .routes(routes!(get_about))
        .routes(routes!(upload_oneroster))
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
    let (source, body) = authenticated_body(&state, &headers, &body).await?;
    let report = ingest_statements(&state.db, &state.ingest, &source, &body).await?;
    let ids: Vec<Uuid> = report.ids;
    let mut response = Json(ids).into_response();
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
    Ok(response)
}

/// The registered source a request comes from: by HTTP Basic credentials, or by a bearer
/// token whose client is a registered source.
pub(super) async fn source_of(state: &AppState, headers: &HeaderMap) -> Result<sources::Source, ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let mut connection = state.db.pool().acquire().await?;
    match authorization.and_then(|value| value.strip_prefix("Bearer ")) {
        Some(token) => {
            let principal = state.verifier.verify(token.trim()).await?;
            if principal.kind != crate::auth::PrincipalKind::Client {
                return Err(IngestError::Unauthenticated.into());
            }
            sources::find(&mut connection, &principal.id).await.map_err(|error| match error {
                IngestError::UnknownSource(_) => IngestError::Unauthenticated.into(),
                other => other.into(),
            })
        }
        None => Ok(sources::authenticate(&mut connection, authorization).await?),
    }
}

/// The source a request comes from, its version header checked, and its JSON body.
async fn authenticated_body(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(sources::Source, Value), ApiError> {
    let source = source_of(state, headers).await?;
    state.ingest.admit(&source.id)?;
    state.gate.authorize_ingest(&source.id, &source.kinds, "xapi").await?;
    let version = headers.get(VERSION_HEADER).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !(version.starts_with("1.0.") || version == "2.0.0") {
        return Err(IngestError::Version.into());
    }
    Ok((source, parse_json(body)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatementIdParam {
    /// The id the statement is stored under.
    statement_id: Uuid,
}

/// Store one statement under a given id.
///
/// xAPI 1.0.3 §2.1.1 PUT: the body's `id`, if any, must equal `statementId`. Stored once;
/// the same content again is accepted, other content under the id is 409.
#[utoipa::path(put, path = "/xapi/statements", tag = "ingest", operation_id = "put_xapi_statement",
    params(StatementIdParam, ("X-Experience-API-Version" = String, Header, description = "1.0.3 (or 1.0.x, 2.0.0)")),
    request_body(content = Object, description = "One statement"),
    security(("basic" = [])),
    responses(
        (status = 204, description = "Stored (or stored before with the same content)"),
        (status = 400, description = "The statement breaks an xAPI rule, or its id differs from statementId", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is stored with other content", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Missing statementId, or special-category data no purpose may read", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn put_statement(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<StatementIdParam>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (source, mut body) = authenticated_body(&state, &headers, &body).await?;
    let Some(statement) = body.as_object_mut() else { return Err(IngestError::NotStatements.into()) };
    match statement.get("id").and_then(Value::as_str) {
        Some(id) if Uuid::parse_str(id).ok() != Some(params.statement_id) => {
            return Err(ApiError::new(ProblemType::MalformedBody, "the statement's id differs from statementId"));
        }
        _ => {
            statement.insert("id".to_owned(), Value::String(params.statement_id.to_string()));
        }
    }
    ingest_statements(&state.db, &state.ingest, &source, &body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
    Ok(response)
}

/// Filters of `GET /xapi/statements` (xAPI 1.0.3 §2.1.3).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    statement_id: Option<Uuid>,
    voided_statement_id: Option<Uuid>,
    /// An Agent, as JSON.
    agent: Option<String>,
    verb: Option<String>,
    activity: Option<String>,
    registration: Option<Uuid>,
    /// `exact`, `ids` or `canonical`; statements come back as stored in each case.
    format: Option<String>,
    /// Attachments are not stored, so statements come back without them either way.
    attachments: Option<bool>,
    /// Not supported: only `false`.
    #[serde(rename = "related_activities")]
    related_activities: Option<bool>,
    /// Not supported: only `false`.
    #[serde(rename = "related_agents")]
    related_agents: Option<bool>,
    since: Option<String>,
    until: Option<String>,
    /// At most this many (1 to 500; default 100).
    limit: Option<i64>,
    ascending: Option<bool>,
    /// Where the previous page ended (from `more`).
    cursor: Option<Uuid>,
}

/// Read statements back.
///
/// Only the requesting source's own statements, as stored: in minimise mode with only the
/// fields kept. A single statement by `statementId` (or a voided one by
/// `voidedStatementId`), or a filtered page with a `more` link.
#[utoipa::path(get, path = "/xapi/statements", tag = "ingest", operation_id = "get_xapi_statements",
    params(StatementQuery, ("X-Experience-API-Version" = String, Header, description = "1.0.3 (or 1.0.x, 2.0.0)")),
    security(("basic" = [])),
    responses(
        (status = 200, description = "A statement, or a StatementResult with `statements` and `more`"),
        (status = 400, description = "Malformed filters", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such statement of this source", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An unknown or malformed parameter", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_statements(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<StatementQuery>,
) -> Result<Response, ApiError> {
    let (source, _) = authenticated_body(&state, &headers, b"null").await?;
    let bad = |text: &str| ApiError::from(IngestError::BadParameter(text.to_owned()));
    if params.format.as_deref().is_some_and(|format| !["exact", "ids", "canonical"].contains(&format)) {
        return Err(bad("format must be exact, ids or canonical"));
    }
    if params.related_activities == Some(true) || params.related_agents == Some(true) {
        return Err(bad("related_activities and related_agents are not supported"));
    }
    // Attachments are never stored, so `attachments=true` has nothing to add.
    let _ = params.attachments;
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(bad("limit must be between 1 and 500"));
    }
    let time = |text: &Option<String>| -> Result<Option<String>, ApiError> {
        text.as_deref()
            .map(|text| {
                crate::timestamp::Timestamp::parse(text)
                    .map(|at| at.to_storage())
                    .map_err(|_| bad("since and until are ISO 8601 date-times"))
            })
            .transpose()
    };
    let mut connection = state.db.pool().acquire().await?;
    let subject = match &params.agent {
        Some(text) => {
            let identifier = super::xapi::agent_parameter(text).map_err(|invalid| bad(&invalid.to_string()))?;
            let (scheme, value) = super::store::identifier(&identifier);
            match crate::directory::subject_by_identifier(&mut connection, scheme, &value).await? {
                Some(subject) => Some(subject),
                None => return Ok(with_version(Json(json!({ "statements": [], "more": "" })).into_response())),
            }
        }
        None => None,
    };
    let query = super::statements::Query {
        statement_id: params.statement_id,
        voided_statement_id: params.voided_statement_id,
        subject,
        registration: params.registration,
        verb: params.verb.clone(),
        activity: params.activity.clone(),
        since: time(&params.since)?,
        until: time(&params.until)?,
        limit,
        ascending: params.ascending.unwrap_or(false),
        after: params.cursor,
    };
    let page = super::statements::read(&mut connection, &source.id, &query).await?;
    if params.statement_id.is_some() || params.voided_statement_id.is_some() {
        let statement = page
            .statements
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found("no such statement of this source"))?;
        return Ok(with_version(Json(statement).into_response()));
    }
    let more = page
        .next
        .map(|next| format!("/xapi/statements?limit={limit}&ascending={}&cursor={next}", query.ascending))
        .unwrap_or_default();
    Ok(with_version(Json(json!({ "statements": page.statements, "more": more })).into_response()))
}

fn with_version(mut response: Response) -> Response {
    response.headers_mut().insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
    response
}

/// What a OneRoster upload did.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneRosterUpload {
    students: usize,
    courses: usize,
    enrolments: usize,
    grades: usize,
    already_stored: usize,
    dropped: usize,
}

/// OneRoster files that are read; other parts of the upload are ignored.
const ONEROSTER_FILES: [&str; 7] =
    ["manifest.csv", "users.csv", "courses.csv", "classes.csv", "enrollments.csv", "lineItems.csv", "results.csv"];

/// Upload a OneRoster 1.1 CSV export.
///
/// `multipart/form-data` with one part per file, named by its file name (`users.csv`,
/// `courses.csv`, `classes.csv`, `enrollments.csv`, `lineItems.csv`, `results.csv`), from a
/// source registered for enrolments or grades. All or nothing; uploading the same export
/// again changes nothing; errors name file and line.
#[utoipa::path(post, path = "/api/v1/ingest/oneroster", tag = "ingest", operation_id = "upload_oneroster",
    request_body(content = String, description = "One part per CSV file", content_type = "multipart/form-data"),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "What the import did", body = OneRosterUpload),
        (status = 400, description = "Not a multipart upload", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong source credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The source may not deliver enrolments", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Errors by file and line; nothing imported", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn upload_oneroster(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut multipart: axum::extract::Multipart,
) -> Result<Json<OneRosterUpload>, ApiError> {
    let source = source_of(&state, &headers).await?;
    state.ingest.admit(&source.id)?;
    state.gate.authorize_ingest(&source.id, &source.kinds, "enrolment").await?;
    let folder = tempfile::tempdir().map_err(ApiError::internal)?;
    let malformed =
        |error: axum::extract::multipart::MultipartError| ApiError::new(ProblemType::MalformedBody, error.body_text());
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.file_name().or(field.name()).unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(malformed)?;
        if ONEROSTER_FILES.contains(&name.as_str()) {
            std::fs::write(folder.path().join(&name), &bytes).map_err(ApiError::internal)?;
        }
    }
    let report = super::import_oneroster(&state.db, &source.id, folder.path()).await?;
    Ok(Json(OneRosterUpload {
        students: report.students,
        courses: report.courses,
        enrolments: report.enrolments,
        grades: report.grades,
        already_stored: report.already_stored,
        dropped: report.dropped,
    }))
}
