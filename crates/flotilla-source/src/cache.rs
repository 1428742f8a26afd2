//! The bare repository that caches a remote, and its recovery.
//!
//! Each remote gets `<cache root>/<sanitised-url-hash>/`, a bare repository
//! with the remote's branches under `refs/remotes/origin/`, its tags under
//! `refs/tags/`, and `refs/remotes/origin/HEAD` pointing at its default branch.
//! Nothing is ever checked out. libgit2 writes objects and packs atomically
//! (temporary file, then rename) and moves refs only after the objects are in,
//! so an interrupted fetch leaves at worst unused temporary files and stale ref
//! locks, which are cleaned up under the cache lock. A cache that cannot be
//! opened, or turns out to be missing objects, is deleted and fetched afresh.

use std::path::{Path, PathBuf};

use git2::{Repository, RepositoryInitOptions};

use super::SourceError;
use super::location::RemoteUrl;
use super::lock::{CacheLock, LOCK_TIMEOUT};

/// Every incremental fetch adds a pack; past this many, the cache is rebuilt
/// with a fresh clone (libgit2 cannot repack) to keep object lookups fast.
const MAX_PACKS: usize = 200;

/// The cache of one remote.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    root: PathBuf,
    name: String,
}

impl Cache {
    /// The cache of `url` under `root`.
    pub(crate) fn new(root: PathBuf, url: &RemoteUrl) -> Self {
        Self {
            root,
            name: url.cache_name(),
        }
    }

    /// The bare repository's folder.
    pub(crate) fn path(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// Takes the cache's lock; hold it for as long as the cache is used.
    pub(crate) fn lock(&self) -> Result<CacheLock, SourceError> {
        CacheLock::acquire(&self.root.join(format!("{}.lock", self.name)), LOCK_TIMEOUT)
    }

    /// Opens the cache, creating it, or rebuilding it when it is unusable.
    /// Returns whether it is brand new (empty). Call with the lock held.
    pub(crate) fn open(&self, lock: &CacheLock) -> Result<(Repository, bool), SourceError> {
        let path = self.path();
        if path.exists() {
            match Repository::open_bare(&path) {
                Ok(repo) if repo.is_bare() => {
                    let packs = count_packs(&path);
                    if packs <= MAX_PACKS {
                        remove_stale_ref_locks(&path);
                        return Ok((repo, false));
                    }
                    tracing::info!(cache = %path.display(), packs, "rebuilding a Git cache that holds too many packs");
                }
                Ok(_) => {
                    tracing::warn!(cache = %path.display(), "the Git cache is not a bare repository; rebuilding it");
                }
                Err(e) => {
                    tracing::warn!(cache = %path.display(), error = %e.message(), "the Git cache cannot be opened; rebuilding it");
                }
            }
            self.wipe(lock)?;
        }
        let repo =
            Repository::init_opts(&path, RepositoryInitOptions::new().bare(true).mkpath(true))
                .map_err(|e| SourceError::Cache {
                    path: path.clone(),
                    message: format!("cannot create it: {}", e.message()),
                })?;
        Ok((repo, true))
    }

    /// Deletes the cache folder. Call with the lock held.
    pub(crate) fn wipe(&self, _lock: &CacheLock) -> Result<(), SourceError> {
        let path = self.path();
        match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SourceError::Cache {
                path,
                message: format!("cannot delete it to rebuild it: {e}"),
            }),
        }
    }
}

/// Checks that every ref of the cache is readable and points at a readable
/// commit with a readable root tree. Cheap: a few objects per ref.
pub(crate) fn check_health(repo: &Repository) -> Result<(), String> {
    // libgit2's ref iterator silently skips unreadable loose refs: look them up one by one.
    for name in loose_ref_names(repo.path()) {
        repo.find_reference(&name)
            .map_err(|e| format!("{name}: {}", e.message()))?;
    }
    let refs = repo.references().map_err(|e| e.message().to_owned())?;
    for reference in refs {
        let reference = reference.map_err(|e| e.message().to_owned())?;
        let name = String::from_utf8_lossy(reference.name_bytes()).into_owned();
        if reference.symbolic_target_bytes().is_some() {
            continue;
        }
        let commit = reference
            .peel_to_commit()
            .map_err(|e| format!("{name}: {}", e.message()))?;
        commit
            .tree()
            .map_err(|e| format!("{name}: {}", e.message()))?;
    }
    Ok(())
}

/// The names of the loose refs under `refs/` (lock files excluded).
fn loose_ref_names(repo: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut dirs = vec![(repo.join("refs"), "refs".to_owned(), 0)];
    while let Some((dir, prefix, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Some(name) = entry.file_name().to_str().map(|n| format!("{prefix}/{n}")) else {
                continue;
            };
            match entry.file_type() {
                Ok(kind) if kind.is_dir() && depth < 16 => {
                    dirs.push((entry.path(), name, depth + 1))
                }
                Ok(kind) if kind.is_file() && !name.ends_with(".lock") => names.push(name),
                _ => {}
            }
        }
    }
    names
}

fn count_packs(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("objects/pack")).map_or(0, |dir| {
        dir.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
            .count()
    })
}

/// Removes `*.lock` files that an interrupted fetch left in the cache (in
/// `refs/` and at the top). Safe because we hold the cache lock: nobody else
/// can be writing.
fn remove_stale_ref_locks(repo: &Path) {
    fn visit(dir: &Path, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth < 16 {
                visit(&path, depth + 1);
            } else if kind.is_file() && path.extension().is_some_and(|x| x == "lock") {
                tracing::debug!(file = %path.display(), "removing a stale lock file from the Git cache");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    visit(&repo.join("refs"), 0);
    for name in [
        "packed-refs.lock",
        "config.lock",
        "HEAD.lock",
        "shallow.lock",
    ] {
        let _ = std::fs::remove_file(repo.join(name));
    }
}
