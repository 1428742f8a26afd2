//! The inventory: what Flotilla applied to a cluster, stored in the cluster
//! itself so a restarted engine or a second replica knows what it owns.

use std::collections::HashMap;

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

/// Everything Flotilla applied to one cluster for one fleet: its entries in
/// apply order, indexed by object key (so [`Inventory::get`] is one lookup,
/// not a scan). Stored as `{fleet, cluster, revision?, entries}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "Stored")]
pub struct Inventory {
    /// The fleet this inventory belongs to.
    pub fleet: String,
    /// The fleet cluster it was written for.
    pub cluster: String,
    /// The commit last synced, where known.
    pub revision: Option<String>,
    /// The objects, in apply order.
    entries: Vec<InventoryEntry>,
    /// Position of each key's first entry in `entries`.
    index: HashMap<ObjectKey, usize>,
}

/// The stored form of an inventory.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    fleet: String,
    #[serde(default)]
    cluster: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    entries: Vec<InventoryEntry>,
}

/// The stored form, borrowed, for writing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredRef<'a> {
    fleet: &'a str,
    cluster: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: &'a Option<String>,
    entries: &'a [InventoryEntry],
}

impl From<Stored> for Inventory {
    fn from(s: Stored) -> Self {
        Inventory::new(s.fleet, s.cluster, s.revision, s.entries)
    }
}

impl Serialize for Inventory {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredRef {
            fleet: &self.fleet,
            cluster: &self.cluster,
            revision: &self.revision,
            entries: &self.entries,
        }
        .serialize(serializer)
    }
}

impl PartialEq for Inventory {
    fn eq(&self, other: &Self) -> bool {
        self.fleet == other.fleet
            && self.cluster == other.cluster
            && self.revision == other.revision
            && self.entries == other.entries
    }
}

impl Eq for Inventory {}

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
    /// An inventory of `entries` (in apply order), indexed.
    pub fn new(
        fleet: impl Into<String>,
        cluster: impl Into<String>,
        revision: Option<String>,
        entries: Vec<InventoryEntry>,
    ) -> Self {
        let mut index = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            index.entry(e.key()).or_insert(i);
        }
        Self {
            fleet: fleet.into(),
            cluster: cluster.into(),
            revision,
            entries,
            index,
        }
    }

    /// The entries, in apply order.
    pub fn entries(&self) -> &[InventoryEntry] {
        &self.entries
    }

    /// The entry for `key`, if the inventory holds it (the first, should a
    /// hand-edited inventory name it twice).
    pub fn get(&self, key: &ObjectKey) -> Option<&InventoryEntry> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    /// Whether the inventory holds `key`.
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.index.contains_key(key)
    }
}

/// A stable fingerprint of a desired object (SHA-1 of its JSON form, which
/// rendering makes deterministic).
pub fn fingerprint(object: &Value) -> String {
    crate::digest::sha1_hex(object.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: &str, name: &str, hash: &str) -> InventoryEntry {
        InventoryEntry {
            api_version: if kind == "Deployment" {
                "apps/v1"
            } else {
                "v1"
            }
            .into(),
            kind: kind.into(),
            namespace: if kind == "Namespace" { "" } else { "shop" }.into(),
            name: name.into(),
            hash: hash.into(),
        }
    }

    #[test]
    fn get_finds_every_entry_by_key_and_nothing_else() {
        let entries: Vec<_> = (0..500)
            .map(|i| entry("Deployment", &format!("web-{i}"), &format!("h{i}")))
            .collect();
        let inv = Inventory::new("f", "c", None, entries.clone());
        for e in &entries {
            assert_eq!(inv.get(&e.key()), Some(e));
        }
        let absent = entry("Deployment", "web-500", "").key();
        assert_eq!(inv.get(&absent), None);
        assert!(!inv.contains(&absent));
        // Same name, other kind or group: another object.
        assert_eq!(inv.get(&entry("ConfigMap", "web-1", "").key()), None);
    }

    #[test]
    fn a_key_named_twice_finds_its_first_entry() {
        let inv = Inventory::new(
            "f",
            "c",
            None,
            vec![
                entry("ConfigMap", "a", "first"),
                entry("ConfigMap", "a", "second"),
            ],
        );
        assert_eq!(
            inv.get(&entry("ConfigMap", "a", "").key()).unwrap().hash,
            "first"
        );
        assert_eq!(inv.entries().len(), 2);
    }

    #[test]
    fn the_stored_form_is_unchanged_and_reads_back_indexed() {
        let inv = Inventory::new(
            "shop",
            "eu-1",
            Some("abc".into()),
            vec![
                entry("Namespace", "shop", "h1"),
                entry("Deployment", "web", ""),
            ],
        );
        let text = serde_json::to_string(&inv).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({
                "fleet": "shop", "cluster": "eu-1", "revision": "abc",
                "entries": [
                    {"apiVersion": "v1", "kind": "Namespace", "name": "shop", "hash": "h1"},
                    {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"},
                ],
            })
        );
        let back: Inventory = serde_json::from_str(&text).unwrap();
        assert_eq!(back, inv);
        assert!(back.get(&entry("Deployment", "web", "").key()).is_some());
        // Older inventories without cluster or revision still read.
        let old: Inventory =
            serde_json::from_value(json!({"fleet": "shop", "entries": []})).unwrap();
        assert_eq!(old, Inventory::new("shop", "", None, Vec::new()));
        assert_eq!(
            serde_json::to_value(&old).unwrap(),
            json!({"fleet": "shop", "cluster": "", "entries": []})
        );
    }
}
