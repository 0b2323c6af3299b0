//! The consent ledger: students' choices per purpose, as the legal basis allows them,
//! recorded append-only after ISO/IEC TS 27560. The current state is the latest record;
//! nothing is cached, so a withdrawal counts from the very next read.

mod import;
mod receipt;
mod routes;
mod store;
mod summary;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;
use uuid::Uuid;

pub use import::{ImportError, import_consents};
pub use receipt::Receipt;
pub use routes::router;
pub use store::{
    ConsentRecord, NewRecord, history, latest, latest_by_purpose, record, records_for_purpose, records_for_subjects,
};
pub use summary::{ConsentSummary, MonthCounts, StateCounts, summary};

use crate::audit::Actor;
use std::collections::BTreeMap;

use crate::purposes::{
    self, Choice, Language, LegalBasis, Localized, Purpose, PurposeError, PurposeId, PurposeStatus, PurposeVersions,
};
use crate::records::Category;
use crate::timestamp::Timestamp;

/// What happened to a student's choice (ISO/IEC TS 27560 event types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentEvent {
    Given,
    Withdrawn,
    /// GDPR Art. 21: the student objects to processing on public task or legitimate interest.
    Objected,
    ObjectionLifted,
}

impl ConsentEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Given => "given",
            Self::Withdrawn => "withdrawn",
            Self::Objected => "objected",
            Self::ObjectionLifted => "objection_lifted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Given, Self::Withdrawn, Self::Objected, Self::ObjectionLifted]
            .into_iter()
            .find(|event| event.as_str() == text)
    }
}

/// How the choice reached Consentry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Web,
    Api,
    Import,
    Paper,
    Phone,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Api => "api",
            Self::Import => "import",
            Self::Paper => "paper",
            Self::Phone => "phone",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Web, Self::Api, Self::Import, Self::Paper, Self::Phone]
            .into_iter()
            .find(|method| method.as_str() == text)
    }
}

/// Who recorded a choice, seen from the student.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The student themself.
    #[serde(rename = "self")]
    Own,
    /// A staff member, from a paper form or a phone call.
    Staff,
    /// A parent or guardian of a student under 16 (UAVG Art. 5).
    Guardian,
    /// A bulk import of choices recorded elsewhere.
    Import,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "self",
            Self::Staff => "staff",
            Self::Guardian => "guardian",
            Self::Import => "import",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Own, Self::Staff, Self::Guardian, Self::Import].into_iter().find(|relation| relation.as_str() == text)
    }
}

/// Where a student stands with one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Consent given for this version or one it does not widen.
    Consented,
    /// No consent was ever given.
    NotConsented,
    /// Consent was given for an earlier version; this one reads more and asks again.
    ConsentOutdated,
    Withdrawn,
    Objected,
    /// Opt-out purpose without an objection.
    NotObjected,
    /// The legal basis leaves no choice.
    NotApplicable,
}

impl ConsentState {
    /// Whether the purpose may use this student's data.
    pub fn permits(self) -> bool {
        matches!(self, Self::Consented | Self::NotObjected | Self::NotApplicable)
    }

    /// The state after the latest record, under the purpose's current basis and version.
    pub fn derive(purpose: &Purpose, versions: &PurposeVersions, latest: Option<&ConsentRecord>) -> Self {
        let event = latest.map(|record| record.event);
        match purpose.choice {
            Choice::OptIn => match (event, latest) {
                (Some(ConsentEvent::Given), Some(record))
                    if versions.still_covers(record.purpose_version, purpose.version) =>
                {
                    Self::Consented
                }
                (Some(ConsentEvent::Given), _) => Self::ConsentOutdated,
                (Some(ConsentEvent::Withdrawn), _) => Self::Withdrawn,
                _ => Self::NotConsented,
            },
            Choice::OptOut => match event {
                Some(ConsentEvent::Objected) => Self::Objected,
                _ => Self::NotObjected,
            },
            Choice::None => Self::NotApplicable,
        }
    }
}

/// Whose data a purpose may use, from the ledger at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectFilter {
    /// The legal basis leaves no choice.
    Everyone,
    /// Consent: only those whose latest record gives consent covering this version.
    Only(HashSet<String>),
    /// Objection: everyone except those whose latest record objects.
    AllExcept(HashSet<String>),
}

impl SubjectFilter {
    pub fn permits(&self, subject: &str) -> bool {
        match self {
            Self::Everyone => true,
            Self::Only(permitted) => permitted.contains(subject),
            Self::AllExcept(excluded) => !excluded.contains(subject),
        }
    }
}

