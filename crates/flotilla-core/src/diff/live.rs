//! Desired against live, field by field (pure): the one definition of "in
//! sync". Only the fields the desired object sets are compared, so what the
//! server adds (status, uid, defaults) never counts, except inside values the
//! API server treats as atomic, which compare whole (see
//! [`field_diffs_with`] for the rules, from the kind's [`Schema`]); values are
//! normalised where the server normalises them; list maps are matched by
//! their keys (containers, env by `name`, Service ports by `port` and
//! `protocol`), so an injected sidecar is not drift.

use std::borrow::Cow;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::normalize::scalars_equal;
use super::ownership::{fields_taken, item_key};
use super::schema::{self, ListType, Node, Schema};

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// JSON pointer into the desired object.
    pub path: String,
    /// The value in Git (after rendering).
    pub desired: Value,
    /// The value on the cluster; null when the field is absent there.
    pub live: Value,
}

/// Fields the server owns: never compared even if the desired object sets them.
const SERVER_FIELDS: &[&str] = &[
    "/status",
    "/metadata/uid",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/metadata/managedFields",
    "/metadata/selfLink",
];

/// The desired object as the server would store it: a core `Secret`'s
/// `stringData` folded into base64 `data`.
pub fn as_stored(desired: &Value) -> Cow<'_, Value> {
    let is_secret = desired["kind"] == "Secret" && desired["apiVersion"] == "v1";
    let Some(string_data) = desired.get("stringData").and_then(Value::as_object) else {
        return Cow::Borrowed(desired);
    };
    if !is_secret {
        return Cow::Borrowed(desired);
    }
    let mut out = desired.clone();
    let mut data = out["data"].as_object().cloned().unwrap_or_default();
    for (k, v) in string_data {
        let text = v.as_str().unwrap_or_default();
        data.insert(
            k.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    let obj = out.as_object_mut().expect("a Secret is a mapping");
    obj.remove("stringData");
    obj.insert("data".into(), Value::Object(data));
    Cow::Owned(out)
}

/// The fields of `desired` that `live` does not hold, skipping the JSON
/// pointers in `ignore` (and everything below them), by the merge structure
/// of the built-in schema ([`schema::builtin`]): see [`field_diffs_with`].
pub fn field_diffs(desired: &Value, live: &Value, ignore: &[String]) -> Vec<FieldDiff> {
    field_diffs_with(desired, live, ignore, schema::builtin())
}

/// The fields of `desired` that `live` does not hold, by the merge
/// structure `schema` gives for the object's kind:
///
/// - a granular struct or map: only the keys Git sets are compared;
/// - an atomic map (`x-kubernetes-map-type: atomic`, e.g. a Service's
///   `spec.selector`, everything inside an atomic LabelSelector) compares
///   whole: a key added live is drift, reported at the atomic value's
///   pointer with both whole values;
/// - an atomic struct compares the members Git sets; a member only live
///   counts only when another manager took the struct from Flotilla
///   (managedFields), since the server defaults members of atomic structs
///   (a `fieldRef`'s `apiVersion`);
/// - an atomic list (`x-kubernetes-list-type: atomic`, and any list without
///   a list type or merge key, e.g. an HTTPRoute's `rules`) compares whole:
///   same length, item by item as above;
/// - a list map is matched by its `x-kubernetes-list-map-keys` (`protocol`
///   defaulted to `TCP` as the server does); items only live belong to
///   other managers and are not drift;
/// - a set: every item Git sets must be live, in any order.
///
/// A kind the schema does not know, or a value below
/// `x-kubernetes-preserve-unknown-fields`, compares as before schemas: only
/// the keys Git sets, lists of objects with a `name` matched by name, other
/// lists item by item.
pub fn field_diffs_with(
    desired: &Value,
    live: &Value,
    ignore: &[String],
    schema: &Schema,
) -> Vec<FieldDiff> {
    // A server never returns stringData; a directory target stores it as written.
    let desired = if live.get("stringData").is_some() {
        Cow::Borrowed(desired)
    } else {
        as_stored(desired)
    };
    let mut ignore = ignore.to_vec();
    if live.pointer("/metadata/namespace").is_none() && live.is_object() {
        // Only cluster-scoped objects have no namespace live; the server
        // drops a stray one from them, so it is not drift.
        ignore.push("/metadata/namespace".into());
    }
    let root = schema.of(&desired);
    let taken = if root.is_some() && live.pointer("/metadata/managedFields").is_some() {
        fields_taken(&desired, live, schema)
            .into_iter()
            .map(|t| t.path)
            .collect()
    } else {
        Vec::new()
    };
    let mut walker = Walker {
        schema,
        ignore: &ignore,
        taken,
        out: Vec::new(),
    };
    walker.walk(&desired, live, root, "", "", &mut String::new());
    walker.out
}

fn ignored(path: &str, ignore: &[String]) -> bool {
    SERVER_FIELDS
        .iter()
        .copied()
        .chain(ignore.iter().map(String::as_str))
        .any(|p| path == p || path.starts_with(&format!("{p}/")))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn keyed_by_name(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").and_then(Value::as_str).is_some())
}

struct Walker<'a> {
    schema: &'a Schema,
    ignore: &'a [String],
    /// Pointers of the fields another manager took from Flotilla.
    taken: Vec<String>,
    out: Vec<FieldDiff>,
}

impl<'a> Walker<'a> {
    fn differ(&mut self, path: &str, desired: &Value, live: &Value) {
        self.out.push(FieldDiff {
            path: path.to_string(),
            desired: desired.clone(),
            live: live.clone(),
        });
    }

    /// The node, resolved; `None` for no schema (or `Untyped`).
    fn typed(&self, node: Option<&'a Node>) -> Option<&'a Node> {
        let schema: &'a Schema = self.schema;
        node.map(|n| schema.resolve(n))
            .filter(|n| !matches!(n, Node::Untyped))
    }

    fn walk(
        &mut self,
        desired: &Value,
        live: &Value,
        node: Option<&'a Node>,
        parent: &str,
        key: &str,
        path: &mut String,
    ) {
        let schema: &'a Schema = self.schema;
        if ignored(path, self.ignore) {
            return;
        }
        let node = self.typed(node);
        if is_atomic(node) {
            let extra_members = self.taken.iter().any(|t| t == path);
            let both_empty = is_empty(desired) && is_empty(live);
            if !both_empty && !self.atomic_equal(desired, live, node, parent, key, extra_members) {
                self.differ(path, desired, live);
            }
            return;
        }
        match (desired, live) {
            (Value::Object(d), Value::Object(l)) => {
                for (k, dv) in d {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&escape(k));
                    let child = node.and_then(|n| schema.field(n, k));
                    match l.get(k) {
                        Some(lv) => self.walk(dv, lv, child, key, k, path),
                        None if is_empty(dv) || ignored(path, self.ignore) => {}
                        None => self.differ(path, dv, &Value::Null),
                    }
                    path.truncate(len);
                }
            }
            (Value::Array(d), Value::Array(l)) => match node {
                Some(Node::List(list)) => match &list.list_type {
                    ListType::Map(keys) => {
                        for (i, dv) in d.iter().enumerate() {
                            let len = path.len();
                            path.push_str(&format!("/{i}"));
                            match l.iter().find(|lv| same_key(dv, lv, keys)) {
                                Some(lv) => self.walk(dv, lv, Some(&list.items), key, key, path),
                                None => self.differ(path, dv, &Value::Null),
                            }
                            path.truncate(len);
                        }
                    }
                    ListType::Set => {
                        let items = self.typed(Some(&list.items));
                        for (i, dv) in d.iter().enumerate() {
                            if !l
                                .iter()
                                .any(|lv| self.atomic_equal(dv, lv, items, key, key, false))
                            {
                                self.differ(&format!("{path}/{i}"), dv, &Value::Null);
                            }
                        }
                    }
                    ListType::Atomic => unreachable!("atomic lists compare above"),
                },
                _ if keyed_by_name(d) && keyed_by_name(l) => {
                    for (i, dv) in d.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("/{i}"));
                        match l.iter().find(|lv| lv["name"] == dv["name"]) {
                            Some(lv) => self.walk(dv, lv, None, key, key, path),
                            None => self.differ(path, dv, &Value::Null),
                        }
                        path.truncate(len);
                    }
                }
                _ => {
                    let same = d.len() == l.len()
                        && d.iter().zip(l).all(|(dv, lv)| {
                            let mut scratch = Walker {
                                schema: self.schema,
                                ignore: self.ignore,
                                taken: Vec::new(),
                                out: Vec::new(),
                            };
                            scratch.walk(dv, lv, None, key, key, &mut path.clone());
                            scratch.out.is_empty()
                        });
                    if !same {
                        self.differ(path, desired, live);
                    }
                }
            },
            (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
                if !(is_empty(desired) && is_empty(live)) {
                    self.differ(path, desired, live);
                }
            }
            (d, l) => {
                if !scalars_equal(parent, key, d, l) {
                    self.differ(path, desired, live);
                }
            }
        }
    }

    /// Whether two values inside an atomic value are equal: maps and lists
    /// whole, structs in the members Git sets (and in all members when
    /// `extra_members` count: another manager took the value).
    fn atomic_equal(
        &self,
        desired: &Value,
        live: &Value,
        node: Option<&'a Node>,
        parent: &str,
        key: &str,
        extra_members: bool,
    ) -> bool {
        let schema: &'a Schema = self.schema;
        let node = self.typed(node);
        match (desired, live) {
            (Value::Object(d), Value::Object(l)) => {
                let is_map = matches!(node, Some(Node::Map(_)));
                if (is_map || extra_members)
                    && l.iter().any(|(k, lv)| !d.contains_key(k) && !is_empty(lv))
                {
                    return false;
                }
                d.iter().all(|(k, dv)| {
                    let child = node.and_then(|n| schema.field(n, k));
                    match l.get(k) {
                        Some(lv) => self.atomic_equal(dv, lv, child, key, k, extra_members),
                        None => is_empty(dv),
                    }
                })
            }
            (Value::Array(d), Value::Array(l)) => {
                let items = match node {
                    Some(Node::List(list)) => Some(&*list.items),
                    _ => None,
                };
                d.len() == l.len()
                    && d.iter()
                        .zip(l)
                        .all(|(dv, lv)| self.atomic_equal(dv, lv, items, key, key, extra_members))
            }
            (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
                is_empty(desired) && is_empty(live)
            }
            (d, l) => scalars_equal(parent, key, d, l),
        }
    }
}

