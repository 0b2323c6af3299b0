//! DPIAs in the browser: the register of assessments, a new one from a template, and one
//! assessment with its prefilled answers (stale ones marked), answers, risk register and
//! matrix, comments, and the workflow to the DPO's decision.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::layout::page;
use super::super::texts::date;
use super::super::{OrPage, PageError, Viewer, see_other};
use super::{office_texts, word};
use crate::audit::Actor;
use crate::auth::Role;
use crate::dpia::{self, DpiaStatus, DpiaView, Measure, MeasureStatus, Risk, RiskRegister, Score};
use crate::policy::{Action, Resource};
use crate::purposes::{self, Language, PurposeId};
use crate::server::AppState;

async fn allowed(state: &AppState, viewer: &Viewer, action: Action, id: &str) -> Result<Vec<String>, PageError> {
    let decision = state
        .gate
        .authorize(&viewer.principal, action, Resource::Dpia(id.to_owned()))
        .await
        .or_page(viewer.language)?;
    Ok(decision.reasons)
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let language = viewer.language;
    allowed(&state, &viewer, Action::ViewDpia, "*").await?;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let dpias = dpia::list(&mut connection, &state.dpia, &state.gate.engine()).await.or_page(language)?;
    let all_purposes = purposes::list(&mut connection).await.or_page(language)?;
    let texts = office_texts(language);
    let drafting = viewer.principal.roles.contains(&Role::PrivacyOfficer);
    Ok(page(
        &viewer,
        "/office",
        texts.dpias_title,
        html! {
            p { a href="/office" { "← " (texts.office_title) } }
            h1 { (texts.dpias_title) }
            p.lead { (texts.dpias_intro) }
            table {
                thead { tr { th scope="col" { (texts.dpia) } th scope="col" { (texts.purposes_of_tool) } th scope="col" { (texts.status) } th scope="col" { (texts.review_by) } th scope="col" { (texts.needs_review) } } }
                tbody {
                    @for summary in &dpias {
                        tr {
                            th scope="row" { a href=(format!("/office/dpias/{}", summary.id)) { (summary.title) } br; code { (summary.template) } }
                            td { (summary.purposes.join(", ")) }
                            td { (word(language, summary.status.as_str())) }
                            td { (summary.review_date.as_deref().map(|day| date(language, day)).unwrap_or_default()) }
                            td { @if summary.needs_review.is_empty() { "—" } @else { strong { (texts.yes) } } }
                        }
                    }
                }
            }
            @if drafting {
                h2 { (texts.new_dpia) }
                form method="post" action="/office/dpias" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label for="dpia-title" { (texts.dpia_title_label) }
                    input type="text" id="dpia-title" name="title" required;
                    label for="dpia-template" { (texts.template) }
                    select id="dpia-template" name="template" {
                        @for template in state.dpia.templates.all() { option value=(template.id) { (template.title.get(language)) } }
                    }
                    fieldset {
                        legend { (texts.purposes_of_tool) }
                        @for purpose in &all_purposes {
                            div.radio {
                                input type="checkbox" id=(format!("dpia-purpose-{}", purpose.id)) name="purpose" value=(purpose.id);
                                label for=(format!("dpia-purpose-{}", purpose.id)) { (purpose.definition.title.get(language)) " (" code { (purpose.id) } ")" }
                            }
                        }
                    }
                    label for="dpia-language" { (texts.written_in) }
                    select id="dpia-language" name="language" { option value="nl" { "Nederlands" } option value="en" { "English" } }
                    p { button type="submit" { (texts.start_dpia) } }
                }
            }
        },
    ))
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let language = viewer.language;
    let mut csrf = String::new();
    let mut new =
        dpia::NewDpia { template: String::new(), purposes: Vec::new(), title: String::new(), language: Language::Nl };
    for (key, value) in pairs {
        match key.as_str() {
            "csrf" => csrf = value,
            "title" => new.title = value,
            "template" => new.template = value,
            "language" if value == "en" => new.language = Language::En,
            "purpose" => new.purposes.extend(PurposeId::parse(&value).ok()),
            _ => {}
        }
    }
    viewer.check(&csrf)?;
    let reasons = allowed(&state, &viewer, Action::EditDpia, "*").await?;
    let mut tx = state.db.begin().await.or_page(language)?;
    let created =
        dpia::create(&mut tx, &state.dpia, &state.gate.engine(), &new, &Actor::from(&viewer.principal), reasons)
            .await
            .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/office/dpias/{}", created.id)))
}

