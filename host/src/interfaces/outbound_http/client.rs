//! The client for the components' plain-HTTP upstreams (Elasticsearch, a mail relay):
//! HTTP/1.1 over one keep-alive connection pool per worker thread. A request is written in
//! one piece and its answer read whole, in the task that asked: no connection task, body
//! channel or per-frame timer stands between the guest and the socket.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Response, StatusCode, Version};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head read (status line and header lines).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// Most header lines in a response head.
const MAX_HEADERS: usize = 128;
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
    /// The answer is not HTTP/1.x as this client reads it.
    Malformed(&'static str),
    /// The connection closed before the answer was complete.
    Incomplete,
    HeadTooLarge,
    BodyTooLarge,
    Io(io::Error),
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

/// One request, its body already whole.
pub struct Exchange<'a> {
    pub method: &'a Method,
    /// `host:port`, as connected to and, unless the headers carry one, sent as `Host`.
    pub authority: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

struct Idle {
    stream: TcpStream,
    since: Instant,
}

thread_local! {
    /// Keep-alive connections by upstream authority. Each worker thread keeps its own: a
    /// request is served on one thread from start to end, so its connection never waits
    /// for another worker busy in a guest.
    static POOL: RefCell<HashMap<String, VecDeque<Idle>>> = RefCell::new(HashMap::new());
}

/// A pooled connection that is still open: the server has neither closed it nor sent
/// anything unasked (tokio answers from the readiness it already knows, without a system
/// call, while the socket has nothing to read).
fn checkout(authority: &str) -> Option<TcpStream> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let idle = pool.get_mut(authority)?;
        while let Some(conn) = idle.pop_back() {
            if conn.since.elapsed() >= IDLE_TIMEOUT {
                // The rest are older still.
                idle.clear();
                break;
            }
            let mut probe = [0u8; 1];
            match conn.stream.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(conn.stream),
                _ => continue,
            }
        }
        None
    })
}

fn checkin(authority: &str, stream: TcpStream) {
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
            stream,
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

async fn connect(authority: &str, limit: Duration) -> Result<TcpStream, Failure> {
    let stream = within(limit, Failure::ConnectTimeout, async {
        TcpStream::connect(authority)
            .await
            .map_err(Failure::Connect)
    })
    .await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sends one request and reads its whole answer. A reused connection that the server
/// closed before answering anything (it may have timed it out while idle) is replaced
/// once by a new one when the request may safely be sent again.
pub async fn send(x: &Exchange<'_>, deadlines: Deadlines) -> Result<Response<Bytes>, Failure> {
    let request = encode(x);
    if let Some(stream) = checkout(x.authority) {
        match exchange(stream, &request, x, deadlines).await {
            Err(Attempt::Unanswered(_)) if resendable(x.method) => {}
            other => return other.map_err(Attempt::into_failure),
        }
    }
    let stream = connect(x.authority, deadlines.connect).await?;
    exchange(stream, &request, x, deadlines)
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
    /// The connection failed before a single byte of answer came back.
    Unanswered(Failure),
    Failed(Failure),
}

impl Attempt {
    fn into_failure(self) -> Failure {
        match self {
            Attempt::Unanswered(f) | Attempt::Failed(f) => f,
        }
    }
}

impl From<Failure> for Attempt {
    fn from(f: Failure) -> Self {
        Attempt::Failed(f)
    }
}

/// The request head and body in one buffer. The body is whole, so its length is sent
/// as `Content-Length`, whatever framing the guest's headers named.
fn encode(x: &Exchange<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + x.body.len());
    out.extend_from_slice(x.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(x.path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !x.headers.contains_key(HOST) {
        header(&mut out, "host", x.authority.as_bytes());
    }
    for (name, value) in x.headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING && name != CONNECTION {
            header(&mut out, name.as_str(), value.as_bytes());
        }
    }
    if !x.body.is_empty() || matches!(*x.method, Method::POST | Method::PUT | Method::PATCH) {
        header(
            &mut out,
            "content-length",
            x.body.len().to_string().as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(x.body);
    out
}

fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Reads from the connection into `buf`; 0 at the end of the stream.
async fn fill(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(buf.len().max(16 << 10));
    }
    stream.read_buf(buf).await
}

/// A response without its body yet, how the body is delimited, and whether the
/// connection may be reused after it.
type Head = (Response<Bytes>, Framing, bool);

/// How the body of an answer is delimited.
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

async fn exchange(
    mut stream: TcpStream,
    request: &[u8],
    x: &Exchange<'_>,
    deadlines: Deadlines,
) -> Result<Response<Bytes>, Attempt> {
    if let Err(e) = stream.write_all(request).await {
        return Err(Attempt::Unanswered(Failure::Io(e)));
    }
    let mut buf = BytesMut::with_capacity(32 << 10);
    let (mut response, framing, keep_alive) = tokio::time::timeout(
        deadlines.first_byte,
        read_head(&mut stream, &mut buf, x.method),
    )
    .await
    .unwrap_or(Err(Attempt::Failed(Failure::FirstByteTimeout)))?;

    let body = match framing {
        Framing::None => Bytes::new(),
        Framing::Length(n) => {
            if n > MAX_BODY_BYTES {
                return Err(Failure::BodyTooLarge.into());
            }
            while buf.len() < n {
                if read_more(&mut stream, &mut buf, deadlines.between_bytes).await? == 0 {
                    return Err(Failure::Incomplete.into());
                }
            }
            buf.split_to(n).freeze()
        }
        Framing::Chunked => dechunk(&mut stream, &mut buf, deadlines.between_bytes).await?,
        Framing::UntilClose => {
            while read_more(&mut stream, &mut buf, deadlines.between_bytes).await? > 0 {
                if buf.len() > MAX_BODY_BYTES {
                    return Err(Failure::BodyTooLarge.into());
                }
            }
            buf.split().freeze()
        }
    };
    // Anything after the answer was not asked for: such a connection is not reused.
    if keep_alive && buf.is_empty() {
        checkin(x.authority, stream);
    }
    *response.body_mut() = body;
    Ok(response)
}

/// A response head; interim answers (1xx) are skipped.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    method: &Method,
) -> Result<Head, Attempt> {
    loop {
        match fill(stream, buf).await {
            Ok(0) if buf.is_empty() => return Err(Attempt::Unanswered(Failure::Incomplete)),
            Ok(0) => return Err(Failure::Incomplete.into()),
            Ok(_) => {}
            Err(e) if buf.is_empty() => return Err(Attempt::Unanswered(Failure::Io(e))),
            Err(e) => return Err(Failure::Io(e).into()),
        }
        if let Some(head) = parse_head(buf, method)? {
            return Ok(head);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(Failure::HeadTooLarge.into());
        }
    }
}

async fn read_more(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    limit: Duration,
) -> Result<usize, Failure> {
    within(limit, Failure::BetweenBytesTimeout, async {
        fill(stream, buf).await.map_err(Failure::Io)
    })
    .await
}

/// Parses a complete response head at the start of `buf` and removes it; `None` while
/// it is incomplete or after an interim (1xx) answer.
fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, Failure> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Failure::HeadTooLarge),
        Err(_) => return Err(Failure::Malformed("response head")),
    };
    let code = parsed.code.ok_or(Failure::Malformed("status"))?;
    let status = StatusCode::from_u16(code).map_err(|_| Failure::Malformed("status"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| Failure::Malformed("header"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| Failure::Malformed("header"))?;
        headers.append(name, value);
    }
    buf.advance(head_len);
    if status.is_informational() {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(Failure::Malformed("protocol switch"));
        }
        return parse_head(buf, method);
    }
    let framing = framing(&headers, status, method)?;
    // A body read to the end of the stream leaves no connection to reuse.
    let keep_alive = !matches!(framing, Framing::UntilClose) && keep_alive(&headers, version);
    if matches!(framing, Framing::Chunked) {
        headers.remove(TRANSFER_ENCODING);
    }
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(Some((response, framing, keep_alive)))
}

