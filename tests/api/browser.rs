//! The web interface in a real browser: Debian's headless Chromium driven by
//! playwright-core (tests/browser), with axe-core on every page, in Dutch and English.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;

use crate::gateway::{login_in_state, students_read};
use crate::helpers::{Store, TestApp, outside_component_or_skip};

/// Runs one journey in the browser; returns its report.
async fn journey(dir: &str, app: &TestApp, name: &str, user: &str, lang: &str) -> Value {
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    let output = tokio::process::Command::new("node")
        .arg(PathBuf::from(dir).join("journeys.mjs"))
        .args([name, "--base", app.url("").trim_end_matches('/'), "--user", user, "--lang", lang])
        .arg("--shots")
        .arg(&shots)
        .output()
        .await
        .unwrap();
    check_report(&output, name, lang)
}

/// The journey's report: it passed, axe-core found nothing, every page is in `lang`, has
/// its screenshot, and renders without JavaScript.
fn check_report(output: &std::process::Output, name: &str, lang: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!("no report from the browser: {stdout}\n{}", String::from_utf8_lossy(&output.stderr))
    });
    assert!(output.status.success(), "the {name} journey in {lang} failed: {report:#}");
    assert_eq!(report["violations"], serde_json::json!([]), "axe-core found violations: {report:#}");
    for page in report["pages"].as_array().unwrap() {
        assert_eq!(page["lang"], lang, "{page}");
        assert!(std::path::Path::new(page["screenshot"].as_str().unwrap()).exists());
    }
    for page in report["without_javascript"].as_array().unwrap() {
        // Denied pages (a student at the office) render their error page, too.
        assert!(matches!(page["status"].as_u64(), Some(200 | 403)), "{page}");
        assert!(!page["heading"].as_str().unwrap().is_empty(), "{page}");
    }
    report
}

#[tokio::test]
async fn a_student_withdraws_research_consent_in_the_browser_and_the_next_read_excludes_them() {
    let test = "browser::a_student_withdraws_research_consent_in_the_browser_and_the_next_read_excludes_them";
    let Some(dir) =
        outside_component_or_skip(test, "CONSENTRY_TEST_BROWSER", "Chromium and npm packages in tests/browser")
    else {
        return;
    };
    for lang in ["nl", "en"] {
        let app = TestApp::spawn(Store::Sqlite).await;
        let (student, token) = login_in_state(&app, "learning-research", "consented").await;
        let before = students_read(&app, "learning-research", "demo-research").await;
        let disclosed = |token: String| {
            let app = &app;
            async move {
                let disclosures: Value = app.get_as("/api/v1/me/disclosures", &token).await.json().await.unwrap();
                disclosures.as_array().unwrap().len()
            }
        };
        let disclosed_before = disclosed(token.clone()).await;
        assert!(disclosed_before > 0, "the student was in the read before");

        let report = journey(&dir, &app, "student", &student, lang).await;
        assert!(report["pages"].as_array().unwrap().len() >= 7);

        let after = students_read(&app, "learning-research", "demo-research").await;
        assert_eq!(after.len(), before.len() - 1, "exactly the student left the read ({lang})");
        assert_eq!(disclosed(token.clone()).await, disclosed_before, "the next read disclosed nothing of theirs");
        let mine: Value = app.get_as("/api/v1/me/purposes", &token).await.json().await.unwrap();
        let research = mine.as_array().unwrap().iter().find(|purpose| purpose["id"] == "learning-research").unwrap();
        assert_eq!(research["state"], "withdrawn");
        let web = app.get("/my").await;
        assert_eq!((web.status(), web.url().path()), (StatusCode::OK, "/sign-in"), "without a session, to sign in");
    }
}

#[tokio::test]
async fn a_mentor_approves_a_proposal_in_the_browser_and_the_student_sees_the_intervention() {
    let test = "browser::a_mentor_approves_a_proposal_in_the_browser_and_the_student_sees_the_intervention";
    let Some(dir) =
        outside_component_or_skip(test, "CONSENTRY_TEST_BROWSER", "Chromium and npm packages in tests/browser")
    else {
        return;
    };
    for lang in ["nl", "en"] {
        let app = TestApp::spawn(Store::Sqlite).await;
        let officer = app.token_for("po1").await;
        let window = serde_json::json!({ "since": "2026-02-02T00:00:00Z", "until": "2026-06-29T00:00:00Z" });
        let run = app.post_as("/api/v1/analytics/runs", &officer, &window).await;
        assert_eq!(run.status(), StatusCode::CREATED);
        let mentor = app.token_for("mentor01").await;
        let proposals: Value = app.get_as("/api/v1/proposals", &mentor).await.json().await.unwrap();
        let first = &proposals.as_array().unwrap()[0];
        let proposal = first["id"].as_str().unwrap().to_owned();
        let student: String = sqlx::query_scalar("SELECT id FROM users WHERE subject_id = $1")
            .bind(first["subject"].as_str().unwrap())
            .fetch_one(app.db().await.pool())
            .await
            .unwrap();
        let student_token = app.token_for(&student).await;
        let before: Value = app.get_as("/api/v1/me/interventions", &student_token).await.json().await.unwrap();
        assert_eq!(before, serde_json::json!([]), "nothing reaches the student before the mentor decides");

        let output = tokio::process::Command::new("node")
            .arg(PathBuf::from(&dir).join("journeys.mjs"))
            .args(["mentor", "--base", app.url("").trim_end_matches('/'), "--user", "mentor01", "--lang", lang])
            .args(["--student", &student, "--proposal", &proposal, "--shots"])
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots"))
            .output()
            .await
            .unwrap();
        check_report(&output, "mentor", lang);

        let decided: Value = app.get_as(&format!("/api/v1/proposals/{proposal}"), &mentor).await.json().await.unwrap();
        assert_eq!((decided["status"].as_str(), decided["decided_by"].as_str()), (Some("approved"), Some("mentor01")));
        let after: Value = app.get_as("/api/v1/me/interventions", &student_token).await.json().await.unwrap();
        assert_eq!(after.as_array().unwrap().len(), 1, "{after}");
        let views: Value = app.get_as("/api/v1/me/disclosures", &student_token).await.json().await.unwrap();
        assert!(
            views.as_array().unwrap().iter().any(|view| view["reader"] == "mentor01"),
            "the mentor's view is disclosed"
        );
    }
}

