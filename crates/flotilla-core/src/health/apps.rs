//! Workloads of the `apps` group: rollouts, read like `kubectl rollout
//! status` and gitops-engine read them.

use serde_json::Value;

use super::{Health, condition, int, name, text, unobserved};

/// The health of a Deployment. Paused → Progressing ("paused"); spec not
/// observed yet → Progressing; `ProgressDeadlineExceeded` → Degraded; new
/// replicas not all updated, old replicas still running, or updated replicas
/// not all available → Progressing; else Healthy.
pub fn deployment(object: &Value) -> Health {
    if object.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return Health::progressing("paused");
    }
    if let Some(waiting) = unobserved(object, "deployment") {
        return waiting;
    }
    if condition(object, "Progressing").is_some_and(|c| c.reason == "ProgressDeadlineExceeded") {
        return Health::degraded(format!(
            "Deployment {:?} exceeded its progress deadline",
            name(object)
        ));
    }
    let desired = int(object, "/spec/replicas").unwrap_or(1);
    let replicas = int(object, "/status/replicas").unwrap_or(0);
    let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
    let available = int(object, "/status/availableReplicas").unwrap_or(0);
    if updated < desired {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {updated} out of {desired} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Health::healthy(format!(
        "deployment {:?} successfully rolled out",
        name(object)
    ))
}

/// The health of a StatefulSet. Spec not observed yet → Progressing; fewer
/// ready pods than `spec.replicas` → Progressing; `OnDelete` → Healthy; a
/// partitioned rolling update is done once `replicas - partition` pods are
/// updated; otherwise the rollout is done when every pod is updated and
/// `currentRevision` equals `updateRevision`.
pub fn stateful_set(object: &Value) -> Health {
    if let Some(waiting) = unobserved(object, "statefulset") {
        return waiting;
    }
    let desired = int(object, "/spec/replicas").unwrap_or(1);
    let ready = int(object, "/status/readyReplicas").unwrap_or(0);
    if ready < desired {
        return Health::progressing(format!(
            "Waiting for {} pods to be ready...",
            desired - ready
        ));
    }
    if text(object, "/spec/updateStrategy/type") == "OnDelete" {
        return Health::healthy(format!("statefulset has {ready} ready pods"));
    }
    let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
    let partition = int(object, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    if partition > 0 {
        let target = (desired - partition).max(0);
        if updated < target {
            return Health::progressing(format!(
                "Waiting for partitioned roll out to finish: {updated} out of {target} new pods have been updated..."
            ));
        }
        return Health::healthy(format!(
            "partitioned roll out complete: {updated} new pods have been updated..."
        ));
    }
    let current_revision = text(object, "/status/currentRevision");
    let update_revision = text(object, "/status/updateRevision");
    if updated < desired || current_revision != update_revision {
        return Health::progressing(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    Health::healthy(format!(
        "statefulset rolling update complete {} pods at revision {current_revision}...",
        int(object, "/status/currentReplicas").unwrap_or(updated)
    ))
}

/// The health of a DaemonSet. Spec not observed yet → Progressing; `OnDelete`
/// → Healthy; fewer updated or available pods than desired → Progressing;
/// else Healthy.
pub fn daemon_set(object: &Value) -> Health {
    if let Some(waiting) = unobserved(object, "daemon set") {
        return waiting;
    }
    let desired = int(object, "/status/desiredNumberScheduled").unwrap_or(0);
    let updated = int(object, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int(object, "/status/numberAvailable").unwrap_or(0);
    if text(object, "/spec/updateStrategy/type") == "OnDelete" {
        return Health::healthy(format!(
            "daemon set {updated} out of {desired} new pods have been updated"
        ));
    }
    let n = name(object);
    if updated < desired {
        return Health::progressing(format!(
            "Waiting for daemon set {n:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
        ));
    }
    if available < desired {
        return Health::progressing(format!(
            "Waiting for daemon set {n:?} rollout to finish: {available} of {desired} updated pods are available..."
        ));
    }
    Health::healthy(format!("daemon set {n:?} successfully rolled out"))
}

/// The health of a ReplicaSet. Spec not observed yet → Progressing;
/// `ReplicaFailure=True` → Degraded; fewer available replicas than
/// `spec.replicas` → Progressing; else Healthy.
pub fn replica_set(object: &Value) -> Health {
    if let Some(waiting) = unobserved(object, "replica set") {
        return waiting;
    }
    if let Some(failure) = condition(object, "ReplicaFailure").filter(|c| c.is_true()) {
        return Health::degraded(failure.describe());
    }
    let desired = int(object, "/spec/replicas").unwrap_or(1);
    let available = int(object, "/status/availableReplicas").unwrap_or(0);
    if available < desired {
        return Health::progressing(format!(
            "Waiting for rollout to finish: {available} out of {desired} new replicas are available..."
        ));
    }
    Health::healthy("")
}
