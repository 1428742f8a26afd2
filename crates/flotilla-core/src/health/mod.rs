//! Health of live objects (pure), one function per kind, in the style of
//! Argo CD's gitops-engine (`pkg/health`) and `kubectl rollout status`.
//!
//! Every function here reads one live object, as the API server returns it
//! (a [`serde_json::Value`]), and returns a [`Health`]: a [`HealthStatus`] and
//! a message for people. Nothing is fetched, nothing is cached: the caller
//! reads the objects and, for a set of them, takes [`aggregate`] (the worst
//! status). [`health_of`] picks the rule by the object's API group and kind.
//!
//! # Rules
//!
//! Before any per-kind rule, an object with `metadata.deletionTimestamp` is
//! Progressing ("Pending deletion"). "Not observed yet" below means the
//! object has no `status`, or `status.observedGeneration` is below
//! `metadata.generation`: the controller has not acted on the current spec,
//! so a workload is Progressing whatever its old status says.
//!
//! | kind (group) | rule |
//! | --- | --- |
//! | Deployment (`apps`) | `spec.paused` → Progressing ("paused"). Not observed yet → Progressing. Condition `Progressing` with reason `ProgressDeadlineExceeded` → Degraded. `status.updatedReplicas < spec.replicas` (default 1), `status.replicas > status.updatedReplicas` (old replicas pending termination) or `status.availableReplicas < status.updatedReplicas` → Progressing. Else Healthy. |
//! | StatefulSet (`apps`) | Not observed yet → Progressing. `status.readyReplicas < spec.replicas` → Progressing. `updateStrategy.type: OnDelete` → Healthy. A partition above 0: `status.updatedReplicas < spec.replicas - partition` → Progressing, else Healthy. Without a partition: `status.currentRevision != status.updateRevision` or `status.updatedReplicas < spec.replicas` → Progressing. Else Healthy. |
//! | DaemonSet (`apps`) | Not observed yet → Progressing. `updateStrategy.type: OnDelete` → Healthy. `status.updatedNumberScheduled` or `status.numberAvailable` below `status.desiredNumberScheduled` → Progressing. Else Healthy. |
//! | ReplicaSet (`apps`) | Not observed yet → Progressing. Condition `ReplicaFailure=True` → Degraded. `status.availableReplicas < spec.replicas` → Progressing. Else Healthy. |
//! | Job (`batch`) | Condition `Failed=True` → Degraded (the condition's message). `Complete=True` → Healthy. Else Progressing (`Suspended=True` says "suspended"). |
//! | CronJob (`batch`) | Healthy. |
//! | Pod (core) | Phase `Succeeded` → Healthy; `Failed` → Degraded. With `restartPolicy: Always` (the default), a container or init container waiting with a reason starting with `Err` or ending in `Error` or `BackOff` (`CrashLoopBackOff`, `ImagePullBackOff`, `ErrImagePull`, `CreateContainerConfigError`, `InvalidImageName`) → Degraded. Phase `Running` with condition `Ready=True` → Healthy. Phase `Unknown` → Unknown. Else Progressing. |
//! | PersistentVolumeClaim (core) | Phase `Bound` → Healthy; `Lost` → Degraded; else Progressing. |
//! | Service (core) | `type: LoadBalancer` → Progressing until `status.loadBalancer.ingress` is non-empty. Other Services → Healthy. |
//! | HorizontalPodAutoscaler (`autoscaling`) | A condition `False` whose reason starts with `Failed` or `Invalid` (`ScalingActive` / `FailedGetResourceMetric`, `AbleToScale` / `FailedGetScale`) → Degraded. Else Healthy. `autoscaling/v1` objects carry their conditions in the `autoscaling.alpha.kubernetes.io/conditions` annotation, which is read too. |
//! | CustomResourceDefinition (`apiextensions.k8s.io`) | `NamesAccepted=False` → Degraded. `Established=True` → Healthy. Else Progressing. |
//! | APIService (`apiregistration.k8s.io`) | `Available=True` → Healthy; else Progressing. |
//! | anything else with `status.conditions` or `status.observedGeneration` | kstatus conventions: `status.observedGeneration < metadata.generation` → Progressing; `Stalled=True` → Degraded; `Reconciling=True` → Progressing; `Ready=True` → Healthy; `Ready` `False` or `Unknown` → Progressing. Without any of those conditions → Healthy. |
//! | everything else (ConfigMap, Secret, RBAC, Namespace, ...) | Healthy. |
//!
//! gitops-engine's Suspended status (a paused Deployment, a suspended Job)
//! has no variant here: it maps to Progressing with a message saying why.

mod apps;
mod batch;
mod conditions;
mod v1;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use apps::{daemon_set, deployment, replica_set, stateful_set};
pub use batch::{cron_job, job};
pub use conditions::{api_service, custom_resource_definition, generic, horizontal_pod_autoscaler};
pub use v1::{persistent_volume_claim, pod, service};

