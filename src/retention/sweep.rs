//! The sweep: deletes records whose expiry has passed, in small batches, each batch
//! committing its deletions together with the sweep's running counts; a sweep killed
//! part-way is finished by the next one, so counts are neither lost nor doubled. Before it
//! sweeps it finishes any recomputation of expiries the register asked for.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use tokio::sync::watch;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Expiry, RetentionError, by_category, delete_records, write_expiries};
use crate::audit::{self, Actor, Event};
use crate::db::Db;
use crate::records::Category;
use crate::timestamp::{Clock, Timestamp};

/// Records whose expiry is recomputed per transaction.
const RECOMPUTE_BATCH: i64 = 5_000;

/// Told how far a long job has come.
pub trait Progress: Sync {
    fn start(&self, what: &str, total: u64);
    fn advance(&self, done: u64);
}

/// No one is watching (the background job).
impl Progress for () {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What a sweep is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct SweepPlan {
    /// Delete what expired at or before this moment.
    pub as_of: Timestamp,
    /// Only count.
    pub dry_run: bool,
    /// Records per transaction.
    pub batch: u32,
}

/// What a sweep did, or would do.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SweepReport {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    pub dry_run: bool,
    /// Records deleted (or that would be), per category.
    pub deleted: BTreeMap<String, u64>,
    pub total: u64,
    /// Per category, the records that remain and the oldest of them (`occurred_at`).
    pub remaining: BTreeMap<String, Remaining>,
    /// Per purpose and category: from when on that purpose still sees records, as of the
    /// sweep (its retention window).
    pub windows: Vec<Window>,
    /// Whether this sweep finished one that was interrupted.
    pub resumed: bool,
    /// Records whose expiry was recomputed first, after a change to the register.
    pub recomputed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Window {
    pub purpose: String,
    pub category: String,
    /// ISO 8601 duration.
    pub retention: String,
    pub sees_from: String,
}

/// The retention window of every purpose that holds data, as of `as_of`.
async fn windows(db: &Db, as_of: Timestamp) -> Result<Vec<Window>, RetentionError> {
    let mut connection = db.pool().acquire().await?;
    let mut windows = Vec::new();
    for purpose in crate::purposes::list(&mut connection).await? {
        if purpose.status == crate::purposes::PurposeStatus::Retired {
            continue;
        }
        for (category, retention) in &purpose.definition.retention {
            if let Some(period) = crate::timestamp::parse_duration(retention) {
                windows.push(Window {
                    purpose: purpose.id.to_string(),
                    category: category.as_str().to_owned(),
                    retention: retention.clone(),
                    sees_from: as_of.shifted(&period, crate::timestamp::Direction::Back).to_storage(),
                });
            }
        }
    }
    Ok(windows)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Remaining {
    pub records: u64,
    pub oldest: Option<String>,
}

async fn remaining(db: &Db) -> Result<BTreeMap<String, Remaining>, RetentionError> {
    let rows =
        sqlx::query("SELECT category, COUNT(*) AS records, MIN(occurred_at) AS oldest FROM records GROUP BY category")
            .fetch_all(db.pool())
            .await?;
    let mut remaining = BTreeMap::new();
    for row in rows {
        let records: i64 = row.try_get("records")?;
        remaining.insert(
            row.try_get("category")?,
            Remaining { records: u64::try_from(records).unwrap_or(0), oldest: row.try_get("oldest")? },
        );
    }
    Ok(remaining)
}

/// Recomputes every record's expiry if the register asked for it since the last time,
/// in batches; returns how many records were recomputed.
pub async fn recompute_all(db: &Db, progress: &dyn Progress) -> Result<u64, RetentionError> {
    let (requested, done): (i64, i64) =
        sqlx::query_as("SELECT requested, done FROM retention_state WHERE id = 1").fetch_one(db.pool()).await?;
    if requested <= done {
        return Ok(0);
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(db.pool()).await?;
    progress.start("recomputing expiries", u64::try_from(total).unwrap_or(0));
    let mut after = String::new();
    let mut recomputed = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows =
            sqlx::query("SELECT id, subject_id, category, occurred_at FROM records WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after.clone())
                .bind(RECOMPUTE_BATCH)
                .fetch_all(&mut *tx)
                .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("id")?;
        let mut subjects: Vec<String> =
            rows.iter().map(|row| row.try_get("subject_id")).collect::<Result<_, sqlx::Error>>()?;
        subjects.sort();
        subjects.dedup();
        let expiry = Expiry::load(&mut tx, &subjects).await?;
        let mut expiries = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some((id, category, occurred_at)) = super::dated(row)? {
                let subject: String = row.try_get("subject_id")?;
                let (expires_at, _) = expiry.of(&subject, category, occurred_at);
                expiries.push((id, expires_at.to_storage()));
            }
        }
        write_expiries(&mut tx, &expiries).await?;
        tx.commit().await?;
        recomputed += rows.len() as u64;
        progress.advance(recomputed);
    }
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE retention_state SET done = $1 WHERE id = 1").bind(requested).execute(&mut *tx).await?;
    let event = Event::new(Actor::system("retention"), "retention.recomputed", "Records")
        .details(json!({ "records": recomputed }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(recomputed)
}

/// Deletes every record that expired at or before `as_of` — or, in a dry run, counts them —
/// and reports per category what went and what remains.
pub async fn sweep(db: &Db, plan: SweepPlan, progress: &dyn Progress) -> Result<SweepReport, RetentionError> {
    let SweepPlan { as_of, dry_run, batch } = plan;
    let as_of_text = as_of.to_storage();
    if dry_run {
        let rows =
            sqlx::query("SELECT category, COUNT(*) AS records FROM records WHERE expires_at <= $1 GROUP BY category")
                .bind(as_of_text)
                .fetch_all(db.pool())
                .await?;
        let mut deleted = BTreeMap::new();
        for row in rows {
            let count: i64 = row.try_get("records")?;
            deleted.insert(row.try_get("category")?, u64::try_from(count).unwrap_or(0));
        }
        let total = deleted.values().sum();
        return Ok(SweepReport {
            as_of,
            dry_run,
            deleted,
            total,
            remaining: remaining(db).await?,
            windows: windows(db, as_of).await?,
            resumed: false,
            recomputed: 0,
        });
    }
    let recomputed = recompute_all(db, progress).await?;
    let unfinished: Option<(String, String)> = sqlx::query_as(
        "SELECT id, deleted FROM retention_sweeps WHERE finished_at IS NULL ORDER BY started_at LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await?;
    let resumed = unfinished.is_some();
    let (id, mut deleted): (String, HashMap<Category, u64>) = match unfinished {
        Some((id, counts)) => {
            let counts: BTreeMap<String, u64> = serde_json::from_str(&counts).unwrap_or_default();
            (
                id,
                counts.into_iter().filter_map(|(category, count)| Some((Category::parse(&category)?, count))).collect(),
            )
        }
        None => {
            let id = Uuid::now_v7().to_string();
            sqlx::query("INSERT INTO retention_sweeps (id, as_of, started_at, deleted) VALUES ($1, $2, $3, '{}')")
                .bind(id.clone())
                .bind(as_of_text.clone())
                .bind(Timestamp::now().to_storage())
                .execute(db.pool())
                .await?;
            (id, HashMap::new())
        }
    };
    let due: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE expires_at <= $1")
        .bind(as_of_text.clone())
        .fetch_one(db.pool())
        .await?;
    progress.start("sweeping expired records", u64::try_from(due).unwrap_or(0));
    let mut swept = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows = sqlx::query("SELECT id, category FROM records WHERE expires_at <= $1 LIMIT $2")
            .bind(as_of_text.clone())
            .bind(i64::from(batch.max(1)))
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            break;
        }
        let mut ids_by_category: HashMap<Category, Vec<String>> = HashMap::new();
        for row in &rows {
            let category: String = row.try_get("category")?;
            if let Some(category) = Category::parse(&category) {
                ids_by_category.entry(category).or_default().push(row.try_get("id")?);
            }
        }
        for (category, ids) in ids_by_category {
            let count = delete_records(&mut tx, &ids).await?;
            *deleted.entry(category).or_default() += count;
            swept += count;
        }
        sqlx::query("UPDATE retention_sweeps SET deleted = $1 WHERE id = $2")
            .bind(by_category(&deleted).to_string())
            .bind(id.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        progress.advance(swept);
    }
    let total: u64 = deleted.values().sum();
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE retention_sweeps SET finished_at = $1 WHERE id = $2")
        .bind(Timestamp::now().to_storage())
        .bind(id.clone())
        .execute(&mut *tx)
        .await?;
    let event = Event::new(Actor::system("retention"), "retention.swept", "Records").details(json!({
        "sweep": id,
        "as_of": as_of_text,
        "deleted": by_category(&deleted),
        "total": total,
        "resumed": resumed,
    }));
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    db.reclaim().await?;
    let deleted = deleted.into_iter().map(|(category, count)| (category.as_str().to_owned(), count)).collect();
    let (remaining, windows) = (remaining(db).await?, windows(db, as_of).await?);
    Ok(SweepReport { as_of, dry_run, deleted, total, remaining, windows, resumed, recomputed })
}

/// The background sweep: at the configured interval, recompute what the register asked
/// for and delete what has expired.
pub struct Sweeper {
    pub db: Db,
    pub clock: Clock,
    pub every: Duration,
    pub batch: u32,
}

impl Sweeper {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        // The first sweep is one interval after start: a server starts quickly.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let plan = SweepPlan { as_of: self.clock.now(), dry_run: false, batch: self.batch };
                    match sweep(&self.db, plan, &()).await {
                        Ok(report) if report.total > 0 => tracing::info!(deleted = report.total, "retention sweep"),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "the retention sweep failed; the next one finishes it"),
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}
