//! Configuration: one typed struct, loaded once at start-up.
//!
//! Sources, later wins: built-in defaults, `consentry.toml` in the data directory,
//! `CONSENTRY_*` environment variables (nested keys with `__`, e.g.
//! `CONSENTRY_AUTH__ISSUER`), then command-line flags.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::Role;

/// The name of the optional configuration file inside the data directory.
pub const CONFIG_FILE: &str = "consentry.toml";

const ENV_PREFIX: &str = "CONSENTRY_";

/// Everything Consentry can be configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// Resolved before the file is read, so it cannot come from the file itself.
    #[serde(skip)]
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; unset means SQLite inside the data directory.
    pub database_url: Option<DatabaseUrl>,
    /// Seed and serve the synthetic demo institution, with its own token issuer.
    pub demo: bool,
    /// Size of the demo institution relative to the documented one (2,000 students).
    pub demo_scale: f64,
    /// Log filter in `tracing` syntax, e.g. `info` or `consentry=debug,info`.
    pub log: String,
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
    pub retention: RetentionConfig,
    pub analytics: AnalyticsConfig,
    pub sessions: SessionsConfig,
    pub institution: InstitutionConfig,
    pub catalogue: CatalogueConfig,
    /// A folder with `schema.cedarschema` and `*.cedar` policies to use instead of the
    /// shipped ones.
    pub policies_dir: Option<PathBuf>,
    /// A folder of the institution's own DPIA templates (`*.toml`), beside the shipped ones.
    pub dpia_templates_dir: Option<PathBuf>,
    pub ingest: IngestConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            demo: false,
            demo_scale: 1.0,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
            retention: RetentionConfig::default(),
            analytics: AnalyticsConfig::default(),
            sessions: SessionsConfig::default(),
            institution: InstitutionConfig::default(),
            catalogue: CatalogueConfig::default(),
            policies_dir: None,
            dpia_templates_dir: None,
            ingest: IngestConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// How long a request may take to produce its response head.
    pub request_timeout_seconds: u64,
    /// Largest request body accepted (xAPI batches are the largest callers).
    pub body_limit_bytes: usize,
    /// How long in-flight requests may run on after SIGTERM before the process exits.
    pub shutdown_grace_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { request_timeout_seconds: 30, body_limit_bytes: 10 * 1024 * 1024, shutdown_grace_seconds: 30 }
    }
}

impl HttpConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 10 }
    }
}

/// Which bearer tokens Consentry accepts from API callers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The `iss` of the institution's token issuer; unset accepts no outside tokens.
    pub issuer: Option<String>,
    /// Where the issuer publishes its keys; unset means OpenID Connect discovery on `issuer`.
    pub jwks_url: Option<String>,
    /// The `aud` every token must carry.
    pub audience: String,
    /// The claim that lists the caller's roles.
    pub roles_claim: String,
    /// Maps values of the roles claim (e.g. `urn:mace:…:staff-privacy`) to Consentry roles.
    pub role_map: BTreeMap<String, Role>,
    /// Tolerated clock difference for `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// Least time between two fetches of the issuer's keys when a token names an unknown key.
    pub jwks_refetch_min_seconds: u64,
    /// Identity providers people sign in with (OpenID Connect).
    pub providers: Vec<OidcProvider>,
}

/// An OpenID Connect provider people sign in with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// The name in `/auth/login?provider=…`.
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This server's `/auth/callback`, as registered at the provider.
    pub redirect_url: String,
    /// Where the provider sends people after signing out there (RP-initiated logout).
    #[serde(default)]
    pub post_logout_redirect_url: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names a staff member's login id here.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim with a student's number, which links them to their record; never the name.
    #[serde(default)]
    pub student_number_claim: Option<String>,
    /// The claim listing affiliations or groups, and what each value means here.
    #[serde(default)]
    pub roles_claim: Option<String>,
    #[serde(default)]
    pub role_map: BTreeMap<String, Role>,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".to_owned()]
}

fn default_user_claim() -> String {
    "preferred_username".to_owned()
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            jwks_url: None,
            audience: "consentry".to_owned(),
            roles_claim: "roles".to_owned(),
            role_map: BTreeMap::new(),
            leeway_seconds: 60,
            providers: Vec::new(),
            jwks_refetch_min_seconds: 10,
        }
    }
}

