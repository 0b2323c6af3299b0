//! How students chose for a purpose, in counts only.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ConsentError, ConsentEvent, records_for_purpose};
use crate::directory;
use crate::purposes::{self, Choice, PurposeId};

/// Students' choices for one purpose, now and over time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentSummary {
    pub purpose: String,
    pub version: i32,
    pub choice: Choice,
    pub students: i64,
    /// Where students stand now.
    pub current: StateCounts,
    /// Where they stood at the end of each month with choices.
    pub monthly: Vec<MonthCounts>,
}

#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct StateCounts {
    pub gave: i64,
    pub withdrew: i64,
    pub objected: i64,
    /// Never recorded a choice (or lifted their objection, for opt-out purposes).
    pub never_chose: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthCounts {
    /// `YYYY-MM`.
    pub month: String,
    #[serde(flatten)]
    pub counts: StateCounts,
}

fn counts(latest: &BTreeMap<Uuid, ConsentEvent>, students: i64) -> StateCounts {
    let mut counts = StateCounts::default();
    for event in latest.values() {
        match event {
            ConsentEvent::Given => counts.gave += 1,
            ConsentEvent::Withdrawn => counts.withdrew += 1,
            ConsentEvent::Objected => counts.objected += 1,
            ConsentEvent::ObjectionLifted => {}
        }
    }
    counts.never_chose = students - counts.gave - counts.withdrew - counts.objected;
    counts
}

/// Where students stand with `id` now and at the end of each month with choices.
pub async fn summary(connection: &mut AnyConnection, id: &PurposeId) -> Result<ConsentSummary, ConsentError> {
    let purpose = purposes::get(connection, id)
        .await?
        .ok_or(ConsentError::Purpose(purposes::PurposeError::NotFound(id.to_string())))?;
    let students = directory::count_subjects(connection).await?;
    let mut latest: BTreeMap<Uuid, ConsentEvent> = BTreeMap::new();
    let mut monthly = Vec::new();
    let mut month: Option<String> = None;
    for record in records_for_purpose(connection, id).await? {
        let record_month = record.recorded_at.to_storage()[..7].to_owned();
        if let Some(previous) = month.as_ref().filter(|previous| **previous != record_month) {
            monthly.push(MonthCounts { month: previous.clone(), counts: counts(&latest, students) });
        }
        month = Some(record_month);
        latest.insert(record.subject, record.event);
    }
    if let Some(month) = month {
        monthly.push(MonthCounts { month, counts: counts(&latest, students) });
    }
    Ok(ConsentSummary {
        purpose: purpose.id.to_string(),
        version: purpose.version,
        choice: purpose.choice,
        students,
        current: counts(&latest, students),
        monthly,
    })
}
