//! Watch-fed caches of live objects, for long-running engines: one
//! reflector (watch + local store) per kind and label selector: filtered by
//! Flotilla's ownership label, or (the HPAs any tool made) unfiltered. Once a store has its initial list, reading live state
//! costs no request at all; the watch keeps it current.
//!
//! Objects are lent, not copied: each cached object is turned into JSON once
//! per resourceVersion and handed out as an `Arc`, so a check of an
//! unchanged cluster clones no object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

/// The JSON form of each cached object, by (namespace, name), with the
/// resourceVersion it was made from.
type Lent = HashMap<(String, String), (String, Arc<Value>)>;

/// One store per (apiVersion, kind, label selector), each fed by its own
/// watch task.
#[derive(Default)]
pub(crate) struct WatchCache {
    kinds: HashMap<(String, String, String), Kind>,
}

struct Kind {
    store: Store<DynamicObject>,
    task: tokio::task::JoinHandle<()>,
    lent: Lent,
}

impl WatchCache {
    /// The cached objects of a kind, starting its watch on first use. `None`
    /// when the store has not finished its initial list within `wait` (the
    /// caller then lists directly).
    pub(crate) async fn list(
        &mut self,
        client: &Client,
        resource: &ApiResource,
        selector: &str,
        wait: Duration,
    ) -> Option<Vec<Arc<Value>>> {
        let key = (
            resource.api_version.clone(),
            resource.kind.clone(),
            selector.to_string(),
        );
        let kind = self.kinds.entry(key).or_insert_with(|| {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
            let writer = reflector::store::Writer::new(resource.clone());
            let store = writer.as_reader();
            let mut config = watcher::Config::default();
            if !selector.is_empty() {
                config = config.labels(selector);
            }
            let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
            let kind = resource.kind.clone();
            let task = tokio::spawn(async move {
                futures::pin_mut!(stream);
                while let Some(event) = stream.next().await {
                    if let Err(e) = event {
                        tracing::debug!(%kind, error = %flotilla_redact::scrub_any(&e.to_string()), "watch error; retrying with backoff");
                    }
                }
            });
            Kind {
                store,
                task,
                lent: Lent::new(),
            }
        });
        match tokio::time::timeout(wait, kind.store.wait_until_ready()).await {
            Ok(Ok(())) => {}
            _ => return None,
        }
        // Reuse the JSON of every object whose resourceVersion is unchanged;
        // forget objects that left the store.
        let state = kind.store.state();
        let mut lent = Lent::with_capacity(state.len());
        let mut out = Vec::with_capacity(state.len());
        for object in state {
            let id = (
                object.metadata.namespace.clone().unwrap_or_default(),
                object.metadata.name.clone().unwrap_or_default(),
            );
            let version = object.metadata.resource_version.clone().unwrap_or_default();
            let value = match kind.lent.remove(&id) {
                Some((v, value)) if v == version && !version.is_empty() => value,
                _ => Arc::new(super::ops::to_value(&object, resource)),
            };
            out.push(Arc::clone(&value));
            lent.insert(id, (version, value));
        }
        kind.lent = lent;
        Some(out)
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        for kind in self.kinds.values() {
            kind.task.abort();
        }
    }
}
