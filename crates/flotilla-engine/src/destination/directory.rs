//! A folder of hydrated manifests: one file per object, named
//! `<group>_<kind>_<namespace>_<name>.yaml` (escaped, see
//! [`flotilla_core::model::names::safe_file_name`]; every write and delete is
//! checked to stay inside the folder, [`super::safe_fs`]), removed when
//! pruned; Secrets' files are 0600; the
//! inventory is the hidden file `.flotilla-inventory-<fleet>.<cluster>.json`
//! and the mass-prune guard's window `.flotilla-prune-window-<fleet>.<cluster>.json`. Edits
//! made by hand to the files are seen as live state, so they show up as
//! changes (and are corrected) on the next sync.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Applied, ApplyOptions, ClusterError, Destination, safe_fs};
use flotilla_core::model::ObjectKey;
use flotilla_core::model::inventory::inventory_name;
use flotilla_core::model::ownership::{MANAGED_BY, MANAGED_BY_LABEL};
use flotilla_core::model::{Inventory, InventoryEntry};
use flotilla_core::plan::{PruneWindow, prune_window_name};

/// A directory destination.
pub struct DirectoryDestination {
    root: PathBuf,
}

impl DirectoryDestination {
    /// A destination writing into `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io(&self, path: &Path, source: std::io::Error) -> ClusterError {
        ClusterError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    fn read(&self, path: &Path) -> Result<Option<String>, ClusterError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(path, e)),
        }
    }

    /// Writes the file `name` of the folder (never outside it; through a
    /// temporary file, so a crash never leaves half a file).
    fn write(&self, name: &str, text: &str, private: bool) -> Result<(), ClusterError> {
        safe_fs::write_file(&self.root, name, text.as_bytes(), private)
            .map(|_| ())
            .map_err(|e| self.io(&self.root.join(name), e))
    }

    /// The path of the file `name`, checked to stay inside the folder.
    fn path(&self, name: &str) -> Result<PathBuf, ClusterError> {
        safe_fs::path_inside(&self.root, name).map_err(|e| self.io(&self.root.join(name), e))
    }

    fn inventory_file(&self, fleet: &str, cluster: &str) -> String {
        format!(".{}.json", inventory_name(fleet, cluster))
    }
}

/// The prune window record's file, beside the inventory file.
fn prune_window_file(fleet: &str, cluster: &str) -> String {
    format!(".{}.json", prune_window_name(fleet, cluster))
}

impl Destination for DirectoryDestination {
    async fn live(
        &mut self,
        objects: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        let mut live = HashMap::new();
        for (_, key) in objects {
            let path = self.path(&key.file_name())?;
            if let Some(text) = self.read(&path)? {
                // A file that no longer parses is live but matches nothing.
                let value = flotilla_core::yaml::split_documents(&text)
                    .first()
                    .and_then(|d| {
                        flotilla_core::yaml::parse::<Value>(&path.display().to_string(), d).ok()
                    })
                    .unwrap_or(Value::Null);
                live.insert((*key).clone(), Arc::new(value));
            }
        }
        Ok(live)
    }

    async fn apply(
        &mut self,
        object: &Value,
        _live: Option<&Value>,
        options: ApplyOptions,
    ) -> Result<Applied, ClusterError> {
        let key = ObjectKey::of(object).ok_or(ClusterError::Unaddressable)?;
        let name = key.file_name();
        let path = self.path(&name)?;
        let text = flotilla_core::yaml::to_string(object);
        let outcome = match self.read(&path)? {
            None => Applied::Created,
            Some(old) if old == text => return Ok(Applied::Unchanged),
            Some(_) => Applied::Configured,
        };
        if !options.dry_run {
            // A Secret's file is readable by its owner only.
            let private = key.group.is_empty() && key.kind == "Secret";
            self.write(&name, &text, private)?;
        }
        Ok(outcome)
    }

    async fn dry_run_apply(&mut self, _object: &Value) -> Result<Option<Value>, ClusterError> {
        Ok(None)
    }

    async fn wait_established(
        &mut self,
        _crd: &Value,
        _timeout: Duration,
    ) -> Result<(), ClusterError> {
        Ok(())
    }

    async fn delete(
        &mut self,
        entry: &InventoryEntry,
        dry_run: bool,
    ) -> Result<bool, ClusterError> {
        // The file name is derived from the entry's identity, never read
        // from the inventory, and checked to stay inside the folder.
        let key = entry.key();
        let name = key.file_name();
        let path = self.path(&name)?;
        let Some(text) = self.read(&path)? else {
            return Ok(false);
        };
        // Only a file the engine wrote goes: it holds this very object,
        // labelled as managed by Flotilla. Anything else at that name (a
        // file put there by hand, an inventory edited to name it) stays.
        let ours = flotilla_core::yaml::split_documents(&text)
            .first()
            .and_then(|d| flotilla_core::yaml::parse::<Value>(&name, d).ok())
            .is_some_and(|v| {
                ObjectKey::of(&v).as_ref() == Some(&key)
                    && v.pointer("/metadata/labels")
                        .and_then(|l| l.get(MANAGED_BY_LABEL))
                        .and_then(Value::as_str)
                        == Some(MANAGED_BY)
            });
        if !ours {
            return Err(ClusterError::NotOurs {
                path: path.display().to_string(),
                object: Box::new(key),
            });
        }
        if !dry_run {
            safe_fs::remove_file(&self.root, &name).map_err(|e| self.io(&path, e))?;
        }
        Ok(true)
    }

    async fn read_inventory(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<Option<Inventory>, ClusterError> {
        let path = self.path(&self.inventory_file(fleet, cluster))?;
        match self.read(&path)? {
            None => Ok(None),
            Some(text) => {
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|source| ClusterError::Inventory {
                        name: path.display().to_string(),
                        source,
                    })
            }
        }
    }

    fn runs_workloads(&self) -> bool {
        false
    }

    async fn write_inventory(&mut self, inventory: &Inventory) -> Result<(), ClusterError> {
        let name = self.inventory_file(&inventory.fleet, &inventory.cluster);
        let text = serde_json::to_string_pretty(inventory).expect("an inventory serialises") + "\n";
        self.write(&name, &text, false)
    }

    async fn read_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<PruneWindow, ClusterError> {
        let path = self.path(&prune_window_file(fleet, cluster))?;
        match self.read(&path)? {
            None => Ok(PruneWindow::default()),
            Some(text) => serde_json::from_str(&text).map_err(|source| ClusterError::Inventory {
                name: path.display().to_string(),
                source,
            }),
        }
    }

    async fn write_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
        window: &PruneWindow,
    ) -> Result<(), ClusterError> {
        let text = serde_json::to_string_pretty(window).expect("a window serialises") + "\n";
        self.write(&prune_window_file(fleet, cluster), &text, false)
    }
}
