//! The order of a cluster's desired objects: Namespaces, then
//! CustomResourceDefinitions, then other cluster-scoped kinds, then
//! namespaced kinds; within each tier by apiVersion, kind, namespace, name.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::model::{ObjectKey, is_cluster_scoped_kind};

/// The group and kind of every custom resource a set of objects defines as
/// cluster-scoped through a CustomResourceDefinition.
pub fn cluster_scoped_crds<'a>(
    objects: impl Iterator<Item = &'a Value>,
) -> BTreeSet<(String, String)> {
    objects
        .filter(|o| {
            o["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
                && o["kind"] == "CustomResourceDefinition"
                && o.pointer("/spec/scope").and_then(Value::as_str) == Some("Cluster")
        })
        .filter_map(|o| {
            Some((
                o.pointer("/spec/group")?.as_str()?.to_string(),
                o.pointer("/spec/names/kind")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The tier of an object: 0 Namespace, 1 CRD, 2 other cluster-scoped, 3 namespaced.
pub fn tier(key: &ObjectKey, custom_cluster_scoped: &BTreeSet<(String, String)>) -> u8 {
    match (key.group.as_str(), key.kind.as_str()) {
        ("", "Namespace") => 0,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 1,
        (g, k)
            if is_cluster_scoped_kind(g, k)
                || custom_cluster_scoped
                    .iter()
                    .any(|(cg, ck)| cg == g && ck == k) =>
        {
            2
        }
        _ => 3,
    }
}

/// The full sort key of an object.
pub fn sort_key<'a>(
    key: &'a ObjectKey,
    object: &'a Value,
    custom_cluster_scoped: &BTreeSet<(String, String)>,
) -> (u8, &'a str, &'a str, &'a str, &'a str) {
    (
        tier(key, custom_cluster_scoped),
        object["apiVersion"].as_str().unwrap_or(""),
        &key.kind,
        &key.namespace,
        &key.name,
    )
}
