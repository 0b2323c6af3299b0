//! Study-progress indicators after the Noorderpoort "normal path": per student and course,
//! regularity, resources visited, assignments completed, completed on level, and the
//! knowledge-test score, each beside the group mean and a norm; and the transparent risk
//! model that counts how far a student is below the norms.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gateway::GovernedRecord;

/// The model's name and version, carried by every score and proposal.
pub const MODEL_VERSION: &str = "norm-deviation-v1";

const LESSON: &str = "http://adlnet.gov/expapi/activities/lesson";
const ASSESSMENT: &str = "http://adlnet.gov/expapi/activities/assessment";

/// The indicators, in the order they are shown.
pub const INDICATORS: [&str; 5] =
    ["regularity", "resources_visited", "assignments_completed", "completed_on_level", "test_score"];

/// The norm per indicator (defaults from the seeds: 80 %, and 3 of 4 on tests).
pub fn default_norms() -> BTreeMap<String, f64> {
    [
        ("regularity", 0.8),
        ("resources_visited", 0.8),
        ("assignments_completed", 0.8),
        ("completed_on_level", 0.8),
        ("test_score", 0.75),
    ]
    .into_iter()
    .map(|(name, norm)| (name.to_owned(), norm))
    .collect()
}

/// One indicator of one student in one course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Indicator {
    pub name: String,
    pub value: f64,
    pub group_mean: f64,
    pub norm: f64,
    pub below_norm: bool,
}

/// A student's indicators in one course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CourseIndicators {
    pub course: String,
    pub indicators: Vec<Indicator>,
}

/// What one student did in one course during the window.
#[derive(Debug, Default)]
struct Tally {
    weeks: BTreeSet<i64>,
    lessons: BTreeSet<String>,
    completed: BTreeSet<String>,
    passed: BTreeSet<String>,
    score_sum: f64,
    scores: usize,
}

/// What the students did in the window `[start, end)` (Unix seconds), taken in record by
/// record: a run holds one tally per student and course, never the records themselves.
#[derive(Debug)]
pub struct Tallies {
    start: i64,
    end: i64,
    tallies: HashMap<(String, String), Tally>,
    lessons_of: HashMap<String, BTreeSet<String>>,
    assignments_of: HashMap<String, BTreeSet<String>>,
}

impl Tallies {
    pub fn new(start: i64, end: i64) -> Self {
        Self { start, end, tallies: HashMap::new(), lessons_of: HashMap::new(), assignments_of: HashMap::new() }
    }

    pub fn add(&mut self, record: &GovernedRecord) {
        let field = |name: &str| record.fields.get(name);
        let (Some(course), Some(object)) = (
            field("context.contextActivities.parent").and_then(|value| value.as_str()),
            field("object.id").and_then(|value| value.as_str()),
        ) else {
            return;
        };
        let Ok(at) = crate::timestamp::Timestamp::parse(&record.occurred_at) else { return };
        let seconds = at.unix_seconds();
        if seconds < self.start || seconds >= self.end {
            return;
        }
        let tally = self.tallies.entry((record.subject.clone(), course.to_owned())).or_default();
        tally.weeks.insert((seconds - self.start) / (7 * 86_400));
        match field("object.definition.type").and_then(|value| value.as_str()) {
            Some(LESSON) => {
                tally.lessons.insert(object.to_owned());
                self.lessons_of.entry(course.to_owned()).or_default().insert(object.to_owned());
            }
            Some(ASSESSMENT) => {
                self.assignments_of.entry(course.to_owned()).or_default().insert(object.to_owned());
                if field("result.completion").and_then(|value| value.as_bool()) == Some(true) {
                    tally.completed.insert(object.to_owned());
                }
                if field("result.success").and_then(|value| value.as_bool()) == Some(true) {
                    tally.passed.insert(object.to_owned());
                }
            }
            _ => {}
        }
        if let Some(score) = field("result.score.scaled").and_then(|value| value.as_f64()) {
            tally.score_sum += score;
            tally.scores += 1;
        }
    }

