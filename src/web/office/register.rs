//! The processing register: every purpose with its choices counted, a form to register or
//! change one (a draft in place, an active purpose as a new version), and its lifecycle.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::super::layout::page;
use super::super::texts::{category, period};
use super::super::{OrPage, PageError, Viewer, see_other};
use super::{office_texts, word};
use crate::audit::Actor;
use crate::policy::{Action, Resource};
use crate::problem::FieldError;
use crate::purposes::{
    self, DPV_PURPOSES, Granularity, LegalBasis, Localized, Purpose, PurposeDefinition, PurposeId, PurposeStatus,
};
use crate::records::Category;
use crate::server::AppState;

const BASES: [LegalBasis; 6] = [
    LegalBasis::Consent,
    LegalBasis::Contract,
    LegalBasis::LegalObligation,
    LegalBasis::VitalInterest,
    LegalBasis::PublicTask,
    LegalBasis::LegitimateInterest,
];

/// A lifecycle step as a verb on a button.
fn step(language: crate::purposes::Language, next: PurposeStatus) -> &'static str {
    use crate::purposes::Language::{En, Nl};
    match (language, next) {
        (Nl, PurposeStatus::Active) => "Activeren",
        (En, PurposeStatus::Active) => "Activate",
        (Nl, PurposeStatus::Suspended) => "Opschorten",
        (En, PurposeStatus::Suspended) => "Suspend",
        (Nl, PurposeStatus::Retired) => "Beëindigen",
        (En, PurposeStatus::Retired) => "Retire",
        (Nl, PurposeStatus::Draft) => "Concept",
        (En, PurposeStatus::Draft) => "Draft",
    }
}

