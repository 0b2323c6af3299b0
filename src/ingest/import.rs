//! `consentry import xapi FILE.jsonl`: backfilling statements, one per line, all or nothing.

use std::io::BufRead;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::{BatchReport, IngestError, Settings, ingest_statements_in, sources};
use crate::db::Db;

const BATCH: usize = 500;

/// Imports every statement of `input` for `source` in one transaction; a bad line stops
/// the run, and nothing is stored. Returns the summed report.
pub async fn import_statements(
    db: &Db,
    settings: &Settings,
    source: &str,
    input: impl BufRead,
) -> Result<BatchReport, IngestError> {
    let mut tx = db.begin().await?;
    let source = sources::find(&mut tx, source).await?;
    let mut total =
        BatchReport { received: 0, stored: 0, already_stored: 0, dropped: Default::default(), ids: Vec::new() };
    let mut batch: Vec<Value> = Vec::with_capacity(BATCH);
    let mut first_line = 1;
    let progress = ProgressBar::new_spinner().with_message("importing statements");
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {pos} lines")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|error| IngestError::Lines(vec![format!("line {number}: {error}")]))?;
        if line.trim().is_empty() {
            continue;
        }
        let statement =
            serde_json::from_str(&line).map_err(|error| IngestError::Lines(vec![format!("line {number}: {error}")]))?;
        if batch.is_empty() {
            first_line = number;
        }
        batch.push(statement);
        progress.inc(1);
        if batch.len() == BATCH {
            add(&mut total, store_batch(&mut tx, settings, &source, &mut batch, first_line).await?);
        }
    }
    if !batch.is_empty() {
        add(&mut total, store_batch(&mut tx, settings, &source, &mut batch, first_line).await?);
    }
    tx.commit().await?;
    progress.finish_and_clear();
    Ok(total)
}

/// A spinner counting lines on a terminal (hidden elsewhere).
pub fn spinner(message: &'static str) -> ProgressBar {
    let progress = ProgressBar::new_spinner().with_message(message);
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {pos} lines")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress
}

async fn store_batch(
    tx: &mut sqlx::AnyConnection,
    settings: &Settings,
    source: &sources::Source,
    batch: &mut Vec<Value>,
    first_line: usize,
) -> Result<BatchReport, IngestError> {
    let statements = Value::Array(std::mem::take(batch));
    ingest_statements_in(tx, settings, source, &statements).await.map_err(|error| match error {
        IngestError::Invalid { index, ref source } => {
            IngestError::Lines(vec![format!("line {}: {source}", first_line + index)])
        }
        IngestError::Special { index, .. } | IngestError::Conflict { index, .. } => {
            IngestError::Lines(vec![format!("line {}: {error}", first_line + index)])
        }
        other => other,
    })
}

fn add(total: &mut BatchReport, batch: BatchReport) {
    total.received += batch.received;
    total.stored += batch.stored;
    total.already_stored += batch.already_stored;
    for (field, count) in batch.dropped {
        *total.dropped.entry(field).or_default() += count;
    }
    total.ids.extend(batch.ids);
}
