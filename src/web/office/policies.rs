//! The policy editor: every file of a set, validated with problems at line and column,
//! drafts with their diff against the active set, simulation, replay against the audit
//! log, activation and rollback.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use similar::{ChangeTag, TextDiff};

use super::super::layout::page;
use super::super::{OrPage, PageError, Viewer, see_other};
use super::{OfficeTexts, office_texts, word};
use crate::auth::{PrincipalKind, Role};
use crate::policy::{
    self, Action, PolicyError, PolicyFile, Replay, Resource, SimulatedPrincipal, SimulatedRequest, StoredSet,
};
use crate::server::AppState;

async fn allowed(state: &AppState, viewer: &Viewer, action: Action) -> Result<Vec<String>, PageError> {
    let decision =
        state.gate.authorize(&viewer.principal, action, Resource::PolicySet).await.or_page(viewer.language)?;
    Ok(decision.reasons)
}

async fn versions(state: &AppState, viewer: &Viewer) -> Result<Vec<StoredSet>, PageError> {
    let mut connection = state.db.pool().acquire().await.or_page(viewer.language)?;
    policy::policy_versions(&mut connection).await.or_page(viewer.language)
}

fn active_version(sets: &[StoredSet]) -> i64 {
    sets.iter().find(|set| set.status == "active").map_or(0, |set| set.version)
}

/// The files of the active set, as written.
fn active_files(state: &AppState) -> Vec<PolicyFile> {
    state
        .gate
        .engine()
        .sources()
        .iter()
        .map(|(name, text)| PolicyFile { name: name.clone(), text: text.clone() })
        .collect()
}

/// The editor: one text area per file, and the problems of the last attempt beside them.
fn editor(viewer: &Viewer, texts: &OfficeTexts, files: &[PolicyFile], problems: &[policy::PolicyProblem]) -> Markup {
    html! {
        form method="post" action="/office/policies/drafts" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            @if !problems.is_empty() {
                div.problems role="alert" id="problems" tabindex="-1" {
                    h2 { (texts.policy_problems) }
                    ul {
                        @for problem in problems {
                            li {
                                code { (problem.file) @if let (Some(line), Some(column)) = (problem.line, problem.column) { ":" (line) ":" (column) } }
                                " " (problem.message)
                            }
                        }
                    }
                }
            }
            @for (index, file) in files.iter().enumerate() {
                @let id = format!("file-{index}");
                input type="hidden" name="name" value=(file.name);
                label for=(id) { (file.name) }
                @let described = problems.iter().any(|problem| problem.file == file.name);
                textarea.code id=(id) name="text" rows="14" spellcheck="false" aria-describedby=[described.then_some("problems")] { (file.text) }
            }
            label for="new-file-name" { (texts.new_file) }
            input type="text" id="new-file-name" name="name" value="";
            label for="new-file-text" { (texts.new_file_text) }
            textarea.code id="new-file-text" name="text" rows="4" spellcheck="false" {}
            p { button type="submit" { (texts.validate_and_save) } }
        }
    }
}

pub async fn overview(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    allowed(&state, &viewer, Action::EditPolicy).await?;
    let sets = versions(&state, &viewer).await?;
    Ok(render(&state, &viewer, &sets, &active_files(&state), &[]))
}

fn render(
    state: &AppState,
    viewer: &Viewer,
    sets: &[StoredSet],
    files: &[PolicyFile],
    problems: &[policy::PolicyProblem],
) -> Markup {
    let texts = office_texts(viewer.language);
    let active = active_version(sets);
    let policies = state.gate.engine().policy_files().len();
    page(
        viewer,
        "/office",
        texts.policies_title,
        html! {
            h1 { (texts.policies_title) }
            p.lead { (texts.policies_intro) }
            p { (texts.active_set) " " strong { (if active == 0 { texts.set_from_files.to_owned() } else { format!("{} {active}", texts.version) }) } " · " (policies) " " (texts.policies_count) }
            h2 { (texts.versions) }
            table {
                thead { tr { th scope="col" { (texts.version) } th scope="col" { (texts.status) } th scope="col" { (texts.by) } th scope="col" { (texts.action) } } }
                tbody {
                    tr {
                        td { "0" } td { (texts.set_from_files) } td { "—" }
                        td { @if active != 0 { (rollback_form(viewer, texts, 0)) } }
                    }
                    @for set in sets.iter().rev() {
                        tr {
                            td { (set.version) }
                            td { (word(viewer.language, &set.status)) }
                            td { (set.created_by) }
                            td {
                                @if set.status == "draft" { a href=(format!("/office/policies/drafts/{}", set.version)) { (texts.open_draft) } }
                                @else if set.status == "superseded" { (rollback_form(viewer, texts, set.version)) }
                            }
                        }
                    }
                }
            }
            h2 { (texts.edit_policies) }
            (editor(viewer, texts, files, problems))
        },
    )
}

