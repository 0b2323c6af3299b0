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
    let purposes = crate::purposes::list(&mut connection).await.or_page(language)?;
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
            h3 { (texts.register_tool) }
        form method="post" action="/office/clients" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            div.grid {
                @for (name, label) in [("id", texts.tool_id), ("name", texts.tool_name), ("organisation", texts.organisation), ("contact", texts.contact)] {
                    div { label for=(format!("client-{name}")) { (label) } input type="text" id=(format!("client-{name}")) name=(name) required; }
                }
            }
            fieldset {
                legend { (texts.purposes_of_tool) }
                @for purpose in &purposes {
                    div.radio {
                        input type="checkbox" id=(format!("client-purpose-{}", purpose.id)) name="purpose" value=(purpose.id);
                        label for=(format!("client-purpose-{}", purpose.id)) { (purpose.definition.title.get(language)) }
                    }
                }
            }
            p { button type="submit" { (texts.register_button) } }
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
            h3 { (texts.register_source) }
            form method="post" action="/office/sources" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                div.grid {
                    div { label for="source-id" { (texts.tool_id) } input type="text" id="source-id" name="id" required; }
                    div { label for="source-name" { (texts.tool_name) } input type="text" id="source-name" name="name" required; }
                }
                fieldset {
                    legend { (texts.kinds) }
                    @for kind in crate::ingest::sources::KINDS {
                        div.radio {
                            input type="checkbox" id=(format!("source-kind-{kind}")) name="kind" value=(kind);
                            label for=(format!("source-kind-{kind}")) { code { (kind) } }
                        }
                    }
                }
                p { button type="submit" { (texts.register_button) } }
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

/// The one time a new secret is shown.
fn issued_page(viewer: &Viewer, what: &str, id: &str, secret: &str) -> Markup {
    let texts = office_texts(viewer.language);
    page(
        viewer,
        "/office",
        texts.secret_title,
        html! {
            p { a href="/office/connections" { "← " (texts.connections_title) } }
            h1 { (texts.secret_title) }
            p role="status" { (what) " " code { (id) } " " (texts.registered) }
            p { (texts.secret_once) }
            p { code.secret { (secret) } }
        },
    )
}

/// A registration form's fields: repeated ones (`purpose`, `kind`) collected.
fn fields(pairs: Vec<(String, String)>) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
    let mut single = std::collections::BTreeMap::new();
    let mut repeated = Vec::new();
    for (key, value) in pairs {
        if key == "purpose" || key == "kind" {
            repeated.push(value);
        } else {
            single.insert(key, value.trim().to_owned());
        }
    }
    (single, repeated)
}

pub async fn register_client(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Markup, PageError> {
    let language = viewer.language;
    let (form, purposes) = fields(pairs);
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    viewer.check(&field("csrf"))?;
    let client = crate::clients::new_client(
        field("id"),
        field("name"),
        field("organisation"),
        field("contact"),
        None,
        &purposes,
    )
    .or_page(language)?;
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::ManageClients, Resource::Client(client.id.clone()))
        .await
        .or_page(language)?;
    let mut tx = state.db.begin().await.or_page(language)?;
    let issued = crate::clients::register(&mut tx, &client, &Actor::from(&viewer.principal), decision.reasons)
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(issued_page(&viewer, office_texts(language).tool, &issued.client.id, &issued.secret))
}

pub async fn register_source(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Markup, PageError> {
    let language = viewer.language;
    let (form, kinds) = fields(pairs);
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    viewer.check(&field("csrf"))?;
    let (id, name) = (field("id"), field("name"));
    crate::ingest::sources::check_new(&id, &name, &kinds).or_page(language)?;
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::ManageSources, Resource::Source(id.clone()))
        .await
        .or_page(language)?;
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let mut tx = state.db.begin().await.or_page(language)?;
    let issued =
        crate::ingest::sources::create(&mut tx, &id, &name, &kinds, &Actor::from(&viewer.principal), decision.reasons)
            .await
            .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(issued_page(&viewer, office_texts(language).source, &id, &issued.secret))
}
