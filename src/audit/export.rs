//! Streaming exports of the log as JSON Lines or CSV, optionally encrypted with age, that
//! verify on their own.
//!
//! An export is a sequence of records: a header with the audit public key, the events in
//! seq order with the checkpoints that fall among them, and a signature record. The
//! signature covers the SHA-256 over every earlier record's RFC 8785 canonical JSON (one
//! per line), so it holds for the same export in either format.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{Context, SHA256};
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::checkpoint::{Checkpoint, PublicKey};
use super::{Actor, ActorKind, AuditError, AuditEvent, Decision, EventFilter, store};
use crate::datadir::SigningKey;
use crate::db::Db;
use crate::timestamp::Timestamp;

pub const EXPORT_FORMAT: &str = "consentry-audit-export/1";
const PAGE: i64 = 1000;
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row; JSON-valued columns hold JSON text.
    Csv,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/jsonl",
            Self::Csv => "text/csv",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

/// One record of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportRecord {
    Header {
        format: String,
        exported_at: Timestamp,
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        key_id: String,
        public_key: String,
    },
    Event(Box<AuditEvent>),
    Checkpoint(Checkpoint),
    /// Signs the SHA-256 over the canonical JSON of every record before it.
    Signature {
        records: u64,
        sha256: String,
        key_id: String,
        signature: String,
    },
}

/// What to export and how.
pub struct ExportRequest {
    pub filter: EventFilter,
    pub format: ExportFormat,
    pub recipients: Vec<age::x25519::Recipient>,
}

/// Starts producing the export in the background; the receiver yields its bytes. Pages of
/// events are read, encoded and sent one at a time, and the channel's bound holds the
/// producer back while the client is slow: memory stays flat whatever the export's size.
pub fn start_export(db: Db, key: Arc<SigningKey>, request: ExportRequest) -> mpsc::Receiver<Result<Bytes, io::Error>> {
    let (sender, receiver) = mpsc::channel(8);
    tokio::spawn(async move {
        if let Err(error) = produce(&db, &key, request, &sender).await {
            tracing::error!(%error, "the audit export stopped part-way");
            let _ = sender.send(Err(io::Error::other(error.to_string()))).await;
        }
    });
    receiver
}

async fn produce(
    db: &Db,
    key: &SigningKey,
    request: ExportRequest,
    sender: &mpsc::Sender<Result<Bytes, io::Error>>,
) -> Result<(), AuditError> {
    let mut writer = RecordWriter::new(request.format, &request.recipients)?;
    let public_key = PublicKey::of(key);
    writer.write(&ExportRecord::Header {
        format: EXPORT_FORMAT.to_owned(),
        exported_at: Timestamp::now(),
        from: request.filter.from,
        until: request.filter.until,
        key_id: public_key.key_id.clone(),
        public_key: public_key.public_key,
    })?;
    let range = EventFilter { from: request.filter.from, until: request.filter.until, ..EventFilter::default() };
    let mut after = 0;
    loop {
        let events = store::list_events(db.pool(), &range, after, PAGE).await?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else { break };
        let mut checkpoints = store::load_checkpoints(db.pool(), first.seq, last.seq).await?.into_iter().peekable();
        after = last.seq;
        for event in events {
            let seq = event.seq;
            writer.write(&ExportRecord::Event(Box::new(event)))?;
            while let Some(checkpoint) = checkpoints.next_if(|checkpoint| checkpoint.seq <= seq) {
                writer.write(&ExportRecord::Checkpoint(checkpoint))?;
            }
        }
        if !send(sender, writer.take()?).await {
            return Ok(());
        }
    }
    let (records, digest) = writer.digest();
    writer.write_unhashed(&ExportRecord::Signature {
        records,
        sha256: super::chain::encode_hex(&digest),
        key_id: key.key_id(),
        signature: STANDARD.encode(key.sign(&digest)),
    })?;
    send(sender, writer.finish()?).await;
    Ok(())
}

/// False when the client has gone away.
async fn send(sender: &mpsc::Sender<Result<Bytes, io::Error>>, bytes: Vec<u8>) -> bool {
    bytes.is_empty() || sender.send(Ok(Bytes::from(bytes))).await.is_ok()
}

