//! Retention: expiry, sweeps (dry run, as-of, resumed after kill -9), erasure on withdrawal
//! and on request.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use consentry::timestamp::{Clock, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{Store, TestApp, binary};
use crate::on_both_stores;

on_both_stores!(
    expired_records_leave_storage_and_reads_while_the_rest_stays,
    a_withdrawal_erases_what_only_that_consent_kept,
    an_erasure_request_deletes_everything_but_what_the_law_keeps,
);

/// `consentry retention sweep` against the app's store.
fn sweep_command(app: &TestApp, extra: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.args(["retention", "sweep", "--data-dir", app.data_dir().to_str().unwrap()]).args(extra);
    if let Some(url) = &app.config.database_url {
        command.args(["--database-url", url.expose()]);
    }
    command.stdin(Stdio::null());
    command
}

async fn sweep(app: &TestApp, extra: &[&str]) -> String {
    let output = sweep_command(app, extra).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The number after `word` in the first line of a sweep's output.
fn count_after(text: &str, word: &str) -> u64 {
    let first = text.lines().next().unwrap();
    first.split(word).nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(app.db().await.pool()).await.unwrap()
}

async fn read_count(app: &TestApp, purpose: &str, client: &str) -> usize {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/purposes/{purpose}/records")))
        .basic_auth(client, Some(format!("{client}-secret")))
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap().lines().count()
}

async fn expired_records_leave_storage_and_reads_while_the_rest_stays(store: Store) {
    let clock = Clock::default();
    let sqlite = matches!(store, Store::Sqlite);
    let app = TestApp::builder(store).clock(clock.clone()).spawn().await;
    let total = count(&app, "SELECT COUNT(*) FROM records").await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM records WHERE expires_at IS NULL").await,
        0,
        "every record has its expiry"
    );

    // A year and a half on: the one-year purposes' data has gone, course-improvement (two
    // years) still holds the activity records.
    let dashboard_before = read_count(&app, "personal-dashboard", "demo-dashboard").await;
    clock.advance_seconds(548 * 86_400);
    let as_of = clock.now().to_storage();
    let due = count(&app, &format!("SELECT COUNT(*) FROM records WHERE expires_at <= '{as_of}'")).await;
    assert!(due > 0 && due < total, "{due} of {total}");

    let dry = sweep(&app, &["--dry-run", "--as-of", &as_of]).await;
    assert_eq!(count_after(&dry, "would delete"), due as u64, "{dry}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM records").await, total, "a dry run deletes nothing");
    let real = sweep(&app, &["--as-of", &as_of]).await;
    assert_eq!(count_after(&real, "deleted"), due as u64, "{real}");
    assert!(real.contains("remaining:"), "{real}");
    assert!(real.contains("personal-dashboard / activity: from"), "{real}");

    assert_eq!(count(&app, "SELECT COUNT(*) FROM records").await, total - due);
    assert_eq!(count(&app, &format!("SELECT COUNT(*) FROM records WHERE expires_at <= '{as_of}'")).await, 0);
    if sqlite {
        // The freed pages went back to the file system, in steps, not just to SQLite's free list.
        assert_eq!(count(&app, "SELECT freelist_count FROM pragma_freelist_count()").await, 0);
    }
    let kept: i64 = count(&app, "SELECT COUNT(*) FROM records WHERE category = 'activity'").await;
    assert!(kept > 0, "records within another purpose's retention are untouched");
    // Back to today: the grades the one-year purposes held are gone from the dashboard's
    // read too; the activity course-improvement still holds is in its window again.
    clock.advance_seconds(-548 * 86_400);
    let dashboard_after = read_count(&app, "personal-dashboard", "demo-dashboard").await;
    assert!(dashboard_after > 0 && dashboard_after < dashboard_before, "{dashboard_after} of {dashboard_before}");

    let officer = app.token_for("po1").await;
    let events: Value = app.get_as("/api/v1/audit/events?action=retention.swept", &officer).await.json().await.unwrap();
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "one audit event per sweep");
    assert_eq!(events[0]["details"]["total"], due);
    let again = sweep(&app, &["--as-of", &as_of]).await;
    assert_eq!(count_after(&again, "deleted"), 0);
    let bad = sweep_command(&app, &["--as-of", "next year"]).output().await.unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--as-of"));
}

