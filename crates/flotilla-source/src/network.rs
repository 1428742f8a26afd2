//! Process-wide network time limits, and sorting libgit2's network errors into
//! the [`SourceError`] variants a user can act on.

use std::sync::Mutex;
use std::time::Duration;

use super::SourceError;
use super::location::RemoteUrl;
use flotilla_redact::Redactor;

/// Time limits for talking to Git remotes. libgit2 keeps them per process, so
/// they apply to every [`Source`](super::Source) of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkTimeouts {
    /// How long to wait for a TCP connection to be established.
    pub connect: Duration,
    /// How long to wait for any single read or write on an established connection.
    pub io: Duration,
}

impl Default for NetworkTimeouts {
    /// 10 s to connect, 60 s of silence on an open connection.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            io: Duration::from_secs(60),
        }
    }
}

static APPLIED: Mutex<Option<NetworkTimeouts>> = Mutex::new(None);

/// Sets the network time limits of every Git operation of this process.
///
/// Call it once, early (before Git operations run on other threads); without
/// it, [`NetworkTimeouts::default`] applies from the first fetch on.
pub fn set_network_timeouts(timeouts: NetworkTimeouts) {
    let mut applied = APPLIED.lock().unwrap_or_else(|e| e.into_inner());
    apply(timeouts);
    *applied = Some(timeouts);
}

/// The time limits in force (the defaults until the first fetch or
/// [`set_network_timeouts`]).
pub fn network_timeouts() -> NetworkTimeouts {
    APPLIED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_default()
}

/// Applies the defaults unless limits were already set.
pub(crate) fn ensure_network_timeouts() {
    let mut applied = APPLIED.lock().unwrap_or_else(|e| e.into_inner());
    if applied.is_none() {
        let defaults = NetworkTimeouts::default();
        apply(defaults);
        *applied = Some(defaults);
    }
}

fn apply(timeouts: NetworkTimeouts) {
    let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1);
    // SAFETY: these set two plain integers in libgit2's global options, which it
    // reads when it opens a connection. Writes are serialised by `APPLIED`; the
    // functions cannot fail for these options.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(millis(timeouts.connect));
        let _ = git2::opts::set_server_timeout_in_milliseconds(millis(timeouts.io));
    }
}

/// What the credential and certificate callbacks saw during one fetch.
#[derive(Debug, Default)]
pub(crate) struct CallbackReport {
    /// Why authentication was given up, if it was.
    pub(crate) auth_failure: Option<String>,
    /// Why the certificate or host key was refused, if it was.
    pub(crate) certificate_failure: Option<String>,
}

/// A failed fetch: the remote's fault (final), or possibly the local cache's.
#[derive(Debug)]
pub(crate) enum FetchFailure {
    /// The remote or the network failed; retrying with a fresh cache won't help.
    Remote(SourceError),
    /// Something local failed; `corruption_likely` when the error class points
    /// at the object database.
    Local {
        message: String,
        corruption_likely: bool,
    },
}

/// Sorts a libgit2 error raised while fetching `url`.
pub(crate) fn classify(
    err: &git2::Error,
    report: &CallbackReport,
    url: &RemoteUrl,
    redactor: &Redactor,
) -> FetchFailure {
    use git2::{ErrorClass, ErrorCode};

    let url_shown = url.redacted().to_owned();
    let message = redactor.scrub(err.message());
    if let Some(reason) = &report.auth_failure {
        return FetchFailure::Remote(SourceError::AuthFailed {
            url: url_shown,
            reason: reason.clone(),
        });
    }
    if let Some(why) = &report.certificate_failure {
        return FetchFailure::Remote(SourceError::Certificate {
            url: url_shown,
            message: why.clone(),
        });
    }
    let lower = message.to_ascii_lowercase();
    match err.code() {
        ErrorCode::Auth => {
            return FetchFailure::Remote(SourceError::AuthFailed {
                url: url_shown,
                reason: message,
            });
        }
        ErrorCode::Certificate => {
            return FetchFailure::Remote(SourceError::Certificate {
                url: url_shown,
                message,
            });
        }
        ErrorCode::Timeout => {
            return FetchFailure::Remote(SourceError::Timeout {
                url: url_shown,
                message,
            });
        }
        _ => {}
    }
    if lower.contains("timed out") || lower.contains("timeout") {
        return FetchFailure::Remote(SourceError::Timeout {
            url: url_shown,
            message,
        });
    }
    const UNREACHABLE: &[&str] = &[
        "connection refused",
        "failed to connect",
        "could not connect",
        "failed to resolve",
        "could not resolve",
        "name or service not known",
        "no route to host",
        "network is unreachable",
        "host is unreachable",
    ];
    if UNREACHABLE.iter().any(|s| lower.contains(s)) {
        return FetchFailure::Remote(SourceError::Unreachable {
            url: url_shown,
            message,
        });
    }
    if lower.contains("401") || lower.contains("authentication") || lower.contains("unauthorized") {
        return FetchFailure::Remote(SourceError::AuthFailed {
            url: url_shown,
            reason: message,
        });
    }
    match err.class() {
        ErrorClass::Net
        | ErrorClass::Http
        | ErrorClass::Ssh
        | ErrorClass::Ssl
        | ErrorClass::Callback
        | ErrorClass::Indexer => FetchFailure::Remote(SourceError::Fetch {
            url: url_shown,
            message,
        }),
        ErrorClass::Odb | ErrorClass::Zlib | ErrorClass::Object | ErrorClass::Tree => {
            FetchFailure::Local {
                message,
                corruption_likely: true,
            }
        }
        _ => FetchFailure::Local {
            message,
            corruption_likely: false,
        },
    }
}
