//! Discovery, cached per group version: the first object of a group version
//! fetches its resource list once (one request), and every kind in it is
//! known from then on. A kind missing from the cache fetches its group
//! version again (it may have just been added by a CRD).

use std::collections::HashMap;

use kube::Client;
use kube::core::GroupVersion;
use kube::discovery::{ApiResource, Scope, pinned_group};

use super::retry::RetryPolicy;
use crate::destination::ClusterError;

/// Known kinds of one cluster, by (apiVersion, kind).
#[derive(Default)]
pub(crate) struct Cache {
    kinds: HashMap<(String, String), (ApiResource, bool)>,
}

impl Cache {
    /// The resource for `api_version` and `kind`, and whether it is namespaced.
    pub(crate) async fn resolve(
        &mut self,
        client: &Client,
        server: &str,
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
        let gv = GroupVersion::gv(group, version);
        let unknown = || ClusterError::NotServed {
            api_version: api_version.into(),
            kind: kind.into(),
        };
        let fetched = retry.run(|| pinned_group(client, &gv)).await;
        let api_group = match fetched {
            Ok(g) => g,
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(unknown()),
            Err(kube::Error::Discovery(_)) => return Err(unknown()),
            Err(e) => {
                return Err(ClusterError::from_kube(
                    format!("discovering {api_version}"),
                    None,
                    server,
                    e,
                ));
            }
        };
        for (resource, caps) in api_group.versioned_resources(version) {
            // Subresources (deployments/status) share the kind; keep the main one.
            if resource.plural.contains('/') {
                continue;
            }
            let entry = (resource.clone(), caps.scope == Scope::Namespaced);
            self.kinds
                .entry((api_version.to_string(), resource.kind.clone()))
                .or_insert(entry);
        }
        self.kinds.get(&key).cloned().ok_or_else(unknown)
    }

    /// Forgets a kind, so the next lookup asks the server again.
    pub(crate) fn forget(&mut self, api_version: &str, kind: &str) {
        self.kinds
            .remove(&(api_version.to_string(), kind.to_string()));
    }
}
