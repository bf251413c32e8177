//! Lingering close, as nginx does it (`lingering_close`, `lingering_time`,
//! `lingering_timeout`): after answering a request whose body it did not read to the end
//! (a 413, a 404 or 431 answered before the body), the server sends its answer and its end
//! of stream, then reads and discards what the client still sends before closing.
//!
//! Closing a socket with unread data in it makes the kernel send a reset, and the reset
//! discards whatever the client had not read yet: a client that writes its whole body
//! before reading (most HTTP libraries) would see "broken pipe" or "connection reset"
//! instead of the answer. Draining is bounded in bytes, in total time and in time without
//! data, so an endless or stalled sender is still cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, Instant, Sleep};

/// How long and how much a closing connection drains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linger {
    /// The most time spent draining (nginx's `lingering_time`).
    pub time: Duration,
    /// The most time waited for more data (nginx's `lingering_timeout`).
    pub idle: Duration,
    /// The most bytes read and discarded.
    pub max_bytes: u64,
}

impl Default for Linger {
    /// nginx's defaults for the times; the bytes are a bulk upload's worth.
    fn default() -> Self {
        Linger {
            time: Duration::from_secs(30),
            idle: Duration::from_secs(5),
            max_bytes: 256 << 20,
        }
    }
}

/// Set by the server when it answered without reading a request body to its end.
#[derive(Clone, Default)]
pub struct UnreadBody(Arc<AtomicBool>);

impl UnreadBody {
    pub fn set(&self, unread: bool) {
        self.0.store(unread, Ordering::Relaxed);
    }

    pub fn clear(&self) {
        self.set(false);
    }

    fn is_marked(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

enum State {
    Open,
    Draining {
        until: Pin<Box<Sleep>>,
        idle: Pin<Box<Sleep>>,
        left: u64,
    },
    Closed,
}

/// A connection that lingers on shutdown when its `UnreadBody` is marked.
pub struct Lingering<S> {
    inner: S,
    linger: Linger,
    unread: UnreadBody,
    state: State,
}

impl<S> Lingering<S> {
    pub fn new(inner: S, linger: Linger, unread: UnreadBody) -> Self {
        Lingering {
            inner,
            linger,
            unread,
            state: State::Open,
        }
    }
}

impl<S: AsyncRead + Unpin> Lingering<S> {
    /// Reads and discards until the client's end of stream, an error, or a bound.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Draining { until, idle, left } = &mut self.state else {
            return Poll::Ready(());
        };
        let mut scratch = [0u8; 16 << 10];
        loop {
            if until.as_mut().poll(cx).is_ready() || idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    *left = left.saturating_sub(buf.filled().len() as u64);
                    if *left == 0 {
                        return Poll::Ready(());
                    }
                    idle.as_mut().reset(Instant::now() + self.linger.idle);
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match this.state {
                State::Open => {
                    // The answer and our end of stream go first; then the client's rest.
                    let shut = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
                    if shut.is_err() || !this.unread.is_marked() {
                        this.state = State::Closed;
                        return Poll::Ready(shut);
                    }
                    this.state = State::Draining {
                        until: Box::pin(sleep(this.linger.time)),
                        idle: Box::pin(sleep(this.linger.idle)),
                        left: this.linger.max_bytes,
                    };
                }
                State::Draining { .. } => {
                    ready!(this.poll_drain(cx));
                    this.state = State::Closed;
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn linger(ms: u64, idle_ms: u64, max_bytes: u64) -> Linger {
        Linger {
            time: Duration::from_millis(ms),
            idle: Duration::from_millis(idle_ms),
            max_bytes,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unmarked_connection_closes_at_once() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut conn = Lingering::new(server, linger(1000, 1000, 100), UnreadBody::default());
        client.write_all(b"unread").await.unwrap();
        conn.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_marked_connection_drains_to_the_clients_end() {
        let (server, mut client) = tokio::io::duplex(64);
        let unread = UnreadBody::default();
        unread.set(true);
        let mut conn = Lingering::new(server, linger(60_000, 60_000, 1 << 20), unread);
        conn.write_all(b"answer").await.unwrap();
        let closing = tokio::spawn(async move { conn.shutdown().await });
        // Far more than the pipe holds: only a drain lets it through.
        client.write_all(&[7u8; 10_000]).await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer");
        drop(client);
        closing.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn draining_stops_at_its_bounds() {
        let unread = UnreadBody::default();
        unread.set(true);
        // Bytes: an endless fast sender.
        let (server, mut client) = tokio::io::duplex(64);
        let mut conn = Lingering::new(server, linger(60_000, 60_000, 1000), unread.clone());
        let sender = tokio::spawn(async move {
            let mut sent = 0u64;
            while client.write_all(&[1u8; 10]).await.is_ok() {
                sent += 10;
            }
            sent
        });
        conn.shutdown().await.unwrap();
        drop(conn);
        let sent = sender.await.unwrap();
        assert!((1000..=1000 + 64 + 10).contains(&sent), "{sent}");

        // Idle time: a sender that stops without closing.
        let (server, mut client) = tokio::io::duplex(64);
        let mut conn = Lingering::new(server, linger(60_000, 500, 1 << 20), unread.clone());
        client.write_all(b"some").await.unwrap();
        let started = Instant::now();
        conn.shutdown().await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(500));

        // Total time: a sender that trickles forever.
        let (server, mut client) = tokio::io::duplex(64);
        let mut conn = Lingering::new(server, linger(2000, 500, 1 << 20), unread);
        let trickle = tokio::spawn(async move {
            while client.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = Instant::now();
        conn.shutdown().await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(2000));
        drop(conn);
        trickle.await.unwrap();
    }
}
