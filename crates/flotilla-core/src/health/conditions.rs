//! Kinds whose health is in their conditions: HorizontalPodAutoscalers,
//! CustomResourceDefinitions, APIServices, and (by kstatus conventions) any
//! other object that has `status.conditions`.

use serde_json::Value;

use super::{Condition, Health, condition, conditions, int, read_condition};

/// Where `autoscaling/v1` HorizontalPodAutoscalers keep their conditions: a
/// JSON list in this annotation.
const HPA_V1_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// The health of a HorizontalPodAutoscaler: a condition that is `False`
/// with a failure reason (one starting with `Failed` or `Invalid`, like
/// `ScalingActive` / `FailedGetResourceMetric` or `AbleToScale` /
/// `FailedGetScale`) → Degraded; else Healthy. Reads `status.conditions`
/// (`autoscaling/v2`) and the conditions annotation of `autoscaling/v1`.
pub fn horizontal_pod_autoscaler(object: &Value) -> Health {
    let annotation: Option<Value> = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(HPA_V1_CONDITIONS))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok());
    let from_annotation: Vec<(&str, Condition<'_>)> = annotation
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(read_condition)
        .collect();
    let failed = conditions(object)
        .chain(from_annotation.iter().copied())
        .find(|(_, c)| {
            c.is_false() && (c.reason.starts_with("Failed") || c.reason.starts_with("Invalid"))
        });
    if let Some((kind, c)) = failed {
        return Health::degraded(format!("{kind}: {}", c.describe()));
    }
    let active = conditions(object)
        .chain(from_annotation.iter().copied())
        .find(|(kind, _)| *kind == "ScalingActive")
        .map(|(_, c)| c.message.to_string())
        .unwrap_or_default();
    Health::healthy(active)
}

/// The health of a CustomResourceDefinition: `NamesAccepted=False` (its
/// names clash with another CRD's) → Degraded; `Established=True` → Healthy;
/// else Progressing.
pub fn custom_resource_definition(object: &Value) -> Health {
    if let Some(names) = condition(object, "NamesAccepted").filter(|c| c.is_false()) {
        return Health::degraded(names.describe());
    }
    match condition(object, "Established") {
        Some(established) if established.is_true() => Health::healthy(established.message),
        Some(established) if !established.describe().is_empty() => {
            Health::progressing(established.describe())
        }
        _ => Health::progressing("Waiting for the CRD to be established"),
    }
}

/// The health of an APIService: `Available=True` → Healthy; else
/// Progressing (with the condition's reason, like `MissingEndpoints`).
pub fn api_service(object: &Value) -> Health {
    match condition(object, "Available") {
        Some(available) if available.is_true() => Health::healthy(available.describe()),
        Some(available) => Health::progressing(available.describe()),
        None => Health::progressing("Waiting to be processed"),
    }
}

/// The health of any other object, by kstatus conventions: with
/// `status.observedGeneration` below `metadata.generation` → Progressing;
/// `Stalled=True` → Degraded; `Reconciling=True` → Progressing;
/// `Ready=True` → Healthy; `Ready` `False` or `Unknown` → Progressing;
/// none of those → Healthy (ConfigMaps, Secrets, RBAC, Namespaces, ...).
pub fn generic(object: &Value) -> Health {
    if let Some(observed) = int(object, "/status/observedGeneration") {
        let generation = int(object, "/metadata/generation").unwrap_or(0);
        if observed < generation {
            return Health::progressing(format!(
                "Waiting for the controller to observe generation {generation} (observed {observed})"
            ));
        }
    }
    if let Some(stalled) = condition(object, "Stalled").filter(|c| c.is_true()) {
        return Health::degraded(or(stalled.describe(), "Stalled"));
    }
    if let Some(reconciling) = condition(object, "Reconciling").filter(|c| c.is_true()) {
        return Health::progressing(or(reconciling.describe(), "Reconciling"));
    }
    match condition(object, "Ready") {
        Some(ready) if ready.is_true() => Health::healthy(ready.describe()),
        Some(ready) => Health::progressing(or(
            ready.describe(),
            &format!("Ready is {:?}", text_or(ready.status, "Unknown")),
        )),
        None => Health::healthy(""),
    }
}

fn or(message: String, fallback: &str) -> String {
    if message.is_empty() {
        fallback.to_string()
    } else {
        message
    }
}

fn text_or<'a>(value: &'a str, fallback: &'a str) -> &'a str {
    if value.is_empty() { fallback } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hpa_v1_conditions_annotation_is_read() {
        let conditions = r#"[{"type":"AbleToScale","status":"True","reason":"SucceededGetScale"},{"type":"ScalingActive","status":"False","reason":"FailedGetResourceMetric","message":"missing request for cpu"}]"#;
        let hpa = json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "annotations": {HPA_V1_CONDITIONS: conditions}},
        });
        let h = horizontal_pod_autoscaler(&hpa);
        assert_eq!(h.status, crate::health::HealthStatus::Degraded);
        assert!(
            h.message.contains("missing request for cpu"),
            "{}",
            h.message
        );
    }
}
