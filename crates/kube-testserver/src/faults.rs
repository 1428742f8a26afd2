//! Fault injection for reliability tests: fail, delay or drop the next N
//! matching requests, delay every response, and take the whole server down.

use std::time::Duration;

/// What happens to a request a fault matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with a Kubernetes `Status` failure of this HTTP code (reason
    /// chosen as the real server would: 500 InternalError, 503
    /// ServiceUnavailable, 504 Timeout, 429 TooManyRequests, ...).
    Status(u16),
    /// Close the connection without answering.
    Drop,
    /// Wait this long, then handle the request normally.
    Delay(Duration),
}

/// A fault armed for the next `times` requests matching its filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What to do.
    pub action: FaultAction,
    /// How many more matching requests it applies to.
    pub times: usize,
    /// Only requests whose path starts with this.
    pub path_prefix: Option<String>,
    /// Only requests with this Kubernetes verb (`get`, `list`, `watch`,
    /// `create`, `update`, `patch`, `delete`, `deletecollection`).
    pub verb: Option<String>,
    /// Only requests with this HTTP method (`GET`, `PATCH`, ...).
    pub method: Option<String>,
    /// A custom `Status.message` for [`FaultAction::Status`].
    pub message: Option<String>,
}

impl Fault {
    /// The next request fails with `code`.
    pub fn status(code: u16) -> Self {
        Fault {
            action: FaultAction::Status(code),
            times: 1,
            path_prefix: None,
            verb: None,
            method: None,
            message: None,
        }
    }

    /// The next request's connection is closed without a response.
    pub fn drop_connection() -> Self {
        Fault {
            action: FaultAction::Drop,
            ..Fault::status(0)
        }
    }

    /// The next request is delayed by `d` before being handled.
    pub fn delay(d: Duration) -> Self {
        Fault {
            action: FaultAction::Delay(d),
            ..Fault::status(0)
        }
    }

    /// Applies to the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    /// Only requests whose path starts with `prefix`.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    /// Only requests with this Kubernetes verb.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.to_string());
        self
    }

    /// Only requests with this HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Sets the `Status.message` of a status fault.
    pub fn message(mut self, m: &str) -> Self {
        self.message = Some(m.to_string());
        self
    }

    fn matches(&self, method: &str, path: &str, verb: &str) -> bool {
        self.times > 0
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
            && self.verb.as_deref().is_none_or(|v| v == verb)
            && self.method.as_deref().is_none_or(|m| m == method)
    }
}

/// What the server does with one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Total delay before handling (global delay + delay faults).
    pub delay: Duration,
    /// A status fault or drop, if one matched.
    pub action: Option<(FaultAction, Option<String>)>,
}

/// Armed faults and the global response delay.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Vec<Fault>,
    delay: Duration,
}

impl Faults {
    pub(crate) fn add(&mut self, f: Fault) {
        self.armed.push(f);
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
        self.delay = Duration::ZERO;
    }

    pub(crate) fn set_delay(&mut self, d: Duration) {
        self.delay = d;
    }

    /// Remaining armed uses over all faults.
    pub(crate) fn pending(&self) -> usize {
        self.armed.iter().map(|f| f.times).sum()
    }

    /// Consumes the faults matching this request: every matching delay
    /// fault, then the first matching status/drop fault.
    pub(crate) fn decide(&mut self, method: &str, path: &str, verb: &str) -> Decision {
        let mut d = Decision {
            delay: self.delay,
            action: None,
        };
        for f in self.armed.iter_mut() {
            if !f.matches(method, path, verb) {
                continue;
            }
            match &f.action {
                FaultAction::Delay(x) => {
                    d.delay += *x;
                    f.times -= 1;
                }
                other => {
                    if d.action.is_none() {
                        d.action = Some((other.clone(), f.message.clone()));
                        f.times -= 1;
                    }
                }
            }
        }
        self.armed.retain(|f| f.times > 0);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_in_order_with_filters() {
        let mut f = Faults::default();
        f.add(Fault::status(503).times(2).verb("get"));
        f.add(Fault::drop_connection().path_prefix("/apis"));
        f.add(Fault::delay(Duration::from_millis(5)));
        let d = f.decide("GET", "/api/v1/namespaces", "list");
        assert_eq!(d.action, None);
        assert_eq!(d.delay, Duration::from_millis(5));
        let d = f.decide("GET", "/apis/apps/v1/x", "get");
        assert_eq!(d.action, Some((FaultAction::Status(503), None)));
        let d = f.decide("GET", "/apis/apps/v1/x", "get");
        assert_eq!(d.action, Some((FaultAction::Status(503), None)));
        let d = f.decide("GET", "/apis/apps/v1/x", "get");
        assert_eq!(d.action, Some((FaultAction::Drop, None)));
        assert_eq!(f.pending(), 0);
    }
}
