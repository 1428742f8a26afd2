//! The wave rollout: the one implementation behind `flotilla sync` and
//! `flotilla serve`.
//!
//! Waves run in order (`spec.rollout.waves`). The clusters of a wave are
//! synced concurrently through a bounded [`Pool`] (`concurrency`, never one
//! cluster twice at once). With a health gate, each cluster that synced is
//! then waited on until healthy (bounded by the timeout). A wave passes when
//! every one of its clusters synced and, gated, became healthy; otherwise
//! the rollout halts and every cluster of the later waves is reported
//! [`Outcome::Halted`] with the [`Halt`] that stopped it, untouched.
//!
//! The rollout reaches clusters only through a [`ClusterDriver`]. Today
//! there are two, both on the push path (Flotilla writes to the cluster's
//! API server or directory): [`push::PushDriver`] (one-shot, `flotilla
//! sync`) and the daemon's per-cluster workers (which keep connections and
//! watch caches between rounds). The pull agent will be another driver: a
//! cluster kind picks its driver, and the rollout stays as it is. No state
//! is global: a rollout is a function of the fleet, the waves, a driver and
//! a pool.
//!
//! The decisions (which clusters are in which wave, whether a wave passed,
//! what halted clusters show) are the pure functions [`plan`], [`verdict`]
//! and [`halted`]; [`run`] only sequences them.

pub mod push;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flotilla_core::health::HealthStatus;
use flotilla_core::model::{Cluster, Fleet};

use crate::pool::Pool;

/// How the rollout reaches one cluster: one implementation per way of
/// reaching clusters (push today; the pull agent next).
pub trait ClusterDriver {
    /// What syncing one cluster reports (a change set, a status).
    type Report;

    /// Syncs `cluster` to the desired state of `fleet` (at its revision).
    /// Called inside the cluster's pool slot.
    fn sync(&self, fleet: &Arc<Fleet>, cluster: &Cluster) -> impl Future<Output = Self::Report>;

    /// Whether the sync succeeded (the wave may go on).
    fn synced(report: &Self::Report) -> bool;

    /// Why the sync of `cluster` failed, in words, for the log line of a
    /// halted rollout; `None` when not known.
    fn failure(&self, cluster: &str, report: &Self::Report) -> Option<String> {
        let _ = (cluster, report);
        None
    }

    /// Waits until the cluster's desired objects are healthy, at most
    /// `timeout`; returns the health it ended at (`Degraded` ends the wait
    /// at once). Called only after a successful sync, outside the pool
    /// slot (waiting costs no slot).
    fn wait_healthy(
        &self,
        fleet: &Arc<Fleet>,
        cluster: &Cluster,
        timeout: Duration,
    ) -> impl Future<Output = HealthStatus>;

    /// Whether syncing `cluster` takes a slot of the pool: yes, unless the
    /// driver only waits on another process doing it (many replicas: a
    /// cluster another replica owns).
    fn uses_slot(&self, cluster: &Cluster) -> bool {
        let _ = cluster;
        true
    }

    /// Whether an operator paused the rollout: checked before each wave,
    /// and a paused rollout starts no further wave. Never, by default.
    fn paused(&self) -> bool {
        false
    }
}

/// One wave of a rollout, restricted to the clusters being synced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wave {
    /// The wave's name.
    pub name: String,
    /// Its clusters, in fleet order.
    pub clusters: Vec<String>,
}

/// Why a rollout halted: the first cluster (in wave order) of the wave that
/// did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Halt {
    /// The wave that did not pass.
    pub wave: String,
    /// The cluster that failed it.
    pub cluster: String,
    /// What went wrong there.
    pub cause: HaltCause,
}

/// What went wrong on the cluster that halted a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaltCause {
    /// Its sync failed.
    Failed,
    /// It synced but was not healthy within the health timeout.
    Unhealthy(HealthStatus),
}

impl fmt::Display for Halt {
    /// `wave "canary" failed on cluster eu-1`, or
    /// `wave "canary" was not healthy on cluster eu-1 (Progressing)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause {
            HaltCause::Failed => {
                write!(f, "wave {:?} failed on cluster {}", self.wave, self.cluster)
            }
            HaltCause::Unhealthy(h) => write!(
                f,
                "wave {:?} was not healthy on cluster {} ({h:?})",
                self.wave, self.cluster
            ),
        }
    }
}

/// What the rollout did with one cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<R> {
    /// Synced (or tried to): the driver's report, and with a health gate
    /// the health it reached (`None` when not waited on: no gate, or the
    /// sync failed).
    Done {
        /// The driver's report.
        report: R,
        /// The health it reached, gated.
        health: Option<HealthStatus>,
    },
    /// Not touched: an earlier wave halted the rollout.
    Halted(Halt),
}

/// One cluster's outcome in a rollout.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterOutcome<R> {
    /// The cluster.
    pub cluster: String,
    /// Its wave.
    pub wave: String,
    /// What happened.
    pub outcome: Outcome<R>,
}

