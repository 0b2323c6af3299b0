//! Editing the policies at run time: drafts, simulation, replay, activation, rollback.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    an_invalid_draft_is_refused_with_file_line_and_column,
    replay_lists_exactly_the_decisions_a_draft_changes,
    activation_decides_the_next_request_and_rollback_restores_the_last,
    a_set_without_the_forbid_guarantees_needs_a_reason,
);

/// The active files, with `change` applied to the one named `name`.
async fn files_with(app: &TestApp, officer: &str, name: &str, change: impl Fn(&str) -> String) -> Value {
    let active: Value = app.get_as("/api/v1/policies", officer).await.json().await.unwrap();
    let files: Vec<Value> = active["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| {
            let text = file["text"].as_str().unwrap();
            let text = if file["name"] == name { change(text) } else { text.to_owned() };
            json!({ "name": file["name"], "text": text })
        })
        .collect();
    json!(files)
}

/// The shipped audit policy without the DPO.
fn officers_only(text: &str) -> String {
    text.replace(r#" || principal.roles.contains("dpo")"#, "")
}

async fn draft(app: &TestApp, officer: &str, files: Value) -> i64 {
    let response = app.post_as("/api/v1/policies/drafts", officer, &json!({ "files": files })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["version"].as_i64().unwrap()
}

async fn an_invalid_draft_is_refused_with_file_line_and_column(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let bad = json!([{ "name": "mine.cedar", "text": "@id(\"shoes\")\npermit (principal is Consentry::User, action == Consentry::Action::\"ReadAudit\", resource)\nwhen { principal.shoe_size > 40 };" }]);
    let broken = json!([{ "name": "mine.cedar", "text": "@id(\"x\")\npermit (principal, action, resource" }]);

    let unknown_attribute = app.post_as("/api/v1/policies/drafts", &officer, &json!({ "files": bad })).await;
    let syntax = app.post_as("/api/v1/policies/drafts", &officer, &json!({ "files": broken })).await;
    let empty = app.post_as("/api/v1/policies/drafts", &officer, &json!({ "files": [] })).await;
    let bad_name = app
        .post_as("/api/v1/policies/drafts", &officer, &json!({ "files": [{ "name": "../x.txt", "text": "" }] }))
        .await;
    let huge = app
        .post_as(
            "/api/v1/policies/drafts",
            &officer,
            &json!({ "files": [{ "name": "big.cedar", "text": "/".repeat(600_000) }] }),
        )
        .await;

    let body = assert_problem(unknown_attribute, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "mine.cedar");
    assert!(body["errors"][0]["detail"].as_str().unwrap().starts_with("line 3, column"), "{body}");
    let body = assert_problem(syntax, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "mine.cedar");
    assert_problem(empty, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let body = assert_problem(bad_name, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "files[0].name");
    assert_problem(huge, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    let versions: Value = app.get_as("/api/v1/policies/versions", &officer).await.json().await.unwrap();
    assert_eq!(versions, json!([]), "nothing invalid is stored");
    let dpo = app.token_for("dpo1").await;
    assert_problem(
        app.post_as("/api/v1/policies/drafts", &dpo, &json!({ "files": [] })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

async fn replay_lists_exactly_the_decisions_a_draft_changes(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let dpo = app.token_for("dpo1").await;
    let mentor = app.token_for("mentor01").await;
    assert_eq!(app.get_as("/api/v1/audit/events", &dpo).await.status(), StatusCode::OK);
    assert_eq!(app.get_as("/api/v1/audit/verify", &dpo).await.status(), StatusCode::OK);
    assert_eq!(app.get_as("/api/v1/audit/events", &mentor).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_as("/api/v1/audit/events", &officer).await.status(), StatusCode::OK);
    let files = files_with(&app, &officer, "audit.cedar", officers_only).await;
    let version = draft(&app, &officer, files).await;

    let replay: Value = app
        .post_as(&format!("/api/v1/policies/drafts/{version}/replay"), &officer, &json!({}))
        .await
        .json()
        .await
        .unwrap();

    let changed = replay["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 2, "{replay}");
    for change in changed {
        assert_eq!(change["actor"], "dpo1", "{change}");
        assert_eq!(change["action"], "ReadAudit");
        assert_eq!((change["recorded"].as_str(), change["replayed"].as_str()), (Some("allow"), Some("deny")));
    }
    assert!(replay["evaluated"].as_u64().unwrap() >= 5, "{replay}");
    let simulated: Value = app.post_as(
        "/api/v1/policies/simulate",
        &officer,
        &json!({ "version": version, "requests": [
            { "principal": { "id": "dpo1", "kind": "user", "roles": ["dpo"] }, "action": "ReadAudit", "resource": "AuditLog" },
            { "principal": { "id": "po1", "kind": "user", "roles": ["privacy_officer"] }, "action": "ReadAudit", "resource": "AuditLog" }
        ]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(simulated[0]["decision"], "deny");
    assert_eq!(simulated[1]["decision"], "allow");
    assert_eq!(simulated[1]["policies"], json!(["audit-read-privacy-officers-and-dpo"]));
    let unknown = app.post_as("/api/v1/policies/simulate", &officer, &json!({ "requests": [{ "principal": { "id": "x", "kind": "user" }, "action": "Fly", "resource": "AuditLog" }] })).await;
    let body = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "action");
}

async fn activation_decides_the_next_request_and_rollback_restores_the_last(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let dpo = app.token_for("dpo1").await;
    let files = files_with(&app, &officer, "audit.cedar", officers_only).await;
    let version = draft(&app, &officer, files).await;

    let activated = app.post_as(&format!("/api/v1/policies/drafts/{version}/activate"), &officer, &json!({})).await;

    assert_eq!(activated.status(), StatusCode::OK);
    let activated: Value = activated.json().await.unwrap();
    assert_eq!(activated["diff"]["changed"], json!(["audit-read-privacy-officers-and-dpo"]));
    assert_problem(app.get_as("/api/v1/audit/events", &dpo).await, StatusCode::FORBIDDEN, "forbidden").await;
    let active: Value = app.get_as("/api/v1/policies", &officer).await.json().await.unwrap();
    assert_eq!(active["version"], version);
    let again = app.post_as(&format!("/api/v1/policies/drafts/{version}/activate"), &officer, &json!({})).await;
    assert_problem(again, StatusCode::CONFLICT, "conflict").await;

    let rolled_back = app.post_as("/api/v1/policies/rollback", &officer, &json!({ "version": 0 })).await;

    assert_eq!(rolled_back.status(), StatusCode::OK);
    assert_eq!(app.get_as("/api/v1/audit/events", &dpo).await.status(), StatusCode::OK, "the next request");
    let log: Value = app.get_as("/api/v1/audit/events?action=policy.activated", &officer).await.json().await.unwrap();
    assert_eq!(log["events"][0]["details"]["diff"]["changed"], json!(["audit-read-privacy-officers-and-dpo"]));
    let log: Value = app.get_as("/api/v1/audit/events?action=policy.rolled_back", &officer).await.json().await.unwrap();
    assert_eq!(log["events"][0]["details"]["version"], 0);
    let versions: Value = app.get_as("/api/v1/policies/versions", &officer).await.json().await.unwrap();
    assert_eq!(versions[0]["status"], "superseded");
    assert_problem(
        app.post_as("/api/v1/policies/rollback", &officer, &json!({ "version": 99 })).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.post_as("/api/v1/policies/rollback", &dpo, &json!({ "version": 0 })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

async fn a_set_without_the_forbid_guarantees_needs_a_reason(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let files = files_with(&app, &officer, "audit.cedar", |text| {
        text.split("// The log is append-only").next().unwrap_or_default().to_owned()
    })
    .await;
    let version = draft(&app, &officer, files).await;
    let path = format!("/api/v1/policies/drafts/{version}/activate");

    let refused = app.post_as(&path, &officer, &json!({})).await;
    let accepted = app
        .post_as(&path, &officer, &json!({ "override_forbid_guarantees": "audit edits move to the archive system" }))
        .await;

    let body = assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "override_forbid_guarantees");
    assert!(body["detail"].as_str().unwrap().contains("forbid-audit-edits"));
    assert_eq!(accepted.status(), StatusCode::OK);
    let log: Value = app.get_as("/api/v1/audit/events?action=policy.activated", &officer).await.json().await.unwrap();
    assert_eq!(log["events"][0]["details"]["missing_guarantees"], json!(["forbid-audit-edits"]));
    assert_eq!(log["events"][0]["details"]["override_reason"], "audit edits move to the archive system");
}

#[tokio::test]
async fn an_activated_set_survives_a_restart() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let officer = app.token_for("po1").await;
    let files = files_with(&app, &officer, "audit.cedar", officers_only).await;
    let version = draft(&app, &officer, files).await;
    app.post_as(&format!("/api/v1/policies/drafts/{version}/activate"), &officer, &json!({})).await;

    let (data_dir, database_url) = app.stop().await;
    let again = TestApp::builder(Store::Sqlite).data_dir(data_dir, database_url).spawn().await;

    let dpo = again.token_for("dpo1").await;
    assert_problem(again.get_as("/api/v1/audit/events", &dpo).await, StatusCode::FORBIDDEN, "forbidden").await;
}
