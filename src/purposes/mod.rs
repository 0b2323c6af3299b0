//! The purpose register (GDPR Art. 30): every processing purpose with its legal basis,
//! what it may read, for how long, and its lifecycle. Versions are kept, because consent
//! is given for a version and a wider version needs fresh consent.

mod routes;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use routes::router;
pub use store::{PurposeVersions, definition_at, get, insert, list, set_status, update, versions};

use crate::catalogue::Catalogue;
use crate::problem::FieldError;
use crate::records::Category;
use crate::timestamp::Timestamp;

/// A purpose's id: a lowercase slug such as `learning-research`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z][a-z0-9-]{1,62}$")]
pub struct PurposeId(String);

impl PurposeId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = (2..=63).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not a purpose id: 2 to 63 lowercase letters, digits and dashes, starting with a letter"
            ))
        }
    }

    /// A purpose id taken from a URL path: one that cannot exist is simply not found.
    pub fn from_path(text: &str) -> Result<Self, PurposeError> {
        Self::parse(text).map_err(|_| PurposeError::NotFound(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PurposeId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<PurposeId> for String {
    fn from(value: PurposeId) -> Self {
        value.0
    }
}

impl fmt::Display for PurposeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// GDPR Art. 6(1) legal bases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterest,
    PublicTask,
    LegitimateInterest,
}

/// What a student may choose, which follows from the legal basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// Consent: no record means no (Art. 6(1)(a), Art. 7).
    OptIn,
    /// Public task or legitimate interest: processing unless the student objects (Art. 21).
    OptOut,
    /// Contract, legal obligation, vital interest: shown, not chosen.
    None,
}

impl LegalBasis {
    /// The GDPR article code as the W3C Data Privacy Vocabulary's GDPR extension names it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Consent => "A6-1-a",
            Self::Contract => "A6-1-b",
            Self::LegalObligation => "A6-1-c",
            Self::VitalInterest => "A6-1-d",
            Self::PublicTask => "A6-1-e",
            Self::LegitimateInterest => "A6-1-f",
        }
    }

    /// The DPV legal-basis concept.
    pub fn dpv(self) -> &'static str {
        match self {
            Self::Consent => "dpv:Consent",
            Self::Contract => "dpv:Contract",
            Self::LegalObligation => "dpv:LegalObligation",
            Self::VitalInterest => "dpv:VitalInterest",
            Self::PublicTask => "dpv:OfficialAuthorityOfController",
            Self::LegitimateInterest => "dpv:LegitimateInterest",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consent => "consent",
            Self::Contract => "contract",
            Self::LegalObligation => "legal_obligation",
            Self::VitalInterest => "vital_interest",
            Self::PublicTask => "public_task",
            Self::LegitimateInterest => "legitimate_interest",
        }
    }

    pub fn choice(self) -> Choice {
        match self {
            Self::Consent => Choice::OptIn,
            Self::PublicTask | Self::LegitimateInterest => Choice::OptOut,
            Self::Contract | Self::LegalObligation | Self::VitalInterest => Choice::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Records about individual students (pseudonymised).
    Individual,
    /// Only counts and statistics over groups of at least the minimum cell size.
    Aggregate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurposeStatus {
    Draft,
    Active,
    Suspended,
    Retired,
}

impl PurposeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Retired => "retired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Draft, Self::Active, Self::Suspended, Self::Retired].into_iter().find(|status| status.as_str() == text)
    }

    /// draft → active → suspended ⇄ active; active or suspended → retired.
    pub fn may_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Draft, Self::Active)
                | (Self::Active, Self::Suspended)
                | (Self::Suspended, Self::Active)
                | (Self::Active | Self::Suspended, Self::Retired)
        )
    }
}

/// Text in Dutch and English; both are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub nl: String,
    pub en: String,
}

impl Localized {
    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::Nl => &self.nl,
            Language::En => &self.en,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Nl,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nl => "nl",
            Self::En => "en",
        }
    }
}

