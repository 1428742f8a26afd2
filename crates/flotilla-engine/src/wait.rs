//! The wait verb: for CustomResourceDefinitions to be Established (before
//! the objects that use them), and for a cluster's desired objects to be
//! healthy (the rollout's health gate).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::destination::{ClusterError, Destination};
use flotilla_core::health::{HealthStatus, aggregate, health_of};
use flotilla_core::model::ObjectKey;
use flotilla_core::render::DesiredState;

/// Waits for each CRD to be Established, at most `timeout` each. A CRD that
/// does not get there is logged, not fatal: the objects that use it then
/// fail on their own, with the server's reason.
pub async fn wait_established<'a, D: Destination>(
    destination: &mut D,
    cluster: &str,
    crds: impl IntoIterator<Item = &'a Value>,
    timeout: Duration,
) {
    for crd in crds {
        if let Err(e) = destination.wait_established(crd, timeout).await {
            tracing::warn!(%cluster, error = %e, "CRD not established");
        }
    }
}

/// The aggregated health of a cluster's desired objects, read live. A
/// destination without controllers (a directory) is healthy once written.
pub async fn current_health<D: Destination>(
    destination: &mut D,
    desired: &DesiredState,
) -> Result<HealthStatus, ClusterError> {
    if !destination.runs_workloads() {
        return Ok(HealthStatus::Healthy);
    }
    let addresses: Vec<(&str, &ObjectKey)> = desired.objects.iter().map(|o| o.address()).collect();
    let live = destination.live(&addresses).await?;
    Ok(aggregate(desired.objects.iter().map(
        |o| match live.get(&o.key) {
            Some(l) => health_of(l).status,
            None => HealthStatus::Missing,
        },
    )))
}

/// Waits (bounded by `timeout`, polling every 2 s at most) until the
/// cluster is healthy; returns the health it ended at. Degraded ends the
/// wait at once; a failed read counts as Unknown.
pub async fn wait_healthy<D: Destination>(
    destination: &mut D,
    desired: &DesiredState,
    timeout: Duration,
) -> HealthStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let health = current_health(destination, desired)
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
