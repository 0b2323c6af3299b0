//! Aggregate reads: counts and statistics over groups of students, with every cell of
//! fewer distinct students than the purpose's minimum cell size suppressed, and more cells
//! suppressed where a suppressed cell could otherwise be derived by subtracting the
//! visible cells of its row from a total.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use super::read::{FieldNeed, Filters, Prepared};
use super::scope::{COURSE_FIELDS, Subjects};
use super::{GatewayError, Keys, disclosure};
use crate::db::{Db, PlaceholderStyle};
use crate::problem::FieldError;
use crate::records::RecordKind;

/// The minimum cell size of purposes that do not set one (individual purposes read
/// through aggregates, e.g. by teachers who may not see individuals).
pub const DEFAULT_MIN_CELL_SIZE: u32 = 10;

/// What a cell can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Course,
    Activity,
    Verb,
    /// The ISO week the record occurred in, e.g. `2026-W07`.
    Week,
    /// The student group (class); a student in two groups counts in both.
    Group,
}

impl Dimension {
    fn as_str(self) -> &'static str {
        match self {
            Self::Course => "course",
            Self::Activity => "activity",
            Self::Verb => "verb",
            Self::Week => "week",
            Self::Group => "group",
        }
    }

    /// The catalogue fields the purpose must read for this dimension (any one of them).
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Course => &COURSE_FIELDS,
            Self::Activity => &["object.id"],
            Self::Verb => &["verb.id"],
            Self::Week | Self::Group => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Records in the cell.
    Count,
    /// Distinct students in the cell.
    DistinctStudents,
    Mean,
    Median,
    /// Needs `p`, between 1 and 99.
    Percentile,
}

/// One statistic to compute per cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub metric: MetricKind,
    /// The numeric field: `result.score.scaled`, `result.duration` (seconds), `grade.value`
    /// or `survey.answer`.
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub p: Option<f64>,
}

/// Numeric catalogue fields, with the record kind that carries each.
const NUMERIC_FIELDS: [(&str, RecordKind); 4] = [
    ("result.score.scaled", RecordKind::Xapi),
    ("result.duration", RecordKind::Xapi),
    ("grade.value", RecordKind::Grade),
    ("survey.answer", RecordKind::Survey),
];

impl Metric {
    /// The name a cell's value goes by: `count`, `mean(grade.value)`, `p90(result.duration)`.
    fn name(&self) -> String {
        let field = self.field.as_deref().unwrap_or_default();
        match self.metric {
            MetricKind::Count => "count".to_owned(),
            MetricKind::DistinctStudents => "distinct_students".to_owned(),
            MetricKind::Mean => format!("mean({field})"),
            MetricKind::Median => format!("median({field})"),
            MetricKind::Percentile => format!("p{}({field})", self.p.unwrap_or_default()),
        }
    }
}

/// Filters of an aggregate read, as in the body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateFilters {
    pub kind: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<crate::timestamp::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<crate::timestamp::Timestamp>,
    pub course: Option<String>,
    pub activity: Option<String>,
    pub verb: Option<String>,
}

/// An aggregate to compute.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequest {
    /// Up to three dimensions; none gives one cell over everything.
    #[serde(default)]
    pub group_by: Vec<Dimension>,
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub filters: AggregateFilters,
}

