//! Reading a revision of a local repository from its object database (no
//! checkout, the work tree is left alone).

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use flotilla_core::snapshot::Snapshot;

use super::SourceError;
use super::resolve::{ResolveError, Resolved, resolve_local};
use super::tree::read_tree;

/// A local repository, and the folder inside it that the fleet lives in.
pub(crate) struct LocalRepo {
    repo: Repository,
    /// The fleet folder, relative to the work tree root (`""` for the root).
    subdir: String,
    folder: PathBuf,
}

impl LocalRepo {
    /// Finds the repository that `folder` belongs to (searching upwards).
    pub(crate) fn discover(folder: &Path) -> Result<Self, SourceError> {
        let repo = Repository::discover(folder).map_err(|e| SourceError::NotARepository {
            path: folder.to_owned(),
            message: e.message().to_owned(),
        })?;
        let subdir = match repo.workdir() {
            Some(workdir) => relative_folder(workdir, folder)?,
            None => String::new(),
        };
        Ok(Self {
            repo,
            subdir,
            folder: folder.to_owned(),
        })
    }

    /// The repository.
    pub(crate) fn repository(&self) -> &Repository {
        &self.repo
    }

    fn shown(&self) -> String {
        self.folder.display().to_string()
    }

    /// Resolves `rev` (branch, tag, commit id, or any Git revision expression).
    pub(crate) fn resolve(&self, rev: &str) -> Result<Resolved, SourceError> {
        resolve_local(&self.repo, rev).map_err(|e| match e {
            ResolveError::NotFound | ResolveError::NoDefaultBranch => SourceError::RevNotFound {
                rev: rev.to_owned(),
                location: self.shown(),
            },
            ResolveError::Ambiguous => SourceError::AmbiguousRev {
                rev: rev.to_owned(),
                location: self.shown(),
            },
            ResolveError::Git(e) => self.error(&e),
        })
    }

    /// Reads the fleet folder of `commit` into a snapshot labelled with its id.
    pub(crate) fn read(&self, commit: Oid) -> Result<Snapshot, SourceError> {
        let found = self.repo.find_commit(commit).map_err(|e| self.error(&e))?;
        let info = crate::tree::commit_info(&found);
        let tree = found.tree().map_err(|e| self.error(&e))?;
        if !self.subdir.is_empty() {
            let missing = match tree.get_path(Path::new(&self.subdir)) {
                Ok(entry) => entry.kind() != Some(git2::ObjectType::Tree),
                Err(_) => true,
            };
            if missing {
                return Err(SourceError::FolderNotInRevision {
                    folder: self.subdir.clone(),
                    rev: commit.to_string(),
                    location: self.shown(),
                });
            }
        }
        let snapshot = read_tree(&self.repo, &tree, &self.subdir).map_err(|e| self.error(&e))?;
        Ok(snapshot.with_revision(commit.to_string()).with_commit(info))
    }

    /// Whether `new` has `old` in its history (`false` when `old` is gone).
    pub(crate) fn descends(&self, new: Oid, old: Oid) -> bool {
        self.repo.find_commit(old).is_ok()
            && self.repo.graph_descendant_of(new, old).unwrap_or(false)
    }

    fn error(&self, e: &git2::Error) -> SourceError {
        SourceError::LocalRepository {
            path: self.folder.clone(),
            message: e.message().to_owned(),
        }
    }
}

/// `folder` relative to the work tree root `workdir`, `/`-separated.
fn relative_folder(workdir: &Path, folder: &Path) -> Result<String, SourceError> {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|source| SourceError::Io {
            path: p.to_owned(),
            source,
        })
    };
    let workdir = canonical(workdir)?;
    let folder = canonical(folder)?;
    let relative = folder.strip_prefix(&workdir).unwrap_or(Path::new(""));
    Ok(relative
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .collect::<Vec<_>>()
        .join("/"))
}
