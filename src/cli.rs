//! The command line: `consentry serve`, `migrate`, `openapi`, `demo users`, `dev-token`.
//!
//! Exit codes: 0 success, 2 bad usage or bad configuration (the message names the flag,
//! key or file at fault), 1 any other failure.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::audit;
use crate::auth::{DemoIssuer, Role};
use crate::config::{Config, ConfigError, LogFormat, Overrides};
use crate::consent::{self, ImportError};
use crate::datadir::{DataDir, DataDirError};
use crate::demo::Institution;
use crate::policy::{self, PolicyEngine};
use crate::startup::{self, StartError};
use crate::timestamp::Timestamp;

#[derive(Debug, Parser)]
#[command(
    name = "consentry",
    version,
    about = "Consentry: the consent and privacy gateway between learning data and analytics",
    long_about = "Consentry stores learning data only for registered purposes, lets analytics tools \
                  read it only as those purposes, students' consent and retention allow, and logs \
                  every decision.\n\nSettings come from consentry.toml in the data directory, then \
                  CONSENTRY_* environment variables (e.g. CONSENTRY_DATABASE_URL, \
                  CONSENTRY_AUTH__ISSUER), then the flags below; later wins."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Consentry server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit (`serve` does this too).
    Migrate(StoreArgs),
    /// Print the OpenAPI description of the HTTP API as JSON.
    Openapi,
    /// The demo institution "Hogeschool Demo".
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Print a bearer token for a demo person or client (demo data directories only).
    DevToken(DevTokenArgs),
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check Cedar policies: validate them against their schema, or run their test tables.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Import data recorded elsewhere.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Retention: delete what has expired.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Data protection impact assessments.
    Dpia {
        #[command(subcommand)]
        command: DpiaCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DpiaCommand {
    /// List every DPIA with its status and the purposes it covers.
    List(StoreArgs),
    /// Print a DPIA as Markdown or printable HTML, with every section and the risk matrix.
    Render {
        #[command(flatten)]
        store: StoreArgs,
        /// The DPIA's id (`consentry dpia list` shows them)
        #[arg(value_name = "ID")]
        id: String,
        #[arg(long, value_enum, default_value = "md")]
        format: crate::dpia::Format,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// Delete every record whose retention has ended (recomputing expiries first if the
    /// register changed), in small batches, and report per category; a sweep that was
    /// interrupted is finished.
    Sweep {
        #[command(flatten)]
        store: StoreArgs,
        /// Only report what a sweep would delete
        #[arg(long)]
        dry_run: bool,
        /// Sweep as if it were this moment (RFC 3339 or YYYY-MM-DD): what will be deleted by then?
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate `schema.cedarschema` and every `*.cedar` file in DIR, in strict mode.
    Validate {
        /// Folder with the schema and policies
        #[arg(value_name = "DIR", default_value = "policies")]
        dir: PathBuf,
    },
    /// Run the test tables in DIR/tests (`*.json`, sharing `entities.json`) against DIR's policies.
    Test {
        /// Folder with the schema, policies and a `tests` folder
        #[arg(value_name = "DIR", default_value = "policies")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Import enrolments and grades from a OneRoster 1.1 CSV export folder, all or nothing;
    /// importing the same export again changes nothing.
    Oneroster {
        #[command(flatten)]
        store: StoreArgs,
        /// The registered source the export comes from, e.g. demo-sis
        #[arg(long, value_name = "SOURCE")]
        source: String,
        /// The folder with users.csv, courses.csv, classes.csv, enrollments.csv, lineItems.csv, results.csv
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Import questionnaire answers from CSV (instrument,item,student_number,score,answered_at),
    /// all or nothing; importing the same file again changes nothing.
    Survey {
        #[command(flatten)]
        store: StoreArgs,
        /// The registered source the answers come from, e.g. demo-survey
        #[arg(long, value_name = "SOURCE")]
        source: String,
        /// The CSV file, with a header row
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Backfill xAPI statements from a JSON Lines file, one statement per line, all or nothing.
    Xapi {
        #[command(flatten)]
        store: StoreArgs,
        /// The registered source the statements come from, e.g. demo-lms
        #[arg(long, value_name = "SOURCE")]
        source: String,
        /// The JSON Lines file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Import students' choices from CSV, all or nothing. Columns: student_number, purpose,
    /// event (given, withdrawn, objected, objection_lifted), recorded_at (RFC 3339), and
    /// optionally method (paper, phone, web), language (nl, en), notice_version.
    Consents {
        #[command(flatten)]
        store: StoreArgs,
        /// The CSV file, with a header row
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and check every signature, of the live log or of an
    /// export; exits 1 and names the first bad seq when something was changed.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
struct AuditVerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Verify this export file instead of the live log
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
    /// age identity file that decrypts an encrypted export
    #[arg(long, value_name = "KEYFILE", requires = "export")]
    identity: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// Folder for the SQLite database, generated keys and consentry.toml [default: ./data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use this database instead of SQLite in the data directory, e.g. postgres://user@host/consentry
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address and port to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "IP:PORT")]
    addr: Option<SocketAddr>,
    /// Seed the synthetic demo institution and sign tokens for its people. Never with real data.
    #[arg(long)]
    demo: bool,
    /// Log as human-readable text or as JSON lines
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// List the demo people and clients with their ids and roles.
    Users {
        /// Folder whose consentry.toml sets the demo's size [default: ./data]
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Only people with this role
        #[arg(long, value_enum)]
        role: Option<Role>,
    },
}

#[derive(Debug, Args)]
struct DevTokenArgs {
    /// The demo data directory (one `serve --demo` has used) [default: ./data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The demo person's or client's id, e.g. s0001, mentor01, po1, demo-dashboard
    #[arg(long, value_name = "ID")]
    sub: String,
    /// Put this role in the token instead of the person's own (repeat for several)
    #[arg(long, value_enum)]
    role: Vec<Role>,
    /// How long the token is valid, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
}

impl From<DataDirError> for CliError {
    fn from(error: DataDirError) -> Self {
        CliError::Start(StartError::DataDir(error))
    }
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => 2,
            CliError::Start(StartError::DataDir(error)) if error.is_configuration() => 2,
            CliError::Start(StartError::Catalogue(_) | StartError::Policies(_) | StartError::DpiaTemplate(_))
            | CliError::Import(ImportError::Invalid(_)) => 2,
            CliError::Ingest(crate::ingest::IngestError::Lines(_) | crate::ingest::IngestError::UnknownSource(_)) => 2,
            CliError::Start(_) | CliError::Failed(_) | CliError::Import(_) | CliError::Ingest(_) => 1,
        }
    }
}

/// Parses the command line, runs the command and returns its exit code.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Openapi => print_openapi(),
        Command::Demo { command: DemoCommand::Users { data_dir, role } } => demo_users(data_dir, role),
        Command::DevToken(args) => dev_token(args),
        Command::Audit { command: AuditCommand::Verify(args) } => verify_audit(args).await,
        Command::Retention { command: RetentionCommand::Sweep { store, dry_run, as_of } } => {
            sweep_retention(store, dry_run, as_of.as_deref()).await
        }
        Command::Import { command: ImportCommand::Consents { store, file } } => import_consent_file(store, &file).await,
        Command::Import { command: ImportCommand::Xapi { store, source, file } } => {
            import_xapi_file(store, &source, &file).await
        }
        Command::Import { command: ImportCommand::Survey { store, source, file } } => {
            import_survey_file(store, &source, &file).await
        }
        Command::Import { command: ImportCommand::Oneroster { store, source, dir } } => {
            import_oneroster_dir(store, &source, &dir).await
        }
        Command::Policy { command: PolicyCommand::Validate { dir } } => validate_policies(&dir).map(|_| ()),
        Command::Policy { command: PolicyCommand::Test { dir } } => test_policies(&dir),
        Command::Dpia { command: DpiaCommand::List(store) } => list_dpias(store).await,
        Command::Dpia { command: DpiaCommand::Render { store, id, format } } => render_dpia(store, &id, format).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("consentry: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let overrides = Overrides {
        addr: args.addr,
        database_url: args.store.database_url,
        demo: args.demo.then_some(true),
        log_format: args.log_format,
    };
    let config = Config::load(args.store.data_dir, overrides)?;
    init_logging(&config)?;
    let application = startup::build(&config).await?;
    let addr = application.local_addr();
    tracing::info!(%addr, "listening; API description at http://{addr}/api/docs");
    application.run_until(crate::server::shutdown_signal()).await.map_err(StartError::from)?;
    Ok(())
}

async fn migrate(args: StoreArgs) -> Result<(), CliError> {
    let overrides = Overrides { database_url: args.database_url, ..Overrides::default() };
    let config = Config::load(args.data_dir, overrides)?;
    init_logging(&config)?;
    let data_dir = DataDir::open(&config.data_dir)?;
    let db = startup::open_store(&config, &data_dir).await?;
    db.ready().await.map_err(StartError::from)?;
    println!("the {} database is up to date", db.backend().name());
    db.close().await;
    Ok(())
}

fn print_openapi() -> Result<(), CliError> {
    let json = crate::server::openapi().to_pretty_json().map_err(|error| CliError::Failed(error.to_string()))?;
    write_stdout(&format!("{json}\n"))
}

fn demo_users(data_dir: Option<PathBuf>, role: Option<Role>) -> Result<(), CliError> {
    let config = Config::load(data_dir, Overrides::default())?;
    let institution = Institution::generate(config.demo_scale);
    let mut out = String::from("ID\tKIND\tROLES\tNAME\tAFFILIATION\n");
    for principal in institution.principals() {
        if role.is_some_and(|role| !principal.roles.contains(&role)) {
            continue;
        }
        let roles: Vec<&str> = principal.roles.iter().map(|role| role.as_str()).collect();
        let kind = match principal.kind {
            crate::auth::PrincipalKind::User => "user",
            crate::auth::PrincipalKind::Client => "client",
        };
        out.push_str(&format!(
            "{}\t{kind}\t{}\t{}\t{}\n",
            principal.id,
            roles.join(","),
            principal.name,
            principal.affiliation
        ));
    }
    write_stdout(&out)
}

fn dev_token(args: DevTokenArgs) -> Result<(), CliError> {
    let config = Config::load(args.data_dir, Overrides::default())?;
    let data_dir = DataDir::open_existing(&config.data_dir)?;
    let key = data_dir.demo_issuer_key()?;
    let principal = Institution::generate(config.demo_scale).principal(&args.sub).ok_or_else(|| {
        CliError::Usage(format!(
            "--sub: no demo person or client has the id `{}`; `consentry demo users` lists them",
            args.sub
        ))
    })?;
    let roles = if args.role.is_empty() { principal.roles } else { args.role };
    let token = DemoIssuer::new(&key, &config.auth.audience)
        .mint(&principal.id, principal.kind, &roles, Duration::from_secs(args.expires_in))
        .map_err(|error| CliError::Failed(error.to_string()))?;
    write_stdout(&format!("{token}\n"))
}

async fn verify_audit(args: AuditVerifyArgs) -> Result<(), CliError> {
    let overrides = Overrides { database_url: args.store.database_url, ..Overrides::default() };
    let config = Config::load(args.store.data_dir, overrides)?;
    let (report, key_id) = match &args.export {
        Some(path) => verify_export_file(&config, path, args.identity.as_deref())?,
        None => {
            init_logging(&config)?;
            let data_dir = DataDir::open(&config.data_dir)?;
            let key = data_dir.load_keys(false)?.audit_signing;
            let db = startup::open_store(&config, &data_dir).await?;
            let report = audit::verify_store(&db, key.public_key())
                .await
                .map_err(|error| CliError::Failed(error.to_string()))?;
            db.close().await;
            (report, key.key_id())
        }
    };
    let span = match (report.first_seq, report.last_seq) {
        (Some(first), Some(last)) => format!(" (seq {first} to {last})"),
        _ => String::new(),
    };
    let summary = format!("{} events{span}, {} checkpoints, audit key {key_id}", report.events, report.checkpoints);
    match report.tampering {
        None => write_stdout(&format!("verified: {summary}\n")),
        Some(tampering) => {
            Err(CliError::Failed(format!("TAMPERED at seq {}: {} ({summary})", tampering.seq, tampering.problem)))
        }
    }
}

/// Verifies an export file, decrypting it first when it is age-encrypted, against the
/// data directory's audit key when there is one there.
fn verify_export_file(
    config: &Config,
    path: &Path,
    identity: Option<&Path>,
) -> Result<(audit::Report, String), CliError> {
    let open = |path: &Path| {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|error| CliError::Usage(format!("{}: {error}", path.display())))
    };
    let mut file = open(path)?;
    let encrypted = audit::is_encrypted(file.fill_buf().map_err(|error| CliError::Failed(error.to_string()))?);
    let pinned_key = DataDir::open_existing(&config.data_dir).ok().and_then(|data_dir| data_dir.audit_public_key());
    let failed = |error: audit::AuditError| CliError::Failed(error.to_string());
    let (report, key_id) = match (encrypted, identity) {
        (true, Some(identity)) => {
            let plaintext = audit::decrypt(file, open(identity)?).map_err(failed)?;
            audit::verify_export(plaintext, pinned_key.as_deref()).map_err(failed)?
        }
        (true, None) => {
            return Err(CliError::Usage(
                "--identity: the export is encrypted; name the age identity file that decrypts it".to_owned(),
            ));
        }
        (false, _) => audit::verify_export(file, pinned_key.as_deref()).map_err(failed)?,
    };
    let key_id = if pinned_key.is_some() {
        key_id
    } else {
        format!("{key_id} (from the export itself: compare with GET /api/v1/audit/public-key)")
    };
    Ok((report, key_id))
}

/// A terminal progress bar for long jobs; hidden when output is not a terminal.
struct Bar(indicatif::ProgressBar);

impl crate::retention::Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(what.to_owned());
    }

    fn advance(&self, done: u64) {
        self.0.set_position(done);
    }
}

