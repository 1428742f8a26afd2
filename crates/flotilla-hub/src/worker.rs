//! One worker per cluster: a task that owns the cluster's connection (and
//! its watch caches), syncs (and waits for health) when the rollout asks,
//! and on its own schedule checks drift and self-heals. The schedule is the
//! reconcile interval with a random jitter of +-10% (so the workers do not
//! all check in the same second), or after failures an exponential backoff
//! with jitter. A slow or unreachable cluster holds only its own worker.
//!
//! Every sync and drift check runs in a slot of the daemon's [`Pool`]: at
//! most `concurrency` at once across the fleet, never two for one cluster.
//! The rollout takes the slot for the syncs it asks for; a worker takes it
//! for its own drift checks (and the self-heal they lead to), and gives up
//! waiting for one when the rollout's request arrives.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::sync::{mpsc, oneshot};

use super::config::DaemonConfig;
use super::metrics::Metrics;
use super::pool::Pool;
use super::state::{SharedState, SyncStatus};
use flotilla_core::changeset::ChangeSet;
use flotilla_core::drift::{ClusterDrift, ClusterStatus, Detected};
use flotilla_core::health::HealthStatus;
use flotilla_core::model::{Cluster, Fleet};
use flotilla_core::plan::PlanOptions;
use flotilla_core::render::render_cluster;
use flotilla_engine::destination::{
    AnyDestination, Changes, ClusterError, ConnectOptions, Destination, connect,
};
use flotilla_engine::diff::among;
use flotilla_engine::reconcile::{SyncOptions, check_cluster, check_cluster_only, reconcile_round};
use flotilla_engine::wait::wait_healthy;

/// What the rollout asks of a worker.
pub(crate) enum Request {
    /// Sync the cluster to `fleet`; reply with the status it ended at.
    Sync {
        /// The fleet at the commit to sync.
        fleet: Arc<Fleet>,
        /// Whether the rollout waits for health next: the cluster then shows
        /// `Syncing` until that wait ends, so status and health change
        /// together (a reader never sees `Synced` with a stale health).
        gated: bool,
        /// Where to send the status when done.
        reply: oneshot::Sender<SyncStatus>,
    },
    /// Wait (at most `timeout`) until the cluster's objects of `fleet` are
    /// healthy; reply with the health it ended at.
    WaitHealthy {
        /// The fleet just synced.
        fleet: Arc<Fleet>,
        /// The health timeout.
        timeout: Duration,
        /// Where to send the health.
        reply: oneshot::Sender<HealthStatus>,
    },
}

/// Shared by every worker.
#[derive(Clone)]
pub(crate) struct WorkerContext {
    pub config: DaemonConfig,
    pub state: SharedState,
    pub metrics: Arc<Metrics>,
    pub connect: ConnectOptions,
    /// Bounds syncs and drift checks across the fleet.
    pub pool: Arc<Pool>,
    /// Many replicas: which clusters this replica owns; every write to a
    /// cluster runs through its [fence](crate::ha::Fence). `None`: one
    /// replica, no fence.
    pub ha: Option<Arc<crate::ha::Ownership>>,
}

/// Runs `work` (a sync, drift check or self-heal of cluster `name`) only
/// while this replica owns the cluster: `None`, and `work` cancelled
/// mid-flight, when the ownership ends first. Without HA it just runs.
async fn fenced<T>(ctx: &WorkerContext, name: &str, work: impl Future<Output = T>) -> Option<T> {
    match &ctx.ha {
        None => Some(work.await),
        Some(ha) => ha.fence(name).run(work).await,
    }
}

/// A running worker.
pub(crate) struct Worker {
    /// Where sync requests go; dropping it stops the worker after its
    /// current step.
    pub requests: mpsc::Sender<Request>,
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
    /// Federated status: each object's health, reasons and events.
    objects: Vec<flotilla_core::agent::ObjectHealth>,
}

