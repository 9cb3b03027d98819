//! An op's work over the plan's thread pool: split only when the layer is big enough to pay for the
//! hand-off, and the calling thread works too, so that a worker that is slow to wake (or has no core:
//! another stage, another process) costs at most its own share, never the whole layer.

pub use crate::qconv::pool_threads;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tract_linalg::multithread::{current_tract_executor, Executor};

/// Multiply-accumulates below which a layer stays on the calling thread. Waking a sleeping rayon
/// worker and joining it costs ~15–40 µs on the 2-core AVX-512 VM this was measured on (and on
/// boards: a futex wake and a context switch either way), the float kernels do 10–30 GMAC/s there,
/// so a split pays from ~1 M MACs (`float_layer_bench --sweep`, docs/benchmarks.md "Threads").
pub const DEFAULT_SPLIT_MACS: usize = 1 << 20;

/// The smallest part a split layer is cut into, in MACs: parts much smaller than a hand-off are
/// pure overhead, but several parts per thread let the caller take over a late worker's share.
const MIN_PART_MACS: usize = 1 << 17;

/// Parts per thread at most (see [`MIN_PART_MACS`]).
const PARTS_PER_THREAD: usize = 4;

static SPLIT_MACS: AtomicUsize = AtomicUsize::new(DEFAULT_SPLIT_MACS);

/// Sets the size (multiply-accumulates) from which oar's ops split a layer over the plan's threads
/// (process-wide; [`DEFAULT_SPLIT_MACS`] unless changed). `0` splits every layer that can be split:
/// tests and measurements of the hand-off cost use it.
pub fn set_split_threshold(macs: usize) {
    SPLIT_MACS.store(macs, Ordering::Relaxed);
}

/// The current split size, see [`set_split_threshold`].
pub fn split_threshold() -> usize {
    SPLIT_MACS.load(Ordering::Relaxed)
}

/// Elements below which tract's own element-wise ops and packing stay on one thread (tract's
/// default is 32 k: a pass over 32 k floats takes ~3 µs here, less than the hand-off).
pub const TRACT_SPLIT_ELEMENTS: usize = 1 << 18;

static TRACT_ELEMENTS: AtomicUsize = AtomicUsize::new(TRACT_SPLIT_ELEMENTS);

/// Sets tract's own thresholds for splitting work over threads to what was measured to pay
/// (process-wide, idempotent). `oar_plan` calls it whenever it makes a thread pool.
pub fn configure_tract_threading() {
    tract_linalg::multithread::set_threading_element_threshold(TRACT_ELEMENTS.load(Ordering::Relaxed));
}

/// Sets the size (elements) from which tract's element-wise ops and packing split over threads
/// ([`TRACT_SPLIT_ELEMENTS`] unless changed; `0`: always), for measuring the cost model.
pub fn set_tract_split_elements(n: usize) {
    TRACT_ELEMENTS.store(n, Ordering::Relaxed);
    configure_tract_threading();
}

/// The executor of the running plan (`oar_plan::Engine` sets it per plan), with its thread count.
pub(crate) struct Pool {
    exec: Executor,
    threads: usize,
}

impl Pool {
    pub(crate) fn current() -> Pool {
        let exec = current_tract_executor();
        let threads = pool_threads(&exec);
        Pool { exec, threads }
    }

    /// How many parts to cut a layer of `macs` multiply-accumulates into, when it can be cut into
    /// at most `units` pieces (channels, pixel blocks): 1 below the split size or on one thread.
    pub(crate) fn parts(&self, macs: usize, units: usize) -> usize {
        if self.threads <= 1 || units <= 1 || macs < split_threshold() {
            return 1;
        }
        (macs / MIN_PART_MACS).clamp(self.threads, self.threads * PARTS_PER_THREAD).min(units)
    }

    /// Runs `f` on every item, the caller and up to `threads − 1` workers of the pool taking items
    /// in order until none is left; the first error is returned (items not started are dropped).
    pub(crate) fn run<T: Send, E: Send>(&self, items: Vec<T>, f: impl Fn(T) -> Result<(), E> + Sync) -> Result<(), E> {
        let helpers = self.threads.saturating_sub(1).min(items.len().saturating_sub(1));
        if helpers == 0 {
            return items.into_iter().try_for_each(f);
        }
        let n = items.len();
        let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<E>> = Mutex::new(None);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let item = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(Err(e)) = item.map(&f) {
                next.store(n, Ordering::Relaxed);
                failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
            }
        };
        match &self.exec {
            Executor::MultiThread(pool) => pool.in_place_scope(|s| {
                for _ in 0..helpers {
                    s.spawn(|_| work());
                }
                work();
            }),
            Executor::RayonGlobal => rayon::in_place_scope(|s| {
                for _ in 0..helpers {
                    s.spawn(|_| work());
                }
                work();
            }),
            Executor::SingleThread => work(),
        }
        failed.into_inner().unwrap_or_else(|p| p.into_inner()).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::multithread::multithread_tract_scope;

    #[test]
    fn small_layers_and_single_threads_stay_whole() {
        let one = Pool { exec: Executor::SingleThread, threads: 1 };
        assert_eq!(one.parts(1 << 30, 1000), 1);
        let two = Pool { exec: Executor::SingleThread, threads: 2 };
        assert_eq!(two.parts(DEFAULT_SPLIT_MACS - 1, 1000), 1);
        assert_eq!(two.parts(DEFAULT_SPLIT_MACS, 1000), 8, "1 M MACs: 8 parts of 128 k");
        assert_eq!(two.parts(1 << 30, 1000), 8, "at most 4 parts per thread");
        assert_eq!(two.parts(1 << 30, 3), 3, "never more parts than units");
        assert_eq!(two.parts(1 << 30, 1), 1);
    }

    #[test]
    fn every_item_runs_once_and_errors_come_back() {
        let exec = Executor::multithread(2);
        multithread_tract_scope(exec, || {
            let pool = Pool::current();
            assert_eq!(pool.threads, 2);
            let sum = AtomicUsize::new(0);
            pool.run((1..=100).collect(), |i: usize| -> Result<(), ()> {
                sum.fetch_add(i, Ordering::Relaxed);
                Ok(())
            })
            .unwrap();
            assert_eq!(sum.into_inner(), 5050);
            let err = pool.run((0..10).collect(), |i: usize| if i == 3 { Err(i) } else { Ok(()) });
            assert_eq!(err, Err(3));
        });
    }
}
