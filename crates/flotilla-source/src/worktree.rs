//! Reading a local folder (a work tree) from disk into a [`Snapshot`].
//!
//! Every file is read; hidden files and folders (`.git`, `.flotilla`, ...) are
//! skipped; symlinks are followed only when they stay inside the folder, and a
//! symlink to a folder that is already being walked (a loop) is skipped.

use std::fs;
use std::path::{Path, PathBuf};

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
        root: canonical.clone(),
        snapshot: Snapshot::new(),
        stack: vec![canonical.clone()],
    };
    walker.walk(&canonical, "")?;
    Ok(walker.snapshot)
}

struct Walker {
    root: PathBuf,
    snapshot: Snapshot,
    /// The real folders being walked, outermost first.
    stack: Vec<PathBuf>,
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
                self.follow(&path, &rel)?;
            } else if kind.is_dir() {
                self.stack.push(path.clone());
                self.walk(&path, &rel)?;
                self.stack.pop();
            } else if kind.is_file() {
                let contents = fs::read(&path).map_err(io(&path))?;
                self.snapshot.insert(rel, &contents);
            }
        }
        Ok(())
    }

    fn follow(&mut self, link: &Path, rel: &str) -> Result<(), SourceError> {
        let Ok(target) = fs::canonicalize(link) else {
            tracing::debug!(path = rel, "skipping a dangling symlink");
            return Ok(());
        };
        let Ok(inside) = target.strip_prefix(&self.root) else {
            tracing::debug!(path = rel, "skipping a symlink that leaves the folder");
            return Ok(());
        };
        if inside
            .components()
            .any(|c| c.as_os_str().to_str().is_none_or(is_hidden))
        {
            tracing::debug!(path = rel, "skipping a symlink to a hidden path");
            return Ok(());
        }
        if target.is_dir() {
            if self
                .stack
                .iter()
                .any(|on_stack| on_stack.starts_with(&target))
            {
                tracing::debug!(
                    path = rel,
                    "skipping a symlink that loops back to a parent folder"
                );
                return Ok(());
            }
            self.stack.push(target.clone());
            let result = self.walk(&target, rel);
            self.stack.pop();
            result
        } else if target.is_file() {
            let contents = fs::read(&target).map_err(|source| SourceError::Io {
                path: link.to_owned(),
                source,
            })?;
            self.snapshot.insert(rel.to_owned(), &contents);
            Ok(())
        } else {
            Ok(())
        }
    }
}
