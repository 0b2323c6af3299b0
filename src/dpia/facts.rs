//! Register facts: what Consentry knows about a processing, from the purpose register,
//! the client registry, the active policies and its own configuration. A DPIA answers a
//! question from a fact and keeps what it saw, so it can tell when the fact has changed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::DpiaError;
use crate::config::{Config, InstitutionConfig, Processor};
use crate::policy::PolicyEngine;
use crate::purposes::{self, Choice, Granularity, Localized, Purpose, PurposeId};

/// The facts a template question may be prefilled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    Controller,
    Purposes,
    LegalBases,
    Categories,
    Fields,
    Granularity,
    Retention,
    Recipients,
    Processors,
    Roles,
    HumanReview,
    DataSubjectRights,
    Models,
    Storage,
    SecurityMeasures,
}

impl Fact {
    pub const ALL: [Fact; 15] = [
        Fact::Controller,
        Fact::Purposes,
        Fact::LegalBases,
        Fact::Categories,
        Fact::Fields,
        Fact::Granularity,
        Fact::Retention,
        Fact::Recipients,
        Fact::Processors,
        Fact::Roles,
        Fact::HumanReview,
        Fact::DataSubjectRights,
        Fact::Models,
        Fact::Storage,
        Fact::SecurityMeasures,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fact::Controller => "controller",
            Fact::Purposes => "purposes",
            Fact::LegalBases => "legal_bases",
            Fact::Categories => "categories",
            Fact::Fields => "fields",
            Fact::Granularity => "granularity",
            Fact::Retention => "retention",
            Fact::Recipients => "recipients",
            Fact::Processors => "processors",
            Fact::Roles => "roles",
            Fact::HumanReview => "human_review",
            Fact::DataSubjectRights => "data_subject_rights",
            Fact::Models => "models",
            Fact::Storage => "storage",
            Fact::SecurityMeasures => "security_measures",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|fact| fact.as_str() == text)
    }
}

/// A fact as a DPIA saw it: the data it compares and the text people read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Prefill {
    pub fact: Fact,
    #[schema(value_type = Object)]
    pub data: Value,
    pub text: Localized,
}

/// What the configuration tells a DPIA about where and how Consentry runs.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub controller: InstitutionConfig,
    /// Where the store lives, without credentials.
    pub store: String,
    pub postgres: bool,
    pub identity_providers: Vec<String>,
    pub session_idle_minutes: i64,
    pub audit_retention_days: u64,
    pub retention_sweep_minutes: u64,
    pub minimising_ingest: bool,
}

impl Deployment {
    pub fn from_config(config: &Config, controller: InstitutionConfig) -> Self {
        let store = match &config.database_url {
            Some(url) => reqwest::Url::parse(url.expose()).map_or_else(
                |_| "PostgreSQL".to_owned(),
                |url| format!("{}:{}{}", url.host_str().unwrap_or("localhost"), url.port().unwrap_or(5432), url.path()),
            ),
            None => config.data_dir.display().to_string(),
        };
        Self {
            controller,
            store,
            postgres: config.database_url.is_some(),
            identity_providers: config.auth.providers.iter().map(|provider| provider.issuer.clone()).collect(),
            session_idle_minutes: config.sessions.idle_minutes,
            audit_retention_days: config.audit.retention_days,
            retention_sweep_minutes: config.retention.sweep_every_minutes,
            minimising_ingest: config.ingest.mode == crate::config::IngestMode::Minimise,
        }
    }
}

/// What facts are computed from, read once per DPIA.
pub struct Register<'a> {
    pub purposes: Vec<Purpose>,
    pub clients: Vec<crate::clients::ClientView>,
    pub engine: &'a PolicyEngine,
    pub deployment: &'a Deployment,
}

