//! Federated status: the health of each of a cluster's desired objects,
//! read live, and for an object that is not healthy the reason (the health
//! rule's message) and its latest Kubernetes events. Push (the hub's
//! workers) and pull (the agent) call the same function.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use flotilla_core::agent::{MAX_EVENTS_PER_OBJECT, ObjectHealth};
use flotilla_core::health::{HealthStatus, aggregate, health_of};
use flotilla_core::model::ObjectKey;
use flotilla_core::render::{DesiredObject, DesiredState};

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
    let objects = object_health_of(destination, desired, |_| true).await?;
    let overall = aggregate(objects.iter().map(|o| o.health));
    Ok((overall, objects))
}

/// [`object_health`] of only the desired objects `chosen` picks (those a
/// watch saw change), in desired order: one read of their live copies.
pub async fn object_health_of<D: Destination>(
    destination: &mut D,
    desired: &DesiredState,
    chosen: impl Fn(&ObjectKey) -> bool,
) -> Result<Vec<ObjectHealth>, ClusterError> {
    let objects: Vec<&DesiredObject> = desired.objects.iter().filter(|o| chosen(&o.key)).collect();
    if !destination.runs_workloads() {
        return Ok(objects.iter().map(|o| healthy(&o.key)).collect());
    }
    let addresses: Vec<(&str, &ObjectKey)> = objects.iter().map(|o| o.address()).collect();
    let live = destination.live(&addresses).await?;
    Ok(judged(destination, objects, &live).await)
}

/// [`object_health`] judged on live copies the caller already holds (a
/// sync round's, [`crate::reconcile::Round::live`]): no read of live state;
/// only the events of objects that are not healthy are read.
pub async fn object_health_in<D: Destination>(
    destination: &mut D,
    desired: &DesiredState,
    live: &HashMap<ObjectKey, Arc<Value>>,
) -> (HealthStatus, Vec<ObjectHealth>) {
    if !destination.runs_workloads() {
        return all_healthy(desired);
    }
    let objects = judged(destination, desired.objects.iter(), live).await;
    let overall = aggregate(objects.iter().map(|o| o.health));
    (overall, objects)
}

/// Each object's health on `live`, with the reason and the latest events
/// of each unhealthy one.
async fn judged<'a, D: Destination>(
    destination: &mut D,
    desired: impl IntoIterator<Item = &'a DesiredObject>,
    live: &HashMap<ObjectKey, Arc<Value>>,
) -> Vec<ObjectHealth> {
    let mut objects = Vec::new();
    for o in desired {
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
    objects
}

/// A healthy object (on a destination without workloads).
fn healthy(key: &ObjectKey) -> ObjectHealth {
    ObjectHealth {
        key: key.clone(),
        health: HealthStatus::Healthy,
        reason: String::new(),
        events: Vec::new(),
    }
}

/// Every desired object healthy (a destination without workloads).
fn all_healthy(desired: &DesiredState) -> (HealthStatus, Vec<ObjectHealth>) {
    let objects = desired.objects.iter().map(|o| healthy(&o.key)).collect();
    (HealthStatus::Healthy, objects)
}
