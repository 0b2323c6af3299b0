//! Students' choices: by legal basis, across versions, on behalf, receipts, summaries, import.

use consentry::directory;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{Store, TestApp, assert_problem, binary};
use crate::on_both_stores;
use crate::purposes::{active_purpose, definition};

on_both_stores!(
    each_legal_basis_allows_exactly_its_choices,
    consent_for_a_version_covers_narrower_versions_but_not_wider_ones,
    a_withdrawal_counts_from_the_very_next_read,
    staff_and_guardians_of_minors_record_choices_on_behalf,
    the_history_is_append_only_and_the_receipt_follows_iso_27560,
    officers_see_counts_and_students_see_the_demo_register,
);

async fn choose(app: &TestApp, token: &str, purpose: &str, event: &str) -> reqwest::Response {
    app.put_as(&format!("/api/v1/me/consents/{purpose}"), token, &json!({ "event": event })).await
}

async fn state_of(app: &TestApp, token: &str, purpose: &str) -> (String, bool) {
    let mine: Value = app.get_as("/api/v1/me/purposes", token).await.json().await.unwrap();
    let entry = mine.as_array().unwrap().iter().find(|entry| entry["id"] == purpose).unwrap().clone();
    (entry["state"].as_str().unwrap().to_owned(), entry["permits"].as_bool().unwrap())
}

