//! Verification: recompute the chain, check every checkpoint's signature and hash, and
//! name the first seq where the log and its proofs disagree.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;
use utoipa::ToSchema;

use super::chain::{GENESIS_HASH, expected_hash};
use super::checkpoint::{Anchor, Checkpoint};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::export::{EXPORT_FORMAT, ExportDigest, ExportRecord, export_records};
use super::{AuditError, AuditEvent, store};
use crate::db::Db;

const PAGE: i64 = 1000;

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Report {
    pub valid: bool,
    pub events: u64,
    pub checkpoints: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// The first place the log was changed, when it was.
    pub tampering: Option<Tampering>,
}

/// Where verification failed first, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Tampering {
    pub seq: i64,
    pub problem: String,
}

/// Where the chain must start.
enum Start {
    /// Seq 1, linked to the genesis hash.
    Genesis,
    /// Right after a signed anchor left by pruning.
    Anchor(i64, String),
    /// Anywhere: an export of a time range links to events it does not hold.
    Anywhere,
}

/// Walks events in seq order against the checkpoints that cover them.
struct Walk {
    start: Start,
    checkpoints: BTreeMap<i64, Checkpoint>,
    previous: Option<(i64, String)>,
    first_seq: Option<i64>,
    events: u64,
    tampering: Option<Tampering>,
}

impl Walk {
    fn new(start: Start, checkpoints: Vec<Checkpoint>, public_key: &[u8]) -> Self {
        let mut walk =
            Self { start, checkpoints: BTreeMap::new(), previous: None, first_seq: None, events: 0, tampering: None };
        for checkpoint in checkpoints {
            if !checkpoint.verifies_with(public_key) {
                walk.found(checkpoint.seq, "the checkpoint's signature does not verify with the audit key".to_owned());
            }
            walk.checkpoints.insert(checkpoint.seq, checkpoint);
        }
        walk
    }

    /// Keeps the earliest problem.
    fn found(&mut self, seq: i64, problem: String) {
        if self.tampering.as_ref().is_none_or(|earlier| seq < earlier.seq) {
            self.tampering = Some(Tampering { seq, problem });
        }
    }

    /// A checkpoint met in an export, right after the event it signs.
    fn checkpoint_after(&mut self, checkpoint: Checkpoint, public_key: &[u8]) {
        if !checkpoint.verifies_with(public_key) {
            self.found(checkpoint.seq, "the checkpoint's signature does not verify with the audit key".to_owned());
        } else if let Some((seq, hash)) = &self.previous
            && *seq == checkpoint.seq
            && *hash != checkpoint.hash
        {
            self.found(*seq, "the event's hash differs from the one its checkpoint signed".to_owned());
        } else if self.previous.as_ref().is_none_or(|(seq, _)| *seq != checkpoint.seq) && !self.broken() {
            self.found(checkpoint.seq, "the event this checkpoint signs is not where it should be".to_owned());
        }
        self.checkpoints.insert(checkpoint.seq, checkpoint);
    }

    fn broken(&self) -> bool {
        self.tampering.is_some()
    }

    /// Checks the next event; after the first broken link nothing later can be trusted.
    fn event(&mut self, event: &AuditEvent) {
        if self.broken() && self.tampering.as_ref().is_some_and(|tampering| tampering.seq <= event.seq) {
            return;
        }
        let (expected_seq, expected_prev) = match (&self.previous, &self.start) {
            (Some((seq, hash)), _) => (Some(seq + 1), Some(hash.clone())),
            (None, Start::Genesis) => (Some(1), Some(GENESIS_HASH.to_owned())),
            (None, Start::Anchor(seq, hash)) => (Some(seq + 1), Some(hash.clone())),
            (None, Start::Anywhere) => (None, None),
        };
        if let Some(expected) = expected_seq {
            if event.seq > expected {
                return self.found(expected, format!("events {expected} to {} are missing", event.seq - 1));
            }
            if event.seq < expected {
                return self.found(event.seq, format!("seq {} appears out of order", event.seq));
            }
        }
        if expected_prev.is_some_and(|prev| prev != event.prev_hash) {
            return self.found(event.seq, "the event does not link to the event before it".to_owned());
        }
        if expected_hash(event).as_deref() != Some(event.hash.as_str()) {
            return self.found(event.seq, "the event's content does not match its hash".to_owned());
        }
        if let Some(checkpoint) = self.checkpoints.get(&event.seq)
            && checkpoint.hash != event.hash
        {
            return self.found(event.seq, "the event's hash differs from the one its checkpoint signed".to_owned());
        }
        self.first_seq.get_or_insert(event.seq);
        self.previous = Some((event.seq, event.hash.clone()));
        self.events += 1;
    }

