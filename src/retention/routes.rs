//! Erasure over HTTP: carry out a request, fetch a certificate.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::erasure::{Certificate, ErasureError, certificate, erase};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppJson, ProblemDetails};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(erase_subject)).routes(routes!(get_erasure_certificate))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    /// Why: the request it fulfils, e.g. "Art. 17 request of 2026-11-20 by e-mail".
    reason: String,
}

fn subject_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found(format!("no student has the id `{text}`")))
}

/// Erase a student (GDPR Art. 17).
///
/// Deletes the student's records (except those a legal-obligation purpose must keep,
/// which are listed with the reason), xAPI documents, identifiers, account and
/// memberships, and removes their name and e-mail; the consent history and the audit log
/// keep only the internal id. Returns the signed deletion certificate.
#[utoipa::path(post, path = "/api/v1/subjects/{subject}/erasure", tag = "retention", operation_id = "erase_subject",
    params(("subject" = String, Path, description = "The student's internal id")),
    request_body = ErasureBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Erased; the certificate", body = Certificate),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such student", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Erased already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "No reason given", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn erase_subject(
    State(state): State<AppState>,
    principal: Principal,
    Path(subject): Path<String>,
    AppJson(body): AppJson<ErasureBody>,
) -> Result<(StatusCode, Json<Certificate>), ApiError> {
    let subject = subject_id(&subject)?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::invalid_field("reason", "say which request this erasure fulfils"));
    }
    let decision = state.gate.authorize(&principal, Action::EraseSubject, Resource::Subject(subject)).await?;
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    let issued =
        erase(&mut tx, subject, &body.reason, &Actor::from(&principal), decision.reasons, &state.audit_key, now)
            .await?;
    tx.commit().await?;
    state.db.reclaim().await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Download a deletion certificate.
#[utoipa::path(get, path = "/api/v1/erasures/{id}", tag = "retention", operation_id = "get_erasure_certificate",
    params(("id" = String, Path, description = "Certificate id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed certificate, as a download", body = Certificate),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such certificate", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_erasure_certificate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ErasureError::UnknownCertificate(Uuid::nil()))?;
    let mut connection = state.db.pool().acquire().await?;
    let issued = certificate(&mut connection, id).await?;
    drop(connection);
    let subject = issued.certificate.subject;
    state.gate.authorize(&principal, Action::EraseSubject, Resource::Subject(subject)).await?;
    let disposition = format!("attachment; filename=\"erasure-certificate-{id}.json\"");
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(issued)))
}
