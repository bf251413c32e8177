//! Spreading connections over the worker threads.
//!
//! Every worker accepts from the same listening socket, and whichever wakes first takes a
//! new connection: left alone, a few keep-alive clients (a load balancer, a benchmark) can
//! all end up on one worker while another idles. So a worker that has just accepted a
//! connection keeps it only if no other worker serves fewer; otherwise it passes the
//! connection to the least loaded one. A worker that has been inside one guest poll for
//! more than `STUCK_AFTER` (a guest computing for long, a runaway one waiting for its
//! deadline) gets nothing passed to it, since it could not serve it before that poll ends.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A worker inside one guest poll for longer than this is passed no connection.
const STUCK_AFTER: Duration = Duration::from_millis(20);

/// A connection passed from the worker that accepted it to another.
pub type Handoff = (std::net::TcpStream, SocketAddr);

pub struct Balance {
    /// Connections each worker serves.
    live: Vec<AtomicUsize>,
    /// When each worker's current guest poll began (see `stamp`); 0 outside one.
    in_guest_since: Vec<AtomicU64>,
    inboxes: Vec<mpsc::UnboundedSender<Handoff>>,
}

thread_local! {
    /// The worker this thread is, once `enter` has said so.
    static WORKER: RefCell<Option<(Arc<Balance>, usize)>> = const { RefCell::new(None) };
}

/// Milliseconds since the first call, plus one (so that 0 can mean "none").
fn stamp() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

impl Balance {
    /// The balance of `workers` workers, and the inbox each one receives connections on.
    pub fn new(workers: usize) -> (Arc<Balance>, Vec<mpsc::UnboundedReceiver<Handoff>>) {
        let (inboxes, receivers) = (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        let balance = Balance {
            live: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            in_guest_since: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            inboxes,
        };
        (Arc::new(balance), receivers)
    }

    /// Marks the calling thread as worker `index` (for `GuestPolls`).
    pub fn enter(self: &Arc<Self>, index: usize) {
        WORKER.with_borrow_mut(|w| *w = Some((self.clone(), index)));
    }

    /// The worker that should serve a connection `from` has just accepted: the one
    /// serving the fewest connections among those not stuck in a guest, `from` on a tie.
    pub fn pick(&self, from: usize) -> usize {
        let now = stamp();
        let stuck_after = STUCK_AFTER.as_millis() as u64;
        let stuck = |i: usize| {
            let since = self.in_guest_since[i].load(Ordering::Relaxed);
            since != 0 && now.saturating_sub(since) > stuck_after
        };
        let load = |i: usize| self.live[i].load(Ordering::Relaxed);
        let mut best = from;
        for i in 0..self.live.len() {
            if i != from && !stuck(i) && load(i) < load(best) {
                best = i;
            }
        }
        best
    }

    /// Passes a connection to worker `to`, its count with it (`live` must count it for
    /// `to`); if that worker has stopped, the connection is closed.
    pub fn pass(&self, to: usize, connection: Handoff, live: Live) {
        if self.inboxes[to].send(connection).is_ok() {
            // The receiving worker takes the count over (`Live::adopt`).
            std::mem::forget(live);
        }
    }
}

/// Counts a connection against its worker while it lives.
pub struct Live {
    balance: Arc<Balance>,
    worker: usize,
}

impl Live {
    /// Counts a new connection for `worker`.
    pub fn new(balance: &Arc<Balance>, worker: usize) -> Live {
        balance.live[worker].fetch_add(1, Ordering::Relaxed);
        Live::adopt(balance, worker)
    }

    /// Takes over the count of a connection passed to `worker` (already counted).
    pub fn adopt(balance: &Arc<Balance>, worker: usize) -> Live {
        Live {
            balance: balance.clone(),
            worker,
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.balance.live[self.worker].fetch_sub(1, Ordering::Relaxed);
    }
}

/// A guest's future, marking its worker as inside a guest for the length of each poll.
pub struct GuestPolls(pub Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for GuestPolls {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        WORKER.with_borrow(|worker| {
            let mark = |value: u64| {
                if let Some((balance, i)) = worker {
                    balance.in_guest_since[*i].store(value, Ordering::Relaxed);
                }
            };
            mark(stamp());
            let polled = self.0.as_mut().poll(cx);
            mark(0);
            // Guest work counts as work for the socket polling window too.
            crate::serve::busy_poll::worked();
            polled
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance(loads: &[usize]) -> Arc<Balance> {
        let (b, _) = Balance::new(loads.len());
        for (i, n) in loads.iter().enumerate() {
            b.live[i].store(*n, Ordering::Relaxed);
        }
        b
    }

    #[test]
    fn a_connection_goes_to_the_least_loaded_worker() {
        let b = balance(&[3, 1, 2]);
        assert_eq!(b.pick(0), 1);
        assert_eq!(b.pick(2), 1);
        assert_eq!(b.pick(1), 1);
    }

    #[test]
    fn the_accepting_worker_keeps_it_on_a_tie() {
        let b = balance(&[2, 2]);
        assert_eq!(b.pick(0), 0);
        assert_eq!(b.pick(1), 1);
    }

    #[test]
    fn a_worker_long_in_a_guest_gets_nothing() {
        let b = balance(&[5, 0]);
        let long_ago = stamp().saturating_sub(STUCK_AFTER.as_millis() as u64 + 50);
        b.in_guest_since[1].store(long_ago.max(1), Ordering::Relaxed);
        std::thread::sleep(STUCK_AFTER * 2);
        assert_eq!(b.pick(0), 0);
        // A poll that has just begun does not count as stuck.
        b.in_guest_since[1].store(stamp(), Ordering::Relaxed);
        assert_eq!(b.pick(0), 1);
        b.in_guest_since[1].store(0, Ordering::Relaxed);
        assert_eq!(b.pick(0), 1);
    }

    fn connection() -> Handoff {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let peer = client.local_addr().unwrap();
        (client, peer)
    }

    #[test]
    fn counts_follow_connections() {
        let (b, mut inboxes) = Balance::new(2);
        let first = Live::new(&b, 0);
        assert_eq!(b.pick(0), 1);
        let passed = Live::new(&b, 1);
        assert_eq!(b.pick(0), 0);
        drop(first);
        assert_eq!(b.live[0].load(Ordering::Relaxed), 0);
        // A passed connection stays counted for its new worker, which adopts it.
        b.pass(1, connection(), passed);
        assert_eq!(b.live[1].load(Ordering::Relaxed), 1);
        assert!(inboxes[1].try_recv().is_ok());
        drop(Live::adopt(&b, 1));
        assert_eq!(b.live[1].load(Ordering::Relaxed), 0);
        // Passed to a worker that has stopped: closed, and no longer counted.
        inboxes.truncate(1);
        b.pass(1, connection(), Live::new(&b, 1));
        assert_eq!(b.live[1].load(Ordering::Relaxed), 0);
    }
}
