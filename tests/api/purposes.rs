//! The purpose register: creation, validation, versions, lifecycle, the catalogue.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    a_privacy_officer_registers_versions_and_activates_a_purpose,
    every_invalid_definition_is_a_422_naming_the_field,
    only_privacy_officers_change_the_register,
    the_lifecycle_refuses_steps_it_does_not_have,
);

/// A valid definition to vary.
pub fn definition(legal_basis: &str) -> Value {
    json!({
        "title": { "nl": "Onderzoek", "en": "Research" },
        "notice": { "nl": "Wij onderzoeken hoe je leert.", "en": "We study how you learn." },
        "dpv_purpose": "ResearchAndDevelopment",
        "legal_basis": legal_basis,
        "categories": ["activity"],
        "fields": ["verb.id", "object.id"],
        "granularity": "individual",
        "retention": { "activity": "P1Y" },
        "recipients": ["research group"]
    })
}

/// Registers and activates a purpose as `po1`; returns the officer's token.
pub async fn active_purpose(app: &TestApp, id: &str, definition: Value) -> String {
    let officer = app.token_for("po1").await;
    let created = app.post_as("/api/v1/purposes", &officer, &json!({ "id": id, "definition": definition })).await;
    assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
    let activated =
        app.post_as(&format!("/api/v1/purposes/{id}/status"), &officer, &json!({ "status": "active" })).await;
    assert_eq!(activated.status(), StatusCode::OK);
    officer
}