impl Outcome {
    /// A write cancelled because this replica no longer owns the cluster.
    fn not_owner() -> Self {
        Self {
            destination: None,
            status: SyncStatus::Failed,
            health: HealthStatus::Unknown,
            changes: None,
            error: Some(
                "not synced here: this replica no longer owns the cluster (its shard Lease was handed back or not renewed in time)".into(),
            ),
            seconds: 0.0,
            objects: Vec::new(),
        }
    }
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
            prune_window: fleet
                .prune_window
                .unwrap_or(flotilla_core::plan::DEFAULT_PRUNE_WINDOW),
        },
        ..SyncOptions::default()
    }
}

/// The share of the reconcile interval drift checks are jittered by (+-).
pub(crate) const RECONCILE_JITTER: f64 = 0.1;

/// The reconcile interval jittered by +-[`RECONCILE_JITTER`]; `unit` is a
/// random number in `[0, 1)` (0.5 gives the interval itself).
pub(crate) fn jittered(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(1.0 + RECONCILE_JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0))
}

/// The wait before the next drift check: the jittered reconcile interval,
/// or after failures an exponential backoff from 1 s with jitter, capped
/// at the reconcile interval.
pub(crate) fn backoff(interval: Duration, failures: u32, rng: &mut impl Rng) -> Duration {
    if failures == 0 {
        return jittered(interval, rng.random());
    }
    let base = Duration::from_secs(1).saturating_mul(1 << failures.min(16));
    let jitter = rng.random_range(0.5..1.5);
    base.mul_f64(jitter).min(interval)
}

/// How long a worker waits after a watch notification before checking, so
/// a burst of events (a sync's own writes, a `kubectl apply` of many
/// objects) makes one check.
pub(crate) const CHANGE_DEBOUNCE: Duration = Duration::from_millis(300);

/// The least time between the end of one check and a check woken by a
/// watch notification, so a field another controller keeps changing back
/// costs at most one check (and self-heal) per second.
pub(crate) const CHANGE_SPACING: Duration = Duration::from_secs(1);

/// What a drift check compares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CheckScope {
    /// Every object (the full pass).
    Full,
    /// Only these objects, whose watch events arrived.
    Only(std::collections::BTreeSet<flotilla_core::model::ObjectKey>),
    /// No object changed, but some object's status did: refresh health.
    Health,
    /// Nothing changed: nothing to do.
    Nothing,
}

/// Decides what a drift check compares (pure): everything when changes
/// are not tracked (no watch, or one may have missed events), when there
/// is no verdict to update, or when the last full pass is
/// `full_resync_interval` old; else only what changed.
pub(crate) fn check_scope(changes: Changes, has_verdict: bool, full_due: bool) -> CheckScope {
    match changes {
        Changes::Unknown => CheckScope::Full,
        _ if !has_verdict || full_due => CheckScope::Full,
        Changes::Only { keys, status } if keys.is_empty() => {
            if status {
                CheckScope::Health
            } else {
                CheckScope::Nothing
            }
        }
        Changes::Only { keys, .. } => CheckScope::Only(keys),
    }
}

/// Waits for the next drift check: until `at`, or (when the destination
/// tracks changes) a notification, debounced, but not before `earliest`.
async fn next_wake(at: Instant, notifier: Option<Arc<tokio::sync::Notify>>, earliest: Instant) {
    match notifier {
        Some(n) => tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = n.notified() => {
                tokio::time::sleep(CHANGE_DEBOUNCE).await;
                tokio::time::sleep_until(earliest.into()).await;
            }
        },
        None => tokio::time::sleep_until(at.into()).await,
    }
}

