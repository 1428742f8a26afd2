//! The inventory: what Flotilla applied to a cluster, stored in the cluster
//! itself so a restarted engine or a second replica knows what it owns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{ObjectKey, group_of};

/// The namespace that holds inventories on Kubernetes clusters.
pub const INVENTORY_NAMESPACE: &str = "flotilla-system";
/// The data key of the inventory ConfigMap.
pub const INVENTORY_KEY: &str = "inventory.json";

/// The name of the inventory ConfigMap of `fleet`'s cluster `cluster`:
/// `flotilla-inventory-<fleet>.<cluster>`. Both names are DNS labels, so the
/// dot keeps every pair apart, and two fleet clusters that share one
/// Kubernetes cluster (split by namespace) keep separate inventories.
pub fn inventory_name(fleet: &str, cluster: &str) -> String {
    format!("flotilla-inventory-{fleet}.{cluster}")
}

/// Everything Flotilla applied to one cluster for one fleet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The fleet this inventory belongs to.
    pub fleet: String,
    /// The fleet cluster it was written for.
    #[serde(default)]
    pub cluster: String,
    /// The commit last synced, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The objects, in apply order.
    pub entries: Vec<InventoryEntry>,
}

/// One applied object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// apiVersion it was applied with.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Fingerprint of the desired object last applied; empty when unknown
    /// (the next sync then applies it again).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl InventoryEntry {
    /// The entry for a desired object with its fingerprint.
    pub fn of(object: &Value, hash: String) -> Option<Self> {
        let key = ObjectKey::of(object)?;
        Some(Self {
            api_version: object["apiVersion"].as_str()?.to_string(),
            kind: key.kind,
            namespace: key.namespace,
            name: key.name,
            hash,
        })
    }

    /// The object's identity.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: group_of(&self.api_version).to_string(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

impl Inventory {
    /// The entry for `key`, if the inventory holds it.
    pub fn get(&self, key: &ObjectKey) -> Option<&InventoryEntry> {
        self.entries.iter().find(|e| &e.key() == key)
    }
}

/// A stable fingerprint of a desired object (SHA-1 of its JSON form, which
/// rendering makes deterministic).
pub fn fingerprint(object: &Value) -> String {
    crate::digest::sha1_hex(object.to_string().as_bytes())
}
