//! One kind's list and watch, feeding the watch cache ([`super::cache`]).
//!
//! The objects are listed (in pages), then watched from the list's
//! resourceVersion; when the server ends a watch (its timeout, a restart)
//! it is resumed from the last version seen (bookmarks included); when the
//! server says that version is gone (410 Expired) everything is listed
//! again; failures wait with a growing, jittered backoff. This is
//! kube-runtime's watcher, list-then-watch mode, with one difference: the
//! watch body is split into lines as its chunks arrive, and only a line
//! cut between two chunks is copied (and freed once whole). kube's
//! watcher reads through a line codec whose buffer (8 to 16 KB) stays with
//! each watch for its life: five watches per cluster, in every cluster of
//! a daemon.

use std::time::Duration;

use futures::StreamExt;
use http_body_util::BodyExt;
use kube::api::{Api, DynamicObject, ListParams, VersionMatch, WatchEvent, WatchParams};

/// What the watch saw.
pub(crate) enum Seen {
    /// Every object, listed: the cache is replaced by these.
    Listed(Vec<DynamicObject>),
    /// An object was created or changed.
    Applied(DynamicObject),
    /// An object was deleted (its last state).
    Deleted(DynamicObject),
}

/// Objects per list page (kube-runtime's default).
const PAGE: u32 = 500;
/// How long the server keeps one watch open (kube-runtime's default); the
/// watch is then resumed.
const WATCH_SECONDS: u32 = 290;
/// A watch that sends nothing (not even a bookmark, which a real server
/// sends about every minute) for this long is given up and resumed.
const IDLE: Duration = Duration::from_secs(WATCH_SECONDS as u64 + 10);
/// The longest line a watch may send: an object is at most 1.5 MiB in
/// etcd; a longer line is a broken stream, not an object.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// Backoff after a failure: from the first wait, doubled up to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(800);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Why a watch ended.
enum End {
    /// The server closed it (or it was idle too long): resume.
    Closed,
    /// The version is gone (410): list again.
    Gone,
}

/// Lists and watches the objects of `api` matching `selector`, for ever,
/// telling `seen` what changed. Errors are logged at debug (scrubbed) and
/// retried with backoff.
pub(crate) async fn run(api: Api<DynamicObject>, selector: &str, mut seen: impl FnMut(Seen)) {
    let kind = api.resource_url().to_string();
    let mut version: Option<String> = None;
    let mut failures = 0u32;
    loop {
        let from = match version.take() {
            Some(v) => v,
            // Boxed, as the request below: the task of an idle watch (one
            // per kind, five per cluster) then holds only the reading state.
            None => match Box::pin(list(&api, selector)).await {
                Ok((objects, v)) => {
                    seen(Seen::Listed(objects));
                    v
                }
                Err(e) => {
                    tracing::debug!(%kind, error = %flotilla_redact::scrub_any(&e.to_string()), "list failed; retrying with backoff");
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            },
        };
        let mut last = from.clone();
        match watch(&api, selector, &from, &mut last, &mut seen).await {
            Ok(End::Closed) => {
                failures = 0;
                version = Some(last);
            }
            Ok(End::Gone) => {
                tracing::debug!(%kind, "watch version expired; listing again");
                failures = 0;
            }
            Err(e) => {
                tracing::debug!(%kind, error = %flotilla_redact::scrub_any(&e.to_string()), "watch failed; retrying with backoff");
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                version = Some(last);
            }
        }
    }
}

/// The wait after `failures` failures in a row: doubling from
/// [`BACKOFF_FIRST`] to [`BACKOFF_MAX`], with up to a fifth of jitter.
fn backoff(failures: u32) -> Duration {
    let base = BACKOFF_FIRST
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(BACKOFF_MAX);
    base + base.mul_f64(rand::random::<f64>() / 5.0)
}

/// Every object, page by page, and the list's resourceVersion.
async fn list(
    api: &Api<DynamicObject>,
    selector: &str,
) -> Result<(Vec<DynamicObject>, String), kube::Error> {
    let mut params = ListParams {
        label_selector: (!selector.is_empty()).then(|| selector.to_string()),
        limit: Some(PAGE),
        // From the server's watch cache, as kube-runtime lists.
        resource_version: Some("0".into()),
        version_match: Some(VersionMatch::NotOlderThan),
        ..ListParams::default()
    };
    let mut objects = Vec::new();
    loop {
        let page = api.list(&params).await?;
        objects.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => params.continue_token = Some(c),
            None => {
                let version = page.metadata.resource_version.unwrap_or_default();
                return Ok((objects, version));
            }
        }
    }
}

