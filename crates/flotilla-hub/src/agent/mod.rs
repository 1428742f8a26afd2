//! Pull mode on the hub: clusters whose `connection` is `{mode: agent}`
//! are synced by a `flotilla agent` that dials out to the hub.
//!
//! - [`AgentHub`]: the meeting point of the HTTP side and the workers. It
//!   holds each agent cluster's current [`Assignment`] (the long poll waits
//!   on it), hands the agents' reports to the cluster's worker, and checks
//!   tokens: `<agentTokenDir>/<cluster>` holds the token of that cluster,
//!   compared in constant time, read on every request (a rotated Secret
//!   takes effect without a restart); a token opens its own cluster only.
//! - [`routes`]: `GET /agent/v1/assignment` (long poll) and
//!   `POST /agent/v1/report` on the hub's listener.
//! - `worker`: the agent cluster's worker, the second driver behind the
//!   rollout: it answers the rollout's sync and health requests exactly as
//!   a push worker does, by publishing an assignment and waiting (bounded)
//!   for the agent's report, so waves and health gates treat agent clusters
//!   as push clusters.

pub mod routes;
pub(crate) mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, watch};

use crate::state::SharedState;
use flotilla_core::agent::{AgentReport, Assignment};

/// How long a long poll waits for a new assignment before answering 204.
pub const LONG_POLL: Duration = Duration::from_secs(20);

/// Why an agent request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No agent token directory is configured: no agent can connect.
    Disabled,
    /// The token is missing or not the cluster's.
    Unauthorized,
    /// The cluster is not an agent cluster of the fleet (not yet loaded).
    UnknownCluster,
}

struct Slot {
    /// Distinguishes registrations (a worker replaced by a new one).
    id: u64,
    assignment: watch::Sender<Option<Arc<Assignment>>>,
    reports: mpsc::Sender<AgentReport>,
    /// Long polls open now.
    polls: usize,
}

/// The hub's side of pull mode, shared by the HTTP routes and the workers.
pub struct AgentHub {
    token_dir: Option<PathBuf>,
    long_poll: Duration,
    state: SharedState,
    slots: Mutex<BTreeMap<String, Slot>>,
    ids: AtomicU64,
    last_generation: Mutex<u64>,
    stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for AgentHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHub")
            .field("token_dir", &self.token_dir)
            .finish_non_exhaustive()
    }
}

