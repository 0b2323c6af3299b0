//! Every failure a caller can cause gets an RFC 9457 problem with a stable type.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    an_unknown_route_is_a_404_problem,
    a_wrong_method_is_a_405_problem_with_allow,
    a_body_over_the_limit_is_a_413_problem,
    a_body_without_json_content_type_is_a_415_problem,
    malformed_json_is_a_400_problem,
    a_wrong_value_is_a_422_problem_naming_the_field,
);

async fn an_unknown_route_is_a_404_problem(store: Store) {
    let app = TestApp::spawn(store).await;

    let response = app.get("/api/v1/no-such-thing").await;

    let body = assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;
    assert_eq!(body["instance"], "/api/v1/no-such-thing");
}

async fn a_wrong_method_is_a_405_problem_with_allow(store: Store) {
    let app = TestApp::spawn(store).await;

    let response = app.client.delete(app.url("/api/v1/me")).send().await.unwrap();

    let allow = response.headers().get("allow").map(|value| value.to_str().unwrap().to_owned());
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    assert!(allow.is_some_and(|allow| allow.contains("GET")));
}

async fn a_body_over_the_limit_is_a_413_problem(store: Store) {
    let app = TestApp::builder(store).configure(|config| config.http.body_limit_bytes = 1024).spawn().await;
    let oversized = json!({ "sub": "s0001", "padding": "x".repeat(4096) });

    let response = app.post_json("/api/v1/demo/tokens", &oversized).await;

    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
}

async fn a_body_without_json_content_type_is_a_415_problem(store: Store) {
    let app = TestApp::spawn(store).await;

    let response = app.post_raw("/api/v1/demo/tokens", "text/plain", r#"{"sub": "s0001"}"#).await;

    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type").await;
}

async fn malformed_json_is_a_400_problem(store: Store) {
    let app = TestApp::spawn(store).await;

    let response = app.post_raw("/api/v1/demo/tokens", "application/json", r#"{"sub": "s0001""#).await;

    assert_problem(response, StatusCode::BAD_REQUEST, "malformed-body").await;
}

async fn a_wrong_value_is_a_422_problem_naming_the_field(store: Store) {
    let app = TestApp::spawn(store).await;

    let unknown_role =
        app.post_json("/api/v1/demo/tokens", &json!({ "sub": "s0001", "roles": ["student", "king"] })).await;
    let unknown_person = app.post_json("/api/v1/demo/tokens", &json!({ "sub": "s9999" })).await;
    let too_long = app.post_json("/api/v1/demo/tokens", &json!({ "sub": "s0001", "expires_in": 999_999 })).await;
    let missing = app.post_json("/api/v1/demo/tokens", &json!({ "roles": [] })).await;

    let body = assert_problem(unknown_role, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "roles[1]");
    let body = assert_problem(unknown_person, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "sub");
    let body = assert_problem(too_long, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "expires_in");
    let body = assert_problem(missing, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(body["detail"].as_str().unwrap().contains("sub"), "{body}");
}
