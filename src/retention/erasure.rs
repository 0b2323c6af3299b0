//! Erasure on request (GDPR Art. 17): a student's records, xAPI documents, identifiers,
//! account and memberships are deleted and their name and e-mail removed; records a
//! purpose must keep by law (Art. 17(3)(b), a `legal_obligation` purpose) stay until their
//! expiry and are listed with the reason. The consent history and the audit log keep the
//! internal subject id, which from then on names no one. A signed certificate says what
//! was deleted, when, and what was kept and why.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Expiry, RetentionError, delete_records, write_expiries};
use crate::audit::{self, Actor, Decision, Event};
use crate::datadir::SigningKey;
use crate::purposes::LegalBasis;
use crate::records::Category;
use crate::timestamp::Timestamp;

/// Records kept despite the erasure, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Kept {
    pub category: String,
    pub records: u64,
    pub purpose: String,
    /// The GDPR article the keeping rests on.
    pub legal_basis: String,
    pub reason: String,
    /// When the last of them expires.
    pub until: String,
}

/// What an erasure deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    /// Records per category.
    pub records: BTreeMap<String, u64>,
    pub documents: u64,
    pub identifiers: u64,
    pub accounts: u64,
    pub group_memberships: u64,
    pub guardianships: u64,
}

/// The certificate's content; the signature covers its RFC 8785 canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateBody {
    pub id: Uuid,
    /// The internal subject id, which no longer resolves to a person.
    pub subject: Uuid,
    pub erased_at: String,
    pub requested_by: String,
    pub reason: String,
    pub deleted: Deleted,
    pub kept: Vec<Kept>,
    /// What stays, by design.
    pub retained: String,
}

/// A deletion certificate, signed with the installation's audit key (Ed25519).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Certificate {
    pub certificate: CertificateBody,
    /// Ed25519 signature over the RFC 8785 canonical JSON of `certificate`, base64, like the
    /// audit log's checkpoints.
    pub signature: String,
    /// The key to check it with: `GET /api/v1/audit/public-key`.
    pub key_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("no student has the id `{0}`")]
    UnknownSubject(Uuid),
    #[error("the student `{0}` was erased already; the certificate is at /api/v1/erasures/{1}")]
    AlreadyErased(Uuid, Uuid),
    #[error("no erasure certificate has the id `{0}`")]
    UnknownCertificate(Uuid),
    #[error(transparent)]
    Retention(#[from] RetentionError),
}

impl From<sqlx::Error> for ErasureError {
    fn from(error: sqlx::Error) -> Self {
        Self::Retention(error.into())
    }
}

impl From<audit::AuditError> for ErasureError {
    fn from(error: audit::AuditError) -> Self {
        Self::Retention(error.into())
    }
}

async fn delete_where(connection: &mut AnyConnection, sql: &'static str, subject: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sql).bind(subject.to_owned()).execute(connection).await?.rows_affected())
}

