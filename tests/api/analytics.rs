//! Analytics with a human in the loop: runs, proposals, review, the stop switch, oversight.

use std::collections::BTreeSet;

use consentry::demo::Institution;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    nothing_reaches_a_student_before_a_mentor_approves,
    a_mentor_sees_and_decides_only_their_own_mentees,
    an_objector_is_neither_read_nor_scored_nor_proposed,
    the_stop_switch_halts_runs_and_decisions_until_lifted,
    unanswered_proposals_expire,
);

/// The demo semester.
fn window() -> Value {
    json!({ "since": "2026-02-02T00:00:00Z", "until": "2026-06-29T00:00:00Z" })
}

async fn run(app: &TestApp) -> Value {
    let officer = app.token_for("po1").await;
    let response = app.post_as("/api/v1/analytics/runs", &officer, &window()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn login_of(app: &TestApp, subject: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE subject_id = $1")
        .bind(subject)
        .fetch_one(app.db().await.pool())
        .await
        .unwrap()
}

async fn nothing_reaches_a_student_before_a_mentor_approves(store: Store) {
    let app = TestApp::spawn(store).await;
    let report = run(&app).await;
    assert!(report["students_scored"].as_u64().unwrap() >= 15, "{report}");
    let made = report["proposals"].as_u64().unwrap();
    assert!(made >= 3, "{report}");
    let again = run(&app).await;
    assert_eq!(again["repeated"], true);
    assert_eq!(again["run"], report["run"]);

    let mentor = app.token_for("mentor01").await;
    let proposals: Vec<Value> = app.get_as("/api/v1/proposals", &mentor).await.json().await.unwrap();
    assert_eq!(proposals.len() as u64, made, "one run, one window: no duplicates");
    let ranks: Vec<i64> = proposals.iter().map(|proposal| proposal["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, (1..=made as i64).collect::<Vec<_>>(), "the invitation order");
    let scores: Vec<f64> = proposals.iter().map(|proposal| proposal["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|pair| pair[0] >= pair[1]), "ranked by risk");
    let first = &proposals[0];
    assert_eq!(first["explanation"]["model_version"], "norm-deviation-v1");
    assert!(first["explanation"]["courses"][0]["indicators"][0]["group_mean"].is_number());

    let (approve, reject, amend) = (&proposals[0], &proposals[1], &proposals[2]);
    let student_of = |proposal: &Value| proposal["subject"].as_str().unwrap().to_owned();
    let student = app.token_for(&login_of(&app, &student_of(approve)).await).await;
    let mine: Vec<Value> = app.get_as("/api/v1/me/interventions", &student).await.json().await.unwrap();
    assert!(mine.is_empty(), "nothing before a decision");

    let decide = |proposal: &Value, body: Value| {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/proposals/{}/decision", proposal["id"].as_str().unwrap())))
            .bearer_auth(&mentor)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let unopened = decide(approve, json!({ "decision": "approve" })).await;
    assert_problem(unopened, StatusCode::CONFLICT, "conflict").await;
    for proposal in [approve, reject, amend] {
        let opened = app.get_as(&format!("/api/v1/proposals/{}", proposal["id"].as_str().unwrap()), &mentor).await;
        assert_eq!(opened.status(), StatusCode::OK);
    }
    let no_reason = decide(reject, json!({ "decision": "reject" })).await;
    assert_problem(no_reason, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(decide(approve, json!({ "decision": "approve" })).await.status(), StatusCode::OK);
    let rejected = decide(reject, json!({ "decision": "reject", "rationale": "I spoke with her last week." })).await;
    assert_eq!(rejected.status(), StatusCode::OK);
    let amended = decide(
        amend,
        json!({ "decision": "amend", "rationale": "A check-in fits better.", "action": "check_in", "text": "Shall we have coffee on Thursday?" }),
    )
    .await;
    assert_eq!(amended.status(), StatusCode::OK);
    let twice = decide(approve, json!({ "decision": "reject", "rationale": "changed my mind" })).await;
    assert_problem(twice, StatusCode::CONFLICT, "conflict").await;

    let mine: Vec<Value> = app.get_as("/api/v1/me/interventions", &student).await.json().await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(!mine[0]["why"].as_array().unwrap().is_empty(), "why, in plain words");
    let rejected_student = app.token_for(&login_of(&app, &student_of(reject)).await).await;
    let theirs: Vec<Value> = app.get_as("/api/v1/me/interventions", &rejected_student).await.json().await.unwrap();
    assert!(theirs.iter().all(|intervention| intervention["id"] != reject["id"]), "a rejected proposal never arrives");
    let amended_student = app.token_for(&login_of(&app, &student_of(amend)).await).await;
    let theirs: Vec<Value> = app.get_as("/api/v1/me/interventions", &amended_student).await.json().await.unwrap();
    let shown = theirs.iter().find(|intervention| intervention["id"] == amend["id"]).unwrap();
    assert_eq!(shown["text"], "Shall we have coffee on Thursday?");
    assert_eq!(shown["action"], "check_in");

    let declined = app
        .client
        .post(app.url(&format!("/api/v1/me/interventions/{}/decline", mine[0]["id"].as_str().unwrap())))
        .bearer_auth(&student)
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), StatusCode::NO_CONTENT);
    let mine: Vec<Value> = app.get_as("/api/v1/me/interventions", &student).await.json().await.unwrap();
    assert_eq!(mine[0]["declined"], true);

    // The download holds it too.
    let bytes = app.get_as("/api/v1/me/export", &student).await.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let exported: Vec<Value> = serde_json::from_reader(archive.by_name("interventions.json").unwrap()).unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["id"], mine[0]["id"]);

    // The mentor's look at the indicators is among the student's disclosures.
    let disclosures: Vec<Value> = app.get_as("/api/v1/me/disclosures", &student).await.json().await.unwrap();
    assert!(disclosures.iter().any(|disclosure| disclosure["reader"] == "mentor01"));
    assert!(disclosures.iter().any(|disclosure| disclosure["reader"] == "consentry-analytics"));

    let officer = app.token_for("po1").await;
    let oversight: Value = app.get_as("/api/v1/analytics/oversight", &officer).await.json().await.unwrap();
    let row = &oversight["reviewers"][0];
    assert_eq!(row["decided"], 3);
    assert!((row["override_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let decided: Value =
        app.get_as("/api/v1/audit/events?action=proposal.decided", &officer).await.json().await.unwrap();
    let overrides: Vec<&Value> =
        decided["events"].as_array().unwrap().iter().map(|event| &event["details"]["override"]).collect();
    assert_eq!(overrides.iter().filter(|flag| **flag == true).count(), 2);
}

async fn a_mentor_sees_and_decides_only_their_own_mentees(store: Store) {
    let app = TestApp::spawn(store).await;
    run(&app).await;
    let mentor = app.token_for("mentor01").await;
    let proposals: Vec<Value> = app.get_as("/api/v1/proposals", &mentor).await.json().await.unwrap();
    let id = proposals[0]["id"].as_str().unwrap();
    let other = app.token_for("mentor02").await;
    let listed: Vec<Value> = app.get_as("/api/v1/proposals", &other).await.json().await.unwrap();
    assert!(listed.is_empty(), "mentor02 mentors none of these students");
    assert_problem(app.get_as(&format!("/api/v1/proposals/{id}"), &other).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    let decided =
        app.post_as(&format!("/api/v1/proposals/{id}/decision"), &other, &json!({ "decision": "approve" })).await;
    assert_problem(decided, StatusCode::FORBIDDEN, "forbidden").await;
    let tool = app.token_for("demo-signals").await;
    let decided =
        app.post_as(&format!("/api/v1/proposals/{id}/decision"), &tool, &json!({ "decision": "approve" })).await;
    assert_problem(decided, StatusCode::FORBIDDEN, "forbidden").await;
    let unknown = app.get_as("/api/v1/proposals/not-an-id", &mentor).await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not-found").await;
    let student = app.token_for("s0001").await;
    assert_problem(
        app.post_as("/api/v1/analytics/runs", &student, &window()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let officer = app.token_for("po1").await;
    let backwards = app
        .post_as(
            "/api/v1/analytics/runs",
            &officer,
            &json!({ "since": "2026-06-29T00:00:00Z", "until": "2026-02-02T00:00:00Z" }),
        )
        .await;
    assert_problem(backwards, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

async fn an_objector_is_neither_read_nor_scored_nor_proposed(store: Store) {
    let app = TestApp::spawn(store).await;
    let mut objector = None;
    for number in 1..=20 {
        let token = app.token_for(&format!("s{number:04}")).await;
        let response =
            app.put_as("/api/v1/me/consents/dropout-prevention", &token, &json!({ "event": "objected" })).await;
        if response.status() == StatusCode::OK {
            objector = Some(token);
            break;
        }
    }
    let objector = objector.unwrap();
    let subject: String = {
        let me: Value = app.get_as("/api/v1/me/data", &objector).await.json().await.unwrap();
        me["subject"].as_str().unwrap().to_owned()
    };
    let report = run(&app).await;
    let objected: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT c.subject_id) FROM consent_records c WHERE c.purpose_id = 'dropout-prevention' AND c.event = 'objected' \
         AND NOT EXISTS (SELECT 1 FROM consent_records l WHERE l.subject_id = c.subject_id AND l.purpose_id = c.purpose_id \
         AND l.recorded_at > c.recorded_at)",
    )
    .fetch_one(app.db().await.pool())
    .await
    .unwrap();
    let with_data: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT subject_id) FROM records WHERE kind = 'xapi' AND occurred_at < '2026-06-29T00:00:00.000000Z'",
    )
    .fetch_one(app.db().await.pool())
    .await
    .unwrap();
    assert_eq!(report["students_scored"].as_i64().unwrap(), with_data - objected);
    let proposed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM proposals WHERE subject_id = $1")
        .bind(&subject)
        .fetch_one(app.db().await.pool())
        .await
        .unwrap();
    assert_eq!(proposed, 0, "no score, no proposal");
    // The analytics read never carried their records, so they are in no group mean either.
    let disclosures: Vec<Value> = app.get_as("/api/v1/me/disclosures", &objector).await.json().await.unwrap();
    assert!(disclosures.iter().all(|disclosure| disclosure["reader"] != "consentry-analytics"), "{disclosures:?}");
}

async fn the_stop_switch_halts_runs_and_decisions_until_lifted(store: Store) {
    let app = TestApp::spawn(store).await;
    run(&app).await;
    let mentor = app.token_for("mentor01").await;
    let proposals: Vec<Value> = app.get_as("/api/v1/proposals", &mentor).await.json().await.unwrap();
    let id = proposals[0]["id"].as_str().unwrap();
    assert_eq!(app.get_as(&format!("/api/v1/proposals/{id}"), &mentor).await.status(), StatusCode::OK);

    let officer = app.token_for("po1").await;
    let refused = app.post_as("/api/v1/analytics/stop", &mentor, &json!({ "stopped": true, "reason": "no" })).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let stop = app
        .post_as("/api/v1/analytics/stop", &officer, &json!({ "stopped": true, "reason": "Model under review" }))
        .await;
    assert_eq!(stop.status(), StatusCode::NO_CONTENT);
    let decided =
        app.post_as(&format!("/api/v1/proposals/{id}/decision"), &mentor, &json!({ "decision": "approve" })).await;
    assert_problem(decided, StatusCode::CONFLICT, "conflict").await;
    let another = app
        .post_as(
            "/api/v1/analytics/runs",
            &officer,
            &json!({ "since": "2026-03-02T00:00:00Z", "until": "2026-06-29T00:00:00Z" }),
        )
        .await;
    assert_problem(another, StatusCode::CONFLICT, "conflict").await;
    let oversight: Value = app.get_as("/api/v1/analytics/oversight", &officer).await.json().await.unwrap();
    assert_eq!(oversight["stopped"], true);

    let resume =
        app.post_as("/api/v1/analytics/stop", &officer, &json!({ "stopped": false, "reason": "Reviewed" })).await;
    assert_eq!(resume.status(), StatusCode::NO_CONTENT);
    let decided =
        app.post_as(&format!("/api/v1/proposals/{id}/decision"), &mentor, &json!({ "decision": "approve" })).await;
    assert_eq!(decided.status(), StatusCode::OK);
    for action in ["analytics.stopped", "analytics.resumed"] {
        let events: Value =
            app.get_as(&format!("/api/v1/audit/events?action={action}"), &officer).await.json().await.unwrap();
        assert_eq!(events["events"].as_array().unwrap().len(), 1, "{action}");
    }
}

#[tokio::test]
async fn drifting_students_head_their_mentors_invitation_lists() {
    let scale = 0.1;
    let app = TestApp::builder(Store::Sqlite).configure(|config| config.demo_scale = scale).spawn().await;
    run(&app).await;
    let drifting: BTreeSet<String> = Institution::generate(scale)
        .students
        .iter()
        .filter(|student| student.profile.drift_week.is_some())
        .map(|student| student.subject_id.to_string())
        .collect();
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT mentor_id, subject_id, rank FROM proposals WHERE action = 'invite_conversation' ORDER BY mentor_id, rank")
            .fetch_all(app.db().await.pool())
            .await
            .unwrap();
    let students = Institution::generate(scale).students.len();
    let top: Vec<&(String, String, i64)> = rows.iter().filter(|(_, _, rank)| *rank <= 5).collect();
    let hits = top.iter().filter(|(_, subject, _)| drifting.contains(subject)).count();
    let precision = hits as f64 / top.len() as f64;
    let chance = drifting.len() as f64 / students as f64;
    assert!(precision > 2.0 * chance, "precision at 5 {precision:.2} vs chance {chance:.2}");
}

async fn unanswered_proposals_expire(store: Store) {
    let clock = consentry::timestamp::Clock::default();
    let app = TestApp::builder(store).clock(clock.clone()).spawn().await;
    run(&app).await;
    let mentor = app.token_for("mentor01").await;
    let proposals: Vec<Value> = app.get_as("/api/v1/proposals", &mentor).await.json().await.unwrap();
    assert!(proposals.iter().all(|proposal| proposal["status"] == "pending"));
    let id = proposals[0]["id"].as_str().unwrap();
    assert_eq!(app.get_as(&format!("/api/v1/proposals/{id}"), &mentor).await.status(), StatusCode::OK);
    clock.advance_seconds(15 * 86_400);
    let proposals: Vec<Value> = app.get_as("/api/v1/proposals", &mentor).await.json().await.unwrap();
    assert!(proposals.iter().all(|proposal| proposal["status"] == "expired"));
    let late =
        app.post_as(&format!("/api/v1/proposals/{id}/decision"), &mentor, &json!({ "decision": "approve" })).await;
    assert_problem(late, StatusCode::CONFLICT, "conflict").await;
}
