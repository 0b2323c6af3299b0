//! Every string the pages show, in Dutch and English. One struct per language, so a
//! string missing in either does not compile.

use crate::consent::ConsentState;
use crate::purposes::{Language, LegalBasis};

pub struct Texts {
    pub app_name: &'static str,
    pub skip_to_content: &'static str,
    pub language_switch: &'static str,
    pub other_language: &'static str,
    pub sign_in: &'static str,
    pub sign_in_intro: &'static str,
    pub sign_in_with: &'static str,
    pub demo_sign_in: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub nav_label: &'static str,
    pub nav_choices: &'static str,
    pub nav_data: &'static str,
    pub nav_disclosures: &'static str,
    pub nav_interventions: &'static str,
    pub choices_title: &'static str,
    pub choices_intro: &'static str,
    pub why: &'static str,
    pub legal_basis: &'static str,
    pub data_used: &'static str,
    pub kept_for: &'static str,
    pub who_receives: &'static str,
    pub human_decides: &'static str,
    pub your_choice: &'static str,
    pub chosen_on: &'static str,
    pub give_consent: &'static str,
    pub withdraw_consent: &'static str,
    pub object: &'static str,
    pub lift_objection: &'static str,
    pub no_choice: &'static str,
    pub choice_saved: &'static str,
    pub receipt: &'static str,
    pub data_title: &'static str,
    pub data_intro: &'static str,
    pub records_held: &'static str,
    pub category: &'static str,
    pub count: &'static str,
    pub oldest: &'static str,
    pub download: &'static str,
    pub download_intro: &'static str,
    pub disclosures_title: &'static str,
    pub disclosures_intro: &'static str,
    pub when: &'static str,
    pub tool: &'static str,
    pub purpose: &'static str,
    pub records: &'static str,
    pub fields: &'static str,
    pub nothing_yet: &'static str,
    pub interventions_title: &'static str,
    pub interventions_intro: &'static str,
    pub decided_by: &'static str,
    pub decline: &'static str,
    pub declined: &'static str,
    pub error_title: &'static str,
    pub back_home: &'static str,
    pub not_a_student: &'static str,
    pub home_title: &'static str,
    pub home_intro: &'static str,
    pub demo_title: &'static str,
    pub demo_warning: &'static str,
    pub demo_any_person: &'static str,
    pub nav_proposals: &'static str,
    pub nav_office: &'static str,
    pub nav_requests: &'static str,
    pub requests_title: &'static str,
    pub requests_intro: &'static str,
    pub request_kind: &'static str,
    pub answer_by: &'static str,
    pub request_state: &'static str,
    pub reply: &'static str,
    pub new_request: &'static str,
    pub request_text: &'static str,
    pub request_purpose: &'static str,
    pub request_record: &'static str,
    pub send_request: &'static str,
    pub proposals_title: &'static str,
    pub proposals_intro: &'static str,
    pub student: &'static str,
    pub proposed_action: &'static str,
    pub risk: &'static str,
    pub status: &'static str,
    pub expires: &'static str,
    pub proposal_title: &'static str,
    pub model: &'static str,
    pub risk_explained: &'static str,
    pub indicators_of: &'static str,
    pub indicator: &'static str,
    pub this_student: &'static str,
    pub group_mean: &'static str,
    pub norm: &'static str,
    pub below_norm: &'static str,
    pub your_decision: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub amend: &'static str,
    pub rationale: &'static str,
    pub amended_action: &'static str,
    pub amended_text: &'static str,
    pub decide: &'static str,
}