/// Erases `subject` in the caller's transaction and returns the signed certificate.
pub async fn erase(
    connection: &mut AnyConnection,
    subject: Uuid,
    reason: &str,
    actor: &Actor,
    reasons: Vec<String>,
    key: &SigningKey,
    now: Timestamp,
) -> Result<Certificate, ErasureError> {
    let id = subject.to_string();
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM subjects WHERE id = $1")
        .bind(id.clone())
        .fetch_optional(&mut *connection)
        .await?;
    if exists.is_none() {
        return Err(ErasureError::UnknownSubject(subject));
    }
    let earlier: Option<String> = sqlx::query_scalar("SELECT id FROM erasure_certificates WHERE subject_id = $1")
        .bind(id.clone())
        .fetch_optional(&mut *connection)
        .await?;
    if let Some(earlier) = earlier.and_then(|text| Uuid::parse_str(&text).ok()) {
        return Err(ErasureError::AlreadyErased(subject, earlier));
    }

    // What the law keeps: records a legal-obligation purpose holds, until their expiry by
    // those purposes alone.
    let expiry = Expiry::load(connection, std::slice::from_ref(&id)).await?.only(LegalBasis::LegalObligation);
    let rows = sqlx::query("SELECT id, category, occurred_at FROM records WHERE subject_id = $1")
        .bind(id.clone())
        .fetch_all(&mut *connection)
        .await?;
    let mut doomed: BTreeMap<Category, Vec<String>> = BTreeMap::new();
    let mut kept: BTreeMap<(Category, String), (u64, Timestamp)> = BTreeMap::new();
    let mut expiries = Vec::new();
    for row in &rows {
        let Some((record, category, occurred_at)) = super::dated(row)? else { continue };
        match expiry.of(&id, category, occurred_at) {
            (until, Some(purpose)) if until > now => {
                let entry = kept.entry((category, purpose.to_string())).or_insert((0, until));
                entry.0 += 1;
                entry.1 = entry.1.max(until);
                expiries.push((record, until.to_storage()));
            }
            _ => doomed.entry(category).or_default().push(record),
        }
    }
    write_expiries(connection, &expiries).await?;
    let mut deleted = Deleted::default();
    for (category, ids) in doomed {
        deleted.records.insert(category.as_str().to_owned(), delete_records(connection, &ids).await?);
    }
    let identifiers: Vec<String> = sqlx::query("SELECT scheme, value FROM subject_identifiers WHERE subject_id = $1")
        .bind(id.clone())
        .fetch_all(&mut *connection)
        .await?
        .iter()
        .map(|row| Ok(format!("{}:{}", row.try_get::<String, _>("scheme")?, row.try_get::<String, _>("value")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    for agent in &identifiers {
        deleted.documents += sqlx::query("DELETE FROM xapi_documents WHERE agent = $1")
            .bind(agent.clone())
            .execute(&mut *connection)
            .await?
            .rows_affected();
    }
    deleted.identifiers =
        delete_where(connection, "DELETE FROM subject_identifiers WHERE subject_id = $1", &id).await?;
    deleted.group_memberships =
        delete_where(connection, "DELETE FROM group_members WHERE subject_id = $1", &id).await?;
    deleted.guardianships = delete_where(connection, "DELETE FROM guardians WHERE subject_id = $1", &id).await?;
    deleted.accounts = delete_where(connection, "DELETE FROM users WHERE subject_id = $1", &id).await?;
    sqlx::query("UPDATE subjects SET display_name = '', email = NULL, date_of_birth = NULL WHERE id = $1")
        .bind(id.clone())
        .execute(&mut *connection)
        .await?;

    let kept = kept
        .into_iter()
        .map(|((category, purpose), (records, until))| Kept {
            category: category.as_str().to_owned(),
            records,
            purpose,
            legal_basis: LegalBasis::LegalObligation.code().to_owned(),
            reason: "kept to comply with a legal obligation (GDPR Art. 17(3)(b)) until the purpose's retention ends"
                .to_owned(),
            until: until.to_storage(),
        })
        .collect();
    let body = CertificateBody {
        id: Uuid::now_v7(),
        subject,
        erased_at: now.to_storage(),
        requested_by: actor.id.clone(),
        reason: reason.to_owned(),
        deleted,
        kept,
        retained: "The consent history and the audit log keep the internal subject id only, which no longer \
                   resolves to a person; no name, e-mail address or identifier remains."
            .to_owned(),
    };
    let canonical = serde_jcs::to_vec(&body).unwrap_or_default();
    let certificate = Certificate {
        signature: base64::engine::general_purpose::STANDARD.encode(key.sign(&canonical)),
        key_id: key.key_id(),
        certificate: body,
    };
    let text = serde_json::to_string(&certificate).unwrap_or_default();
    sqlx::query("INSERT INTO erasure_certificates (id, subject_id, issued_at, certificate) VALUES ($1, $2, $3, $4)")
        .bind(certificate.certificate.id.to_string())
        .bind(id.clone())
        .bind(now.to_storage())
        .bind(text)
        .execute(&mut *connection)
        .await?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &canonical);
    let event = Event::new(actor.clone(), "subject.erased", format!("Subject::{subject}"))
        .subject(subject)
        .decided(Decision::Allow, reasons)
        .details(json!({
            "certificate": certificate.certificate.id,
            "sha256": crate::audit::chain::encode_hex(digest.as_ref()),
            "deleted": certificate.certificate.deleted,
            "kept": certificate.certificate.kept.len(),
        }));
    audit::record(connection, event).await?;
    Ok(certificate)
}

/// A certificate issued earlier.
pub async fn certificate(connection: &mut AnyConnection, id: Uuid) -> Result<Certificate, ErasureError> {
    let text: Option<String> = sqlx::query_scalar("SELECT certificate FROM erasure_certificates WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(connection)
        .await?;
    text.and_then(|text| serde_json::from_str(&text).ok()).ok_or(ErasureError::UnknownCertificate(id))
}