async fn each_legal_basis_allows_exactly_its_choices(store: Store) {
    let app = TestApp::spawn(store).await;
    let student = app.token_for("s0003").await;
    // (basis, [(event, allowed)] in order, each step starting from the state the last left)
    let plans: [(&str, &[(&str, bool)]); 6] = [
        (
            "consent",
            &[
                ("objected", false),
                ("objection_lifted", false),
                ("withdrawn", false),
                ("given", true),
                ("given", true),
                ("withdrawn", true),
                ("withdrawn", false),
            ],
        ),
        (
            "public_task",
            &[
                ("given", false),
                ("withdrawn", false),
                ("objection_lifted", false),
                ("objected", true),
                ("objected", false),
                ("objection_lifted", true),
            ],
        ),
        (
            "legitimate_interest",
            &[("given", false), ("objected", true), ("withdrawn", false), ("objection_lifted", true)],
        ),
        ("contract", &[("given", false), ("withdrawn", false), ("objected", false), ("objection_lifted", false)]),
        (
            "legal_obligation",
            &[("given", false), ("withdrawn", false), ("objected", false), ("objection_lifted", false)],
        ),
        ("vital_interest", &[("given", false), ("withdrawn", false), ("objected", false), ("objection_lifted", false)]),
    ];
    for (basis, plan) in plans {
        let id = format!("basis-{}", basis.replace('_', "-"));
        active_purpose(&app, &id, definition(basis)).await;
        for (event, allowed) in plan {
            let response = choose(&app, &student, &id, event).await;
            if *allowed {
                assert_eq!(response.status(), StatusCode::OK, "{basis} {event}");
            } else {
                let body = assert_problem(response, StatusCode::CONFLICT, "conflict").await;
                assert!(body["detail"].as_str().unwrap().len() > 10, "{basis} {event}: the reason is given");
            }
        }
    }
    let (state, permits) = state_of(&app, &student, "basis-contract").await;
    assert_eq!((state.as_str(), permits), ("not_applicable", true), "shown, though there is no choice");
    let unknown_event = app.put_as("/api/v1/me/consents/basis-consent", &student, &json!({ "event": "maybe" })).await;
    let body = assert_problem(unknown_event, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "event");
    assert_problem(choose(&app, &student, "no-such-purpose", "given").await, StatusCode::NOT_FOUND, "not-found").await;
    let mentor = app.token_for("mentor01").await;
    assert_problem(choose(&app, &mentor, "basis-consent", "given").await, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn consent_for_a_version_covers_narrower_versions_but_not_wider_ones(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = active_purpose(&app, "habits", definition("consent")).await;
    let student = app.token_for("s0004").await;
    assert_eq!(choose(&app, &student, "habits", "given").await.status(), StatusCode::OK);
    let publish = |definition: Value| {
        app.client.post(app.url("/api/v1/purposes/habits/versions")).bearer_auth(&officer).json(&definition).send()
    };

    let mut narrower = definition("consent");
    narrower["fields"] = json!(["verb.id"]);
    narrower["retention"] = json!({ "activity": "P6M" });
    assert_eq!(publish(narrower.clone()).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(state_of(&app, &student, "habits").await, ("consented".to_owned(), true), "narrowing keeps consent");

    let mut wider = narrower;
    wider["fields"] = json!(["verb.id", "result.duration"]);
    assert_eq!(publish(wider).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(
        state_of(&app, &student, "habits").await,
        ("consent_outdated".to_owned(), false),
        "a wider version asks again"
    );

    assert_eq!(choose(&app, &student, "habits", "given").await.status(), StatusCode::OK);
    assert_eq!(state_of(&app, &student, "habits").await, ("consented".to_owned(), true));
}

async fn a_withdrawal_counts_from_the_very_next_read(store: Store) {
    let app = TestApp::spawn(store).await;
    let student = app.token_for("s0005").await;
    assert_eq!(choose(&app, &student, "learning-research", "given").await.status(), StatusCode::OK);
    assert_eq!(state_of(&app, &student, "learning-research").await, ("consented".to_owned(), true));

    let withdrawn = choose(&app, &student, "learning-research", "withdrawn").await;

    assert_eq!(withdrawn.status(), StatusCode::OK);
    let body: Value = withdrawn.json().await.unwrap();
    assert_eq!(body["state"], "withdrawn");
    assert_eq!(body["permits"], false);
    assert_eq!(state_of(&app, &student, "learning-research").await, ("withdrawn".to_owned(), false));
}

async fn staff_and_guardians_of_minors_record_choices_on_behalf(store: Store) {
    let app = TestApp::spawn(store).await;
    let db = app.db().await;
    let mut connection = db.pool().acquire().await.unwrap();
    let subject_of = |login: &'static str| {
        let db = db.clone();
        async move { directory::subject_of_user(&mut db.pool().acquire().await.unwrap(), login).await.unwrap().unwrap() }
    };
    let minor = subject_of("s0006").await;
    let adult = subject_of("s0007").await;
    let fifteen_years_ago =
        format!("{}-01-01", consentry::timestamp::Timestamp::now().to_storage()[..4].parse::<i32>().unwrap() - 15);
    sqlx::query("UPDATE subjects SET date_of_birth = $1 WHERE id = $2")
        .bind(fifteen_years_ago)
        .bind(minor.to_string())
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, display_name, created_at) VALUES ('parent1', 'A. Parent', '2026-01-01T00:00:00.000000Z')").execute(&mut *connection).await.unwrap();
    directory::add_guardian(&mut connection, "parent1", minor).await.unwrap();
    directory::add_guardian(&mut connection, "parent1", adult).await.unwrap();
    let on_behalf = |token: String, subject: uuid::Uuid, event: &'static str| {
        app.client
            .put(app.url(&format!("/api/v1/subjects/{subject}/consents/learning-research")))
            .bearer_auth(token)
            .json(&json!({ "event": event, "method": "paper" }))
            .send()
    };
    let officer = app.token_for("po1").await;
    let parent = consentry_token(&app, "parent1");

    let by_staff = on_behalf(officer.clone(), adult, "given").await.unwrap();
    let by_guardian = on_behalf(parent.clone(), minor, "given").await.unwrap();
    let guardian_of_adult = on_behalf(parent, adult, "withdrawn").await.unwrap();
    let by_mentor = on_behalf(app.token_for("mentor01").await, adult, "withdrawn").await.unwrap();

    let staff: Value = by_staff.json().await.unwrap();
    assert_eq!(staff["record"]["relation"], "staff");
    assert_eq!(staff["record"]["recorded_by"], "po1");
    assert_eq!(staff["record"]["method"], "paper");
    let guardian: Value = by_guardian.json().await.unwrap();
    assert_eq!(guardian["record"]["relation"], "guardian");
    assert_eq!(guardian["record"]["recorded_by"], "parent1");
    assert_problem(guardian_of_adult, StatusCode::FORBIDDEN, "forbidden").await;
    let other_student = on_behalf(app.token_for("s0006").await, adult, "given").await.unwrap();
    assert_problem(other_student, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(by_mentor, StatusCode::FORBIDDEN, "forbidden").await;
    let student = app.token_for("s0007").await;
    assert_eq!(
        state_of(&app, &student, "learning-research").await.0,
        "consented",
        "the student sees the choice made for them"
    );
    let unknown = on_behalf(officer, uuid::Uuid::now_v7(), "given").await.unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "not-found").await;
}

/// A demo token for a person the demo institution does not list, signed with the demo key.
pub fn consentry_token(app: &TestApp, sub: &str) -> String {
    let key = consentry::datadir::DataDir::open_existing(&app.data_dir()).unwrap().demo_issuer_key().unwrap();
    consentry::auth::DemoIssuer::new(&key, "consentry")
        .mint(sub, consentry::auth::PrincipalKind::User, &[], std::time::Duration::from_secs(600))
        .unwrap()
}

async fn the_history_is_append_only_and_the_receipt_follows_iso_27560(store: Store) {
    let app = TestApp::spawn(store).await;
    let student = app.token_for("s0008").await;
    for event in ["given", "withdrawn", "given"] {
        assert_eq!(choose(&app, &student, "learning-research", event).await.status(), StatusCode::OK);
    }
    let english = app
        .put_as("/api/v1/me/consents/wellbeing-support", &student, &json!({ "event": "given", "language": "en" }))
        .await;
    assert_eq!(english.status(), StatusCode::OK);

    let history: Value =
        app.get_as("/api/v1/me/consents/learning-research/history", &student).await.json().await.unwrap();
    let events: Vec<&str> =
        history.as_array().unwrap().iter().map(|record| record["event"].as_str().unwrap()).collect();
    assert!(events.ends_with(&["given", "withdrawn", "given"]), "{events:?}");
    let delete =
        app.client.delete(app.url("/api/v1/me/consents/learning-research")).bearer_auth(&student).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::METHOD_NOT_ALLOWED, "there is no way to erase a choice");

    let receipt: Value =
        app.get_as("/api/v1/me/consents/wellbeing-support/receipt", &student).await.json().await.unwrap();
    for path in [
        "/record_id",
        "/pii_principal_id",
        "/notice/notice_id",
        "/notice/text",
        "/notice/language",
        "/purposes/0/purpose_id",
        "/purposes/0/legal_basis",
        "/controller/name",
        "/purposes/0/retention/wellbeing",
        "/withdrawal_method",
        "/event/event_time",
        "/event/event_type",
        "/event/state",
    ] {
        let value = receipt.pointer(path).unwrap_or(&Value::Null);
        assert!(value.as_str().is_some_and(|text| !text.is_empty()), "{path} in {receipt}");
    }
    assert_eq!(receipt["schema"], "ISO/IEC TS 27560:2023");
    assert_eq!(receipt["notice"]["language"], "en");
    assert_eq!(receipt["purposes"][0]["legal_basis"], "eu-gdpr:A6-1-a");
    assert_eq!(receipt["purposes"][0]["dpv_purpose"], "dpv:StudentWellbeingManagement");
    assert_eq!(receipt["controller"]["name"], "Hogeschool Demo");
    assert_eq!(receipt["event"]["event_type"], "given");
    assert_eq!(receipt["event"]["state"], "consented");
    let none_yet = app.get_as("/api/v1/me/consents/course-improvement/receipt", &app.token_for("s0009").await).await;
    assert_problem(none_yet, StatusCode::NOT_FOUND, "not-found").await;
}

