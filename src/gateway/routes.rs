//! The gateway over HTTP: pages or NDJSON streams of records, and aggregates.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::aggregates::{AggregateRequest, AggregateResult, aggregate};
use super::read::{Filters, ReadRequest, Reader, page, prepare, stream};
use super::{GatewayError, GovernedRecord, Keys, RecordPage};
use crate::auth::Principal;
use crate::policy::Action;
use crate::problem::{ApiError, AppJson, AppQuery, FieldError, ProblemDetails};
use crate::purposes::{PurposeError, PurposeId};
use crate::records::RecordKind;
use crate::server::AppState;
use crate::timestamp::Timestamp;

const NDJSON: &str = "application/x-ndjson";
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_records))
        .routes(routes!(read_subject_records))
        .routes(routes!(read_aggregates))
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    /// A bearer token (clients and people), or HTTP Basic with a client's id and secret.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let basic = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .filter(|value| value.starts_with("Basic "))
            .map(str::to_owned);
        let principal = match basic {
            Some(authorization) => {
                let mut connection = state.db.pool().acquire().await?;
                crate::clients::authenticate(&mut connection, &authorization).await?
            }
            None => Principal::from_request_parts(parts, state).await?,
        };
        Ok(Reader::resolve(&state.db, principal).await?)
    }
}

/// Filters and paging of a records read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecordParams {
    /// `xapi`, `enrolment`, `grade` or `survey`.
    kind: Option<String>,
    /// Records that occurred at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<Timestamp>,
    /// Records that occurred before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
    /// A course id; needs a course field in the purpose.
    course: Option<String>,
    /// An activity IRI (`object.id`); needs `object.id` in the purpose.
    activity: Option<String>,
    /// A verb IRI; needs `verb.id` in the purpose.
    verb: Option<String>,
    /// Records per page, 1 to 1,000 (default 100); not with NDJSON.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; not with NDJSON.
    cursor: Option<String>,
}

impl RecordParams {
    fn filters(&self) -> Result<Filters, ApiError> {
        let kind = match &self.kind {
            Some(text) => Some(RecordKind::parse(text).ok_or_else(|| {
                ApiError::invalid_field("kind", format!("`{text}` is not xapi, enrolment, grade or survey"))
            })?),
            None => None,
        };
        Ok(Filters {
            kind,
            since: self.since,
            until: self.until,
            course: self.course.clone(),
            activity: self.activity.clone(),
            verb: self.verb.clone(),
        })
    }
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with(NDJSON)))
}

/// The records of one read: a page as JSON, or everything as an NDJSON stream.
async fn serve_records(
    state: AppState,
    reader: Reader,
    purpose: PurposeId,
    params: RecordParams,
    headers: &HeaderMap,
    pseudonym: Option<String>,
) -> Result<Response, ApiError> {
    let filters = params.filters()?;
    let ndjson = wants_ndjson(headers);
    let mut errors = Vec::new();
    if ndjson && (params.limit.is_some() || params.cursor.is_some()) {
        errors.push(FieldError::new(
            if params.limit.is_some() { "limit" } else { "cursor" },
            "an NDJSON read streams the whole result; page with JSON, or narrow with since and until",
        ));
    }
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        errors.push(FieldError::new("limit", format!("between 1 and {MAX_PAGE}")));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let keys: &Arc<Keys> = &state.gateway;
    let request = ReadRequest {
        reader: &reader,
        action: Action::ReadRecords,
        purpose: &purpose,
        filters: &filters,
        needs: &[],
        now: state.clock.now(),
    };
    let mut prepared = prepare(&state.db, &state.gate, &request).await?;
    let after = match &params.cursor {
        Some(cursor) => Some(keys.open_cursor(purpose.as_str(), &reader.id, cursor).map_err(GatewayError::from)?),
        None => None,
    };
    if let Some(pseudonym) = pseudonym {
        prepared = prepared.for_pseudonym(keys, &pseudonym).await?;
    }
    if ndjson {
        let body = Body::from_stream(stream(prepared, state.db.clone(), Arc::clone(keys)));
        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON))], body).into_response());
    }
    let body = page(prepared, &state.db, keys, limit as usize, after).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// Read a purpose's records.
