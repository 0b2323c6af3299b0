//! Choices over HTTP: a student's own, on a student's behalf, and the officers' summary.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{
    Choosing, ConsentError, ConsentEvent, ConsentRecord, ConsentStatus, ConsentSummary, Method, MyPurpose, Receipt,
    Relation, choose, history, status,
};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::directory;
use crate::policy::{Action, GUARDIAN_POLICY, Resource};
use crate::problem::{ApiError, AppJson, ProblemDetails};
use crate::purposes::{self, Language, PurposeId};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_my_purposes))
        .routes(routes!(set_my_consent))
        .routes(routes!(list_my_consent_history))
        .routes(routes!(get_my_consent_receipt))
        .routes(routes!(set_consent_on_behalf))
        .routes(routes!(get_consent_summary))
}

/// A student's choice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceBody {
    event: ConsentEvent,
    /// The language the notice was read in; `nl` when absent.
    #[serde(default)]
    language: Option<Language>,
    /// The purpose version whose notice was shown; the current one when absent.
    #[serde(default)]
    notice_version: Option<i32>,
}

/// A choice recorded for a student by staff or a guardian.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnBehalfBody {
    event: ConsentEvent,
    /// How the choice reached the institution: `paper`, `phone` or `web`.
    method: Method,
    #[serde(default)]
    language: Option<Language>,
    #[serde(default)]
    notice_version: Option<i32>,
}

/// The caller's own subject id: only students have choices.
async fn my_subject(state: &AppState, principal: &Principal) -> Result<Uuid, ApiError> {
    let mut connection = state.db.pool().acquire().await?;
    Ok(directory::subject_of_user(&mut connection, &principal.id).await?.ok_or(ConsentError::NotAStudent)?)
}

/// My purposes and choices.
///
/// Every active purpose with its notice in Dutch and English, its legal basis, what it
/// reads and for how long, and where the student stands.
#[utoipa::path(get, path = "/api/v1/me/purposes", tag = "consent", operation_id = "list_my_purposes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active purposes with the caller's state", body = [MyPurpose]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_my_purposes(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<MyPurpose>>, ApiError> {
    let subject = my_subject(&state, &principal).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(super::purposes_of(&mut connection, subject).await?))
}

/// Make or change my choice for a purpose.
///
/// `given` and `withdrawn` for consent-based purposes; `objected` and `objection_lifted` for
/// public task and legitimate interest. Withdrawing is one request, like giving.
#[utoipa::path(put, path = "/api/v1/me/consents/{purpose}", tag = "consent", operation_id = "set_my_consent",
    params(("purpose" = String, Path, description = "Purpose id")),
    request_body = ChoiceBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new state", body = ConsentStatus),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The legal basis or current state does not allow this choice; `detail` says why", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown event, language or notice version", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn set_my_consent(
    State(state): State<AppState>,
    principal: Principal,
    Path(purpose): Path<String>,
    AppJson(body): AppJson<ChoiceBody>,
) -> Result<Json<ConsentStatus>, ApiError> {
    let purpose = PurposeId::from_path(&purpose)?;
    let subject = my_subject(&state, &principal).await?;
    let decision = state.gate.authorize(&principal, Action::ManageOwnConsent, Resource::Subject(subject)).await?;
    let choosing = Choosing {
        event: body.event,
        language: body.language.unwrap_or(Language::Nl),
        notice_version: body.notice_version,
        method: Method::Web,
        relation: Relation::Own,
    };
    let mut tx = state.db.begin().await?;
    let status = choose(&mut tx, subject, &purpose, choosing, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(status))
}

