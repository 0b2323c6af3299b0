//! The audit log: search, export, verification, tampering, concurrency, pruning.

use std::process::Command;

use consentry::audit::{self, Actor, Event, Report};
use consentry::datadir::{DataDir, SigningKey};
use consentry::db::Db;
use consentry::timestamp::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem, binary};
use crate::on_both_stores;

on_both_stores!(
    a_privacy_officer_searches_with_filters_and_pages,
    students_are_refused_and_the_refusal_is_logged,
    bad_search_and_export_parameters_are_422_naming_the_parameter,
    exports_verify_on_their_own_in_both_formats_and_fail_when_edited,
    tampering_is_detected_and_the_first_bad_seq_named,
    eight_concurrent_writers_leave_no_gap_and_no_fork,
    pruning_leaves_a_signed_anchor_from_which_the_rest_verifies,
);

fn audit_key(app: &TestApp) -> SigningKey {
    DataDir::open_existing(&app.data_dir()).unwrap().load_keys(false).unwrap().audit_signing
}

/// Records `count` events directly, each in its own transaction.
async fn record_events(db: &Db, count: usize, action: &str) {
    for index in 0..count {
        let mut tx = db.begin().await.unwrap();
        let event = Event::new(Actor::system("test"), action, "Test").details(json!({ "index": index }));
        audit::record(&mut tx, event).await.unwrap();
        tx.commit().await.unwrap();
    }
}

/// The seq of the last event: what the demo seeding left before a test begins.
async fn head_seq(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT seq FROM audit_head").fetch_one(db.pool()).await.unwrap()
}

/// `consentry audit verify` on the app's live log: (exit code, output). Async, so that the
/// in-process server keeps serving (and releasing its locks) while the command runs.
async fn verify_cli(app: &TestApp) -> (i32, String) {
    let mut command = tokio::process::Command::new(binary());
    command.args(["audit", "verify", "--data-dir", app.data_dir().to_str().unwrap()]);
    command.args(["--database-url", app.database_url().expose()]);
    let output = command.output().await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap(), text)
}

