//! The data-subject request queue: open requests by deadline, and what the privacy office
//! does with each (reply, extend once, fulfil, refuse, lift a restriction).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::super::layout::page;
use super::super::texts::date;
use super::super::{OrPage, PageError, Viewer, see_other};
use super::{office_texts, word};
use crate::audit::Actor;
use crate::policy::{Action, Resource};
use crate::rights::{Fulfilment, Handling};
use crate::server::AppState;

pub async fn queue(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let language = viewer.language;
    state
        .gate
        .authorize(&viewer.principal, Action::HandleDataRequest, Resource::DataRequest("*".to_owned()))
        .await
        .or_page(language)?;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let requests = crate::rights::request_queue(&mut connection, false, state.clock.now()).await.or_page(language)?;
    let texts = office_texts(language);
    Ok(page(
        &viewer,
        "/office",
        texts.requests_title,
        html! {
            p { a href="/office" { "← " (texts.office_title) } }
            h1 { (texts.requests_title) }
            p.lead { (texts.requests_intro) }
            @if requests.is_empty() { p { (texts.no_requests) } }
            @for request in &requests {
                section.purpose aria-labelledby=(format!("request-{}", request.id)) {
                    h2 id=(format!("request-{}", request.id)) {
                        (word(language, request.kind.as_str())) " · " (word(language, request.state.as_str()))
                    }
                    p {
                        (texts.received) " " (date(language, &request.received_at)) " · " (texts.deadline) " " (date(language, &request.deadline))
                        @if request.overdue { " · " strong { (texts.overdue) } }
                        @else if request.state.is_open() { " · " (request.due_in_days) " " (texts.days_left) }
                    }
                    blockquote { (request.details["text"].as_str().unwrap_or_default()) }
                    @if let Some(reply) = &request.reply { p { (texts.last_reply) ": " (reply) } }
                    @if request.state.is_open() || request.kind == crate::rights::RequestKind::Restriction {
                        form method="post" action=(format!("/office/requests/{}", request.id)) {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            @let action_id = format!("action-{}", request.id);
                            label for=(action_id) { (texts.handling) }
                            select id=(action_id) name="action" {
                                @for (value, label) in [("reply", texts.do_reply), ("extend", texts.do_extend), ("fulfil", texts.do_fulfil), ("refuse", texts.do_refuse), ("lift_restriction", texts.do_lift)] {
                                    option value=(value) { (label) }
                                }
                            }
                            @let text_id = format!("text-{}", request.id);
                            label for=(text_id) { (texts.message_to_student) }
                            textarea id=(text_id) name="text" rows="2" required {}
                            @let months_id = format!("months-{}", request.id);
                            label for=(months_id) { (texts.extend_months) }
                            select id=(months_id) name="months" { option value="1" { "1" } option value="2" { "2" } }
                            p { button type="submit" { (texts.carry_out) } }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct HandlingForm {
    csrf: String,
    action: String,
    text: String,
    #[serde(default)]
    months: Option<u8>,
}

pub async fn handle(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(form): Form<HandlingForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let text = form.text.trim().to_owned();
    let handling = match form.action.as_str() {
        "extend" => Handling::Extend { months: form.months.unwrap_or(1), reason: text },
        "fulfil" => Handling::Fulfil { text },
        "refuse" => Handling::Refuse { reason: text },
        "lift_restriction" => Handling::LiftRestriction { text },
        _ => Handling::Reply { text, waiting_for_student: false },
    };
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::HandleDataRequest, Resource::DataRequest(id.to_string()))
        .await
        .or_page(language)?;
    let context = Fulfilment { now: state.clock.now(), key: &state.audit_key, reasons: decision.reasons };
    crate::rights::handle_request(&state.db, id, &handling, &Actor::from(&viewer.principal), &context)
        .await
        .or_page(language)?;
    Ok(see_other(&format!("/office/requests#request-{id}")))
}
