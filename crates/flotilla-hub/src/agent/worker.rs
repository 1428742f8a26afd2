//! The worker of an agent cluster: the same requests as a push worker
//! (`Request::Sync`, `Request::WaitHealthy`), answered through the agent.
//! A sync renders the cluster here (the agent needs no Git), publishes the
//! assignment and waits, bounded, for the agent's report of it; the health
//! gate waits for the agent's health reports. Every report, asked for or
//! not (drift checks and self-heals on the agent's own schedule, what it
//! did while the hub was away), is recorded into the fleet state.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::AgentHub;
use crate::state::SyncStatus;
use crate::worker::{Request, Worker, WorkerContext};
use flotilla_core::agent::{AgentReport, AssignedObject, Assignment, Policy, ReportEvent};
use flotilla_core::drift::ClusterStatus;
use flotilla_core::health::HealthStatus;
use flotilla_core::model::Fleet;
use flotilla_core::render::render_cluster;

/// At most this many lines of recent agent activity are kept per cluster.
const RECENT: usize = 20;

/// The shortest wait for an agent's sync report: an agent polls at least
/// every 20 s, so it has seen a new assignment well within this.
const MIN_SYNC_WAIT: Duration = Duration::from_secs(30);

/// Starts the worker of agent cluster `name`.
pub(crate) fn start(name: String, ctx: WorkerContext, hub: Arc<AgentHub>) -> Worker {
    let (requests, rx) = mpsc::channel(4);
    let (id, reports) = hub.register(&name);
    let task = tokio::spawn(async move {
        let mut w = AgentWorker {
            name: name.clone(),
            ctx,
            hub: hub.clone(),
            current: None,
            last_seq: None,
        };
        w.run(rx, reports).await;
        hub.unregister(&name, id);
    });
    Worker { requests, task }
}

struct AgentWorker {
    name: String,
    ctx: WorkerContext,
    hub: Arc<AgentHub>,
    /// The last assignment issued: (generation, digest, revision).
    current: Option<(u64, String, Option<String>)>,
    /// The last report recorded: (seq, at), to drop one sent twice.
    last_seq: Option<(u64, u64)>,
}

/// The assignment of `cluster` at `fleet`'s commit.
fn assignment(ctx: &WorkerContext, fleet: &Fleet, name: &str) -> Result<Assignment, String> {
    let cluster = fleet
        .cluster(name)
        .ok_or_else(|| format!("no cluster {name}"))?;
    let desired = render_cluster(fleet, cluster).map_err(|e| e.to_string())?;
    let objects: Vec<AssignedObject> = desired
        .objects
        .iter()
        .map(|o| AssignedObject {
            object: o.object.clone(),
            ignored: fleet.ignored_fields(&o.key),
            tenant: o.tenant.as_ref().map(|t| t.name.to_string()),
            impersonate: o
                .tenant
                .as_ref()
                .and_then(|t| t.user.as_ref())
                .map(|u| u.to_string()),
        })
        .collect();
    let policy = Policy {
        prune: ctx.config.prune && fleet.prune,
        max_prune_ratio: ctx.config.max_prune_ratio,
        prune_window: fleet
            .prune_window
            .unwrap_or(flotilla_core::plan::DEFAULT_PRUNE_WINDOW),
        force_conflicts: ctx.config.force_conflicts && fleet.conflicts.force(),
        self_heal: ctx.config.self_heal,
        heal_force_conflicts: fleet.conflicts.force(),
        reconcile_interval_secs: ctx.config.reconcile_interval.as_secs().max(1),
        health_timeout_secs: ctx.config.health_timeout.as_secs().max(1),
    };
    let wave = fleet
        .rollout
        .waves
        .iter()
        .find(|w| w.clusters.iter().any(|c| c == name))
        .map(|w| w.name.clone())
        .unwrap_or_default();
    Ok(Assignment {
        fleet: fleet.name.clone(),
        cluster: name.to_string(),
        generation: 0,
        revision: fleet.revision.clone(),
        wave,
        digest: Assignment::digest_of(&objects, &policy),
        objects,
        policy,
    })
}

