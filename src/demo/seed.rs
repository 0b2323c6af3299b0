//! Writing the demo institution into the store, once per database.

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

/// Seeds the institution in one transaction: a crash part-way leaves nothing behind, and
/// the next start seeds again.
pub async fn seed(
    db: &Db,
    institution: &Institution,
    workbench: &Workbench,
    engine: &PolicyEngine,
) -> Result<SeedOutcome, SeedError> {
    let mut tx = db.begin().await?;
    let existing: Option<f64> =
        sqlx::query_scalar("SELECT scale FROM demo_seed WHERE id = 1").fetch_optional(&mut *tx).await?;
    if let Some(scale) = existing {
        return Ok(SeedOutcome::AlreadySeeded { scale });
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
    let choices = purposes::choices(institution);
    for (login, choice) in &choices {
        let student = Actor { id: login.clone(), kind: ActorKind::User, roles: vec![Role::Student] };
        consent::record(&mut tx, choice.clone(), &student, vec!["consent-students-own".to_owned()]).await?;
    }
    let students = institution.students.len();
    let progress = ProgressBar::new(students as u64).with_message("seeding Hogeschool Demo").with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} students ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut written = 0;
    for first in (0..students).step_by(STUDENTS_PER_ROUND) {
        let round = first..(first + STUDENTS_PER_ROUND).min(students);
        let batch: Vec<_> = round.clone().flat_map(|index| student_records(institution, index)).collect();
        let mut batch = batch;
        crate::retention::stamp(&mut tx, &mut batch).await?;
        written += records::insert(&mut tx, &batch).await?;
        progress.inc(round.len() as u64);
    }
    let event = Event::new(Actor::system("demo"), "demo.seeded", "Institution::hogeschool-demo").details(json!({
        "students": students,
        "records": written,
        "scale": institution.scale,
        "seed_version": SEED_VERSION,
        "purposes": 5,
        "choices": choices.len(),
    }));
    audit::record(&mut tx, event).await?;
    sqlx::query("INSERT INTO demo_seed (id, version, scale, seeded_at) VALUES (1, $1, $2, $3)")
        .bind(SEED_VERSION)
        .bind(institution.scale)
        .bind(Timestamp::now().to_storage())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    progress.finish_and_clear();
    Ok(SeedOutcome::Seeded { students, records: written })
}
