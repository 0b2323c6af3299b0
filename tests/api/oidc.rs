//! Signing in at a real OpenID provider: npm `oidc-provider` on loopback (tests/oidc),
//! driven through its login and consent forms by a client with a cookie jar.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;

use consentry::auth::Role;
use consentry::config::OidcProvider;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{Store, TestApp, assert_problem, outside_component_or_skip};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the provider and waits until it listens.
async fn start_provider(dir: &str, port: u16, redirect: &str) -> Child {
    let mut child = Command::new("node")
        .arg(format!("{dir}/provider.mjs"))
        .arg(port.to_string())
        .arg(redirect)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line == "ready" {
            break;
        }
    }
    // Keep reading: a provider whose output pipe is closed dies on its next line.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// The action and the hidden fields of the first form of a page.
fn form(html: &str) -> (String, Vec<(String, String)>) {
    let attribute = |tag: &str, name: &str| {
        tag.split(&format!("{name}=\"")).nth(1).and_then(|rest| rest.split('"').next()).map(str::to_owned)
    };
    let start = html.find("<form").unwrap();
    let tag = &html[start..start + html[start..].find('>').unwrap()];
    let action = attribute(tag, "action").unwrap();
    let hidden = html
        .split("<input")
        .skip(1)
        .filter(|input| input.contains("type=\"hidden\""))
        .filter_map(|input| Some((attribute(input, "name")?, attribute(input, "value")?)))
        .collect();
    (action, hidden)
}

/// Signs `login` in through the provider's forms; returns the browser and the last response.
async fn sign_in(app: &TestApp, login: &str) -> (reqwest::Client, reqwest::Response) {
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let page = client.get(app.url("/auth/login?provider=institution")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let (action, mut fields) = form(&page.text().await.unwrap());
    fields.push(("login".to_owned(), login.to_owned()));
    fields.push(("password".to_owned(), "any".to_owned()));
    let mut response = client.post(&action).form(&fields).send().await.unwrap();
    // The provider asks for consent once per client.
    while response.url().path().starts_with("/interaction/") {
        let (action, fields) = form(&response.text().await.unwrap());
        response = client.post(&action).form(&fields).send().await.unwrap();
    }
    (client, response)
}

#[tokio::test]
async fn people_sign_in_at_a_real_openid_provider() {
    let test = "oidc::people_sign_in_at_a_real_openid_provider";
    let Some(dir) = outside_component_or_skip(test, "CONSENTRY_TEST_OIDC_PROVIDER", "npm oidc-provider in tests/oidc")
    else {
        return;
    };
    let (app_port, provider_port) = (free_port(), free_port());
    let redirect = format!("http://127.0.0.1:{app_port}/auth/callback");
    let _provider = start_provider(&dir, provider_port, &redirect).await;
    let app = TestApp::builder(Store::Sqlite)
        .configure(|config| {
            config.addr = SocketAddr::from(([127, 0, 0, 1], app_port));
            config.auth.providers = vec![OidcProvider {
                id: "institution".to_owned(),
                issuer: format!("http://127.0.0.1:{provider_port}"),
                client_id: "consentry".to_owned(),
                client_secret: "consentry-test-secret".to_owned(),
                redirect_url: redirect.clone(),
                post_logout_redirect_url: Some(format!("http://127.0.0.1:{app_port}/")),
                scopes: vec!["profile".to_owned()],
                user_claim: "preferred_username".to_owned(),
                student_number_claim: Some("student_number".to_owned()),
                roles_claim: Some("eduperson_affiliation".to_owned()),
                role_map: BTreeMap::from([("student".to_owned(), Role::Student)]),
            }];
        })
        .spawn()
        .await;

    // A student, linked by student number; the role comes from the affiliation claim.
    let (browser, student) = sign_in(&app, "s0003").await;
    assert_eq!(student.url().path(), "/my", "students land on their choices");
    let session: Value = browser.get(app.url("/auth/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!(session["user"], "s0003");
    assert_eq!(session["provider"], "institution");
    assert!(session["roles"].as_array().unwrap().contains(&serde_json::json!("student")));
    let mine: Value = browser.get(app.url("/api/v1/me/data")).send().await.unwrap().json().await.unwrap();
    assert!(mine["categories"].is_array(), "the session works for the student's own pages");

    // Signing out ends the session here and sends the browser to the provider's logout.
    let csrf = session["csrf_token"].as_str().unwrap();
    let out = browser.post(app.url("/auth/logout")).header("X-CSRF-Token", csrf).send().await.unwrap();
    assert_eq!(out.url().port(), Some(provider_port), "{}", out.url());
    assert_eq!(out.url().path(), "/session/end");
    let ended = browser.get(app.url("/auth/session")).send().await.unwrap();
    assert_problem(ended, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // A mentor, linked by login id; roles from the local grants.
    let (mentor_browser, _) = sign_in(&app, "mentor01").await;
    let mentor: Value = mentor_browser.get(app.url("/auth/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!(mentor["user"], "mentor01");
    assert!(mentor["roles"].as_array().unwrap().contains(&serde_json::json!("mentor")));

    // Someone the institution does not know is refused, and that is audited.
    let (_, stranger) = sign_in(&app, "stranger").await;
    assert_problem(stranger, StatusCode::FORBIDDEN, "forbidden").await;
    let replayed = app.get("/auth/callback?state=made-up&code=abc").await;
    assert_problem(replayed, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let refused = app.get("/auth/callback?error=access_denied&error_description=no").await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let unknown = app.get("/auth/login?provider=elsewhere").await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not-found").await;

    let officer = app.token_for("po1").await;
    let failed: Value =
        app.get_as("/api/v1/audit/events?action=auth.login_failed", &officer).await.json().await.unwrap();
    assert!(failed["events"].as_array().unwrap().len() >= 3);
    let logins: Value = app.get_as("/api/v1/audit/events?action=auth.login", &officer).await.json().await.unwrap();
    let who: Vec<&str> =
        logins["events"].as_array().unwrap().iter().map(|event| event["actor"]["id"].as_str().unwrap()).collect();
    assert!(who.contains(&"s0003") && who.contains(&"mentor01"), "{who:?}");
}
