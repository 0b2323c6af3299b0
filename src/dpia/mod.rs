//! Data protection impact assessments (GDPR Art. 35). A DPIA is an instance of a template
//! for one or more purposes; questions that the register can answer are prefilled from it
//! and stay linked, so an approved DPIA shows when the processing it assessed has changed.
//! The DPO's approval is what lets a purpose that needs a DPIA become active.

mod facts;
mod render;
mod routes;
mod store;
mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use facts::{Deployment, Fact, Prefill, Register};
pub use render::{Format, matrix, render};
pub use routes::router;
pub use store::{
    Comment, DpiaDecision, DpiaSummary, NewDpia, RevisionEntry, Verdict, approval_covers, comment, create, decide,
    list, purpose_versioned, refresh, reopen, revision, revisions, set_answer, set_risk_register, submit, view,
};
pub use template::{Question, SHIPPED_TEMPLATES, Section, Template, TemplateError, Templates};

use crate::problem::FieldError;
use crate::purposes::{Language, Localized};
use crate::timestamp::Timestamp;

/// What DPIAs need from the running server: the templates and the deployment facts.
#[derive(Debug, Clone)]
pub struct Workbench {
    pub templates: Arc<Templates>,
    pub deployment: Arc<Deployment>,
}

impl Workbench {
    /// The shipped templates and those in `templates_dir`, for `deployment`.
    pub fn new(templates_dir: Option<&std::path::Path>, deployment: Deployment) -> Result<Self, TemplateError> {
        Ok(Self { templates: Arc::new(Templates::load(templates_dir)?), deployment: Arc::new(deployment) })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DpiaStatus {
    Draft,
    InReview,
    Approved,
    Rejected,
}

impl DpiaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::InReview => "in_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Draft, Self::InReview, Self::Approved, Self::Rejected].into_iter().find(|status| status.as_str() == text)
    }
}

/// One answer: what the register said (for prefilled questions) and what people wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill: Option<Prefill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<Timestamp>,
}

impl Answer {
    pub fn is_answered(&self) -> bool {
        self.prefill.is_some() || self.text.as_deref().is_some_and(|text| !text.trim().is_empty())
    }
}

/// Likelihood and severity, each on the scale 1 (negligible) to 4 (maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Score {
    pub likelihood: u8,
    pub severity: u8,
}

impl Score {
    pub fn level(self) -> u8 {
        self.likelihood * self.severity
    }
}

/// A risk to the students, before (inherent) and after (residual) its measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// A short id, e.g. `r1`, that measures point to.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// What would happen to the students.
    #[serde(default)]
    pub impacts: String,
    /// How it could happen.
    #[serde(default)]
    pub threats: String,
    /// Who or what could cause it.
    #[serde(default)]
    pub sources: String,
    #[serde(default)]
    pub inherent: Option<Score>,
    #[serde(default)]
    pub residual: Option<Score>,
}

impl Risk {
    /// A risk named but not yet described or scored.
    pub fn named(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            impacts: String::new(),
            threats: String::new(),
            sources: String::new(),
            inherent: None,
            residual: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeasureStatus {
    Planned,
    Implemented,
}

impl MeasureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Implemented => "implemented",
        }
    }
}

/// A measure, and the risks it reduces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub risks: Vec<String>,
    pub status: MeasureStatus,
    #[serde(default)]
    pub owner: String,
}

/// The risks and measures of one DPIA, replaced as a whole so links stay consistent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskRegister {
    pub risks: Vec<Risk>,
    pub measures: Vec<Measure>,
}

impl RiskRegister {
    /// Every problem, each naming its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let valid_id = |id: &str| {
            (1..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let mut risk_ids = BTreeSet::new();
        for (index, risk) in self.risks.iter().enumerate() {
            let field = |name: &str| format!("risks[{index}].{name}");
            if !valid_id(&risk.id) || !risk_ids.insert(risk.id.as_str()) {
                errors.push(FieldError::new(field("id"), "a unique id of letters, digits, - and _ (up to 32)"));
            }
            if risk.title.trim().is_empty() {
                errors.push(FieldError::new(field("title"), "a risk needs a title"));
            }
            for (name, score) in [("inherent", risk.inherent), ("residual", risk.residual)] {
                if let Some(score) = score {
                    if !(1..=4).contains(&score.likelihood) {
                        errors.push(FieldError::new(field(&format!("{name}.likelihood")), "on the scale 1 to 4"));
                    }
                    if !(1..=4).contains(&score.severity) {
                        errors.push(FieldError::new(field(&format!("{name}.severity")), "on the scale 1 to 4"));
                    }
                }
            }
            if let (Some(inherent), Some(residual)) = (risk.inherent, risk.residual)
                && residual.level() > inherent.level()
            {
                errors.push(FieldError::new(field("residual"), "measures do not make a risk larger than it was"));
            }
        }
        let mut measure_ids = BTreeSet::new();
        for (index, measure) in self.measures.iter().enumerate() {
            let field = |name: &str| format!("measures[{index}].{name}");
            if !valid_id(&measure.id) || !measure_ids.insert(measure.id.as_str()) {
                errors.push(FieldError::new(field("id"), "a unique id of letters, digits, - and _ (up to 32)"));
            }
            if measure.title.trim().is_empty() {
                errors.push(FieldError::new(field("title"), "a measure needs a title"));
            }
            for (link, risk) in measure.risks.iter().enumerate() {
                if !risk_ids.contains(risk.as_str()) {
                    errors.push(FieldError::new(
                        format!("measures[{index}].risks[{link}]"),
                        format!("no risk has the id `{risk}`"),
                    ));
                }
            }
        }
        errors
    }
}

