//! Writing the demo institution into the store, once per database.

use std::ops::Range;

use indicatif::{ProgressBar, ProgressStyle};

use super::activity::student_records;
use super::institution::Institution;
use serde_json::json;

use super::purposes;
use crate::audit::{self, Actor, ActorKind, AuditError, Event};
use crate::auth::Role;
use crate::clients;
use crate::consent::{self, ConsentError};
use crate::db::{Db, DbError};
use crate::dpia::Workbench;
use crate::policy::PolicyEngine;
use crate::purposes::{PurposeError, PurposeId, PurposeStatus};
use crate::timestamp::Timestamp;
use crate::{directory, records};

/// Bump when the generated data changes shape, so old demo databases are recognised.
const SEED_VERSION: i64 = 1;
/// Students whose records go to the store in one round.
const STUDENTS_PER_ROUND: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("could not seed the demo institution: {0}")]
    Db(#[from] DbError),
    #[error("could not seed the demo institution: {0}")]
    Audit(#[from] AuditError),
    #[error("could not seed the demo institution: {0}")]
    Purpose(#[from] PurposeError),
    #[error("could not seed the demo institution: {0}")]
    Consent(#[from] ConsentError),
    #[error("could not seed the demo institution: {0}")]
    Ingest(#[from] crate::ingest::IngestError),
    #[error("could not seed the demo institution: {0}")]
    Client(#[from] crate::clients::ClientError),
    #[error("could not seed the demo institution: {0}")]
    Retention(#[from] crate::retention::RetentionError),
    #[error("could not seed the demo institution: {0}")]
    Dpia(#[from] crate::dpia::DpiaError),
    #[error(
        "an earlier seed of the demo institution at scale {started_at_scale} was interrupted; start again with \
         demo_scale = {started_at_scale} to finish it, or with a fresh data directory for scale {now_asked}"
    )]
    Interrupted { started_at_scale: f64, now_asked: f64 },
    #[error("another process is seeding the demo institution in this database; start this one once it has finished")]
    SeededElsewhere,
}

impl From<sqlx::Error> for SeedError {
    fn from(error: sqlx::Error) -> Self {
        Self::Db(error.into())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SeedOutcome {
    Seeded {
        students: usize,
        records: u64,
    },
    /// The database already holds the demo institution (at the given scale).
    AlreadySeeded {
        scale: f64,
    },
}

/// Seeds the institution: people, purposes, tools, the DPIA and the students' choices in
/// one transaction, then the students' records in rounds of their own, each committed with
/// the count of students done. A crash part-way loses at most one round, and the next start
/// continues where the last round ended; nobody can sign in before the seed has finished,
/// because the server does not listen until then.
pub async fn seed(
    db: &Db,
    institution: &Institution,
    workbench: &Workbench,
    engine: &PolicyEngine,
) -> Result<SeedOutcome, SeedError> {
    let students_done = match begin(db, institution, workbench, engine).await? {
        Progress::Finished { scale } => return Ok(SeedOutcome::AlreadySeeded { scale }),
        Progress::StudentsDone(done) => done,
    };
    let students = institution.students.len();
    let progress = ProgressBar::new(students as u64).with_message("seeding Hogeschool Demo").with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} students ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.inc(students_done as u64);
    for first in (students_done..students).step_by(STUDENTS_PER_ROUND) {
        let round = first..(first + STUDENTS_PER_ROUND).min(students);
        write_round(db, institution, round.clone()).await?;
        progress.inc(round.len() as u64);
    }
    progress.finish_and_clear();
    let records = finish(db, institution).await?;
    Ok(SeedOutcome::Seeded { students, records })
}

/// How far an earlier seed of this database got.
#[derive(Debug, PartialEq)]
enum Progress {
    Finished { scale: f64 },
    StudentsDone(usize),
}

/// Writes everything but the students' records, once; on a database where that was done
/// before, says how far the seed got.
async fn begin(
    db: &Db,
    institution: &Institution,
    workbench: &Workbench,
    engine: &PolicyEngine,
) -> Result<Progress, SeedError> {
    let mut tx = db.begin().await?;
    let existing: Option<(f64, i64, Option<String>)> =
        sqlx::query_as("SELECT scale, students_done, finished_at FROM demo_seed WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
    match existing {
        Some((scale, _, Some(_))) => return Ok(Progress::Finished { scale }),
        Some((scale, done, None)) if scale == institution.scale => {
            return Ok(Progress::StudentsDone(usize::try_from(done).unwrap_or(0)));
        }
        Some((scale, _, None)) => {
            return Err(SeedError::Interrupted { started_at_scale: scale, now_asked: institution.scale });
        }
        None => {}
    }
    directory::insert_subjects(&mut tx, &institution.new_subjects()).await?;
    directory::insert_users(&mut tx, &institution.new_users()).await?;
    directory::insert_groups(&mut tx, &institution.new_groups()).await?;
    directory::insert_courses(&mut tx, &institution.new_courses()).await?;

    let (source_id, source_name, source_secret) = super::DEMO_SOURCE;
    crate::ingest::sources::register(&mut tx, source_id, source_name, &["xapi"], source_secret).await?;
    let (sis_id, sis_name, sis_secret) = super::DEMO_SIS_SOURCE;
    crate::ingest::sources::register(&mut tx, sis_id, sis_name, &["enrolment", "grade"], sis_secret).await?;
    let (survey_id, survey_name, survey_secret) = super::DEMO_SURVEY_SOURCE;
    crate::ingest::sources::register(&mut tx, survey_id, survey_name, &["survey"], survey_secret).await?;
    let seeder = Actor::system("demo");
    let mut purpose_ids = Vec::new();
    for (id, definition) in purposes::purposes() {
        let id = PurposeId::parse(id).map_err(|why| SeedError::Purpose(PurposeError::Corrupt(why)))?;
        crate::purposes::insert(&mut tx, &id, &definition, &seeder, vec!["demo-seed".to_owned()]).await?;
        purpose_ids.push(id);
    }
    for client in super::CLIENTS {
        let registered = clients::NewClient {
            id: client.id.to_owned(),
            name: client.name.to_owned(),
            organisation: client.organisation.to_owned(),
            contact: client.contact.to_owned(),
            token_subject: client.id.to_owned(),
            purposes: client.purposes.iter().filter_map(|purpose| PurposeId::parse(purpose).ok()).collect(),
        };
        clients::insert(&mut tx, &registered, client.secret).await?;
    }
    // The purposes that need a DPIA become active only once it is approved.
    super::dpia::approve(&mut tx, workbench, engine).await?;
    for id in &purpose_ids {
        crate::purposes::set_status(&mut tx, id, PurposeStatus::Active, &seeder, vec!["demo-seed".to_owned()]).await?;
    }
    for (login, choice) in purposes::choices(institution) {
        let student = Actor { id: login, kind: ActorKind::User, roles: vec![Role::Student] };
        consent::record(&mut tx, choice, &student, vec!["consent-students-own".to_owned()]).await?;
    }
    // The records follow in rounds: the chain says so before the first of them exists.
    let event = Event::new(Actor::system("demo"), "demo.seeding_started", "Institution::hogeschool-demo").details(
        json!({ "students": institution.students.len(), "scale": institution.scale, "students_per_round": STUDENTS_PER_ROUND }),
    );
    audit::record(&mut tx, event).await?;
    sqlx::query("INSERT INTO demo_seed (id, version, scale, seeded_at, students_done) VALUES (1, $1, $2, $3, 0)")
        .bind(SEED_VERSION)
        .bind(institution.scale)
        .bind(Timestamp::now().to_storage())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Progress::StudentsDone(0))
}

/// Writes the records of the students in `round` and moves the count of students done past
/// them, in one transaction. The count must still be where the round starts: a second
/// process seeding the same database at the same time fails here instead of doubling rows.
async fn write_round(db: &Db, institution: &Institution, round: Range<usize>) -> Result<(), SeedError> {
    let mut tx = db.begin().await?;
    let moved = sqlx::query("UPDATE demo_seed SET students_done = $1 WHERE id = 1 AND students_done = $2")
        .bind(i64::try_from(round.end).unwrap_or(i64::MAX))
        .bind(i64::try_from(round.start).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if moved != 1 {
        return Err(SeedError::SeededElsewhere);
    }
    let mut batch: Vec<_> = round.flat_map(|index| student_records(institution, index)).collect();
    crate::retention::stamp(&mut tx, &mut batch).await?;
    records::insert(&mut tx, &batch).await?;
    tx.commit().await?;
    Ok(())
}

/// Records the finished seed in the audit log, the seed's last event.
async fn finish(db: &Db, institution: &Institution) -> Result<u64, SeedError> {
    let mut tx = db.begin().await?;
    let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(&mut *tx).await?;
    let choices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_records").fetch_one(&mut *tx).await?;
    let event = Event::new(Actor::system("demo"), "demo.seeded", "Institution::hogeschool-demo").details(json!({
        "students": institution.students.len(),
        "records": records,
        "scale": institution.scale,
        "seed_version": SEED_VERSION,
        "purposes": 5,
        "choices": choices,
    }));
    audit::record(&mut tx, event).await?;
    sqlx::query("UPDATE demo_seed SET finished_at = $1 WHERE id = 1")
        .bind(Timestamp::now().to_storage())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(u64::try_from(records).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;
    use crate::dpia::Deployment;

    async fn store(dir: &std::path::Path) -> Db {
        let db = Db::connect(&db::sqlite_url(&dir.join("seed.db")), 2).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    #[tokio::test]
    async fn an_interrupted_seed_continues_from_its_last_round_and_writes_each_record_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(dir.path()).await;
        let institution = Institution::generate(0.15);
        let workbench = Workbench::new(None, Deployment::default()).unwrap();
        let engine = PolicyEngine::shipped().unwrap();
        let expected: usize =
            (0..institution.students.len()).map(|index| student_records(&institution, index).len()).sum();

        // The process dies after its first round.
        assert_eq!(begin(&db, &institution, &workbench, &engine).await.unwrap(), Progress::StudentsDone(0));
        write_round(&db, &institution, 0..STUDENTS_PER_ROUND).await.unwrap();
        let bigger = Institution::generate(0.3);
        assert!(matches!(
            seed(&db, &bigger, &workbench, &engine).await,
            Err(SeedError::Interrupted { started_at_scale, now_asked }) if started_at_scale == 0.15 && now_asked == 0.3
        ));

        let outcome = seed(&db, &institution, &workbench, &engine).await.unwrap();
        assert_eq!(outcome, SeedOutcome::Seeded { students: 300, records: expected as u64 });
        let ids: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT statement_id) FROM records").fetch_one(db.pool()).await.unwrap();
        let statements: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE statement_id IS NOT NULL")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(ids, statements, "no round was written twice");
        let announced_and_finished: Vec<String> =
            sqlx::query_scalar("SELECT action FROM audit_events WHERE action LIKE 'demo.seed%' ORDER BY seq")
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(announced_and_finished, ["demo.seeding_started", "demo.seeded"], "once each, in order");
        assert_eq!(
            seed(&db, &institution, &workbench, &engine).await.unwrap(),
            SeedOutcome::AlreadySeeded { scale: 0.15 }
        );
    }

    #[tokio::test]
    async fn a_round_another_process_already_wrote_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(dir.path()).await;
        let institution = Institution::generate(0.1);
        let workbench = Workbench::new(None, Deployment::default()).unwrap();
        begin(&db, &institution, &workbench, &PolicyEngine::shipped().unwrap()).await.unwrap();
        write_round(&db, &institution, 0..STUDENTS_PER_ROUND).await.unwrap();
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(db.pool()).await.unwrap();

        let again = write_round(&db, &institution, 0..STUDENTS_PER_ROUND).await;

        assert!(matches!(again, Err(SeedError::SeededElsewhere)));
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(db.pool()).await.unwrap();
        assert_eq!(before, after, "the refused round wrote nothing");
    }
}
