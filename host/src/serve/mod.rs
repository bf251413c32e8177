//! The HTTP front: limits and timeouts, Spin's routing and request headers, one
//! fresh instance per request, one log line per request, graceful shutdown.

pub mod access_log;
pub mod balance;
pub mod busy_poll;
mod held_writes;
pub mod lingering;
mod request_id;
pub mod router;

use crate::app::{App, EPOCH_TICK, MAX_INSTANCES};
use crate::serve::balance::{Balance, GuestPolls, Handoff, Live};
use crate::serve::held_writes::HeldWrites;
use crate::serve::lingering::{Linger, Lingering, UnreadBody};
use crate::serve::router::RouteEntry;
use crate::state::RequestState;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body as _;
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body the host accepts (components may set lower limits).
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers).
    pub max_header_bytes: usize,
    /// Time allowed to receive the request head.
    pub header_timeout: Duration,
    /// Time allowed to receive the whole body.
    pub body_timeout: Duration,
    /// Time allowed to a component to produce its response head.
    pub request_timeout: Duration,
    /// How a connection answered before its request body was read drains the rest.
    pub linger: Linger,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 2 << 20,
            // Twice Node's default (the original's server): room for long GET searches.
            max_header_bytes: 32 << 10,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            linger: Linger::default(),
        }
    }
}

/// The worker threads: how many, and how long each polls its sockets after it last
/// worked before sleeping (`busy_poll`).
#[derive(Debug, Clone)]
pub struct Workers {
    pub count: usize,
    pub busy_poll: Duration,
}

impl Default for Workers {
    fn default() -> Self {
        Workers {
            count: std::thread::available_parallelism().map_or(2, |n| n.get()),
            busy_poll: busy_poll::DEFAULT_WINDOW,
        }
    }
}

struct Server {
    app: App,
    limits: Limits,
    listen: SocketAddr,
    instances: Arc<Semaphore>,
}

fn json(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn one_line(e: &wasmtime::Error) -> String {
    format!("{e:#}").replace('\n', " | ")
}

impl Server {
    /// Answers one request; `unread` is marked when the answer goes out before the
    /// request's body was read to its end (the connection then lingers on close).
    async fn handle(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        unread: &UnreadBody,
    ) -> Response<HyperOutgoingBody> {
        let start = Instant::now();
        let id = request_id::of(req.headers());
        req.headers_mut().insert(request_id::HEADER, id.clone());
        // Cleared in `call` once the body has been read whole.
        unread.set(!req.body().is_end_stream());
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let (component, mut response) = match self.app.router.route(&path) {
            _ if head_bytes(&req) > self.limits.max_header_bytes => (
                "-",
                json(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    r#"{"msg":"Request Header Fields Too Large"}"#,
                ),
            ),
            None => (
                "-",
                json(StatusCode::NOT_FOUND, r#"{"message":"Route not found"}"#),
            ),
            Some(m) => {
                let loaded = &self.app.components[m.entry.component];
                let headers = SpinHeaders {
                    route: m.entry,
                    path_info: &m.path_info,
                    peer,
                };
                let response = self.call(loaded, req, headers, unread).await;
                (loaded.config.id.as_str(), response)
            }
        };
        busy_poll::worked();
        access_log::record(access_log::Line {
            time: None,
            method: method.as_str(),
            path: &path,
            component,
            status: response.status().as_u16(),
            us: start.elapsed().as_micros(),
            request_id: id.to_str().unwrap_or("-"),
        });
        crate::metrics::request(
            component,
            &path,
            response.status().as_u16(),
            start.elapsed(),
        );
        response.headers_mut().insert(request_id::HEADER, id);
        response
    }

    async fn call(
        &self,
        loaded: &crate::app::LoadedComponent,
        req: Request<Incoming>,
        spin: SpinHeaders<'_>,
        unread: &UnreadBody,
    ) -> Response<HyperOutgoingBody> {
        let (mut parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.max_body_bytes as u64) {
            return json(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE);
        }
        let collected = tokio::time::timeout(
            self.limits.body_timeout,
            Limited::new(body, self.limits.max_body_bytes).collect(),
        )
        .await;
        let body = match collected {
            Ok(Ok(body)) => {
                unread.clear();
                body.to_bytes()
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return json(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
            }
            Ok(Err(_)) => return json(StatusCode::BAD_REQUEST, BAD_REQUEST),
            Err(_) => return json(StatusCode::REQUEST_TIMEOUT, r#"{"msg":"Request Timeout"}"#),
        };

        let authority = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| h.parse::<hyper::http::uri::Authority>().is_ok())
            .map(str::to_owned)
            .unwrap_or_else(|| self.listen.to_string());
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let full_url = format!("http://{authority}{path_and_query}");
        let Ok(uri) = full_url.parse::<Uri>() else {
            return json(StatusCode::BAD_REQUEST, BAD_REQUEST);
        };
        parts.uri = uri;
        spin.apply(&mut parts.headers, &full_url);
        let request = Request::from_parts(
            parts,
            Full::new(body).map_err(|never: Infallible| -> ErrorCode { match never {} }),
        );

        let Ok(permit) = self.instances.clone().try_acquire_owned() else {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"msg":"Service Unavailable"}"#,
            );
        };
        let mut store = Store::new(&self.app.engine, RequestState::new(loaded.config.clone()));
        let ticks = self.limits.request_timeout.as_millis() / EPOCH_TICK.as_millis();
        store.set_epoch_deadline(ticks as u64);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, store.data_mut().http().new_response_outparam(sender)?)));
        let (req, out) = match prepared {
            Ok(x) => x,
            Err(e) => {
                eprintln!(
                    "component {}: bad request: {}",
                    loaded.config.id,
                    one_line(&e)
                );
                return json(StatusCode::BAD_REQUEST, BAD_REQUEST);
            }
        };
        let pre = loaded.pre.clone();
        let id = loaded.config.id.clone();
        let in_use = crate::metrics::instance();
        let guest: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let _permit = (permit, in_use);
            let result = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            }
            .await;
            if let Err(e) = &result {
                eprintln!("component {id} failed: {}", one_line(e));
            }
        });
        let mut guest = GuestPolls(guest);
        // The guest runs in this task, beside the wait for its answer: no hop to
        // another task or thread on the common path.
        let id = loaded.config.id.as_str();
        let answer = async {
            match receiver.await {
                Ok(Ok(response)) => buffer_small_body(response, id).await,
                Ok(Err(code)) => {
                    eprintln!("component {id} answered an error: {code:?}");
                    json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR)
                }
                // The guest trapped or returned without setting a response.
                Err(_) => json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
            }
        };
        let answer = tokio::time::timeout(self.limits.request_timeout, answer);
        tokio::pin!(answer);
        let mut guest_done = false;
        let response = loop {
            tokio::select! {
                biased;
                () = &mut guest, if !guest_done => guest_done = true,
                answered = &mut answer => break answered,
            }
        };
        match response {
            Ok(response) => {
                if !guest_done {
                    // A streamed body: the guest keeps writing after the head is sent.
                    tokio::spawn(guest);
                }
                response
            }
            Err(_) => {
                eprintln!("component {id} timed out");
                json(StatusCode::GATEWAY_TIMEOUT, r#"{"msg":"Gateway Timeout"}"#)
            }
        }
    }
}