async fn sweep_retention(args: StoreArgs, dry_run: bool, as_of: Option<&str>) -> Result<(), CliError> {
    let as_of = match as_of {
        None => Timestamp::now(),
        Some(text) => {
            Timestamp::parse(text).or_else(|_| Timestamp::parse(&format!("{text}T00:00:00Z"))).map_err(|_| {
                CliError::Usage(format!("--as-of: `{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"))
            })?
        }
    };
    let overrides = Overrides { database_url: args.database_url, ..Overrides::default() };
    let config = Config::load(args.data_dir, overrides)?;
    init_logging(&config)?;
    let data_dir = DataDir::open(&config.data_dir)?;
    let db = startup::open_store(&config, &data_dir).await?;
    let bar = Bar(indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    ));
    let plan = crate::retention::SweepPlan { as_of, dry_run, batch: config.retention.sweep_batch };
    let swept = crate::retention::sweep(&db, plan, &bar).await;
    bar.0.finish_and_clear();
    db.close().await;
    let report = swept.map_err(|error| CliError::Failed(error.to_string()))?;
    let mut text = format!(
        "{} {} records expired as of {}{}\n",
        if dry_run { "would delete" } else { "deleted" },
        report.total,
        report.as_of,
        if report.resumed { " (finishing an interrupted sweep)" } else { "" }
    );
    for (category, count) in &report.deleted {
        text.push_str(&format!("  {category}: {count}\n"));
    }
    text.push_str("remaining:\n");
    for (category, remaining) in &report.remaining {
        let oldest = remaining.oldest.as_deref().unwrap_or("-");
        text.push_str(&format!("  {category}: {} records, oldest {oldest}\n", remaining.records));
    }
    text.push_str("what each purpose still sees:\n");
    for window in &report.windows {
        text.push_str(&format!(
            "  {} / {}: from {} ({})\n",
            window.purpose, window.category, window.sees_from, window.retention
        ));
    }
    write_stdout(&text)
}

