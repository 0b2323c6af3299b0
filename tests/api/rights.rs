//! Students' rights: my data, my disclosures, my export, requests with deadlines,
//! restriction.

use std::collections::BTreeMap;
use std::io::Read;

use consentry::datadir::DataDir;
use consentry::gateway::Keys;
use consentry::timestamp::{Clock, Timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    a_students_disclosures_match_the_reads_that_included_them,
    the_export_holds_every_record_of_the_student_and_no_one_elses,
    a_restricted_student_is_left_out_of_every_read_until_lifted,
    deadlines_follow_the_clock_and_requests_are_worked_from_a_queue,
    a_guardian_sees_only_a_ward_under_16,
);

/// The student's login, internal id and token.
async fn student(app: &TestApp, login: &str) -> (String, String) {
    let subject: String = sqlx::query_scalar("SELECT subject_id FROM users WHERE id = $1")
        .bind(login)
        .fetch_one(app.db().await.pool())
        .await
        .unwrap();
    (subject, app.token_for(login).await)
}

fn keys(app: &TestApp) -> Keys {
    Keys::new(&DataDir::open(&app.data_dir()).unwrap().load_keys(true).unwrap().pseudonym_pepper).unwrap()
}

/// The records of one read, as a tool receives them.
async fn read(app: &TestApp, purpose: &str, client: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/purposes/{purpose}/records")))
        .basic_auth(client, Some(format!("{client}-secret")))
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

async fn a_students_disclosures_match_the_reads_that_included_them(store: Store) {
    let app = TestApp::spawn(store).await;
    let (subject, token) = student(&app, "s0004").await;
    let keys = keys(&app);
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for (purpose, client) in [
        ("personal-dashboard", "demo-dashboard"),
        ("dropout-prevention", "demo-signals"),
        ("personal-dashboard", "demo-dashboard"),
    ] {
        let pseudonym = keys.pseudonym(purpose, client, &subject);
        let mine =
            read(&app, purpose, client).await.iter().filter(|record| record["subject"] == pseudonym.as_str()).count();
        *expected.entry(format!("{purpose} {client}")).or_default() += mine;
    }
    let aggregate = app
        .client
        .post(app.url("/api/v1/purposes/course-improvement/aggregates"))
        .basic_auth("demo-dashboard", Some("demo-dashboard-secret"))
        .json(&json!({ "group_by": ["course"], "metrics": [{ "metric": "count" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(aggregate.status(), StatusCode::OK);

    let disclosures: Vec<Value> = app.get_as("/api/v1/me/disclosures", &token).await.json().await.unwrap();
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for disclosure in disclosures.iter().filter(|disclosure| disclosure["shape"] == "records") {
        *listed
            .entry(format!("{} {}", disclosure["purpose"].as_str().unwrap(), disclosure["reader"].as_str().unwrap()))
            .or_default() += disclosure["records"].as_u64().unwrap() as usize;
        assert!(disclosure["reader_name"].is_string());
        assert!(disclosure["fields"].as_array().unwrap().contains(&json!("verb.id")));
    }
    expected.retain(|_, count| *count > 0);
    assert!(!expected.is_empty());
    assert_eq!(listed, expected, "record for record, read for read");
    assert_eq!(disclosures.iter().filter(|disclosure| disclosure["shape"] == "records").count(), 3);
    assert!(disclosures.iter().any(|disclosure| disclosure["shape"] == "aggregates"));

    let other = app.token_for("s0005").await;
    let theirs: Vec<Value> = app.get_as("/api/v1/me/disclosures", &other).await.json().await.unwrap();
    assert!(theirs.iter().all(|disclosure| disclosure["records"].as_u64().unwrap() > 0));
    let officer = app.token_for("po1").await;
    assert_problem(app.get_as("/api/v1/me/disclosures", &officer).await, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn the_export_holds_every_record_of_the_student_and_no_one_elses(store: Store) {
    let app = TestApp::spawn(store).await;
    let (subject, token) = student(&app, "s0006").await;
    let response = app.get_as("/api/v1/me/export", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        files.insert(file.name().unwrap().to_string(), text);
    }
    assert!(files["README.txt"].contains("statements.json"));
    let db = app.db().await;
    for (file, kind) in [
        ("statements.json", "xapi"),
        ("enrolments.json", "enrolment"),
        ("grades.json", "grade"),
        ("survey.json", "survey"),
    ] {
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE subject_id = $1 AND kind = $2")
            .bind(&subject)
            .bind(kind)
            .fetch_one(db.pool())
            .await
            .unwrap();
        let exported: Vec<Value> = serde_json::from_str(&files[file]).unwrap();
        assert_eq!(exported.len() as i64, stored, "{file}");
    }
    let identity: Value = serde_json::from_str(&files["identity.json"]).unwrap();
    assert_eq!(identity["subject"], subject.as_str());
    let others: Vec<(String, String)> = sqlx::query_as("SELECT id, display_name FROM subjects WHERE id <> $1")
        .bind(&subject)
        .fetch_all(db.pool())
        .await
        .unwrap();
    let everything: String = files.values().cloned().collect();
    for (id, name) in others {
        assert!(!everything.contains(&id) && !everything.contains(&name), "{name} is in s0006's export");
    }
    let officer = app.token_for("po1").await;
    assert_problem(app.get_as("/api/v1/me/export", &officer).await, StatusCode::FORBIDDEN, "forbidden").await;
    let data: Value = app.get_as("/api/v1/me/data", &token).await.json().await.unwrap();
    let activity =
        data["categories"].as_array().unwrap().iter().find(|category| category["category"] == "activity").unwrap();
    assert!(activity["used_by"].as_array().unwrap().iter().any(|purpose| purpose["purpose"] == "personal-dashboard"));
    assert_eq!(data["restricted"], false);
}

async fn a_restricted_student_is_left_out_of_every_read_until_lifted(store: Store) {
    let app = TestApp::spawn(store).await;
    let (subject, token) = student(&app, "s0007").await;
    let keys = keys(&app);
    let present = |records: &[Value], purpose: &str, client: &str| {
        let pseudonym = keys.pseudonym(purpose, client, &subject);
        records.iter().any(|record| record["subject"] == pseudonym.as_str())
    };
    assert!(present(&read(&app, "personal-dashboard", "demo-dashboard").await, "personal-dashboard", "demo-dashboard"));

    let filed = app
        .post_as(
            "/api/v1/me/requests",
            &token,
            &json!({ "kind": "restriction", "text": "My grades are being disputed." }),
        )
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let filed: Value = filed.json().await.unwrap();
    let officer = app.token_for("po1").await;
    let handling = format!("/api/v1/requests/{}/handling", filed["id"].as_str().unwrap());
    let done =
        app.post_as(&handling, &officer, &json!({ "action": "fulfil", "text": "Until the dispute is settled." })).await;
    assert_eq!(done.status(), StatusCode::OK);
    for (purpose, client) in [("personal-dashboard", "demo-dashboard"), ("dropout-prevention", "demo-signals")] {
        assert!(!present(&read(&app, purpose, client).await, purpose, client), "{purpose}");
    }
    let data: Value = app.get_as("/api/v1/me/data", &token).await.json().await.unwrap();
    assert_eq!(data["restricted"], true);

    let lifted = app.post_as(&handling, &officer, &json!({ "action": "lift_restriction", "text": "Settled." })).await;
    assert_eq!(lifted.status(), StatusCode::OK);
    assert!(present(&read(&app, "personal-dashboard", "demo-dashboard").await, "personal-dashboard", "demo-dashboard"));
    let told: Vec<Value> = app.get_as("/api/v1/me/notifications", &token).await.json().await.unwrap();
    assert_eq!(told.len(), 3, "received, carried out, lifted");
}

async fn deadlines_follow_the_clock_and_requests_are_worked_from_a_queue(store: Store) {
    let clock = Clock::default();
    // A month of 30 days: filed on 2 November, due on 2 December.
    let start = Timestamp::parse("2026-11-02T10:00:00Z").unwrap();
    clock.advance_seconds(start.unix_seconds() - Timestamp::now().unix_seconds());
    let app = TestApp::builder(store).clock(clock.clone()).spawn().await;
    let (_, token) = student(&app, "s0008").await;
    let filed = app
        .post_as("/api/v1/me/requests", &token, &json!({ "kind": "access", "text": "What do you keep about me?" }))
        .await;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let filed: Value = filed.json().await.unwrap();
    assert_eq!(&filed["deadline"].as_str().unwrap()[..10], "2026-12-02");
    let officer = app.token_for("po1").await;
    let queue = |app: &TestApp| {
        let request = app.client.get(app.url("/api/v1/requests")).bearer_auth(&officer);
        async move { request.send().await.unwrap().json::<Vec<Value>>().await.unwrap() }
    };

    clock.advance_seconds(25 * 86_400);
    let listed = queue(&app).await;
    assert_eq!((listed[0]["due_in_days"].as_i64(), listed[0]["overdue"].as_bool()), (Some(5), Some(false)));
    clock.advance_seconds(10 * 86_400);
    let listed = queue(&app).await;
    assert_eq!(listed[0]["overdue"], true, "35 days on");
    assert_eq!(listed[0]["due_in_days"], -5);

    let handling = format!("/api/v1/requests/{}/handling", filed["id"].as_str().unwrap());
    let extended = app
        .post_as(
            &handling,
            &officer,
            &json!({ "action": "extend", "months": 2, "reason": "Many requests after the exam period." }),
        )
        .await;
    assert_eq!(extended.status(), StatusCode::OK);
    let extended: Value = extended.json().await.unwrap();
    assert_eq!(&extended["deadline"].as_str().unwrap()[..10], "2027-02-02");
    assert_eq!(extended["overdue"], false);
    let again = app.post_as(&handling, &officer, &json!({ "action": "extend", "months": 1, "reason": "More." })).await;
    assert_problem(again, StatusCode::CONFLICT, "conflict").await;
    let no_reason = app.post_as(&handling, &officer, &json!({ "action": "refuse", "reason": "" })).await;
    assert_problem(no_reason, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let answered = app.post_as(&handling, &officer, &json!({ "action": "fulfil", "text": "See your export." })).await;
    let answered: Value = answered.json().await.unwrap();
    assert_eq!(answered["state"], "done");
    let closed = app.post_as(&handling, &officer, &json!({ "action": "reply", "text": "Anything else?" })).await;
    assert_problem(closed, StatusCode::CONFLICT, "conflict").await;

    // Rectification needs the record; erasure carries out the erasure with its certificate.
    let missing =
        app.post_as("/api/v1/me/requests", &token, &json!({ "kind": "rectification", "text": "Wrong grade" })).await;
    let problem = assert_problem(missing, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "record");
    let unknown = app.post_as("/api/v1/me/requests", &token, &json!({ "kind": "forgetting", "text": "x" })).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let erasure: Value = app
        .post_as("/api/v1/me/requests", &token, &json!({ "kind": "erasure", "text": "Please delete everything." }))
        .await
        .json()
        .await
        .unwrap();
    let mine: Vec<Value> = app.get_as("/api/v1/me/requests", &token).await.json().await.unwrap();
    assert_eq!(mine.len(), 2);
    let other = app.token_for("s0009").await;
    let theirs: Vec<Value> = app.get_as("/api/v1/me/requests", &other).await.json().await.unwrap();
    assert!(theirs.is_empty(), "a student sees only their own requests");
    assert_problem(app.get_as("/api/v1/requests", &token).await, StatusCode::FORBIDDEN, "forbidden").await;
    let erased = app
        .post_as(
            &format!("/api/v1/requests/{}/handling", erasure["id"].as_str().unwrap()),
            &officer,
            &json!({ "action": "fulfil", "text": "Done." }),
        )
        .await;
    assert_eq!(erased.status(), StatusCode::OK);
    let events: Value =
        app.get_as("/api/v1/audit/events?action=request.fulfilled", &officer).await.json().await.unwrap();
    assert!(events["events"].as_array().unwrap().iter().any(|event| event["details"]["certificate"].is_string()));
}

async fn a_guardian_sees_only_a_ward_under_16(store: Store) {
    let app = TestApp::spawn(store).await;
    let (minor, _) = student(&app, "s0010").await;
    let (adult, _) = student(&app, "s0011").await;
    let db = app.db().await;
    let fifteen_years_ago = format!("{}-01-01", Timestamp::now().to_storage()[..4].parse::<i32>().unwrap() - 15);
    sqlx::query("UPDATE subjects SET date_of_birth = $1 WHERE id = $2")
        .bind(fifteen_years_ago)
        .bind(&minor)
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, display_name, created_at) VALUES ('parent2', 'B. Parent', '2026-01-01T00:00:00.000000Z')",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let mut connection = db.pool().acquire().await.unwrap();
    for ward in [&minor, &adult] {
        consentry::directory::add_guardian(&mut connection, "parent2", uuid::Uuid::parse_str(ward).unwrap())
            .await
            .unwrap();
    }
    let parent = crate::consent::consentry_token(&app, "parent2");
    let data = app.get_as(&format!("/api/v1/subjects/{minor}/data"), &parent).await;
    assert_eq!(data.status(), StatusCode::OK);
    let data: Value = data.json().await.unwrap();
    assert_eq!(data["subject"], minor.as_str());
    let export = app.get_as(&format!("/api/v1/subjects/{minor}/export"), &parent).await;
    assert_eq!(export.headers()["content-type"], "application/zip");
    let grown_up = app.get_as(&format!("/api/v1/subjects/{adult}/disclosures"), &parent).await;
    assert_problem(grown_up, StatusCode::FORBIDDEN, "forbidden").await;
    let mentor = app.token_for("mentor01").await;
    assert_problem(
        app.get_as(&format!("/api/v1/subjects/{minor}/data"), &mentor).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let nobody = app.get_as("/api/v1/subjects/not-an-id/data", &parent).await;
    assert_problem(nobody, StatusCode::NOT_FOUND, "not-found").await;
}
