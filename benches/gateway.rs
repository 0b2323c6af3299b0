//! A governed streaming read of the demo institution's xAPI statements, next to a raw
//! scan-and-serialise of the same rows with no governance, in the same run on SQLite
//! (criterion, in-process). How the same read grows with the institution, over HTTP and
//! with the server's memory, is the `growth` benchmark.
//!
//! `cargo bench --bench gateway` prints criterion's figures and then the ratio. The store is
//! seeded once under `target/bench-gateway-demo/` and reused.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use consentry::auth::{Principal, PrincipalKind};
use consentry::datadir::DataDir;
use consentry::db::{self, Db};
use consentry::gateway::{Filters, Keys, ReadRequest, Reader, prepare, stream};
use consentry::policy::{Action, Gate, PolicyEngine};
use consentry::purposes::PurposeId;
use consentry::records::RecordKind;
use consentry::timestamp::Timestamp;
use criterion::{Criterion, Throughput};
use futures::StreamExt;
use serde::Serialize;
use sqlx::Row;

mod common;
mod server;

const GROUP: &str = "gateway";
const PURPOSE: &str = "personal-dashboard";
const CLIENT: &str = "demo-dashboard";

/// One row as a raw read without governance would send it: every stored column.
#[derive(Serialize)]
struct RawRow<'a> {
    id: &'a str,
    subject_id: &'a str,
    kind: &'a str,
    category: &'a str,
    occurred_at: &'a str,
    course_id: Option<&'a str>,
    verb: Option<&'a str>,
    object_id: Option<&'a str>,
    object_type: Option<&'a str>,
    score_scaled: Option<f64>,
    success: Option<i64>,
    completion: Option<i64>,
    duration_ms: Option<i64>,
}

/// Scans the xAPI statements and serialises each as a line of JSON: the baseline.
async fn raw_read(db: &Db) -> (usize, usize) {
    let mut connection = db.pool().acquire().await.unwrap();
    let mut rows = sqlx::query(
        "SELECT id, subject_id, kind, category, occurred_at, course_id, verb, object_id, object_type, score_scaled, \
         success, completion, duration_ms FROM records WHERE voided = 0 AND kind = 'xapi'",
    )
    .fetch(&mut *connection);
    let (mut count, mut bytes) = (0, 0);
    let mut buffer = Vec::with_capacity(70_000);
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let raw = RawRow {
            id: row.try_get(0).unwrap(),
            subject_id: row.try_get(1).unwrap(),
            kind: row.try_get(2).unwrap(),
            category: row.try_get(3).unwrap(),
            occurred_at: row.try_get(4).unwrap(),
            course_id: row.try_get(5).unwrap(),
            verb: row.try_get(6).unwrap(),
            object_id: row.try_get(7).unwrap(),
            object_type: row.try_get(8).unwrap(),
            score_scaled: row.try_get(9).unwrap(),
            success: row.try_get(10).unwrap(),
            completion: row.try_get(11).unwrap(),
            duration_ms: row.try_get(12).unwrap(),
        };
        serde_json::to_writer(&mut buffer, &raw).unwrap();
        buffer.push(b'\n');
        count += 1;
        if buffer.len() >= 64 * 1024 {
            bytes += buffer.len();
            buffer.clear();
        }
    }
    (count, bytes + buffer.len())
}

/// The governed read in-process: the same pipeline as the HTTP handler, without HTTP.
async fn governed_read(db: &Db, gate: &Gate, keys: &Arc<Keys>) -> (usize, usize) {
    let principal = Principal { id: CLIENT.to_owned(), kind: PrincipalKind::Client, roles: BTreeSet::new() };
    let reader = Reader::resolve(db, principal).await.unwrap();
    let filters = Filters { kind: Some(RecordKind::Xapi), ..Filters::default() };
    let purpose = PurposeId::parse(PURPOSE).unwrap();
    let request = ReadRequest {
        reader: &reader,
        action: Action::ReadRecords,
        purpose: &purpose,
        filters: &filters,
        needs: &[],
        now: Timestamp::now(),
    };
    let prepared = prepare(db, gate, &request).await.unwrap();
    let mut chunks = Box::pin(stream(prepared, db.clone(), Arc::clone(keys)));
    let (mut lines, mut bytes) = (0, 0);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        lines += chunk.iter().filter(|byte| **byte == b'\n').count();
        bytes += chunk.len();
    }
    (lines, bytes)
}

fn main() {
    let data_dir = server::demo_store("gateway-demo", 1.0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(Db::connect(&db::sqlite_url(&data_dir.join("consentry.db")), 4)).unwrap();
    let keys =
        Arc::new(Keys::new(&DataDir::open(&data_dir).unwrap().load_keys(false).unwrap().pseudonym_pepper).unwrap());
    let gate = Gate::new(Arc::new(PolicyEngine::shipped().unwrap()), None, db.clone());
    let (rows, _) = runtime.block_on(raw_read(&db));
    let (passed, _) = runtime.block_on(governed_read(&db, &gate, &keys));
    println!("{rows} stored xAPI statements; {passed} of them pass the purpose's consent and retention rules");

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group(GROUP);
    group.sample_size(10).measurement_time(Duration::from_secs(15)).throughput(Throughput::Elements(rows as u64));
    group.bench_function("raw_scan_serialise", |bench| bench.to_async(&runtime).iter(|| raw_read(&db)));
    group.bench_function("governed_read", |bench| bench.to_async(&runtime).iter(|| governed_read(&db, &gate, &keys)));
    group.finish();
    criterion.final_summary();
    common::print_ratio(GROUP, "raw_scan_serialise", "governed_read");
    runtime.block_on(db.close());

    let server = server::Server::demo(&data_dir, 1.0);
    let idle = server.peak_kib();
    let (lines, seconds) = server.stream_dashboard_read();
    let peak = server.peak_kib();
    assert_eq!(lines, passed, "HTTP and in-process reads return the same rows");
    println!(
        "governed read over HTTP (NDJSON) from `consentry serve`: {:.0} rows scanned/s; server peak memory {} MiB (idle {} MiB)",
        rows as f64 / seconds,
        peak >> 10,
        idle >> 10
    );
}