impl<'a> Register<'a> {
    /// Reads the purposes (current versions) and the clients registered for them.
    pub async fn read(
        connection: &mut AnyConnection,
        purposes: &[PurposeId],
        engine: &'a PolicyEngine,
        deployment: &'a Deployment,
    ) -> Result<Self, DpiaError> {
        let mut current = Vec::new();
        for id in purposes {
            current
                .push(purposes::get(connection, id).await?.ok_or_else(|| DpiaError::UnknownPurpose(id.to_string()))?);
        }
        let clients = crate::clients::list(connection)
            .await?
            .into_iter()
            .filter(|client| client.purposes.iter().any(|purpose| purposes.contains(purpose)))
            .collect();
        Ok(Self { purposes: current, clients, engine, deployment })
    }

    /// Every fact, by name.
    pub fn facts(&self) -> BTreeMap<Fact, Prefill> {
        Fact::ALL.into_iter().map(|fact| (fact, self.fact(fact))).collect()
    }

    pub fn fact(&self, fact: Fact) -> Prefill {
        let (data, nl, en) = match fact {
            Fact::Controller => self.controller(),
            Fact::Purposes => self.per_purpose(|purpose| {
                let data = json!({ "title": purpose.definition.title, "notice": purpose.definition.notice, "dpv": purpose.definition.dpv_purpose });
                let nl = format!("{} — {}", purpose.definition.title.nl, purpose.definition.notice.nl);
                let en = format!("{} — {}", purpose.definition.title.en, purpose.definition.notice.en);
                (data, nl, en)
            }),
            Fact::LegalBases => self.per_purpose(|purpose| {
                let basis = purpose.definition.legal_basis;
                let art9 = purpose.definition.art9_condition.clone();
                let (nl, en) = basis_words(basis);
                let suffix = |language: &str| match &art9 {
                    Some(condition) if language == "nl" => format!("; bijzondere gegevens op grond van {condition}"),
                    Some(condition) => format!("; special-category data under {condition}"),
                    None => String::new(),
                };
                let code = basis.code();
                (
                    json!({ "basis": basis.as_str(), "art9": art9 }),
                    format!("{nl} (AVG art. {code}){}", suffix("nl")),
                    format!("{en} (GDPR Art. {code}){}", suffix("en")),
                )
            }),
            Fact::Categories => self.per_purpose(|purpose| {
                let names: Vec<&str> = purpose.definition.categories.iter().map(|category| category.as_str()).collect();
                let special = purpose.definition.categories.contains(&crate::records::Category::Special);
                let list = names.join(", ");
                (
                    json!(names),
                    format!("{list}{}", if special { "; bevat bijzondere persoonsgegevens" } else { "; geen bijzondere persoonsgegevens" }),
                    format!("{list}{}", if special { "; includes special-category data" } else { "; no special-category data" }),
                )
            }),
            Fact::Fields => self.per_purpose(|purpose| {
                let list = purpose.definition.fields.join(", ");
                (json!(purpose.definition.fields), list.clone(), list)
            }),
            Fact::Granularity => self.per_purpose(|purpose| match purpose.definition.granularity {
                Granularity::Individual => (
                    json!({ "granularity": "individual" }),
                    "gegevens per student, onder een pseudoniem per doel en per afnemer".to_owned(),
                    "records per student, under a pseudonym per purpose and per recipient".to_owned(),
                ),
                Granularity::Aggregate => {
                    let k = purpose.definition.min_cell_size.unwrap_or(crate::gateway::DEFAULT_MIN_CELL_SIZE);
                    (
                        json!({ "granularity": "aggregate", "min_cell_size": k }),
                        format!("alleen totalen over groepen van minstens {k} studenten; kleinere cellen worden onderdrukt"),
                        format!("only totals over groups of at least {k} students; smaller cells are suppressed"),
                    )
                }
            }),
            Fact::Retention => self.per_purpose(|purpose| {
                let periods: Vec<String> = purpose
                    .definition
                    .retention
                    .iter()
                    .map(|(category, period)| format!("{} {period}", category.as_str()))
                    .collect();
                let list = periods.join(", ");
                (
                    json!(purpose.definition.retention),
                    format!("{list} (ISO 8601); daarna automatisch en onherstelbaar verwijderd"),
                    format!("{list} (ISO 8601); deleted automatically and irrecoverably afterwards"),
                )
            }),
            Fact::Recipients => self.per_purpose(|purpose| {
                let tools: Vec<String> = self
                    .clients
                    .iter()
                    .filter(|client| client.purposes.contains(&purpose.id))
                    .map(|client| format!("{} ({}, {})", client.name, client.organisation, client.status))
                    .collect();
                let recipients = purpose.definition.recipients.join(", ");
                let tools_text = if tools.is_empty() { "—".to_owned() } else { tools.join("; ") };
                (
                    json!({ "recipients": purpose.definition.recipients, "clients": tools }),
                    format!("{recipients}; geregistreerde applicaties: {tools_text}"),
                    format!("{recipients}; registered tools: {tools_text}"),
                )
            }),
            Fact::Processors => self.processors(),
            Fact::Roles => self.roles(),
            Fact::HumanReview => self.per_purpose(|purpose| {
                if purpose.definition.human_review_required {
                    (
                        json!(true),
                        "elk voorstel over een student wacht op een mentor die het goedkeurt, afwijst of aanpast, met motivering; de uitvoering kan worden stilgezet".to_owned(),
                        "every proposal about a student waits for a mentor who approves, rejects or amends it, with a rationale; processing can be halted".to_owned(),
                    )
                } else {
                    (
                        json!(false),
                        "geen besluiten over individuele studenten".to_owned(),
                        "no decisions about individual students".to_owned(),
                    )
                }
            }),
            Fact::DataSubjectRights => self.per_purpose(|purpose| {
                let (nl, en) = match purpose.choice {
                    Choice::OptIn => (
                        "alleen met toestemming, per doel, op elk moment in te trekken; intrekken verwijdert de gegevens die alleen daarvoor werden bewaard",
                        "only with consent, per purpose, withdrawable at any time; withdrawal deletes the data kept for it alone",
                    ),
                    Choice::OptOut => (
                        "verwerking tenzij de student bezwaar maakt (art. 21), met één klik; het bezwaar geldt direct voor elke volgende verstrekking",
                        "processing unless the student objects (Art. 21), in one click; the objection applies to every following disclosure at once",
                    ),
                    Choice::None => ("geen keuze door de grondslag; wel informatie", "no choice under this basis; students are informed"),
                };
                let common_nl = "; inzage, kopie, overzicht van verstrekkingen, en verzoeken tot rectificatie, wissing en beperking binnen een maand";
                let common_en = "; access, a copy, a log of disclosures, and requests for rectification, erasure and restriction within one month";
                (json!(purpose.choice), format!("{nl}{common_nl}"), format!("{en}{common_en}"))
            }),
            Fact::Models => self.per_purpose(|purpose| {
                if purpose.id.as_str() == crate::analytics::PURPOSE {
                    let model = crate::analytics::model_description();
                    (json!(crate::analytics::MODEL_VERSION), model.nl, model.en)
                } else {
                    (Value::Null, "geen model".to_owned(), "no model".to_owned())
                }
            }),
            Fact::Storage => self.storage(),
            Fact::SecurityMeasures => self.security(),
        };
        Prefill { fact, data, text: Localized { nl, en } }
    }

