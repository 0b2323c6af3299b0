//! The per-row work of a governed read, each next to a baseline in the same run: the
//! pseudonym (HMAC-SHA256 under the pepper) beside a plain SHA-256 of the same input, and
//! the consent-state lookup (the read's in-memory subject filter) beside asking the
//! ledger for one student's state, as a read without the filter would.
//!
//! `cargo bench --bench gateway_primitives` prints criterion's figures and the ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

mod common;

use consentry::consent;
use consentry::datadir::Pepper;
use consentry::db::{self, Db};
use consentry::demo::{Institution, seed};
use consentry::dpia::{Deployment, Workbench};
use consentry::gateway::Keys;
use consentry::policy::PolicyEngine;
use consentry::purposes::{self, PurposeId};
use criterion::{BatchSize, Criterion};
use std::hint::black_box;

fn pseudonyms(criterion: &mut Criterion) {
    let keys = Keys::new(&Pepper::from_bytes([7; 32])).unwrap();
    let subject = "0194f6c2-8e55-7d3a-9b1e-2f4c6a8d0e12";
    let mut group = criterion.benchmark_group("pseudonym");
    group.bench_function("sha256_baseline", |bench| {
        bench.iter(|| {
            let input = ["subject", "learning-research", "demo-research", black_box(subject)].join("\u{0}");
            black_box(ring::digest::digest(&ring::digest::SHA256, input.as_bytes()))
        })
    });
    group.bench_function("hmac_pseudonym", |bench| {
        bench.iter(|| black_box(keys.pseudonym("learning-research", "demo-research", black_box(subject))))
    });
    group.finish();
}

fn consent_lookups(criterion: &mut Criterion, runtime: &tokio::runtime::Runtime, db: &Db) {
    let purpose_id = PurposeId::parse("learning-research").unwrap();
    let (filter, subjects) = runtime.block_on(async {
        let mut connection = db.pool().acquire().await.unwrap();
        let purpose = purposes::get(&mut connection, &purpose_id).await.unwrap().unwrap();
        let versions = purposes::versions(&mut connection, &purpose_id).await.unwrap();
        let filter = consent::subject_filter(&mut connection, &purpose, &versions).await.unwrap();
        let subjects: Vec<String> =
            sqlx::query_scalar("SELECT id FROM subjects ORDER BY id").fetch_all(&mut *connection).await.unwrap();
        (filter, subjects)
    });
    let mut group = criterion.benchmark_group("consent_lookup");
    let mut next = 0;
    group.bench_function("ledger_query_baseline", |bench| {
        bench.to_async(runtime).iter_batched(
            || {
                next = (next + 1) % subjects.len();
                uuid::Uuid::parse_str(&subjects[next]).unwrap()
            },
            |subject| {
                let purpose_id = purpose_id.clone();
                async move {
                    let mut connection = db.pool().acquire().await.unwrap();
                    black_box(consent::status(&mut connection, subject, &purpose_id).await.unwrap().permits)
                }
            },
            BatchSize::SmallInput,
        )
    });
    let mut index = 0;
    group.bench_function("subject_filter", |bench| {
        bench.iter(|| {
            index = (index + 1) % subjects.len();
            black_box(filter.permits(&subjects[index]))
        })
    });
    group.finish();
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = runtime.block_on(async {
        let db = Db::connect(&db::sqlite_url(&dir.path().join("bench.db")), 2).await.unwrap();
        db.migrate().await.unwrap();
        let workbench = Workbench::new(None, Deployment::default()).unwrap();
        seed(&db, &Institution::generate(0.05), &workbench, &PolicyEngine::shipped().unwrap()).await.unwrap();
        db
    });
    let mut criterion = Criterion::default().configure_from_args();
    pseudonyms(&mut criterion);
    consent_lookups(&mut criterion, &runtime, &db);
    criterion.final_summary();
    common::print_ratio("pseudonym", "sha256_baseline", "hmac_pseudonym");
    common::print_ratio("consent_lookup", "ledger_query_baseline", "subject_filter");
}
