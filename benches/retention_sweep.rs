//! A retention sweep of the demo institution at 5× (10,000 students, ~1.1M records), run
//! twice on copies: once without interruption, once killed with SIGKILL part-way and then
//! run again. Prints the rate, the longest wait of a small write transaction during the
//! sweep (no long lock), and whether both copies end identical.
//!
//! `cargo bench --bench retention_sweep`; the store is seeded once under
//! `target/bench-sweep-source/` and copied for each run.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use consentry::db::{self, Db};
use ring::digest::{Context, SHA256};
use sqlx::Row;

#[allow(dead_code, reason = "this bench uses the shared demo store, not the server handle")]
mod server;

const AS_OF: &str = "2028-06-01T00:00:00Z";

fn copy_store(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn open(dir: &Path) -> Db {
    let db = Db::connect(&db::sqlite_url(&dir.join("consentry.db")), 4).await.unwrap();
    db.migrate().await.unwrap();
    db
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(db.pool()).await.unwrap()
}

/// SHA-256 over the ids of the records that remain, in order: equal stores, equal digests.
async fn fingerprint(db: &Db) -> String {
    let mut context = Context::new(&SHA256);
    let mut rows = sqlx::query("SELECT id FROM records ORDER BY id").fetch(db.pool());
    while let Some(row) = futures::StreamExt::next(&mut rows).await {
        let id: String = row.unwrap().try_get(0).unwrap();
        context.update(id.as_bytes());
    }
    context.finish().as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn sweep(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["retention", "sweep", "--as-of", AS_OF, "--data-dir", dir.to_str().unwrap()])
        .env("CONSENTRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    // Seeding stamps every record's expiry, so the copies are ready to sweep.
    let source = server::demo_store("sweep-source", 5.0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (whole, killed) = (root.join("bench-sweep-whole"), root.join("bench-sweep-killed"));
    copy_store(&source, &whole);
    copy_store(&source, &killed);

    let (total, due) = runtime.block_on(async {
        let db = open(&whole).await;
        let as_of = consentry::timestamp::Timestamp::parse(AS_OF).unwrap().to_storage();
        let counts = (
            count(&db, "SELECT COUNT(*) FROM records").await,
            count(&db, &format!("SELECT COUNT(*) FROM records WHERE expires_at <= '{as_of}'")).await,
        );
        db.close().await;
        counts
    });

    // Uninterrupted, with a small write transaction every 50 ms alongside.
    let started = Instant::now();
    let mut child = sweep(&whole);
    let longest_wait = runtime.block_on(async {
        let db = Db::connect(&db::sqlite_url(&whole.join("consentry.db")), 2).await.unwrap();
        let mut longest = Duration::ZERO;
        while child.try_wait().unwrap().is_none() {
            let began = Instant::now();
            let mut tx = db.begin().await.unwrap();
            sqlx::query("UPDATE retention_state SET requested = requested WHERE id = 1")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            longest = longest.max(began.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        db.close().await;
        longest
    });
    let seconds = started.elapsed().as_secs_f64();
    assert!(child.wait().unwrap().success());

    // Killed once a third is gone, then run again.
    let mut child = sweep(&killed);
    let deleted_when_killed = runtime.block_on(async {
        let db = Db::connect(&db::sqlite_url(&killed.join("consentry.db")), 2).await.unwrap();
        while total - count(&db, "SELECT COUNT(*) FROM records").await <= due / 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let left = count(&db, "SELECT COUNT(*) FROM records").await;
        db.close().await;
        total - left
    });
    let output = sweep(&killed).wait_with_output().unwrap();
    assert!(output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);

    let (whole_print, killed_print, events) = runtime.block_on(async {
        let (a, b) = (open(&whole).await, open(&killed).await);
        let totals: Vec<String> =
            sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'retention.swept' ORDER BY seq")
                .fetch_all(b.pool())
                .await
                .unwrap();
        (fingerprint(&a).await, fingerprint(&b).await, totals)
    });
    println!("{total} records, {due} expired as of {AS_OF}");
    println!("uninterrupted sweep: {:.1} s, {:.0} records/s", seconds, due as f64 / seconds);
    println!("longest wait of a small write transaction during the sweep: {:.1} ms", longest_wait.as_secs_f64() * 1e3);
    println!(
        "killed with SIGKILL after {deleted_when_killed} deletions; the next sweep reported: {}",
        report.lines().next().unwrap_or("")
    );
    println!("audit events of the killed copy: {events:?}");
    println!(
        "remaining records identical to the uninterrupted sweep: {} ({})",
        whole_print == killed_print,
        &whole_print[..16]
    );
    assert_eq!(whole_print, killed_print);
}
