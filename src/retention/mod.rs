//! Retention: every record carries the moment it expires — the longest retention among the
//! purposes that may still use it for its student — and a sweep deletes what has expired.
//!
//! A record's expiry is `occurred_at` moved by the longest retention of the purposes
//! (active, suspended or draft) that read its category and may hold it for its student: a
//! consent purpose only while the student's consent covers it; other bases always (an
//! objection stops the processing, the gateway excludes the student, but erasure is a
//! request of its own). A record no purpose may hold expires at once.
//! Expiry is stamped when a record is stored, recomputed for one student when their
//! choice changes (what no purpose may hold any more is deleted in that same transaction),
//! and recomputed for every record, in batches, after the register changes.

mod erasure;
mod routes;
mod sweep;

use std::collections::HashMap;

use serde_json::json;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

pub use erasure::{Certificate, CertificateBody, Deleted, ErasureError, Kept, certificate, erase};
pub use routes::router;
pub use sweep::{Progress, SweepPlan, SweepReport, Sweeper, recompute_all, sweep};

use crate::consent::{ConsentRecord, ConsentState};
use crate::purposes::{self, Choice, Purpose, PurposeError, PurposeId, PurposeStatus, PurposeVersions};
use crate::records::{Category, NewRecord};
use crate::timestamp::{Direction, Timestamp, parse_duration};

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Purpose(#[from] PurposeError),
    #[error(transparent)]
    Consent(#[from] crate::consent::ConsentError),
}

impl From<sqlx::Error> for RetentionError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::db::DbError> for RetentionError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::audit::AuditError> for RetentionError {
    fn from(error: crate::audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

/// A purpose that may hold data, with what consent derivation needs.
struct Holder {
    purpose: Purpose,
    versions: PurposeVersions,
    /// Per category it reads: its retention, in days (to compare) and as a duration.
    periods: Vec<(Category, f64, iso8601::Duration)>,
}

/// The register's retention rules with the consent states of some students, read in one
/// transaction: enough to stamp their records.
pub struct Expiry {
    holders: Vec<Holder>,
    /// The latest choice per (subject, purpose).
    choices: HashMap<(String, PurposeId), ConsentRecord>,
}

impl Expiry {
    /// The rules, and the choices of `subjects`.
    pub async fn load(connection: &mut AnyConnection, subjects: &[String]) -> Result<Self, RetentionError> {
        let mut holders = Vec::new();
        for purpose in purposes::list(connection).await? {
            if purpose.status == PurposeStatus::Retired {
                continue;
            }
            let versions = purposes::versions(connection, &purpose.id).await?;
            let periods = purpose
                .definition
                .retention
                .iter()
                .filter(|(category, _)| purpose.definition.categories.contains(category))
                .filter_map(|(category, text)| {
                    Some((*category, purposes::retention_days(text)?, parse_duration(text)?))
                })
                .collect();
            holders.push(Holder { purpose, versions, periods });
        }
        let mut choices = HashMap::new();
        for record in crate::consent::records_for_subjects(connection, subjects).await? {
            choices.insert((record.subject.to_string(), record.purpose.clone()), record);
        }
        Ok(Self { holders, choices })
    }

    /// When a record of `subject` in `category` that occurred at `occurred_at` expires,
    /// and the purpose that holds it longest (none: it expires at once).
    pub fn of(&self, subject: &str, category: Category, occurred_at: Timestamp) -> (Timestamp, Option<&PurposeId>) {
        let longest = self
            .holders
            .iter()
            // A consent purpose holds only what its consent covers; an objection stops
            // processing but is not an erasure request (that is Art. 17, on request).
            .filter(|holder| {
                holder.purpose.choice != Choice::OptIn || {
                    let latest = self.choices.get(&(subject.to_owned(), holder.purpose.id.clone()));
                    ConsentState::derive(&holder.purpose, &holder.versions, latest).permits()
                }
            })
            .filter_map(|holder| {
                holder
                    .periods
                    .iter()
                    .find(|(held, _, _)| *held == category)
                    .map(|(_, days, period)| (*days, period, &holder.purpose.id))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match longest {
            Some((_, period, purpose)) => (occurred_at.shifted(period, Direction::Forward), Some(purpose)),
            None => (occurred_at, None),
        }
    }

    /// The same rules with only the purposes of one legal basis as holders.
    pub fn only(mut self, basis: crate::purposes::LegalBasis) -> Self {
        self.holders.retain(|holder| holder.purpose.definition.legal_basis == basis);
        self
    }

    /// Sets every record's `expires_at`.
    pub fn stamp(&self, records: &mut [NewRecord]) {
        for record in records {
            let (expires_at, _) = self.of(&record.subject_id.to_string(), record.category, record.occurred_at);
            record.expires_at = Some(expires_at);
        }
    }
}

/// Stamps `records` with their expiry, reading the rules and their students' choices in
/// the caller's transaction.
pub async fn stamp(connection: &mut AnyConnection, records: &mut [NewRecord]) -> Result<(), RetentionError> {
    let mut subjects: Vec<String> = records.iter().map(|record| record.subject_id.to_string()).collect();
    subjects.sort();
    subjects.dedup();
    let expiry = Expiry::load(connection, &subjects).await?;
    expiry.stamp(records);
    Ok(())
}

/// A stored record's id, category and time, from a row selecting `id, category,
/// occurred_at`; `None` for a row that cannot be read as one.
fn dated(row: &sqlx::any::AnyRow) -> Result<Option<(String, Category, Timestamp)>, sqlx::Error> {
    let category: String = row.try_get("category")?;
    let occurred_at: String = row.try_get("occurred_at")?;
    Ok(match (Category::parse(&category), Timestamp::parse(&occurred_at)) {
        (Some(category), Ok(occurred_at)) => Some((row.try_get("id")?, category, occurred_at)),
        _ => None,
    })
}

/// Records, by id, with their new expiry: one statement per 500 records, since a student's
/// choice or a sweep's recomputation touches hundreds at once and a round trip each made
/// that the slowest part of a choice on PostgreSQL.
async fn write_expiries(connection: &mut AnyConnection, expiries: &[(String, String)]) -> Result<(), RetentionError> {
    let style = crate::db::PlaceholderStyle::of(connection);
    // In id order, the order in which the sweep's deletions lock rows too, so that a choice
    // and a sweep touching the same student's records cannot deadlock on PostgreSQL.
    let mut expiries: Vec<&(String, String)> = expiries.iter().collect();
    expiries.sort();
    for chunk in expiries.chunks(500) {
        // A VALUES list names its columns column1, column2 in both SQLite and PostgreSQL.
        let sql = format!(
            "UPDATE records SET expires_at = changed.column2 FROM (VALUES {}) AS changed WHERE records.id = changed.column1",
            crate::db::values_placeholders(style, chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for &(id, expires_at) in chunk {
            query = query.bind(id.clone()).bind(expires_at.clone());
        }
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

/// Recomputes the expiry of one student's records after their choice changed, and deletes
/// at once what no purpose may hold any more; returns how many records were deleted, by
/// category. Runs in the caller's transaction, so the choice and its consequences commit
/// together.
pub async fn recompute_subject(
    connection: &mut AnyConnection,
    subject: Uuid,
    now: Timestamp,
) -> Result<HashMap<Category, u64>, RetentionError> {
    let subject = subject.to_string();
    let rows = sqlx::query("SELECT id, category, occurred_at, expires_at FROM records WHERE subject_id = $1")
        .bind(subject.clone())
        .fetch_all(&mut *connection)
        .await?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let expiry = Expiry::load(connection, std::slice::from_ref(&subject)).await?;
    let mut expiries = Vec::with_capacity(rows.len());
    let mut expired: HashMap<Category, Vec<String>> = HashMap::new();
    for row in &rows {
        let Some((id, category, occurred_at)) = dated(row)? else { continue };
        let (expires_at, _) = expiry.of(&subject, category, occurred_at);
        let stamped: Option<String> = row.try_get("expires_at")?;
        if expires_at <= now {
            expired.entry(category).or_default().push(id);
        } else if stamped.as_deref() != Some(expires_at.to_storage().as_str()) {
            expiries.push((id, expires_at.to_storage()));
        }
    }
    write_expiries(connection, &expiries).await?;
    let mut deleted = HashMap::new();
    for (category, ids) in expired {
        deleted.insert(category, delete_records(connection, &ids).await?);
    }
    Ok(deleted)
}

/// Deletes records by id; returns how many went.
async fn delete_records(connection: &mut AnyConnection, ids: &[String]) -> Result<u64, RetentionError> {
    let mut deleted = 0;
    for chunk in ids.chunks(500) {
        let sql = format!("DELETE FROM records WHERE id IN ({})", crate::db::in_list(connection, chunk.len()));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.clone());
        }
        deleted += query.execute(&mut *connection).await?.rows_affected();
    }
    Ok(deleted)
}

/// Asks for every record's expiry to be recomputed, in the transaction that changes the
/// register; the sweeper does the work in batches.
pub async fn request_recomputation(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE retention_state SET requested = requested + 1 WHERE id = 1").execute(connection).await?;
    Ok(())
}

/// Counts per category as the audit log and reports show them.
fn by_category(counts: &HashMap<Category, u64>) -> serde_json::Value {
    let mut sorted: Vec<(&Category, &u64)> = counts.iter().collect();
    sorted.sort();
    json!(
        sorted
            .into_iter()
            .map(|(category, count)| (category.as_str().to_owned(), json!(count)))
            .collect::<serde_json::Map<_, _>>()
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::purposes::{Granularity, LegalBasis, Localized, PurposeDefinition};

    fn holder(id: &str, basis: LegalBasis, category: Category, period: &str) -> Holder {
        let definition = PurposeDefinition {
            title: Localized { nl: "t".to_owned(), en: "t".to_owned() },
            notice: Localized { nl: "n".to_owned(), en: "n".to_owned() },
            dpv_purpose: "AcademicResearch".to_owned(),
            legal_basis: basis,
            art9_condition: None,
            categories: vec![category],
            fields: vec![],
            granularity: Granularity::Individual,
            min_cell_size: None,
            retention: BTreeMap::from([(category, period.to_owned())]),
            recipients: vec![],
            human_review_required: false,
            dpia_required: false,
        };
        let now = Timestamp::now();
        let purpose = Purpose {
            id: PurposeId::parse(id).unwrap(),
            version: 1,
            status: PurposeStatus::Active,
            legal_basis_code: basis.code().to_owned(),
            choice: basis.choice(),
            widens_previous: false,
            definition,
            created_at: now,
            updated_at: now,
        };
        let days = purposes::retention_days(period).unwrap();
        Holder {
            purpose,
            versions: PurposeVersions::new(vec![(1, false)]),
            periods: vec![(category, days, parse_duration(period).unwrap())],
        }
    }

    #[test]
    fn the_longest_permitted_purpose_decides_and_without_one_a_record_expires_at_once() {
        let expiry = Expiry {
            holders: vec![
                holder("dashboard", LegalBasis::PublicTask, Category::Activity, "P1Y"),
                holder("research", LegalBasis::Consent, Category::Activity, "P5Y"),
            ],
            choices: HashMap::new(),
        };
        assert_eq!(expiry.holders[1].purpose.choice, Choice::OptIn);
        let at = Timestamp::parse("2026-02-02T10:00:00Z").unwrap();
        let (expires, holder) = expiry.of("s1", Category::Activity, at);
        assert_eq!(expires, Timestamp::parse("2027-02-02T10:00:00Z").unwrap(), "no consent: research holds nothing");
        assert_eq!(holder.map(PurposeId::as_str), Some("dashboard"));
        let (expires, holder) = expiry.of("s1", Category::Wellbeing, at);
        assert_eq!((expires, holder), (at, None));
    }
}