async fn a_withdrawal_erases_what_only_that_consent_kept(store: Store) {
    let app = TestApp::spawn(store).await;
    // A student with wellbeing answers who consented to neither wellbeing purpose.
    let mut chosen = None;
    for number in 1..=20 {
        let login = format!("s{number:04}");
        let token = app.token_for(&login).await;
        let mine: Value = app.get_as("/api/v1/me/purposes", &token).await.json().await.unwrap();
        let state = |purpose: &str| {
            mine.as_array().unwrap().iter().find(|entry| entry["id"] == purpose).unwrap()["state"].clone()
        };
        if state("learning-research") == "not_consented" && state("wellbeing-support") == "not_consented" {
            chosen = Some((login, token));
            break;
        }
    }
    let (login, token) = chosen.unwrap();
    let subject: String = sqlx::query_scalar("SELECT subject_id FROM users WHERE id = $1")
        .bind(&login)
        .fetch_one(app.db().await.pool())
        .await
        .unwrap();
    let of = |category: &str| {
        format!("SELECT COUNT(*) FROM records WHERE subject_id = '{subject}' AND category = '{category}'")
    };
    let answers = count(&app, &of("wellbeing")).await;
    let activity = count(&app, &of("activity")).await;
    assert!(answers > 0 && activity > 0);

    let give = app.put_as("/api/v1/me/consents/learning-research", &token, &json!({ "event": "given" })).await;
    assert_eq!(give.status(), StatusCode::OK);
    let kept_until: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT MIN(expires_at) FROM records WHERE subject_id = '{subject}' AND category = 'wellbeing'"
    )))
    .fetch_one(app.db().await.pool())
    .await
    .unwrap();
    assert!(kept_until.unwrap() > Timestamp::now().to_storage(), "consent keeps the answers");

    let withdraw = app.put_as("/api/v1/me/consents/learning-research", &token, &json!({ "event": "withdrawn" })).await;
    assert_eq!(withdraw.status(), StatusCode::OK);
    assert_eq!(count(&app, &of("wellbeing")).await, 0, "erased at once, with the withdrawal");
    assert_eq!(count(&app, &of("activity")).await, activity, "other purposes still hold the activity");

    let officer = app.token_for("po1").await;
    let events: Value = app
        .get_as(&format!("/api/v1/audit/events?action=consent.withdrawn&subject={subject}"), &officer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["events"][0]["details"]["records_erased"], json!({ "wellbeing": answers }));
}