impl AgentWorker {
    async fn run(
        &mut self,
        mut requests: mpsc::Receiver<Request>,
        mut reports: mpsc::Receiver<AgentReport>,
    ) {
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    None => break,
                    Some(Request::Sync { fleet, gated, reply }) => {
                        let status = self.sync(&fleet, gated, &mut reports).await;
                        let _ = reply.send(status);
                    }
                    Some(Request::WaitHealthy { fleet: _, timeout, reply }) => {
                        let health = self.wait_healthy(timeout, &mut reports).await;
                        let _ = reply.send(health);
                    }
                },
                report = reports.recv() => match report {
                    Some(r) => { self.record(r); }
                    None => break,
                },
            }
        }
    }

    fn set_status(&self, status: SyncStatus, error: Option<String>) {
        let mut s = self.ctx.state.write().expect("state lock");
        if let Some(c) = s.clusters.get_mut(&self.name) {
            c.status = status;
            c.last_error = error;
        }
    }

    async fn sync(
        &mut self,
        fleet: &Arc<Fleet>,
        gated: bool,
        reports: &mut mpsc::Receiver<AgentReport>,
    ) -> SyncStatus {
        let a = match assignment(&self.ctx, fleet, &self.name) {
            Ok(a) => a,
            Err(e) => {
                self.set_status(SyncStatus::RenderError, Some(e));
                return SyncStatus::RenderError;
            }
        };
        let digest = a.digest.clone();
        let revision = a.revision.clone();
        let Some(generation) = self.hub.assign(&self.name, a) else {
            return SyncStatus::Failed;
        };
        self.current = Some((generation, digest, revision));
        {
            let mut s = self.ctx.state.write().expect("state lock");
            if let Some(c) = s.clusters.get_mut(&self.name) {
                c.agent.get_or_insert_with(Default::default).generation = generation;
            }
        }
        if !self.hub.enabled() {
            let e = "pull mode needs the hub's agent token directory (serve --agent-token-dir)";
            self.set_status(SyncStatus::Unreachable, Some(e.into()));
            return SyncStatus::Unreachable;
        }
        let wait = self.ctx.config.health_timeout.max(MIN_SYNC_WAIT);
        let deadline = Instant::now() + wait;
        let answer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, reports.recv()).await {
                Ok(Some(r)) => {
                    if let Some(status) = self.record(r)
                        && status.0 >= generation
                    {
                        break status.1;
                    }
                }
                Ok(None) | Err(_) => {
                    let e = format!(
                        "the agent of cluster {} did not report the assignment within {}s",
                        self.name,
                        wait.as_secs()
                    );
                    tracing::warn!(cluster = %self.name, "{e}");
                    self.set_status(SyncStatus::Unreachable, Some(e));
                    break SyncStatus::Unreachable;
                }
            }
        };
        if gated && answer == SyncStatus::Synced {
            self.set_status(SyncStatus::Syncing, None);
        }
        answer
    }

    async fn wait_healthy(
        &mut self,
        timeout: Duration,
        reports: &mut mpsc::Receiver<AgentReport>,
    ) -> HealthStatus {
        let deadline = Instant::now() + timeout;
        let current = |w: &Self| {
            w.ctx
                .state
                .read()
                .expect("state lock")
                .clusters
                .get(&w.name)
                .map_or(HealthStatus::Unknown, |c| c.health)
        };
        let mut health = current(self);
        while !matches!(health, HealthStatus::Healthy | HealthStatus::Degraded) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, reports.recv()).await {
                Ok(Some(r)) => {
                    self.record(r);
                    health = current(self);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let mut s = self.ctx.state.write().expect("state lock");
        if let Some(c) = s.clusters.get_mut(&self.name)
            && c.status == SyncStatus::Syncing
        {
            c.status = SyncStatus::Synced;
        }
        health
    }

    /// Records one report into the fleet state. For a report of a sync
    /// of the current assignment (or an answer to it), returns its
    /// generation and the status it means.
    fn record(&mut self, r: AgentReport) -> Option<(u64, SyncStatus)> {
        if self.last_seq == Some((r.seq, r.at)) {
            return None;
        }
        self.last_seq = Some((r.seq, r.at));
        let current = self.current.clone();
        let on_current = current.as_ref().is_some_and(|(_, d, _)| *d == r.digest);
        let mut answer = None;
        if let Some(sync) = &r.sync {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let s = self.ctx.state.read().unwrap_or_else(|e| e.into_inner());
            self.ctx
                .metrics
                .record_sync(&sync.changes, 0.0, now, &|k| s.tenant_label(k));
        }
        let line = describe(&r);
        tracing::info!(cluster = %self.name, seq = r.seq, "agent: {line}");
        let mut s = self.ctx.state.write().expect("state lock");
        let c = s.clusters.get_mut(&self.name)?;
        let contact = c.agent.get_or_insert_with(Default::default);
        contact.last_contact = Some(SystemTime::now());
        contact.reported_generation = r.generation;
        contact.recent.push(line);
        if contact.recent.len() > RECENT {
            let extra = contact.recent.len() - RECENT;
            contact.recent.drain(..extra);
        }
        c.health = r.health;
        c.objects = r.objects.into();
        if let Some(d) = r.drift {
            match d.status {
                ClusterStatus::InSync => c.drift_since = None,
                ClusterStatus::Drifted => {
                    c.drift_since.get_or_insert_with(SystemTime::now);
                }
                _ => {}
            }
            c.drift = Some(d);
        }
        if let Some(sync) = r.sync {
            let status = if sync.synced {
                SyncStatus::Synced
            } else if sync.unreachable {
                SyncStatus::Unreachable
            } else {
                SyncStatus::Failed
            };
            c.last_error = if sync.synced {
                None
            } else {
                Some(sync.changes.error.clone().unwrap_or_else(|| {
                    sync.changes
                        .changes
                        .iter()
                        .filter(|x| x.message.is_some())
                        .map(|x| format!("{}: {}", x.key, x.message.as_deref().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join("; ")
                }))
            };
            if on_current {
                if sync.synced {
                    c.revision = r.revision.clone();
                    c.last_success = Some(SystemTime::now());
                }
                // A heal or a late answer updates a cluster not waited on.
                if r.event == ReportEvent::Sync
                    || matches!(
                        c.status,
                        SyncStatus::Synced | SyncStatus::Unreachable | SyncStatus::Failed
                    )
                {
                    c.status = status;
                }
                if r.event == ReportEvent::Sync {
                    answer = Some((r.generation, status));
                }
            }
            c.last_sync = Some(sync.changes.into());
        } else if on_current && r.event == ReportEvent::Hello && c.status == SyncStatus::Unreachable
        {
            // The agent is back; the rollout's retry re-assigns and gets its
            // answer at once (same digest: nothing applied again).
            c.last_error = None;
        }
        answer
    }
}

/// One line of agent activity, for the API and the log.
fn describe(r: &AgentReport) -> String {
    let what = match (&r.event, &r.sync) {
        (ReportEvent::Sync, Some(s)) if s.synced => {
            let n = s.changes.counts();
            format!(
                "synced generation {} ({} created, {} configured, {} pruned)",
                r.generation, n.created, n.configured, n.pruned
            )
        }
        (ReportEvent::Sync, Some(_)) => format!("sync of generation {} failed", r.generation),
        (ReportEvent::Drift, Some(s)) => {
            if s.synced {
                "healed drift".to_string()
            } else {
                "healing drift failed".to_string()
            }
        }
        (ReportEvent::Drift, None) => match &r.drift {
            Some(d) => format!("drift check: {}", d.status.describe()),
            None => "drift check".to_string(),
        },
        (ReportEvent::Health, _) => format!("health {:?}", r.health),
        (ReportEvent::Hello, _) => format!("connected, on generation {}", r.generation),
        (ReportEvent::Sync, None) => format!("on generation {}", r.generation),
    };
    format!("{} {what}", r.at)
}
