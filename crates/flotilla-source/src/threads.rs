//! Threads for the loader's parsing: the shell's side of
//! [`flotilla_core::load::Workers`]. A snapshot of many documents loads on
//! a few scoped threads (YAML parsing is most of a load); a small one loads
//! on the caller's thread, where a thread's start would cost more than it
//! saves. The fleet loaded is the same either way.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use flotilla_core::load::Workers;

/// Fewer jobs than this per thread are not worth a thread's start.
const MIN_JOBS_PER_THREAD: usize = 64;
/// At most this many threads, whatever the machine has.
const MAX_THREADS: usize = 8;
/// Each thread's stack: the main thread's usual size, so a deeply nested
/// document parses on a thread as it would on the main one.
const STACK_BYTES: usize = 8 << 20;

/// Scoped threads, at most one per core (and [`MAX_THREADS`]), the caller's
/// among them; jobs are taken one at a time, so a slow document does not
/// hold a thread's share back.
#[derive(Clone, Copy, Debug)]
pub struct Threads {
    max: usize,
}

impl Threads {
    /// As many threads as the machine has cores, at most [`MAX_THREADS`].
    pub fn available() -> Threads {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Threads::at_most(cores)
    }

    /// At most `max` threads (the caller's included; 0 counts as 1).
    pub fn at_most(max: usize) -> Threads {
        Threads {
            max: max.clamp(1, MAX_THREADS),
        }
    }
}

impl Workers for Threads {
    fn each(&self, count: usize, job: &(dyn Fn(usize) + Sync)) {
        let threads = self.max.min(count / MIN_JOBS_PER_THREAD);
        if threads <= 1 {
            (0..count).for_each(job);
            return;
        }
        let next = AtomicUsize::new(0);
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                job(i);
            }
        };
        // A panic in a job is resumed here once every thread has stopped.
        std::thread::scope(|scope| {
            for _ in 1..threads {
                // A thread the system refuses leaves its share to the others.
                let _ = std::thread::Builder::new()
                    .name("flotilla-load".into())
                    .stack_size(STACK_BYTES)
                    .spawn_scoped(scope, work);
            }
            work();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_job_runs_once_on_several_threads_when_there_are_many() {
        let count = 1000;
        let runs: Vec<AtomicUsize> = (0..count).map(|_| AtomicUsize::new(0)).collect();
        let threads_seen = Mutex::new(std::collections::HashSet::new());
        Threads::at_most(4).each(count, &|i| {
            runs[i].fetch_add(1, Ordering::Relaxed);
            threads_seen
                .lock()
                .unwrap()
                .insert(std::thread::current().id());
            // Long enough that the other threads take jobs too.
            std::thread::sleep(std::time::Duration::from_micros(50));
        });
        assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
        let seen = threads_seen.lock().unwrap().len();
        assert!(seen > 1, "one thread did every job");
    }

    #[test]
    fn few_jobs_run_on_the_callers_thread() {
        let caller = std::thread::current().id();
        Threads::at_most(8).each(10, &|_| assert_eq!(std::thread::current().id(), caller));
        Threads::at_most(8).each(0, &|_| unreachable!("no job"));
    }

    #[test]
    #[should_panic(expected = "job 900")]
    fn a_panicking_job_panics_the_caller() {
        Threads::at_most(4).each(1000, &|i| assert_ne!(i, 900, "job 900"));
    }
}
