//! Object storage: every object by group/resource/namespace/name, the global
//! resourceVersion counter, and the event history watches replay from.
//!
//! Every committed change bumps the counter by one and produces exactly one
//! event, so a resourceVersion is also a position in the event history.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::meta::set_meta;

/// Where an object lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectKey {
    pub group: String,
    pub resource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

/// Watch event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One committed change.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub group: String,
    pub resource: String,
    pub namespace: String,
    /// The object after the change (for DELETED: its last state, with the
    /// deletion's resourceVersion).
    pub object: Value,
    /// The object before the change.
    pub prev: Option<Value>,
}

/// The first resourceVersion handed out. Never `0`, which means "any" in
/// list and watch requests.
const FIRST_RV: u64 = 1000;

/// The object store.
pub(crate) struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Events at or below this resourceVersion may be missing from history.
    compacted: u64,
    sender: broadcast::Sender<Arc<Event>>,
    /// Commits since the last counter reset.
    commits: u64,
    /// Fault injection: changes made while set reach no watch (a lost
    /// event); the objects change as usual.
    events_dropped: bool,
}

impl Store {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(16_384);
        Store {
            objects: BTreeMap::new(),
            rv: FIRST_RV,
            history: VecDeque::new(),
            history_limit: 10_000,
            compacted: FIRST_RV,
            sender,
            commits: 0,
            events_dropped: false,
        }
    }

    /// The latest resourceVersion.
    pub(crate) fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Committed changes since the last [`Store::reset_commits`].
    pub(crate) fn commits(&self) -> u64 {
        self.commits
    }

    pub(crate) fn reset_commits(&mut self) {
        self.commits = 0;
    }

    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of group/resource, optionally in one namespace, in key order.
    pub(crate) fn list(&self, group: &str, resource: &str, namespace: Option<&str>) -> Vec<&Value> {
        let start = ObjectKey {
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.unwrap_or("").into(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(|(k, _)| {
                k.group == group
                    && k.resource == resource
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(_, v)| v)
            .collect()
    }

    /// Keys of every object in `namespace` (any resource).
    pub(crate) fn keys_in_namespace(&self, namespace: &str) -> Vec<ObjectKey> {
        self.objects
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect()
    }

    /// Keys of every object of group/resource.
    pub(crate) fn keys_of(&self, group: &str, resource: &str) -> Vec<ObjectKey> {
        self.objects
            .keys()
            .filter(|k| k.group == group && k.resource == resource)
            .cloned()
            .collect()
    }

    fn record(&mut self, event: Event) {
        if self.events_dropped {
            self.commits += 1;
            return;
        }
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        // Bounded: trims at most the overflow.
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
        self.commits += 1;
        let _ = self.sender.send(event);
    }

    /// Stores `obj` under `key` with a new resourceVersion, emitting ADDED or
    /// MODIFIED. Returns the stored object.
    pub(crate) fn put(&mut self, key: ObjectKey, mut obj: Value) -> Value {
        self.rv += 1;
        set_meta(
            &mut obj,
            "resourceVersion",
            Some(json!(self.rv.to_string())),
        );
        let prev = self.objects.insert(key.clone(), obj.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Event {
            rv: self.rv,
            kind,
            group: key.group,
            resource: key.resource,
            namespace: key.namespace,
            object: obj.clone(),
            prev,
        });
        obj
    }

    /// Removes the object at `key`, emitting DELETED with `last` (the
    /// object's final state) stamped with the deletion's resourceVersion.
    pub(crate) fn remove(&mut self, key: &ObjectKey, mut last: Value) -> Option<Value> {
        let prev = self.objects.remove(key)?;
        self.rv += 1;
        set_meta(
            &mut last,
            "resourceVersion",
            Some(json!(self.rv.to_string())),
        );
        self.record(Event {
            rv: self.rv,
            kind: EventType::Deleted,
            group: key.group.clone(),
            resource: key.resource.clone(),
            namespace: key.namespace.clone(),
            object: last.clone(),
            prev: Some(prev),
        });
        Some(last)
    }

    /// Whether changes reach watches (see `events_dropped`).
    pub(crate) fn set_events_dropped(&mut self, dropped: bool) {
        self.events_dropped = dropped;
    }

    /// A receiver of every future event.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Events after `rv`, or `None` if history no longer reaches back to it.
    pub(crate) fn events_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv < self.compacted {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    /// The oldest resourceVersion a watch can still start from.
    pub(crate) fn compacted_rv(&self) -> u64 {
        self.compacted
    }

    /// Forgets all history (watches from any older resourceVersion get 410).
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Sets how many events history keeps.
    pub(crate) fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit.max(1);
        while self.history.len() > self.history_limit {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            resource: "configmaps".into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn put_list_remove_and_history() {
        let mut s = Store::new();
        let start = s.current_rv();
        s.put(key("a", "x"), json!({"metadata": {"name": "x"}}));
        s.put(key("b", "y"), json!({"metadata": {"name": "y"}}));
        assert_eq!(s.list("", "configmaps", None).len(), 2);
        assert_eq!(s.list("", "configmaps", Some("a")).len(), 1);
        let last = s
            .remove(&key("a", "x"), json!({"metadata": {"name": "x"}}))
            .unwrap();
        assert_eq!(last["metadata"]["resourceVersion"], (start + 3).to_string());
        let evs = s.events_since(start).unwrap();
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[2].kind, EventType::Deleted);
        s.compact();
        assert!(s.events_since(start).is_none());
        assert!(s.events_since(s.current_rv()).unwrap().is_empty());
    }
}