/// The subjects `purpose` may use now, by each student's latest record, read in the
/// caller's transaction (a governed read's snapshot).
pub async fn subject_filter(
    connection: &mut AnyConnection,
    purpose: &Purpose,
    versions: &PurposeVersions,
) -> Result<SubjectFilter, ConsentError> {
    if purpose.choice == Choice::None {
        return Ok(SubjectFilter::Everyone);
    }
    let mut latest: HashMap<String, ConsentRecord> = HashMap::new();
    for record in records_for_purpose(connection, &purpose.id).await? {
        latest.insert(record.subject.to_string(), record);
    }
    let mut permitted = HashSet::new();
    let mut excluded = HashSet::new();
    for (subject, record) in latest {
        if ConsentState::derive(purpose, versions, Some(&record)).permits() {
            permitted.insert(subject);
        } else {
            excluded.insert(subject);
        }
    }
    Ok(match purpose.choice {
        Choice::OptIn => SubjectFilter::Only(permitted),
        Choice::OptOut | Choice::None => SubjectFilter::AllExcept(excluded),
    })
}

/// Whether `event` is a choice the purpose's legal basis and status allow from `state`;
/// the error says why not, in words a student understands.
pub fn check_choice(purpose: &Purpose, state: ConsentState, event: ConsentEvent) -> Result<(), String> {
    let basis = purpose.definition.legal_basis;
    let code = basis.code();
    match purpose.status {
        PurposeStatus::Draft => return Err("this purpose is not in use yet".to_owned()),
        PurposeStatus::Retired => return Err("this purpose is retired: it no longer processes data".to_owned()),
        PurposeStatus::Active | PurposeStatus::Suspended => {}
    }
    match (purpose.choice, event) {
        (Choice::None, _) => Err(format!(
            "this purpose rests on {} (GDPR Art. 6(1), {code}): the law gives no choice here; it is shown so that you know",
            basis.as_str().replace('_', " ")
        )),
        (Choice::OptIn, ConsentEvent::Given) if purpose.status == PurposeStatus::Suspended => {
            Err("this purpose is suspended: consent can be given again once it resumes".to_owned())
        }
        (Choice::OptIn, ConsentEvent::Given) => Ok(()),
        (Choice::OptIn, ConsentEvent::Withdrawn)
            if matches!(state, ConsentState::Consented | ConsentState::ConsentOutdated) =>
        {
            Ok(())
        }
        (Choice::OptIn, ConsentEvent::Withdrawn) => Err("there is no consent to withdraw".to_owned()),
        (Choice::OptIn, _) => Err(format!(
            "this purpose rests on your consent ({code}): give or withdraw it; objecting is for purposes without consent"
        )),
        (Choice::OptOut, ConsentEvent::Objected) if state == ConsentState::Objected => {
            Err("you have objected already".to_owned())
        }
        (Choice::OptOut, ConsentEvent::Objected) => Ok(()),
        (Choice::OptOut, ConsentEvent::ObjectionLifted) if state == ConsentState::Objected => Ok(()),
        (Choice::OptOut, ConsentEvent::ObjectionLifted) => Err("there is no objection to lift".to_owned()),
        (Choice::OptOut, _) => Err(format!(
            "this purpose rests on {} ({code}), not on consent: you can object to it (GDPR Art. 21)",
            basis.as_str().replace('_', " ")
        )),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("{0}")]
    NotAllowed(String),
    #[error("you are not registered as a student, so you have no choices to make")]
    NotAStudent,
    #[error("no student has the id `{0}`")]
    UnknownSubject(Uuid),
    #[error("no choice recorded for this purpose yet")]
    NoRecord,
    #[error("invalid request")]
    Invalid(Vec<crate::problem::FieldError>),
    #[error(transparent)]
    Purpose(#[from] PurposeError),
    #[error("the stored consent record `{0}` cannot be read")]
    Corrupt(String),
}

impl From<sqlx::Error> for ConsentError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::db::DbError> for ConsentError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::retention::RetentionError> for ConsentError {
    fn from(error: crate::retention::RetentionError) -> Self {
        match error {
            crate::retention::RetentionError::Purpose(error) => Self::Purpose(error),
            crate::retention::RetentionError::Consent(error) => error,
        }
    }
}

impl From<crate::audit::AuditError> for ConsentError {
    fn from(error: crate::audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

/// A student's standing with one purpose.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConsentStatus {
    #[schema(value_type = String)]
    pub purpose: PurposeId,
    pub version: i32,
    pub state: ConsentState,
    /// Whether the purpose may use the student's data now.
    pub permits: bool,
    /// The latest record, if any.
    pub record: Option<ConsentRecord>,
}

/// A choice to record.
#[derive(Debug, Clone, Copy)]
pub struct Choosing {
    pub event: ConsentEvent,
    pub language: Language,
    /// The purpose version whose notice was shown; the current one when absent.
    pub notice_version: Option<i32>,
    pub method: Method,
    pub relation: Relation,
}

async fn purpose_and_versions(
    connection: &mut AnyConnection,
    id: &PurposeId,
) -> Result<(Purpose, PurposeVersions), ConsentError> {
    let purpose = purposes::get(connection, id).await?.ok_or_else(|| PurposeError::NotFound(id.to_string()))?;
    let versions = purposes::versions(connection, id).await?;
    Ok((purpose, versions))
}

/// An active purpose as a student sees it, with their choice.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyPurpose {
    pub id: String,
    pub version: i32,
    pub title: Localized,
    pub notice: Localized,
    pub legal_basis: LegalBasis,
    pub legal_basis_code: String,
    pub choice: Choice,
    pub categories: Vec<Category>,
    pub fields: Vec<String>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub retention: BTreeMap<Category, String>,
    pub recipients: Vec<String>,
    pub human_review_required: bool,
    pub state: ConsentState,
    pub permits: bool,
    /// When the student last chose.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub chosen_at: Option<Timestamp>,
}

/// Every active purpose with where `subject` stands, as the student sees them.
pub async fn purposes_of(connection: &mut AnyConnection, subject: Uuid) -> Result<Vec<MyPurpose>, ConsentError> {
    let latest = latest_by_purpose(connection, subject).await?;
    let mut mine = Vec::new();
    for purpose in purposes::list(connection).await? {
        if purpose.status != PurposeStatus::Active {
            continue;
        }
        let versions = purposes::versions(connection, &purpose.id).await?;
        let record = latest.get(&purpose.id);
        let consent = ConsentState::derive(&purpose, &versions, record);
        let definition = purpose.definition;
        mine.push(MyPurpose {
            id: purpose.id.to_string(),
            version: purpose.version,
            title: definition.title,
            notice: definition.notice,
            legal_basis: definition.legal_basis,
            legal_basis_code: purpose.legal_basis_code,
            choice: purpose.choice,
            categories: definition.categories,
            fields: definition.fields,
            retention: definition.retention,
            recipients: definition.recipients,
            human_review_required: definition.human_review_required,
            state: consent,
            permits: consent.permits(),
            chosen_at: record.map(|record| record.recorded_at),
        });
    }
    Ok(mine)
}

/// Where `subject` stands with `purpose`, read fresh from the ledger.
pub async fn status(
    connection: &mut AnyConnection,
    subject: Uuid,
    id: &PurposeId,
) -> Result<ConsentStatus, ConsentError> {
    let (purpose, versions) = purpose_and_versions(connection, id).await?;
    let record = latest(connection, subject, id).await?;
    let state = ConsentState::derive(&purpose, &versions, record.as_ref());
    Ok(ConsentStatus { purpose: purpose.id, version: purpose.version, state, permits: state.permits(), record })
}

/// Records a choice for `subject` if the purpose's legal basis and the current state
/// allow it, with its audit event, in the caller's transaction.
pub async fn choose(
    connection: &mut AnyConnection,
    subject: Uuid,
    id: &PurposeId,
    choosing: Choosing,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<ConsentStatus, ConsentError> {
    let (purpose, versions) = purpose_and_versions(connection, id).await?;
    let previous = latest(connection, subject, id).await?;
    let state = ConsentState::derive(&purpose, &versions, previous.as_ref());
    check_choice(&purpose, state, choosing.event).map_err(ConsentError::NotAllowed)?;
    let notice_version = choosing.notice_version.unwrap_or(purpose.version);
    if !(1..=purpose.version).contains(&notice_version) {
        return Err(ConsentError::Invalid(vec![crate::problem::FieldError::new(
            "notice_version",
            format!("must name a version of the purpose's notice, 1 to {}", purpose.version),
        )]));
    }
    let new = store::NewRecord {
        subject,
        purpose: purpose.id.clone(),
        purpose_version: purpose.version,
        legal_basis: purpose.definition.legal_basis,
        event: choosing.event,
        notice_version,
        language: choosing.language,
        method: choosing.method,
        relation: choosing.relation,
        recorded_at: Timestamp::now(),
    };
    let stored = record(connection, new, actor, reasons).await?;
    let state = ConsentState::derive(&purpose, &versions, Some(&stored));
    Ok(ConsentStatus {
        purpose: purpose.id,
        version: purpose.version,
        state,
        permits: state.permits(),
        record: Some(stored),
    })
}
