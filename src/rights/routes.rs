//! Students' rights over HTTP: `/api/v1/me/…` for the student, `/api/v1/requests` for
//! the privacy office.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::requests::{self, DataRequest, Fulfilment, Handling, NewRequest, Notification};
use super::{MyData, RightsError};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::gateway::Disclosure;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppJson, AppQuery, ProblemDetails};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_data))
        .routes(routes!(list_my_disclosures))
        .routes(routes!(export_my_data))
        .routes(routes!(list_my_requests, file_request))
        .routes(routes!(list_my_notifications))
        .routes(routes!(list_requests))
        .routes(routes!(handle_request))
        .routes(routes!(get_subject_data))
        .routes(routes!(list_subject_disclosures))
        .routes(routes!(export_subject_data))
}

/// A student named in the path, once the policy allows `action` on them (a guardian of a
/// ward under 16; the student themself).
async fn named(state: &AppState, principal: &Principal, subject: &str, action: Action) -> Result<Uuid, ApiError> {
    let subject =
        Uuid::parse_str(subject).map_err(|_| ApiError::not_found(format!("no student has the id `{subject}`")))?;
    state.gate.authorize(principal, action, Resource::Subject(subject)).await?;
    Ok(subject)
}

/// A ward's data, for their guardian.
#[utoipa::path(get, path = "/api/v1/subjects/{subject}/data", tag = "rights", operation_id = "get_subject_data",
    params(("subject" = String, Path, description = "The student's internal id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The overview", body = MyData),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the student or a guardian of a ward under 16", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_subject_data(
    State(state): State<AppState>,
    principal: Principal,
    Path(subject): Path<String>,
) -> Result<Json<MyData>, ApiError> {
    let subject = named(&state, &principal, &subject, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(super::my_data(&mut connection, subject).await?))
}

/// Who used a ward's data, for their guardian.
#[utoipa::path(get, path = "/api/v1/subjects/{subject}/disclosures", tag = "rights", operation_id = "list_subject_disclosures",
    params(("subject" = String, Path, description = "The student's internal id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The reads that included the student", body = [Disclosure]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the student or a guardian of a ward under 16", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_subject_disclosures(
    State(state): State<AppState>,
    principal: Principal,
    Path(subject): Path<String>,
) -> Result<Json<Vec<Disclosure>>, ApiError> {
    let subject = named(&state, &principal, &subject, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(crate::gateway::disclosures_of(&mut connection, subject).await?))
}

/// Download a ward's data, for their guardian.
#[utoipa::path(get, path = "/api/v1/subjects/{subject}/export", tag = "rights", operation_id = "export_subject_data",
    params(("subject" = String, Path, description = "The student's internal id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archive", content_type = "application/zip", body = Vec<u8>),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the student or a guardian of a ward under 16", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn export_subject_data(
    State(state): State<AppState>,
    principal: Principal,
    Path(subject): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let subject = named(&state, &principal, &subject, Action::ExportOwnData).await?;
    zip_response(&state, subject).await
}

async fn zip_response(state: &AppState, subject: Uuid) -> Result<impl IntoResponse + use<>, ApiError> {
    let mut connection = state.db.pool().acquire().await?;
    let archive = super::export_zip(&mut connection, subject, &state.institution).await?;
    let disposition = "attachment; filename=\"my-data.zip\"".to_owned();
    Ok(([(header::CONTENT_TYPE, "application/zip".to_owned()), (header::CONTENT_DISPOSITION, disposition)], archive))
}

/// The signed-in student's subject, once the policy allows `action` on it, with the
/// policies that allowed it.
pub async fn me(state: &AppState, principal: &Principal, action: Action) -> Result<(Uuid, Vec<String>), ApiError> {
    let subject = {
        let mut connection = state.db.pool().acquire().await?;
        crate::directory::subject_of_user(&mut connection, &principal.id).await?.ok_or(RightsError::NotAStudent)?
    };
    let decision = state.gate.authorize(principal, action, Resource::Subject(subject)).await?;
    Ok((subject, decision.reasons))
}

/// What is stored about me.
///
/// Identity data, and per category and source how many records, from when to when, when
/// they expire, and which purposes may use them with their legal basis, retention and
/// recipients (GDPR Art. 15).
#[utoipa::path(get, path = "/api/v1/me/data", tag = "rights", operation_id = "get_my_data",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The overview", body = MyData),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_my_data(State(state): State<AppState>, principal: Principal) -> Result<Json<MyData>, ApiError> {
    let (subject, _) = me(&state, &principal, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(super::my_data(&mut connection, subject).await?))
}

