//! Signing people in with OpenID Connect: the authorization code flow with PKCE, state and
//! nonce, by the `openidconnect` crate. The ID token is verified (signature, issuer,
//! audience, expiry, nonce, and `at_hash` where present); the person is linked to their
//! record by a configured claim — a student by student number, staff by login id — never
//! by display name.

use std::collections::HashMap;

use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{AnyConnection, Row};
use tokio::sync::Mutex;

use super::Role;
use crate::config::OidcProvider;
use crate::directory::IdentifierScheme;
use crate::timestamp::Timestamp;

/// How long a sign-in may take at the provider.
const ATTEMPT_SECONDS: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("no identity provider is configured as `{0}`")]
    UnknownProvider(String),
    #[error("the identity provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the sign-in is unknown, used or too old; start again")]
    UnknownState,
    #[error("the identity provider refused: {0}")]
    Refused(String),
    #[error("the ID token does not verify: {0}")]
    BadToken(String),
    #[error("no person here matches this sign-in ({0})")]
    NotLinked(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] crate::db::DbError),
}

/// The discovery fields beyond the core ones that Consentry uses.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LogoutMetadata {
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for LogoutMetadata {}

type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Discovered provider metadata, fetched once per provider.
#[derive(Debug, Default)]
pub struct Providers {
    discovered: Mutex<HashMap<String, Metadata>>,
}

fn http_client() -> Result<openidconnect::reqwest::Client, OidcError> {
    // Following redirects would let a provider's answer send us anywhere (SSRF).
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| OidcError::Provider(error.to_string()))
}

impl Providers {
    async fn metadata(&self, provider: &OidcProvider) -> Result<Metadata, OidcError> {
        let mut discovered = self.discovered.lock().await;
        if let Some(metadata) = discovered.get(&provider.id) {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(provider.issuer.clone()).map_err(|error| OidcError::Provider(error.to_string()))?;
        let metadata = Metadata::discover_async(issuer, &http_client()?)
            .await
            .map_err(|error| OidcError::Provider(error.to_string()))?;
        discovered.insert(provider.id.clone(), metadata.clone());
        Ok(metadata)
    }
}

fn find<'a>(providers: &'a [OidcProvider], id: &str) -> Result<&'a OidcProvider, OidcError> {
    providers.iter().find(|provider| provider.id == id).ok_or_else(|| OidcError::UnknownProvider(id.to_owned()))
}

/// Starts a sign-in: remembers state, PKCE verifier and nonce, and returns the provider's
/// authorization URL to send the browser to.
pub async fn begin(
    connection: &mut AnyConnection,
    providers: &Providers,
    configured: &[OidcProvider],
    id: &str,
    now: Timestamp,
) -> Result<String, OidcError> {
    let provider = find(configured, id)?;
    let metadata = providers.metadata(provider).await?;
    let redirect =
        RedirectUrl::new(provider.redirect_url.clone()).map_err(|error| OidcError::Provider(error.to_string()))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request =
        client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for scope in &provider.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    sqlx::query("DELETE FROM login_attempts WHERE created_at < $1")
        .bind(now.plus_seconds(-ATTEMPT_SECONDS).to_storage())
        .execute(&mut *connection)
        .await?;
    sqlx::query(
        "INSERT INTO login_attempts (state, provider, pkce_verifier, nonce, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state.secret().clone())
    .bind(provider.id.clone())
    .bind(verifier.secret().clone())
    .bind(nonce.secret().clone())
    .bind(now.to_storage())
    .execute(&mut *connection)
    .await?;
    Ok(url.to_string())
}

/// Where to send a person signing out so that the provider ends its session too, when
/// the provider offers RP-initiated logout.
pub async fn logout_url(providers: &Providers, configured: &[OidcProvider], id: &str) -> Option<String> {
    let provider = find(configured, id).ok()?;
    let metadata = providers.metadata(provider).await.ok()?;
    let endpoint = metadata.additional_metadata().end_session_endpoint.clone()?;
    let mut url = openidconnect::url::Url::parse(&endpoint).ok()?;
    url.query_pairs_mut().append_pair("client_id", &provider.client_id);
    if let Some(back) = &provider.post_logout_redirect_url {
        url.query_pairs_mut().append_pair("post_logout_redirect_uri", back);
    }
    Some(url.to_string())
}

/// Who signed in, linked to a person here.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub provider: String,
    pub user: String,
    pub roles: Vec<Role>,
}

