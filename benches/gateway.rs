//! A governed streaming read of 1,000,000 stored xAPI statements (the demo institution's
//! 2,000 students plus synthetic statements), next to a raw scan-and-serialise of the same
//! rows with no governance, in the same run on SQLite; then the same governed read end to
//! end over HTTP from a `consentry serve` process, with that process's peak memory.
//!
//! `cargo bench --bench gateway` prints rows per second for each, the ratios and the peak
//! memory. `GATEWAY_BENCH_STATEMENTS` sets the size (default 1,000,000). The data
//! directory is built once under `target/bench-gateway-<size>/` and reused.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use consentry::auth::{Principal, PrincipalKind};
use consentry::datadir::DataDir;
use consentry::db::{self, Db};
use consentry::demo::{Institution, seed};
use consentry::dpia::{Deployment, Workbench};
use consentry::gateway::{Filters, Keys, ReadRequest, Reader, prepare, stream};
use consentry::policy::{Action, Gate, PolicyEngine};
use consentry::purposes::PurposeId;
use consentry::records::{self, Category, NewRecord, RecordKind};
use consentry::timestamp::Timestamp;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

const PURPOSE: &str = "personal-dashboard";
const CLIENT: (&str, &str) = ("demo-dashboard", "demo-dashboard-secret");

fn statements_wanted() -> usize {
    std::env::var("GATEWAY_BENCH_STATEMENTS").ok().and_then(|text| text.parse().ok()).unwrap_or(1_000_000)
}

/// Seeds the demo institution, then adds synthetic statements for its students until the
/// store holds `wanted` xAPI statements.
async fn build_store(path: &Path, wanted: usize) -> Db {
    let data_dir = DataDir::open(path).unwrap();
    data_dir.load_keys(true).unwrap();
    let db = Db::connect(&db::sqlite_url(&data_dir.sqlite_file().unwrap()), 4).await.unwrap();
    db.migrate().await.unwrap();
    seed(
        &db,
        &Institution::generate(1.0),
        &Workbench::new(None, Deployment::default()).unwrap(),
        &PolicyEngine::shipped().unwrap(),
    )
    .await
    .unwrap();
    let have: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE kind = 'xapi'").fetch_one(db.pool()).await.unwrap();
    let subjects: Vec<String> = sqlx::query_scalar("SELECT id FROM subjects").fetch_all(db.pool()).await.unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let now = Timestamp::now().unix_seconds();
    let mut missing = wanted.saturating_sub(usize::try_from(have).unwrap());
    eprintln!("adding {missing} synthetic statements to the demo institution's {have}");
    while missing > 0 {
        let batch: Vec<NewRecord> = (0..missing.min(10_000))
            .map(|_| {
                let subject = Uuid::parse_str(&subjects[rng.random_range(0..subjects.len())]).unwrap();
                let at = Timestamp::from_unix_seconds(now - rng.random_range(0..250 * 86_400)).unwrap();
                let scored = rng.random_bool(0.3);
                let category = if scored { Category::Assessment } else { Category::Activity };
                let mut record = NewRecord::new(Uuid::now_v7(), subject, "demo-lms", RecordKind::Xapi, category, at);
                let course = rng.random_range(1..=10);
                record.statement_id = Some(Uuid::new_v4());
                record.verb = Some(
                    if scored {
                        "http://adlnet.gov/expapi/verbs/answered"
                    } else {
                        "http://adlnet.gov/expapi/verbs/experienced"
                    }
                    .to_owned(),
                );
                record.object_id = Some(format!(
                    "https://lms.hogeschool-demo.example/course/c{course:02}/activity/{:02}",
                    rng.random_range(1..=20)
                ));
                record.object_type = Some("http://adlnet.gov/expapi/activities/lesson".to_owned());
                record.course_id = Some(format!("c{course:02}"));
                record.duration_ms = Some(rng.random_range(10_000..3_600_000));
                if scored {
                    record.score_scaled = Some(f64::from(rng.random_range(0..=100_u8)) / 100.0);
                    record.success = Some(rng.random_bool(0.7));
                }
                record
            })
            .collect();
        let mut tx = db.begin().await.unwrap();
        records::insert(&mut tx, &batch).await.unwrap();
        tx.commit().await.unwrap();
        missing -= batch.len();
    }
    db
}

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
    let principal = Principal { id: CLIENT.0.to_owned(), kind: PrincipalKind::Client, roles: BTreeSet::new() };
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