/// One watch from `from`: its events to `seen`, the last version seen in
/// `last`.
async fn watch(
    api: &Api<DynamicObject>,
    selector: &str,
    from: &str,
    last: &mut String,
    seen: &mut impl FnMut(Seen),
) -> Result<End, WatchError> {
    let mut params = WatchParams::default().timeout(WATCH_SECONDS);
    if !selector.is_empty() {
        params = params.labels(selector);
    }
    let request = kube::core::Request::new(api.resource_url())
        .watch(&params, from)
        .map_err(|e| WatchError::Request(kube::Error::BuildRequest(e)))?;
    let client = api.clone().into_client();
    let response = Box::pin(client.send(request.map(kube::client::Body::from)))
        .await
        .map_err(WatchError::Request)?;
    let status = response.status();
    if status == http::StatusCode::GONE {
        return Ok(End::Gone);
    }
    if !status.is_success() {
        return Err(WatchError::Status(status));
    }
    let mut body = response.into_body().into_data_stream();
    let mut lines = Lines::default();
    let mut end = None;
    loop {
        let chunk = match tokio::time::timeout(IDLE, body.next()).await {
            Err(_) | Ok(None) => return Ok(End::Closed),
            Ok(Some(chunk)) => chunk.map_err(WatchError::Request)?,
        };
        lines.push(&chunk, |line| {
            if end.is_some() {
                return;
            }
            match serde_json::from_slice::<WatchEvent<DynamicObject>>(line) {
                Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                    if let Some(v) = &o.metadata.resource_version {
                        last.clone_from(v);
                    }
                    seen(Seen::Applied(o));
                }
                Ok(WatchEvent::Deleted(o)) => {
                    if let Some(v) = &o.metadata.resource_version {
                        last.clone_from(v);
                    }
                    seen(Seen::Deleted(o));
                }
                Ok(WatchEvent::Bookmark(b)) => last.clone_from(&b.metadata.resource_version),
                Ok(WatchEvent::Error(s)) if s.code == 410 => end = Some(Ok(End::Gone)),
                Ok(WatchEvent::Error(s)) => end = Some(Err(WatchError::Event(s.code, s.message))),
                Err(e) => end = Some(Err(WatchError::Decode(e))),
            }
        })?;
        if let Some(end) = end {
            return end;
        }
    }
}

/// Why a watch failed.
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("watch request: {0}")]
    Request(#[source] kube::Error),
    #[error("watch answered {0}")]
    Status(http::StatusCode),
    #[error("watch ERROR event {0}: {1}")]
    Event(u16, String),
    #[error("watch event not read: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("watch line longer than {MAX_LINE} bytes")]
    LineTooLong,
}

/// A watch body's lines, as its chunks arrive. A line within a chunk is
/// handed on where it lies; only a line cut between chunks is copied, and
/// the copy is freed once the line is whole.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Hands each complete non-empty line of `chunk` (with what earlier
    /// chunks left) to `each`.
    fn push(&mut self, chunk: &[u8], mut each: impl FnMut(&[u8])) -> Result<(), WatchError> {
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            let (line, after) = rest.split_at(i);
            rest = &after[1..];
            if self.partial.is_empty() {
                if !line.is_empty() {
                    each(line);
                }
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                each(&whole);
            }
        }
        if self.partial.len() + rest.len() > MAX_LINE {
            self.partial = Vec::new();
            return Err(WatchError::LineTooLong);
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&str]) -> Vec<String> {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for c in chunks {
            lines
                .push(c.as_bytes(), |l| {
                    out.push(String::from_utf8_lossy(l).into_owned())
                })
                .unwrap();
        }
        out
    }

    #[test]
    fn lines_within_and_across_chunks() {
        assert_eq!(split(&["a\nb\n"]), ["a", "b"]);
        assert_eq!(
            split(&["{\"x\":", "1}\n{\"y\"", ":2}\n"]),
            ["{\"x\":1}", "{\"y\":2}"]
        );
        assert_eq!(
            split(&["a", "b", "c\n", "\n", "d"]),
            ["abc"],
            "an unfinished line waits"
        );
    }

    #[test]
    fn a_finished_line_frees_its_copy() {
        let mut lines = Lines::default();
        lines.push(b"{\"half\":", |_| {}).unwrap();
        assert!(lines.partial.capacity() > 0);
        lines.push(b"1}\n", |_| {}).unwrap();
        assert_eq!(lines.partial.capacity(), 0);
    }

    #[test]
    fn a_line_past_the_limit_is_an_error() {
        let mut lines = Lines::default();
        let big = vec![b'x'; MAX_LINE];
        lines.push(&big, |_| {}).unwrap();
        assert!(matches!(
            lines.push(b"x", |_| {}),
            Err(WatchError::LineTooLong)
        ));
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        assert!(backoff(1) >= BACKOFF_FIRST && backoff(1) < BACKOFF_FIRST * 2);
        assert!(backoff(3) >= BACKOFF_FIRST * 4);
        assert!(backoff(50) >= BACKOFF_MAX && backoff(50) <= BACKOFF_MAX.mul_f64(1.2));
    }
}
