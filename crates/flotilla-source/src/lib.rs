//! Where fleet repositories come from: local folders and Git remotes.
//!
//! A [`Source`] turns a repository location into [`Snapshot`]s, the only input
//! of the pure loader:
//!
//! - a **local folder** without a revision is read from disk as it is (the
//!   development loop; see [`watch`] to re-render on every save);
//! - a **local folder** with a revision is read from its repository's object
//!   database, without a checkout;
//! - a **URL** (`file://`, `git://`, `http(s)://`, `ssh://`, scp-like
//!   `user@host:path`) is fetched incrementally into a bare cache and the
//!   commit's tree is read in memory.
//!
//! ```no_run
//! use flotilla_source::{PollOutcome, Source, SourceSpec};
//!
//! let mut source = Source::open(SourceSpec::new("https://git.example.com/fleet.git"))?;
//! let first = source.snapshot(None)?; // the remote's default branch
//! match source.poll()? {
//!     PollOutcome::Unchanged { .. } => {}
//!     PollOutcome::Updated { snapshot, history_rewritten, .. } => {
//!         if history_rewritten {
//!             tracing::warn!("history was rewritten");
//!         }
//!         drop(snapshot); // render it
//!     }
//! }
//! # drop(first);
//! # Ok::<(), flotilla_source::SourceError>(())
//! ```
//!
//! Credentials never appear in logs, `Debug` output or errors: URLs are shown
//! without their user information, and libgit2's messages are scrubbed.

mod cache;
mod callbacks;
mod credentials;

mod error;
mod fetch;
mod known_hosts;
mod local;
mod location;
mod lock;
mod network;
mod paths;
mod poll;
mod remote;
mod resolve;
mod threads;
mod tree;
mod verify;
pub mod watch;
mod worktree;

use std::fmt;
use std::path::{Path, PathBuf};

use git2::Oid;

use flotilla_core::snapshot::Snapshot;

pub use credentials::{
    Credentials, ENV_KNOWN_HOSTS, ENV_PASSWORD, ENV_SSH_KEY, ENV_SSH_PASSPHRASE, ENV_TOKEN,
    ENV_USERNAME, HttpAuth, Secret, SshKey, TOKEN_USERNAME,
};
pub use error::SourceError;
pub use network::{NetworkTimeouts, network_timeouts, set_network_timeouts};
pub use poll::PollOutcome;
pub use threads::Threads;
pub use verify::Verification;
pub use watch::{Edits, FolderWatcher};

use local::LocalRepo;
use location::Location;
use remote::{RemoteSource, Step};
use resolve::RefKind;

/// What to read: a location, the revision to track, where to cache remotes, and
/// how to authenticate.
#[derive(Clone, Default)]
pub struct SourceSpec {
    /// A local folder, or a URL: `file://`, `git://`, `http://`, `https://`,
    /// `ssh://`, or scp-like `user@host:path`.
    pub location: String,
    /// The revision to read and track: a branch, a tag, or a full or short
    /// commit id. `None`: the work tree of a local folder, or the default branch
    /// (remote `HEAD`) of a URL.
    pub rev: Option<String>,
    /// The folder that holds the caches of remotes, one sub-folder per URL;
    /// `None`: [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// How to authenticate to remotes.
    pub credentials: Credentials,
    /// Which keys must have signed every commit read; nothing is verified
    /// by default.
    pub verification: Verification,
    /// The age keys attached to every snapshot, to decrypt its
    /// SOPS-encrypted documents as it is loaded.
    pub sops_keys: Option<std::sync::Arc<flotilla_core::sops::AgeKeys>>,
}

impl SourceSpec {
    /// A spec for `location`, tracking its default revision, with the default
    /// cache folder and no credentials.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            ..Self::default()
        }
    }

    /// Sets the revision to read and track.
    pub fn with_rev(mut self, rev: impl Into<String>) -> Self {
        self.rev = Some(rev.into());
        self
    }

    /// Sets the folder that holds the caches of remotes.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Attaches these age keys to every snapshot read (SOPS decryption).
    pub fn with_sops_keys(mut self, keys: flotilla_core::sops::AgeKeys) -> Self {
        self.sops_keys = Some(std::sync::Arc::new(keys));
        self
    }

    /// Requires every commit read to be signed by a key `verification`
    /// allows.
    pub fn with_verification(mut self, verification: Verification) -> Self {
        self.verification = verification;
        self
    }
}

impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceSpec")
            .field("location", &flotilla_redact::redact_url(&self.location))
            .field("rev", &self.rev)
            .field("cache_dir", &self.cache_dir)
            .field("credentials", &self.credentials)
            .field("verification", &self.verification)
            .finish()
    }
}

