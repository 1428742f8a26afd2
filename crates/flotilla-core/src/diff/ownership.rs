//! Who owns which field of a live object (pure), from its
//! `metadata.managedFields`: the field sets (`fieldsV1`) the API server keeps
//! per field manager, and the fields Git sets that Flotilla no longer owns
//! because another manager took them (a `kubectl scale`, a merge patch of an
//! atomic Service selector, a forced apply).
//!
//! `fieldsV1` syntax: `f:<name>` a field, `k:<json>` the item of a list map
//! with these key values, `v:<json>` the item of a set with this value,
//! `i:<n>` the item at an index, `.` the item itself; `{}` owns the whole
//! value (an atomic field is owned whole: `"f:selector": {}`).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::schema::{ListType, Node, Schema};

/// The field manager Flotilla applies as (`cluster::FIELD_MANAGER`; declared
/// again here so that the pure core does not depend on the cluster module).
pub const FIELD_MANAGER: &str = "flotilla";

/// One step of a field path.
#[derive(Clone, Debug, PartialEq)]
pub enum PathElement {
    /// `f:<name>`: a field of an object.
    Field(String),
    /// `k:{...}`: the item of a list map with these key values.
    Key(Map<String, Value>),
    /// `v:<value>`: the item of a set.
    Value(Value),
    /// `i:<n>`: the item at an index.
    Index(usize),
}

/// A set of fields, as one `fieldsV1` tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    /// `.`: the value itself (an item's existence) is in the set.
    pub itself: bool,
    /// The children in the set; none (and not `itself`) means the whole value.
    pub children: Vec<(PathElement, FieldSet)>,
}

impl FieldSet {
    /// Reads a `fieldsV1` object; `None` when it is malformed.
    pub fn parse(fields_v1: &Value) -> Option<FieldSet> {
        let map = fields_v1.as_object()?;
        let mut set = FieldSet::default();
        for (k, v) in map {
            if k == "." {
                set.itself = true;
                continue;
            }
            let (kind, rest) = k.split_at_checked(2)?;
            let element = match kind {
                "f:" => PathElement::Field(rest.to_string()),
                "k:" => PathElement::Key(serde_json::from_str(rest).ok()?),
                "v:" => PathElement::Value(serde_json::from_str(rest).ok()?),
                "i:" => PathElement::Index(rest.parse().ok()?),
                _ => return None,
            };
            set.children.push((element, FieldSet::parse(v)?));
        }
        Some(set)
    }

    fn is_whole(&self) -> bool {
        self.children.is_empty() && !self.itself
    }

    fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children
            .iter()
            .find(|(e, _)| element_eq(e, element))
            .map(|(_, s)| s)
    }

    /// Whether the set holds the value at `path`: the path is in it, or a
    /// value above it is held whole.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let mut node = self;
        for element in path {
            if node.is_whole() {
                return true;
            }
            match node.child(element) {
                Some(n) => node = n,
                None => return false,
            }
        }
        true
    }
}

fn element_eq(a: &PathElement, b: &PathElement) -> bool {
    match (a, b) {
        (PathElement::Key(x), PathElement::Key(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        (PathElement::Value(x), PathElement::Value(y)) => json_eq(x, y),
        _ => a == b,
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The subresource written through (`scale`, `status`), if any.
    pub subresource: Option<String>,
    /// The API version the fields are in terms of.
    pub api_version: String,
    /// The fields.
    pub fields: FieldSet,
}

/// The `metadata.managedFields` of `live`; entries that cannot be read are
/// left out.
pub fn managed_fields(live: &Value) -> Vec<ManagedEntry> {
    let Some(entries) = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            Some(ManagedEntry {
                manager: e["manager"].as_str()?.to_string(),
                operation: e["operation"].as_str().unwrap_or_default().to_string(),
                subresource: e["subresource"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                fields: FieldSet::parse(e.get("fieldsV1")?)?,
            })
        })
        .collect()
}

/// A field Git sets that Flotilla no longer owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldTaken {
    /// JSON pointer into the desired object.
    pub path: String,
    /// The manager that owns it now.
    pub manager: String,
    /// Its operation: `Update` (a write such as `kubectl edit`, `scale`,
    /// a merge patch) or `Apply`.
    pub operation: String,
    /// The subresource it wrote through (`scale`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// The API version of its entry.
    pub api_version: String,
}

impl fmt::Display for FieldTaken {
    /// `/spec/replicas taken by manager kubectl (Update, subresource scale)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} taken by manager {} ({}",
            self.path, self.manager, self.operation
        )?;
        if let Some(s) = &self.subresource {
            write!(f, ", subresource {s}")?;
        }
        write!(f, ")")
    }
}

