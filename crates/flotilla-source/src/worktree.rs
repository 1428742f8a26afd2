//! Reading a local folder (a work tree) from disk into a [`Snapshot`].
//!
//! Every file is read; hidden files and folders (`.git`, `.flotilla`, ...) are
//! skipped; symlinks are never followed: each is recorded in the snapshot,
//! and loading reports it as an error (a manifest skipped silently would
//! have its object pruned).

use std::fs;
use std::path::Path;

use flotilla_core::snapshot::Snapshot;

use super::SourceError;
use super::paths::{is_hidden, join};

/// Reads every non-hidden file below `root`.
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
    walker.walk(&canonical, "")?;
    Ok(walker.snapshot)
}

struct Walker {
    snapshot: Snapshot,
}

impl Walker {
    fn walk(&mut self, dir: &Path, prefix: &str) -> Result<(), SourceError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SourceError::Io { path, source }
        };
        for entry in fs::read_dir(dir).map_err(io(dir))? {
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
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_symlink() {
                self.snapshot.insert_symlink(rel);
            } else if kind.is_dir() {
                self.walk(&path, &rel)?;
            } else if kind.is_file() {
                let contents = fs::read(&path).map_err(io(&path))?;
                self.snapshot.insert(rel, &contents);
            }
        }
        Ok(())
    }
}
