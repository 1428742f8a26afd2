//! The reconcile loop: poll Git, roll each new good commit out wave by wave
//! (health-gated), and between commits check every cluster for drift and
//! correct it when self-heal is on.
//!
//! Isolation: clusters of a wave sync concurrently, each with its own
//! target; a failing cluster is retried on its own schedule (exponential
//! backoff with jitter) and never blocks drift checks of the others. A
//! commit that does not load keeps every cluster on the last good one; a
//! cluster whose render fails keeps its last good state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use rand::Rng;

use super::config::DaemonConfig;
use super::metrics::{ClusterLabel, Metrics};
use super::state::{ClusterState, SharedState, SyncStatus};
use crate::cluster::{AnyTarget, ClusterError, ConnectOptions, Target, connect};
use crate::health::{HealthStatus, aggregate, health_of};
use crate::model::{Cluster, Fleet};
use crate::render::{DesiredState, render_cluster};
use crate::source::{PollOutcome, Source};
use crate::sync::drift::{ClusterDrift, ClusterStatus, detect};
use crate::sync::{ChangeSet, PlanOptions, SyncOptions, sync_cluster};

/// The daemon's reconcile state machine.
pub struct Reconciler {
    config: DaemonConfig,
    source: Arc<Mutex<Source>>,
    state: SharedState,
    metrics: Arc<Metrics>,
    connect: ConnectOptions,
    fleet: Option<Arc<Fleet>>,
    targets: HashMap<String, AnyTarget>,
    /// When each cluster's next drift check is due, and its failure count.
    schedule: HashMap<String, (Instant, u32)>,
}