/// A `Write` whose bytes can be taken out while an age stream still writes into it.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn take(&self) -> Vec<u8> {
        self.0.lock().map(|mut buffer| std::mem::take(&mut *buffer)).unwrap_or_default()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("export buffer poisoned"))?.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Sink {
    Plain(SharedBuffer),
    Encrypted(age::stream::StreamWriter<SharedBuffer>, SharedBuffer),
}

/// Encodes records in the chosen format, keeps the running digest, and encrypts.
struct RecordWriter {
    format: ExportFormat,
    /// Whether the CSV header row has been written.
    csv_started: bool,
    sink: Sink,
    digest: ExportDigest,
}

fn export_error(error: impl std::fmt::Display) -> AuditError {
    AuditError::Export(error.to_string())
}

impl RecordWriter {
    fn new(format: ExportFormat, recipients: &[age::x25519::Recipient]) -> Result<Self, AuditError> {
        let buffer = SharedBuffer::default();
        let sink = if recipients.is_empty() {
            Sink::Plain(buffer)
        } else {
            let recipients = recipients.iter().map(|recipient| recipient as &dyn age::Recipient);
            let encryptor = age::Encryptor::with_recipients(recipients).map_err(export_error)?;
            Sink::Encrypted(encryptor.wrap_output(buffer.clone()).map_err(export_error)?, buffer)
        };
        Ok(Self { format, csv_started: false, sink, digest: ExportDigest::default() })
    }

    fn write(&mut self, record: &ExportRecord) -> Result<(), AuditError> {
        self.digest.add(record)?;
        self.write_unhashed(record)
    }

    fn write_unhashed(&mut self, record: &ExportRecord) -> Result<(), AuditError> {
        let bytes = match self.format {
            ExportFormat::Csv => {
                let mut csv = csv::WriterBuilder::new().has_headers(!self.csv_started).from_writer(Vec::new());
                self.csv_started = true;
                csv.serialize(CsvRow::from(record)).map_err(export_error)?;
                csv.into_inner().map_err(export_error)?
            }
            ExportFormat::Jsonl => {
                let mut line = serde_json::to_vec(record).map_err(export_error)?;
                line.push(b'\n');
                line
            }
        };
        match &mut self.sink {
            Sink::Plain(buffer) => buffer.write_all(&bytes),
            Sink::Encrypted(writer, _) => writer.write_all(&bytes),
        }
        .map_err(export_error)
    }

    fn digest(&self) -> (u64, Vec<u8>) {
        (self.digest.records, self.digest.context.clone().finish().as_ref().to_vec())
    }

    /// The bytes ready to send.
    fn take(&self) -> Result<Vec<u8>, AuditError> {
        Ok(match &self.sink {
            Sink::Plain(buffer) | Sink::Encrypted(_, buffer) => buffer.take(),
        })
    }

    fn finish(self) -> Result<Vec<u8>, AuditError> {
        match self.sink {
            Sink::Plain(buffer) => Ok(buffer.take()),
            Sink::Encrypted(writer, buffer) => {
                writer.finish().map_err(export_error)?;
                Ok(buffer.take())
            }
        }
    }
}

fn canonical_line(record: &ExportRecord) -> Result<Vec<u8>, AuditError> {
    let mut line = serde_jcs::to_vec(record).map_err(export_error)?;
    line.push(b'\n');
    Ok(line)
}

/// A flat CSV row for every kind of record; columns a record does not use stay empty.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CsvRow {
    #[serde(rename = "type")]
    record_type: String,
    seq: Option<i64>,
    at: Option<String>,
    actor_id: Option<String>,
    actor_kind: Option<String>,
    actor_roles: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    subject: Option<String>,
    purpose: Option<String>,
    decision: Option<String>,
    reasons: Option<String>,
    details: Option<String>,
    prev_hash: Option<String>,
    hash: Option<String>,
    format: Option<String>,
    from: Option<String>,
    until: Option<String>,
    records: Option<u64>,
    sha256: Option<String>,
    key_id: Option<String>,
    public_key: Option<String>,
    signature: Option<String>,
}

