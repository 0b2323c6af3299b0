//! Consent receipts shaped after ISO/IEC TS 27560, with W3C DPV and GDPR codes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ConsentRecord, ConsentState};
use crate::config::InstitutionConfig;
use crate::purposes::PurposeDefinition;
use crate::timestamp::Timestamp;

/// A receipt for one consent record, for the student to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    /// What this receipt follows: `ISO/IEC TS 27560:2023`.
    pub schema: String,
    pub record_id: Uuid,
    /// When the receipt was issued.
    #[schema(value_type = String, format = DateTime)]
    pub receipt_timestamp: Timestamp,
    /// The PII principal (student), by internal id.
    pub pii_principal_id: Uuid,
    pub controller: Controller,
    pub notice: Notice,
    pub purposes: Vec<ReceiptPurpose>,
    pub event: ReceiptEvent,
    /// How to withdraw or object, as easily as the choice was made (GDPR Art. 7(3)).
    pub withdrawal_method: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Controller {
    pub name: String,
    pub contact: String,
    pub dpo_contact: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    /// `<purpose>@v<version>`.
    pub notice_id: String,
    pub version: i32,
    pub language: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptPurpose {
    pub purpose_id: String,
    pub version: i32,
    pub title: String,
    /// DPV purpose concept, e.g. `dpv:ResearchAndDevelopment`.
    pub dpv_purpose: String,
    /// GDPR legal basis as DPV's GDPR extension names it, e.g. `eu-gdpr:A6-1-a`.
    pub legal_basis: String,
    pub legal_basis_dpv: String,
    pub data_categories: Vec<String>,
    pub fields: Vec<String>,
    /// ISO 8601 duration per data category.
    pub retention: BTreeMap<String, String>,
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptEvent {
    /// `given`, `withdrawn`, `objected` or `objection_lifted`.
    pub event_type: String,
    #[schema(value_type = String, format = DateTime)]
    pub event_time: Timestamp,
    /// The state this event led to.
    pub state: ConsentState,
    pub method: String,
    pub recorded_by: String,
    pub relation: String,
}

impl Receipt {
    /// The receipt for `record`, with the purpose as it stood at the record's version and
    /// the notice as the student saw it.
    pub fn new(
        record: &ConsentRecord,
        state: ConsentState,
        purpose: &PurposeDefinition,
        notice: &PurposeDefinition,
        institution: &InstitutionConfig,
    ) -> Self {
        Self {
            schema: "ISO/IEC TS 27560:2023".to_owned(),
            record_id: record.id,
            receipt_timestamp: Timestamp::now(),
            pii_principal_id: record.subject,
            controller: Controller {
                name: institution.name.clone(),
                contact: institution.contact.clone(),
                dpo_contact: institution.dpo_contact.clone(),
            },
            notice: Notice {
                notice_id: format!("{}@v{}", record.purpose, record.notice_version),
                version: record.notice_version,
                language: record.language.as_str().to_owned(),
                text: notice.notice.get(record.language).to_owned(),
            },
            purposes: vec![ReceiptPurpose {
                purpose_id: record.purpose.to_string(),
                version: record.purpose_version,
                title: purpose.title.get(record.language).to_owned(),
                dpv_purpose: format!("dpv:{}", purpose.dpv_purpose),
                legal_basis: format!("eu-gdpr:{}", record.legal_basis),
                legal_basis_dpv: purpose.legal_basis.dpv().to_owned(),
                data_categories: purpose.categories.iter().map(|category| category.as_str().to_owned()).collect(),
                fields: purpose.fields.clone(),
                retention: purpose
                    .retention
                    .iter()
                    .map(|(category, period)| (category.as_str().to_owned(), period.clone()))
                    .collect(),
                recipients: purpose.recipients.clone(),
            }],
            event: ReceiptEvent {
                event_type: record.event.as_str().to_owned(),
                event_time: record.recorded_at,
                state,
                method: record.method.as_str().to_owned(),
                recorded_by: record.recorded_by.clone(),
                relation: record.relation.as_str().to_owned(),
            },
            withdrawal_method: format!(
                "Change your choice at any time on your privacy page, or with PUT /api/v1/me/consents/{} \
                 (event `withdrawn` or `objected`); it takes one step, like giving it. Questions: {}",
                record.purpose, institution.dpo_contact
            ),
        }
    }
}
