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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(200),
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
    /// Runs `op` until it succeeds, fails for good, or attempts run out.
    pub(crate) async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, kube::Error>
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
