//! Reading a Git tree into a [`Snapshot`], in memory, without a checkout.
//!
//! The rules match those of the work tree reader: hidden files and folders are
//! skipped, symlinks are never followed (each is recorded in the snapshot and
//! reported as an error when the fleet loads), submodules are skipped.

use git2::{ObjectType, Repository, Tree};

use flotilla_core::snapshot::Snapshot;

use super::paths::{is_hidden, join};

/// Git's file mode for symbolic links.
const MODE_SYMLINK: i32 = 0o120000;

/// Every file below `tree`, paths relative to it. `root` is the commit's
/// root tree and `base` the sub-folder of it the snapshot is rooted at.
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
        snapshot: Snapshot::new(),
    };
    reader.walk(&start, "")?;
    Ok(reader.snapshot)
}

struct Reader<'r> {
    repo: &'r Repository,
    snapshot: Snapshot,
}

impl Reader<'_> {
    /// Walks `tree`, found at snapshot path `prefix`.
    fn walk(&mut self, tree: &Tree<'_>, prefix: &str) -> Result<(), git2::Error> {
        for entry in tree.iter() {
            let Ok(name) = entry.name() else {
                tracing::warn!(folder = prefix, "skipping a file whose name is not UTF-8");
                continue;
            };
            if is_hidden(name) {
                continue;
            }
            let path = join(prefix, name);
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = self.repo.find_tree(entry.id())?;
                    self.walk(&sub, &path)?;
                }
                Some(ObjectType::Blob) if entry.filemode() == MODE_SYMLINK => {
                    self.snapshot.insert_symlink(path);
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
}

/// A commit's summary line and author name, as a person reads them (lossy
/// UTF-8, control characters dropped, each capped at 200 characters).
pub(crate) fn commit_info(commit: &git2::Commit<'_>) -> flotilla_core::snapshot::CommitInfo {
    let clean = |bytes: &[u8]| -> String {
        String::from_utf8_lossy(bytes)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect()
    };
    let message = commit.message_bytes();
    let first = message.split(|b| *b == b'\n').next().unwrap_or_default();
    flotilla_core::snapshot::CommitInfo {
        summary: clean(first).trim().to_string(),
        author: clean(commit.author().name_bytes()).trim().to_string(),
    }
}
