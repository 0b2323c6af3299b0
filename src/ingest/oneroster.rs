//! `consentry import oneroster DIR`: enrolments and grades from a OneRoster 1.1 CSV bulk
//! export, all or nothing, idempotent, errors by file and line.
//!
//! Read: `users.csv` (students), `courses.csv`, `classes.csv`, `enrollments.csv`,
//! `lineItems.csv`, `results.csv`. Records take ids derived from OneRoster's `sourcedId`s,
//! so importing the same export again changes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use uuid::Uuid;

use super::IngestError;
use super::store::Needed;
use crate::audit::{self, Actor, Event};
use crate::config::IngestMode;
use crate::db::Db;
use crate::directory::{self, IdentifierScheme, NewCourse, NewSubject};
use crate::records::{Category, NewRecord, RecordKind};
use crate::timestamp::Timestamp;

/// Namespace of the ids derived from OneRoster `sourcedId`s (UUIDv5).
const ONEROSTER_NAMESPACE: Uuid = Uuid::from_u128(0x0e57_3a0b_91c4_4d6e_8f21_7a5b_c3d9_e012);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    sourced_id: String,
    role: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    email: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Course {
    sourced_id: String,
    title: String,
    #[serde(default)]
    course_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Class {
    sourced_id: String,
    course_sourced_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Enrollment {
    sourced_id: String,
    #[serde(default)]
    status: String,
    class_sourced_id: String,
    user_sourced_id: String,
    role: String,
    #[serde(default)]
    begin_date: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineItem {
    sourced_id: String,
    title: String,
    class_sourced_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultRow {
    sourced_id: String,
    line_item_sourced_id: String,
    student_sourced_id: String,
    score: f64,
    #[serde(default)]
    score_date: String,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OneRosterReport {
    pub students: usize,
    pub courses: usize,
    pub enrolments: usize,
    pub grades: usize,
    pub already_stored: usize,
    /// Records no purpose reads, not stored.
    pub dropped: usize,
}

/// Reads `file` from `dir` (absent files are empty), each row or the problem at its line.
fn rows<T: DeserializeOwned>(dir: &Path, file: &str, problems: &mut Vec<String>) -> Vec<(usize, T)> {
    let path = dir.join(file);
    if !path.exists() {
        return Vec::new();
    }
    let reader = match csv::Reader::from_path(&path) {
        Ok(reader) => reader,
        Err(error) => {
            problems.push(format!("{file}: {error}"));
            return Vec::new();
        }
    };
    reader
        .into_deserialize::<T>()
        .enumerate()
        .filter_map(|(index, row)| match row {
            Ok(row) => Some((index + 2, row)),
            Err(error) => {
                problems.push(format!("{file} line {}: {error}", index + 2));
                None
            }
        })
        .collect()
}

fn date(text: &str) -> Option<Timestamp> {
    if text.is_empty() {
        return None;
    }
    Timestamp::parse(text).or_else(|_| Timestamp::parse(&format!("{text}T00:00:00Z"))).ok()
}

fn derived(sourced_id: &str, kind: &str) -> Uuid {
    Uuid::new_v5(&ONEROSTER_NAMESPACE, format!("{kind}:{sourced_id}").as_bytes())
}

pub async fn import_oneroster(db: &Db, source: &str, dir: &Path) -> Result<OneRosterReport, IngestError> {
    let mut problems = Vec::new();
    let progress = super::import::spinner("reading the OneRoster export");
    let users: Vec<(usize, User)> = rows(dir, "users.csv", &mut problems);
    let courses: Vec<(usize, Course)> = rows(dir, "courses.csv", &mut problems);
    let classes: Vec<(usize, Class)> = rows(dir, "classes.csv", &mut problems);
    let enrollments: Vec<(usize, Enrollment)> = rows(dir, "enrollments.csv", &mut problems);
    let line_items: Vec<(usize, LineItem)> = rows(dir, "lineItems.csv", &mut problems);
    let results: Vec<(usize, ResultRow)> = rows(dir, "results.csv", &mut problems);
    progress.inc(
        (users.len() + courses.len() + classes.len() + enrollments.len() + line_items.len() + results.len()) as u64,
    );
    if !dir.join("users.csv").exists() {
        problems.push("users.csv: missing from the export".to_owned());
    }

    let mut tx = db.begin().await?;
    let source = super::sources::find(&mut tx, source).await?;
    if !source.kinds.iter().any(|kind| kind == "enrolment" || kind == "grade") {
        return Err(IngestError::KindNotAllowed("enrolments and grades".to_owned()));
    }
    let needed = Needed::load(&mut tx, IngestMode::Minimise).await?;
    let mut report = OneRosterReport::default();

    let mut students: BTreeMap<String, Uuid> = BTreeMap::new();
    let mut new_subjects = Vec::new();
    for (line, user) in users.iter().filter(|(_, user)| user.role == "student") {
        if user.identifier.is_empty() {
            problems.push(format!("users.csv line {line}: a student needs an identifier (the student number)"));
            continue;
        }
        let subject =
            match directory::subject_by_identifier(&mut tx, IdentifierScheme::StudentNumber, &user.identifier).await? {
                Some(subject) => subject,
                None => {
                    let subject = NewSubject {
                        id: derived(&user.sourced_id, "user"),
                        display_name: format!("{} {}", user.given_name, user.family_name).trim().to_owned(),
                        email: (!user.email.is_empty()).then(|| user.email.clone()),
                        date_of_birth: None,
                        identifiers: vec![(IdentifierScheme::StudentNumber, user.identifier.clone())],
                    };
                    let id = subject.id;
                    new_subjects.push(subject);
                    id
                }
            };
        students.insert(user.sourced_id.clone(), subject);
    }
    let mut course_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut new_courses = Vec::new();
    for (_, course) in &courses {
        let iri = format!("urn:oneroster:course:{}", course.sourced_id);
        let code = if course.course_code.is_empty() { course.sourced_id.clone() } else { course.course_code.clone() };
        let existing: Option<String> = sqlx::query_scalar("SELECT id FROM courses WHERE id = $1 OR activity_iri = $2")
            .bind(code.clone())
            .bind(iri.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_none() {
            new_courses.push(NewCourse {
                id: code.clone(),
                title: course.title.clone(),
                activity_iri: iri,
                teachers: Vec::new(),
            });
        }
        course_ids.insert(course.sourced_id.clone(), existing.unwrap_or(code));
    }
    let mut class_courses: BTreeMap<String, String> = BTreeMap::new();
    for (line, class) in &classes {
        match course_ids.get(&class.course_sourced_id) {
            Some(course) => {
                class_courses.insert(class.sourced_id.clone(), course.clone());
            }
            None => problems.push(format!(
                "classes.csv line {line}: courseSourcedId `{}` is not in courses.csv",
                class.course_sourced_id
            )),
        }
    }
    let mut records_to_store = Vec::new();
    for (line, enrollment) in enrollments.iter().filter(|(_, enrollment)| enrollment.role == "student") {
        let (Some(subject), Some(course)) =
            (students.get(&enrollment.user_sourced_id), class_courses.get(&enrollment.class_sourced_id))
        else {
            problems.push(format!(
                "enrollments.csv line {line}: unknown student `{}` or class `{}`",
                enrollment.user_sourced_id, enrollment.class_sourced_id
            ));
            continue;
        };
        let begins = match (enrollment.begin_date.is_empty(), date(&enrollment.begin_date)) {
            (true, _) => Timestamp::now(),
            (false, Some(at)) => at,
            (false, None) => {
                problems
                    .push(format!("enrollments.csv line {line}: beginDate `{}` is not a date", enrollment.begin_date));
                continue;
            }
        };
        let mut record = NewRecord::new(
            derived(&enrollment.sourced_id, "enrollment"),
            *subject,
            source.id.as_str(),
            RecordKind::Enrolment,
            Category::Enrolment,
            begins,
        );
        record.course_id = Some(course.clone());
        record.value_text =
            Some(if enrollment.status.is_empty() { "active".to_owned() } else { enrollment.status.clone() });
        report.enrolments += 1;
        if needed.keeps("enrolment.course") || needed.keeps("enrolment.status") {
            records_to_store.push(record);
        } else {
            report.dropped += 1;
        }
    }
    let items: BTreeMap<&str, &LineItem> =
        line_items.iter().map(|(_, item)| (item.sourced_id.as_str(), item)).collect();
    for (line, result) in &results {
        let Some(subject) = students.get(&result.student_sourced_id) else {
            problems.push(format!(
                "results.csv line {line}: studentSourcedId `{}` is not a student in users.csv",
                result.student_sourced_id
            ));
            continue;
        };
        let Some(item) = items.get(result.line_item_sourced_id.as_str()) else {
            problems.push(format!(
                "results.csv line {line}: lineItemSourcedId `{}` is not in lineItems.csv",
                result.line_item_sourced_id
            ));
            continue;
        };
        let Some(course) = class_courses.get(&item.class_sourced_id) else {
            problems.push(format!(
                "results.csv line {line}: the line item's class `{}` is not in classes.csv",
                item.class_sourced_id
            ));
            continue;
        };
        let Some(at) = (if result.score_date.is_empty() { Some(Timestamp::now()) } else { date(&result.score_date) })
        else {
            problems.push(format!("results.csv line {line}: scoreDate `{}` is not a date", result.score_date));
            continue;
        };
        let mut record = NewRecord::new(
            derived(&result.sourced_id, "result"),
            *subject,
            source.id.as_str(),
            RecordKind::Grade,
            Category::Assessment,
            at,
        );
        record.course_id = Some(course.clone());
        record.item = Some(item.title.clone());
        record.value_number = Some(result.score);
        report.grades += 1;
        if needed.keeps("grade.value") {
            records_to_store.push(record);
        } else {
            report.dropped += 1;
        }
    }
    progress.finish_and_clear();
    if !problems.is_empty() {
        return Err(IngestError::Lines(problems));
    }
    report.students = new_subjects.len();
    report.courses = new_courses.len();
    directory::insert_subjects(&mut tx, &new_subjects).await?;
    directory::insert_courses(&mut tx, &new_courses).await?;
    let mut fresh = Vec::new();
    for record in records_to_store {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM records WHERE id = $1")
            .bind(record.id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            report.already_stored += 1;
        } else {
            fresh.push(record);
        }
    }
    super::store::insert(&mut tx, &mut fresh).await?;
    let actor = Actor { id: source.id.clone(), kind: audit::ActorKind::Client, roles: Vec::new() };
    let event = Event::new(actor, "ingest.oneroster", format!("Source::{}", source.id)).details(json!({
        "new_students": report.students,
        "new_courses": report.courses,
        "enrolments": report.enrolments,
        "grades": report.grades,
        "stored": fresh.len(),
        "already_stored": report.already_stored,
        "dropped": report.dropped,
    }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(report)
}
