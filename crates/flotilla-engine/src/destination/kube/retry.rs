//! Retries of transient failures (5xx, 429, dropped connections) with
//! exponential backoff and jitter, bounded in count.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first backoff; it doubles each time, with ±50% jitter.
    pub base: Duration,
    /// The longest one request may take, every attempt and backoff
    /// included: after it the request fails with [`NoAnswer`].
    pub deadline: Duration,
}

/// A request that got no answer within the [`RetryPolicy::deadline`] (the
/// server accepted the connection and never answered, or kept failing).
#[derive(Debug, thiserror::Error)]
#[error("no answer within {}", humantime_secs(*.after))]
pub struct NoAnswer {
    /// The deadline.
    pub after: Duration,
}

fn humantime_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(200),
            deadline: Duration::from_secs(30),
        }
    }
}

/// Whether a kube error is worth retrying.
pub(crate) fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        other => crate::destination::error::is_connection(other),
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails for good, attempts run out, or
    /// the deadline passes (a [`NoAnswer`] error, which counts as a
    /// connection failure).
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        match tokio::time::timeout(self.deadline, self.attempts(op)).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service(Box::new(NoAnswer {
                after: self.deadline,
            }))),
        }
    }

    async fn attempts<T, F, Fut>(&self, mut op: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut delay = self.base;
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if attempt < self.attempts && is_transient(&e) => {
                    let jitter = rand::rng().random_range(0.5..1.5);
                    tracing::debug!(attempt, error = %flotilla_redact::scrub_any(&e.to_string()), "retrying");
                    tokio::time::sleep(delay.mul_f64(jitter)).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