impl AggregateRequest {
    /// The filters, and what each dimension and metric needs the purpose to read;
    /// malformed parts are reported by field.
    pub fn validate(&self) -> Result<(Filters, Vec<FieldNeed>), GatewayError> {
        let mut errors = Vec::new();
        if self.group_by.len() > 3 {
            errors.push(FieldError::new("group_by", "at most three dimensions"));
        }
        for (index, dimension) in self.group_by.iter().enumerate() {
            if self.group_by[..index].contains(dimension) {
                errors.push(FieldError::new(format!("group_by[{index}]"), "listed twice"));
            }
        }
        if self.metrics.is_empty() {
            errors.push(FieldError::new("metrics", "ask for at least one metric, e.g. {\"metric\": \"count\"}"));
        }
        let mut needs: Vec<FieldNeed> = self
            .group_by
            .iter()
            .enumerate()
            .filter(|(_, dimension)| !dimension.fields().is_empty())
            .map(|(index, dimension)| FieldNeed::new(format!("group_by[{index}]"), dimension.fields()))
            .collect();
        for (index, metric) in self.metrics.iter().enumerate() {
            let statistic = matches!(metric.metric, MetricKind::Mean | MetricKind::Median | MetricKind::Percentile);
            match (&metric.field, statistic) {
                (Some(field), true) if NUMERIC_FIELDS.iter().any(|(name, _)| name == field) => {
                    needs.push(FieldNeed::new(format!("metrics[{index}].field"), &[field.as_str()]));
                }
                (Some(_), true) => errors.push(FieldError::new(
                    format!("metrics[{index}].field"),
                    format!("must be a numeric field: {}", NUMERIC_FIELDS.map(|(name, _)| name).join(", ")),
                )),
                (None, true) => {
                    errors.push(FieldError::new(format!("metrics[{index}].field"), "names the numeric field"))
                }
                (Some(_), false) => errors.push(FieldError::new(
                    format!("metrics[{index}].field"),
                    "count and distinct_students take no field",
                )),
                (None, false) => {}
            }
            match (metric.metric, metric.p) {
                (MetricKind::Percentile, Some(p)) if (1.0..=99.0).contains(&p) => {}
                (MetricKind::Percentile, _) => {
                    errors.push(FieldError::new(format!("metrics[{index}].p"), "a percentile between 1 and 99"));
                }
                (_, Some(_)) => errors.push(FieldError::new(format!("metrics[{index}].p"), "only for percentile")),
                (_, None) => {}
            }
        }
        let filters = &self.filters;
        let kind = match filters.kind.as_deref().map(|kind| (kind, RecordKind::parse(kind))) {
            Some((_, Some(kind))) => Some(kind),
            Some((text, None)) => {
                errors
                    .push(FieldError::new("filters.kind", format!("`{text}` is not xapi, enrolment, grade or survey")));
                None
            }
            None => None,
        };
        if !errors.is_empty() {
            return Err(GatewayError::Invalid(errors));
        }
        let filters = Filters {
            kind,
            since: filters.since,
            until: filters.until,
            course: filters.course.clone(),
            activity: filters.activity.clone(),
            verb: filters.verb.clone(),
        };
        Ok((filters, needs))
    }
}

/// One cell of the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cell {
    /// The cell's value of each dimension; `null` where records have none (a grade has no
    /// verb).
    pub key: BTreeMap<String, Option<String>>,
    pub suppressed: bool,
    /// Each metric by name (`null` where no record had the field); absent for a suppressed
    /// cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub values: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AggregateResult {
    pub purpose: String,
    pub min_cell_size: u32,
    pub group_by: Vec<Dimension>,
    pub cells: Vec<Cell>,
    /// Over every cell; suppressed too when fewer students than the minimum are involved.
    pub total: Cell,
    /// Cells suppressed, for either reason.
    pub suppressed_cells: usize,
    /// What was suppressed and why, in words.
    pub note: String,
}

/// What a cell gathers while rows pass.
#[derive(Debug, Default)]
struct Accumulator {
    records: u64,
    subjects: HashSet<u32>,
    /// Values per numeric field named by a metric.
    values: HashMap<String, Vec<f64>>,
}

impl Accumulator {
    fn add(&mut self, subject: u32, values: &[(String, f64)]) {
        self.records += 1;
        self.subjects.insert(subject);
        for (field, value) in values {
            self.values.entry(field.clone()).or_default().push(*value);
        }
    }

    fn merge(&mut self, other: &Accumulator) {
        self.records += other.records;
        self.subjects.extend(other.subjects.iter().copied());
        for (field, values) in &other.values {
            self.values.entry(field.clone()).or_default().extend(values);
        }
    }

