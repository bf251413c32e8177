//! The client for the components' plain-HTTP upstreams (Elasticsearch, a mail relay):
//! HTTP/1.1 through hyper's connection-level client, with one keep-alive pool per worker
//! thread. Each connection is driven by its own task on the worker's runtime (so the pool
//! sees a connection the server closed); a request's answer is read whole, its head and
//! each read of its body within their deadlines.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Largest response head read (status line and header lines).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// Largest response body read.
pub const MAX_BODY_BYTES: usize = 64 << 20;
/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per upstream and worker thread.
const MAX_IDLE_PER_UPSTREAM: usize = 256;

/// Deadlines of one exchange.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deadlines {
    /// To open a connection.
    pub connect: Duration,
    /// From the request written to the whole response head read.
    pub first_byte: Duration,
    /// Between two reads of the response body.
    pub between_bytes: Duration,
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be opened.
    Connect(io::Error),
    ConnectTimeout,
    /// No complete response head within `first_byte`.
    FirstByteTimeout,
    /// The body stalled for longer than `between_bytes`.
    BetweenBytesTimeout,
    /// The answer is not HTTP/1.x as hyper reads it.
    Malformed(String),
    /// The connection closed before the answer was complete.
    Incomplete,
    HeadTooLarge,
    BodyTooLarge,
    Io(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::ConnectTimeout => f.write_str("connect timed out"),
            Failure::FirstByteTimeout => f.write_str("no answer in time"),
            Failure::BetweenBytesTimeout => f.write_str("the answer stalled"),
            Failure::Malformed(what) => write!(f, "malformed answer ({what})"),
            Failure::Incomplete => f.write_str("connection closed before the answer was complete"),
            Failure::HeadTooLarge => f.write_str("answer head too large"),
            Failure::BodyTooLarge => f.write_str("answer body too large"),
            Failure::Io(e) => write!(f, "connection failed: {e}"),
        }
    }
}

impl Failure {
    /// What a hyper error means here.
    fn of(e: &hyper::Error) -> Failure {
        if e.is_incomplete_message() {
            return Failure::Incomplete;
        }
        if e.is_parse_too_large() {
            return Failure::HeadTooLarge;
        }
        if e.is_parse() || e.is_parse_status() {
            return Failure::Malformed(e.to_string());
        }
        // A body hyper could not decode (a bad chunk) is an InvalidData or InvalidInput
        // I/O error.
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<io::Error>() {
                if matches!(
                    io.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
                ) {
                    return Failure::Malformed(io.to_string());
                }
                if io.kind() == io::ErrorKind::UnexpectedEof {
                    return Failure::Incomplete;
                }
            }
            source = s.source();
        }
        Failure::Io(e.to_string())
    }
}

/// One request, its body already whole.
pub struct Exchange<'a> {
    pub method: &'a Method,
    /// `host:port`, as connected to and, unless the headers carry one, sent as `Host`.
    pub authority: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

type Sender = SendRequest<Full<Bytes>>;

struct Idle {
    sender: Sender,
    since: Instant,
}

thread_local! {
    /// Keep-alive connections by upstream authority. Each worker thread keeps its own: a
    /// request is served on one thread from start to end, so its connection never waits
    /// for another worker busy in a guest.
    static POOL: RefCell<HashMap<String, VecDeque<Idle>>> = RefCell::new(HashMap::new());
}

/// The most recently used pooled connection that is still open.
fn checkout(authority: &str) -> Option<Sender> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let idle = pool.get_mut(authority)?;
        while let Some(conn) = idle.pop_back() {
            if conn.since.elapsed() >= IDLE_TIMEOUT {
                // The rest are older still.
                idle.clear();
                break;
            }
            if !conn.sender.is_closed() {
                return Some(conn.sender);
            }
        }
        None
    })
}

fn checkin(authority: &str, sender: Sender) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let idle = match pool.get_mut(authority) {
            Some(idle) => idle,
            None => pool.entry(authority.to_owned()).or_default(),
        };
        while idle.len() >= MAX_IDLE_PER_UPSTREAM
            || idle
                .front()
                .is_some_and(|c| c.since.elapsed() >= IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        idle.push_back(Idle {
            sender,
            since: Instant::now(),
        });
    })
}

async fn within<T>(
    limit: Duration,
    on_timeout: Failure,
    work: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(on_timeout))
}

/// A new connection, its task spawned on this worker's runtime.
async fn connect(authority: &str, limit: Duration) -> Result<Sender, Failure> {
    within(limit, Failure::ConnectTimeout, async {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(Failure::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::Builder::new()
            .max_buf_size(MAX_HEAD_BYTES.max(8192))
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::of(&e))?;
        tokio::spawn(connection);
        Ok(sender)
    })
    .await
}

