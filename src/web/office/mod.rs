//! The privacy office's and the DPO's pages: the whole governance job without a terminal.

mod policies;

use axum::Router;
use axum::routing::{get, post};
use maud::{Markup, html};

use super::Viewer;
use super::layout::page;
use crate::purposes::Language;
use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/office", get(home))
        .route("/office/policies", get(policies::overview))
        .route("/office/policies/drafts", post(policies::save_draft))
        .route("/office/policies/drafts/{version}", get(policies::draft))
        .route("/office/policies/drafts/{version}/simulate", post(policies::simulate))
        .route("/office/policies/drafts/{version}/activate", post(policies::activate))
        .route("/office/policies/rollback", post(policies::rollback))
}

/// The strings of the office pages, per language.
pub struct OfficeTexts {
    pub office_title: &'static str,
    pub office_intro: &'static str,
    pub policies_title: &'static str,
    pub policies_intro: &'static str,
    pub active_set: &'static str,
    pub set_from_files: &'static str,
    pub version: &'static str,
    pub policies_count: &'static str,
    pub versions: &'static str,
    pub status: &'static str,
    pub by: &'static str,
    pub action: &'static str,
    pub open_draft: &'static str,
    pub roll_back_to: &'static str,
    pub edit_policies: &'static str,
    pub policy_problems: &'static str,
    pub validate_and_save: &'static str,
    pub no_such_draft: &'static str,
    pub draft_title: &'static str,
    pub draft_valid: &'static str,
    pub diff_against_active: &'static str,
    pub added: &'static str,
    pub removed: &'static str,
    pub changed: &'static str,
    pub replay_title: &'static str,
    pub replay_intro: &'static str,
    pub replay_button: &'static str,
    pub decisions_evaluated: &'static str,
    pub decisions_changed: &'static str,
    pub actor: &'static str,
    pub resource: &'static str,
    pub recorded: &'static str,
    pub replayed: &'static str,
    pub simulate_title: &'static str,
    pub sim_principal: &'static str,
    pub sim_role: &'static str,
    pub sim_client: &'static str,
    pub simulate_button: &'static str,
    pub activate_title: &'static str,
    pub override_reason: &'static str,
    pub activate_button: &'static str,
}

static NL: OfficeTexts = OfficeTexts {
    office_title: "Privacybureau",
    office_intro: "Alles wat het privacybureau en de FG doen: het verwerkingsregister, de toegangsregels, het auditlogboek, verzoeken van studenten, DPIA's, bewaartermijnen, applicaties en bronnen, en de noodstop van de analyses.",
    policies_title: "Toegangsregels",
    policies_intro: "De Cedar-regels die elke toegang beslissen. Wijzig ze hier: een concept wordt gecontroleerd tegen het schema, je ziet het verschil met de actieve regels, je speelt het af tegen het auditlogboek, en pas daarna activeer je het. Terugdraaien kan altijd.",
    active_set: "Actief:",
    set_from_files: "de regels uit de bestanden",
    version: "versie",
    policies_count: "regels",
    versions: "Versies",
    status: "Status",
    by: "Door",
    action: "Actie",
    open_draft: "Concept openen",
    roll_back_to: "Terug naar versie",
    edit_policies: "Regels bewerken",
    policy_problems: "Het concept is niet opgeslagen: los deze problemen op",
    validate_and_save: "Controleren en als concept opslaan",
    no_such_draft: "Dit is geen opgeslagen concept.",
    draft_title: "Concept",
    draft_valid: "Het concept klopt met het schema.",
    diff_against_active: "Verschil met de actieve regels",
    added: "Nieuw",
    removed: "Verwijderd",
    changed: "Gewijzigd",
    replay_title: "Afspelen tegen het auditlogboek",
    replay_intro: "Beslis elke vastgelegde toegang opnieuw met dit concept en de gegevens van vandaag, en zie welke beslissingen anders uitvallen.",
    replay_button: "Afspelen",
    decisions_evaluated: "beslissingen opnieuw genomen",
    decisions_changed: "vallen anders uit",
    actor: "Wie",
    resource: "Waarop",
    recorded: "Toen",
    replayed: "Met dit concept",
    simulate_title: "Een verzoek uitproberen",
    sim_principal: "Id van de gebruiker of applicatie",
    sim_role: "Rol (leeg: een applicatie)",
    sim_client: "applicatie",
    simulate_button: "Uitproberen",
    activate_title: "Activeren",
    override_reason: "Reden om de ingebouwde verboden los te laten (alleen als het concept ze weglaat)",
    activate_button: "Concept activeren",
};