fn json_text<T: Serialize>(value: &T) -> Option<String> {
    serde_json::to_string(value).ok()
}

impl From<&ExportRecord> for CsvRow {
    fn from(record: &ExportRecord) -> Self {
        match record {
            ExportRecord::Header { format, exported_at, from, until, key_id, public_key } => Self {
                record_type: "header".to_owned(),
                at: Some(exported_at.to_storage()),
                format: Some(format.clone()),
                from: from.map(Timestamp::to_storage),
                until: until.map(Timestamp::to_storage),
                key_id: Some(key_id.clone()),
                public_key: Some(public_key.clone()),
                ..Self::default()
            },
            ExportRecord::Event(event) => Self {
                record_type: "event".to_owned(),
                seq: Some(event.seq),
                at: Some(event.at.to_storage()),
                actor_id: Some(event.actor.id.clone()),
                actor_kind: Some(event.actor.kind.as_str().to_owned()),
                actor_roles: json_text(&event.actor.roles),
                action: Some(event.action.clone()),
                resource: Some(event.resource.clone()),
                subject: event.subject.clone(),
                purpose: event.purpose.clone(),
                decision: Some(event.decision.as_str().to_owned()),
                reasons: json_text(&event.reasons),
                details: json_text(&event.details),
                prev_hash: Some(event.prev_hash.clone()),
                hash: Some(event.hash.clone()),
                ..Self::default()
            },
            ExportRecord::Checkpoint(checkpoint) => Self {
                record_type: "checkpoint".to_owned(),
                seq: Some(checkpoint.seq),
                at: Some(checkpoint.at.to_storage()),
                hash: Some(checkpoint.hash.clone()),
                key_id: Some(checkpoint.key_id.clone()),
                signature: Some(checkpoint.signature.clone()),
                ..Self::default()
            },
            ExportRecord::Signature { records, sha256, key_id, signature } => Self {
                record_type: "signature".to_owned(),
                records: Some(*records),
                sha256: Some(sha256.clone()),
                key_id: Some(key_id.clone()),
                signature: Some(signature.clone()),
                ..Self::default()
            },
        }
    }
}

impl TryFrom<CsvRow> for ExportRecord {
    type Error = String;

    fn try_from(row: CsvRow) -> Result<Self, String> {
        fn need<T>(value: Option<T>, column: &str) -> Result<T, String> {
            value.ok_or_else(|| format!("the `{column}` column is empty"))
        }
        fn time(value: Option<String>, column: &str) -> Result<Timestamp, String> {
            Timestamp::parse(&need(value, column)?).map_err(|error| error.to_string())
        }
        fn json<T: serde::de::DeserializeOwned>(value: Option<String>, column: &str) -> Result<T, String> {
            serde_json::from_str(&need(value, column)?).map_err(|error| format!("`{column}`: {error}"))
        }
        let optional_time = |value: Option<String>| value.map(|text| Timestamp::parse(&text)).transpose();
        Ok(match row.record_type.as_str() {
            "header" => ExportRecord::Header {
                format: need(row.format, "format")?,
                exported_at: time(row.at, "at")?,
                from: optional_time(row.from).map_err(|error| error.to_string())?,
                until: optional_time(row.until).map_err(|error| error.to_string())?,
                key_id: need(row.key_id, "key_id")?,
                public_key: need(row.public_key, "public_key")?,
            },
            "event" => {
                let kind = need(row.actor_kind, "actor_kind")?;
                ExportRecord::Event(Box::new(AuditEvent {
                    seq: need(row.seq, "seq")?,
                    at: time(row.at, "at")?,
                    actor: Actor {
                        id: need(row.actor_id, "actor_id")?,
                        kind: ActorKind::parse(&kind).ok_or(format!("actor kind `{kind}`"))?,
                        roles: json(row.actor_roles, "actor_roles")?,
                    },
                    action: need(row.action, "action")?,
                    resource: need(row.resource, "resource")?,
                    subject: row.subject,
                    purpose: row.purpose,
                    decision: match need(row.decision, "decision")?.as_str() {
                        "allow" => Decision::Allow,
                        "deny" => Decision::Deny,
                        other => return Err(format!("decision `{other}`")),
                    },
                    reasons: json(row.reasons, "reasons")?,
                    details: json(row.details, "details")?,
                    prev_hash: need(row.prev_hash, "prev_hash")?,
                    hash: need(row.hash, "hash")?,
                }))
            }
            "checkpoint" => ExportRecord::Checkpoint(Checkpoint {
                seq: need(row.seq, "seq")?,
                hash: need(row.hash, "hash")?,
                at: time(row.at, "at")?,
                key_id: need(row.key_id, "key_id")?,
                signature: need(row.signature, "signature")?,
            }),
            "signature" => ExportRecord::Signature {
                records: need(row.records, "records")?,
                sha256: need(row.sha256, "sha256")?,
                key_id: need(row.key_id, "key_id")?,
                signature: need(row.signature, "signature")?,
            },
            other => return Err(format!("unknown record type `{other}`")),
        })
    }
}

