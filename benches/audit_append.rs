//! The cost of appending one audit event inside a transaction, next to a bare insert of
//! the same row in the same kind of transaction, measured in the same run on SQLite.
//!
//! `cargo bench --bench audit_append` prints criterion's figures and then the ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::sync::atomic::{AtomicI64, Ordering};

mod common;

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
    common::print_ratio(GROUP, "bare_insert", "audit_record");
}