/// The default folder for the caches of remotes: `<user cache dir>/flotilla/repos`
/// (e.g. `~/.cache/flotilla/repos` on Linux), if the platform has one.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("flotilla").join("repos"))
}

/// One-shot read of `spec` at its revision: `Source::open(spec)?.snapshot(None)`.
pub fn snapshot(spec: SourceSpec) -> Result<Snapshot, SourceError> {
    Source::open(spec)?.snapshot(None)
}

/// A fleet repository to read snapshots from and poll for changes.
pub struct Source {
    kind: Kind,
    rev: Option<String>,
    last: Option<Seen>,
    verification: Verification,
    sops_keys: Option<std::sync::Arc<flotilla_core::sops::AgeKeys>>,
}

enum Kind {
    /// A local folder; `bare` when it is a bare repository (read at `HEAD`
    /// when no revision is given, as it has no work tree).
    Local {
        folder: PathBuf,
        bare: bool,
    },
    Remote(Box<RemoteSource>),
}

/// What the previous poll saw.
struct Seen {
    commit: Option<Oid>,
    kind: Option<RefKind>,
    /// For a work tree: its contents.
    contents: Option<Snapshot>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("location", &self.location())
            .field("rev", &self.rev)
            .field("cache", &self.cache_path())
            .field("last_revision", &self.last_revision())
            .finish()
    }
}

impl Source {
    /// Prepares a source. Checks that a local folder exists and loads the
    /// `known_hosts` file if one is configured; does not touch the network.
    pub fn open(spec: SourceSpec) -> Result<Self, SourceError> {
        let rev = spec.rev.filter(|r| !r.trim().is_empty());
        let kind = match Location::parse(&spec.location)? {
            Location::Local(folder) => {
                if !folder.is_dir() {
                    return Err(SourceError::FolderNotFound { path: folder });
                }
                // Only a folder shaped like a Git directory (HEAD, objects)
                // can be a bare repository: a plain folder or a work tree is
                // read without starting libgit2, whose start-up loads the
                // system's CA certificates (tens of milliseconds per run).
                let bare = folder.join("HEAD").is_file()
                    && folder.join("objects").is_dir()
                    && git2::Repository::open(&folder).is_ok_and(|r| r.is_bare());
                Kind::Local { folder, bare }
            }
            Location::Remote(url) => {
                let cache_root = match spec.cache_dir {
                    Some(dir) => dir,
                    None => default_cache_dir().ok_or(SourceError::NoCacheDir)?,
                };
                Kind::Remote(Box::new(RemoteSource::new(
                    url,
                    cache_root,
                    spec.credentials,
                )?))
            }
        };
        Ok(Self {
            kind,
            rev,
            last: None,
            verification: spec.verification,
            sops_keys: spec.sops_keys,
        })
    }

    /// The location, safe to show: a folder, or the URL without credentials.
    pub fn location(&self) -> String {
        match &self.kind {
            Kind::Local { folder, .. } => folder.display().to_string(),
            Kind::Remote(remote) => remote.url().to_owned(),
        }
    }

    /// The revision tracked by [`Source::poll`] (`None`: work tree or default branch).
    pub fn rev(&self) -> Option<&str> {
        self.rev.as_deref()
    }

    /// Whether the source is a Git remote (fetched into a cache).
    pub fn is_remote(&self) -> bool {
        matches!(self.kind, Kind::Remote(_))
    }

    /// The bare cache folder of a remote.
    pub fn cache_path(&self) -> Option<PathBuf> {
        match &self.kind {
            Kind::Local { .. } => None,
            Kind::Remote(remote) => Some(remote.cache_path()),
        }
    }

    /// The commit id seen by the last successful poll.
    pub fn last_revision(&self) -> Option<String> {
        self.last
            .as_ref()
            .and_then(|s| s.commit)
            .map(|c| c.to_string())
    }

    /// Reads the repository at `rev`, or at the tracked revision when `rev` is
    /// `None`. A remote is fetched on the first call; later calls read the cache
    /// as of the last fetch (see [`Source::fetch`]), fetching again only when
    /// `rev` is not found there. Does not change what [`Source::poll`] compares
    /// against.
    pub fn snapshot(&mut self, rev: Option<&str>) -> Result<Snapshot, SourceError> {
        let keys = self.sops_keys.clone();
        self.snapshot_inner(rev).map(|s| s.with_sops_keys(keys))
    }