/// Sends one request and reads its whole answer. A reused connection that the server
/// closed before answering anything (it may have timed it out while idle) is replaced
/// once by a new one when the request may safely be sent again.
pub async fn send(x: &Exchange<'_>, deadlines: Deadlines) -> Result<Response<Bytes>, Failure> {
    if let Some(sender) = checkout(x.authority) {
        match exchange(sender, x, deadlines).await {
            Err(Attempt::NotSent(_)) => {}
            Err(Attempt::Unanswered(_)) if resendable(x.method) => {}
            other => return other.map_err(Attempt::into_failure),
        }
    }
    let sender = connect(x.authority, deadlines.connect).await?;
    exchange(sender, x, deadlines)
        .await
        .map_err(Attempt::into_failure)
}

/// Whether a request whose connection closed before any answer may be sent again here:
/// every method but POST and PATCH, which may have been acted on (the search component
/// retries its own calls to Elasticsearch when they fail to connect).
fn resendable(method: &Method) -> bool {
    *method != Method::POST && *method != Method::PATCH
}

enum Attempt {
    /// The connection could not take the request: nothing was sent.
    NotSent(Failure),
    /// The connection failed before an answer's head came back.
    Unanswered(Failure),
    Failed(Failure),
}

impl Attempt {
    fn into_failure(self) -> Failure {
        match self {
            Attempt::NotSent(f) | Attempt::Unanswered(f) | Attempt::Failed(f) => f,
        }
    }
}

impl From<Failure> for Attempt {
    fn from(f: Failure) -> Self {
        Attempt::Failed(f)
    }
}

/// The request: the guest's headers without its framing ones (the body is whole, so
/// hyper sends its length), and `Host` when the guest gave none.
fn request(x: &Exchange<'_>) -> Result<Request<Full<Bytes>>, Failure> {
    let mut request = Request::builder()
        .method(x.method.clone())
        .uri(x.path_and_query)
        .body(Full::new(Bytes::copy_from_slice(x.body)))
        .map_err(|e| Failure::Malformed(format!("request: {e}")))?;
    let headers = request.headers_mut();
    for (name, value) in x.headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING && name != CONNECTION {
            headers.append(name, value.clone());
        }
    }
    if !headers.contains_key(HOST) {
        let host = HeaderValue::from_str(x.authority)
            .map_err(|_| Failure::Malformed("authority".into()))?;
        headers.insert(HOST, host);
    }
    Ok(request)
}

