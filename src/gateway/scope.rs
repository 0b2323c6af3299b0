//! What one read may see, fixed when it starts: the purpose at its current version, the
//! subjects the ledger permits, the retention window per category, and the projection of
//! the purpose's fields onto stored columns.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::consent::SubjectFilter;
use crate::purposes::Purpose;
use crate::records::{Category, Column, FIELD_COLUMNS, FIRST_REQUESTED_COLUMN, RecordKind, Shape, is_extension};
use crate::timestamp::{Direction, Timestamp, parse_duration};

/// The catalogue fields a filter or group-by dimension needs the purpose to read.
pub const COURSE_FIELDS: [&str; 3] = ["context.contextActivities.parent", "enrolment.course", "grade.course"];

/// The purpose's fields mapped onto the columns a scan selects.
#[derive(Debug, Clone)]
pub struct Projection {
    /// The allowed fields, in the purpose's order: what the disclosure log names.
    pub fields: Vec<String>,
    /// Columns to select, after the five every scan has.
    pub columns: Vec<Column>,
    /// Per record kind: (field, row index, shape) of each field that kind carries.
    by_kind: HashMap<&'static str, Vec<(String, usize, Shape)>>,
    /// Row index of the extensions column and the extension fields allowed.
    extensions: Option<(usize, HashSet<String>)>,
}

impl Projection {
    pub fn new(fields: &[String]) -> Self {
        let mut columns: Vec<Column> = Vec::new();
        let index_of = |column: Column, columns: &mut Vec<Column>| {
            let position = columns.iter().position(|known| *known == column).unwrap_or_else(|| {
                columns.push(column);
                columns.len() - 1
            });
            FIRST_REQUESTED_COLUMN + position
        };
        let mut by_kind: HashMap<&'static str, Vec<(String, usize, Shape)>> = HashMap::new();
        let mut extension_fields = HashSet::new();
        for field in fields {
            if is_extension(field) {
                extension_fields.insert(field.clone());
                continue;
            }
            for (name, kind, column) in FIELD_COLUMNS {
                if name == field {
                    let index = index_of(*column, &mut columns);
                    by_kind.entry(kind.as_str()).or_default().push((field.clone(), index, column.shape()));
                }
            }
        }
        let extensions =
            (!extension_fields.is_empty()).then(|| (index_of(Column::Extensions, &mut columns), extension_fields));
        Self { fields: fields.to_vec(), columns, by_kind, extensions }
    }

    /// The record kinds for which the purpose reads one of `fields`.
    pub fn kinds_with_any(&self, fields: &[&str]) -> Vec<RecordKind> {
        RecordKind::ALL
            .into_iter()
            .filter(|kind| {
                FIELD_COLUMNS
                    .iter()
                    .any(|(name, field_kind, _)| field_kind == kind && fields.contains(name) && self.allows(name))
            })
            .collect()
    }

    /// Row index of the column holding the first of `fields` that the purpose reads for
    /// records of `kind`.
    pub fn index_for(&self, kind: RecordKind, fields: &[&str]) -> Option<usize> {
        FIELD_COLUMNS
            .iter()
            .find(|(name, field_kind, _)| *field_kind == kind && fields.contains(name) && self.allows(name))
            .and_then(|(_, _, column)| self.index_of(*column))
    }

    pub fn allows(&self, field: &str) -> bool {
        self.fields.iter().any(|allowed| allowed == field)
    }

    /// Row index of a column, when the projection selects it.
    pub fn index_of(&self, column: Column) -> Option<usize> {
        self.columns.iter().position(|known| *known == column).map(|position| FIRST_REQUESTED_COLUMN + position)
    }