async fn officers_see_counts_and_students_see_the_demo_register(store: Store) {
    let app = TestApp::spawn(store).await;
    let student = app.token_for("s0010").await;
    let mine: Value = app.get_as("/api/v1/me/purposes", &student).await.json().await.unwrap();
    let ids: Vec<&str> = mine.as_array().unwrap().iter().map(|purpose| purpose["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["course-improvement", "dropout-prevention", "learning-research", "personal-dashboard", "wellbeing-support"]
    );
    let research = mine.as_array().unwrap().iter().find(|purpose| purpose["id"] == "learning-research").unwrap();
    assert_eq!(research["choice"], "opt_in");
    assert!(research["notice"]["nl"].as_str().unwrap().len() > 20);
    assert_eq!(research["retention"]["wellbeing"], "P5Y");

    choose(&app, &student, "dropout-prevention", "objected").await;
    let officer = app.token_for("dpo1").await;
    let summary: Value =
        app.get_as("/api/v1/purposes/dropout-prevention/consents/summary", &officer).await.json().await.unwrap();
    assert_eq!(summary["students"], 20);
    let current = &summary["current"];
    let total =
        ["gave", "withdrew", "objected", "never_chose"].iter().map(|key| current[key].as_i64().unwrap()).sum::<i64>();
    assert_eq!(total, 20);
    assert!(current["objected"].as_i64().unwrap() >= 1);
    assert!(!summary["monthly"].as_array().unwrap().is_empty());
    assert!(!summary.to_string().contains("s0010"), "counts only");
    let denied = app.get_as("/api/v1/purposes/dropout-prevention/consents/summary", &student).await;
    assert_problem(denied, StatusCode::FORBIDDEN, "forbidden").await;
    let staff = app.get_as("/api/v1/me/purposes", &app.token_for("mentor01").await).await;
    assert_problem(staff, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn consents_import_all_or_nothing_with_errors_by_line() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let data_dir = app.data_dir();
    let file = tempfile::NamedTempFile::new().unwrap();
    // Async, so that the in-process server keeps running while the command waits for it.
    let import = |contents: &str| {
        std::fs::write(file.path(), contents).unwrap();
        Command::new(binary())
            .args(["import", "consents", file.path().to_str().unwrap(), "--data-dir", data_dir.to_str().unwrap()])
            .output()
    };
    let count = || async {
        let db = app.db().await;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consent_records WHERE relation = 'import'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        count
    };

    let broken = import(
        "student_number,purpose,event,recorded_at,method\n\
         4100011,learning-research,given,2026-03-01T10:00:00Z,paper\n\
         9999999,learning-research,given,2026-03-01T10:00:00Z,paper\n\
         4100012,course-improvement,given,2026-03-01T10:00:00Z,paper\n\
         4100013,learning-research,given,tomorrow,paper\n\
         4100014,nope,given,2026-03-01T10:00:00Z,fax\n",
    )
    .await
    .unwrap();

    assert_eq!(broken.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&broken.stderr);
    for line in ["line 3:", "line 4:", "line 5:", "line 6:"] {
        assert!(errors.contains(line), "{line} in {errors}");
    }
    assert!(!errors.contains("line 2:"), "{errors}");
    assert_eq!(count().await, 0, "all or nothing");

    let fine = import(
        "student_number,purpose,event,recorded_at,method,language\n\
         4100011,learning-research,given,2026-03-01T10:00:00Z,paper,en\n\
         4100011,learning-research,withdrawn,2026-03-05T10:00:00Z,paper,en\n\
         4100012,course-improvement,objected,2026-03-01T10:00:00Z,phone,nl\n",
    )
    .await
    .unwrap();

    assert_eq!(fine.status.code(), Some(0), "{}", String::from_utf8_lossy(&fine.stderr));
    assert_eq!(count().await, 3);
    let student = app.token_for("s0011").await;
    let history: Value =
        app.get_as("/api/v1/me/consents/learning-research/history", &student).await.json().await.unwrap();
    let imported: Vec<&Value> =
        history.as_array().unwrap().iter().filter(|record| record["relation"] == "import").collect();
    assert_eq!(imported.len(), 2);
    assert_eq!(imported[1]["event"], "withdrawn");
}