/// The size of a request head as received: request line and header lines.
fn head_bytes<B>(req: &Request<B>) -> usize {
    // The target's length without formatting it (this runs on every request).
    let uri = req.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |pq| pq.as_str().len());
    let line = req.method().as_str().len() + target + 12;
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

// The host's own answers, JSON like the components' (one place for their wording).
const INTERNAL_ERROR: &str = r#"{"msg":"Internal Server Error"}"#;
const BAD_REQUEST: &str = r#"{"msg":"Bad Request"}"#;
const TOO_LARGE: &str = r#"{"msg":"Payload Too Large"}"#;

/// Header lines a request may carry (hyper's default is 100; heads above the byte limit
/// get the JSON 431 either way).
const MAX_HEADERS: usize = 512;

/// Responses up to this size are sent in one piece with a Content-Length.
const BUFFERED_BODY_BYTES: usize = 4 << 20;

/// Collects a component's body while it stays small, so that a response leaves in
/// one write with a Content-Length instead of chunk by chunk (and a guest failing
/// before its body is complete still gets a clean 500). Larger bodies stream on.
async fn buffer_small_body(
    response: Response<HyperOutgoingBody>,
    component: &str,
) -> Response<HyperOutgoingBody> {
    let (mut parts, mut body) = response.into_parts();
    let mut buffered = BytesMut::new();
    loop {
        match body.frame().await {
            None => {
                parts.headers.remove(hyper::header::TRANSFER_ENCODING);
                parts
                    .headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(buffered.len()));
                let full = Full::new(buffered.freeze()).map_err(|never| match never {});
                return Response::from_parts(parts, full.boxed_unsync());
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    buffered.extend_from_slice(&data);
                    if buffered.len() > BUFFERED_BODY_BYTES {
                        let frames = VecDeque::from([Frame::data(buffered.freeze())]);
                        return Response::from_parts(
                            parts,
                            Prefixed { frames, rest: body }.boxed_unsync(),
                        );
                    }
                }
                Err(frame) => {
                    let frames = VecDeque::from([Frame::data(buffered.freeze()), frame]);
                    return Response::from_parts(
                        parts,
                        Prefixed { frames, rest: body }.boxed_unsync(),
                    );
                }
            },
            Some(Err(e)) => {
                eprintln!("component {component}: response body failed: {e}");
                return json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR);
            }
        }
    }
}

/// Frames already read, then the rest of the body.
struct Prefixed {
    frames: VecDeque<Frame<Bytes>>,
    rest: HyperOutgoingBody,
}

impl hyper::body::Body for Prefixed {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(frame) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}

/// The request headers Spin adds for a component.
struct SpinHeaders<'a> {
    route: &'a RouteEntry,
    path_info: &'a str,
    peer: SocketAddr,
}

