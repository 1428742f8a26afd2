//! The [`Destination`] operations on a Kubernetes cluster.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PropagationPolicy,
};
use kube::discovery::ApiResource;
use serde_json::Value;

use super::KubeDestination;
use crate::destination::{Applied, ApplyOptions, ClusterError, Destination, FIELD_MANAGER};
use flotilla_core::diff::schema::Schema;
use flotilla_core::model::ownership::{MANAGED_BY, MANAGED_BY_LABEL};
use flotilla_core::model::{Inventory, InventoryEntry};
use flotilla_core::model::{ObjectKey, group_of};

impl KubeDestination {
    fn api(&self, resource: &ApiResource, namespaced: bool, namespace: &str) -> Api<DynamicObject> {
        Self::api_of(&self.client, resource, namespaced, namespace)
    }

    /// Like `api`, through the client writes go through (see `act_as`).
    fn write_api(
        &self,
        resource: &ApiResource,
        namespaced: bool,
        namespace: &str,
    ) -> Api<DynamicObject> {
        Self::api_of(self.writer(), resource, namespaced, namespace)
    }

    fn api_of(
        client: &kube::Client,
        resource: &ApiResource,
        namespaced: bool,
        namespace: &str,
    ) -> Api<DynamicObject> {
        if namespaced {
            let ns = if namespace.is_empty() {
                client.default_namespace()
            } else {
                namespace
            };
            Api::namespaced_with(client.clone(), ns, resource)
        } else {
            Api::all_with(client.clone(), resource)
        }
    }
}

/// How many writes of one apply stage go to one cluster at a time.
pub const APPLY_CONCURRENCY: usize = 8;

impl KubeDestination {
    /// One server-side apply of `object` (its kind resolved). No read
    /// first: whether it was created comes from the answer (201 Created).
    async fn apply_resolved(
        &self,
        resource: &ApiResource,
        namespaced: bool,
        object: &Value,
        live: Option<&Value>,
        options: ApplyOptions,
    ) -> Result<Applied, ClusterError> {
        let kind = str_at(object, "/kind");
        let name = str_at(object, "/metadata/name");
        let namespace = str_at(object, "/metadata/namespace");
        let what = format!(
            "{kind} {}{name}",
            if namespace.is_empty() {
                String::new()
            } else {
                format!("{namespace}/")
            }
        );
        // Written as the user set by `act_as` (a tenant's service account).
        let api = self.write_api(resource, namespaced, namespace);
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if options.force_conflicts {
            params = params.force();
        }
        if options.dry_run {
            params = params.dry_run();
        }
        let patch = Patch::Apply(object);
        // The whole answer is built when it is kept, or compared with the
        // live copy in a dry run; otherwise its resourceVersion is all that
        // is read of it.
        let whole = options.keep_written || (options.dry_run && live.is_some());
        let (answer, created) = self
            .retry
            .run(|| server_side_apply(self.writer(), &api, name, &params, &patch, whole))
            .await
            .map_err(|e| {
                self.error(
                    &format!("applying {what}"),
                    ObjectKey::of(object).as_ref(),
                    e,
                )
            })?;
        let answer = match answer {
            Answer::Object(mut after) => {
                after["apiVersion"] = Value::String(resource.api_version.clone());
                after["kind"] = Value::String(resource.kind.clone());
                Answer::Object(after)
            }
            version => version,
        };
        // `live` comes from `Destination::live`, which also finds unlabelled
        // objects; without it, the answer's status tells.
        let applied = match (live, &answer) {
            _ if created => Applied::Created,
            (None, _) if options.dry_run => Applied::Created,
            (None, _) => Applied::Configured,
            (Some(b), Answer::Object(after)) if options.dry_run => {
                if comparable(b) == comparable(after) {
                    Applied::Unchanged
                } else {
                    Applied::Configured
                }
            }
            (Some(b), answer)
                if str_at(b, "/metadata/resourceVersion") == answer.resource_version() =>
            {
                Applied::Unchanged
            }
            (Some(_), _) => Applied::Configured,
        };
        if options.keep_written
            && !options.dry_run
            && let Answer::Object(after) = answer
            && let Some(key) = ObjectKey::of(object)
        {
            self.written
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, Arc::new(after));
        }
        Ok(applied)
    }
}

