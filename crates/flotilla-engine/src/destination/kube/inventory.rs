//! The inventory on a Kubernetes cluster: a ConfigMap
//! `flotilla-inventory-<fleet>.<cluster>` (the head) in namespace
//! `flotilla-system`, and for large inventories the parts it names,
//! ConfigMaps `<head>.part-<digest>` (see [`StoredInventory`]).
//!
//! A write stores the parts the head does not name yet, then the head (the
//! one switch), then deletes the parts no longer named; a crash at any point
//! leaves a head whose parts all exist. Parts are content-addressed, so a
//! round that appends entries writes only the last part and the head.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::KubeDestination;
use crate::destination::{ClusterError, FIELD_MANAGER};
use flotilla_core::model::Inventory;
use flotilla_core::model::inventory::{
    Head, INVENTORY_KEY, INVENTORY_NAMESPACE, PART_BUDGET, PART_KEY, StoredInventory,
    inventory_name, part_name,
};
use flotilla_core::model::ownership::{MANAGED_BY, MANAGED_BY_LABEL};

/// Labels of a part: whose inventory it belongs to.
const PART_FLEET_LABEL: &str = "flotilla.dev/inventory-fleet";
const PART_CLUSTER_LABEL: &str = "flotilla.dev/inventory-cluster";

fn stored_error(name: &str, source: flotilla_core::model::inventory::StoredError) -> ClusterError {
    ClusterError::InventoryStored {
        name: format!("{INVENTORY_NAMESPACE}/{name}"),
        source,
    }
}

fn data_of(cm: &ConfigMap, key: &str) -> String {
    cm.data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
        .unwrap_or_default()
}

pub(super) async fn read(
    destination: &KubeDestination,
    fleet: &str,
    cluster: &str,
) -> Result<Option<Inventory>, ClusterError> {
    let name = inventory_name(fleet, cluster);
    let api: Api<ConfigMap> = Api::namespaced(destination.client.clone(), INVENTORY_NAMESPACE);
    let get = |name: String| {
        let api = api.clone();
        async move {
            destination
                .retry
                .run(|| api.get_opt(&name))
                .await
                .map_err(|e| {
                    destination.error(
                        &format!("reading ConfigMap {INVENTORY_NAMESPACE}/{name}"),
                        None,
                        e,
                    )
                })
        }
    };
    let Some(cm) = get(name.clone()).await? else {
        return Ok(None);
    };
    let head = Head::parse(&data_of(&cm, INVENTORY_KEY)).map_err(|e| stored_error(&name, e))?;
    let mut parts = std::collections::HashMap::new();
    for id in &head.parts {
        if let Some(part) = get(part_name(&name, id)).await? {
            parts.insert(id.clone(), data_of(&part, PART_KEY));
        }
    }
    head.into_inventory(|id| parts.remove(id))
        .map(Some)
        .map_err(|e| stored_error(&name, e))
}

pub(super) async fn write(
    destination: &KubeDestination,
    inventory: &Inventory,
) -> Result<(), ClusterError> {
    write_stored(destination, inventory, &inventory.to_stored(PART_BUDGET)).await
}

async fn write_stored(
    destination: &KubeDestination,
    inventory: &Inventory,
    stored: &StoredInventory,
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
    let api: Api<ConfigMap> = Api::namespaced(destination.client.clone(), INVENTORY_NAMESPACE);
    let put = |object_name: String, cm: Value| {
        let api = api.clone();
        let params = params.clone();
        async move {
            let patch = Patch::Apply(&cm);
            destination
                .retry
                .run(|| api.patch(&object_name, &params, &patch))
                .await
                .map_err(|e| {
                    destination.error(
                        &format!("writing ConfigMap {INVENTORY_NAMESPACE}/{object_name}"),
                        None,
                        e,
                    )
                })
        }
    };

    // The parts stored now (from earlier writes, or left by a crash).
    let selector = format!(
        "{PART_FLEET_LABEL}={},{PART_CLUSTER_LABEL}={}",
        inventory.fleet, inventory.cluster
    );
    let list = ListParams::default().labels(&selector);
    let existing: HashSet<String> = destination
        .retry
        .run(|| api.list_metadata(&list))
        .await
        .map_err(|e| {
            destination.error(
                &format!("listing the inventory parts in {INVENTORY_NAMESPACE}"),
                None,
                e,
            )
        })?
        .items
        .into_iter()
        .filter_map(|m| m.metadata.name)
        .filter(|n| n.starts_with(&format!("{name}.")))
        .collect();

    // 1. The new parts.
    let part_labels = json!({
        MANAGED_BY_LABEL: MANAGED_BY,
        PART_FLEET_LABEL: inventory.fleet,
        PART_CLUSTER_LABEL: inventory.cluster,
    });
    let mut named = HashSet::new();
    for (id, text) in &stored.parts {
        let part = part_name(&name, id);
        named.insert(part.clone());
        if existing.contains(&part) {
            continue;
        }
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": part, "namespace": INVENTORY_NAMESPACE, "labels": part_labels,
                         "annotations": {"flotilla.dev/fleet": inventory.fleet}},
            "data": { PART_KEY: text },
        });
        put(part, cm).await?;
    }
    // 2. The head: from here on the new parts are the inventory.
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": INVENTORY_NAMESPACE, "labels": labels,
                     "annotations": {"flotilla.dev/fleet": inventory.fleet}},
        "data": { INVENTORY_KEY: stored.head },
    });
    put(name.clone(), cm).await?;
    // 3. Parts no longer named.
    let delete = DeleteParams::default();
    for stale in existing.difference(&named) {
        match destination.retry.run(|| api.delete(stale, &delete)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => {
                return Err(destination.error(
                    &format!("deleting ConfigMap {INVENTORY_NAMESPACE}/{stale}"),
                    None,
                    e,
                ));
            }
        }
    }
    Ok(())
}
