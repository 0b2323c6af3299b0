//! Shared secrets for systems without an identity provider: sources and analytics tools
//! may authenticate with HTTP Basic (their id and a secret Consentry issued). Only the
//! secret's SHA-256 is stored; the secret itself is shown once.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use crate::audit::chain::encode_hex;

#[derive(Debug, thiserror::Error)]
#[error("the system random source failed")]
pub struct RandomFailure;

/// A fresh secret of 192 random bits, URL-safe.
pub fn issue() -> Result<String, RandomFailure> {
    let mut bytes = [0u8; 24];
    SystemRandom::new().fill(&mut bytes).map_err(|_| RandomFailure)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// How a secret is stored.
pub fn digest_hex(secret: &str) -> String {
    encode_hex(digest(&SHA256, secret.as_bytes()).as_ref())
}

/// The user name and password of an `Authorization: Basic …` header value.
pub fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let encoded = authorization.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_stored_as_digests() {
        let (first, second) = (issue().unwrap(), issue().unwrap());
        assert_ne!(first, second);
        assert_eq!(first.len(), 32);
        assert_eq!(digest_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let header = format!("Basic {}", STANDARD.encode("demo-lms:se:cret"));
        assert_eq!(basic_credentials(&header), Some(("demo-lms".to_owned(), "se:cret".to_owned())));
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
