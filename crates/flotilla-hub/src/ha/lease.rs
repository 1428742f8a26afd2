//! The I/O edge of many replicas: the hub cluster's Leases and status
//! ConfigMaps, through the kube client. Every call is bounded by the
//! caller; the decisions are in [`super::shard`].

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

/// The label on every Lease and ConfigMap Flotilla's replicas write.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "flotilla");
/// The label of the status ConfigMaps.
pub const STATUS_LABEL: (&str, &str) = ("flotilla.io/ha", "status");
/// The ConfigMap holding the rollout's pause, shared by every replica.
pub const ROLLOUT_CONFIG_MAP: &str = "flotilla-rollout";
/// The field manager of the status ConfigMaps.
const STATUS_MANAGER: &str = "flotilla-ha";

/// Why a Lease write failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another replica changed it first (409: stale resourceVersion, or it
    /// was created meanwhile).
    #[error("lease {0} changed meanwhile (another replica was first)")]
    Lost(String),
    /// The hub cluster did not answer within a third of the lease duration.
    #[error("lease {0}: no answer from the hub cluster in time")]
    TimedOut(String),
    /// The hub cluster did not answer or refused.
    #[error("{name}: {source}")]
    Api {
        /// The Lease.
        name: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// What the coordinator needs of the hub cluster: the one seam between
/// its decisions and the network (a fake in memory in the unit tests).
pub trait Store: Send + Sync + 'static {
    /// Every Flotilla Lease in the namespace.
    fn leases(&self) -> impl Future<Output = Result<Vec<Lease>, LeaseError>> + Send;
    /// Writes Lease `name` held by `holder` (`None`: released), renewed
    /// now: created when `current` is `None`, else updated with
    /// `current`'s resourceVersion as the precondition
    /// ([`LeaseError::Lost`] when another writer was first).
    fn put_lease(
        &self,
        name: &str,
        current: Option<&Lease>,
        holder: Option<&str>,
        duration: Duration,
    ) -> impl Future<Output = Result<Lease, LeaseError>> + Send;
    /// The data of every status ConfigMap, by name.
    fn status(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, BTreeMap<String, String>>, LeaseError>> + Send;
    /// Writes status ConfigMap `name` with exactly `data`.
    fn put_status(
        &self,
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;
    /// The shared pause, if ever set.
    fn paused(&self) -> impl Future<Output = Result<Option<bool>, LeaseError>> + Send;
    /// Sets the shared pause.
    fn put_paused(&self, paused: bool) -> impl Future<Output = Result<(), LeaseError>> + Send;
}

fn api(what: &str) -> impl Fn(kube::Error) -> LeaseError + '_ {
    move |source| LeaseError::Api {
        name: what.to_string(),
        source,
    }
}

impl Store for Hub {
    async fn leases(&self) -> Result<Vec<Lease>, LeaseError> {
        self.list_leases().await.map_err(api("leases"))
    }

    async fn put_lease(
        &self,
        name: &str,
        current: Option<&Lease>,
        holder: Option<&str>,
        duration: Duration,
    ) -> Result<Lease, LeaseError> {
        self.write_lease(name, current, holder, duration).await
    }

    async fn status(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>, LeaseError> {
        self.list_status().await.map_err(api("status ConfigMaps"))
    }

    async fn put_status(
        &self,
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<(), LeaseError> {
        self.write_status(name, data).await.map_err(api(name))
    }

    async fn paused(&self) -> Result<Option<bool>, LeaseError> {
        self.read_paused().await.map_err(api(ROLLOUT_CONFIG_MAP))
    }

    async fn put_paused(&self, paused: bool) -> Result<(), LeaseError> {
        self.write_paused(paused)
            .await
            .map_err(api(ROLLOUT_CONFIG_MAP))
    }
}

/// The namespace of the Leases and status ConfigMaps on the hub cluster.
#[derive(Clone)]
pub struct Hub {
    leases: Api<Lease>,
    config_maps: Api<ConfigMap>,
}

impl Hub {
    /// The hub's `namespace` through `client`.
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            leases: Api::namespaced(client.clone(), namespace),
            config_maps: Api::namespaced(client, namespace),
        }
    }

    /// Every Flotilla Lease in the namespace.
    pub async fn list_leases(&self) -> Result<Vec<Lease>, kube::Error> {
        let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
        Ok(self
            .leases
            .list(&ListParams::default().labels(&selector))
            .await?
            .items)
    }

    /// Writes Lease `name` held by `holder` (`None`: released), renewed
    /// now: created when `current` is `None`, else updated with
    /// `current`'s resourceVersion as the precondition.
    pub async fn write_lease(
        &self,
        name: &str,
        current: Option<&Lease>,
        holder: Option<&str>,
        duration: Duration,
    ) -> Result<Lease, LeaseError> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let seconds = i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let lost = |e: kube::Error| match e {
            kube::Error::Api(s) if s.code == 409 => LeaseError::Lost(name.to_string()),
            source => LeaseError::Api {
                name: name.to_string(),
                source,
            },
        };
        match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        labels: Some(BTreeMap::from([(
                            MANAGED_BY.0.to_string(),
                            MANAGED_BY.1.to_string(),
                        )])),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: holder.map(str::to_string),
                        lease_duration_seconds: Some(seconds),
                        acquire_time: holder.map(|_| now.clone()),
                        renew_time: Some(now),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                self.leases
                    .create(&PostParams::default(), &lease)
                    .await
                    .map_err(lost)
            }
            Some(current) => {
                let mut lease = current.clone();
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                let before = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
                if before != holder {
                    spec.acquire_time = holder.map(|_| now.clone());
                    if holder.is_some() {
                        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    }
                }
                spec.holder_identity = holder.map(str::to_string);
                spec.lease_duration_seconds = Some(seconds);
                spec.renew_time = Some(now);
                self.leases
                    .replace(name, &PostParams::default(), &lease)
                    .await
                    .map_err(lost)
            }
        }
    }

    /// Whether the rollout is paused for every replica (ConfigMap
    /// `flotilla-rollout`, key `paused`); `None` when never set.
    pub async fn read_paused(&self) -> Result<Option<bool>, kube::Error> {
        Ok(self
            .config_maps
            .get_opt(ROLLOUT_CONFIG_MAP)
            .await?
            .and_then(|cm| cm.data?.get("paused").map(|v| v == "true")))
    }

    /// Pauses or resumes the rollout for every replica.
    pub async fn write_paused(&self, paused: bool) -> Result<(), kube::Error> {
        let labels = serde_json::json!({MANAGED_BY.0: MANAGED_BY.1});
        let data = serde_json::json!({"paused": paused.to_string()});
        self.apply_config_map(ROLLOUT_CONFIG_MAP, labels, data)
            .await
    }

    /// The data of every status ConfigMap, by shard ConfigMap name.
    pub async fn list_status(
        &self,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, kube::Error> {
        let selector = format!("{}={}", STATUS_LABEL.0, STATUS_LABEL.1);
        Ok(self
            .config_maps
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .filter_map(|cm| Some((cm.metadata.name?, cm.data.unwrap_or_default())))
            .collect())
    }

    /// Writes status ConfigMap `name` with exactly `data` (server-side
    /// apply by one field manager: keys left out are removed).
    pub async fn write_status(
        &self,
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<(), kube::Error> {
        let labels =
            serde_json::json!({MANAGED_BY.0: MANAGED_BY.1, STATUS_LABEL.0: STATUS_LABEL.1});
        self.apply_config_map(name, labels, serde_json::json!(data))
            .await
    }

    /// Server-side applies ConfigMap `name` with `labels` and exactly
    /// `data`, as the field manager of the shared records (forced: the
    /// records are the replicas' alone).
    async fn apply_config_map(
        &self,
        name: &str,
        labels: serde_json::Value,
        data: serde_json::Value,
    ) -> Result<(), kube::Error> {
        let cm = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels},
            "data": data,
        });
        self.config_maps
            .patch(
                name,
                &PatchParams::apply(STATUS_MANAGER).force(),
                &Patch::Apply(&cm),
            )
            .await?;
        Ok(())
    }
}