#[tokio::test]
async fn a_sweep_killed_part_way_is_finished_by_the_next_without_counting_twice() {
    let app = TestApp::builder(Store::Sqlite).configure(|config| config.demo_scale = 0.25).spawn().await;
    let as_of = "2031-01-01T00:00:00Z";
    let total = count(&app, "SELECT COUNT(*) FROM records").await;
    let due = count(&app, "SELECT COUNT(*) FROM records WHERE expires_at <= '2031-01-01T00:00:00.000000Z'").await;
    assert!(due > 10_000, "{due}");

    let mut running =
        sweep_command(&app, &["--as-of", as_of]).env("CONSENTRY_RETENTION__SWEEP_BATCH", "20").spawn().unwrap();
    // Kill it once some batches have committed and many remain.
    let started = std::time::Instant::now();
    loop {
        let deleted = total - count(&app, "SELECT COUNT(*) FROM records").await;
        if deleted > 1_000 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the sweep did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.start_kill().unwrap();
    running.wait().await.unwrap();
    let left = count(&app, "SELECT COUNT(*) FROM records WHERE expires_at <= '2031-01-01T00:00:00.000000Z'").await;
    assert!(left > 0, "killed part-way");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM retention_sweeps WHERE finished_at IS NULL").await, 1);

    let finished = sweep(&app, &["--as-of", as_of]).await;
    assert!(finished.contains("finishing an interrupted sweep"), "{finished}");
    assert_eq!(count_after(&finished, "deleted"), due as u64, "the interrupted sweep's batches counted once");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM records").await, total - due);
    let officer = app.token_for("po1").await;
    let events: Value = app.get_as("/api/v1/audit/events?action=retention.swept", &officer).await.json().await.unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(events["events"][0]["details"]["total"], due);
}

/// A demo student who never chose anything, so that no audit event names their login.
async fn student_without_choices(app: &TestApp) -> (String, String, String) {
    let db = app.db().await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT u.id, u.subject_id, s.email FROM users u JOIN subjects s ON s.id = u.subject_id \
         WHERE NOT EXISTS (SELECT 1 FROM consent_records c WHERE c.subject_id = u.subject_id) ORDER BY u.id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    rows.into_iter().next().unwrap()
}

async fn an_erasure_request_deletes_everything_but_what_the_law_keeps(store: Store) {
    let app = TestApp::spawn(store).await;
    let (login, subject, email) = student_without_choices(&app).await;
    let mut diplomas = crate::purposes::definition("legal_obligation");
    diplomas["categories"] = json!(["assessment"]);
    diplomas["fields"] = json!(["grade.course", "grade.value"]);
    diplomas["retention"] = json!({ "assessment": "P60Y" });
    let officer = crate::purposes::active_purpose(&app, "diploma-register", diplomas).await;
    let of = |category: &str| {
        format!("SELECT COUNT(*) FROM records WHERE subject_id = '{subject}' AND category = '{category}'")
    };
    let assessment = count(&app, &of("assessment")).await;
    let activity = count(&app, &of("activity")).await;
    assert!(assessment > 0 && activity > 0);

    let needles = [email.clone(), format!("|{login}")];
    let in_files = |needle: &str| {
        ["consentry.db", "consentry.db-wal"].iter().any(|file| {
            let bytes = std::fs::read(app.data_dir().join(file)).unwrap_or_default();
            bytes.windows(needle.len()).any(|window| window == needle.as_bytes())
        })
    };
    let sqlite = app.config.database_url.is_none();
    if sqlite {
        assert!(needles.iter().all(|needle| in_files(needle)), "the search finds them before the erasure");
    }

    let path = format!("/api/v1/subjects/{subject}/erasure");
    let body = json!({ "reason": "Art. 17 request of 2026-11-20, by e-mail" });
    let student = app.token_for("s0001").await;
    let refused = app.post_as(&path, &student, &body).await;
    crate::helpers::assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let empty = app.post_as(&path, &officer, &json!({ "reason": " " })).await;
    crate::helpers::assert_problem(empty, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    let erased = app.post_as(&path, &officer, &body).await;
    assert_eq!(erased.status(), StatusCode::CREATED);
    let certificate: Value = erased.json().await.unwrap();
    let content = &certificate["certificate"];
    assert_eq!(content["subject"], subject.as_str());
    assert_eq!(content["deleted"]["records"]["activity"], activity);
    assert_eq!(content["deleted"]["accounts"], 1);
    assert!(content["deleted"]["identifiers"].as_u64().unwrap() >= 3);
    let kept = content["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0]["category"].as_str(), kept[0]["purpose"].as_str()),
        (Some("assessment"), Some("diploma-register"))
    );
    assert_eq!(kept[0]["records"], assessment);
    assert!(kept[0]["reason"].as_str().unwrap().contains("17(3)(b)"));

    // The signature verifies with the published key over the certificate's canonical JSON.
    let key: Value = app.get_as("/api/v1/audit/public-key", &officer).await.json().await.unwrap();
    let base64 = |field: &Value| STANDARD.decode(field.as_str().unwrap()).unwrap();
    let canonical = serde_jcs::to_vec(content).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, base64(&key["public_key"]))
        .verify(&canonical, &base64(&certificate["signature"]))
        .expect("the certificate's signature verifies");
    let download = app.get_as(&format!("/api/v1/erasures/{}", content["id"].as_str().unwrap()), &officer).await;
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(download.json::<Value>().await.unwrap(), certificate);

    assert_eq!(count(&app, &of("activity")).await, 0);
    assert_eq!(count(&app, &of("assessment")).await, assessment, "kept by law");
    for table in ["subject_identifiers", "group_members", "users"] {
        assert_eq!(
            count(&app, &format!("SELECT COUNT(*) FROM {table} WHERE subject_id = '{subject}'")).await,
            0,
            "{table}"
        );
    }
    let identity: (String, Option<String>) = sqlx::query_as("SELECT display_name, email FROM subjects WHERE id = $1")
        .bind(&subject)
        .fetch_one(app.db().await.pool())
        .await
        .unwrap();
    assert_eq!(identity, (String::new(), None));
    let again = app.post_as(&path, &officer, &body).await;
    crate::helpers::assert_problem(again, StatusCode::CONFLICT, "conflict").await;
    let unknown = app.post_as("/api/v1/subjects/00000000-0000-7000-8000-000000000000/erasure", &officer, &body).await;
    crate::helpers::assert_problem(unknown, StatusCode::NOT_FOUND, "not-found").await;

    // Deleted means gone from the bytes of the database, too (SQLite).
    if sqlite {
        for needle in &needles {
            assert!(!in_files(needle), "{needle} is still in the database files");
        }
    }
}
