//! Reading a Git tree into a [`Snapshot`], in memory, without a checkout.
//!
//! The rules match those of the work tree reader: `fleet.yaml` first, then
//! only the folders it names ([`flotilla_core::load::folders_named`]) and in
//! them only `.yaml` and `.yml` files, so a monorepo's other folders and
//! large files are never read into memory. Hidden files and folders are
//! skipped, symlinks are never followed (each one in a named folder, or on
//! the way to one, is recorded in the snapshot and reported as an error when
//! the fleet loads), submodules are skipped.

use git2::{ObjectType, Repository, Tree, TreeEntry};

use flotilla_core::load::{FLEET_FILE, is_yaml_file};
use flotilla_core::snapshot::Snapshot;

use super::paths::{FLEET_FILES, folders_to_read, is_hidden, join};

/// Git's file mode for symbolic links.
const MODE_SYMLINK: i32 = 0o120000;

/// `fleet.yaml` below `tree` and the YAML files of the folders it names,
/// paths relative to it. `root` is the commit's root tree and `base` the
/// sub-folder of it the snapshot is rooted at.
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
    let mut fleet_text = String::new();
    for name in FLEET_FILES {
        if let Some(entry) = start.get_name(name) {
            reader.file(&entry, name)?;
            if let Some(bytes) = reader.snapshot.get(name) {
                if name == FLEET_FILE {
                    fleet_text = String::from_utf8_lossy(bytes).into_owned();
                }
                break;
            }
        }
    }
    for folder in folders_to_read(&fleet_text) {
        reader.walk_named(&start, &folder)?;
    }
    Ok(reader.snapshot)
}

struct Reader<'r> {
    repo: &'r Repository,
    snapshot: Snapshot,
}

impl Reader<'_> {
    /// Reads the file `entry` (snapshot path `path`) into the snapshot; a
    /// symlink is recorded, not followed; anything else is skipped.
    fn file(&mut self, entry: &TreeEntry<'_>, path: &str) -> Result<(), git2::Error> {
        match entry.kind() {
            Some(ObjectType::Blob) if entry.filemode() == MODE_SYMLINK => {
                self.snapshot.insert_symlink(path);
            }
            Some(ObjectType::Blob) => {
                let blob = self.repo.find_blob(entry.id())?;
                self.snapshot.insert(path, blob.content());
            }
            _ => {}
        }
        Ok(())
    }

    /// Walks the named folder `rel` below `start`, segment by segment, so
    /// that a symlink on the way is recorded and not followed; nothing when
    /// it does not exist (loading reports that).
    fn walk_named(&mut self, start: &Tree<'_>, rel: &str) -> Result<(), git2::Error> {
        let mut tree = start.clone();
        let mut prefix = String::new();
        for segment in rel.split('/') {
            if is_hidden(segment) {
                return Ok(());
            }
            prefix = join(&prefix, segment);
            let Some((kind, mode, id)) = tree
                .get_name(segment)
                .map(|e| (e.kind(), e.filemode(), e.id()))
            else {
                return Ok(());
            };
            match kind {
                Some(ObjectType::Blob) if mode == MODE_SYMLINK => {
                    self.snapshot.insert_symlink(prefix);
                    return Ok(());
                }
                Some(ObjectType::Tree) => tree = self.repo.find_tree(id)?,
                _ => return Ok(()),
            }
        }
        self.walk(&tree, &prefix)
    }

    /// Walks `tree`, found at snapshot path `prefix`: its YAML files, its
    /// symlinks (recorded) and its folders.
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
                Some(ObjectType::Blob) if is_yaml_file(name) => {
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
