//! The field catalogue: every field Consentry can store, with its data category.
//!
//! Purposes name catalogue fields; ingest keeps only catalogued fields some purpose needs.
//! The built-in fields cover xAPI statements and the SIS and survey columns Consentry
//! imports; an institution adds its own in configuration (`[[catalogue.fields]]`).

mod routes;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use routes::router;

use crate::records::Category;

/// Where a field comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    /// A path in an xAPI statement.
    Xapi,
    /// A column of the student information system's export (OneRoster).
    Sis,
    /// A questionnaire answer.
    Survey,
}

/// One storable field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// e.g. `result.score.scaled`, `grade.value`, `survey.answer`.
    pub name: String,
    pub category: Category,
    pub source: FieldSource,
    pub description: String,
}

const BUILT_IN: &[(&str, Category, FieldSource, &str)] = &[
    ("actor", Category::Identity, FieldSource::Xapi, "Who did it (mapped to the subject; never passed on)"),
    ("verb.id", Category::Activity, FieldSource::Xapi, "What was done, as an IRI (launched, completed, answered, …)"),
    ("object.id", Category::Activity, FieldSource::Xapi, "The activity acted on, as an IRI"),
    (
        "object.definition.type",
        Category::Activity,
        FieldSource::Xapi,
        "The kind of activity (lesson, assessment, question)",
    ),
    ("result.score.scaled", Category::Assessment, FieldSource::Xapi, "Score between -1 and 1"),
    ("result.success", Category::Assessment, FieldSource::Xapi, "Whether the attempt succeeded"),
    ("result.completion", Category::Activity, FieldSource::Xapi, "Whether the activity was completed"),
    ("result.duration", Category::Activity, FieldSource::Xapi, "Time spent (ISO 8601 duration)"),
    (
        "context.registration",
        Category::Activity,
        FieldSource::Xapi,
        "The attempt or enrolment the statement belongs to",
    ),
    (
        "context.contextActivities.parent",
        Category::Activity,
        FieldSource::Xapi,
        "The course or module containing the activity",
    ),
    (
        "context.contextActivities.grouping",
        Category::Activity,
        FieldSource::Xapi,
        "Broader context, e.g. the programme",
    ),
    ("context.contextActivities.category", Category::Activity, FieldSource::Xapi, "Profile or category tags"),
    ("timestamp", Category::Activity, FieldSource::Xapi, "When it happened"),
    ("student.number", Category::Identity, FieldSource::Sis, "Student number (mapped to the subject; never passed on)"),
    ("student.name", Category::Identity, FieldSource::Sis, "Full name"),
    ("student.email", Category::Identity, FieldSource::Sis, "E-mail address"),
    ("student.date_of_birth", Category::Identity, FieldSource::Sis, "Date of birth (age checks for guardians)"),
    ("student.ethnicity", Category::Special, FieldSource::Sis, "Ethnic origin (GDPR Art. 9)"),
    (
        "student.health_condition",
        Category::Special,
        FieldSource::Sis,
        "Health condition or disability support (GDPR Art. 9)",
    ),
    ("enrolment.course", Category::Enrolment, FieldSource::Sis, "The course enrolled in"),
    ("enrolment.status", Category::Enrolment, FieldSource::Sis, "Active, completed, withdrawn"),
    ("enrolment.begin_date", Category::Enrolment, FieldSource::Sis, "Start of the enrolment"),
    ("grade.course", Category::Assessment, FieldSource::Sis, "The course graded"),
    ("grade.item", Category::Assessment, FieldSource::Sis, "What was graded (final, resit, assignment)"),
    ("grade.value", Category::Assessment, FieldSource::Sis, "The grade"),
    (
        "survey.item",
        Category::Wellbeing,
        FieldSource::Survey,
        "The questionnaire item (motivation, belonging, stress, …)",
    ),
    ("survey.answer", Category::Wellbeing, FieldSource::Survey, "The answer on the item's scale"),
];

/// The fields of this installation: built-in plus configured.
#[derive(Debug, Clone)]
pub struct Catalogue {
    fields: BTreeMap<String, Field>,
}

#[derive(Debug, thiserror::Error)]
#[error("key `catalogue.fields`: `{0}` is already a field of the catalogue")]
pub struct DuplicateField(pub String);

impl Catalogue {
    /// The built-in fields and `extra` from configuration; an extra field may not redefine
    /// a built-in one.
    pub fn new(extra: &[Field]) -> Result<Self, DuplicateField> {
        let mut fields: BTreeMap<String, Field> = BUILT_IN
            .iter()
            .map(|&(name, category, source, description)| {
                (
                    name.to_owned(),
                    Field { name: name.to_owned(), category, source, description: description.to_owned() },
                )
            })
            .collect();
        for field in extra {
            if fields.insert(field.name.clone(), field.clone()).is_some() {
                return Err(DuplicateField(field.name.clone()));
            }
        }
        Ok(Self { fields })
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.get(name)
    }

    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_fields_cover_xapi_sis_and_surveys() {
        let catalogue = Catalogue::new(&[]).unwrap();
        assert_eq!(catalogue.get("result.score.scaled").unwrap().category, Category::Assessment);
        assert_eq!(catalogue.get("survey.answer").unwrap().category, Category::Wellbeing);
        assert_eq!(catalogue.get("student.ethnicity").unwrap().category, Category::Special);
        assert!(catalogue.get("result.extensions.mood").is_none());
    }

    #[test]
    fn configuration_adds_fields_but_cannot_redefine_one() {
        let extra = Field {
            name: "result.extensions.mood".to_owned(),
            category: Category::Wellbeing,
            source: FieldSource::Xapi,
            description: "Self-reported mood".to_owned(),
        };
        let catalogue = Catalogue::new(std::slice::from_ref(&extra)).unwrap();
        assert_eq!(catalogue.get("result.extensions.mood"), Some(&extra));
        let clash = Field { name: "verb.id".to_owned(), ..extra };
        assert!(Catalogue::new(&[clash]).is_err());
    }
}
