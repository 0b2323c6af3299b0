//! Bearer tokens: what is accepted, what is refused, and how refusals read.

use axum::Json;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consentry::auth::DEMO_ISSUER;
use consentry::datadir::DataDir;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters, EllipticCurveKeyType, Jwk,
    JwkSet, KeyAlgorithm,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use crate::helpers::{Store, TestApp, assert_problem};
use crate::on_both_stores;

on_both_stores!(a_valid_demo_token_is_accepted, refused_tokens_get_401_with_a_bearer_challenge);

fn now() -> i64 {
    consentry::timestamp::Timestamp::now().unix_seconds()
}

/// Claims as the demo issuer writes them, valid for an hour.
fn demo_claims(sub: &str) -> Value {
    json!({ "iss": DEMO_ISSUER, "sub": sub, "aud": "consentry", "iat": now(), "nbf": now(), "exp": now() + 3600, "roles": ["student"] })
}

/// Signs `claims` with the app's own demo issuer key, as an insider could.
fn sign_with_demo_key(app: &TestApp, claims: &Value) -> String {
    let key = DataDir::open_existing(&app.data_dir()).unwrap().demo_issuer_key().unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.key_id());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(key.pkcs8_der())).unwrap()
}

async fn a_valid_demo_token_is_accepted(store: Store) {
    let app = TestApp::spawn(store).await;
    let student = app.token_for("s0001").await;
    let client = app.token_for("demo-dashboard").await;

    let me: Value = app.get_as("/api/v1/me", &student).await.json().await.unwrap();
    let tool: Value = app.get_as("/api/v1/me", &client).await.json().await.unwrap();

    assert_eq!(me, json!({ "id": "s0001", "kind": "user", "roles": ["student"] }));
    assert_eq!(tool, json!({ "id": "demo-dashboard", "kind": "client", "roles": [] }));
    let hand_signed = sign_with_demo_key(&app, &demo_claims("mentor01"));
    assert_eq!(app.get_as("/api/v1/me", &hand_signed).await.status(), StatusCode::OK);
}