// The long steps (a sync, a check, reading health) are boxed where they are
// awaited: an idle worker's future, held for every cluster, is then the
// loop's own state, not the largest step's (21 KB each when inline).
async fn run(name: String, mut requests: mpsc::Receiver<Request>, ctx: WorkerContext) {
    let mut destination: Option<AnyDestination> = None;
    // The fleet this cluster was last synced to: drift is checked against it.
    let mut synced: Option<Arc<Fleet>> = None;
    // The last drift verdict against `synced` (none after a sync or a failed
    // check: the next check is a full pass), and when the last full pass was.
    let mut verdict: Option<Detected> = None;
    let mut last_full = Instant::now();
    let mut last_check = Instant::now();
    let mut failures = 0u32;
    let interval = ctx.config.reconcile_interval;
    let mut next_check = Instant::now() + backoff(interval, 0, &mut rand::rng());
    loop {
        // The next drift check: its time or a change, then a slot in the pool.
        let notifier = destination.as_ref().and_then(|d| d.changes_notifier());
        let check = async {
            next_wake(next_check, notifier.clone(), last_check + CHANGE_SPACING).await;
            ctx.pool.acquire(&name).await
        };
        tokio::select! {
            request = requests.recv() => {
                // A notification the check's wait took is given back.
                if let Some(n) = &notifier {
                    n.notify_one();
                }
                match request {
                None => break,
                Some(Request::Sync { fleet, gated, reply }) => {
                    let Some(cluster) = fleet.cluster(&name).cloned() else { break };
                    let force = ctx.config.force_conflicts && fleet.conflicts.force();
                    let sync = sync_one(&fleet, cluster, destination.take(), &ctx, false, force);
                    let mut o = Box::pin(fenced(&ctx, &name, sync)).await.unwrap_or_else(Outcome::not_owner);
                    destination = o.destination.take();
                    if o.status == SyncStatus::Synced {
                        synced = Some(fleet.clone());
                    }
                    verdict = verdict_after_sync(&o, sync_options(&ctx, &fleet, force).plan.prune);
                    let answer = o.status;
                    record(&ctx, &name, fleet.revision.clone(), o);
                    if gated && answer == SyncStatus::Synced
                        && let Some(c) = ctx.state.write().expect("state lock").clusters.get_mut(&name)
                    {
                        c.status = SyncStatus::Syncing;
                    }
                    next_check = Instant::now() + backoff(interval, 0, &mut rand::rng());
                    let _ = reply.send(answer);
                }
                Some(Request::WaitHealthy { fleet, timeout, reply }) => {
                    let Some(cluster) = fleet.cluster(&name).cloned() else { break };
                    let (health, t) = Box::pin(wait_one(&fleet, &cluster, destination.take(), &ctx.connect, timeout)).await;
                    let (objects, t) = Box::pin(objects_of(&fleet, &cluster, t)).await;
                    destination = t;
                    if let Some(c) = ctx.state.write().expect("state lock").clusters.get_mut(&name) {
                        if let Some(o) = objects {
                            c.objects = o.into();
                        }
                        c.health = health;
                        if c.status == SyncStatus::Syncing {
                            c.status = SyncStatus::Synced;
                        }
                    }
                    let _ = reply.send(health);
                }
                }
            },
            _slot = check, if synced.is_some() => {
                let fleet = synced.clone().expect("checked by the select guard");
                let Some(cluster) = fleet.cluster(&name).cloned() else { break };
                if ctx.ha.as_ref().is_some_and(|h| !h.owns(&name)) {
                    // Another replica owns the cluster: its checks are that one's.
                    verdict = None;
                    last_check = Instant::now();
                    next_check = Instant::now() + backoff(interval, 0, &mut rand::rng());
                    continue;
                }
                let changes = destination.as_mut().map_or(Changes::Unknown, |d| d.take_changes());
                let full_due = last_full.elapsed() >= ctx.config.full_resync_interval;
                let scope = check_scope(changes, verdict.is_some(), full_due);
                next_check = Instant::now() + backoff(interval, failures, &mut rand::rng());
                match scope {
                    CheckScope::Nothing => {
                        last_check = Instant::now();
                        continue;
                    }
                    CheckScope::Health => {
                        tracing::debug!(cluster = %name, "status changed; refreshing health");
                        let (objects, t) = Box::pin(objects_of(&fleet, &cluster, destination.take())).await;
                        destination = t;
                        if let Some(o) = objects
                            && let Some(c) = ctx.state.write().expect("state lock").clusters.get_mut(&name)
                        {
                            c.objects = o.into();
                        }
                        last_check = Instant::now();
                        continue;
                    }
                    CheckScope::Full | CheckScope::Only(_) => {}
                }
                let only = match &scope {
                    CheckScope::Only(keys) => Some(keys),
                    _ => None,
                };
                if only.is_none() {
                    if full_due && let Some(d) = &mut destination {
                        // Read live state anew: a change whose watch event
                        // was lost is found too.
                        d.refresh();
                    }
                    last_full = Instant::now();
                }
                let check = check_one(&fleet, &cluster, destination.take(), &ctx.connect, only);
                let Some((t, result, desired)) = Box::pin(fenced(&ctx, &name, check)).await else {
                    // The ownership ended mid-check: another replica owns the cluster now.
                    verdict = None;
                    last_check = Instant::now();
                    continue;
                };
                // Federated status: after a check of the objects that
                // changed, only theirs is read again (when the state holds
                // every other desired object's).
                let (objects, t) = match (desired, t) {
                    (Some(desired), Some(t)) => match only {
                        Some(keys) if holds_all(&ctx, &name, &desired) => {
                            Box::pin(objects_among(&desired, keys, t)).await
                        }
                        _ => {
                            let (o, t) = Box::pin(objects_for(&desired, t)).await;
                            (o.map(Refresh::All), t)
                        }
                    },
                    (_, t) => (None, t),
                };
                destination = t;
                last_check = Instant::now();
                if let Some(o) = objects
                    && let Some(c) = ctx.state.write().expect("state lock").clusters.get_mut(&name)
                {
                    o.update(&mut c.objects);
                }
                let drift = match result {
                    Ok(fresh) => {
                        let now = match (&verdict, only) {
                            (Some(before), Some(keys)) => {
                                tracing::debug!(cluster = %name, objects = keys.len(), "checking the objects that changed");
                                before.updated(|k| among(keys, k), fresh)
                            }
                            _ => fresh,
                        };
                        verdict = Some(now.clone());
                        ClusterDrift::detected(&cluster.name, now)
                    }
                    Err(failed) => {
                        verdict = None;
                        failed
                    }
                };
                let failed = matches!(drift.status, ClusterStatus::Unreachable | ClusterStatus::RenderError);
                failures = if failed { failures + 1 } else { 0 };
                next_check = Instant::now() + backoff(interval, failures, &mut rand::rng());
                let drifted = drift.status == ClusterStatus::Drifted;
                record_drift(&ctx, &name, drift);
                let paused = ctx.state.read().expect("state lock").rollout.paused;
                if drifted && paused {
                    tracing::info!(cluster = %name, "drift found; not self-healing: the rollout is paused");
                }
                if drifted && ctx.config.self_heal && !paused {
                    // Self-heal means Git wins: take fields back from whoever
                    // changed them (as Flux does with forced ownership).
                    tracing::info!(cluster = %name, revision = %fleet.revision.as_deref().unwrap_or("work tree"), "self-healing drift");
                    let heal = sync_one(&fleet, cluster, destination.take(), &ctx, false, fleet.conflicts.force());
                    match Box::pin(fenced(&ctx, &name, heal)).await {
                        Some(mut o) => {
                            destination = o.destination.take();
                            // Its own writes come back as watch events: the check
                            // they wake compares those objects and finds them in sync.
                            verdict = verdict_after_sync(&o, sync_options(&ctx, &fleet, false).plan.prune);
                            record(&ctx, &name, fleet.revision.clone(), o);
                        }
                        // Cancelled: another replica owns the cluster now.
                        None => verdict = None,
                    }
                }
            }
        }
    }
}