fn rollback_form(viewer: &Viewer, texts: &OfficeTexts, version: i64) -> Markup {
    html! {
        form.inline method="post" action="/office/policies/rollback" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            input type="hidden" name="version" value=(version);
            button.secondary type="submit" { (texts.roll_back_to) " " (version) }
        }
    }
}

/// A submitted editor: the CSRF token and each file's name and text, in order.
fn submitted(pairs: Vec<(String, String)>) -> (String, Vec<PolicyFile>) {
    let mut csrf = String::new();
    let mut files: Vec<PolicyFile> = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "csrf" => csrf = value,
            "name" => files.push(PolicyFile { name: value, text: String::new() }),
            "text" => {
                if let Some(file) = files.last_mut() {
                    // Browsers send text areas with CRLF line ends.
                    file.text = value.replace("\r\n", "\n");
                }
            }
            _ => {}
        }
    }
    // The empty "new file" slot is not a file.
    files.retain(|file| !(file.name.trim().is_empty() && file.text.trim().is_empty()));
    (csrf, files)
}

pub async fn save_draft(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let (csrf, files) = submitted(pairs);
    viewer.check(&csrf)?;
    allowed(&state, &viewer, Action::EditPolicy).await?;
    match policy::save_draft(&state.gate, &state.db, &files, &viewer.principal.id).await {
        Ok(draft) => Ok(see_other(&format!("/office/policies/drafts/{}", draft.version))),
        Err(PolicyError::Invalid(invalid)) => {
            let problems: Vec<_> = invalid.0.iter().map(Clone::clone).collect();
            let sets = versions(&state, &viewer).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&state, &viewer, &sets, &files, &problems)).into_response())
        }
        Err(other) => Err(other).or_page(viewer.language),
    }
}

