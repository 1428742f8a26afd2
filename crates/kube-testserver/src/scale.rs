//! The `/scale` subresource of Deployments, StatefulSets and ReplicaSets:
//! an `autoscaling/v1` `Scale` view of `spec.replicas`. Writes through it
//! change only `spec.replicas` and are recorded as an `Update` with
//! `subresource: scale`, the resource's apiVersion and no `time`.

use serde_json::{Value, json};

use crate::meta::{meta_str, metadata};
use crate::patch::{PatchType, apply_patch};
use crate::state::State;
use crate::status::ApiError;
use crate::writes::{Sub, Target, WriteOpts, WriteResult};

/// Whether `group`/`kind` has a `/scale` subresource.
pub(crate) fn has_scale(group: &str, kind: &str) -> bool {
    group == "apps" && matches!(kind, "Deployment" | "StatefulSet" | "ReplicaSet")
}

/// The label selector as a string (`metav1.FormatLabelSelector`).
fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut kv: Vec<(&String, &Value)> = m.iter().collect();
        kv.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in kv {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let mut values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort();
        match e["operator"].as_str().unwrap_or_default() {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.sort();
    parts.join(",")
}

/// The `Scale` of a workload.
pub(crate) fn scale_of(obj: &Value) -> Value {
    let mut meta = serde_json::Map::new();
    if let Some(m) = metadata(obj) {
        for k in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "creationTimestamp",
        ] {
            if let Some(v) = m.get(k) {
                meta.insert(k.into(), v.clone());
            }
        }
    }
    let replicas = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    let status_replicas = obj.pointer("/status/replicas").cloned().unwrap_or(json!(0));
    let selector = obj
        .pointer("/spec/selector")
        .map(selector_string)
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": replicas},
        "status": {"replicas": status_replicas, "selector": selector},
    })
}

impl State {
    /// GET of `/scale`.
    pub(crate) fn get_scale(&self, t: &Target, name: &str) -> Result<Value, ApiError> {
        let key = State::key(&t.kind, &t.namespace, name);
        match self.store.get(&key) {
            Some(o) => Ok(scale_of(o)),
            None => Err(ApiError::not_found(&t.kind.group, &t.kind.plural, name)),
        }
    }

    /// PUT (`patch: None`, body a `Scale`) or non-apply PATCH of `/scale`.
    pub(crate) fn write_scale(
        &mut self,
        t: &Target,
        name: &str,
        patch: Option<PatchType>,
        body: &[u8],
        o: &WriteOpts,
    ) -> Result<WriteResult, ApiError> {
        let key = State::key(&t.kind, &t.namespace, name);
        let Some(old) = self.store.get(&key).cloned() else {
            return Err(ApiError::not_found(&t.kind.group, &t.kind.plural, name));
        };
        let current = scale_of(&old);
        let scale = match patch {
            Some(pt) => apply_patch(&current, pt, body)?,
            None => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?,
        };
        let rv = meta_str(&scale, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale_resource_version(
                &t.kind.group,
                &t.kind.plural,
                name,
            ));
        }
        let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        let mut new = old.clone();
        new["spec"]["replicas"] = replicas;
        let target = Target {
            sub: Sub::Scale,
            ..t.clone()
        };
        let mut r = self.replace_internal(&target, name, old, new, o)?;
        r.object = scale_of(&r.object);
        Ok(r)
    }
}