/// The store, DPIA templates and deciding policies, as the server would have them.
async fn open_dpias(
    args: StoreArgs,
) -> Result<(crate::db::Db, crate::dpia::Workbench, std::sync::Arc<PolicyEngine>), CliError> {
    let overrides = Overrides { database_url: args.database_url, ..Overrides::default() };
    let config = Config::load(args.data_dir, overrides)?;
    init_logging(&config)?;
    let data_dir = DataDir::open(&config.data_dir)?;
    let db = startup::open_store(&config, &data_dir).await?;
    let demo = config.demo || data_dir.demo_issuer_key().is_ok();
    let (workbench, engine) = startup::dpia_context(&config, &db, demo).await?;
    Ok((db, workbench, engine))
}

async fn list_dpias(args: StoreArgs) -> Result<(), CliError> {
    let (db, workbench, engine) = open_dpias(args).await?;
    let mut connection = db.pool().acquire().await.map_err(|error| CliError::Failed(error.to_string()))?;
    let dpias = crate::dpia::list(&mut connection, &workbench, &engine).await;
    drop(connection);
    db.close().await;
    let mut text = String::from("ID\tSTATUS\tREVIEW\tPURPOSES\tTITLE\n");
    for dpia in dpias.map_err(|error| CliError::Failed(error.to_string()))? {
        let review =
            if dpia.needs_review.is_empty() { dpia.review_date.unwrap_or_default() } else { "needed".to_owned() };
        text.push_str(&format!(
            "{}\t{}\t{review}\t{}\t{}\n",
            dpia.id,
            dpia.status.as_str(),
            dpia.purposes.join(","),
            dpia.title
        ));
    }
    write_stdout(&text)
}