    /// Writes the allowed fields of one row as a JSON object.
    pub fn write_fields(&self, out: &mut Vec<u8>, row: &AnyRow, kind: &str) -> Result<(), sqlx::Error> {
        out.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, name);
            out.push(b':');
        };
        for (field, index, shape) in self.by_kind.get(kind).map(Vec::as_slice).unwrap_or_default() {
            match shape {
                Shape::Text | Shape::Json => {
                    if let Some(text) = row.try_get::<Option<&str>, _>(*index)? {
                        key(out, field);
                        write_str(out, text);
                    }
                }
                Shape::Number => {
                    if let Some(number) = row.try_get::<Option<f64>, _>(*index)? {
                        key(out, field);
                        write_number(out, number);
                    }
                }
                Shape::Flag => {
                    if let Some(flag) = row.try_get::<Option<i64>, _>(*index)? {
                        key(out, field);
                        out.extend_from_slice(if flag != 0 { b"true" } else { b"false" });
                    }
                }
                Shape::Milliseconds => {
                    if let Some(ms) = row.try_get::<Option<i64>, _>(*index)? {
                        key(out, field);
                        write_str(out, &crate::timestamp::duration_from_millis(ms));
                    }
                }
            }
        }
        if let Some((index, allowed)) = &self.extensions
            && let Some(text) = row.try_get::<Option<&str>, _>(*index)?
        {
            // Stored extensions are already minimised to catalogued fields some purpose
            // reads; this purpose gets only its own.
            let stored: HashMap<&str, &serde_json::value::RawValue> = serde_json::from_str(text).unwrap_or_default();
            let mut names: Vec<&&str> = stored.keys().filter(|name| allowed.contains(**name)).collect();
            names.sort();
            for name in names {
                key(out, name);
                out.extend_from_slice(stored[*name].get().as_bytes());
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// A JSON string, escaped.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    // Writing into a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn write_number(out: &mut Vec<u8>, number: f64) {
    let _ = serde_json::to_writer(&mut *out, &number);
}

/// Everything one read may see.
#[derive(Debug)]
pub struct Scope {
    pub purpose: Purpose,
    /// Who the pseudonyms are made for: the client's registry id, or the user.
    pub reader: String,
    pub subjects: SubjectFilter,
    /// Students whose processing is restricted (GDPR Art. 18): left out of every read.
    pub restricted: HashSet<String>,
    /// Per category the purpose reads, the oldest `occurred_at` (storage text) it may see.
    windows: Vec<(Category, String)>,
    pub projection: Projection,
}

/// The retention window a purpose gives each category it reads, as seen at `now`.
fn windows(purpose: &Purpose, now: Timestamp) -> Vec<(Category, String)> {
    purpose
        .definition
        .categories
        .iter()
        .filter(|category| **category != Category::Identity)
        .filter_map(|category| {
            let period = parse_duration(purpose.definition.retention.get(category)?)?;
            Some((*category, now.shifted(&period, Direction::Back).to_storage()))
        })
        .collect()
}

impl Scope {
    pub fn new(
        purpose: Purpose,
        reader: String,
        subjects: SubjectFilter,
        restricted: HashSet<String>,
        now: Timestamp,
    ) -> Self {
        let projection = Projection::new(&purpose.definition.fields);
        Self { windows: windows(&purpose, now), purpose, reader, subjects, restricted, projection }
    }

    /// The categories the scan may select (those with a retention window).
    pub fn categories(&self) -> Vec<Category> {
        self.windows.iter().map(|(category, _)| *category).collect()
    }

    /// The oldest `occurred_at` any category may show, to narrow the scan.
    pub fn oldest_visible(&self) -> Option<&str> {
        self.windows.iter().map(|(_, cutoff)| cutoff.as_str()).min()
    }

    /// Whether a record of `category` that occurred at `occurred_at` is inside this
    /// purpose's retention window.
    pub fn in_window(&self, category: &str, occurred_at: &str) -> bool {
        self.windows.iter().any(|(known, cutoff)| known.as_str() == category && occurred_at >= cutoff.as_str())
    }
}

/// The subjects a read met, each with its pseudonym and how many of their records left.
#[derive(Debug, Default)]
pub struct Subjects {
    index: HashMap<String, u32>,
    entries: Vec<SubjectEntry>,
}

#[derive(Debug)]
struct SubjectEntry {
    id: String,
    /// `None` when the ledger does not permit the purpose to use this subject's data.
    pseudonym: Option<String>,
    disclosed: u64,
}

/// One subject's share of a read, for the disclosure log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disclosed {
    pub subject: String,
    pub records: u64,
}

impl Subjects {
    /// The index of a permitted subject, computing their pseudonym once per read; `None`
    /// for a subject the ledger excludes.
    pub fn admit(&mut self, subject: &str, scope: &Scope, keys: &super::Keys) -> Option<u32> {
        if let Some(&index) = self.index.get(subject) {
            return self.entries[index as usize].pseudonym.is_some().then_some(index);
        }
        let pseudonym = (scope.subjects.permits(subject) && !scope.restricted.contains(subject))
            .then(|| keys.pseudonym(scope.purpose.id.as_str(), &scope.reader, subject));
        let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let admitted = pseudonym.is_some();
        self.entries.push(SubjectEntry { id: subject.to_owned(), pseudonym, disclosed: 0 });
        self.index.insert(subject.to_owned(), index);
        admitted.then_some(index)
    }

    pub fn pseudonym(&self, index: u32) -> &str {
        self.entries[index as usize].pseudonym.as_deref().unwrap_or_default()
    }

    /// Counts records of these subjects as disclosed.
    pub fn disclose(&mut self, indices: &[u32]) {
        for index in indices {
            self.entries[*index as usize].disclosed += 1;
        }
    }

    /// The subject whose pseudonym this is, among those met.
    pub fn by_pseudonym(&self, pseudonym: &str) -> Option<&str> {
        self.entries.iter().find(|entry| entry.pseudonym.as_deref() == Some(pseudonym)).map(|entry| entry.id.as_str())
    }

    /// Subjects with at least one disclosed record.
    pub fn disclosed(&self) -> Vec<Disclosed> {
        self.entries
            .iter()
            .filter(|entry| entry.disclosed > 0)
            .map(|entry| Disclosed { subject: entry.id.clone(), records: entry.disclosed })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_selects_each_column_once_and_maps_fields_per_kind() {
        let fields: Vec<String> =
            ["verb.id", "grade.course", "context.contextActivities.parent", "result.extensions.https://x/mood"]
                .iter()
                .map(|field| (*field).to_owned())
                .collect();
        let projection = Projection::new(&fields);
        assert_eq!(projection.columns, vec![Column::Verb, Column::Course, Column::Extensions]);
        assert_eq!(projection.index_of(Column::Course), Some(FIRST_REQUESTED_COLUMN + 1));
        assert_eq!(projection.by_kind["xapi"].len(), 2);
        assert_eq!(projection.by_kind["grade"].len(), 1);
        assert!(!projection.by_kind.contains_key("survey"));
        assert!(projection.allows("verb.id") && !projection.allows("object.id"));
    }
}