    /// One line per purpose, `id: text`.
    fn per_purpose(&self, describe: impl Fn(&Purpose) -> (Value, String, String)) -> (Value, String, String) {
        let mut data = serde_json::Map::new();
        let mut nl = Vec::new();
        let mut en = Vec::new();
        for purpose in &self.purposes {
            let (value, dutch, english) = describe(purpose);
            data.insert(purpose.id.to_string(), value);
            nl.push(format!("{} (v{}): {dutch}", purpose.id, purpose.version));
            en.push(format!("{} (v{}): {english}", purpose.id, purpose.version));
        }
        (Value::Object(data), nl.join("\n"), en.join("\n"))
    }

    fn controller(&self) -> (Value, String, String) {
        let controller = &self.deployment.controller;
        let line = |contact: &str, dpo: &str| {
            format!("{}; {contact} {}; {dpo} {}", controller.name, controller.contact, controller.dpo_contact)
        };
        (
            json!({ "name": controller.name, "contact": controller.contact, "dpo": controller.dpo_contact }),
            line("privacycontact", "functionaris gegevensbescherming"),
            line("privacy contact", "data protection officer"),
        )
    }

    fn processors(&self) -> (Value, String, String) {
        let configured = &self.deployment.controller.processors;
        let tools: BTreeSet<&str> = self.clients.iter().map(|client| client.organisation.as_str()).collect();
        let describe = |processor: &Processor, agreement: &str| {
            format!(
                "{} — {}, {} ({agreement} {})",
                processor.name, processor.service, processor.location, processor.agreement
            )
        };
        let nl: Vec<String> =
            configured.iter().map(|processor| describe(processor, "verwerkersovereenkomst:")).collect();
        let en: Vec<String> = configured.iter().map(|processor| describe(processor, "processing agreement:")).collect();
        let tools_list = tools.iter().copied().collect::<Vec<_>>().join(", ");
        let (none_nl, none_en) = ("geen verwerkers ingesteld", "no processors configured");
        (
            json!({ "processors": configured, "tool_organisations": tools }),
            format!(
                "{}\nOrganisaties achter de geregistreerde applicaties: {}",
                if nl.is_empty() { none_nl.to_owned() } else { nl.join("\n") },
                if tools_list.is_empty() { "—" } else { &tools_list }
            ),
            format!(
                "{}\nOrganisations behind the registered tools: {}",
                if en.is_empty() { none_en.to_owned() } else { en.join("\n") },
                if tools_list.is_empty() { "—" } else { &tools_list }
            ),
        )
    }