fn score_select(name: &str, label: &str, value: Option<u8>) -> Markup {
    html! {
        label for=(name) { (label) }
        select id=(name) name=(name) {
            option value="" { "—" }
            @for level in 1..=4u8 { option value=(level) selected[value == Some(level)] { (level) } }
        }
    }
}

/// The risk register as a form: each risk and measure a fieldset, and one empty of each
/// to add.
fn register_form(viewer: &Viewer, view: &DpiaView) -> Markup {
    let texts = office_texts(viewer.language);
    let blank_risk = Risk::named("", "");
    let blank_measure = Measure {
        id: String::new(),
        title: String::new(),
        description: String::new(),
        risks: Vec::new(),
        status: MeasureStatus::Planned,
        owner: String::new(),
    };
    let risks: Vec<&Risk> = view.risks.iter().chain(std::iter::once(&blank_risk)).collect();
    let measures: Vec<&Measure> = view.measures.iter().chain(std::iter::once(&blank_measure)).collect();
    html! {
        form method="post" action=(format!("/office/dpias/{}/risks", view.id)) {
            input type="hidden" name="csrf" value=(viewer.csrf);
            @for (index, risk) in risks.iter().enumerate() {
                fieldset {
                    legend { @if risk.id.is_empty() { (texts.add_risk) } @else { (texts.risk) " " (risk.id) } }
                    div.grid {
                        @for (field, label, value) in [("id", "Id", &risk.id), ("title", texts.title, &risk.title), ("impacts", texts.impacts, &risk.impacts), ("threats", texts.threats, &risk.threats), ("sources", texts.risk_sources, &risk.sources)] {
                            div {
                                label for=(format!("risk-{index}-{field}")) { (label) }
                                input type="text" id=(format!("risk-{index}-{field}")) name=(format!("risk-{index}-{field}")) value=(value);
                            }
                        }
                        div { (score_select(&format!("risk-{index}-inherent-likelihood"), texts.inherent_likelihood, risk.inherent.map(|score| score.likelihood))) }
                        div { (score_select(&format!("risk-{index}-inherent-severity"), texts.inherent_severity, risk.inherent.map(|score| score.severity))) }
                        div { (score_select(&format!("risk-{index}-residual-likelihood"), texts.residual_likelihood, risk.residual.map(|score| score.likelihood))) }
                        div { (score_select(&format!("risk-{index}-residual-severity"), texts.residual_severity, risk.residual.map(|score| score.severity))) }
                    }
                }
            }
            @for (index, measure) in measures.iter().enumerate() {
                fieldset {
                    legend { @if measure.id.is_empty() { (texts.add_measure) } @else { (texts.measure) " " (measure.id) } }
                    div.grid {
                        @for (field, label, value) in [("id", "Id".to_owned(), measure.id.clone()), ("title", texts.title.to_owned(), measure.title.clone()), ("risks", texts.risks_addressed.to_owned(), measure.risks.join(", ")), ("owner", texts.owner.to_owned(), measure.owner.clone())] {
                            div {
                                label for=(format!("measure-{index}-{field}")) { (label) }
                                input type="text" id=(format!("measure-{index}-{field}")) name=(format!("measure-{index}-{field}")) value=(value);
                            }
                        }
                        div {
                            label for=(format!("measure-{index}-status")) { (texts.status) }
                            select id=(format!("measure-{index}-status")) name=(format!("measure-{index}-status")) {
                                option value="planned" selected[measure.status == MeasureStatus::Planned] { (texts.planned) }
                                option value="implemented" selected[measure.status == MeasureStatus::Implemented] { (texts.implemented) }
                            }
                        }
                    }
                }
            }
            p { button type="submit" { (texts.save_risks) } }
        }
    }
}