#[tokio::test]
async fn a_privacy_officer_fixes_replays_and_activates_a_policy_in_the_browser() {
    let test = "browser::a_privacy_officer_fixes_replays_and_activates_a_policy_in_the_browser";
    let Some(dir) =
        outside_component_or_skip(test, "CONSENTRY_TEST_BROWSER", "Chromium and npm packages in tests/browser")
    else {
        return;
    };
    for lang in ["nl", "en"] {
        let app = TestApp::spawn(Store::Sqlite).await;
        let admin = app.token_for("admin1").await;
        let refused = app.get_as("/api/v1/audit/events", &admin).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "recorded as a denial the replay finds");

        let report = journey(&dir, &app, "officer", "po1", lang).await;
        assert!(report["pages"].as_array().unwrap().len() >= 6);

        let officer = app.token_for("po1").await;
        let active: Value = app.get_as("/api/v1/policies", &officer).await.json().await.unwrap();
        assert_eq!(active["version"], 1, "{lang}");
        assert_eq!(active["policies"]["audit-read-admins"], "governance.cedar");
        assert_eq!(app.get_as("/api/v1/audit/events", &admin).await.status(), StatusCode::OK);
        let activated: Value =
            app.get_as("/api/v1/audit/events?action=policy.activated", &officer).await.json().await.unwrap();
        assert_eq!(activated["events"][0]["details"]["diff"]["added"], serde_json::json!(["audit-read-admins"]));
    }
}

/// Runs the `tour` journey: `user` visits every path; returns the report.
async fn tour(dir: &str, app: &TestApp, user: &str, landing: &str, lang: &str, paths: &[&str]) -> Value {
    let output = tokio::process::Command::new("node")
        .arg(PathBuf::from(dir).join("journeys.mjs"))
        .args(["tour", "--base", app.url("").trim_end_matches('/'), "--user", user, "--lang", lang])
        .args(["--landing", landing, "--paths", &paths.join(",")])
        .arg("--shots")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots").join(user))
        .output()
        .await
        .unwrap();
    check_report(&output, "tour", lang)
}

#[tokio::test]
async fn every_page_passes_axe_core_in_both_languages_and_works_without_javascript() {
    let test = "browser::every_page_passes_axe_core_in_both_languages_and_works_without_javascript";
    let Some(dir) =
        outside_component_or_skip(test, "CONSENTRY_TEST_BROWSER", "Chromium and npm packages in tests/browser")
    else {
        return;
    };
    let app = TestApp::spawn(Store::Sqlite).await;
    let student = app.token_for("s0003").await;
    let filed = app
        .post_as(
            "/api/v1/me/requests",
            &student,
            &serde_json::json!({ "kind": "access", "text": "What do you keep about me?" }),
        )
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let officer = app.token_for("po1").await;
    let dpias: Value = app.get_as("/api/v1/dpias", &officer).await.json().await.unwrap();
    let approved = format!("/office/dpias/{}", dpias[0]["id"].as_str().unwrap());
    let new = serde_json::json!({ "template": "cnil-pia", "purposes": ["course-improvement"], "title": "Courses", "language": "en" });
    let draft: Value = app.post_as("/api/v1/dpias", &officer, &new).await.json().await.unwrap();
    let draft = format!("/office/dpias/{}", draft["id"].as_str().unwrap());
    let officer_pages = [
        "/office",
        "/office/purposes",
        "/office/purposes/new",
        "/office/purposes/dropout-prevention",
        "/office/requests",
        "/office/audit",
        "/office/audit?decision=deny",
        "/office/analytics",
        "/office/connections",
        "/office/retention?as_of=2028-01-01",
        "/office/policies",
        "/office/dpias",
        &approved,
        &draft,
    ];
    for lang in ["nl", "en"] {
        let report = tour(&dir, &app, "po1", "/", lang, &officer_pages).await;
        assert_eq!(report["pages"].as_array().unwrap().len(), officer_pages.len());
        tour(&dir, &app, "s0003", "/my", lang, &["/my/requests", "/office/audit"]).await;
        tour(&dir, &app, "dpo1", "/", lang, &["/office", "/office/audit", &approved]).await;
    }
}
