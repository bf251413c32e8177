//! Outbound HTTP: each component's `allowed_outbound_hosts` (Spin's syntax), and the
//! wasi-http hooks that send permitted requests.

pub mod client;

use anyhow::{anyhow, bail, Context, Result};
use client::{Deadlines, Exchange, Failure};
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com` matches `a.example.com` and `a.b.example.com`.
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

#[derive(Debug, Clone, PartialEq)]
struct AllowedHost {
    /// `None` for `*`.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// The hosts one component may call.
#[derive(Debug, Default, Clone)]
pub struct AllowList {
    entries: Vec<AllowedHost>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    fn parse(text: &str) -> Result<Self> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| anyhow!("`{text}` has no scheme (write e.g. `http://host:port`)"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            bail!("`{text}` must not contain a path");
        }
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            other => bail!("`{text}`: unsupported scheme `{other}`"),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        if host.is_empty() {
            bail!("`{text}` has no host");
        }
        let host = match host {
            "*" => HostPattern::Any,
            h if h.starts_with("*.") => HostPattern::Subdomain(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => {
                bail!("`{text}`: wildcards are only allowed as `*` or `*.domain`")
            }
            h => HostPattern::Exact(h.to_ascii_lowercase()),
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((a, b)) => PortPattern::Range(
                    a.parse().with_context(|| format!("`{text}`: bad port"))?,
                    b.parse::<u16>()
                        .with_context(|| format!("`{text}`: bad port"))?
                        - 1,
                ),
                None => {
                    let p: u16 = p.parse().with_context(|| format!("`{text}`: bad port"))?;
                    PortPattern::Range(p, p)
                }
            },
            None => match scheme.as_deref().and_then(default_port) {
                Some(p) => PortPattern::Range(p, p),
                None => bail!("`{text}`: a port is required with a wildcard scheme"),
            },
        };
        Ok(AllowedHost { scheme, host, port })
    }

    fn permits(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
            HostPattern::Subdomain(suffix) => {
                host.len() > suffix.len() && host.to_ascii_lowercase().ends_with(suffix.as_str())
            }
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(a, b) => (a..=b).contains(&port),
        };
        scheme_ok && host_ok && port_ok
    }
}

impl AllowList {
    /// Parses already-rendered entries (templates expanded by the caller).
    pub fn parse(entries: &[String]) -> Result<Self> {
        let entries = entries
            .iter()
            .map(|e| AllowedHost::parse(e.trim()))
            .collect::<Result<_>>()?;
        Ok(AllowList { entries })
    }

    pub fn permits(&self, uri: &Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else {
            return false;
        };
        let Some(host) = uri.host() else {
            return false;
        };
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
            return false;
        };
        self.entries.iter().any(|e| e.permits(scheme, host, port))
    }
}

