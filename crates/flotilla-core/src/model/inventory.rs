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

/// The most bytes of entries one stored object holds: an inventory whose
/// entries serialise to more is split into parts of at most this size
/// (a ConfigMap holds at most 1 MiB of data, a request body at most 3 MiB).
pub const PART_BUDGET: usize = 512 * 1024;

/// The data key of an inventory part (a JSON array of entries).
pub const PART_KEY: &str = "entries.json";

/// The name of part `id` of the inventory stored as `head` (see
/// [`inventory_name`]): `<head>.<id>`.
pub fn part_name(head: &str, id: &str) -> String {
    format!("{head}.{id}")
}

/// An inventory in its stored form: the head (the [`INVENTORY_KEY`] text)
/// and the parts it names, each `(id, text)`.
///
/// Small inventories are one head holding every entry, as Flotilla always
/// stored them. Larger ones are split: the head names its parts in order
/// (`{fleet, cluster, revision?, parts: [id...]}`, no `entries`, so an older
/// Flotilla refuses it rather than reading it as empty), and each part
/// holds a run of entries. A part's id is the digest of its text
/// (`part-<16 hex>`), so parts are never rewritten in place: a writer stores
/// the new parts, then the head (the one switch from old to new), then
/// removes parts no longer named. A crash at any point leaves a head whose
/// parts all exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInventory {
    /// The head's text.
    pub head: String,
    /// The parts, in order, as (id, text).
    pub parts: Vec<(String, String)>,
}

/// The head of a stored inventory, read before its parts.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    /// The fleet.
    pub fleet: String,
    /// The fleet cluster.
    #[serde(default)]
    pub cluster: String,
    /// The commit last synced, where known.
    #[serde(default)]
    pub revision: Option<String>,
    /// Entries held in the head itself (small inventories).
    #[serde(default)]
    entries: Vec<InventoryEntry>,
    /// The ids of the parts holding the entries, in order (large ones).
    #[serde(default)]
    pub parts: Vec<String>,
}

/// Why a stored inventory cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    /// The head or a part is not an inventory's JSON.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A head that holds both entries and parts.
    #[error("the head holds both entries and parts")]
    Mixed,
    /// The head names a part that is not stored.
    #[error("part {0} is missing")]
    MissingPart(String),
    /// A part's text does not match its id (edited by hand, or truncated).
    #[error("part {0} does not match its digest")]
    PartDigest(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadRef<'a> {
    fleet: &'a str,
    cluster: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: &'a Option<String>,
    parts: Vec<&'a str>,
}

fn part_id(text: &str) -> String {
    format!("part-{}", &crate::digest::sha1_hex(text.as_bytes())[..16])
}

impl Head {
    /// Parses a head's text.
    pub fn parse(text: &str) -> Result<Head, StoredError> {
        let head: Head = serde_json::from_str(text)?;
        if !head.entries.is_empty() && !head.parts.is_empty() {
            return Err(StoredError::Mixed);
        }
        Ok(head)
    }

    /// The inventory, given the text of each part the head names
    /// (`part(id)`, `None` when it is not stored). Every part is checked
    /// against its id.
    pub fn into_inventory(
        self,
        mut part: impl FnMut(&str) -> Option<String>,
    ) -> Result<Inventory, StoredError> {
        let mut entries = self.entries;
        for id in &self.parts {
            let text = part(id).ok_or_else(|| StoredError::MissingPart(id.clone()))?;
            if part_id(&text) != *id {
                return Err(StoredError::PartDigest(id.clone()));
            }
            let run: Vec<InventoryEntry> = serde_json::from_str(&text)?;
            entries.extend(run);
        }
        Ok(Inventory::new(
            self.fleet,
            self.cluster,
            self.revision,
            entries,
        ))
    }
}

impl Inventory {
    /// The stored form, with parts of at most `budget` bytes of entries
    /// (one head alone when everything fits in `budget`).
    pub fn to_stored(&self, budget: usize) -> StoredInventory {
        let whole = serde_json::to_string(self).expect("an inventory serialises");
        if whole.len() <= budget {
            return StoredInventory {
                head: whole,
                parts: Vec::new(),
            };
        }
        let mut parts = Vec::new();
        let mut text = String::from("[");
        for entry in &self.entries {
            let one = serde_json::to_string(entry).expect("an entry serialises");
            if text.len() > 1 && text.len() + one.len() + 2 > budget {
                text.push(']');
                parts.push((part_id(&text), std::mem::replace(&mut text, "[".into())));
            }
            if text.len() > 1 {
                text.push(',');
            }
            text.push_str(&one);
        }
        text.push(']');
        parts.push((part_id(&text), text));
        let head = serde_json::to_string(&HeadRef {
            fleet: &self.fleet,
            cluster: &self.cluster,
            revision: &self.revision,
            parts: parts.iter().map(|(id, _)| id.as_str()).collect(),
        })
        .expect("a head serialises");
        StoredInventory { head, parts }
    }

    /// The same inventory with `more` entries appended (those whose keys it
    /// does not hold yet), each with an empty hash: the intent written
    /// before a round adds objects, so that whatever the round creates is
    /// owned (and prunable) even if the engine dies mid-round.
    pub fn with_intent<'a>(&self, more: impl IntoIterator<Item = &'a InventoryEntry>) -> Inventory {
        let mut entries = self.entries.clone();
        let mut seen: std::collections::HashSet<ObjectKey> = self.index.keys().cloned().collect();
        for e in more {
            if seen.insert(e.key()) {
                entries.push(InventoryEntry {
                    hash: String::new(),
                    ..e.clone()
                });
            }
        }
        Inventory::new(
            self.fleet.clone(),
            self.cluster.clone(),
            self.revision.clone(),
            entries,
        )
    }
}