/// What syncing one cluster came to.
struct Outcome {
    cluster: String,
    target: Option<AnyTarget>,
    status: SyncStatus,
    health: HealthStatus,
    changes: Option<ChangeSet>,
    error: Option<String>,
    seconds: f64,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn is_unreachable(message: &str) -> bool {
    message.contains("cluster unreachable")
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
            ..ConnectOptions::default()
        };
        if let Some(dir) = &config.kubeconfig_dir {
            connect
                .vars
                .insert("FLOTILLA_KUBECONFIG_DIR".into(), dir.display().to_string());
        }
        Self {
            config,
            source: Arc::new(Mutex::new(source)),
            state,
            metrics,
            connect,
            fleet: None,
            targets: HashMap::new(),
            schedule: HashMap::new(),
        }
    }

    fn sync_options(&self) -> SyncOptions {
        SyncOptions {
            force_conflicts: self.config.force_conflicts,
            plan: PlanOptions {
                prune: self.config.prune && self.fleet.as_ref().is_none_or(|f| f.prune),
                max_prune_ratio: self.config.max_prune_ratio,
                allow_mass_prune: false,
            },
            ..SyncOptions::default()
        }
    }

    /// Polls Git once; returns whether a new commit loaded and should be
    /// rolled out.
    pub async fn poll(&mut self) -> bool {
        let source = self.source.clone();
        let polled =
            tokio::task::spawn_blocking(move || source.lock().expect("source lock").poll()).await;
        let outcome = match polled {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                self.metrics.git_poll_errors.inc();
                tracing::warn!(error = %e, "git poll failed");
                self.state.write().expect("state lock").git_error = Some(e.to_string());
                return false;
            }
            Err(e) => {
                self.metrics.git_poll_errors.inc();
                self.state.write().expect("state lock").git_error =
                    Some(format!("git poll task: {e}"));
                return false;
            }
        };
        {
            let mut s = self.state.write().expect("state lock");
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
        if history_rewritten {
            tracing::warn!(?revision, "history rewritten (force push)");
        }
        match crate::load::load(&snapshot) {
            Err(diags) => {
                tracing::warn!(
                    ?revision,
                    errors = diags.len(),
                    "new commit does not load; keeping the last good one"
                );
                let mut s = self.state.write().expect("state lock");
                s.seen_revision = revision;
                s.commit_error = Some(diags.to_string());
                false
            }
            Ok(fleet) => {
                tracing::info!(?revision, "new commit");
                let mut s = self.state.write().expect("state lock");
                s.fleet = fleet.name.clone();
                s.seen_revision = revision.clone();
                s.good_revision = revision;
                s.commit_error = None;
                s.clusters.retain(|name, _| fleet.cluster(name).is_some());
                for wave in &fleet.rollout.waves {
                    for name in &wave.clusters {
                        s.clusters
                            .entry(name.clone())
                            .or_insert_with(|| ClusterState::new(name, &wave.name))
                            .wave = wave.name.clone();
                    }
                }
                for c in s.clusters.values_mut() {
                    c.status = SyncStatus::Pending;
                }
                self.targets.retain(|name, _| fleet.cluster(name).is_some());
                self.fleet = Some(Arc::new(fleet));
                true
            }
        }
    }

    /// Rolls the current fleet out wave by wave. A wave starts only when the
    /// previous one synced and (with `healthGate`) became healthy; otherwise
    /// the rollout halts and later waves keep their state.
    pub async fn rollout(&mut self, stop: &AtomicBool) {
        let Some(fleet) = self.fleet.clone() else {
            return;
        };
        let gate = fleet.rollout.health_gate;
        let mut halted: Option<String> = None;
        for wave in &fleet.rollout.waves {
            if let Some(why) = &halted {
                let mut s = self.state.write().expect("state lock");
                for name in &wave.clusters {
                    if let Some(c) = s.clusters.get_mut(name) {
                        c.status = SyncStatus::Halted;
                        c.last_error = Some(why.clone());
                    }
                }
                continue;
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let outcomes = self.sync_clusters(&fleet, &wave.clusters, gate).await;
            let bad = outcomes.iter().find(|o| {
                o.status != SyncStatus::Synced || (gate && o.health != HealthStatus::Healthy)
            });
            if let Some(bad) = bad {
                halted = Some(format!(
                    "rollout halted: wave {:?} did not succeed on cluster {} ({:?}, health {:?})",
                    wave.name, bad.cluster, bad.status, bad.health
                ));
                tracing::warn!(wave = %wave.name, cluster = %bad.cluster, "rollout halted");
            }
            for o in outcomes {
                self.record(o);
            }
        }
    }

    async fn sync_clusters(
        &mut self,
        fleet: &Arc<Fleet>,
        names: &[String],
        gate: bool,
    ) -> Vec<Outcome> {
        let force = self.config.force_conflicts;
        self.sync_clusters_with(fleet, names, gate, force).await
    }

    async fn sync_clusters_with(
        &mut self,
        fleet: &Arc<Fleet>,
        names: &[String],
        gate: bool,
        force_conflicts: bool,
    ) -> Vec<Outcome> {
        {
            let mut s = self.state.write().expect("state lock");
            for n in names {
                if let Some(c) = s.clusters.get_mut(n) {
                    c.status = SyncStatus::Syncing;
                }
            }
        }
        let jobs: Vec<(Cluster, Option<AnyTarget>)> = names
            .iter()
            .filter_map(|n| fleet.cluster(n).cloned())
            .map(|c| {
                let t = self.targets.remove(&c.name);
                (c, t)
            })
            .collect();
        let mut options = self.sync_options();
        options.force_conflicts = force_conflicts;
        let timeout = self.config.health_timeout;
        let connect_options = &self.connect;
        futures::stream::iter(jobs)
            .map(|(cluster, target)| {
                sync_one(
                    fleet,
                    cluster,
                    target,
                    connect_options,
                    options,
                    gate,
                    timeout,
                )
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await
    }

    fn record(&mut self, o: Outcome) {
        if let Some(changes) = &o.changes {
            self.metrics.record_sync(changes, o.seconds, now_unix());
        }
        let revision = self.fleet.as_ref().and_then(|f| f.revision.clone());
        let mut s = self.state.write().expect("state lock");
        if let Some(c) = s.clusters.get_mut(&o.cluster) {
            c.status = o.status;
            c.health = o.health;
            if o.changes.is_some() {
                c.last_sync = o.changes;
            }
            c.last_error = o.error;
            if o.status == SyncStatus::Synced {
                c.revision = revision;
                c.last_success = Some(SystemTime::now());
            }
        }
        if let Some(t) = o.target {
            self.targets.insert(o.cluster, t);
        }
    }

    /// Checks every synced cluster that is due for drift, and corrects drift
    /// when self-heal is on. Clusters that fail back off on their own.
    pub async fn reconcile(&mut self, stop: &AtomicBool) {
        let Some(fleet) = self.fleet.clone() else {
            return;
        };
        let now = Instant::now();
        let due: Vec<Cluster> = {
            let s = self.state.read().expect("state lock");
            fleet
                .clusters
                .iter()
                .filter(|c| {
                    s.clusters.get(&c.name).is_some_and(|st| {
                        matches!(
                            st.status,
                            SyncStatus::Synced | SyncStatus::Unreachable | SyncStatus::Failed
                        ) && st.revision.is_some()
                    })
                })
                .filter(|c| self.schedule.get(&c.name).is_none_or(|(at, _)| *at <= now))
                .cloned()
                .collect()
        };
        if due.is_empty() || stop.load(Ordering::Relaxed) {
            return;
        }
        let jobs: Vec<(Cluster, Option<AnyTarget>)> = due
            .into_iter()
            .map(|c| {
                let t = self.targets.remove(&c.name);
                (c, t)
            })
            .collect();
        let connect_options = &self.connect;
        let checked: Vec<(Cluster, Option<AnyTarget>, ClusterDrift)> = futures::stream::iter(jobs)
            .map(|(cluster, target)| check_one(&fleet, cluster, target, connect_options))
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut heal = Vec::new();
        for (cluster, target, drift) in checked {
            let failed = matches!(
                drift.status,
                ClusterStatus::Unreachable | ClusterStatus::RenderError
            );
            self.metrics
                .drifted
                .get_or_create(&ClusterLabel {
                    cluster: cluster.name.clone(),
                })
                .set(drift.objects.len() as i64);
            let (at, failures) = self
                .schedule
                .get(&cluster.name)
                .copied()
                .unwrap_or((now, 0));
            let _ = at;
            let failures = if failed { failures + 1 } else { 0 };
            self.schedule.insert(
                cluster.name.clone(),
                (Instant::now() + self.backoff(failures), failures),
            );
            let drifted = drift.status == ClusterStatus::Drifted;
            {
                let mut s = self.state.write().expect("state lock");
                if let Some(c) = s.clusters.get_mut(&cluster.name) {
                    match drift.status {
                        ClusterStatus::Unreachable => {
                            c.status = SyncStatus::Unreachable;
                            c.last_error = drift.error.clone();
                        }
                        ClusterStatus::InSync => {
                            c.drift_since = None;
                            if c.status == SyncStatus::Unreachable {
                                c.status = SyncStatus::Synced;
                                c.last_error = None;
                            }
                        }
                        ClusterStatus::Drifted => {
                            c.drift_since.get_or_insert_with(SystemTime::now);
                        }
                        ClusterStatus::RenderError => {}
                    }
                    c.drift = Some(drift);
                }
            }
            if let Some(t) = target {
                self.targets.insert(cluster.name.clone(), t);
            }
            if drifted && self.config.self_heal {
                heal.push(cluster.name);
            }
        }
        if !heal.is_empty() && !stop.load(Ordering::Relaxed) {
            tracing::info!(clusters = ?heal, "self-healing drift");
            // Self-heal means Git wins: take fields back from whoever
            // changed them (as Flux does with forced ownership).
            let outcomes = self.sync_clusters_with(&fleet, &heal, false, true).await;
            for o in outcomes {
                self.record(o);
            }
        }
    }

    /// The wait before the next drift check: the reconcile interval, or
    /// after failures an exponential backoff (from 1 s) with jitter, capped
    /// at the reconcile interval.
    fn backoff(&self, failures: u32) -> Duration {
        let interval = self.config.reconcile_interval;
        if failures == 0 {
            return interval;
        }
        let base = Duration::from_secs(1).saturating_mul(1 << failures.min(16));
        let jitter = rand::rng().random_range(0.5..1.5);
        base.mul_f64(jitter).min(interval)
    }

    /// Runs until `shutdown` fires: polls on the interval or when `trigger`
    /// is notified (a webhook), rolls out new commits, checks drift. On
    /// shutdown it finishes the step in progress (no new cluster is started)
    /// and returns.
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
        let mut next_poll = Instant::now();
        let mut next_reconcile =
            Instant::now() + self.config.reconcile_interval.min(Duration::from_secs(5));
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if Instant::now() >= next_poll {
                if self.poll().await {
                    self.rollout(&stop).await;
                    next_reconcile = Instant::now() + self.config.reconcile_interval;
                }
                next_poll = Instant::now() + self.config.poll_interval;
            }
            if Instant::now() >= next_reconcile && !stop.load(Ordering::Relaxed) {
                // Clusters that missed the current commit (down, failed,
                // halted) get it again; clusters already on it cost no write.
                if self.behind() {
                    self.rollout(&stop).await;
                }
                self.reconcile(&stop).await;
                next_reconcile =
                    Instant::now() + self.config.reconcile_interval.min(self.next_due());
            }
            let wake = next_poll.min(next_reconcile);
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = trigger.notified() => { next_poll = Instant::now(); }
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("reconcile loop stopped");
    }

    /// Whether any cluster is not synced on the commit being rolled out.
    fn behind(&self) -> bool {
        let s = self.state.read().expect("state lock");
        self.fleet.is_some()
            && s.clusters
                .values()
                .any(|c| c.revision != s.good_revision || c.status != SyncStatus::Synced)
    }

    /// How long until the earliest scheduled drift check.
    fn next_due(&self) -> Duration {
        let now = Instant::now();
        self.schedule
            .values()
            .map(|(at, _)| at.saturating_duration_since(now))
            .min()
            .unwrap_or(self.config.reconcile_interval)
            .max(Duration::from_millis(200))
    }
}

async fn ensure_target(
    cluster: &Cluster,
    target: Option<AnyTarget>,
    options: &ConnectOptions,
) -> Result<AnyTarget, ClusterError> {
    match target {
        Some(t) => Ok(t),
        None => connect(cluster, options).await,
    }
}

async fn sync_one(
    fleet: &Fleet,
    cluster: Cluster,
    target: Option<AnyTarget>,
    connect_options: &ConnectOptions,
    options: SyncOptions,
    gate: bool,
    health_timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        cluster: cluster.name.clone(),
        target: None,
        status: SyncStatus::Failed,
        health: HealthStatus::Unknown,
        changes: None,
        error: None,
        seconds: 0.0,
    };
    let desired = match render_cluster(fleet, &cluster) {
        Ok(d) => d,
        Err(e) => {
            outcome.status = SyncStatus::RenderError;
            outcome.error = Some(e.to_string());
            outcome.target = target;
            return outcome;
        }
    };
    let mut target = match ensure_target(&cluster, target, connect_options).await {
        Ok(t) => t,
        Err(e) => {
            outcome.error = Some(e.to_string());
            return outcome;
        }
    };
    let changes = sync_cluster(
        &mut target,
        &fleet.name,
        fleet.revision.as_deref(),
        &desired,
        options,
        |_, _| {},
    )
    .await;
    outcome.seconds = started.elapsed().as_secs_f64();
    if changes.is_failure() {
        let message = changes.error.clone().unwrap_or_else(|| {
            let failed: Vec<String> = changes
                .changes
                .iter()
                .filter(|c| c.message.is_some())
                .map(|c| format!("{}: {}", c.key, c.message.as_deref().unwrap_or("")))
                .collect();
            failed.join("; ")
        });
        outcome.status = if is_unreachable(&message) {
            SyncStatus::Unreachable
        } else {
            SyncStatus::Failed
        };
        outcome.error = Some(message);
        outcome.changes = Some(changes);
        // Reconnect next time: the connection may be what failed.
        return outcome;
    }
    outcome.changes = Some(changes);
    outcome.status = SyncStatus::Synced;
    outcome.health = if gate {
        wait_healthy(&mut target, &desired, health_timeout).await
    } else {
        current_health(&mut target, &desired)
            .await
            .unwrap_or(HealthStatus::Unknown)
    };
    outcome.target = Some(target);
    outcome
}

