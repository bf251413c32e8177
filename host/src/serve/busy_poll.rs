//! Polling a worker's sockets for a short while after it last worked, before sleeping.
//!
//! A worker with nothing to do sleeps in `epoll_wait`, and whatever comes next (the next
//! request on a keep-alive connection, Elasticsearch's answer) has the kernel wake it up
//! again. On virtual machines both halves are dear: a CPU put to sleep, then woken by an
//! interrupt sent from another CPU, costs about as much as serving a healthcheck. So for
//! a window after it last worked, a worker keeps asking the kernel for events without
//! blocking (handing its CPU to any other thread that wants it between two asks), and
//! sleeps only once the window has passed with nothing to do. An idle host thus spends at
//! most one window of CPU after each burst of work; a window of zero turns this off.
//!
//! The poller runs once per pass of the runtime over its ready tasks, after them: it is
//! also where the answers those tasks wrote are sent (`held_writes`).

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The window when `--busy-poll-us` is not given: longer than a client's or a nearby
/// upstream's turnaround on loopback, short enough that an idle host costs nothing.
pub const DEFAULT_WINDOW: Duration = Duration::from_micros(200);

thread_local! {
    /// When this worker last worked (`worked`).
    static LAST_WORK: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether this worker's poller waits for work, to be woken by `worked`.
    static RESTING: Cell<bool> = const { Cell::new(false) };
    static WAKE: Arc<Notify> = Arc::new(Notify::new());
    /// How many times this worker's poller has yielded (for the tests).
    static POLLS: Cell<u64> = const { Cell::new(0) };
    /// Whether this worker has a poller (a non-zero window).
    static POLLER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this worker has a poller, which ends each pass of its runtime over the ready
/// tasks (see `held_writes`).
pub fn has_poller() -> bool {
    POLLER.get()
}

/// Notes that this worker has just worked: its poller starts, or keeps, polling.
pub fn worked() {
    LAST_WORK.set(Some(Instant::now()));
    if RESTING.replace(false) {
        WAKE.with(|wake| wake.notify_one());
    }
}

fn recently(window: Duration) -> bool {
    LAST_WORK.get().is_some_and(|at| at.elapsed() < window)
}

/// The poller, a task of the worker's single-threaded runtime: while the worker has
/// worked within `window`, it yields as soon as it runs, so that the runtime, having a
/// task to come back to, checks its sockets without blocking instead of sleeping. It
/// waits for `worked` otherwise. Returns at once when `window` is zero.
pub async fn run(window: Duration) {
    if window.is_zero() {
        return;
    }
    POLLER.set(true);
    let wake = WAKE.with(Arc::clone);
    loop {
        // The runtime has run every task that was ready before this one: the answers
        // they wrote leave now, together.
        crate::serve::held_writes::release();
        if recently(window) {
            POLLS.set(POLLS.get() + 1);
            // Another thread waiting for this CPU runs first.
            std::thread::yield_now();
            tokio::task::yield_now().await;
        } else {
            RESTING.set(true);
            wake.notified().await;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs `f` on a single-threaded runtime, as a worker does.
    pub(crate) fn on_one_thread<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Whether the poller yields `n` more times before `within` has passed, watched
    /// from another task of the same runtime (a busy machine makes it slower, not wrong).
    async fn polls_grow_by(n: u64, within: Duration) -> bool {
        let (start, began) = (POLLS.get(), std::time::Instant::now());
        while began.elapsed() < within {
            if POLLS.get() > start + n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        false
    }

    #[test]
    fn polls_after_work_then_rests_until_the_next() {
        on_one_thread(async {
            let window = Duration::from_millis(300);
            tokio::spawn(run(window));
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(POLLS.get(), 0, "no work yet, so no polling");
            worked();
            assert!(
                polls_grow_by(10, window).await,
                "no polling within the window"
            );
            // Once the window has passed since the last work, the poller rests.
            tokio::time::sleep(window + Duration::from_millis(100)).await;
            let rested = POLLS.get();
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(POLLS.get(), rested, "polled after the window had passed");
            worked();
            assert!(
                polls_grow_by(10, window).await,
                "work did not start polling again"
            );
        });
    }

    #[test]
    fn a_zero_window_never_polls() {
        on_one_thread(async {
            worked();
            run(Duration::ZERO).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(POLLS.get(), 0);
        });
    }
}