/// The drift verdict a sync leaves, so the check its own writes wake
/// compares only the objects written: every object created, configured or
/// found unchanged is in sync (the apply's "unchanged" is the drift
/// comparison's "in sync", and each write comes back as a watch event and
/// is compared again). `None` (the next check compares everything) when
/// the sync failed, skipped or failed an object, or did not prune (then
/// leftovers may remain, which drift reports).
fn verdict_after_sync(o: &Outcome, prunes: bool) -> Option<Detected> {
    use flotilla_core::changeset::Action;
    let changes = o.changes.as_ref()?;
    if o.status != SyncStatus::Synced
        || !prunes
        || changes.is_failure()
        || changes
            .changes
            .iter()
            .any(|c| matches!(c.action, Action::Skipped | Action::Failed))
    {
        return None;
    }
    let in_sync = changes
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Action::Created | Action::Configured | Action::Unchanged
            )
        })
        .count();
    Some(Detected {
        in_sync,
        drifted: Vec::new(),
    })
}

/// One log line per sync (and one per prune), at `info` when it went well.
fn log_sync(name: &str, revision: Option<&str>, o: &Outcome) {
    let revision = revision.unwrap_or("work tree");
    let counts = o
        .changes
        .as_ref()
        .map(ChangeSet::counts)
        .unwrap_or_default();
    match o.status {
        SyncStatus::Synced => {
            tracing::info!(
                cluster = %name,
                revision = %revision,
                created = counts.created,
                configured = counts.configured,
                pruned = counts.pruned,
                unchanged = counts.unchanged,
                seconds = %format!("{:.1}", o.seconds),
                "synced"
            );
            if counts.pruned > 0
                && let Some(changes) = &o.changes
            {
                let objects: Vec<String> = changes
                    .changes
                    .iter()
                    .filter(|c| c.action == flotilla_core::changeset::Action::Pruned)
                    .map(|c| c.key.to_string())
                    .collect();
                tracing::info!(cluster = %name, revision = %revision, pruned = counts.pruned, objects = %objects.join(", "), "pruned");
            }
        }
        status => tracing::warn!(
            cluster = %name,
            revision = %revision,
            status = ?status,
            error = %o.error.as_deref().unwrap_or(""),
            "sync failed"
        ),
    }
}