/// How the audit log is pinned and kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Sign a checkpoint after this many events…
    pub checkpoint_every_events: i64,
    /// …or after this many minutes, whichever comes first.
    pub checkpoint_every_minutes: u64,
    /// How long events are kept; at least 183 days (AI Act Art. 26(6): six months).
    pub retention_days: u64,
}

/// How often expired records are swept.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Minutes between sweeps (the first one is one interval after start).
    pub sweep_every_minutes: u64,
    /// Records deleted per transaction: small enough that ingest and reads never wait long.
    pub sweep_batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { sweep_every_minutes: 60, sweep_batch: 1_000 }
    }
}

/// How long a signed-in person's session lasts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Ends after this long without a request.
    pub idle_minutes: i64,
    /// Ends this long after sign-in, whatever happens.
    pub absolute_hours: i64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self { idle_minutes: 30, absolute_hours: 12 }
    }
}

/// When the analytics runs by itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Hours between scheduled runs; 0 runs only on demand.
    pub run_every_hours: u64,
    /// How many weeks back a scheduled run looks.
    pub window_weeks: i64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self { run_every_hours: 24, window_weeks: 20 }
    }
}

/// The controller, as consent receipts and DPIAs name it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstitutionConfig {
    pub name: String,
    /// Where students and auditors reach the institution about privacy.
    pub contact: String,
    /// The data protection officer's address.
    pub dpo_contact: String,
    /// Organisations that process data for the institution (hosting, support), as DPIAs
    /// list them.
    pub processors: Vec<Processor>,
}

/// A processor (GDPR Art. 28) and the agreement it works under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    pub name: String,
    /// What it does for the institution.
    pub service: String,
    /// Where it processes the data.
    pub location: String,
    /// The processing agreement, e.g. its title and date.
    pub agreement: String,
}

/// Fields the institution stores beyond the built-in catalogue.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogueConfig {
    pub fields: Vec<crate::catalogue::Field>,
}