pub static NL: Texts = Texts {
    app_name: "Consentry",
    skip_to_content: "Naar de inhoud",
    language_switch: "Taal",
    other_language: "English",
    sign_in: "Inloggen",
    sign_in_intro: "Log in met het account van je instelling om te zien wat er met je gegevens gebeurt.",
    sign_in_with: "Inloggen via",
    demo_sign_in: "Inloggen als demopersoon",
    sign_out: "Uitloggen",
    signed_in_as: "Ingelogd als",
    nav_label: "Hoofdmenu",
    nav_choices: "Mijn keuzes",
    nav_data: "Mijn gegevens",
    nav_disclosures: "Wie gebruikte mijn gegevens",
    nav_interventions: "Uitnodigingen",
    choices_title: "Wat gebeurt er met mijn gegevens?",
    choices_intro: "Per doel zie je waarvoor je gegevens worden gebruikt, op welke grond, welke gegevens, hoe lang, en door wie. Waar de grond het toelaat, kies je met één klik.",
    why: "Waarom",
    legal_basis: "Grondslag",
    data_used: "Gebruikte gegevens",
    kept_for: "Bewaard",
    who_receives: "Ontvangers",
    human_decides: "Een mens beslist altijd over wat jou bereikt; geen systeem doet dat zelf.",
    your_choice: "Jouw keuze",
    chosen_on: "gekozen op",
    give_consent: "Toestemming geven",
    withdraw_consent: "Toestemming intrekken",
    object: "Bezwaar maken",
    lift_objection: "Bezwaar intrekken",
    no_choice: "Hier valt niets te kiezen: de wet of je inschrijving vraagt deze verwerking. Je kunt wel inzage of correctie vragen.",
    choice_saved: "Je keuze is opgeslagen. Vanaf nu geldt ze voor elke verstrekking.",
    receipt: "Bewijs van je keuze (JSON)",
    data_title: "Mijn gegevens",
    data_intro: "Dit bewaart Consentry over jou, per soort gegevens, en voor welke doelen.",
    records_held: "Bewaarde gegevens",
    category: "Soort",
    count: "Aantal",
    oldest: "Oudste",
    download: "Download al mijn gegevens",
    download_intro: "Een zip-bestand met al je gegevens, keuzes, verstrekkingen en verzoeken (AVG art. 20).",
    disclosures_title: "Wie gebruikte mijn gegevens",
    disclosures_intro: "Elke keer dat een applicatie gegevens over jou ontving: wanneer, welke applicatie, voor welk doel en welke velden.",
    when: "Wanneer",
    tool: "Applicatie",
    purpose: "Doel",
    records: "Gegevens",
    fields: "Velden",
    nothing_yet: "Nog niets.",
    interventions_title: "Uitnodigingen van je mentor",
    interventions_intro: "Voorstellen die je mentor heeft goedgekeurd, met de reden en de gebruikte gegevens. Je mag ze afslaan.",
    decided_by: "Besloten door",
    decline: "Afslaan",
    declined: "Afgeslagen",
    error_title: "Dat lukte niet",
    back_home: "Terug naar het begin",
    not_a_student: "Deze pagina's zijn voor studenten.",
    home_title: "Welkom bij Consentry",
    home_intro: "Hier zie en regel je wat je instelling met je leergegevens doet.",
    demo_title: "Inloggen als demopersoon",
    demo_any_person: "Id van een demopersoon (bijvoorbeeld s0042 of mentor03)",
    demo_warning: "DEMO — Hogeschool Demo is verzonnen. Iedereen kan hier als iedereen inloggen; gebruik deze server nooit met echte gegevens.",
    nav_proposals: "Voorstellen",
    nav_office: "Privacybureau",
    nav_requests: "Mijn verzoeken",
    requests_title: "Mijn verzoeken",
    requests_intro: "Vraag om inzage, correctie, wissing of beperking van je gegevens, of maak bezwaar. Je instelling antwoordt binnen een maand.",
    request_kind: "Soort verzoek",
    answer_by: "Antwoord uiterlijk",
    request_state: "Stand",
    reply: "Antwoord",
    new_request: "Nieuw verzoek",
    request_text: "Wat vraag je, in je eigen woorden?",
    request_purpose: "Doel (bij bezwaar)",
    request_record: "Id van het onjuiste gegeven (bij correctie, uit je download)",
    send_request: "Verzoek versturen",
    proposals_title: "Voorstellen voor jouw studenten",
    proposals_intro: "In volgorde van uitnodigen: de hoogste risico's eerst. Open een voorstel, lees de uitleg en beslis zelf; niets bereikt een student zonder jou.",
    student: "Student",
    proposed_action: "Voorstel",
    risk: "Risico",
    status: "Status",
    expires: "Vervalt",
    proposal_title: "Voorstel",
    model: "Model",
    risk_explained: "Het risico is het gemiddelde tekort onder de normen, over de indicatoren hieronder. Het is een signaal, geen oordeel: jij kent de student.",
    indicators_of: "Indicatoren voor",
    indicator: "Indicator",
    this_student: "Deze student",
    group_mean: "Groepsgemiddelde",
    norm: "Norm",
    below_norm: "onder de norm",
    your_decision: "Jouw besluit",
    approve: "Goedkeuren",
    reject: "Afwijzen",
    amend: "Aanpassen",
    rationale: "Motivering (nodig bij afwijzen of aanpassen)",
    amended_action: "Ander voorstel (bij aanpassen)",
    amended_text: "Tekst voor de student (bij aanpassen)",
    decide: "Besluit vastleggen",
};

