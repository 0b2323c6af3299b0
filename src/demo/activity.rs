//! A semester of learning data for each demo student: LMS activity as xAPI statements,
//! enrolments and final grades from the SIS, and a wellbeing questionnaire.
//!
//! Each student's data comes from a generator seeded by the student's number, so any
//! slice of students can be generated on its own, in any order, with the same result.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use super::institution::{
    ACTIVITIES_PER_COURSE, Course, DEMO_SIS_SOURCE, DEMO_SOURCE, DEMO_SURVEY_SOURCE, Institution, SEED,
    SEMESTER_START_UNIX, SEMESTER_WEEKS, Student, deterministic_uuid,
};
use crate::records::{Category, NewRecord, RecordKind};
use crate::timestamp::Timestamp;

/// Average statements per student per week at full engagement.
const STATEMENTS_PER_WEEK: f64 = 5.0;
/// How much of their old activity a drifting student keeps once they drift.
const DRIFT_REMAINDER: f64 = 0.15;
/// Share of students who answer the wellbeing questionnaire.
const SURVEY_RESPONSE_RATE: f64 = 0.6;
/// The questionnaire goes out in these weeks.
const SURVEY_WEEKS: [u32; 2] = [3, 12];
/// Questionnaire items with their scale maximum (motivation on the 1–4 scale of the
/// "normal path"; the others on 1–5).
const SURVEY_ITEMS: [(&str, u32); 4] = [("motivation", 4), ("belonging", 5), ("stress", 5), ("workload", 5)];

const WEEK_SECONDS: i64 = 7 * 24 * 3600;

const VERB_LAUNCHED: &str = "http://adlnet.gov/expapi/verbs/launched";
const VERB_EXPERIENCED: &str = "http://adlnet.gov/expapi/verbs/experienced";
const VERB_ATTEMPTED: &str = "http://adlnet.gov/expapi/verbs/attempted";
const VERB_COMPLETED: &str = "http://adlnet.gov/expapi/verbs/completed";
const VERB_PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";
const VERB_FAILED: &str = "http://adlnet.gov/expapi/verbs/failed";
const VERB_ANSWERED: &str = "http://adlnet.gov/expapi/verbs/answered";
const TYPE_LESSON: &str = "http://adlnet.gov/expapi/activities/lesson";
const TYPE_ASSESSMENT: &str = "http://adlnet.gov/expapi/activities/assessment";
const TYPE_QUESTION: &str = "http://adlnet.gov/expapi/activities/question";