/// How incoming data is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    pub mode: IngestMode,
    /// Requests per second each source may make on average…
    pub requests_per_second: u32,
    /// …and in a burst.
    pub burst: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self { mode: IngestMode::default(), requests_per_second: 50, burst: 100 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestMode {
    /// Keep only the fields some active or draft purpose reads (GDPR Art. 5(1)(c)).
    #[default]
    Minimise,
    /// Keep statements as received, for a spec-exact LRS; minimise only when reading.
    Conformant,
}

/// The AI Act's floor for keeping logs of high-risk systems: six months.
pub const MIN_AUDIT_RETENTION_DAYS: u64 = 183;

impl Default for AuditConfig {
    fn default() -> Self {
        Self { checkpoint_every_events: 1000, checkpoint_every_minutes: 10, retention_days: 5 * 365 + 1 }
    }
}

/// A database URL, which may carry a password: it prints without it.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: String) -> Self {
        Self(SecretString::from(url))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match reqwest::Url::parse(self.expose()) {
            Ok(mut url) => {
                if url.password().is_some() {
                    // Setting a password only fails for URLs that cannot carry one.
                    let _ = url.set_password(Some("***"));
                }
                f.write_str(url.as_str())
            }
            Err(_) => f.write_str("<unparsable database URL>"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Values given on the command line; they win over every other source.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the configuration for the given data directory flag (or its environment
    /// variable, or `./data`), reading `consentry.toml` from that directory if present.
    pub fn load(data_dir_flag: Option<PathBuf>, overrides: Overrides) -> Result<Self, ConfigError> {
        let data_dir = data_dir_flag
            .or_else(|| std::env::var_os(format!("{ENV_PREFIX}DATA_DIR")).map(PathBuf::from))
            .unwrap_or_else(|| Config::default().data_dir);
        Self::load_from(&data_dir, Env::prefixed(ENV_PREFIX), overrides)
    }

    fn load_from(data_dir: &Path, env: Env, overrides: Overrides) -> Result<Self, ConfigError> {
        let env = env
            // The data directory was resolved above; test-harness variables are not settings.
            .filter(|key| key != "data_dir" && !key.as_str().to_ascii_lowercase().starts_with("test_"))
            .split("__");
        let file = data_dir.join(CONFIG_FILE);
        let mut figment = Figment::new();
        if file.exists() {
            figment = figment.merge(Toml::file_exact(file));
        }
        let mut config: Config = figment
            .merge(env)
            .merge(Serialized::globals(overrides))
            .extract()
            .map_err(|error| ConfigError::Invalid(describe_figment_error(error)))?;
        config.data_dir = data_dir.to_path_buf();
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: &str| Err(ConfigError::Invalid(format!("key `{key}`: {why}")));
        if !(self.demo_scale > 0.0 && self.demo_scale <= 1000.0) {
            return invalid("demo_scale", "must be greater than 0 and at most 1000");
        }
        if self.http.body_limit_bytes == 0 {
            return invalid("http.body_limit_bytes", "must be greater than 0");
        }
        if self.http.request_timeout_seconds == 0 {
            return invalid("http.request_timeout_seconds", "must be greater than 0");
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be greater than 0");
        }
        if self.auth.audience.trim().is_empty() {
            return invalid("auth.audience", "must not be empty");
        }
        if self.ingest.requests_per_second == 0 || self.ingest.burst == 0 {
            return invalid("ingest.requests_per_second", "the rate and the burst must be at least 1");
        }
        if self.audit.retention_days < MIN_AUDIT_RETENTION_DAYS {
            return invalid("audit.retention_days", "must be at least 183 (six months, AI Act Art. 26(6))");
        }
        if self.audit.checkpoint_every_events < 1 || self.audit.checkpoint_every_minutes < 1 {
            return invalid("audit.checkpoint_every_events", "checkpoint intervals must be at least 1");
        }
        if self.auth.jwks_url.is_some() && self.auth.issuer.is_none() {
            return invalid("auth.jwks_url", "needs `auth.issuer` as well");
        }
        if let Some(url) = &self.database_url {
            let scheme = url.expose().split(':').next().unwrap_or_default();
            if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
                return invalid("database_url", "must start with sqlite:// or postgres://");
            }
        }
        Ok(())
    }
}

/// Figment reports the failing key and the source it came from; keep both, in one line.
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|error| {
            let key = error.path.join(".");
            let source = error
                .metadata
                .as_ref()
                .map(|metadata| match &metadata.source {
                    Some(source) => format!(" (from {source})"),
                    None => format!(" (from {})", metadata.name),
                })
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", error.kind)
            } else {
                format!("key `{key}`: {}{source}", error.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads with a prefix no variable carries, so that tests do not see the real environment.
    fn load(dir: &Path, toml: Option<&str>, overrides: Overrides) -> Result<Config, ConfigError> {
        if let Some(toml) = toml {
            std::fs::write(dir.join(CONFIG_FILE), toml).unwrap();
        }
        Config::load_from(dir, Env::prefixed("CONSENTRY_UNIT_TEST_NOTHING_"), overrides)
    }

    #[test]
    fn defaults_apply_without_file_or_environment() {
        let dir = tempfile::tempdir().unwrap();
        let config = load(dir.path(), None, Overrides::default()).unwrap();
        assert_eq!(config.addr.port(), 8080);
        assert_eq!(config.auth.audience, "consentry");
        assert_eq!(config.data_dir, dir.path());
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = Overrides { addr: Some("127.0.0.1:9000".parse().unwrap()), ..Overrides::default() };
        let config = load(dir.path(), Some("addr = \"127.0.0.1:7000\"\ndemo = true\n"), overrides).unwrap();
        assert_eq!(config.addr.port(), 9000);
        assert!(config.demo);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(dir.path(), Some("[http]\nbody_limit = 5\n"), Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("body_limit"), "{error}");
    }

    #[test]
    fn a_wrongly_typed_value_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let error =
            load(dir.path(), Some("[http]\nrequest_timeout_seconds = \"soon\"\n"), Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("http.request_timeout_seconds"), "{error}");
    }

    #[test]
    fn an_unknown_role_in_the_role_map_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "[auth.role_map]\n\"staff\" = \"overlord\"\n";
        let error = load(dir.path(), Some(toml), Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("auth.role_map"), "{error}");
    }

    #[test]
    fn audit_retention_below_six_months_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = load(dir.path(), Some("[audit]\nretention_days = 30\n"), Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("audit.retention_days"), "{error}");
    }

    #[test]
    fn database_url_prints_without_its_password() {
        let url = DatabaseUrl::new("postgres://consentry:hunter2@127.0.0.1/consentry".to_owned());
        assert!(!format!("{url} {url:?}").contains("hunter2"));
    }

    #[test]
    fn an_unsupported_database_scheme_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = Overrides { database_url: Some("mysql://x".to_owned()), ..Overrides::default() };
        let error = load(dir.path(), None, overrides).unwrap_err();
        assert!(error.to_string().contains("database_url"), "{error}");
    }
}
