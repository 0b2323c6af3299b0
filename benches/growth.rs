//! How each cost grows with the institution: the demo institution at 1×, 10× and 100×
//! (2,000 → 200,000 students, ~200k → ~20M records), each seeded by `consentry serve --demo`
//! and measured over HTTP against a release `consentry serve` on SQLite. Every figure is
//! reported next to the same figure at the smallest scale, measured in the same run.
//!
//! `cargo bench --bench growth`; `GROWTH_SCALES=1,10` picks the scales. The stores are
//! built once under `target/bench-growth-<scale>/` (100×: ~16 GB and most of an hour) and
//! reused; each run adds ~2,000 statements and a few hundred choices to each.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly on set-up errors")]

use std::path::Path;
use std::time::{Duration, Instant};

use consentry::db::{self, Db};
use consentry::timestamp::Timestamp;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use uuid::Uuid;

mod server;

use server::Server;

const SAMPLES: usize = 30;
const INGEST_BATCH: usize = 100;
const WINDOW: (&str, &str) = ("2026-02-02T00:00:00Z", "2026-06-29T00:00:00Z");

/// One figure of one scale.
struct Figure {
    name: &'static str,
    unit: &'static str,
    value: f64,
}

fn scales() -> Vec<f64> {
    std::env::var("GROWTH_SCALES")
        .unwrap_or_else(|_| "1,10,100".to_owned())
        .split(',')
        .map(|scale| scale.trim().parse().expect("GROWTH_SCALES lists numbers, e.g. 1,10,100"))
        .collect()
}

/// Facts of the store as seeded, read before the server starts, and the first student who
/// has not objected to the personal dashboard (to change their choice back and forth).
fn store_facts(data_dir: &Path) -> (Vec<Figure>, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let file = data_dir.join("consentry.db");
        let db = Db::connect(&db::sqlite_url(&file), 1).await.unwrap();
        let students: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subjects").fetch_one(db.pool()).await.unwrap();
        let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(db.pool()).await.unwrap();
        let (started, finished): (String, String) =
            sqlx::query_as("SELECT seeded_at, finished_at FROM demo_seed").fetch_one(db.pool()).await.unwrap();
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events").fetch_one(db.pool()).await.unwrap();
        let login = sqlx::query_scalar(
            "SELECT users.id FROM users JOIN subjects ON subjects.id = users.subject_id WHERE NOT EXISTS \
             (SELECT 1 FROM consent_records WHERE consent_records.subject_id = users.subject_id \
             AND purpose_id = 'personal-dashboard') ORDER BY users.id LIMIT 1",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        db.close().await;
        let seconds = |text: &str| Timestamp::parse(text).unwrap().unix_millis() as f64 / 1000.0;
        let bytes: u64 = ["consentry.db", "consentry.db-wal"]
            .iter()
            .filter_map(|name| std::fs::metadata(data_dir.join(name)).ok())
            .map(|metadata| metadata.len())
            .sum();
        let figures = vec![
            figure("students", "", students as f64),
            figure("records", "", records as f64),
            figure("audit events", "", events as f64),
            figure("store on disk", "MiB", bytes as f64 / 1_048_576.0),
            figure("seeding (when built)", "s", seconds(&finished) - seconds(&started)),
        ];
        (figures, login)
    })
}

fn figure(name: &'static str, unit: &'static str, value: f64) -> Figure {
    Figure { name, unit, value }
}