async fn a_privacy_officer_searches_with_filters_and_pages(store: Store) {
    let app = TestApp::spawn(store).await;
    let seeded = head_seq(&app.db().await).await;
    for sub in ["s0001", "s0002", "s0003", "mentor01"] {
        app.token_for(sub).await;
    }
    let officer = app.token_for("po1").await;

    let all: Value = app.get_as(&format!("/api/v1/audit/events?cursor={seeded}"), &officer).await.json().await.unwrap();
    let mentor: Value = app.get_as("/api/v1/audit/events?actor=mentor01", &officer).await.json().await.unwrap();
    let first_page: Value =
        app.get_as(&format!("/api/v1/audit/events?limit=2&cursor={seeded}"), &officer).await.json().await.unwrap();
    let cursor = first_page["next_cursor"].as_str().unwrap().to_owned();
    let second_page: Value =
        app.get_as(&format!("/api/v1/audit/events?limit=2&cursor={cursor}"), &officer).await.json().await.unwrap();

    let seqs = |page: &Value| {
        page["events"].as_array().unwrap().iter().map(|event| event["seq"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    let after = |count: i64| (seeded + 1..=seeded + count).collect::<Vec<_>>();
    assert_eq!(seqs(&all), after(7), "five tokens issued, the access decision, then this search");
    assert_eq!(mentor["events"].as_array().unwrap().len(), 1);
    assert_eq!(mentor["events"][0]["actor"]["id"], "mentor01");
    assert_eq!(seqs(&first_page), after(2));
    assert_eq!(seqs(&second_page), after(4)[2..]);
    assert_eq!(all["events"][0]["action"], "demo.token_issued");
    let seeding: Value = app.get_as("/api/v1/audit/events?action=demo.seeded", &officer).await.json().await.unwrap();
    assert_eq!(seeding["events"][0]["seq"], seeded, "the seeding is the last event it writes");
    let searches: Value =
        app.get_as("/api/v1/audit/events?action=audit.searched", &officer).await.json().await.unwrap();
    assert_eq!(searches["events"].as_array().unwrap().len(), 6, "every search is itself recorded");
    assert_eq!(searches["events"][0]["actor"]["id"], "po1");
    let future =
        app.get_as("/api/v1/audit/events?from=2099-01-01T00:00:00Z", &officer).await.json::<Value>().await.unwrap();
    assert_eq!(future["events"], json!([]));
    assert!(future["next_cursor"].is_null());
}

async fn students_are_refused_and_the_refusal_is_logged(store: Store) {
    let app = TestApp::spawn(store).await;
    let student = app.token_for("s0001").await;
    let mentor = app.token_for("mentor01").await;
    let dpo = app.token_for("dpo1").await;

    let search = app.get_as("/api/v1/audit/events", &student).await;
    let export = app.get_as("/api/v1/audit/export", &mentor).await;
    let verify = app.get_as("/api/v1/audit/verify", &student).await;

    assert_problem(search, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(export, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(verify, StatusCode::FORBIDDEN, "forbidden").await;
    let denials: Value = app.get_as("/api/v1/audit/events?decision=deny", &dpo).await.json().await.unwrap();
    let denials = denials["events"].as_array().unwrap();
    assert_eq!(denials.len(), 3);
    assert_eq!(denials[0]["actor"]["id"], "s0001");
    assert_eq!(denials[0]["details"]["action"], "ReadAudit");
    assert_eq!(denials[1]["actor"]["id"], "mentor01");
    assert!(!denials[0]["reasons"].as_array().unwrap().is_empty(), "why it was refused");
    let anonymous = app.get("/api/v1/audit/events").await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn bad_search_and_export_parameters_are_422_naming_the_parameter(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;

    for (path, field) in [
        ("/api/v1/audit/export?from=2026-03-01T00:00:00Z&until=2026-02-01T00:00:00Z", "until"),
        ("/api/v1/audit/export?recipient=age1notakey", "recipient[0]"),
        ("/api/v1/audit/export?format=xml", "format"),
        ("/api/v1/audit/events?from=yesterday", "from"),
        ("/api/v1/audit/events?limit=0", "limit"),
        ("/api/v1/audit/events?cursor=abc", "cursor"),
        ("/api/v1/audit/events?decision=maybe", "decision"),
    ] {
        let response = app.get_as(path, &officer).await;
        let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
}

async fn exports_verify_on_their_own_in_both_formats_and_fail_when_edited(store: Store) {
    let app = TestApp::spawn(store).await;
    let seeded = head_seq(&app.db().await).await;
    record_events(&app.db().await, 30, "test.happened").await;
    let key = audit_key(&app);
    audit::checkpoint_now(&app.db().await, &key).await.unwrap();
    let officer = app.token_for("po1").await;

    for format in ["jsonl", "csv"] {
        let response = app.get_as(&format!("/api/v1/audit/export?format={format}"), &officer).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-disposition"].to_str().unwrap().contains(&format!(".{format}")));
        let bytes = response.bytes().await.unwrap().to_vec();

        let (report, _) = audit::verify_export(bytes.as_slice(), Some(key.public_key())).unwrap();

        assert!(report.valid, "{format}: {report:?}");
        assert!(report.events >= 31, "{format}: {report:?}");
        assert_eq!(
            report.checkpoints,
            1,
            "{format}: the checkpoint among the events is included: {}",
            String::from_utf8_lossy(&bytes)
        );
        let edited = String::from_utf8(bytes).unwrap().replacen("\"index\":7", "\"index\":8", 1).replacen(
            "\"\"index\"\":7",
            "\"\"index\"\":8",
            1,
        );
        let (report, _) = audit::verify_export(edited.as_bytes(), Some(key.public_key())).unwrap();
        assert!(!report.valid, "{format}: an edited export fails");
        assert_eq!(report.tampering.unwrap().seq, seeded + 8, "{format}: the event with index 7");
        let cut_short: String = edited.lines().take(20).map(|line| format!("{line}\n")).collect();
        let (report, _) = audit::verify_export(cut_short.as_bytes(), Some(key.public_key())).unwrap();
        assert!(!report.valid, "{format}: an export missing its end fails");
    }
    let stranger = DataDir::open(&tempfile::tempdir().unwrap().path().join("x")).unwrap().load_keys(false).unwrap();
    let bytes = app.get_as("/api/v1/audit/export", &officer).await.bytes().await.unwrap();
    let (report, _) = audit::verify_export(bytes.as_ref(), Some(stranger.audit_signing.public_key())).unwrap();
    assert!(!report.valid, "an export does not verify with another installation's key");
}

#[tokio::test]
async fn an_encrypted_export_decrypts_with_the_age_identity_and_verifies() {
    let app = TestApp::spawn(Store::Sqlite).await;
    record_events(&app.db().await, 5, "test.happened").await;
    let officer = app.token_for("dpo1").await;
    let identity = age::x25519::Identity::generate();
    let identity_file = tempfile::NamedTempFile::new().unwrap();
    // The age command-line tool's identity file format: comments, then the secret key.
    let secret = secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned();
    std::fs::write(
        identity_file.path(),
        format!("# created: 2026-11-23\n# public key: {}\n{secret}\n", identity.to_public()),
    )
    .unwrap();
    let other = age::x25519::Identity::generate().to_public();

    let response = app
        .get_as(&format!("/api/v1/audit/export?recipient={}&recipient={other}", identity.to_public()), &officer)
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    let encrypted = response.bytes().await.unwrap();
    assert!(audit::is_encrypted(&encrypted));
    let export_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(export_file.path(), &encrypted).unwrap();
    let plaintext =
        audit::decrypt(encrypted.as_ref(), std::io::BufReader::new(std::fs::File::open(identity_file.path()).unwrap()))
            .unwrap();
    let (report, _) = audit::verify_export(plaintext, Some(audit_key(&app).public_key())).unwrap();
    assert!(report.valid, "{report:?}");

    let verified = tokio::process::Command::new(binary())
        .args(["audit", "verify", "--export", export_file.path().to_str().unwrap()])
        .args(["--identity", identity_file.path().to_str().unwrap(), "--data-dir", app.data_dir().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stderr));
    assert!(String::from_utf8_lossy(&verified.stdout).starts_with("verified:"));
    let without_identity = Command::new(binary())
        .args(["audit", "verify", "--export", export_file.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(without_identity.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without_identity.stderr).contains("--identity"));
}

async fn tampering_is_detected_and_the_first_bad_seq_named(store: Store) {
    // Seqs count from the last event the demo seeding wrote.
    let cases: [(&str, Vec<String>, i64); 4] = [
        ("edited details", vec!["UPDATE audit_events SET details = '{\"index\":99}' WHERE seq = {6}".to_owned()], 6),
        ("deleted event", vec!["DELETE FROM audit_events WHERE seq = {4}".to_owned()], 4),
        (
            "reordered events",
            vec![
                "UPDATE audit_events SET seq = -1 WHERE seq = {3}".to_owned(),
                "UPDATE audit_events SET seq = {3} WHERE seq = {4}".to_owned(),
                "UPDATE audit_events SET seq = {4} WHERE seq = -1".to_owned(),
            ],
            3,
        ),
        (
            "tail truncated past a checkpoint",
            vec![
                "DELETE FROM audit_events WHERE seq > {8}".to_owned(),
                "UPDATE audit_head SET seq = {8}, hash = (SELECT hash FROM audit_events WHERE seq = {8}) WHERE id = 1"
                    .to_owned(),
            ],
            9,
        ),
    ];
    for (case, statements, bad) in cases {
        let app = TestApp::spawn(store.clone()).await;
        let db = app.db().await;
        let seeded = head_seq(&db).await;
        record_events(&db, 10, "test.happened").await;
        audit::checkpoint_now(&db, &audit_key(&app)).await.unwrap();
        record_events(&db, 5, "test.happened").await;
        let officer = app.token_for("po1").await;
        let (code, output) = verify_cli(&app).await;
        assert_eq!(code, 0, "{case}: an untouched log verifies: {output}");
        assert!(output.contains(&format!("{} events", seeded + 16)), "{output}");

        for statement in statements {
            let mut sql = statement;
            for offset in [3, 4, 6, 8] {
                sql = sql.replace(&format!("{{{offset}}}"), &(seeded + offset).to_string());
            }
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(db.pool()).await.unwrap();
        }

        let bad_seq = seeded + bad;
        let (code, output) = verify_cli(&app).await;
        assert_eq!(code, 1, "{case}: {output}");
        assert!(output.contains(&format!("TAMPERED at seq {bad_seq}:")), "{case}: {output}");
        let report: Value = app.get_as("/api/v1/audit/verify", &officer).await.json().await.unwrap();
        assert_eq!(report["valid"], false, "{case}");
        // The verification request's own access decision is appended first: a cut tail then
        // shows one seq later over HTTP than to the command line, which appends nothing.
        assert!(report["tampering"]["seq"].as_i64().unwrap() >= bad_seq, "{case}: {report}");
    }
}

async fn eight_concurrent_writers_leave_no_gap_and_no_fork(store: Store) {
    let app = TestApp::builder(store).configure(|config| config.demo = false).spawn().await;
    let db = Db::connect(&app.database_url(), 8).await.unwrap();

    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let db = db.clone();
            tokio::spawn(async move { record_events(&db, 500, &format!("test.writer{writer}")).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }

    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_events ORDER BY seq").fetch_all(db.pool()).await.unwrap();
    assert_eq!(seqs, (1..=4000).collect::<Vec<i64>>());
    let report: Report = audit::verify_store(&db, audit_key(&app).public_key()).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.events, 4000);
}

async fn pruning_leaves_a_signed_anchor_from_which_the_rest_verifies(store: Store) {
    let app = TestApp::spawn(store).await;
    let db = app.db().await;
    let key = audit_key(&app);
    let seeded = head_seq(&db).await;
    record_events(&db, 6, "test.old").await;
    audit::checkpoint_now(&db, &key).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    record_events(&db, 4, "test.recent").await;

    let removed = audit::prune(&db, &key, cutoff).await.unwrap();

    assert_eq!(removed, seeded as u64 + 6, "the seeding's events and six old ones");
    let report = audit::verify_store(&db, key.public_key()).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.first_seq, Some(seeded + 7));
    assert_eq!(report.events, 5, "the four recent events and the pruning's own");
    let pruned: String = sqlx::query_scalar("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(pruned, "audit.pruned");
    sqlx::query("UPDATE audit_anchor SET hash = $1").bind("ab".repeat(32)).execute(db.pool()).await.unwrap();
    let report = audit::verify_store(&db, key.public_key()).await.unwrap();
    assert_eq!(report.tampering.map(|tampering| tampering.seq), Some(seeded + 7), "a forged anchor is caught");
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_events_and_on_shutdown() {
    let app =
        TestApp::builder(Store::Sqlite).configure(|config| config.audit.checkpoint_every_events = 5).spawn().await;
    let db = app.db().await;
    record_events(&db, 7, "test.happened").await;
    let written = head_seq(&db).await;

    let mut checkpoints = Vec::new();
    for _ in 0..50 {
        checkpoints = audit::load_checkpoints(db.pool(), 0, i64::MAX).await.unwrap();
        if !checkpoints.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        checkpoints.first().is_some_and(|checkpoint| checkpoint.seq >= 5 && checkpoint.seq <= written),
        "{checkpoints:?}"
    );
    record_events(&db, 2, "test.happened").await;
    let (data_dir, _) = app.stop().await;

    let checkpoints = audit::load_checkpoints(db.pool(), 0, i64::MAX).await.unwrap();
    assert_eq!(checkpoints.last().map(|checkpoint| checkpoint.seq), Some(written + 2), "a last checkpoint on shutdown");
    drop(data_dir);
}

#[test]
fn a_server_killed_while_writing_leaves_a_chain_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = crate::cli::start_server(dir.path(), &["--demo"]);
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                for _ in 0..200 {
                    let body = json!({ "sub": format!("s000{}", writer + 1) });
                    if client.post(format!("http://{addr}/api/v1/demo/tokens")).json(&body).send().is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(700));

    server.kill().unwrap();
    server.wait().unwrap();
    for writer in writers {
        writer.join().unwrap();
    }

    let verified = Command::new(binary()).args(["audit", "verify", "--data-dir", &data_dir]).output().unwrap();
    let output = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(0), "{output}{}", String::from_utf8_lossy(&verified.stderr));
    let events: u64 = output.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(events > 0, "{output}");
}

#[tokio::test]
async fn the_public_key_verifies_the_logs_checkpoints() {
    let app = TestApp::spawn(Store::Sqlite).await;
    record_events(&app.db().await, 3, "test.happened").await;
    let checkpoint = audit::checkpoint_now(&app.db().await, &audit_key(&app)).await.unwrap().unwrap();

    let key: audit::PublicKey = app.get("/api/v1/audit/public-key").await.json().await.unwrap();

    assert_eq!(key.algorithm, "Ed25519");
    assert!(checkpoint.verifies_with(&key.bytes().unwrap()));
    assert!(key.pem.contains("BEGIN PUBLIC KEY"));
}
