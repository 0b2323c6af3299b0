//! Running the processing: the analytics with its stop switch and oversight figures, the
//! registered tools and sources with their suspension, and the retention report.

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
use crate::policy::{Action, Resource};
use crate::server::AppState;

pub async fn analytics(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let language = viewer.language;
    state.gate.authorize(&viewer.principal, Action::ReadAudit, Resource::AuditLog).await.or_page(language)?;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let oversight = crate::analytics::oversight(&mut connection).await.or_page(language)?;
    let texts = office_texts(language);
    let rate = |value: &serde_json::Value| {
        value.as_f64().map_or_else(|| "—".to_owned(), |rate| format!("{:.0} %", rate * 100.0))
    };
    Ok(page(
        &viewer,
        "/office",
        texts.analytics_title,
        html! {
            p { a href="/office" { "← " (texts.office_title) } }
            h1 { (texts.analytics_title) }
            p.lead { (texts.analytics_intro) }
            p role="status" { strong { (if oversight.stopped { texts.analytics_stopped } else { texts.analytics_running }) } }
            form method="post" action="/office/analytics/stop" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="stopped" value=(if oversight.stopped { "false" } else { "true" });
                label for="stop-reason" { (texts.stop_reason) }
                input type="text" id="stop-reason" name="reason" required;
                p { button type="submit" { (if oversight.stopped { texts.resume_button } else { texts.stop_button }) } }
            }
            h2 { (texts.reviewers) }
            table {
                thead { tr { th scope="col" { (texts.model) } th scope="col" { (texts.mentor) } th scope="col" { (texts.pending) } th scope="col" { (texts.decided) } th scope="col" { (texts.approval_rate) } th scope="col" { (texts.override_rate) } } }
                tbody {
                    @for reviewer in oversight.reviewers.as_array().into_iter().flatten() {
                        tr {
                            td { code { (reviewer["model_version"].as_str().unwrap_or_default()) } }
                            td { (reviewer["mentor"].as_str().unwrap_or_default()) }
                            td.number { (reviewer["pending"]) }
                            td.number { (reviewer["decided"]) }
                            td.number { (rate(&reviewer["approval_rate"])) }
                            td.number { (rate(&reviewer["override_rate"])) }
                        }
                    }
                }
            }
            h2 { (texts.runs) }
            table {
                thead { tr { th scope="col" { (texts.when) } th scope="col" { (texts.model) } th scope="col" { (texts.proposals) } th scope="col" { (texts.mean_score) } } }
                tbody {
                    @for run in oversight.runs.as_array().into_iter().flatten() {
                        tr {
                            td { (date(language, run["at"].as_str().unwrap_or_default())) }
                            td { code { (run["model_version"].as_str().unwrap_or_default()) } }
                            td.number { (run["proposals"]) }
                            td.number { (run["scores"]["mean"].as_f64().map_or_else(|| "—".to_owned(), |mean| format!("{mean:.3}"))) }
                        }
                    }
                }
            }
            @if let Some(drift) = oversight.drift { p { (texts.drift) " " (format!("{drift:+.3}")) } }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct StopForm {
    csrf: String,
    stopped: bool,
    reason: String,
}

pub async fn stop(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<StopForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    if form.reason.trim().is_empty() {
        return Err(PageError::new(
            language,
            crate::problem::ApiError::invalid_field("reason", "say why, for the audit log"),
        ));
    }
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::ControlAnalytics, Resource::PolicySet)
        .await
        .or_page(language)?;
    let mut tx = state.db.begin().await.or_page(language)?;
    crate::analytics::set_stopped(
        &mut tx,
        form.stopped,
        form.reason.trim(),
        &Actor::from(&viewer.principal),
        decision.reasons,
        state.clock.now(),
    )
    .await
    .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other("/office/analytics"))
}

pub async fn connections(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let language = viewer.language;
    state
        .gate
        .authorize(&viewer.principal, Action::ManageClients, Resource::Client("*".to_owned()))
        .await
        .or_page(language)?;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let clients = crate::clients::list(&mut connection).await.or_page(language)?;
    let sources = crate::ingest::sources::list(&mut connection).await.or_page(language)?;
    let texts = office_texts(language);
    let toggle = |kind: &str, id: &str, status: &str| {
        let next = if status == "active" { "suspended" } else { "active" };
        html! {
            form.inline method="post" action=(format!("/office/{kind}/{id}/status")) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="status" value=(next);
                button.secondary type="submit" aria-label=(format!("{id}: {}", if next == "active" { texts.reactivate } else { texts.suspend })) {
                    (if next == "active" { texts.reactivate } else { texts.suspend })
                }
            }
        }
    };
    Ok(page(
        &viewer,
        "/office",
        texts.connections_title,
        html! {
            p { a href="/office" { "← " (texts.office_title) } }
            h1 { (texts.connections_title) }
            p.lead { (texts.connections_intro) }
            h2 { (texts.clients) }
            table {
                thead { tr { th scope="col" { (texts.tool) } th scope="col" { (texts.organisation) } th scope="col" { (texts.purposes_of_tool) } th scope="col" { (texts.status) } th scope="col" { (texts.action) } } }
                tbody {
                    @for client in &clients {
                        tr {
                            th scope="row" { (client.name) br; code { (client.id) } }
                            td { (client.organisation) }
                            td { (client.purposes.iter().map(|purpose| purpose.as_str()).collect::<Vec<_>>().join(", ")) }
                            td { (word(language, &client.status)) }
                            td { (toggle("clients", &client.id, &client.status)) }
                        }
                    }
                }
            }
            h2 { (texts.sources) }
            table {
                thead { tr { th scope="col" { (texts.source) } th scope="col" { (texts.kinds) } th scope="col" { (texts.status) } th scope="col" { (texts.action) } } }
                tbody {
                    @for source in &sources {
                        tr {
                            th scope="row" { (source.name) br; code { (source.id) } }
                            td { (source.kinds.join(", ")) }
                            td { (word(language, &source.status)) }
                            td { (toggle("sources", &source.id, &source.status)) }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    csrf: String,
    status: String,
}

pub async fn client_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::ManageClients, Resource::Client(id.clone()))
        .await
        .or_page(language)?;
    let mut tx = state.db.begin().await.or_page(language)?;
    crate::clients::set_status(&mut tx, &id, &form.status, &Actor::from(&viewer.principal), decision.reasons)
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other("/office/connections"))
}

pub async fn source_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::ManageSources, Resource::Source(id.clone()))
        .await
        .or_page(language)?;
    let mut tx = state.db.begin().await.or_page(language)?;
    crate::ingest::sources::set_status(&mut tx, &id, &form.status, &Actor::from(&viewer.principal), decision.reasons)
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other("/office/connections"))
}