/// Sends a permitted request (counted and timed by upstream: `crate::metrics`).
async fn send(
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<http::Response<WasiBody>, Error> {
    let start = Instant::now();
    let upstream = request.uri().authority().map_or_else(String::new, |a| {
        match (a.port_u16(), request.uri().scheme_str()) {
            (Some(_), _) => a.to_string(),
            (None, Some("https")) => format!("{}:443", a.host()),
            (None, _) => format!("{}:80", a.host()),
        }
    });
    let outcome = send_permitted(request, options).await;
    let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
    crate::metrics::outbound(&upstream, status, start.elapsed());
    outcome
}

/// Plain HTTP through this project's client and its per-thread pool (`client.rs`), HTTPS
/// through wasmtime's own client.
async fn send_permitted(
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<http::Response<WasiBody>, Error> {
    let options = options.unwrap_or_default();
    let first_byte = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
    if request.uri().scheme_str() == Some("https") {
        // TLS goes through wasmtime's own client (one connection per request).
        let (response, io) = tokio::time::timeout(
            first_byte,
            wasmtime_wasi_http::default_send_request(request, Some(options)),
        )
        .await
        .map_err(|_| Error::HttpResponseTimeout)??;
        tokio::spawn(io);
        return Ok(response.map(|b| b.boxed_unsync()));
    }
    let (parts, body) = request.into_parts();
    let host = parts.uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let authority = format!("{host}:{}", parts.uri.port_u16().unwrap_or(80));
    // The guest writes the body after handing the request over; it is sent whole.
    let body = body.collect().await?.to_bytes();
    let exchange = Exchange {
        method: &parts.method,
        authority: &authority,
        path_and_query: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        headers: &parts.headers,
        body: &body,
    };
    let deadlines = Deadlines {
        connect: options.connect_timeout.unwrap_or(CONNECT_TIMEOUT),
        first_byte,
        between_bytes: options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT),
    };
    let response = client::send(&exchange, deadlines)
        .await
        .map_err(|failure| {
            let held = FAILURE_LOG.with(|log| log.borrow_mut().admit(Instant::now()));
            if let Some(held) = held {
                let more = if held > 0 {
                    format!(" ({held} more failed since the last such line)")
                } else {
                    String::new()
                };
                eprintln!(
                    "outbound request to http://{authority}{} failed: {failure}{more}",
                    exchange.path_and_query
                );
            }
            wasi_error(failure)
        })?;
    Ok(response.map(|body| {
        Full::new(body)
            .map_err(|never: Infallible| -> Error { match never {} })
            .boxed_unsync()
    }))
}

/// At most one line a second for failed upstream requests: while an upstream is down, every
/// search fails (four times, with its retries), and a line each would flood the log.
struct Throttle {
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    const EVERY: Duration = Duration::from_secs(1);

    /// `Some(lines held back since the last one)` when a line may be written at `now`.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < Self::EVERY => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }
}

thread_local! {
    static FAILURE_LOG: RefCell<Throttle> = const { RefCell::new(Throttle { last: None, held: 0 }) };
}

/// Deadlines when the guest sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The wasi-http error code a guest sees for a failed exchange.
fn wasi_error(failure: Failure) -> Error {
    match failure {
        Failure::Connect(_) => Error::ConnectionRefused,
        Failure::ConnectTimeout => Error::ConnectionTimeout,
        Failure::FirstByteTimeout | Failure::BetweenBytesTimeout => Error::HttpResponseTimeout,
        Failure::Malformed(_) => Error::HttpProtocolError,
        Failure::Incomplete => Error::HttpResponseIncomplete,
        Failure::HeadTooLarge => Error::HttpResponseHeaderSectionSize(None),
        Failure::BodyTooLarge => Error::HttpResponseBodySize(None),
        Failure::Io(_) => Error::ConnectionTerminated,
    }
}

/// The wasi-http hooks of one request: the component's allow-list.
pub struct OutboundHooks {
    component: String,
    allow: Arc<AllowList>,
}

impl OutboundHooks {
    pub fn new(component: String, allow: Arc<AllowList>) -> Self {
        OutboundHooks { component, allow }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        if !self.allow.permits(request.uri()) {
            eprintln!(
                "outbound request denied: component {} may not call {}://{}",
                self.component,
                request.uri().scheme_str().unwrap_or("?"),
                request.uri().authority().map_or("?", |a| a.as_str()),
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let response = send(request, options).await?;
            let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entries: &[&str], url: &str) -> bool {
        let list =
            AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        list.permits(&url.parse().unwrap())
    }

    #[test]
    fn matches_spin_syntax() {
        assert!(allows(
            &["http://127.0.0.1:9200"],
            "http://127.0.0.1:9200/deces/_search"
        ));
        assert!(allows(
            &["http://127.0.0.1:9200/"],
            "http://127.0.0.1:9200/x"
        ));
        assert!(!allows(
            &["http://127.0.0.1:9200"],
            "http://127.0.0.1:9201/x"
        ));
        assert!(!allows(
            &["http://127.0.0.1:9200"],
            "https://127.0.0.1:9200/x"
        ));
        assert!(allows(
            &["https://api.example.com"],
            "https://api.example.com/send"
        ));
        assert!(!allows(
            &["https://api.example.com"],
            "https://api.example.com:8443/send"
        ));
        assert!(allows(
            &["https://*.example.com"],
            "https://a.b.example.com/"
        ));
        assert!(!allows(&["https://*.example.com"], "https://example.com/"));
        assert!(allows(&["*://localhost:*"], "http://localhost:1234/"));
        assert!(allows(
            &["http://localhost:8000..8002"],
            "http://localhost:8001/"
        ));
        assert!(!allows(
            &["http://localhost:8000..8002"],
            "http://localhost:8002/"
        ));
        assert!(!allows(&[], "http://localhost/"));
    }

    #[test]
    fn failure_lines_are_throttled_to_one_a_second() {
        let mut log = Throttle {
            last: None,
            held: 0,
        };
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(log.admit(at(0)), Some(0));
        assert_eq!(log.admit(at(10)), None);
        assert_eq!(log.admit(at(999)), None);
        // The next line says how many were held back.
        assert_eq!(log.admit(at(1000)), Some(2));
        assert_eq!(log.admit(at(1500)), None);
        assert_eq!(log.admit(at(5000)), Some(1));
        assert_eq!(log.admit(at(6000)), Some(0));
    }

    #[test]
    fn refuses_bad_entries() {
        for bad in [
            "127.0.0.1:9200",
            "ftp://x",
            "http://x/path",
            "*://x",
            "http://a*b.c",
            "http://:80",
        ] {
            assert!(AllowList::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
