//! An immutable, in-memory view of a fleet repository at one revision.
//!
//! A [`Snapshot`] is the boundary between the imperative shell (Git, the file
//! system) and the functional core (loading and rendering): every source turns
//! what it reads into a `Snapshot`, and the loader never touches anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The files of a fleet repository: repository-relative paths (always `/`
/// separated, no leading `./`) mapped to their bytes, plus an optional label of
/// the revision they were read from (a commit id, or `None` for a work tree).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<String, Arc<[u8]>>,
    revision: Option<String>,
    /// Symlinks found while reading: never followed, and an error when
    /// the fleet is loaded (a silently skipped manifest would be pruned).
    symlinks: BTreeSet<String>,
    /// The commit's summary and author, when read from Git.
    commit: Option<CommitInfo>,
    /// The age keys SOPS-encrypted documents are decrypted with, as the
    /// fleet is loaded (see [`crate::sops`]).
    sops_keys: Option<Arc<crate::sops::AgeKeys>>,
}

/// What a person reads about a commit: its summary line and author.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CommitInfo {
    /// The first line of the commit message.
    pub summary: String,
    /// The author's name.
    pub author: String,
}

impl Snapshot {
    /// An empty snapshot with no revision.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a snapshot from `(path, contents)` pairs; handy in tests.
    pub fn from_files<P, C>(files: impl IntoIterator<Item = (P, C)>) -> Self
    where
        P: Into<String>,
        C: AsRef<[u8]>,
    {
        let mut snap = Self::new();
        for (path, contents) in files {
            snap.insert(path, contents.as_ref());
        }
        snap
    }

    /// Sets the revision label (a commit id, usually).
    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// Sets the commit's summary and author.
    pub fn with_commit(mut self, commit: CommitInfo) -> Self {
        self.commit = Some(commit);
        self
    }

    /// The commit's summary and author, if the snapshot came from Git.
    pub fn commit(&self) -> Option<&CommitInfo> {
        self.commit.as_ref()
    }

    /// Sets the age keys that decrypt its SOPS-encrypted documents.
    pub fn with_sops_keys(mut self, keys: Option<Arc<crate::sops::AgeKeys>>) -> Self {
        self.sops_keys = keys;
        self
    }

    /// The age keys that decrypt its SOPS-encrypted documents, if given.
    pub fn sops_keys(&self) -> Option<&crate::sops::AgeKeys> {
        self.sops_keys.as_deref()
    }

    /// The revision this snapshot was read from, if it came from Git.
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// Adds or replaces one file. The path is normalised to `/` separators
    /// without a leading `./` or `/`.
    pub fn insert(&mut self, path: impl Into<String>, contents: &[u8]) {
        self.files
            .insert(normalise(&path.into()), Arc::from(contents));
    }

    /// Records a symlink found at `path` (not followed).
    pub fn insert_symlink(&mut self, path: impl Into<String>) {
        self.symlinks.insert(normalise(&path.into()));
    }

    /// The symlinks found while reading, in lexical order.
    pub fn symlinks(&self) -> impl Iterator<Item = &str> {
        self.symlinks.iter().map(String::as_str)
    }

    /// The bytes of the file at `path`, if present.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(&normalise(path)).map(|c| &**c)
    }

    /// Whether any file lies at or below `path` (a file or a folder).
    pub fn exists(&self, path: &str) -> bool {
        let path = normalise(path);
        if path.is_empty() {
            return !self.files.is_empty();
        }
        if self.files.contains_key(&path) {
            return true;
        }
        let prefix = format!("{path}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// Every file strictly below the folder `dir` (recursively), in lexical
    /// order of their paths, which is the order the loader reads them in.
    pub fn files_under<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let dir = normalise(dir);
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.files
            .range(prefix.clone()..)
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .map(|(p, c)| (p.as_str(), &**c))
    }

    /// Every file path in the snapshot, in lexical order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the snapshot holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Normalises a repository-relative path: `\` to `/`, no leading `./` or `/`,
/// no trailing `/`, no empty or `.` segments.
pub fn normalise(path: &str) -> String {
    path.replace('\\', "/")
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_under_lists_only_that_folder_recursively_in_order() {
        let snap = Snapshot::from_files([
            ("bases/web/b.yaml", "b"),
            ("bases/web/a.yaml", "a"),
            ("bases/web/sub/c.yaml", "c"),
            ("bases/web2/x.yaml", "x"),
            ("bases/we", "no"),
        ]);
        let listed: Vec<_> = snap.files_under("./bases/web/").map(|(p, _)| p).collect();
        assert_eq!(
            listed,
            [
                "bases/web/a.yaml",
                "bases/web/b.yaml",
                "bases/web/sub/c.yaml"
            ]
        );
        assert!(snap.exists("bases/web"));
        assert!(!snap.exists("bases/w"));
        assert_eq!(snap.get("./bases/web/a.yaml"), Some(&b"a"[..]));
    }
}
