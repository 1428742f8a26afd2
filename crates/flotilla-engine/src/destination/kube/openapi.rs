//! The cluster's schema: the merge structure of its kinds, read from the
//! API server's OpenAPI v3 documents and cached per connection.
//!
//! `GET /openapi/v3` lists one document per group version; the documents of
//! the group versions asked for are fetched once each (`GET
//! /openapi/v3/apis/<group>/<version>`, `/openapi/v3/api/v1` for the core
//! group), parsed with [`from_openapi_v3`] and laid over the built-in table
//! ([`builtin`]), so a kind the server describes compares as the server
//! merges it. A group version is fetched again after discovery forgets one
//! of its kinds (a CRD just became Established). A server without
//! `/openapi/v3`, or a document that cannot be read, leaves the built-in
//! table in place (logged at debug): the comparison is then as good as the
//! table, never worse.

use std::collections::HashSet;
use std::sync::Arc;

use flotilla_core::diff::schema::{Schema, from_openapi_v3};
use kube::Client;
use serde_json::Value;

use super::retry::RetryPolicy;

/// The schema of one cluster, grown as group versions are asked for.
pub(crate) struct SchemaCache {
    /// The built-in table with every fetched document laid over it.
    schema: Arc<Schema>,
    /// What `schema` was made of: the built-in table (0), then each
    /// document laid over it, hashed in order. Clusters whose servers
    /// serve the same documents share one schema ([`shared`]).
    made_of: u64,
    /// Group versions already asked for (fetched or not served).
    asked: HashSet<String>,
}

impl Default for SchemaCache {
    fn default() -> Self {
        Self {
            schema: crate::destination::builtin_schema(),
            made_of: 0,
            asked: HashSet::new(),
        }
    }
}

/// The schemas in use, by what they were made of: a fleet of clusters on
/// one Kubernetes version holds one copy, not one per cluster (a schema is
/// megabytes). Weak, so a schema no cluster uses any more is freed.
fn shared() -> &'static std::sync::Mutex<std::collections::HashMap<u64, std::sync::Weak<Schema>>> {
    static SHARED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<u64, std::sync::Weak<Schema>>>,
    > = std::sync::OnceLock::new();
    SHARED.get_or_init(Default::default)
}

fn hash_of(parts: &[&[u8]]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

/// The index path of a group version: `api/v1` for the core group,
/// `apis/<group>/<version>` otherwise.
pub(crate) fn document_path(api_version: &str) -> String {
    if api_version.contains('/') {
        format!("apis/{api_version}")
    } else {
        format!("api/{api_version}")
    }
}

impl SchemaCache {
    /// The schema with the documents of `api_versions` fetched (each once).
    pub(crate) async fn schema(
        &mut self,
        client: &Client,
        retry: &RetryPolicy,
        api_versions: &[&str],
    ) -> Arc<Schema> {
        let wanted: Vec<&str> = api_versions
            .iter()
            .copied()
            .filter(|v| !v.is_empty() && !self.asked.contains(*v))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if wanted.is_empty() {
            return self.schema.clone();
        }
        // `/openapi/v3`'s `paths` (document path to its server-relative
        // URL), read only when a group version is new: not kept, since
        // every cluster of a fleet would hold its own copy of it.
        let index = match get_json(client, retry, "/openapi/v3").await {
            Ok(v) => match v {
                Value::Object(mut v) => match v.remove("paths") {
                    Some(Value::Object(paths)) => paths,
                    _ => serde_json::Map::new(),
                },
                _ => serde_json::Map::new(),
            },
            Err(e) => {
                tracing::debug!(error = %e, "no /openapi/v3 index; using the built-in schema table");
                serde_json::Map::new()
            }
        };
        for api_version in wanted {
            self.asked.insert(api_version.to_string());
            let path = document_path(api_version);
            let Some(url) = index
                .get(&path)
                .and_then(|p| p.get("serverRelativeURL"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let document = match get_json(client, retry, url).await {
                Ok(document) => document,
                Err(e) => {
                    tracing::debug!(%api_version, error = %e, "OpenAPI v3 document not read; using the built-in schema table for it");
                    continue;
                }
            };
            let made_of = hash_of(&[
                &self.made_of.to_le_bytes(),
                serde_json::to_string(&document)
                    .unwrap_or_default()
                    .as_bytes(),
            ]);
            let known = shared()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&made_of)
                .and_then(std::sync::Weak::upgrade);
            if let Some(schema) = known {
                self.schema = schema;
                self.made_of = made_of;
                continue;
            }
            match from_openapi_v3(&document) {
                Ok(s) => {
                    let mut schema = (*self.schema).clone();
                    schema.merge(s);
                    let mut all = shared().lock().unwrap_or_else(|e| e.into_inner());
                    all.retain(|_, w| w.strong_count() > 0);
                    // Clusters connecting at once each build the schema:
                    // the first one kept is the one they all use.
                    let schema = match all.get(&made_of).and_then(std::sync::Weak::upgrade) {
                        Some(kept) => kept,
                        None => {
                            let schema = Arc::new(schema);
                            all.insert(made_of, Arc::downgrade(&schema));
                            schema
                        }
                    };
                    drop(all);
                    self.schema = schema;
                    self.made_of = made_of;
                }
                Err(e) => {
                    tracing::debug!(%api_version, error = %e, "OpenAPI v3 document not read; using the built-in schema table for it");
                }
            }
        }
        self.schema.clone()
    }

    /// Forgets a group version, so the next request for it asks the server
    /// again: called when discovery is refreshed.
    pub(crate) fn forget(&mut self, api_version: &str) {
        self.asked.remove(api_version);
    }
}

/// GET a JSON document from the API server (credentials never in the error).
async fn get_json(client: &Client, retry: &RetryPolicy, url: &str) -> Result<Value, String> {
    retry
        .run(|| {
            let request = http::Request::get(url).body(Vec::new());
            async move {
                let request = request.map_err(kube::Error::HttpError)?;
                client.request::<Value>(request).await
            }
        })
        .await
        .map_err(|e| flotilla_redact::scrub_any(&e.to_string()).to_string())
}

#[cfg(test)]
mod tests {
    use super::document_path;

    #[test]
    fn document_paths_of_core_and_named_groups() {
        assert_eq!(document_path("v1"), "api/v1");
        assert_eq!(document_path("apps/v1"), "apis/apps/v1");
    }
}