async fn refused_tokens_get_401_with_a_bearer_challenge(store: Store) {
    let app = TestApp::spawn(store).await;
    let valid = sign_with_demo_key(&app, &demo_claims("s0001"));
    let demo_kid = DataDir::open_existing(&app.data_dir()).unwrap().demo_issuer_key().unwrap().key_id();

    let stranger_key = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(demo_kid);
    let unknown_key =
        jsonwebtoken::encode(&header, &demo_claims("s0001"), &EncodingKey::from_ed_der(stranger_key.as_ref())).unwrap();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(demo_claims("s0001").to_string())
    );
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &demo_claims("s0001"),
        &EncodingKey::from_secret(b"public"),
    )
    .unwrap();
    let mut claims = demo_claims("s0001");
    claims["exp"] = json!(now() - 3600);
    let expired = sign_with_demo_key(&app, &claims);
    let mut claims = demo_claims("s0001");
    claims["aud"] = json!("another-service");
    let wrong_audience = sign_with_demo_key(&app, &claims);
    let mut claims = demo_claims("s0001");
    claims["nbf"] = json!(now() + 3600);
    let not_yet = sign_with_demo_key(&app, &claims);
    let mut claims = demo_claims("s0001");
    claims["iss"] = json!("https://issuer.example");
    let wrong_issuer = sign_with_demo_key(&app, &claims);
    let tampered = {
        let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        let mut claims = demo_claims("s0001");
        claims["roles"] = json!(["admin"]);
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    };

    for (case, token, detail_mentions) in [
        ("signed by an unknown key", unknown_key.as_str(), "signature"),
        ("alg none", unsigned.as_str(), "not accepted"),
        ("HMAC", hmac.as_str(), "HS256"),
        ("expired", expired.as_str(), "expired"),
        ("wrong audience", wrong_audience.as_str(), "audience"),
        ("not valid yet", not_yet.as_str(), "not valid yet"),
        ("wrong issuer", wrong_issuer.as_str(), "issuer"),
        ("tampered claims", tampered.as_str(), "signature"),
        ("garbage", "not-a-jwt", "well-formed"),
    ] {
        let response = app.get_as("/api/v1/me", token).await;
        let challenge = response.headers().get("www-authenticate").map(|value| value.to_str().unwrap().to_owned());
        let body = assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        assert!(body["detail"].as_str().unwrap().contains(detail_mentions), "{case}: {body}");
        let challenge = challenge.unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
            "{case}: {challenge}"
        );
    }

    let missing = app.get("/api/v1/me").await;
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"consentry\"",
        "no error code without credentials"
    );
    assert_problem(missing, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let basic = app.client.get(app.url("/api/v1/me")).basic_auth("s0001", Some("secret")).send().await.unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// An ES256 key as an outside identity provider would hold it.
struct IssuerKey {
    kid: String,
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl IssuerKey {
    fn generate(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap().as_ref().to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).unwrap();
        Self { kid: kid.to_owned(), pair, pkcs8 }
    }

    fn jwk(&self) -> Jwk {
        let point = self.pair.public_key().as_ref();
        Jwk {
            common: CommonParameters {
                key_id: Some(self.kid.clone()),
                key_algorithm: Some(KeyAlgorithm::ES256),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            }),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

/// A real HTTP identity provider on loopback that publishes OpenID discovery and a JWKS.
async fn start_issuer(keys: Arc<Mutex<Vec<Jwk>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({ "issuer": base, "jwks_uri": format!("{base}/keys") });
    let router = axum::Router::new()
        .route("/.well-known/openid-configuration", get(move || async move { Json(discovery) }))
        .route("/keys", get(move || async move { Json(JwkSet { keys: keys.lock().unwrap().clone() }) }));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test]
async fn tokens_of_the_configured_issuer_verify_through_discovery_and_map_roles() {
    let first = IssuerKey::generate("2026-01");
    let published = Arc::new(Mutex::new(vec![first.jwk()]));
    let issuer = start_issuer(Arc::clone(&published)).await;
    let app = TestApp::builder(Store::Sqlite)
        .configure(|config| {
            config.demo = false;
            config.auth.issuer = Some(issuer.clone());
            config.auth.roles_claim = "groups".to_owned();
            config.auth.role_map.insert("staff-privacy".to_owned(), consentry::auth::Role::PrivacyOfficer);
            config.auth.jwks_refetch_min_seconds = 0;
        })
        .spawn()
        .await;
    let claims = |sub: &str| json!({ "iss": issuer, "sub": sub, "aud": "consentry", "exp": now() + 600, "groups": ["staff-privacy", "mentor", "chess-club"] });

    let me: Value = app.get_as("/api/v1/me", &first.sign(&claims("e.jansen"))).await.json().await.unwrap();

    assert_eq!(me, json!({ "id": "e.jansen", "kind": "user", "roles": ["mentor", "privacy_officer"] }));

    // The issuer rotates to a new key: an unknown kid makes Consentry fetch the keys again.
    let second = IssuerKey::generate("2026-02");
    published.lock().unwrap().push(second.jwk());
    let response = app.get_as("/api/v1/me", &second.sign(&claims("p.visser"))).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A demo token means nothing to a server that is not in demo mode.
    let forged = IssuerKey::generate("2026-02");
    let response = app.get_as("/api/v1/me", &forged.sign(&claims("intruder"))).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(app.get("/.well-known/jwks.json").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_server_problem_not_the_callers() {
    let app = TestApp::builder(Store::Sqlite)
        .configure(|config| {
            config.demo = false;
            config.auth.issuer = Some("http://127.0.0.1:9".to_owned());
        })
        .spawn()
        .await;
    let key = IssuerKey::generate("k1");
    let token = key.sign(&json!({ "iss": "http://127.0.0.1:9", "sub": "x", "aud": "consentry", "exp": now() + 60 }));

    let response = app.get_as("/api/v1/me", &token).await;

    let body = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "service-unavailable").await;
    assert!(!body["detail"].as_str().unwrap().contains("127.0.0.1"), "{body}");
}

#[tokio::test]
async fn the_demo_issuer_publishes_its_key() {
    let app = TestApp::spawn(Store::Sqlite).await;

    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();

    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert!(jwks.to_string().find("\"d\"").is_none(), "no private part: {jwks}");
}