pub static EN: Texts = Texts {
    app_name: "Consentry",
    skip_to_content: "Skip to content",
    language_switch: "Language",
    other_language: "Nederlands",
    sign_in: "Sign in",
    sign_in_intro: "Sign in with your institution's account to see what happens with your data.",
    sign_in_with: "Sign in with",
    demo_sign_in: "Sign in as a demo person",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    nav_label: "Main menu",
    nav_choices: "My choices",
    nav_data: "My data",
    nav_disclosures: "Who used my data",
    nav_interventions: "Invitations",
    choices_title: "What happens with my data?",
    choices_intro: "For each purpose you see what your data is used for, on which legal basis, which data, for how long, and by whom. Where the basis allows, you choose in one click.",
    why: "Why",
    legal_basis: "Legal basis",
    data_used: "Data used",
    kept_for: "Kept for",
    who_receives: "Recipients",
    human_decides: "A person always decides what reaches you; no system does so on its own.",
    your_choice: "Your choice",
    chosen_on: "chosen on",
    give_consent: "Give consent",
    withdraw_consent: "Withdraw consent",
    object: "Object",
    lift_objection: "Lift my objection",
    no_choice: "There is nothing to choose here: the law or your enrolment requires this processing. You can still ask for access or correction.",
    choice_saved: "Your choice is saved. It applies to every disclosure from now on.",
    receipt: "Receipt of your choice (JSON)",
    data_title: "My data",
    data_intro: "What Consentry keeps about you, per kind of data, and for which purposes.",
    records_held: "Records kept",
    category: "Kind",
    count: "Count",
    oldest: "Oldest",
    download: "Download all my data",
    download_intro: "A zip file with all your data, choices, disclosures and requests (GDPR Art. 20).",
    disclosures_title: "Who used my data",
    disclosures_intro: "Every time a tool received data about you: when, which tool, for which purpose and which fields.",
    when: "When",
    tool: "Tool",
    purpose: "Purpose",
    records: "Records",
    fields: "Fields",
    nothing_yet: "Nothing yet.",
    interventions_title: "Invitations from your mentor",
    interventions_intro: "Proposals your mentor approved, with the reason and the data used. You may decline them.",
    decided_by: "Decided by",
    decline: "Decline",
    declined: "Declined",
    error_title: "That did not work",
    back_home: "Back to the start",
    not_a_student: "These pages are for students.",
    home_title: "Welcome to Consentry",
    home_intro: "See and manage what your institution does with your learning data.",
    demo_title: "Sign in as a demo person",
    demo_any_person: "Id of any demo person (for instance s0042 or mentor03)",
    demo_warning: "DEMO — Hogeschool Demo is made up. Anyone can sign in as anyone here; never use this server with real data.",
    nav_proposals: "Proposals",
    nav_office: "Privacy office",
    nav_requests: "My requests",
    requests_title: "My requests",
    requests_intro: "Ask for access to, correction, erasure or restriction of your data, or object. Your institution answers within one month.",
    request_kind: "Kind of request",
    answer_by: "Answer by",
    request_state: "Status",
    reply: "Reply",
    new_request: "New request",
    request_text: "What do you ask, in your own words?",
    request_purpose: "Purpose (for an objection)",
    request_record: "Id of the wrong record (for a correction, from your download)",
    send_request: "Send request",
    proposals_title: "Proposals for your students",
    proposals_intro: "In invitation order: the highest risks first. Open a proposal, read the explanation and decide yourself; nothing reaches a student without you.",
    student: "Student",
    proposed_action: "Proposed action",
    risk: "Risk",
    status: "Status",
    expires: "Expires",
    proposal_title: "Proposal",
    model: "Model",
    risk_explained: "The risk is the mean shortfall below the norms, over the indicators below. It is a signal, not a judgement: you know the student.",
    indicators_of: "Indicators for",
    indicator: "Indicator",
    this_student: "This student",
    group_mean: "Group mean",
    norm: "Norm",
    below_norm: "below the norm",
    your_decision: "Your decision",
    approve: "Approve",
    reject: "Reject",
    amend: "Amend",
    rationale: "Rationale (needed to reject or amend)",
    amended_action: "Another action (to amend)",
    amended_text: "Text the student reads (to amend)",
    decide: "Record decision",
};

