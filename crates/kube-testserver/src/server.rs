//! The listening server: [`TestApiServer`], its accept loop, connection
//! handling (drop / down switch), and the helpers tests call directly.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::counters::{Counters, Recorder, RequestRecord};
use crate::faults::{Fault, Faults};
use crate::meta::{get_path, meta_str, metadata, now_rfc3339};
use crate::rbac::{Rbac, RbacRule};
use crate::registry::ResourceKind;
use crate::state::{State, present};
use crate::status::ApiError;
use crate::writes::{DeleteOpts, Followup, Sub, Target};

/// State shared by the accept loop, connections and the test handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    faults: Mutex<Faults>,
    recorder: Mutex<Recorder>,
    rbac: Mutex<Rbac>,
    shutdown: watch::Sender<bool>,
    down: watch::Sender<bool>,
    /// Open connections, so the down switch and shutdown can cut them.
    connections: Mutex<Vec<AbortHandle>>,
    pub(crate) addr: SocketAddr,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    pub(crate) fn recorder(&self) -> MutexGuard<'_, Recorder> {
        lock(&self.recorder)
    }

    pub(crate) fn rbac(&self) -> MutexGuard<'_, Rbac> {
        lock(&self.rbac)
    }

    pub(crate) fn shutdown_receiver(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Closes every open connection (their tasks are aborted, dropping the
    /// sockets; streaming watch bodies end with them).
    fn close_connections(&self) {
        for h in lock(&self.connections).drain(..) {
            h.abort();
        }
    }

    fn track_connection(&self, h: AbortHandle) {
        let mut conns = lock(&self.connections);
        conns.retain(|c| !c.is_finished());
        conns.push(h);
    }

    /// Runs a followup after its delay (on the runtime the server runs on).
    pub(crate) fn schedule(self: &Arc<Self>, f: Followup) {
        let shared = self.clone();
        let mut shutdown = self.shutdown_receiver();
        tokio::spawn(async move {
            let delay = crate::crd::followup_delay(&f);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = until_true(&mut shutdown) => return,
            }
            match f {
                Followup::EstablishCrd { name, .. } => shared.state().establish_crd(&name),
                Followup::FinalizeNamespace { name, .. } => {
                    shared.state().finalize_namespace(&name)
                }
            }
        });
    }
}

/// Resolves once the flag is (or becomes) true.
async fn until_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let svc_shared = shared.clone();
    let service =
        hyper::service::service_fn(move |req| crate::handlers::handle(svc_shared.clone(), req));
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let _ = conn.await;
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown_receiver();
    // Bounded by the shutdown signal.
    loop {
        tokio::select! {
            _ = until_true(&mut shutdown) => return,
            r = listener.accept() => {
                let Ok((stream, _)) = r else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if shared.is_down() {
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let task = tokio::spawn(serve_connection(stream, shared.clone()));
                shared.track_connection(task.abort_handle());
                // Lost a race with `set_down(true)`: cut it too.
                if shared.is_down() {
                    task.abort();
                }
            }
        }
    }
}

/// A test Kubernetes API server on `127.0.0.1:<random port>` (plain HTTP).
///
/// Stops on [`TestApiServer::shutdown`] or when dropped. Must be started from
/// within a Tokio runtime; its tasks run on that runtime.
///
/// A `kube::Client` for it (with `kube` as a dev-dependency):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// let server = kube_testserver::TestApiServer::start().await;
/// let client = kube::Client::try_from(kube::Config::new(server.url().parse()?))?;
/// let cms: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
/// assert!(cms.list(&Default::default()).await?.items.is_empty());
/// # Ok(())
/// # }
/// ```
///
/// kube 5's default client retries 429/503/504 responses itself (up to 15
/// times, exponential backoff from 5 ms, honouring `Retry-After`) unless
/// `Config::default_retry` is set to `false`; tests of error handling usually
/// want `default_retry = false`.
pub struct TestApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApiServer")
            .field("addr", &self.addr)
            .finish()
    }
}

fn helper_target(
    state: &State,
    group: &str,
    version: &str,
    plural: &str,
    namespace: Option<&str>,
) -> Result<Target, ApiError> {
    let kind = state
        .registry
        .lookup(group, version, plural)
        .cloned()
        .ok_or_else(ApiError::resource_not_found)?;
    Ok(Target {
        namespace: if kind.namespaced {
            namespace.unwrap_or("default").to_string()
        } else {
            String::new()
        },
        kind,
        sub: Sub::Main,
    })
}

