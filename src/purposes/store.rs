//! Purpose SQL. Every change records its audit event in the caller's transaction.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Purpose, PurposeDefinition, PurposeError, PurposeId, PurposeStatus};
use crate::audit::{self, Actor, Event};
use crate::problem::FieldError;
use crate::timestamp::Timestamp;

const SELECT_CURRENT: &str = "SELECT p.id, p.status, p.version, p.created_at, p.updated_at, v.definition, v.widens \
     FROM purposes p JOIN purpose_versions v ON v.purpose_id = p.id AND v.version = p.version";

fn purpose_from_row(row: &AnyRow) -> Result<Purpose, PurposeError> {
    let id: String = row.try_get("id")?;
    let corrupt = || PurposeError::Corrupt(id.clone());
    let definition: String = row.try_get("definition")?;
    let definition: PurposeDefinition = serde_json::from_str(&definition).map_err(|_| corrupt())?;
    let status: String = row.try_get("status")?;
    let created_at: String = row.try_get("created_at")?;
    let updated_at: String = row.try_get("updated_at")?;
    Ok(Purpose {
        id: PurposeId::parse(&id).map_err(|_| corrupt())?,
        version: row.try_get("version")?,
        status: PurposeStatus::parse(&status).ok_or_else(corrupt)?,
        legal_basis_code: definition.legal_basis.code().to_owned(),
        choice: definition.legal_basis.choice(),
        widens_previous: row.try_get::<i64, _>("widens")? != 0,
        definition,
        created_at: Timestamp::parse(&created_at).map_err(|_| corrupt())?,
        updated_at: Timestamp::parse(&updated_at).map_err(|_| corrupt())?,
    })
}

