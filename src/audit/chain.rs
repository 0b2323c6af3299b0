//! The hash chain: `hash = SHA-256(prev_hash ‖ JCS(event))`, where `prev_hash` enters as its
//! 32 raw bytes and JCS is the RFC 8785 JSON Canonicalization Scheme of the event without
//! its two hash fields.

use ring::digest::{SHA256, digest};
use serde::Serialize;
use serde_json::Value;

use super::{Actor, AuditEvent, Decision};
use crate::timestamp::Timestamp;

/// The `prev_hash` of the first event ever recorded.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed part of an event: everything but `prev_hash` and `hash`.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    at: &'a Timestamp,
    actor: &'a Actor,
    action: &'a str,
    resource: &'a str,
    subject: Option<&'a str>,
    purpose: Option<&'a str>,
    decision: Decision,
    reasons: &'a [String],
    details: &'a Value,
}

/// The hash `event` must carry, given its `prev_hash`; `None` when `prev_hash` is not
/// 64 hex digits.
pub fn expected_hash(event: &AuditEvent) -> Option<String> {
    let hashed = Hashed {
        seq: event.seq,
        at: &event.at,
        actor: &event.actor,
        action: &event.action,
        resource: &event.resource,
        subject: event.subject.as_deref(),
        purpose: event.purpose.as_deref(),
        decision: event.decision,
        reasons: &event.reasons,
        details: &event.details,
    };
    let canonical = serde_jcs::to_vec(&hashed).ok()?;
    let mut input = decode_hex(&event.prev_hash)?;
    input.extend_from_slice(&canonical);
    Some(encode_hex(digest(&SHA256, &input).as_ref()))
}

/// Lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The bytes of a 64-digit hex SHA-256.
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|index| u8::from_str_radix(&hex[index..index + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::ActorKind;

    fn event() -> AuditEvent {
        AuditEvent {
            seq: 1,
            at: Timestamp::parse("2026-02-02T08:00:00Z").unwrap(),
            actor: Actor { id: "po1".to_owned(), kind: ActorKind::User, roles: vec![] },
            action: "audit.exported".to_owned(),
            resource: "AuditLog".to_owned(),
            subject: None,
            purpose: None,
            decision: Decision::Allow,
            reasons: vec!["rule".to_owned()],
            details: json!({ "b": 1, "a": [true, null] }),
            prev_hash: GENESIS_HASH.to_owned(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let original = expected_hash(&event()).unwrap();
        assert_eq!(original.len(), 64);
        let mut changed = event();
        changed.details = json!({ "b": 2, "a": [true, null] });
        assert_ne!(expected_hash(&changed).unwrap(), original);
        let mut relinked = event();
        relinked.prev_hash = "1".repeat(64);
        assert_ne!(expected_hash(&relinked).unwrap(), original);
        let mut moved = event();
        moved.seq = 2;
        assert_ne!(expected_hash(&moved).unwrap(), original);
    }

    #[test]
    fn key_order_in_details_does_not_matter() {
        let mut reordered = event();
        reordered.details = serde_json::from_str(r#"{"a": [true, null], "b": 1}"#).unwrap();
        assert_eq!(expected_hash(&reordered), expected_hash(&event()));
    }

    #[test]
    fn a_malformed_previous_hash_has_no_expected_hash() {
        let mut broken = event();
        broken.prev_hash = "xyz".to_owned();
        assert!(expected_hash(&broken).is_none());
    }
}