async fn a_privacy_officer_registers_versions_and_activates_a_purpose(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;

    let created = app
        .post_as("/api/v1/purposes", &officer, &json!({ "id": "study-habits", "definition": definition("consent") }))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["status"], "draft");
    assert_eq!(created["version"], 1);
    assert_eq!(created["legal_basis_code"], "A6-1-a");
    assert_eq!(created["choice"], "opt_in");

    let mut edited = definition("consent");
    edited["notice"]["en"] = json!("We study how you learn, to improve teaching.");
    let draft: Value = app.put_as("/api/v1/purposes/study-habits", &officer, &edited).await.json().await.unwrap();
    assert_eq!(draft["version"], 1, "a draft changes in place");

    let active: Value = app
        .post_as("/api/v1/purposes/study-habits/status", &officer, &json!({ "status": "active" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["status"], "active");

    let mut wider = edited.clone();
    wider["fields"] = json!(["verb.id", "object.id", "result.duration"]);
    let in_place = app.put_as("/api/v1/purposes/study-habits", &officer, &wider).await;
    let body = assert_problem(in_place, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "status");
    let versioned = app.post_as("/api/v1/purposes/study-habits/versions", &officer, &wider).await;
    assert_eq!(versioned.status(), StatusCode::CREATED);
    let versioned: Value = versioned.json().await.unwrap();
    assert_eq!(versioned["version"], 2);
    assert_eq!(versioned["widens_previous"], true);

    let listed: Value = app.get_as("/api/v1/purposes", &officer).await.json().await.unwrap();
    assert!(
        listed.as_array().unwrap().iter().any(|purpose| purpose["id"] == "study-habits" && purpose["version"] == 2)
    );
    let student = app.token_for("s0001").await;
    let seen: Value = app.get_as("/api/v1/purposes/study-habits", &student).await.json().await.unwrap();
    assert_eq!(seen["fields"], json!(["verb.id", "object.id", "result.duration"]), "the register is open to read");
    let changes: Value = app.get_as("/api/v1/audit/events?purpose=study-habits", &officer).await.json().await.unwrap();
    let events = changes["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .filter(|action| *action != "access.allowed")
        .collect();
    assert_eq!(actions, ["purpose.created", "purpose.draft_edited", "purpose.status_changed", "purpose.versioned"]);
    let decision = events.iter().find(|event| event["action"] == "access.allowed").unwrap();
    assert_eq!(
        decision["reasons"],
        json!(["purposes-privacy-officers"]),
        "every decision names the policy that made it"
    );
}

async fn every_invalid_definition_is_a_422_naming_the_field(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut unknown_category = definition("consent");
    unknown_category["categories"] = json!(["activity", "horoscope"]);
    cases.push((unknown_category, "definition.categories[1]"));
    let mut unknown_field = definition("consent");
    unknown_field["fields"] = json!(["verb.id", "mood"]);
    cases.push((unknown_field, "fields[1]"));
    let mut bad_retention = definition("consent");
    bad_retention["retention"] = json!({ "activity": "one year" });
    cases.push((bad_retention, "retention.activity"));
    let mut aggregate = definition("public_task");
    aggregate["granularity"] = json!("aggregate");
    aggregate["min_cell_size"] = json!(1);
    cases.push((aggregate, "min_cell_size"));
    let mut special = definition("consent");
    special["categories"] = json!(["special"]);
    special["fields"] = json!(["student.health_condition"]);
    special["retention"] = json!({ "special": "P1Y" });
    cases.push((special, "art9_condition"));
    let mut no_dutch = definition("consent");
    no_dutch["notice"]["nl"] = json!("");
    cases.push((no_dutch, "notice.nl"));

    for (index, (definition, field)) in cases.into_iter().enumerate() {
        let response = app
            .post_as("/api/v1/purposes", &officer, &json!({ "id": format!("case-{index}"), "definition": definition }))
            .await;
        let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        let fields: Vec<&str> =
            body["errors"].as_array().unwrap().iter().map(|error| error["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "case {index}: {body}");
    }
    let listed: Value = app.get_as("/api/v1/purposes", &officer).await.json().await.unwrap();
    assert!(!listed.to_string().contains("case-"), "nothing half-written");
    let bad_id = app
        .post_as("/api/v1/purposes", &officer, &json!({ "id": "Not A Slug", "definition": definition("consent") }))
        .await;
    let body = assert_problem(bad_id, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "id");
    let taken = app
        .post_as(
            "/api/v1/purposes",
            &officer,
            &json!({ "id": "learning-research", "definition": definition("consent") }),
        )
        .await;
    assert_problem(taken, StatusCode::CONFLICT, "conflict").await;
}

async fn only_privacy_officers_change_the_register(store: Store) {
    let app = TestApp::spawn(store).await;
    for sub in ["dpo1", "admin1", "mentor01", "s0001"] {
        let token = app.token_for(sub).await;
        let response = app
            .post_as("/api/v1/purposes", &token, &json!({ "id": "sneaky", "definition": definition("consent") }))
            .await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        let response =
            app.post_as("/api/v1/purposes/learning-research/status", &token, &json!({ "status": "retired" })).await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let anonymous = app.get("/api/v1/purposes").await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

async fn the_lifecycle_refuses_steps_it_does_not_have(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let status = |id: &str, status: &str| {
        app.client
            .post(app.url(&format!("/api/v1/purposes/{id}/status")))
            .bearer_auth(&officer)
            .json(&json!({ "status": status }))
            .send()
    };
    app.post_as("/api/v1/purposes", &officer, &json!({ "id": "pilot", "definition": definition("consent") })).await;

    assert_problem(status("pilot", "retired").await.unwrap(), StatusCode::CONFLICT, "conflict").await;
    assert_eq!(status("pilot", "active").await.unwrap().status(), StatusCode::OK);
    assert_eq!(status("pilot", "suspended").await.unwrap().status(), StatusCode::OK);
    assert_eq!(status("pilot", "active").await.unwrap().status(), StatusCode::OK);
    assert_eq!(status("pilot", "retired").await.unwrap().status(), StatusCode::OK);
    assert_problem(status("pilot", "active").await.unwrap(), StatusCode::CONFLICT, "conflict").await;
    let changed = app
        .client
        .post(app.url("/api/v1/purposes/pilot/versions"))
        .bearer_auth(&officer)
        .json(&definition("consent"))
        .send()
        .await
        .unwrap();
    assert_problem(changed, StatusCode::CONFLICT, "conflict").await;
    assert_problem(status("nope", "active").await.unwrap(), StatusCode::NOT_FOUND, "not-found").await;
    let unknown = status("pilot", "paused").await.unwrap();
    let body = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(body["errors"][0]["field"], "status");
}

#[tokio::test]
async fn the_catalogue_lists_fields_with_categories() {
    let app = TestApp::spawn(Store::Sqlite).await;
    let token = app.token_for("demo-dashboard").await;

    let catalogue: Value = app.get_as("/api/v1/catalogue", &token).await.json().await.unwrap();

    let field = catalogue.as_array().unwrap().iter().find(|field| field["name"] == "result.score.scaled").unwrap();
    assert_eq!(field["category"], "assessment");
    assert_eq!(field["source"], "xapi");
    assert!(catalogue.as_array().unwrap().iter().any(|field| field["category"] == "special"));
}
