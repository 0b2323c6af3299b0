//! The test harness: `TestApp` starts Consentry in-process on port 0 with a fresh data
//! directory (and, on PostgreSQL, a fresh database) and talks HTTP to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Once;

use consentry::config::{Config, DatabaseUrl};
use consentry::db::{self, Db};
use consentry::timestamp::Clock;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

const DATABASE_URL_VARIABLE: &str = "CONSENTRY_TEST_DATABASE_URL";
const REQUIRE_ALL_VARIABLE: &str = "CONSENTRY_TEST_REQUIRE_ALL";
/// The demo institution in tests: 20 students instead of 2,000.
pub const TEST_DEMO_SCALE: f64 = 0.01;

/// Which database a test runs against.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite,
    /// A PostgreSQL server; each app gets a database of its own on it.
    Postgres {
        admin_url: String,
    },
}

impl Store {
    /// PostgreSQL if `CONSENTRY_TEST_DATABASE_URL` names one. Without it the test is skipped
    /// with a message, or fails when `CONSENTRY_TEST_REQUIRE_ALL=1` (as in CI).
    pub fn postgres_or_skip(test: &str) -> Option<Store> {
        outside_component_or_skip(test, DATABASE_URL_VARIABLE, "a PostgreSQL server")
            .map(|admin_url| Store::Postgres { admin_url })
    }
}

/// The value of `variable`, which names an outside component a test needs; `None` (the
/// test skips, saying why) when it is unset, unless every component is required.
pub fn outside_component_or_skip(test: &str, variable: &str, component: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var(REQUIRE_ALL_VARIABLE).as_deref() == Ok("1") => {
            panic!("{test} needs {component}: {REQUIRE_ALL_VARIABLE}=1 forbids skipping, but {variable} is not set")
        }
        _ => {
            eprintln!("SKIPPED {test}: it needs {component}; set {variable} to run it");
            None
        }
    }
}

/// Runs each listed `async fn name(store: Store)` once on SQLite and once on PostgreSQL,
/// as the tests `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::helpers::Store::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                let test = concat!(module_path!(), "::postgres");
                if let Some(store) = $crate::helpers::Store::postgres_or_skip(test) {
                    super::$name(store).await;
                }
            }
        }
    )*};
}

/// A running Consentry.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub config: Config,
    data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for a test app beyond the defaults.
pub struct TestAppBuilder {
    store: Store,
    config: Config,
    data_dir: Option<TempDir>,
    clock: Clock,
}

impl TestAppBuilder {
    /// The clock the app acts at; the test keeps a copy to move it.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Reuses a data directory (and its database) from an app that has stopped.
    pub fn data_dir(mut self, data_dir: TempDir, database_url: Option<DatabaseUrl>) -> Self {
        self.data_dir = Some(data_dir);
        self.config.database_url = database_url;
        self
    }

    pub async fn spawn(self) -> TestApp {
        init_test_logging();
        let data_dir = match self.data_dir {
            Some(data_dir) => data_dir,
            None => tempfile::tempdir().unwrap(),
        };
        let mut config = self.config;
        config.data_dir = data_dir.path().join("data");
        if let (Store::Postgres { admin_url }, None) = (&self.store, &config.database_url) {
            config.database_url = Some(DatabaseUrl::new(fresh_postgres_database(admin_url).await));
        }
        let application = consentry::startup::build_with_clock(&config, self.clock).await.expect("the test app starts");
        let addr = application.local_addr();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            application
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        TestApp {
            addr,
            client: reqwest::Client::new(),
            config,
            data_dir,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }
}

impl TestApp {
    pub fn builder(store: Store) -> TestAppBuilder {
        let config = Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo: true,
            demo_scale: TEST_DEMO_SCALE,
            log: "consentry=debug,info".to_owned(),
            ..Config::default()
        };
        TestAppBuilder { store, config, data_dir: None, clock: Clock::default() }
    }

    /// A demo app with the small test institution.
    pub async fn spawn(store: Store) -> TestApp {
        Self::builder(store).spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// The URL of the app's database, for tests that look underneath the API.
    pub fn database_url(&self) -> DatabaseUrl {
        match &self.config.database_url {
            Some(url) => url.clone(),
            None => db::sqlite_url(&self.config.data_dir.join(consentry::datadir::SQLITE_FILE)),
        }
    }

    /// A separate connection pool on the app's database.
    pub async fn db(&self) -> Db {
        Db::connect(&self.database_url(), 2).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn put_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    /// Posts `body` as it is, with the given content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> Response {
        self.client.post(self.url(path)).header("content-type", content_type).body(body).send().await.unwrap()
    }

    /// A demo token for `sub` with their own roles, from the demo login.
    pub async fn token_for(&self, sub: &str) -> String {
        let response = self.post_json("/api/v1/demo/tokens", &serde_json::json!({ "sub": sub })).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Stops the server gracefully and hands back its data directory for a restart.
    pub async fn stop(mut self) -> (TempDir, Option<DatabaseUrl>) {
        self.shutdown_server().await;
        let database_url = self.config.database_url.clone();
        let placeholder = tempfile::tempdir().unwrap();
        (std::mem::replace(&mut self.data_dir, placeholder), database_url)
    }

    async fn shutdown_server(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Asserts an RFC 9457 problem response and returns its body.
pub async fn assert_problem(response: Response, status: StatusCode, slug: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response.headers().get("x-request-id").map(|value| value.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], format!("urn:consentry:problem:{slug}"), "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(body["title"].as_str().is_some_and(|title| !title.is_empty()), "{body}");
    assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");
    assert!(body["instance"].as_str().is_some_and(|instance| instance.starts_with('/')), "{body}");
    assert_eq!(body["request_id"].as_str(), request_id.as_deref(), "the body names the request id of the header");
    body
}

/// A database of its own for one test app on the PostgreSQL server at `admin_url`.
pub async fn fresh_postgres_database(admin_url: &str) -> String {
    let name = format!("consentry_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::postgres::PgConnection::connect(admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let mut url = reqwest::Url::parse(admin_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_env_filter("consentry=debug,info").with_test_writer().try_init();
        }
    });
}

/// The path of the built `consentry` binary, for tests of the command line.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_consentry"))
}
