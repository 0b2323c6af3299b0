//! Signed checkpoints, the pruning anchor, and the background job that makes both.
//!
//! A checkpoint says "the event with this seq has this hash", signed with the Ed25519 key
//! from the data directory. Whoever holds the public key can then check a log or an
//! export offline: an edit anywhere before a checkpoint changes the hash it signed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use utoipa::ToSchema;

use super::{Actor, AuditError, Event, store};
use crate::config::AuditConfig;
use crate::datadir::SigningKey;
use crate::db::Db;
use crate::timestamp::Timestamp;

/// A signed (seq, hash, at).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub key_id: String,
    /// base64 Ed25519 signature over the RFC 8785 canonical JSON of `{seq, hash, at}`.
    pub signature: String,
}

/// The signed checkpoint of the last pruned event: where the remaining chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor(pub Checkpoint);

#[derive(Serialize)]
struct Signed<'a> {
    seq: i64,
    hash: &'a str,
    at: &'a Timestamp,
}

fn signed_bytes(seq: i64, hash: &str, at: &Timestamp) -> Vec<u8> {
    serde_jcs::to_vec(&Signed { seq, hash, at }).unwrap_or_default()
}

impl Checkpoint {
    pub fn sign(key: &SigningKey, seq: i64, hash: String) -> Self {
        let at = Timestamp::now();
        let signature = STANDARD.encode(key.sign(&signed_bytes(seq, &hash, &at)));
        Self { seq, hash, at, key_id: key.key_id(), signature }
    }

    /// Whether the signature is `public_key`'s over this checkpoint.
    pub fn verifies_with(&self, public_key: &[u8]) -> bool {
        let Ok(signature) = STANDARD.decode(&self.signature) else { return false };
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&signed_bytes(self.seq, &self.hash, &self.at), &signature)
            .is_ok()
    }
}

/// The audit signing key's public half, as auditors fetch it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKey {
    pub key_id: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// The same as a PEM SubjectPublicKeyInfo, for `openssl` and similar tools.
    pub pem: String,
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the key's 32 bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

impl PublicKey {
    pub fn of(key: &SigningKey) -> Self {
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.public_key());
        Self {
            key_id: key.key_id(),
            algorithm: "Ed25519".to_owned(),
            public_key: STANDARD.encode(key.public_key()),
            pem: pem::encode(&pem::Pem::new("PUBLIC KEY", spki)),
        }
    }

    pub fn bytes(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.public_key).ok()
    }
}

/// Signs a checkpoint of the current head, unless the last checkpoint already covers it.
pub async fn checkpoint_now(db: &Db, key: &SigningKey) -> Result<Option<Checkpoint>, AuditError> {
    let mut tx = db.begin().await?;
    let (seq, hash) = store::lock_head(&mut tx).await?;
    let covered = store::last_checkpoint(&mut tx).await?.is_some_and(|last| last.seq >= seq);
    if seq == 0 || covered {
        return Ok(None);
    }
    let checkpoint = Checkpoint::sign(key, seq, hash);
    store::insert_checkpoint(&mut tx, &checkpoint).await?;
    tx.commit().await.map_err(crate::db::DbError::from)?;
    Ok(Some(checkpoint))
}

/// Events since the last checkpoint.
async fn uncovered_events(db: &Db) -> Result<i64, AuditError> {
    let mut connection = db.pool().acquire().await?;
    let (seq, _) = store::head(&mut connection).await?;
    let last = store::last_checkpoint(&mut connection).await?.map_or(0, |checkpoint| checkpoint.seq);
    Ok(seq - last)
}

/// Removes the events older than `cutoff`, leaving a signed anchor, and records the
/// pruning itself as an event in the same transaction. Returns how many were removed.
pub async fn prune(db: &Db, key: &SigningKey, cutoff: Timestamp) -> Result<u64, AuditError> {
    let mut tx = db.begin().await?;
    store::lock_head(&mut tx).await?;
    let Some((seq, hash)) = store::last_event_before(&mut tx, cutoff).await? else {
        return Ok(0);
    };
    let anchor = Anchor(Checkpoint::sign(key, seq, hash));
    let removed = store::remove_prefix(&mut tx, &anchor).await?;
    let event = Event::new(Actor::system("audit-retention"), "audit.pruned", "AuditLog")
        .details(json!({ "removed_events": removed, "through_seq": seq, "cutoff": cutoff }));
    store::record(&mut tx, event).await?;
    tx.commit().await.map_err(crate::db::DbError::from)?;
    Ok(removed)
}

/// The background job: a checkpoint every N events or T minutes, whichever comes first;
/// pruning past the retention period once a day; a last checkpoint on shutdown.
pub struct Checkpointer {
    pub db: Db,
    pub key: Arc<SigningKey>,
    pub config: AuditConfig,
}

const POLL_INTERVAL: Duration = Duration::from_secs(1);
const PRUNE_INTERVAL: Duration = Duration::from_secs(24 * 3600);

impl Checkpointer {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_secs(self.config.checkpoint_every_minutes.saturating_mul(60).max(1));
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        // The first timed checkpoint is due one period after start, not at once.
        let mut timed = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut pruning = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    match uncovered_events(&self.db).await {
                        Ok(count) if count >= self.config.checkpoint_every_events => self.checkpoint().await,
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "could not read the audit head"),
                    }
                }
                _ = timed.tick() => self.checkpoint().await,
                _ = pruning.tick() => self.prune().await,
                _ = stop.changed() => {
                    self.checkpoint().await;
                    return;
                }
            }
        }
    }

    async fn checkpoint(&self) {
        match checkpoint_now(&self.db, &self.key).await {
            Ok(Some(checkpoint)) => tracing::debug!(seq = checkpoint.seq, "signed an audit checkpoint"),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "could not sign an audit checkpoint"),
        }
    }

    async fn prune(&self) {
        let retention = i64::try_from(self.config.retention_days).unwrap_or(i64::MAX).saturating_mul(86_400);
        let cutoff = Timestamp::now().plus_seconds(-retention);
        match prune(&self.db, &self.key, cutoff).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "pruned audit events past their retention"),
            Err(error) => tracing::warn!(%error, "could not prune the audit log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;

    #[test]
    fn a_checkpoint_verifies_with_its_key_and_not_when_altered() {
        let dir = tempfile::tempdir().unwrap();
        let keys = DataDir::open(dir.path()).unwrap().load_keys(false).unwrap();
        let checkpoint = Checkpoint::sign(&keys.audit_signing, 7, "ab".repeat(32));
        let public_key = PublicKey::of(&keys.audit_signing);

        assert!(checkpoint.verifies_with(&public_key.bytes().unwrap()));
        let altered = Checkpoint { seq: 8, ..checkpoint.clone() };
        assert!(!altered.verifies_with(&public_key.bytes().unwrap()));
        assert!(public_key.pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}