/// Peak resident memory of a process in KiB (`VmHWM`), and resets it when it is ours.
fn peak_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn reset_own_peak() {
    // Writing 5 to clear_refs resets VmHWM (Linux 4.0+), so the next reading covers the read alone.
    let _ =
        std::fs::OpenOptions::new().write(true).open("/proc/self/clear_refs").and_then(|mut file| file.write_all(b"5"));
}

/// Starts `consentry serve` on the data directory and waits until it is ready.
fn serve(data_dir: &Path) -> (Child, String) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["serve", "--data-dir", data_dir.to_str().unwrap(), "--addr", &addr])
        .env("CONSENTRY_LOG", "warn")
        .env_remove("CONSENTRY_DEMO")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = format!("http://{addr}");
    let started = Instant::now();
    while reqwest::blocking::get(format!("{url}/readyz"))
        .map(|response| !response.status().is_success())
        .unwrap_or(true)
    {
        assert!(child.try_wait().unwrap().is_none(), "the server exited; its error is above");
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, url)
}

/// The governed read over HTTP: rows per second and the server's peak memory.
fn http_read(data_dir: &Path) -> (usize, f64, u64, u64) {
    let (mut server, url) = serve(data_dir);
    let pid = server.id().to_string();
    let idle = peak_kib(&pid);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).build().unwrap();
    let started = Instant::now();
    let mut response = client
        .get(format!("{url}/api/v1/purposes/{PURPOSE}/records?kind=xapi"))
        .basic_auth(CLIENT.0, Some(CLIENT.1))
        .header("Accept", "application/x-ndjson")
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut lines = 0;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = std::io::Read::read(&mut response, &mut buffer).unwrap();
        if read == 0 {
            break;
        }
        lines += buffer[..read].iter().filter(|byte| **byte == b'\n').count();
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_kib(&pid);
    let _ = server.kill();
    let _ = server.wait();
    (lines, seconds, idle, peak)
}

fn main() {
    let wanted = statements_wanted();
    let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-gateway-{wanted}"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fresh = !data_dir.join("consentry.db").exists();
    let db = runtime.block_on(async {
        if fresh {
            build_store(&data_dir, wanted).await
        } else {
            Db::connect(&db::sqlite_url(&data_dir.join("consentry.db")), 4).await.unwrap()
        }
    });
    let keys =
        Arc::new(Keys::new(&DataDir::open(&data_dir).unwrap().load_keys(false).unwrap().pseudonym_pepper).unwrap());
    let gate = Gate::new(Arc::new(PolicyEngine::shipped().unwrap()), None, db.clone());

    // Warm the page cache once, so that neither side pays for the first read from disk.
    runtime.block_on(raw_read(&db));
    let started = Instant::now();
    let (raw_rows, raw_bytes) = runtime.block_on(raw_read(&db));
    let raw_seconds = started.elapsed().as_secs_f64();

    reset_own_peak();
    let before = peak_kib("self");
    let started = Instant::now();
    let (governed_rows, governed_bytes) = runtime.block_on(governed_read(&db, &gate, &keys));
    let governed_seconds = started.elapsed().as_secs_f64();
    let governed_peak = peak_kib("self");
    runtime.block_on(db.close());

    let (http_rows, http_seconds, server_idle, server_peak) = http_read(&data_dir);
    assert_eq!(http_rows, governed_rows, "HTTP and in-process reads return the same rows");

    let scanned = raw_rows as f64;
    println!(
        "{raw_rows} stored xAPI statements; {governed_rows} of them pass the purpose's consent and retention rules"
    );
    println!(
        "raw scan-and-serialise (baseline): {:>9.0} rows/s  {:>6.1} s  {:>5} MiB out",
        scanned / raw_seconds,
        raw_seconds,
        raw_bytes >> 20
    );
    println!(
        "governed read, in-process:         {:>9.0} rows/s  {:>6.1} s  {:>5} MiB out  ratio {:.3}×",
        scanned / governed_seconds,
        governed_seconds,
        governed_bytes >> 20,
        raw_seconds / governed_seconds
    );
    println!(
        "governed read, HTTP NDJSON:        {:>9.0} rows/s  {:>6.1} s                ratio {:.3}×",
        scanned / http_seconds,
        http_seconds,
        raw_seconds / http_seconds
    );
    println!(
        "peak memory: in-process read {} MiB (reset to {} MiB before it); server process {} MiB (idle {} MiB)",
        governed_peak >> 10,
        before >> 10,
        server_peak >> 10,
        server_idle >> 10
    );
}