async fn render_dpia(args: StoreArgs, id: &str, format: crate::dpia::Format) -> Result<(), CliError> {
    let (db, workbench, engine) = open_dpias(args).await?;
    let mut connection = db.pool().acquire().await.map_err(|error| CliError::Failed(error.to_string()))?;
    let view = crate::dpia::view(&mut connection, &workbench, &engine, id).await;
    drop(connection);
    db.close().await;
    let view = view.map_err(|error| match error {
        crate::dpia::DpiaError::NotFound(_) => CliError::Usage(error.to_string()),
        other => CliError::Failed(other.to_string()),
    })?;
    write_stdout(&crate::dpia::render(&view, format))
}

async fn import_consent_file(args: StoreArgs, file: &Path) -> Result<(), CliError> {
    let overrides = Overrides { database_url: args.database_url, ..Overrides::default() };
    let config = Config::load(args.data_dir, overrides)?;
    init_logging(&config)?;
    let input = std::fs::File::open(file).map_err(|error| CliError::Usage(format!("{}: {error}", file.display())))?;
    let data_dir = DataDir::open(&config.data_dir)?;
    let db = startup::open_store(&config, &data_dir).await?;
    let imported = consent::import_consents(&db, input, &file.display().to_string()).await;
    db.close().await;
    write_stdout(&format!("imported {} consent records from {}\n", imported?, file.display()))
}