fn record(ctx: &WorkerContext, name: &str, revision: Option<String>, o: Outcome) {
    log_sync(name, revision.as_deref(), &o);
    if let Some(changes) = &o.changes {
        let s = ctx.state.read().unwrap_or_else(|e| e.into_inner());
        ctx.metrics
            .record_sync(changes, o.seconds, now_unix(), &|k| s.tenant_label(k));
    }
    let mut s = ctx.state.write().expect("state lock");
    if let Some(c) = s.clusters.get_mut(name) {
        c.status = o.status;
        c.health = o.health;
        if o.changes.is_some() {
            c.last_sync = o.changes.map(Into::into);
        }
        c.last_error = o.error;
        if !o.objects.is_empty() {
            c.objects = o.objects.into();
        }
        if o.status == SyncStatus::Synced {
            c.revision = revision;
            c.last_success = Some(SystemTime::now());
        }
    }
}

fn record_drift(ctx: &WorkerContext, name: &str, drift: ClusterDrift) {
    match drift.status {
        ClusterStatus::Drifted => tracing::info!(
            cluster = %name,
            objects = drift.objects.len(),
            "drift found"
        ),
        ClusterStatus::Unreachable | ClusterStatus::RenderError => tracing::warn!(
            cluster = %name,
            status = ?drift.status,
            error = %drift.error.as_deref().unwrap_or(""),
            "drift check failed"
        ),
        ClusterStatus::InSync => tracing::debug!(cluster = %name, "in sync"),
    }
    // `flotilla_drifted_objects{cluster,tenant}` is set from the state by
    // `/metrics` (per tenant, removing series that went away).
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
        objects: Vec::new(),
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
    let round = reconcile_round(
        &mut destination,
        &fleet.name,
        fleet.revision.as_deref(),
        &desired,
        options,
        |_, _| {},
    )
    .await;
    let changes = round.changes;
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
    // Health and federated status from what the round saw and wrote (no
    // read of live state of their own); the health gate polls live state.
    match round.live {
        Some(live) if !gate => {
            let (health, objects) =
                flotilla_engine::status::object_health_in(&mut destination, &desired, &live).await;
            outcome.health = health;
            outcome.objects = objects;
        }
        _ => {
            let waited = if gate {
                Some(wait_healthy(&mut destination, &desired, ctx.config.health_timeout).await)
            } else {
                None
            };
            let read = flotilla_engine::status::object_health(&mut destination, &desired).await;
            outcome.health = match (waited, &read) {
                (Some(h), _) => h,
                (None, Ok((h, _))) => *h,
                (None, Err(_)) => HealthStatus::Unknown,
            };
            if let Ok((_, objects)) = read {
                outcome.objects = objects;
            }
        }
    }
    outcome.destination = Some(destination);
    outcome
}

