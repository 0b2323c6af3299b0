//! The frame every page shares: language, skip link, header with the person and the
//! menu for their roles, one `main` landmark.

use axum::extract::State;
use axum::http::HeaderMap;
use maud::{DOCTYPE, Markup, html};

use super::Viewer;
use super::texts::{self, Texts};
use crate::auth::Role;
use crate::purposes::Language;
use crate::server::AppState;

fn head(language: Language, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — Consentry" }
            link rel="stylesheet" href="/assets/consentry.css";
            meta name="color-scheme" content="light";
            @if language == Language::Nl { meta name="description" content="Consentry: jouw leergegevens en jouw keuzes"; }
            @else { meta name="description" content="Consentry: your learning data and your choices"; }
        }
    }
}

fn language_switch(texts: &Texts, language: Language) -> Markup {
    let (other, lang) = match language {
        Language::Nl => ("en", "en"),
        Language::En => ("nl", "nl"),
    };
    html! { a.language href=(format!("/language/{other}")) lang=(lang) hreflang=(lang) { (texts.other_language) } }
}

/// The menu entries for what the viewer may do.
fn menu(viewer: &Viewer, current: &str) -> Markup {
    let texts = viewer.texts();
    let mut entries: Vec<(&str, &str)> = Vec::new();
    if viewer.principal.roles.contains(&Role::Student) {
        entries.extend([
            ("/my", texts.nav_choices),
            ("/my/data", texts.nav_data),
            ("/my/disclosures", texts.nav_disclosures),
            ("/my/interventions", texts.nav_interventions),
            ("/my/requests", texts.nav_requests),
        ]);
    }
    if viewer.principal.roles.contains(&Role::Mentor) {
        entries.push(("/proposals", texts.nav_proposals));
    }
    if viewer.principal.roles.iter().any(|role| matches!(role, Role::PrivacyOfficer | Role::Dpo)) {
        entries.push(("/office", texts.nav_office));
    }
    html! {
        nav aria-label=(texts.nav_label) {
            ul {
                @for (path, label) in &entries {
                    li { a href=(path) aria-current=[(*path == current).then_some("page")] { (label) } }
                }
            }
        }
    }
}

/// A page for a signed-in person.
pub fn page(viewer: &Viewer, current: &str, title: &str, body: Markup) -> Markup {
    let texts = viewer.texts();
    html! {
        (DOCTYPE)
        html lang=(viewer.language.as_str()) {
            (head(viewer.language, title))
            body {
                a.skip href="#main" { (texts.skip_to_content) }
                header {
                    a.brand href="/" { (texts.app_name) }
                    (menu(viewer, current))
                    div.account {
                        span { (texts.signed_in_as) " " strong { (viewer.principal.id) } }
                        (language_switch(texts, viewer.language))
                        form method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button.link type="submit" { (texts.sign_out) }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// A page for anyone, signed in or not.
pub fn bare(language: Language, title: &str, body: Markup) -> Markup {
    let texts = texts::texts(language);
    html! {
        (DOCTYPE)
        html lang=(language.as_str()) {
            (head(language, title))
            body {
                a.skip href="#main" { (texts.skip_to_content) }
                header {
                    a.brand href="/" { (texts.app_name) }
                    div.account { (language_switch(texts, language)) }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// Where people sign in: the institution's identity providers, and on a demo server the
/// picker.
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap) -> Markup {
    let language = super::language(&headers);
    let texts = texts::texts(language);
    bare(
        language,
        texts.sign_in,
        html! {
            h1 { (texts.sign_in) }
            p { (texts.sign_in_intro) }
            ul.actions {
                @for provider in state.oidc_providers.iter() {
                    li { a.button href=(format!("/auth/login?provider={}", provider.id)) { (texts.sign_in_with) " " (provider.id) } }
                }
                @if state.demo.is_some() {
                    li { a.button href="/auth/demo" { (texts.demo_sign_in) } }
                }
            }
        },
    )
}
