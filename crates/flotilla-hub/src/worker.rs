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
use flotilla_core::health::HealthStatus;
use flotilla_core::model::{Cluster, Fleet};
use flotilla_core::plan::PlanOptions;
use flotilla_core::render::render_cluster;
use flotilla_engine::destination::{AnyDestination, ClusterError, ConnectOptions, connect};
use flotilla_engine::reconcile::{SyncOptions, check_cluster, reconcile_cluster};
use flotilla_engine::wait::{current_health, wait_healthy};

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
    destination: Option<AnyDestination>,
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
    let mut destination: Option<AnyDestination> = None;
    // The fleet this cluster was last synced to: drift is checked against it.
    let mut synced: Option<Arc<Fleet>> = None;
    let mut failures = 0u32;
    let mut next_check = Instant::now() + ctx.config.reconcile_interval;
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(SyncRequest { fleet, gate, reply }) = request else { break };
                let Some(cluster) = fleet.cluster(&name).cloned() else { break };
                let force = ctx.config.force_conflicts;
                let mut o = sync_one(&fleet, cluster, destination.take(), &ctx, gate, force).await;
                destination = o.destination.take();
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
                let (_, t, drift) = check_one(&fleet, cluster.clone(), destination.take(), &ctx.connect).await;
                destination = t;
                let failed = matches!(drift.status, ClusterStatus::Unreachable | ClusterStatus::RenderError);
                failures = if failed { failures + 1 } else { 0 };
                let drifted = drift.status == ClusterStatus::Drifted;
                record_drift(&ctx, &name, drift);
                if drifted && ctx.config.self_heal {
                    // Self-heal means Git wins: take fields back from whoever
                    // changed them (as Flux does with forced ownership).
                    tracing::info!(cluster = %name, "self-healing drift");
                    let mut o = sync_one(&fleet, cluster, destination.take(), &ctx, false, true).await;
                    destination = o.destination.take();
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

async fn ensure_destination(
    cluster: &Cluster,
    destination: Option<AnyDestination>,
    options: &ConnectOptions,
) -> Result<AnyDestination, ClusterError> {
    match destination {
        Some(t) => Ok(t),
        None => connect(cluster, options).await,
    }
}

async fn sync_one(
    fleet: &Fleet,
    cluster: Cluster,
    destination: Option<AnyDestination>,
    ctx: &WorkerContext,
    gate: bool,
    force_conflicts: bool,
) -> Outcome {
    let started = Instant::now();
    let options = sync_options(ctx, fleet, force_conflicts);
    let mut outcome = Outcome {
        destination: None,
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
            outcome.destination = destination;
            return outcome;
        }
    };
    let mut destination = match ensure_destination(&cluster, destination, &ctx.connect).await {
        Ok(t) => t,
        Err(e) => {
            outcome.error = Some(e.to_string());
            return outcome;
        }
    };
    let changes = reconcile_cluster(
        &mut destination,
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
        outcome.status = if changes.is_unreachable() {
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
        wait_healthy(&mut destination, &desired, ctx.config.health_timeout).await
    } else {
        current_health(&mut destination, &desired)
            .await
            .unwrap_or(HealthStatus::Unknown)
    };
    outcome.destination = Some(destination);
    outcome
}

async fn check_one(
    fleet: &Fleet,
    cluster: Cluster,
    destination: Option<AnyDestination>,
    connect_options: &ConnectOptions,
) -> (Cluster, Option<AnyDestination>, ClusterDrift) {
    let desired = match render_cluster(fleet, &cluster) {
        Ok(d) => d,
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::RenderError, e.to_string());
            return (cluster, destination, d);
        }
    };
    let mut destination = match ensure_destination(&cluster, destination, connect_options).await {
        Ok(t) => t,
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string());
            return (cluster, None, d);
        }
    };
    match check_cluster(&mut destination, &fleet.name, &desired, |k| {
        fleet.ignored_fields(k)
    })
    .await
    {
        Ok(d) => {
            let drift = ClusterDrift::detected(&cluster.name, d);
            (cluster, Some(destination), drift)
        }
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string());
            (cluster, None, d)
        }
    }
}
