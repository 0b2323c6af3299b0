//! Per-purpose pseudonyms and sealed cursors, both keyed by the data directory's pepper.
//!
//! A pseudonym is HMAC-SHA256(pepper, purpose ‖ reader ‖ subject): stable for one reader
//! and purpose, unlinkable across purposes and readers. Records get references the same
//! way, so that neither internal record ids nor source statement ids (which the source
//! knows together with the actor) ever leave. Cursors carry a keyset position with an
//! internal record id, so they are sealed (ChaCha20-Poly1305) rather than merely encoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{self, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::datadir::Pepper;

/// The keys of the gateway, derived once at start-up.
pub struct Keys {
    pseudonyms: hmac::Key,
    cursors: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("gateway::Keys(…)")
    }
}

/// Why a cursor was refused.
#[derive(Debug, thiserror::Error)]
#[error("the cursor is not one this read handed out")]
pub struct BadCursor;

/// Fields joined with a separator no id contains, so that different inputs never meet.
fn joined(parts: &[&str]) -> Vec<u8> {
    parts.join("\u{0}").into_bytes()
}

/// The cursor key could not be made (ring refused it).
#[derive(Debug, thiserror::Error)]
#[error("the gateway's cursor key could not be derived")]
pub struct KeyError;

impl Keys {
    pub fn new(pepper: &Pepper) -> Result<Self, KeyError> {
        let pseudonyms = hmac::Key::new(hmac::HMAC_SHA256, pepper.expose());
        // A separate key for cursors: the same secret must not serve two algorithms.
        let cursor_key = hmac::sign(&pseudonyms, b"consentry gateway cursor key");
        let cursors = UnboundKey::new(&CHACHA20_POLY1305, &cursor_key.as_ref()[..32])
            .map(LessSafeKey::new)
            .map_err(|_| KeyError)?;
        Ok(Self { pseudonyms, cursors, random: SystemRandom::new() })
    }

    /// The pseudonym of `subject` for one reader and purpose.
    pub fn pseudonym(&self, purpose: &str, reader: &str, subject: &str) -> String {
        let tag = hmac::sign(&self.pseudonyms, &joined(&["subject", purpose, reader, subject]));
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// The reference of one record for one reader and purpose (128 bits).
    pub fn record_reference(&self, purpose: &str, reader: &str, record: &str) -> String {
        let tag = hmac::sign(&self.pseudonyms, &joined(&["record", purpose, reader, record]));
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }

    /// A cursor that only this reader's next page of the same purpose can open.
    pub fn seal_cursor(
        &self,
        purpose: &str,
        reader: &str,
        occurred_at: &str,
        record: &str,
    ) -> Result<String, BadCursor> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| BadCursor)?;
        let mut sealed = joined(&[occurred_at, record]);
        let binding = joined(&[purpose, reader]);
        self.cursors
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aead::Aad::from(&binding), &mut sealed)
            .map_err(|_| BadCursor)?;
        let mut token = nonce.to_vec();
        token.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(token))
    }

    /// The keyset position `(occurred_at, record id)` a cursor carries.
    pub fn open_cursor(&self, purpose: &str, reader: &str, cursor: &str) -> Result<(String, String), BadCursor> {
        let mut token = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BadCursor)?;
        if token.len() <= NONCE_LEN {
            return Err(BadCursor);
        }
        let mut sealed = token.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&token).map_err(|_| BadCursor)?;
        let binding = joined(&[purpose, reader]);
        let opened =
            self.cursors.open_in_place(nonce, aead::Aad::from(&binding), &mut sealed).map_err(|_| BadCursor)?;
        let text = std::str::from_utf8(opened).map_err(|_| BadCursor)?;
        let (at, record) = text.split_once('\u{0}').ok_or(BadCursor)?;
        Ok((at.to_owned(), record.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> Keys {
        Keys::new(&Pepper::from_bytes([byte; 32])).unwrap()
    }

    #[test]
    fn pseudonyms_are_stable_per_reader_and_purpose_and_unlinkable_across_them() {
        let keys = keys(7);
        let subject = "0196b4a2-3c1e-7d40-9a51-2f0c5e8d7b11";
        let dashboard = keys.pseudonym("personal-dashboard", "demo-dashboard", subject);
        assert_eq!(dashboard, keys.pseudonym("personal-dashboard", "demo-dashboard", subject));
        assert_ne!(dashboard, keys.pseudonym("course-improvement", "demo-dashboard", subject));
        assert_ne!(dashboard, keys.pseudonym("personal-dashboard", "demo-signals", subject));
        assert_ne!(dashboard, self::keys(8).pseudonym("personal-dashboard", "demo-dashboard", subject));
        assert_eq!(dashboard.len(), 43);
        // The separator keeps ("a-b", "c") and ("a", "b-c") apart.
        assert_ne!(keys.pseudonym("ab", "c", "s"), keys.pseudonym("a", "bc", "s"));
    }

    #[test]
    fn cursors_open_only_for_the_reader_and_purpose_they_were_sealed_for() {
        let keys = keys(1);
        let cursor = keys.seal_cursor("p", "reader", "2026-02-02T08:15:00.000000Z", "record-1").unwrap();
        assert!(!cursor.contains("record-1"));
        let (at, record) = keys.open_cursor("p", "reader", &cursor).unwrap();
        assert_eq!((at.as_str(), record.as_str()), ("2026-02-02T08:15:00.000000Z", "record-1"));
        assert!(keys.open_cursor("p", "another", &cursor).is_err());
        assert!(keys.open_cursor("q", "reader", &cursor).is_err());
        assert!(keys.open_cursor("p", "reader", "garbage").is_err());
        let mut tampered = cursor.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(keys.open_cursor("p", "reader", &String::from_utf8(tampered).unwrap()).is_err());
    }
}
