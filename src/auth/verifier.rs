//! Bearer-token verification against the keys trusted issuers publish.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::{AuthError, Principal, PrincipalKind, Role};
use crate::config::AuthConfig;

/// Asymmetric algorithms only: an HMAC algorithm would let anyone holding the public key
/// forge tokens, and `none` is no signature at all.
const ALLOWED_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Keys are refetched this often even when every `kid` is known, to notice revocations.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Verifies bearer tokens and turns them into principals.
#[derive(Debug)]
pub struct TokenVerifier {
    issuers: Vec<TrustedIssuer>,
    audience: String,
    leeway_seconds: u64,
    roles_claim: String,
    role_map: BTreeMap<String, Role>,
}

#[derive(Debug)]
struct TrustedIssuer {
    issuer: String,
    keys: KeySource,
}

#[derive(Debug)]
enum KeySource {
    /// Keys known at start-up (the demo issuer).
    Fixed(Arc<JwkSet>),
    /// Keys fetched over HTTP and cached.
    Fetched(Mutex<FetchedKeys>),
}

#[derive(Debug)]
struct FetchedKeys {
    client: reqwest::Client,
    location: KeysLocation,
    keys: Option<Arc<JwkSet>>,
    fetched_at: Option<Instant>,
    /// An unknown `kid` may mean the issuer rotated its keys, or a forged token: refetch,
    /// but not more often than this, so forged tokens cannot make us flood the issuer.
    min_refetch_interval: Duration,
}

#[derive(Debug)]
enum KeysLocation {
    JwksUrl(String),
    /// OpenID Connect discovery: `<issuer>/.well-known/openid-configuration` names `jwks_uri`.
    Discovery(String),
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    /// RFC 9068 §2.2: a token a client obtained for itself has `client_id` equal to `sub`.
    #[serde(default)]
    client_id: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

impl TokenVerifier {
    /// A verifier trusting the configured issuer (if any) and the demo issuer (if given).
    pub fn new(config: &AuthConfig, demo: Option<(&str, JwkSet)>) -> Result<Self, AuthError> {
        let mut issuers = Vec::new();
        if let Some(issuer) = &config.issuer {
            let client = reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .map_err(|error| AuthError::Unavailable(error.to_string()))?;
            let location = match &config.jwks_url {
                Some(url) => KeysLocation::JwksUrl(url.clone()),
                None => KeysLocation::Discovery(issuer.clone()),
            };
            issuers.push(TrustedIssuer {
                issuer: issuer.clone(),
                keys: KeySource::Fetched(Mutex::new(FetchedKeys {
                    client,
                    location,
                    keys: None,
                    fetched_at: None,
                    min_refetch_interval: Duration::from_secs(config.jwks_refetch_min_seconds),
                })),
            });
        }
        if let Some((issuer, keys)) = demo {
            issuers.push(TrustedIssuer { issuer: issuer.to_owned(), keys: KeySource::Fixed(Arc::new(keys)) });
        }
        Ok(Self {
            issuers,
            audience: config.audience.clone(),
            leeway_seconds: config.leeway_seconds,
            roles_claim: config.roles_claim.clone(),
            role_map: config.role_map.clone(),
        })
    }

