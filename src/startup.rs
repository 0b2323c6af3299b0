//! The composition root: from a configuration to a running application.

use std::sync::Arc;

use crate::audit::Checkpointer;
use crate::auth::{AuthError, DEMO_ISSUER, DemoIssuer, TokenVerifier};
use crate::catalogue::{Catalogue, DuplicateField};
use crate::config::{Config, InstitutionConfig};
use crate::datadir::{DataDir, DataDirError};
use crate::db::{self, Db, DbError};
use crate::demo::{self, DemoMode, Institution, SeedError, SeedOutcome};
use crate::policy::{Gate, InvalidPolicies, PolicyEngine};
use crate::server::{AppState, Application, Metrics, ServerError};
use crate::timestamp::Clock;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error(transparent)]
    Catalogue(#[from] DuplicateField),
    #[error(transparent)]
    Policies(#[from] InvalidPolicies),
    #[error("the activated policy set cannot be used: {0}")]
    ActivatedPolicies(#[from] crate::policy::PolicyError),
    #[error("token verification could not be set up: {0}")]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    GatewayKeys(#[from] crate::gateway::KeyError),
    #[error("a DPIA template is invalid: {0}")]
    DpiaTemplate(#[from] crate::dpia::TemplateError),
}

/// Opens the configured store (SQLite in the data directory unless a URL is given) and
/// brings its schema up to date.
pub async fn open_store(config: &Config, data_dir: &DataDir) -> Result<Db, StartError> {
    let url = match &config.database_url {
        Some(url) => url.clone(),
        None => db::sqlite_url(&data_dir.sqlite_file()?),
    };
    let db = Db::connect(&url, config.database.max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

/// Prepares everything `serve` needs: keys, store, demo institution, token verification,
/// and a bound listener.
pub async fn build(config: &Config) -> Result<Application, StartError> {
    build_with_clock(config, Clock::default()).await
}

/// [`build`], with the clock everything acts at (tests move theirs).
pub async fn build_with_clock(config: &Config, clock: Clock) -> Result<Application, StartError> {
    let data_dir = DataDir::open(&config.data_dir)?;
    let keys = data_dir.load_keys(config.demo)?;
    let db = open_store(config, &data_dir).await?;
    tracing::info!(backend = db.backend().name(), data_dir = %data_dir.path().display(), "store ready");

    let files = Arc::new(load_policies(config)?);
    let active = crate::policy::activated_engine(&db, files.schema_text()).await?;
    let gate = Gate::new(files, active.map(Arc::new), db.clone());
    let institution = controller(config, keys.demo_issuer.is_some());
    let dpia = workbench(config, institution.clone())?;
    let demo = match &keys.demo_issuer {
        Some(key) => {
            let institution = Institution::generate(config.demo_scale);
            match demo::seed(&db, &institution, &dpia, &gate.engine()).await? {
                SeedOutcome::Seeded { students, records } => {
                    tracing::info!(students, records, "seeded the demo institution Hogeschool Demo");
                }
                SeedOutcome::AlreadySeeded { scale } => {
                    tracing::info!(scale, "the demo institution was seeded before; leaving it as it is");
                }
            }
            tracing::warn!("DEMO MODE: this server issues tokens for anyone who asks; never use it with real data");
            Some(Arc::new(DemoMode { issuer: DemoIssuer::new(key, &config.auth.audience), institution }))
        }
        None => None,
    };
    let verifier = TokenVerifier::new(&config.auth, demo.as_ref().map(|demo| (DEMO_ISSUER, demo.issuer.jwks())))?;
    let audit_key = Arc::new(keys.audit_signing);
    let checkpointer = Checkpointer { db: db.clone(), key: Arc::clone(&audit_key), config: config.audit.clone() };
    let catalogue = Catalogue::new(&config.catalogue.fields)?;
    let sweeper = crate::retention::Sweeper {
        db: db.clone(),
        clock: clock.clone(),
        every: std::time::Duration::from_secs(config.retention.sweep_every_minutes.max(1).saturating_mul(60)),
        batch: config.retention.sweep_batch,
    };
    let catalogue = Arc::new(catalogue);
    let ingest = crate::ingest::Settings::new(Arc::clone(&catalogue), &config.ingest);
    let keys = Arc::new(crate::gateway::Keys::new(&keys.pseudonym_pepper)?);
    let scheduler = (config.analytics.run_every_hours > 0).then(|| crate::analytics::Scheduler {
        db: db.clone(),
        gate: gate.clone(),
        keys: Arc::clone(&keys),
        clock: clock.clone(),
        every: std::time::Duration::from_secs(config.analytics.run_every_hours.saturating_mul(3600)),
        window_weeks: config.analytics.window_weeks.max(1),
    });
    let sessions = crate::auth::SessionStore {
        db: db.clone(),
        lifetimes: crate::auth::sessions::Lifetimes {
            idle_seconds: config.sessions.idle_minutes.max(1) * 60,
            absolute_seconds: config.sessions.absolute_hours.max(1) * 3600,
        },
        clock: clock.clone(),
        // Browsers keep Secure cookies from plain HTTP only on loopback; a demo there
        // runs without TLS.
        secure_cookies: !(demo.is_some() && config.addr.ip().is_loopback()),
    };
    let state = AppState {
        db,
        verifier: Arc::new(verifier),
        demo,
        metrics: Metrics::install(),
        audit_key,
        catalogue,
        gate,
        ingest,
        clock,
        sessions,
        oidc_providers: Arc::new(config.auth.providers.clone()),
        oidc: Arc::new(crate::auth::oidc::Providers::default()),
        gateway: keys,
        institution: Arc::new(institution),
        dpia,
    };
    let mut application = Application::build(config.addr, state, &config.http).await?;
    application.spawn_background(|stop| checkpointer.run(stop));
    application.spawn_background(|stop| sweeper.run(stop));
    if let Some(scheduler) = scheduler {
        application.spawn_background(|stop| scheduler.run(stop));
    }
    Ok(application)
}

/// The controller receipts and DPIAs name: the configured institution, or Hogeschool
/// Demo on a demo server that names none.
pub fn controller(config: &Config, demo: bool) -> InstitutionConfig {
    if demo && config.institution.name.is_empty() { demo::institution_contact() } else { config.institution.clone() }
}

fn workbench(config: &Config, controller: InstitutionConfig) -> Result<crate::dpia::Workbench, StartError> {
    let deployment = crate::dpia::Deployment::from_config(config, controller);
    Ok(crate::dpia::Workbench::new(config.dpia_templates_dir.as_deref(), deployment)?)
}

/// DPIA templates and the policies deciding now, as `serve` would have them, for the
/// command line.
pub async fn dpia_context(
    config: &Config,
    db: &Db,
    demo: bool,
) -> Result<(crate::dpia::Workbench, Arc<PolicyEngine>), StartError> {
    let files = load_policies(config)?;
    let engine = match crate::policy::activated_engine(db, files.schema_text()).await? {
        Some(active) => active,
        None => files,
    };
    Ok((workbench(config, controller(config, demo))?, Arc::new(engine)))
}

/// The configured policy folder, or the shipped policies; the server does not start on an
/// invalid set.
pub fn load_policies(config: &Config) -> Result<PolicyEngine, InvalidPolicies> {
    match &config.policies_dir {
        Some(dir) => PolicyEngine::from_dir(dir),
        None => PolicyEngine::shipped(),
    }
}
