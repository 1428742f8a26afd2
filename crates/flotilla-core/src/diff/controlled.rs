//! Fields that controllers own (pure): fields Git sets that a controller on
//! the cluster is expected to change, so that they are set when the object
//! is created and then neither compared (they are never drift) nor applied
//! again (applying would fight the controller).
//!
//! The table, one rule per row ([`RULES`]):
//!
//! | controller | owns |
//! | --- | --- |
//! | a HorizontalPodAutoscaler (desired or live) whose `spec.scaleTargetRef` names a Deployment, StatefulSet or ReplicaSet (same API group, same name, the HPA's namespace) | that workload's `/spec/replicas` |
//!
//! Controllers count whether Git holds them or they exist only on the
//! cluster (made by hand or by another tool): for the workloads that exist
//! live, set a controlled field and that no controller in Git already owns,
//! [`live_controller_reads`] says which controllers to read from the
//! cluster (one kind, some namespaces); none when there are no such
//! workloads, so that a cluster without them costs no extra request.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::ownership::{FIELD_MANAGER, PathElement};
use crate::model::{ObjectKey, group_of};

/// One field owned by a controller.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlledField {
    /// The object whose field it is.
    pub object: ObjectKey,
    /// JSON pointer to the field.
    pub pointer: String,
    /// The object of the controller that owns it.
    pub controller: ObjectKey,
}

impl fmt::Display for ControlledField {
    /// `Deployment shop/web: spec.replicas is owned by HorizontalPodAutoscaler
    /// shop/web and is set on create only`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.pointer.trim_start_matches('/').replace('/', ".");
        write!(
            f,
            "{} {}: {field} is owned by {} {} and is set on create only",
            self.object.kind,
            namespaced_name(&self.object),
            self.controller.kind,
            namespaced_name(&self.controller),
        )
    }
}

fn namespaced_name(key: &ObjectKey) -> String {
    if key.namespace.is_empty() {
        key.name.clone()
    } else {
        format!("{}/{}", key.namespace, key.name)
    }
}

/// One row of the table: objects of kind `controller_kind` (API group
/// `controller_group`) own `pointer` of the objects `targets` finds.
pub struct Rule {
    /// The controller's API group.
    pub controller_group: &'static str,
    /// The controller's kind.
    pub controller_kind: &'static str,
    /// The apiVersion the controllers are read in from a cluster.
    pub controller_api_version: &'static str,
    /// The controller's resource (plural) name, to read it from a cluster.
    pub controller_plural: &'static str,
    /// The objects (group, kind, namespace, name) a controller object
    /// targets, whatever their kind.
    pub targets: fn(&Value) -> Option<(String, String, String)>,
    /// Kinds (group, kind) the field belongs to.
    pub kinds: &'static [(&'static str, &'static str)],
    /// The field.
    pub pointer: &'static str,
}

/// The table of fields controllers own.
pub const RULES: &[Rule] = &[Rule {
    controller_group: "autoscaling",
    controller_kind: "HorizontalPodAutoscaler",
    controller_api_version: "autoscaling/v2",
    controller_plural: "horizontalpodautoscalers",
    targets: hpa_target,
    kinds: &[
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "ReplicaSet"),
    ],
    pointer: "/spec/replicas",
}];

/// An HPA's `spec.scaleTargetRef`: (group, kind, name).
fn hpa_target(hpa: &Value) -> Option<(String, String, String)> {
    let target = hpa.pointer("/spec/scaleTargetRef")?;
    Some((
        group_of(target["apiVersion"].as_str().unwrap_or("")).to_string(),
        target["kind"].as_str()?.to_string(),
        target["name"].as_str()?.to_string(),
    ))
}

