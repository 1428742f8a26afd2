//! `flotilla agent`: pull mode for a cluster the hub cannot reach.
//!
//! The agent runs beside (or inside) one member cluster and dials **out**
//! to the hub: it long-polls the hub for its cluster's [`Assignment`] (the
//! hub renders; the agent needs no Git), applies it with the engine's
//! [`reconcile_cluster`] (server-side apply, ordering, inventory, guarded
//! prune, exactly as push mode), and reports back ([`AgentReport`]: the
//! typed change set, drift, health and per-object status). On its own
//! schedule (the assignment's reconcile interval, jittered) it checks drift
//! and, when the policy says so, self-heals, whether or not the hub is
//! there. It keeps its last assignment and the reports the hub has not
//! acknowledged in its state directory, so a restarted agent, or one whose
//! hub is down, goes on, and the hub learns what happened on reconnect.
//!
//! Three tasks: the poller (long poll, backoff with jitter on failure), the
//! reporter (sends reports in order, keeps them until acknowledged) and the
//! worker (applies, checks, heals). The wire types are
//! [`flotilla_core::agent`]; this crate depends on the core and the engine
//! only (no Git, no hub).

pub mod client;
pub mod error;
pub mod store;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::sync::{mpsc, watch};

pub use client::{HubClient, HubEndpoint};
pub use error::AgentError;
use flotilla_core::agent::{AgentReport, Assignment, ReportEvent, SyncResult};
use flotilla_core::changeset::ChangeSet;
use flotilla_core::drift::{ClusterDrift, ClusterStatus};
use flotilla_core::health::HealthStatus;
use flotilla_core::plan::PlanOptions;
use flotilla_engine::destination::kube::KubeDestination;
use flotilla_engine::reconcile::{SyncOptions, check_cluster, reconcile_cluster};
use store::{Applied, MAX_OUTBOX, Store};

/// How the agent runs.
#[derive(Clone)]
pub struct AgentConfig {
    /// The hub's URL (`https://hub.example.com`, `http://127.0.0.1:8080`).
    pub hub: String,
    /// The fleet cluster this agent syncs.
    pub cluster: String,
    /// The cluster's token (read from `--token-file`).
    pub token: String,
    /// The member's kubeconfig; in-cluster config (or the default
    /// kubeconfig) when unset.
    pub kubeconfig: Option<PathBuf>,
    /// Its context.
    pub context: Option<String>,
    /// A PEM CA bundle for an `https://` hub (the system's roots otherwise).
    pub ca_file: Option<PathBuf>,
    /// Where the last assignment and unsent reports are kept.
    pub state_dir: Option<PathBuf>,
    /// The longest wait between reconnect attempts (backoff cap).
    pub max_backoff: Duration,
}

