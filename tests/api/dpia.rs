//! DPIAs: templates, prefill from the register, staleness, the DPO's approval gating
//! purposes, exports.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem, binary};
use crate::on_both_stores;

on_both_stores!(
    a_dpia_is_prefilled_from_the_register_and_goes_stale_when_it_changes,
    a_purpose_needing_a_dpia_is_activated_only_after_the_dpo_approves,
    the_demo_dpia_exports_every_section_and_the_risk_matrix,
    only_privacy_officers_draft_and_only_the_dpo_decides,
    bad_input_is_refused_and_nothing_changes,
    the_command_line_lists_and_renders_what_the_api_exports,
);

const DEFINITION_KEYS: [&str; 13] = [
    "title",
    "notice",
    "dpv_purpose",
    "legal_basis",
    "art9_condition",
    "categories",
    "fields",
    "granularity",
    "min_cell_size",
    "retention",
    "recipients",
    "human_review_required",
    "dpia_required",
];

/// The definition part of a purpose as the register returns it.
async fn definition_of(app: &TestApp, token: &str, purpose: &str) -> Value {
    let purpose: Value = app.get_as(&format!("/api/v1/purposes/{purpose}"), token).await.json().await.unwrap();
    DEFINITION_KEYS.iter().map(|key| ((*key).to_owned(), purpose[key].clone())).collect()
}

fn question<'a>(dpia: &'a Value, id: &str) -> &'a Value {
    dpia["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|section| section["questions"].as_array().unwrap())
        .find(|question| question["id"] == id)
        .unwrap_or_else(|| panic!("no question {id}"))
}

async fn demo_dpia(app: &TestApp, token: &str) -> Value {
    let list: Value = app.get_as("/api/v1/dpias", token).await.json().await.unwrap();
    let demo = list.as_array().unwrap().iter().find(|dpia| dpia["title"] == "Learning analytics at Hogeschool Demo");
    let id = demo.unwrap()["id"].as_str().unwrap().to_owned();
    app.get_as(&format!("/api/v1/dpias/{id}"), token).await.json().await.unwrap()
}

