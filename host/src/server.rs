//! The HTTP front: limits and timeouts, Spin's routing and request headers, one
//! fresh instance per request, one log line per request, graceful shutdown.

use crate::app::{App, EPOCH_TICK, MAX_INSTANCES};
use crate::state::RequestState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 2 << 20,
            max_header_bytes: 64 << 10,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
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
    async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let (component, response) = match self.app.router.route(&path) {
            None => (
                "-",
                json(StatusCode::NOT_FOUND, r#"{"message":"Route not found"}"#),
            ),
            Some(m) => {
                let loaded = &self.app.components[m.entry.component];
                let headers = SpinHeaders {
                    matched_route: &m.entry.raw,
                    component_route: m.entry.component_route(),
                    path_info: &m.path_info,
                    peer,
                };
                let response = self.call(loaded, req, headers).await;
                (loaded.config.id.as_str(), response)
            }
        };
        let micros = start.elapsed().as_micros();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{method} {path} {component} {} {micros}us",
            response.status().as_u16()
        );
        response
    }

    async fn call(
        &self,
        loaded: &crate::app::LoadedComponent,
        req: Request<Incoming>,
        spin: SpinHeaders<'_>,
    ) -> Response<HyperOutgoingBody> {
        let (mut parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.max_body_bytes as u64) {
            return json(
                StatusCode::PAYLOAD_TOO_LARGE,
                r#"{"msg":"Payload Too Large"}"#,
            );
        }
        let collected = tokio::time::timeout(
            self.limits.body_timeout,
            Limited::new(body, self.limits.max_body_bytes).collect(),
        )
        .await;
        let body = match collected {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    r#"{"msg":"Payload Too Large"}"#,
                )
            }
            Ok(Err(_)) => return json(StatusCode::BAD_REQUEST, r#"{"msg":"Bad Request"}"#),
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
            return json(StatusCode::BAD_REQUEST, r#"{"msg":"Bad Request"}"#);
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
        let mut store = Store::new(
            &self.app.engine,
            RequestState::new(loaded.config.clone(), self.app.client.clone()),
        );
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
                return json(StatusCode::BAD_REQUEST, r#"{"msg":"Bad Request"}"#);
            }
        };
        let pre = loaded.pre.clone();
        let id = loaded.config.id.clone();
        let task = tokio::spawn(async move {
            let _permit = permit;
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
        match tokio::time::timeout(self.limits.request_timeout, receiver).await {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(code))) => {
                eprintln!("component {} answered an error: {code:?}", loaded.config.id);
                json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"msg":"Internal Server Error"}"#,
                )
            }
            // The guest trapped or returned without setting a response.
            Ok(Err(_)) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"msg":"Internal Server Error"}"#,
            ),
            Err(_) => {
                task.abort();
                eprintln!("component {} timed out", loaded.config.id);
                json(StatusCode::GATEWAY_TIMEOUT, r#"{"msg":"Gateway Timeout"}"#)
            }
        }
    }
}

/// The request headers Spin adds for a component.
struct SpinHeaders<'a> {
    matched_route: &'a str,
    component_route: &'a str,
    path_info: &'a str,
    peer: SocketAddr,
}

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
        let pairs = [
            ("spin-full-url", full_url.to_string()),
            ("spin-path-info", self.path_info.to_string()),
            ("spin-matched-route", self.matched_route.to_string()),
            ("spin-base-path", "/".to_string()),
            ("spin-raw-component-route", self.matched_route.to_string()),
            ("spin-component-route", self.component_route.to_string()),
            ("spin-client-addr", self.peer.to_string()),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

pub async fn serve(app: App, listener: TcpListener, limits: Limits) -> anyhow::Result<()> {
    let listen = listener.local_addr()?;
    let server = Arc::new(Server {
        app,
        limits,
        listen,
        instances: Arc::new(Semaphore::new(MAX_INSTANCES as usize - 8)),
    });
    let header_timeout = server.limits.header_timeout;
    let max_header_bytes = server.limits.max_header_bytes;
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
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
                let _ = stream.set_nodelay(true);
                let server = server.clone();
                let service = service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(server.handle(req, peer).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .max_buf_size(max_header_bytes)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    eprintln!("shutting down: finishing in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => eprintln!("shutdown: gave up waiting"),
    }
    Ok(())
}