impl KubeDestination {
    /// The `i`-th write of [`Destination::apply_many`], with its index.
    async fn apply_nth(
        &self,
        i: usize,
        object: &Value,
        live: Option<&Value>,
        found: Result<(ApiResource, bool), ClusterError>,
        options: ApplyOptions,
    ) -> (usize, Result<Applied, ClusterError>) {
        let result = match found {
            Ok((resource, namespaced)) => {
                self.apply_resolved(&resource, namespaced, object, live, options)
                    .await
            }
            Err(e) => Err(e),
        };
        (i, result)
    }
}

/// The server's answer to a write: the object as stored, or only its
/// resourceVersion when nothing else of it is wanted.
enum Answer {
    Object(Value),
    Version(String),
}

impl Answer {
    fn resource_version(&self) -> &str {
        match self {
            Answer::Object(v) => str_at(v, "/metadata/resourceVersion"),
            Answer::Version(v) => v,
        }
    }
}

/// A server-side apply PATCH sent as is, answering the object (`whole`) or
/// its resourceVersion, and whether the server created it (201), which the
/// kube client's `patch` hides.
async fn server_side_apply(
    client: &kube::Client,
    api: &Api<DynamicObject>,
    name: &str,
    params: &PatchParams,
    patch: &Patch<&Value>,
    whole: bool,
) -> Result<(Answer, bool), kube::Error> {
    /// Only the resourceVersion of an answer: the rest is skipped, not built.
    #[derive(serde::Deserialize)]
    struct Stored {
        #[serde(default)]
        metadata: StoredMeta,
    }
    #[derive(Default, serde::Deserialize)]
    struct StoredMeta {
        #[serde(default, rename = "resourceVersion")]
        resource_version: String,
    }
    let request = kube::core::Request::new(api.resource_url())
        .patch(name, params, patch)
        .map_err(kube::Error::BuildRequest)?;
    let response = client.send(request.map(kube::client::Body::from)).await?;
    let status = response.status();
    let bytes = response.into_body().collect_bytes().await?;
    if status.is_client_error() || status.is_server_error() {
        let text = String::from_utf8_lossy(&bytes);
        let parsed = serde_json::from_slice::<kube::core::Status>(&bytes).unwrap_or_else(|_| {
            kube::core::Status::failure(text.trim(), "Failed to parse error data")
                .with_code(status.as_u16())
        });
        return Err(kube::Error::Api(parsed.boxed()));
    }
    let answer = if whole {
        Answer::Object(serde_json::from_slice(&bytes).map_err(kube::Error::SerdeError)?)
    } else {
        let stored: Stored = serde_json::from_slice(&bytes).map_err(kube::Error::SerdeError)?;
        Answer::Version(stored.metadata.resource_version)
    };
    Ok((answer, status == http::StatusCode::CREATED))
}

pub(super) fn to_value(object: &DynamicObject, resource: &ApiResource) -> Value {
    let mut v = serde_json::to_value(object).unwrap_or(Value::Null);
    // List items carry no apiVersion and kind; put them back.
    v["apiVersion"] = Value::String(resource.api_version.clone());
    v["kind"] = Value::String(resource.kind.clone());
    v
}