impl std::fmt::Debug for AgentConfig {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("hub", &flotilla_redact::redact_url(&self.hub))
            .field("cluster", &self.cluster)
            .field("kubeconfig", &self.kubeconfig)
            .field("context", &self.context)
            .field("ca_file", &self.ca_file)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

/// Reads a token file: its content, trimmed; an empty file is an error.
pub fn read_token(path: &std::path::Path) -> Result<String, AgentError> {
    let text = std::fs::read_to_string(path).map_err(|e| AgentError::TokenFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(AgentError::TokenFile {
            path: path.display().to_string(),
            reason: "it is empty".into(),
        });
    }
    Ok(token)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The wait before reconnect attempt `failures` (1, 2, ...): exponential
/// from 500 ms, capped at `max`, with a random jitter of 50-150%.
pub fn backoff(failures: u32, max: Duration, unit: f64) -> Duration {
    let base = Duration::from_millis(500).saturating_mul(1 << failures.saturating_sub(1).min(16));
    base.min(max).mul_f64(0.5 + unit.clamp(0.0, 1.0))
}

/// The interval between drift checks, jittered by +-10%.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.9..1.1))
}

async fn open_cluster(config: &AgentConfig) -> Result<KubeDestination, AgentError> {
    let destination = match (&config.kubeconfig, &config.context) {
        (Some(path), context) => KubeDestination::from_kubeconfig(path, context.as_deref()).await?,
        (None, Some(context)) => KubeDestination::from_default_kubeconfig(Some(context)).await?,
        (None, None) => match kube::Config::incluster() {
            Ok(c) => KubeDestination::from_config(c)?,
            Err(_) => KubeDestination::from_default_kubeconfig(None).await?,
        },
    };
    Ok(destination.with_watch_cache())
}

/// Runs the agent until `shutdown` turns true. Returns an error only for
/// what no retry can fix (an unusable URL, CA file or kubeconfig); a hub
/// that is down or refuses the token is retried with backoff.
pub async fn run(config: AgentConfig, shutdown: watch::Receiver<bool>) -> Result<(), AgentError> {
    let endpoint = HubEndpoint::new(
        &config.hub,
        &config.cluster,
        &config.token,
        config.ca_file.as_deref(),
    )?;
    let store = Store::new(config.state_dir.clone())?;
    let destination = open_cluster(&config).await?;
    let assignment = store.assignment().filter(|a| a.cluster == config.cluster);
    let applied = store.applied();
    let after = assignment
        .as_ref()
        .map_or((0, String::new()), |a| (a.generation, a.digest.clone()));
    let (assign_tx, assign_rx) = mpsc::channel(4);
    let (report_tx, report_rx) = mpsc::channel(256);
    let poller = tokio::spawn(poll(
        HubClient::new(endpoint.clone()),
        after,
        assign_tx,
        config.max_backoff,
        shutdown.clone(),
    ));
    let reporter = tokio::spawn(send_reports(
        HubClient::new(endpoint),
        store.clone(),
        report_rx,
        config.max_backoff,
        shutdown.clone(),
    ));
    let worker = Worker {
        cluster: config.cluster.clone(),
        destination,
        store: store.clone(),
        assignment,
        applied,
        seq: store.seq(),
        reports: report_tx,
        last_health: None,
        last_drift: None,
        last_objects: Vec::new(),
    };
    worker.run(assign_rx, shutdown).await;
    let _ = poller.await;
    let _ = reporter.await;
    Ok(())
}

/// The poller: long-polls for assignments after the last one received.
async fn poll(
    mut client: HubClient,
    mut after: (u64, String),
    out: mpsc::Sender<Assignment>,
    max_backoff: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    while !*shutdown.borrow() {
        let result = tokio::select! {
            r = client.assignment(after.0, &after.1) => r,
            _ = shutdown.changed() => break,
        };
        match result {
            Ok(Some(a)) => {
                if failures > 0 {
                    tracing::info!("reconnected to the hub");
                }
                failures = 0;
                tracing::info!(generation = a.generation, revision = ?a.revision, "assignment received");
                // The next poll asks for what comes after it: received once,
                // never sent again (no duplicate work after a drop).
                after = (a.generation, a.digest.clone());
                if out.send(a).await.is_err() {
                    break;
                }
            }
            Ok(None) => {
                if failures > 0 {
                    tracing::info!("reconnected to the hub");
                }
                failures = 0;
            }
            Err(e) => {
                failures += 1;
                let wait = backoff(failures, max_backoff, rand::rng().random());
                tracing::warn!(error = %e, retry_in = ?wait, "polling the hub failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    }
}

/// The reporter: sends reports in order; keeps them (bounded, in the state
/// directory) until the hub acknowledges them.
async fn send_reports(
    mut client: HubClient,
    store: Store,
    mut incoming: mpsc::Receiver<AgentReport>,
    max_backoff: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut outbox: VecDeque<AgentReport> = store.outbox();
    let mut failures = 0u32;
    let mut retry_at: Option<Instant> = None;
    loop {
        if !outbox.is_empty() && retry_at.is_none_or(|t| Instant::now() >= t) {
            let front = outbox.front().expect("not empty").clone();
            match client.report(&front).await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(
                            sent_later = outbox.len(),
                            "hub back: sending the reports kept while away"
                        );
                    }
                    failures = 0;
                    retry_at = None;
                    outbox.pop_front();
                    store.save_outbox(&outbox);
                    continue;
                }
                Err(AgentError::HubRefused {
                    status: 400,
                    message,
                }) => {
                    // Not the protocol this hub speaks: resending cannot help.
                    tracing::error!(%message, seq = front.seq, "the hub rejected a report: dropped");
                    outbox.pop_front();
                    store.save_outbox(&outbox);
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    let wait = backoff(failures, max_backoff, rand::rng().random());
                    tracing::warn!(error = %e, retry_in = ?wait, kept = outbox.len(), "reporting to the hub failed");
                    retry_at = Some(Instant::now() + wait);
                }
            }
        }
        let sleep = retry_at.map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(Instant::now())
        });
        tokio::select! {
            r = incoming.recv() => match r {
                Some(report) => {
                    outbox.push_back(report);
                    while outbox.len() > MAX_OUTBOX {
                        outbox.pop_front();
                    }
                    store.save_outbox(&outbox);
                }
                None => break,
            },
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}

/// The worker: applies assignments, checks drift, heals, follows health.
struct Worker {
    cluster: String,
    destination: KubeDestination,
    store: Store,
    assignment: Option<Assignment>,
    applied: Applied,
    seq: u64,
    reports: mpsc::Sender<AgentReport>,
    last_health: Option<HealthStatus>,
    last_drift: Option<ClusterDrift>,
    last_objects: Vec<flotilla_core::agent::ObjectHealth>,
}

impl Worker {
    async fn run(
        mut self,
        mut assignments: mpsc::Receiver<Assignment>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // A restarted agent says where it stands, finishes a sync a kill
        // interrupted, and checks drift soon.
        if let Some(a) = self.assignment.clone() {
            if self.applied.done(&a.digest) {
                self.refresh_health(&a).await;
                self.report(ReportEvent::Hello, None).await;
            } else {
                tracing::info!(
                    generation = a.generation,
                    "finishing the assignment kept from before the restart"
                );
                self.apply(&a, false).await;
            }
        }
        let mut next_check = Instant::now() + Duration::from_secs(2);
        let mut health_until: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            let interval = self
                .assignment
                .as_ref()
                .map_or(Duration::from_secs(300), |a| {
                    Duration::from_secs(a.policy.reconcile_interval_secs.max(1))
                });
            let health_tick = match health_until {
                Some(t) if Instant::now() < t => Duration::from_secs(2),
                _ => Duration::from_secs(3600),
            };
            let check_in = next_check.saturating_duration_since(Instant::now());
            tokio::select! {
                a = assignments.recv() => {
                    let Some(mut a) = a else { break };
                    // Only the newest matters.
                    while let Ok(newer) = assignments.try_recv() {
                        a = newer;
                    }
                    self.store.save_assignment(&a);
                    self.assignment = Some(a.clone());
                    if self.applied.done(&a.digest) {
                        // The same work, e.g. a hub that restarted: answer
                        // from the last result, apply nothing.
                        tracing::info!(generation = a.generation, "assignment already applied: reporting it");
                        self.applied.generation = a.generation;
                        self.store.save_applied(&self.applied);
                        let result = self.applied.result.clone();
                        self.refresh_health(&a).await;
                        self.report(ReportEvent::Sync, result).await;
                    } else {
                        let healthy = self.apply(&a, false).await;
                        if !healthy {
                            health_until = Some(Instant::now() + Duration::from_secs(a.policy.health_timeout_secs));
                        }
                    }
                    // The assignment's own interval (it may be the first).
                    let interval = Duration::from_secs(a.policy.reconcile_interval_secs.max(1));
                    next_check = Instant::now() + jittered(interval);
                }
                _ = tokio::time::sleep(health_tick) => {
                    if let Some(a) = self.assignment.clone() {
                        let before = (self.last_health, self.last_objects.clone());
                        self.refresh_health(&a).await;
                        if (self.last_health, &self.last_objects) != (before.0, &before.1) {
                            self.report(ReportEvent::Health, None).await;
                        }
                        if matches!(self.last_health, Some(HealthStatus::Healthy | HealthStatus::Degraded)) {
                            health_until = None;
                        }
                    }
                }
                _ = tokio::time::sleep(check_in) => {
                    let failed = match self.assignment.clone() {
                        Some(a) => self.check(&a).await,
                        None => false,
                    };
                    failures = if failed { failures + 1 } else { 0 };
                    next_check = Instant::now() + if failed {
                        backoff(failures, interval, rand::rng().random())
                    } else {
                        jittered(interval)
                    };
                }
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    }

    fn sync_options(a: &Assignment, force: bool) -> SyncOptions {
        SyncOptions {
            force_conflicts: force,
            plan: PlanOptions {
                prune: a.policy.prune,
                max_prune_ratio: a.policy.max_prune_ratio,
                allow_mass_prune: false,
                prune_window: a.policy.prune_window,
            },
            ..SyncOptions::default()
        }
    }

    /// Applies `a`; returns whether the cluster ended healthy (or degraded:
    /// nothing more to wait for).
    async fn apply(&mut self, a: &Assignment, heal: bool) -> bool {
        let desired = a.desired();
        let force = if heal {
            a.policy.heal_force_conflicts
        } else {
            a.policy.force_conflicts
        };
        let changes: ChangeSet = reconcile_cluster(
            &mut self.destination,
            &a.fleet,
            a.revision.as_deref(),
            &desired,
            Self::sync_options(a, force),
            |_, _| {},
        )
        .await;
        let result = SyncResult {
            synced: !changes.is_failure(),
            unreachable: changes.is_unreachable(),
            changes,
            heal,
        };
        tracing::info!(
            generation = a.generation,
            synced = result.synced,
            heal,
            "applied"
        );
        self.applied = Applied {
            generation: a.generation,
            digest: a.digest.clone(),
            revision: a.revision.clone(),
            result: Some(result.clone()),
        };
        self.store.save_applied(&self.applied);
        self.refresh_health(a).await;
        let event = if heal {
            ReportEvent::Drift
        } else {
            ReportEvent::Sync
        };
        self.report(event, Some(result)).await;
        matches!(
            self.last_health,
            Some(HealthStatus::Healthy | HealthStatus::Degraded)
        )
    }

    /// Checks drift and heals it when the policy says so; returns whether
    /// the cluster could not be read.
    async fn check(&mut self, a: &Assignment) -> bool {
        let desired = a.desired();
        let drift = match check_cluster(&mut self.destination, &a.fleet, &desired, |k| a.ignored(k))
            .await
        {
            Ok(d) => ClusterDrift::detected(&self.cluster, d),
            Err(e) => {
                ClusterDrift::failed(&self.cluster, ClusterStatus::Unreachable, e.to_string())
            }
        };
        if self.last_drift.as_ref().map(|d| d.status) != Some(drift.status) {
            tracing::info!(status = drift.status.describe(), "drift checked");
        }
        let failed = drift.status == ClusterStatus::Unreachable;
        let drifted = drift.status == ClusterStatus::Drifted;
        let changed = self.last_drift.as_ref() != Some(&drift);
        self.last_drift = Some(drift);
        if drifted && a.policy.self_heal {
            tracing::info!("self-healing drift");
            self.apply(a, true).await;
        } else if changed || self.last_health != Some(HealthStatus::Healthy) {
            // An unhealthy cluster's objects are read again on every check
            // (their reason and latest events move on without drift); a
            // report goes out when the drift or the object status changed.
            let before = self.last_objects.clone();
            self.refresh_health(a).await;
            if changed || self.last_objects != before {
                self.report(ReportEvent::Drift, None).await;
            }
        }
        failed
    }

    async fn refresh_health(&mut self, a: &Assignment) {
        let desired = a.desired();
        match flotilla_engine::status::object_health(&mut self.destination, &desired).await {
            Ok((health, objects)) => {
                self.last_health = Some(health);
                self.last_objects = objects;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading health failed");
                self.last_health = Some(HealthStatus::Unknown);
            }
        }
    }

    async fn report(&mut self, event: ReportEvent, sync: Option<SyncResult>) {
        self.seq += 1;
        self.store.save_seq(self.seq);
        let a = self.assignment.as_ref();
        let report = AgentReport {
            cluster: self.cluster.clone(),
            seq: self.seq,
            at: now_unix(),
            event,
            generation: a.map_or(0, |a| a.generation),
            digest: a.map(|a| a.digest.clone()).unwrap_or_default(),
            revision: a.and_then(|a| a.revision.clone()),
            sync,
            drift: self.last_drift.clone(),
            health: self.last_health.unwrap_or(HealthStatus::Unknown),
            objects: self.last_objects.clone(),
        };
        let _ = self.reports.send(report).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let max = Duration::from_secs(30);
        assert_eq!(backoff(1, max, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(2, max, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(20, max, 0.5), max);
        assert!(backoff(3, max, 0.0) < backoff(3, max, 1.0));
    }
}
