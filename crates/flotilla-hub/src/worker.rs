//! One worker per cluster: a task that owns the cluster's connection (and
//! its watch caches), syncs when the rollout asks, and on its own schedule
//! checks drift and self-heals, backing off with jitter after failures. A
//! slow or unreachable cluster holds only its own worker.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::sync::{mpsc, oneshot};

use super::config::DaemonConfig;
use super::metrics::{ClusterLabel, Metrics};
use super::state::{SharedState, SyncStatus};
use flotilla_core::changeset::ChangeSet;
use flotilla_core::drift::{ClusterDrift, ClusterStatus};
use flotilla_core::health::{HealthStatus, aggregate, health_of};
use flotilla_core::model::{Cluster, Fleet};
use flotilla_core::plan::PlanOptions;
use flotilla_core::render::{DesiredState, render_cluster};
use flotilla_engine::cluster::{AnyTarget, ClusterError, ConnectOptions, Target, connect};
use flotilla_engine::diff::detect;
use flotilla_engine::sync::{SyncOptions, sync_cluster};

/// What the rollout asks of a worker.
pub(crate) struct SyncRequest {
    /// The fleet at the commit to sync.
    pub fleet: Arc<Fleet>,
    /// Wait for the cluster to be healthy after syncing.
    pub gate: bool,
    /// Where to send (status, health) when done.
    pub reply: oneshot::Sender<(SyncStatus, HealthStatus)>,
}

/// Shared by every worker.
#[derive(Clone)]
pub(crate) struct WorkerContext {
    pub config: DaemonConfig,
    pub state: SharedState,
    pub metrics: Arc<Metrics>,
    pub connect: ConnectOptions,
}

/// A running worker.
pub(crate) struct Worker {
    /// Where sync requests go; dropping it stops the worker after its
    /// current step.
    pub requests: mpsc::Sender<SyncRequest>,
    /// The task.
    pub task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts the worker of cluster `name`.
    pub fn start(name: String, ctx: WorkerContext) -> Self {
        let (requests, rx) = mpsc::channel(4);
        let task = tokio::spawn(run(name, rx, ctx));
        Self { requests, task }
    }
}

/// What syncing one cluster came to.
struct Outcome {
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

fn sync_options(ctx: &WorkerContext, fleet: &Fleet, force_conflicts: bool) -> SyncOptions {
    SyncOptions {
        force_conflicts,
        plan: PlanOptions {
            prune: ctx.config.prune && fleet.prune,
            max_prune_ratio: ctx.config.max_prune_ratio,
            allow_mass_prune: false,
        },
        ..SyncOptions::default()
    }
}

/// The wait before the next drift check: the reconcile interval, or after
/// failures an exponential backoff from 1 s with jitter, capped at the
/// reconcile interval.
fn backoff(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let base = Duration::from_secs(1).saturating_mul(1 << failures.min(16));
    let jitter = rand::rng().random_range(0.5..1.5);
    base.mul_f64(jitter).min(interval)
}

async fn run(name: String, mut requests: mpsc::Receiver<SyncRequest>, ctx: WorkerContext) {
    let mut target: Option<AnyTarget> = None;
    // The fleet this cluster was last synced to: drift is checked against it.
    let mut synced: Option<Arc<Fleet>> = None;
    let mut failures = 0u32;
    let mut next_check = Instant::now() + ctx.config.reconcile_interval;
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(SyncRequest { fleet, gate, reply }) = request else { break };
                let Some(cluster) = fleet.cluster(&name).cloned() else { break };
                let force = ctx.config.force_conflicts && fleet.conflicts.force();
                let mut o = sync_one(&fleet, cluster, target.take(), &ctx, gate, force).await;
                target = o.target.take();
                if o.status == SyncStatus::Synced {
                    synced = Some(fleet.clone());
                }
                let answer = (o.status, o.health);
                record(&ctx, &name, fleet.revision.clone(), o);
                next_check = Instant::now() + ctx.config.reconcile_interval;
                let _ = reply.send(answer);
            }
            _ = tokio::time::sleep_until(next_check.into()), if synced.is_some() => {
                let fleet = synced.clone().expect("checked by the select guard");
                let Some(cluster) = fleet.cluster(&name).cloned() else { break };
                let (_, t, drift) = check_one(&fleet, cluster.clone(), target.take(), &ctx.connect).await;
                target = t;
                let failed = matches!(drift.status, ClusterStatus::Unreachable | ClusterStatus::RenderError);
                failures = if failed { failures + 1 } else { 0 };
                let drifted = drift.status == ClusterStatus::Drifted;
                record_drift(&ctx, &name, drift);
                if drifted && ctx.config.self_heal {
                    // Self-heal means Git wins: take fields back from whoever
                    // changed them (as Flux does with forced ownership).
                    tracing::info!(cluster = %name, "self-healing drift");
                    let force = fleet.conflicts.force();
                    let mut o = sync_one(&fleet, cluster, target.take(), &ctx, false, force).await;
                    target = o.target.take();
                    record(&ctx, &name, fleet.revision.clone(), o);
                }
                next_check = Instant::now() + backoff(ctx.config.reconcile_interval, failures);
            }
        }
    }
}

fn record(ctx: &WorkerContext, name: &str, revision: Option<String>, o: Outcome) {
    if let Some(changes) = &o.changes {
        ctx.metrics.record_sync(changes, o.seconds, now_unix());
    }
    let mut s = ctx.state.write().expect("state lock");
    if let Some(c) = s.clusters.get_mut(name) {
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
}

fn record_drift(ctx: &WorkerContext, name: &str, drift: ClusterDrift) {
    ctx.metrics
        .drifted
        .get_or_create(&ClusterLabel {
            cluster: name.to_string(),
        })
        .set(drift.objects.len() as i64);
    let mut s = ctx.state.write().expect("state lock");
    if let Some(c) = s.clusters.get_mut(name) {
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

fn is_unreachable(message: &str) -> bool {
    message.contains("cluster unreachable")
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
    ctx: &WorkerContext,
    gate: bool,
    force_conflicts: bool,
) -> Outcome {
    let started = Instant::now();
    let options = sync_options(ctx, fleet, force_conflicts);
    let mut outcome = Outcome {
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
    let mut target = match ensure_target(&cluster, target, &ctx.connect).await {
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
        wait_healthy(&mut target, &desired, ctx.config.health_timeout).await
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
    let addresses: Vec<(&str, &flotilla_core::model::ObjectKey)> = desired
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
