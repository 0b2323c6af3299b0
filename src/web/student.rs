//! Students' pages: their purposes and choices, their data, who used it, and the
//! invitations their mentor approved.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use super::texts::{self, basis, category, date};
use super::{OrPage, PageError, Viewer, see_other};
use crate::audit::Actor;
use crate::auth::Role;
use crate::consent::{self, Choosing, ConsentEvent, ConsentState, Method, MyPurpose, Relation};
use crate::policy::Action;
use crate::purposes::{Choice, PurposeId};
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/my", get(choices))
        .route("/my/choices", post(choose))
        .route("/my/data", get(data))
        .route("/my/disclosures", get(disclosures))
        .route("/my/interventions", get(interventions))
        .route("/my/interventions/{id}/decline", post(decline))
        .route("/my/requests", get(requests).post(file_request))
        .route("/sign-out", post(sign_out))
}

/// The start page: students go to their choices; everyone else to sign in first.
pub async fn home(viewer: Result<Viewer, Response>) -> Response {
    match viewer {
        Ok(viewer) if viewer.principal.roles.contains(&Role::Student) => Redirect::to("/my").into_response(),
        Ok(viewer) => {
            let texts = viewer.texts();
            page(&viewer, "/", texts.home_title, html! { h1 { (texts.home_title) } p { (texts.home_intro) } })
                .into_response()
        }
        Err(_) => Redirect::to("/sign-in").into_response(),
    }
}

/// The signed-in student's subject and the policies that let them act on it.
async fn me(state: &AppState, viewer: &Viewer, action: Action) -> Result<(uuid::Uuid, Vec<String>), PageError> {
    crate::rights::signed_in_student(state, &viewer.principal, action).await.or_page(viewer.language)
}

#[derive(Debug, Deserialize)]
struct Saved {
    saved: Option<String>,
}

/// The choice a student can make now, if any: (event, label, whether it is the
/// protective one).
fn next_choice(purpose: &MyPurpose, texts: &texts::Texts) -> Option<(ConsentEvent, &'static str)> {
    match (purpose.choice, purpose.state) {
        (Choice::OptIn, ConsentState::Consented) => Some((ConsentEvent::Withdrawn, texts.withdraw_consent)),
        (Choice::OptIn, _) => Some((ConsentEvent::Given, texts.give_consent)),
        (Choice::OptOut, ConsentState::Objected) => Some((ConsentEvent::ObjectionLifted, texts.lift_objection)),
        (Choice::OptOut, _) => Some((ConsentEvent::Objected, texts.object)),
        (Choice::None, _) => None,
    }
}

