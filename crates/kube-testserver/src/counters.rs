//! Request counters and the request log tests assert on.

use std::collections::{BTreeMap, VecDeque};

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method, e.g. `PATCH`.
    pub method: String,
    /// URL path, e.g. `/apis/apps/v1/namespaces/default/deployments/web`.
    pub path: String,
    /// Raw query string (without `?`), possibly empty.
    pub query: String,
    /// Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`; `get` for discovery and other
    /// non-resource paths.
    pub verb: String,
    /// Whether the request was a dry run (`dryRun=All`).
    pub dry_run: bool,
    /// HTTP status of the response; `0` when the connection was dropped or
    /// the response is not yet known.
    pub status: u16,
    /// The `Impersonate-User` header of the request, if it had one.
    pub impersonate_user: Option<String>,
    /// The `User-Agent` header of the request, if it had one (e.g. which
    /// Flotilla replica sent it).
    pub user_agent: Option<String>,
    /// Set when fault injection answered (`"status 503"`) or dropped
    /// (`"drop"`) the request.
    pub fault: Option<String>,
}

/// A snapshot of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every request received (including those answered by fault injection).
    pub total: u64,
    /// POST/PUT/PATCH/DELETE requests that were not dry runs (including those
    /// failed by validation, conflicts or fault injection).
    pub writes: u64,
    /// Committed changes: each one bumped the resourceVersion. An idempotent
    /// apply or a no-op update counts as a write but not as a change.
    pub changes: u64,
    /// Requests per Kubernetes verb.
    pub by_verb: BTreeMap<String, u64>,
    /// Requests per URL path.
    pub by_path: BTreeMap<String, u64>,
    /// Requests answered or dropped by fault injection.
    pub faults: u64,
    /// The most requests in flight at once (received, not answered yet),
    /// since the start or the last reset: how concurrently a client writes.
    pub peak_in_flight: u64,
}

/// Most records the log keeps (older ones are dropped).
const LOG_LIMIT: usize = 100_000;

/// Counters plus the log.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    counters: Counters,
    log: VecDeque<RequestRecord>,
    /// Sequence number of `log[0]`.
    first_seq: u64,
    /// Requests received and not answered yet.
    in_flight: u64,
}

impl Recorder {
    /// Records a request; returns its sequence number for [`Recorder::finish`].
    pub(crate) fn start(&mut self, rec: RequestRecord) -> u64 {
        self.counters.total += 1;
        self.in_flight += 1;
        self.counters.peak_in_flight = self.counters.peak_in_flight.max(self.in_flight);
        let write = matches!(rec.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        if write && !rec.dry_run {
            self.counters.writes += 1;
        }
        *self.counters.by_verb.entry(rec.verb.clone()).or_default() += 1;
        *self.counters.by_path.entry(rec.path.clone()).or_default() += 1;
        self.log.push_back(rec);
        // Bounded: at most one record over the limit.
        while self.log.len() > LOG_LIMIT {
            self.log.pop_front();
            self.first_seq += 1;
        }
        self.first_seq + self.log.len() as u64 - 1
    }

    /// Fills in the outcome of request `seq`.
    pub(crate) fn finish(&mut self, seq: u64, status: u16, fault: Option<String>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if fault.is_some() {
            self.counters.faults += 1;
        }
        if seq >= self.first_seq
            && let Some(r) = self.log.get_mut((seq - self.first_seq) as usize)
        {
            r.status = status;
            r.fault = fault;
        }
    }

    pub(crate) fn snapshot(&self, changes: u64) -> Counters {
        Counters {
            changes,
            ..self.counters.clone()
        }
    }

    pub(crate) fn log(&self) -> Vec<RequestRecord> {
        self.log.iter().cloned().collect()
    }

    /// Zeroes the counters and clears the log.
    pub(crate) fn reset(&mut self) {
        self.counters = Counters {
            peak_in_flight: self.in_flight,
            ..Counters::default()
        };
        self.first_seq += self.log.len() as u64;
        self.log.clear();
    }

    /// Clears the log only.
    pub(crate) fn clear_log(&mut self) {
        self.first_seq += self.log.len() as u64;
        self.log.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RequestRecord {
        RequestRecord {
            method: "PATCH".into(),
            path: "/api/v1/namespaces/a/configmaps/b".into(),
            query: String::new(),
            verb: "patch".into(),
            dry_run: false,
            status: 0,
            impersonate_user: None,
            user_agent: None,
            fault: None,
        }
    }

    #[test]
    fn peak_in_flight_is_the_most_requests_open_at_once() {
        let mut r = Recorder::default();
        let a = r.start(record());
        let b = r.start(record());
        let c = r.start(record());
        r.finish(a, 200, None);
        r.finish(b, 200, None);
        let d = r.start(record());
        assert_eq!(r.snapshot(0).peak_in_flight, 3);
        // A reset keeps counting what is still open.
        r.reset();
        assert_eq!(r.snapshot(0).peak_in_flight, 2);
        r.finish(c, 200, None);
        r.finish(d, 200, None);
        let e = r.start(record());
        r.finish(e, 200, None);
        assert_eq!(r.snapshot(0).peak_in_flight, 2);
        r.reset();
        let f = r.start(record());
        r.finish(f, 200, None);
        assert_eq!(r.snapshot(0).peak_in_flight, 1, "one at a time");
    }
}
