//! Hogeschool Demo's DPIA for its learning analytics, approved by its DPO: what lets
//! `dropout-prevention` and `learning-research` run.

use sqlx::AnyConnection;

use crate::audit::{Actor, ActorKind};
use crate::auth::Role;
use crate::dpia::{self, DpiaError, Measure, MeasureStatus, Risk, RiskRegister, Score, Workbench};
use crate::policy::PolicyEngine;
use crate::purposes::{Language, PurposeId};

pub const TEMPLATE: &str = "learning-analytics";
pub const PURPOSES: [&str; 2] = ["dropout-prevention", "learning-research"];

/// What the privacy office wrote where the register has no answer.
const ANSWERS: &[(&str, &str)] = &[
    (
        "necessity",
        "Mentors already try to notice students who get stuck, but late: most students who stop do so in the first \
         semester, before the first grades. Activity in the learning environment shows it weeks earlier. A less \
         intrusive alternative (asking students to report themselves) was tried in 2024 and reached few of them. \
         Research uses only students who consent.",
    ),
    (
        "informing",
        "The privacy notice per purpose is shown in the student portal before any choice; programme introductions \
         explain the signals in week 1; every invitation a student receives says why, with which data, and that they \
         may decline and object.",
    ),
    (
        "mentor-guidance",
        "Mentors follow a two-hour training on reading indicators and on the limits of the model; proposals show the \
         explanation before the student; mentors record a rationale whenever they reject or amend, and override rates \
         are reviewed each quarter.",
    ),
    (
        "fairness",
        "The rule compares students with the norms of their own course, not with a trained model of past students, \
         so it cannot learn historical bias. The privacy office compares proposal rates across programmes and \
         part-time and full-time students each semester and reports differences to the DPO.",
    ),
    (
        "risk-conclusion",
        "With the measures below the residual risks are low to medium and acceptable: no decision reaches a student \
         without a mentor, students can object at any time, and tools receive pseudonymised data only.",
    ),
    (
        "conclusion",
        "The processing can go ahead under these conditions: the measures stay in place, the override and fairness \
         reports reach the DPO each semester, and the DPIA is reviewed within a year or when a purpose reads more.",
    ),
];

fn risk(id: &str, title: &str, impacts: &str, inherent: (u8, u8), residual: (u8, u8)) -> Risk {
    Risk {
        impacts: impacts.to_owned(),
        inherent: Some(Score { likelihood: inherent.0, severity: inherent.1 }),
        residual: Some(Score { likelihood: residual.0, severity: residual.1 }),
        ..Risk::named(id, title)
    }
}

fn measure(id: &str, title: &str, risks: &[&str], owner: &str) -> Measure {
    Measure {
        id: id.to_owned(),
        title: title.to_owned(),
        description: String::new(),
        risks: risks.iter().map(|risk| (*risk).to_owned()).collect(),
        status: MeasureStatus::Implemented,
        owner: owner.to_owned(),
    }
}

fn risk_register() -> RiskRegister {
    RiskRegister {
        risks: vec![
            risk(
                "r1",
                "Students feel watched and change their behaviour",
                "chilling effect on learning",
                (3, 2),
                (2, 2),
            ),
            risk(
                "r2",
                "A signal leads to stigma or an unjust judgement",
                "unequal treatment, loss of trust",
                (3, 3),
                (1, 3),
            ),
            risk(
                "r3",
                "Unauthorised access to data about individual students",
                "disclosure of study progress and wellbeing",
                (2, 4),
                (1, 3),
            ),
        ],
        measures: vec![
            measure("m1", "Per-purpose notices, objection and consent in one click", &["r1"], "privacy office"),
            measure("m2", "Every proposal needs a mentor's decision with rationale; a stop switch", &["r2"], "mentors"),
            measure("m3", "Cedar policies per role, pseudonyms per purpose and tool, audit log", &["r3"], "IT"),
            measure("m4", "Semester report on override rates and proposal rates per group", &["r2"], "privacy office"),
        ],
    }
}

fn person(id: &str, role: Role) -> Actor {
    Actor { id: id.to_owned(), kind: ActorKind::User, roles: vec![role] }
}

/// Drafts, completes, submits and approves the demo DPIA.
pub async fn approve(
    connection: &mut AnyConnection,
    workbench: &Workbench,
    engine: &PolicyEngine,
) -> Result<(), DpiaError> {
    let officer = person("po1", Role::PrivacyOfficer);
    let reasons = || vec!["demo-seed".to_owned()];
    let new = dpia::NewDpia {
        template: TEMPLATE.to_owned(),
        purposes: PURPOSES.iter().filter_map(|purpose| PurposeId::parse(purpose).ok()).collect(),
        title: "Learning analytics at Hogeschool Demo".to_owned(),
        language: Language::En,
    };
    let created = dpia::create(connection, workbench, engine, &new, &officer, reasons()).await?;
    for (question, text) in ANSWERS {
        dpia::set_answer(connection, workbench, &created.id, question, text, &officer, reasons()).await?;
    }
    dpia::set_risk_register(connection, &created.id, risk_register(), &officer, reasons()).await?;
    dpia::submit(connection, workbench, &created.id, &officer, reasons()).await?;
    let review = time::OffsetDateTime::now_utc().date().saturating_add(time::Duration::days(365));
    let decision = dpia::DpiaDecision {
        decision: dpia::Verdict::Approved,
        rationale: "The measures address the risks; review after one year.".to_owned(),
        review_date: Some(review.to_string()),
    };
    dpia::decide(connection, &created.id, &decision, &person("dpo1", Role::Dpo), reasons()).await
}