impl Inventory {
    /// The same inventory without the entries whose keys are in `gone` (the
    /// intent entries of objects a stopped round never created).
    pub fn without(&self, gone: &std::collections::HashSet<ObjectKey>) -> Inventory {
        Inventory::new(
            self.fleet.clone(),
            self.cluster.clone(),
            self.revision.clone(),
            self.entries
                .iter()
                .filter(|e| !gone.contains(&e.key()))
                .cloned()
                .collect(),
        )
    }

    /// The entries with an empty hash: named by an intent (or kept after a
    /// failed apply) but not known to be applied.
    pub fn unconfirmed(&self) -> impl Iterator<Item = &InventoryEntry> {
        self.entries.iter().filter(|e| e.hash.is_empty())
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
    fn without_drops_the_given_keys_and_keeps_the_order_of_the_rest() {
        let inv = Inventory::new(
            "f",
            "c",
            Some("abc".into()),
            vec![
                entry("Namespace", "shop", "h1"),
                entry("ConfigMap", "a", ""),
                entry("Deployment", "web", "h2"),
                entry("ConfigMap", "b", ""),
            ],
        );
        let unconfirmed: Vec<&str> = inv.unconfirmed().map(|e| e.name.as_str()).collect();
        assert_eq!(unconfirmed, ["a", "b"]);
        let gone = [entry("ConfigMap", "a", "").key()].into_iter().collect();
        let left = inv.without(&gone);
        let names: Vec<&str> = left.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["shop", "web", "b"]);
        assert!(!left.contains(&entry("ConfigMap", "a", "").key()));
        assert!(left.contains(&entry("ConfigMap", "b", "").key()));
        assert_eq!(left.revision.as_deref(), Some("abc"));
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

    fn big(n: usize) -> Inventory {
        let entries: Vec<_> = (0..n)
            .map(|i| entry("ConfigMap", &format!("config-{i}"), &format!("{i:040}")))
            .collect();
        Inventory::new("shop", "eu-1", Some("abc".into()), entries)
    }

    fn read_back(stored: &StoredInventory) -> Result<Inventory, StoredError> {
        Head::parse(&stored.head)?.into_inventory(|id| {
            stored
                .parts
                .iter()
                .find(|(p, _)| p == id)
                .map(|(_, t)| t.clone())
        })
    }

    #[test]
    fn a_small_inventory_is_stored_whole_as_before() {
        let inv = big(10);
        let stored = inv.to_stored(PART_BUDGET);
        assert!(stored.parts.is_empty());
        assert_eq!(stored.head, serde_json::to_string(&inv).unwrap());
        assert_eq!(read_back(&stored).unwrap(), inv);
    }

    #[test]
    fn a_large_inventory_is_split_into_parts_under_the_budget_and_reads_back() {
        let inv = big(20_000);
        let stored = inv.to_stored(PART_BUDGET);
        assert!(stored.parts.len() >= 5, "{}", stored.parts.len());
        for (id, text) in &stored.parts {
            assert!(text.len() <= PART_BUDGET, "{id}: {}", text.len());
        }
        assert!(stored.head.len() < 4096, "{}", stored.head.len());
        // An older reader refuses the split head instead of reading it empty.
        assert!(serde_json::from_str::<Inventory>(&stored.head).is_err());
        let back = read_back(&stored).unwrap();
        assert_eq!(back, inv);
        assert_eq!(back.entries().len(), 20_000);
    }

    #[test]
    fn a_missing_or_edited_part_is_an_error_not_an_empty_inventory() {
        let stored = big(10_000).to_stored(PART_BUDGET);
        let mut missing = stored.clone();
        missing.parts.remove(1);
        assert!(matches!(
            read_back(&missing),
            Err(StoredError::MissingPart(id)) if id == stored.parts[1].0
        ));
        let mut edited = stored.clone();
        edited.parts[0].1 = edited.parts[0].1.replacen("config-1", "config-x", 1);
        assert!(matches!(
            read_back(&edited),
            Err(StoredError::PartDigest(_))
        ));
    }

    #[test]
    fn appending_entries_keeps_the_earlier_parts() {
        let small = big(10_000);
        let mut entries = small.entries().to_vec();
        entries.push(entry("ConfigMap", "one-more", "h"));
        let more = Inventory::new("shop", "eu-1", Some("abc".into()), entries);
        let (a, b) = (small.to_stored(PART_BUDGET), more.to_stored(PART_BUDGET));
        let same = a.parts.iter().filter(|p| b.parts.contains(p)).count();
        assert_eq!(same, a.parts.len() - 1, "only the last part changes");
    }

    #[test]
    fn intent_is_the_union_with_empty_hashes_for_the_new_entries() {
        let old = Inventory::new("f", "c", None, vec![entry("ConfigMap", "a", "h1")]);
        let new = [entry("ConfigMap", "a", "h2"), entry("ConfigMap", "b", "h3")];
        let intent = old.with_intent(&new);
        assert_eq!(
            intent.entries(),
            &[entry("ConfigMap", "a", "h1"), entry("ConfigMap", "b", "")]
        );
    }
}
