//! Two `consentry serve` processes on one PostgreSQL database, as replicas behind a load
//! balancer: concurrent writes through both keep one ordered audit chain, and nothing is
//! lost.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::cli::start_server;
use crate::helpers::{Store, fresh_postgres_database};

/// Copies the key material of one replica's data directory to another's: replicas share
/// their secrets, as a mounted secret would give them.
fn share_keys(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".key") || name.ends_with(".ed25519") || name.ends_with(".age") {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

async fn token(client: &reqwest::Client, base: &str, sub: &str) -> String {
    let issued: Value = client
        .post(format!("{base}/api/v1/demo/tokens"))
        .json(&json!({ "sub": sub }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    issued["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_replicas_on_one_postgres_keep_one_audit_chain_under_concurrent_load() {
    let test = "scaling::two_replicas_on_one_postgres_keep_one_audit_chain_under_concurrent_load";
    let Some(Store::Postgres { admin_url }) = Store::postgres_or_skip(test) else { return };
    let url = fresh_postgres_database(&admin_url).await;
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut first, first_addr) = start_server(first_dir.path(), &["--demo", "--database-url", &url]);
    share_keys(first_dir.path(), second_dir.path());
    let (mut second, second_addr) = start_server(second_dir.path(), &["--demo", "--database-url", &url]);
    let replicas = [format!("http://{first_addr}"), format!("http://{second_addr}")];
    let client = reqwest::Client::new();

    let mut db = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
    let consents_before: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM consent_records").fetch_one(&mut db).await.unwrap();

    // Per replica, six students each toggle their objection 20 times while a tool reads.
    let mut tasks = Vec::new();
    for (replica, base) in replicas.iter().enumerate() {
        for worker in 0..6 {
            let (client, base) = (client.clone(), base.clone());
            let student = format!("s{:04}", 1 + replica * 6 + worker);
            tasks.push(tokio::spawn(async move {
                let bearer = token(&client, &base, &student).await;
                let mut written = 0;
                for round in 0..20 {
                    let event = if round % 2 == 0 { "objected" } else { "objection_lifted" };
                    let response = client
                        .put(format!("{base}/api/v1/me/consents/personal-dashboard"))
                        .bearer_auth(&bearer)
                        .json(&json!({ "event": event }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
                    written += 1;
                    let read = client
                        .get(format!("{base}/api/v1/purposes/personal-dashboard/records?limit=20"))
                        .basic_auth("demo-dashboard", Some("demo-dashboard-secret"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(read.status(), StatusCode::OK);
                }
                written
            }));
        }
    }
    let mut written = 0;
    for task in tasks {
        written += task.await.unwrap();
    }

    let consents_after: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM consent_records").fetch_one(&mut db).await.unwrap();
    assert_eq!(consents_after - consents_before, written, "every acknowledged write is stored");
    let (events, last_seq): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), MAX(seq) FROM audit_events").fetch_one(&mut db).await.unwrap();
    assert_eq!(events, last_seq, "one gapless sequence");
    let replicas_in_log: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'consent.objected' OR action = 'consent.objection_lifted'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(replicas_in_log >= written, "each choice has its audit event");

    for base in &replicas {
        let officer = token(&client, base, "po1").await;
        let report: Value = client
            .get(format!("{base}/api/v1/audit/verify"))
            .bearer_auth(&officer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report["valid"], true, "{report}");
        assert!(report["events"].as_i64().unwrap() >= events, "{report}");
    }
    for child in [&mut first, &mut second] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