    /// Each student's indicators per course, next to the group's mean and the norm.
    pub fn indicators(self, norms: &BTreeMap<String, f64>) -> BTreeMap<String, Vec<CourseIndicators>> {
        let Self { start, end, tallies, lessons_of, assignments_of } = self;
        let weeks = ((end - start) as f64 / (7.0 * 86_400.0)).ceil().max(1.0);
        let share = |part: usize, whole: usize| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
        let mut values: HashMap<(String, String), [f64; 5]> = HashMap::new();
        for ((subject, course), tally) in &tallies {
            let lessons = lessons_of.get(course).map_or(0, BTreeSet::len);
            let assignments = assignments_of.get(course).map_or(0, BTreeSet::len);
            let test_score = if tally.scores == 0 { 0.0 } else { tally.score_sum / tally.scores as f64 };
            values.insert(
                (subject.clone(), course.clone()),
                [
                    (tally.weeks.len() as f64 / weeks).min(1.0),
                    share(tally.lessons.len(), lessons),
                    share(tally.completed.len(), assignments),
                    share(tally.passed.len(), tally.completed.len()),
                    test_score,
                ],
            );
        }
        let mut sums: HashMap<String, ([f64; 5], usize)> = HashMap::new();
        for ((_, course), row) in &values {
            let entry = sums.entry(course.clone()).or_insert(([0.0; 5], 0));
            for (sum, value) in entry.0.iter_mut().zip(row) {
                *sum += value;
            }
            entry.1 += 1;
        }
        let mut by_student: BTreeMap<String, Vec<CourseIndicators>> = BTreeMap::new();
        for ((subject, course), row) in values {
            let (sum, count) = &sums[&course];
            let indicators = INDICATORS
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let norm = norms.get(*name).copied().unwrap_or(0.8);
                    Indicator {
                        name: (*name).to_owned(),
                        value: row[index],
                        group_mean: sum[index] / *count as f64,
                        norm,
                        below_norm: row[index] < norm,
                    }
                })
                .collect();
            by_student.entry(subject).or_default().push(CourseIndicators { course, indicators });
        }
        for courses in by_student.values_mut() {
            courses.sort_by(|a, b| a.course.cmp(&b.course));
        }
        by_student
    }
}

/// The risk of one student: the share of indicator checks below norm, weighted by how far
/// below (0 = every indicator on track in every course, 1 = nothing at all).
pub fn risk(courses: &[CourseIndicators]) -> f64 {
    let checks: Vec<f64> = courses
        .iter()
        .flat_map(|course| course.indicators.iter())
        .map(|indicator| {
            if indicator.norm > 0.0 {
                ((indicator.norm - indicator.value) / indicator.norm).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    if checks.is_empty() { 0.0 } else { checks.iter().sum::<f64>() / checks.len() as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subject: &str, at: &str, object: &str, kind: &str, extra: serde_json::Value) -> GovernedRecord {
        let mut fields = serde_json::json!({
            "context.contextActivities.parent": "c01",
            "object.id": object,
            "object.definition.type": kind,
        });
        if let (Some(fields), Some(extra)) = (fields.as_object_mut(), extra.as_object()) {
            fields.extend(extra.clone());
        }
        GovernedRecord {
            record: "r".to_owned(),
            subject: subject.to_owned(),
            kind: "xapi".to_owned(),
            category: "activity".to_owned(),
            occurred_at: at.to_owned(),
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn indicators_compare_a_student_with_the_group_and_the_norm() {
        let start = crate::timestamp::Timestamp::parse("2026-02-02T00:00:00Z").unwrap().unix_seconds();
        let end = start + 2 * 7 * 86_400;
        let records = vec![
            record("keen", "2026-02-03T10:00:00Z", "l1", LESSON, serde_json::json!({})),
            record("keen", "2026-02-10T10:00:00Z", "l2", LESSON, serde_json::json!({})),
            record(
                "keen",
                "2026-02-10T11:00:00Z",
                "a1",
                ASSESSMENT,
                serde_json::json!({ "result.completion": true, "result.success": true, "result.score.scaled": 0.9 }),
            ),
            record("quiet", "2026-02-03T10:00:00Z", "l1", LESSON, serde_json::json!({})),
            record("quiet", "2026-03-30T10:00:00Z", "l2", LESSON, serde_json::json!({})),
        ];
        let mut tallies = Tallies::new(start, end);
        for record in &records {
            tallies.add(record);
        }
        let indicators = tallies.indicators(&default_norms());
        let keen = &indicators["keen"][0].indicators;
        let quiet = &indicators["quiet"][0].indicators;
        assert_eq!(keen[0].value, 1.0, "active both weeks");
        assert_eq!(quiet[0].value, 0.5, "the late record is outside the window");
        assert_eq!(quiet[1].value, 0.5, "one of the two lessons");
        assert_eq!(keen[1].group_mean, 0.75);
        assert!(quiet[2].below_norm && !keen[2].below_norm);
        assert!(risk(&indicators["quiet"]) > risk(&indicators["keen"]));
        assert_eq!(risk(&[]), 0.0);
    }
}