/// Renders the cluster and waits for its health (the rollout's health
/// gate); returns the health and the connection, if it holds.
async fn wait_one(
    fleet: &Fleet,
    cluster: &Cluster,
    destination: Option<AnyDestination>,
    connect_options: &ConnectOptions,
    timeout: Duration,
) -> (HealthStatus, Option<AnyDestination>) {
    let Ok(desired) = render_cluster(fleet, cluster) else {
        return (HealthStatus::Unknown, destination);
    };
    match ensure_destination(cluster, destination, connect_options).await {
        Ok(mut t) => (wait_healthy(&mut t, &desired, timeout).await, Some(t)),
        Err(_) => (HealthStatus::Unknown, None),
    }
}

/// Federated status: each desired object's health, reasons and events,
/// read through the connection the worker holds (none: `None`).
async fn objects_of(
    fleet: &Fleet,
    cluster: &Cluster,
    destination: Option<AnyDestination>,
) -> (
    Option<Vec<flotilla_core::agent::ObjectHealth>>,
    Option<AnyDestination>,
) {
    let (Some(t), Ok(desired)) = (destination, render_cluster(fleet, cluster)) else {
        return (None, None);
    };
    objects_for(&desired, t).await
}

/// [`objects_of`] for a rendered desired state.
async fn objects_for(
    desired: &flotilla_core::render::DesiredState,
    mut t: AnyDestination,
) -> (
    Option<Vec<flotilla_core::agent::ObjectHealth>>,
    Option<AnyDestination>,
) {
    match flotilla_engine::status::object_health(&mut t, desired).await {
        Ok((_, objects)) => (Some(objects), Some(t)),
        Err(_) => (None, Some(t)),
    }
}

/// Fresh federated status: of every desired object, or of some of them.
enum Refresh {
    /// Every desired object's, in desired order.
    All(Vec<flotilla_core::agent::ObjectHealth>),
    /// Some objects' (in desired order): each replaces the entry of its key.
    Some(Vec<flotilla_core::agent::ObjectHealth>),
}

impl Refresh {
    fn update(self, objects: &mut crate::state::ObjectsHealth) {
        match self {
            Refresh::All(all) => *objects = all.into(),
            Refresh::Some(some) => objects.refresh(some),
        }
    }
}

/// Whether the cluster's state holds the status of every object of
/// `desired` (and no other), in desired order: then a refresh of some
/// objects keeps it whole.
fn holds_all(
    ctx: &WorkerContext,
    name: &str,
    desired: &flotilla_core::render::DesiredState,
) -> bool {
    let s = ctx.state.read().expect("state lock");
    s.clusters
        .get(name)
        .is_some_and(|c| c.objects.is_of(desired.objects.iter().map(|d| &d.key)))
}

/// [`objects_for`] of the desired objects among `keys` only.
async fn objects_among(
    desired: &flotilla_core::render::DesiredState,
    keys: &std::collections::BTreeSet<flotilla_core::model::ObjectKey>,
    mut t: AnyDestination,
) -> (Option<Refresh>, Option<AnyDestination>) {
    match flotilla_engine::status::object_health_of(&mut t, desired, |k| among(keys, k)).await {
        Ok(objects) => (Some(Refresh::Some(objects)), Some(t)),
        Err(_) => (None, Some(t)),
    }
}

