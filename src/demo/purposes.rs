//! The demo institution's processing register and a realistic spread of choices: most
//! students never choose, some object, a minority consents to research.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::institution::{Institution, SEED, SEMESTER_START_UNIX};
use crate::consent::{ConsentEvent, Method, NewRecord, Relation};
use crate::purposes::{Granularity, Language, LegalBasis, Localized, PurposeDefinition, PurposeId};
use crate::records::Category;
use crate::timestamp::Timestamp;

fn text(nl: &str, en: &str) -> Localized {
    Localized { nl: nl.to_owned(), en: en.to_owned() }
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

const ACTIVITY: &[&str] = &[
    "verb.id",
    "object.id",
    "object.definition.type",
    "result.completion",
    "result.duration",
    "context.contextActivities.parent",
    "timestamp",
];
const ASSESSMENT: &[&str] = &["result.score.scaled", "result.success", "grade.course", "grade.item", "grade.value"];

/// The five purposes, each exercising another path of the law.
pub fn purposes() -> Vec<(&'static str, PurposeDefinition)> {
    let activity_and_assessment = [ACTIVITY, ASSESSMENT].concat();
    vec![
        (
            "personal-dashboard",
            PurposeDefinition {
                title: text("Persoonlijk studiedashboard", "Personal study dashboard"),
                notice: text(
                    "Je ziet in je eigen dashboard hoe je ervoor staat: wat je in de leeromgeving hebt gedaan en je cijfers, \
                     naast het gemiddelde van je groep. Dit hoort bij onze onderwijstaak; je kunt bezwaar maken.",
                    "Your own dashboard shows how you are doing: what you did in the learning environment and your grades, \
                     next to your group's average. This is part of our educational task; you can object.",
                ),
                dpv_purpose: "StudentPerformanceMonitoring".to_owned(),
                legal_basis: LegalBasis::PublicTask,
                art9_condition: None,
                categories: vec![Category::Activity, Category::Assessment],
                fields: fields(&activity_and_assessment),
                granularity: Granularity::Individual,
                min_cell_size: None,
                retention: BTreeMap::from([
                    (Category::Activity, "P1Y".to_owned()),
                    (Category::Assessment, "P1Y".to_owned()),
                ]),
                recipients: vec!["demo-dashboard".to_owned()],
                human_review_required: false,
                dpia_required: false,
            },
        ),
        (
            "dropout-prevention",
            PurposeDefinition {
                title: text("Vroegtijdig signaleren van studie-uitval", "Early signals of dropout"),
                notice: text(
                    "Als je activiteit, resultaten of inschrijving erop wijzen dat je vastloopt, stelt het systeem je mentor \
                     voor je uit te nodigen voor een gesprek. Je mentor beslist altijd zelf. Je kunt bezwaar maken.",
                    "When your activity, results or enrolment suggest you are getting stuck, the system suggests that your \
                     mentor invites you for a talk. Your mentor always decides. You can object.",
                ),
                dpv_purpose: "StudentGuidanceManagement".to_owned(),
                legal_basis: LegalBasis::PublicTask,
                art9_condition: None,
                categories: vec![Category::Activity, Category::Assessment, Category::Enrolment],
                fields: fields(
                    &[activity_and_assessment.as_slice(), &["enrolment.course", "enrolment.status"][..]].concat(),
                ),
                granularity: Granularity::Individual,
                min_cell_size: None,
                retention: BTreeMap::from([
                    (Category::Activity, "P1Y".to_owned()),
                    (Category::Assessment, "P1Y".to_owned()),
                    (Category::Enrolment, "P1Y".to_owned()),
                ]),
                recipients: vec!["demo-signals".to_owned(), "mentors".to_owned()],
                human_review_required: true,
                dpia_required: true,
            },
        ),
        (
            "course-improvement",
            PurposeDefinition {
                title: text("Verbeteren van cursussen", "Improving courses"),
                notice: text(
                    "Docenten zien alleen totalen over groepen van minstens tien studenten, zoals welke opdrachten vaak worden \
                     overgeslagen, om hun cursus te verbeteren. Je kunt bezwaar maken.",
                    "Teachers see only totals over groups of at least ten students, such as which assignments are often \
                     skipped, to improve their course. You can object.",
                ),
                dpv_purpose: "ServiceOptimisation".to_owned(),
                legal_basis: LegalBasis::PublicTask,
                art9_condition: None,
                categories: vec![Category::Activity],
                fields: fields(ACTIVITY),
                granularity: Granularity::Aggregate,
                min_cell_size: Some(10),
                retention: BTreeMap::from([(Category::Activity, "P2Y".to_owned())]),
                recipients: vec!["demo-dashboard".to_owned(), "teachers".to_owned()],
                human_review_required: false,
                dpia_required: false,
            },
        ),
        (
            "learning-research",
            PurposeDefinition {
                title: text("Onderzoek naar leren", "Research into learning"),
                notice: text(
                    "Het lectoraat Learning Analytics onderzoekt hoe studenten leren, met je activiteit, resultaten en \
                     antwoorden op de welzijnsvragenlijst, onder een pseudoniem. Alleen met je toestemming; je kunt die \
                     altijd intrekken.",
                    "The Learning Analytics research group studies how students learn, using your activity, results and \
                     wellbeing questionnaire answers under a pseudonym. Only with your consent, which you can withdraw at \
                     any time.",
                ),
                dpv_purpose: "ResearchAndDevelopment".to_owned(),
                legal_basis: LegalBasis::Consent,
                art9_condition: None,
                categories: vec![Category::Activity, Category::Assessment, Category::Wellbeing],
                fields: fields(&[activity_and_assessment.as_slice(), &["survey.item", "survey.answer"][..]].concat()),
                granularity: Granularity::Individual,
                min_cell_size: None,
                retention: BTreeMap::from([
                    (Category::Activity, "P5Y".to_owned()),
                    (Category::Assessment, "P5Y".to_owned()),
                    (Category::Wellbeing, "P5Y".to_owned()),
                ]),
                recipients: vec!["demo-research".to_owned()],
                human_review_required: false,
                dpia_required: true,
            },
        ),
        (
            "wellbeing-support",
            PurposeDefinition {
                title: text("Ondersteuning bij welzijn", "Wellbeing support"),
                notice: text(
                    "Als je antwoorden op de welzijnsvragenlijst daar aanleiding toe geven, kan een studentendecaan contact \
                     met je opnemen. Alleen met je toestemming; een mens beslist altijd.",
                    "If your answers to the wellbeing questionnaire give reason to, a student counsellor may contact you. \
                     Only with your consent; a person always decides.",
                ),
                dpv_purpose: "StudentWellbeingManagement".to_owned(),
                legal_basis: LegalBasis::Consent,
                art9_condition: None,
                categories: vec![Category::Wellbeing],
                fields: fields(&["survey.item", "survey.answer"]),
                granularity: Granularity::Individual,
                min_cell_size: None,
                retention: BTreeMap::from([(Category::Wellbeing, "P6M".to_owned())]),
                recipients: vec!["student counsellors".to_owned()],
                human_review_required: true,
                dpia_required: false,
            },
        ),
    ]
}

/// The choices students made in the first weeks of the semester, oldest first.
pub fn choices(institution: &Institution) -> Vec<(String, NewRecord)> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0xC0_45E7);
    let mut choices = Vec::new();
    let opt_out = [("personal-dashboard", 0.03), ("dropout-prevention", 0.05), ("course-improvement", 0.01)];
    let opt_in = [("learning-research", 0.18), ("wellbeing-support", 0.08)];
    for student in &institution.students {
        let mut choose = |rng: &mut ChaCha8Rng, purpose: &str, basis: LegalBasis, event: ConsentEvent, day: i64| {
            let Ok(purpose) = PurposeId::parse(purpose) else { return };
            let at =
                Timestamp::from_unix_seconds(SEMESTER_START_UNIX + day * 86_400 + rng.random_range(28_800..79_200))
                    .unwrap_or_else(Timestamp::now);
            let language = if rng.random_bool(0.3) { Language::En } else { Language::Nl };
            choices.push((
                student.login.clone(),
                NewRecord {
                    subject: student.subject_id,
                    purpose,
                    purpose_version: 1,
                    legal_basis: basis,
                    event,
                    notice_version: 1,
                    language,
                    method: Method::Web,
                    relation: Relation::Own,
                    recorded_at: at,
                },
            ));
        };
        for (purpose, share) in opt_out {
            if rng.random_bool(share) {
                let day = rng.random_range(0..40);
                choose(&mut rng, purpose, LegalBasis::PublicTask, ConsentEvent::Objected, day);
                if rng.random_bool(0.2) {
                    let later = day + rng.random_range(5..60);
                    choose(&mut rng, purpose, LegalBasis::PublicTask, ConsentEvent::ObjectionLifted, later);
                }
            }
        }
        for (purpose, share) in opt_in {
            if rng.random_bool(share) {
                let day = rng.random_range(0..40);
                choose(&mut rng, purpose, LegalBasis::Consent, ConsentEvent::Given, day);
                if rng.random_bool(0.15) {
                    let later = day + rng.random_range(5..80);
                    choose(&mut rng, purpose, LegalBasis::Consent, ConsentEvent::Withdrawn, later);
                }
            }
        }
    }
    choices.sort_by_key(|(_, record)| record.recorded_at);
    choices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;

    #[test]
    fn the_demo_purposes_are_valid() {
        let catalogue = Catalogue::new(&[]).unwrap();
        for (id, definition) in purposes() {
            assert!(PurposeId::parse(id).is_ok());
            assert_eq!(definition.validate(&catalogue), vec![], "{id}");
        }
    }

    #[test]
    fn most_students_never_choose_and_a_minority_consents_to_research() {
        let institution = Institution::generate(1.0);
        let choices = choices(&institution);
        let research = choices.iter().filter(|(_, record)| record.purpose.as_str() == "learning-research").count();
        let students = institution.students.len();
        assert!(research > students / 10 && research < students / 3, "{research}");
        let choosing: std::collections::BTreeSet<_> = choices.iter().map(|(login, _)| login).collect();
        assert!(choosing.len() < students / 2, "{} of {students} chose", choosing.len());
    }
}