/// The current version of a purpose.
pub async fn get(connection: &mut AnyConnection, id: &PurposeId) -> Result<Option<Purpose>, PurposeError> {
    let sql = format!("{SELECT_CURRENT} WHERE p.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(connection).await?;
    row.as_ref().map(purpose_from_row).transpose()
}

/// Every purpose at its current version, by id.
pub async fn list(connection: &mut AnyConnection) -> Result<Vec<Purpose>, PurposeError> {
    let sql = format!("{SELECT_CURRENT} ORDER BY p.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(connection).await?;
    rows.iter().map(purpose_from_row).collect()
}

async fn insert_version(
    connection: &mut AnyConnection,
    id: &PurposeId,
    version: i32,
    definition: &PurposeDefinition,
    widens: bool,
    actor: &Actor,
) -> Result<(), PurposeError> {
    let text = serde_json::to_string(definition).map_err(|_| PurposeError::Corrupt(id.to_string()))?;
    sqlx::query(
        "INSERT INTO purpose_versions (purpose_id, version, definition, widens, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.as_str())
    .bind(version)
    .bind(text)
    .bind(i16::from(widens))
    .bind(Timestamp::now().to_storage())
    .bind(actor.id.clone())
    .execute(connection)
    .await?;
    Ok(())
}

/// Registers a new purpose as a draft at version 1.
pub async fn insert(
    connection: &mut AnyConnection,
    id: &PurposeId,
    definition: &PurposeDefinition,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<Purpose, PurposeError> {
    if get(connection, id).await?.is_some() {
        return Err(PurposeError::Exists(id.to_string()));
    }
    let now = Timestamp::now().to_storage();
    sqlx::query("INSERT INTO purposes (id, status, version, created_at, updated_at) VALUES ($1, $2, 1, $3, $3)")
        .bind(id.as_str())
        .bind(PurposeStatus::Draft.as_str())
        .bind(now)
        .execute(&mut *connection)
        .await?;
    insert_version(connection, id, 1, definition, false, actor).await?;
    let event = Event::new(actor.clone(), "purpose.created", format!("Purpose::{id}"))
        .purpose(id.as_str())
        .decided(audit::Decision::Allow, reasons)
        .details(json!({ "version": 1, "legal_basis": definition.legal_basis.code() }));
    audit::record(connection, event).await?;
    // What the register holds, and for how long, may have changed for every record.
    crate::retention::request_recomputation(connection).await?;
    current(connection, id).await
}

async fn current(connection: &mut AnyConnection, id: &PurposeId) -> Result<Purpose, PurposeError> {
    get(connection, id).await?.ok_or_else(|| PurposeError::NotFound(id.to_string()))
}

/// Changes a purpose: a draft is edited in place; an active or suspended purpose gets a
/// new version (students keep seeing the old one's consent until they choose again, if
/// the new one widens); a retired purpose changes no more.
pub async fn update(
    connection: &mut AnyConnection,
    id: &PurposeId,
    definition: &PurposeDefinition,
    in_place: bool,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<Purpose, PurposeError> {
    let existing = current(connection, id).await?;
    let (version, widens) = match (existing.status, in_place) {
        (PurposeStatus::Retired, _) => return Err(PurposeError::Transition { from: "retired", to: "changed" }),
        (PurposeStatus::Draft, _) => (existing.version, existing.widens_previous),
        (status, true) => {
            return Err(PurposeError::Invalid(vec![FieldError::new(
                "status",
                format!(
                    "an {} purpose cannot be edited in place; create a new version (POST /api/v1/purposes/{id}/versions)",
                    status.as_str()
                ),
            )]));
        }
        (_, false) => (existing.version + 1, definition.widens(&existing.definition)),
    };
    if version == existing.version {
        let text = serde_json::to_string(definition).map_err(|_| PurposeError::Corrupt(id.to_string()))?;
        sqlx::query(
            "UPDATE purpose_versions SET definition = $1, created_by = $2 WHERE purpose_id = $3 AND version = $4",
        )
        .bind(text)
        .bind(actor.id.clone())
        .bind(id.as_str())
        .bind(version)
        .execute(&mut *connection)
        .await?;
    } else {
        insert_version(connection, id, version, definition, widens, actor).await?;
    }
    sqlx::query("UPDATE purposes SET version = $1, updated_at = $2 WHERE id = $3")
        .bind(version)
        .bind(Timestamp::now().to_storage())
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    let versioned = version != existing.version;
    let action = if versioned { "purpose.versioned" } else { "purpose.draft_edited" };
    let event = Event::new(actor.clone(), action, format!("Purpose::{id}"))
        .purpose(id.as_str())
        .decided(audit::Decision::Allow, reasons)
        .details(json!({ "version": version, "widens": widens }));
    audit::record(connection, event).await?;
    if versioned {
        crate::dpia::purpose_versioned(connection, id, version, widens, actor).await.map_err(PurposeError::from)?;
    }
    // What the register holds, and for how long, may have changed for every record.
    crate::retention::request_recomputation(connection).await?;
    current(connection, id).await
}

/// Moves a purpose along its lifecycle.
pub async fn set_status(
    connection: &mut AnyConnection,
    id: &PurposeId,
    next: PurposeStatus,
    actor: &Actor,
    reasons: Vec<String>,
) -> Result<Purpose, PurposeError> {
    let existing = current(connection, id).await?;
    if !existing.status.may_become(next) {
        return Err(PurposeError::Transition { from: existing.status.as_str(), to: next.as_str() });
    }
    if next == PurposeStatus::Active
        && existing.definition.dpia_required
        && !crate::dpia::approval_covers(connection, id, existing.version).await.map_err(PurposeError::from)?
    {
        return Err(PurposeError::DpiaRequired { id: id.to_string(), version: existing.version });
    }
    sqlx::query("UPDATE purposes SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(next.as_str())
        .bind(Timestamp::now().to_storage())
        .bind(id.as_str())
        .execute(&mut *connection)
        .await?;
    let event = Event::new(actor.clone(), "purpose.status_changed", format!("Purpose::{id}"))
        .purpose(id.as_str())
        .decided(audit::Decision::Allow, reasons)
        .details(json!({ "from": existing.status.as_str(), "to": next.as_str(), "version": existing.version }));
    audit::record(connection, event).await?;
    // What the register holds, and for how long, may have changed for every record.
    crate::retention::request_recomputation(connection).await?;
    current(connection, id).await
}

/// The definition a purpose had at one version.
pub async fn definition_at(
    connection: &mut AnyConnection,
    id: &PurposeId,
    version: i32,
) -> Result<Option<PurposeDefinition>, PurposeError> {
    let row = sqlx::query("SELECT definition FROM purpose_versions WHERE purpose_id = $1 AND version = $2")
        .bind(id.as_str())
        .bind(version)
        .fetch_optional(connection)
        .await?;
    row.map(|row| {
        let text: String = row.try_get("definition")?;
        serde_json::from_str(&text).map_err(|_| PurposeError::Corrupt(id.to_string()))
    })
    .transpose()
}

/// Which versions of a purpose widened their predecessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeVersions {
    /// (version, widens), ascending.
    versions: Vec<(i32, bool)>,
}

impl PurposeVersions {
    pub fn new(versions: Vec<(i32, bool)>) -> Self {
        Self { versions }
    }

    /// Consent given for (or a DPIA approving) `given` still covers `current` when no
    /// version after it widened what the purpose reads; narrowing and rewording keep it.
    pub fn still_covers(&self, given: i32, current: i32) -> bool {
        given <= current
            && !self.versions.iter().any(|&(version, widens)| version > given && version <= current && widens)
    }
}

pub async fn versions(connection: &mut AnyConnection, id: &PurposeId) -> Result<PurposeVersions, PurposeError> {
    let rows = sqlx::query("SELECT version, widens FROM purpose_versions WHERE purpose_id = $1 ORDER BY version")
        .bind(id.as_str())
        .fetch_all(connection)
        .await?;
    let versions = rows
        .iter()
        .map(|row| Ok((row.try_get("version")?, row.try_get::<i64, _>("widens")? != 0)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(PurposeVersions::new(versions))
}

#[cfg(test)]
mod tests {
    use super::PurposeVersions;

    #[test]
    fn still_covers_versions_until_one_widens() {
        let versions = PurposeVersions::new(vec![(1, false), (2, false), (3, true), (4, false)]);
        assert!(versions.still_covers(1, 2), "a narrower or reworded version keeps consent");
        assert!(!versions.still_covers(1, 3), "a wider version needs fresh consent");
        assert!(!versions.still_covers(2, 4));
        assert!(versions.still_covers(3, 4));
    }
}