    fn values(&mut self, metrics: &[Metric]) -> BTreeMap<String, serde_json::Value> {
        metrics
            .iter()
            .map(|metric| {
                let statistic = match metric.metric {
                    MetricKind::Count => return (metric.name(), serde_json::json!(self.records)),
                    MetricKind::DistinctStudents => return (metric.name(), serde_json::json!(self.subjects.len())),
                    MetricKind::Mean => {
                        let values = self.values.get(metric.field.as_deref().unwrap_or_default());
                        values
                            .filter(|values| !values.is_empty())
                            .map(|values| values.iter().sum::<f64>() / values.len() as f64)
                    }
                    MetricKind::Median | MetricKind::Percentile => {
                        let p = if metric.metric == MetricKind::Median { 50.0 } else { metric.p.unwrap_or(50.0) };
                        self.values
                            .get_mut(metric.field.as_deref().unwrap_or_default())
                            .and_then(|values| percentile(values, p))
                    }
                };
                (metric.name(), serde_json::json!(statistic))
            })
            .collect()
    }
}

/// The `p`th percentile with linear interpolation between closest ranks.
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (values.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    Some(values[low] + (values[high] - values[low]) * (rank - low as f64))
}

/// Which cells to suppress: each with fewer than `k` students, and then, in every row of
/// the table along each dimension, more cells (smallest first) until the suppressed cells
/// of that row are none or at least two covering at least `k` students together, so that
/// no suppressed cell can be derived from a row total or the grand total.
fn suppression(keys: &[Vec<Option<String>>], students: &[&HashSet<u32>], dimensions: usize, k: usize) -> Vec<bool> {
    let mut suppressed: Vec<bool> = students.iter().map(|cell| cell.len() < k).collect();
    if dimensions == 0 {
        return suppressed;
    }
    loop {
        let mut changed = false;
        for dimension in 0..dimensions {
            let mut rows: BTreeMap<Vec<&Option<String>>, Vec<usize>> = BTreeMap::new();
            for (index, key) in keys.iter().enumerate() {
                let rest: Vec<&Option<String>> = key
                    .iter()
                    .enumerate()
                    .filter(|(position, _)| *position != dimension)
                    .map(|(_, value)| value)
                    .collect();
                rows.entry(rest).or_default().push(index);
            }
            for cells in rows.values() {
                let hidden: Vec<usize> = cells.iter().copied().filter(|cell| suppressed[*cell]).collect();
                if hidden.is_empty() {
                    continue;
                }
                let covered: HashSet<u32> = hidden.iter().flat_map(|cell| students[*cell].iter().copied()).collect();
                if hidden.len() >= 2 && covered.len() >= k {
                    continue;
                }
                let smallest =
                    cells.iter().copied().filter(|cell| !suppressed[*cell]).min_by_key(|cell| students[*cell].len());
                if let Some(cell) = smallest {
                    suppressed[cell] = true;
                    changed = true;
                }
            }
        }
        if !changed {
            return suppressed;
        }
    }
}

/// The ISO week of a stored `occurred_at`, e.g. `2026-W07`.
fn iso_week(occurred_at: &str) -> Option<String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(occurred_at.get(..10)?, format).ok()?;
    let (year, week, _) = date.to_iso_week_date();
    Some(format!("{year}-W{week:02}"))
}