/// The purposes of the W3C Data Privacy Vocabulary that learning analytics serves.
pub const DPV_PURPOSES: &[&str] = &[
    "StudentPerformanceMonitoring",
    "StudentGuidanceManagement",
    "StudentWellbeingManagement",
    "ResearchAndDevelopment",
    "AcademicResearch",
    "ServiceOptimisation",
    "ImproveExistingProductsAndServices",
    "EducationalTrainingManagement",
];

/// What a purpose is: everything a privacy officer writes, validated before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurposeDefinition {
    pub title: Localized,
    /// The plain-language notice students read before they choose.
    pub notice: Localized,
    /// A DPV purpose concept, e.g. `StudentPerformanceMonitoring`.
    pub dpv_purpose: String,
    pub legal_basis: LegalBasis,
    /// GDPR Art. 9(2) condition (`A9-2-a` … `A9-2-j`), required for `special` data.
    #[serde(default)]
    pub art9_condition: Option<String>,
    pub categories: Vec<Category>,
    /// Catalogue fields the purpose may read.
    pub fields: Vec<String>,
    pub granularity: Granularity,
    /// Smallest group an aggregate may describe; at least 2.
    #[serde(default)]
    pub min_cell_size: Option<u32>,
    /// ISO 8601 duration per category, e.g. `{"activity": "P1Y"}`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub retention: BTreeMap<Category, String>,
    /// Who receives the data (tools, teams).
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub human_review_required: bool,
    #[serde(default)]
    pub dpia_required: bool,
}

/// Approximate length of an ISO 8601 duration in days, for comparing retentions.
pub fn retention_days(text: &str) -> Option<f64> {
    let days = match crate::timestamp::parse_duration(text)? {
        iso8601::Duration::Weeks(weeks) => f64::from(weeks) * 7.0,
        iso8601::Duration::YMDHMS { year, month, day, hour, minute, second, .. } => {
            f64::from(year) * 365.25
                + f64::from(month) * 30.44
                + f64::from(day)
                + (f64::from(hour) * 3600.0 + f64::from(minute) * 60.0 + f64::from(second)) / 86_400.0
        }
    };
    (days > 0.0).then_some(days)
}

impl PurposeDefinition {
    /// Every problem with the definition, each naming its field.
    pub fn validate(&self, catalogue: &Catalogue) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut error = |field: String, detail: &str| errors.push(FieldError::new(field, detail));
        for (name, text) in [("title", &self.title), ("notice", &self.notice)] {
            for (language, value) in [("nl", &text.nl), ("en", &text.en)] {
                if value.trim().is_empty() {
                    error(
                        format!("{name}.{language}"),
                        "must not be empty: students read every purpose in Dutch and English",
                    );
                }
            }
        }
        if !DPV_PURPOSES.contains(&self.dpv_purpose.as_str()) {
            error("dpv_purpose".to_owned(), &format!("must be one of {}", DPV_PURPOSES.join(", ")));
        }
        if self.categories.is_empty() {
            error("categories".to_owned(), "a purpose reads at least one category");
        }
        for (index, category) in self.categories.iter().enumerate() {
            if *category == Category::Identity {
                error(format!("categories[{index}]"), "identity data never leaves through the gateway");
            }
        }
        let categories: BTreeSet<Category> = self.categories.iter().copied().collect();
        for (index, name) in self.fields.iter().enumerate() {
            match catalogue.get(name) {
                None => error(format!("fields[{index}]"), &format!("`{name}` is not in the field catalogue")),
                Some(field) if !categories.contains(&field.category) => error(
                    format!("fields[{index}]"),
                    &format!("`{name}` is {} data, a category the purpose does not list", field.category.as_str()),
                ),
                Some(_) => {}
            }
        }
        let reads_special = categories.contains(&Category::Special);
        match &self.art9_condition {
            None if reads_special => {
                error(
                    "art9_condition".to_owned(),
                    "special-category data needs a GDPR Art. 9(2) condition, e.g. A9-2-a",
                );
            }
            Some(condition) if !is_art9_condition(condition) => {
                error("art9_condition".to_owned(), "must be a GDPR Art. 9(2) condition, `A9-2-a` to `A9-2-j`");
            }
            _ => {}
        }
        for category in &categories {
            if *category != Category::Identity && !self.retention.contains_key(category) {
                error(
                    format!("retention.{}", category.as_str()),
                    "every category the purpose reads needs a retention period",
                );
            }
        }
        for (category, period) in &self.retention {
            if !categories.contains(category) {
                error(format!("retention.{}", category.as_str()), "the purpose does not read this category");
            } else if retention_days(period).is_none() {
                error(
                    format!("retention.{}", category.as_str()),
                    "must be an ISO 8601 duration such as P6M, P1Y or P5Y",
                );
            }
        }
        if self.granularity == Granularity::Aggregate && self.min_cell_size.is_none_or(|size| size < 2) {
            error("min_cell_size".to_owned(), "an aggregate purpose needs a minimum cell size of at least 2");
        }
        errors
    }

    /// Whether this version reads more than `before`: new fields or categories, a longer
    /// retention, individual records where there were aggregates, or smaller cells.
    pub fn widens(&self, before: &PurposeDefinition) -> bool {
        let new_field = self.fields.iter().any(|field| !before.fields.contains(field));
        let new_category = self.categories.iter().any(|category| !before.categories.contains(category));
        let longer = self.retention.iter().any(|(category, period)| {
            match (retention_days(period), before.retention.get(category).and_then(|old| retention_days(old))) {
                (Some(new), Some(old)) => new > old,
                _ => true,
            }
        });
        let finer = before.granularity == Granularity::Aggregate && self.granularity == Granularity::Individual;
        let smaller_cells = matches!((self.min_cell_size, before.min_cell_size), (Some(new), Some(old)) if new < old);
        new_field || new_category || longer || finer || smaller_cells
    }
}

