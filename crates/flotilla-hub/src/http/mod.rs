//! The daemon's HTTP server: liveness and readiness probes, Prometheus
//! metrics, a JSON API over the fleet state, push webhooks (GitHub and
//! GitLab) that wake the reconcile loop, and a server-rendered status page.
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET | `/` | status page (HTML, refreshes every 10 s) |
//! | GET | `/healthz` | `ok` while the process runs |
//! | GET | `/readyz` | 200 once the first commit is read, else 503 |
//! | GET | `/metrics` | Prometheus metrics (OpenMetrics text) |
//! | GET | `/api/v1/fleet` | the fleet and one row per cluster (JSON) |
//! | GET | `/api/v1/clusters/{name}/drift` | a cluster's last drift check (`?format=json\|text\|markdown`) |
//! | POST | `/webhook/github` | GitHub push webhook (HMAC-SHA256 signed) |
//! | POST | `/webhook/gitlab` | GitLab push webhook (shared token) |
//!
//! Handlers only read [`FleetState`](crate::state::FleetState); the
//! reconcile loop writes it. No handler holds the state's lock across an
//! `.await`.

mod api;
mod page;
mod webhook;

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLockReadGuard};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::metrics::Metrics;
use crate::state::{FleetState, SharedState};

/// The largest webhook body accepted; larger ones get 413.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// Everything the HTTP handlers need, shared with the reconcile loop.
#[derive(Clone)]
pub struct HttpContext {
    /// The fleet state the reconcile loop maintains (read only here).
    pub state: SharedState,
    /// The daemon's metrics, encoded by `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Webhook secrets and the branch being followed.
    pub webhook: WebhookConfig,
    /// Notified (`notify_one`) when a webhook reports a push, so the
    /// reconcile loop polls Git at once instead of at its next interval.
    pub trigger: Arc<tokio::sync::Notify>,
}

impl fmt::Debug for HttpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpContext")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// Webhook settings. A webhook whose secret is unset (or empty) answers 403.
#[derive(Clone, Default)]
pub struct WebhookConfig {
    /// The GitHub webhook secret: the key of the `X-Hub-Signature-256`
    /// HMAC-SHA256 signature.
    pub github_secret: Option<String>,
    /// The GitLab webhook token, sent as `X-Gitlab-Token`.
    pub gitlab_token: Option<String>,
    /// The branch followed (`main` or `refs/heads/main`); pushes to other
    /// refs are acknowledged but do not trigger a poll. `None`: every push
    /// triggers.
    pub branch: Option<String>,
}

impl fmt::Debug for WebhookConfig {
    /// Says whether each secret is set, never what it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<String>| match s {
            Some(s) if !s.is_empty() => "<set>",
            _ => "<unset>",
        };
        f.debug_struct("WebhookConfig")
            .field("github_secret", &set(&self.github_secret))
            .field("gitlab_token", &set(&self.gitlab_token))
            .field("branch", &self.branch)
            .finish()
    }
}

/// The handlers' state: the context plus the bookkeeping of `/metrics`.
#[derive(Clone)]
struct App {
    ctx: Arc<HttpContext>,
    /// Clusters whose `flotilla_drifted_objects` gauge `/metrics` has set,
    /// so gauges of clusters that left the fleet are removed. Held while
    /// refreshing and encoding, so concurrent scrapes do not interleave.
    drift_gauges: Arc<Mutex<BTreeSet<String>>>,
}

impl App {
    /// The fleet state, read-locked. A poisoned lock still holds the last
    /// state written, which is what a status server should show.
    fn state(&self) -> RwLockReadGuard<'_, FleetState> {
        self.ctx.state.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The router of every endpoint (see the [module docs](self)).
pub fn router(ctx: HttpContext) -> Router {
    let app = App {
        ctx: Arc::new(ctx),
        drift_gauges: Arc::default(),
    };
    let webhooks = Router::new()
        .route("/webhook/github", post(webhook::github))
        .route("/webhook/gitlab", post(webhook::gitlab))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT));
    Router::new()
        .route("/", get(page::status_page))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/fleet", get(api::fleet))
        .route("/api/v1/clusters/{name}/drift", get(api::cluster_drift))
        .merge(webhooks)
        .with_state(app)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for the requests in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: HttpContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ctx))
        .with_graceful_shutdown(shutdown)
        .await
}
