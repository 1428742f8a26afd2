//! The inventory on a Kubernetes cluster: a ConfigMap
//! `flotilla-inventory-<fleet>.<cluster>` in namespace `flotilla-system`.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::KubeDestination;
use crate::destination::{ClusterError, FIELD_MANAGER};
use flotilla_core::model::Inventory;
use flotilla_core::model::inventory::{INVENTORY_KEY, INVENTORY_NAMESPACE, inventory_name};
use flotilla_core::model::ownership::{MANAGED_BY, MANAGED_BY_LABEL};

pub(super) async fn read(
    destination: &KubeDestination,
    fleet: &str,
    cluster: &str,
) -> Result<Option<Inventory>, ClusterError> {
    let name = inventory_name(fleet, cluster);
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
    let Some(cm) = found else { return Ok(None) };
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(INVENTORY_KEY))
        .cloned()
        .unwrap_or_default();
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ClusterError::Inventory {
            name: format!("{INVENTORY_NAMESPACE}/{name}"),
            source,
        })
}

pub(super) async fn write(
    destination: &KubeDestination,
    inventory: &Inventory,
) -> Result<(), ClusterError> {
    let labels = json!({ MANAGED_BY_LABEL: MANAGED_BY });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
        Api::all(destination.client.clone());
    let ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": INVENTORY_NAMESPACE, "labels": labels},
    });
    let ns_patch = Patch::Apply(&ns);
    if destination
        .retry
        .run(|| namespaces.get_opt(INVENTORY_NAMESPACE))
        .await
        .ok()
        .flatten()
        .is_none()
    {
        destination
            .retry
            .run(|| namespaces.patch(INVENTORY_NAMESPACE, &params, &ns_patch))
            .await
            .map_err(|e| {
                destination.error(
                    &format!("creating namespace {INVENTORY_NAMESPACE}"),
                    None,
                    e,
                )
            })?;
    }
    let name = inventory_name(&inventory.fleet, &inventory.cluster);
    let body = serde_json::to_string(inventory).expect("an inventory serialises");
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": INVENTORY_NAMESPACE, "labels": labels,
                     "annotations": {"flotilla.dev/fleet": inventory.fleet}},
        "data": { INVENTORY_KEY: body },
    });
    let api: Api<ConfigMap> = Api::namespaced(destination.client.clone(), INVENTORY_NAMESPACE);
    let cm_patch = Patch::Apply(&cm);
    destination
        .retry
        .run(|| api.patch(&name, &params, &cm_patch))
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