impl TestApiServer {
    /// Starts a server on `127.0.0.1:0`. Panics if the port cannot be bound.
    pub async fn start() -> TestApiServer {
        Self::try_start()
            .await
            .expect("kube-testserver: bind 127.0.0.1:0")
    }

    /// Starts a server on `127.0.0.1:0`.
    pub async fn try_start() -> std::io::Result<TestApiServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new()),
            faults: Mutex::new(Faults::default()),
            recorder: Mutex::new(Recorder::default()),
            rbac: Mutex::new(Rbac::default()),
            shutdown: watch::channel(false).0,
            down: watch::channel(false).0,
            connections: Mutex::new(Vec::new()),
            addr,
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(TestApiServer {
            shared,
            addr,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig whose current context points at this server (no
    /// credentials; default namespace `default`), for
    /// `kube::config::Kubeconfig::from_yaml` + `kube::Config::from_custom_kubeconfig`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: kube-testserver
  cluster:
    server: {url}
contexts:
- name: kube-testserver
  context:
    cluster: kube-testserver
    user: kube-testserver
    namespace: default
current-context: kube-testserver
users:
- name: kube-testserver
  user: {{}}
preferences: {{}}
",
            url = self.url()
        )
    }

    /// Stops accepting, closes every connection (ending watches) and waits
    /// for the accept loop to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        self.shared.close_connections();
        if let Some(h) = self.accept.take() {
            let _ = h.await;
        }
    }

    // ----- store helpers -------------------------------------------------

    /// Creates or replaces an object directly in the store (its kind found
    /// from `apiVersion` + `kind`; namespaced objects default to
    /// `default`). System metadata is filled, defaults and validation apply,
    /// `.status` is stored as given, `managedFields` are kept as given, and
    /// watchers see the change. Returns the stored object.
    pub fn insert(&self, obj: Value) -> Result<Value, ApiError> {
        let mut state = self.shared.state();
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind_name = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let kind = state
            .registry
            .lookup_kind(group, version, kind_name)
            .cloned()
            .ok_or_else(ApiError::resource_not_found)?;
        let ns = meta_str(&obj, "namespace");
        let t = Target {
            namespace: if kind.namespaced {
                if ns.is_empty() {
                    "default".into()
                } else {
                    ns.to_string()
                }
            } else {
                String::new()
            },
            kind,
            sub: Sub::Main,
        };
        let r = state.insert(&t, obj)?;
        drop(state);
        for f in r.followups {
            self.shared.schedule(f);
        }
        Ok(r.object)
    }

    /// An object from the store (`None` if absent or the kind is not served).
    /// `namespace` is ignored for cluster-scoped kinds.
    pub fn get(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let state = self.shared.state();
        let t = helper_target(&state, group, version, plural, namespace).ok()?;
        let key = State::key(&t.kind, &t.namespace, name);
        state.store.get(&key).map(|o| present(&t.kind, o))
    }

    /// Objects of a kind, in one namespace or (with `None`) all of them.
    pub fn list(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let state = self.shared.state();
        let Some(kind) = state.registry.lookup(group, version, plural).cloned() else {
            return Vec::new();
        };
        state
            .store
            .list(group, plural, namespace.filter(|_| kind.namespaced))
            .into_iter()
            .map(|o| present(&kind, o))
            .collect()
    }

    /// Deletes an object as a DELETE request would (finalizers honoured).
    pub fn delete(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let mut state = self.shared.state();
        let t = helper_target(&state, group, version, plural, namespace)?;
        state.delete(&t, name, &DeleteOpts::default())
    }

    /// Sets `.status` of an object, recorded as an `Update` by manager
    /// `kube-testserver` (on the status subresource when the kind has one).
    pub fn set_status(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        status: Value,
    ) -> Result<Value, ApiError> {
        let mut state = self.shared.state();
        let t = helper_target(&state, group, version, plural, namespace)?;
        state
            .set_status(&t, name, status, "kube-testserver")
            .map(|r| r.object)
    }

    /// Writes the status a finished rollout has, as the controllers would:
    /// Deployment (all replicas updated/ready/available, `Available` and
    /// `Progressing` conditions), StatefulSet, DaemonSet, Job (`Complete`),
    /// Pod (`Running`, `Ready`), PersistentVolumeClaim (`Bound`). Uses the
    /// object's current `metadata.generation` as `observedGeneration`.
    pub fn mark_rolled_out(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let (version, obj) = {
            let state = self.shared.state();
            let kind = state
                .registry
                .any_version(group, plural)
                .cloned()
                .ok_or_else(ApiError::resource_not_found)?;
            let t = helper_target(&state, group, &kind.version, plural, namespace)?;
            let key = State::key(&t.kind, &t.namespace, name);
            let obj = state
                .store
                .get(&key)
                .cloned()
                .ok_or_else(|| ApiError::not_found(group, plural, name))?;
            (kind.version, obj)
        };
        let status = rolled_out_status(group, plural, name, &obj)?;
        self.set_status(group, &version, plural, namespace, name, status)
    }

    /// Serves an extra kind (a test-defined API). Replaces a kind already
    /// served at the same group/version/plural.
    pub fn register_kind(&self, kind: ResourceKind) {
        self.shared.state().registry.register(kind, None);
    }

    /// Stops serving a kind; its stored objects stay (and reappear if it is
    /// registered again). True if it was served.
    pub fn unregister_kind(&self, group: &str, version: &str, plural: &str) -> bool {
        self.shared
            .state()
            .registry
            .unregister(group, version, plural)
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> String {
        self.shared.state().store.current_rv().to_string()
    }

    // ----- settings -------------------------------------------------------

    /// Delay between a CRD's creation and it becoming Established (and its
    /// kinds served). Default zero: established by the creating request.
    pub fn set_crd_establish_delay(&self, d: Duration) {
        self.shared.state().settings.crd_establish_delay = d;
    }

    /// How long a deleted Namespace stays `Terminating` (creates in it are
    /// refused with 403) before it and its objects are gone, as the real
    /// namespace controller works asynchronously. Default 1.5 s; zero makes
    /// deletion immediate (the DELETE response then still shows the
    /// Namespace `Terminating`).
    pub fn set_namespace_finalize_delay(&self, d: Duration) {
        self.shared.state().settings.namespace_finalize_delay = d;
    }

    /// Interval of BOOKMARK events on watches that allow them (default 5s;
    /// the real server sends one about every minute).
    pub fn set_bookmark_interval(&self, d: Duration) {
        self.shared.state().settings.bookmark_interval = d;
    }

    /// How many events the watch history keeps (default 10 000). Watches
    /// from an older resourceVersion get a 410 `Expired` ERROR event.
    pub fn set_watch_history_limit(&self, n: usize) {
        self.shared.state().store.set_history_limit(n);
    }

    /// Drops all watch history, as an etcd compaction would: watches from
    /// any resourceVersion before now get 410 `Expired`.
    pub fn compact_watch_history(&self) {
        self.shared.state().store.compact();
    }

    /// Fault injection: while `dropped`, changes to the store reach no
    /// watch, now or on a later resume (as events lost between the server
    /// and a client that never noticed); objects, resourceVersions and
    /// lists change as usual.
    pub fn set_watch_events_dropped(&self, dropped: bool) {
        self.shared.state().store.set_events_dropped(dropped);
    }

    // ----- counters -------------------------------------------------------

    /// A snapshot of the request counters.
    pub fn counters(&self) -> Counters {
        let changes = self.shared.state().store.commits();
        self.shared.recorder().snapshot(changes)
    }

    /// Zeroes the counters and clears the request log.
    pub fn reset_counters(&self) {
        self.shared.state().store.reset_commits();
        self.shared.recorder().reset();
    }

    /// Every request since the last reset (oldest first; at most 100 000).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.recorder().log()
    }

    /// Clears the request log (counters unchanged).
    pub fn clear_request_log(&self) {
        self.shared.recorder().clear_log();
    }

    // ----- impersonation ------------------------------------------------

    /// Gives the impersonated `user` (as sent in `Impersonate-User`, e.g.
    /// `system:serviceaccount:team-a:flotilla`) these allow rules: its
    /// requests that no rule allows are refused with the real 403. Users
    /// without rules may do everything.
    pub fn set_rbac(&self, user: &str, rules: Vec<RbacRule>) {
        self.shared.rbac().set(user, rules);
    }

    /// Forgets every rule set.
    pub fn clear_rbac(&self) {
        self.shared.rbac().clear();
    }

    // ----- faults ---------------------------------------------------------

    /// Arms a fault.
    pub fn inject(&self, fault: Fault) {
        self.shared.faults().add(fault);
    }

    /// The next `n` requests fail with a `Status` of HTTP code `code`.
    pub fn fail_next(&self, n: usize, code: u16) {
        self.inject(Fault::status(code).times(n));
    }

    /// The next `n` requests have their connection closed without a response.
    pub fn drop_next(&self, n: usize) {
        self.inject(Fault::drop_connection().times(n));
    }

    /// Adds `d` before every response (zero to stop).
    pub fn set_response_delay(&self, d: Duration) {
        self.shared.faults().set_delay(d);
    }

    /// Disarms every fault and the response delay.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Remaining armed fault uses.
    pub fn pending_faults(&self) -> usize {
        self.shared.faults().pending()
    }

    /// "Down" switch: while down, new connections are closed as soon as they
    /// are accepted and open ones (including watches) are closed. Stored
    /// objects survive; `set_down(false)` brings the server back.
    pub fn set_down(&self, down: bool) {
        self.shared.down.send_replace(down);
        if down {
            self.shared.close_connections();
        }
    }

    /// Whether the server is down.
    pub fn is_down(&self) -> bool {
        self.shared.is_down()
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        self.shared.close_connections();
        if let Some(h) = self.accept.take() {
            h.abort();
        }
    }
}

