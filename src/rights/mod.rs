//! Students' rights (GDPR Arts. 12–22), self-service: what is stored about me and why
//! (Art. 15), who read it (the gateway's disclosure log), a download of all of it
//! (Art. 20), and requests — access, rectification, erasure, restriction, objection —
//! with their legal deadline (Art. 12(3)), worked by the privacy office.

mod export;
mod requests;
mod routes;

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use uuid::Uuid;

pub use export::export_zip;
pub use requests::{
    DataRequest, Fulfilment, Handling, NewRequest, RequestKind, RequestState, file as file_request,
    handle_and_reclaim as handle_request, of_subject as requests_of, queue as request_queue,
};
pub use routes::{me as signed_in_student, router};

use crate::problem::FieldError;
use crate::purposes::{self, PurposeError, PurposeStatus};

#[derive(Debug, thiserror::Error)]
pub enum RightsError {
    #[error("you are not registered as a student, so there is no data about you here")]
    NotAStudent,
    #[error("no request has the id `{0}`")]
    UnknownRequest(Uuid),
    #[error("{0}")]
    NotNow(String),
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("the export could not be written: {0}")]
    Export(String),
    #[error(transparent)]
    Erasure(#[from] crate::retention::ErasureError),
    #[error(transparent)]
    Consent(#[from] crate::consent::ConsentError),
    #[error(transparent)]
    Gateway(#[from] crate::gateway::GatewayError),
    #[error(transparent)]
    Purpose(#[from] PurposeError),
}

impl From<sqlx::Error> for RightsError {
    fn from(error: sqlx::Error) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::db::DbError> for RightsError {
    fn from(error: crate::db::DbError) -> Self {
        Self::Purpose(error.into())
    }
}

impl From<crate::audit::AuditError> for RightsError {
    fn from(error: crate::audit::AuditError) -> Self {
        Self::Purpose(error.into())
    }
}

/// Records of one category from one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Holding {
    pub source: String,
    pub records: u64,
    pub oldest: String,
    pub newest: String,
    /// When the first of them will be deleted.
    pub next_expiry: Option<String>,
}

/// A purpose that may use a category, as Art. 15(1) asks to show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UseOf {
    pub purpose: String,
    pub title: String,
    /// GDPR article code of the legal basis, e.g. `A6-1-e`.
    pub legal_basis: String,
    /// ISO 8601 duration.
    pub retention: String,
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CategoryData {
    pub category: String,
    pub by_source: Vec<Holding>,
    pub used_by: Vec<UseOf>,
}

/// Everything stored about a student, in overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MyData {
    pub subject: Uuid,
    /// Identity data: name, e-mail and the identifiers systems know the student by.
    pub name: String,
    pub email: Option<String>,
    pub identifiers: Vec<String>,
    pub categories: Vec<CategoryData>,
    /// Whether processing is restricted (Art. 18).
    pub restricted: bool,
    /// Where the data came from and the right to complain (Art. 15(1)(f), (g)).
    pub note: String,
}

/// What is stored about `subject`, with who may use each category and for how long.
pub async fn my_data(connection: &mut AnyConnection, subject: Uuid) -> Result<MyData, RightsError> {
    let id = subject.to_string();
    let identity = sqlx::query("SELECT display_name, email FROM subjects WHERE id = $1")
        .bind(id.clone())
        .fetch_optional(&mut *connection)
        .await?
        .ok_or(RightsError::NotAStudent)?;
    let identifiers: Vec<String> =
        sqlx::query("SELECT scheme, value FROM subject_identifiers WHERE subject_id = $1 ORDER BY scheme, value")
            .bind(id.clone())
            .fetch_all(&mut *connection)
            .await?
            .iter()
            .map(|row| Ok(format!("{}: {}", row.try_get::<String, _>("scheme")?, row.try_get::<String, _>("value")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let rows = sqlx::query(
        "SELECT category, source, COUNT(*) AS records, MIN(occurred_at) AS oldest, MAX(occurred_at) AS newest, \
         MIN(expires_at) AS next_expiry FROM records WHERE subject_id = $1 GROUP BY category, source ORDER BY category, source",
    )
    .bind(id.clone())
    .fetch_all(&mut *connection)
    .await?;
    let mut categories: BTreeMap<String, Vec<Holding>> = BTreeMap::new();
    for row in rows {
        let records: i64 = row.try_get("records")?;
        categories.entry(row.try_get("category")?).or_default().push(Holding {
            source: row.try_get("source")?,
            records: u64::try_from(records).unwrap_or(0),
            oldest: row.try_get("oldest")?,
            newest: row.try_get("newest")?,
            next_expiry: row.try_get("next_expiry")?,
        });
    }
    let register = purposes::list(connection).await?;
    let categories = categories
        .into_iter()
        .map(|(category, by_source)| {
            let used_by = register
                .iter()
                .filter(|purpose| matches!(purpose.status, PurposeStatus::Active | PurposeStatus::Suspended))
                .filter_map(|purpose| {
                    let (_, retention) =
                        purpose.definition.retention.iter().find(|(held, _)| held.as_str() == category)?;
                    Some(UseOf {
                        purpose: purpose.id.to_string(),
                        title: purpose.definition.title.en.clone(),
                        legal_basis: purpose.legal_basis_code.clone(),
                        retention: retention.clone(),
                        recipients: purpose.definition.recipients.clone(),
                    })
                })
                .collect();
            CategoryData { category, by_source, used_by }
        })
        .collect();
    Ok(MyData {
        subject,
        name: identity.try_get("display_name")?,
        email: identity.try_get("email")?,
        identifiers,
        categories,
        restricted: is_restricted(connection, subject).await?,
        note: "The data comes from the institution's learning environment, student information system and \
               questionnaires. You may complain to the Autoriteit Persoonsgegevens. Consentry makes no automated \
               decision about you: every proposal is decided by a person."
            .to_owned(),
    })
}

pub async fn is_restricted(connection: &mut AnyConnection, subject: Uuid) -> Result<bool, RightsError> {
    let found: Option<String> = sqlx::query_scalar("SELECT subject_id FROM subject_restrictions WHERE subject_id = $1")
        .bind(subject.to_string())
        .fetch_optional(connection)
        .await?;
    Ok(found.is_some())
}

/// Every restricted student (Art. 18), whom the gateway leaves out of every read.
pub async fn restricted_subjects(
    connection: &mut AnyConnection,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT subject_id FROM subject_restrictions").fetch_all(connection).await?;
    Ok(ids.into_iter().collect())
}
