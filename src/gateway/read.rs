//! One governed read, from the decision to the last row: preparing the scope inside a
//! snapshot, then serving pages or a stream of pseudonymous, projected records.

use std::sync::Arc;

use axum::body::Bytes;
use futures::{Stream, TryStreamExt};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::mpsc;

use super::disclosure::{self, ReadLog, Shape};
use super::scope::{COURSE_FIELDS, Scope, Subjects, write_str};
use super::{GatewayError, Keys, actor};
use crate::audit::{self, Decision, Event};
use crate::auth::{Principal, PrincipalKind};
use crate::db::{Db, PlaceholderStyle, Tx};
use crate::policy::{Action, Gate, ReadContext};
use crate::purposes::{self, Granularity, Purpose, PurposeError, PurposeId, PurposeStatus};
use crate::records::{RecordKind, Scan};
use crate::timestamp::Timestamp;

/// Bytes gathered before a chunk of a stream is sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// Who reads: the authenticated principal, and the id pseudonyms are made for (a client's
/// registry id, stable when its token subject changes; or the user's id).
#[derive(Debug, Clone)]
pub struct Reader {
    pub principal: Principal,
    pub id: String,
}

impl Reader {
    pub async fn resolve(db: &Db, principal: Principal) -> Result<Self, GatewayError> {
        let id = match principal.kind {
            PrincipalKind::User => principal.id.clone(),
            PrincipalKind::Client => {
                let mut connection = db.pool().acquire().await?;
                crate::clients::registration(&mut connection, &principal.id)
                    .await?
                    .map_or_else(|| principal.id.clone(), |client| client.id)
            }
        };
        Ok(Self { principal, id })
    }
}

/// What a tool narrows a read to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub kind: Option<RecordKind>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub course: Option<String>,
    pub activity: Option<String>,
    pub verb: Option<String>,
}

impl Filters {
    /// The filters as the audit log and the read log keep them.
    pub fn describe(&self) -> Value {
        let mut described = serde_json::Map::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                described.insert(name.to_owned(), Value::String(value));
            }
        };
        put("kind", self.kind.map(|kind| kind.as_str().to_owned()));
        put("since", self.since.map(|at| at.to_storage()));
        put("until", self.until.map(|at| at.to_storage()));
        put("course", self.course.clone());
        put("activity", self.activity.clone());
        put("verb", self.verb.clone());
        Value::Object(described)
    }

    /// What each filter needs the purpose to read.
    fn needs(&self) -> Vec<FieldNeed> {
        let mut needs = Vec::new();
        if self.course.is_some() {
            needs.push(FieldNeed::new("course", &COURSE_FIELDS));
        }
        if self.activity.is_some() {
            needs.push(FieldNeed::new("activity", &["object.id"]));
        }
        if self.verb.is_some() {
            needs.push(FieldNeed::new("verb", &["verb.id"]));
        }
        needs
    }
}

/// A part of a request (`verb`, `group_by[0]`, …) that needs the purpose to read one of
/// some fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNeed {
    pub parameter: String,
    pub fields: Vec<String>,
}

impl FieldNeed {
    pub fn new(parameter: impl Into<String>, fields: &[&str]) -> Self {
        Self { parameter: parameter.into(), fields: fields.iter().map(|field| (*field).to_owned()).collect() }
    }
}

/// What one read asks for, at the time it starts.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest<'a> {
    pub reader: &'a Reader,
    pub action: Action,
    pub purpose: &'a PurposeId,
    pub filters: &'a Filters,
    /// What the request's other parts (aggregate dimensions and metrics) need to read.
    pub needs: &'a [FieldNeed],
    pub now: Timestamp,
}

/// A read that was allowed, with its snapshot open.
pub struct Prepared {
    pub tx: Tx,
    pub scope: Scope,
    pub scan: Scan,
    pub log: ReadLog,
}

