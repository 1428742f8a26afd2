//! Kubernetes strategic merge patches (pure), as `kubectl patch --type
//! strategic` and kustomize apply them to built-in kinds.
//!
//! The structure comes from the built-in schema table
//! ([`crate::diff::schema::builtin`]): a list whose OpenAPI says
//! `x-kubernetes-patch-strategy: merge` is merged item by item, matched by
//! its `x-kubernetes-patch-merge-key` (containers and env by `name`, volume
//! mounts by `mountPath`, container ports by `containerPort`, Service ports
//! by `port`); a list of scalars with strategy `merge` (`finalizers`) takes
//! the union; every other list is replaced whole. Maps merge key by key, and
//! `null` deletes a key, as in RFC 7386. A kind the table does not describe
//! (a custom resource) is merged exactly as RFC 7386 does, since every list
//! there is replaced.
//!
//! Directives, as the API server reads them:
//! - `$patch: delete` in a map deletes that map (a field, or the list item
//!   with the same merge key);
//! - `$patch: replace` in a map replaces it with the rest of the patch map;
//!   as a list item (`- $patch: replace`) it replaces the list with the other
//!   items;
//! - `$retainKeys: [a, b]` in a map drops every other key of the original;
//! - `$deleteFromPrimitiveList/<field>: [x]` removes values from a merged
//!   list of scalars;
//! - `$setElementOrder/<field>: [...]` orders a merged list: the items it
//!   names first, in its order, then the others in their previous order.
//!
//! Any other key, `$`-prefixed or not, is a field, as the API server reads it.

use serde_json::{Map, Value};

use crate::diff::schema::{ListNode, Node, Schema, builtin};

/// Why a strategic merge patch cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StrategicError {
    /// The field of the patch, as `spec.template.spec.containers[1]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

/// Applies the strategic merge patch `patch` (a mapping) to `object`, with
/// the merge keys of `object`'s kind from the built-in schema.
pub fn strategic_merge(object: &mut Value, patch: &Value) -> Result<(), StrategicError> {
    strategic_merge_with(builtin(), object, patch)
}

/// [`strategic_merge`] with the merge structure of `schema`.
pub fn strategic_merge_with(
    schema: &Schema,
    object: &mut Value,
    patch: &Value,
) -> Result<(), StrategicError> {
    let root = schema.of(object).map(|n| schema.resolve(n));
    let Value::Object(p) = patch else {
        return Err(StrategicError {
            field: String::new(),
            message: "a strategic merge patch must be a mapping".into(),
        });
    };
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let Value::Object(o) = object else {
        unreachable!("made an object above")
    };
    let mut m = Merger {
        schema,
        path: Vec::new(),
    };
    if let Some(directive) = p.get(PATCH) {
        return Err(m.error(format!(
            "$patch: {directive} cannot apply to the whole object (use delete: true to drop it)"
        )));
    }
    m.merge_map(o, p, root)
}

struct Merger<'s> {
    schema: &'s Schema,
    /// Where the merge is, for errors.
    path: Vec<String>,
}

impl<'s> Merger<'s> {
    fn error(&self, message: impl Into<String>) -> StrategicError {
        StrategicError {
            field: field_of(&self.path),
            message: message.into(),
        }
    }