    fn snapshot_inner(&mut self, rev: Option<&str>) -> Result<Snapshot, SourceError> {
        let rev = rev.or(self.rev.as_deref()).map(str::to_owned);
        let verification = &self.verification;
        match &mut self.kind {
            Kind::Local { folder, bare } => match (rev, *bare) {
                (None, false) if verification.is_enabled() => Err(SourceError::NotVerifiable {
                    path: folder.clone(),
                }),
                (None, false) => worktree::read_work_tree(folder),
                (rev, _) => {
                    let repo = LocalRepo::discover(folder)?;
                    let resolved = repo.resolve(rev.as_deref().unwrap_or("HEAD"))?;
                    check_signature(repo.repository(), resolved.commit, verification)?;
                    repo.read(resolved.commit)
                }
            },
            Kind::Remote(remote) => {
                let fetched_before = remote.has_fetched();
                let mut read = |refresh| {
                    remote.with_cache(refresh, |repo, remote| {
                        let resolved = remote.resolve(repo, rev.as_deref())?;
                        check_signature(repo, resolved.commit, verification)
                            .map_err(Step::Final)?;
                        remote.read(repo, resolved.commit)
                    })
                };
                match read(false) {
                    // Pushed since the last fetch? Fetch once more before giving up.
                    Err(SourceError::RevNotFound { .. }) if fetched_before => read(true),
                    result => result,
                }
            }
        }
    }

    /// Fetches a remote now, so that the next [`Source::snapshot`] sees its
    /// latest state. Does nothing for a local folder.
    pub fn fetch(&mut self) -> Result<(), SourceError> {
        match &mut self.kind {
            Kind::Local { .. } => Ok(()),
            Kind::Remote(remote) => remote.with_cache(true, |_, _| Ok(())),
        }
    }

    /// Checks the tracked revision for news: fetches a remote (or re-reads a
    /// local folder), and compares with what the previous poll saw. The first
    /// poll always reports [`PollOutcome::Updated`]. A tracked branch or tag that
    /// was deleted is an error naming it ([`SourceError::RefDeleted`]); the
    /// next poll after it reappears reports it again.
    pub fn poll(&mut self) -> Result<PollOutcome, SourceError> {
        let rev = self.rev.clone();
        let last = self.last.take();
        let verification = &self.verification;
        let result = match &mut self.kind {
            Kind::Local { folder, bare } => match (rev.as_deref(), *bare) {
                (None, false) if verification.is_enabled() => Err(SourceError::NotVerifiable {
                    path: folder.clone(),
                }),
                (None, false) => poll_work_tree(folder, last.as_ref()),
                (rev, _) => {
                    poll_local_repo(folder, rev.unwrap_or("HEAD"), last.as_ref(), verification)
                }
            },
            Kind::Remote(remote) => {
                poll_remote(remote, rev.as_deref(), last.as_ref(), verification)
            }
        };
        match result {
            Ok((outcome, seen)) => {
                self.last = Some(seen);
                Ok(match outcome {
                    PollOutcome::Updated {
                        snapshot,
                        previous,
                        history_rewritten,
                    } => PollOutcome::Updated {
                        snapshot: snapshot.with_sops_keys(self.sops_keys.clone()),
                        previous,
                        history_rewritten,
                    },
                    unchanged => unchanged,
                })
            }
            Err(e) => {
                self.last = last;
                Err(e)
            }
        }
    }
}

fn poll_work_tree(folder: &Path, last: Option<&Seen>) -> Result<(PollOutcome, Seen), SourceError> {
    let snapshot = worktree::read_work_tree(folder)?;
    let seen = Seen {
        commit: None,
        kind: None,
        contents: Some(snapshot.clone()),
    };
    let outcome = if last.and_then(|l| l.contents.as_ref()) == Some(&snapshot) {
        PollOutcome::Unchanged { revision: None }
    } else {
        PollOutcome::Updated {
            snapshot,
            previous: None,
            history_rewritten: false,
        }
    };
    Ok((outcome, seen))
}

/// Refuses `commit` unless it is signed by an allowed key, where
/// verification is enabled.
fn check_signature(
    repo: &git2::Repository,
    commit: Oid,
    verification: &Verification,
) -> Result<(), SourceError> {
    if verification.is_enabled() {
        let signer = verify::verify_commit(repo, commit, verification)?;
        tracing::debug!(%commit, signer, "verified commit signature");
    }
    Ok(())
}

fn poll_local_repo(
    folder: &Path,
    rev: &str,
    last: Option<&Seen>,
    verification: &Verification,
) -> Result<(PollOutcome, Seen), SourceError> {
    let repo = LocalRepo::discover(folder)?;
    let resolved = repo
        .resolve(rev)
        .map_err(|e| deleted_ref(e, last, &folder.display().to_string()))?;
    let previous = last.and_then(|l| l.commit);
    let seen = Seen {
        commit: Some(resolved.commit),
        kind: Some(resolved.kind),
        contents: None,
    };
    if previous == Some(resolved.commit) {
        let revision = Some(resolved.commit.to_string());
        return Ok((PollOutcome::Unchanged { revision }, seen));
    }
    check_signature(repo.repository(), resolved.commit, verification)?;
    let snapshot = repo.read(resolved.commit)?;
    let history_rewritten = previous.is_some_and(|old| !repo.descends(resolved.commit, old));
    Ok((updated(snapshot, previous, history_rewritten), seen))
}