/// Why a decision denied, in the words of [`GatewayError`].
async fn explain(
    db: &Db,
    reader: &Reader,
    purpose: &Purpose,
    action: Action,
    reasons: Vec<String>,
) -> Result<GatewayError, GatewayError> {
    if reader.principal.kind == PrincipalKind::Client {
        let mut connection = db.pool().acquire().await?;
        match crate::clients::registration(&mut connection, &reader.principal.id).await? {
            Some(client) if !client.active => return Ok(GatewayError::ClientSuspended(client.id)),
            Some(client) if client.purposes.contains(&purpose.id) => {}
            _ => {
                return Ok(GatewayError::NotRegisteredForPurpose {
                    client: reader.id.clone(),
                    purpose: purpose.id.to_string(),
                });
            }
        }
    }
    if purpose.status != PurposeStatus::Active {
        return Ok(GatewayError::PurposeNotActive { purpose: purpose.id.to_string(), status: purpose.status.as_str() });
    }
    if action == Action::ReadRecords && purpose.definition.granularity == Granularity::Aggregate {
        return Ok(GatewayError::AggregateOnlyPurpose(purpose.id.to_string()));
    }
    let action = action.as_str();
    Ok(GatewayError::Denied { action, reasons })
}

/// Records a refused read in the audit log and hands the refusal back.
async fn deny(
    db: &Db,
    reader: &Reader,
    action: Action,
    purpose: &PurposeId,
    context: &ReadContext,
    policies: Vec<String>,
    error: GatewayError,
) -> GatewayError {
    let mut reasons = vec![error.reason().to_owned()];
    reasons.extend(policies.iter().cloned());
    let event = Event::new(actor(&reader.principal), "access.denied", format!("Purpose::{purpose}"))
        .purpose(purpose.as_str())
        .decided(Decision::Deny, reasons)
        .details(json!({
            "action": action.as_str(),
            "policies": policies,
            "context": context,
            "reason": error.reason(),
            "detail": error.to_string(),
        }));
    match audit::record_alone(db, event).await {
        Ok(_) => error,
        Err(audit_error) => audit_error.into(),
    }
}

/// The decision and the scope of one read: checks that every filter (and every field in
/// `needs`, from aggregates) names something the purpose may read, asks the policy, and
/// opens the snapshot the read will see. Every refusal is audited with its reason.
pub async fn prepare(db: &Db, gate: &Gate, request: &ReadRequest<'_>) -> Result<Prepared, GatewayError> {
    let ReadRequest { reader, action, purpose: purpose_id, filters, needs, now } = *request;
    let purpose = {
        let mut connection = db.pool().acquire().await?;
        purposes::get(&mut connection, purpose_id)
            .await?
            .ok_or_else(|| PurposeError::NotFound(purpose_id.to_string()))?
    };
    let categories = purpose.definition.categories.iter().map(|category| category.as_str().to_owned()).collect();
    let context = ReadContext { categories, course: filters.course.clone() };
    for need in filters.needs().iter().chain(needs) {
        if !need.fields.iter().any(|field| purpose.definition.fields.contains(field)) {
            let error = GatewayError::FieldNotAllowed {
                parameter: need.parameter.clone(),
                field: need.fields.join("` or `"),
                purpose: purpose_id.to_string(),
            };
            return Err(deny(db, reader, action, purpose_id, &context, Vec::new(), error).await);
        }
    }
    let decision = gate.decide_read(&reader.principal, action, purpose_id, &context).await?;
    if !decision.allowed {
        let error = explain(db, reader, &purpose, action, decision.reasons.clone()).await?;
        return Err(deny(db, reader, action, purpose_id, &context, decision.reasons, error).await);
    }
    let started_at = now;
    let mut tx = db.begin_snapshot().await?;
    // Read again inside the snapshot: a purpose suspended since the decision is not read.
    let purpose =
        purposes::get(&mut tx, purpose_id).await?.ok_or_else(|| PurposeError::NotFound(purpose_id.to_string()))?;
    if purpose.status != PurposeStatus::Active {
        let error = GatewayError::PurposeNotActive { purpose: purpose_id.to_string(), status: purpose.status.as_str() };
        return Err(deny(db, reader, action, purpose_id, &context, decision.reasons, error).await);
    }
    let versions = purposes::versions(&mut tx, purpose_id).await?;
    let subjects = crate::consent::subject_filter(&mut tx, &purpose, &versions).await?;
    let restricted = crate::rights::restricted_subjects(&mut tx).await?;
    let scope = Scope::new(purpose, reader.id.clone(), subjects, restricted, started_at);
    let scan = Scan {
        columns: scope.projection.columns.clone(),
        categories: scope.categories(),
        kind: filters.kind,
        kinds: filters.course.as_ref().map(|_| scope.projection.kinds_with_any(&COURSE_FIELDS)),
        // Retention windows are checked per row: as an SQL bound they would steer SQLite
        // from a sequential scan to the time index with a table lookup per row. Pages,
        // which use that index anyway, add the oldest window as a bound (see `page`).
        since: filters.since.map(Timestamp::to_storage),
        until: filters.until.map(Timestamp::to_storage),
        course: filters.course.clone(),
        activity: filters.activity.clone(),
        verb: filters.verb.clone(),
        ..Scan::default()
    };
    let log = ReadLog {
        actor: actor(&reader.principal),
        action,
        shape: if action == Action::ReadAggregates { Shape::Aggregates } else { Shape::Records },
        purpose: purpose_id.clone(),
        purpose_version: scope.purpose.version,
        fields: scope.projection.fields.clone(),
        filters: filters.describe(),
        context,
        policies: decision.reasons,
        started_at,
    };
    Ok(Prepared { tx, scope, scan, log })
}

