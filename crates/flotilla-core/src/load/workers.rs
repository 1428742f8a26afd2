//! How the loader spreads its pure work (parsing and checking each
//! document) over the caller's threads. The core spawns no thread: a shell
//! that has threads to lend passes a [`Workers`] to [`super::load_with`];
//! [`InTurn`] is the core's own way, one document after the other. The
//! result never depends on which is used: every document is parsed alone
//! and the results keep the documents' order.

use std::sync::OnceLock;

/// Runs jobs, possibly on several threads at once.
pub trait Workers: Sync {
    /// Calls `job(i)` exactly once for every `i` in `0..count`, in any order
    /// and possibly on several threads at once, and returns when every call
    /// has returned (a call that panics makes this panic).
    fn each(&self, count: usize, job: &(dyn Fn(usize) + Sync));
}

/// Every job in turn on the caller's thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct InTurn;

impl Workers for InTurn {
    fn each(&self, count: usize, job: &(dyn Fn(usize) + Sync)) {
        (0..count).for_each(job);
    }
}

/// `items` mapped by `f` through `workers`, in the items' order.
pub(crate) fn map<T: Sync, R: Send + Sync>(
    workers: &dyn Workers,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let slots: Vec<OnceLock<R>> = items.iter().map(|_| OnceLock::new()).collect();
    workers.each(items.len(), &|i| {
        let _ = slots[i].set(f(&items[i]));
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("Workers::each calls every job before it returns")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the jobs backwards, each on its own thread: what a shell's
    /// workers may do at worst.
    struct Backwards;

    impl Workers for Backwards {
        fn each(&self, count: usize, job: &(dyn Fn(usize) + Sync)) {
            std::thread::scope(|s| {
                for i in (0..count).rev() {
                    s.spawn(move || job(i));
                }
            });
        }
    }

    #[test]
    fn results_keep_the_items_order_whatever_the_workers_order() {
        let items: Vec<u64> = (0..200).collect();
        let square = |n: &u64| n * n;
        let expected: Vec<u64> = items.iter().map(square).collect();
        assert_eq!(map(&InTurn, &items, square), expected);
        assert_eq!(map(&Backwards, &items, square), expected);
        assert!(map(&Backwards, &[] as &[u64], square).is_empty());
    }
}