pub async fn show(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Result<Markup, PageError> {
    let language = viewer.language;
    allowed(&state, &viewer, Action::ViewDpia, &id).await?;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let view = dpia::view(&mut connection, &state.dpia, &state.gate.engine(), &id).await.or_page(language)?;
    let texts = office_texts(language);
    let draft = view.status == DpiaStatus::Draft;
    let officer = viewer.principal.roles.contains(&Role::PrivacyOfficer);
    let dpo = viewer.principal.roles.contains(&Role::Dpo);
    let action = |path: &str| format!("/office/dpias/{}/{path}", view.id);
    Ok(page(
        &viewer,
        "/office",
        &view.title,
        html! {
            p { a href="/office/dpias" { "← " (texts.dpias_title) } }
            h1 { (view.title) }
            p {
                (view.template_title.get(language)) " · " (word(language, view.status.as_str())) " · " (texts.revision) " " (view.revision)
                @if let Some(day) = &view.review_date { " · " (texts.review_by) " " (date(language, day)) }
            }
            p { (texts.purposes_of_tool) ": "
                @for purpose in &view.purposes { code { (purpose.id) } " (" (texts.version) " " (purpose.assessed_version) @if purpose.current_version != purpose.assessed_version { " → " (purpose.current_version) } ") " }
            }
            p { a href=(format!("/api/v1/dpias/{}/export?format=html", view.id)) { (texts.export_html) } " · " a href=(format!("/api/v1/dpias/{}/export?format=md", view.id)) { (texts.export_md) } }
            @if !view.needs_review.is_empty() {
                div.problems role="alert" { h2 { (texts.needs_review) } ul { @for reason in &view.needs_review { li { (reason) } } } }
            } @else if !view.stale.is_empty() {
                p.notice { (texts.stale_answers) " " (view.stale.join(", ")) }
            }
            @for section in &view.sections {
                section aria-labelledby=(format!("section-{}", section.id)) {
                    h2 id=(format!("section-{}", section.id)) { (section.title.get(language)) }
                    @for question in &section.questions {
                        div.question {
                            h3 id=(format!("q-{}", question.id)) { (question.text.get(language)) }
                            @if let Some(help) = &question.help { p.note { (help.get(language)) } }
                            @if let Some(prefill) = &question.answer.prefill {
                                div.register {
                                    p { strong { (texts.from_register) } }
                                    ul { @for line in prefill.text.get(language).lines() { li { (line) } } }
                                }
                            }
                            @if let Some(current) = &question.current {
                                div.notice { p { strong { (texts.register_now) } } ul { @for line in current.text.get(language).lines() { li { (line) } } } }
                            }
                            @if draft && officer {
                                form method="post" action=(action(&format!("answers/{}", question.id))) {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    label for=(format!("answer-{}", question.id)) { (texts.your_answer) }
                                    textarea id=(format!("answer-{}", question.id)) name="text" rows="3" { (question.answer.text.clone().unwrap_or_default()) }
                                    button.secondary type="submit" aria-describedby=(format!("q-{}", question.id)) { (texts.save_answer) }
                                }
                            } @else if let Some(text) = &question.answer.text {
                                p { (text) }
                            }
                        }
                    }
                    @if section.risks {
                        h3 { (texts.risks_title) }
                        @if draft && officer { (register_form(&viewer, &view)) }
                        @else {
                            table {
                                thead { tr { th scope="col" { "Id" } th scope="col" { (texts.title) } th scope="col" { (texts.inherent) } th scope="col" { (texts.residual) } } }
                                tbody { @for risk in &view.risks { tr { td { (risk.id) } td { (risk.title) } td { (level(risk.inherent)) } td { (level(risk.residual)) } } } }
                            }
                        }
                        (dpia::matrix(&view.risks, language))
                    }
                }
            }
            h2 { (texts.workflow) }
            @if draft && officer {
                form.inline method="post" action=(action("refresh")) { input type="hidden" name="csrf" value=(viewer.csrf); button.secondary type="submit" { (texts.refresh) } }
                " "
                form.inline method="post" action=(action("submit")) { input type="hidden" name="csrf" value=(viewer.csrf); button type="submit" { (texts.submit_to_dpo) } }
            }
            @if view.status == DpiaStatus::InReview && dpo {
                form method="post" action=(action("decision")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    fieldset {
                        legend { (texts.dpo_decision) }
                        div.radio { input type="radio" id="verdict-approved" name="decision" value="approved" required; label for="verdict-approved" { (texts.approve) } }
                        div.radio { input type="radio" id="verdict-rejected" name="decision" value="rejected"; label for="verdict-rejected" { (texts.reject) } }
                    }
                    label for="review-date" { (texts.next_review) }
                    input type="text" id="review-date" name="review_date" placeholder="2027-11-23";
                    label for="rationale" { (texts.rationale) }
                    textarea id="rationale" name="rationale" rows="2" {}
                    p { button type="submit" { (texts.record_decision) } }
                }
            }
            @if !draft && officer {
                form method="post" action=(action("reopen")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label for="reopen-reason" { (texts.reopen_reason) }
                    input type="text" id="reopen-reason" name="reason" required;
                    p { button.secondary type="submit" { (texts.reopen) } }
                }
            }
            h2 { (texts.comments) }
            ul { @for comment in &view.comments { li { (date(language, &comment.created_at.to_storage())) " " strong { (comment.author) } @if let Some(question) = &comment.question { " (" (question) ")" } ": " (comment.body) } } }
            form method="post" action=(action("comments")) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="comment-question" { (texts.on_question) }
            select id="comment-question" name="question" {
                option value="" { "—" }
                @for question in view.sections.iter().flat_map(|section| &section.questions) {
                    option value=(question.id) { (question.text.get(language)) }
                }
            }
            label for="comment-body" { (texts.add_comment) }
                textarea id="comment-body" name="body" rows="2" required {}
                p { button.secondary type="submit" { (texts.post_comment) } }
            }
        },
    ))
}

