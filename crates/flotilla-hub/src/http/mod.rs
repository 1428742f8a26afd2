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
//! | POST | `/api/v1/clusters/{name}/sync` | sync the cluster now (operate role) |
//! | POST | `/api/v1/rollout/pause` | pause the rollout (operate role) |
//! | POST | `/api/v1/rollout/resume` | resume it and start a round now (operate role) |
//! | POST | `/api/v1/rollout/retry` | retry a halted rollout now (operate role) |
//! | GET | `/api/v1/clusters/{name}/objects` | federated status: each object's health, reasons and events |
//! | GET, POST | `/agent/v1/...` | pull agents (their own tokens; see [`crate::agent::routes`]) |
//! | POST | `/webhook/github` | GitHub push webhook (HMAC-SHA256 signed) |
//! | POST | `/webhook/gitlab` | GitLab push webhook (shared token) |
//! | POST | `/login` | form `token=...`: sets the session cookie, redirects to `/` |
//! | GET, POST | `/logout` | clears the session cookie, redirects to `/` |
//!
//! With a token file ([`auth::AuthConfig`]), `/`, `/api/v1/*` and `/metrics`
//! need `Authorization: Bearer TOKEN` or the session cookie of `/login`
//! (401 with `WWW-Authenticate: Bearer` otherwise; `/` then shows a login
//! form). The probes and the webhooks (which check their own signature or
//! token) stay open. A tenant token (`tenant=NAME` in the token file) sees
//! only its tenant's clusters and namespaces on the page and the API
//! ([`scope`]), may not pause, resume or retry the rollout (403), and may
//! sync only its clusters (404 for the others).
//!
//! [`serve_with`] bounds the server: at most
//! [`HttpOptions::max_connections`] connections at once; over the cap, up to
//! [`PROBE_CONNECTIONS`] more are served the probes only (`/healthz` and
//! `/readyz`, one request each, 503 for any other path) so a saturated
//! server still answers its liveness probe, and further ones are accepted
//! and closed at once. A header-read timeout bounds the time to send a
//! request's headers (and so a keep-alive connection's wait for its next
//! request); a separate idle timeout closes a connection on which no byte
//! moved for [`HttpOptions::idle_timeout`]. Every route has a body limit.
//!
//! Handlers only read [`FleetState`](crate::state::FleetState), except the
//! [actions], which record an operator's request in it for the reconcile
//! loop to carry out. No handler holds the state's lock across an `.await`.

mod actions;
mod api;
pub mod auth;
mod objects;
mod page;
mod scope;
mod webhook;

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLockReadGuard, RwLockWriteGuard};

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use self::auth::{AuthConfig, Principal, Role, SESSION_COOKIE};
use self::scope::Scope;

use crate::metrics::Metrics;
use crate::state::{FleetState, SharedState};

/// The largest webhook body accepted; larger ones get 413.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// The largest body of `POST /login`.
pub const LOGIN_BODY_LIMIT: usize = 4 * 1024;

/// The largest body of every other route (they take none).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// Connections over [`HttpOptions::max_connections`] that are still served
/// the probes (one request each, a header-read timeout of at most 2 s).
pub const PROBE_CONNECTIONS: usize = 16;

/// The server's limits and authentication.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Who may see the page, the API and the metrics.
    pub auth: AuthConfig,
    /// Connections served at once; further ones are accepted and closed.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, counted
    /// from when the server starts waiting for them (so also a bound on a
    /// keep-alive connection's wait for its next request).
    pub header_read_timeout: Duration,
    /// How long a connection may stay without a byte read or written
    /// before it is closed (after the response in flight, if any).
    pub idle_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            auth: AuthConfig::default(),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
        }
    }
}

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
    /// The (cluster, tenant) series of `flotilla_drifted_objects` that
    /// `/metrics` has set, so series of clusters that left the fleet (or
    /// tenants that no longer reach them) are removed. Held while
    /// refreshing and encoding, so concurrent scrapes do not interleave.
    drift_gauges: Arc<Mutex<BTreeSet<crate::metrics::TenantLabel>>>,
    /// The accepted tokens.
    auth: AuthConfig,
}

