//! The reconcile loop: poll Git (on an interval, or at once on a webhook),
//! and roll each new good commit out wave by wave with the
//! [rollout](super::rollout) (the one `flotilla sync` uses), health-gated,
//! through the per-cluster [workers](super::worker) and a [`Pool`] of
//! `concurrency` slots. Drift checks and self-heal run in the workers, each
//! on its own jittered schedule, in slots of the same pool.
//!
//! A commit that does not load keeps every cluster on the last good one; a
//! cluster whose render fails keeps its last good state; clusters that
//! missed the current commit (down, failed, halted) get it again on the next
//! reconcile round.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use super::config::DaemonConfig;
use super::metrics::Metrics;
use super::pool::Pool;
use super::rollout::{self, ClusterDriver, Outcome, RolloutOptions};
use super::state::{ClusterState, SharedState, SyncStatus};
use super::worker::{Request, Worker, WorkerContext};
use flotilla_core::health::HealthStatus;
use flotilla_core::model::{Cluster, Connection, Fleet};
use flotilla_engine::destination::ConnectOptions;
use flotilla_source::{PollOutcome, Source};

/// The daemon's reconcile state machine.
pub struct Reconciler {
    ctx: WorkerContext,
    /// Pull mode: where agent clusters' workers meet their agents.
    agents: Arc<crate::agent::AgentHub>,
    source: Arc<Mutex<Source>>,
    fleet: Option<Arc<Fleet>>,
    workers: HashMap<String, Worker>,
}

impl Reconciler {
    /// A reconciler over `source`, publishing into `state` and `metrics`.
    pub fn new(
        config: DaemonConfig,
        source: Source,
        state: SharedState,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut connect = ConnectOptions {
            watch_cache: true,
            timeouts: flotilla_engine::destination::kube::Timeouts {
                connect: config.connect_timeout,
                request: config.request_timeout,
            },
            directory_base: crate::config::directory_base(&config.repo),
            ..ConnectOptions::default()
        };
        if let Some(dir) = &config.kubeconfig_dir {
            connect
                .vars
                .insert("FLOTILLA_KUBECONFIG_DIR".into(), dir.display().to_string());
        }
        let pool = Arc::new(Pool::new(config.concurrency));
        let agents = Arc::new(crate::agent::AgentHub::new(
            None,
            state.clone(),
            tokio::sync::watch::channel(false).1,
        ));
        Self {
            agents,
            ctx: WorkerContext {
                config,
                state,
                metrics,
                connect,
                pool,
                ha: None,
            },
            source: Arc::new(Mutex::new(source)),
            fleet: None,
            workers: HashMap::new(),
        }
    }

    /// Uses `agents` for the clusters in pull mode (the same hub the HTTP
    /// server's `/agent/` routes serve); without it no agent can connect.
    pub fn with_agents(mut self, agents: Arc<crate::agent::AgentHub>) -> Self {
        self.agents = agents;
        self
    }

    /// Many replicas: this replica syncs, checks and heals only the
    /// clusters it owns (through their fences), waits on the others' status
    /// records in the rollout, and names itself in its requests'
    /// `User-Agent`. Call before the first poll.
    pub fn with_ha(mut self, ownership: Arc<crate::ha::Ownership>) -> Self {
        let agent = crate::ha::user_agent(ownership.replica());
        self.ctx.connect.user_agent = axum::http::HeaderValue::from_str(&agent).ok();
        self.ctx.ha = Some(ownership);
        self
    }