/// The status a completed rollout has for `group`/`plural`.
fn rolled_out_status(
    group: &str,
    plural: &str,
    name: &str,
    obj: &Value,
) -> Result<Value, ApiError> {
    let generation = metadata(obj)
        .and_then(|m| m.get("generation"))
        .cloned()
        .unwrap_or(json!(1));
    let replicas = get_path(obj, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let now = now_rfc3339();
    let cond = |t: &str, reason: &str, message: &str| {
        json!({
            "type": t,
            "status": "True",
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        })
    };
    Ok(match (group, plural) {
        ("apps", "deployments") => json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                cond("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                cond("Progressing", "NewReplicaSetAvailable",
                     &format!("ReplicaSet \"{name}-5d8f7b9c6d\" has successfully progressed.")),
            ],
        }),
        ("apps", "statefulsets") => json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
            "currentRevision": format!("{name}-5d8f7b9c6d"),
            "updateRevision": format!("{name}-5d8f7b9c6d"),
            "collisionCount": 0,
        }),
        ("apps", "daemonsets") => json!({
            "observedGeneration": generation,
            "currentNumberScheduled": 1,
            "desiredNumberScheduled": 1,
            "numberAvailable": 1,
            "numberMisscheduled": 0,
            "numberReady": 1,
            "updatedNumberScheduled": 1,
        }),
        ("batch", "jobs") => {
            let completions = get_path(obj, &["spec", "completions"])
                .and_then(Value::as_i64)
                .unwrap_or(1);
            json!({
                "startTime": now,
                "completionTime": now,
                "succeeded": completions,
                "ready": 0,
                "terminating": 0,
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now,
                     "lastTransitionTime": now, "reason": "CompletionsReached",
                     "message": "Reached expected number of succeeded pods"},
                    {"type": "Complete", "status": "True", "lastProbeTime": now,
                     "lastTransitionTime": now, "reason": "CompletionsReached",
                     "message": "Reached expected number of succeeded pods"},
                ],
            })
        }
        ("", "pods") => json!({
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            ],
            "podIP": "10.244.0.10",
            "startTime": now,
        }),
        ("", "persistentvolumeclaims") => json!({
            "phase": "Bound",
            "accessModes": get_path(obj, &["spec", "accessModes"]).cloned().unwrap_or(json!(["ReadWriteOnce"])),
            "capacity": get_path(obj, &["spec", "resources", "requests"]).cloned().unwrap_or(json!({})),
        }),
        _ => {
            return Err(ApiError::bad_request(format!(
                "kube-testserver has no rollout model for {plural}.{group}"
            )));
        }
    })
}