fn is_art9_condition(text: &str) -> bool {
    text.strip_prefix("A9-2-")
        .is_some_and(|letter| letter.len() == 1 && ('a'..='j').contains(&letter.chars().next().unwrap_or('z')))
}

/// A purpose as the register holds it: the current version's definition and lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Purpose {
    pub id: PurposeId,
    pub version: i32,
    pub status: PurposeStatus,
    /// The legal basis as its GDPR article code, e.g. `A6-1-e`.
    pub legal_basis_code: String,
    pub choice: Choice,
    /// Whether this version reads more than the previous one.
    pub widens_previous: bool,
    #[serde(flatten)]
    pub definition: PurposeDefinition,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum PurposeError {
    #[error("no purpose has the id `{0}`")]
    NotFound(String),
    #[error("a purpose with the id `{0}` exists already")]
    Exists(String),
    #[error("a {from} purpose cannot become {to}")]
    Transition { from: &'static str, to: &'static str },
    #[error("invalid purpose")]
    Invalid(Vec<FieldError>),
    #[error(
        "purpose `{id}` needs a DPIA: no approved DPIA covers version {version}; the DPO approves one at /api/v1/dpias"
    )]
    DpiaRequired { id: String, version: i32 },
    #[error("the DPIA could not be consulted: {0}")]
    Dpia(Box<crate::dpia::DpiaError>),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("the stored purpose `{0}` cannot be read")]
    Corrupt(String),
}

impl From<sqlx::Error> for PurposeError {
    fn from(error: sqlx::Error) -> Self {
        Self::Audit(error.into())
    }
}

impl From<crate::dpia::DpiaError> for PurposeError {
    fn from(error: crate::dpia::DpiaError) -> Self {
        match error {
            crate::dpia::DpiaError::Purpose(error) => error,
            other => Self::Dpia(Box::new(other)),
        }
    }
}