pub fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Nl => &NL,
        Language::En => &EN,
    }
}

/// An intervention as a mentor and student read it.
pub fn action(language: Language, action: &str) -> &'static str {
    match (language, action) {
        (Language::Nl, "invite_conversation") => "uitnodigen voor een gesprek",
        (Language::En, "invite_conversation") => "invite for a conversation",
        (Language::Nl, "offer_extra_material") => "extra lesstof aanbieden",
        (Language::En, "offer_extra_material") => "offer extra material",
        (Language::Nl, "check_in") => "even polsen hoe het gaat",
        (Language::En, "check_in") => "check in on how things go",
        (Language::Nl, _) => "ander voorstel",
        (Language::En, _) => "other action",
    }
}

/// Where a proposal stands.
pub fn proposal_status(language: Language, status: &str) -> &'static str {
    match (language, status) {
        (Language::Nl, "pending") => "wacht op jou",
        (Language::En, "pending") => "waiting for you",
        (Language::Nl, "approved") => "goedgekeurd",
        (Language::En, "approved") => "approved",
        (Language::Nl, "rejected") => "afgewezen",
        (Language::En, "rejected") => "rejected",
        (Language::Nl, "amended") => "aangepast",
        (Language::En, "amended") => "amended",
        (Language::Nl, "expired") => "verlopen",
        (Language::En, "expired") => "expired",
        (Language::Nl, _) => "onbekend",
        (Language::En, _) => "unknown",
    }
}

/// A study-progress indicator's name.
pub fn indicator(language: Language, name: &str) -> &'static str {
    match (language, name) {
        (Language::Nl, "regularity") => "Regelmaat",
        (Language::En, "regularity") => "Regularity",
        (Language::Nl, "resources_visited") => "Bezochte lesstof",
        (Language::En, "resources_visited") => "Resources visited",
        (Language::Nl, "assignments_completed") => "Afgeronde opdrachten",
        (Language::En, "assignments_completed") => "Assignments completed",
        (Language::Nl, "completed_on_level") => "Op niveau afgerond",
        (Language::En, "completed_on_level") => "Completed on level",
        (Language::Nl, "test_score") => "Toetsscore",
        (Language::En, "test_score") => "Test score",
        (Language::Nl, _) => "Indicator",
        (Language::En, _) => "Indicator",
    }
}

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
        "done" => "afgehandeld",
        "refused" => "geweigerd",
        "waiting_for_student" => "wacht op de student",
        "access" => "inzage",
        "rectification" => "rectificatie",
        "erasure" => "wissing",
        "restriction" => "beperking",
        "objection" => "bezwaar",
        other => other,
    };
    match language {
        Language::Nl => dutch.to_owned(),
        Language::En => stored.replace('_', " "),
    }
}