impl App {
    /// The fleet state, read-locked. A poisoned lock still holds the last
    /// state written, which is what a status server should show.
    fn state(&self) -> RwLockReadGuard<'_, FleetState> {
        self.ctx.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The fleet state, write-locked: only the [actions] record requests.
    fn state_mut(&self) -> RwLockWriteGuard<'_, FleetState> {
        self.ctx.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The router of every endpoint (see the [module docs](self)), without
/// authentication.
pub fn router(ctx: HttpContext) -> Router {
    router_with(ctx, AuthConfig::default())
}

/// The router of every endpoint, `/`, `/api/v1/*` and `/metrics` behind
/// `auth` when it holds tokens.
pub fn router_with(ctx: HttpContext, auth: AuthConfig) -> Router {
    routes(App {
        ctx: Arc::new(ctx),
        drift_gauges: Arc::default(),
        auth,
    })
}

fn routes(app: App) -> Router {
    let webhooks = Router::new()
        .route("/webhook/github", post(webhook::github))
        .route("/webhook/gitlab", post(webhook::gitlab))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT));
    let login = Router::new()
        .route("/login", post(login))
        .layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT));
    let protected = Router::new()
        .route("/", get(page::status_page))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/fleet", get(api::fleet))
        .route("/api/v1/clusters/{name}/drift", get(api::cluster_drift))
        .route("/api/v1/clusters/{name}/sync", post(actions::sync_cluster))
        .route("/api/v1/rollout/pause", post(actions::pause))
        .route("/api/v1/rollout/resume", post(actions::resume))
        .route("/api/v1/rollout/retry", post(actions::retry))
        .route(
            "/api/v1/clusters/{name}/objects",
            get(objects::cluster_objects),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_auth,
        ));
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/logout", get(logout).post(logout))
        .merge(protected)
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .merge(webhooks)
        .merge(login)
        .with_state(app)
}

/// The router of connections over the cap: the probes, 503 for the rest.
fn probes_router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .fallback(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "connection limit reached: only /healthz and /readyz are answered\n",
            )
        })
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .with_state(app)
}

/// The role and tenant a request proves: a bearer token, else the session
/// cookie. `None` when it proves none (or the server has no tokens).
fn principal_of(auth: &AuthConfig, headers: &HeaderMap) -> Option<Principal> {
    let tokens = auth.tokens.as_ref()?;
    let tokens = tokens.read().unwrap_or_else(|e| e.into_inner());
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        return tokens.principal_of_token(token.trim());
    }
    let cookies = headers.get_all(header::COOKIE);
    let mut found = None;
    for value in cookies.iter().filter_map(|v| v.to_str().ok()) {
        for pair in value.split(';') {
            if let Some((name, v)) = pair.trim().split_once('=')
                && name == SESSION_COOKIE
                && let Some(p) = tokens.principal_of_session(v)
            {
                found = Some(p);
            }
        }
    }
    found
}

/// Lets a request through with its [`Role`] and its tenant [`Scope`] in
/// its extensions, or answers 401 (with the login form on `GET /`).
async fn require_auth(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let principal = if app.auth.tokens.is_none() {
        Some(Principal::platform_operator())
    } else {
        principal_of(&app.auth, req.headers())
    };
    match principal {
        Some(p) => {
            req.extensions_mut().insert(p.role);
            req.extensions_mut().insert(Scope { tenant: p.tenant });
            next.run(req).await
        }
        None if req.uri().path() == "/" => unauthorized(auth::login_page(
            "This status page needs a token: paste one of the daemon's tokens.",
        )),
        None => unauthorized("a valid bearer token is needed\n".to_string()),
    }
}

/// 401 with `WWW-Authenticate: Bearer`; `body` is HTML when it starts
/// with `<`.
fn unauthorized(body: String) -> Response {
    let kind = if body.starts_with('<') {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, "Bearer"),
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Checks that the request's role (set by the authentication layer) allows
/// `needed` (the [actions] need `Role::Operate`). The status to answer
/// (403) otherwise.
pub(crate) fn require_role(role: Option<&Role>, needed: Role) -> Result<(), StatusCode> {
    match role {
        Some(r) if r.allows(needed) => Ok(()),
        _ => Err(StatusCode::FORBIDDEN),
    }
}

/// The form of `POST /login`.
#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

fn secure(app: &App, headers: &HeaderMap) -> bool {
    app.auth.secure_cookie
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn redirect_home(cookie: Option<String>) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

/// `POST /login`: a valid token gets the session cookie and a redirect to
/// `/`; anything else 401 and the form again, without a cookie.
async fn login(
    State(app): State<App>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(tokens) = &app.auth.tokens else {
        return redirect_home(None);
    };
    let session = match &form {
        Ok(Form(f)) => tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .session_for(f.token.trim()),
        Err(_) => None,
    };
    match session {
        Some(value) => {
            let flag = if secure(&app, &headers) {
                "; Secure"
            } else {
                ""
            };
            redirect_home(Some(format!(
                "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{flag}"
            )))
        }
        None => unauthorized(auth::login_page("That token is not valid.")),
    }
}

/// `/logout`: clears the session cookie.
async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    let flag = if secure(&app, &headers) {
        "; Secure"
    } else {
        ""
    };
    redirect_home(Some(format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{flag}"
    )))
}