fn framing(headers: &HeaderMap, status: StatusCode, method: &Method) -> Result<Framing, Failure> {
    if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::None);
    }
    if let Some(codings) = headers.get(TRANSFER_ENCODING) {
        let codings = codings
            .to_str()
            .map_err(|_| Failure::Malformed("transfer-encoding"))?;
        let last = codings.rsplit(',').next().unwrap_or("").trim();
        return if last.eq_ignore_ascii_case("chunked") {
            Ok(Framing::Chunked)
        } else {
            Ok(Framing::UntilClose)
        };
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let n = value
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or(Failure::Malformed("content-length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(Failure::Malformed("content-length"));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) => Framing::None,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

fn keep_alive(headers: &HeaderMap, version: Version) -> bool {
    let mut close = version == Version::HTTP_10;
    for value in headers.get_all(CONNECTION) {
        for token in value.to_str().unwrap_or("close").split(',') {
            let token = token.trim();
            if token.eq_ignore_ascii_case("close") {
                return false;
            }
            if token.eq_ignore_ascii_case("keep-alive") {
                close = false;
            }
        }
    }
    !close
}

/// The line at the start of `buf` (without its CRLF), removed from it; `None` until a
/// whole line is there.
fn take_line(buf: &mut BytesMut) -> Option<BytesMut> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = buf.split_to(end);
    buf.advance(2);
    Some(line)
}

async fn line(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    limit: Duration,
) -> Result<BytesMut, Failure> {
    loop {
        if let Some(line) = take_line(buf) {
            return Ok(line);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(Failure::Malformed("chunk line"));
        }
        if read_more(stream, buf, limit).await? == 0 {
            return Err(Failure::Incomplete);
        }
    }
}

/// The size on a chunk's line (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<usize, Failure> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits)
        .map_err(|_| Failure::Malformed("chunk size"))?
        .trim();
    if digits.is_empty() || digits.len() > 15 {
        return Err(Failure::Malformed("chunk size"));
    }
    usize::from_str_radix(digits, 16).map_err(|_| Failure::Malformed("chunk size"))
}

/// Reads a chunked body whole; trailers are read and dropped.
async fn dechunk(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    limit: Duration,
) -> Result<Bytes, Failure> {
    let mut body = BytesMut::new();
    loop {
        let size = chunk_size(&line(stream, buf, limit).await?)?;
        if size == 0 {
            break;
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(Failure::BodyTooLarge);
        }
        while buf.len() < size + 2 {
            if read_more(stream, buf, limit).await? == 0 {
                return Err(Failure::Incomplete);
            }
        }
        body.extend_from_slice(&buf[..size]);
        if &buf[size..size + 2] != b"\r\n" {
            return Err(Failure::Malformed("chunk end"));
        }
        buf.advance(size + 2);
    }
    let mut trailers = 0;
    loop {
        let trailer = line(stream, buf, limit).await?;
        if trailer.is_empty() {
            return Ok(body.freeze());
        }
        trailers += trailer.len() + 2;
        if trailers > MAX_HEAD_BYTES {
            return Err(Failure::HeadTooLarge);
        }
    }
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
        // Trailers that never end.
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
        assert!(matches!(get(&authority).await, Err(Failure::HeadTooLarge)));
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