static EN: OfficeTexts = OfficeTexts {
    office_title: "Privacy office",
    office_intro: "Everything the privacy office and the DPO do: the processing register, the access rules, the audit log, students' requests, DPIAs, retention, tools and sources, and the analytics stop switch.",
    policies_title: "Access policies",
    policies_intro: "The Cedar policies that decide every access. Change them here: a draft is checked against the schema, you see how it differs from the active set, you replay it against the audit log, and only then activate it. Rolling back is always possible.",
    active_set: "Active:",
    set_from_files: "the policies from the files",
    version: "version",
    policies_count: "policies",
    versions: "Versions",
    status: "Status",
    by: "By",
    action: "Action",
    open_draft: "Open draft",
    roll_back_to: "Roll back to version",
    edit_policies: "Edit the policies",
    policy_problems: "The draft was not saved: fix these problems",
    validate_and_save: "Validate and save as draft",
    no_such_draft: "This is not a stored draft.",
    draft_title: "Draft",
    draft_valid: "The draft validates against the schema.",
    diff_against_active: "Difference from the active policies",
    added: "Added",
    removed: "Removed",
    changed: "Changed",
    replay_title: "Replay against the audit log",
    replay_intro: "Decide every recorded access again with this draft and today's data, and see which decisions would change.",
    replay_button: "Replay",
    decisions_evaluated: "decisions evaluated again",
    decisions_changed: "would change",
    actor: "Who",
    resource: "On what",
    recorded: "Then",
    replayed: "With this draft",
    simulate_title: "Try a request",
    sim_principal: "Id of the user or tool",
    sim_role: "Role (empty: a tool)",
    sim_client: "tool",
    simulate_button: "Try it",
    activate_title: "Activate",
    override_reason: "Reason to drop the shipped forbid policies (only if the draft leaves them out)",
    activate_button: "Activate this draft",
};

/// Stored words (statuses, decisions) as people read them.
pub fn word(language: Language, stored: &str) -> String {
    let dutch = match stored {
        "draft" => "concept",
        "active" => "actief",
        "superseded" => "vervangen",
        "allow" => "toegestaan",
        "deny" => "geweigerd",
        "suspended" => "opgeschort",
        "retired" => "beëindigd",
        "in_review" => "ter beoordeling",
        "approved" => "goedgekeurd",
        "rejected" => "afgewezen",
        "received" => "ontvangen",
        "in_progress" => "in behandeling",
        "fulfilled" => "afgehandeld",
        "refused" => "geweigerd",
        other => other,
    };
    match language {
        Language::Nl => dutch.to_owned(),
        Language::En => stored.replace('_', " "),
    }
}

pub fn office_texts(language: Language) -> &'static OfficeTexts {
    match language {
        Language::Nl => &NL,
        Language::En => &EN,
    }
}

async fn home(viewer: Viewer) -> Markup {
    let texts = office_texts(viewer.language);
    page(
        &viewer,
        "/office",
        texts.office_title,
        html! {
            h1 { (texts.office_title) }
            p.lead { (texts.office_intro) }
            ul.cards {
                li { a href="/office/policies" { (texts.policies_title) } }
            }
        },
    )
}
