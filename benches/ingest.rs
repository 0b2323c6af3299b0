//! xAPI ingest of a batch of 100 statements (validation, identity mapping, minimisation,
//! idempotency check, audit event), next to a bare insert of the same minimised rows, in
//! the same run on SQLite (criterion).
//!
//! `cargo bench --bench ingest` prints criterion's figures and then the ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::sync::Arc;

use consentry::catalogue::Catalogue;
use consentry::config::IngestMode;
use consentry::db::{self, Db};
use consentry::demo::{Institution, seed};
use consentry::dpia::{Deployment, Workbench};
use consentry::ingest::{Settings, ingest_statements, sources};
use consentry::policy::PolicyEngine;
use consentry::records::{self, Category, NewRecord, RecordKind};
use consentry::timestamp::Timestamp;
use criterion::{BatchSize, Criterion, Throughput};
use serde_json::{Value, json};
use uuid::Uuid;

mod common;

const GROUP: &str = "ingest";
const BATCH: usize = 100;

fn statement(n: usize) -> Value {
    json!({
        "id": Uuid::new_v4(),
        "timestamp": "2026-03-02T10:00:00Z",
        "actor": { "account": { "homePage": "https://lms.hogeschool-demo.example", "name": format!("s{:04}", n % 100 + 1) } },
        "verb": { "id": "http://adlnet.gov/expapi/verbs/completed", "display": { "en-US": "completed" } },
        "object": { "id": format!("https://lms.hogeschool-demo.example/course/c01/activity/{:02}", n % 20 + 1), "definition": { "type": "http://adlnet.gov/expapi/activities/assessment" } },
        "result": { "completion": true, "score": { "scaled": 0.75 }, "duration": "PT12M", "extensions": { "https://lms.example/keystrokes": 1200 } },
        "context": { "contextActivities": { "parent": [{ "id": "https://lms.hogeschool-demo.example/course/c01" }] } }
    })
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = runtime.block_on(async {
        let db = Db::connect(&db::sqlite_url(&dir.path().join("bench.db")), 4).await.unwrap();
        db.migrate().await.unwrap();
        seed(
            &db,
            &Institution::generate(0.05),
            &Workbench::new(None, Deployment::default()).unwrap(),
            &PolicyEngine::shipped().unwrap(),
        )
        .await
        .unwrap();
        db
    });
    let config = consentry::config::IngestConfig { mode: IngestMode::Minimise, ..Default::default() };
    let settings = Settings::new(Arc::new(Catalogue::new(&[]).unwrap()), &config);
    let source =
        runtime.block_on(async { sources::find(&mut db.pool().acquire().await.unwrap(), "demo-lms").await.unwrap() });
    let subject: Uuid = runtime.block_on(async {
        consentry::directory::subject_of_user(&mut db.pool().acquire().await.unwrap(), "s0001").await.unwrap().unwrap()
    });

    let (db, settings, source) = (&db, &settings, &source);
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("bare_insert", |bench| {
        bench.to_async(&runtime).iter_batched(
            || minimised_rows(subject),
            |rows| async move {
                let mut tx = db.begin().await.unwrap();
                records::insert(&mut tx, &rows).await.unwrap();
                tx.commit().await.unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("governed_ingest", |bench| {
        bench.to_async(&runtime).iter_batched(
            || Value::Array((0..BATCH).map(statement).collect()),
            |statements| async move {
                let stored = ingest_statements(db, settings, source, &statements).await.unwrap();
                assert_eq!(stored.stored, BATCH);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    criterion.final_summary();
    common::print_ratio(GROUP, "bare_insert", "governed_ingest");
}

/// The rows governed ingest stores for a batch, built beforehand: what storing alone costs.
fn minimised_rows(subject: Uuid) -> Vec<NewRecord> {
    (0..BATCH)
        .map(|n| {
            let mut record = NewRecord::new(
                Uuid::now_v7(),
                subject,
                "xapi",
                RecordKind::Xapi,
                Category::Assessment,
                Timestamp::now(),
            );
            record.statement_id = Some(Uuid::new_v4());
            record.verb = Some("http://adlnet.gov/expapi/verbs/completed".to_owned());
            record.object_id =
                Some(format!("https://lms.hogeschool-demo.example/course/c01/activity/{:02}", n % 20 + 1));
            record.object_type = Some("http://adlnet.gov/expapi/activities/assessment".to_owned());
            record.score_scaled = Some(0.75);
            record.completion = Some(true);
            record.duration_ms = Some(720_000);
            record.course_id = Some("c01".to_owned());
            record
        })
        .collect()
}
