//! Watch-fed caches of live objects, for long-running engines: one watch
//! per kind and label selector: filtered by Flotilla's ownership label, or
//! (the HPAs any tool made) unfiltered. Once a kind has its initial list,
//! reading live state costs no request at all; the watch keeps it current.
//!
//! Each cached object is kept once, in a compact form: its JSON text (made
//! when its watch event arrives; the decoded object is dropped), LZ4-packed
//! against a dictionary per kind ([`Objects`]), and two fingerprints,
//! decoded only when a caller reads it (and then only the objects it asks
//! for). A `serde_json::Value` costs several times its JSON size; the
//! packed text a fraction of it.
//!
//! Changes are tracked for event-driven drift ([`Tracker`]): a watch event
//! that changes an object's content (anything but `status`, the
//! resourceVersion and managedFields' timestamps) marks its key changed, a
//! status-only change marks the health stale, and a relist marks the keys
//! whose content differs from what was cached. A notification wakes whoever
//! waits on [`Tracker::notify`].

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use serde_json::Value;

use super::watch::Seen;

use flotilla_core::model::{ObjectKey, group_of};

/// One cached object: its JSON text, packed, and fingerprints.
pub(crate) struct Cached {
    /// The object as compact JSON (with apiVersion and kind), LZ4-compressed
    /// against its kind's dictionary ([`Objects::dict`]), its length first.
    packed: Box<[u8]>,
    /// Hash of everything but `status`, `metadata.resourceVersion` and
    /// the timestamps of `metadata.managedFields`.
    content: u64,
    /// Hash of `status`.
    status: u64,
}

/// The most of one object's JSON a kind's dictionary holds.
const DICT_MAX: usize = 4 * 1024;

impl Cached {
    /// The object's compact JSON and fingerprints (not packed yet).
    fn of(object: &DynamicObject, resource: &ApiResource) -> (String, u64, u64) {
        let value = super::ops::to_value(object, resource);
        let json = serde_json::to_string(&value).unwrap_or_default();
        let status = hash_of(value.get("status").unwrap_or(&Value::Null));
        let mut rest = value;
        if let Some(o) = rest.as_object_mut() {
            o.remove("status");
        }
        if let Some(meta) = rest.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            if let Some(fields) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
                for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                    f.remove("time");
                }
            }
        }
        (json, hash_of(&rest), status)
    }

    /// Packs an object's JSON against its kind's dictionary.
    fn pack((json, content, status): (String, u64, u64), dict: &[u8]) -> Cached {
        let packed = lz4_flex::block::compress_prepend_size_with_dict(json.as_bytes(), dict)
            .into_boxed_slice();
        Cached {
            packed,
            content,
            status,
        }
    }

    /// The object, decoded (`dict`: its kind's dictionary).
    fn decode(&self, dict: &[u8]) -> Value {
        lz4_flex::block::decompress_size_prepended_with_dict(&self.packed, dict)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or(Value::Null)
    }
}

fn hash_of(v: &Value) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(v).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Where a cached object is: its namespace (empty for a cluster-scoped
/// object) and name, in one allocation (`<namespace>/<name>`; neither may
/// hold a `/`).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Id(Box<str>);

impl Id {
    fn new(namespace: &str, name: &str) -> Id {
        let mut s = String::with_capacity(namespace.len() + 1 + name.len());
        s.push_str(namespace);
        s.push('/');
        s.push_str(name);
        Id(s.into_boxed_str())
    }

    /// (namespace, name).
    fn parts(&self) -> (&str, &str) {
        self.0.split_once('/').unwrap_or(("", &self.0))
    }
}

/// The cached objects of one kind, by where they are.
///
/// Each is kept LZ4-compressed against a dictionary: the JSON of the first
/// object the kind's watch saw (at most [`DICT_MAX`] bytes), kept for the
/// cache's life. Objects of one kind share most of their text (field
/// names, labels, `managedFields`), so each costs a fraction of its JSON;
/// packing and unpacking cost microseconds.
#[derive(Default)]
struct Objects {
    dict: Arc<[u8]>,
    map: HashMap<Id, Arc<Cached>>,
}

impl Objects {
    /// The kind's dictionary, made from `json` (the first object seen)
    /// when there is none yet.
    fn dict_for(&mut self, json: &str) -> Arc<[u8]> {
        if self.dict.is_empty() {
            let end = json.len().min(DICT_MAX);
            self.dict = Arc::from(&json.as_bytes()[..end]);
        }
        Arc::clone(&self.dict)
    }
}

/// What changed since the last [`Tracker::take`].
#[derive(Default)]
struct Pending {
    /// Objects whose content changed (or that came or went).
    keys: BTreeSet<ObjectKey>,
    /// Some object's status changed.
    status: bool,
    /// Changes may have been missed: compare everything.
    everything: bool,
}

/// The changes every watch of one cache saw, and who to wake.
pub(crate) struct Tracker {
    pending: Mutex<Pending>,
    notify: Arc<tokio::sync::Notify>,
}

impl Default for Tracker {
    /// A new cache has seen nothing yet: its first answer is everything,
    /// and whoever waits for changes is woken at once to ask.
    fn default() -> Self {
        let notify = Arc::new(tokio::sync::Notify::new());
        notify.notify_one();
        Tracker {
            pending: Mutex::new(Pending {
                everything: true,
                ..Pending::default()
            }),
            notify,
        }
    }
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self, key: ObjectKey) {
        self.lock().keys.insert(key);
        self.notify.notify_one();
    }

    fn status_changed(&self) {
        let mut p = self.lock();
        if !p.status {
            p.status = true;
            drop(p);
            self.notify.notify_one();
        }
    }

    fn everything(&self) {
        self.lock().everything = true;
        self.notify.notify_one();
    }

    /// The changes since the last call: `None` when everything must be
    /// compared, else the changed keys and whether a status changed.
    pub(crate) fn take(&self) -> Option<(BTreeSet<ObjectKey>, bool)> {
        let p = std::mem::take(&mut *self.lock());
        (!p.everything).then_some((p.keys, p.status))
    }

    /// Woken (once per burst, a permit kept if nobody waits) when a change
    /// is recorded.
    pub(crate) fn notify(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.notify)
    }
}

