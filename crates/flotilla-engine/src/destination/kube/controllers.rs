//! Live controllers (HPAs) whoever made them: read without Flotilla's label,
//! so that an HPA made by hand or by another tool protects its target's
//! replicas too ([`flotilla_core::diff::controlled`]).
//!
//! Cost, bounded: nothing when nothing asks (the caller skips the read when
//! no workload could be a target); else one LIST per namespace for up to
//! [`CONTROLLER_NAMESPACES_MAX`] namespaces, one cluster-wide LIST beyond, and with
//! the watch cache (`serve`) one cluster-wide watch, no request per check.
//! No discovery: the resource is a built-in one, addressed directly.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::Value;

use super::KubeDestination;
use super::ops::to_value;
use crate::destination::ClusterError;
use flotilla_core::diff::controlled::ControllerRead;

/// Up to this many namespaces of live controllers to read, one LIST each;
/// beyond, one cluster-wide LIST.
pub const CONTROLLER_NAMESPACES_MAX: usize = 3;

impl KubeDestination {
    /// The live objects `reads` names. A kind the server does not serve
    /// (404) or refuses to list (403, logged) has none.
    pub(super) async fn read_controllers(
        &mut self,
        reads: &[ControllerRead],
    ) -> Result<Vec<Arc<Value>>, ClusterError> {
        let mut out = Vec::new();
        for read in reads {
            let (group, version) = read
                .api_version
                .rsplit_once('/')
                .unwrap_or(("", read.api_version));
            let resource = ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                api_version: read.api_version.to_string(),
                kind: read.kind.to_string(),
                plural: read.plural.to_string(),
            };
            let default_ns = self.client.default_namespace().to_string();
            let namespaces: Vec<&str> = read
                .namespaces
                .iter()
                .map(|n| {
                    if n.is_empty() {
                        &default_ns
                    } else {
                        n.as_str()
                    }
                })
                .collect();
            let wanted = |v: &Value| {
                let ns = v
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                namespaces.contains(&ns)
            };
            if let Some(cache) = &mut self.cache
                && let Some(all) = cache
                    .list(
                        &self.client,
                        &resource,
                        "",
                        Duration::from_secs(10),
                        |ns, _| namespaces.contains(&ns),
                    )
                    .await
            {
                out.extend(all);
                continue;
            }
            let apis: Vec<Api<DynamicObject>> = if namespaces.len() <= CONTROLLER_NAMESPACES_MAX {
                namespaces
                    .iter()
                    .map(|ns| Api::namespaced_with(self.client.clone(), ns, &resource))
                    .collect()
            } else {
                vec![Api::all_with(self.client.clone(), &resource)]
            };
            let params = ListParams::default();
            for api in apis {
                match self.retry.run(|| api.list(&params)).await {
                    Ok(list) => out.extend(
                        list.items
                            .iter()
                            .map(|o| to_value(o, &resource))
                            .filter(|v| wanted(v))
                            .map(Arc::new),
                    ),
                    Err(kube::Error::Api(s)) if s.code == 404 => break,
                    Err(kube::Error::Api(s)) if s.code == 403 => {
                        tracing::warn!(
                            server = %self.server,
                            kind = read.kind,
                            "not allowed to list {}s; replicas they scale are compared and applied as if none targeted them",
                            read.kind
                        );
                        break;
                    }
                    Err(e) => {
                        return Err(self.error(&format!("listing {}s", read.kind), None, e));
                    }
                }
            }
        }
        Ok(out)
    }
}