/// The aggregated health of a cluster's desired objects, read live. A
/// directory target has no controllers: it is healthy once written.
async fn current_health(
    target: &mut AnyTarget,
    desired: &DesiredState,
) -> Result<HealthStatus, ClusterError> {
    if target.directory().is_some() {
        return Ok(HealthStatus::Healthy);
    }
    let addresses: Vec<(&str, &crate::model::ObjectKey)> = desired
        .objects
        .iter()
        .map(|o| (o.object["apiVersion"].as_str().unwrap_or(""), &o.key))
        .collect();
    let live = target.live(&addresses).await?;
    Ok(aggregate(desired.objects.iter().map(
        |o| match live.get(&o.key) {
            Some(l) => health_of(l).status,
            None => HealthStatus::Missing,
        },
    )))
}

/// Waits (bounded by `timeout`) until the cluster is healthy; returns the
/// health it ended at. Degraded ends the wait at once.
async fn wait_healthy(
    target: &mut AnyTarget,
    desired: &DesiredState,
    timeout: Duration,
) -> HealthStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let health = current_health(target, desired)
            .await
            .unwrap_or(HealthStatus::Unknown);
        if matches!(health, HealthStatus::Healthy | HealthStatus::Degraded)
            || Instant::now() >= deadline
        {
            return health;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(2))).await;
    }
}

async fn check_one(
    fleet: &Fleet,
    cluster: Cluster,
    target: Option<AnyTarget>,
    connect_options: &ConnectOptions,
) -> (Cluster, Option<AnyTarget>, ClusterDrift) {
    let desired = match render_cluster(fleet, &cluster) {
        Ok(d) => d,
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::RenderError, e.to_string());
            return (cluster, target, d);
        }
    };
    let mut target = match ensure_target(&cluster, target, connect_options).await {
        Ok(t) => t,
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string());
            return (cluster, None, d);
        }
    };
    match detect(&mut target, &fleet.name, &desired, |k| {
        fleet.ignored_fields(k)
    })
    .await
    {
        Ok(d) => {
            let drift = ClusterDrift::detected(&cluster.name, d);
            (cluster, Some(target), drift)
        }
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string());
            (cluster, None, d)
        }
    }
}