/// The records of an export in either format, read one at a time. Encrypted exports must
/// be decrypted first ([`decrypt`]).
pub fn export_records<'a>(
    input: impl Read + 'a,
) -> Result<Box<dyn Iterator<Item = Result<ExportRecord, String>> + 'a>, AuditError> {
    let mut input = BufReader::new(input);
    let start = input.fill_buf().map_err(export_error)?;
    if start.starts_with(AGE_MAGIC) {
        return Err(AuditError::Export("the export is encrypted: give the age identity that decrypts it".to_owned()));
    }
    if start.iter().copied().find(|byte| !byte.is_ascii_whitespace()) == Some(b'{') {
        Ok(Box::new(input.lines().enumerate().filter_map(|(number, line)| match line {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(serde_json::from_str(&line).map_err(|error| format!("line {}: {error}", number + 1))),
            Err(error) => Some(Err(error.to_string())),
        })))
    } else {
        Ok(Box::new(csv::Reader::from_reader(input).into_deserialize::<CsvRow>().enumerate().map(|(number, row)| {
            row.map_err(|error| error.to_string())
                .and_then(ExportRecord::try_from)
                .map_err(|error| format!("row {}: {error}", number + 2))
        })))
    }
}

/// The running digest an export's signature covers.
pub struct ExportDigest {
    context: Context,
    records: u64,
}

impl Default for ExportDigest {
    fn default() -> Self {
        Self { context: Context::new(&SHA256), records: 0 }
    }
}

impl ExportDigest {
    pub fn add(&mut self, record: &ExportRecord) -> Result<(), AuditError> {
        self.context.update(&canonical_line(record)?);
        self.records += 1;
        Ok(())
    }

    /// Whether a signature record signs exactly the records added, with `public_key`.
    pub fn signed_by(&self, signature: &ExportRecord, public_key: &[u8]) -> bool {
        let ExportRecord::Signature { records, sha256, signature, .. } = signature else { return false };
        let digest = self.context.clone().finish();
        let Ok(signature) = STANDARD.decode(signature) else { return false };
        *records == self.records
            && *sha256 == super::chain::encode_hex(digest.as_ref())
            && UnparsedPublicKey::new(&ED25519, public_key).verify(digest.as_ref(), &signature).is_ok()
    }
}

/// Whether `bytes` begin like an age-encrypted file.
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(AGE_MAGIC)
}

/// Decrypts an age-encrypted export with the identities in an age identity file.
pub fn decrypt(encrypted: impl Read, identity_file: impl BufRead) -> Result<impl Read, AuditError> {
    let identities =
        age::IdentityFile::from_buffer(identity_file).map_err(export_error)?.into_identities().map_err(export_error)?;
    let decryptor = age::Decryptor::new(encrypted).map_err(export_error)?;
    decryptor
        .decrypt(identities.iter().map(|identity| identity.as_ref() as &dyn age::Identity))
        .map_err(|error| AuditError::Export(format!("cannot decrypt the export: {error}")))
}