async fn choices(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(saved): Query<Saved>,
) -> Result<Markup, PageError> {
    let (subject, _) = me(&state, &viewer, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await.or_page(viewer.language)?;
    let purposes = consent::purposes_of(&mut connection, subject).await.or_page(viewer.language)?;
    let texts = viewer.texts();
    let language = viewer.language;
    Ok(page(
        &viewer,
        "/my",
        texts.choices_title,
        html! {
            h1 { (texts.choices_title) }
            p.lead { (texts.choices_intro) }
            @if let Some(purpose) = saved.saved.as_deref().and_then(|id| purposes.iter().find(|purpose| purpose.id == id)) {
                p.notice role="status" { (purpose.title.get(language)) ": " (texts.choice_saved) }
            }
            @for purpose in &purposes {
                section.purpose aria-labelledby=(format!("purpose-{}", purpose.id)) {
                    h2 id=(format!("purpose-{}", purpose.id)) { (purpose.title.get(language)) }
                    p { (purpose.notice.get(language)) }
                    dl {
                        dt { (texts.legal_basis) }
                        dd { (basis(language, purpose.legal_basis)) " (" (purpose.legal_basis_code) ")" }
                        dt { (texts.data_used) }
                        dd { (purpose.categories.iter().map(|c| category(language, *c)).collect::<Vec<_>>().join(", ")) }
                        dt { (texts.kept_for) }
                        dd { (purpose.retention.iter().map(|(c, period)| format!("{}: {}", category(language, *c), texts::period(language, period))).collect::<Vec<_>>().join("; ")) }
                        dt { (texts.who_receives) }
                        dd { (purpose.recipients.join(", ")) }
                    }
                    @if purpose.human_review_required { p { (texts.human_decides) } }
                    div.choice {
                        p {
                            strong { (texts.your_choice) ": " }
                            (texts::state(language, purpose.state))
                            @if let Some(at) = &purpose.chosen_at { " (" (texts.chosen_on) " " (date(language, &at.to_storage())) ")" }
                        }
                        @match next_choice(purpose, texts) {
                            Some((event, label)) => {
                                form method="post" action="/my/choices" {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    input type="hidden" name="purpose" value=(purpose.id);
                                    input type="hidden" name="event" value=(event.as_str());
                                    button type="submit" { (label) }
                                }
                            }
                            None => { p { (texts.no_choice) } }
                        }
                        @if purpose.chosen_at.is_some() {
                            p { a href=(format!("/api/v1/me/consents/{}/receipt", purpose.id)) { (texts.receipt) } }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct ChoiceForm {
    csrf: String,
    purpose: String,
    event: String,
}

async fn choose(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<ChoiceForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let purpose = PurposeId::from_path(&form.purpose).or_page(language)?;
    let event = ConsentEvent::parse(&form.event)
        .ok_or_else(|| crate::problem::ApiError::invalid_field("event", "not a choice"))
        .or_page(language)?;
    let (subject, reasons) = me(&state, &viewer, Action::ManageOwnConsent).await?;
    let choosing = Choosing { event, language, notice_version: None, method: Method::Web, relation: Relation::Own };
    let mut tx = state.db.begin().await.or_page(language)?;
    consent::choose(&mut tx, subject, &purpose, choosing, &Actor::from(&viewer.principal), reasons)
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/my?saved={purpose}#purpose-{purpose}")))
}

async fn data(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let (subject, _) = me(&state, &viewer, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await.or_page(viewer.language)?;
    let mine = crate::rights::my_data(&mut connection, subject).await.or_page(viewer.language)?;
    let texts = viewer.texts();
    let language = viewer.language;
    Ok(page(
        &viewer,
        "/my/data",
        texts.data_title,
        html! {
            h1 { (texts.data_title) }
            p.lead { (texts.data_intro) }
            p { strong { (mine.name) } @if let Some(email) = &mine.email { " · " (email) } }
            h2 { (texts.records_held) }
            table {
                thead { tr { th scope="col" { (texts.category) } th scope="col" { (texts.count) } th scope="col" { (texts.oldest) } th scope="col" { (texts.purpose) } } }
                tbody {
                    @for held in &mine.categories {
                        tr {
                            th scope="row" { (held.category) }
                            td.number { (held.by_source.iter().map(|source| source.records).sum::<u64>()) }
                            td { (held.by_source.iter().map(|source| source.oldest.as_str()).min().map(|oldest| date(language, oldest)).unwrap_or_default()) }
                            td { (held.used_by.iter().map(|used| used.title.as_str()).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
            p { (mine.note) }
            h2 { (texts.download) }
            p { (texts.download_intro) }
            p { a.button href="/api/v1/me/export" download { (texts.download) } }
        },
    ))
}

async fn disclosures(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let (subject, _) = me(&state, &viewer, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await.or_page(viewer.language)?;
    let disclosures = crate::gateway::disclosures_of(&mut connection, subject).await.or_page(viewer.language)?;
    let texts = viewer.texts();
    let language = viewer.language;
    Ok(page(
        &viewer,
        "/my/disclosures",
        texts.disclosures_title,
        html! {
            h1 { (texts.disclosures_title) }
            p.lead { (texts.disclosures_intro) }
            @if disclosures.is_empty() { p { (texts.nothing_yet) } }
            @else {
                table {
                    thead { tr { th scope="col" { (texts.when) } th scope="col" { (texts.tool) } th scope="col" { (texts.purpose) } th scope="col" { (texts.records) } th scope="col" { (texts.fields) } } }
                    tbody {
                        @for disclosure in &disclosures {
                            tr {
                                td { (date(language, &disclosure.at)) }
                                td { (disclosure.reader_name.as_deref().unwrap_or(&disclosure.reader)) }
                                td { (disclosure.purpose) }
                                td.number { (disclosure.records) }
                                td { (disclosure.fields.join(", ")) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

async fn interventions(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let (subject, _) = me(&state, &viewer, Action::ViewOwnData).await?;
    let mut connection = state.db.pool().acquire().await.or_page(viewer.language)?;
    let interventions = crate::analytics::interventions(&mut connection, subject).await.or_page(viewer.language)?;
    let texts = viewer.texts();
    let language = viewer.language;
    Ok(page(
        &viewer,
        "/my/interventions",
        texts.interventions_title,
        html! {
            h1 { (texts.interventions_title) }
            p.lead { (texts.interventions_intro) }
            @if interventions.is_empty() { p { (texts.nothing_yet) } }
            @for intervention in &interventions {
                article.intervention {
                    h2 { (intervention.text) }
                    h3 { (texts.why) }
                    ul { @for reason in &intervention.why { li { (reason) } } }
                    h3 { (texts.data_used) }
                    p { (intervention.data_used.join(", ")) }
                    p { (texts.decided_by) " " (intervention.decided_by) ", " (date(language, &intervention.decided_at)) }
                    @if intervention.declined { p.notice { (texts.declined) } }
                    @else {
                        form method="post" action=(format!("/my/interventions/{}/decline", intervention.id)) {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button.secondary type="submit" { (texts.decline) }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn decline(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let (subject, reasons) = me(&state, &viewer, Action::ViewOwnData).await?;
    let mut tx = state.db.begin().await.or_page(language)?;
    crate::analytics::decline(&mut tx, subject, id, &Actor::from(&viewer.principal), reasons, state.clock.now())
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other("/my/interventions"))
}

async fn sign_out(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let token = headers
        .get(axum::http::header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| crate::auth::sessions::cookie(cookies, crate::auth::sessions::COOKIE))
        .unwrap_or_default();
    let at_provider = crate::auth::end_session(&state, &viewer.principal, &token).await.or_page(viewer.language)?;
    let cleared = state.sessions.set_cookie(crate::auth::sessions::COOKIE, None, 0);
    let next = at_provider.unwrap_or_else(|| "/sign-in".to_owned());
    Ok(([(axum::http::header::SET_COOKIE, cleared)], see_other(&next)).into_response())
}

async fn requests(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let (subject, _) = me(&state, &viewer, Action::ViewOwnData).await?;
    let language = viewer.language;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let mine = crate::rights::requests_of(&mut connection, subject, state.clock.now()).await.or_page(language)?;
    let purposes = consent::purposes_of(&mut connection, subject).await.or_page(language)?;
    let texts = viewer.texts();
    Ok(page(
        &viewer,
        "/my/requests",
        texts.requests_title,
        html! {
            h1 { (texts.requests_title) }
            p.lead { (texts.requests_intro) }
            @if mine.is_empty() { p { (texts.nothing_yet) } }
            @else {
                table {
                    thead { tr { th scope="col" { (texts.request_kind) } th scope="col" { (texts.when) } th scope="col" { (texts.answer_by) } th scope="col" { (texts.request_state) } th scope="col" { (texts.reply) } } }
                    tbody {
                        @for request in &mine {
                            tr {
                                td { (texts::word(language, request.kind.as_str())) }
                                td { (date(language, &request.received_at)) }
                                td { (date(language, &request.deadline)) }
                                td { (texts::word(language, request.state.as_str())) }
                                td { (request.reply.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
            h2 { (texts.new_request) }
            form method="post" action="/my/requests" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="kind" { (texts.request_kind) }
                select id="kind" name="kind" {
                    @for kind in ["access", "rectification", "erasure", "restriction", "objection"] {
                        option value=(kind) { (texts::word(language, kind)) }
                    }
                }
                label for="text" { (texts.request_text) }
                textarea id="text" name="text" rows="4" required {}
                label for="purpose" { (texts.request_purpose) }
                select id="purpose" name="purpose" {
                    option value="" { "—" }
                    @for purpose in &purposes { option value=(purpose.id) { (purpose.title.get(language)) } }
                }
                label for="record" { (texts.request_record) }
                input type="text" id="record" name="record";
                p { button type="submit" { (texts.send_request) } }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct RequestForm {
    csrf: String,
    kind: String,
    text: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    record: String,
}

async fn file_request(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<RequestForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let kind: crate::rights::RequestKind = serde_json::from_value(serde_json::Value::String(form.kind))
        .map_err(|_| crate::problem::ApiError::invalid_field("kind", "not a kind of request"))
        .or_page(language)?;
    let record = match form.record.trim() {
        "" => None,
        text => Some(
            uuid::Uuid::parse_str(text)
                .map_err(|_| crate::problem::ApiError::invalid_field("record", "a record id from your export"))
                .or_page(language)?,
        ),
    };
    let new = crate::rights::NewRequest {
        kind,
        text: form.text,
        record,
        purpose: Some(form.purpose.trim().to_owned()).filter(|purpose| !purpose.is_empty()),
    };
    new.validate().or_page(language)?;
    let (subject, reasons) = me(&state, &viewer, Action::FileDataRequest).await?;
    let mut tx = state.db.begin().await.or_page(language)?;
    crate::rights::file_request(&mut tx, subject, &new, &Actor::from(&viewer.principal), reasons, state.clock.now())
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other("/my/requests"))
}