/// Renders the cluster and checks its drift: every object, or with `only`
/// those of `only`. Returns the connection (if it holds), the verdict or
/// the report of a failed check, and the rendered desired state.
async fn check_one(
    fleet: &Fleet,
    cluster: &Cluster,
    destination: Option<AnyDestination>,
    connect_options: &ConnectOptions,
    only: Option<&std::collections::BTreeSet<flotilla_core::model::ObjectKey>>,
) -> (
    Option<AnyDestination>,
    Result<Detected, ClusterDrift>,
    Option<flotilla_core::render::DesiredState>,
) {
    let desired = match render_cluster(fleet, cluster) {
        Ok(d) => d,
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::RenderError, e.to_string());
            return (destination, Err(d), None);
        }
    };
    let mut destination = match ensure_destination(cluster, destination, connect_options).await {
        Ok(t) => t,
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string());
            return (None, Err(d), None);
        }
    };
    let ignored = |k: &flotilla_core::model::ObjectKey| fleet.ignored_fields(k);
    let result = match only {
        Some(keys) => {
            check_cluster_only(&mut destination, &fleet.name, &desired, keys, ignored).await
        }
        None => check_cluster(&mut destination, &fleet.name, &desired, ignored).await,
    };
    match result {
        Ok(d) => (Some(destination), Ok(d), Some(desired)),
        Err(e) => {
            let d = ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string());
            (None, Err(d), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn health(name: &str, health: HealthStatus) -> flotilla_core::agent::ObjectHealth {
        flotilla_core::agent::ObjectHealth {
            key: flotilla_core::model::ObjectKey {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: "app".into(),
                name: name.into(),
            },
            health,
            reason: String::new(),
            events: Vec::new(),
        }
    }

    #[test]
    fn a_refresh_of_changed_objects_replaces_only_their_status() {
        let mut objects = crate::state::ObjectsHealth::from(vec![
            health("api", HealthStatus::Healthy),
            health("web", HealthStatus::Healthy),
            health("db", HealthStatus::Degraded),
        ]);
        Refresh::Some(vec![health("web", HealthStatus::Progressing)]).update(&mut objects);
        let got: Vec<_> = objects.iter().map(|o| (o.key.name, o.health)).collect();
        assert_eq!(
            got,
            [
                ("api".to_string(), HealthStatus::Healthy),
                ("web".to_string(), HealthStatus::Progressing),
                ("db".to_string(), HealthStatus::Degraded),
            ]
        );
        Refresh::All(vec![health("web", HealthStatus::Healthy)]).update(&mut objects);
        assert_eq!(objects.len(), 1, "a full refresh replaces the whole list");
    }

    #[test]
    fn drift_checks_are_jittered_by_ten_percent() {
        let five = Duration::from_secs(300);
        assert_eq!(jittered(five, 0.5), five);
        assert_eq!(jittered(five, 0.0), Duration::from_secs(270));
        assert_eq!(jittered(five, 1.0), Duration::from_secs(330));
        // Seeded: a spread of waits, every one within +-10%.
        let mut rng = StdRng::seed_from_u64(7);
        let waits: Vec<Duration> = (0..50).map(|_| backoff(five, 0, &mut rng)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_secs(270) && *w <= Duration::from_secs(330)),
            "{waits:?}"
        );
        let mut distinct = waits.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 40, "not spread: {waits:?}");
    }

    #[test]
    fn checks_compare_only_what_changed_between_full_passes() {
        let key = |name: &str| flotilla_core::model::ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "demo".into(),
            name: name.into(),
        };
        let only = |names: &[&str], status: bool| Changes::Only {
            keys: names.iter().map(|n| key(n)).collect(),
            status,
        };
        // Not tracked (a directory, a new connection): everything.
        assert_eq!(check_scope(Changes::Unknown, true, false), CheckScope::Full);
        // No verdict to update (after a sync), or the full pass is due.
        assert_eq!(
            check_scope(only(&["a"], false), false, false),
            CheckScope::Full
        );
        assert_eq!(check_scope(only(&[], false), true, true), CheckScope::Full);
        // Between full passes: what changed, health, or nothing at all.
        assert_eq!(
            check_scope(only(&["a", "b"], true), true, false),
            CheckScope::Only([key("a"), key("b")].into())
        );
        assert_eq!(
            check_scope(only(&[], true), true, false),
            CheckScope::Health
        );
        assert_eq!(
            check_scope(only(&[], false), true, false),
            CheckScope::Nothing
        );
    }

    #[test]
    fn failures_back_off_up_to_the_interval() {
        let interval = Duration::from_secs(60);
        let mut rng = StdRng::seed_from_u64(1);
        let first = backoff(interval, 1, &mut rng);
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(3),
            "{first:?}"
        );
        assert!(backoff(interval, 30, &mut rng) <= interval);
    }
}
