//! Governed reads: consent filtering, projection, pseudonyms, suppression, snapshots,
//! denials and the disclosure log.

use std::collections::BTreeSet;

use consentry::catalogue::{Field, FieldSource};
use consentry::db::PlaceholderStyle;
use consentry::records::{Category, Column, RecordKind, Scan};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;
use crate::purposes::active_purpose;

on_both_stores!(
    reads_carry_only_the_purposes_fields_under_pseudonyms,
    pseudonyms_differ_per_purpose_and_per_client,
    an_objection_or_withdrawal_removes_the_student_from_the_next_read,
    fields_outside_the_purpose_never_leave_even_as_extensions,
    pages_follow_the_cursor_and_one_student_is_read_by_pseudonym,
    small_cells_are_suppressed_and_cannot_be_derived_from_totals,
    denials_name_their_reason_and_are_audited,
    every_read_is_logged_per_student_with_one_audit_event,
    a_stream_keeps_its_snapshot_while_a_student_objects,
    pages_of_a_consent_purpose_hold_exactly_what_the_stream_holds,
);

/// HTTP Basic credentials of a demo client.
fn demo(client: &'static str) -> (&'static str, String) {
    (client, format!("{client}-secret"))
}

async fn read_ndjson(app: &TestApp, path: &str, (user, secret): &(&str, String)) -> Vec<Value> {
    let response = app
        .client
        .get(app.url(path))
        .basic_auth(user, Some(secret))
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

async fn read_page(app: &TestApp, path: &str, (user, secret): &(&str, String)) -> reqwest::Response {
    app.client.get(app.url(path)).basic_auth(user, Some(secret)).send().await.unwrap()
}

fn subjects(records: &[Value]) -> BTreeSet<String> {
    records.iter().map(|record| record["subject"].as_str().unwrap().to_owned()).collect()
}

async fn post_statements(app: &TestApp, statements: &Value) {
    let response = app
        .client
        .post(app.url("/xapi/statements"))
        .basic_auth("demo-lms", Some("demo-lms-secret"))
        .header("X-Experience-API-Version", "1.0.3")
        .json(statements)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

async fn reads_carry_only_the_purposes_fields_under_pseudonyms(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let purpose: Value = app.get_as("/api/v1/purposes/personal-dashboard", &officer).await.json().await.unwrap();
    let allowed: BTreeSet<&str> = purpose["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    let records = read_ndjson(&app, "/api/v1/purposes/personal-dashboard/records", &demo("demo-dashboard")).await;
    assert!(records.len() > 500, "{}", records.len());
    for record in &records {
        let keys: BTreeSet<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["record", "subject", "kind", "category", "occurred_at", "fields"]));
        for field in record["fields"].as_object().unwrap().keys() {
            assert!(allowed.contains(field.as_str()), "{field} left for personal-dashboard");
        }
        assert!(["activity", "assessment"].contains(&record["category"].as_str().unwrap()));
    }
    assert!(records.iter().any(|record| record["kind"] == "grade"), "grades are part of the dashboard");
    assert!(!records.iter().any(|record| record["kind"] == "survey"), "wellbeing is not");

    // Nothing that identifies a student leaves: no internal ids, logins, names or e-mail.
    let body = serde_json::to_string(&records).unwrap();
    let db = app.db().await;
    let identities: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, display_name, email FROM subjects").fetch_all(db.pool()).await.unwrap();
    for (id, name, email) in &identities {
        assert!(!body.contains(id.as_str()) && !body.contains(name.as_str()), "{id} / {name} left");
        assert!(email.as_deref().is_none_or(|email| !body.contains(email)));
    }
    let statement_ids: Vec<Option<String>> =
        sqlx::query_scalar("SELECT statement_id FROM records WHERE statement_id IS NOT NULL LIMIT 50")
            .fetch_all(db.pool())
            .await
            .unwrap();
    for id in statement_ids.iter().flatten() {
        assert!(!body.contains(id.as_str()), "the source's statement id {id} would link back to the actor");
    }
    assert!(!body.contains("s0001") && !body.contains("@"));

    let again = read_ndjson(&app, "/api/v1/purposes/personal-dashboard/records", &demo("demo-dashboard")).await;
    assert_eq!(subjects(&records), subjects(&again), "one client and purpose: the same pseudonyms every read");
    let references: BTreeSet<&str> = records.iter().map(|record| record["record"].as_str().unwrap()).collect();
    assert_eq!(references.len(), records.len(), "record references are unique");
}

async fn pseudonyms_differ_per_purpose_and_per_client(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.token_for("admin1").await;
    for (client, purposes) in [
        ("demo-dashboard", json!(["personal-dashboard", "dropout-prevention"])),
        ("demo-signals", json!(["personal-dashboard"])),
    ] {
        let changed =
            app.put_as(&format!("/api/v1/clients/{client}/purposes"), &admin, &json!({ "purposes": purposes })).await;
        assert_eq!(changed.status(), StatusCode::OK);
    }
    let dashboard = read_ndjson(&app, "/api/v1/purposes/personal-dashboard/records", &demo("demo-dashboard")).await;
    let dropout = read_ndjson(&app, "/api/v1/purposes/dropout-prevention/records", &demo("demo-dashboard")).await;
    let signals = read_ndjson(&app, "/api/v1/purposes/personal-dashboard/records", &demo("demo-signals")).await;
    let (dashboard, dropout, signals) = (subjects(&dashboard), subjects(&dropout), subjects(&signals));
    assert!(dashboard.len() >= 15, "{}", dashboard.len());
    assert!(dashboard.is_disjoint(&dropout), "two purposes of one client are unlinkable");
    assert!(dashboard.is_disjoint(&signals), "two clients of one purpose are unlinkable");
    assert_eq!(dashboard.len(), signals.len(), "both clients see the same students");
}

/// Pseudonyms of everyone `client` reads for `purpose`.
pub async fn students_read(app: &TestApp, purpose: &str, client: &'static str) -> BTreeSet<String> {
    subjects(&read_ndjson(app, &format!("/api/v1/purposes/{purpose}/records"), &demo(client)).await)
}

/// A demo student whose latest choice for `purpose` is `state`, with their token.
async fn student_in_state(app: &TestApp, purpose: &str, state: &str) -> String {
    login_in_state(app, purpose, state).await.1
}

/// A demo student whose latest choice for `purpose` is `state`: their login and token.
pub async fn login_in_state(app: &TestApp, purpose: &str, state: &str) -> (String, String) {
    for number in 1..=40 {
        let login = format!("s{number:04}");
        let token = app.token_for(&login).await;
        let mine: Value = app.get_as("/api/v1/me/purposes", &token).await.json().await.unwrap();
        let entry = mine.as_array().unwrap().iter().find(|entry| entry["id"] == purpose).unwrap().clone();
        if entry["state"] == state {
            return (login, token);
        }
    }
    panic!("no demo student is {state} for {purpose}");
}

async fn choose(app: &TestApp, token: &str, purpose: &str, event: &str) {
    let response = app.put_as(&format!("/api/v1/me/consents/{purpose}"), token, &json!({ "event": event })).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

async fn an_objection_or_withdrawal_removes_the_student_from_the_next_read(store: Store) {
    let app = TestApp::spawn(store).await;

    // Objection (public task): absent from the next read, back once it is lifted.
    let student = student_in_state(&app, "personal-dashboard", "not_objected").await;
    let before = students_read(&app, "personal-dashboard", "demo-dashboard").await;
    choose(&app, &student, "personal-dashboard", "objected").await;
    let objected = students_read(&app, "personal-dashboard", "demo-dashboard").await;
    assert_eq!(objected.len() + 1, before.len());
    assert!(objected.is_subset(&before));
    choose(&app, &student, "personal-dashboard", "objection_lifted").await;
    assert_eq!(students_read(&app, "personal-dashboard", "demo-dashboard").await, before);

    // Consent: present only while consent is given.
    let student = student_in_state(&app, "learning-research", "not_consented").await;
    let without = students_read(&app, "learning-research", "demo-research").await;
    choose(&app, &student, "learning-research", "given").await;
    let with = students_read(&app, "learning-research", "demo-research").await;
    assert_eq!(with.len(), without.len() + 1);
    let newcomer: Vec<&String> = with.difference(&without).collect();
    choose(&app, &student, "learning-research", "withdrawn").await;
    assert_eq!(students_read(&app, "learning-research", "demo-research").await, without);
    choose(&app, &student, "learning-research", "given").await;
    let again = students_read(&app, "learning-research", "demo-research").await;
    assert!(again.contains(newcomer[0]), "the same pseudonym on return");
}

async fn fields_outside_the_purpose_never_leave_even_as_extensions(store: Store) {
    let mood = "result.extensions.https://lms.example/mood";
    let device = "context.extensions.https://lms.example/device";
    let app = TestApp::builder(store)
        .configure(|config| {
            for name in [mood, device] {
                config.catalogue.fields.push(Field {
                    name: name.to_owned(),
                    category: Category::Activity,
                    source: FieldSource::Xapi,
                    description: "test extension".to_owned(),
                });
            }
        })
        .spawn()
        .await;
    let mut reads_mood = crate::purposes::definition("public_task");
    reads_mood["fields"] = json!(["verb.id", mood]);
    active_purpose(&app, "mood-study", reads_mood).await;
    let mut reads_device = crate::purposes::definition("public_task");
    reads_device["fields"] = json!(["verb.id", device]);
    active_purpose(&app, "device-study", reads_device).await;
    let admin = app.token_for("admin1").await;
    let tool = json!({ "id": "mood-tool", "name": "Mood", "organisation": "Test", "contact": "t@example.com", "purposes": ["mood-study"] });
    let issued: Value = app.post_as("/api/v1/clients", &admin, &tool).await.json().await.unwrap();
    let credentials = ("mood-tool", issued["secret"].as_str().unwrap().to_owned());

    post_statements(
        &app,
        &json!([{
            "actor": { "mbox": "mailto:someone@example.com", "name": "Some One" },
            "verb": { "id": "https://lms.example/verbs/reflected" },
            "object": { "id": "https://lms.example/journal" },
            "result": { "extensions": { "https://lms.example/mood": 4, "https://lms.example/secret-diary": "dear diary" } },
            "context": { "extensions": { "https://lms.example/device": "phone-1234" } },
        }]),
    )
    .await;
    let records =
        read_ndjson(&app, "/api/v1/purposes/mood-study/records?verb=https://lms.example/verbs/reflected", &credentials)
            .await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["fields"], json!({ "verb.id": "https://lms.example/verbs/reflected", mood: 4 }));
    let body = serde_json::to_string(&records).unwrap();
    for never in ["phone-1234", "dear diary", "someone@example.com", "Some One", "journal"] {
        assert!(!body.contains(never), "{never} left");
    }

    // The source reads back what was kept: both catalogued extensions some purpose reads.
    let kept: Value = app
        .client
        .get(app.url("/xapi/statements?verb=https://lms.example/verbs/reflected"))
        .basic_auth("demo-lms", Some("demo-lms-secret"))
        .header("X-Experience-API-Version", "1.0.3")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statement = &kept["statements"][0];
    assert_eq!(statement["result"]["extensions"], json!({ "https://lms.example/mood": 4 }));
    assert_eq!(statement["context"]["extensions"], json!({ "https://lms.example/device": "phone-1234" }));
}

async fn pages_follow_the_cursor_and_one_student_is_read_by_pseudonym(store: Store) {
    let app = TestApp::spawn(store).await;
    let client = demo("demo-dashboard");
    let everything = read_ndjson(&app, "/api/v1/purposes/personal-dashboard/records", &client).await;
    let mut paged: Vec<Value> = Vec::new();
    let mut path = "/api/v1/purposes/personal-dashboard/records?limit=250".to_owned();
    loop {
        let page: Value = read_page(&app, &path, &client).await.json().await.unwrap();
        paged.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/purposes/personal-dashboard/records?limit=250&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged.len(), everything.len());
    let times: Vec<&str> = paged.iter().map(|record| record["occurred_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "pages run in time order");
    let paged_references: BTreeSet<&str> = paged.iter().map(|record| record["record"].as_str().unwrap()).collect();
    let streamed_references: BTreeSet<&str> =
        everything.iter().map(|record| record["record"].as_str().unwrap()).collect();
    assert_eq!(paged_references, streamed_references);

    let grades = read_ndjson(&app, "/api/v1/purposes/personal-dashboard/records?kind=grade&course=c01", &client).await;
    assert!(!grades.is_empty());
    assert!(grades.iter().all(|record| record["kind"] == "grade" && record["fields"]["grade.course"] == "c01"));
    let window = read_ndjson(
        &app,
        "/api/v1/purposes/personal-dashboard/records?since=2026-03-01T00:00:00Z&until=2026-03-08T00:00:00Z",
        &client,
    )
    .await;
    assert!(!window.is_empty());
    assert!(window.iter().all(|record| {
        let at = record["occurred_at"].as_str().unwrap();
        ("2026-03-01".."2026-03-08").contains(&&at[..10])
    }));

    let pseudonym = everything[0]["subject"].as_str().unwrap();
    let own =
        read_ndjson(&app, &format!("/api/v1/purposes/personal-dashboard/subjects/{pseudonym}/records"), &client).await;
    assert_eq!(own.len(), everything.iter().filter(|record| record["subject"] == pseudonym).count());
    assert!(own.iter().all(|record| record["subject"] == pseudonym));
    let unknown = read_page(&app, "/api/v1/purposes/personal-dashboard/subjects/nobody/records", &client).await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not-found").await;

    let first: Value =
        read_page(&app, "/api/v1/purposes/personal-dashboard/records?limit=1", &client).await.json().await.unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let foreign =
        read_page(&app, &format!("/api/v1/purposes/personal-dashboard/records?cursor={cursor}"), &demo("demo-signals"))
            .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN, "demo-signals is not registered for personal-dashboard");
    let tampered = read_page(&app, "/api/v1/purposes/personal-dashboard/records?cursor=AAAA", &client).await;
    let problem = assert_problem(tampered, StatusCode::BAD_REQUEST, "malformed-body").await;
    assert_eq!(problem["errors"][0]["field"], "cursor");
    for (query, field) in
        [("limit=0", "limit"), ("limit=5000", "limit"), ("kind=clicks", "kind"), ("since=yesterday", "since")]
    {
        let response = read_page(&app, &format!("/api/v1/purposes/personal-dashboard/records?{query}"), &client).await;
        let status = response.status();
        let problem: Value = response.json().await.unwrap();
        assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST, "{query}: {status}");
        assert!(problem.to_string().contains(field), "{query}: {problem}");
    }
    let streamed_page = app
        .client
        .get(app.url("/api/v1/purposes/personal-dashboard/records?limit=10"))
        .basic_auth(client.0, Some(&client.1))
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_problem(streamed_page, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

async fn small_cells_are_suppressed_and_cannot_be_derived_from_totals(store: Store) {
    let app = TestApp::spawn(store).await;
    let mut definition = crate::purposes::definition("public_task");
    definition["granularity"] = json!("aggregate");
    definition["min_cell_size"] = json!(10);
    definition["fields"] = json!(["verb.id", "object.id", "context.contextActivities.parent", "timestamp"]);
    active_purpose(&app, "cohort-stats", definition).await;
    let admin = app.token_for("admin1").await;
    let tool = json!({ "id": "stats-tool", "name": "Stats", "organisation": "Test", "contact": "t@example.com", "purposes": ["cohort-stats"] });
    let issued: Value = app.post_as("/api/v1/clients", &admin, &tool).await.json().await.unwrap();
    let token_free = ("stats-tool", issued["secret"].as_str().unwrap().to_owned());

    let verb = "https://lms.example/verbs/tested";
    let mut statements = Vec::new();
    for (course, students) in [("c01", 15), ("c02", 12), ("c03", 4)] {
        for student in 0..students {
            for attempt in 0..2 {
                statements.push(json!({
                    "actor": { "mbox": format!("mailto:{course}-{student}@example.com") },
                    "verb": { "id": verb },
                    "object": { "id": format!("https://lms.hogeschool-demo.example/course/{course}/test/{attempt}") },
                    "context": { "contextActivities": { "parent": [{ "id": format!("https://lms.hogeschool-demo.example/course/{course}") }] } },
                }));
            }
        }
    }
    post_statements(&app, &Value::Array(statements)).await;

    let ask = |body: Value| {
        let request = app
            .client
            .post(app.url("/api/v1/purposes/cohort-stats/aggregates"))
            .basic_auth(token_free.0, Some(&token_free.1))
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let metrics = json!([{ "metric": "count" }, { "metric": "distinct_students" }]);
    let by_course = ask(json!({ "group_by": ["course"], "metrics": metrics, "filters": { "verb": verb } })).await;
    assert_eq!(by_course.status(), StatusCode::OK);
    let by_course: Value = by_course.json().await.unwrap();
    let cells = by_course["cells"].as_array().unwrap();
    let cell = |course: &str| cells.iter().find(|cell| cell["key"]["course"] == course).unwrap().clone();
    assert_eq!(cell("c01")["values"], json!({ "count": 30, "distinct_students": 15 }));
    assert_eq!(cell("c03")["suppressed"], true, "4 students with k = 10");
    assert!(cell("c03").get("values").is_none());
    assert_eq!(cell("c02")["suppressed"], true, "suppressed too, or c03 = total - c01 - c02");
    assert_eq!(by_course["suppressed_cells"], 2);
    assert!(by_course["note"].as_str().unwrap().contains("1 more"), "{}", by_course["note"]);

    let total = ask(json!({ "metrics": metrics, "filters": { "verb": verb } })).await.json::<Value>().await.unwrap();
    assert_eq!(total["cells"][0]["values"]["distinct_students"], 31);
    let visible: u64 = cells.iter().filter_map(|cell| cell["values"]["count"].as_u64()).sum();
    let hidden = total["total"]["values"]["count"].as_u64().unwrap() - visible;
    assert_eq!(hidden, 32, "what totals reveal is c02 and c03 together, never c03 alone");

    let by_course_and_activity = ask(
        json!({ "group_by": ["course", "activity"], "metrics": [{ "metric": "count" }], "filters": { "verb": verb } }),
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    let cells = by_course_and_activity["cells"].as_array().unwrap();
    for course in ["c01", "c02", "c03"] {
        let row: Vec<&Value> = cells.iter().filter(|cell| cell["key"]["course"] == course).collect();
        let hidden = row.iter().filter(|cell| cell["suppressed"] == true).count();
        assert!(hidden == 0 || hidden >= 2, "{course}: {hidden} suppressed in its row");
    }

    for (body, field) in [
        (json!({ "group_by": ["weather"], "metrics": metrics }), "group_by"),
        (json!({ "group_by": ["course"], "metrics": [] }), "metrics"),
        (json!({ "metrics": [{ "metric": "mean", "field": "verb.id" }] }), "metrics[0].field"),
        (json!({ "metrics": [{ "metric": "percentile", "field": "grade.value", "p": 120 }] }), "metrics[0].p"),
    ] {
        let response = ask(body.clone()).await;
        let status = response.status();
        let problem: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert!(problem["errors"].to_string().contains(field), "{body}: {problem}");
    }
    // Whatever the grouping, every visible cell has at least k students.
    let by_group = app
        .client
        .post(app.url("/api/v1/purposes/course-improvement/aggregates"))
        .basic_auth("demo-dashboard", Some("demo-dashboard-secret"))
        .json(&json!({ "group_by": ["group", "week"], "metrics": metrics }))
        .send()
        .await
        .unwrap();
    let by_group: Value = by_group.json().await.unwrap();
    let cells = by_group["cells"].as_array().unwrap();
    assert!(cells.iter().any(|cell| cell["key"]["group"] == "g01"));
    for cell in cells.iter().filter(|cell| cell["suppressed"] == false) {
        assert!(cell["values"]["distinct_students"].as_u64().unwrap() >= 10, "{cell}");
    }
    let not_read = ask(json!({ "metrics": [{ "metric": "mean", "field": "grade.value" }] })).await;
    let problem = assert_problem(not_read, StatusCode::FORBIDDEN, "field-not-allowed").await;
    assert_eq!(problem["errors"][0]["field"], "metrics[0].field");
}

async fn denials_name_their_reason_and_are_audited(store: Store) {
    let app = TestApp::spawn(store).await;
    let dashboard = demo("demo-dashboard");
    let not_registered = read_page(&app, "/api/v1/purposes/learning-research/records", &dashboard).await;
    assert_problem(not_registered, StatusCode::FORBIDDEN, "not-registered-for-purpose").await;
    let aggregate_only = read_page(&app, "/api/v1/purposes/course-improvement/records", &dashboard).await;
    assert_problem(aggregate_only, StatusCode::FORBIDDEN, "aggregate-only-purpose").await;
    let admin = app.token_for("admin1").await;
    let widened = app
        .put_as(
            "/api/v1/clients/demo-research/purposes",
            &admin,
            &json!({ "purposes": ["learning-research", "wellbeing-support"] }),
        )
        .await;
    assert_eq!(widened.status(), StatusCode::OK);
    let verb_filter =
        read_page(&app, "/api/v1/purposes/wellbeing-support/records?verb=x", &demo("demo-research")).await;
    let problem = assert_problem(verb_filter, StatusCode::FORBIDDEN, "field-not-allowed").await;
    assert_eq!(problem["errors"][0]["field"], "verb");

    let officer = app.token_for("po1").await;
    let suspended =
        app.post_as("/api/v1/purposes/personal-dashboard/status", &officer, &json!({ "status": "suspended" })).await;
    assert_eq!(suspended.status(), StatusCode::OK);
    let not_active = read_page(&app, "/api/v1/purposes/personal-dashboard/records", &dashboard).await;
    assert_problem(not_active, StatusCode::FORBIDDEN, "purpose-not-active").await;
    let missing = read_page(&app, "/api/v1/purposes/no-such-purpose/records", &dashboard).await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not-found").await;
    let anonymous = app.get("/api/v1/purposes/dropout-prevention/records").await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let wrong_secret =
        read_page(&app, "/api/v1/purposes/dropout-prevention/records", &("demo-signals", "guess".to_owned())).await;
    assert_problem(wrong_secret, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // A teacher reads aggregates of their own course only.
    let teacher = app.token_for("teacher01").await;
    let body = |course: &str| json!({ "group_by": ["week"], "metrics": [{ "metric": "count" }], "filters": { "course": course } });
    let own = app.post_as("/api/v1/purposes/course-improvement/aggregates", &teacher, &body("c01")).await;
    assert_eq!(own.status(), StatusCode::OK);
    let other = app.post_as("/api/v1/purposes/course-improvement/aggregates", &teacher, &body("c02")).await;
    assert_problem(other, StatusCode::FORBIDDEN, "forbidden").await;
    let records = app.get_as("/api/v1/purposes/course-improvement/records?course=c01", &teacher).await;
    assert_problem(records, StatusCode::FORBIDDEN, "aggregate-only-purpose").await;

    let events: Value =
        app.get_as("/api/v1/audit/events?action=access.denied&limit=1000", &officer).await.json().await.unwrap();
    let reasons: Vec<String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["details"]["action"].as_str().is_some_and(|action| action.starts_with("Read")))
        .map(|event| event["details"]["reason"].as_str().unwrap().to_owned())
        .collect();
    for reason in
        ["not-registered-for-purpose", "aggregate-only-purpose", "field-not-allowed", "purpose-not-active", "forbidden"]
    {
        assert!(reasons.iter().any(|found| found == reason), "{reason} not audited: {reasons:?}");
    }
}

async fn every_read_is_logged_per_student_with_one_audit_event(store: Store) {
    let app = TestApp::spawn(store).await;
    let records =
        read_ndjson(&app, "/api/v1/purposes/personal-dashboard/records?kind=xapi", &demo("demo-dashboard")).await;
    let db = app.db().await;
    let reads: Vec<(String, String, String, i64, i64, i16)> = sqlx::query_as(
        "SELECT id, client_id, purpose_id, records, subjects, complete FROM gateway_reads ORDER BY started_at",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(reads.len(), 1);
    let (read, client, purpose, count, students, complete) = reads[0].clone();
    assert_eq!((client.as_str(), purpose.as_str(), complete), ("demo-dashboard", "personal-dashboard", 1));
    assert_eq!(count as usize, records.len());
    assert_eq!(students as usize, subjects(&records).len());
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT subject_id, records FROM disclosures WHERE read_id = $1")
        .bind(&read)
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), subjects(&records).len(), "one row per student, not per record");
    assert_eq!(rows.iter().map(|(_, count)| *count as usize).sum::<usize>(), records.len());

    let officer = app.token_for("po1").await;
    let events: Value = app
        .get_as("/api/v1/audit/events?action=access.allowed&purpose=personal-dashboard", &officer)
        .await
        .json()
        .await
        .unwrap();
    let reads: Vec<&Value> =
        events["events"].as_array().unwrap().iter().filter(|event| event["details"]["read"] == read).collect();
    assert_eq!(reads.len(), 1, "one audit event per read");
    let details = &reads[0]["details"];
    assert_eq!(details["records"], records.len());
    assert_eq!(details["filters"], json!({ "kind": "xapi" }));
    assert!(
        reads[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|policy| policy == "clients-records-of-registered-active-purposes")
    );
    assert!(details["fields"].as_array().unwrap().contains(&json!("verb.id")));
}

async fn a_stream_keeps_its_snapshot_while_a_student_objects(store: Store) {
    // Enough students that a stream outlasts the socket buffers and waits for its reader.
    let app = TestApp::builder(store).configure(|config| config.demo_scale = 0.25).spawn().await;
    let client = demo("demo-dashboard");
    let path = "/api/v1/purposes/personal-dashboard/records";
    let before = read_ndjson(&app, path, &client).await;
    // Seeded student by student, the last student's records come last in storage order.
    let mut objector = None;
    for number in (1..=500).rev() {
        let token = app.token_for(&format!("s{number:04}")).await;
        let mine: Value = app.get_as("/api/v1/me/purposes", &token).await.json().await.unwrap();
        let state =
            mine.as_array().unwrap().iter().find(|entry| entry["id"] == "personal-dashboard").unwrap()["state"].clone();
        if state == "not_objected" {
            objector = Some(token);
            break;
        }
    }
    let objector = objector.unwrap();

    let mut response = app
        .client
        .get(app.url(path))
        .basic_auth(client.0, Some(&client.1))
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    let mut body = response.chunk().await.unwrap().unwrap().to_vec();
    choose(&app, &objector, "personal-dashboard", "objected").await;
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let during: Vec<Value> =
        String::from_utf8(body).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(during.len(), before.len(), "the read that was running finishes on its snapshot");
    assert_eq!(subjects(&during), subjects(&before));

    let after = read_ndjson(&app, path, &client).await;
    assert_eq!(subjects(&after).len() + 1, subjects(&before).len(), "the next read honours the objection");
    assert!(after.len() < before.len());
}

/// The plan SQLite chooses for a scan, one line per step.
async fn plan(db: &consentry::db::Db, scan: &Scan) -> String {
    let (sql, binds) = scan.sql(PlaceholderStyle::Anonymous);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
    for value in binds {
        query = query.bind(value);
    }
    let rows = query.fetch_all(db.pool()).await.unwrap();
    rows.iter().map(|row| row.try_get::<String, _>("detail").unwrap()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn bulk_reads_scan_in_storage_order_and_pages_walk_the_time_index() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let db = app.db().await;
    let whole = Scan {
        columns: vec![Column::Verb, Column::Course],
        categories: vec![Category::Activity, Category::Assessment],
        kind: Some(RecordKind::Xapi),
        ..Scan::default()
    };
    let streamed = plan(&db, &whole).await;
    assert!(streamed.contains("SCAN records") && !streamed.contains("TEMP B-TREE"), "{streamed}");
    let paged = Scan { since: Some("2026-01-01T00:00:00.000000Z".to_owned()), ordered: true, ..whole.clone() };
    let paged = plan(&db, &paged).await;
    assert!(paged.contains("records_by_time") && !paged.contains("TEMP B-TREE"), "{paged}");
    // The index holds what a page skips by, so skipped rows need no table lookup.
    let indexed: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_index_info('records_by_time') ORDER BY seqno")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(indexed, ["occurred_at", "id", "category", "voided"]);
    let one_student = Scan { subject: Some("0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b11".to_owned()), ..whole };
    let one_student = plan(&db, &one_student).await;
    assert!(one_student.contains("records_by_subject"), "{one_student}");
}

/// Only a minority consents to research, so pages skip many rows and read past several
/// chunks of the table per page; page by page they add up to the stream, in order.
async fn pages_of_a_consent_purpose_hold_exactly_what_the_stream_holds(store: Store) {
    let app = TestApp::spawn(store).await;
    let research = demo("demo-research");
    let streamed = read_ndjson(&app, "/api/v1/purposes/learning-research/records", &research).await;
    assert!(streamed.len() > 300, "{} records", streamed.len());
    let mut paged: Vec<Value> = Vec::new();
    let mut path = "/api/v1/purposes/learning-research/records?limit=300".to_owned();
    loop {
        let page: Value = read_page(&app, &path, &research).await.json().await.unwrap();
        paged.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/purposes/learning-research/records?limit=300&cursor={cursor}"),
            None => break,
        }
    }
    let ids = |records: &[Value]| records.iter().map(|record| record["record"].clone()).collect::<Vec<_>>();
    assert_eq!(paged.len(), streamed.len());
    let mut streamed_ids = ids(&streamed);
    let mut paged_ids = ids(&paged);
    streamed_ids.sort_by_key(ToString::to_string);
    paged_ids.sort_by_key(ToString::to_string);
    assert_eq!(paged_ids, streamed_ids);
    let times: Vec<&str> = paged.iter().map(|record| record["occurred_at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "pages are in time order");
}
