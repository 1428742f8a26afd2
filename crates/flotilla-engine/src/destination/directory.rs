//! A folder of hydrated manifests: one file per object, named
//! `<group>_<kind>_<namespace>_<name>.yaml`, removed when pruned; the
//! inventory is the hidden file `.flotilla-inventory-<fleet>.<cluster>.json`. Edits
//! made by hand to the files are seen as live state, so they show up as
//! changes (and are corrected) on the next sync.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Applied, ApplyOptions, ClusterError, Destination};
use flotilla_core::model::ObjectKey;
use flotilla_core::model::inventory::inventory_name;
use flotilla_core::model::{Inventory, InventoryEntry};

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

    fn write(&self, path: &Path, text: &str) -> Result<(), ClusterError> {
        std::fs::create_dir_all(&self.root).map_err(|e| self.io(&self.root, e))?;
        // Write then rename, so a crash never leaves half a file.
        let tmp = path.with_extension("tmp~");
        std::fs::write(&tmp, text).map_err(|e| self.io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| self.io(path, e))
    }

    fn inventory_path(&self, fleet: &str, cluster: &str) -> PathBuf {
        self.root
            .join(format!(".{}.json", inventory_name(fleet, cluster)))
    }
}

impl Destination for DirectoryDestination {
    async fn live(
        &mut self,
        objects: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        let mut live = HashMap::new();
        for (_, key) in objects {
            let path = self.root.join(key.file_name());
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
        let path = self.root.join(key.file_name());
        let text = flotilla_core::yaml::to_string(object);
        let outcome = match self.read(&path)? {
            None => Applied::Created,
            Some(old) if old == text => return Ok(Applied::Unchanged),
            Some(_) => Applied::Configured,
        };
        if !options.dry_run {
            self.write(&path, &text)?;
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
        let path = self.root.join(entry.key().file_name());
        if !path.exists() {
            return Ok(false);
        }
        if !dry_run {
            std::fs::remove_file(&path).map_err(|e| self.io(&path, e))?;
        }
        Ok(true)
    }

    async fn read_inventory(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<Option<Inventory>, ClusterError> {
        let path = self.inventory_path(fleet, cluster);
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
        let path = self.inventory_path(&inventory.fleet, &inventory.cluster);
        let text = serde_json::to_string_pretty(inventory).expect("an inventory serialises") + "\n";
        self.write(&path, &text)
    }
}
