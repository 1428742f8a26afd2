//! Watch-fed caches of live objects, for long-running engines: one
//! reflector (watch + local store) per kind, filtered by Flotilla's
//! ownership label. Once a store has its initial list, reading live state
//! costs no request at all; the watch keeps it current.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// One store per (apiVersion, kind), each fed by its own watch task.
#[derive(Default)]
pub(crate) struct WatchCache {
    kinds: HashMap<(String, String), (Store<DynamicObject>, tokio::task::JoinHandle<()>)>,
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
    ) -> Option<Vec<Arc<DynamicObject>>> {
        let key = (resource.api_version.clone(), resource.kind.clone());
        let (store, _) = self.kinds.entry(key).or_insert_with(|| {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
            let writer = reflector::store::Writer::new(resource.clone());
            let store = writer.as_reader();
            let config = watcher::Config::default().labels(selector);
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
            (store, task)
        });
        match tokio::time::timeout(wait, store.wait_until_ready()).await {
            Ok(Ok(())) => Some(store.state()),
            _ => None,
        }
    }
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        for (_, task) in self.kinds.values() {
            task.abort();
        }
    }
}
