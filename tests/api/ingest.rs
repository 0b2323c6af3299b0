//! The xAPI statements resource: validation, idempotency, identity mapping, minimisation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    the_specifications_statement_is_stored_and_mapped_to_a_student,
    a_batch_is_stored_once_and_a_changed_statement_conflicts,
    a_batch_with_one_invalid_statement_stores_none,
    fields_no_purpose_reads_are_dropped_at_the_door,
    sources_must_authenticate_and_say_their_version,
);

const SOURCE: (&str, &str) = ("demo-lms", "demo-lms-secret");

async fn post_statements(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/xapi/statements"))
        .basic_auth(SOURCE.0, Some(SOURCE.1))
        .header("X-Experience-API-Version", "1.0.3")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The "simple statement" example of the xAPI 1.0.3 specification.
fn spec_example() -> Value {
    json!({
        "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
        "timestamp": "2015-11-18T12:17:00+00:00",
        "actor": { "objectType": "Agent", "name": "Project Tin Can API", "mbox": "mailto:user@example.com" },
        "verb": { "id": "http://example.com/xapi/verbs#sent-a-statement", "display": { "en-US": "sent" } },
        "object": {
            "id": "http://example.com/xapi/activity/simplestatement",
            "definition": {
                "name": { "en-US": "simple statement" },
                "description": { "en-US": "A simple Experience API statement. Note that the LRS does not need to have any prior information about the Actor (learner), the verb, or the Activity/object." }
            }
        }
    })
}

/// A statement by demo student `login`, in course c01.
fn by_student(login: &str, id: &str) -> Value {
    json!({
        "id": id,
        "timestamp": "2026-03-02T10:00:00Z",
        "actor": { "account": { "homePage": "https://lms.hogeschool-demo.example", "name": login } },
        "verb": { "id": "http://adlnet.gov/expapi/verbs/completed" },
        "object": { "id": "https://lms.hogeschool-demo.example/course/c01/activity/13", "definition": { "type": "http://adlnet.gov/expapi/activities/assessment" } },
        "result": { "completion": true, "duration": "PT12M", "extensions": { "https://lms.example/keystrokes": 1200 } },
        "context": { "contextActivities": { "parent": [{ "id": "https://lms.hogeschool-demo.example/course/c01" }] } }
    })
}

async fn stored(app: &TestApp, statement_id: &str) -> Vec<Value> {
    let db = app.db().await;
    let rows =
        sqlx::query("SELECT subject_id, verb, course_id, completion, duration_ms FROM records WHERE statement_id = $1")
            .bind(statement_id)
            .fetch_all(db.pool())
            .await
            .unwrap();
    use sqlx::Row;
    rows.iter()
        .map(|row| {
            json!({
                "subject": row.try_get::<String, _>("subject_id").unwrap(),
                "verb": row.try_get::<Option<String>, _>("verb").unwrap(),
                "course": row.try_get::<Option<String>, _>("course_id").unwrap(),
                "completion": row.try_get::<Option<i64>, _>("completion").unwrap(),
                "duration_ms": row.try_get::<Option<i64>, _>("duration_ms").unwrap(),
            })
        })
        .collect()
}

async fn the_specifications_statement_is_stored_and_mapped_to_a_student(store: Store) {
    let app = TestApp::spawn(store).await;

    let response = post_statements(&app, &spec_example()).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-experience-api-version"], "1.0.3");
    let ids: Value = response.json().await.unwrap();
    assert_eq!(ids, json!(["fd41c918-b88b-4b20-a0a5-a4c32391aaa0"]));
    let rows = stored(&app, "fd41c918-b88b-4b20-a0a5-a4c32391aaa0").await;
    assert_eq!(rows.len(), 1);
    let db = app.db().await;
    let known: Option<String> = sqlx::query_scalar(
        "SELECT subject_id FROM subject_identifiers WHERE scheme = 'xapi_mbox' AND value = 'mailto:user@example.com'",
    )
    .fetch_optional(db.pool())
    .await
    .unwrap();
    assert_eq!(
        known.as_deref(),
        rows[0]["subject"].as_str(),
        "an unknown actor becomes a subject with the identifier seen"
    );

    let student = by_student("s0002", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b11");
    assert_eq!(post_statements(&app, &student).await.status(), StatusCode::OK);
    let rows = stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b11").await;
    let s0002 =
        consentry::directory::subject_of_user(&mut db.pool().acquire().await.unwrap(), "s0002").await.unwrap().unwrap();
    assert_eq!(rows[0]["subject"], s0002.to_string(), "an account actor maps to the known student");
    assert_eq!(rows[0]["course"], "c01", "the parent activity maps to the course");
}

async fn a_batch_is_stored_once_and_a_changed_statement_conflicts(store: Store) {
    let app = TestApp::spawn(store).await;
    let batch = json!([
        by_student("s0003", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b21"),
        by_student("s0004", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b22")
    ]);

    let first = post_statements(&app, &batch).await;
    let again = post_statements(&app, &batch).await;
    let mut changed = by_student("s0003", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b21");
    changed["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/failed");
    let conflict = post_statements(&app, &changed).await;

    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(again.status(), StatusCode::OK, "the same statements again are accepted");
    assert_eq!(stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b21").await.len(), 1, "and stored once");
    assert_eq!(stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b22").await.len(), 1);
    assert_problem(conflict, StatusCode::CONFLICT, "conflict").await;
    let officer = app.token_for("po1").await;
    let log: Value = app.get_as("/api/v1/audit/events?action=ingest.xapi", &officer).await.json().await.unwrap();
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "one event per batch, not per statement; the conflict stored nothing");
    assert_eq!(events[1]["details"]["already_stored"], 2);
}

async fn a_batch_with_one_invalid_statement_stores_none(store: Store) {
    let app = TestApp::spawn(store).await;
    let mut broken = by_student("s0005", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b32");
    broken["actor"] = json!({ "mbox": "s0005@student.hogeschool-demo.example" });
    let batch = json!([by_student("s0005", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b31"), broken]);

    let response = post_statements(&app, &batch).await;

    let body = assert_problem(response, StatusCode::BAD_REQUEST, "malformed-body").await;
    assert_eq!(body["errors"][0]["field"], "statements[1].actor.mbox");
    assert!(body["errors"][0]["detail"].as_str().unwrap().contains("mailto:"));
    assert!(stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b31").await.is_empty(), "all or nothing");
}

async fn fields_no_purpose_reads_are_dropped_at_the_door(store: Store) {
    let app = TestApp::builder(store)
        .configure(|config| {
            config.catalogue.fields.push(consentry::catalogue::Field {
                name: "result.extensions.https://lms.example/diagnosis".to_owned(),
                category: consentry::records::Category::Special,
                source: consentry::catalogue::FieldSource::Xapi,
                description: "A health condition".to_owned(),
            });
        })
        .spawn()
        .await;

    let response = post_statements(&app, &by_student("s0006", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b41")).await;

    assert_eq!(response.status(), StatusCode::OK);
    let row = &stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b41").await[0];
    assert_eq!(row["completion"], 1);
    assert_eq!(row["duration_ms"], 720_000, "read by the demo's personal dashboard");
    let officer = app.token_for("po1").await;
    let log: Value = app.get_as("/api/v1/audit/events?action=ingest.xapi", &officer).await.json().await.unwrap();
    assert_eq!(log["events"][0]["details"]["dropped"]["result.extensions.https://lms.example/keystrokes"], 1);
    let report: Value = app.get_as("/api/v1/ingest/dropped", &officer).await.json().await.unwrap();
    assert_eq!(report["dropped"]["result.extensions.https://lms.example/keystrokes"], 1, "{report}");
    let student = app.token_for("s0006").await;
    assert_problem(app.get_as("/api/v1/ingest/dropped", &student).await, StatusCode::FORBIDDEN, "forbidden").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("ingest_dropped_fields_total{field=\"result.extensions.https://lms.example/keystrokes\"}"),
        "{metrics}"
    );

    let mut special = by_student("s0006", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b42");
    special["result"]["extensions"] = json!({ "https://lms.example/diagnosis": "dyslexia" });
    let refused = post_statements(&app, &special).await;
    let body = assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "statements[0].result.extensions.https://lms.example/diagnosis");
    assert!(stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b42").await.is_empty());
}

async fn sources_must_authenticate_and_say_their_version(store: Store) {
    let app = TestApp::spawn(store).await;
    let statement = spec_example();
    let send = |user: &'static str, secret: &'static str, version: Option<&'static str>| {
        let mut request = app.client.post(app.url("/xapi/statements")).basic_auth(user, Some(secret)).json(&statement);
        if let Some(version) = version {
            request = request.header("X-Experience-API-Version", version);
        }
        request.send()
    };

    let wrong_secret = send("demo-lms", "guess", Some("1.0.3")).await.unwrap();
    let unknown_source = send("other-lms", "demo-lms-secret", Some("1.0.3")).await.unwrap();
    let no_version = send("demo-lms", "demo-lms-secret", None).await.unwrap();
    let anonymous = app
        .client
        .post(app.url("/xapi/statements"))
        .header("X-Experience-API-Version", "1.0.3")
        .json(&statement)
        .send()
        .await
        .unwrap();

    assert_eq!(wrong_secret.headers()["www-authenticate"], "Basic realm=\"consentry-xapi\"");
    assert_problem(wrong_secret, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(unknown_source, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let survey_tool = app
        .client
        .post(app.url("/xapi/statements"))
        .basic_auth("demo-survey", Some("demo-survey-secret"))
        .header("X-Experience-API-Version", "1.0.3")
        .json(&statement)
        .send()
        .await
        .unwrap();
    let body = assert_problem(survey_tool, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["detail"].as_str().unwrap().contains("Ingest"), "the policy decides: {body}");
    let body = assert_problem(no_version, StatusCode::BAD_REQUEST, "malformed-body").await;
    assert!(body["detail"].as_str().unwrap().contains("X-Experience-API-Version"));
    let about: Value = app.get("/xapi/about").await.json().await.unwrap();
    assert!(about["version"].as_array().unwrap().contains(&json!("1.0.3")));
}

#[tokio::test]
async fn conformant_mode_keeps_statements_as_received() {
    let app = TestApp::builder(Store::Sqlite)
        .configure(|config| config.ingest.mode = consentry::config::IngestMode::Conformant)
        .spawn()
        .await;
    let statement = by_student("s0007", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b51");

    assert_eq!(post_statements(&app, &statement).await.status(), StatusCode::OK);

    let db = app.db().await;
    let payload: Option<String> = sqlx::query_scalar("SELECT payload FROM records WHERE statement_id = $1")
        .bind("0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b51")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let payload: Value = serde_json::from_str(&payload.unwrap()).unwrap();
    assert_eq!(payload, statement, "the statement as received");
}

#[tokio::test]
async fn statements_are_backfilled_from_json_lines_all_or_nothing() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    let lines = |statements: &[Value]| statements.iter().map(|statement| format!("{statement}\n")).collect::<String>();
    let import = |contents: String| {
        std::fs::write(file.path(), contents).unwrap();
        tokio::process::Command::new(crate::helpers::binary())
            .args(["import", "xapi", file.path().to_str().unwrap(), "--source", "demo-lms"])
            .args(["--data-dir", app.data_dir().to_str().unwrap()])
            .output()
    };
    let good: Vec<Value> =
        (0..3).map(|n| by_student("s0008", &format!("0196b4a2-3c1e-7d40-9a51-2f0c5e8d7c{n:02}"))).collect();
    let mut bad = good.clone();
    bad.push(json!({ "actor": { "mbox": "mailto:x@example.com" }, "verb": { "id": "done" }, "object": { "id": "https://x.example" } }));

    let refused = import(lines(&bad)).await.unwrap();
    let imported = import(lines(&good)).await.unwrap();
    let again = import(lines(&good)).await.unwrap();

    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("line 4: verb.id"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(imported.status.code(), Some(0), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(String::from_utf8_lossy(&imported.stdout).contains("3 stored"));
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 stored, 3 already stored"));
    assert_eq!(stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7c00").await.len(), 1);
}

#[tokio::test]
async fn put_stores_one_statement_under_the_given_id() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let put = |query: &'static str, body: Value| {
        app.client
            .put(app.url(&format!("/xapi/statements{query}")))
            .basic_auth(SOURCE.0, Some(SOURCE.1))
            .header("X-Experience-API-Version", "1.0.3")
            .json(&body)
            .send()
    };
    let mut without_id = by_student("s0009", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7d01");
    without_id.as_object_mut().unwrap().remove("id");

    let stored_once = put("?statementId=0196b4a2-3c1e-7d40-9a51-2f0c5e8d7d01", without_id.clone()).await.unwrap();
    let mismatched = put(
        "?statementId=0196b4a2-3c1e-7d40-9a51-2f0c5e8d7d02",
        by_student("s0009", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7d01"),
    )
    .await
    .unwrap();
    let missing = put("", without_id).await.unwrap();

    assert_eq!(stored_once.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored(&app, "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7d01").await.len(), 1);
    assert_problem(mismatched, StatusCode::BAD_REQUEST, "malformed-body").await;
    let body = assert_problem(missing, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(body["detail"].as_str().unwrap().contains("statementId"), "{body}");
}

#[tokio::test]
async fn survey_answers_import_all_or_nothing_and_once() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let file = tempfile::TempDir::new().unwrap();
    let path = file.path().join("wellbeing-week-12.csv");
    let import = |contents: &'static str| {
        std::fs::write(&path, contents).unwrap();
        tokio::process::Command::new(crate::helpers::binary())
            .args(["import", "survey", path.to_str().unwrap(), "--source", "demo-survey"])
            .args(["--data-dir", app.data_dir().to_str().unwrap()])
            .output()
    };
    let count = || async {
        let db = app.db().await;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE value_text = 'wellbeing-2026'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        count
    };
    let good = "instrument,item,student_number,score,answered_at\n\
                wellbeing-2026,motivation,4100001,3,2026-04-20T09:00:00Z\n\
                wellbeing-2026,stress,4100001,2,2026-04-20T09:00:00Z\n";

    let broken = import(
        "instrument,item,student_number,score,answered_at\n\
         wellbeing-2026,motivation,4100001,3,2026-04-20T09:00:00Z\n\
         wellbeing-2026,stress,9999999,2,2026-04-20T09:00:00Z\n",
    )
    .await
    .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("wellbeing-week-12.csv line 3"),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
    assert_eq!(count().await, 0, "all or nothing");

    let first = import(good).await.unwrap();
    let second = import(good).await.unwrap();

    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("2 stored"));
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 stored, 2 already stored"));
    assert_eq!(count().await, 2, "importing again changes nothing");
}

#[tokio::test]
async fn admins_register_rotate_and_suspend_sources() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let admin = app.token_for("admin1").await;
    let post_as = |user: String, secret: String| {
        app.client
            .post(app.url("/xapi/statements"))
            .basic_auth(user, Some(secret))
            .header("X-Experience-API-Version", "1.0.3")
            .json(&spec_example())
            .send()
    };

    let created =
        app.post_as("/api/v1/sources", &admin, &json!({ "id": "moodle", "name": "Moodle", "kinds": ["xapi"] })).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let first: Value = created.json().await.unwrap();
    let first_secret = first["secret"].as_str().unwrap().to_owned();
    assert_eq!(post_as("moodle".to_owned(), first_secret.clone()).await.unwrap().status(), StatusCode::OK);

    let rotated: Value = app.post_as("/api/v1/sources/moodle/rotate", &admin, &json!({})).await.json().await.unwrap();
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        post_as("moodle".to_owned(), first_secret).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the old secret stops"
    );
    assert_eq!(post_as("moodle".to_owned(), second_secret.clone()).await.unwrap().status(), StatusCode::OK);

    let suspended = app.post_as("/api/v1/sources/moodle/status", &admin, &json!({ "status": "suspended" })).await;
    assert_eq!(suspended.status(), StatusCode::OK);
    assert_problem(post_as("moodle".to_owned(), second_secret).await.unwrap(), StatusCode::FORBIDDEN, "forbidden")
        .await;

    let listed: Value = app.get_as("/api/v1/sources", &admin).await.json().await.unwrap();
    assert!(
        listed.as_array().unwrap().iter().any(|source| source["id"] == "moodle" && source["status"] == "suspended")
    );
    assert!(!listed.to_string().contains("secret"), "secrets are shown once, never listed");
    let taken =
        app.post_as("/api/v1/sources", &admin, &json!({ "id": "moodle", "name": "Moodle", "kinds": ["xapi"] })).await;
    assert_problem(taken, StatusCode::CONFLICT, "conflict").await;
    let bad = app.post_as("/api/v1/sources", &admin, &json!({ "id": "Bad Id", "name": "", "kinds": ["video"] })).await;
    let body = assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let fields: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|error| error["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["id", "name", "kinds[0]"]);
    let teacher = app.token_for("teacher01").await;
    assert_problem(app.get_as("/api/v1/sources", &teacher).await, StatusCode::FORBIDDEN, "forbidden").await;
    let officer = app.token_for("po1").await;
    let log: Value =
        app.get_as("/api/v1/audit/events?action=source.secret_rotated", &officer).await.json().await.unwrap();
    assert_eq!(log["events"][0]["actor"]["id"], "admin1");
}

#[tokio::test]
async fn a_source_sending_too_fast_is_asked_to_wait() {
    let app = TestApp::builder(Store::Sqlite)
        .configure(|config| {
            config.ingest.requests_per_second = 1;
            config.ingest.burst = 2;
        })
        .spawn()
        .await;

    let first = post_statements(&app, &spec_example()).await;
    let second = post_statements(&app, &spec_example()).await;
    let third = post_statements(&app, &spec_example()).await;

    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let retry_after = third.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned());
    assert_problem(third, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    assert!(retry_after.is_some_and(|seconds| seconds.parse::<u64>().unwrap() >= 1));
}

fn oneroster_export(results: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("manifest.csv", "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.users,bulk\n");
    write(
        "users.csv",
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n\
         u1,active,,true,org1,student,s0001,,Anna,Jansen,,4100001,,,,,,\n\
         u2,active,,true,org1,student,newbie,,Noor,Bakker,,4199999,noor@example.com,,,,,\n\
         t1,active,,true,org1,teacher,teacher01,,Tim,Smit,,T1,,,,,,\n",
    );
    write(
        "courses.csv",
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\ncrs1,active,,y1,Programming Basics,c01,,org1,,\n",
    );
    write(
        "classes.csv",
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\ncls1,active,,PB-1,,crs1,PB1,scheduled,,org1,term1,,,\n",
    );
    write(
        "enrollments.csv",
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n\
         e1,active,,cls1,org1,u1,student,false,2026-02-02,\n\
         e2,active,,cls1,org1,u2,student,false,2026-02-02,\n\
         e3,active,,cls1,org1,t1,teacher,true,2026-02-02,\n",
    );
    write(
        "lineItems.csv",
        "sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax\nli1,active,,Final,,2026-06-01,2026-06-20,cls1,cat1,gp1,1,10\n",
    );
    write("results.csv", results);
    dir
}

#[tokio::test]
async fn a_oneroster_export_imports_all_or_nothing_and_once() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let import = |dir: std::path::PathBuf| {
        tokio::process::Command::new(crate::helpers::binary())
            .args(["import", "oneroster", dir.to_str().unwrap(), "--source", "demo-sis"])
            .args(["--data-dir", app.data_dir().to_str().unwrap()])
            .output()
    };
    let grades = || async {
        let db = app.db().await;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE kind = 'grade' AND item = 'Final'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        count
    };
    let good = "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,scoreDate,comment\n\
                r1,active,,li1,u1,fully graded,7.5,2026-06-25,\n\
                r2,active,,li1,u2,fully graded,6.0,2026-06-25,\n";
    let broken = oneroster_export(
        "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,scoreDate,comment\n\
         r1,active,,li1,u1,fully graded,7.5,2026-06-25,\n\
         r2,active,,li1,u9,fully graded,6.0,2026-06-25,\n",
    );

    let refused = import(broken.path().to_path_buf()).await.unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("results.csv line 3"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(grades().await, 0, "all or nothing");

    let export = oneroster_export(good);
    let first = import(export.path().to_path_buf()).await.unwrap();
    let second = import(export.path().to_path_buf()).await.unwrap();

    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let summary = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(summary.contains("2 enrolments and 2 grades") && summary.contains("1 new students"), "{summary}");
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("4 already stored"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(grades().await, 2, "importing again changes nothing");
    let db = app.db().await;
    let known: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subject_identifiers WHERE scheme = 'student_number' AND value = '4199999'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(known, 1, "a new student is registered by student number");
}

fn document_request(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .basic_auth(SOURCE.0, Some(SOURCE.1))
        .header("X-Experience-API-Version", "1.0.3")
}

const STATE: &str = "/xapi/activities/state?activityId=https%3A%2F%2Flms.example%2Fa1&agent=%7B%22mbox%22%3A%22mailto%3As1%40example.com%22%7D&stateId=bookmark";

#[tokio::test]
async fn in_minimise_mode_documents_are_accepted_and_not_kept() {
    let app = TestApp::spawn(Store::Sqlite).await;

    let put = document_request(&app, reqwest::Method::PUT, STATE).json(&json!({ "page": 7 })).send().await.unwrap();
    let get = document_request(&app, reqwest::Method::GET, STATE).send().await.unwrap();
    let missing =
        document_request(&app, reqwest::Method::GET, "/xapi/activities/state?stateId=x").send().await.unwrap();

    assert_eq!(put.status(), StatusCode::NO_CONTENT, "content writing state does not fail");
    assert_problem(get, StatusCode::NOT_FOUND, "not-found").await;
    assert_problem(missing, StatusCode::BAD_REQUEST, "malformed-body").await;
    let person: Value = document_request(
        &app,
        reqwest::Method::GET,
        "/xapi/agents?agent=%7B%22mbox%22%3A%22mailto%3As1%40example.com%22%7D",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(person, json!({ "objectType": "Person", "mbox": ["mailto:s1@example.com"] }));
}

#[tokio::test]
async fn in_conformant_mode_documents_are_kept_merged_and_deleted() {
    let app = TestApp::builder(Store::Sqlite)
        .configure(|config| config.ingest.mode = consentry::config::IngestMode::Conformant)
        .spawn()
        .await;

    let put = document_request(&app, reqwest::Method::PUT, STATE).json(&json!({ "page": 7 })).send().await.unwrap();
    let merged = document_request(&app, reqwest::Method::POST, STATE).json(&json!({ "zoom": 2 })).send().await.unwrap();
    let got = document_request(&app, reqwest::Method::GET, STATE).send().await.unwrap();

    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    assert_eq!(merged.status(), StatusCode::NO_CONTENT);
    assert!(got.headers().contains_key("etag"));
    let document: Value = got.json().await.unwrap();
    assert_eq!(document, json!({ "page": 7, "zoom": 2 }));
    let listing = STATE.replace("&stateId=bookmark", "");
    let ids: Value = document_request(&app, reqwest::Method::GET, &listing).send().await.unwrap().json().await.unwrap();
    assert_eq!(ids, json!(["bookmark"]));
    let deleted = document_request(&app, reqwest::Method::DELETE, STATE).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        document_request(&app, reqwest::Method::GET, STATE).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_source_reads_back_its_own_statements_and_voids_them() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let ids = ["0196b4a2-3c1e-7d40-9a51-2f0c5e8d7e01", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7e02"];
    let batch = json!([by_student("s0010", ids[0]), by_student("s0011", ids[1])]);
    assert_eq!(post_statements(&app, &batch).await.status(), StatusCode::OK);
    let get = |source: (&'static str, String), query: String| {
        app.client
            .get(app.url(&format!("/xapi/statements{query}")))
            .basic_auth(source.0, Some(source.1))
            .header("X-Experience-API-Version", "1.0.3")
            .send()
    };
    let lms = || ("demo-lms", "demo-lms-secret".to_owned());

    let one: Value = get(lms(), format!("?statementId={}", ids[0])).await.unwrap().json().await.unwrap();
    assert_eq!(one["id"], ids[0]);
    assert_eq!(one["actor"]["account"]["name"], "s0010");
    assert_eq!(one["verb"]["id"], "http://adlnet.gov/expapi/verbs/completed");
    assert_eq!(one["authority"]["account"]["name"], "demo-lms");
    assert!(one["result"].get("extensions").is_none(), "what was dropped at the door does not come back");

    let page: Value = get(lms(), "?limit=1".to_owned()).await.unwrap().json().await.unwrap();
    assert_eq!(page["statements"].as_array().unwrap().len(), 1);
    let more = page["more"].as_str().unwrap().trim_start_matches("/xapi/statements").to_owned();
    let next: Value = get(lms(), more).await.unwrap().json().await.unwrap();
    assert_eq!(next["statements"].as_array().unwrap().len(), 1);
    assert_ne!(next["statements"][0]["id"], page["statements"][0]["id"]);

    let voiding = json!({
        "actor": { "mbox": "mailto:lms-admin@hogeschool-demo.example" },
        "verb": { "id": "http://adlnet.gov/expapi/verbs/voided" },
        "object": { "objectType": "StatementRef", "id": ids[0] }
    });
    assert_eq!(post_statements(&app, &voiding).await.status(), StatusCode::OK);
    assert_eq!(get(lms(), format!("?statementId={}", ids[0])).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(get(lms(), format!("?voidedStatementId={}", ids[0])).await.unwrap().status(), StatusCode::OK);

    let admin = app.token_for("admin1").await;
    let other: Value = app
        .post_as("/api/v1/sources", &admin, &json!({ "id": "moodle", "name": "Moodle", "kinds": ["xapi"] }))
        .await
        .json()
        .await
        .unwrap();
    let stranger = get(("moodle", other["secret"].as_str().unwrap().to_owned()), format!("?statementId={}", ids[1]))
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND, "another source reads nothing of it");
}

#[tokio::test]
async fn a_source_may_also_use_a_bearer_token() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let send = |token: String| {
        app.client
            .post(app.url("/xapi/statements"))
            .bearer_auth(token)
            .header("X-Experience-API-Version", "1.0.3")
            .json(&spec_example())
            .send()
    };

    let as_source = send(app.token_for("demo-lms").await).await.unwrap();
    let as_student = send(app.token_for("s0001").await).await.unwrap();
    let as_other_client = send(app.token_for("demo-dashboard").await).await.unwrap();

    assert_eq!(as_source.status(), StatusCode::OK);
    assert_problem(as_student, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(as_other_client, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn a_oneroster_export_can_be_uploaded() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let export = oneroster_export(
        "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,scoreDate,comment\n\
         r1,active,,li1,u1,fully graded,7.5,2026-06-25,\n",
    );
    let mut form = reqwest::multipart::Form::new();
    for name in ["users.csv", "courses.csv", "classes.csv", "enrollments.csv", "lineItems.csv", "results.csv"] {
        let bytes = std::fs::read(export.path().join(name)).unwrap();
        form = form.part(name, reqwest::multipart::Part::bytes(bytes).file_name(name));
    }

    let response = app
        .client
        .post(app.url("/api/v1/ingest/oneroster"))
        .basic_auth("demo-sis", Some("demo-sis-secret"))
        .multipart(form)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["grades"], 1);
    assert_eq!(report["enrolments"], 2);
    let lms = app
        .client
        .post(app.url("/api/v1/ingest/oneroster"))
        .basic_auth(SOURCE.0, Some(SOURCE.1))
        .multipart(reqwest::multipart::Form::new())
        .send()
        .await
        .unwrap();
    assert_problem(lms, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn statements_are_found_by_registration_and_unsupported_filters_say_so() {
    let app = TestApp::builder(Store::Sqlite)
        .configure(|config| config.ingest.mode = consentry::config::IngestMode::Conformant)
        .spawn()
        .await;
    let mut statement = by_student("s0012", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7f01");
    statement["context"]["registration"] = json!("0196b4a2-3c1e-7d40-9a51-2f0c5e8d7f99");
    assert_eq!(post_statements(&app, &statement).await.status(), StatusCode::OK);
    assert_eq!(
        post_statements(&app, &by_student("s0012", "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7f02")).await.status(),
        StatusCode::OK
    );
    let get = |query: &'static str| {
        app.client
            .get(app.url(&format!("/xapi/statements{query}")))
            .basic_auth(SOURCE.0, Some(SOURCE.1))
            .header("X-Experience-API-Version", "1.0.3")
            .send()
    };

    let found: Value =
        get("?registration=0196b4a2-3c1e-7d40-9a51-2f0c5e8d7f99&format=exact").await.unwrap().json().await.unwrap();
    let related = get("?related_activities=true").await.unwrap();

    let statements = found["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["context"]["registration"], "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7f99");
    assert_problem(related, StatusCode::BAD_REQUEST, "malformed-body").await;
}
