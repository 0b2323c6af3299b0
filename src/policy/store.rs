//! Policy-set SQL: drafts, activation and the history of active sets.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::PolicyError;
use crate::timestamp::Timestamp;

/// One policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// e.g. `audit.cedar`.
    pub name: String,
    pub text: String,
}

/// A stored policy set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StoredSet {
    pub version: i64,
    /// `draft`, `active` or `superseded`.
    pub status: String,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub activated_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub activated_at: Option<Timestamp>,
    /// Why the shipped forbid guarantees were overridden, if they were.
    pub override_reason: Option<String>,
    #[serde(skip)]
    pub files: Vec<PolicyFile>,
}

const COLUMNS: &str = "version, files, status, created_by, created_at, activated_by, activated_at, override_reason";

fn set_from_row(row: &AnyRow) -> Result<StoredSet, PolicyError> {
    let version: i64 = row.try_get("version")?;
    let corrupt = || PolicyError::Evaluation(format!("the stored policy set {version} cannot be read"));
    let files: String = row.try_get("files")?;
    let time = |column: &str| -> Result<Option<Timestamp>, PolicyError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|text| Timestamp::parse(&text).map_err(|_| corrupt())).transpose()
    };
    Ok(StoredSet {
        version,
        status: row.try_get("status")?,
        created_by: row.try_get("created_by")?,
        created_at: time("created_at")?.ok_or_else(corrupt)?,
        activated_by: row.try_get("activated_by")?,
        activated_at: time("activated_at")?,
        override_reason: row.try_get("override_reason")?,
        files: serde_json::from_str(&files).map_err(|_| corrupt())?,
    })
}

/// Stores a validated draft; returns it with its new version number.
pub async fn insert_draft(
    connection: &mut AnyConnection,
    files: &[PolicyFile],
    actor: &str,
) -> Result<StoredSet, PolicyError> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM policy_sets").fetch_one(&mut *connection).await?;
    let version = last.unwrap_or(0) + 1;
    let text = serde_json::to_string(files).map_err(|error| PolicyError::Evaluation(error.to_string()))?;
    sqlx::query(
        "INSERT INTO policy_sets (version, files, status, created_by, created_at) VALUES ($1, $2, 'draft', $3, $4)",
    )
    .bind(version)
    .bind(text)
    .bind(actor.to_owned())
    .bind(Timestamp::now().to_storage())
    .execute(&mut *connection)
    .await?;
    get(connection, version).await?.ok_or_else(|| PolicyError::Evaluation("the draft vanished".to_owned()))
}

pub async fn get(connection: &mut AnyConnection, version: i64) -> Result<Option<StoredSet>, PolicyError> {
    let sql = format!("SELECT {COLUMNS} FROM policy_sets WHERE version = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(version).fetch_optional(connection).await?;
    row.as_ref().map(set_from_row).transpose()
}

/// The set activated through the API and not superseded since, if any.
pub async fn active(connection: &mut AnyConnection) -> Result<Option<StoredSet>, PolicyError> {
    let sql = format!("SELECT {COLUMNS} FROM policy_sets WHERE status = 'active'");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_optional(connection).await?;
    row.as_ref().map(set_from_row).transpose()
}

pub async fn list(connection: &mut AnyConnection) -> Result<Vec<StoredSet>, PolicyError> {
    let sql = format!("SELECT {COLUMNS} FROM policy_sets ORDER BY version");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(connection).await?;
    rows.iter().map(set_from_row).collect()
}

/// Makes `version` the active set (0: none, so the files apply), superseding the one before.
pub async fn activate(
    connection: &mut AnyConnection,
    version: i64,
    actor: &str,
    override_reason: Option<&str>,
) -> Result<(), PolicyError> {
    sqlx::query("UPDATE policy_sets SET status = 'superseded' WHERE status = 'active'")
        .execute(&mut *connection)
        .await?;
    if version > 0 {
        sqlx::query(
            "UPDATE policy_sets SET status = 'active', activated_by = $1, activated_at = $2, override_reason = $3 WHERE version = $4",
        )
        .bind(actor.to_owned())
        .bind(Timestamp::now().to_storage())
        .bind(override_reason.map(str::to_owned))
        .bind(version)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}