/// A role as people call it.
pub fn role_name(language: Language, role: crate::auth::Role) -> &'static str {
    use crate::auth::Role::*;
    match (language, role) {
        (Language::Nl, Student) => "student",
        (Language::En, Student) => "student",
        (Language::Nl, Mentor) => "mentor",
        (Language::En, Mentor) => "mentor",
        (Language::Nl, Teacher) => "docent",
        (Language::En, Teacher) => "teacher",
        (Language::Nl, PrivacyOfficer) => "privacyfunctionaris",
        (Language::En, PrivacyOfficer) => "privacy officer",
        (Language::Nl, Dpo) => "functionaris gegevensbescherming",
        (Language::En, Dpo) => "data protection officer",
        (Language::Nl, Admin) => "beheerder",
        (Language::En, Admin) => "administrator",
    }
}

/// A legal basis in plain words, as a student reads it.
pub fn basis(language: Language, basis: LegalBasis) -> &'static str {
    match (language, basis) {
        (Language::Nl, LegalBasis::Consent) => "Alleen met je toestemming. Je kunt die altijd intrekken.",
        (Language::En, LegalBasis::Consent) => "Only with your consent. You can withdraw it at any time.",
        (Language::Nl, LegalBasis::PublicTask) => {
            "Dit hoort bij de onderwijstaak van je instelling. Je mag bezwaar maken."
        }
        (Language::En, LegalBasis::PublicTask) => "Part of your institution's educational task. You may object.",
        (Language::Nl, LegalBasis::LegitimateInterest) => {
            "Een gerechtvaardigd belang van je instelling. Je mag bezwaar maken."
        }
        (Language::En, LegalBasis::LegitimateInterest) => "A legitimate interest of your institution. You may object.",
        (Language::Nl, LegalBasis::Contract) => "Nodig voor je onderwijsovereenkomst.",
        (Language::En, LegalBasis::Contract) => "Needed for your study contract.",
        (Language::Nl, LegalBasis::LegalObligation) => "De wet verplicht je instelling hiertoe.",
        (Language::En, LegalBasis::LegalObligation) => "The law requires your institution to do this.",
        (Language::Nl, LegalBasis::VitalInterest) => "Nodig om iemands leven of gezondheid te beschermen.",
        (Language::En, LegalBasis::VitalInterest) => "Needed to protect someone's life or health.",
    }
}

/// Where a student stands, in plain words.
pub fn state(language: Language, state: ConsentState) -> &'static str {
    match (language, state) {
        (Language::Nl, ConsentState::Consented) => "Je hebt toestemming gegeven.",
        (Language::En, ConsentState::Consented) => "You gave consent.",
        (Language::Nl, ConsentState::NotConsented) => {
            "Je hebt geen toestemming gegeven; je gegevens worden hiervoor niet gebruikt."
        }
        (Language::En, ConsentState::NotConsented) => "You have not given consent; your data is not used for this.",
        (Language::Nl, ConsentState::ConsentOutdated) => {
            "Dit doel gebruikt nu meer gegevens; je toestemming geldt pas als je haar opnieuw geeft."
        }
        (Language::En, ConsentState::ConsentOutdated) => {
            "This purpose now uses more data; your consent counts only once you give it again."
        }
        (Language::Nl, ConsentState::Withdrawn) => "Je hebt je toestemming ingetrokken.",
        (Language::En, ConsentState::Withdrawn) => "You withdrew your consent.",
        (Language::Nl, ConsentState::Objected) => "Je hebt bezwaar gemaakt; je gegevens worden hiervoor niet gebruikt.",
        (Language::En, ConsentState::Objected) => "You objected; your data is not used for this.",
        (Language::Nl, ConsentState::NotObjected) => "Je gegevens worden hiervoor gebruikt, tenzij je bezwaar maakt.",
        (Language::En, ConsentState::NotObjected) => "Your data is used for this unless you object.",
        (Language::Nl, ConsentState::NotApplicable) => "Geen keuze.",
        (Language::En, ConsentState::NotApplicable) => "No choice.",
    }
}