/// Seconds of the Unix epoch in milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl AgentHub {
    /// A hub for agents whose tokens are in `token_dir`, writing contact
    /// times into `state`; long polls end early when `stop` turns true.
    pub fn new(
        token_dir: Option<PathBuf>,
        state: SharedState,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            token_dir,
            long_poll: LONG_POLL,
            state,
            slots: Mutex::default(),
            ids: AtomicU64::new(1),
            last_generation: Mutex::new(0),
            stop,
        }
    }

    /// The same with another long-poll wait (tests, benches).
    pub fn with_long_poll(mut self, wait: Duration) -> Self {
        self.long_poll = wait;
        self
    }

    /// Whether an agent token directory is configured.
    pub fn enabled(&self) -> bool {
        self.token_dir.is_some()
    }

    /// Checks that `token` is the token of `cluster`.
    pub fn authenticate(&self, cluster: &str, token: Option<&str>) -> Result<(), Refusal> {
        let Some(dir) = &self.token_dir else {
            return Err(Refusal::Disabled);
        };
        // The name becomes a file name: only a DNS-1123 label can.
        if !flotilla_core::model::names::is_dns1123_label(cluster) {
            return Err(Refusal::Unauthorized);
        }
        let Some(given) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(Refusal::Unauthorized);
        };
        let Ok(expected) = std::fs::read_to_string(dir.join(cluster)) else {
            return Err(Refusal::Unauthorized);
        };
        let expected = expected.trim();
        if expected.is_empty() {
            return Err(Refusal::Unauthorized);
        }
        let a = Sha256::digest(given.as_bytes());
        let b = Sha256::digest(expected.as_bytes());
        if bool::from(a.ct_eq(&b)) {
            Ok(())
        } else {
            Err(Refusal::Unauthorized)
        }
    }

    /// Registers the worker of agent cluster `name`: returns its
    /// registration id and where the agent's reports arrive.
    pub(crate) fn register(&self, name: &str) -> (u64, mpsc::Receiver<AgentReport>) {
        let (tx, rx) = mpsc::channel(64);
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let assignment = slots
            .remove(name)
            .map(|s| s.assignment)
            .unwrap_or_else(|| watch::channel(None).0);
        slots.insert(
            name.to_string(),
            Slot {
                id,
                assignment,
                reports: tx,
                polls: 0,
            },
        );
        (id, rx)
    }

    /// Removes registration `id` of `name` (not a newer one).
    pub(crate) fn unregister(&self, name: &str, id: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.get(name).is_some_and(|s| s.id == id) {
            slots.remove(name);
        }
    }

    /// Whether `name` is registered as an agent cluster.
    pub fn is_agent_cluster(&self, name: &str) -> bool {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(name)
    }

    /// A new generation: above every earlier one of this hub and, being
    /// time-based, above those of a hub that ran before it.
    fn next_generation(&self) -> u64 {
        let mut last = self
            .last_generation
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *last = (*last + 1).max(now_ms());
        *last
    }

    /// Publishes a new assignment for `name` (its generation set here);
    /// returns the generation, or `None` when `name` is not registered.
    pub(crate) fn assign(&self, name: &str, mut assignment: Assignment) -> Option<u64> {
        let generation = self.next_generation();
        assignment.generation = generation;
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.get(name)?;
        slot.assignment.send_replace(Some(Arc::new(assignment)));
        Some(generation)
    }

    fn touch(&self, name: &str, polling: Option<bool>) {
        let polls = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match (slots.get_mut(name), polling) {
                (Some(s), Some(true)) => {
                    s.polls += 1;
                    s.polls
                }
                (Some(s), Some(false)) => {
                    s.polls = s.polls.saturating_sub(1);
                    s.polls
                }
                (Some(s), None) => s.polls,
                (None, _) => 0,
            }
        };
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = state.clusters.get_mut(name) {
            let a = c.agent.get_or_insert_with(Default::default);
            a.last_contact = Some(SystemTime::now());
            a.connected = polls > 0;
        }
    }

    /// The long poll: the assignment of `name` once one of a generation
    /// above `after` is there, else `None` after the wait (or at shutdown).
    pub async fn poll(&self, name: &str, after: u64) -> Result<Option<Arc<Assignment>>, Refusal> {
        let mut rx = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.get(name).ok_or(Refusal::UnknownCluster)?;
            slot.assignment.subscribe()
        };
        self.touch(name, Some(true));
        let mut stop = self.stop.clone();
        let newer =
            |a: &Option<Arc<Assignment>>| a.as_ref().filter(|a| a.generation > after).cloned();
        let wait = async {
            loop {
                if let Some(a) = newer(&rx.borrow_and_update()) {
                    return Some(a);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        let stopped = async {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let found = tokio::select! {
            a = tokio::time::timeout(self.long_poll, wait) => a.ok().flatten(),
            () = stopped => None,
        };
        self.touch(name, Some(false));
        Ok(found)
    }

    /// Hands a report of `name` to its worker.
    pub async fn report(&self, name: &str, report: AgentReport) -> Result<(), Refusal> {
        let tx = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .get(name)
                .ok_or(Refusal::UnknownCluster)?
                .reports
                .clone()
        };
        self.touch(name, None);
        match tokio::time::timeout(Duration::from_secs(10), tx.send(report)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Refusal::UnknownCluster),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::RwLock;

    fn hub(dir: &std::path::Path) -> AgentHub {
        let state = Arc::new(RwLock::new(crate::state::FleetState::default()));
        AgentHub::new(Some(dir.to_path_buf()), state, watch::channel(false).1)
    }

    #[test]
    fn a_token_opens_its_own_cluster_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("eu-1"), "token-eu\n").unwrap();
        std::fs::write(dir.path().join("us-1"), "token-us").unwrap();
        let h = hub(dir.path());
        assert_eq!(h.authenticate("eu-1", Some("token-eu")), Ok(()));
        assert_eq!(h.authenticate("us-1", Some("token-us")), Ok(()));
        assert_eq!(
            h.authenticate("eu-1", Some("token-us")),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(h.authenticate("eu-1", Some("")), Err(Refusal::Unauthorized));
        assert_eq!(h.authenticate("eu-1", None), Err(Refusal::Unauthorized));
        assert_eq!(
            h.authenticate("ap-1", Some("token-eu")),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(
            h.authenticate("../eu-1", Some("token-eu")),
            Err(Refusal::Unauthorized)
        );
    }

    #[test]
    fn without_a_token_folder_no_agent_connects() {
        let state = Arc::new(RwLock::new(crate::state::FleetState::default()));
        let h = AgentHub::new(None, state, watch::channel(false).1);
        assert_eq!(h.authenticate("eu-1", Some("x")), Err(Refusal::Disabled));
    }

    #[test]
    fn generations_only_grow() {
        let dir = tempfile::tempdir().unwrap();
        let h = hub(dir.path());
        let a = h.next_generation();
        let b = h.next_generation();
        assert!(b > a && a >= now_ms() - 1000);
    }
}