/// The median of `SAMPLES` calls, in milliseconds.
fn median_ms(samples: usize, mut call: impl FnMut(usize)) -> f64 {
    let mut times: Vec<f64> = (0..samples)
        .map(|n| {
            let started = Instant::now();
            call(n);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn ok(request: RequestBuilder) -> Value {
    let response = request.send().unwrap();
    let status = response.status();
    let body = response.text().unwrap();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn token(client: &Client, url: &str, sub: &str) -> String {
    let issued = ok(client.post(format!("{url}/api/v1/demo/tokens")).json(&json!({ "sub": sub })));
    issued["access_token"].as_str().unwrap().to_owned()
}

fn statements(login: &str, batch: usize) -> Value {
    (0..INGEST_BATCH)
        .map(|n| {
            json!({
                "id": Uuid::new_v4(),
                "timestamp": format!("2026-03-{:02}T10:00:00Z", (batch + n) % 28 + 1),
                "actor": { "account": { "homePage": "https://lms.hogeschool-demo.example", "name": login } },
                "verb": { "id": "http://adlnet.gov/expapi/verbs/experienced" },
                "object": { "id": format!("https://lms.hogeschool-demo.example/course/c01/activity/{}", n % 40 + 1),
                            "definition": { "type": "http://adlnet.gov/expapi/activities/lesson" } },
                "context": { "contextActivities": { "parent": [{ "id": "https://lms.hogeschool-demo.example/course/c01" }] } }
            })
        })
        .collect()
}

fn measure(scale: f64) -> Vec<Figure> {
    let data_dir = server::demo_store(&format!("growth-{scale}"), scale);
    let (mut figures, login) = store_facts(&data_dir);
    let server = Server::demo(&data_dir, scale);
    let url = server.url.as_str();
    let client = Client::builder().timeout(Duration::from_secs(3600)).build().unwrap();
    let (officer, student) = (token(&client, url, "po1"), token(&client, url, &login));
    let idle = server.peak_kib();

    // The whole read first: it is the one that grows with the data, and it warms the cache.
    let (lines, seconds) = server.stream_dashboard_read();
    eprintln!("scale {scale}: streamed {lines} records in {seconds:.1} s");
    figures.push(figure("stream read, personal-dashboard", "rows/s", lines as f64 / seconds));
    figures.push(figure("server memory: idle", "MiB", idle as f64 / 1024.0));
    figures.push(figure("server memory: peak after the stream", "MiB", server.peak_kib() as f64 / 1024.0));

    for (purpose, client_id) in [("personal-dashboard", "demo-dashboard"), ("learning-research", "demo-research")] {
        let page = median_ms(SAMPLES, |_| {
            ok(client
                .get(format!("{url}/api/v1/purposes/{purpose}/records?limit=50"))
                .basic_auth(client_id, Some(format!("{client_id}-secret"))));
        });
        let name = if purpose == "learning-research" {
            "page of 50, learning-research (consent)"
        } else {
            "page of 50, personal-dashboard (objection)"
        };
        figures.push(figure(name, "ms", page));
    }
    let aggregate = median_ms(1, |_| {
        ok(client
            .post(format!("{url}/api/v1/purposes/course-improvement/aggregates"))
            .basic_auth("demo-dashboard", Some("demo-dashboard-secret"))
            .json(&json!({ "group_by": ["course", "week"],
                           "metrics": [{ "metric": "count" }, { "metric": "distinct_students" }] })));
    });
    figures.push(figure("aggregate by course and week", "ms", aggregate));
    let choice = median_ms(SAMPLES, |n| {
        let event = if n % 2 == 0 { "objected" } else { "objection_lifted" };
        ok(client
            .put(format!("{url}/api/v1/me/consents/personal-dashboard"))
            .bearer_auth(&student)
            .json(&json!({ "event": event })));
    });
    figures.push(figure("a student's choice", "ms", choice));
    let own_data = median_ms(SAMPLES, |_| {
        ok(client.get(format!("{url}/api/v1/me/data")).bearer_auth(&student));
    });
    figures.push(figure("a student's own data", "ms", own_data));
    let ingest = median_ms(SAMPLES, |n| {
        ok(client
            .post(format!("{url}/xapi/statements"))
            .basic_auth("demo-lms", Some("demo-lms-secret"))
            .header("X-Experience-API-Version", "1.0.3")
            .json(&statements(&login, n)));
    });
    figures.push(figure("ingest, batch of 100 statements", "ms", ingest));
    let verify = median_ms(1, |_| {
        ok(client.get(format!("{url}/api/v1/audit/verify")).bearer_auth(&officer));
    });
    figures.push(figure("audit chain verification", "ms", verify));
    // A window of its own each run: a window run before answers with its first report.
    let until = Timestamp::parse(WINDOW.1).unwrap().plus_seconds(Timestamp::now().unix_seconds() % 86_400);
    let run = median_ms(1, |_| {
        let report = ok(client
            .post(format!("{url}/api/v1/analytics/runs"))
            .bearer_auth(&officer)
            .json(&json!({ "since": WINDOW.0, "until": until.to_storage() })));
        assert_eq!(report["repeated"], false, "{report}");
    });
    figures.push(figure("analytics run (dropout risk, whole institution)", "ms", run));
    figures.push(figure("server memory: peak after the analytics run", "MiB", server.peak_kib() as f64 / 1024.0));
    figures
}

fn main() {
    let scales = scales();
    let measured: Vec<(f64, Vec<Figure>)> = scales.iter().map(|scale| (*scale, measure(*scale))).collect();
    let Some((base_scale, base)) = measured.first() else { return };
    println!("\neach figure at each scale, then its ratio to the same figure at scale {base_scale}");
    for (index, first) in base.iter().enumerate() {
        let mut line = format!("{:<48}", first.name);
        for (scale, figures) in &measured {
            let value = figures[index].value;
            let ratio = value / first.value;
            line.push_str(&format!(" | {scale}×: {value:>12.1} {:<6} ({ratio:>6.2}×)", first.unit));
        }
        println!("{line}");
    }
}
