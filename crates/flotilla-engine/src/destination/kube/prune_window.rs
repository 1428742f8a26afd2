//! The mass-prune guard's window on a Kubernetes cluster: its own small
//! ConfigMap `flotilla-prune-window-<fleet>.<cluster>` in `flotilla-system`,
//! beside (and independent of) the inventory, so the guard remembers the
//! last rounds that pruned across restarts and separate `flotilla sync` runs.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::KubeDestination;
use crate::destination::{ClusterError, FIELD_MANAGER};
use flotilla_core::model::inventory::INVENTORY_NAMESPACE;
use flotilla_core::model::ownership::{MANAGED_BY, MANAGED_BY_LABEL};
use flotilla_core::plan::{PRUNE_WINDOW_KEY, PruneWindow, prune_window_name};

pub(super) async fn read(
    destination: &KubeDestination,
    fleet: &str,
    cluster: &str,
) -> Result<PruneWindow, ClusterError> {
    let name = prune_window_name(fleet, cluster);
    let api: Api<ConfigMap> = Api::namespaced(destination.client.clone(), INVENTORY_NAMESPACE);
    let found = destination
        .retry
        .run(|| api.get_opt(&name))
        .await
        .map_err(|e| {
            destination.error(
                &format!("reading ConfigMap {INVENTORY_NAMESPACE}/{name}"),
                None,
                e,
            )
        })?;
    let Some(text) = found
        .and_then(|cm| cm.data)
        .and_then(|mut d| d.remove(PRUNE_WINDOW_KEY))
    else {
        return Ok(PruneWindow::default());
    };
    serde_json::from_str(&text).map_err(|source| ClusterError::Inventory {
        name: format!("{INVENTORY_NAMESPACE}/{name}"),
        source,
    })
}

/// Writes the window (the namespace exists: a round that pruned read an
/// inventory from it).
pub(super) async fn write(
    destination: &KubeDestination,
    fleet: &str,
    cluster: &str,
    window: &PruneWindow,
) -> Result<(), ClusterError> {
    let name = prune_window_name(fleet, cluster);
    let body = serde_json::to_string(window).expect("a window serialises");
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": INVENTORY_NAMESPACE,
                     "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                     "annotations": {"flotilla.dev/fleet": fleet}},
        "data": { PRUNE_WINDOW_KEY: body },
    });
    let api: Api<ConfigMap> = Api::namespaced(destination.client.clone(), INVENTORY_NAMESPACE);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&cm);
    destination
        .retry
        .run(|| api.patch(&name, &params, &patch))
        .await
        .map_err(|e| {
            destination.error(
                &format!("writing ConfigMap {INVENTORY_NAMESPACE}/{name}"),
                None,
                e,
            )
        })?;
    Ok(())
}
