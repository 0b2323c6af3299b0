//! The cost of appending one audit event inside a transaction, next to a bare insert of
//! the same row in the same kind of transaction, measured in the same run on SQLite.
//!
//! `cargo bench --bench audit_append` prints criterion's figures and then the ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::sync::atomic::{AtomicI64, Ordering};

use consentry::audit::{self, Actor, Event};
use consentry::db::{self, Db};
use criterion::Criterion;
use serde_json::json;

const GROUP: &str = "audit_append";

fn event() -> Event {
    Event::new(Actor::system("bench"), "bench.appended", "Purpose::learning-research")
        .purpose("learning-research")
        .details(json!({ "records": 1200, "fields": ["verb", "object_id", "score_scaled"] }))
}

fn benches(criterion: &mut Criterion, runtime: &tokio::runtime::Runtime, db: &Db) {
    let mut group = criterion.benchmark_group(GROUP);
    let baseline_seq = AtomicI64::new(-1);
    group.bench_function("bare_insert", |bench| {
        bench.to_async(runtime).iter(|| async {
            // The same row, with a precomputed hash and no chain head: what storing costs alone.
            let seq = baseline_seq.fetch_sub(1, Ordering::Relaxed);
            let mut tx = db.begin().await.unwrap();
            sqlx::query(
                "INSERT INTO audit_events (seq, at, actor_id, actor_kind, actor_roles, action, resource, subject_id, purpose, \
                 decision, reasons, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(seq)
            .bind("2026-11-23T12:00:00.000000Z")
            .bind("bench")
            .bind("system")
            .bind("[]")
            .bind("bench.appended")
            .bind("Purpose::learning-research")
            .bind(None::<String>)
            .bind("learning-research")
            .bind("allow")
            .bind("[]")
            .bind(r#"{"fields":["verb","object_id","score_scaled"],"records":1200}"#)
            .bind(audit::GENESIS_HASH)
            .bind(audit::GENESIS_HASH)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        })
    });
    group.bench_function("audit_record", |bench| {
        bench.to_async(runtime).iter(|| async {
            let mut tx = db.begin().await.unwrap();
            audit::record(&mut tx, event()).await.unwrap();
            tx.commit().await.unwrap();
        })
    });
    group.finish();
}

/// Criterion's estimate of one iteration for a benchmark of this run, in nanoseconds: the
/// slope it prints as `time`, or the mean where it fitted no slope.
fn mean_nanoseconds(bench: &str) -> Option<f64> {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()?
        .join("criterion")
        .join(GROUP)
        .join(bench)
        .join("new/estimates.json");
    let estimates: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["slope"]["point_estimate"].as_f64().or_else(|| estimates["mean"]["point_estimate"].as_f64())
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.db");
    let db = runtime.block_on(async {
        let db = Db::connect(&db::sqlite_url(&file), 1).await.unwrap();
        db.migrate().await.unwrap();
        db
    });
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &runtime, &db);
    criterion.final_summary();
    if let (Some(bare), Some(audited)) = (mean_nanoseconds("bare_insert"), mean_nanoseconds("audit_record")) {
        println!(
            "audit append: {:.1} µs per event, bare insert {:.1} µs: ratio {:.2}×",
            audited / 1000.0,
            bare / 1000.0,
            audited / bare
        );
    }
}
