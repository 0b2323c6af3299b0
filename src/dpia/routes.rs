//! DPIAs over HTTP: templates, instances, their answers and risk register, the workflow
//! to the DPO's decision, history and exports.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, DpiaDecision, NewDpia};
use super::{Comment, Document, DpiaError, DpiaSummary, DpiaView, Format, RevisionEntry, RiskRegister, Template};
use crate::audit::Actor;
use crate::auth::Principal;
use crate::policy::{Action, Resource};
use crate::problem::{ApiError, AppJson, AppQuery, ProblemDetails};
use crate::server::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dpia_templates))
        .routes(routes!(get_dpia_template))
        .routes(routes!(list_dpias, create_dpia))
        .routes(routes!(get_dpia))
        .routes(routes!(answer_dpia_question))
        .routes(routes!(set_dpia_risk_register))
        .routes(routes!(refresh_dpia))
        .routes(routes!(submit_dpia))
        .routes(routes!(reopen_dpia))
        .routes(routes!(decide_dpia))
        .routes(routes!(comment_on_dpia))
        .routes(routes!(list_dpia_revisions))
        .routes(routes!(get_dpia_revision))
        .routes(routes!(export_dpia))
}

/// An answer written by people.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// The question the comment is about, if one.
    #[serde(default)]
    question: Option<String>,
    body: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `md` (default) or `html`.
    format: Option<Format>,
}

/// Loads the view after a change, in the change's transaction, and commits.
async fn changed(
    state: &AppState,
    principal: &Principal,
    id: &str,
    change: impl AsyncFnOnce(&mut sqlx::AnyConnection, &Actor, Vec<String>) -> Result<(), DpiaError>,
) -> Result<Json<DpiaView>, ApiError> {
    let decision = state.gate.authorize(principal, Action::EditDpia, Resource::Dpia(id.to_owned())).await?;
    let mut tx = state.db.begin().await?;
    change(&mut tx, &Actor::from(principal), decision.reasons).await?;
    let view = store::view(&mut tx, &state.dpia, &state.gate.engine(), id).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// DPIA templates.
///
/// The shipped templates (learning analytics, the Dutch government's Model DPIA, the
/// CNIL PIA) and the institution's own.
#[utoipa::path(get, path = "/api/v1/dpia-templates", tag = "dpia", operation_id = "list_dpia_templates",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every template", body = [Template]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_dpia_templates(State(state): State<AppState>, _caller: Principal) -> Json<Vec<Template>> {
    Json(state.dpia.templates.all().cloned().collect())
}

