//! Health, readiness, metrics, the OpenAPI description and the API page.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    health_and_readiness_answer_200,
    readiness_is_503_when_the_schema_is_behind,
    metrics_are_prometheus_text_with_routes_statuses_and_pool_usage,
    served_openapi_is_3_1_and_equals_the_checked_in_file,
);

async fn health_and_readiness_answer_200(store: Store) {
    let app = TestApp::spawn(store).await;

    let health = app.get("/healthz").await;
    let ready = app.get("/readyz").await;

    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

async fn readiness_is_503_when_the_schema_is_behind(store: Store) {
    let app = TestApp::spawn(store).await;
    let db = app.db().await;
    sqlx::query("DELETE FROM _sqlx_migrations").execute(db.pool()).await.unwrap();

    let response = app.get("/readyz").await;

    let body = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "service-unavailable").await;
    assert!(!body.to_string().contains("_sqlx_migrations"), "no internals in the body: {body}");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK, "the process itself is still up");
}

async fn metrics_are_prometheus_text_with_routes_statuses_and_pool_usage(store: Store) {
    let app = TestApp::spawn(store).await;
    app.get("/healthz").await;
    app.get("/no/such/page").await;

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let has_sample = |metric: &str, label: &str, value: &str| {
        scrape.samples.iter().any(|sample| sample.metric == metric && sample.labels.get(label) == Some(value))
    };
    assert!(has_sample("http_requests_total", "route", "/healthz"), "{text}");
    assert!(has_sample("http_requests_total", "status", "404"), "{text}");
    assert!(has_sample("http_requests_total", "route", "unmatched"), "raw unknown paths are not labels: {text}");
    let latency_is_a_histogram = scrape.samples.iter().any(|sample| {
        sample.metric == "http_request_duration_seconds"
            && matches!(sample.value, prometheus_parse::Value::Histogram(_))
    });
    assert!(latency_is_a_histogram, "{text}");
    assert!(has_sample("db_pool_connections", "state", "idle"), "{text}");
}

async fn served_openapi_is_3_1_and_equals_the_checked_in_file(store: Store) {
    let app = TestApp::spawn(store).await;

    let served: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();

    assert!(served["openapi"].as_str().unwrap().starts_with("3.1."), "{}", served["openapi"]);
    let checked_in: Value = serde_json::from_str(include_str!("../../openapi/consentry.json")).unwrap();
    assert!(
        served == checked_in,
        "openapi/consentry.json is out of date; regenerate it with `cargo run -- openapi > openapi/consentry.json`"
    );
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/me", "/api/v1/demo/tokens"] {
        assert!(served["paths"][path].is_object(), "{path} is described");
    }
}

#[tokio::test]
async fn every_operation_documents_its_problem_responses() {
    let spec = serde_json::to_value(consentry::server::openapi()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has an operation id");
            let documents_errors = operation["responses"].as_object().unwrap().iter().any(|(status, response)| {
                status.starts_with(['4', '5']) && response["content"]["application/problem+json"].is_object()
            });
            let never_fails = ["get_health", "get_metrics", "get_audit_public_key", "get_xapi_about"].contains(&id);
            assert!(documents_errors || never_fails, "{method} {path} ({id}) documents its problem responses");
        }
    }
}

#[tokio::test]
async fn the_api_page_works_without_internet_access() {
    let app = TestApp::spawn(Store::Sqlite).await;

    let page = app.get("/api/docs/").await;

    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(!html.contains("cdn") && !html.contains("unpkg"), "nothing loads from a CDN");
    let script = app.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(script.status(), StatusCode::OK, "Swagger UI is served by Consentry itself");
    let initializer = app.get("/api/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(initializer.contains("/api/v1/openapi.json"), "{initializer}");
}
