//! Stored learning records: one minimised datum about one subject each.
//!
//! Only catalogued fields are kept, as typed columns; what no purpose needs is never
//! written. Ingest is the writer for outside data, the demo institution seeds its own.

mod store;

use uuid::Uuid;

pub use store::{count, insert};

use crate::timestamp::Timestamp;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Xapi,
    Enrolment,
    Grade,
    Survey,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Xapi => "xapi",
            Self::Enrolment => "enrolment",
            Self::Grade => "grade",
            Self::Survey => "survey",
        }
    }
}

/// The data category a record belongs to; purposes are granted categories.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Identity,
    Enrolment,
    Activity,
    Assessment,
    Wellbeing,
    /// GDPR Art. 9 data, refused at ingest unless a purpose carries an exception.
    Special,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Enrolment => "enrolment",
            Self::Activity => "activity",
            Self::Assessment => "assessment",
            Self::Wellbeing => "wellbeing",
            Self::Special => "special",
        }
    }
}

/// A record to store. Fields a kind does not use stay `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub id: Uuid,
    pub subject_id: Uuid,
    /// The registered source it came from (`demo-lms`, …).
    pub source: String,
    pub kind: RecordKind,
    pub category: Category,
    pub occurred_at: Timestamp,
    pub course_id: Option<String>,
    pub statement_id: Option<Uuid>,
    /// SHA-256 of the statement as received, to tell a re-sent statement from a conflict.
    pub content_sha256: Option<String>,
    pub verb: Option<String>,
    pub object_id: Option<String>,
    pub object_type: Option<String>,
    pub score_scaled: Option<f64>,
    pub success: Option<bool>,
    pub completion: Option<bool>,
    pub duration_ms: Option<i64>,
    pub item: Option<String>,
    /// The datum as received, kept only when the institution chose conformant ingest.
    pub payload: Option<String>,
    /// xAPI `context.registration`.
    pub registration: Option<Uuid>,
    pub value_text: Option<String>,
    pub value_number: Option<f64>,
}

impl NewRecord {
    /// A record with only the fields every kind has.
    pub fn new(
        id: Uuid,
        subject_id: Uuid,
        source: impl Into<String>,
        kind: RecordKind,
        category: Category,
        occurred_at: Timestamp,
    ) -> Self {
        Self {
            id,
            subject_id,
            source: source.into(),
            kind,
            category,
            occurred_at,
            course_id: None,
            statement_id: None,
            content_sha256: None,
            verb: None,
            object_id: None,
            object_type: None,
            score_scaled: None,
            success: None,
            completion: None,
            duration_ms: None,
            item: None,
            payload: None,
            registration: None,
            value_text: None,
            value_number: None,
        }
    }
}
