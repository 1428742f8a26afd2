//! A Git remote read through its bare cache: lock, open (or rebuild), fetch,
//! then read; a cache found corrupt is rebuilt once and the work retried.

use std::path::PathBuf;

use git2::{Oid, Repository};

use flotilla_core::snapshot::Snapshot;

use super::SourceError;
use super::cache::{Cache, check_health};
use super::credentials::Credentials;
use super::fetch::{FetchContext, fetch};
use super::known_hosts::KnownHosts;
use super::location::RemoteUrl;
use super::network::FetchFailure;
use super::resolve::{ResolveError, Resolved, resolve_in_cache};
use super::tree::read_tree;
use flotilla_redact::Redactor;

/// How work on the cache failed.
pub(crate) enum Step {
    /// Report this error as it is.
    Final(SourceError),
    /// The cache could not be read: rebuild it and try again (once).
    Corrupt(String),
}

impl From<git2::Error> for Step {
    fn from(e: git2::Error) -> Self {
        Step::Corrupt(e.message().to_owned())
    }
}

/// A remote and its cache.
pub(crate) struct RemoteSource {
    url: RemoteUrl,
    cache: Cache,
    credentials: Credentials,
    known_hosts: Option<KnownHosts>,
    redactor: Redactor,
    fetched: bool,
}

impl RemoteSource {
    /// Prepares (without touching the network) the remote `url`, cached under `cache_root`.
    pub(crate) fn new(
        url: RemoteUrl,
        cache_root: PathBuf,
        credentials: Credentials,
    ) -> Result<Self, SourceError> {
        let known_hosts = match &credentials.known_hosts {
            Some(path) => Some(KnownHosts::load(path)?),
            None => None,
        };
        let redactor = Redactor::new(credentials.secrets().chain(url.embedded_secret()));
        Ok(Self {
            cache: Cache::new(cache_root, &url),
            url,
            credentials,
            known_hosts,
            redactor,
            fetched: false,
        })
    }

    /// The URL without credentials.
    pub(crate) fn url(&self) -> &str {
        self.url.redacted()
    }

    /// Whether this source has fetched at least once.
    pub(crate) fn has_fetched(&self) -> bool {
        self.fetched
    }

    /// The bare cache folder.
    pub(crate) fn cache_path(&self) -> PathBuf {
        self.cache.path()
    }

    /// Runs `op` on the cache, fetching first when `refresh` is set or nothing
    /// was fetched yet. Holds the cache lock throughout. A cache that cannot be
    /// opened, fails to fetch into for a local reason while looking unhealthy, or
    /// makes `op` report [`Step::Corrupt`], is deleted, fetched afresh, and `op`
    /// retried once.
    pub(crate) fn with_cache<T>(
        &mut self,
        refresh: bool,
        mut op: impl FnMut(&Repository, &Self) -> Result<T, Step>,
    ) -> Result<T, SourceError> {
        let lock = self.cache.lock()?;
        let mut rebuilt = false;
        loop {
            let (repo, created) = self.cache.open(&lock)?;
            let fresh = created || rebuilt;
            if refresh || !self.fetched || fresh {
                let cx = FetchContext {
                    url: &self.url,
                    credentials: &self.credentials,
                    known_hosts: self.known_hosts.as_ref(),
                    redactor: &self.redactor,
                };
                match fetch(&repo, &cx) {
                    Ok(()) => self.fetched = true,
                    Err(FetchFailure::Remote(e)) => return Err(e),
                    Err(FetchFailure::Local {
                        message,
                        corruption_likely,
                    }) => {
                        let unhealthy = check_health(&repo).err();
                        if !fresh && (corruption_likely || unhealthy.is_some()) {
                            tracing::warn!(
                                url = self.url(),
                                cache = %self.cache.path().display(),
                                error = %message,
                                "the Git cache looks corrupt; rebuilding it"
                            );
                            drop(repo);
                            self.cache.wipe(&lock)?;
                            rebuilt = true;
                            continue;
                        }
                        return Err(SourceError::Fetch {
                            url: self.url().to_owned(),
                            message,
                        });
                    }
                }
            }
            match op(&repo, self) {
                Ok(value) => return Ok(value),
                Err(Step::Final(e)) => return Err(e),
                Err(Step::Corrupt(message)) => {
                    let message = self.redactor.scrub(&message);
                    if fresh {
                        return Err(SourceError::Cache {
                            path: self.cache.path(),
                            message,
                        });
                    }
                    tracing::warn!(
                        url = self.url(),
                        cache = %self.cache.path().display(),
                        error = %message,
                        "the Git cache cannot be read; rebuilding it"
                    );
                    drop(repo);
                    self.cache.wipe(&lock)?;
                    rebuilt = true;
                }
            }
        }
    }

    /// Resolves `rev` in the cache, with errors that name the rev and the URL.
    /// A rev that is not found in a cache with unreadable refs points at the
    /// cache, not at the rev: that is reported as [`Step::Corrupt`].
    pub(crate) fn resolve(&self, repo: &Repository, rev: Option<&str>) -> Result<Resolved, Step> {
        resolve_in_cache(repo, rev).map_err(|e| match e {
            ResolveError::NotFound | ResolveError::NoDefaultBranch
                if check_health(repo).is_err() =>
            {
                Step::Corrupt(format!(
                    "revision '{}' not found and the cache is damaged",
                    rev.unwrap_or("HEAD")
                ))
            }
            ResolveError::NotFound => Step::Final(SourceError::RevNotFound {
                rev: rev.unwrap_or("HEAD").to_owned(),
                location: self.url().to_owned(),
            }),
            ResolveError::Ambiguous => Step::Final(SourceError::AmbiguousRev {
                rev: rev.unwrap_or("HEAD").to_owned(),
                location: self.url().to_owned(),
            }),
            ResolveError::NoDefaultBranch => Step::Final(SourceError::NoDefaultBranch {
                url: self.url().to_owned(),
            }),
            ResolveError::Git(e) => Step::from(e),
        })
    }

    /// Reads the tree of `commit` into a snapshot labelled with its id.
    pub(crate) fn read(&self, repo: &Repository, commit: Oid) -> Result<Snapshot, Step> {
        let found = repo.find_commit(commit)?;
        let info = crate::tree::commit_info(&found);
        let tree = found.tree()?;
        Ok(read_tree(repo, &tree, "")?
            .with_revision(commit.to_string())
            .with_commit(info))
    }

    /// Whether `new` has `old` in its history (`false` when `old` is gone).
    pub(crate) fn descends(&self, repo: &Repository, new: Oid, old: Oid) -> Result<bool, Step> {
        if repo.find_commit(old).is_err() {
            return Ok(false);
        }
        Ok(repo.graph_descendant_of(new, old)?)
    }
}