/// The object without the fields every write changes, for comparing a
/// dry-run result with the live object.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["managedFields", "resourceVersion", "generation"] {
            meta.remove(f);
        }
    }
    v
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl KubeDestination {
    /// The live copies of `owned` and `new` objects: one labelled LIST (or
    /// the watch cache) per kind, then one GET for each owned object the
    /// list did not hold (a new one is not looked for further; see
    /// [`Destination::live_of_round`]).
    async fn read_live(
        &mut self,
        owned: &[(&str, &ObjectKey)],
        new: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        // Per kind: each object, and whether a GET looks for it.
        type Wanted<'k> = HashMap<&'k ObjectKey, bool>;
        let mut by_kind: BTreeMap<(&str, &str), Wanted<'_>> = BTreeMap::new();
        for (api_version, key) in owned {
            by_kind
                .entry((api_version, key.kind.as_str()))
                .or_default()
                .insert(key, true);
        }
        for (api_version, key) in new {
            by_kind
                .entry((api_version, key.kind.as_str()))
                .or_default()
                .entry(key)
                .or_insert(false);
        }
        let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
        let mut live = HashMap::new();
        for ((api_version, kind), wanted) in by_kind {
            let (resource, namespaced) = match self
                .discovery
                .resolve(&self.client, &self.server, &self.retry, api_version, kind)
                .await
            {
                Ok(found) => found,
                // Not served yet (its CRD comes in this sync): nothing is live.
                Err(ClusterError::NotServed { .. }) => continue,
                Err(e) => return Err(e),
            };
            let cached = match &mut self.cache {
                Some(cache) => {
                    // Only objects of the wanted names are decoded (the
                    // namespace is matched below).
                    let names: HashSet<&str> = wanted.keys().map(|k| k.name.as_str()).collect();
                    let keep = |_: &str, name: &str| names.contains(name);
                    cache
                        .list(
                            &self.client,
                            &resource,
                            &selector,
                            Duration::from_secs(10),
                            keep,
                        )
                        .await
                }
                None => None,
            };
            let items: Vec<Arc<Value>> = match cached {
                Some(values) => values,
                None => {
                    let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
                    let params = ListParams::default().labels(&selector);
                    self.retry
                        .run(|| api.list(&params))
                        .await
                        .map_err(|e| self.error(&format!("listing {kind}"), None, e))?
                        .items
                        .iter()
                        .map(|o| Arc::new(to_value(o, &resource)))
                        .collect()
                }
            };
            // A namespaced object given without a namespace lives in the
            // client's default namespace.
            let default_ns = self.client.default_namespace().to_string();
            let wanted: HashMap<ObjectKey, (&ObjectKey, bool)> = wanted
                .into_iter()
                .map(|(k, get)| {
                    let mut found = k.clone();
                    if !namespaced {
                        // The server drops a stray namespace on cluster-scoped objects.
                        found.namespace.clear();
                    } else if found.namespace.is_empty() {
                        found.namespace = default_ns.clone();
                    }
                    (found, (k, get))
                })
                .collect();
            for value in items {
                let key = ObjectKey {
                    group: group_of(api_version).to_string(),
                    kind: kind.to_string(),
                    namespace: str_at(&value, "/metadata/namespace").to_string(),
                    name: str_at(&value, "/metadata/name").to_string(),
                };
                if let Some((original, _)) = wanted.get(&key) {
                    live.insert((*original).clone(), value);
                }
            }
            // Owned objects not in the labelled list may still exist (never
            // labelled yet, or the label was removed by hand): one GET each.
            for (found, (original, get)) in &wanted {
                if !get || live.contains_key(*original) {
                    continue;
                }
                let api = self.api(&resource, namespaced, &found.namespace);
                let got = self
                    .retry
                    .run(|| api.get_opt(&found.name))
                    .await
                    .map_err(|e| self.error(&format!("reading {original}"), Some(original), e))?;
                if let Some(object) = got {
                    live.insert((*original).clone(), Arc::new(to_value(&object, &resource)));
                }
            }
        }
        Ok(live)
    }
}

impl Destination for KubeDestination {
    async fn live(
        &mut self,
        objects: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        self.read_live(objects, &[]).await
    }

    async fn live_of_round(
        &mut self,
        owned: &[(&str, &ObjectKey)],
        new: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        self.read_live(owned, new).await
    }

    async fn apply(
        &mut self,
        object: &Value,
        live: Option<&Value>,
        options: ApplyOptions,
    ) -> Result<Applied, ClusterError> {
        let api_version = str_at(object, "/apiVersion");
        let kind = str_at(object, "/kind");
        let (resource, namespaced) = self
            .discovery
            .resolve(&self.client, &self.server, &self.retry, api_version, kind)
            .await?;
        self.apply_resolved(&resource, namespaced, object, live, options)
            .await
    }