    fn field_node(&self, node: Option<&'s Node>, key: &str) -> Option<&'s Node> {
        let node = node?;
        self.schema
            .field(node, key)
            .map(|n| self.schema.resolve(n))
            .filter(|n| !matches!(n, Node::Scalar | Node::Untyped))
    }

    /// Merges patch map `patch` into `orig`; `node` is their structure.
    fn merge_map(
        &mut self,
        orig: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        node: Option<&'s Node>,
    ) -> Result<(), StrategicError> {
        match patch.get(PATCH).map(|v| v.as_str()) {
            None | Some(Some("merge")) => {}
            Some(Some("replace")) => {
                orig.clear();
                let mut rest = patch.clone();
                rest.remove(PATCH);
                // What replaces the map is the patch, its directives applied.
                return self.merge_map(orig, &rest, node);
            }
            Some(Some("delete")) => {
                return Err(
                    self.error("$patch: delete is only allowed in a field's map or a list item")
                );
            }
            Some(other) => {
                return Err(self.error(format!(
                    "unknown $patch directive {}: use merge, replace or delete",
                    other.map_or_else(|| "(not a string)".to_string(), str::to_string)
                )));
            }
        }
        if let Some(keep) = patch.get(RETAIN_KEYS) {
            let Some(keep) = keep.as_array() else {
                return Err(self.error("$retainKeys must be a list of field names"));
            };
            orig.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)) || patch.contains_key(k));
        }
        for (key, value) in patch {
            if key == PATCH || key == RETAIN_KEYS {
                continue;
            }
            if let Some(field) = key.strip_prefix(DELETE_FROM) {
                let Some(values) = value.as_array() else {
                    return Err(self.error(format!("{key} must be a list")));
                };
                if let Some(Value::Array(items)) = orig.get_mut(field) {
                    items.retain(|i| !values.contains(i));
                }
                continue;
            }
            if key.starts_with(SET_ORDER) {
                // Applied after the list itself merged, below.
                continue;
            }
            self.path.push(key.clone());
            self.merge_field(orig, key, value, node)?;
            self.path.pop();
        }
        for (key, order) in patch {
            if let Some(field) = key.strip_prefix(SET_ORDER) {
                self.path.push(key.clone());
                let list = self.field_node(node, field).and_then(|n| match n {
                    Node::List(l) => Some(l),
                    _ => None,
                });
                let Some(order) = order.as_array() else {
                    return Err(self.error("must be a list"));
                };
                if let (Some(Value::Array(items)), Some(list)) = (orig.get_mut(field), list) {
                    set_order(items, order, list.merge_key.as_deref());
                }
                self.path.pop();
            }
        }
        Ok(())
    }

    /// Merges `value` into `orig[key]`.
    fn merge_field(
        &mut self,
        orig: &mut Map<String, Value>,
        key: &str,
        value: &Value,
        node: Option<&'s Node>,
    ) -> Result<(), StrategicError> {
        let child = self.field_node(node, key);
        match value {
            Value::Null => {
                orig.remove(key);
            }
            Value::Object(p) => {
                if p.get(PATCH).and_then(Value::as_str) == Some("delete") {
                    orig.remove(key);
                    return Ok(());
                }
                let slot = orig
                    .entry(key.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                let Value::Object(o) = slot else {
                    unreachable!("made an object above")
                };
                self.merge_map(o, p, child)?;
            }
            Value::Array(items) => {
                let list = match child {
                    Some(Node::List(l)) if is_merge(l) => Some(l),
                    _ => None,
                };
                match list {
                    Some(l) => {
                        let slot = orig
                            .entry(key.to_string())
                            .or_insert(Value::Array(Vec::new()));
                        if !slot.is_array() {
                            *slot = Value::Array(Vec::new());
                        }
                        let Value::Array(o) = slot else {
                            unreachable!("made a list above")
                        };
                        self.merge_list(o, items, l)?;
                    }
                    // Replaced whole anyway: a `- $patch: replace` item
                    // says just that, and is dropped.
                    None => {
                        let kept = items.iter().filter(|i| !is_replace_item(i)).cloned();
                        orig.insert(key.to_string(), Value::Array(kept.collect()));
                    }
                }
            }
            scalar => {
                orig.insert(key.to_string(), scalar.clone());
            }
        }
        Ok(())
    }

    /// Merges the patch items into a list whose strategy is `merge`.
    fn merge_list(
        &mut self,
        orig: &mut Vec<Value>,
        items: &[Value],
        list: &'s ListNode,
    ) -> Result<(), StrategicError> {
        if items.iter().any(is_replace_item) {
            orig.clear();
        }
        let item_node = Some(self.schema.resolve(&list.items))
            .filter(|n| !matches!(n, Node::Scalar | Node::Untyped));
        for (n, item) in items.iter().enumerate() {
            if is_replace_item(item) {
                continue;
            }
            self.path.push(format!("[{n}]"));
            match (&list.merge_key, item) {
                (Some(key), Value::Object(p)) => {
                    let Some(id) = p.get(key) else {
                        return Err(self.error(format!(
                            "the item has no {key:?}, the key this list is merged by"
                        )));
                    };
                    let at = orig.iter().position(|o| o.get(key) == Some(id));
                    match p.get(PATCH).map(|v| v.as_str()) {
                        Some(Some("delete")) => {
                            orig.retain(|o| o.get(key) != Some(id));
                        }
                        Some(Some("replace")) => {
                            let mut rest = p.clone();
                            rest.remove(PATCH);
                            let mut fresh = Map::new();
                            self.merge_map(&mut fresh, &rest, item_node)?;
                            match at {
                                Some(i) => orig[i] = Value::Object(fresh),
                                None => orig.push(Value::Object(fresh)),
                            }
                        }
                        _ => match at {
                            Some(i) => {
                                if !orig[i].is_object() {
                                    orig[i] = Value::Object(Map::new());
                                }
                                let Value::Object(o) = &mut orig[i] else {
                                    unreachable!("made an object above")
                                };
                                self.merge_map(o, p, item_node)?;
                            }
                            None => {
                                let mut fresh = Map::new();
                                self.merge_map(&mut fresh, p, item_node)?;
                                orig.push(Value::Object(fresh));
                            }
                        },
                    }
                }
                (Some(key), _) => {
                    return Err(self.error(format!(
                        "the item must be a mapping with {key:?}, the key this list is merged by"
                    )));
                }
                // A merged list of scalars: the union, in order.
                (None, value) => {
                    if !orig.contains(value) {
                        orig.push(value.clone());
                    }
                }
            }
            self.path.pop();
        }
        Ok(())
    }
}