fn level(score: Option<Score>) -> String {
    score.map_or_else(|| "—".to_owned(), |score| format!("{}×{} = {}", score.likelihood, score.severity, score.level()))
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    csrf: String,
    text: String,
}

pub async fn answer(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, question)): Path<(String, String)>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let reasons = allowed(&state, &viewer, Action::EditDpia, &id).await?;
    let mut tx = state.db.begin().await.or_page(language)?;
    dpia::set_answer(
        &mut tx,
        &state.dpia,
        &id,
        &question,
        &form.text.replace("\r\n", "\n"),
        &Actor::from(&viewer.principal),
        reasons,
    )
    .await
    .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/office/dpias/{id}#q-{question}")))
}

/// The risk register from the form: rows without an id or title are left out.
fn register_from(pairs: &[(String, String)]) -> RiskRegister {
    let field = |prefix: &str, index: usize, name: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == format!("{prefix}-{index}-{name}"))
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default()
    };
    let score = |index: usize, which: &str| {
        let likelihood = field("risk", index, &format!("{which}-likelihood")).parse().ok();
        let severity = field("risk", index, &format!("{which}-severity")).parse().ok();
        likelihood.zip(severity).map(|(likelihood, severity)| Score { likelihood, severity })
    };
    let rows = |prefix: &str| {
        pairs.iter().filter(|(key, _)| key.starts_with(&format!("{prefix}-")) && key.ends_with("-id")).count()
    };
    let risks = (0..rows("risk"))
        .map(|index| Risk {
            impacts: field("risk", index, "impacts"),
            threats: field("risk", index, "threats"),
            sources: field("risk", index, "sources"),
            inherent: score(index, "inherent"),
            residual: score(index, "residual"),
            ..Risk::named(field("risk", index, "id"), field("risk", index, "title"))
        })
        .filter(|risk| !(risk.id.is_empty() && risk.title.is_empty()))
        .collect();
    let measures = (0..rows("measure"))
        .map(|index| Measure {
            id: field("measure", index, "id"),
            title: field("measure", index, "title"),
            description: String::new(),
            risks: field("measure", index, "risks")
                .split(',')
                .map(str::trim)
                .filter(|risk| !risk.is_empty())
                .map(str::to_owned)
                .collect(),
            status: if field("measure", index, "status") == "implemented" {
                MeasureStatus::Implemented
            } else {
                MeasureStatus::Planned
            },
            owner: field("measure", index, "owner"),
        })
        .filter(|measure| !(measure.id.is_empty() && measure.title.is_empty()))
        .collect();
    RiskRegister { risks, measures }
}