/// One cache per (apiVersion, kind, label selector), each fed by its own
/// watch task.
#[derive(Default)]
pub(crate) struct WatchCache {
    kinds: HashMap<(String, String, String), Kind>,
    tracker: Arc<Tracker>,
}

struct Kind {
    objects: Arc<Mutex<Objects>>,
    ready: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
    /// What the watch was started with, to start it again ([`WatchCache::relist`]).
    api: Api<DynamicObject>,
    resource: ApiResource,
    selector: String,
}

fn id(object: &DynamicObject) -> Id {
    Id::new(
        object.metadata.namespace.as_deref().unwrap_or_default(),
        object.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// Starts the watch task of one kind into `shared`. `listed_once`: whether
/// `shared` holds an earlier list, which the first list is then compared
/// with (its differences are changes).
fn spawn_watch(
    api: Api<DynamicObject>,
    resource: ApiResource,
    selector: &str,
    shared: Arc<Mutex<Objects>>,
    tracker: Arc<Tracker>,
    mut listed_once: bool,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Receiver<bool>,
) {
    let (ready_tx, ready) = tokio::sync::watch::channel(false);
    let selector = selector.to_string();
    let task = tokio::spawn(async move {
        let key_of = |id: &Id| {
            let (namespace, name) = id.parts();
            ObjectKey {
                group: group_of(&resource.api_version).to_string(),
                kind: resource.kind.clone(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            }
        };
        super::watch::run(api, &selector, |seen| match seen {
            Seen::Listed(objects) => {
                // Encoded and packed outside the lock: reads wait only for
                // the swap.
                let unpacked: Vec<_> = objects
                    .iter()
                    .map(|o| (id(o), Cached::of(o, &resource)))
                    .collect();
                drop(objects);
                let dict = {
                    let mut now = shared.lock().unwrap_or_else(|e| e.into_inner());
                    match unpacked.first() {
                        Some((_, (json, ..))) => now.dict_for(json),
                        None => Arc::clone(&now.dict),
                    }
                };
                let fresh: HashMap<Id, Arc<Cached>> = unpacked
                    .into_iter()
                    .map(|(id, u)| (id, Arc::new(Cached::pack(u, &dict))))
                    .collect();
                let mut now = shared.lock().unwrap_or_else(|e| e.into_inner());
                let old = std::mem::replace(&mut now.map, fresh);
                if listed_once {
                    // What changed while the watch was away.
                    let mut status = false;
                    for (id, c) in now.map.iter() {
                        match old.get(id) {
                            Some(o) if o.content == c.content => {
                                status |= o.status != c.status;
                            }
                            _ => tracker.changed(key_of(id)),
                        }
                    }
                    for id in old.keys().filter(|id| !now.map.contains_key(*id)) {
                        tracker.changed(key_of(id));
                    }
                    if status {
                        tracker.status_changed();
                    }
                }
                listed_once = true;
                let _ = ready_tx.send(true);
            }
            Seen::Applied(o) => {
                let unpacked = Cached::of(&o, &resource);
                let id = id(&o);
                let dict = shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .dict_for(&unpacked.0);
                let c = Cached::pack(unpacked, &dict);
                let (content, status) = (c.content, c.status);
                let before = shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .map
                    .insert(id.clone(), Arc::new(c));
                match before {
                    Some(b) if b.content == content => {
                        if b.status != status {
                            tracker.status_changed();
                        }
                    }
                    _ => tracker.changed(key_of(&id)),
                }
            }
            Seen::Deleted(o) => {
                let id = id(&o);
                let gone = shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .map
                    .remove(&id);
                if gone.is_some() {
                    tracker.changed(key_of(&id));
                }
            }
        })
        .await;
    });
    (task, ready)
}

impl WatchCache {
    /// The change tracker shared by every watch of this cache.
    pub(crate) fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    /// Lists every kind again (a new watch each, from a fresh LIST): what
    /// differs from the cache is recorded as changed, so a change whose
    /// watch event was lost is found. Reads wait for the new lists.
    pub(crate) fn relist(&mut self) {
        for kind in self.kinds.values_mut() {
            kind.task.abort();
            let (task, ready) = spawn_watch(
                kind.api.clone(),
                kind.resource.clone(),
                &kind.selector,
                Arc::clone(&kind.objects),
                Arc::clone(&self.tracker),
                true,
            );
            kind.task = task;
            kind.ready = ready;
        }
    }

    /// The cached objects of a kind for which `keep(namespace, name)` holds,
    /// decoded, starting its watch on first use. `None` when the kind has
    /// not finished its initial list within `wait` (the caller then lists
    /// directly, and changes of this kind may go unseen: the next
    /// [`Tracker::take`] asks for everything).
    pub(crate) async fn list(
        &mut self,
        client: &Client,
        resource: &ApiResource,
        selector: &str,
        wait: Duration,
        keep: impl Fn(&str, &str) -> bool,
    ) -> Option<Vec<Arc<Value>>> {
        let key = (
            resource.api_version.clone(),
            resource.kind.clone(),
            selector.to_string(),
        );
        let tracker = Arc::clone(&self.tracker);
        let kind = self.kinds.entry(key).or_insert_with(|| {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
            let objects = Arc::new(Mutex::new(Objects::default()));
            let (task, ready) = spawn_watch(
                api.clone(),
                resource.clone(),
                selector,
                Arc::clone(&objects),
                tracker,
                false,
            );
            Kind {
                objects,
                ready,
                task,
                api,
                resource: resource.clone(),
                selector: selector.to_string(),
            }
        });
        let mut ready = kind.ready.clone();
        match tokio::time::timeout(wait, ready.wait_for(|r| *r)).await {
            Ok(Ok(_)) => {}
            _ => {
                self.tracker.everything();
                return None;
            }
        }
        let (dict, kept): (Arc<[u8]>, Vec<Arc<Cached>>) = {
            let objects = kind.objects.lock().unwrap_or_else(|e| e.into_inner());
            let kept = objects
                .map
                .iter()
                .filter(|(id, _)| {
                    let (ns, name) = id.parts();
                    keep(ns, name)
                })
                .map(|(_, c)| Arc::clone(c))
                .collect();
            (Arc::clone(&objects.dict), kept)
        };
        Some(kept.iter().map(|c| Arc::new(c.decode(&dict))).collect())
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        for kind in self.kinds.values() {
            kind.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map(name: &str, data: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": name, "namespace": "shop", "resourceVersion": "7",
                "labels": {"app.kubernetes.io/managed-by": "flotilla", "tier": "web"},
                "managedFields": [{"manager": "flotilla", "operation": "Apply",
                    "apiVersion": "v1", "time": "2026-11-30T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:mode": {}}, "f:metadata": {"f:labels": {
                        "f:app.kubernetes.io/managed-by": {}, "f:tier": {}}}}}]
            },
            "data": {"mode": data}
        }))
        .unwrap()
    }

    #[test]
    fn objects_read_back_whole_and_cost_less_than_their_json() {
        let resource = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let mut objects = Objects::default();
        let mut json_bytes = 0;
        let mut packed_bytes = 0;
        for i in 0..50 {
            let o = config_map(&format!("settings-{i}"), &"x".repeat(i));
            let unpacked = Cached::of(&o, &resource);
            json_bytes += unpacked.0.len();
            let dict = objects.dict_for(&unpacked.0);
            let c = Cached::pack(unpacked, &dict);
            packed_bytes += c.packed.len();
            let back = c.decode(&objects.dict);
            assert_eq!(back, super::super::ops::to_value(&o, &resource));
            objects.map.insert(id(&o), Arc::new(c));
        }
        // Similar objects share most of their text with the dictionary.
        assert!(
            packed_bytes * 3 < json_bytes,
            "{packed_bytes} packed of {json_bytes} bytes"
        );
        // The object the dictionary came from may go; the others still read.
        objects.map.remove(&Id::new("shop", "settings-0"));
        let c = &objects.map[&Id::new("shop", "settings-49")];
        assert_eq!(
            c.decode(&objects.dict)["data"]["mode"],
            json!("x".repeat(49))
        );
    }
}