/// Whether a list item is the directive `{$patch: replace}`.
fn is_replace_item(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|m| m.len() == 1 && m.get(PATCH).and_then(Value::as_str) == Some("replace"))
}

/// Whether a list merges item by item (strategy `merge`, maybe with
/// `retainKeys`).
fn is_merge(list: &ListNode) -> bool {
    list.strategy
        .as_deref()
        .is_some_and(|s| s.split(',').any(|p| p == "merge"))
}

/// Orders `items` by `order` (items, or maps holding the merge key): those
/// named come first, in that order, then the rest in their previous order.
fn set_order(items: &mut Vec<Value>, order: &[Value], key: Option<&str>) {
    let id = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let mut rest = std::mem::take(items);
    for o in order {
        let want = id(o);
        if let Some(i) = rest.iter().position(|v| id(v) == want) {
            items.push(rest.remove(i));
        }
    }
    items.extend(rest);
}

/// `spec.template.spec.containers[0].env` from path segments.
fn field_of(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}

/// The lists a plain (RFC 7386) `merge` patch for `kind` (of `api_version`
/// or `group` when given) replaces whole although the kind merges them by a
/// key: `(field, merge key)` pairs, such as
/// `("spec.template.spec.containers", "name")`. Empty for kinds the
/// built-in schema does not describe.
pub fn lists_replaced_by_merge(
    kind: &str,
    api_version: Option<&str>,
    group: Option<&str>,
    merge: &Value,
) -> Vec<(String, String)> {
    let schema = builtin();
    let root = schema
        .kinds
        .iter()
        .filter(|(k, _)| {
            let Some((av, kd)) = k.rsplit_once('/') else {
                return false;
            };
            kd == kind
                && api_version.is_none_or(|v| v == av)
                && group.is_none_or(|g| g == crate::model::group_of(av))
        })
        .find_map(|(_, name)| schema.types.get(name));
    let mut out = Vec::new();
    let Some(root) = root else { return out };
    // Bounded by the patch's own size: each value is visited once.
    let mut stack: Vec<(Vec<String>, &Value, &Node)> =
        vec![(Vec::new(), merge, schema.resolve(root))];
    while let Some((path, value, node)) = stack.pop() {
        let Value::Object(map) = value else { continue };
        for (k, v) in map {
            let Some(child) = schema.field(node, k).map(|n| schema.resolve(n)) else {
                continue;
            };
            let mut p = path.clone();
            p.push(k.clone());
            match (v, child) {
                (Value::Array(_), Node::List(l)) if is_merge(l) => {
                    if let Some(key) = &l.merge_key {
                        out.push((field_of(&p), key.clone()));
                    }
                }
                (Value::Object(_), child) => stack.push((p, v, child)),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Warnings for `validate`: every `merge` patch of the fleet that replaces
/// a list whose items have a merge key, with the clusters it applies to.
/// Each reads like a diagnostic: `overlays/x/p.yaml: document 1: merge:
/// spec.template.spec.containers: ...`.
pub fn merge_patch_warnings(fleet: &crate::model::Fleet) -> Vec<(String, Vec<String>)> {
    let mut layers: Vec<(&crate::model::Layer, Vec<String>)> = fleet
        .overlays
        .iter()
        .map(|o| {
            let on = fleet
                .clusters
                .iter()
                .filter(|c| o.placement.selects(c))
                .map(|c| c.name.clone())
                .collect();
            (&o.layer, on)
        })
        .collect();
    layers.extend(
        fleet
            .cluster_layers
            .iter()
            .map(|(name, layer)| (layer, vec![name.clone()])),
    );
    let mut out = Vec::new();
    for (layer, clusters) in layers {
        for patch in &layer.patches {
            let crate::model::PatchAction::Merge(m) = &patch.action else {
                continue;
            };
            let t = &patch.target;
            for (field, key) in
                lists_replaced_by_merge(&t.kind, t.api_version.as_deref(), t.group.as_deref(), m)
            {
                let d = patch.origin.diagnostic(format!(
                    "this merge patch replaces the whole list, dropping the items it does not repeat; \
                     its items have a merge key ({key}): use strategicMerge to merge them by {key}"
                ));
                out.push((
                    d.context(format!("merge: {field}")).to_string(),
                    clusters.clone(),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {
                "containers": [
                    {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "side:1"}],
                "volumes": [{"name": "data", "emptyDir": {}}]}}}})
    }

    #[test]
    fn containers_env_ports_and_volumes_merge_by_their_keys() {
        let mut d = deployment();
        strategic_merge(
            &mut d,
            &json!({"spec": {"template": {"spec": {
                "containers": [{"name": "web", "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
                                "ports": [{"containerPort": 9090, "name": "metrics"}]}],
                "volumes": [{"name": "cache", "emptyDir": {}}]}}}}),
        )
        .unwrap();
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["containers"][0]["image"], "web:1");
        assert_eq!(
            spec["containers"][0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "two"}, {"name": "C", "value": "3"}])
        );
        assert_eq!(
            spec["containers"][0]["ports"],
            json!([{"containerPort": 80}, {"containerPort": 9090, "name": "metrics"}])
        );
        assert_eq!(spec["containers"][1]["name"], "sidecar");
        assert_eq!(spec["volumes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn patch_delete_removes_one_item_and_replace_replaces() {
        let mut d = deployment();
        strategic_merge(
            &mut d,
            &json!({"spec": {"template": {"spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}],
                "volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}]}}}}),
        )
        .unwrap();
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["containers"].as_array().unwrap().len(), 1);
        assert_eq!(spec["containers"][0]["name"], "web");
        assert_eq!(spec["volumes"], json!([{"name": "only", "emptyDir": {}}]));
        // A list replaced whole anyway (no merge key) drops the directive.
        let mut d2 = deployment();
        strategic_merge(
            &mut d2,
            &json!({"spec": {"template": {"spec": {"tolerations": [{"$patch": "replace"}, {"key": "k"}]}}}}),
        )
        .unwrap();
        assert_eq!(
            d2["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "k"}])
        );
        // A map replaced whole, and a field deleted by directive.
        strategic_merge(
            &mut d,
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "$patch": "replace", "image": "web:2"}]}},
                "strategy": {"$patch": "delete"}}}),
        )
        .unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "web:2"}])
        );
    }

    #[test]
    fn a_kind_without_schema_merges_as_rfc_7386() {
        let mut w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"containers": [{"name": "a", "image": "x"}], "keep": 1}});
        let patch = json!({"spec": {"containers": [{"name": "a", "tag": "y"}], "keep": null}});
        let mut rfc = w.clone();
        json_patch::merge(&mut rfc, &patch);
        strategic_merge(&mut w, &patch).unwrap();
        assert_eq!(w, rfc);
        assert_eq!(
            w["spec"],
            json!({"containers": [{"name": "a", "tag": "y"}]})
        );
    }

    #[test]
    fn an_item_without_its_merge_key_is_an_error_naming_it() {
        let mut d = deployment();
        let e = strategic_merge(
            &mut d,
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.template.spec.containers[0]");
        assert!(e.message.contains("\"name\""), "{e}");
    }

    #[test]
    fn set_element_order_and_primitive_lists() {
        let mut d = deployment();
        strategic_merge(
            &mut d,
            &json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                "containers": [{"name": "web", "image": "web:3"}]}}}}),
        )
        .unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["name"],
            "sidecar"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["image"],
            "web:3"
        );
        strategic_merge(
            &mut d,
            &json!({"metadata": {"finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["b", "c"]));
    }

    #[test]
    fn other_dollar_keys_are_fields() {
        let mut w =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
        strategic_merge(&mut w, &json!({"spec": {"$schema": "x"}})).unwrap();
        assert_eq!(w["spec"]["$schema"], "x");
    }

    #[test]
    fn merge_patches_that_replace_keyed_lists_are_found() {
        let found = lists_replaced_by_merge(
            "Deployment",
            None,
            None,
            &json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web"}],
                "tolerations": []}}}}),
        );
        assert_eq!(
            found,
            [(
                "spec.template.spec.containers".to_string(),
                "name".to_string()
            )]
        );
        assert!(
            lists_replaced_by_merge("Widget", None, None, &json!({"spec": {"x": []}})).is_empty()
        );
    }
}
