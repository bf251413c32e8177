//! Answers sent at the end of the worker's pass over its ready connections, together,
//! instead of one by one as each is ready.
//!
//! A client waiting for its answer sleeps, and the first byte written to it has the
//! kernel wake it up, on these virtual machines through the hypervisor when it sleeps on
//! another CPU. A server that takes longer per request than its client (a component
//! instance per request against a load generator or a proxy) finds that client asleep at
//! every answer: about 0.7 wake-ups per healthcheck at 50 connections, each costing the
//! writer about as much as its `writev`. Holding each connection's first write of an
//! answer until the pass over the ready connections ends (`busy_poll`'s poller runs after
//! them) sends the answers of one pass back to back, and the client wakes once for the
//! lot. An answer waits at most for the other requests of its pass; a lone request, for
//! nothing. Without a poller (`--busy-poll-us 0`) writes are never held.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

thread_local! {
    /// Counts the passes this worker has ended.
    static PASS: Cell<u64> = const { Cell::new(0) };
    /// The connections holding an answer until the pass ends.
    static HELD: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

/// Ends this worker's pass: the connections holding an answer send it.
pub fn release() {
    PASS.set(PASS.get() + 1);
    for waker in HELD.take() {
        waker.wake();
    }
}

/// A connection whose answers wait for the end of the pass in which they were written.
pub struct HeldWrites<S> {
    inner: S,
    /// The pass in which the answer being written was first held; cleared once it is
    /// flushed, so that the next answer is held again.
    held_in: Option<u64>,
}

impl<S> HeldWrites<S> {
    pub fn new(inner: S) -> Self {
        HeldWrites {
            inner,
            held_in: None,
        }
    }

    /// Whether the answer may be written now; if not, the task is woken when the pass
    /// ends.
    fn may_write(&mut self, cx: &Context<'_>) -> bool {
        if !crate::serve::busy_poll::has_poller() {
            return true;
        }
        let pass = PASS.get();
        match self.held_in {
            Some(held) if held != pass => true,
            _ => {
                self.held_in = Some(pass);
                HELD.with_borrow_mut(|held| held.push(cx.waker().clone()));
                // The poller is sure to run, and end the pass, after this task.
                crate::serve::busy_poll::worked();
                false
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeldWrites<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeldWrites<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.may_write(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !self.may_write(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if flushed.is_ready() {
            self.held_in = None;
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::busy_poll;
    use crate::serve::busy_poll::tests::on_one_thread;
    use std::future::poll_fn;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    async fn write(w: &mut HeldWrites<Vec<u8>>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        poll_fn(|cx| Poll::Ready(Pin::new(&mut *w).poll_write(cx, bytes))).await
    }

    /// Yields until the poller has ended a pass (bounded).
    async fn end_of_pass() {
        let before = PASS.get();
        for _ in 0..1000 {
            if PASS.get() != before {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the poller never ended the pass");
    }

    #[test]
    fn an_answer_waits_for_the_end_of_the_pass_then_the_next_one_waits_again() {
        on_one_thread(async {
            tokio::spawn(busy_poll::run(Duration::from_millis(50)));
            end_of_pass().await;
            let mut w = HeldWrites::new(Vec::new());
            assert!(write(&mut w, b"one").await.is_pending());
            assert!(w.inner.is_empty(), "written before the pass ended");
            end_of_pass().await;
            assert!(matches!(write(&mut w, b"one").await, Poll::Ready(Ok(3))));
            // The rest of the same answer is not held again.
            assert!(matches!(write(&mut w, b"two").await, Poll::Ready(Ok(3))));
            w.flush().await.unwrap();
            assert_eq!(w.inner, b"onetwo");
            // A new answer after the flush is.
            assert!(write(&mut w, b"three").await.is_pending());
            assert_eq!(w.inner, b"onetwo");
        });
    }

    #[test]
    fn a_held_answer_leaves_even_when_the_poller_was_resting() {
        on_one_thread(async {
            tokio::spawn(busy_poll::run(Duration::from_millis(20)));
            // Long past the window: the poller rests until woken.
            tokio::time::sleep(Duration::from_millis(60)).await;
            let mut w = HeldWrites::new(Vec::new());
            let sent = async {
                w.write_all(b"answer").await?;
                w.flush().await
            };
            // The held task must be woken: a timer's wake-up polling it again would let
            // the write through too, so the deadline is checked first.
            tokio::select! {
                biased;
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    panic!("a held answer was never sent")
                }
                sent = sent => sent.unwrap(),
            }
            assert_eq!(w.inner, b"answer");
        });
    }

    #[test]
    fn without_a_poller_nothing_is_held() {
        on_one_thread(async {
            busy_poll::run(Duration::ZERO).await;
            let mut w = HeldWrites::new(Vec::new());
            assert!(matches!(write(&mut w, b"now").await, Poll::Ready(Ok(3))));
            assert_eq!(w.inner, b"now");
        });
    }
}