/// My choices for a purpose, oldest first.
#[utoipa::path(get, path = "/api/v1/me/consents/{purpose}/history", tag = "consent", operation_id = "list_my_consent_history",
    params(("purpose" = String, Path, description = "Purpose id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every record, oldest first", body = [ConsentRecord]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_my_consent_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(purpose): Path<String>,
) -> Result<Json<Vec<ConsentRecord>>, ApiError> {
    let purpose = PurposeId::from_path(&purpose)?;
    let subject = my_subject(&state, &principal).await?;
    let mut connection = state.db.pool().acquire().await?;
    status(&mut connection, subject, &purpose).await?;
    Ok(Json(history(&mut connection, subject, &purpose).await?))
}

/// A receipt for my latest choice.
///
/// Shaped after ISO/IEC TS 27560, with the notice as shown, the legal basis, the
/// controller, retention and how to withdraw.
#[utoipa::path(get, path = "/api/v1/me/consents/{purpose}/receipt", tag = "consent", operation_id = "get_my_consent_receipt",
    params(("purpose" = String, Path, description = "Purpose id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The receipt", body = Receipt),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a student", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose, or no choice recorded yet", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_my_consent_receipt(
    State(state): State<AppState>,
    principal: Principal,
    Path(purpose): Path<String>,
) -> Result<Json<Receipt>, ApiError> {
    let purpose = PurposeId::from_path(&purpose)?;
    let subject = my_subject(&state, &principal).await?;
    let mut connection = state.db.pool().acquire().await?;
    let current = status(&mut connection, subject, &purpose).await?;
    let record = current.record.ok_or(ConsentError::NoRecord)?;
    let missing = || ConsentError::Corrupt(record.id.to_string());
    let at_version =
        purposes::definition_at(&mut connection, &purpose, record.purpose_version).await?.ok_or_else(missing)?;
    let notice =
        purposes::definition_at(&mut connection, &purpose, record.notice_version).await?.ok_or_else(missing)?;
    Ok(Json(Receipt::new(&record, current.state, &at_version, &notice, &state.institution)))
}

/// Record a choice for a student.
///
/// For staff who take a choice on paper or by phone, and for guardians of students under
/// 16 (UAVG Art. 5). The record keeps who acted, and for whom.
#[utoipa::path(put, path = "/api/v1/subjects/{subject}/consents/{purpose}", tag = "consent", operation_id = "set_consent_on_behalf",
    params(("subject" = String, Path, description = "The student's internal id"), ("purpose" = String, Path, description = "Purpose id")),
    request_body = OnBehalfBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The student's new state", body = ConsentStatus),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Neither authorised staff nor the guardian of a student under 16", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such student or purpose", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The legal basis or current state does not allow this choice", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown event, method, language or notice version", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn set_consent_on_behalf(
    State(state): State<AppState>,
    principal: Principal,
    Path((subject, purpose)): Path<(String, String)>,
    AppJson(body): AppJson<OnBehalfBody>,
) -> Result<Json<ConsentStatus>, ApiError> {
    let purpose = PurposeId::from_path(&purpose)?;
    let unknown = || ApiError::not_found(format!("no student has the id `{subject}`"));
    let subject_id = Uuid::parse_str(&subject).map_err(|_| unknown())?;
    let mut connection = state.db.pool().acquire().await?;
    directory::subject_birth_date(&mut connection, subject_id).await?.ok_or_else(unknown)?;
    drop(connection);
    let decision =
        state.gate.authorize(&principal, Action::RecordConsentOnBehalf, Resource::Subject(subject_id)).await?;
    // A guardian who is also staff acts as staff.
    let relation = if decision.reasons.iter().all(|policy| policy == GUARDIAN_POLICY) {
        Relation::Guardian
    } else {
        Relation::Staff
    };
    let choosing = Choosing {
        event: body.event,
        language: body.language.unwrap_or(Language::Nl),
        notice_version: body.notice_version,
        method: body.method,
        relation,
    };
    let mut tx = state.db.begin().await?;
    let status = choose(&mut tx, subject_id, &purpose, choosing, &Actor::from(&principal), decision.reasons).await?;
    tx.commit().await?;
    Ok(Json(status))
}

/// How students chose for a purpose.
///
/// Privacy officers and the DPO see how many gave, withdrew, objected or never chose, now and
/// month by month. Counts only: no student is named.
#[utoipa::path(get, path = "/api/v1/purposes/{id}/consents/summary", tag = "consent", operation_id = "get_consent_summary",
    params(("id" = String, Path, description = "Purpose id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts now and per month", body = ConsentSummary),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such purpose", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_consent_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ConsentSummary>, ApiError> {
    let id = PurposeId::from_path(&id)?;
    state.gate.authorize(&principal, Action::ViewConsentSummary, Resource::Purpose(id.clone())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(super::summary(&mut connection, &id).await?))
}