/// Who used my data.
///
/// Every read by an analytics tool that included me: when, which tool, which purpose, how
/// many of my records, which fields. Newest first.
#[utoipa::path(get, path = "/api/v1/me/disclosures", tag = "rights", operation_id = "list_my_disclosures",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The reads that included me", body = [Disclosure]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_my_disclosures(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<Disclosure>>, ApiError> {
    let (subject, _) = me(&state, &principal, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(crate::gateway::disclosures_of(&mut connection, subject).await?))
}

/// Download all my data.
///
/// A zip of JSON files with a README (GDPR Art. 20): statements, enrolments, grades,
/// survey answers, consent history with receipts, disclosures and requests.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "rights", operation_id = "export_my_data",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archive", content_type = "application/zip", body = Vec<u8>),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn export_my_data(State(state): State<AppState>, principal: Principal) -> Result<impl IntoResponse, ApiError> {
    let (subject, _) = me(&state, &principal, Action::ExportOwnData).await?;
    zip_response(&state, subject).await
}

/// My requests.
#[utoipa::path(get, path = "/api/v1/me/requests", tag = "rights", operation_id = "list_my_requests",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "My requests, newest first, with deadlines", body = [DataRequest]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_my_requests(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<DataRequest>>, ApiError> {
    let (subject, _) = me(&state, &principal, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(requests::of_subject(&mut connection, subject, state.clock.now()).await?))
}

/// File a request.
///
/// Access, rectification (name the record), erasure, restriction or objection (name the
/// purpose), in your own words. The institution answers within a month (GDPR Art. 12(3)).
#[utoipa::path(post, path = "/api/v1/me/requests", tag = "rights", operation_id = "file_request",
    request_body = NewRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Received, with its deadline", body = DataRequest),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn file_request(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<NewRequest>,
) -> Result<(StatusCode, Json<DataRequest>), ApiError> {
    body.validate()?;
    let (subject, reasons) = me(&state, &principal, Action::FileDataRequest).await?;
    let mut tx = state.db.begin().await?;
    let filed = requests::file(&mut tx, subject, &body, &Actor::from(&principal), reasons, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(filed)))
}

/// What I was told about my requests.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "rights", operation_id = "list_my_notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first", body = [Notification]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_my_notifications(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<Notification>>, ApiError> {
    let (subject, _) = me(&state, &principal, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(requests::notifications(&mut connection, subject).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// Only requests still open (default true).
    open: Option<bool>,
}

/// The request queue.
///
/// For the privacy office: open requests by deadline (soonest first, overdue ones marked),
/// then the closed ones.
#[utoipa::path(get, path = "/api/v1/requests", tag = "rights", operation_id = "list_requests",
    params(QueueParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The queue", body = [DataRequest]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An invalid parameter", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_requests(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(params): AppQuery<QueueParams>,
) -> Result<Json<Vec<DataRequest>>, ApiError> {
    state.gate.authorize(&principal, Action::HandleDataRequest, Resource::DataRequest("*".to_owned())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(requests::queue(&mut connection, params.open.unwrap_or(true), state.clock.now()).await?))
}

/// Work a request: reply, extend, fulfil, refuse, or lift a restriction.
///
/// Fulfilling carries the request out: erasure erases (with a certificate), restriction
/// leaves the student out of every read until lifted, objection records the objection,
/// rectification annotates the record. The student is told every change.
#[utoipa::path(post, path = "/api/v1/requests/{id}/handling", tag = "rights", operation_id = "handle_request",
    params(("id" = String, Path, description = "Request id")),
    request_body = Handling,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request as it now stands", body = DataRequest),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not possible in the request's state", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A missing or invalid field", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn handle_request(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<Handling>,
) -> Result<Json<DataRequest>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| RightsError::UnknownRequest(Uuid::nil()))?;
    let decision =
        state.gate.authorize(&principal, Action::HandleDataRequest, Resource::DataRequest(id.to_string())).await?;
    let context = Fulfilment { now: state.clock.now(), key: &state.audit_key, reasons: decision.reasons };
    let handled = requests::handle_and_reclaim(&state.db, id, &body, &Actor::from(&principal), &context).await?;
    Ok(Json(handled))
}