/// Lines removed and added between two versions of a file.
fn file_diff(name: &str, old: &str, new: &str) -> Markup {
    let diff = TextDiff::from_lines(old, new);
    html! {
        // Focusable, so keyboard users can scroll long lines.
        pre.diff tabindex="0" aria-label=(name) {
            @for group in diff.grouped_ops(2) {
                @for op in &group {
                    @for change in diff.iter_changes(op) {
                        @match change.tag() {
                            ChangeTag::Delete => { del { "- " (change.value().trim_end_matches('\n')) } }
                            ChangeTag::Insert => { ins { "+ " (change.value().trim_end_matches('\n')) } }
                            ChangeTag::Equal => { span { "  " (change.value().trim_end_matches('\n')) } }
                        }
                    }
                }
                span.gap { "…" }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DraftPage {
    /// Show the replay against the audit log.
    replay: Option<String>,
}

pub async fn draft(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(version): Path<i64>,
    Query(show): Query<DraftPage>,
) -> Result<Markup, PageError> {
    allowed(&state, &viewer, Action::EditPolicy).await?;
    let language = viewer.language;
    let texts = office_texts(language);
    let (engine, stored) = policy::engine_of(&state.gate, &state.db, version).await.or_page(language)?;
    let policy::StoredSetOrFiles::Stored(set) = stored else {
        return Err(PageError::new(language, crate::problem::ApiError::not_found(texts.no_such_draft)));
    };
    let changes = policy::diff(&state.gate.engine(), &engine);
    let active = active_files(&state);
    let replay: Option<Replay> = match show.replay {
        Some(_) => Some(policy::replay(&state.gate, &state.db, &engine, None, None).await.or_page(language)?),
        None => None,
    };
    Ok(page(
        &viewer,
        "/office",
        texts.draft_title,
        html! {
            p { a href="/office/policies" { "← " (texts.policies_title) } }
            h1 { (texts.draft_title) " " (version) " (" (word(language, &set.status)) ")" }
            p.notice role="status" { (texts.draft_valid) }
            h2 { (texts.diff_against_active) }
            p {
                (texts.added) ": " (changes.added.join(", ")) " · "
                (texts.removed) ": " (changes.removed.join(", ")) " · "
                (texts.changed) ": " (changes.changed.join(", "))
            }
            @for file in &set.files {
                @let before = active.iter().find(|old| old.name == file.name).map_or("", |old| old.text.as_str());
                @if before != file.text {
                    h3 { (file.name) }
                    (file_diff(&file.name, before, &file.text))
                }
            }
            h2 { (texts.replay_title) }
            p { (texts.replay_intro) }
            @match &replay {
                None => { p { a.button href=(format!("/office/policies/drafts/{version}?replay=1#replay")) { (texts.replay_button) } } }
                Some(replay) => {
                    div id="replay" role="status" {
                        p { strong { (replay.evaluated) } " " (texts.decisions_evaluated) ", " strong { (replay.changed.len()) } " " (texts.decisions_changed) }
                        @if !replay.changed.is_empty() {
                            table {
                                thead { tr { th scope="col" { "#" } th scope="col" { (texts.actor) } th scope="col" { (texts.action) } th scope="col" { (texts.resource) } th scope="col" { (texts.recorded) } th scope="col" { (texts.replayed) } } }
                                tbody { @for change in &replay.changed { tr { td { (change.seq) } td { (change.actor) } td { (change.action) } td { (change.resource) } td { (word(language, &change.recorded)) } td { (word(language, &change.replayed)) } } } }
                            }
                        }
                    }
                }
            }
            h2 { (texts.simulate_title) }
            form method="post" action=(format!("/office/policies/drafts/{version}/simulate")) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="sim-principal" { (texts.sim_principal) }
                input type="text" id="sim-principal" name="principal" required;
                label for="sim-role" { (texts.sim_role) }
                select id="sim-role" name="role" {
                    option value="" { (texts.sim_client) }
                    @for role in Role::ALL { option value=(role.as_str()) { (role.as_str()) } }
                }
                label for="sim-action" { (texts.action) }
                select id="sim-action" name="action" { @for action in Action::ALL { option value=(action.as_str()) { (action.as_str()) } } }
                label for="sim-resource" { (texts.resource) }
                input type="text" id="sim-resource" name="resource" required placeholder="AuditLog, Purpose::learning-research, Subject::…";
                p { button.secondary type="submit" { (texts.simulate_button) } }
            }
            h2 { (texts.activate_title) }
            form method="post" action=(format!("/office/policies/drafts/{version}/activate")) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="override" { (texts.override_reason) }
                input type="text" id="override" name="override_reason";
                p { button type="submit" { (texts.activate_button) } }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct SimulateForm {
    csrf: String,
    principal: String,
    #[serde(default)]
    role: String,
    action: String,
    resource: String,
}

pub async fn simulate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(version): Path<i64>,
    Form(form): Form<SimulateForm>,
) -> Result<Markup, PageError> {
    viewer.check(&form.csrf)?;
    allowed(&state, &viewer, Action::EditPolicy).await?;
    let language = viewer.language;
    let texts = office_texts(language);
    let (engine, _) = policy::engine_of(&state.gate, &state.db, version).await.or_page(language)?;
    let role = Role::ALL.into_iter().find(|role| role.as_str() == form.role);
    let request = SimulatedRequest {
        principal: SimulatedPrincipal {
            id: form.principal.trim().to_owned(),
            kind: if role.is_some() { PrincipalKind::User } else { PrincipalKind::Client },
            roles: role.into_iter().collect(),
        },
        action: form.action.clone(),
        resource: form.resource.trim().to_owned(),
        context: None,
    };
    let outcome = policy::simulate(&state.gate, &engine, &request).await.or_page(language)?;
    Ok(page(
        &viewer,
        "/office",
        texts.simulate_title,
        html! {
            p { a href=(format!("/office/policies/drafts/{version}")) { "← " (texts.draft_title) " " (version) } }
            h1 { (texts.simulate_title) }
            p role="status" {
                code { (request.principal.id) } " · " code { (form.action) } " · " code { (request.resource) } ": "
                strong { (word(language, &outcome.decision)) } " (" (outcome.policies.join(", ")) ")"
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ActivateForm {
    csrf: String,
    #[serde(default)]
    override_reason: String,
}

pub async fn activate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(version): Path<i64>,
    Form(form): Form<ActivateForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let reasons = allowed(&state, &viewer, Action::ActivatePolicy).await?;
    let reason = Some(form.override_reason.trim()).filter(|reason| !reason.is_empty());
    policy::activate_draft(&state.gate, &state.db, version, &viewer.principal, reason, reasons)
        .await
        .or_page(viewer.language)?;
    Ok(see_other("/office/policies"))
}

#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    csrf: String,
    version: i64,
}

pub async fn rollback(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<RollbackForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let reasons = allowed(&state, &viewer, Action::ActivatePolicy).await?;
    policy::roll_back(&state.gate, &state.db, form.version, &viewer.principal, reasons)
        .await
        .or_page(viewer.language)?;
    Ok(see_other("/office/policies"))
}