/// Health, ordered from best to worst, so the health of a set is its maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    /// Rolled out, complete, or ready.
    Healthy,
    /// Not known yet (no status to read).
    Unknown,
    /// Rolling out; may become healthy.
    Progressing,
    /// Failed, or stuck.
    Degraded,
    /// Desired but absent.
    Missing,
}

/// The health of one live object: a status, and why (empty when there is
/// nothing to say).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Health {
    /// How the object is doing.
    pub status: HealthStatus,
    /// Why, for people: "Waiting for rollout to finish: ...", a condition's
    /// message, a container's waiting reason.
    pub message: String,
}

impl Health {
    /// A health with this status and message.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// Healthy, with a message.
    pub fn healthy(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Healthy, message)
    }

    /// Progressing, with a message.
    pub fn progressing(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Progressing, message)
    }

    /// Degraded, with a message.
    pub fn degraded(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Degraded, message)
    }
}

/// The health of any live object: the rule for its API group and kind (see
/// the module documentation), after the deletion check every kind shares.
pub fn health_of(object: &Value) -> Health {
    if object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Health::progressing("Pending deletion");
    }
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let group = match api_version.rsplit_once('/') {
        Some((group, _version)) => group,
        None => "",
    };
    let kind = object["kind"].as_str().unwrap_or("");
    match (group, kind) {
        ("apps", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => stateful_set(object),
        ("apps", "DaemonSet") => daemon_set(object),
        ("apps", "ReplicaSet") => replica_set(object),
        ("batch", "Job") => job(object),
        ("batch", "CronJob") => cron_job(object),
        ("", "Pod") => pod(object),
        ("", "PersistentVolumeClaim") => persistent_volume_claim(object),
        ("", "Service") => service(object),
        ("autoscaling", "HorizontalPodAutoscaler") => horizontal_pod_autoscaler(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => custom_resource_definition(object),
        ("apiregistration.k8s.io", "APIService") => api_service(object),
        _ => generic(object),
    }
}

/// The health of a set of objects: the worst of their statuses (the maximum
/// of the ordered [`HealthStatus`]); an empty set is Healthy.
pub fn aggregate(statuses: impl IntoIterator<Item = HealthStatus>) -> HealthStatus {
    statuses.into_iter().max().unwrap_or(HealthStatus::Healthy)
}

/// Reads an integer field by JSON pointer (`/status/replicas`).
fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

/// Reads a string field by JSON pointer; "" when absent.
fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Progressing when the controller has not acted on the current spec yet: no
/// `status` at all, or `status.observedGeneration` below `metadata.generation`
/// (a missing observedGeneration counts as 0). `kind` is for the message.
fn unobserved(object: &Value, kind: &str) -> Option<Health> {
    let status_missing = match object.get("status") {
        None | Some(Value::Null) => true,
        Some(Value::Object(fields)) => fields.is_empty(),
        Some(_) => false,
    };
    if status_missing {
        return Some(Health::progressing(format!(
            "Waiting for the {kind} controller to report a status"
        )));
    }
    let generation = int(object, "/metadata/generation").unwrap_or(0);
    let observed = int(object, "/status/observedGeneration").unwrap_or(0);
    (observed < generation).then(|| {
        Health::progressing(format!(
            "Waiting for rollout to finish: observed {kind} generation {observed} is less than desired generation {generation}"
        ))
    })
}

/// One entry of `status.conditions`.
#[derive(Clone, Copy, Debug, Default)]
struct Condition<'a> {
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

impl Condition<'_> {
    fn is_true(&self) -> bool {
        self.status == "True"
    }

    fn is_false(&self) -> bool {
        self.status == "False"
    }

    /// "reason: message", or whichever of the two is set.
    fn describe(&self) -> String {
        match (self.reason, self.message) {
            ("", m) => m.to_string(),
            (r, "") => r.to_string(),
            (r, m) => format!("{r}: {m}"),
        }
    }
}

/// The condition of this type in `status.conditions`, if there is one.
fn condition<'a>(object: &'a Value, kind: &str) -> Option<Condition<'a>> {
    conditions(object).find(|(t, _)| *t == kind).map(|(_, c)| c)
}

/// Every entry of `status.conditions` with its type.
fn conditions<'a>(object: &'a Value) -> impl Iterator<Item = (&'a str, Condition<'a>)> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(read_condition)
}

fn read_condition(c: &Value) -> (&str, Condition<'_>) {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
    (
        s("type"),
        Condition {
            status: s("status"),
            reason: s("reason"),
            message: s("message"),
        },
    )
}

/// `metadata.name`, for messages.
fn name(object: &Value) -> &str {
    text(object, "/metadata/name")
}
