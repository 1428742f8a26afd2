//! Federated status: the health of each of a cluster's desired objects,
//! read live, and for an object that is not healthy the reason (the health
//! rule's message) and its latest Kubernetes events. Push (the hub's
//! workers) and pull (the agent) call the same function.

use flotilla_core::agent::{MAX_EVENTS_PER_OBJECT, ObjectHealth};
use flotilla_core::health::{HealthStatus, aggregate, health_of};
use flotilla_core::model::ObjectKey;
use flotilla_core::render::DesiredState;

use crate::destination::{ClusterError, Destination};

/// Every desired object's health, in desired order, with the reason and
/// at most [`MAX_EVENTS_PER_OBJECT`] events for each unhealthy one, and
/// the aggregate. A destination without workloads (a folder) reports every
/// object healthy once written. Reading an object's events may fail
/// without failing the whole: it then has none.
pub async fn object_health<D: Destination>(
    destination: &mut D,
    desired: &DesiredState,
) -> Result<(HealthStatus, Vec<ObjectHealth>), ClusterError> {
    if !destination.runs_workloads() {
        let objects = desired
            .objects
            .iter()
            .map(|o| ObjectHealth {
                key: o.key.clone(),
                health: HealthStatus::Healthy,
                reason: String::new(),
                events: Vec::new(),
            })
            .collect();
        return Ok((HealthStatus::Healthy, objects));
    }
    let addresses: Vec<(&str, &ObjectKey)> = desired
        .objects
        .iter()
        .map(|o| (o.object["apiVersion"].as_str().unwrap_or(""), &o.key))
        .collect();
    let live = destination.live(&addresses).await?;
    let mut objects = Vec::with_capacity(desired.objects.len());
    for o in &desired.objects {
        let (health, reason) = match live.get(&o.key) {
            Some(l) => {
                let h = health_of(l);
                (h.status, h.message)
            }
            None => (HealthStatus::Missing, "not on the cluster".to_string()),
        };
        let events = if health == HealthStatus::Healthy {
            Vec::new()
        } else {
            destination
                .events(&o.key, MAX_EVENTS_PER_OBJECT)
                .await
                .unwrap_or_default()
        };
        objects.push(ObjectHealth {
            key: o.key.clone(),
            health,
            reason: if health == HealthStatus::Healthy {
                String::new()
            } else {
                reason
            },
            events,
        });
    }
    let overall = aggregate(objects.iter().map(|o| o.health));
    Ok((overall, objects))
}
