//! CustomResourceDefinitions: registering their kinds when they become
//! Established, the status the apiextensions controllers would write
//! (`NamesAccepted`, `Established`, `acceptedNames`, `storedVersions`), and
//! deleting their custom resources when the CRD goes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::managed_fields;
use crate::meta::{get_path, normalize_order, now_rfc3339, set_meta};
use crate::registry::ResourceKind;
use crate::state::State;
use crate::store::ObjectKey;
use crate::writes::Followup;

pub(crate) fn crd_key(name: &str) -> ObjectKey {
    ObjectKey {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
        namespace: String::new(),
        name: name.into(),
    }
}

/// The kinds a CRD serves: one per served version.
pub(crate) fn crd_kinds(crd: &Value) -> Vec<ResourceKind> {
    let s = |p: &[&str]| {
        get_path(crd, p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let strings = |p: &[&str]| -> Vec<String> {
        get_path(crd, p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = s(&["spec", "group"]);
    let kind = s(&["spec", "names", "kind"]);
    let plural = s(&["spec", "names", "plural"]);
    let mut singular = s(&["spec", "names", "singular"]);
    if singular.is_empty() {
        singular = kind.to_lowercase();
    }
    let namespaced = s(&["spec", "scope"]) == "Namespaced";
    let versions = get_path(crd, &["spec", "versions"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served") == Some(&json!(true)))
        .map(|v| ResourceKind {
            group: group.clone(),
            version: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: strings(&["spec", "names", "shortNames"]),
            categories: strings(&["spec", "names", "categories"]),
            status_subresource: get_path(v, &["subresources", "status"]).is_some(),
            tracks_generation: true,
            custom: true,
            return_deleted_object: false,
        })
        .collect()
}

fn condition(
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    prev: Option<&Value>,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    // Keep the transition time when the condition's status did not change.
    let since = prev
        .and_then(|p| p.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.get("type") == Some(&json!(kind)) && c.get("status") == Some(&json!(status))
            })
        })
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    json!({
        "type": kind,
        "status": status,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    })
}

impl State {
    /// Whether another CRD or a built-in already serves the CRD's plural or
    /// kind in its group. Returns the conflicting reason and name.
    fn crd_names_conflict(&self, name: &str, crd: &Value) -> Option<(&'static str, String)> {
        let s = |p: &[&str]| {
            get_path(crd, p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let group = s(&["spec", "group"]);
        let plural = s(&["spec", "names", "plural"]);
        let kind = s(&["spec", "names", "kind"]);
        for k in self.registry.kinds() {
            if k.group != group {
                continue;
            }
            if self.registry.owner_of(&k.group, &k.plural) == Some(name) {
                continue;
            }
            if k.plural == plural {
                return Some(("PluralConflict", plural));
            }
            if k.kind == kind {
                return Some(("KindConflict", kind));
            }
        }
        None
    }

    /// Writes `status` on the CRD as the apiextensions controllers would (an
    /// `Update` by `kube-apiserver` on the status subresource).
    fn write_crd_status(&mut self, name: &str, status: Value) {
        let key = crd_key(name);
        let Some(old) = self.store.get(&key).cloned() else {
            return;
        };
        if old.get("status") == Some(&status) {
            return;
        }
        let mut new = old.clone();
        new["status"] = status;
        let entries = managed_fields::decode(&old).unwrap_or_default();
        let entries = managed_fields::track_update(
            &old,
            &new,
            entries,
            "kube-apiserver",
            "apiextensions.k8s.io/v1",
            "status",
            &now_rfc3339(),
            crate::schema::builtin_schema("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        );
        set_meta(
            &mut new,
            "managedFields",
            (!entries.is_empty()).then(|| managed_fields::encode(&entries)),
        );
        normalize_order(&mut new);
        self.store.put(key, new);
    }

    fn crd_status(
        &self,
        crd: &Value,
        accepted: Result<(), (&str, String)>,
        established: bool,
    ) -> Value {
        let now = now_rfc3339();
        let prev = crd.get("status");
        let names = get_path(crd, &["spec", "names"])
            .cloned()
            .unwrap_or(json!({}));
        let mut stored: Vec<Value> = prev
            .and_then(|p| p.get("storedVersions"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(vs) = get_path(crd, &["spec", "versions"]).and_then(Value::as_array) {
            for v in vs {
                if v.get("storage") == Some(&json!(true))
                    && let Some(n) = v.get("name")
                    && !stored.contains(n)
                {
                    stored.push(n.clone());
                }
            }
        }
        let (names_cond, est_cond) = match &accepted {
            Ok(()) => (
                condition(
                    "NamesAccepted",
                    true,
                    "NoConflicts",
                    "no conflicts found",
                    prev,
                    &now,
                ),
                if established {
                    condition(
                        "Established",
                        true,
                        "InitialNamesAccepted",
                        "the initial names have been accepted",
                        prev,
                        &now,
                    )
                } else {
                    condition(
                        "Established",
                        false,
                        "Installing",
                        "the initial names have been accepted",
                        prev,
                        &now,
                    )
                },
            ),
            Err((reason, what)) => (
                condition(
                    "NamesAccepted",
                    false,
                    reason,
                    &format!("{what:?} is already in use"),
                    prev,
                    &now,
                ),
                condition(
                    "Established",
                    false,
                    "NotAccepted",
                    "not all names are accepted",
                    prev,
                    &now,
                ),
            ),
        };
        let accepted_names = if accepted.is_ok() {
            names
        } else {
            prev.and_then(|p| p.get("acceptedNames"))
                .cloned()
                .unwrap_or(json!({"plural": "", "kind": ""}))
        };
        json!({
            "conditions": [names_cond, est_cond],
            "acceptedNames": accepted_names,
            "storedVersions": stored,
        })
    }

    fn is_established(crd: &Value) -> bool {
        get_path(crd, &["status", "conditions"])
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("type") == Some(&json!("Established"))
                        && c.get("status") == Some(&json!("True"))
                })
            })
    }

    fn register_crd(&mut self, name: &str, crd: &Value) {
        self.registry.unregister_crd(name);
        for k in crd_kinds(crd) {
            self.registry.register(k, Some(name.to_string()));
        }
    }

    /// After a CRD is created or changed: accept names, establish (now or
    /// after the configured delay) and (re-)register its kinds.
    pub(crate) fn crd_after_write(&mut self, name: &str) -> Vec<Followup> {
        let Some(crd) = self.store.get(&crd_key(name)).cloned() else {
            return vec![];
        };
        if let Some(conflict) = self.crd_names_conflict(name, &crd) {
            let status = self.crd_status(&crd, Err(conflict), false);
            self.write_crd_status(name, status);
            return vec![];
        }
        let delay = self.settings.crd_establish_delay;
        if Self::is_established(&crd) || delay.is_zero() {
            self.register_crd(name, &crd);
            let status = self.crd_status(&crd, Ok(()), true);
            self.write_crd_status(name, status);
            return vec![];
        }
        let status = self.crd_status(&crd, Ok(()), false);
        self.write_crd_status(name, status);
        vec![Followup::EstablishCrd {
            name: name.to_string(),
            delay,
        }]
    }

    /// Establishes a CRD whose delay has passed (no-op if it is gone, already
    /// established or its names are not accepted).
    pub(crate) fn establish_crd(&mut self, name: &str) {
        let Some(crd) = self.store.get(&crd_key(name)).cloned() else {
            return;
        };
        if Self::is_established(&crd) || self.crd_names_conflict(name, &crd).is_some() {
            return;
        }
        self.register_crd(name, &crd);
        let status = self.crd_status(&crd, Ok(()), true);
        self.write_crd_status(name, status);
    }

    /// Before a CRD is removed: delete its custom resources and stop serving
    /// its kinds.
    pub(crate) fn crd_before_delete(&mut self, name: &str) {
        let Some(crd) = self.store.get(&crd_key(name)).cloned() else {
            return;
        };
        let group = get_path(&crd, &["spec", "group"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let plural = get_path(&crd, &["spec", "names", "plural"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if self.registry.owner_of(&group, &plural) == Some(name) {
            for k in self.store.keys_of(&group, &plural) {
                if let Some(obj) = self.store.get(&k).cloned() {
                    self.store.remove(&k, obj);
                }
            }
        }
        self.registry.unregister_crd(name);
    }
}

/// How long a followup waits; exposed for the server's timer tasks.
pub(crate) fn followup_delay(f: &Followup) -> Duration {
    match f {
        Followup::EstablishCrd { delay, .. } | Followup::FinalizeNamespace { delay, .. } => *delay,
    }
}