impl Prepared {
    /// Narrows the read to the student with this pseudonym; unknown (or excluded by the
    /// ledger) is not found.
    pub async fn for_pseudonym(mut self, keys: &Keys, pseudonym: &str) -> Result<Self, GatewayError> {
        let ids = crate::directory::subject_ids(&mut self.tx).await?;
        let mut subjects = Subjects::default();
        for id in &ids {
            subjects.admit(id, &self.scope, keys);
        }
        let subject =
            subjects.by_pseudonym(pseudonym).ok_or_else(|| GatewayError::UnknownPseudonym(pseudonym.to_owned()))?;
        self.scan.subject = Some(subject.to_owned());
        self.log.filters["subject"] = Value::String(pseudonym.to_owned());
        Ok(self)
    }

    fn sql(&self) -> (String, Vec<String>) {
        self.scan.sql(PlaceholderStyle::of(&self.tx))
    }
}

/// The subject index of a row the read may show: inside the purpose's retention window for
/// its category, and of a subject the ledger permits.
fn admit(row: &AnyRow, scope: &Scope, subjects: &mut Subjects, keys: &Keys) -> Result<Option<u32>, sqlx::Error> {
    let category: &str = row.try_get(3)?;
    let occurred_at: &str = row.try_get(4)?;
    if !scope.in_window(category, occurred_at) {
        return Ok(None);
    }
    Ok(subjects.admit(row.try_get(1)?, scope, keys))
}

/// One record as a line of JSON.
fn write_record(
    out: &mut Vec<u8>,
    row: &AnyRow,
    scope: &Scope,
    keys: &Keys,
    pseudonym: &str,
) -> Result<(), sqlx::Error> {
    let id: &str = row.try_get(0)?;
    let kind: &str = row.try_get(2)?;
    out.extend_from_slice(b"{\"record\":");
    write_str(out, &keys.record_reference(scope.purpose.id.as_str(), &scope.reader, id));
    out.extend_from_slice(b",\"subject\":");
    write_str(out, pseudonym);
    out.extend_from_slice(b",\"kind\":");
    write_str(out, kind);
    out.extend_from_slice(b",\"category\":");
    write_str(out, row.try_get(3)?);
    out.extend_from_slice(b",\"occurred_at\":");
    write_str(out, row.try_get(4)?);
    out.extend_from_slice(b",\"fields\":");
    scope.projection.write_fields(out, row, kind)?;
    out.push(b'}');
    Ok(())
}

/// Rows a page reads per query.
const PAGE_CHUNK: usize = 500;