pub async fn risks(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let csrf = pairs.iter().find(|(key, _)| key == "csrf").map(|(_, value)| value.clone()).unwrap_or_default();
    viewer.check(&csrf)?;
    let language = viewer.language;
    let reasons = allowed(&state, &viewer, Action::EditDpia, &id).await?;
    let mut tx = state.db.begin().await.or_page(language)?;
    dpia::set_risk_register(&mut tx, &id, register_from(&pairs), &Actor::from(&viewer.principal), reasons)
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/office/dpias/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Refresh, submit: workflow steps that need nothing but the token.
pub async fn step(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let reasons = allowed(&state, &viewer, Action::EditDpia, &id).await?;
    let actor = Actor::from(&viewer.principal);
    let mut tx = state.db.begin().await.or_page(language)?;
    match step.as_str() {
        "refresh" => dpia::refresh(&mut tx, &state.dpia, &state.gate.engine(), &id, &actor, reasons).await,
        "submit" => dpia::submit(&mut tx, &state.dpia, &id, &actor, reasons).await,
        _ => Err(dpia::DpiaError::NotFound(format!("{id}/{step}"))),
    }
    .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/office/dpias/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct ReopenForm {
    csrf: String,
    reason: String,
}

pub async fn reopen(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ReopenForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let reasons = allowed(&state, &viewer, Action::EditDpia, &id).await?;
    let mut tx = state.db.begin().await.or_page(language)?;
    dpia::reopen(&mut tx, &id, &form.reason, &Actor::from(&viewer.principal), reasons).await.or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/office/dpias/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    review_date: String,
    #[serde(default)]
    rationale: String,
}

pub async fn decide(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let reasons = allowed(&state, &viewer, Action::ApproveDpia, &id).await?;
    let decision = dpia::DpiaDecision {
        decision: if form.decision == "approved" { dpia::Verdict::Approved } else { dpia::Verdict::Rejected },
        rationale: form.rationale,
        review_date: Some(form.review_date.trim().to_owned()).filter(|day| !day.is_empty()),
    };
    let mut tx = state.db.begin().await.or_page(language)?;
    dpia::decide(&mut tx, &id, &decision, &Actor::from(&viewer.principal), reasons).await.or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/office/dpias/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    csrf: String,
    #[serde(default)]
    question: String,
    body: String,
}

pub async fn comment(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let reasons = allowed(&state, &viewer, Action::ViewDpia, &id).await?;
    let mut tx = state.db.begin().await.or_page(language)?;
    let question = Some(form.question.as_str()).filter(|question| !question.is_empty());
    dpia::comment(&mut tx, &state.dpia, &id, question, &form.body, &Actor::from(&viewer.principal), reasons)
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other(&format!("/office/dpias/{id}")))
}
