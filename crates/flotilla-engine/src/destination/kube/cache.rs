//! Watch-fed caches of live objects, for long-running engines: one watch
//! per kind and label selector: filtered by Flotilla's ownership label, or
//! (the HPAs any tool made) unfiltered. Once a kind has its initial list,
//! reading live state costs no request at all; the watch keeps it current.
//!
//! Each cached object is kept once, as the JSON the engine compares (made
//! when its watch event arrives; the decoded object is dropped), and lent as
//! an `Arc`: a check of an unchanged cluster clones no object.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

/// Cached objects by (namespace, name).
type Objects = HashMap<(String, String), Arc<Value>>;

/// One cache per (apiVersion, kind, label selector), each fed by its own
/// watch task.
#[derive(Default)]
pub(crate) struct WatchCache {
    kinds: HashMap<(String, String, String), Kind>,
}

struct Kind {
    objects: Arc<Mutex<Objects>>,
    ready: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn id(object: &DynamicObject) -> (String, String) {
    (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

impl WatchCache {
    /// The cached objects of a kind, starting its watch on first use. `None`
    /// when the kind has not finished its initial list within `wait` (the
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
            let mut config = watcher::Config::default();
            if !selector.is_empty() {
                config = config.labels(selector);
            }
            let stream = watcher::watcher(api, config).default_backoff();
            let objects = Arc::new(Mutex::new(Objects::new()));
            let (ready_tx, ready) = tokio::sync::watch::channel(false);
            let shared = Arc::clone(&objects);
            let resource = resource.clone();
            let task = tokio::spawn(async move {
                futures::pin_mut!(stream);
                // A relist is collected apart and swapped in when complete.
                let mut relist: Option<Objects> = None;
                while let Some(event) = stream.next().await {
                    let value = |o: &DynamicObject| Arc::new(super::ops::to_value(o, &resource));
                    match event {
                        Ok(Event::Init) => relist = Some(Objects::new()),
                        Ok(Event::InitApply(o)) => {
                            relist.get_or_insert_with(Objects::new).insert(id(&o), value(&o));
                        }
                        Ok(Event::InitDone) => {
                            let fresh = relist.take().unwrap_or_default();
                            *shared.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
                            let _ = ready_tx.send(true);
                        }
                        Ok(Event::Apply(o)) => {
                            let v = value(&o);
                            shared
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(id(&o), v);
                        }
                        Ok(Event::Delete(o)) => {
                            shared
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .remove(&id(&o));
                        }
                        Err(e) => {
                            tracing::debug!(kind = %resource.kind, error = %flotilla_redact::scrub_any(&e.to_string()), "watch error; retrying with backoff");
                        }
                    }
                }
            });
            Kind {
                objects,
                ready,
                task,
            }
        });
        let mut ready = kind.ready.clone();
        match tokio::time::timeout(wait, ready.wait_for(|r| *r)).await {
            Ok(Ok(_)) => {}
            _ => return None,
        }
        let objects = kind.objects.lock().unwrap_or_else(|e| e.into_inner());
        Some(objects.values().cloned().collect())
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        for kind in self.kinds.values() {
            kind.task.abort();
        }
    }
}