impl From<crate::db::DbError> for PurposeError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Audit(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn research() -> PurposeDefinition {
        PurposeDefinition {
            title: Localized { nl: "Onderzoek".to_owned(), en: "Research".to_owned() },
            notice: Localized { nl: "Wij onderzoeken…".to_owned(), en: "We study…".to_owned() },
            dpv_purpose: "ResearchAndDevelopment".to_owned(),
            legal_basis: LegalBasis::Consent,
            art9_condition: None,
            categories: vec![Category::Activity],
            fields: vec!["verb.id".to_owned()],
            granularity: Granularity::Individual,
            min_cell_size: None,
            retention: BTreeMap::from([(Category::Activity, "P1Y".to_owned())]),
            recipients: vec![],
            human_review_required: false,
            dpia_required: false,
        }
    }

    fn fields_at_fault(definition: &PurposeDefinition) -> Vec<String> {
        definition.validate(&Catalogue::new(&[]).unwrap()).into_iter().map(|error| error.field).collect()
    }

    #[test]
    fn a_complete_definition_is_valid() {
        assert!(fields_at_fault(&research()).is_empty());
    }

    #[test]
    fn every_validation_error_names_its_field() {
        let mut definition = research();
        definition.notice.en = " ".to_owned();
        definition.fields.push("mood".to_owned());
        definition.fields.push("survey.answer".to_owned());
        definition.retention.insert(Category::Activity, "one year".to_owned());
        definition.granularity = Granularity::Aggregate;
        definition.min_cell_size = Some(1);
        assert_eq!(
            fields_at_fault(&definition),
            ["notice.en", "fields[1]", "fields[2]", "retention.activity", "min_cell_size"]
        );
    }

    #[test]
    fn special_data_needs_an_article_9_condition_and_identity_is_never_read() {
        let mut definition = research();
        definition.categories = vec![Category::Special, Category::Identity];
        definition.fields = vec!["student.ethnicity".to_owned()];
        definition.retention = BTreeMap::from([(Category::Special, "P1Y".to_owned())]);
        assert_eq!(fields_at_fault(&definition), ["categories[1]", "art9_condition"]);
        definition.art9_condition = Some("A9-2-k".to_owned());
        assert!(fields_at_fault(&definition).contains(&"art9_condition".to_owned()));
        definition.art9_condition = Some("A9-2-a".to_owned());
        assert_eq!(fields_at_fault(&definition), ["categories[1]"]);
    }

    #[test]
    fn retention_reads_iso_8601_durations() {
        assert_eq!(retention_days("P6M").map(f64::round), Some(183.0));
        assert!(retention_days("P1Y") < retention_days("P2Y"));
        assert!(retention_days("P2W").is_some());
        assert!(retention_days("P0D").is_none());
        assert!(retention_days("1 year").is_none());
        assert!(retention_days("P1Yabc").is_none());
    }

    #[test]
    fn widening_means_reading_more() {
        let base = research();
        let mut more_fields = base.clone();
        more_fields.fields.push("object.id".to_owned());
        let mut longer = base.clone();
        longer.retention.insert(Category::Activity, "P2Y".to_owned());
        let mut shorter = base.clone();
        shorter.retention.insert(Category::Activity, "P6M".to_owned());
        let mut fewer = base.clone();
        fewer.fields.clear();
        let mut reworded = base.clone();
        reworded.notice.en = "We study how students learn.".to_owned();
        assert!(more_fields.widens(&base));
        assert!(longer.widens(&base));
        assert!(!shorter.widens(&base));
        assert!(!fewer.widens(&base));
        assert!(!reworded.widens(&base));
    }

    #[test]
    fn lifecycle_moves_forward_only_along_its_arrows() {
        use PurposeStatus::*;
        assert!(Draft.may_become(Active));
        assert!(Active.may_become(Suspended) && Suspended.may_become(Active));
        assert!(Suspended.may_become(Retired));
        assert!(!Retired.may_become(Active));
        assert!(!Draft.may_become(Retired));
        assert!(!Active.may_become(Draft));
    }

    #[test]
    fn legal_bases_carry_their_article_codes_and_choices() {
        assert_eq!(LegalBasis::Consent.code(), "A6-1-a");
        assert_eq!(LegalBasis::LegitimateInterest.code(), "A6-1-f");
        assert_eq!(LegalBasis::PublicTask.choice(), Choice::OptOut);
        assert_eq!(LegalBasis::Contract.choice(), Choice::None);
    }
}