    async fn apply_many(
        &mut self,
        objects: &[(&Value, Option<&Value>)],
        options: ApplyOptions,
    ) -> Vec<Result<Applied, ClusterError>> {
        use futures::StreamExt;
        // Discovery first, one object after the other (it is cached per
        // kind), then the writes, at most APPLY_CONCURRENCY at a time.
        let mut resolved = Vec::with_capacity(objects.len());
        for (object, _) in objects {
            resolved.push(
                self.discovery
                    .resolve(
                        &self.client,
                        &self.server,
                        &self.retry,
                        str_at(object, "/apiVersion"),
                        str_at(object, "/kind"),
                    )
                    .await,
            );
        }
        // Unordered, so a slow answer does not hold the next writes back
        // (in order, finished writes behind it would keep their slots);
        // the results are put back in the order given. The futures are made
        // first (not by a closure inside the stream), so the whole stays
        // `Send` for callers that spawn it.
        let this = &*self;
        let writes: Vec<_> = objects
            .iter()
            .zip(resolved)
            .enumerate()
            .map(|(i, ((object, live), found))| this.apply_nth(i, object, *live, found, options))
            .collect();
        let mut results: Vec<(usize, Result<Applied, ClusterError>)> =
            futures::stream::iter(writes)
                .buffer_unordered(APPLY_CONCURRENCY)
                .collect()
                .await;
        results.sort_unstable_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, result)| result).collect()
    }

    fn take_written(&mut self) -> HashMap<ObjectKey, Arc<Value>> {
        std::mem::take(self.written.get_mut().unwrap_or_else(|e| e.into_inner()))
    }

    async fn dry_run_apply(&mut self, object: &Value) -> Result<Option<Value>, ClusterError> {
        let api_version = str_at(object, "/apiVersion");
        let kind = str_at(object, "/kind");
        let name = str_at(object, "/metadata/name");
        let namespace = str_at(object, "/metadata/namespace");
        let (resource, namespaced) = self
            .discovery
            .resolve(&self.client, &self.server, &self.retry, api_version, kind)
            .await?;
        let api = self.write_api(&resource, namespaced, namespace);
        let params = PatchParams::apply(FIELD_MANAGER).dry_run().force();
        let patch = Patch::Apply(object);
        let after = self
            .retry
            .run(|| api.patch(name, &params, &patch))
            .await
            .map_err(|e| {
                self.error(
                    &format!("dry-run apply of {kind} {name}"),
                    ObjectKey::of(object).as_ref(),
                    e,
                )
            })?;
        Ok(Some(to_value(&after, &resource)))
    }

    async fn wait_established(
        &mut self,
        crd: &Value,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        let name = str_at(crd, "/metadata/name");
        let (resource, _) = self
            .discovery
            .resolve(
                &self.client,
                &self.server,
                &self.retry,
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
            )
            .await?;
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = self.retry.run(|| api.get(name)).await.map_err(|e| {
                self.error(&format!("reading CustomResourceDefinition {name}"), None, e)
            })?;
            let value = to_value(&current, &resource);
            let established = value
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            if established {
                // Its kinds may have been looked up (and missed) earlier.
                let kind = str_at(crd, "/spec/names/kind");
                let group = str_at(crd, "/spec/group");
                for v in crd
                    .pointer("/spec/versions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let api_version = format!("{group}/{}", str_at(v, "/name"));
                    self.discovery.forget(&api_version, kind);
                    self.schema.forget(&api_version);
                }
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: format!("CustomResourceDefinition {name} not Established"),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn delete(
        &mut self,
        entry: &InventoryEntry,
        dry_run: bool,
    ) -> Result<bool, ClusterError> {
        let (resource, namespaced) = match self
            .discovery
            .resolve(
                &self.client,
                &self.server,
                &self.retry,
                &entry.api_version,
                &entry.kind,
            )
            .await
        {
            Ok(found) => found,
            // The kind is gone (its CRD was deleted): so is the object.
            Err(ClusterError::NotServed { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let api = self.write_api(&resource, namespaced, &entry.namespace);
        let params = DeleteParams {
            dry_run,
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match self.retry.run(|| api.delete(&entry.name, &params)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(false),
            Err(e) => {
                let key = entry.key();
                Err(self.error(&format!("deleting {key}"), Some(&key), e))
            }
        }
    }

    fn act_as(&mut self, user: Option<&str>) -> Result<(), ClusterError> {
        self.set_acting(user)
    }

    async fn schema(&mut self, api_versions: &[&str]) -> std::sync::Arc<Schema> {
        self.schema
            .schema(&self.client, &self.retry, api_versions)
            .await
    }

    async fn controllers(
        &mut self,
        reads: &[flotilla_core::diff::controlled::ControllerRead],
    ) -> Result<Vec<Arc<Value>>, ClusterError> {
        self.read_controllers(reads).await
    }

    async fn serves(&mut self, api_version: &str, kind: &str) -> Result<bool, ClusterError> {
        match self
            .discovery
            .resolve(&self.client, &self.server, &self.retry, api_version, kind)
            .await
        {
            Ok(_) => Ok(true),
            Err(ClusterError::NotServed { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn read_inventory(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<Option<Inventory>, ClusterError> {
        super::inventory::read(self, fleet, cluster).await
    }

    async fn write_inventory(&mut self, inventory: &Inventory) -> Result<(), ClusterError> {
        super::inventory::write(self, inventory).await
    }

    async fn read_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<flotilla_core::plan::PruneWindow, ClusterError> {
        super::prune_window::read(self, fleet, cluster).await
    }

    async fn write_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
        window: &flotilla_core::plan::PruneWindow,
    ) -> Result<(), ClusterError> {
        super::prune_window::write(self, fleet, cluster, window).await
    }

    fn take_changes(&mut self) -> crate::destination::Changes {
        match self.cache.as_ref().and_then(|c| c.tracker().take()) {
            Some((keys, status)) => crate::destination::Changes::Only { keys, status },
            None => crate::destination::Changes::Unknown,
        }
    }

    fn refresh(&mut self) {
        if let Some(cache) = &mut self.cache {
            cache.relist();
        }
    }

    fn changes_notifier(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.cache.as_ref().map(|c| c.tracker().notify())
    }

    async fn events(
        &mut self,
        key: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<flotilla_core::agent::ObjectEvent>, ClusterError> {
        let resource = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Event".into(),
            plural: "events".into(),
        };
        let api = self.api(&resource, true, &key.namespace);
        let params = ListParams::default().fields(&format!(
            "involvedObject.kind={},involvedObject.name={}",
            key.kind, key.name
        ));
        let list = api.list(&params).await.map_err(|e| {
            ClusterError::from_kube(
                format!("reading the events of {key}"),
                Some(key.clone()),
                &self.server,
                e,
            )
        })?;
        let mut events: Vec<(String, flotilla_core::agent::ObjectEvent)> = list
            .items
            .iter()
            .map(|o| to_value(o, &resource))
            .filter(|v| {
                str_at(v, "/involvedObject/kind") == key.kind
                    && str_at(v, "/involvedObject/name") == key.name
            })
            .map(|v| {
                let last = [
                    "/lastTimestamp",
                    "/eventTime",
                    "/metadata/creationTimestamp",
                ]
                .iter()
                .map(|p| str_at(&v, p))
                .find(|t| !t.is_empty())
                .unwrap_or("")
                .to_string();
                let event = flotilla_core::agent::ObjectEvent {
                    kind: str_at(&v, "/type").to_string(),
                    reason: str_at(&v, "/reason").to_string(),
                    message: str_at(&v, "/message").to_string(),
                    count: v.pointer("/count").and_then(Value::as_u64).unwrap_or(1),
                    last_seen: last.clone(),
                };
                (last, event)
            })
            .collect();
        // RFC 3339 times of one server sort as strings; newest first.
        events.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(events.into_iter().take(limit).map(|(_, e)| e).collect())
    }
}