async fn import_xapi_file(args: StoreArgs, source: &str, file: &Path) -> Result<(), CliError> {
    let overrides = Overrides { database_url: args.database_url, ..Overrides::default() };
    let config = Config::load(args.data_dir, overrides)?;
    init_logging(&config)?;
    let input = std::fs::File::open(file).map_err(|error| CliError::Usage(format!("{}: {error}", file.display())))?;
    let catalogue = crate::catalogue::Catalogue::new(&config.catalogue.fields).map_err(StartError::from)?;
    let settings = crate::ingest::Settings::new(std::sync::Arc::new(catalogue), &config.ingest);
    let data_dir = DataDir::open(&config.data_dir)?;
    let db = startup::open_store(&config, &data_dir).await?;
    let imported = crate::ingest::import_statements(&db, &settings, source, std::io::BufReader::new(input)).await;
    db.close().await;
    let report = imported?;
    let dropped: u64 = report.dropped.values().sum();
    write_stdout(&format!(
        "imported {} statements from {} ({} stored, {} already stored, {dropped} fields dropped)\n",
        report.received,
        file.display(),
        report.stored,
        report.already_stored
    ))
}

async fn import_survey_file(args: StoreArgs, source: &str, file: &Path) -> Result<(), CliError> {
    let overrides = Overrides { database_url: args.database_url, ..Overrides::default() };
    let config = Config::load(args.data_dir, overrides)?;
    init_logging(&config)?;
    let input = std::fs::File::open(file).map_err(|error| CliError::Usage(format!("{}: {error}", file.display())))?;
    let data_dir = DataDir::open(&config.data_dir)?;
    let db = startup::open_store(&config, &data_dir).await?;
    let name = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let imported = crate::ingest::import_survey(&db, source, input, &name).await;
    db.close().await;
    let report = imported?;
    write_stdout(&format!(
        "imported {} answers from {} ({} stored, {} already stored, {} not stored: no purpose reads them)\n",
        report.lines,
        file.display(),
        report.stored,
        report.already_stored,
        report.dropped
    ))
}