/// The waves of `fleet` in rollout order, each restricted to `selection`
/// (every cluster when empty) and to clusters the fleet has. A wave left
/// empty stays (it passes at once).
pub fn plan(fleet: &Fleet, selection: &[String]) -> Vec<Wave> {
    fleet
        .rollout
        .waves
        .iter()
        .map(|w| Wave {
            name: w.name.clone(),
            clusters: w
                .clusters
                .iter()
                .filter(|n| selection.is_empty() || selection.contains(n))
                .filter(|n| fleet.cluster(n).is_some())
                .cloned()
                .collect(),
        })
        .collect()
}

/// Whether one cluster passed its wave: `None` when it did, else why not.
/// Gated, a synced cluster passes only when it became `Healthy`.
pub fn cluster_verdict(
    synced: bool,
    health: Option<HealthStatus>,
    gated: bool,
) -> Option<HaltCause> {
    if !synced {
        return Some(HaltCause::Failed);
    }
    match (gated, health) {
        (false, _) | (true, Some(HealthStatus::Healthy)) => None,
        (true, h) => Some(HaltCause::Unhealthy(h.unwrap_or(HealthStatus::Unknown))),
    }
}

/// Whether a wave passed, from its clusters' `(name, synced, health)`
/// in wave order: `None` when it did, else the [`Halt`] naming its first
/// cluster that did not.
pub fn verdict<'a>(
    wave: &str,
    results: impl IntoIterator<Item = (&'a str, bool, Option<HealthStatus>)>,
    gated: bool,
) -> Option<Halt> {
    results.into_iter().find_map(|(cluster, synced, health)| {
        cluster_verdict(synced, health, gated).map(|cause| Halt {
            wave: wave.to_string(),
            cluster: cluster.to_string(),
            cause,
        })
    })
}

/// What the clusters of a wave after a halt show: each halted by `halt`.
pub fn halted<R>(wave: &Wave, halt: &Halt) -> Vec<ClusterOutcome<R>> {
    wave.clusters
        .iter()
        .map(|c| ClusterOutcome {
            cluster: c.clone(),
            wave: wave.name.clone(),
            outcome: Outcome::Halted(halt.clone()),
        })
        .collect()
}

/// How a rollout runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct RolloutOptions {
    /// The health gate: wait (at most this long) for each synced cluster
    /// to be healthy before the next wave. `None`: no gate.
    pub health_gate: Option<Duration>,
}

/// Rolls `fleet` out over `waves` through `driver`, bounded by `pool`.
/// Returns one outcome per cluster, in wave order. When `stop` is set, or
/// the driver says the rollout is [paused](ClusterDriver::paused), no new
/// wave starts (the clusters of the waves not started are left out).
pub async fn run<D: ClusterDriver>(
    fleet: &Arc<Fleet>,
    waves: &[Wave],
    driver: &D,
    pool: &Pool,
    options: RolloutOptions,
    stop: &AtomicBool,
) -> Vec<ClusterOutcome<D::Report>> {
    let gate = options.health_gate;
    let mut outcomes = Vec::new();
    let mut halt: Option<Halt> = None;
    for wave in waves {
        if let Some(h) = &halt {
            outcomes.extend(halted(wave, h));
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if driver.paused() {
            tracing::info!(wave = %wave.name, "rollout paused: wave not started");
            break;
        }
        let revision = fleet.revision.as_deref().unwrap_or("work tree");
        tracing::info!(wave = %wave.name, revision = %revision, clusters = wave.clusters.len(), "wave started");
        let jobs = wave
            .clusters
            .iter()
            .filter_map(|name| fleet.cluster(name))
            .map(|cluster| async move {
                let report = if driver.uses_slot(cluster) {
                    pool.run(&cluster.name, driver.sync(fleet, cluster)).await
                } else {
                    driver.sync(fleet, cluster).await
                };
                let health = match gate {
                    Some(timeout) if D::synced(&report) => {
                        Some(driver.wait_healthy(fleet, cluster, timeout).await)
                    }
                    _ => None,
                };
                (cluster.name.clone(), report, health)
            });
        let done = futures::future::join_all(jobs).await;
        halt = verdict(
            &wave.name,
            done.iter()
                .map(|(name, report, health)| (name.as_str(), D::synced(report), *health)),
            gate.is_some(),
        );
        match &halt {
            Some(h) => {
                let error = done
                    .iter()
                    .find(|(name, _, _)| *name == h.cluster)
                    .and_then(|(name, report, _)| driver.failure(name, report))
                    .unwrap_or_default();
                tracing::warn!(
                    wave = %h.wave,
                    revision = %revision,
                    cluster = %h.cluster,
                    cause = %h,
                    error = %error,
                    "rollout halted"
                );
            }
            None => tracing::info!(wave = %wave.name, revision = %revision, "wave done"),
        }
        outcomes.extend(
            done.into_iter()
                .map(|(cluster, report, health)| ClusterOutcome {
                    cluster,
                    wave: wave.name.clone(),
                    outcome: Outcome::Done { report, health },
                }),
        );
    }
    outcomes
}

#[cfg(test)]
mod tests;