/// The lifecycle steps a purpose in `status` can take.
fn next_steps(status: PurposeStatus) -> Vec<PurposeStatus> {
    [PurposeStatus::Active, PurposeStatus::Suspended, PurposeStatus::Retired]
        .into_iter()
        .filter(|next| status.may_become(*next))
        .collect()
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Markup, PageError> {
    let language = viewer.language;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let all = purposes::list(&mut connection).await.or_page(language)?;
    let mut summaries = Vec::new();
    let mut covered = Vec::new();
    for purpose in &all {
        // Each purpose's counts are a decision of their own, as in the API.
        state
            .gate
            .authorize(&viewer.principal, Action::ViewConsentSummary, Resource::Purpose(purpose.id.clone()))
            .await
            .or_page(language)?;
        summaries.push(crate::consent::summary(&mut connection, &purpose.id).await.or_page(language)?);
        covered
            .push(crate::dpia::approval_covers(&mut connection, &purpose.id, purpose.version).await.or_page(language)?);
    }
    let texts = office_texts(language);
    Ok(page(
        &viewer,
        "/office",
        texts.register_title,
        html! {
            p { a href="/office" { "← " (texts.office_title) } }
            h1 { (texts.register_title) }
            p.lead { (texts.register_intro) }
            p { a.button href="/office/purposes/new" { (texts.new_purpose) } }
            table {
                thead { tr {
                    th scope="col" { (texts.purpose) } th scope="col" { (texts.version_header) } th scope="col" { (texts.status) }
                    th scope="col" { (texts.legal_basis) } th scope="col" { (texts.choices_counted) } th scope="col" { "DPIA" }
                    th scope="col" { (texts.action) }
                } }
                tbody {
                    @for ((purpose, summary), covered) in all.iter().zip(&summaries).zip(&covered) {
                        tr {
                            th scope="row" { a href=(format!("/office/purposes/{}", purpose.id)) { (purpose.definition.title.get(language)) } br; code { (purpose.id) } }
                            td.number { (purpose.version) }
                            td { (word(language, purpose.status.as_str())) }
                            td { (purpose.legal_basis_code) }
                            td {
                                (texts.gave) " " (summary.current.gave) ", " (texts.withdrew) " " (summary.current.withdrew) ", "
                                (texts.objected) " " (summary.current.objected) ", " (texts.never_chose) " " (summary.current.never_chose)
                            }
                            td { @if purpose.definition.dpia_required { @if *covered { (texts.dpia_approved) } @else { strong { (texts.dpia_missing) } } } @else { "—" } }
                            td {
                                @for next in next_steps(purpose.status) {
                                    form.inline method="post" action=(format!("/office/purposes/{}/status", purpose.id)) {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input type="hidden" name="status" value=(next.as_str());
                                        button.secondary type="submit" aria-label=(format!("{}: {}", purpose.id, step(language, next))) { (step(language, next)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The form, for a new purpose (`id` None) or a change to `existing`.
fn form(
    state: &AppState,
    viewer: &Viewer,
    id: Option<&str>,
    definition: &PurposeDefinition,
    errors: &[FieldError],
    note: Option<Markup>,
) -> Markup {
    let language = viewer.language;
    let texts = office_texts(language);
    let action = match id {
        Some(id) => format!("/office/purposes/{id}"),
        None => "/office/purposes".to_owned(),
    };
    let title = if id.is_some() { texts.change_purpose } else { texts.new_purpose };
    page(
        viewer,
        "/office",
        title,
        html! {
            p { a href="/office/purposes" { "← " (texts.register_title) } }
            h1 { (title) @if let Some(id) = id { ": " code { (id) } } }
            @if !errors.is_empty() {
                div.problems role="alert" {
                    h2 { (texts.fix_these) }
                    ul { @for error in errors { li { code { (error.field) } " " (error.detail) } } }
                }
            }
            @if let Some(note) = note { (note) }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                @if id.is_none() {
                    label for="id" { (texts.purpose_id) }
                    input type="text" id="id" name="id" required pattern="[a-z][a-z0-9-]{1,62}";
                }
                @for (name, label, value) in [
                    ("title_nl", texts.title_nl, &definition.title.nl), ("title_en", texts.title_en, &definition.title.en),
                ] {
                    label for=(name) { (label) }
                    input type="text" id=(name) name=(name) value=(value) required;
                }
                @for (name, label, value) in [
                    ("notice_nl", texts.notice_nl, &definition.notice.nl), ("notice_en", texts.notice_en, &definition.notice.en),
                ] {
                    label for=(name) { (label) }
                    textarea id=(name) name=(name) rows="3" required { (value) }
                }
                label for="dpv_purpose" { (texts.dpv_purpose) }
                select id="dpv_purpose" name="dpv_purpose" {
                    @for dpv in DPV_PURPOSES { option value=(dpv) selected[*dpv == definition.dpv_purpose] { (dpv) } }
                }
                label for="legal_basis" { (texts.legal_basis) }
                select id="legal_basis" name="legal_basis" {
                    @for basis in BASES { option value=(basis.as_str()) selected[basis == definition.legal_basis] { (basis.code()) " — " (basis.as_str().replace('_', " ")) } }
                }
                label for="art9_condition" { (texts.art9_condition) }
                input type="text" id="art9_condition" name="art9_condition" value=(definition.art9_condition.clone().unwrap_or_default());
                fieldset {
                    legend { (texts.categories_and_retention) }
                    @for category_value in Category::ALL.into_iter().filter(|c| *c != Category::Identity) {
                        @let key = category_value.as_str();
                        div.radio {
                            input type="checkbox" id=(format!("category-{key}")) name="category" value=(key) checked[definition.categories.contains(&category_value)];
                            label for=(format!("category-{key}")) { (category(language, category_value)) }
                        }
                        label for=(format!("retention-{key}")) { (texts.retention_for) " " (category(language, category_value)) " (ISO 8601, " (texts.for_instance) " P1Y)" }
                        input type="text" id=(format!("retention-{key}")) name=(format!("retention_{key}")) value=(definition.retention.get(&category_value).cloned().unwrap_or_default());
                    }
                }
                fieldset {
                    legend { (texts.fields_read) }
                    @for field in state.catalogue.fields().filter(|field| field.category != Category::Identity) {
                        div.radio {
                            input type="checkbox" id=(format!("field-{}", field.name)) name="field" value=(field.name) checked[definition.fields.contains(&field.name)];
                            label for=(format!("field-{}", field.name)) { code { (field.name) } " (" (category(language, field.category)) ")" }
                        }
                    }
                }
                fieldset {
                    legend { (texts.granularity) }
                    @for (value, label) in [(Granularity::Individual, texts.individual), (Granularity::Aggregate, texts.aggregate)] {
                        @let key = if value == Granularity::Individual { "individual" } else { "aggregate" };
                        div.radio {
                            input type="radio" id=(format!("granularity-{key}")) name="granularity" value=(key) checked[definition.granularity == value];
                            label for=(format!("granularity-{key}")) { (label) }
                        }
                    }
                }
                label for="min_cell_size" { (texts.min_cell_size) }
                input type="text" inputmode="numeric" id="min_cell_size" name="min_cell_size" value=(definition.min_cell_size.map(|size| size.to_string()).unwrap_or_default());
                label for="recipients" { (texts.recipients_comma) }
                input type="text" id="recipients" name="recipients" value=(definition.recipients.join(", "));
                div.radio {
                    input type="checkbox" id="human_review_required" name="human_review_required" value="on" checked[definition.human_review_required];
                    label for="human_review_required" { (texts.human_review) }
                }
                div.radio {
                    input type="checkbox" id="dpia_required" name="dpia_required" value="on" checked[definition.dpia_required];
                    label for="dpia_required" { (texts.dpia_required) }
                }
                p { button type="submit" { (texts.save_purpose) } }
            }
        },
    )
}

fn empty_definition() -> PurposeDefinition {
    PurposeDefinition {
        title: Localized { nl: String::new(), en: String::new() },
        notice: Localized { nl: String::new(), en: String::new() },
        dpv_purpose: DPV_PURPOSES[0].to_owned(),
        legal_basis: LegalBasis::PublicTask,
        art9_condition: None,
        categories: Vec::new(),
        fields: Vec::new(),
        granularity: Granularity::Individual,
        min_cell_size: None,
        retention: BTreeMap::new(),
        recipients: Vec::new(),
        human_review_required: false,
        dpia_required: false,
    }
}

/// A definition from the submitted form, and the csrf token and id it came with.
fn from_form(pairs: Vec<(String, String)>) -> (String, Option<String>, PurposeDefinition) {
    let mut definition = empty_definition();
    let (mut csrf, mut id) = (String::new(), None);
    for (key, value) in pairs {
        let value = value.replace("\r\n", "\n");
        match key.as_str() {
            "csrf" => csrf = value,
            "id" => id = Some(value.trim().to_owned()),
            "title_nl" => definition.title.nl = value,
            "title_en" => definition.title.en = value,
            "notice_nl" => definition.notice.nl = value,
            "notice_en" => definition.notice.en = value,
            "dpv_purpose" => definition.dpv_purpose = value,
            "legal_basis" => {
                if let Some(basis) = BASES.into_iter().find(|basis| basis.as_str() == value) {
                    definition.legal_basis = basis;
                }
            }
            "art9_condition" => {
                definition.art9_condition = Some(value.trim().to_owned()).filter(|text| !text.is_empty())
            }
            "category" => definition.categories.extend(Category::parse(&value)),
            "field" => definition.fields.push(value),
            "granularity" => {
                definition.granularity =
                    if value == "aggregate" { Granularity::Aggregate } else { Granularity::Individual };
            }
            "min_cell_size" => definition.min_cell_size = value.trim().parse().ok(),
            "recipients" => {
                definition.recipients =
                    value.split(',').map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned).collect();
            }
            "human_review_required" => definition.human_review_required = true,
            "dpia_required" => definition.dpia_required = true,
            other => {
                if let Some(category_value) = other.strip_prefix("retention_").and_then(Category::parse)
                    && !value.trim().is_empty()
                {
                    definition.retention.insert(category_value, value.trim().to_owned());
                }
            }
        }
    }
    // A retention for a category the purpose does not read is a leftover of the form.
    let categories = definition.categories.clone();
    definition.retention.retain(|category_value, _| categories.contains(category_value));
    (csrf, id, definition)
}

pub async fn new(State(state): State<AppState>, viewer: Viewer) -> Markup {
    form(&state, &viewer, None, &empty_definition(), &[], None)
}

pub async fn edit(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> Result<Markup, PageError> {
    let language = viewer.language;
    let id = PurposeId::from_path(&id).or_page(language)?;
    let mut connection = state.db.pool().acquire().await.or_page(language)?;
    let purpose: Purpose = purposes::get(&mut connection, &id)
        .await
        .or_page(language)?
        .ok_or_else(|| purposes::PurposeError::NotFound(id.to_string()))
        .or_page(language)?;
    let texts = office_texts(language);
    let retention: Vec<String> = purpose
        .definition
        .retention
        .iter()
        .map(|(category_value, iso)| format!("{}: {}", category(language, *category_value), period(language, iso)))
        .collect();
    // The page says what saving does to this purpose before the form.
    let note = html! {
        p.notice role="note" {
            (word(language, purpose.status.as_str())) ", " (texts.version) " " (purpose.version) ". "
            @if purpose.status == PurposeStatus::Draft { (texts.saves_in_place) } @else { (texts.saves_new_version) }
            " " (texts.retention_now) " " (retention.join("; ")) "."
        }
    };
    Ok(form(&state, &viewer, Some(id.as_str()), &purpose.definition, &[], Some(note)))
}

async fn save(
    state: &AppState,
    viewer: &Viewer,
    existing: Option<PurposeId>,
    pairs: Vec<(String, String)>,
) -> Result<Response, PageError> {
    let language = viewer.language;
    let (csrf, new_id, definition) = from_form(pairs);
    viewer.check(&csrf)?;
    let id = match (&existing, new_id) {
        (Some(id), _) => Ok(id.clone()),
        (None, Some(text)) => PurposeId::parse(&text).map_err(|why| vec![FieldError::new("id", why)]),
        (None, None) => Err(vec![FieldError::new("id", "a purpose needs an id")]),
    };
    let mut errors = definition.validate(&state.catalogue);
    let id = match id {
        Ok(id) => Some(id),
        Err(mut problems) => {
            problems.append(&mut errors);
            errors = problems;
            None
        }
    };
    let Some(id) = id.filter(|_| errors.is_empty()) else {
        let shown = existing.as_ref().map(PurposeId::as_str);
        return Ok(
            (StatusCode::UNPROCESSABLE_ENTITY, form(state, viewer, shown, &definition, &errors, None)).into_response()
        );
    };
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::ManagePurpose, Resource::Purpose(id.clone()))
        .await
        .or_page(language)?;
    let actor = Actor::from(&viewer.principal);
    let mut tx = state.db.begin().await.or_page(language)?;
    match existing {
        None => purposes::insert(&mut tx, &id, &definition, &actor, decision.reasons).await,
        Some(_) => {
            let current = purposes::get(&mut tx, &id).await.or_page(language)?;
            let in_place = current.is_some_and(|purpose| purpose.status == PurposeStatus::Draft);
            purposes::update(&mut tx, &id, &definition, in_place, &actor, decision.reasons).await
        }
    }
    .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other("/office/purposes"))
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    save(&state, &viewer, None, pairs).await
}

pub async fn change(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let id = PurposeId::from_path(&id).or_page(viewer.language)?;
    save(&state, &viewer, Some(id), pairs).await
}

#[derive(Debug, serde::Deserialize)]
pub struct StatusForm {
    csrf: String,
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    viewer.check(&form.csrf)?;
    let language = viewer.language;
    let id = PurposeId::from_path(&id).or_page(language)?;
    let next = PurposeStatus::parse(&form.status)
        .ok_or_else(|| crate::problem::ApiError::invalid_field("status", "not a lifecycle status"))
        .or_page(language)?;
    let decision = state
        .gate
        .authorize(&viewer.principal, Action::ManagePurpose, Resource::Purpose(id.clone()))
        .await
        .or_page(language)?;
    let mut tx = state.db.begin().await.or_page(language)?;
    purposes::set_status(&mut tx, &id, next, &Actor::from(&viewer.principal), decision.reasons)
        .await
        .or_page(language)?;
    tx.commit().await.or_page(language)?;
    Ok(see_other("/office/purposes"))
}
