//! Reading a Git tree into a [`Snapshot`], in memory, without a checkout.
//!
//! The rules match those of the work tree reader: hidden files and folders are
//! skipped, symlinks are followed when they stay inside the tree (and skipped
//! when they leave it, dangle, or would loop), submodules are skipped.

use git2::{ObjectType, Oid, Repository, Tree};

use flotilla_core::snapshot::Snapshot;

use super::paths::{is_hidden, join, resolve_link};

/// Git's file mode for symbolic links.
const MODE_SYMLINK: i32 = 0o120000;
/// How many symlinks may be chained before one is given up on.
const MAX_LINK_HOPS: usize = 8;

/// Every file below `tree`, paths relative to it. `root` is the tree that
/// symlink targets are resolved in (the same tree, or the commit's root tree
/// when `tree` is a sub-folder of it, with `base` the sub-folder's path).
pub(crate) fn read_tree(
    repo: &Repository,
    root: &Tree<'_>,
    base: &str,
) -> Result<Snapshot, git2::Error> {
    let start = if base.is_empty() {
        root.clone()
    } else {
        repo.find_tree(root.get_path(std::path::Path::new(base))?.id())?
    };
    let mut reader = Reader {
        repo,
        root,
        base,
        snapshot: Snapshot::new(),
        stack: vec![base.to_owned()],
    };
    reader.walk(&start, "", base)?;
    Ok(reader.snapshot)
}

struct Reader<'r, 'a> {
    repo: &'r Repository,
    root: &'a Tree<'r>,
    /// The folder of the repository the snapshot is rooted at.
    base: &'a str,
    snapshot: Snapshot,
    /// The real (root-relative) folders being walked, outermost first.
    stack: Vec<String>,
}

impl Reader<'_, '_> {
    /// Walks `tree`, found at snapshot path `prefix` and real path `real`.
    fn walk(&mut self, tree: &Tree<'_>, prefix: &str, real: &str) -> Result<(), git2::Error> {
        for entry in tree.iter() {
            let Ok(name) = entry.name() else {
                tracing::warn!(folder = prefix, "skipping a file whose name is not UTF-8");
                continue;
            };
            if is_hidden(name) {
                continue;
            }
            let path = join(prefix, name);
            let real_path = join(real, name);
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = self.repo.find_tree(entry.id())?;
                    self.stack.push(real_path.clone());
                    self.walk(&sub, &path, &real_path)?;
                    self.stack.pop();
                }
                Some(ObjectType::Blob) if entry.filemode() == MODE_SYMLINK => {
                    self.follow(entry.id(), &path, real, 0)?;
                }
                Some(ObjectType::Blob) => {
                    let blob = self.repo.find_blob(entry.id())?;
                    self.snapshot.insert(path, blob.content());
                }
                Some(ObjectType::Commit) => {
                    tracing::debug!(path, "skipping a submodule");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Follows the symlink blob `link` found at snapshot path `path`, in the
    /// real folder `real_dir`.
    fn follow(
        &mut self,
        link: Oid,
        path: &str,
        real_dir: &str,
        hops: usize,
    ) -> Result<(), git2::Error> {
        let blob = self.repo.find_blob(link)?;
        let target = String::from_utf8_lossy(blob.content());
        let Some(resolved) = resolve_link(real_dir, &target) else {
            tracing::debug!(path, "skipping a symlink that leaves the repository");
            return Ok(());
        };
        if hops >= MAX_LINK_HOPS {
            tracing::debug!(path, "skipping a symlink chain that is too long");
            return Ok(());
        }
        if resolved.split('/').any(is_hidden) || !within(&resolved, self.base) {
            tracing::debug!(
                path,
                "skipping a symlink to a hidden path or outside the fleet folder"
            );
            return Ok(());
        }
        if resolved.is_empty() {
            tracing::debug!(path, "skipping a symlink to the repository root (a loop)");
            return Ok(());
        }
        let entry = match self.root.get_path(std::path::Path::new(&resolved)) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                tracing::debug!(path, "skipping a dangling symlink");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match entry.kind() {
            Some(ObjectType::Blob) if entry.filemode() == MODE_SYMLINK => {
                let parent = resolved.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
                self.follow(entry.id(), path, &parent, hops + 1)
            }
            Some(ObjectType::Blob) => {
                let blob = self.repo.find_blob(entry.id())?;
                self.snapshot.insert(path, blob.content());
                Ok(())
            }
            Some(ObjectType::Tree) => {
                if self
                    .stack
                    .iter()
                    .any(|on_stack| within(on_stack, &resolved))
                {
                    tracing::debug!(
                        path,
                        "skipping a symlink that loops back to a parent folder"
                    );
                    return Ok(());
                }
                let sub = self.repo.find_tree(entry.id())?;
                self.stack.push(resolved.clone());
                let result = self.walk(&sub, path, &resolved);
                self.stack.pop();
                result
            }
            _ => Ok(()),
        }
    }
}

/// Whether the root-relative path `path` is `folder` or lies below it.
fn within(path: &str, folder: &str) -> bool {
    folder.is_empty()
        || path == folder
        || (path.starts_with(folder) && path.as_bytes().get(folder.len()) == Some(&b'/'))
}