    /// Verifies signature, algorithm, issuer, audience and validity period.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| match claimed_algorithm(token) {
            // `none` is no algorithm jsonwebtoken knows, so the header fails to parse.
            Some(alg) => AuthError::AlgorithmNotAllowed(alg),
            None => AuthError::Malformed,
        })?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        }
        let kid = header.kid.as_deref();
        let (issuer, jwk) = match self.find_key(kid, header.alg, false).await? {
            Some(found) => found,
            None => self.find_key(kid, header.alg, true).await?.ok_or(AuthError::UnknownKey)?,
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| AuthError::UnknownKey)?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_seconds;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::MissingRequiredClaim(claim) => AuthError::BadClaims(format!("`{claim}` is missing")),
                ErrorKind::Json(cause) => AuthError::BadClaims(cause.to_string()),
                _ => AuthError::BadSignature,
            })?
            .claims;
        Ok(self.principal(claims))
    }

    fn principal(&self, claims: Claims) -> Principal {
        let kind = if claims.client_id.as_deref() == Some(claims.sub.as_str()) {
            PrincipalKind::Client
        } else {
            PrincipalKind::User
        };
        let values: Vec<&str> = match claims.other.get(&self.roles_claim) {
            Some(Value::String(single)) => single.split_whitespace().collect(),
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        // Values neither mapped nor named like a role are someone else's groups: ignored.
        let roles: BTreeSet<Role> = values
            .into_iter()
            .filter_map(|value| self.role_map.get(value).copied().or_else(|| Role::parse(value)))
            .collect();
        Principal { id: claims.sub, kind, roles }
    }

    /// Finds the trusted issuer and key for a token header; `refresh` refetches remote key
    /// sets first (rate-limited).
    async fn find_key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        refresh: bool,
    ) -> Result<Option<(&str, Jwk)>, AuthError> {
        for trusted in &self.issuers {
            let keys = match &trusted.keys {
                KeySource::Fixed(keys) if !refresh => Arc::clone(keys),
                KeySource::Fixed(_) => continue,
                KeySource::Fetched(cache) => match cache.lock().await.keys(refresh).await {
                    Ok(keys) => keys,
                    Err(error) if refresh => {
                        tracing::warn!(issuer = %trusted.issuer, %error, "could not refresh the issuer's keys");
                        continue;
                    }
                    Err(error) => return Err(error),
                },
            };
            if let Some(jwk) = select_key(&keys, kid, alg) {
                return Ok(Some((trusted.issuer.as_str(), jwk.clone())));
            }
        }
        Ok(None)
    }
}

/// The `alg` a token header claims, read without trusting anything else in it.
fn claimed_algorithm(token: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// The key a token names, if its type fits the token's algorithm; without a `kid`, the
/// only key of the right type.
fn select_key<'a>(keys: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fitting = |jwk: &&Jwk| key_fits(jwk, alg);
    match kid {
        Some(kid) => keys.keys.iter().filter(fitting).find(|jwk| jwk.common.key_id.as_deref() == Some(kid)),
        None => {
            let mut candidates = keys.keys.iter().filter(fitting);
            let only = candidates.next()?;
            candidates.next().is_none().then_some(only)
        }
    }
}

/// A key is used only with the algorithm family it was made for.
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(params), Algorithm::ES256) => params.curve == EllipticCurve::P256,
        (AlgorithmParameters::OctetKeyPair(params), Algorithm::EdDSA) => params.curve == EllipticCurve::Ed25519,
        _ => false,
    }
}

impl FetchedKeys {
    /// The cached key set, fetched when missing, older than [`MAX_KEY_AGE`], or when
    /// `refresh` asks for it; never more often than the configured minimum interval.
    async fn keys(&mut self, refresh: bool) -> Result<Arc<JwkSet>, AuthError> {
        let since_last = self.fetched_at.map(|at| at.elapsed());
        let may_fetch = since_last.is_none_or(|elapsed| elapsed >= self.min_refetch_interval);
        let wants_fetch = match (&self.keys, since_last) {
            (Some(_), Some(elapsed)) => refresh || elapsed >= MAX_KEY_AGE,
            _ => true,
        };
        if wants_fetch && may_fetch {
            self.fetched_at = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => self.keys = Some(Arc::new(keys)),
                Err(error) if self.keys.is_none() => return Err(error),
                // Keep serving with the keys we have: the issuer may be down for a moment.
                Err(error) => tracing::warn!(%error, "keeping the issuer's previous keys"),
            }
        }
        self.keys
            .clone()
            .ok_or_else(|| AuthError::Unavailable("the last attempt failed moments ago; retrying shortly".to_owned()))
    }

    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        let jwks_url = match &self.location {
            KeysLocation::JwksUrl(url) => url.clone(),
            KeysLocation::Discovery(issuer) => {
                #[derive(Deserialize)]
                struct Discovery {
                    jwks_uri: String,
                }
                let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
                self.get_json::<Discovery>(&url).await?.jwks_uri
            }
        };
        self.get_json(&jwks_url).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let unavailable = |error: reqwest::Error| AuthError::Unavailable(format!("{url}: {error}"));
        self.client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }
}
