//! One incremental fetch of a remote into its bare cache.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Instant;

use git2::{AutotagOption, FetchOptions, ProxyOptions, Repository};

use super::callbacks::remote_callbacks;
use super::credentials::Credentials;
use super::known_hosts::KnownHosts;
use super::location::RemoteUrl;
use super::network::{CallbackReport, FetchFailure, classify, ensure_network_timeouts};
use flotilla_redact::Redactor;

/// Where the remote's refs land in the cache.
pub(crate) const BRANCH_PREFIX: &str = "refs/remotes/origin/";
/// The cache's pointer to the remote's default branch.
pub(crate) const REMOTE_HEAD: &str = "refs/remotes/origin/HEAD";
const TAG_PREFIX: &str = "refs/tags/";
const REFSPECS: [&str; 2] = [
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
];

/// What a fetch needs besides the cache.
pub(crate) struct FetchContext<'a> {
    pub(crate) url: &'a RemoteUrl,
    pub(crate) credentials: &'a Credentials,
    pub(crate) known_hosts: Option<&'a KnownHosts>,
    pub(crate) redactor: &'a Redactor,
}

/// Fetches every branch and tag of the remote into `repo`, prunes the refs the
/// remote no longer has, and points `refs/remotes/origin/HEAD` at the remote's
/// default branch.
pub(crate) fn fetch(repo: &Repository, cx: &FetchContext<'_>) -> Result<(), FetchFailure> {
    ensure_network_timeouts();
    let started = Instant::now();
    let report = RefCell::new(CallbackReport::default());
    let local = |e: git2::Error| FetchFailure::Local {
        message: cx.redactor.scrub(e.message()),
        corruption_likely: false,
    };

    let mut remote = repo
        .remote_anonymous(cx.url.raw())
        .map_err(|e| classify(&e, &report.borrow(), cx.url, cx.redactor))?;
    let port = cx.url.host_port().and_then(|(_, port)| port);
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(remote_callbacks(
            cx.credentials,
            cx.known_hosts,
            port,
            &report,
        ))
        .proxy_options(proxy)
        .download_tags(AutotagOption::None)
        .update_fetchhead(false);
    remote
        .fetch(&REFSPECS, Some(&mut options), Some("flotilla fetch"))
        .map_err(|e| classify(&e, &report.borrow(), cx.url, cx.redactor))?;

    let advertised: HashSet<String> = remote
        .list()
        .map_err(local)?
        .iter()
        .map(|head| head.name().to_owned())
        .collect();
    let default_branch = remote
        .default_branch()
        .ok()
        .and_then(|buf| buf.as_str().ok().map(str::to_owned));
    drop(remote);

    prune(repo, &advertised).map_err(local)?;
    point_remote_head(repo, default_branch.as_deref()).map_err(local)?;
    tracing::debug!(
        url = cx.url.redacted(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        refs = advertised.len(),
        "fetched"
    );
    Ok(())
}

/// Deletes cached branches and tags that the remote no longer advertises.
fn prune(repo: &Repository, advertised: &HashSet<String>) -> Result<(), git2::Error> {
    let mut stale = Vec::new();
    for reference in repo.references()? {
        let reference = reference?;
        let Ok(name) = reference.name() else {
            continue;
        };
        let remote_name = if let Some(branch) = name.strip_prefix(BRANCH_PREFIX) {
            if name == REMOTE_HEAD {
                continue;
            }
            format!("refs/heads/{branch}")
        } else if name.starts_with(TAG_PREFIX) {
            name.to_owned()
        } else {
            continue;
        };
        if !advertised.contains(&remote_name) {
            stale.push(name.to_owned());
        }
    }
    for name in stale {
        tracing::debug!(reference = %name, "pruning a ref the remote no longer has");
        repo.find_reference(&name)?.delete()?;
    }
    Ok(())
}

/// Makes `refs/remotes/origin/HEAD` a symbolic ref to the cached copy of the
/// remote's default branch, or removes it when there is none.
fn point_remote_head(repo: &Repository, default_branch: Option<&str>) -> Result<(), git2::Error> {
    let target = default_branch
        .and_then(|b| b.strip_prefix("refs/heads/"))
        .map(|b| format!("{BRANCH_PREFIX}{b}"))
        .filter(|t| repo.find_reference(t).is_ok());
    match target {
        Some(target) => {
            let current = repo.find_reference(REMOTE_HEAD).ok();
            if current
                .as_ref()
                .and_then(|r| r.symbolic_target().ok().flatten())
                != Some(target.as_str())
            {
                repo.reference_symbolic(REMOTE_HEAD, &target, true, "flotilla: remote HEAD")?;
            }
        }
        None => {
            if let Ok(mut head) = repo.find_reference(REMOTE_HEAD) {
                head.delete()?;
            }
        }
    }
    Ok(())
}
