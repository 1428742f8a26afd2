//! Many replicas of the daemon sharing one fleet through
//! `coordination.k8s.io/v1` Leases on the hub cluster (`ha:` in the config,
//! `serve --lease-namespace`).
//!
//! Each replica keeps a member Lease `flotilla-replica-<id>`, renewed every
//! third of the lease duration. Clusters fall into [`SHARDS`] shards by a
//! stable hash of their name; shard `k` has a Lease `flotilla-shard-<k>`.
//! The replica that should hold a shard is chosen by rendezvous hashing
//! over the live replicas (those whose member Lease this replica saw
//! change within the lease duration, by its own monotonic clock). A
//! replica acquires a shard only when it is free, released or expired
//! (unchanged for a whole duration as it observed), with the Lease's
//! resourceVersion as the precondition (409: another was first), renews
//! what it holds, and hands back what it no longer should hold (its
//! workers stopped first).
//!
//! **Invariant: one writer per cluster.** A replica writes to a cluster
//! only through its worker's [`Fence`]: while it holds the shard and its
//! last successful renewal was sent less than the renew deadline (2/3 of
//! the duration) ago, by its own clock. When the deadline passes (the hub
//! is unreachable, renewals fail), the sync, drift check or self-heal in
//! flight is cancelled, not only new work refused. Another replica takes
//! the shard only after it saw the Lease unchanged for a whole duration,
//! which is later.
//!
//! Waves across replicas: every replica runs the same rollout; a cluster
//! it does not own is waited on through a small status record the owner
//! writes (one ConfigMap `flotilla-status-<k>` per shard, one key per
//! cluster: [`Record`], under 200 bytes).

mod lease;
pub mod shard;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use tokio::sync::{Notify, watch};

use crate::config::HaSettings;
use crate::metrics::Metrics;
use crate::state::{SharedState, SyncStatus};
use flotilla_core::health::HealthStatus;
pub use lease::{LeaseError, Store};
pub use shard::{SHARDS, shard_of};

/// Why many-replica mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// The hub kubeconfig could not be read or used.
    #[error("hub kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig was given and the in-cluster config is not there.
    #[error(
        "hub cluster: no ha.kubeconfig (--lease-kubeconfig) and no in-cluster config: {source}"
    )]
    InCluster {
        /// Why.
        #[source]
        source: kube::config::InClusterError,
    },
    /// The client for the hub cluster could not be built.
    #[error("hub cluster client: {source}")]
    Client {
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The replica id cannot name a Lease.
    #[error(
        "replica id {0:?} cannot name a Lease: use lower-case letters, digits, '-' and '.' (--replica-id, ha.replicaId, $POD_NAME or the host name)"
    )]
    ReplicaId(String),
}

/// The `User-Agent` of a replica's requests: `flotilla/<version> (replica <id>)`.
pub fn user_agent(replica: &str) -> String {
    format!("flotilla/{} (replica {replica})", env!("CARGO_PKG_VERSION"))
}

pub use crate::state::Record;

/// Which shards this replica owns now, with a fence per shard.
pub struct Ownership {
    replica: String,
    /// Per shard: `Some(t)`: held, writes allowed until `t`; `None`: not held.
    fences: Vec<watch::Sender<Option<Instant>>>,
    /// Per shard: fenced work in flight.
    active: Vec<Arc<AtomicUsize>>,
    /// Wakes the reconcile loop when this replica gained clusters (it then
    /// syncs those behind at once) or another replica paused or resumed
    /// the rollout.
    gained: Arc<Notify>,
    /// Set once the shards were handed back on shutdown.
    stopped: watch::Sender<bool>,
}

impl Ownership {
    fn new(replica: String) -> Self {
        Self {
            stopped: watch::channel(false).0,
            replica,
            fences: (0..SHARDS).map(|_| watch::channel(None).0).collect(),
            active: (0..SHARDS).map(|_| Arc::new(AtomicUsize::new(0))).collect(),
            gained: Arc::new(Notify::new()),
        }
    }

