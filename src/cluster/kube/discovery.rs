//! Discovery, cached per kind: a kind is looked up once (one request to its
//! group version) and again only while it is unknown, e.g. right after its
//! CRD was applied.

use std::collections::HashMap;

use kube::Client;
use kube::api::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};

use super::retry::RetryPolicy;
use crate::cluster::ClusterError;

/// Known kinds of one cluster.
#[derive(Default)]
pub(crate) struct Cache {
    kinds: HashMap<(String, String), (ApiResource, bool)>,
}

impl Cache {
    /// The resource for `api_version` and `kind`, and whether it is namespaced.
    pub(crate) async fn resolve(
        &mut self,
        client: &Client,
        retry: &RetryPolicy,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), ClusterError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.kinds.get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found: Result<(ApiResource, ApiCapabilities), kube::Error> =
            retry.run(|| pinned_kind(client, &gvk)).await;
        match found {
            Ok((resource, caps)) => {
                let entry = (resource, caps.scope == Scope::Namespaced);
                self.kinds.insert(key, entry.clone());
                Ok(entry)
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Err(ClusterError::UnknownKind {
                api_version: api_version.into(),
                kind: kind.into(),
            }),
            Err(kube::Error::Discovery(_)) => Err(ClusterError::UnknownKind {
                api_version: api_version.into(),
                kind: kind.into(),
            }),
            Err(e) => Err(super::api_error(
                &format!("discovering {kind} in {api_version}"),
                e,
            )),
        }
    }

    /// Forgets a kind, so the next lookup asks the server again.
    pub(crate) fn forget(&mut self, api_version: &str, kind: &str) {
        self.kinds
            .remove(&(api_version.to_string(), kind.to_string()));
    }
}