/// Serves [`router`] on `listener` with the default [`HttpOptions`] (no
/// authentication) until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: HttpContext,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, ctx, HttpOptions::default(), shutdown).await
}

/// Serves [`router_with`] on `listener` until `shutdown` completes, then
/// stops accepting connections, closes idle ones and waits for the requests
/// in flight to finish.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    ctx: HttpContext,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let probes = probes_with(ctx.clone());
    let router = router_with(ctx, options.auth.clone());
    serve_router(listener, router, probes, options, shutdown).await
}

/// The router that serves connections over the cap: `/healthz` and
/// `/readyz`, 503 for the rest.
pub fn probes_with(ctx: HttpContext) -> Router {
    probes_router(App {
        ctx: Arc::new(ctx),
        drift_gauges: Arc::default(),
        auth: AuthConfig::default(),
    })
}

/// Serves `router` (e.g. [`router_with`] merged with
/// [`crate::agent::routes::routes`]) on `listener` with the limits of
/// `options` until `shutdown` completes, as [`serve_with`] does; `probes`
/// (see [`probes_with`]) answers the connections over the cap.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    probes: Router,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let max = options.max_connections.clamp(1, 1 << 20);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let probe_permits = Arc::new(tokio::sync::Semaphore::new(PROBE_CONNECTIONS));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    // Over the cap: one probe request per connection, headers in 2 s.
    let mut probe_builder = hyper::server::conn::http1::Builder::new();
    probe_builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout.min(Duration::from_secs(2)))
        .keep_alive(false);
    let idle_timeout = options.idle_timeout.max(Duration::from_millis(10));
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (permit, builder, service) = match permits.clone().try_acquire_owned() {
            Ok(p) => (p, &builder, router.clone()),
            Err(_) => match probe_permits.clone().try_acquire_owned() {
                Ok(p) => (p, &probe_builder, probes.clone()),
                Err(_) => {
                    tracing::debug!(max, "connection limit reached: closing a new connection");
                    drop(stream);
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new(stream);
        let last = activity.last.clone();
        let service = TowerToHyperService::new(service);
        let conn = builder.serve_connection(TokioIo::new(activity), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            let mut deadline = tokio::time::Instant::now() + idle_timeout;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => return,
                    _ = stop.changed() => break,
                    () = tokio::time::sleep_until(deadline) => {
                        let since = last.since();
                        if since >= idle_timeout {
                            tracing::debug!("closing an idle connection");
                            break;
                        }
                        deadline = tokio::time::Instant::now() + (idle_timeout - since);
                    }
                }
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it ends.
    let _ = permits.acquire_many(max as u32).await;
    let _ = probe_permits.acquire_many(PROBE_CONNECTIONS as u32).await;
    Ok(())
}

/// When a connection last moved a byte: milliseconds since its start.
#[derive(Clone)]
struct LastActivity {
    start: tokio::time::Instant,
    millis: Arc<std::sync::atomic::AtomicU64>,
}

impl LastActivity {
    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.millis.store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long since the last byte moved.
    fn since(&self) -> Duration {
        let at = Duration::from_millis(self.millis.load(std::sync::atomic::Ordering::Relaxed));
        self.start.elapsed().saturating_sub(at)
    }
}

/// A stream that records when a byte last moved, for the idle timeout.
struct Activity<S> {
    inner: S,
    last: LastActivity,
}

impl<S> Activity<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            last: LastActivity {
                start: tokio::time::Instant::now(),
                millis: Arc::default(),
            },
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Activity<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last.touch();
        }
        polled
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Activity<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.last.touch();
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