/// Finishes a sign-in: the state must be one this server handed out, the code is
/// exchanged with the PKCE verifier, and the ID token verified with the nonce.
pub async fn finish(
    connection: &mut AnyConnection,
    providers: &Providers,
    configured: &[OidcProvider],
    state: &str,
    code: &str,
    now: Timestamp,
) -> Result<SignedIn, OidcError> {
    let row = sqlx::query("SELECT provider, pkce_verifier, nonce, created_at FROM login_attempts WHERE state = $1")
        .bind(state.to_owned())
        .fetch_optional(&mut *connection)
        .await?
        .ok_or(OidcError::UnknownState)?;
    // Used once, whatever happens next.
    sqlx::query("DELETE FROM login_attempts WHERE state = $1").bind(state.to_owned()).execute(&mut *connection).await?;
    let created: String = row.try_get("created_at")?;
    if created < now.plus_seconds(-ATTEMPT_SECONDS).to_storage() {
        return Err(OidcError::UnknownState);
    }
    let provider = find(configured, &row.try_get::<String, _>("provider")?)?;
    let metadata = providers.metadata(provider).await?;
    let redirect =
        RedirectUrl::new(provider.redirect_url.clone()).map_err(|error| OidcError::Provider(error.to_string()))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect);
    let response = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|error| OidcError::Provider(error.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(row.try_get("pkce_verifier")?))
        .request_async(&http_client()?)
        .await
        .map_err(|error| OidcError::Refused(error.to_string()))?;
    let id_token =
        response.id_token().ok_or_else(|| OidcError::BadToken("the provider sent no ID token".to_owned()))?;
    let verifier = client.id_token_verifier();
    let nonce = Nonce::new(row.try_get("nonce")?);
    let claims = id_token.claims(&verifier, &nonce).map_err(|error| OidcError::BadToken(error.to_string()))?;
    if let Some(expected) = claims.access_token_hash() {
        let algorithm = id_token.signing_alg().map_err(|error| OidcError::BadToken(error.to_string()))?;
        let key = id_token.signing_key(&verifier).map_err(|error| OidcError::BadToken(error.to_string()))?;
        let actual = AccessTokenHash::from_token(response.access_token(), algorithm, key)
            .map_err(|error| OidcError::BadToken(error.to_string()))?;
        if actual != *expected {
            return Err(OidcError::BadToken("at_hash does not match the access token".to_owned()));
        }
    }
    // The signature is verified above; the payload's other claims can be read as JSON.
    let payload: Value = id_token
        .to_string()
        .split('.')
        .nth(1)
        .and_then(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let user = link(connection, provider, &payload).await?;
    let roles = provider
        .roles_claim
        .as_ref()
        .map(|claim| match &payload[claim] {
            Value::Array(values) => values.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Value::String(value) => vec![value.clone()],
            _ => Vec::new(),
        })
        .unwrap_or_default()
        .iter()
        .filter_map(|value| provider.role_map.get(value).copied())
        .collect();
    Ok(SignedIn { provider: provider.id.clone(), user, roles })
}

/// The person here a sign-in belongs to: a student by student number, staff by login id.
async fn link(connection: &mut AnyConnection, provider: &OidcProvider, payload: &Value) -> Result<String, OidcError> {
    if let Some(number) = provider.student_number_claim.as_ref().and_then(|claim| payload[claim].as_str()) {
        let subject = crate::directory::subject_by_identifier(connection, IdentifierScheme::StudentNumber, number)
            .await?
            .ok_or_else(|| OidcError::NotLinked(format!("student number {number}")))?;
        let user: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE subject_id = $1")
            .bind(subject.to_string())
            .fetch_optional(&mut *connection)
            .await?;
        return user.ok_or_else(|| OidcError::NotLinked(format!("student number {number}")));
    }
    let login = payload[&provider.user_claim]
        .as_str()
        .ok_or_else(|| OidcError::NotLinked(format!("no `{}` claim", provider.user_claim)))?;
    crate::directory::roles_of(connection, login)
        .await?
        .map(|_| login.to_owned())
        .ok_or_else(|| OidcError::NotLinked(format!("login {login}")))
}