    fn finish(mut self, head: Option<(i64, String)>) -> Report {
        let last_seq = self.previous.as_ref().map(|(seq, _)| *seq);
        let next = last_seq.map_or_else(
            || match &self.start {
                Start::Anchor(seq, _) => seq + 1,
                _ => 1,
            },
            |seq| seq + 1,
        );
        if !self.broken() {
            if let Some((&seq, _)) = self.checkpoints.range(next..).next() {
                self.found(next, format!("events {next} to {seq} are missing, though a checkpoint signed them"));
            }
            if let Some((head_seq, head_hash)) = head {
                if head_seq >= next {
                    self.found(next, format!("events {next} to {head_seq} are missing from the end of the log"));
                } else if let Some((seq, hash)) = &self.previous
                    && (*seq != head_seq || *hash != head_hash)
                {
                    self.found(*seq, "the last event differs from the chain head".to_owned());
                }
            }
        }
        let checkpoints = self.checkpoints.len() as u64;
        Report {
            valid: self.tampering.is_none(),
            events: self.events,
            checkpoints,
            first_seq: self.first_seq,
            last_seq,
            tampering: self.tampering,
        }
    }
}

/// Verifies the live log in `db` against `public_key`.
/// Verifies the live log and records that it was verified, with the outcome.
pub async fn verify_recorded(
    db: &Db,
    public_key: &[u8],
    actor: super::Actor,
    reasons: Vec<String>,
) -> Result<Report, AuditError> {
    let report = verify_store(db, public_key).await?;
    let event = super::Event::new(actor, "audit.verified", "AuditLog")
        .decided(super::Decision::Allow, reasons)
        .details(serde_json::json!({ "valid": report.valid, "events": report.events, "tampering": report.tampering }));
    super::record_alone(db, event).await?;
    Ok(report)
}

pub async fn verify_store(db: &Db, public_key: &[u8]) -> Result<Report, AuditError> {
    let anchor = store::anchor(db.pool()).await?;
    let start = match &anchor {
        Some(Anchor(checkpoint)) => Start::Anchor(checkpoint.seq, checkpoint.hash.clone()),
        None => Start::Genesis,
    };
    let checkpoints = store::load_checkpoints(db.pool(), 0, i64::MAX).await?;
    let mut walk = Walk::new(start, checkpoints, public_key);
    if let Some(Anchor(checkpoint)) = &anchor
        && !checkpoint.verifies_with(public_key)
    {
        walk.found(checkpoint.seq + 1, "the pruning anchor's signature does not verify".to_owned());
    }
    let mut after = 0;
    loop {
        let page = store::verification_page(db.pool(), after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.as_ref().map_or_else(|(seq, _)| *seq, |event| event.seq);
        for row in page {
            match row {
                Ok(event) => walk.event(&event),
                Err((seq, why)) => walk.found(seq, format!("the stored event cannot be read: {why}")),
            }
        }
    }
    let mut connection = db.pool().acquire().await?;
    let head = store::head(&mut connection).await?;
    Ok(walk.finish(Some(head)))
}

/// Verifies an export on its own, reading it once, record by record: the chain inside it,
/// its checkpoints, and the signature over the whole. `expected_key` pins the audit key;
/// without it the export's own key is used, and the caller should compare the returned
/// key id with the installation's.
pub fn verify_export(input: impl Read, expected_key: Option<&[u8]>) -> Result<(Report, String), AuditError> {
    let mut records = export_records(input)?;
    let header = records.next().transpose().map_err(AuditError::Export)?;
    let (key_id, own_key) = match &header {
        Some(ExportRecord::Header { format, key_id, public_key, .. }) if format == EXPORT_FORMAT => {
            let key = STANDARD
                .decode(public_key)
                .map_err(|error| AuditError::Export(format!("header public key: {error}")))?;
            (key_id.clone(), key)
        }
        Some(ExportRecord::Header { format, .. }) => {
            return Err(AuditError::Export(format!("unknown export format `{format}`")));
        }
        _ => return Err(AuditError::Export("the export does not start with its header".to_owned())),
    };
    let public_key = expected_key.map_or(own_key, <[u8]>::to_vec);
    let mut digest = ExportDigest::default();
    if let Some(header) = &header {
        digest.add(header)?;
    }
    let mut walk = Walk::new(Start::Anywhere, Vec::new(), &public_key);
    let mut signed = false;
    for record in records {
        let record = record.map_err(AuditError::Export)?;
        if signed {
            return Err(AuditError::Export("records follow the export's signature".to_owned()));
        }
        match &record {
            ExportRecord::Event(event) => walk.event(event),
            ExportRecord::Checkpoint(checkpoint) => walk.checkpoint_after(checkpoint.clone(), &public_key),
            ExportRecord::Signature { .. } => {
                signed = true;
                // An earlier, more precise finding explains a broken signature already.
                if !digest.signed_by(&record, &public_key) && !walk.broken() {
                    let seq = walk.first_seq.unwrap_or(0);
                    walk.found(seq, "the export's signature does not verify".to_owned());
                }
                continue;
            }
            ExportRecord::Header { .. } => return Err(AuditError::Export("a second header".to_owned())),
        }
        digest.add(&record)?;
    }
    if !signed {
        let seq = walk.previous.as_ref().map_or(0, |(seq, _)| seq + 1);
        walk.found(seq, "the export ends without its signature: it was cut short".to_owned());
    }
    Ok((walk.finish(None), key_id))
}
