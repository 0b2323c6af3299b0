//! The web interface over plain HTTP: sign-in redirect, language, security headers,
//! CSRF on forms, a choice made by form. (The journeys in a real browser are in
//! `browser.rs`.)

use reqwest::StatusCode;
use reqwest::header::ACCEPT_LANGUAGE;
use serde_json::Value;

use crate::helpers::{Store, TestApp};
use crate::on_both_stores;

on_both_stores!(
    pages_are_signed_in_localised_framed_safely_and_forms_need_the_session_token,
    the_privacy_office_keeps_the_register_and_handles_requests_by_form,
    a_dpia_is_drafted_submitted_and_approved_by_form,
);

/// A client signed in as `sub` with a cookie jar.
async fn signed_in(app: &TestApp, sub: &str) -> reqwest::Client {
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let picker = client.get(app.url("/auth/demo")).send().await.unwrap().text().await.unwrap();
    let csrf = picker.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let landed = client.post(app.url("/auth/demo")).form(&[("sub", sub), ("csrf", &csrf)]).send().await.unwrap();
    assert_eq!(landed.url().path(), "/my");
    client
}

fn form_token(page: &str) -> String {
    page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

async fn pages_are_signed_in_localised_framed_safely_and_forms_need_the_session_token(store: Store) {
    let app = TestApp::spawn(store).await;
    let anonymous = app.get("/my").await;
    assert_eq!(anonymous.url().path(), "/sign-in");
    let english =
        reqwest::Client::new().get(app.url("/sign-in")).header(ACCEPT_LANGUAGE, "en-GB,en;q=0.8").send().await.unwrap();
    let csp = english.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline")
    );
    assert_eq!(english.headers()["x-frame-options"], "DENY");
    assert!(english.text().await.unwrap().contains("<html lang=\"en\">"));
    let dutch = reqwest::Client::new().get(app.url("/sign-in")).header(ACCEPT_LANGUAGE, "nl").send().await.unwrap();
    assert!(dutch.text().await.unwrap().contains("<html lang=\"nl\"><head>"));

    let student = signed_in(&app, "s0002").await;
    let page = student.get(app.url("/my")).header(ACCEPT_LANGUAGE, "en").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("What happens with my data?"));
    assert!(!page.contains("<script") && !page.contains("style="), "no inline script or style");
    let token = form_token(&page);

    let forged = student
        .post(app.url("/my/choices"))
        .form(&[("csrf", "forged"), ("purpose", "personal-dashboard"), ("event", "objected")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "an error page, not JSON");

    let refused = student
        .post(app.url("/my/choices"))
        .form(&[("csrf", token.as_str()), ("purpose", "personal-dashboard"), ("event", "given")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT, "consent is not a choice under a public task");

    let objected = student
        .post(app.url("/my/choices"))
        .form(&[("csrf", token.as_str()), ("purpose", "personal-dashboard"), ("event", "objected")])
        .send()
        .await
        .unwrap();
    assert_eq!(objected.url().path(), "/my");
    assert!(objected.text().await.unwrap().contains("role=\"status\""));
    let api_token = app.token_for("s0002").await;
    let mine: Value = app.get_as("/api/v1/me/purposes", &api_token).await.json().await.unwrap();
    let dashboard = mine.as_array().unwrap().iter().find(|purpose| purpose["id"] == "personal-dashboard").unwrap();
    assert_eq!(dashboard["state"], "objected");

    for path in ["/my/data", "/my/disclosures", "/my/interventions"] {
        let response = student.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let mentor = signed_in_elsewhere(&app, "mentor01").await;
    let not_mine = mentor.get(app.url("/my/data")).send().await.unwrap();
    assert_eq!(not_mine.status(), StatusCode::FORBIDDEN, "these pages are for students");

    let page = student.get(app.url("/my")).send().await.unwrap().text().await.unwrap();
    let signed_out = student.post(app.url("/sign-out")).form(&[("csrf", form_token(&page))]).send().await.unwrap();
    assert_eq!(signed_out.url().path(), "/sign-in");
    assert_eq!(student.get(app.url("/my")).send().await.unwrap().url().path(), "/sign-in");
}

/// Someone who is not a student lands on the start page.
async fn signed_in_elsewhere(app: &TestApp, sub: &str) -> reqwest::Client {
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let picker = client.get(app.url("/auth/demo")).send().await.unwrap().text().await.unwrap();
    let landed =
        client.post(app.url("/auth/demo")).form(&[("sub", sub), ("csrf", &form_token(&picker))]).send().await.unwrap();
    assert_eq!(landed.url().path(), "/");
    client
}

async fn the_privacy_office_keeps_the_register_and_handles_requests_by_form(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = signed_in_elsewhere(&app, "po1").await;
    let page = officer.get(app.url("/office/purposes/new")).send().await.unwrap().text().await.unwrap();
    let token = form_token(&page);

    let invalid = officer
        .post(app.url("/office/purposes"))
        .form(&[("csrf", token.as_str()), ("id", "Bad Id"), ("title_nl", ""), ("category", "activity")])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = invalid.text().await.unwrap();
    for field in ["<code>id</code>", "<code>title.nl</code>", "<code>retention.activity</code>"] {
        assert!(body.contains(field), "{field} is named");
    }
    let api = app.token_for("po1").await;
    let register: Value = app.get_as("/api/v1/purposes", &api).await.json().await.unwrap();
    assert_eq!(register.as_array().unwrap().len(), 5, "nothing was stored");

    let valid = [
        ("csrf", token.as_str()),
        ("id", "study-habits"),
        ("title_nl", "Studiegewoonten"),
        ("title_en", "Study habits"),
        ("notice_nl", "We kijken naar je studiegewoonten."),
        ("notice_en", "We look at your study habits."),
        ("dpv_purpose", "StudentPerformanceMonitoring"),
        ("legal_basis", "public_task"),
        ("category", "activity"),
        ("retention_activity", "P6M"),
        ("field", "verb.id"),
        ("granularity", "individual"),
        ("recipients", "mentors, study advisers"),
    ];
    let created = officer.post(app.url("/office/purposes")).form(&valid).send().await.unwrap();
    assert_eq!(created.url().path(), "/office/purposes");
    let purpose: Value = app.get_as("/api/v1/purposes/study-habits", &api).await.json().await.unwrap();
    assert_eq!((purpose["status"].as_str(), purpose["retention"]["activity"].as_str()), (Some("draft"), Some("P6M")));
    assert_eq!(purpose["recipients"], serde_json::json!(["mentors", "study advisers"]));
    let activated = officer
        .post(app.url("/office/purposes/study-habits/status"))
        .form(&[("csrf", token.as_str()), ("status", "active")])
        .send()
        .await
        .unwrap();
    assert_eq!(activated.status(), StatusCode::OK);
    let purpose: Value = app.get_as("/api/v1/purposes/study-habits", &api).await.json().await.unwrap();
    assert_eq!(purpose["status"], "active");

    // A student's request, answered from the queue; the student sees the reply.
    let student = signed_in(&app, "s0004").await;
    let page = student.get(app.url("/my/requests")).send().await.unwrap().text().await.unwrap();
    let filed = student
        .post(app.url("/my/requests"))
        .form(&[("csrf", form_token(&page).as_str()), ("kind", "access"), ("text", "What do you keep?")])
        .send()
        .await
        .unwrap();
    assert_eq!(filed.url().path(), "/my/requests");
    let queue: Value = app.get_as("/api/v1/requests", &api).await.json().await.unwrap();
    let id = queue[0]["id"].as_str().unwrap().to_owned();
    let handled = officer
        .post(app.url(&format!("/office/requests/{id}")))
        .form(&[("csrf", token.as_str()), ("action", "fulfil"), ("text", "Your export is ready."), ("months", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(handled.url().path(), "/office/requests");
    let mine = student.get(app.url("/my/requests")).send().await.unwrap().text().await.unwrap();
    assert!(mine.contains("Your export is ready."));

    // A tool registered by form reads with the secret shown once.
    let registered = officer
        .post(app.url("/office/clients"))
        .form(&[
            ("csrf", token.as_str()),
            ("id", "study-coach"),
            ("name", "Study coach"),
            ("organisation", "Coach B.V."),
            ("contact", "dpo@coach.example"),
            ("purpose", "personal-dashboard"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::OK);
    let page = registered.text().await.unwrap();
    let secret = page.split("<code class=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let read = reqwest::Client::new()
        .get(app.url("/api/v1/purposes/personal-dashboard/records"))
        .basic_auth("study-coach", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let refused = officer
        .post(app.url("/office/sources"))
        .form(&[("csrf", token.as_str()), ("id", "Quiz Tool"), ("name", "Quiz")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = refused.text().await.unwrap();
    assert!(body.contains("id:") && body.contains("kinds:"), "each field at fault is named");

    let mentor = signed_in_elsewhere(&app, "mentor01").await;
    assert_eq!(mentor.get(app.url("/office/purposes")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(mentor.get(app.url("/office/requests")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
}

async fn a_dpia_is_drafted_submitted_and_approved_by_form(store: Store) {
    let app = TestApp::spawn(store).await;
    let officer = signed_in_elsewhere(&app, "po1").await;
    let page = officer.get(app.url("/office/dpias")).send().await.unwrap().text().await.unwrap();
    let token = form_token(&page);
    let created = officer
        .post(app.url("/office/dpias"))
        .form(&[
            ("csrf", token.as_str()),
            ("title", "Wellbeing"),
            ("template", "model-dpia-rijksdienst"),
            ("purpose", "wellbeing-support"),
            ("language", "en"),
        ])
        .send()
        .await
        .unwrap();
    let path = created.url().path().to_owned();
    assert!(path.starts_with("/office/dpias/"), "{path}");
    let id = path.trim_start_matches("/office/dpias/").to_owned();
    let page = created.text().await.unwrap();
    assert!(page.contains("Uit het register"), "prefilled answers are shown (in Dutch by default)");

    let api = app.token_for("po1").await;
    let dpia: Value = app.get_as(&format!("/api/v1/dpias/{id}"), &api).await.json().await.unwrap();
    for section in dpia["sections"].as_array().unwrap() {
        for question in section["questions"].as_array().unwrap() {
            if question["prefill"].is_null() {
                let answered = officer
                    .post(app.url(&format!("/office/dpias/{id}/answers/{}", question["id"].as_str().unwrap())))
                    .form(&[("csrf", token.as_str()), ("text", "Assessed.")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answered.status(), StatusCode::OK);
            }
        }
    }
    let risks = [
        ("csrf", token.as_str()),
        ("risk-0-id", "r1"),
        ("risk-0-title", "A counsellor reads too much"),
        ("risk-0-inherent-likelihood", "2"),
        ("risk-0-inherent-severity", "4"),
        ("risk-0-residual-likelihood", "1"),
        ("risk-0-residual-severity", "4"),
        ("risk-1-id", ""),
        ("risk-1-title", ""),
        ("measure-0-id", "m1"),
        ("measure-0-title", "Only the answers that gave reason"),
        ("measure-0-risks", "r1"),
        ("measure-0-status", "implemented"),
    ];
    let saved = officer.post(app.url(&format!("/office/dpias/{id}/risks"))).form(&risks).send().await.unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let dpia: Value = app.get_as(&format!("/api/v1/dpias/{id}"), &api).await.json().await.unwrap();
    assert_eq!(dpia["risks"][0]["residual"], serde_json::json!({ "likelihood": 1, "severity": 4 }));
    assert_eq!(dpia["measures"][0]["risks"], serde_json::json!(["r1"]));

    let broken =
        [("csrf", token.as_str()), ("measure-0-id", "m1"), ("measure-0-title", "x"), ("measure-0-risks", "r9")];
    let refused = officer.post(app.url(&format!("/office/dpias/{id}/risks"))).form(&broken).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("measures[0].risks[0]"));

    let submitted = officer
        .post(app.url(&format!("/office/dpias/{id}/submit")))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::OK);
    let dpo = signed_in_elsewhere(&app, "dpo1").await;
    let page = dpo.get(app.url(&format!("/office/dpias/{id}"))).send().await.unwrap().text().await.unwrap();
    let next_year = (time::OffsetDateTime::now_utc().date() + time::Duration::days(300)).to_string();
    let approved = dpo
        .post(app.url(&format!("/office/dpias/{id}/decision")))
        .form(&[("csrf", form_token(&page).as_str()), ("decision", "approved"), ("review_date", next_year.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::OK);
    let dpia: Value = app.get_as(&format!("/api/v1/dpias/{id}"), &api).await.json().await.unwrap();
    assert_eq!((dpia["status"].as_str(), dpia["decided_by"].as_str()), (Some("approved"), Some("dpo1")));
    let by_officer = officer
        .post(app.url(&format!("/office/dpias/{id}/decision")))
        .form(&[("csrf", token.as_str()), ("decision", "rejected"), ("rationale", "no")])
        .send()
        .await
        .unwrap();
    assert_eq!(by_officer.status(), StatusCode::FORBIDDEN);
}
