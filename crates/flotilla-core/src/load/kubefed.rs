//! KubeFed `types.kubefed.io/v1beta1` `Federated<Kind>` objects, converted to
//! Flotilla's terms so a KubeFed user keeps their files:
//!
//! - `spec.template` becomes the object, of the kind without the `Federated`
//!   prefix, named by the Federated object's `metadata.name` and `namespace`;
//! - `spec.placement` selects clusters with KubeFed's rules: `clusters`, when
//!   present, wins over `clusterSelector`; no placement selects no cluster;
//! - `spec.overrides[].clusterOverrides` become RFC 6902 operations for the
//!   named cluster (`op` defaults to `replace`; KubeFed allows `add`,
//!   `remove` and `replace`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::diagnostic::Diagnostic;
use crate::model::{
    Federated, LabelSelector, Origin, Placement, Template, group_of, is_cluster_scoped_kind,
};
use crate::yaml::{self, RawDocument};

/// The apiVersion of KubeFed's federated types.
pub const API_VERSION: &str = "types.kubefed.io/v1beta1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FederatedSpec {
    #[allow(dead_code)]
    api_version: String,
    kind: String,
    metadata: FederatedMeta,
    spec: FederatedBody,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FederatedMeta {
    name: String,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FederatedBody {
    #[serde(default)]
    template: Option<Value>,
    placement: Option<KubefedPlacement>,
    #[serde(default)]
    overrides: Vec<OverrideSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KubefedPlacement {
    clusters: Option<Vec<ClusterRef>>,
    cluster_selector: Option<LabelSelector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterRef {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OverrideSpec {
    cluster_name: String,
    #[serde(default)]
    cluster_overrides: Vec<ClusterOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterOverride {
    op: Option<String>,
    path: String,
    value: Option<Value>,
}

/// The apiVersion KubeFed's type configs give the common federated kinds,
/// used when `spec.template` does not say.
fn default_api_version(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ConfigMap"
        | "Secret"
        | "Service"
        | "ServiceAccount"
        | "Namespace"
        | "LimitRange"
        | "ResourceQuota"
        | "PersistentVolumeClaim" => "v1",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "Ingress" | "NetworkPolicy" => "networking.k8s.io/v1",
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" => {
            "rbac.authorization.k8s.io/v1"
        }
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        "PodDisruptionBudget" => "policy/v1",
        "StorageClass" => "storage.k8s.io/v1",
        "CustomResourceDefinition" => "apiextensions.k8s.io/v1",
        _ => return None,
    })
}

/// Converts one Federated document.
pub(crate) fn convert(
    file: &Arc<str>,
    raw: &RawDocument<'_>,
    origin: &Origin,
) -> Result<Federated, Diagnostic> {
    let spec: FederatedSpec = yaml::parse(file, raw)?;
    let kind = spec.kind.trim_start_matches("Federated").to_string();
    if kind.is_empty() {
        return Err(origin
            .diagnostic("Federated needs a kind after the prefix, e.g. FederatedDeployment")
            .context("kind"));
    }
    let mut template = match spec.spec.template {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(t @ Value::Object(_)) => t,
        Some(_) => {
            return Err(origin
                .diagnostic("must be a mapping")
                .context("spec.template"));
        }
    };
    let api_version = match template.get("apiVersion").and_then(Value::as_str) {
        Some(v) => v.to_string(),
        None => default_api_version(&kind)
            .ok_or_else(|| {
                origin
                    .diagnostic(format!(
                        "cannot tell the apiVersion of {kind}: set spec.template.apiVersion"
                    ))
                    .context("spec.template.apiVersion")
            })?
            .to_string(),
    };
    let group = group_of(&api_version).to_string();
    // apiVersion and kind first, then the template's own fields, as in any manifest.
    let mut ordered = Map::new();
    ordered.insert("apiVersion".into(), Value::String(api_version));
    ordered.insert("kind".into(), Value::String(kind.clone()));
    if let Value::Object(fields) = std::mem::take(&mut template) {
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                ordered.insert(k, v);
            }
        }
    }
    template = Value::Object(ordered);
    let obj = template.as_object_mut().expect("built as a mapping");
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        return Err(origin
            .diagnostic("must be a mapping")
            .context("spec.template.metadata"));
    }
    let meta = meta.as_object_mut().expect("checked to be a mapping");
    let cluster_scoped = is_cluster_scoped_kind(&group, &kind);
    let name = if kind == "Namespace" {
        spec.metadata
            .namespace
            .clone()
            .unwrap_or(spec.metadata.name.clone())
    } else {
        spec.metadata.name.clone()
    };
    meta.insert("name".into(), Value::String(name));
    match (&spec.metadata.namespace, cluster_scoped) {
        (Some(ns), false) => {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        _ => {
            meta.remove("namespace");
        }
    }

    let placement = match spec.spec.placement {
        None => Placement::default(),
        Some(KubefedPlacement {
            clusters: Some(cs), ..
        }) => Placement {
            selector: None,
            clusters: cs.into_iter().map(|c| c.name).collect(),
        },
        Some(KubefedPlacement {
            clusters: None,
            cluster_selector,
        }) => {
            if let Some(sel) = &cluster_selector
                && let Err((f, e)) = sel.validate()
            {
                return Err(origin
                    .diagnostic(e)
                    .context(format!("spec.placement.clusterSelector.{f}")));
            }
            Placement {
                selector: cluster_selector,
                clusters: Vec::new(),
            }
        }
    };

    let mut overrides: BTreeMap<String, json_patch::Patch> = BTreeMap::new();
    for (i, o) in spec.spec.overrides.into_iter().enumerate() {
        let ops = overrides.entry(o.cluster_name.clone()).or_default();
        for (j, co) in o.cluster_overrides.into_iter().enumerate() {
            let field = format!("spec.overrides[{i}].clusterOverrides[{j}]");
            let op = co.op.unwrap_or_else(|| "replace".to_string());
            let mut operation = json!({"op": op, "path": co.path});
            match (op.as_str(), co.value) {
                ("add" | "replace", Some(v)) => {
                    operation["value"] = v;
                }
                ("add" | "replace", None) => {
                    return Err(origin
                        .diagnostic(format!("op {op} needs a value"))
                        .context(format!("{field}.value")));
                }
                ("remove", _) => {}
                _ => {
                    return Err(origin
                        .diagnostic(format!(
                            "unknown op {op:?}: KubeFed overrides take add, remove or replace"
                        ))
                        .context(format!("{field}.op")));
                }
            }
            let parsed: json_patch::PatchOperation =
                serde_json::from_value(operation).map_err(|e| {
                    origin
                        .diagnostic(e.to_string())
                        .context(format!("{field}.path"))
                })?;
            ops.0.push(parsed);
        }
    }

    Ok(Federated {
        object: Template::new(template),
        placement,
        overrides,
    })
}
