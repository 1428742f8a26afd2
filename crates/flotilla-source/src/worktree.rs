//! Reading a local folder (a work tree) from disk into a [`Snapshot`].
//!
//! `fleet.yaml` is read first, then only the folders it names (its bases'
//! and overlays' paths, and `clusters/`: [`flotilla_core::load::folders_named`]),
//! and in them only `.yaml` and `.yml` files: a build folder, another
//! program's files, a FIFO or an unreadable file elsewhere in the folder is
//! never touched. Hidden files and folders (`.git`, `.flotilla`, ...) are
//! skipped; symlinks are never followed: each one in a named folder is
//! recorded in the snapshot, and loading reports it as an error (a manifest
//! skipped silently would have its object pruned). A file that vanishes
//! while the folder is read (a build deleting it) is skipped.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use flotilla_core::load::{FLEET_FILE, is_yaml_file};
use flotilla_core::snapshot::Snapshot;

use super::SourceError;
use super::paths::{FLEET_FILES, folders_to_read, is_hidden, join};

/// Reads `fleet.yaml` below `root`, then the YAML files of the folders it
/// names.
pub(crate) fn read_work_tree(root: &Path) -> Result<Snapshot, SourceError> {
    let canonical = fs::canonicalize(root).map_err(|_| SourceError::FolderNotFound {
        path: root.to_owned(),
    })?;
    if !canonical.is_dir() {
        return Err(SourceError::FolderNotFound {
            path: root.to_owned(),
        });
    }
    let mut walker = Walker {
        snapshot: Snapshot::new(),
    };
    let mut fleet_text = String::new();
    for name in FLEET_FILES {
        if let Some(bytes) = walker.read_file(&canonical.join(name), name)? {
            if name == FLEET_FILE {
                fleet_text = String::from_utf8_lossy(&bytes).into_owned();
            }
            break;
        }
    }
    for folder in folders_to_read(&fleet_text) {
        walker.walk_named(&canonical, &folder)?;
    }
    Ok(walker.snapshot)
}

struct Walker {
    snapshot: Snapshot,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError {
    let path = path.to_owned();
    move |source| SourceError::Io { path, source }
}

impl Walker {
    /// Reads the regular file at `path` (snapshot path `rel`) into the
    /// snapshot; `None` when there is none (or it vanished). A symlink is
    /// recorded, not followed.
    fn read_file(&mut self, path: &Path, rel: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        if meta.file_type().is_symlink() {
            self.snapshot.insert_symlink(rel);
            return Ok(None);
        }
        if !meta.is_file() {
            return Ok(None);
        }
        match fs::read(path) {
            Ok(contents) => {
                self.snapshot.insert(rel, &contents);
                Ok(Some(contents))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Walks the named folder `rel` below `root`, step by step so that no
    /// symlink on the way is followed; nothing when it does not exist
    /// (loading reports that).
    fn walk_named(&mut self, root: &Path, rel: &str) -> Result<(), SourceError> {
        let mut dir = root.to_owned();
        let mut prefix = String::new();
        for segment in rel.split('/') {
            if is_hidden(segment) {
                return Ok(());
            }
            dir.push(segment);
            prefix = join(&prefix, segment);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    self.snapshot.insert_symlink(prefix);
                    return Ok(());
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io(&dir)(e)),
            }
        }
        self.walk(&dir, &prefix)
    }

    fn walk(&mut self, dir: &Path, prefix: &str) -> Result<(), SourceError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(dir))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                tracing::warn!(folder = %dir.display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            if is_hidden(name) {
                continue;
            }
            let path = entry.path();
            let rel = join(prefix, name);
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            };
            if kind.is_symlink() {
                self.snapshot.insert_symlink(rel);
            } else if kind.is_dir() {
                self.walk(&path, &rel)?;
            } else if kind.is_file() && is_yaml_file(name) {
                self.read_file(&path, &rel)?;
            }
        }
        Ok(())
    }
}