/// A DPIA's content: answers by question id, and its risk register.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Document {
    pub answers: BTreeMap<String, Answer>,
    #[serde(flatten)]
    pub register: RiskRegister,
}

impl Document {
    /// What still stands between this document and review: unanswered questions, risks
    /// without scores, risks without a measure.
    pub fn incomplete(&self, template: &Template) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for question in template.questions() {
            if !self.answers.get(&question.id).is_some_and(Answer::is_answered) {
                errors.push(FieldError::new(format!("answers.{}", question.id), "not answered yet"));
            }
        }
        if self.register.risks.is_empty() {
            errors.push(FieldError::new("risks", "a DPIA assesses at least one risk"));
        }
        for (index, risk) in self.register.risks.iter().enumerate() {
            if risk.inherent.is_none() || risk.residual.is_none() {
                errors.push(FieldError::new(format!("risks[{index}]"), "score the risk before and after its measures"));
            }
            if !self.register.measures.iter().any(|measure| measure.risks.contains(&risk.id)) {
                errors.push(FieldError::new(format!("risks[{index}]"), "no measure addresses this risk"));
            }
        }
        errors
    }
}

/// The state of one purpose a DPIA covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CoveredPurpose {
    pub id: String,
    /// The version the DPIA assessed.
    pub assessed_version: i32,
    pub current_version: i32,
    /// Whether a version since the assessed one reads more.
    pub widened_since: bool,
}

/// A question with its answer, as people read the DPIA.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QuestionView {
    pub id: String,
    pub text: Localized,
    pub help: Option<Localized>,
    pub fact: Option<Fact>,
    #[serde(flatten)]
    pub answer: Answer,
    /// Whether the register says something else now; `current` is what it says.
    pub stale: bool,
    pub current: Option<Prefill>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SectionView {
    pub id: String,
    pub title: Localized,
    pub help: Option<Localized>,
    pub risks: bool,
    pub questions: Vec<QuestionView>,
}

/// A DPIA as the API and its exports show it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DpiaView {
    pub id: String,
    pub title: String,
    pub template: String,
    pub template_version: u32,
    pub template_title: Localized,
    /// The language the DPIA is written in; exports use it.
    pub language: Language,
    pub status: DpiaStatus,
    pub revision: i32,
    pub purposes: Vec<CoveredPurpose>,
    pub sections: Vec<SectionView>,
    pub risks: Vec<Risk>,
    pub measures: Vec<Measure>,
    /// Ids of questions whose prefilled answer no longer matches the register.
    pub stale: Vec<String>,
    /// Why the DPIA asks for review; empty when none is needed.
    pub needs_review: Vec<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub review_date: Option<String>,
    pub decided_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<Timestamp>,
    pub decision_rationale: Option<String>,
    pub comments: Vec<Comment>,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum DpiaError {
    #[error("no DPIA has the id `{0}`")]
    NotFound(String),
    #[error("no DPIA template has the id `{0}`")]
    UnknownTemplate(String),
    #[error("no purpose has the id `{0}`")]
    UnknownPurpose(String),
    #[error("the template has no question `{0}`")]
    UnknownQuestion(String),
    #[error("{0}")]
    NotNow(String),
    #[error("invalid DPIA")]
    Invalid(Vec<FieldError>),
    #[error("the stored DPIA `{0}` cannot be read")]
    Corrupt(String),
    #[error(transparent)]
    Purpose(#[from] crate::purposes::PurposeError),
}

impl From<sqlx::Error> for DpiaError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::db::DbError> for DpiaError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::audit::AuditError> for DpiaError {
    fn from(error: crate::audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::clients::ClientError> for DpiaError {
    fn from(error: crate::clients::ClientError) -> Self {
        Self::Corrupt(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register() -> RiskRegister {
        RiskRegister {
            risks: vec![Risk {
                id: "r1".to_owned(),
                title: "Stigma".to_owned(),
                description: String::new(),
                impacts: String::new(),
                threats: String::new(),
                sources: String::new(),
                inherent: Some(Score { likelihood: 3, severity: 3 }),
                residual: Some(Score { likelihood: 1, severity: 3 }),
            }],
            measures: vec![Measure {
                id: "m1".to_owned(),
                title: "Mentor decides".to_owned(),
                description: String::new(),
                risks: vec!["r1".to_owned()],
                status: MeasureStatus::Implemented,
                owner: String::new(),
            }],
        }
    }

    #[test]
    fn a_risk_register_names_every_field_at_fault() {
        assert!(register().validate().is_empty());
        let mut broken = register();
        broken.risks[0].residual = Some(Score { likelihood: 4, severity: 5 });
        broken.measures[0].risks.push("r9".to_owned());
        broken.measures.push(broken.measures[0].clone());
        let fields: Vec<String> = broken.validate().into_iter().map(|error| error.field).collect();
        assert_eq!(
            fields,
            [
                "risks[0].residual.severity",
                "risks[0].residual",
                "measures[0].risks[1]",
                "measures[1].id",
                "measures[1].risks[1]"
            ]
        );
    }

    #[test]
    fn a_document_is_complete_when_every_question_risk_and_measure_is_there() {
        let templates = Templates::load(None).unwrap();
        let template = templates.get("learning-analytics").unwrap();
        let mut document = Document { answers: BTreeMap::new(), register: register() };
        let missing = document.incomplete(template);
        assert_eq!(missing.len(), template.questions().count());
        for question in template.questions() {
            document.answers.insert(question.id.clone(), Answer { text: Some("yes".to_owned()), ..Answer::default() });
        }
        assert!(document.incomplete(template).is_empty());
        document.register.measures.clear();
        assert_eq!(document.incomplete(template)[0].detail, "no measure addresses this risk");
    }
}
