//! The one error type of the source layer.
//!
//! Every variant names what failed: the folder, the (redacted) URL, the ref or
//! the revision. No variant ever carries a credential: URLs are stored in their
//! redacted form and messages from libgit2 are scrubbed before they are kept.

use std::path::PathBuf;

/// Why a fleet repository could not be read, fetched, polled or watched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The location is neither an existing folder nor a supported URL.
    #[error("invalid repository location '{location}': {reason}")]
    InvalidLocation {
        /// The location as given (redacted).
        location: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A local folder does not exist or is not a folder.
    #[error("repository folder {} does not exist or is not a folder", path.display())]
    FolderNotFound {
        /// The folder that was asked for.
        path: PathBuf,
    },

    /// A file or folder of a local work tree could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A revision was asked of a local folder that is not inside a Git repository.
    #[error("{} is not inside a Git repository: {message}", path.display())]
    NotARepository {
        /// The folder.
        path: PathBuf,
        /// What libgit2 said.
        message: String,
    },

    /// A local repository could not be read.
    #[error("cannot read Git repository at {}: {message}", path.display())]
    LocalRepository {
        /// The repository (or the folder inside it).
        path: PathBuf,
        /// What failed.
        message: String,
    },

    /// A commit to be read is not signed by an allowed key.
    #[error("commit {commit} refused: {reason}")]
    Unverified {
        /// The commit id.
        commit: String,
        /// Why: unsigned, an unknown key, a bad signature.
        reason: String,
    },

    /// Signed commits were asked for, but the source is a work tree.
    #[error("{} is a work tree: its files are not a commit, so no signature can be verified (give --rev, or a Git URL)", path.display())]
    NotVerifiable {
        /// The folder.
        path: PathBuf,
    },

    /// The revision names no branch, tag or commit of the repository.
    #[error("revision '{rev}' not found in {location} (no branch, tag or commit of that name)")]
    RevNotFound {
        /// The revision that was asked for.
        rev: String,
        /// The redacted URL or the folder.
        location: String,
    },

    /// A short commit id matches more than one object.
    #[error("revision '{rev}' is ambiguous in {location}: use a longer commit id")]
    AmbiguousRev {
        /// The revision that was asked for.
        rev: String,
        /// The redacted URL or the folder.
        location: String,
    },

    /// A ref that was being tracked disappeared from the remote.
    #[error("{reference} was deleted from {location}; it was last seen at commit {last_commit}")]
    RefDeleted {
        /// The full ref name, e.g. `refs/heads/feature`.
        reference: String,
        /// The redacted URL or the folder.
        location: String,
        /// The commit the ref pointed at when it was last seen.
        last_commit: String,
    },

    /// A folder exists in the work tree but not at the revision that was asked for.
    #[error("folder '{folder}' does not exist at revision {rev} of {location}")]
    FolderNotInRevision {
        /// The repository-relative folder.
        folder: String,
        /// The revision.
        rev: String,
        /// The repository.
        location: String,
    },

    /// The remote repository has no default branch (it is empty, or its HEAD is detached
    /// and matches no branch).
    #[error("{url} has no default branch (empty repository?); name a branch, tag or commit")]
    NoDefaultBranch {
        /// The redacted URL.
        url: String,
    },

    /// The remote rejected the credentials, or asked for credentials that are not configured.
    #[error("authentication failed for {url}: {reason}")]
    AuthFailed {
        /// The redacted URL.
        url: String,
        /// Why (never the credential itself).
        reason: String,
    },

    /// The server's certificate or SSH host key was not accepted.
    #[error("certificate or host key check failed for {url}: {message}")]
    Certificate {
        /// The redacted URL.
        url: String,
        /// What failed.
        message: String,
    },

    /// The remote could not be reached (refused connection, unknown host, no route).
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// The redacted URL.
        url: String,
        /// What failed.
        message: String,
    },

    /// The remote did not answer within the network timeout.
    #[error("timed out talking to {url}: {message}")]
    Timeout {
        /// The redacted URL.
        url: String,
        /// What failed.
        message: String,
    },

    /// Fetching from the remote failed for another reason.
    #[error("fetching {url} failed: {message}")]
    Fetch {
        /// The redacted URL.
        url: String,
        /// What failed (scrubbed of credentials).
        message: String,
    },

    /// The local cache of a remote is unusable and could not be rebuilt.
    #[error("Git cache {} is unusable: {message}", path.display())]
    Cache {
        /// The cache folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },

    /// Another process held the cache lock for too long.
    #[error("Git cache {} is locked by another process (waited {waited_secs} s)", path.display())]
    CacheLocked {
        /// The lock file.
        path: PathBuf,
        /// How long we waited, in seconds.
        waited_secs: u64,
    },

    /// No cache folder was given and the platform has none.
    #[error("no cache folder for Git repositories: set one explicitly")]
    NoCacheDir,

    /// Credentials could not be loaded (the value itself is never shown).
    #[error("invalid Git credentials from {origin}: {reason}")]
    Credentials {
        /// Where they came from: an environment variable or a file.
        origin: String,
        /// What is wrong with them.
        reason: String,
    },

    /// Watching a local folder failed.
    #[error("cannot watch {}: {message}", path.display())]
    Watch {
        /// The folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl SourceError {
    /// Whether retrying later may succeed (network trouble, a busy cache), as opposed
    /// to an error that needs a change of configuration or of the repository.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::Unreachable { .. }
                | SourceError::Timeout { .. }
                | SourceError::Fetch { .. }
                | SourceError::CacheLocked { .. }
        )
    }
}