async fn a_dpia_is_prefilled_from_the_register_and_goes_stale_when_it_changes(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let created = app
        .post_as(
            "/api/v1/dpias",
            &officer,
            &json!({ "template": "learning-analytics", "purposes": ["dropout-prevention"], "title": "Signals", "language": "en" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
    let dpia: Value = created.json().await.unwrap();
    let id = dpia["id"].as_str().unwrap().to_owned();
    assert_eq!(dpia["status"], "draft");
    assert_eq!(dpia["purposes"][0]["assessed_version"], 1);

    let basis = question(&dpia, "legal-basis");
    assert_eq!(basis["prefill"]["data"]["dropout-prevention"]["basis"], "public_task");
    assert!(
        basis["prefill"]["text"]["en"]
            .as_str()
            .unwrap()
            .contains("public task (the educational task) (GDPR Art. A6-1-e)")
    );
    assert!(basis["prefill"]["text"]["nl"].as_str().unwrap().contains("AVG art. A6-1-e"));
    let categories = question(&dpia, "categories");
    assert_eq!(categories["prefill"]["data"]["dropout-prevention"], json!(["activity", "assessment", "enrolment"]));
    let retention = question(&dpia, "retention");
    assert_eq!(retention["prefill"]["data"]["dropout-prevention"]["activity"], "P1Y");
    let roles = question(&dpia, "access")["prefill"]["text"]["en"].as_str().unwrap().to_owned();
    assert!(roles.contains("permit `mentors-own-mentees-proposals`: mentor — ViewProposal, DecideProposal"), "{roles}");
    assert!(roles.contains("forbid `forbid-clients-deciding-proposals`"), "{roles}");
    let recipients = question(&dpia, "recipients")["prefill"]["text"]["en"].as_str().unwrap().to_owned();
    assert!(recipients.contains("Early study-success signals"), "{recipients}");
    let model = question(&dpia, "models")["prefill"]["text"]["en"].as_str().unwrap().to_owned();
    assert!(model.contains("norm-deviation-v1"), "{model}");
    let processors = question(&dpia, "processors")["prefill"]["text"]["en"].as_str().unwrap().to_owned();
    assert!(processors.contains("Demo Hosting B.V."), "{processors}");
    assert_eq!(question(&dpia, "necessity")["prefill"], Value::Null, "people answer what the register cannot");
    assert_eq!(dpia["risks"].as_array().unwrap().len(), 3, "the template's suggested risks");
    assert_eq!(dpia["stale"], json!([]));

    // A shorter retention is a new version that does not widen: the answer goes stale.
    let mut shorter = definition_of(&app, &officer, "dropout-prevention").await;
    shorter["retention"]["activity"] = json!("P6M");
    let versioned = app.post_as("/api/v1/purposes/dropout-prevention/versions", &officer, &shorter).await;
    assert_eq!(versioned.status(), StatusCode::CREATED);
    let dpia: Value = app.get_as(&format!("/api/v1/dpias/{id}"), &officer).await.json().await.unwrap();
    assert_eq!(dpia["stale"], json!(["retention"]));
    let retention = question(&dpia, "retention");
    assert_eq!(retention["stale"], true);
    assert_eq!(retention["prefill"]["data"]["dropout-prevention"]["activity"], "P1Y", "what was assessed stays");
    assert_eq!(retention["current"]["data"]["dropout-prevention"]["activity"], "P6M");
    assert_eq!(dpia["purposes"][0]["current_version"], 2);
    assert_eq!(dpia["purposes"][0]["widened_since"], false);

    // The approved demo DPIA asks for review; the draft takes the new facts on refresh.
    let demo = demo_dpia(&app, &officer).await;
    assert_eq!(demo["status"], "approved");
    assert!(demo["needs_review"][0].as_str().unwrap().contains("retention"), "{}", demo["needs_review"]);
    let refreshed: Value =
        app.post_as(&format!("/api/v1/dpias/{id}/refresh"), &officer, &json!({})).await.json().await.unwrap();
    assert_eq!(refreshed["stale"], json!([]));
    assert_eq!(refreshed["purposes"][0]["assessed_version"], 2);

    // A wider version marks the approved DPIA for review, in the audit log too.
    let mut wider = definition_of(&app, &officer, "dropout-prevention").await;
    wider["retention"]["activity"] = json!("P2Y");
    app.post_as("/api/v1/purposes/dropout-prevention/versions", &officer, &wider).await;
    let demo = demo_dpia(&app, &officer).await;
    let reasons = demo["needs_review"].to_string();
    assert!(reasons.contains("version 3 reads more than the assessed version 1"), "{reasons}");
    let events: Value =
        app.get_as("/api/v1/audit/events?action=dpia.review_requested", &officer).await.json().await.unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events["events"][0]["resource"], format!("Dpia::{}", demo["id"].as_str().unwrap()));
}

async fn answer_everything(app: &TestApp, officer: &str, dpia: &Value) {
    let id = dpia["id"].as_str().unwrap();
    for section in dpia["sections"].as_array().unwrap() {
        for question in section["questions"].as_array().unwrap() {
            if question["prefill"].is_null() {
                let path = format!("/api/v1/dpias/{id}/answers/{}", question["id"].as_str().unwrap());
                let answered = app.put_as(&path, officer, &json!({ "text": "Assessed by the privacy office." })).await;
                assert_eq!(answered.status(), StatusCode::OK);
            }
        }
    }
    let mut risks = dpia["risks"].as_array().unwrap().clone();
    if risks.is_empty() {
        risks.push(json!({ "id": "r1", "title": "Stigma" }));
    }
    let register = json!({
        "risks": risks.iter().map(|risk| json!({
            "id": risk["id"], "title": risk["title"],
            "inherent": { "likelihood": 3, "severity": 3 }, "residual": { "likelihood": 1, "severity": 3 }
        })).collect::<Vec<_>>(),
        "measures": [{ "id": "m1", "title": "Mentors decide", "risks": risks.iter().map(|risk| risk["id"].clone()).collect::<Vec<_>>(), "status": "implemented" }]
    });
    let set = app.put_as(&format!("/api/v1/dpias/{id}/risk-register"), officer, &register).await;
    assert_eq!(set.status(), StatusCode::OK, "{}", set.text().await.unwrap());
}

async fn a_purpose_needing_a_dpia_is_activated_only_after_the_dpo_approves(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let dpo = app.token_for("dpo1").await;
    let demo = demo_dpia(&app, &officer).await;
    let demo_id = demo["id"].as_str().unwrap();

    let suspend =
        app.post_as("/api/v1/purposes/dropout-prevention/status", &officer, &json!({ "status": "suspended" })).await;
    assert_eq!(suspend.status(), StatusCode::OK);
    let reopened =
        app.post_as(&format!("/api/v1/dpias/{demo_id}/reopen"), &officer, &json!({ "reason": "yearly review" })).await;
    assert_eq!(reopened.status(), StatusCode::OK);

    let active = json!({ "status": "active" });
    let activate = || app.post_as("/api/v1/purposes/dropout-prevention/status", &officer, &active);
    let refused = assert_problem(activate().await, StatusCode::CONFLICT, "dpia-required").await;
    assert!(refused["detail"].as_str().unwrap().contains("no approved DPIA covers version 1"), "{refused}");

    // A new DPIA, completed, submitted and approved by the DPO.
    let created: Value = app
        .post_as(
            "/api/v1/dpias",
            &officer,
            &json!({ "template": "model-dpia-rijksdienst", "purposes": ["dropout-prevention"], "title": "Signalen", "language": "nl" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    answer_everything(&app, &officer, &created).await;
    let submitted = app.post_as(&format!("/api/v1/dpias/{id}/submit"), &officer, &json!({})).await;
    assert_eq!(submitted.status(), StatusCode::OK, "{}", submitted.text().await.unwrap());
    assert_problem(activate().await, StatusCode::CONFLICT, "dpia-required").await;

    let commented = app
        .post_as(
            &format!("/api/v1/dpias/{id}/comments"),
            &dpo,
            &json!({ "question": "b13-necessity", "body": "Convincing." }),
        )
        .await;
    assert_eq!(commented.status(), StatusCode::CREATED);
    let approved = app
        .post_as(
            &format!("/api/v1/dpias/{id}/decision"),
            &dpo,
            &json!({ "decision": "approved", "review_date": "2099-01-01" }),
        )
        .await;
    assert_problem(approved, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let next_year = (time::OffsetDateTime::now_utc().date() + time::Duration::days(365)).to_string();
    let approved: Value = app
        .post_as(
            &format!("/api/v1/dpias/{id}/decision"),
            &dpo,
            &json!({ "decision": "approved", "review_date": next_year }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "dpo1");
    assert_eq!(approved["comments"][0]["body"], "Convincing.");
    assert_eq!(activate().await.status(), StatusCode::OK);

    let history: Value = app.get_as(&format!("/api/v1/dpias/{id}/revisions"), &dpo).await.json().await.unwrap();
    let changes: Vec<&str> =
        history.as_array().unwrap().iter().map(|entry| entry["change"].as_str().unwrap()).collect();
    assert_eq!(changes.first(), Some(&"created"));
    assert_eq!(&changes[changes.len() - 3..], ["risks_changed", "submitted", "approved"]);
    let first: Value = app.get_as(&format!("/api/v1/dpias/{id}/revisions/1"), &dpo).await.json().await.unwrap();
    assert_eq!(first["measures"], json!([]), "the first revision is kept as it was");
    for action in ["dpia.created", "dpia.submitted", "dpia.approved", "dpia.reopened", "dpia.commented"] {
        let events: Value =
            app.get_as(&format!("/api/v1/audit/events?action={action}"), &officer).await.json().await.unwrap();
        assert!(!events["events"].as_array().unwrap().is_empty(), "{action}");
    }
}

async fn the_demo_dpia_exports_every_section_and_the_risk_matrix(store: Store) {
    let app = TestApp::spawn(store).await;
    let dpo = app.token_for("dpo1").await;
    let demo = demo_dpia(&app, &dpo).await;
    let id = demo["id"].as_str().unwrap();
    assert_eq!(demo["status"], "approved");
    assert_eq!(demo["needs_review"], json!([]));
    let template: Value = app.get_as("/api/v1/dpia-templates/learning-analytics", &dpo).await.json().await.unwrap();

    let markdown = app.get_as(&format!("/api/v1/dpias/{id}/export?format=md"), &dpo).await;
    assert_eq!(markdown.status(), StatusCode::OK);
    assert!(markdown.headers()["content-type"].to_str().unwrap().starts_with("text/markdown"));
    let markdown = markdown.text().await.unwrap();
    for section in template["sections"].as_array().unwrap() {
        assert!(markdown.contains(&format!("## {}\n", section["title"]["en"].as_str().unwrap())), "{}", section["id"]);
        for question in section["questions"].as_array().unwrap() {
            assert!(
                markdown.contains(&format!("### {}\n", question["text"]["en"].as_str().unwrap())),
                "{}",
                question["id"]
            );
        }
    }
    assert!(markdown.contains("### Risk matrix"));
    assert!(markdown.contains("| **4** | "), "{markdown}");
    assert!(
        markdown.contains("| **3** | r2′ r3′ |  | r2 |  |"),
        "r2 inherently at likelihood 3, severity 3:\n{markdown}"
    );
    assert!(markdown.contains("Demo Hosting B.V."));
    assert!(markdown.contains("approved — Decision: dpo1"));

    let html = app.get_as(&format!("/api/v1/dpias/{id}/export?format=html"), &dpo).await;
    assert!(html.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = html.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    assert!(html.contains("<table class=\"matrix\">"));
    assert!(!html.contains("<script"));

    let templates: Value = app.get_as("/api/v1/dpia-templates", &dpo).await.json().await.unwrap();
    let ids: Vec<&str> =
        templates.as_array().unwrap().iter().map(|template| template["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cnil-pia", "learning-analytics", "model-dpia-rijksdienst"]);
}

async fn only_privacy_officers_draft_and_only_the_dpo_decides(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let dpo = app.token_for("dpo1").await;
    let mentor = app.token_for("mentor01").await;
    let student = app.token_for("s0005").await;
    let new =
        json!({ "template": "cnil-pia", "purposes": ["learning-research"], "title": "Research", "language": "en" });

    assert_problem(app.get_as("/api/v1/dpias", &student).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(app.get_as("/api/v1/dpias", &mentor).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_problem(app.post_as("/api/v1/dpias", &dpo, &new).await, StatusCode::FORBIDDEN, "forbidden").await;
    let created: Value = app.post_as("/api/v1/dpias", &officer, &new).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    answer_everything(&app, &officer, &created).await;
    app.post_as(&format!("/api/v1/dpias/{id}/submit"), &officer, &json!({})).await;
    let decision = json!({ "decision": "rejected", "rationale": "The transfer question is not answered seriously." });
    let by_officer = app.post_as(&format!("/api/v1/dpias/{id}/decision"), &officer, &decision).await;
    assert_problem(by_officer, StatusCode::FORBIDDEN, "forbidden").await;
    let rejected: Value =
        app.post_as(&format!("/api/v1/dpias/{id}/decision"), &dpo, &decision).await.json().await.unwrap();
    assert_eq!(rejected["status"], "rejected");
    let export = app.get_as(&format!("/api/v1/dpias/{id}/export"), &student).await;
    assert_problem(export, StatusCode::FORBIDDEN, "forbidden").await;
    let denied: Value = app.get_as("/api/v1/audit/events?action=access.denied", &officer).await.json().await.unwrap();
    assert!(denied["events"].as_array().unwrap().iter().any(|event| event["details"]["action"] == "ApproveDpia"));
}

async fn bad_input_is_refused_and_nothing_changes(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = app.token_for("po1").await;
    let dpo = app.token_for("dpo1").await;
    let unknown = app
        .post_as(
            "/api/v1/dpias",
            &officer,
            &json!({ "template": "word-doc", "purposes": ["nope-purpose"], "title": " ", "language": "en" }),
        )
        .await;
    let problem = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|error| error["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["title", "template", "purposes[0]"]);
    let before: Value = app.get_as("/api/v1/dpias", &officer).await.json().await.unwrap();
    assert_eq!(before.as_array().unwrap().len(), 1, "only the demo DPIA");

    let created: Value = app
        .post_as("/api/v1/dpias", &officer, &json!({ "template": "learning-analytics", "purposes": ["course-improvement"], "title": "Courses", "language": "nl" }))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let incomplete = app.post_as(&format!("/api/v1/dpias/{id}/submit"), &officer, &json!({})).await;
    let problem = assert_problem(incomplete, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert!(problem["errors"].as_array().unwrap().iter().any(|error| error["field"] == "answers.necessity"));

    let register = json!({
        "risks": [{ "id": "r1", "title": "Stigma", "inherent": { "likelihood": 2, "severity": 2 }, "residual": { "likelihood": 4, "severity": 4 } }],
        "measures": [{ "id": "m1", "title": "Training", "risks": ["r7"], "status": "planned" }]
    });
    let invalid = app.put_as(&format!("/api/v1/dpias/{id}/risk-register"), &officer, &register).await;
    let problem = assert_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|error| error["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["risks[0].residual", "measures[0].risks[0]"]);
    let unchanged: Value = app.get_as(&format!("/api/v1/dpias/{id}"), &officer).await.json().await.unwrap();
    assert_eq!(unchanged["risks"], created["risks"]);
    assert_eq!(unchanged["revision"], created["revision"]);

    let unknown_question =
        app.put_as(&format!("/api/v1/dpias/{id}/answers/shoe-size"), &officer, &json!({ "text": "44" })).await;
    assert_problem(unknown_question, StatusCode::NOT_FOUND, "not-found").await;
    let malformed =
        app.put_as(&format!("/api/v1/dpias/{id}/answers/necessity"), &officer, &json!({ "answer": "yes" })).await;
    assert_problem(malformed, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let undecidable = app
        .post_as(
            &format!("/api/v1/dpias/{id}/decision"),
            &dpo,
            &json!({ "decision": "approved", "review_date": "2027-13-01" }),
        )
        .await;
    let problem = assert_problem(undecidable, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "review_date");
    let not_in_review = app
        .post_as(&format!("/api/v1/dpias/{id}/decision"), &dpo, &json!({ "decision": "rejected", "rationale": "no" }))
        .await;
    assert_problem(not_in_review, StatusCode::CONFLICT, "conflict").await;

    let demo = demo_dpia(&app, &officer).await;
    let frozen = app
        .put_as(
            &format!("/api/v1/dpias/{}/answers/necessity", demo["id"].as_str().unwrap()),
            &officer,
            &json!({ "text": "changed" }),
        )
        .await;
    assert_problem(frozen, StatusCode::CONFLICT, "conflict").await;
    assert_problem(app.get_as("/api/v1/dpias/no-such-dpia", &officer).await, StatusCode::NOT_FOUND, "not-found").await;
}

/// `consentry dpia …` against the app's store.
async fn dpia_command(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(binary());
    command.arg("dpia").args(args).args(["--data-dir", app.data_dir().to_str().unwrap()]);
    if let Some(url) = &app.config.database_url {
        command.args(["--database-url", url.expose()]);
    }
    command.stdin(std::process::Stdio::null()).output().await.unwrap()
}

async fn the_command_line_lists_and_renders_what_the_api_exports(store: Store) {
    let app = TestApp::spawn(store).await;
    let dpo = app.token_for("dpo1").await;
    let demo = demo_dpia(&app, &dpo).await;
    let id = demo["id"].as_str().unwrap();

    let listed = dpia_command(&app, &["list"]).await;
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed = String::from_utf8(listed.stdout).unwrap();
    let line = listed.lines().find(|line| line.starts_with(id)).unwrap();
    assert!(line.contains("\tapproved\t") && line.contains("dropout-prevention,learning-research"), "{line}");

    for format in ["md", "html"] {
        let rendered = dpia_command(&app, &["render", id, "--format", format]).await;
        assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
        let exported =
            app.get_as(&format!("/api/v1/dpias/{id}/export?format={format}"), &dpo).await.text().await.unwrap();
        assert_eq!(String::from_utf8(rendered.stdout).unwrap(), exported, "{format}");
    }
    let unknown = dpia_command(&app, &["render", "no-such-dpia"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no DPIA has the id `no-such-dpia`"));
}