/// The fields `desired` sets (its leaves: scalars, atomic values, empty
/// objects and lists) as JSON pointers and field paths; list-map items are
/// named by their keys (`protocol` defaulted to `TCP`, as the server does),
/// set items by their value. `apiVersion`, `kind`, `metadata.name`,
/// `metadata.namespace` and `status` are left out: no manager owns them.
pub fn fields_set(desired: &Value, schema: &Schema) -> Vec<(String, Vec<PathElement>)> {
    let mut out = Vec::new();
    let root = schema.of(desired);
    if let Value::Object(m) = desired {
        for (k, v) in m {
            if matches!(k.as_str(), "apiVersion" | "kind" | "status") {
                continue;
            }
            let node = root.and_then(|r| schema.field(r, k));
            let mut pointer = format!("/{}", escape(k));
            let mut path = vec![PathElement::Field(k.clone())];
            if k == "metadata" {
                if let Value::Object(meta) = v {
                    for (mk, mv) in meta {
                        if matches!(
                            mk.as_str(),
                            "name"
                                | "namespace"
                                | "uid"
                                | "resourceVersion"
                                | "generation"
                                | "creationTimestamp"
                                | "managedFields"
                        ) {
                            continue;
                        }
                        let len = pointer.len();
                        pointer.push('/');
                        pointer.push_str(&escape(mk));
                        path.push(PathElement::Field(mk.clone()));
                        let n = node.and_then(|n| schema.field(n, mk));
                        leaves(mv, n, schema, &mut pointer, &mut path, &mut out);
                        path.pop();
                        pointer.truncate(len);
                    }
                }
                continue;
            }
            leaves(v, node, schema, &mut pointer, &mut path, &mut out);
        }
    }
    out
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Key fields the server defaults before it keys a list map item.
pub(crate) fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

/// The key of a list-map item: the values of `keys` (defaulted).
pub(crate) fn item_key(item: &Value, keys: &[String]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            item.get(k)
                .cloned()
                .or_else(|| key_default(k))
                .map(|v| (k.clone(), v))
        })
        .collect()
}

fn leaves(
    value: &Value,
    node: Option<&Node>,
    schema: &Schema,
    pointer: &mut String,
    path: &mut Vec<PathElement>,
    out: &mut Vec<(String, Vec<PathElement>)>,
) {
    let node = node.map(|n| schema.resolve(n));
    let atomic = match node {
        Some(Node::Struct(s)) => s.atomic,
        Some(Node::Map(m)) => m.atomic,
        Some(Node::List(l)) => l.list_type == ListType::Atomic,
        _ => false,
    };
    let leaf = |out: &mut Vec<_>, pointer: &String, path: &Vec<PathElement>| {
        out.push((pointer.clone(), path.clone()))
    };
    match value {
        Value::Object(m) if !atomic && !m.is_empty() => {
            for (k, v) in m {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape(k));
                path.push(PathElement::Field(k.clone()));
                let n = node.and_then(|n| schema.field(n, k));
                leaves(v, n, schema, pointer, path, out);
                path.pop();
                pointer.truncate(len);
            }
        }
        Value::Array(items) if !atomic && !items.is_empty() => {
            let (keys, items_node, set) = match node {
                Some(Node::List(l)) => match &l.list_type {
                    ListType::Map(keys) => (Some(keys.clone()), Some(&*l.items), false),
                    ListType::Set => (None, None, true),
                    ListType::Atomic => (None, None, false),
                },
                // No schema: lists of named objects are keyed by name.
                _ if items
                    .iter()
                    .all(|i| i.get("name").and_then(Value::as_str).is_some()) =>
                {
                    (Some(vec!["name".to_string()]), None, false)
                }
                _ => return leaf(out, pointer, path),
            };
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                if set {
                    path.push(PathElement::Value(item.clone()));
                    leaf(out, pointer, path);
                } else if let Some(keys) = &keys {
                    path.push(PathElement::Key(item_key(item, keys)));
                    leaves(item, items_node, schema, pointer, path, out);
                } else {
                    path.push(PathElement::Index(i));
                    leaf(out, pointer, path);
                }
                path.pop();
                pointer.truncate(len);
            }
        }
        _ => leaf(out, pointer, path),
    }
}