/// One DPIA template.
#[utoipa::path(get, path = "/api/v1/dpia-templates/{id}", tag = "dpia", operation_id = "get_dpia_template",
    params(("id" = String, Path, description = "Template id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The template", body = Template),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_dpia_template(
    State(state): State<AppState>,
    _caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<Template>, ApiError> {
    let template = state.dpia.templates.get(&id).cloned();
    template.map(Json).ok_or_else(|| ApiError::not_found(format!("no DPIA template has the id `{id}`")))
}

/// The DPIA register.
///
/// Privacy officers and the DPO; each DPIA with its status and whether it needs review.
#[utoipa::path(get, path = "/api/v1/dpias", tag = "dpia", operation_id = "list_dpias",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every DPIA, most recently changed first", body = [DpiaSummary]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_dpias(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<DpiaSummary>>, ApiError> {
    state.gate.authorize(&principal, Action::ViewDpia, Resource::Dpia("*".to_owned())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(store::list(&mut connection, &state.dpia, &state.gate.engine()).await?))
}

/// Start a DPIA.
///
/// From a template, for one or more purposes; questions the register answers are
/// prefilled, the template's suggested risks listed for scoring.
#[utoipa::path(post, path = "/api/v1/dpias", tag = "dpia", operation_id = "create_dpia",
    request_body = NewDpia,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new draft", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unknown template or purpose, or no title; `errors` names each", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn create_dpia(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(new): AppJson<NewDpia>,
) -> Result<(StatusCode, Json<DpiaView>), ApiError> {
    let decision = state.gate.authorize(&principal, Action::EditDpia, Resource::Dpia("*".to_owned())).await?;
    let mut tx = state.db.begin().await?;
    let view =
        store::create(&mut tx, &state.dpia, &state.gate.engine(), &new, &Actor::from(&principal), decision.reasons)
            .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One DPIA.
///
/// Every answer beside what the register says now: `stale` lists the prefilled answers
/// that no longer match, `needs_review` why an approved DPIA asks for review.
#[utoipa::path(get, path = "/api/v1/dpias/{id}", tag = "dpia", operation_id = "get_dpia",
    params(("id" = String, Path, description = "DPIA id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The DPIA", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_dpia(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DpiaView>, ApiError> {
    state.gate.authorize(&principal, Action::ViewDpia, Resource::Dpia(id.clone())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(store::view(&mut connection, &state.dpia, &state.gate.engine(), &id).await?))
}

/// Answer a question.
///
/// Drafts only. On a prefilled question the text adds to what the register says.
#[utoipa::path(put, path = "/api/v1/dpias/{id}/answers/{question}", tag = "dpia", operation_id = "answer_dpia_question",
    params(("id" = String, Path, description = "DPIA id"), ("question" = String, Path, description = "Question id from the template")),
    request_body = AnswerBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The DPIA with the answer", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA or question", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The DPIA is not a draft", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn answer_dpia_question(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, question)): Path<(String, String)>,
    AppJson(body): AppJson<AnswerBody>,
) -> Result<Json<DpiaView>, ApiError> {
    let workbench = state.dpia.clone();
    changed(&state, &principal, &id, async |connection, actor, reasons| {
        store::set_answer(connection, &workbench, &id, &question, &body.text, actor, reasons).await
    })
    .await
}

/// Replace the risk register.
///
/// Risks scored for likelihood and severity (1–4) before and after their measures, and
/// the measures with the risks they address. Drafts only.
#[utoipa::path(put, path = "/api/v1/dpias/{id}/risk-register", tag = "dpia", operation_id = "set_dpia_risk_register",
    params(("id" = String, Path, description = "DPIA id")),
    request_body = RiskRegister,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The DPIA with its new risk register", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The DPIA is not a draft", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid risks or measures; `errors` names each field", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn set_dpia_risk_register(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(register): AppJson<RiskRegister>,
) -> Result<Json<DpiaView>, ApiError> {
    changed(&state, &principal, &id, async |connection, actor, reasons| {
        store::set_risk_register(connection, &id, register, actor, reasons).await
    })
    .await
}

/// Take the register's current facts into the prefilled answers.
#[utoipa::path(post, path = "/api/v1/dpias/{id}/refresh", tag = "dpia", operation_id = "refresh_dpia",
    params(("id" = String, Path, description = "DPIA id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The DPIA, prefilled anew", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The DPIA is not a draft", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn refresh_dpia(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DpiaView>, ApiError> {
    let (workbench, engine) = (state.dpia.clone(), state.gate.engine());
    changed(&state, &principal, &id, async |connection, actor, reasons| {
        store::refresh(connection, &workbench, &engine, &id, actor, reasons).await
    })
    .await
}

/// Submit a draft to the DPO.
///
/// Only a complete DPIA: every question answered, every risk scored and addressed.
#[utoipa::path(post, path = "/api/v1/dpias/{id}/submit", tag = "dpia", operation_id = "submit_dpia",
    params(("id" = String, Path, description = "DPIA id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The DPIA in review", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The DPIA is not a draft", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Incomplete; `errors` names what is missing", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn submit_dpia(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DpiaView>, ApiError> {
    let workbench = state.dpia.clone();
    changed(&state, &principal, &id, async |connection, actor, reasons| {
        store::submit(connection, &workbench, &id, actor, reasons).await
    })
    .await
}

/// Reopen a DPIA as a draft.
///
/// For a review or after a rejection; an approval no longer stands once reopened.
#[utoipa::path(post, path = "/api/v1/dpias/{id}/reopen", tag = "dpia", operation_id = "reopen_dpia",
    params(("id" = String, Path, description = "DPIA id")),
    request_body = ReopenBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The DPIA as a draft", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Already a draft", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "No reason given", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn reopen_dpia(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<ReopenBody>,
) -> Result<Json<DpiaView>, ApiError> {
    changed(&state, &principal, &id, async |connection, actor, reasons| {
        store::reopen(connection, &id, &body.reason, actor, reasons).await
    })
    .await
}

/// The DPO's decision.
///
/// Approve (with the next review date) or reject (with a rationale) a DPIA in review.
/// An approval lets the purposes it covers become active.
#[utoipa::path(post, path = "/api/v1/dpias/{id}/decision", tag = "dpia", operation_id = "decide_dpia",
    params(("id" = String, Path, description = "DPIA id")),
    request_body = DpiaDecision,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decided DPIA", body = DpiaView),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The DPIA is not in review", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "No review date or rationale", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn decide_dpia(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<DpiaDecision>,
) -> Result<Json<DpiaView>, ApiError> {
    let decision = state.gate.authorize(&principal, Action::ApproveDpia, Resource::Dpia(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    store::decide(&mut tx, &id, &body, &Actor::from(&principal), decision.reasons).await?;
    let view = store::view(&mut tx, &state.dpia, &state.gate.engine(), &id).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Comment on a DPIA.
///
/// Reviewers comment in any status, on the whole or on one question.
#[utoipa::path(post, path = "/api/v1/dpias/{id}/comments", tag = "dpia", operation_id = "comment_on_dpia",
    params(("id" = String, Path, description = "DPIA id")),
    request_body = CommentBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The comment", body = Comment),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Empty, or about a question the template lacks", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn comment_on_dpia(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<CommentBody>,
) -> Result<(StatusCode, Json<Comment>), ApiError> {
    let decision = state.gate.authorize(&principal, Action::ViewDpia, Resource::Dpia(id.clone())).await?;
    let mut tx = state.db.begin().await?;
    let comment = store::comment(
        &mut tx,
        &state.dpia,
        &id,
        body.question.as_deref(),
        &body.body,
        &Actor::from(&principal),
        decision.reasons,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(comment)))
}

/// A DPIA's history.
#[utoipa::path(get, path = "/api/v1/dpias/{id}/revisions", tag = "dpia", operation_id = "list_dpia_revisions",
    params(("id" = String, Path, description = "DPIA id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every revision, oldest first", body = [RevisionEntry]),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn list_dpia_revisions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<RevisionEntry>>, ApiError> {
    state.gate.authorize(&principal, Action::ViewDpia, Resource::Dpia(id.clone())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(store::revisions(&mut connection, &id).await?))
}

/// A DPIA's document at one revision.
#[utoipa::path(get, path = "/api/v1/dpias/{id}/revisions/{revision}", tag = "dpia", operation_id = "get_dpia_revision",
    params(("id" = String, Path, description = "DPIA id"), ("revision" = i32, Path, description = "Revision number")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Answers, risks and measures as they were", body = Document),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA or revision", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn get_dpia_revision(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, revision)): Path<(String, i32)>,
) -> Result<Json<Document>, ApiError> {
    state.gate.authorize(&principal, Action::ViewDpia, Resource::Dpia(id.clone())).await?;
    let mut connection = state.db.pool().acquire().await?;
    Ok(Json(store::revision(&mut connection, &id, revision).await?))
}

/// Export a DPIA.
///
/// Markdown, or printable HTML (print it to PDF from a browser), in the DPIA's language,
/// with every section of its template and the risk matrix.
#[utoipa::path(get, path = "/api/v1/dpias/{id}/export", tag = "dpia", operation_id = "export_dpia",
    params(("id" = String, Path, description = "DPIA id"), ExportParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The document, as `text/markdown` or `text/html`", content_type = "text/markdown", body = String),
        (status = 401, description = "Missing or invalid token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer or DPO", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such DPIA", body = ProblemDetails, content_type = "application/problem+json"),
    ))]
async fn export_dpia(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppQuery(params): AppQuery<ExportParams>,
) -> Result<Response, ApiError> {
    state.gate.authorize(&principal, Action::ViewDpia, Resource::Dpia(id.clone())).await?;
    let mut connection = state.db.pool().acquire().await?;
    let view = store::view(&mut connection, &state.dpia, &state.gate.engine(), &id).await?;
    let format = params.format.unwrap_or(Format::Md);
    let extension = match format {
        Format::Md => "md",
        Format::Html => "html",
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"dpia-{id}.{extension}\"")),
            // The printable page carries its own stylesheet and no script.
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'".to_owned()),
        ],
        super::render(&view, format),
    )
        .into_response())
}