    /// The active policies that touch students' data, with the roles they look for.
    fn roles(&self) -> (Value, String, String) {
        const ON_STUDENTS_DATA: [&str; 12] = [
            "ReadRecords",
            "ReadAggregates",
            "ViewProposal",
            "DecideProposal",
            "ManagePurpose",
            "ViewConsentSummary",
            "RecordConsentOnBehalf",
            "EraseSubject",
            "HandleDataRequest",
            "ViewOwnData",
            "ExportOwnData",
            "ManageOwnConsent",
        ];
        let grants: Vec<_> = self
            .engine
            .grants()
            .into_iter()
            .filter(|grant| grant.actions.iter().any(|action| ON_STUDENTS_DATA.contains(&action.as_str())))
            .collect();
        let line = |grant: &crate::policy::Grant, permit: &str, forbid: &str, registered: &str| {
            let who = if grant.roles.is_empty() {
                if grant.principal == "Client" { registered.to_owned() } else { grant.principal.clone() }
            } else {
                grant.roles.join(", ")
            };
            format!(
                "{} `{}`: {who} — {}",
                if grant.permits { permit } else { forbid },
                grant.policy,
                grant.actions.join(", ")
            )
        };
        let nl: Vec<String> =
            grants.iter().map(|grant| line(grant, "toegestaan", "verboden", "geregistreerde applicaties")).collect();
        let en: Vec<String> = grants.iter().map(|grant| line(grant, "permit", "forbid", "registered tools")).collect();
        (json!(grants), nl.join("\n"), en.join("\n"))
    }

