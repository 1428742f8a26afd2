//! The server's mutable state behind one lock: served kinds, stored objects
//! and the tunables tests can change at run time.

use std::time::Duration;

use serde_json::{Value, json};

use crate::meta::{now_rfc3339, set_meta};
use crate::registry::{Registry, ResourceKind};
use crate::store::{ObjectKey, Store};

/// Run-time tunables.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// How long after creation a CRD becomes Established (and served).
    pub crd_establish_delay: Duration,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            crd_establish_delay: Duration::ZERO,
            bookmark_interval: Duration::from_secs(5),
        }
    }
}

/// Registry + store + settings.
pub(crate) struct State {
    pub registry: Registry,
    pub store: Store,
    pub settings: Settings,
    next_ip: u32,
}

/// Namespaces a fresh cluster has.
pub(crate) const INITIAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

impl State {
    /// Built-in kinds and the initial namespaces.
    pub(crate) fn new() -> Self {
        let mut s = State {
            registry: Registry::with_builtins(),
            store: Store::new(),
            settings: Settings::default(),
            next_ip: 1,
        };
        for ns in INITIAL_NAMESPACES {
            let now = now_rfc3339();
            let mut obj = json!({
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "name": ns,
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            set_meta(&mut obj, "uid", Some(json!(crate::meta::new_uid())));
            set_meta(&mut obj, "creationTimestamp", Some(json!(now)));
            crate::meta::normalize_order(&mut obj);
            s.store.put(Self::namespace_key(ns), obj);
        }
        s.store.reset_commits();
        s
    }

    /// The key of Namespace `name`.
    pub(crate) fn namespace_key(name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            resource: "namespaces".into(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    /// Whether Namespace `name` exists.
    pub(crate) fn namespace_exists(&self, name: &str) -> bool {
        self.store.get(&Self::namespace_key(name)).is_some()
    }

    /// Allocates the next Service cluster IP (10.96.0.0/12).
    pub(crate) fn allocate_ip(&mut self) -> String {
        let n = self.next_ip;
        self.next_ip += 1;
        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }

    /// The key of an object of `kind`.
    pub(crate) fn key(kind: &ResourceKind, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: kind.group.clone(),
            resource: kind.plural.clone(),
            namespace: if kind.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// A stored object as served at `kind`'s version (conversion strategy `None`:
/// only `apiVersion` changes).
pub(crate) fn present(kind: &ResourceKind, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), json!(kind.api_version()));
        m.insert("kind".into(), json!(kind.kind));
    }
    crate::meta::normalize_order(&mut v);
    v
}