/// Computes the aggregate over the prepared read, records its disclosure, and returns it.
pub async fn aggregate(
    prepared: Prepared,
    db: &Db,
    keys: &Keys,
    request: &AggregateRequest,
) -> Result<AggregateResult, GatewayError> {
    let Prepared { mut tx, scope, scan, log } = prepared;
    let min_cell_size = scope.purpose.definition.min_cell_size.unwrap_or(DEFAULT_MIN_CELL_SIZE);
    let groups = if request.group_by.contains(&Dimension::Group) {
        crate::directory::group_memberships(&mut tx).await?
    } else {
        HashMap::new()
    };
    // Per dimension and kind, the row index holding the dimension's value.
    let dimension_columns: Vec<HashMap<&str, usize>> = request
        .group_by
        .iter()
        .map(|dimension| {
            RecordKind::ALL
                .into_iter()
                .filter_map(|kind| Some((kind.as_str(), scope.projection.index_for(kind, dimension.fields())?)))
                .collect()
        })
        .collect();
    let metric_columns: Vec<(String, &str, usize)> = request
        .metrics
        .iter()
        .filter_map(|metric| metric.field.as_deref())
        .filter_map(|field| {
            let (_, kind) = NUMERIC_FIELDS.iter().find(|(name, _)| *name == field)?;
            Some((field.to_owned(), kind.as_str(), scope.projection.index_for(*kind, &[field])?))
        })
        .collect();
    let (sql, binds) = scan.sql(PlaceholderStyle::of(&tx));
    let mut subjects = Subjects::default();
    let mut cells: HashMap<Vec<Option<String>>, Accumulator> = HashMap::new();
    {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let mut rows = query.fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let category: &str = row.try_get(3)?;
            let occurred_at: &str = row.try_get(4)?;
            if !scope.in_window(category, occurred_at) {
                continue;
            }
            let subject: &str = row.try_get(1)?;
            let Some(index) = subjects.admit(subject, &scope, keys) else { continue };
            subjects.disclose(&[index]);
            let kind: &str = row.try_get(2)?;
            let mut values = Vec::new();
            for (field, field_kind, column) in &metric_columns {
                if *field_kind == kind {
                    let value = if field == "result.duration" {
                        row.try_get::<Option<i64>, _>(*column)?.map(|ms| ms as f64 / 1000.0)
                    } else {
                        row.try_get::<Option<f64>, _>(*column)?
                    };
                    if let Some(value) = value {
                        values.push((field.clone(), value));
                    }
                }
            }
            let mut keys_of_row: Vec<Vec<Option<String>>> = vec![Vec::new()];
            for (dimension, columns) in request.group_by.iter().zip(&dimension_columns) {
                let choices: Vec<Option<String>> = match dimension {
                    Dimension::Week => vec![iso_week(occurred_at)],
                    Dimension::Group => match groups.get(subject) {
                        Some(groups) if !groups.is_empty() => groups.iter().cloned().map(Some).collect(),
                        _ => vec![None],
                    },
                    _ => vec![match columns.get(kind) {
                        Some(column) => row.try_get::<Option<String>, _>(*column)?,
                        None => None,
                    }],
                };
                keys_of_row = keys_of_row
                    .into_iter()
                    .flat_map(|key| {
                        choices.iter().map(move |choice| {
                            let mut key = key.clone();
                            key.push(choice.clone());
                            key
                        })
                    })
                    .collect();
            }
            for key in keys_of_row {
                cells.entry(key).or_default().add(index, &values);
            }
        }
    }
    tx.rollback().await?;
    let mut ordered: Vec<(Vec<Option<String>>, Accumulator)> = cells.into_iter().collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    let k = min_cell_size as usize;
    let mut total = Accumulator::default();
    for (_, cell) in &ordered {
        total.merge(cell);
    }
    let total_hidden = total.subjects.len() < k;
    let mut hidden = {
        let keys: Vec<Vec<Option<String>>> = ordered.iter().map(|(key, _)| key.clone()).collect();
        let students: Vec<&HashSet<u32>> = ordered.iter().map(|(_, cell)| &cell.subjects).collect();
        suppression(&keys, &students, request.group_by.len(), k)
    };
    if total_hidden {
        hidden.iter_mut().for_each(|cell| *cell = true);
    }
    let small = ordered.iter().filter(|(_, cell)| cell.subjects.len() < k).count();
    let names: Vec<&str> = request.group_by.iter().map(|dimension| dimension.as_str()).collect();
    let mut result_cells = Vec::with_capacity(ordered.len());
    for ((key, mut cell), suppressed) in ordered.into_iter().zip(&hidden) {
        result_cells.push(Cell {
            key: names.iter().map(|name| (*name).to_owned()).zip(key).collect(),
            suppressed: *suppressed,
            values: (!suppressed).then(|| cell.values(&request.metrics)),
        });
    }
    let suppressed_cells = hidden.iter().filter(|hidden| **hidden).count();
    let note = if suppressed_cells == 0 {
        format!("no cell has fewer than {k} students; nothing was suppressed")
    } else {
        format!(
            "{small} of {} cells have fewer than {k} students and are suppressed; {} more are suppressed so that they \
             cannot be derived from totals",
            result_cells.len(),
            suppressed_cells.saturating_sub(small)
        )
    };
    let total = Cell {
        key: BTreeMap::new(),
        suppressed: total_hidden,
        values: (!total_hidden).then(|| total.values(&request.metrics)),
    };
    disclosure::record(db, log, subjects.disclosed(), true).await?;
    Ok(AggregateResult {
        purpose: scope.purpose.id.to_string(),
        min_cell_size,
        group_by: request.group_by.clone(),
        cells: result_cells,
        total,
        suppressed_cells,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn students(range: std::ops::Range<u32>) -> HashSet<u32> {
        range.collect()
    }

    fn key(value: &str) -> Vec<Option<String>> {
        vec![Some(value.to_owned())]
    }

    #[test]
    fn a_small_cell_takes_the_next_smallest_with_it() {
        let cells = [students(0..40), students(40..44), students(44..64), students(64..76)];
        let refs: Vec<&HashSet<u32>> = cells.iter().collect();
        let keys = [key("a"), key("b"), key("c"), key("d")];
        assert_eq!(suppression(&keys, &refs, 1, 10), [false, true, false, true]);
    }

    #[test]
    fn two_small_cells_that_together_are_still_small_take_a_third() {
        let cells = [students(0..40), students(40..44), students(44..47), students(47..67)];
        let refs: Vec<&HashSet<u32>> = cells.iter().collect();
        let keys = [key("a"), key("b"), key("c"), key("d")];
        assert_eq!(suppression(&keys, &refs, 1, 10), [false, true, true, true]);
    }

    #[test]
    fn nothing_small_means_nothing_suppressed() {
        let cells = [students(0..40), students(40..60)];
        let refs: Vec<&HashSet<u32>> = cells.iter().collect();
        assert_eq!(suppression(&[key("a"), key("b")], &refs, 1, 10), [false, false]);
        assert_eq!(suppression(&[vec![]], &refs[..1], 0, 10), [false]);
    }

    #[test]
    fn two_dimensions_protect_rows_and_columns() {
        // course × week: (c1, w1) is small; its row (c1) and its column (w1) each need a second.
        let key2 = |course: &str, week: &str| vec![Some(course.to_owned()), Some(week.to_owned())];
        let keys = [key2("c1", "w1"), key2("c1", "w2"), key2("c2", "w1"), key2("c2", "w2")];
        let cells = [students(0..3), students(3..30), students(30..60), students(60..90)];
        let refs: Vec<&HashSet<u32>> = cells.iter().collect();
        let hidden = suppression(&keys, &refs, 2, 10);
        assert!(hidden[0]);
        for dimension_rows in [[0, 1], [0, 2]] {
            assert!(dimension_rows.iter().filter(|cell| hidden[**cell]).count() >= 2, "{hidden:?}");
        }
    }

    #[test]
    fn percentiles_interpolate_and_weeks_follow_iso_8601() {
        let mut values = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut values, 50.0), Some(2.5));
        assert_eq!(percentile(&mut values, 100.0), Some(4.0));
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(iso_week("2026-01-01T10:00:00.000000Z").as_deref(), Some("2026-W01"));
        assert_eq!(iso_week("2027-01-01T10:00:00.000000Z").as_deref(), Some("2026-W53"));
    }
}
