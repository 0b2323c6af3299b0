//! Mentors' pages: the proposals queue, one proposal with its explanation first and a
//! chart of the student's indicators beside the group and the norm, and the decision.

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::texts::{self, Texts, date};
use super::{OrPage, PageError, Viewer, see_other};
use crate::analytics::{CourseIndicators, DecisionBody, Proposal};
use crate::audit::Actor;
use crate::policy::{Action, Resource};
use crate::purposes::Language;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/proposals", get(queue))
        .route("/proposals/{id}", get(proposal))
        .route("/proposals/{id}/decision", post(decide))
}

async fn queue(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let language = viewer.language;
    crate::analytics::expire(&state.db, state.clock.now()).await.or_page(language)?;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let proposals = crate::analytics::proposals_of(&mut connection, &viewer.principal.id).await.or_page(language)?;
    let mut names = Vec::new();
    for proposal in &proposals {
        names.push(
            crate::directory::subject_name(&mut connection, proposal.subject)
                .await
                .or_page(language)?
                .unwrap_or_default(),
        );
    }
    let texts = viewer.texts();
    Ok(page(
        &viewer,
        "/proposals",
        texts.proposals_title,
        html! {
            h1 { (texts.proposals_title) }
            p.lead { (texts.proposals_intro) }
            @if proposals.is_empty() { p { (texts.nothing_yet) } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { (texts.student) } th scope="col" { (texts.proposed_action) }
                        th scope="col" { (texts.risk) } th scope="col" { (texts.status) } th scope="col" { (texts.expires) }
                    } }
                    tbody {
                        @for (proposal, name) in proposals.iter().zip(&names) {
                            tr {
                                td.number { (proposal.rank) }
                                td { a href=(format!("/proposals/{}", proposal.id)) { (name) } }
                                td { (texts::action(language, &proposal.action)) }
                                td.number { (percent(language, proposal.score)) }
                                td { (texts::proposal_status(language, &proposal.status)) }
                                td { (date(language, &proposal.expires_at)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn percent(language: Language, value: f64) -> String {
    let text = format!("{:.0} %", value * 100.0);
    if language == Language::Nl { text } else { text.replace(" %", "%") }
}

/// One course's indicators as horizontal bars: the student's value as a filled bar with
/// its number, the group mean as a hollow diamond, the norm as a dashed line; shapes and
/// words, not colour, tell them apart.
fn chart(course: &CourseIndicators, texts: &Texts, language: Language) -> Markup {
    const LEFT: f64 = 190.0;
    const WIDTH: f64 = 300.0;
    const ROW: f64 = 34.0;
    let height = ROW * course.indicators.len() as f64 + 40.0;
    let x = |value: f64| LEFT + WIDTH * value.clamp(0.0, 1.0);
    let summary = course
        .indicators
        .iter()
        .map(|indicator| {
            format!(
                "{}: {} ({} {}, {} {})",
                texts::indicator(language, &indicator.name),
                percent(language, indicator.value),
                texts.group_mean,
                percent(language, indicator.group_mean),
                texts.norm,
                percent(language, indicator.norm)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let legend = height - 12.0;
    html! {
        figure {
            figcaption { (course.course) }
            svg.chart role="img" aria-label=(summary) viewBox=(format!("0 0 560 {height:.0}")) width="100%" {
                @for (index, indicator) in course.indicators.iter().enumerate() {
                    @let top = 10.0 + ROW * index as f64;
                    @let middle = top + ROW / 2.0;
                    @let mean = x(indicator.group_mean);
                    @let norm = x(indicator.norm);
                    text.label x="0" y=(middle + 4.0) {
                        (texts::indicator(language, &indicator.name)) @if indicator.below_norm { " ▼" }
                    }
                    rect.track x=(LEFT) y=(middle - 7.0) width=(WIDTH) height="14" {}
                    rect.value x=(LEFT) y=(middle - 7.0) width=(WIDTH * indicator.value.clamp(0.0, 1.0)) height="14" {}
                    line.norm x1=(norm) x2=(norm) y1=(top + 2.0) y2=(top + ROW - 4.0) {}
                    path.mean d=(format!("M{mean:.1} {:.1} l6 7 l-6 7 l-6 -7 z", middle - 7.0)) {}
                    text.number x=(LEFT + WIDTH + 8.0) y=(middle + 4.0) { (percent(language, indicator.value)) }
                }
                rect.value x=(LEFT) y=(legend - 9.0) width="14" height="10" {}
                text.legend x=(LEFT + 20.0) y=(legend) { (texts.this_student) }
                path.mean d=(format!("M{:.1} {:.1} l5 6 l-5 6 l-5 -6 z", LEFT + 115.0, legend - 10.0)) {}
                text.legend x=(LEFT + 125.0) y=(legend) { (texts.group_mean) }
                line.norm x1=(LEFT + 225.0) x2=(LEFT + 225.0) y1=(legend - 11.0) y2=(legend + 2.0) {}
                text.legend x=(LEFT + 232.0) y=(legend) { (texts.norm) }
            }
        }
    }
}

/// The explanation's courses and indicators.
fn courses(proposal: &Proposal) -> Vec<CourseIndicators> {
    serde_json::from_value(proposal.explanation["courses"].clone()).unwrap_or_default()
}

async fn proposal(State(state): State<AppState>, viewer: Viewer, Path(id): Path<Uuid>) -> Result<Markup, PageError> {
    let language = viewer.language;
    state
        .gate
        .authorize(&viewer.principal, Action::ViewProposal, Resource::Proposal(id.to_string()))
        .await
        .or_page(language)?;
    let mut tx = state.db.begin().await.or_page(language)?;
    let proposal = crate::analytics::open(&mut tx, id, &Actor::from(&viewer.principal), state.clock.now())
        .await
        .or_page(language)?;
    let name = crate::directory::subject_name(&mut tx, proposal.subject).await.or_page(language)?.unwrap_or_default();
    tx.commit().await.or_page(language)?;
    let texts = viewer.texts();
    let explanation = &proposal.explanation;
    Ok(page(
        &viewer,
        "/proposals",
        texts.proposal_title,
        html! {
            p { a href="/proposals" { "← " (texts.proposals_title) } }
            h1 { (texts.proposal_title) ": " (name) }
            section aria-labelledby="why" {
                h2 id="why" { (texts.why) }
                p {
                    (texts.risk) " " strong { (percent(language, proposal.score)) } " · "
                    (texts.model) " " code { (proposal.model_version) } " · "
                    (texts.purpose) " " code { (explanation["purpose"].as_str().unwrap_or_default()) } " · "
                    (texts.legal_basis) " " (explanation["legal_basis"].as_str().unwrap_or_default())
                }
                p { (texts.risk_explained) }
                @for course in courses(&proposal) {
                    (chart(&course, texts, language))
                    table {
                        caption { (texts.indicators_of) " " (course.course) }
                        thead { tr { th scope="col" { (texts.indicator) } th scope="col" { (texts.this_student) } th scope="col" { (texts.group_mean) } th scope="col" { (texts.norm) } } }
                        tbody {
                            @for indicator in &course.indicators {
                                tr {
                                    th scope="row" { (texts::indicator(language, &indicator.name)) @if indicator.below_norm { " ▼ " span.note { (texts.below_norm) } } }
                                    td.number { (percent(language, indicator.value)) }
                                    td.number { (percent(language, indicator.group_mean)) }
                                    td.number { (percent(language, indicator.norm)) }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="proposed" {
                h2 id="proposed" { (texts.proposed_action) ": " (texts::action(language, &proposal.action)) }
                p { (texts.status) ": " (texts::proposal_status(language, &proposal.status)) " · " (texts.expires) " " (date(language, &proposal.expires_at)) }
                @if proposal.status == "pending" {
                    form method="post" action=(format!("/proposals/{}/decision", proposal.id)) {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        fieldset {
                            legend { (texts.your_decision) }
                            @for (value, label) in [("approve", texts.approve), ("reject", texts.reject), ("amend", texts.amend)] {
                                div.radio {
                                    input type="radio" name="decision" id=(format!("decision-{value}")) value=(value) required;
                                    label for=(format!("decision-{value}")) { (label) }
                                }
                            }
                        }
                        label for="rationale" { (texts.rationale) }
                        textarea id="rationale" name="rationale" rows="3" {}
                        label for="amended-action" { (texts.amended_action) }
                        select id="amended-action" name="action" {
                            option value="" { "—" }
                            @for action in ["invite_conversation", "offer_extra_material", "check_in"] {
                                option value=(action) { (texts::action(language, action)) }
                            }
                        }
                        label for="amended-text" { (texts.amended_text) }
                        textarea id="amended-text" name="text" rows="3" {}
                        p { button type="submit" { (texts.decide) } }
                    }
                } @else {
                    p { (texts.decided_by) " " (proposal.decided_by.as_deref().unwrap_or_default()) @if let Some(rationale) = &proposal.rationale { ": " (rationale) } }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    rationale: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    text: String,
}

async fn decide(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let filled = |text: String| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
    let body = DecisionBody {
        decision: form.decision,
        rationale: filled(form.rationale),
        action: filled(form.action),
        text: filled(form.text),
    };
    body.validate().or_page(language)?;
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::DecideProposal, Resource::Proposal(id.to_string()))
        .await
        .or_page(language)?;
    let mut tx = state.db.begin().await.or_page(language)?;
    crate::analytics::decide(&mut tx, id, &body, &Actor::from(&viewer.principal), decision.reasons, state.clock.now())
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/proposals/{id}")))
}