///
/// For `individual` purposes. Only students the consent ledger permits, only records
/// inside the purpose's retention window for their category, only the purpose's fields,
/// with pseudonyms for this tool and purpose. JSON pages in `(occurred_at, record)` order
/// with a cursor, or the whole result as a stream with `Accept: application/x-ndjson`
/// (one record per line, in storage order). A read sees one snapshot: a withdrawal that
/// lands while a stream runs applies from the next read.
#[utoipa::path(get, path = "/api/v1/purposes/{id}/records", tag = "gateway", operation_id = "read_records",
    params(("id" = String, Path, description = "Purpose id"), RecordParams),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "A page of records; with `Accept: application/x-ndjson`, a stream of records, one per line",
            content((RecordPage = "application/json"), (GovernedRecord = "application/x-ndjson"))),
        (status = 400, description = "A cursor this read did not hand out", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Denied: not-registered-for-purpose, client-suspended, purpose-not-active, aggregate-only-purpose, field-not-allowed", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid parameter", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn read_records(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<RecordParams>,
) -> Result<Response, ApiError> {
    let purpose = PurposeId::from_path(&id)?;
    serve_records(state, reader, purpose, params, &headers, None).await
}

/// Read one student's records, by their pseudonym.
///
/// The same read as `read_records`, narrowed to the student whose pseudonym (for this
/// tool and purpose) is given.
#[utoipa::path(get, path = "/api/v1/purposes/{id}/subjects/{pseudonym}/records", tag = "gateway",
    operation_id = "read_subject_records",
    params(("id" = String, Path, description = "Purpose id"), ("pseudonym" = String, Path, description = "The student's pseudonym for this tool and purpose"), RecordParams),
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "A page of the student's records; with `Accept: application/x-ndjson`, a stream",
            content((RecordPage = "application/json"), (GovernedRecord = "application/x-ndjson"))),
        (status = 400, description = "A cursor this read did not hand out", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Denied, with the reason", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose, or no student of this read has the pseudonym", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid parameter", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn read_subject_records(
    State(state): State<AppState>,
    reader: Reader,
    Path((id, pseudonym)): Path<(String, String)>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<RecordParams>,
) -> Result<Response, ApiError> {
    let purpose = PurposeId::from_path(&id)?;
    serve_records(state, reader, purpose, params, &headers, Some(pseudonym)).await
}

/// Read aggregates of a purpose.
///
/// For any purpose. Counts, distinct students and statistics of a numeric field per cell
/// of up to three dimensions (course, activity, verb, week, group); cells of fewer
/// distinct students than the purpose's minimum cell size are suppressed, and more cells
/// where a suppressed one could otherwise be derived from totals.
#[utoipa::path(post, path = "/api/v1/purposes/{id}/aggregates", tag = "gateway", operation_id = "read_aggregates",
    params(("id" = String, Path, description = "Purpose id")),
    request_body = AggregateRequest,
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The cells, with suppressed ones marked", body = AggregateResult),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid credentials", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Denied, with the reason", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid dimension, metric or filter", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn read_aggregates(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    AppJson(body): AppJson<AggregateRequest>,
) -> Result<Json<AggregateResult>, ApiError> {
    let purpose = PurposeId::from_path(&id).map_err(|_| PurposeError::NotFound(id.clone()))?;
    let (filters, needs) = body.validate()?;
    let request = ReadRequest {
        reader: &reader,
        action: Action::ReadAggregates,
        purpose: &purpose,
        filters: &filters,
        needs: &needs,
        now: state.clock.now(),
    };
    let prepared = prepare(&state.db, &state.gate, &request).await?;
    Ok(Json(aggregate(prepared, &state.db, &state.gateway, &body).await?))
}