async fn import_oneroster_dir(args: StoreArgs, source: &str, dir: &Path) -> Result<(), CliError> {
    let overrides = Overrides { database_url: args.database_url, ..Overrides::default() };
    let config = Config::load(args.data_dir, overrides)?;
    init_logging(&config)?;
    if !dir.is_dir() {
        return Err(CliError::Usage(format!("DIR: {} is not a folder", dir.display())));
    }
    let data_dir = DataDir::open(&config.data_dir)?;
    let db = startup::open_store(&config, &data_dir).await?;
    let imported = crate::ingest::import_oneroster(&db, source, dir).await;
    db.close().await;
    let report = imported?;
    write_stdout(&format!(
        "imported {} enrolments and {} grades from {} ({} new students, {} new courses, {} already stored, {} not stored: no purpose reads them)\n",
        report.enrolments,
        report.grades,
        dir.display(),
        report.students,
        report.courses,
        report.already_stored,
        report.dropped
    ))
}

fn validate_policies(dir: &Path) -> Result<PolicyEngine, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!("DIR: {} is not a folder", dir.display())));
    }
    let engine = PolicyEngine::from_dir(dir).map_err(|invalid| CliError::Failed(invalid.to_string()))?;
    write_stdout(&format!("valid: {} policies in {}\n", engine.policy_files().len(), dir.display()))?;
    Ok(engine)
}

fn test_policies(dir: &Path) -> Result<(), CliError> {
    let engine = validate_policies(dir)?;
    let outcomes = policy::run_tables(&engine, &dir.join("tests")).map_err(CliError::Failed)?;
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|outcome| {
            outcome.failure.as_ref().map(|why| format!("FAILED {} / {}: {why}", outcome.file, outcome.case))
        })
        .collect();
    let passed = outcomes.len() - failures.len();
    let uncovered = policy::uncovered(&engine, &outcomes);
    let mut report = failures.join("\n");
    if !uncovered.is_empty() {
        report.push_str(&format!("\nwithout an allow and a deny case: {}", uncovered.join(", ")));
    }
    if !report.trim().is_empty() {
        write_stdout(&format!("{}\n", report.trim()))?;
    }
    write_stdout(&format!("{passed} passed, {} failed\n", failures.len()))?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!("{} policy test cases failed", failures.len())))
    }
}

fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`consentry demo users | head`) is the reader's choice, not a failure.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(CliError::Failed(format!("could not write the output: {error}"))),
    }
}

fn init_logging(config: &Config) -> Result<(), CliError> {
    let filter = EnvFilter::try_new(&config.log)
        .map_err(|error| ConfigError::Invalid(format!("key `log`: `{}` is not a log filter: {error}", config.log)))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // Only a second initialisation in one process fails, and the first one then stands.
    drop(installed);
    Ok(())
}