    /// Polls Git once; returns whether a new commit loaded and should be
    /// rolled out.
    pub async fn poll(&mut self) -> bool {
        let source = self.source.clone();
        let polled =
            tokio::task::spawn_blocking(move || source.lock().expect("source lock").poll()).await;
        let state = &self.ctx.state;
        let outcome = match polled {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                self.ctx.metrics.git_poll_errors.inc();
                if matches!(e, flotilla_source::SourceError::Unverified { .. }) {
                    // Every cluster stays on the last verified commit.
                    self.ctx.metrics.commit_refused.set(1);
                }
                tracing::warn!(error = %e, "git poll failed");
                state.write().expect("state lock").git_error = Some(e.to_string());
                return false;
            }
            Err(e) => {
                self.ctx.metrics.git_poll_errors.inc();
                state.write().expect("state lock").git_error = Some(format!("git poll task: {e}"));
                return false;
            }
        };
        self.ctx.metrics.commit_refused.set(0);
        {
            let mut s = state.write().expect("state lock");
            s.git_error = None;
            s.last_poll = Some(SystemTime::now());
            s.ready = true;
        }
        let PollOutcome::Updated {
            snapshot,
            history_rewritten,
            ..
        } = outcome
        else {
            return false;
        };
        let revision = snapshot.revision().map(str::to_string);
        let commit = snapshot.commit().cloned();
        if history_rewritten {
            tracing::warn!(revision = %revision.as_deref().unwrap_or("work tree"), "history rewritten (force push)");
        }
        let threads = flotilla_source::Threads::available();
        let fleet = match flotilla_core::load::load_with(&snapshot, &threads) {
            Err(diags) => {
                tracing::warn!(
                    revision = %revision.as_deref().unwrap_or("work tree"),
                    errors = diags.len(),
                    "new commit does not load; keeping the last good one"
                );
                let mut s = state.write().expect("state lock");
                s.seen_revision = revision;
                s.commit_error = Some(diags.to_string());
                return false;
            }
            Ok(f) => f,
        };
        tracing::info!(revision = %revision.as_deref().unwrap_or("work tree"), "new commit");
        {
            let mut s = state.write().expect("state lock");
            s.fleet = fleet.name.clone();
            s.seen_revision = revision.clone();
            s.good_revision = revision;
            s.commit = commit;
            s.commit_error = None;
            s.waves = fleet.rollout.waves.iter().map(|w| w.name.clone()).collect();
            s.tenants = fleet.tenants.clone();
            s.clusters.retain(|name, _| fleet.cluster(name).is_some());
            for wave in &fleet.rollout.waves {
                for name in &wave.clusters {
                    let c = s
                        .clusters
                        .entry(name.clone())
                        .or_insert_with(|| ClusterState::new(name, &wave.name));
                    c.wave = wave.name.clone();
                    if let Some(member) = fleet.cluster(name) {
                        c.labels = member.labels.clone();
                        c.health_judged =
                            !matches!(member.connection, Connection::Directory { .. });
                    }
                }
            }
            for c in s.clusters.values_mut() {
                c.status = SyncStatus::Pending;
                let pull = fleet
                    .cluster(&c.name)
                    .is_some_and(|f| matches!(f.connection, Connection::Agent));
                if pull {
                    c.agent.get_or_insert_with(Default::default);
                } else {
                    c.agent = None;
                }
            }
        }
        // One worker per cluster; a cluster that left the fleet stops its worker.
        // A cluster that changed between push and pull gets a new worker.
        let agents = &self.agents;
        self.workers.retain(|name, _| {
            fleet.cluster(name).is_some_and(|c| {
                matches!(c.connection, Connection::Agent) == agents.is_agent_cluster(name)
            })
        });
        for c in &fleet.clusters {
            if !self.workers.contains_key(&c.name) {
                let w = if matches!(c.connection, Connection::Agent) {
                    crate::agent::worker::start(c.name.clone(), self.ctx.clone(), agents.clone())
                } else {
                    Worker::start(c.name.clone(), self.ctx.clone())
                };
                self.workers.insert(c.name.clone(), w);
            }
        }
        self.fleet = Some(Arc::new(fleet));
        true
    }

    /// Rolls the current fleet out wave by wave. A wave starts only when the
    /// previous one synced and (with `healthGate`) became healthy within
    /// `healthTimeout`; otherwise the rollout halts and the later waves keep
    /// their state, shown as halted with the cause.
    pub async fn rollout(&mut self, stop: &AtomicBool) {
        let Some(fleet) = self.fleet.clone() else {
            return;
        };
        if self.paused() {
            tracing::info!(
                revision = fleet.revision.as_deref().unwrap_or("work tree"),
                "rollout paused: not rolling out"
            );
            return;
        }
        let options = RolloutOptions {
            health_gate: fleet
                .rollout
                .health_gate
                .then_some(self.ctx.config.health_timeout),
        };
        let driver = WorkerDriver {
            workers: &self.workers,
            state: &self.ctx.state,
            ha: self.ctx.ha.as_deref(),
            timeout: self.ctx.config.health_timeout,
        };
        let waves = rollout::plan(&fleet, &[]);
        let outcomes = rollout::run(&fleet, &waves, &driver, &self.ctx.pool, options, stop).await;
        let halt = halt_of(&waves, &outcomes, options.health_gate.is_some());
        let finished = !self.paused()
            && waves.iter().all(|w| {
                w.clusters
                    .iter()
                    .all(|c| outcomes.iter().any(|o| &o.cluster == c))
            });
        let mut s = self.ctx.state.write().expect("state lock");
        for o in outcomes {
            if let Outcome::Halted(halt) = o.outcome
                && let Some(c) = s.clusters.get_mut(&o.cluster)
            {
                c.status = SyncStatus::Halted;
                c.last_error = Some(format!("rollout halted: {halt}"));
            }
        }
        // A round that ran every wave settles the halt: kept when it
        // halted again, cleared when it passed. A paused or stopped round
        // says nothing new.
        if halt.is_some() || finished {
            s.rollout.halt = halt.map(|h| h.to_string());
        }
    }

    /// Whether an operator paused the rollout.
    fn paused(&self) -> bool {
        self.ctx.state.read().expect("state lock").rollout.paused
    }

    /// Carries out what operators asked since the last step: a rollout
    /// round (retry, resume) and syncs of single clusters. Returns whether
    /// a round ran.
    async fn operator_requests(&mut self, stop: &AtomicBool) -> bool {
        let (round, clusters) = {
            let mut s = self.ctx.state.write().expect("state lock");
            let round = std::mem::take(&mut s.rollout.round_requested);
            let clusters = std::mem::take(&mut s.rollout.sync_requested);
            (round, clusters)
        };
        if let Some(fleet) = self.fleet.clone() {
            for name in clusters {
                let (Some(worker), Some(_)) = (self.workers.get(&name), fleet.cluster(&name))
                else {
                    continue;
                };
                if let Some(ha) = &self.ctx.ha
                    && !ha.owns(&name)
                {
                    tracing::info!(cluster = %name, "not syncing now: another replica owns the cluster; ask that one");
                    continue;
                }
                tracing::info!(cluster = %name, "syncing now, as an operator asked");
                let requests = worker.requests.clone();
                let pool = self.ctx.pool.clone();
                let fleet = fleet.clone();
                tokio::spawn(async move {
                    let (reply, answer) = oneshot::channel();
                    let request = Request::Sync {
                        fleet,
                        gated: false,
                        reply,
                    };
                    pool.run(&name, async move {
                        if requests.send(request).await.is_ok() {
                            let _ = answer.await;
                        }
                    })
                    .await;
                });
            }
        }
        if round && !stop.load(Ordering::Relaxed) {
            tracing::info!("rollout round, as an operator asked");
            self.rollout(stop).await;
        }
        round
    }

    /// Whether any cluster is not synced on the commit being rolled out.
    fn behind(&self) -> bool {
        let s = self.ctx.state.read().expect("state lock");
        self.fleet.is_some()
            && s.clusters
                .values()
                .any(|c| c.revision != s.good_revision || c.status != SyncStatus::Synced)
    }

    /// Runs until `shutdown` fires: polls on the interval or when `trigger`
    /// is notified (a webhook), rolls out new commits, and on every
    /// reconcile interval gives clusters that missed the current commit
    /// another try. On shutdown it finishes the step in progress (no new
    /// cluster is started), lets each worker finish its own, and returns.
    pub async fn run(
        mut self,
        trigger: Arc<tokio::sync::Notify>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                while !*shutdown.borrow() {
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
                stop.store(true, Ordering::Relaxed);
            });
        }
        let interval = self.ctx.config.reconcile_interval;
        let mut next_poll = Instant::now();
        let mut next_retry = Instant::now() + interval;
        let gained = self.ctx.ha.as_ref().map(|h| h.gained());
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if Instant::now() >= next_poll {
                if self.poll().await {
                    self.rollout(&stop).await;
                    next_retry = Instant::now() + interval;
                }
                next_poll = Instant::now() + self.ctx.config.poll_interval;
            }
            if self.operator_requests(&stop).await {
                next_retry = Instant::now() + interval;
            }
            if Instant::now() >= next_retry && !stop.load(Ordering::Relaxed) {
                if self.behind() {
                    self.rollout(&stop).await;
                }
                next_retry = Instant::now() + interval;
            }
            let wake = next_poll.min(next_retry);
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = trigger.notified() => { next_poll = Instant::now(); }
                _ = shutdown.changed() => {}
                // Many replicas: clusters came to this one; sync those behind now.
                _ = async { gained.as_ref().expect("guarded").notified().await }, if gained.is_some() => {
                    next_retry = Instant::now();
                }
            }
        }
        // Workers stop once their request channel closes, after their step.
        let tasks: Vec<_> = self.workers.drain().map(|(_, w)| w.task).collect();
        let _ =
            tokio::time::timeout(Duration::from_secs(50), futures::future::join_all(tasks)).await;
        tracing::info!("reconcile loop stopped");
    }
}