    /// Waits (at most `limit`) until the shards were handed back after
    /// shutdown, so the other replicas take them over at once.
    pub async fn stopped(&self, limit: Duration) {
        let mut rx = self.stopped.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|done| *done)).await;
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    fn shard_owned(&self, k: u32) -> bool {
        matches!(*self.fences[k as usize].borrow(), Some(t) if t > Instant::now())
    }

    /// Whether this replica may write to `cluster` now.
    pub fn owns(&self, cluster: &str) -> bool {
        self.shard_owned(shard_of(cluster))
    }

    /// The fence a worker of `cluster` runs its writes through.
    pub fn fence(&self, cluster: &str) -> Fence {
        let k = shard_of(cluster) as usize;
        Fence {
            rx: self.fences[k].subscribe(),
            active: self.active[k].clone(),
        }
    }

    /// Notified when this replica gained clusters, or the shared pause
    /// changed.
    pub fn gained(&self) -> Arc<Notify> {
        self.gained.clone()
    }

    fn set(&self, k: u32, until: Option<Instant>) {
        self.fences[k as usize].send_replace(until);
    }

    /// Closes shard `k`'s fence and waits (bounded) until its work in
    /// flight has stopped; returns whether it did.
    async fn close(&self, k: u32) -> bool {
        self.set(k, None);
        let active = &self.active[k as usize];
        for _ in 0..200 {
            if active.load(Ordering::SeqCst) == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::warn!(shard = k, "work on the shard did not stop within 2s");
        false
    }
}

/// Runs a worker's writes only while its replica owns the cluster.
pub struct Fence {
    rx: watch::Receiver<Option<Instant>>,
    active: Arc<AtomicUsize>,
}

struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Fence {
    /// Runs `work` to its end while the fence is open; `None` (and `work`
    /// dropped, cancelled mid-flight) when it is closed first: the shard
    /// was handed back or lost, or its renew deadline passed.
    pub async fn run<F: Future>(&mut self, work: F) -> Option<F::Output> {
        self.active.fetch_add(1, Ordering::SeqCst);
        let _active = Active(self.active.clone());
        let work = std::pin::pin!(work);
        let mut work = work;
        loop {
            let until = match *self.rx.borrow_and_update() {
                Some(t) if t > Instant::now() => t,
                _ => return None,
            };
            tokio::select! {
                out = &mut work => return Some(out),
                _ = tokio::time::sleep_until(until.into()) => {}
                changed = self.rx.changed() => if changed.is_err() { return None; },
            }
        }
    }
}

/// Starts many-replica mode: connects to the hub cluster, takes part in
/// one round of the Leases (so the first rollout knows what it owns), and
/// keeps renewing them until `shutdown`, when it hands its shards back.
pub async fn start(
    settings: &HaSettings,
    replica: String,
    state: SharedState,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Arc<Ownership>, HaError> {
    if !shard::valid_replica_id(&replica) {
        return Err(HaError::ReplicaId(replica));
    }
    let mut config = match &settings.kubeconfig {
        Some(path) => {
            let err = |source| HaError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(err)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(err)?
        }
        None => kube::Config::incluster().map_err(|source| HaError::InCluster { source })?,
    };
    let agent = user_agent(&replica);
    if let Ok(v) = axum::http::HeaderValue::from_str(&agent) {
        config.headers.push((axum::http::header::USER_AGENT, v));
    }
    let call = settings.lease_duration / 3;
    config.connect_timeout = Some(call);
    config.read_timeout = Some(call);
    config.write_timeout = Some(call);
    config.default_retry = false;
    let client = kube::Client::try_from(config).map_err(|source| HaError::Client { source })?;
    state.write().expect("state lock").replica = Some(replica.clone());
    let ownership = Arc::new(Ownership::new(replica));
    let mut c = Coordinator {
        hub: lease::Hub::new(client, &settings.namespace),
        duration: settings.lease_duration,
        ownership: ownership.clone(),
        observer: shard::Observer::default(),
        state,
        metrics,
        leases: BTreeMap::new(),
        published: BTreeMap::new(),
        paused: None,
    };
    c.tick().await;
    tokio::spawn(async move {
        let every = c.duration / 3;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => c.tick().await,
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                c.hand_back().await;
                c.ownership.stopped.send_replace(true);
                return;
            }
        }
    });
    Ok(ownership)
}

struct Coordinator<H: Store> {
    hub: H,
    duration: Duration,
    ownership: Arc<Ownership>,
    observer: shard::Observer,
    state: SharedState,
    metrics: Arc<Metrics>,
    /// The Leases as last listed, by name.
    leases: BTreeMap<String, Lease>,
    /// The status data last written, per shard.
    published: BTreeMap<u32, BTreeMap<String, String>>,
    /// The local pause as it stood after the last exchange with the hub.
    paused: Option<bool>,
}

