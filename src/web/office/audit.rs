//! The audit log for people: search with filters, the chain's verification, and an export
//! (optionally encrypted to age recipients) through the API's streaming export.

use axum::Form;
use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::layout::page;
use super::super::{OrPage, PageError, Viewer};
use super::{office_texts, word};
use crate::audit::{self, Actor, EventFilter};
use crate::policy::{Action, Resource};
use crate::server::AppState;

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    after: Option<i64>,
}

fn filled(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|text| !text.is_empty())
}

pub async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(search): Query<Search>,
) -> Result<Markup, PageError> {
    let language = viewer.language;
    state.gate.authorize(&viewer.principal, Action::ReadAudit, Resource::AuditLog).await.or_page(language)?;
    let filter = EventFilter {
        from: super::moment("from", &search.from).or_page(language)?,
        until: super::moment("until", &search.until).or_page(language)?,
        actor: filled(&search.actor),
        subject: filled(&search.subject),
        purpose: filled(&search.purpose),
        action: filled(&search.action),
        decision: match search.decision.as_str() {
            "allow" => Some(audit::Decision::Allow),
            "deny" => Some(audit::Decision::Deny),
            _ => None,
        },
    };
    let events =
        audit::list_events(state.db.pool(), &filter, search.after.unwrap_or(0), PAGE).await.or_page(language)?;
    let texts = office_texts(language);
    let next = (events.len() as i64 == PAGE).then(|| events.last().map(|event| event.seq)).flatten();
    let query = |after: i64| {
        let pairs = [
            ("actor", &search.actor),
            ("subject", &search.subject),
            ("purpose", &search.purpose),
            ("action", &search.action),
            ("decision", &search.decision),
            ("from", &search.from),
            ("until", &search.until),
        ];
        let mut url = format!("/office/audit?after={after}");
        for (key, value) in pairs {
            if !value.is_empty() {
                url.push_str(&format!("&{key}={}", urlencoding(value)));
            }
        }
        url
    };
    Ok(page(
        &viewer,
        "/office",
        texts.audit_title,
        html! {
            p { a href="/office" { "← " (texts.office_title) } }
            h1 { (texts.audit_title) }
            p.lead { (texts.audit_intro) }
            form method="get" action="/office/audit" {
                div.grid {
                    @for (name, label, value) in [
                        ("actor", texts.actor, &search.actor), ("subject", texts.subject_id, &search.subject),
                        ("purpose", texts.purpose, &search.purpose), ("action", texts.event_action, &search.action),
                        ("from", texts.from_date, &search.from), ("until", texts.until_date, &search.until),
                    ] {
                        div {
                            label for=(format!("search-{name}")) { (label) }
                            input type="text" id=(format!("search-{name}")) name=(name) value=(value);
                        }
                    }
                    div {
                        label for="search-decision" { (texts.decision) }
                        select id="search-decision" name="decision" {
                            option value="" { "—" }
                            option value="allow" selected[search.decision == "allow"] { (word(language, "allow")) }
                            option value="deny" selected[search.decision == "deny"] { (word(language, "deny")) }
                        }
                    }
                }
                p { button type="submit" { (texts.search) } }
            }
            table {
                thead { tr { th scope="col" { "#" } th scope="col" { (texts.when) } th scope="col" { (texts.actor) } th scope="col" { (texts.event_action) } th scope="col" { (texts.resource) } th scope="col" { (texts.decision) } th scope="col" { (texts.reasons) } } }
                tbody {
                    @for event in &events {
                        tr {
                            td.number { (event.seq) }
                            td { (event.at.to_storage()[..19].replace('T', " ")) }
                            td { (event.actor.id) }
                            td { code { (event.action) } }
                            td { (event.resource) }
                            td { (word(language, if event.decision == audit::Decision::Allow { "allow" } else { "deny" })) }
                            td { (event.reasons.join(", ")) }
                        }
                    }
                }
            }
            @if events.is_empty() { p { (texts.no_events) } }
            @if let Some(next) = next { p { a href=(query(next)) { (texts.next_page) " →" } } }
            h2 { (texts.verify_title) }
            form method="post" action="/office/audit/verify" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                p { button.secondary type="submit" { (texts.verify_button) } }
            }
            h2 { (texts.export_title) }
            p { (texts.export_intro) }
            form method="get" action="/api/v1/audit/export" {
                div.grid {
                    div { label for="export-from" { (texts.from_date_time) } input type="text" id="export-from" name="from" placeholder="2026-01-01T00:00:00Z"; }
                    div { label for="export-until" { (texts.until_date_time) } input type="text" id="export-until" name="until" placeholder="2027-01-01T00:00:00Z"; }
                    div {
                        label for="export-format" { (texts.format) }
                        select id="export-format" name="format" { option value="jsonl" { "JSON Lines" } option value="csv" { "CSV" } }
                    }
                }
                label for="export-recipient" { (texts.age_recipient) }
                input type="text" id="export-recipient" name="recipient" placeholder="age1…";
                p { button type="submit" { (texts.export_button) } }
            }
        },
    ))
}

/// A form value inside a URL query.
fn urlencoding(value: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", value)])
        .ok()
        .and_then(|url| url.query().map(|query| query.trim_start_matches("v=").to_owned()))
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn verify(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Markup, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let decision =
        state.gate.authorize(&viewer.principal, Action::ReadAudit, Resource::AuditLog).await.or_page(language)?;
    let key = state.audit_key.public_key().to_vec();
    let report = audit::verify_recorded(&state.db, &key, Actor::from(&viewer.principal), decision.reasons)
        .await
        .or_page(language)?;
    let texts = office_texts(language);
    Ok(page(
        &viewer,
        "/office",
        texts.verify_title,
        html! {
            p { a href="/office/audit" { "← " (texts.audit_title) } }
            h1 { (texts.verify_title) }
            @if report.valid {
                p.notice role="status" { strong { (texts.chain_intact) } " " (report.events) " " (texts.events_checked) ", " (report.checkpoints) " " (texts.checkpoints_checked) "." }
            } @else {
                div.problems role="alert" {
                    p { strong { (texts.chain_broken) } }
                    @if let Some(tampering) = &report.tampering { p { "#" (tampering.seq) ": " (tampering.problem) } }
                }
            }
        },
    ))
}
