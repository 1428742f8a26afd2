//! The server's mutable state behind one lock: served kinds, stored objects
//! and the tunables tests can change at run time.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::defaults::Allocator;
use crate::meta::{now_rfc3339, set_meta};
use crate::registry::{Registry, ResourceKind};
use crate::store::{ObjectKey, Store};

/// Default of [`Settings::namespace_finalize_delay`]: the real namespace
/// controller takes a second or more to empty a namespace.
pub(crate) const DEFAULT_NAMESPACE_FINALIZE_DELAY: Duration = Duration::from_millis(1500);

/// Run-time tunables.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// How long after creation a CRD becomes Established (and served).
    pub crd_establish_delay: Duration,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// How long a deleted Namespace stays `Terminating` before the
    /// namespace controller has emptied and removed it.
    pub namespace_finalize_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            crd_establish_delay: Duration::ZERO,
            bookmark_interval: Duration::from_secs(5),
            namespace_finalize_delay: DEFAULT_NAMESPACE_FINALIZE_DELAY,
        }
    }
}

/// Registry + store + settings.
pub(crate) struct State {
    pub registry: Registry,
    pub store: Store,
    pub settings: Settings,
    /// Objects whose stored form differs invisibly from what a write would
    /// store again: their next write is not a no-op (see `writes.rs`).
    pub invisible_change: std::collections::HashSet<crate::store::ObjectKey>,
    next_ip: u32,
    next_node_port: u32,
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
            invisible_change: Default::default(),
            next_ip: 1,
            next_node_port: 0,
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

    /// Node ports in use by stored Services (ports and health checks).
    pub(crate) fn used_node_ports(&self) -> BTreeSet<i64> {
        let mut used = BTreeSet::new();
        for svc in self.store.list("", "services", None) {
            if let Some(ports) = svc.pointer("/spec/ports").and_then(Value::as_array) {
                used.extend(ports.iter().filter_map(|p| p["nodePort"].as_i64()));
            }
            if let Some(hc) = svc
                .pointer("/spec/healthCheckNodePort")
                .and_then(Value::as_i64)
            {
                used.insert(hc);
            }
        }
        used.remove(&0);
        used
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

/// The node port range (`--service-node-port-range` default) and the size of
/// its static band: dynamic allocation starts above it, as the real
/// allocator prefers the upper band (KEP-3668).
const NODE_PORT_MIN: i64 = 30000;
const NODE_PORT_MAX: i64 = 32767;
const NODE_PORT_STATIC_BAND: i64 = 86;

impl Allocator for State {
    fn cluster_ip(&mut self) -> String {
        self.allocate_ip()
    }

    /// Sequential (deterministic, like cluster IPs) in the upper band, then
    /// the lower band; skips ports any Service uses.
    fn node_port(&mut self, taken: &BTreeSet<i64>) -> i64 {
        let used = self.used_node_ports();
        let upper = NODE_PORT_MAX - NODE_PORT_MIN + 1 - NODE_PORT_STATIC_BAND;
        let all = NODE_PORT_MAX - NODE_PORT_MIN + 1;
        for _ in 0..all {
            let n = i64::from(self.next_node_port) % all;
            self.next_node_port = self.next_node_port.wrapping_add(1);
            let port = if n < upper {
                NODE_PORT_MIN + NODE_PORT_STATIC_BAND + n
            } else {
                NODE_PORT_MIN + (n - upper)
            };
            if !used.contains(&port) && !taken.contains(&port) {
                return port;
            }
        }
        // Range full: the real server fails the write; reuse is the
        // least surprising fallback for a test server.
        NODE_PORT_MIN + NODE_PORT_STATIC_BAND
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