impl<H: Store> Coordinator<H> {
    /// How long a request to the hub may take: a third of the duration.
    fn call(&self) -> Duration {
        self.duration / 3
    }

    /// The renew deadline: writes stop this long after the last successful
    /// renewal was sent.
    fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    fn holder(lease: &Lease) -> Option<&str> {
        lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            .filter(|h| !h.is_empty())
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        let listed = match tokio::time::timeout(self.call(), self.hub.leases()).await {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                self.metrics.lease_renew_failures.inc();
                tracing::warn!(error = %e, "reading the Leases failed");
                // Owners fade as the Leases last seen expire (our own
                // fences close at their deadline, by themselves).
                self.show_owners(now);
                return;
            }
            Err(_) => {
                self.metrics.lease_renew_failures.inc();
                tracing::warn!("reading the Leases timed out");
                self.show_owners(now);
                return;
            }
        };
        self.leases = listed
            .into_iter()
            .filter_map(|l| Some((l.metadata.name.clone()?, l)))
            .collect();
        for (name, l) in &self.leases {
            let version = l.metadata.resource_version.as_deref().unwrap_or("");
            self.observer.observe(name, version, now);
        }
        self.observer
            .retain(&self.leases.keys().cloned().collect::<BTreeSet<_>>());
        let me = self.ownership.replica.clone();
        let member = shard::member_lease(&me);
        if let Err(e) = self.write(&member, Some(&me)).await {
            self.metrics.lease_renew_failures.inc();
            tracing::warn!(error = %e, "renewing the member Lease failed");
        }
        let members: Vec<(String, bool)> = self
            .leases
            .iter()
            .filter(|(name, _)| name.starts_with("flotilla-replica-"))
            .filter_map(|(name, l)| {
                let id = Self::holder(l)?;
                (shard::member_lease(id) == *name).then(|| {
                    (
                        id.to_string(),
                        self.observer.fresh(name, now, self.duration),
                    )
                })
            })
            .collect();
        let live = shard::live_members(&me, members.iter().map(|(i, f)| (i.as_str(), *f)));
        let mut gained = Vec::new();
        for k in 0..SHARDS {
            let name = shard::shard_lease(k);
            let view = self.leases.get(&name).map(|l| shard::ShardLease {
                holder: Self::holder(l).map(str::to_string),
                fresh: self.observer.fresh(&name, now, self.duration),
            });
            let wanted = shard::wanted_holder(k, &live);
            match shard::step(&me, wanted, view.as_ref()) {
                step @ (shard::Step::Acquire | shard::Step::Renew) => {
                    let had = self.ownership.shard_owned(k);
                    let sent = Instant::now();
                    match self.write(&name, Some(&me)).await {
                        Ok(()) => {
                            self.ownership.set(k, Some(sent + self.renew_deadline()));
                            if !had {
                                gained.push(k);
                                // Another owner may have rewritten its record.
                                self.published.remove(&k);
                            }
                            if step == shard::Step::Acquire {
                                tracing::info!(shard = k, "shard acquired");
                            }
                        }
                        Err(LeaseError::Lost(_)) => {
                            self.ownership.close(k).await;
                        }
                        Err(e) => {
                            // The fence closes by itself at the deadline.
                            self.metrics.lease_renew_failures.inc();
                            tracing::warn!(shard = k, error = %e, "renewing a shard Lease failed");
                        }
                    }
                }
                shard::Step::Release => {
                    // Not handed back while work is still stopping: the
                    // Lease then expires instead, which is later.
                    if !self.ownership.close(k).await {
                        continue;
                    }
                    match self.write(&name, None).await {
                        Ok(()) => tracing::info!(shard = k, "shard handed back"),
                        Err(e) => {
                            tracing::warn!(shard = k, error = %e, "handing a shard back failed")
                        }
                    }
                }
                shard::Step::Leave => {
                    if self.ownership.shard_owned(k) {
                        self.ownership.close(k).await;
                    }
                }
            }
        }
        self.show_owners(now);
        if !gained.is_empty() {
            self.mark_gained(&gained);
            self.ownership.gained.notify_one();
        }
        self.exchange_status().await;
        self.exchange_pause().await;
    }

    /// Shares the rollout's pause: an operator's pause or resume on this
    /// replica (the local flag changed since the last exchange) is written
    /// to the hub; a change another replica wrote is taken over here (a
    /// resume also asks for a rollout round, as it does locally).
    async fn exchange_pause(&mut self) {
        let local = self.state.read().expect("state lock").rollout.paused;
        if self.paused.is_some_and(|p| p != local) {
            match tokio::time::timeout(self.call(), self.hub.put_paused(local)).await {
                Ok(Ok(())) => self.paused = Some(local),
                Ok(Err(e)) => tracing::warn!(error = %e, "sharing the rollout's pause failed"),
                Err(_) => tracing::warn!("sharing the rollout's pause timed out"),
            }
            return;
        }
        let Ok(Ok(shared)) = tokio::time::timeout(self.call(), self.hub.paused()).await else {
            return;
        };
        match shared {
            Some(shared) if shared != local => {
                {
                    let mut s = self.state.write().expect("state lock");
                    s.rollout.paused = shared;
                    if !shared {
                        s.rollout.round_requested = true;
                    }
                }
                tracing::info!(paused = shared, "rollout pause changed by another replica");
                self.ownership.gained.notify_one();
                self.paused = Some(shared);
            }
            _ => self.paused = Some(local),
        }
    }

    /// Writes Lease `name` with `holder`, from the version last listed;
    /// keeps the written version.
    async fn write(&mut self, name: &str, holder: Option<&str>) -> Result<(), LeaseError> {
        let current = self.leases.get(name);
        let written = tokio::time::timeout(
            self.call(),
            self.hub.put_lease(name, current, holder, self.duration),
        )
        .await;
        match written {
            Ok(Ok(lease)) => {
                self.leases.insert(name.to_string(), lease);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LeaseError::TimedOut(name.to_string())),
        }
    }

    /// Every cluster's owner in the state, and the owned-clusters metric.
    fn show_owners(&self, now: Instant) {
        let owner_of: BTreeMap<u32, Option<String>> = (0..SHARDS)
            .map(|k| {
                let name = shard::shard_lease(k);
                let owner = if self.ownership.shard_owned(k) {
                    Some(self.ownership.replica.clone())
                } else {
                    self.leases
                        .get(&name)
                        .filter(|_| self.observer.fresh(&name, now, self.duration))
                        .and_then(Self::holder)
                        .filter(|h| *h != self.ownership.replica)
                        .map(str::to_string)
                };
                (k, owner)
            })
            .collect();
        let mut s = self.state.write().expect("state lock");
        let mut owned = 0;
        for c in s.clusters.values_mut() {
            if c.agent.is_some() {
                c.owner = None;
                continue;
            }
            c.owner = owner_of[&shard_of(&c.name)].clone();
            if c.owner.as_deref() == Some(self.ownership.replica.as_str()) {
                owned += 1;
            }
        }
        self.metrics.owned_clusters.set(owned);
    }

    /// Clusters of newly held shards are synced again (they may have
    /// missed a commit while another replica, or none, held them).
    fn mark_gained(&self, shards: &[u32]) {
        let mut s = self.state.write().expect("state lock");
        for c in s.clusters.values_mut() {
            if c.agent.is_none() && shards.contains(&shard_of(&c.name)) {
                c.status = SyncStatus::Pending;
            }
        }
    }

    /// Writes the status records of the owned clusters that changed and
    /// reads the others' into the state.
    async fn exchange_status(&mut self) {
        let mut wanted: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        {
            let s = self.state.read().expect("state lock");
            for c in s.clusters.values().filter(|c| c.agent.is_none()) {
                let k = shard_of(&c.name);
                if !self.ownership.shard_owned(k) {
                    continue;
                }
                let record = Record {
                    target: s.good_revision.clone(),
                    revision: c.revision.clone(),
                    status: c.status,
                    health: c.health,
                };
                if let Ok(text) = serde_json::to_string(&record) {
                    wanted.entry(k).or_default().insert(c.name.clone(), text);
                }
            }
        }
        for (k, data) in wanted {
            if self.published.get(&k) == Some(&data) || !self.ownership.shard_owned(k) {
                continue;
            }
            let name = shard::status_config_map(k);
            match tokio::time::timeout(self.call(), self.hub.put_status(&name, &data)).await {
                Ok(Ok(())) => {
                    self.published.insert(k, data);
                }
                Ok(Err(e)) => {
                    tracing::warn!(shard = k, error = %e, "writing the status record failed")
                }
                Err(_) => tracing::warn!(shard = k, "writing the status record timed out"),
            }
        }
        let read = match tokio::time::timeout(self.call(), self.hub.status()).await {
            Ok(Ok(r)) => r,
            _ => return,
        };
        let mut s = self.state.write().expect("state lock");
        for data in read.values() {
            for (cluster, text) in data {
                if self.ownership.owns(cluster) {
                    continue;
                }
                let (Ok(record), Some(c)) = (
                    serde_json::from_str::<Record>(text),
                    s.clusters.get_mut(cluster),
                ) else {
                    continue;
                };
                if c.agent.is_some() {
                    continue;
                }
                c.revision = record.revision.clone();
                c.status = record.status;
                c.health = record.health;
                c.remote = Some(record);
            }
        }
    }

    /// On shutdown: hands every held shard back, so the others take over
    /// at once rather than after a lease duration.
    async fn hand_back(&mut self) {
        for k in 0..SHARDS {
            if self.ownership.shard_owned(k) && self.ownership.close(k).await {
                let _ = self.write(&shard::shard_lease(k), None).await;
            }
        }
    }
}