/// The fields `desired` sets that manager `flotilla` no longer owns on
/// `live`, each with the manager that owns it now. Empty when `live` has no
/// managedFields entry by Flotilla (it never applied the object, or the
/// target keeps no managedFields, e.g. a directory) or when no one else
/// owns the field either (then it is simply absent live: plain drift).
pub fn fields_taken(desired: &Value, live: &Value, schema: &Schema) -> Vec<FieldTaken> {
    let entries = managed_fields(live);
    let (ours, theirs): (Vec<_>, Vec<_>) = entries.iter().partition(|e| e.manager == FIELD_MANAGER);
    if ours.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (pointer, path) in fields_set(desired, schema) {
        if ours.iter().any(|e| e.fields.contains(&path)) {
            continue;
        }
        if let Some(e) = theirs.iter().find(|e| e.fields.contains(&path)) {
            out.push(FieldTaken {
                path: pointer,
                manager: e.manager.clone(),
                operation: e.operation.clone(),
                subresource: e.subresource.clone(),
                api_version: e.api_version.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::schema::builtin;
    use serde_json::json;

    // managedFields as kube-apiserver v1.32.13 stored them
    // (shared/apiserver-traces, manager A renamed flotilla).
    fn scaled_deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "managedFields": [
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "apps/v1", "time": "<time>", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
            {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}, "subresource": "scale"}]},
            "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}})
    }

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}})
    }

    #[test]
    fn parses_fields_v1() {
        let set = FieldSet::parse(&json!({"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}},
            "f:selector": {}}, "f:metadata": {"f:finalizers": {"v:\"a/b\"": {}}}, "f:x": {"i:0": {}}}))
        .unwrap();
        let f = |s: &str| PathElement::Field(s.into());
        let key = PathElement::Key(
            json!({"protocol": "TCP", "port": 80})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(set.contains(&[f("spec"), f("ports"), key.clone(), f("port")]));
        assert!(set.contains(&[f("spec"), f("ports"), key.clone()]));
        assert!(!set.contains(&[f("spec"), f("ports"), key, f("targetPort")]));
        // Atomic: held whole, so everything below it too.
        assert!(set.contains(&[f("spec"), f("selector"), f("app")]));
        assert!(set.contains(&[
            f("metadata"),
            f("finalizers"),
            PathElement::Value(json!("a/b"))
        ]));
        assert!(set.contains(&[f("x"), PathElement::Index(0)]));
        assert!(!set.contains(&[f("spec"), f("type")]));
        assert_eq!(FieldSet::parse(&json!({"q:x": {}})), None);
    }

    #[test]
    fn kubectl_scale_takes_replicas() {
        let taken = fields_taken(&deployment(), &scaled_deployment(), builtin());
        assert_eq!(taken.len(), 1, "{taken:?}");
        assert_eq!(
            taken[0].to_string(),
            "/spec/replicas taken by manager kubectl (Update, subresource scale)"
        );
        assert_eq!(taken[0].api_version, "apps/v1");
    }

    #[test]
    fn a_merge_patch_of_an_atomic_selector_takes_it_whole() {
        let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]}});
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "managedFields": [
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "v1", "time": "<time>", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}}}}},
            {"manager": "B", "operation": "Update", "apiVersion": "v1", "time": "<time>", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:selector": {}}}}]},
            "spec": {"ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}], "selector": {"app": "x", "tier": "web"}}});
        let taken = fields_taken(&desired, &live, builtin());
        assert_eq!(
            taken.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["/spec/selector taken by manager B (Update)"]
        );
    }

    #[test]
    fn nothing_is_taken_when_flotilla_owns_everything_or_never_applied() {
        let mut live = scaled_deployment();
        assert!(fields_taken(&deployment(), &live, builtin()).len() == 1);
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"] = json!({});
        assert!(fields_taken(&deployment(), &live, builtin()).is_empty());
        live["metadata"]["managedFields"][0]["manager"] = json!("A");
        assert!(fields_taken(&deployment(), &live, builtin()).is_empty());
        live["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert!(fields_taken(&deployment(), &live, builtin()).is_empty());
    }

    #[test]
    fn atomic_crd_list_taken_whole() {
        let desired = json!({"apiVersion": "traces.example.com/v1", "kind": "Pipeline", "metadata": {"name": "p"},
            "spec": {"steps": ["build", "test"]}});
        let live = json!({"apiVersion": "traces.example.com/v1", "kind": "Pipeline", "metadata": {"name": "p", "managedFields": [
            {"apiVersion": "traces.example.com/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}, "manager": "flotilla", "operation": "Apply"},
            {"apiVersion": "traces.example.com/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:steps": {}}}, "manager": "B", "operation": "Update", "time": "<time>"}]},
            "spec": {"steps": ["build", "test", "deploy"]}});
        // No schema for the kind: a list of scalars is one leaf.
        let taken = fields_taken(&desired, &live, &Schema::default());
        assert_eq!(
            taken[0].to_string(),
            "/spec/steps taken by manager B (Update)"
        );
    }

    #[test]
    fn list_map_items_are_named_by_their_defaulted_keys() {
        let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let paths: Vec<String> = fields_set(&desired, builtin())
            .into_iter()
            .map(|(p, path)| format!("{p} {path:?}"))
            .collect();
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("/spec/ports/0/targetPort")
                    && p.contains("\"protocol\": String(\"TCP\")")),
            "{paths:?}"
        );
    }
}