    fn storage(&self) -> (Value, String, String) {
        let deployment = self.deployment;
        let (nl, en) = if deployment.postgres {
            (
                format!("PostgreSQL-database op {}, beheerd door de instelling", deployment.store),
                format!("PostgreSQL database at {}, run by the institution", deployment.store),
            )
        } else {
            (
                format!("SQLite-database in de datamap {} op de server van de instelling", deployment.store),
                format!("SQLite database in the data directory {} on the institution's server", deployment.store),
            )
        };
        (json!({ "postgres": deployment.postgres, "store": deployment.store }), nl, en)
    }

    fn security(&self) -> (Value, String, String) {
        let deployment = self.deployment;
        let policies = self.engine.policy_files().len();
        let login_nl = if deployment.identity_providers.is_empty() {
            "inloggen alleen met tokens van de instelling".to_owned()
        } else {
            format!("inloggen via OpenID Connect ({})", deployment.identity_providers.join(", "))
        };
        let login_en = if deployment.identity_providers.is_empty() {
            "sign-in only with the institution's tokens".to_owned()
        } else {
            format!("sign-in through OpenID Connect ({})", deployment.identity_providers.join(", "))
        };
        let minimise = |nl: bool| match (deployment.minimising_ingest, nl) {
            (true, true) => "bij ontvangst wordt alleen bewaard wat een geregistreerd doel leest",
            (true, false) => "on receipt only what a registered purpose reads is stored",
            (false, true) => "ontvangen berichten worden volledig bewaard en bij verstrekking geminimaliseerd",
            (false, false) => "statements are kept as received and minimised when disclosed",
        };
        let nl = [
            format!("elke toegang wordt beslist door {policies} Cedar-regels en gelogd"),
            "pseudoniemen per doel en per afnemer (HMAC-SHA256 met een geheime sleutel); identiteitsgegevens verlaten Consentry nooit".to_owned(),
            minimise(true).to_owned(),
            format!(
                "manipulatiebestendig auditlogboek (hashketen, Ed25519-ondertekende controlepunten, met age versleutelde exports), {} dagen bewaard",
                deployment.audit_retention_days
            ),
            format!("bewaartermijnen elke {} minuten gehandhaafd; verwijderen overschrijft de gegevens", deployment.retention_sweep_minutes),
            format!("{login_nl}; sessies verlopen na {} minuten zonder activiteit", deployment.session_idle_minutes),
        ];
        let en = [
            format!("every access is decided by {policies} Cedar policies and logged"),
            "pseudonyms per purpose and per recipient (HMAC-SHA256 with a secret key); identity data never leaves Consentry".to_owned(),
            minimise(false).to_owned(),
            format!(
                "tamper-evident audit log (hash chain, Ed25519-signed checkpoints, exports encrypted with age), kept {} days",
                deployment.audit_retention_days
            ),
            format!("retention enforced every {} minutes; deletion overwrites the data", deployment.retention_sweep_minutes),
            format!("{login_en}; sessions end after {} idle minutes", deployment.session_idle_minutes),
        ];
        (
            json!({
                "policies": policies,
                "minimising_ingest": deployment.minimising_ingest,
                "audit_retention_days": deployment.audit_retention_days,
                "retention_sweep_minutes": deployment.retention_sweep_minutes,
                "identity_providers": deployment.identity_providers,
                "session_idle_minutes": deployment.session_idle_minutes,
            }),
            nl.join("\n"),
            en.join("\n"),
        )
    }
}

/// A legal basis in plain words.
fn basis_words(basis: crate::purposes::LegalBasis) -> (&'static str, &'static str) {
    use crate::purposes::LegalBasis::*;
    match basis {
        Consent => ("toestemming", "consent"),
        Contract => ("uitvoering van een overeenkomst", "performance of a contract"),
        LegalObligation => ("wettelijke verplichting", "legal obligation"),
        VitalInterest => ("vitaal belang", "vital interest"),
        PublicTask => ("taak van algemeen belang (onderwijstaak)", "public task (the educational task)"),
        LegitimateInterest => ("gerechtvaardigd belang", "legitimate interest"),
    }
}