/// Everything stored about one student over the semester, oldest first.
pub fn student_records(institution: &Institution, student_index: usize) -> Vec<NewRecord> {
    let student = &institution.students[student_index];
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ (student_index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let courses: Vec<&Course> = student.courses.iter().map(|&index| &institution.courses[index]).collect();
    let mut records = enrolments(&mut rng, student, &courses);
    for week in 0..SEMESTER_WEEKS {
        records.extend(week_of_activity(&mut rng, student, &courses, week));
    }
    if rng.random_bool(SURVEY_RESPONSE_RATE) {
        for week in SURVEY_WEEKS {
            records.extend(questionnaire(&mut rng, student, week));
        }
    }
    records.extend(grades(&mut rng, student, &courses));
    records.sort_by_key(|record| record.occurred_at);
    records
}

fn enrolments(rng: &mut ChaCha8Rng, student: &Student, courses: &[&Course]) -> Vec<NewRecord> {
    courses
        .iter()
        .map(|course| {
            let at = at_offset(rng, -WEEK_SECONDS, 0);
            let mut record =
                new_record(rng, student, DEMO_SIS_SOURCE.0, RecordKind::Enrolment, Category::Enrolment, at);
            record.course_id = Some(course.id.clone());
            record.value_text = Some("active".to_owned());
            record
        })
        .collect()
}

fn week_of_activity(rng: &mut ChaCha8Rng, student: &Student, courses: &[&Course], week: u32) -> Vec<NewRecord> {
    let profile = student.profile;
    let drifting = profile.drift_week.is_some_and(|drift| week >= drift);
    let level = profile.engagement * if drifting { DRIFT_REMAINDER } else { 1.0 };
    let count = Poisson::new(STATEMENTS_PER_WEEK * level).map(|poisson| poisson.sample(rng) as usize).unwrap_or(0);
    let week_start = i64::from(week) * WEEK_SECONDS;
    (0..count)
        .map(|_| {
            let course = courses[rng.random_range(0..courses.len())];
            let activity = rng.random_range(0..ACTIVITIES_PER_COURSE);
            let at = at_offset(rng, week_start, week_start + WEEK_SECONDS);
            // Drifting students who still show up do worse on what they try.
            let ability = if drifting { profile.ability * 0.6 } else { profile.ability };
            statement(rng, student, course, activity, at, ability)
        })
        .collect()
}

/// Lessons 1–12 are read, assignments 13–16 attempted and handed in, quizzes 17–20 answered.
fn statement(
    rng: &mut ChaCha8Rng,
    student: &Student,
    course: &Course,
    activity: usize,
    at: Timestamp,
    ability: f64,
) -> NewRecord {
    let mut record = new_record(rng, student, DEMO_SOURCE.0, RecordKind::Xapi, Category::Activity, at);
    record.statement_id = Some(uuid::Builder::from_random_bytes(rng.random()).into_uuid());
    record.course_id = Some(course.id.clone());
    record.object_id = Some(format!("{}/activity/{:02}", course.activity_iri(), activity + 1));
    match activity {
        0..12 => {
            record.object_type = Some(TYPE_LESSON.to_owned());
            if rng.random_bool(0.3) {
                record.verb = Some(VERB_LAUNCHED.to_owned());
            } else {
                record.verb = Some(VERB_EXPERIENCED.to_owned());
                record.duration_ms = Some(rng.random_range(60_000..2_400_000));
            }
        }
        12..16 => {
            record.object_type = Some(TYPE_ASSESSMENT.to_owned());
            match rng.random_range(0..3) {
                0 => record.verb = Some(VERB_ATTEMPTED.to_owned()),
                1 => {
                    record.verb = Some(VERB_COMPLETED.to_owned());
                    record.completion = Some(true);
                }
                _ => {
                    let score = scaled_score(rng, ability);
                    let passed = score >= 0.55;
                    record.category = Category::Assessment;
                    record.verb = Some(if passed { VERB_PASSED } else { VERB_FAILED }.to_owned());
                    record.score_scaled = Some(score);
                    record.success = Some(passed);
                    record.completion = Some(true);
                }
            }
        }
        _ => {
            let score = scaled_score(rng, ability);
            record.category = Category::Assessment;
            record.object_type = Some(TYPE_QUESTION.to_owned());
            record.verb = Some(VERB_ANSWERED.to_owned());
            record.score_scaled = Some(score);
            record.success = Some(score >= 0.5);
            record.duration_ms = Some(rng.random_range(10_000..300_000));
        }
    }
    record
}

fn questionnaire(rng: &mut ChaCha8Rng, student: &Student, week: u32) -> Vec<NewRecord> {
    let week_start = i64::from(week) * WEEK_SECONDS;
    let at = at_offset(rng, week_start, week_start + WEEK_SECONDS);
    let drifting = student.profile.drift_week.is_some_and(|drift| week >= drift);
    SURVEY_ITEMS
        .iter()
        .map(|&(item, maximum)| {
            let mut record =
                new_record(rng, student, DEMO_SURVEY_SOURCE.0, RecordKind::Survey, Category::Wellbeing, at);
            // Stress and workload read the other way round: drifting students score them high.
            let inverted = matches!(item, "stress" | "workload");
            let leaning = if drifting != inverted { 0.0 } else { 1.0 };
            let answer = 1 + (f64::from(maximum - 1) * (0.5 * leaning + 0.5 * rng.random::<f64>())).round() as u32;
            record.item = Some(item.to_owned());
            record.value_number = Some(f64::from(answer.min(maximum)));
            record
        })
        .collect()
}

/// Final grades on the Dutch 1–10 scale, in the week after the semester; students who
/// drifted away early often get none.
fn grades(rng: &mut ChaCha8Rng, student: &Student, courses: &[&Course]) -> Vec<NewRecord> {
    let end = i64::from(SEMESTER_WEEKS) * WEEK_SECONDS;
    courses
        .iter()
        .filter_map(|course| {
            let dropped_out = student.profile.drift_week.is_some_and(|week| week < 9) && rng.random_bool(0.7);
            if dropped_out {
                return None;
            }
            let at = at_offset(rng, end, end + WEEK_SECONDS);
            let mut record = new_record(rng, student, DEMO_SIS_SOURCE.0, RecordKind::Grade, Category::Assessment, at);
            let mean =
                3.0 + 7.0 * student.profile.ability * if student.profile.drift_week.is_some() { 0.75 } else { 1.0 };
            let grade = (mean + rng.random_range(-1.5..1.5)).clamp(1.0, 10.0);
            record.course_id = Some(course.id.clone());
            record.item = Some("final".to_owned());
            record.value_number = Some((grade * 10.0).round() / 10.0);
            Some(record)
        })
        .collect()
}

fn scaled_score(rng: &mut ChaCha8Rng, ability: f64) -> f64 {
    let score: f64 = (ability + rng.random_range(-0.25..0.25)).clamp(0.0, 1.0);
    (score * 100.0).round() / 100.0
}

/// A moment between `from` and `to` seconds after the semester start, during waking hours.
fn at_offset(rng: &mut ChaCha8Rng, from: i64, to: i64) -> Timestamp {
    let day_start = from + rng.random_range(0..((to - from) / 86_400).max(1)) * 86_400;
    let seconds = day_start + rng.random_range(8 * 3600..23 * 3600);
    Timestamp::from_unix_seconds(SEMESTER_START_UNIX + seconds).unwrap_or_else(Timestamp::now)
}

fn new_record(
    rng: &mut ChaCha8Rng,
    student: &Student,
    source: &'static str,
    kind: RecordKind,
    category: Category,
    at: Timestamp,
) -> NewRecord {
    let offset = usize::try_from(at.unix_millis() - SEMESTER_START_UNIX * 1000).unwrap_or(0);
    NewRecord::new(deterministic_uuid(rng, offset), student.subject_id, source, kind, category, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_student_gets_the_same_semester_every_time() {
        let institution = Institution::generate(0.01);
        assert_eq!(student_records(&institution, 3), student_records(&institution, 3));
    }

    #[test]
    fn the_documented_institution_has_about_two_hundred_thousand_statements() {
        let institution = Institution::generate(1.0);
        let statements: usize = (0..institution.students.len())
            .map(|index| {
                student_records(&institution, index).iter().filter(|record| record.kind == RecordKind::Xapi).count()
            })
            .sum();
        assert!((170_000..230_000).contains(&statements), "{statements} statements");
    }

    #[test]
    fn drifting_students_fade_after_their_drift_week() {
        let institution = Institution::generate(0.5);
        let (index, student) = institution
            .students
            .iter()
            .enumerate()
            .find(|(_, student)| student.profile.drift_week.is_some_and(|week| week <= 8))
            .unwrap();
        let drift = student.profile.drift_week.unwrap();
        let drift_at = Timestamp::from_unix_seconds(SEMESTER_START_UNIX + i64::from(drift) * WEEK_SECONDS).unwrap();
        let statements: Vec<_> =
            student_records(&institution, index).into_iter().filter(|record| record.kind == RecordKind::Xapi).collect();
        let before = statements.iter().filter(|record| record.occurred_at < drift_at).count() as f64 / f64::from(drift);
        let after = statements.iter().filter(|record| record.occurred_at >= drift_at).count() as f64
            / f64::from(SEMESTER_WEEKS - drift);
        assert!(after < before / 2.0, "{before} a week before, {after} after");
    }
}