/// Waits (bounded by `timeout`) until `cluster`, owned by another replica,
/// ended its sync of `revision`: its record names that commit as the one
/// rolled out and its status settled. Returns early with `None` when this
/// replica came to own it (the caller then syncs it itself).
pub async fn wait_remote_sync(
    ownership: &Ownership,
    state: &SharedState,
    cluster: &str,
    revision: Option<&str>,
    timeout: Duration,
) -> Option<SyncStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if ownership.owns(cluster) {
            return None;
        }
        let record = {
            let s = state.read().expect("state lock");
            s.clusters.get(cluster).and_then(|c| c.remote.clone())
        };
        if let Some(r) = record
            && r.target.as_deref() == revision
        {
            match r.status {
                SyncStatus::Synced if r.revision.as_deref() == revision => {
                    return Some(SyncStatus::Synced);
                }
                SyncStatus::Failed | SyncStatus::Unreachable | SyncStatus::RenderError => {
                    return Some(r.status);
                }
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return Some(SyncStatus::Failed);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits (bounded by `timeout`) until `cluster`, owned by another replica,
/// is healthy at `revision` by its record; returns the health it ended at
/// (`Degraded` at once).
pub async fn wait_remote_health(
    state: &SharedState,
    cluster: &str,
    revision: Option<&str>,
    timeout: Duration,
) -> HealthStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let record = {
            let s = state.read().expect("state lock");
            s.clusters.get(cluster).and_then(|c| c.remote.clone())
        };
        let health = record
            .filter(|r| r.revision.as_deref() == revision && r.status == SyncStatus::Synced)
            .map_or(HealthStatus::Unknown, |r| r.health);
        if matches!(health, HealthStatus::Healthy | HealthStatus::Degraded)
            || Instant::now() >= deadline
        {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// The hub in memory, with the resourceVersion precondition; `cut`
    /// makes every call of this handle fail, as a partition would.
    #[derive(Clone, Default)]
    struct Fake {
        shared: Arc<std::sync::Mutex<(u64, BTreeMap<String, Lease>)>>,
        cut: Arc<AtomicBool>,
    }

    impl Fake {
        fn reach(&self, what: &str) -> Result<(), LeaseError> {
            if self.cut.load(Ordering::SeqCst) {
                return Err(LeaseError::TimedOut(what.to_string()));
            }
            Ok(())
        }
    }

    impl Store for Fake {
        async fn leases(&self) -> Result<Vec<Lease>, LeaseError> {
            self.reach("leases")?;
            Ok(self.shared.lock().unwrap().1.values().cloned().collect())
        }

        async fn put_lease(
            &self,
            name: &str,
            current: Option<&Lease>,
            holder: Option<&str>,
            duration: Duration,
        ) -> Result<Lease, LeaseError> {
            self.reach(name)?;
            let mut s = self.shared.lock().unwrap();
            let stored =
                s.1.get(name)
                    .and_then(|l| l.metadata.resource_version.clone());
            if stored != current.and_then(|l| l.metadata.resource_version.clone()) {
                return Err(LeaseError::Lost(name.to_string()));
            }
            s.0 += 1;
            let mut lease = current.cloned().unwrap_or_default();
            lease.metadata.name = Some(name.to_string());
            lease.metadata.resource_version = Some(s.0.to_string());
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = holder.map(str::to_string);
            spec.lease_duration_seconds = Some(duration.as_secs() as i32);
            s.1.insert(name.to_string(), lease.clone());
            Ok(lease)
        }

        async fn status(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>, LeaseError> {
            self.reach("status")?;
            Ok(BTreeMap::new())
        }

        async fn put_status(
            &self,
            name: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<(), LeaseError> {
            self.reach(name)
        }

        async fn paused(&self) -> Result<Option<bool>, LeaseError> {
            self.reach("paused")?;
            Ok(None)
        }

        async fn put_paused(&self, _: bool) -> Result<(), LeaseError> {
            self.reach("paused")
        }
    }

    fn coordinator(id: &str, hub: Fake, duration: Duration) -> Coordinator<Fake> {
        Coordinator {
            hub,
            duration,
            ownership: Arc::new(Ownership::new(id.into())),
            observer: shard::Observer::default(),
            state: SharedState::default(),
            metrics: Arc::new(Metrics::default()),
            leases: BTreeMap::new(),
            published: BTreeMap::new(),
            paused: None,
        }
    }

    fn owned(c: &Coordinator<Fake>) -> usize {
        (0..SHARDS).filter(|k| c.ownership.shard_owned(*k)).count()
    }

    fn never_both(a: &Coordinator<Fake>, b: &Coordinator<Fake>) {
        for k in 0..SHARDS {
            assert!(
                !(a.ownership.shard_owned(k) && b.ownership.shard_owned(k)),
                "shard {k} owned by both"
            );
        }
    }

    #[tokio::test]
    async fn two_replicas_share_the_shards_and_a_cut_off_one_lets_go_before_the_other_takes_over() {
        let d = Duration::from_millis(600);
        let hub = Fake::default();
        let b_hub = Fake {
            cut: Arc::default(),
            ..hub.clone()
        };
        let mut a = coordinator("a", hub, d);
        let mut b = coordinator("b", b_hub.clone(), d);
        for _ in 0..60 {
            a.tick().await;
            never_both(&a, &b);
            b.tick().await;
            never_both(&a, &b);
            if owned(&a) + owned(&b) == SHARDS as usize && owned(&a) > 0 && owned(&b) > 0 {
                break;
            }
            tokio::time::sleep(d / 3).await;
        }
        assert_eq!(owned(&a) + owned(&b), SHARDS as usize);
        assert!(
            owned(&a) > 0 && owned(&b) > 0,
            "{} {}",
            owned(&a),
            owned(&b)
        );

        // b is cut off the hub: its fences close by themselves (renew
        // deadline), a takes its shards only after a whole duration.
        b_hub.cut.store(true, Ordering::SeqCst);
        for _ in 0..100 {
            a.tick().await;
            never_both(&a, &b);
            b.tick().await;
            never_both(&a, &b);
            if owned(&a) == SHARDS as usize {
                break;
            }
            tokio::time::sleep(d / 6).await;
        }
        assert_eq!(owned(&a), SHARDS as usize);
        assert_eq!(owned(&b), 0);
        assert!(b.metrics.lease_renew_failures.get() > 0);
    }

    #[tokio::test]
    async fn a_fence_cancels_work_in_flight_at_the_renew_deadline() {
        let o = Ownership::new("a".into());
        let k = shard_of("eu-1");
        let mut fence = o.fence("eu-1");
        // Not held: nothing runs.
        assert_eq!(fence.run(async { 1 }).await, None);
        o.set(k, Some(Instant::now() + Duration::from_secs(60)));
        assert_eq!(fence.run(async { 2 }).await, Some(2));
        // The deadline passes while the work is in flight: cancelled.
        o.set(k, Some(Instant::now() + Duration::from_millis(50)));
        let never = tokio::time::sleep(Duration::from_secs(60));
        let out = tokio::time::timeout(Duration::from_secs(10), fence.run(never)).await;
        assert_eq!(out.expect("cancelled at the deadline"), None);
        assert!(!o.owns("eu-1"));
    }

    #[tokio::test]
    async fn closing_a_fence_cancels_and_waits_for_work_in_flight() {
        let o = Arc::new(Ownership::new("a".into()));
        let k = shard_of("eu-1");
        o.set(k, Some(Instant::now() + Duration::from_secs(60)));
        let mut fence = o.fence("eu-1");
        let task =
            tokio::spawn(
                async move { fence.run(tokio::time::sleep(Duration::from_secs(60))).await },
            );
        // Let it start.
        for _ in 0..100 {
            if o.active[k as usize].load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(o.active[k as usize].load(Ordering::SeqCst), 1);
        o.close(k).await;
        assert_eq!(o.active[k as usize].load(Ordering::SeqCst), 0);
        assert_eq!(task.await.unwrap(), None);
    }
}
