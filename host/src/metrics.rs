//! The host's numbers for an operator, in the Prometheus text format (OpenMetrics) on
//! `deces-edge up --metrics-listen ADDR`: requests by component, route family and status,
//! their latency, the instances in use, the key-value and SQLite operations by backend and
//! outcome, the outbound requests by upstream with their outcome and latency.
//!
//! Recorded whether or not a listener serves them: an increment is a lock-free add once
//! its label set exists.

use edge_core::api;
use edge_core::limits::Family as RouteFamily;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    component: String,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    component: String,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Operation {
    backend: &'static str,
    op: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outbound {
    upstream: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Upstream {
    upstream: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 50 us to about 26 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    request_seconds: Histograms<Route>,
    instances: Gauge,
    kv: Family<Operation, Counter>,
    sqlite: Family<Operation, Counter>,
    outbound: Family<Outbound, Counter>,
    outbound_seconds: Histograms<Upstream>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("deces_edge");
    let requests = Family::default();
    let request_seconds: Histograms<Route> = Family::new_with_constructor(latency);
    let instances = Gauge::default();
    let kv = Family::default();
    let sqlite = Family::default();
    let outbound = Family::default();
    let outbound_seconds: Histograms<Upstream> = Family::new_with_constructor(latency);
    registry.register(
        "requests",
        "Requests answered, by component, route family and status",
        requests.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Time from a request's head to its answer's head",
        request_seconds.clone(),
    );
    registry.register(
        "instances_in_use",
        "Component instances serving a request now",
        instances.clone(),
    );
    registry.register(
        "kv_operations",
        "Key-value store operations, by backend, operation and result",
        kv.clone(),
    );
    registry.register(
        "sqlite_operations",
        "SQLite statements of the components, by result",
        sqlite.clone(),
    );
    registry.register(
        "outbound_requests",
        "Requests to upstreams, by upstream and result (status class or error)",
        outbound.clone(),
    );
    registry.register(
        "outbound_duration_seconds",
        "Time to an upstream's answer head, by upstream",
        outbound_seconds.clone(),
    );
    Metrics {
        registry,
        requests,
        request_seconds,
        instances,
        kv,
        sqlite,
        outbound,
        outbound_seconds,
    }
});

/// The route family of a path, as the rate limits group them (`healthcheck`, `ready`,
/// `dev` apart; `outside` for paths outside the API).
pub fn route_family(path: &str) -> &'static str {
    let Some(rest) = api::api_path(path) else {
        return "outside";
    };
    let first = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    match (first, RouteFamily::of(rest)) {
        ("healthcheck", _) => "healthcheck",
        ("ready", _) => "ready",
        (_, Some(f)) => f.name(),
        (_, None) => "dev",
    }
}

/// One request answered.
pub fn request(component: &str, path: &str, status: u16, took: Duration) {
    let m = &*METRICS;
    let route = route_family(path);
    m.requests
        .get_or_create(&Request {
            component: component.to_string(),
            route,
            status,
        })
        .inc();
    m.request_seconds
        .get_or_create(&Route {
            component: component.to_string(),
            route,
        })
        .observe(took.as_secs_f64());
}

/// An instance taken for a request; the instance count drops when the guard does.
pub fn instance() -> InstanceGuard {
    METRICS.instances.inc();
    InstanceGuard
}

pub struct InstanceGuard;

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        METRICS.instances.dec();
    }
}

fn result<T, E>(r: &Result<T, E>) -> &'static str {
    if r.is_ok() {
        "ok"
    } else {
        "error"
    }
}

/// One key-value operation on a backend (`redis`, `sqlite`).
pub fn kv<T, E>(backend: &'static str, op: &'static str, outcome: &Result<T, E>) {
    METRICS
        .kv
        .get_or_create(&Operation {
            backend,
            op,
            result: result(outcome),
        })
        .inc();
}

/// One SQLite statement a component ran.
pub fn sqlite<T, E>(outcome: &Result<T, E>) {
    METRICS
        .sqlite
        .get_or_create(&Operation {
            backend: "sqlite",
            op: "execute",
            result: result(outcome),
        })
        .inc();
}

/// One request to an upstream (`host:port`): its status, or `None` when it failed.
pub fn outbound(upstream: &str, status: Option<u16>, took: Duration) {
    let result = match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(_) => "5xx",
        None => "error",
    };
    let m = &*METRICS;
    m.outbound
        .get_or_create(&Outbound {
            upstream: upstream.to_string(),
            result,
        })
        .inc();
    m.outbound_seconds
        .get_or_create(&Upstream {
            upstream: upstream.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Every metric in the text format.
pub fn text() -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

/// The content type of [`text`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves [`text`] to every GET on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let (status, body) = if req.method() == hyper::Method::GET {
                    (200, text())
                } else {
                    (405, String::new())
                };
                hyper::Response::builder()
                    .status(status)
                    .header("content-type", CONTENT_TYPE)
                    .body(Full::new(Bytes::from(body)))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_grouped_as_the_limits_group_them() {
        assert_eq!(route_family("/deces/api/v1/search"), "search");
        assert_eq!(route_family("/deces/api/v1/search/csv"), "bulk");
        assert_eq!(route_family("/deces/api/v1/agg"), "agg");
        assert_eq!(route_family("/deces/api/v1/auth"), "accounts");
        assert_eq!(route_family("/deces/api/v1/id/x"), "other");
        assert_eq!(route_family("/deces/api/v1/healthcheck"), "healthcheck");
        assert_eq!(route_family("/deces/api/v1/ready"), "ready");
        assert_eq!(route_family("/deces/api/v1/dev/x"), "dev");
        assert_eq!(route_family("/elsewhere"), "outside");
    }
}