fn poll_remote(
    remote: &mut RemoteSource,
    rev: Option<&str>,
    last: Option<&Seen>,
    verification: &Verification,
) -> Result<(PollOutcome, Seen), SourceError> {
    let previous = last.and_then(|l| l.commit);
    let (outcome, seen) = remote.with_cache(true, |repo, remote| {
        let resolved = remote.resolve(repo, rev).map_err(|step| match step {
            Step::Final(e) => Step::Final(deleted_ref(e, last, remote.url())),
            corrupt => corrupt,
        })?;
        let seen = Seen {
            commit: Some(resolved.commit),
            kind: Some(resolved.kind),
            contents: None,
        };
        if previous == Some(resolved.commit) {
            let revision = Some(resolved.commit.to_string());
            return Ok((PollOutcome::Unchanged { revision }, seen));
        }
        check_signature(repo, resolved.commit, verification).map_err(Step::Final)?;
        let snapshot = remote.read(repo, resolved.commit)?;
        let history_rewritten = match previous {
            Some(old) => !remote.descends(repo, resolved.commit, old)?,
            None => false,
        };
        Ok((updated(snapshot, previous, history_rewritten), seen))
    })?;
    if let PollOutcome::Updated {
        snapshot,
        previous,
        history_rewritten,
    } = &outcome
    {
        tracing::info!(
            url = remote.url(),
            revision = snapshot.revision().unwrap_or_default(),
            previous = previous.as_deref().unwrap_or_default(),
            history_rewritten,
            "new commit"
        );
    }
    Ok((outcome, seen))
}

fn updated(snapshot: Snapshot, previous: Option<Oid>, history_rewritten: bool) -> PollOutcome {
    PollOutcome::Updated {
        snapshot,
        previous: previous.map(|c| c.to_string()),
        history_rewritten,
    }
}

/// Turns "not found" into "deleted" when the previous poll saw the rev as a
/// branch or tag.
fn deleted_ref(error: SourceError, last: Option<&Seen>, location: &str) -> SourceError {
    match (&error, last) {
        (
            SourceError::RevNotFound { .. } | SourceError::NoDefaultBranch { .. },
            Some(Seen {
                commit: Some(commit),
                kind: Some(kind),
                ..
            }),
        ) => match kind.full_name() {
            Some(reference) => SourceError::RefDeleted {
                reference,
                location: location.to_owned(),
                last_commit: commit.to_string(),
            },
            None => error,
        },
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Source>();
        assert_send::<SourceSpec>();
        assert_send::<SourceError>();
        assert_send::<PollOutcome>();
    }

    #[test]
    fn a_bare_repository_is_read_at_head_and_a_plain_folder_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        // A bare repository with one commit holding fleet.yaml.
        let bare = dir.path().join("fleet.git");
        let repo = git2::Repository::init_bare(&bare).unwrap();
        let blob = repo.blob(b"committed\n").unwrap();
        let mut tree = repo.treebuilder(None).unwrap();
        tree.insert("fleet.yaml", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tree.write().unwrap()).unwrap();
        let who = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(Some("HEAD"), &who, &who, "one", &tree, &[])
            .unwrap();
        let mut source = Source::open(SourceSpec::new(bare.to_str().unwrap())).unwrap();
        let snapshot = source.snapshot(None).unwrap();
        assert_eq!(
            snapshot.get("fleet.yaml").map(|f| f.to_vec()),
            Some(b"committed\n".to_vec())
        );
        // A plain folder (a HEAD file alone does not make it a repository).
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("fleet.yaml"), "on disk\n").unwrap();
        std::fs::write(plain.join("HEAD"), "not git\n").unwrap();
        let mut source = Source::open(SourceSpec::new(plain.to_str().unwrap())).unwrap();
        let snapshot = source.snapshot(None).unwrap();
        assert_eq!(
            snapshot.get("fleet.yaml").map(|f| f.to_vec()),
            Some(b"on disk\n".to_vec())
        );
    }

    #[test]
    fn default_cache_dir_is_under_the_user_cache() {
        if let (Some(dir), Some(base)) = (default_cache_dir(), dirs::cache_dir()) {
            assert_eq!(dir, base.join("flotilla/repos"));
        }
    }
}
