//! The HTTP server: shared state, the router with its middleware, and a graceful run.
//!
//! Each domain module contributes an `OpenApiRouter`; this module only merges them, adds
//! the cross-cutting layers (request ids, tracing, metrics, problem rendering, timeouts,
//! body limits, compression) and serves the result.

mod health;
mod metrics;
mod openapi;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use metrics::Metrics;
pub use openapi::openapi;

use crate::auth::TokenVerifier;
use crate::catalogue::Catalogue;
use crate::config::{HttpConfig, InstitutionConfig};
use crate::datadir::SigningKey;
use crate::db::Db;
use crate::demo::DemoMode;
use crate::policy::Gate;
use crate::problem;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub verifier: Arc<TokenVerifier>,
    /// Present only on a demo server.
    pub demo: Option<Arc<DemoMode>>,
    pub metrics: Metrics,
    /// Signs audit checkpoints and exports.
    pub audit_key: Arc<SigningKey>,
    pub catalogue: Arc<Catalogue>,
    /// Decides every access.
    pub gate: Gate,
    pub ingest: crate::ingest::Settings,
    /// Identity providers people sign in with, and their discovered metadata.
    pub oidc_providers: Arc<Vec<crate::config::OidcProvider>>,
    pub oidc: Arc<crate::auth::oidc::Providers>,
    /// Sessions of people who signed in.
    pub sessions: crate::auth::SessionStore,
    /// The time everything acts at; tests move it.
    pub clock: crate::timestamp::Clock,
    /// Pseudonym and cursor keys of the read gateway.
    pub gateway: Arc<crate::gateway::Keys>,
    /// The controller, as receipts name it.
    pub institution: Arc<InstitutionConfig>,
    /// DPIA templates and what the deployment tells a DPIA.
    pub dpia: crate::dpia::Workbench,
}

impl FromRef<AppState> for crate::auth::SessionStore {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.verifier)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the server stopped with an error: {0}")]
    Serve(std::io::Error),
}

/// The API routes of every module, with the OpenAPI description they add up to.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(health::router())
        .merge(crate::auth::router())
        .merge(crate::auth::login_router())
        .merge(crate::audit::router())
        .merge(crate::catalogue::router())
        .merge(crate::purposes::router())
        .merge(crate::consent::router())
        .merge(crate::policy::router())
        .merge(crate::clients::router())
        .merge(crate::gateway::router())
        .merge(crate::retention::router())
        .merge(crate::rights::router())
        .merge(crate::analytics::router())
        .merge(crate::dpia::router())
        .merge(crate::ingest::router())
        .merge(crate::ingest::sources_router())
        .merge(crate::ingest::documents_router())
        .merge(crate::demo::router())
        .split_for_parts()
}

/// The complete application, ready to serve or to test with `oneshot`.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let (api, spec) = api();
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|value| value.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(middleware::from_fn(metrics::track))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(problem::render_problems))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, http.request_timeout()))
        .layer(DefaultBodyLimit::max(http.body_limit_bytes));
    api.merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", spec))
        .merge(crate::web::router())
        .layer(layers)
        .with_state(state)
}

/// A server bound to its address, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    db: Db,
    shutdown_grace: Duration,
    background: Vec<tokio::task::JoinHandle<()>>,
    stop_background: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Binds the address (port 0 picks a free one) and builds the router.
    pub async fn build(addr: SocketAddr, state: AppState, http: &HttpConfig) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
        let db = state.db.clone();
        let (stop_background, _) = tokio::sync::watch::channel(false);
        Ok(Self {
            listener,
            router: router(state, http),
            db,
            shutdown_grace: http.shutdown_grace(),
            background: Vec::new(),
            stop_background,
        })
    }

    /// Runs `job` beside the server until the server stops; it gets a receiver that
    /// changes when it should finish up.
    pub fn spawn_background<F, Fut>(&mut self, job: F)
    where
        F: FnOnce(tokio::sync::watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background.push(tokio::spawn(job(self.stop_background.subscribe())));
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` completes, then stops accepting, lets requests in flight
    /// finish for at most the grace period, lets background jobs finish, and closes the
    /// database pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing requests in flight");
            let _ = stopping_tx.send(());
        };
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(signal);
        let grace = self.shutdown_grace;
        let grace_expired = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = server => result.map_err(ServerError::Serve)?,
            () = grace_expired => tracing::warn!(seconds = grace.as_secs(), "grace period over; abandoning requests still in flight"),
        }
        let _ = self.stop_background.send(true);
        for job in self.background {
            if tokio::time::timeout(grace, job).await.is_err() {
                tracing::warn!("a background job did not finish in time");
            }
        }
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
