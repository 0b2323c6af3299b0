//! Stored learning records: one minimised datum about one subject each.
//!
//! Only catalogued fields are kept, as typed columns; what no purpose needs is never
//! written. Ingest is the writer for outside data, the demo institution seeds its own.

mod store;

use uuid::Uuid;

pub use store::{FIRST_REQUESTED_COLUMN, Scan, count, insert};

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
    pub const ALL: [RecordKind; 4] = [Self::Xapi, Self::Enrolment, Self::Grade, Self::Survey];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Xapi => "xapi",
            Self::Enrolment => "enrolment",
            Self::Grade => "grade",
            Self::Survey => "survey",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A typed column of the records table that holds catalogue fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Course,
    Verb,
    ObjectId,
    ObjectType,
    ScoreScaled,
    Success,
    Completion,
    DurationMs,
    Registration,
    Item,
    ValueText,
    ValueNumber,
    /// Catalogued xAPI extensions, a JSON object by field name.
    Extensions,
}

/// How a column's value is read and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Text,
    Number,
    /// SMALLINT 0/1, shown as a boolean.
    Flag,
    /// Milliseconds, shown as an ISO 8601 duration.
    Milliseconds,
    Json,
}

impl Column {
    pub fn sql_name(self) -> &'static str {
        match self {
            Self::Course => "course_id",
            Self::Verb => "verb",
            Self::ObjectId => "object_id",
            Self::ObjectType => "object_type",
            Self::ScoreScaled => "score_scaled",
            Self::Success => "success",
            Self::Completion => "completion",
            Self::DurationMs => "duration_ms",
            Self::Registration => "registration",
            Self::Item => "item",
            Self::ValueText => "value_text",
            Self::ValueNumber => "value_number",
            Self::Extensions => "extensions",
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Self::ScoreScaled | Self::ValueNumber => Shape::Number,
            Self::Success | Self::Completion => Shape::Flag,
            Self::DurationMs => Shape::Milliseconds,
            Self::Extensions => Shape::Json,
            _ => Shape::Text,
        }
    }
}

/// Where each built-in catalogue field is stored, by record kind. Fields configured as
/// xAPI extensions live in [`Column::Extensions`].
pub const FIELD_COLUMNS: &[(&str, RecordKind, Column)] = &[
    ("verb.id", RecordKind::Xapi, Column::Verb),
    ("object.id", RecordKind::Xapi, Column::ObjectId),
    ("object.definition.type", RecordKind::Xapi, Column::ObjectType),
    ("result.score.scaled", RecordKind::Xapi, Column::ScoreScaled),
    ("result.success", RecordKind::Xapi, Column::Success),
    ("result.completion", RecordKind::Xapi, Column::Completion),
    ("result.duration", RecordKind::Xapi, Column::DurationMs),
    ("context.registration", RecordKind::Xapi, Column::Registration),
    ("context.contextActivities.parent", RecordKind::Xapi, Column::Course),
    ("enrolment.course", RecordKind::Enrolment, Column::Course),
    ("enrolment.status", RecordKind::Enrolment, Column::ValueText),
    ("grade.course", RecordKind::Grade, Column::Course),
    ("grade.item", RecordKind::Grade, Column::Item),
    ("grade.value", RecordKind::Grade, Column::ValueNumber),
    ("survey.item", RecordKind::Survey, Column::Item),
    ("survey.answer", RecordKind::Survey, Column::ValueNumber),
];

/// Whether a catalogue field is an xAPI extension (kept in [`Column::Extensions`]).
pub fn is_extension(field: &str) -> bool {
    ["result.extensions.", "context.extensions.", "object.definition.extensions."]
        .iter()
        .any(|prefix| field.starts_with(prefix))
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
    pub const ALL: [Category; 6] =
        [Self::Identity, Self::Enrolment, Self::Activity, Self::Assessment, Self::Wellbeing, Self::Special];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|category| category.as_str() == text)
    }

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
    /// Catalogued xAPI extensions some purpose reads, as a JSON object by field name.
    pub extensions: Option<String>,
    /// When retention ends ([`crate::retention::stamp`] sets it before storing).
    pub expires_at: Option<Timestamp>,
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
            extensions: None,
            expires_at: None,
        }
    }
}
