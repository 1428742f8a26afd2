//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/{group}`, `/apis/{group}/{version}`, and the aggregated discovery
//! (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`) served for `/api` and
//! `/apis` when the client asks for it in `Accept`.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::registry::{Registry, ResourceKind};

/// The Kubernetes version the server reports.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

/// `GET /version`.
pub(crate) fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api` (`APIVersions`).
pub(crate) fn api_versions(addr: SocketAddr) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}
        ],
    })
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn api_resource(k: &ResourceKind) -> Value {
    let mut r = json!({
        "name": k.plural,
        "singularName": k.singular,
        "namespaced": k.namespaced,
        "kind": k.kind,
        "verbs": k.verbs(),
    });
    if !k.short_names.is_empty() {
        r["shortNames"] = json!(k.short_names);
    }
    if !k.categories.is_empty() {
        r["categories"] = json!(k.categories);
    }
    r
}

/// `GET /api/v1` or `/apis/{group}/{version}` (`APIResourceList`), `None`
/// when nothing is served there.
pub(crate) fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let kinds = reg.resources_in(group, version);
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for k in kinds {
        resources.push(api_resource(k));
        if k.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", k.plural),
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

fn api_group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /apis` (`APIGroupList`).
pub(crate) fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| api_group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}` (`APIGroup`).
pub(crate) fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let vs = reg.versions_of_group(group);
    if group.is_empty() || vs.is_empty() {
        return None;
    }
    let mut g = api_group_entry(group, &vs);
    let m = g.as_object_mut().expect("object");
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), json!("APIGroup"));
    out.insert("apiVersion".into(), json!("v1"));
    out.append(m);
    Some(Value::Object(out))
}

/// Whether `Accept` asks for aggregated discovery first.
pub(crate) fn wants_aggregated(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=APIGroupDiscoveryList"))
}

/// The `Content-Type` of an aggregated discovery response.
pub(crate) const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Aggregated discovery for the core group (`core = true`, served at `/api`)
/// or for every other group (`/apis`).
pub(crate) fn aggregated(reg: &Registry, core: bool) -> Value {
    let mut items = Vec::new();
    for (group, versions) in reg.groups() {
        if group.is_empty() != core {
            continue;
        }
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = reg
                    .resources_in(&group, v)
                    .into_iter()
                    .map(|k| {
                        let gvk = json!({"group": k.group, "version": k.version, "kind": k.kind});
                        let mut r = json!({
                            "resource": k.plural,
                            "responseKind": gvk,
                            "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": k.singular,
                            "verbs": k.verbs(),
                        });
                        if !k.short_names.is_empty() {
                            r["shortNames"] = json!(k.short_names);
                        }
                        if !k.categories.is_empty() {
                            r["categories"] = json!(k.categories);
                        }
                        if k.status_subresource {
                            r["subresources"] = json!([{
                                "subresource": "status",
                                "responseKind": gvk,
                                "verbs": ["get", "patch", "update"],
                            }]);
                        }
                        r
                    })
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(json!({
            "metadata": {"name": group, "creationTimestamp": null},
            "versions": vs,
        }));
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_builtins() {
        let r = Registry::with_builtins();
        let l = resource_list(&r, "apps", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments"));
        assert!(names.contains(&"deployments/status"));
        let g = group_list(&r);
        assert!(
            g["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "autoscaling")
        );
        assert!(api_group(&r, "apps").unwrap()["preferredVersion"]["version"] == "v1");
        assert!(resource_list(&r, "apps", "v2").is_none());
    }
}
