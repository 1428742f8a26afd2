//! A Kubernetes cluster reached through the kube client: server-side apply
//! with field manager `flotilla`, discovery cached per kind, one labelled
//! LIST per kind to read live state, and the inventory in a ConfigMap.
//! Live controllers (HPAs) are read unlabelled, only when asked
//! (`controllers.rs`).

mod cache;
mod controllers;
mod discovery;
mod inventory;
mod openapi;
mod ops;
mod prune_window;
mod retry;
mod watch;

use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::error::{ClusterError, ConfigError, without_userinfo};
use flotilla_core::model::ObjectKey;

pub use controllers::CONTROLLER_NAMESPACES_MAX;
pub use retry::{NoAnswer, RetryPolicy};

/// How long talking to an API server may take: `--connect-timeout` and
/// `--request-timeout` on the command line, `connectTimeout` and
/// `requestTimeout` in the daemon's config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection (TCP and TLS).
    pub connect: Duration,
    /// One request, retries included: a server that accepts and never
    /// answers fails the request after this long.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// A Kubernetes API server.
pub struct KubeDestination {
    client: Client,
    /// The configuration the client was made from, for the impersonating
    /// clients.
    config: Config,
    /// The user writes are made as (`act_as`), if not Flotilla itself.
    acting: Option<String>,
    /// One client per impersonated user, made on first use.
    impersonating: std::collections::HashMap<String, Client>,
    discovery: discovery::Cache,
    retry: RetryPolicy,
    /// Where the server is, for messages (never credentials).
    server: String,
    /// Watch-fed caches of live objects, when enabled.
    cache: Option<cache::WatchCache>,
    /// The cluster's schema (OpenAPI v3), fetched per group version.
    schema: openapi::SchemaCache,
    /// The server's answers to the writes since `take_written` was last
    /// called (a lock: the writes of a stage go out concurrently).
    written:
        std::sync::Mutex<std::collections::HashMap<ObjectKey, std::sync::Arc<serde_json::Value>>>,
}

impl KubeDestination {
    /// Connects through a kubeconfig file and optional context. Nothing is
    /// sent yet; the first request tells whether the cluster is reachable.
    pub async fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Self, ClusterError> {
        Self::from_kubeconfig_with(path, context, Timeouts::default()).await
    }

    /// [`Self::from_kubeconfig`] with other [`Timeouts`].
    pub async fn from_kubeconfig_with(
        path: &Path,
        context: Option<&str>,
        timeouts: Timeouts,
    ) -> Result<Self, ClusterError> {
        let kubeconfig_error = |source| ConfigError::Kubeconfig {
            path: path.display().to_string(),
            source,
        };
        let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(kubeconfig_error)?;
        Self::from_config_with(config, timeouts)
    }

    /// Connects through the default kubeconfig, found as kubectl finds it
    /// (the files listed in `$KUBECONFIG`, merged, else `~/.kube/config`),
    /// and an optional context (its current context otherwise).
    pub async fn from_default_kubeconfig(context: Option<&str>) -> Result<Self, ClusterError> {
        Self::from_default_kubeconfig_with(context, Timeouts::default()).await
    }

    /// [`Self::from_default_kubeconfig`] with other [`Timeouts`].
    pub async fn from_default_kubeconfig_with(
        context: Option<&str>,
        timeouts: Timeouts,
    ) -> Result<Self, ClusterError> {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = Config::from_kubeconfig(&options)
            .await
            .map_err(|source| ConfigError::DefaultKubeconfig { source })?;
        Self::from_config_with(config, timeouts)
    }

    /// Sends `User-Agent: agent` with every request from now on (also as
    /// an impersonated user). Call before [`Self::with_watch_cache`].
    pub fn with_user_agent(mut self, agent: http::HeaderValue) -> Result<Self, ClusterError> {
        self.config.headers.push((http::header::USER_AGENT, agent));
        self.client = client_of(&self.config).map_err(|source| ConfigError::Client {
            server: self.server.clone(),
            source,
        })?;
        Ok(self)
    }

    /// Connects with a ready kube [`Config`].
    pub fn from_config(config: Config) -> Result<Self, ClusterError> {
        Self::from_config_with(config, Timeouts::default())
    }

    /// Connects with a ready kube [`Config`] and [`Timeouts`].
    pub fn from_config_with(mut config: Config, timeouts: Timeouts) -> Result<Self, ClusterError> {
        config.connect_timeout = Some(timeouts.connect);
        // The socket limits stay loose enough for watches (a quiet watch
        // reads nothing for a minute); each request is bounded as a whole,
        // retries included, by `timeouts.request` (RetryPolicy::deadline).
        let socket = timeouts.request.max(Duration::from_secs(60));
        config.read_timeout = Some(socket);
        config.write_timeout = Some(socket);
        // One retry layer, bounded and documented: ours (RetryPolicy).
        config.default_retry = false;
        let server = without_userinfo(&config.cluster_url.to_string());
        let client = client_of(&config).map_err(|source| ConfigError::Client {
            server: server.clone(),
            source,
        })?;
        Ok(Self {
            client,
            config,
            acting: None,
            impersonating: std::collections::HashMap::new(),
            discovery: discovery::Cache::default(),
            retry: RetryPolicy {
                deadline: timeouts.request,
                ..RetryPolicy::default()
            },
            server,
            cache: None,
            schema: openapi::SchemaCache::default(),
            written: Default::default(),
        })
    }