/// Reads one page in `(occurred_at, id)` order after `after`, records its disclosure, and
/// returns it as a JSON body.
pub async fn page(
    mut prepared: Prepared,
    db: &Db,
    keys: &Keys,
    limit: usize,
    after: Option<(String, String)>,
) -> Result<Vec<u8>, GatewayError> {
    prepared.scan.after = after;
    prepared.scan.ordered = true;
    if let Some(oldest) = prepared.scope.oldest_visible() {
        let since = prepared.scan.since.take().map_or_else(|| oldest.to_owned(), |asked| asked.max(oldest.to_owned()));
        prepared.scan.since = Some(since);
    }
    // Rows the read may not show (other students' choices, retention) are skipped, so a
    // page reads chunks of at least a page until it has one more row than it shows.
    let chunk = (limit + 1).max(PAGE_CHUNK);
    prepared.scan.limit = Some(chunk);
    let style = PlaceholderStyle::of(&prepared.tx);
    let Prepared { mut tx, scope, log, mut scan } = prepared;
    let mut subjects = Subjects::default();
    let mut body = Vec::with_capacity(limit * 256);
    body.extend_from_slice(b"{\"purpose\":");
    write_str(&mut body, scope.purpose.id.as_str());
    body.extend_from_slice(b",\"records\":[");
    let mut written = 0;
    let mut last: Option<(String, String)> = None;
    let mut more = false;
    'chunks: loop {
        let (sql, binds) = scan.sql(style);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let mut rows = query.fetch(&mut *tx);
        let mut scanned = 0;
        while let Some(row) = rows.try_next().await? {
            scanned += 1;
            scan.after = Some((row.try_get::<String, _>(4)?, row.try_get::<String, _>(0)?));
            let Some(index) = admit(&row, &scope, &mut subjects, keys)? else { continue };
            if written == limit {
                more = true;
                break 'chunks;
            }
            if written > 0 {
                body.push(b',');
            }
            write_record(&mut body, &row, &scope, keys, subjects.pseudonym(index))?;
            subjects.disclose(&[index]);
            written += 1;
            last = scan.after.clone();
        }
        if scanned < chunk {
            break;
        }
    }
    tx.rollback().await?;
    body.extend_from_slice(b"],\"next_cursor\":");
    match last.filter(|_| more) {
        Some((at, id)) => write_str(&mut body, &keys.seal_cursor(scope.purpose.id.as_str(), &scope.reader, &at, &id)?),
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    disclosure::record(db, log, subjects.disclosed(), true).await?;
    Ok(body)
}

/// Streams the whole read as NDJSON. The read sees the snapshot it started with to its
/// last line. Its disclosure is recorded before the last chunk is sent, so a reader that
/// has the whole result finds the read logged; a reader that hangs up early is logged with
/// the chunks handed to its connection.
pub fn stream(prepared: Prepared, db: Db, keys: Arc<Keys>) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let (sender, mut receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let (sql, binds) = prepared.sql();
        let Prepared { mut tx, scope, log, .. } = prepared;
        let mut subjects = Subjects::default();
        let outcome = send_rows(&mut tx, sql, binds, &scope, &keys, &mut subjects, &sender).await;
        if let Err(error) = tx.rollback().await {
            tracing::warn!(%error, "ending a read snapshot failed");
        }
        let tail = match outcome {
            Ok(Some((tail, pending))) => {
                subjects.disclose(&pending);
                Some(tail)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, purpose = %scope.purpose.id, "a governed stream failed part-way");
                let _ = sender.send(Err(std::io::Error::other("the read failed part-way"))).await;
                None
            }
        };
        let complete = tail.is_some();
        if let Err(error) = disclosure::record(&db, log, subjects.disclosed(), complete).await {
            tracing::error!(%error, purpose = %scope.purpose.id, "the disclosure of a governed stream could not be recorded");
            let _ = sender.send(Err(std::io::Error::other("the read could not be logged"))).await;
            return;
        }
        if let Some(tail) = tail.filter(|tail| !tail.is_empty()) {
            let _ = sender.send(Ok(Bytes::from(tail))).await;
        }
    });
    futures::stream::poll_fn(move |context| receiver.poll_recv(context))
}

/// Sends every admitted row in chunks but the last, which it returns with its rows'
/// subjects for the caller to send once the read is logged; `None` when the reader hung
/// up first.
async fn send_rows(
    tx: &mut Tx,
    sql: String,
    binds: Vec<String>,
    scope: &Scope,
    keys: &Keys,
    subjects: &mut Subjects,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<Option<(Vec<u8>, Vec<u32>)>, GatewayError> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(value);
    }
    let mut rows = query.fetch(&mut **tx);
    let mut buffer = Vec::with_capacity(CHUNK_BYTES + 4096);
    let mut pending: Vec<u32> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let Some(index) = admit(&row, scope, subjects, keys)? else { continue };
        write_record(&mut buffer, &row, scope, keys, subjects.pseudonym(index))?;
        buffer.push(b'\n');
        pending.push(index);
        if buffer.len() >= CHUNK_BYTES {
            let chunk = Bytes::from(std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK_BYTES + 4096)));
            if sender.send(Ok(chunk)).await.is_err() {
                return Ok(None);
            }
            subjects.disclose(&pending);
            pending.clear();
        }
    }
    Ok(Some((buffer, pending)))
}