/// A data category in plain words.
pub fn category(language: Language, category: crate::records::Category) -> &'static str {
    use crate::records::Category::*;
    match (language, category) {
        (Language::Nl, Activity) => "activiteit in de leeromgeving",
        (Language::En, Activity) => "activity in the learning environment",
        (Language::Nl, Assessment) => "toetsen en cijfers",
        (Language::En, Assessment) => "tests and grades",
        (Language::Nl, Enrolment) => "inschrijvingen",
        (Language::En, Enrolment) => "enrolments",
        (Language::Nl, Wellbeing) => "antwoorden op de welzijnsvragenlijst",
        (Language::En, Wellbeing) => "wellbeing questionnaire answers",
        (Language::Nl, Special) => "bijzondere persoonsgegevens",
        (Language::En, Special) => "special-category data",
        (Language::Nl, Identity) => "naam en nummers",
        (Language::En, Identity) => "name and numbers",
    }
}

/// A retention period in words, e.g. `P1Y` → `1 jaar` / `1 year`.
pub fn period(language: Language, iso: &str) -> String {
    let units: [(u32, &str, &str, &str, &str); 4] = match crate::timestamp::parse_duration(iso) {
        Some(iso8601::Duration::YMDHMS { year, month, day, .. }) => [
            (year, "jaar", "jaar", "year", "years"),
            (month, "maand", "maanden", "month", "months"),
            (0, "", "", "", ""),
            (day, "dag", "dagen", "day", "days"),
        ],
        Some(iso8601::Duration::Weeks(weeks)) => {
            [(0, "", "", "", ""), (0, "", "", "", ""), (weeks, "week", "weken", "week", "weeks"), (0, "", "", "", "")]
        }
        None => return iso.to_owned(),
    };
    let parts: Vec<String> = units
        .iter()
        .filter(|unit| unit.0 > 0)
        .map(|&(count, nl_one, nl_many, en_one, en_many)| {
            let word = match (language, count) {
                (Language::Nl, 1) => nl_one,
                (Language::Nl, _) => nl_many,
                (Language::En, 1) => en_one,
                (Language::En, _) => en_many,
            };
            format!("{count} {word}")
        })
        .collect();
    if parts.is_empty() { iso.to_owned() } else { parts.join(" ") }
}

/// A date in the reader's language, e.g. `23 november 2026` / `23 November 2026`.
pub fn date(language: Language, timestamp: &str) -> String {
    const NL_MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    const EN_MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let parts: Vec<&str> = timestamp.get(..10).unwrap_or(timestamp).split('-').collect();
    let (Some(year), Some(month), Some(day)) = (parts.first(), parts.get(1), parts.get(2)) else {
        return timestamp.to_owned();
    };
    let Some(index) = month.parse::<usize>().ok().and_then(|month| month.checked_sub(1)).filter(|index| *index < 12)
    else {
        return timestamp.to_owned();
    };
    let months = if language == Language::Nl { NL_MONTHS } else { EN_MONTHS };
    format!("{} {} {year}", day.trim_start_matches('0'), months[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_in_the_chosen_language() {
        assert_eq!(date(Language::Nl, "2026-03-05T10:00:00.000000Z"), "5 maart 2026");
        assert_eq!(date(Language::En, "2026-11-23T00:00:00Z"), "23 November 2026");
        assert_eq!(date(Language::En, "garbage"), "garbage");
        assert_eq!(period(Language::Nl, "P1Y"), "1 jaar");
        assert_eq!(period(Language::En, "P6M"), "6 months");
        assert_eq!(period(Language::En, "P1Y6M"), "1 year 6 months");
        assert_eq!(period(Language::Nl, "P2W"), "2 weken");
    }
}
