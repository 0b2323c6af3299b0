//! Ingest: data from the institution's systems, received in the standards they speak and
//! kept no further than the registered purposes need (GDPR Art. 5(1)(c)).
//!
//! A batch is stored whole or not at all, with one audit event that counts what came in,
//! what was stored, what was already there, and which fields were dropped.

mod document_routes;
mod documents;
mod import;
mod oneroster;
mod routes;
mod source_routes;
pub mod sources;
pub mod statements;
mod store;
mod survey;
pub mod xapi;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

pub use document_routes::router as documents_router;
pub use import::import_statements;
pub use oneroster::{OneRosterReport, import_oneroster};
pub use routes::router;
pub use source_routes::router as sources_router;
pub use sources::Source;
pub use survey::{SurveyReport, import_survey};

use crate::audit::{self, Actor, ActorKind, Event};
use crate::catalogue::Catalogue;
use crate::config::IngestMode;
use crate::db::Db;

/// Statements accepted in one request.
pub const MAX_STATEMENTS_PER_REQUEST: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("this endpoint needs the source's HTTP Basic credentials")]
    Unauthenticated,
    #[error("no source is registered as `{0}`")]
    UnknownSource(String),
    #[error("a source with the id `{0}` exists already")]
    SourceExists(String),
    #[error("nothing was imported; fix these lines:\n{}", .0.join("\n"))]
    Lines(Vec<String>),
    #[error("the source `{0}` is suspended")]
    Suspended(String),
    #[error("the source may not deliver {0}")]
    KindNotAllowed(String),
    #[error("statement {index}: {source}")]
    Invalid { index: usize, source: xapi::Invalid },
    #[error(
        "statement {index} carries `{field}`, special-category data (GDPR Art. 9) that no purpose with an Art. 9(2) condition reads; it is refused"
    )]
    Special { index: usize, field: String },
    #[error("statement {index} has the id {id}, which is stored with other content")]
    Conflict { index: usize, id: Uuid },
    #[error("a request carries at most {MAX_STATEMENTS_PER_REQUEST} statements")]
    TooMany,
    #[error("this source sends faster than it may; try again in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("the X-Experience-API-Version header must name 1.0.x or 2.0.0")]
    Version,
    #[error("the body must be a statement or an array of statements")]
    NotStatements,
    #[error("POST merges JSON objects only: the stored document and the body must both be JSON objects")]
    NotMergeable,
    #[error("{0}")]
    BadParameter(String),
    #[error("invalid source")]
    InvalidFields(Vec<crate::problem::FieldError>),
    #[error(transparent)]
    Random(#[from] crate::auth::secrets::RandomFailure),
    #[error(transparent)]
    Retention(#[from] crate::retention::RetentionError),
    #[error(transparent)]
    Purpose(#[from] crate::purposes::PurposeError),
}

impl From<sqlx::Error> for IngestError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::db::DbError> for IngestError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<audit::AuditError> for IngestError {
    fn from(error: audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BatchReport {
    pub received: usize,
    pub stored: usize,
    /// Statements sent before, with the same id and content.
    pub already_stored: usize,
    /// Fields no purpose needs, by how often they were dropped.
    pub dropped: BTreeMap<String, u64>,
    /// The ids of the statements, in the order received.
    pub ids: Vec<Uuid>,
}

/// Validates, maps, minimises and stores a batch of xAPI statements from `source`, all or
/// nothing, with one audit event.
pub async fn ingest_statements(
    db: &Db,
    settings: &Settings,
    source: &Source,
    body: &Value,
) -> Result<BatchReport, IngestError> {
    let mut tx = db.begin().await?;
    let report = ingest_statements_in(&mut tx, settings, source, body).await?;
    tx.commit().await?;
    metrics::counter!("ingest_statements_stored_total", "source" => source.id.clone()).increment(report.stored as u64);
    Ok(report)
}

/// What ingest needs to know of the installation.
#[derive(Clone)]
pub struct Settings {
    pub catalogue: std::sync::Arc<Catalogue>,
    pub mode: IngestMode,
    /// Requests per source, so that one misconfigured system cannot crowd out the others.
    pub limiter: std::sync::Arc<governor::DefaultKeyedRateLimiter<String>>,
}

impl Settings {
    pub fn new(catalogue: std::sync::Arc<Catalogue>, config: &crate::config::IngestConfig) -> Self {
        let per_second = std::num::NonZeroU32::new(config.requests_per_second).unwrap_or(std::num::NonZeroU32::MIN);
        let burst = std::num::NonZeroU32::new(config.burst).unwrap_or(std::num::NonZeroU32::MIN);
        let quota = governor::Quota::per_second(per_second).allow_burst(burst);
        Self { catalogue, mode: config.mode, limiter: std::sync::Arc::new(governor::RateLimiter::keyed(quota)) }
    }

    /// Whether `source` may make another request now; the error says when it may.
    pub fn admit(&self, source: &str) -> Result<(), IngestError> {
        self.limiter.check_key(&source.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            IngestError::RateLimited { retry_after_seconds: wait.as_secs().max(1) }
        })
    }
}

/// [`ingest_statements`] inside the caller's transaction, for imports that span batches.
pub async fn ingest_statements_in(
    tx: &mut sqlx::AnyConnection,
    settings: &Settings,
    source: &Source,
    body: &Value,
) -> Result<BatchReport, IngestError> {
    if !source.kinds.iter().any(|kind| kind == "xapi") {
        return Err(IngestError::KindNotAllowed("xAPI statements".to_owned()));
    }
    let raw: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![body],
        _ => return Err(IngestError::NotStatements),
    };
    if raw.len() > MAX_STATEMENTS_PER_REQUEST {
        return Err(IngestError::TooMany);
    }
    let statements = raw
        .iter()
        .enumerate()
        .map(|(index, value)| xapi::parse(value).map_err(|source| IngestError::Invalid { index, source }))
        .collect::<Result<Vec<_>, _>>()?;
    let needed = store::Needed::load(tx, settings.mode).await?;
    let courses = store::courses_by_iri(tx).await?;
    let mut report = BatchReport {
        received: statements.len(),
        stored: 0,
        already_stored: 0,
        dropped: BTreeMap::new(),
        ids: Vec::new(),
    };
    let mut statements = statements;
    for statement in &mut statements {
        statement.id.get_or_insert_with(Uuid::new_v4);
    }
    let ids: Vec<Uuid> = statements.iter().filter_map(|statement| statement.id).collect();
    let mut stored = store::stored_hashes(tx, &ids).await?;
    let identifiers: Vec<_> = statements.iter().map(|statement| store::identifier(&statement.actor)).collect();
    let mut subjects = store::known_subjects(tx, &identifiers).await?;
    let mut records = Vec::new();
    for (index, statement) in statements.iter().enumerate() {
        let hash = store::content_hash(&statement.raw);
        let id = statement.id.unwrap_or_else(Uuid::new_v4);
        report.ids.push(id);
        match stored.get(&id) {
            Some(Some(earlier)) if *earlier == hash => {
                report.already_stored += 1;
                continue;
            }
            Some(_) => return Err(IngestError::Conflict { index, id }),
            None => {}
        }
        // A statement repeated within the batch counts as already stored from here on.
        stored.insert(id, Some(hash.clone()));
        let (scheme, value) = store::identifier(&statement.actor);
        let key = (scheme.as_str().to_owned(), value);
        let subject = match subjects.get(&key) {
            Some(subject) => *subject,
            None => {
                let subject = store::new_subject(tx, &statement.actor, statement.actor_name.as_deref()).await?;
                subjects.insert(key, subject);
                subject
            }
        };
        let minimised = store::minimise(&source.id, statement, subject, &courses, &needed, &settings.catalogue, index)?;
        for field in minimised.dropped {
            metrics::counter!("ingest_dropped_fields_total", "field" => field.clone()).increment(1);
            *report.dropped.entry(field).or_default() += 1;
        }
        let mut record = minimised.record;
        record.statement_id = Some(id);
        record.content_sha256 = Some(hash);
        records.push(record);
    }
    report.stored = records.len();
    store::insert(tx, &mut records).await?;
    for statement in statements.iter().filter(|statement| statement.verb == xapi::VOIDED) {
        if let Some(target) = statement.statement_ref {
            store::void(tx, &source.id, target).await?;
        }
    }
    let actor = Actor { id: source.id.clone(), kind: ActorKind::Client, roles: Vec::new() };
    let event = Event::new(actor, "ingest.xapi", format!("Source::{}", source.id)).details(json!({
        "received": report.received,
        "stored": report.stored,
        "already_stored": report.already_stored,
        "dropped": report.dropped,
    }));
    audit::record(tx, event).await?;
    Ok(report)
}