/// The fields controllers own among `objects` (the desired state of a
/// cluster), given the controllers among `objects` and `live_controllers`
/// (e.g. the HPAs on the cluster that Git does not hold). Only fields the
/// object sets count.
pub fn controlled_fields<'a>(
    objects: impl IntoIterator<Item = &'a Value> + Clone,
    live_controllers: impl IntoIterator<Item = &'a Value>,
) -> BTreeSet<ControlledField> {
    // Per rule, the controller of each target (namespace, group, kind,
    // name): the first one, Git's before the live ones. Each object's key is
    // read once, so the cost grows with the objects, not their square.
    let mut targets: Vec<HashMap<(String, String, String, String), ObjectKey>> =
        RULES.iter().map(|_| HashMap::new()).collect();
    for c in objects.clone().into_iter().chain(live_controllers) {
        let kind = c.get("kind").and_then(Value::as_str).unwrap_or("");
        if !RULES.iter().any(|r| r.controller_kind == kind) {
            continue;
        }
        let Some(ckey) = ObjectKey::of(c) else {
            continue;
        };
        for (rule, by_target) in RULES.iter().zip(&mut targets) {
            if ckey.group != rule.controller_group || ckey.kind != rule.controller_kind {
                continue;
            }
            if let Some((group, kind, name)) = (rule.targets)(c) {
                by_target
                    .entry((ckey.namespace.clone(), group, kind, name))
                    .or_insert_with(|| ckey.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    if targets.iter().all(HashMap::is_empty) {
        return out;
    }
    for object in objects {
        let Some(key) = ObjectKey::of(object) else {
            continue;
        };
        for (rule, by_target) in RULES.iter().zip(&targets) {
            if !rule
                .kinds
                .iter()
                .any(|(g, k)| *g == key.group && *k == key.kind)
                || object.pointer(rule.pointer).is_none()
            {
                continue;
            }
            let target = (
                key.namespace.clone(),
                key.group.clone(),
                key.kind.clone(),
                key.name.clone(),
            );
            if let Some(controller) = by_target.get(&target) {
                out.insert(ControlledField {
                    object: key.clone(),
                    pointer: rule.pointer.to_string(),
                    controller: controller.clone(),
                });
            }
        }
    }
    out
}

/// Controllers to read from a cluster: the objects of one controller kind
/// in some namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerRead {
    /// The apiVersion to read them in (`autoscaling/v2`).
    pub api_version: &'static str,
    /// Their kind (`HorizontalPodAutoscaler`).
    pub kind: &'static str,
    /// Their resource name (`horizontalpodautoscalers`).
    pub plural: &'static str,
    /// The namespaces to read them from (never empty; `""` is the
    /// connection's default namespace).
    pub namespaces: BTreeSet<String>,
}

/// Which live controllers could own a field of `objects` (the desired state
/// of a cluster) beyond those `objects` holds: for every object that
/// `exists` live, is of a kind of a rule, sets the rule's field and whose
/// field no controller among `objects` owns, the rule's controllers in the
/// object's namespace. Empty when there is no such object: then nothing is
/// worth reading. (An object not yet live is applied whole on create, so
/// no controller of it matters yet.)
pub fn live_controller_reads<'a>(
    objects: impl IntoIterator<Item = &'a Value> + Clone,
    exists: impl Fn(&ObjectKey) -> bool,
) -> Vec<ControllerRead> {
    let owned = controlled_fields(objects.clone(), []);
    let mut out: Vec<ControllerRead> = Vec::new();
    for object in objects {
        let Some(key) = ObjectKey::of(object) else {
            continue;
        };
        if !exists(&key) {
            continue;
        }
        for rule in RULES {
            let applies = rule
                .kinds
                .iter()
                .any(|(g, k)| *g == key.group && *k == key.kind)
                && object.pointer(rule.pointer).is_some()
                && !owned
                    .iter()
                    .any(|f| f.object == key && f.pointer == rule.pointer);
            if !applies {
                continue;
            }
            let read = match out.iter_mut().find(|r| {
                r.api_version == rule.controller_api_version && r.kind == rule.controller_kind
            }) {
                Some(r) => r,
                None => {
                    out.push(ControllerRead {
                        api_version: rule.controller_api_version,
                        kind: rule.controller_kind,
                        plural: rule.controller_plural,
                        namespaces: BTreeSet::new(),
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            read.namespaces.insert(key.namespace.clone());
        }
    }
    out
}

/// The pointers of `fields` that belong to `key`: what the live comparison
/// skips (add them to the `ignore` of [`super::live::field_diffs`]).
pub fn pointers_of(fields: &BTreeSet<ControlledField>, key: &ObjectKey) -> Vec<String> {
    fields
        .iter()
        .filter(|f| &f.object == key)
        .map(|f| f.pointer.clone())
        .collect()
}

/// `object` without the fields controllers own: what to apply when the
/// object already exists (on create it is applied whole).
pub fn strip_controlled(object: &Value, fields: &BTreeSet<ControlledField>) -> Value {
    let mut out = object.clone();
    let Some(key) = ObjectKey::of(object) else {
        return out;
    };
    for pointer in pointers_of(fields, &key) {
        let Some((parent, last)) = pointer.rsplit_once('/') else {
            continue;
        };
        let last = last.replace("~1", "/").replace("~0", "~");
        if let Some(map) = out.pointer_mut(parent).and_then(Value::as_object_mut) {
            map.remove(&last);
        }
    }
    out
}

/// What to apply of `object` when it already exists as `live`: for each
/// field a controller owns, the value stays the controller's. Where another
/// field manager owns it live (the HPA controller's `/scale` writes), the
/// field is left out of the apply; where it does not (Flotilla still owns
/// it since the create, or the destination keeps no `managedFields`), the
/// live value is sent, so that the apply changes nothing: leaving out a field
/// Flotilla owns would make the server reset it to its default.
pub fn apply_body(object: &Value, live: &Value, fields: &BTreeSet<ControlledField>) -> Value {
    let Some(key) = ObjectKey::of(object) else {
        return object.clone();
    };
    let pointers = pointers_of(fields, &key);
    if pointers.is_empty() {
        return object.clone();
    }
    let entries = super::ownership::managed_fields(live);
    let mut out = object.clone();
    for pointer in pointers {
        let path: Vec<PathElement> = pointer
            .split('/')
            .skip(1)
            .map(|p| PathElement::Field(p.replace("~1", "/").replace("~0", "~")))
            .collect();
        let others_own = entries
            .iter()
            .any(|e| e.manager != FIELD_MANAGER && e.fields.contains(&path));
        let live_value = live.pointer(&pointer).filter(|_| !others_own);
        match (live_value, out.pointer_mut(&pointer)) {
            (Some(v), Some(slot)) => *slot = v.clone(),
            _ => {
                let Some((parent, last)) = pointer.rsplit_once('/') else {
                    continue;
                };
                let last = last.replace("~1", "/").replace("~0", "~");
                if let Some(map) = out.pointer_mut(parent).and_then(Value::as_object_mut) {
                    map.remove(&last);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 3, "template": {}}})
    }

    fn hpa(namespace: &str, api_version: &str, kind: &str, name: &str) -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name},
                     "minReplicas": 2, "maxReplicas": 10}})
    }

    #[test]
    fn an_hpa_owns_its_targets_replicas() {
        let objects = [web(), hpa("shop", "apps/v1", "Deployment", "web")];
        let fields = controlled_fields(&objects, []);
        assert_eq!(fields.len(), 1);
        let f = fields.iter().next().unwrap();
        assert_eq!(
            f.to_string(),
            "Deployment shop/web: spec.replicas is owned by HorizontalPodAutoscaler shop/web and is set on create only"
        );
        let key = ObjectKey::of(&web()).unwrap();
        assert_eq!(pointers_of(&fields, &key), ["/spec/replicas"]);
        let stripped = strip_controlled(&web(), &fields);
        assert_eq!(stripped["spec"], json!({"template": {}}));
        // Other objects are left as they are.
        assert_eq!(strip_controlled(&objects[1], &fields), objects[1]);
    }

    #[test]
    fn each_workload_gets_its_own_controller_and_the_first_one_wins() {
        let named = |mut v: Value, name: &str| {
            v["metadata"]["name"] = json!(name);
            v
        };
        // Two HPAs for one Deployment: Git's comes before the live one.
        let in_git = named(hpa("shop", "apps/v1", "Deployment", "web"), "in-git");
        let live = named(hpa("shop", "apps/v1", "Deployment", "web"), "live-only");
        let fields = controlled_fields(&[web(), in_git], [&live]);
        let names: Vec<&str> = fields.iter().map(|f| f.controller.name.as_str()).collect();
        assert_eq!(names, ["in-git"]);
        // Many workloads, each scaled by the HPA of its name, one without.
        let mut objects = Vec::new();
        for i in 0..50 {
            objects.push(named(web(), &format!("web-{i}")));
            if i != 7 {
                objects.push(named(
                    hpa("shop", "apps/v1", "Deployment", &format!("web-{i}")),
                    &format!("hpa-{i}"),
                ));
            }
        }
        let fields = controlled_fields(&objects, []);
        assert_eq!(fields.len(), 49);
        for f in &fields {
            assert_eq!(
                f.controller.name,
                f.object.name.replace("web-", "hpa-"),
                "{f}"
            );
            assert_ne!(f.object.name, "web-7");
        }
    }

    #[test]
    fn only_a_matching_target_in_the_same_namespace_counts() {
        for other in [
            hpa("other", "apps/v1", "Deployment", "web"),
            hpa("shop", "apps/v1", "StatefulSet", "web"),
            hpa("shop", "apps/v1", "Deployment", "api"),
            hpa("shop", "example.com/v1", "Deployment", "web"),
        ] {
            assert!(controlled_fields(&[web()], [&other]).is_empty(), "{other}");
        }
        // A live HPA that Git does not hold counts too.
        let live = hpa("shop", "apps/v1", "Deployment", "web");
        assert_eq!(controlled_fields(&[web()], [&live]).len(), 1);
        // A workload that does not set replicas has nothing to skip.
        let mut no_replicas = web();
        no_replicas["spec"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
        assert!(controlled_fields(&[no_replicas], [&live]).is_empty());
    }

    #[test]
    fn live_hpas_are_read_only_for_existing_workloads_git_does_not_scale() {
        let all = |_: &ObjectKey| true;
        let mut api = web();
        api["metadata"]["name"] = json!("api");
        let mut other = web();
        other["metadata"]["namespace"] = json!("other");
        let reads = live_controller_reads(&[web(), api.clone(), other], all);
        assert_eq!(
            reads,
            [ControllerRead {
                api_version: "autoscaling/v2",
                kind: "HorizontalPodAutoscaler",
                plural: "horizontalpodautoscalers",
                namespaces: ["other".to_string(), "shop".to_string()].into(),
            }]
        );
        // Nothing to read: no workload, a workload not live yet, one that
        // sets no replicas, one whose HPA is in Git.
        assert!(live_controller_reads(&[], all).is_empty());
        assert!(live_controller_reads(&[web()], |_| false).is_empty());
        let mut no_replicas = web();
        no_replicas["spec"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
        assert!(live_controller_reads(&[no_replicas], all).is_empty());
        let in_git = [web(), hpa("shop", "apps/v1", "Deployment", "web")];
        assert!(live_controller_reads(&in_git, all).is_empty());
        // The HPA in Git scales web, not api: api's namespace is read.
        let in_git = [web(), api, hpa("shop", "apps/v1", "Deployment", "web")];
        let reads = live_controller_reads(&in_git, all);
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].namespaces, ["shop".to_string()].into());
    }

    #[test]
    fn an_existing_target_keeps_its_live_replicas() {
        let objects = [web(), hpa("shop", "apps/v1", "Deployment", "web")];
        let fields = controlled_fields(&objects, []);
        let mut live = web();
        live["spec"]["replicas"] = json!(7);
        live["metadata"]["managedFields"] = json!([
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}]);
        // Flotilla still owns replicas: the live value, so the apply changes
        // nothing (leaving it out would reset it to 1).
        assert_eq!(apply_body(&web(), &live, &fields)["spec"]["replicas"], 7);
        // No managedFields (a folder): the live value too.
        let mut folder = web();
        folder["spec"]["replicas"] = json!(4);
        assert_eq!(apply_body(&web(), &folder, &fields)["spec"]["replicas"], 4);
        // The HPA controller scaled it through /scale: left out.
        live["metadata"]["managedFields"] = json!([
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:template": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}, "subresource": "scale"}]);
        let body = apply_body(&web(), &live, &fields);
        assert_eq!(body["spec"], json!({"template": {}}));
        // Objects no controller owns a field of are applied as they are.
        assert_eq!(apply_body(&objects[1], &objects[1], &fields), objects[1]);
    }
}
