//! Watches: `?watch=true` on a collection streams newline-delimited
//! `WatchEvent` JSON (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`).
//!
//! * `resourceVersion` unset or `"0"`: synthetic `ADDED` events for every
//!   current object, then changes;
//! * `resourceVersion=N`: every change after N, replayed from history; a
//!   compacted N gets an `ERROR` event with a 410 `Expired` status; a future
//!   N gets a 504;
//! * `sendInitialEvents=true` (streaming lists): the synthetic `ADDED`
//!   events, then a `BOOKMARK` annotated `k8s.io/initial-events-end: "true"`;
//! * `allowWatchBookmarks=true`: periodic `BOOKMARK`s and one just before
//!   the watch ends at `timeoutSeconds`;
//! * with label/field selectors an object that starts matching arrives as
//!   `ADDED` and one that stops matching as `DELETED`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, interval_at, sleep_until};

use crate::meta::{labels, set_meta};
use crate::registry::ResourceKind;
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::{State, present};
use crate::status::ApiError;
use crate::store::{Event, EventType};

/// What one watch selects and how it behaves.
#[derive(Clone, Debug)]
pub(crate) struct WatchSpec {
    pub kind: ResourceKind,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// `None`: start with the current state (unset or `"0"`).
    pub from_rv: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub metadata_only: bool,
}

/// `PartialObjectMetadata` of an object (for `as=PartialObjectMetadata`).
pub(crate) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

impl WatchSpec {
    fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(&labels(obj)) && self.fields.matches(obj)
    }

    fn render_object(&self, obj: &Value) -> Value {
        let o = present(&self.kind, obj);
        if self.metadata_only {
            partial_metadata(&o)
        } else {
            o
        }
    }

    fn line(&self, t: &str, obj: Value) -> Bytes {
        let mut s = json!({"type": t, "object": obj}).to_string();
        s.push('\n');
        Bytes::from(s)
    }

    /// The line a committed event produces for this watch, if any.
    fn render(&self, ev: &Event) -> Option<Bytes> {
        if ev.group != self.kind.group || ev.resource != self.kind.plural {
            return None;
        }
        if let Some(ns) = &self.namespace
            && &ev.namespace != ns
        {
            return None;
        }
        let now = self.matches(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| self.matches(p));
        let with_rv = |o: &Value| {
            let mut o = o.clone();
            set_meta(&mut o, "resourceVersion", Some(json!(ev.rv.to_string())));
            o
        };
        let (t, obj) = match ev.kind {
            EventType::Added if now => ("ADDED", ev.object.clone()),
            EventType::Added => return None,
            EventType::Modified => match (before, now) {
                (true, true) => ("MODIFIED", ev.object.clone()),
                (false, true) => ("ADDED", ev.object.clone()),
                (true, false) => ("DELETED", with_rv(ev.prev.as_ref()?)),
                (false, false) => return None,
            },
            EventType::Deleted if now || before => ("DELETED", ev.object.clone()),
            EventType::Deleted => return None,
        };
        Some(self.line(t, self.render_object(&obj)))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let (kind, api_version) = if self.metadata_only {
            (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            )
        } else {
            (self.kind.kind.clone(), self.kind.api_version())
        };
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.line(
            "BOOKMARK",
            json!({"kind": kind, "apiVersion": api_version, "metadata": meta}),
        )
    }
}

/// Everything a watch task needs, captured under the state lock.
pub(crate) struct Prepared {
    spec: WatchSpec,
    initial: Vec<Bytes>,
    initial_end_rv: Option<u64>,
    start_rv: u64,
    rx: broadcast::Receiver<Arc<Event>>,
    bookmark_interval: Duration,
    /// Set when the watch can only report an error and end.
    error_only: bool,
}

/// Validates the starting point and snapshots the initial events (called
/// with the state locked, so no change falls between snapshot and
/// subscription).
pub(crate) fn prepare(state: &State, spec: WatchSpec) -> Result<Prepared, ApiError> {
    let current = state.store.current_rv();
    let rx = state.store.subscribe();
    let mut initial = Vec::new();
    let mut error_only = false;
    let mut initial_end_rv = None;
    match spec.from_rv {
        None => {
            let objects = state.store.list(
                &spec.kind.group,
                &spec.kind.plural,
                spec.namespace.as_deref(),
            );
            for o in objects {
                if spec.matches(o) {
                    initial.push(spec.line("ADDED", spec.render_object(o)));
                }
            }
            if spec.send_initial_events && spec.bookmarks {
                initial_end_rv = Some(current);
            }
        }
        Some(rv) if rv > current => {
            return Err(too_large(rv, current));
        }
        Some(rv) => match state.store.events_since(rv) {
            Some(events) => {
                for e in events {
                    if let Some(l) = spec.render(&e) {
                        initial.push(l);
                    }
                }
                if spec.send_initial_events && spec.bookmarks {
                    initial_end_rv = Some(current);
                }
            }
            None => {
                let err = ApiError::expired(format!(
                    "too old resource version: {rv} ({})",
                    state.store.compacted_rv()
                ));
                initial.push(spec.line("ERROR", err.to_status()));
                error_only = true;
            }
        },
    }
    Ok(Prepared {
        spec,
        initial,
        initial_end_rv,
        start_rv: current,
        rx,
        bookmark_interval: state.settings.bookmark_interval,
        error_only,
    })
}

/// The 504 for a resourceVersion the server has not reached.
pub(crate) fn too_large(rv: u64, current: u64) -> ApiError {
    let mut e = ApiError::timeout(format!(
        "Timeout: Too large resource version: {rv}, current: {current}"
    ));
    if let Some(d) = e.details.as_mut() {
        d.causes.push(crate::status::StatusCause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        });
    }
    e
}

/// Spawns the watch task and returns the streaming body.
pub(crate) fn spawn(p: Prepared, shutdown: watch::Receiver<bool>) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    tokio::spawn(run(p, tx, shutdown));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    Body::from_stream(stream)
}

async fn run(p: Prepared, tx: mpsc::Sender<Bytes>, mut shutdown: watch::Receiver<bool>) {
    let Prepared {
        spec,
        initial,
        initial_end_rv,
        start_rv,
        mut rx,
        bookmark_interval,
        error_only,
    } = p;
    for line in initial {
        if tx.send(line).await.is_err() {
            return;
        }
    }
    if error_only {
        return;
    }
    if let Some(rv) = initial_end_rv
        && tx.send(spec.bookmark(rv, true)).await.is_err()
    {
        return;
    }
    let mut last_rv = start_rv;
    let deadline = Instant::now() + spec.timeout;
    let interval = bookmark_interval.max(Duration::from_millis(10));
    let mut ticker = interval_at(Instant::now() + interval, interval);
    // Bounded by the deadline (timeoutSeconds).
    loop {
        tokio::select! {
            _ = sleep_until(deadline) => {
                if spec.bookmarks {
                    let _ = tx.send(spec.bookmark(last_rv, false)).await;
                }
                return;
            }
            _ = ticker.tick(), if spec.bookmarks => {
                if tx.send(spec.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            r = rx.recv() => match r {
                Ok(ev) => {
                    last_rv = ev.rv;
                    if let Some(line) = spec.render(&ev)
                        && tx.send(line).await.is_err()
                    {
                        return;
                    }
                }
                // A watcher too slow to keep up is closed, as the real server
                // does; the client re-watches from its last resourceVersion.
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
            _ = tx.closed() => return,
        }
    }
}
