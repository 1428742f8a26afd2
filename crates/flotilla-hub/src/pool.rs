//! The bounded pool every per-cluster job goes through: at most
//! `concurrency` jobs at once across the fleet, and never two at once for
//! the same key (cluster), as kube-runtime's controller schedules its
//! reconciles. A job waiting for its key holds no permit, so a busy cluster
//! never keeps the others waiting.
//!
//! Both semaphores are fair (first come, first served), so a waiting job is
//! not starved by later ones. A pool is a value (no global state): each
//! rollout or daemon owns its own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// A bounded pool with per-key exclusivity.
#[derive(Debug)]
pub struct Pool {
    permits: Arc<Semaphore>,
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    concurrency: usize,
}

/// The right to run one job for one key; released on drop.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _key: OwnedMutexGuard<()>,
}

impl Pool {
    /// A pool of `concurrency` slots (at least one).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            keys: Mutex::new(HashMap::new()),
            concurrency,
        }
    }

    /// How many jobs may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Waits until `key` is free, then until a slot is; cancel-safe (a
    /// dropped wait takes nothing).
    pub async fn acquire(&self, key: &str) -> Slot {
        let lock = self
            .keys
            .lock()
            .expect("pool key lock")
            .entry(key.to_string())
            .or_default()
            .clone();
        let key = lock.lock_owned().await;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        Slot {
            _permit: permit,
            _key: key,
        }
    }

    /// Runs `job` for `key` in a slot.
    pub async fn run<F: Future>(&self, key: &str, job: F) -> F::Output {
        let _slot = self.acquire(key).await;
        job.await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Tracks what runs: in flight now, the most at once, and any key seen
    /// twice at once.
    #[derive(Default)]
    struct Probe {
        in_flight: AtomicUsize,
        most: AtomicUsize,
        running: Mutex<HashSet<String>>,
        overlaps: Mutex<Vec<String>>,
        done: AtomicUsize,
    }

    impl Probe {
        async fn job(&self, key: &str) {
            if !self.running.lock().unwrap().insert(key.to_string()) {
                self.overlaps.lock().unwrap().push(key.to_string());
            }
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            // Let every other job get as far as it can.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.running.lock().unwrap().remove(key);
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn run_all(pool: Arc<Pool>, keys: &[&str]) -> Arc<Probe> {
        let probe = Arc::new(Probe::default());
        let tasks: Vec<_> = keys
            .iter()
            .map(|k| {
                let (pool, probe, key) = (pool.clone(), probe.clone(), k.to_string());
                tokio::spawn(async move { pool.run(&key, probe.job(&key)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        probe
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_than_concurrency_jobs_and_never_one_key_twice() {
        let keys = ["a", "b", "a", "c", "d", "a", "e", "b", "f", "g"];
        let probe = run_all(Arc::new(Pool::new(3)), &keys).await;
        assert_eq!(
            probe.done.load(Ordering::SeqCst),
            keys.len(),
            "every job ran"
        );
        assert!(
            probe.most.load(Ordering::SeqCst) <= 3,
            "{} at once",
            probe.most.load(Ordering::SeqCst)
        );
        assert!(
            probe.overlaps.lock().unwrap().is_empty(),
            "a key ran twice at once: {:?}",
            probe.overlaps.lock().unwrap()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_pool_fills_up_to_concurrency() {
        // On one thread, with every job yielding, the pool fills: it bounds
        // rather than serialises.
        let probe = run_all(Arc::new(Pool::new(3)), &["a", "b", "c", "d", "e"]).await;
        assert_eq!(probe.most.load(Ordering::SeqCst), 3);
        // The same key five times runs one at a time.
        let probe = run_all(Arc::new(Pool::new(3)), &["a"; 5]).await;
        assert_eq!(probe.most.load(Ordering::SeqCst), 1);
        assert_eq!(probe.done.load(Ordering::SeqCst), 5);
        assert!(probe.overlaps.lock().unwrap().is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_key_holds_no_slot() {
        // Concurrency 3; "a" is held by the test (one slot). Jobs for "a"
        // wait without a slot, so the jobs for "b" and "c" still run
        // meanwhile, two at once.
        let pool = Arc::new(Pool::new(3));
        let held = pool.acquire("a").await;
        let probe = Arc::new(Probe::default());
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let (pool, probe) = (pool.clone(), probe.clone());
                tokio::spawn(async move { pool.run("a", probe.job("a")).await })
            })
            .collect();
        let others = run_all(pool.clone(), &["b", "c", "b", "c"]).await;
        assert_eq!(others.done.load(Ordering::SeqCst), 4);
        assert_eq!(others.most.load(Ordering::SeqCst), 2);
        assert_eq!(probe.done.load(Ordering::SeqCst), 0, "a is still held");
        drop(held);
        for t in waiting {
            t.await.unwrap();
        }
        assert_eq!(probe.done.load(Ordering::SeqCst), 3);
        assert_eq!(probe.most.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn zero_concurrency_means_one() {
        assert_eq!(Pool::new(0).concurrency(), 1);
    }
}