async fn exchange(
    mut sender: Sender,
    x: &Exchange<'_>,
    deadlines: Deadlines,
) -> Result<Response<Bytes>, Attempt> {
    let request = request(x)?;
    // One deadline for the connection to take the request and the answer's head to come.
    let head = tokio::time::timeout(deadlines.first_byte, async {
        sender
            .ready()
            .await
            .map_err(|e| Attempt::NotSent(Failure::of(&e)))?;
        sender.send_request(request).await.map_err(|e| {
            if e.is_canceled() {
                // The connection closed before the request went out.
                Attempt::NotSent(Failure::of(&e))
            } else if e.is_incomplete_message() {
                Attempt::Unanswered(Failure::of(&e))
            } else {
                Attempt::Failed(Failure::of(&e))
            }
        })
    })
    .await;
    let response = match head {
        Ok(answer) => answer?,
        Err(_) => return Err(Attempt::Failed(Failure::FirstByteTimeout)),
    };
    let (parts, body) = response.into_parts();
    // A declared length above the limit is refused before reading.
    if hyper::body::Body::size_hint(&body).lower() > MAX_BODY_BYTES as u64 {
        return Err(Failure::BodyTooLarge.into());
    }
    let mut body = Limited::new(body, MAX_BODY_BYTES);
    let mut whole = BytesMut::new();
    loop {
        let frame = tokio::time::timeout(deadlines.between_bytes, body.frame())
            .await
            .map_err(|_| Failure::BetweenBytesTimeout)?;
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    whole.extend_from_slice(&data);
                }
            }
            Some(Err(e)) if e.is::<LengthLimitError>() => return Err(Failure::BodyTooLarge.into()),
            Some(Err(e)) => {
                return Err(match e.downcast_ref::<hyper::Error>() {
                    Some(e) => Failure::of(e),
                    None => Failure::Io(e.to_string()),
                }
                .into())
            }
        }
    }
    // hyper keeps the connection open when the answer allows it.
    if !sender.is_closed() {
        checkin(x.authority, sender);
    }
    let mut response = Response::from_parts(parts, whole.freeze());
    response.headers_mut().remove(TRANSFER_ENCODING);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// What a test server saw: each request's head and body.
    type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// A server on a free loopback port; `handle` serves each accepted connection (with
    /// its number) on its own thread.
    fn server(
        handle: impl Fn(usize, StdStream, &Seen) + Send + Sync + 'static,
    ) -> (String, Arc<AtomicUsize>, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen: Seen = Arc::default();
        let (count, log) = (accepted.clone(), seen.clone());
        let handle = Arc::new(handle);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (handle, log) = (handle.clone(), log.clone());
                std::thread::spawn(move || handle(n, stream.unwrap(), &log));
            }
        });
        (authority, accepted, seen)
    }

    /// Reads one request (head and `content-length` body); `None` at the end of stream.
    fn read_request(reader: &mut BufReader<StdStream>, seen: &Seen) -> Option<()> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        seen.lock().unwrap().push((head, body));
        Some(())
    }

    /// Reads one request; the stream, to answer it on.
    fn after_one_request(stream: StdStream, seen: &Seen) -> StdStream {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        read_request(&mut reader, seen);
        stream
    }

    /// Answers every request on the connection with `answer`.
    fn answering(answer: &'static str) -> impl Fn(usize, StdStream, &Seen) + Send + Sync {
        move |_, stream, seen| {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut stream = stream;
            while read_request(&mut reader, seen).is_some() {
                stream.write_all(answer.as_bytes()).unwrap();
            }
        }
    }

    const SECOND: Duration = Duration::from_secs(1);
    const DEADLINES: Deadlines = Deadlines {
        connect: SECOND,
        first_byte: SECOND,
        between_bytes: SECOND,
    };

    async fn call(
        authority: &str,
        method: Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response<Bytes>, Failure> {
        let x = Exchange {
            method: &method,
            authority,
            path_and_query: "/deces/_search?q=1",
            headers,
            body,
        };
        send(&x, DEADLINES).await
    }

    async fn get(authority: &str) -> Result<Response<Bytes>, Failure> {
        call(authority, Method::GET, &HeaderMap::new(), b"").await
    }

    #[tokio::test]
    async fn sends_the_request_whole_and_reuses_the_connection() {
        let (authority, accepted, seen) = server(answering(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello",
        ));
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        // The body is sent whole: the guest's own framing headers are replaced.
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("content-length", HeaderValue::from_static("99"));
        for _ in 0..3 {
            let r = call(&authority, Method::POST, &headers, b"{\"size\":1}")
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["x-a"], "b");
            assert_eq!(&r.body()[..], b"hello");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "one kept-alive connection"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        let (head, body) = &seen[0];
        assert!(
            head.starts_with("POST /deces/_search?q=1 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("host: {authority}\r\n")), "{head}");
        assert!(
            head.contains("content-type: application/json\r\n"),
            "{head}"
        );
        assert!(head.contains("content-length: 10\r\n"), "{head}");
        // The guest's framing headers are gone (the port in `host:` may hold any digits).
        assert!(!head.contains("chunked"), "{head}");
        assert!(!head.contains("content-length: 99\r\n"), "{head}");
        assert_eq!(head.matches("content-length:").count(), 1, "{head}");
        assert_eq!(body, b"{\"size\":1}");
    }

    #[tokio::test]
    async fn reads_chunked_answers_and_skips_interim_ones() {
        let (authority, accepted, _) = server(answering(
            "HTTP/1.1 100 Continue\r\n\r\n\
             HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
             5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n",
        ));
        for _ in 0..2 {
            let r = get(&authority).await.unwrap();
            assert_eq!(&r.body()[..], b"hello, world");
            assert!(!r.headers().contains_key(TRANSFER_ENCODING));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reads_to_the_end_of_an_answer_without_length_and_does_not_reuse_it() {
        let (authority, accepted, _) = server(|_, stream, seen| {
            let mut stream = after_one_request(stream, seen);
            stream.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil ").unwrap();
            stream.write_all(b"the end").unwrap();
        });
        for _ in 0..2 {
            assert_eq!(&get(&authority).await.unwrap().body()[..], b"until the end");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_are_not_reused() {
        let (authority, accepted, _) = server(answering(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
        ));
        get(&authority).await.unwrap();
        get(&authority).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        let (authority, accepted, _) =
            server(answering("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"));
        get(&authority).await.unwrap();
        get(&authority).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        let (authority, accepted, _) = server(answering(
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok",
        ));
        get(&authority).await.unwrap();
        get(&authority).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    /// Answers one request per connection, then closes it without saying so.
    fn one_per_connection(_: usize, stream: StdStream, seen: &Seen) {
        let mut stream = after_one_request(stream, seen);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
    }

    #[tokio::test]
    async fn a_pooled_connection_the_server_closed_is_replaced() {
        let (authority, accepted, seen) = server(one_per_connection);
        get(&authority).await.unwrap();
        // Let the close reach this side's reactor.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..3 {
            assert_eq!(&get(&authority).await.unwrap().body()[..], b"ok");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn an_unanswered_request_is_resent_once_only_when_safe() {
        // Each connection answers its first request and reads, then drops, the second.
        let handler = |_: usize, stream: StdStream, seen: &Seen| {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = stream;
            read_request(&mut reader, seen);
            out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .unwrap();
            read_request(&mut reader, seen);
        };
        let (authority, accepted, seen) = server(handler);
        get(&authority).await.unwrap();
        // The pooled connection swallows the GET; it is sent again on a new one.
        assert_eq!(&get(&authority).await.unwrap().body()[..], b"ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(seen.lock().unwrap().len(), 3);
        // A POST may have been acted on: it is not sent twice.
        let r = call(&authority, Method::POST, &HeaderMap::new(), b"x").await;
        assert!(matches!(r, Err(Failure::Incomplete)), "{r:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn deadlines_bound_the_head_and_the_body() {
        let (authority, _, _) = server(|_, stream, seen| {
            let stream = after_one_request(stream, seen);
            std::thread::sleep(Duration::from_secs(3));
            drop(stream);
        });
        let x = Exchange {
            method: &Method::GET,
            authority: &authority,
            path_and_query: "/",
            headers: &HeaderMap::new(),
            body: b"",
        };
        let short = Deadlines {
            first_byte: Duration::from_millis(200),
            ..DEADLINES
        };
        let started = Instant::now();
        assert!(matches!(
            send(&x, short).await,
            Err(Failure::FirstByteTimeout)
        ));
        assert!(started.elapsed() < Duration::from_secs(2));

        let (authority, _, _) = server(|_, stream, seen| {
            let mut stream = after_one_request(stream, seen);
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf ")
                .unwrap();
            std::thread::sleep(Duration::from_secs(3));
        });
        let x = Exchange {
            authority: &authority,
            ..x
        };
        let stalled = Deadlines {
            between_bytes: Duration::from_millis(200),
            ..DEADLINES
        };
        assert!(matches!(
            send(&x, stalled).await,
            Err(Failure::BetweenBytesTimeout)
        ));
    }

    #[tokio::test]
    async fn bad_answers_are_failures_not_panics() {
        for (answer, expected) in [
            ("nonsense\r\n\r\n", "Malformed"),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
                "Malformed",
            ),
            ("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", "Malformed"),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "Malformed",
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokX\r\n",
                "Malformed",
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n",
                "BodyTooLarge",
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
                "Incomplete",
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
                "Incomplete",
            ),
            ("HTTP/1.1 200", "Incomplete"),
        ] {
            let (authority, _, _) = server(move |_, stream, seen| {
                let mut stream = after_one_request(stream, seen);
                stream.write_all(answer.as_bytes()).unwrap();
            });
            let failure = get(&authority).await.unwrap_err();
            assert!(
                format!("{failure:?}").starts_with(expected),
                "{answer:?}: {failure:?}"
            );
        }
        // A head that never ends.
        let (authority, _, _) = server(|_, stream, seen| {
            let mut stream = after_one_request(stream, seen);
            stream.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
            let line = format!("x-long: {}\r\n", "a".repeat(1000));
            for _ in 0..100 {
                if stream.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        assert!(matches!(get(&authority).await, Err(Failure::HeadTooLarge)));
        // Trailers that never end (refused by hyper's trailer limit as a malformed body).
        let (authority, _, _) = server(|_, stream, seen| {
            let mut stream = after_one_request(stream, seen);
            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n";
            stream.write_all(head.as_bytes()).unwrap();
            let line = format!("x-trailer: {}\r\n", "a".repeat(1000));
            for _ in 0..100 {
                if stream.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        let got = get(&authority).await;
        assert!(matches!(got, Err(Failure::Malformed(_))), "{got:?}");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_failure() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let failure = get(&format!("127.0.0.1:{port}")).await.unwrap_err();
        assert!(matches!(failure, Failure::Connect(_)), "{failure:?}");
    }
}