/// The daemon's driver: asks each cluster's worker, which keeps the
/// cluster's connection and watch caches between rounds.
struct WorkerDriver<'a> {
    workers: &'a HashMap<String, Worker>,
    state: &'a SharedState,
    /// Many replicas: clusters another replica owns are waited on.
    ha: Option<&'a crate::ha::Ownership>,
    /// How long to wait on another replica's cluster (the health timeout).
    timeout: Duration,
}

impl WorkerDriver<'_> {
    /// The ownership, when `cluster` is another replica's to sync.
    fn remote(&self, cluster: &Cluster) -> Option<&crate::ha::Ownership> {
        self.ha.filter(|ha| {
            !matches!(cluster.connection, Connection::Agent) && !ha.owns(&cluster.name)
        })
    }
}

impl ClusterDriver for WorkerDriver<'_> {
    type Report = SyncStatus;

    fn uses_slot(&self, cluster: &Cluster) -> bool {
        self.remote(cluster).is_none()
    }

    async fn sync(&self, fleet: &Arc<Fleet>, cluster: &Cluster) -> SyncStatus {
        if let Some(ha) = self.remote(cluster)
            && let Some(status) = crate::ha::wait_remote_sync(
                ha,
                self.state,
                &cluster.name,
                fleet.revision.as_deref(),
                self.timeout,
            )
            .await
        {
            return status;
        }
        {
            let mut s = self.state.write().expect("state lock");
            let Some(c) = s.clusters.get_mut(&cluster.name) else {
                return SyncStatus::Failed;
            };
            // A cluster already on this commit is not synced again when the
            // rollout runs for the clusters that missed it: whether its drift
            // is corrected is self-heal's decision (its worker's), never a
            // side effect of another cluster being behind.
            if already_synced(c, fleet) {
                return SyncStatus::Synced;
            }
            c.status = SyncStatus::Syncing;
        }
        let Some(worker) = self.workers.get(&cluster.name) else {
            return SyncStatus::Failed;
        };
        let (reply, answer) = oneshot::channel();
        let request = Request::Sync {
            fleet: fleet.clone(),
            gated: fleet.rollout.health_gate,
            reply,
        };
        if worker.requests.send(request).await.is_err() {
            return SyncStatus::Failed;
        }
        answer.await.unwrap_or(SyncStatus::Failed)
    }

    fn synced(status: &SyncStatus) -> bool {
        *status == SyncStatus::Synced
    }

    fn failure(&self, cluster: &str, _status: &SyncStatus) -> Option<String> {
        let s = self.state.read().expect("state lock");
        s.clusters.get(cluster).and_then(|c| c.last_error.clone())
    }

    fn paused(&self) -> bool {
        self.state.read().expect("state lock").rollout.paused
    }

    async fn wait_healthy(
        &self,
        fleet: &Arc<Fleet>,
        cluster: &Cluster,
        timeout: Duration,
    ) -> HealthStatus {
        if self.remote(cluster).is_some() {
            return crate::ha::wait_remote_health(
                self.state,
                &cluster.name,
                fleet.revision.as_deref(),
                timeout,
            )
            .await;
        }
        let Some(worker) = self.workers.get(&cluster.name) else {
            return HealthStatus::Unknown;
        };
        let (reply, answer) = oneshot::channel();
        let request = Request::WaitHealthy {
            fleet: fleet.clone(),
            timeout,
            reply,
        };
        if worker.requests.send(request).await.is_err() {
            return HealthStatus::Unknown;
        }
        answer.await.unwrap_or(HealthStatus::Unknown)
    }
}

/// Whether `cluster` is on `fleet`'s commit already (synced to it, not
/// pending a new one).
fn already_synced(cluster: &crate::state::ClusterState, fleet: &Fleet) -> bool {
    cluster.status == SyncStatus::Synced
        && cluster.revision.is_some()
        && cluster.revision == fleet.revision
}

/// The halt of a rollout round, from its outcomes: the first wave (in
/// order) whose clusters did not all pass, as [`rollout::run`] judged it.
fn halt_of(
    waves: &[rollout::Wave],
    outcomes: &[rollout::ClusterOutcome<SyncStatus>],
    gated: bool,
) -> Option<rollout::Halt> {
    waves.iter().find_map(|w| {
        let done: Vec<(&str, bool, Option<HealthStatus>)> = outcomes
            .iter()
            .filter(|o| o.wave == w.name)
            .filter_map(|o| match &o.outcome {
                Outcome::Done { report, health } => {
                    Some((o.cluster.as_str(), WorkerDriver::synced(report), *health))
                }
                Outcome::Halted(_) => None,
            })
            .collect();
        rollout::verdict(&w.name, done, gated)
    })
}