fn is_atomic(node: Option<&Node>) -> bool {
    match node {
        Some(Node::Struct(s)) => s.atomic,
        Some(Node::Map(m)) => m.atomic,
        Some(Node::List(l)) => l.list_type == ListType::Atomic,
        _ => false,
    }
}

/// Whether two list-map items have the same key (a key field missing on
/// either side takes the value the server defaults it to).
fn same_key(desired: &Value, live: &Value, keys: &[String]) -> bool {
    let d = item_key(desired, keys);
    let l = item_key(live, keys);
    keys.iter().all(|k| match (d.get(k), l.get(k)) {
        (Some(a), Some(b)) => scalars_equal("", k, a, b),
        (None, None) => true,
        _ => false,
    })
}

/// Replaces the values of a core Secret's `data` and `stringData` in field
/// diffs with placeholders: a report says that a key differs, never its value.
pub fn mask_secret_values(object: &Value, diffs: &mut [FieldDiff]) {
    let is_secret = object["kind"] == "Secret" && object["apiVersion"] == "v1";
    if !is_secret {
        return;
    }
    let hide = |v: &mut Value, label: &str| {
        *v = match v {
            Value::Null => Value::Null,
            Value::Object(m) => Value::Object(
                m.keys()
                    .map(|k| (k.clone(), Value::String(format!("<hidden {label} value>"))))
                    .collect::<Map<_, _>>(),
            ),
            _ => Value::String(format!("<hidden {label} value>")),
        }
    };
    for d in diffs {
        if d.path == "/data"
            || d.path.starts_with("/data/")
            || d.path == "/stringData"
            || d.path.starts_with("/stringData/")
        {
            hide(&mut d.desired, "desired");
            hide(&mut d.live, "live");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(desired: Value, live: Value) -> Vec<String> {
        field_diffs(&desired, &live, &[])
            .into_iter()
            .map(|d| d.path)
            .collect()
    }

    #[test]
    fn server_defaults_and_status_are_not_drift() {
        let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}], "type": "NodePort"}});
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "uid": "u", "resourceVersion": "7"},
            "spec": {"ports": [{"port": 80, "targetPort": "8080", "protocol": "TCP", "nodePort": 30080}],
                     "type": "NodePort", "clusterIP": "10.0.0.1", "sessionAffinity": "None"},
            "status": {"loadBalancer": {}}});
        assert!(paths(desired, live).is_empty());
    }

    #[test]
    fn hand_edits_are_reported_with_their_path() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}}});
        let live = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
            {"name": "istio-proxy", "image": "proxy"},
            {"name": "web", "image": "web:2", "env": [{"name": "A", "value": "1"}]}]}}}});
        assert_eq!(
            paths(desired, live),
            [
                "/spec/replicas",
                "/spec/template/spec/containers/0/image",
                "/spec/template/spec/containers/0/env/1"
            ]
        );
    }

    #[test]
    fn quantities_and_ignored_paths() {
        let desired = json!({"spec": {"resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}}, "replicas": 3}});
        let live = json!({"spec": {"resources": {"limits": {"cpu": "500m", "memory": "1073741824"}}, "replicas": 9}});
        assert!(field_diffs(&desired, &live, &["/spec/replicas".into()]).is_empty());
    }

    #[test]
    fn string_data_is_compared_as_stored_and_values_are_masked() {
        let desired =
            json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"pass": "s3cr3t"}});
        let live = json!({"apiVersion": "v1", "kind": "Secret", "data": {"pass": "czNjcjN0"}});
        assert!(field_diffs(&desired, &live, &[]).is_empty());
        let changed = json!({"apiVersion": "v1", "kind": "Secret", "data": {"pass": "b3RoZXI="}});
        let mut diffs = field_diffs(&desired, &changed, &[]);
        mask_secret_values(&desired, &mut diffs);
        assert_eq!(diffs[0].path, "/data/pass");
        let text = serde_json::to_string(&diffs).unwrap();
        assert!(
            !text.contains("czNjcjN0") && !text.contains("b3RoZXI=") && !text.contains("s3cr3t"),
            "{text}"
        );
    }

    #[test]
    fn a_key_added_to_an_atomic_selector_is_drift_of_the_whole_selector() {
        let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web", "extra": "x"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}});
        let diffs = field_diffs(&desired, &live, &[]);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert_eq!(diffs[0].path, "/spec/selector");
        assert_eq!(diffs[0].live, json!({"app": "web", "extra": "x"}));
        // Without a schema for the kind: only the keys Git sets, as before.
        assert!(field_diffs_with(&desired, &live, &[], &Schema::default()).is_empty());
        // A granular map (labels) still compares only the keys Git sets.
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n", "labels": {"a": "1", "b": "2"}}});
        assert!(field_diffs(&desired, &live, &[]).is_empty());
    }

    #[test]
    fn an_atomic_label_selector_compares_its_match_labels_whole() {
        let desired = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}}});
        let mut live = desired.clone();
        live["metadata"]["namespace"] = json!("shop");
        live["spec"]["policyTypes"] = json!(["Ingress"]);
        assert!(field_diffs(&desired, &live, &[]).is_empty());
        live["spec"]["podSelector"]["matchLabels"]["tier"] = json!("x");
        assert_eq!(paths(desired, live), ["/spec/podSelector"]);
    }

    #[test]
    fn list_maps_are_matched_by_their_keys_with_protocol_defaulted() {
        let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
            "spec": {"ports": [{"port": 53, "targetPort": 5353}, {"port": 53, "protocol": "UDP", "targetPort": 5353}]}});
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns", "namespace": "n"},
            "spec": {"ports": [{"port": 53, "protocol": "UDP", "targetPort": 5353}, {"port": 53, "protocol": "TCP", "targetPort": 5353},
                               {"port": 9153, "protocol": "TCP", "targetPort": 9153}]}});
        assert!(field_diffs(&desired, &live, &[]).is_empty());
        let mut changed = live.clone();
        changed["spec"]["ports"][0]["targetPort"] = json!(53);
        assert_eq!(
            paths(desired.clone(), changed),
            ["/spec/ports/1/targetPort"]
        );
        let mut gone = live.clone();
        gone["spec"]["ports"].as_array_mut().unwrap().remove(1);
        assert_eq!(paths(desired, gone), ["/spec/ports/0"]);
    }

    #[test]
    fn sets_compare_in_any_order() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a/x", "b/y"]}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n", "finalizers": ["c/z", "b/y", "a/x"]}});
        assert!(field_diffs(&desired, &live, &[]).is_empty());
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n", "finalizers": ["b/y"]}});
        assert_eq!(paths(desired, live), ["/metadata/finalizers/0"]);
    }

    #[test]
    fn server_defaults_inside_atomic_structs_and_lists_are_not_drift() {
        // fieldRef is an atomic struct the server defaults apiVersion in;
        // HTTPRoute rules and parentRefs are atomic lists with CRD defaults.
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a",
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}});
        let mut live = desired.clone();
        live["metadata"]["namespace"] = json!("n");
        live["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] =
            json!("v1");
        assert!(field_diffs(&desired, &live, &[]).is_empty());
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] =
            json!("metadata.uid");
        assert_eq!(
            paths(desired.clone(), edited),
            ["/spec/template/spec/containers/0/env/0/valueFrom/fieldRef"]
        );

        let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "web", "port": 8080}]}]}});
        let stored = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web", "namespace": "n"},
            "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}],
                     "rules": [{"backendRefs": [{"group": "", "kind": "Service", "name": "web", "port": 8080, "weight": 1}],
                                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]}});
        assert!(field_diffs(&route, &stored, &[]).is_empty());
        let mut added = stored.clone();
        added["spec"]["rules"]
            .as_array_mut()
            .unwrap()
            .push(json!({"backendRefs": [{"name": "other", "port": 80}]}));
        assert_eq!(paths(route, added), ["/spec/rules"]);
    }

    #[test]
    fn a_member_added_to_a_taken_atomic_struct_is_drift() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}}});
        let mut live = desired.clone();
        live["metadata"]["namespace"] = json!("n");
        live["spec"]["selector"]["matchExpressions"] =
            json!([{"key": "tier", "operator": "Exists"}]);
        live["metadata"]["managedFields"] = json!([
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:selector": {}}}}]);
        // Owned by Flotilla: the extra member could be a server default.
        assert!(field_diffs(&desired, &live, &[]).is_empty());
        live["metadata"]["managedFields"] = json!([
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:selector": {}}}}]);
        assert_eq!(paths(desired, live), ["/spec/selector"]);
    }
}