    /// Reads live state from watch-fed caches (one watch per kind, started on
    /// first use) instead of listing every time: for long-running engines,
    /// where an unchanged cluster then costs no read per check. Needs a tokio
    /// runtime that stays up (the watches are tasks on it).
    pub fn with_watch_cache(mut self) -> Self {
        self.cache = Some(cache::WatchCache::default());
        self
    }

    /// Sets how transient failures are retried.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The client writes go through: Flotilla's own, or the one
    /// impersonating the user set by `act_as`.
    pub(crate) fn writer(&self) -> &Client {
        match &self.acting {
            Some(user) => self.impersonating.get(user).unwrap_or(&self.client),
            None => &self.client,
        }
    }

    /// Sets the user writes are made as, making its client on first use.
    pub(crate) fn set_acting(&mut self, user: Option<&str>) -> Result<(), ClusterError> {
        if let Some(user) = user
            && !self.impersonating.contains_key(user)
        {
            let mut config = self.config.clone();
            config.auth_info.impersonate = Some(user.to_string());
            let client = client_of(&config).map_err(|source| ConfigError::Client {
                server: self.server.clone(),
                source,
            })?;
            self.impersonating.insert(user.to_string(), client);
        }
        self.acting = user.map(str::to_string);
        Ok(())
    }
}

/// How long an unused connection to an API server stays open, and how
/// many stay open per server. A sync opens one connection per write in
/// flight; kept idle at hyper's defaults (90 s, no limit), each holds its
/// buffers (tens of KB) long after the burst, in every cluster of a daemon.
/// As many as a sync writes at once stay open (fewer would make it connect
/// again and again mid-sync), for 15 s.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);
const POOL_MAX_IDLE_PER_HOST: usize = ops::APPLY_CONCURRENCY;
/// What a connection reads into at a time, and the most it buffers of a
/// response head (an API server's is under 2 KB). hyper's default grows
/// each connection's buffer with the largest burst it reads (to 16 KB and
/// more on a watch connection after a list), held for the connection's
/// life, in every cluster of a daemon; bodies stream through in pieces of
/// this size.
const READ_BUFFER: usize = 8 * 1024;

/// A kube client for `config`: kube's own stack (base URI, authentication,
/// extra headers, connect/read/write timeouts) over a connection pool kept
/// small ([`POOL_IDLE_TIMEOUT`], [`POOL_MAX_IDLE_PER_HOST`],
/// [`READ_BUFFER`]), each request logged at debug under `kube_client`.
/// An `https://` server is reached through rustls; an `http://` one through
/// a plain connector, with no TLS set-up at all (no CA bundle, no session
/// cache: tens of KB and about 20 ms per client, per cluster). With a
/// proxy, kube's default client (its proxy connectors). Not set here: the
/// expiry of a client certificate from an exec plugin
/// (`Client::valid_until`, which nothing in Flotilla reads; the plugin's
/// tokens are refreshed by the authentication layer as before).
fn client_of(config: &Config) -> Result<Client, kube::Error> {
    use kube::client::ConfigExt;
    if config.proxy_url.is_some() {
        return Client::try_from(config.clone());
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    if config.cluster_url.scheme() == Some(&http::uri::Scheme::HTTP) {
        return pooled(config, hyper_timeout::TimeoutConnector::new(http));
    }
    let https = config.rustls_https_connector_with_connector(http)?;
    pooled(config, hyper_timeout::TimeoutConnector::new(https))
}

/// [`client_of`] over `connector`: the timeouts, the pool and kube's layers.
fn pooled<C>(
    config: &Config,
    mut connector: hyper_timeout::TimeoutConnector<C>,
) -> Result<Client, kube::Error>
where
    hyper_timeout::TimeoutConnector<C>:
        hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    use kube::client::ConfigExt;
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let pool: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            // The timer is what closes idle connections: without one, hyper
            // only drops an expired connection when the pool is next asked.
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .http1_read_buf_exact_size(READ_BUFFER)
            .build(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        // The request line kube's own stack logs, under its target, so that
        // `FLOTILLA_LOG=warn,kube_client=debug` still shows every request
        // (method and URL; never a header, where credentials are).
        .map_request(|req: http::Request<kube::client::Body>| {
            tracing::debug!(target: "kube_client", method = %req.method(), url = %req.uri(), "requesting");
            req
        })
        .map_err(tower::BoxError::from)
        .service(pool);
    Ok(kube::client::ClientBuilder::new(service, config.default_namespace.clone()).build())
}

impl KubeDestination {
    /// Turns a kube error met while doing `context` into a cluster error of
    /// its kind (see [`ClusterError::from_kube`]).
    pub(crate) fn error(
        &self,
        context: &str,
        object: Option<&ObjectKey>,
        e: kube::Error,
    ) -> ClusterError {
        ClusterError::from_kube(context, object.cloned(), &self.server, e)
    }
}
