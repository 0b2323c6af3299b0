//! The demo institution: seeded once, deterministically, on both stores.

use consentry::demo::Institution;

use crate::helpers::{Store, TEST_DEMO_SCALE, TestApp};
use crate::on_both_stores;

on_both_stores!(the_demo_institution_is_seeded_once_and_completely);

async fn count(app: &TestApp, table: &str) -> i64 {
    let db = app.db().await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"))).fetch_one(db.pool()).await.unwrap()
}

async fn the_demo_institution_is_seeded_once_and_completely(store: Store) {
    let institution = Institution::generate(TEST_DEMO_SCALE);
    let app = TestApp::spawn(store.clone()).await;
    let records = count(&app, "records").await;
    let statements = {
        let db = app.db().await;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE kind = $1")
            .bind("xapi")
            .fetch_one(db.pool())
            .await
            .unwrap();
        count
    };

    assert_eq!(count(&app, "subjects").await, institution.students.len() as i64);
    assert_eq!(count(&app, "users").await, (institution.students.len() + institution.staff.len()) as i64);
    assert_eq!(count(&app, "clients").await, 3);
    assert_eq!(count(&app, "courses").await, 10);
    assert!(statements > 0 && records > statements, "{statements} statements among {records} records");

    // A restart on the same data directory and database seeds nothing more.
    let (data_dir, database_url) = app.stop().await;
    let again = TestApp::builder(store).data_dir(data_dir, database_url).spawn().await;
    assert_eq!(count(&again, "records").await, records);
    assert_eq!(count(&again, "subjects").await, institution.students.len() as i64);
    let token = again.token_for("s0001").await;
    assert_eq!(again.get_as("/api/v1/me", &token).await.status(), reqwest::StatusCode::OK);
}
