//! Sessions for people: the demo login picker, cookies, CSRF, idle timeout, logout.

use consentry::timestamp::Clock;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(
    a_demo_person_signs_in_works_with_the_cookie_and_signs_out,
    forged_or_unknown_logins_are_refused_and_audited,
    admins_grant_roles_locally_and_sessions_carry_them,
);

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The `name=value` part of a `Set-Cookie` header for `name`.
fn cookie_from(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|value| value.to_str().ok()).find_map(|header| {
        let pair = header.split(';').next()?;
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| (value.to_owned(), header.to_owned()))
    })
}

/// Opens the picker and signs in as `sub`; returns the session cookie value.
async fn sign_in(app: &TestApp, client: &reqwest::Client, sub: &str) -> reqwest::Response {
    let picker = client.get(app.url("/auth/demo")).send().await.unwrap();
    let (csrf, _) = cookie_from(&picker, "consentry_login_csrf").unwrap();
    client
        .post(app.url("/auth/demo"))
        .header(COOKIE, format!("consentry_login_csrf={csrf}"))
        .form(&[("sub", sub), ("csrf", &csrf)])
        .send()
        .await
        .unwrap()
}

async fn a_demo_person_signs_in_works_with_the_cookie_and_signs_out(store: Store) {
    let clock = Clock::default();
    let app = TestApp::builder(store).clock(clock.clone()).spawn().await;
    let client = no_redirects();
    let picker = client.get(app.url("/auth/demo")).send().await.unwrap();
    assert_eq!(picker.status(), StatusCode::OK);
    let html = picker.text().await.unwrap();
    assert!(html.contains("DEMO") && html.contains("s0001") && html.contains("po1"));

    let signed_in = sign_in(&app, &client, "po1").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/");
    let (token, header) = cookie_from(&signed_in, "consentry_session").unwrap();
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Lax"), "{header}");
    assert!(!header.contains("Secure"), "plain loopback in demo: {header}");
    let cookie = format!("consentry_session={token}");

    let session: Value =
        client.get(app.url("/auth/session")).header(COOKIE, &cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(session["user"], "po1");
    assert_eq!(session["roles"], json!(["privacy_officer"]));
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let me: Value =
        client.get(app.url("/api/v1/me")).header(COOKIE, &cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["id"], "po1");

    let body = json!({ "stopped": true, "reason": "Checking the model" });
    let forged =
        client.post(app.url("/api/v1/analytics/stop")).header(COOKIE, &cookie).json(&body).send().await.unwrap();
    assert_problem(forged, StatusCode::FORBIDDEN, "forbidden").await;
    let allowed = client
        .post(app.url("/api/v1/analytics/stop"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);

    // A second login is a new session with a new token.
    let again = sign_in(&app, &client, "po1").await;
    let (second, _) = cookie_from(&again, "consentry_session").unwrap();
    assert_ne!(second, token);

    let logout = client
        .post(app.url("/auth/logout"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let ended = client.get(app.url("/auth/session")).header(COOKIE, &cookie).send().await.unwrap();
    assert_problem(ended, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Idle for longer than the idle timeout: the session ends.
    let idle = format!("consentry_session={second}");
    assert_eq!(client.get(app.url("/api/v1/me")).header(COOKIE, &idle).send().await.unwrap().status(), StatusCode::OK);
    clock.advance_seconds(31 * 60);
    let expired = client.get(app.url("/api/v1/me")).header(COOKIE, &idle).send().await.unwrap();
    assert_problem(expired, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let officer = app.token_for("po1").await;
    for action in ["auth.login", "auth.logout"] {
        let events: Value =
            app.get_as(&format!("/api/v1/audit/events?action={action}"), &officer).await.json().await.unwrap();
        assert!(!events["events"].as_array().unwrap().is_empty(), "{action}");
    }
}

async fn forged_or_unknown_logins_are_refused_and_audited(store: Store) {
    let app = TestApp::spawn(store).await;
    let client = no_redirects();
    let forged = client
        .post(app.url("/auth/demo"))
        .header(COOKIE, "consentry_login_csrf=one")
        .form(&[("sub", "po1"), ("csrf", "another")])
        .send()
        .await
        .unwrap();
    assert_problem(forged, StatusCode::FORBIDDEN, "forbidden").await;
    let unknown = sign_in(&app, &client, "nobody").await;
    assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let tool = sign_in(&app, &client, "demo-dashboard").await;
    assert_problem(tool, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let made_up = client.get(app.url("/api/v1/me")).header(COOKIE, "consentry_session=made-up").send().await.unwrap();
    assert_problem(made_up, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let officer = app.token_for("po1").await;
    let events: Value =
        app.get_as("/api/v1/audit/events?action=auth.login_failed", &officer).await.json().await.unwrap();
    let reasons: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|event| event["details"]["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"csrf-mismatch") && reasons.contains(&"unknown-user"), "{reasons:?}");
}

#[tokio::test]
async fn a_server_without_demo_has_no_login_picker() {
    let app = TestApp::builder(Store::Sqlite).configure(|config| config.demo = false).spawn().await;
    let picker = app.get("/auth/demo").await;
    assert_problem(picker, StatusCode::NOT_FOUND, "not-found").await;
}

async fn admins_grant_roles_locally_and_sessions_carry_them(store: Store) {
    let app = TestApp::spawn(store).await;
    let admin = app.token_for("admin1").await;
    let roles: Value = app.get_as("/api/v1/users/teacher03/roles", &admin).await.json().await.unwrap();
    assert_eq!(roles, json!(["teacher"]));
    let granted = app.put_as("/api/v1/users/teacher03/roles", &admin, &json!({ "roles": ["teacher", "mentor"] })).await;
    assert_eq!(granted.status(), StatusCode::OK);
    assert_eq!(granted.json::<Value>().await.unwrap(), json!(["mentor", "teacher"]));

    let client = no_redirects();
    let signed_in = sign_in(&app, &client, "teacher03").await;
    let (token, _) = cookie_from(&signed_in, "consentry_session").unwrap();
    let cookie = format!("consentry_session={token}");
    let session: Value =
        client.get(app.url("/auth/session")).header(COOKIE, cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(session["roles"], json!(["mentor", "teacher"]));

    let officer = app.token_for("po1").await;
    let refused = app.put_as("/api/v1/users/po1/roles", &officer, &json!({ "roles": ["admin"] })).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let unknown_role = app.put_as("/api/v1/users/teacher03/roles", &admin, &json!({ "roles": ["wizard"] })).await;
    assert_problem(unknown_role, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let nobody = app.put_as("/api/v1/users/nobody/roles", &admin, &json!({ "roles": [] })).await;
    assert_problem(nobody, StatusCode::NOT_FOUND, "not-found").await;
    let events: Value =
        app.get_as("/api/v1/audit/events?action=user.roles_granted", &officer).await.json().await.unwrap();
    let details = &events["events"][0]["details"];
    assert_eq!((details["from"].clone(), details["to"].clone()), (json!(["teacher"]), json!(["mentor", "teacher"])));

    // A mentor of a group decides its students' proposals.
    let assigned =
        app.put_as("/api/v1/groups/g01/mentors", &admin, &json!({ "mentors": ["mentor01", "teacher03"] })).await;
    assert_eq!(assigned.status(), StatusCode::OK);
    let run = app
        .post_as(
            "/api/v1/analytics/runs",
            &officer,
            &json!({ "since": "2026-02-02T00:00:00Z", "until": "2026-06-29T00:00:00Z" }),
        )
        .await;
    assert_eq!(run.status(), StatusCode::CREATED);
    let mentor01 = app.token_for("mentor01").await;
    let proposals: Vec<Value> = app.get_as("/api/v1/proposals", &mentor01).await.json().await.unwrap();
    let teacher = app.token_for("teacher03").await;
    let opened = app.get_as(&format!("/api/v1/proposals/{}", proposals[0]["id"].as_str().unwrap()), &teacher).await;
    assert_eq!(opened.status(), StatusCode::OK, "teacher03 now mentors g01");
    let unknown = app.put_as("/api/v1/groups/g01/mentors", &admin, &json!({ "mentors": ["ghost"] })).await;
    let problem = assert_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "mentors[0]");
    let nogroup = app.put_as("/api/v1/groups/g99/mentors", &admin, &json!({ "mentors": [] })).await;
    assert_problem(nogroup, StatusCode::NOT_FOUND, "not-found").await;
    let refused = app.put_as("/api/v1/groups/g01/mentors", &officer, &json!({ "mentors": [] })).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
}
