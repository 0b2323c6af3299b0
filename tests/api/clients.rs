//! The client registry: analytics tools, their purposes, credentials and suspension.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    admins_register_tools_for_purposes_and_every_change_is_audited,
    rotated_and_suspended_credentials_stop_working,
    the_registry_refuses_bad_input_and_other_roles,
);

async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let officer = app.token_for("po1").await;
    let page: Value =
        app.get_as(&format!("/api/v1/audit/events?action={action}"), &officer).await.json().await.unwrap();
    page["events"].as_array().unwrap().clone()
}

fn new_tool(id: &str, purposes: &[&str]) -> Value {
    json!({
        "id": id,
        "name": "Study coach",
        "organisation": "Hogeschool Demo, Student services",
        "contact": "coach@hogeschool-demo.example",
        "purposes": purposes,
    })
}

async fn admins_register_tools_for_purposes_and_every_change_is_audited(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.token_for("admin1").await;

    let listed: Value = app.get_as("/api/v1/clients", &admin).await.json().await.unwrap();
    let dashboard = listed.as_array().unwrap().iter().find(|client| client["id"] == "demo-dashboard").unwrap();
    assert_eq!(dashboard["purposes"], json!(["course-improvement", "personal-dashboard"]));
    assert_eq!(dashboard["token_subject"], "demo-dashboard");
    assert!(dashboard.get("secret").is_none());

    let created = app.post_as("/api/v1/clients", &admin, &new_tool("study-coach", &["personal-dashboard"])).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["client"]["status"], "active");
    assert_eq!(created["client"]["token_subject"], "study-coach");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.len() >= 32);

    let changed = app
        .put_as("/api/v1/clients/study-coach/purposes", &admin, &json!({ "purposes": ["dropout-prevention"] }))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["purposes"], json!(["dropout-prevention"]));

    let read = app
        .client
        .get(app.url("/api/v1/purposes/dropout-prevention/records?limit=1"))
        .basic_auth("study-coach", Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let earlier = app
        .client
        .get(app.url("/api/v1/purposes/personal-dashboard/records?limit=1"))
        .basic_auth("study-coach", Some(secret))
        .send()
        .await
        .unwrap();
    assert_problem(earlier, StatusCode::FORBIDDEN, "not-registered-for-purpose").await;

    let registered = audited(&app, "client.registered").await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["resource"], "Client::study-coach");
    assert_eq!(registered[0]["actor"]["id"], "admin1");
    let purposes_changed = audited(&app, "client.purposes_changed").await;
    assert_eq!(purposes_changed[0]["details"]["from"], json!(["personal-dashboard"]));
    assert_eq!(purposes_changed[0]["details"]["to"], json!(["dropout-prevention"]));
    assert!(!format!("{registered:?}").contains(secret), "the secret never reaches the audit log");
}

async fn rotated_and_suspended_credentials_stop_working(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let read = |user: &'static str, secret: String| {
        let request = app
            .client
            .get(app.url("/api/v1/purposes/personal-dashboard/records?limit=1"))
            .basic_auth(user, Some(secret));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(read("demo-dashboard", "demo-dashboard-secret".to_owned()).await.status(), StatusCode::OK);

    let rotated = app.post_as("/api/v1/clients/demo-dashboard/rotate", &officer, &json!({})).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    let secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_problem(
        read("demo-dashboard", "demo-dashboard-secret".to_owned()).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(read("demo-dashboard", secret.clone()).await.status(), StatusCode::OK);

    // A new registration at the identity provider: tokens for the old subject stop working,
    // and pseudonyms stay those of the client.
    let before: Value = read("demo-dashboard", secret.clone()).await.json().await.unwrap();
    let moved = app
        .post_as("/api/v1/clients/demo-dashboard/rotate", &officer, &json!({ "token_subject": "dashboard-v2" }))
        .await;
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(moved["client"]["token_subject"], "dashboard-v2");
    let secret = moved["secret"].as_str().unwrap().to_owned();
    let after: Value = read("demo-dashboard", secret.clone()).await.json().await.unwrap();
    assert_eq!(before["records"][0]["subject"], after["records"][0]["subject"]);
    let old_token = app.token_for("demo-dashboard").await;
    let refused = app.get_as("/api/v1/purposes/personal-dashboard/records?limit=1", &old_token).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "not-registered-for-purpose").await;

    let suspended =
        app.post_as("/api/v1/clients/demo-signals/status", &officer, &json!({ "status": "suspended" })).await;
    assert_eq!(suspended.status(), StatusCode::OK);
    let signals = app.token_for("demo-signals").await;
    let refused = app.get_as("/api/v1/purposes/dropout-prevention/records?limit=1", &signals).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "client-suspended").await;
    assert_problem(
        read("demo-signals", "demo-signals-secret".to_owned()).await,
        StatusCode::FORBIDDEN,
        "client-suspended",
    )
    .await;
    let resumed = app.post_as("/api/v1/clients/demo-signals/status", &officer, &json!({ "status": "active" })).await;
    assert_eq!(resumed.status(), StatusCode::OK);
    let again = app.get_as("/api/v1/purposes/dropout-prevention/records?limit=1", &signals).await;
    assert_eq!(again.status(), StatusCode::OK);

    let events = audited(&app, "client.credentials_rotated").await;
    assert_eq!(events.len(), 2);
    assert_eq!(audited(&app, "client.status_changed").await.len(), 2);
}

async fn the_registry_refuses_bad_input_and_other_roles(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.token_for("admin1").await;
    let student = app.token_for("s0001").await;

    assert_problem(app.get_as("/api/v1/clients", &student).await, StatusCode::FORBIDDEN, "forbidden").await;
    let refused = app.post_as("/api/v1/clients", &student, &new_tool("sneaky", &[])).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;

    let mut bad = new_tool("Not An Id", &["no-such-purpose", "Bad Id"]);
    bad["contact"] = json!(" ");
    let problem = assert_problem(
        app.post_as("/api/v1/clients", &admin, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|error| error["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["id", "contact", "purposes[1]"]);

    let unknown = app.post_as("/api/v1/clients", &admin, &new_tool("coach", &["no-such-purpose"])).await;
    let problem = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "purposes[0]");

    let taken = app.post_as("/api/v1/clients", &admin, &new_tool("demo-research", &[])).await;
    assert_problem(taken, StatusCode::CONFLICT, "conflict").await;
    let mut same_subject = new_tool("coach", &[]);
    same_subject["token_subject"] = json!("demo-research");
    assert_problem(app.post_as("/api/v1/clients", &admin, &same_subject).await, StatusCode::CONFLICT, "conflict").await;

    let missing = app.put_as("/api/v1/clients/nobody/purposes", &admin, &json!({ "purposes": [] })).await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not-found").await;
    let status = app.post_as("/api/v1/clients/demo-research/status", &admin, &json!({ "status": "paused" })).await;
    assert_problem(status, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let listed: Value = app.get_as("/api/v1/clients", &admin).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3, "nothing was half-written");
}