const SPIN_FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
const SPIN_PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
const SPIN_MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
const SPIN_BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
const SPIN_RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
const SPIN_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
const SPIN_CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");

impl SpinHeaders<'_> {
    fn apply(&self, headers: &mut hyper::HeaderMap, full_url: &str) {
        // A client must not be able to forge what the runtime asserts.
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("spin-"))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
        let per_request = [
            (SPIN_FULL_URL, HeaderValue::from_str(full_url).ok()),
            (SPIN_PATH_INFO, HeaderValue::from_str(self.path_info).ok()),
            (
                SPIN_CLIENT_ADDR,
                HeaderValue::from_str(&self.peer.to_string()).ok(),
            ),
            (SPIN_BASE_PATH, Some(HeaderValue::from_static("/"))),
        ];
        let per_route = [
            (SPIN_MATCHED_ROUTE, &self.route.matched_header),
            (SPIN_RAW_COMPONENT_ROUTE, &self.route.matched_header),
            (SPIN_COMPONENT_ROUTE, &self.route.component_route_header),
        ];
        let per_route = per_route.map(|(name, value)| (name, value.clone()));
        // One growth of the map for the seven, not one per doubling.
        headers.reserve(per_request.len() + per_route.len());
        for (name, value) in per_request.into_iter().chain(per_route) {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Serves on `workers.count` threads, each with its own single-threaded runtime accepting
/// from the same listening socket: a request never changes thread, so no wake-up
/// crosses cores. A worker holding more connections than another passes a newly
/// accepted one to the least loaded worker, so that keep-alive clients (a load
/// balancer, a benchmark) are spread evenly rather than left on whichever worker
/// happened to wake first. Each worker polls its sockets for `workers.busy_poll`
/// after it last worked before it sleeps (`busy_poll`). Returns once `shutdown` turns
/// true and in-flight requests are done.
pub fn serve(
    app: App,
    listener: std::net::TcpListener,
    limits: Limits,
    workers: Workers,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listen = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let server = Arc::new(Server {
        app,
        limits,
        listen,
        instances: Arc::new(Semaphore::new(MAX_INSTANCES as usize - 8)),
    });
    let (balance, receivers) = Balance::new(workers.count.max(1));
    let mut threads = Vec::new();
    for (i, inbox) in receivers.into_iter().enumerate() {
        let listener = listener.try_clone()?;
        let worker = Worker {
            index: i,
            server: server.clone(),
            balance: balance.clone(),
        };
        let shutdown = shutdown.clone();
        let busy_poll = workers.busy_poll;
        let thread = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .on_thread_park(access_log::flush)
                    .build()?;
                worker.balance.enter(i);
                let result = runtime.block_on(async move {
                    tokio::spawn(busy_poll::run(busy_poll));
                    let listener = TcpListener::from_std(listener)?;
                    worker.accept_loop(listener, inbox, shutdown).await;
                    Ok(())
                });
                access_log::flush();
                result
            })?;
        threads.push(thread);
    }
    drop(listener);
    drop(balance);
    for thread in threads {
        match thread.join() {
            Ok(result) => result?,
            Err(_) => anyhow::bail!("a worker thread panicked"),
        }
    }
    Ok(())
}

struct Worker {
    index: usize,
    server: Arc<Server>,
    balance: Arc<Balance>,
}

impl Worker {
    async fn accept_loop(
        self,
        listener: TcpListener,
        mut inbox: mpsc::UnboundedReceiver<Handoff>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            eprintln!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let target = self.balance.pick(self.index);
                    let live = Live::new(&self.balance, target);
                    if target == self.index {
                        self.serve_connection(stream, peer, live, &graceful);
                    } else if let Ok(stream) = stream.into_std() {
                        self.balance.pass(target, (stream, peer), live);
                    }
                }
                Some((stream, peer)) = inbox.recv() => {
                    let live = Live::adopt(&self.balance, self.index);
                    match TcpStream::from_std(stream) {
                        Ok(stream) => self.serve_connection(stream, peer, live, &graceful),
                        Err(e) => eprintln!("passing a connection failed: {e}"),
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        drop(listener);
        inbox.close();
        while let Ok((stream, _)) = inbox.try_recv() {
            drop(Live::adopt(&self.balance, self.index));
            drop(stream);
        }
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(Duration::from_secs(10)) => eprintln!("shutdown: gave up waiting"),
        }
    }

    fn serve_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        live: Live,
        graceful: &GracefulShutdown,
    ) {
        let _ = stream.set_nodelay(true);
        let limits = &self.server.limits;
        let server = self.server.clone();
        let unread = UnreadBody::default();
        let io = Lingering::new(HeldWrites::new(stream), limits.linger, unread.clone());
        let service = service_fn(move |req| {
            let server = server.clone();
            let unread = unread.clone();
            async move { Ok::<_, Infallible>(server.handle(req, peer, &unread).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            // Heads up to four times the limit are read, so that the
            // service answers them with its JSON 431 (see `handle`).
            .max_buf_size((limits.max_header_bytes * 4).max(8192))
            .max_headers(MAX_HEADERS)
            .serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(live);
        });
    }
}
