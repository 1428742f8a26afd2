//! Turning a revision (branch, tag, commit id) into a commit.

use git2::{ErrorCode, Oid, Repository};

use super::fetch::{BRANCH_PREFIX, REMOTE_HEAD};

/// What a revision turned out to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefKind {
    /// A branch (short name), whose commit moves over time.
    Branch(String),
    /// A tag (short name).
    Tag(String),
    /// A commit id or another revision expression.
    Commit,
}

impl RefKind {
    /// The full ref name, for branches and tags.
    pub(crate) fn full_name(&self) -> Option<String> {
        match self {
            RefKind::Branch(b) => Some(format!("refs/heads/{b}")),
            RefKind::Tag(t) => Some(format!("refs/tags/{t}")),
            RefKind::Commit => None,
        }
    }
}

/// A resolved revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) commit: Oid,
    pub(crate) kind: RefKind,
}

/// Why a revision could not be resolved.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// Nothing of that name.
    NotFound,
    /// A short commit id matching several objects.
    Ambiguous,
    /// No revision given, and the remote has no default branch.
    NoDefaultBranch,
    /// The repository could not be read.
    Git(git2::Error),
}

impl From<git2::Error> for ResolveError {
    fn from(e: git2::Error) -> Self {
        match e.code() {
            ErrorCode::NotFound | ErrorCode::InvalidSpec | ErrorCode::Peel => {
                ResolveError::NotFound
            }
            ErrorCode::Ambiguous => ResolveError::Ambiguous,
            _ => ResolveError::Git(e),
        }
    }
}

/// Resolves `rev` in the bare cache of a remote: `None` or `HEAD` is the
/// remote's default branch; then a branch, a tag, a (short) commit id, and
/// finally any revision expression (`main~2`, `v1^{commit}`).
pub(crate) fn resolve_in_cache(
    repo: &Repository,
    rev: Option<&str>,
) -> Result<Resolved, ResolveError> {
    let rev = rev.map(str::trim).filter(|r| !r.is_empty() && *r != "HEAD");
    let Some(rev) = rev else {
        let head = repo
            .find_reference(REMOTE_HEAD)
            .map_err(|e| match e.code() {
                ErrorCode::NotFound => ResolveError::NoDefaultBranch,
                _ => ResolveError::Git(e),
            })?;
        let branch = head
            .symbolic_target()
            .ok()
            .flatten()
            .and_then(|t| t.strip_prefix(BRANCH_PREFIX))
            .map(str::to_owned)
            .ok_or(ResolveError::NoDefaultBranch)?;
        let commit = head.resolve()?.peel_to_commit()?.id();
        return Ok(Resolved {
            commit,
            kind: RefKind::Branch(branch),
        });
    };
    let branch = rev.strip_prefix("refs/heads/").unwrap_or(rev);
    if !rev.starts_with("refs/tags/")
        && let Ok(reference) = repo.find_reference(&format!("{BRANCH_PREFIX}{branch}"))
        && branch != "HEAD"
    {
        return Ok(Resolved {
            commit: reference.peel_to_commit()?.id(),
            kind: RefKind::Branch(branch.to_owned()),
        });
    }
    resolve_tag_or_commit(repo, rev)
}

/// Resolves `rev` in a local repository: a local branch, a tag, or any
/// revision expression Git understands (`HEAD`, `origin/main`, a commit id).
pub(crate) fn resolve_local(repo: &Repository, rev: &str) -> Result<Resolved, ResolveError> {
    let rev = rev.trim();
    let branch = rev.strip_prefix("refs/heads/").unwrap_or(rev);
    if let Ok(reference) = repo.find_reference(&format!("refs/heads/{branch}")) {
        return Ok(Resolved {
            commit: reference.peel_to_commit()?.id(),
            kind: RefKind::Branch(branch.to_owned()),
        });
    }
    resolve_tag_or_commit(repo, rev)
}

fn resolve_tag_or_commit(repo: &Repository, rev: &str) -> Result<Resolved, ResolveError> {
    let tag = rev.strip_prefix("refs/tags/").unwrap_or(rev);
    if let Ok(reference) = repo.find_reference(&format!("refs/tags/{tag}")) {
        return Ok(Resolved {
            commit: reference.peel_to_commit()?.id(),
            kind: RefKind::Tag(tag.to_owned()),
        });
    }
    if rev.starts_with("refs/") {
        return Err(ResolveError::NotFound);
    }
    let commit = repo.revparse_single(rev)?.peel_to_commit()?.id();
    Ok(Resolved {
        commit,
        kind: RefKind::Commit,
    })
}
