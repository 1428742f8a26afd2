//! The core group (`apiVersion: v1`): Pods, PersistentVolumeClaims, Services.

use serde_json::Value;

use super::{Health, HealthStatus, condition, text};

/// The health of a Pod. `Succeeded` → Healthy; `Failed` → Degraded; with
/// `restartPolicy: Always` (the default), a container or init container
/// waiting on a failure (`CrashLoopBackOff`, `ImagePullBackOff`,
/// `ErrImagePull`, `CreateContainerConfigError`, `InvalidImageName`, ...)
/// → Degraded; `Running` and `Ready=True` → Healthy; `Unknown` (node lost)
/// → Unknown; else Progressing.
pub fn pod(object: &Value) -> Health {
    let phase = text(object, "/status/phase");
    let message = text(object, "/status/message");
    match phase {
        "Succeeded" => return Health::healthy(message),
        "Failed" => return Health::degraded(failure_message(object)),
        _ => {}
    }
    let restart_policy = match text(object, "/spec/restartPolicy") {
        "" => "Always",
        policy => policy,
    };
    if restart_policy == "Always" {
        let failing: Vec<String> = container_statuses(object)
            .filter_map(|c| {
                let waiting = c.pointer("/state/waiting")?;
                let reason = waiting.get("reason").and_then(Value::as_str)?;
                is_failure_reason(reason).then(|| {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                    match waiting.get("message").and_then(Value::as_str) {
                        Some(m) if !m.is_empty() => format!("container {name:?}: {reason}: {m}"),
                        _ => format!("container {name:?}: {reason}"),
                    }
                })
            })
            .collect();
        if !failing.is_empty() {
            return Health::degraded(failing.join(", "));
        }
    }
    match phase {
        "Running" => match condition(object, "Ready") {
            Some(ready) if ready.is_true() => Health::healthy(message),
            Some(ready) if !ready.describe().is_empty() => Health::progressing(ready.describe()),
            _ => Health::progressing("Waiting for the pod to be ready"),
        },
        "Unknown" => Health::new(
            HealthStatus::Unknown,
            if message.is_empty() {
                "the pod's node stopped reporting"
            } else {
                message
            },
        ),
        "" => Health::progressing("Waiting for the pod to be scheduled"),
        _ => {
            if let Some(unscheduled) = condition(object, "PodScheduled").filter(|c| c.is_false()) {
                return Health::progressing(unscheduled.describe());
            }
            Health::progressing(if message.is_empty() {
                format!("pod is {phase}")
            } else {
                message.to_string()
            })
        }
    }
}

/// Waiting reasons that mean the container cannot start without a change:
/// gitops-engine's rule (`Err*`, `*Error`, `*BackOff`), plus
/// `InvalidImageName`.
fn is_failure_reason(reason: &str) -> bool {
    reason.starts_with("Err")
        || reason.ends_with("Error")
        || reason.ends_with("BackOff")
        || reason == "InvalidImageName"
}

/// Init containers' statuses, then the containers'.
fn container_statuses(object: &Value) -> impl Iterator<Item = &Value> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| object.pointer(p).and_then(Value::as_array))
        .flatten()
}

/// Why a failed pod failed: its status message, else the first container
/// that terminated with a non-zero exit code.
fn failure_message(object: &Value) -> String {
    let message = text(object, "/status/message");
    if !message.is_empty() {
        return message.to_string();
    }
    for c in container_statuses(object) {
        let Some(terminated) = c.pointer("/state/terminated") else {
            continue;
        };
        let code = terminated
            .get("exitCode")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if code == 0 {
            continue;
        }
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let s = |k: &str| terminated.get(k).and_then(Value::as_str).unwrap_or("");
        let mut m = format!("container {name:?} terminated with exit code {code}");
        for part in [s("reason"), s("message")] {
            if !part.is_empty() {
                m.push_str(": ");
                m.push_str(part);
            }
        }
        return m;
    }
    let reason = text(object, "/status/reason");
    if reason.is_empty() {
        "pod failed".into()
    } else {
        reason.to_string()
    }
}

/// The health of a PersistentVolumeClaim: `Bound` → Healthy; `Lost` (its
/// volume is gone) → Degraded; else (`Pending`, no status) → Progressing.
pub fn persistent_volume_claim(object: &Value) -> Health {
    match text(object, "/status/phase") {
        "Bound" => Health::healthy(""),
        "Lost" => Health::degraded(format!(
            "the claim lost its volume {:?}",
            text(object, "/spec/volumeName")
        )),
        "" => Health::progressing("Waiting for the claim to be bound"),
        phase => Health::progressing(format!("claim is {phase}")),
    }
}

/// The health of a Service: a `LoadBalancer` Service is Progressing until
/// `status.loadBalancer.ingress` lists an address; every other type is
/// Healthy.
pub fn service(object: &Value) -> Health {
    if text(object, "/spec/type") != "LoadBalancer" {
        return Health::healthy("");
    }
    let ingress = object
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty());
    let Some(ingress) = ingress else {
        return Health::progressing("Waiting for the load balancer to get an address");
    };
    let addresses: Vec<&str> = ingress
        .iter()
        .filter_map(|i| {
            ["ip", "hostname"]
                .into_iter()
                .find_map(|k| i.get(k).and_then(Value::as_str))
        })
        .collect();
    Health::healthy(addresses.join(", "))
}
