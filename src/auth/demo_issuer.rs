//! The demo institution's own token issuer, active only with `--demo`.
//!
//! It signs with Ed25519 (never RSA: see the RSA timing advisory RUSTSEC-2023-0071) and
//! publishes its public key at `/.well-known/jwks.json`, like a real issuer would.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters,
    OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::{PrincipalKind, Role};
use crate::datadir::SigningKey;
use crate::timestamp::Timestamp;

/// The `iss` of demo tokens; a URN because the demo server's address varies.
pub const DEMO_ISSUER: &str = "urn:consentry:demo";

/// Signs tokens for the demo institution's people and clients.
pub struct DemoIssuer {
    key_id: String,
    encoding_key: EncodingKey,
    public_key: Vec<u8>,
    audience: String,
}

#[derive(Serialize)]
struct DemoClaims<'a> {
    iss: &'static str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    roles: Vec<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not sign the demo token: {0}")]
pub struct SigningFailed(String);

impl DemoIssuer {
    pub fn new(key: &SigningKey, audience: &str) -> Self {
        Self {
            key_id: key.key_id(),
            encoding_key: EncodingKey::from_ed_der(key.pkcs8_der()),
            public_key: key.public_key().to_vec(),
            audience: audience.to_owned(),
        }
    }

    /// A bearer token for `subject`, valid for `lifetime`.
    pub fn mint(
        &self,
        subject: &str,
        kind: PrincipalKind,
        roles: &[Role],
        lifetime: Duration,
    ) -> Result<String, SigningFailed> {
        let now = Timestamp::now().unix_seconds();
        let claims = DemoClaims {
            iss: DEMO_ISSUER,
            sub: subject,
            aud: &self.audience,
            iat: now,
            nbf: now,
            exp: now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
            roles: roles.to_vec(),
            client_id: (kind == PrincipalKind::Client).then_some(subject),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding_key).map_err(|error| SigningFailed(error.to_string()))
    }

    /// The public key set, as `/.well-known/jwks.json` serves it.
    pub fn jwks(&self) -> JwkSet {
        let key = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.key_id.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(&self.public_key),
            }),
        };
        JwkSet { keys: vec![key] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenVerifier;
    use crate::config::AuthConfig;
    use crate::datadir::DataDir;

    #[tokio::test]
    async fn a_minted_token_verifies_with_the_published_keys() {
        let dir = tempfile::tempdir().unwrap();
        let keys = DataDir::open(dir.path()).unwrap().load_keys(true).unwrap();
        let issuer = DemoIssuer::new(keys.demo_issuer.as_ref().unwrap(), "consentry");
        let verifier = TokenVerifier::new(&AuthConfig::default(), Some((DEMO_ISSUER, issuer.jwks()))).unwrap();

        let token = issuer.mint("demo-dashboard", PrincipalKind::Client, &[], Duration::from_secs(60)).unwrap();
        let principal = verifier.verify(&token).await.unwrap();

        assert_eq!(principal.id, "demo-dashboard");
        assert_eq!(principal.kind, PrincipalKind::Client);
        assert!(principal.roles.is_empty());
    }
}
