//! What an operator watches: request ids tying an answer to its log lines, JSON logs.

use e2e::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The JSON log lines of the host (the components' own lines are text and skipped).
fn json_lines(h: &Host) -> Vec<Value> {
    h.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

/// Waits until the host has logged the request `id` (lines are written once a worker is
/// idle), then returns its line.
fn logged(h: &Host, id: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(line) = json_lines(h).into_iter().find(|l| l["request_id"] == id) {
            return line;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no log line for {id}: {}",
            h.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_request_id_is_in_the_answer_and_in_the_json_log_line() {
    let dir = TempDir::new("request-id");
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let mut config = app_config(
        sqlite_runtime_config(&dir),
        &[
            ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
            ("SPIN_VARIABLE_ES_URL", nowhere.as_str()),
            ("SPIN_VARIABLE_ES_TIMEOUT_MS", "500"),
        ],
    );
    config.args = vec!["--log-format".into(), "json".into()];
    let h = Host::start(config);

    let get_with_id =
        |path: &str, id: &str| request(h.addr, "GET", path, &[("x-request-id", id)], b"");

    // A safe id is kept and echoed.
    let r = get_with_id("/deces/api/v1/healthcheck?secret=1", "client-42.a_b:c");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("client-42.a_b:c"));
    let line = logged(&h, "client-42.a_b:c");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/deces/api/v1/healthcheck", "no query string");
    assert_eq!(line["component"], "search");
    assert_eq!(line["status"], 200);
    assert!(line["us"].as_u64().is_some(), "{line}");
    let time = line["time"].as_str().unwrap();
    assert!(time.len() >= 20 && time.ends_with('Z'), "{time}");

    // An unsafe or missing id is replaced by a new one, answered and logged alike.
    for given in [Some("a b {x}"), None] {
        let headers: Vec<(&str, &str)> = given.map(|g| ("x-request-id", g)).into_iter().collect();
        let r = request(h.addr, "GET", "/deces/api/v1/nope", &headers, b"");
        assert_eq!(r.status, 404);
        let id = r.header("x-request-id").unwrap().to_string();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_eq!(logged(&h, &id)["status"], 404);
    }

    // The component logs its upstream failure with the same id.
    let r = get_with_id("/deces/api/v1/search?lastName=Dupont", "es-down-1");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-request-id"), Some("es-down-1"));
    assert_eq!(logged(&h, "es-down-1")["status"], 503);
    let text = h.log_text();
    assert!(
        text.lines()
            .any(|l| l.starts_with("[es-down-1] search: elasticsearch")),
        "{text}"
    );
}

/// Asks /ready until its answer is `status`, and returns that answer's body.
fn ready_becomes(h: &Host, status: u16) -> Value {
    let start = Instant::now();
    loop {
        let r = h.get("/deces/api/v1/ready");
        if r.status == status {
            return r.json();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "/ready stayed {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn readiness_follows_the_store_and_the_search_backend() {
    let mut redis = Redis::start();
    let es = EsStub::start();
    let dir = TempDir::new("ready");
    let rc = dir.write("rc.toml", &redis.runtime_config());
    let url = es.url();
    let h = app_host(
        rc,
        &[
            ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
            ("SPIN_VARIABLE_ES_URL", url.as_str()),
        ],
    );
    let all_ok = serde_json::json!({"store": "ok", "search": "ok"});
    assert_eq!(ready_becomes(&h, 200), all_ok);
    // Liveness does not look at either.
    assert_eq!(h.get("/deces/api/v1/healthcheck").status, 200);

    es.server.set_down(true);
    let body = ready_becomes(&h, 503);
    assert_eq!(body, serde_json::json!({"store": "ok", "search": "down"}));
    assert_eq!(h.get("/deces/api/v1/healthcheck").status, 200);
    es.server.set_down(false);
    assert_eq!(ready_becomes(&h, 200), all_ok);

    redis.stop();
    let body = ready_becomes(&h, 503);
    assert_eq!(body["store"], "down", "{body}");
    assert_eq!(h.get("/deces/api/v1/healthcheck").status, 200);
    redis.restart();
    assert_eq!(ready_becomes(&h, 200), all_ok);

    let r = request(h.addr, "POST", "/deces/api/v1/ready", &[], b"");
    assert_eq!(r.status, 405);
}

/// One scrape of the metrics endpoint, parsed.
fn scrape(addr: std::net::SocketAddr) -> prometheus_parse::Scrape {
    let r = request(addr, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type").unwrap().contains("text"),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("the text format parses")
}

/// The sum of the counters `metric` whose labels include `labels` (`None` when none does).
fn total(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let values: Vec<f64> = s
        .samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .filter_map(|x| match x.value {
            // (OpenMetrics names a counter's family without `_total`: the parser may read
            // its samples as untyped.)
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The value of the sample `metric` whose labels include `labels` (one such sample).
fn sample(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .find(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.iter().map(|b| b.count).fold(0.0, f64::max)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[test]
fn metrics_count_requests_latencies_store_and_upstream_calls() {
    let redis = Redis::start();
    let es = EsStub::start();
    let dir = TempDir::new("metrics");
    let rc = dir.write("rc.toml", &redis.runtime_config());
    let url = es.url();
    let metrics_port = free_port();
    let mut config = app_config(
        rc,
        &[
            ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
            ("SPIN_VARIABLE_ES_URL", url.as_str()),
            // Limits on: each search counts in the store.
            ("SPIN_VARIABLE_SEARCH_RATE_PER_CLIENT", "1000"),
            ("SPIN_VARIABLE_SEARCH_BURST_PER_CLIENT", "1000"),
        ],
    );
    config.args = vec![
        "--metrics-listen".into(),
        format!("127.0.0.1:{metrics_port}"),
    ];
    let h = Host::start(config);
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let before = scrape(metrics);
    let search = [
        ("component", "search"),
        ("route", "search"),
        ("status", "200"),
    ];
    assert_eq!(sample(&before, "deces_edge_requests_total", &search), None);

    // A short load: searches (each asks Elasticsearch), healthchecks, unknown routes.
    for _ in 0..12 {
        assert_eq!(h.get("/deces/api/v1/search?lastName=Dupont").status, 200);
    }
    for _ in 0..5 {
        assert_eq!(h.get("/deces/api/v1/healthcheck").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(h.get("/deces/api/v1/nope").status, 404);
    }
    let s = scrape(metrics);
    assert_eq!(sample(&s, "deces_edge_requests_total", &search), Some(12.0));
    let health = [
        ("component", "search"),
        ("route", "healthcheck"),
        ("status", "200"),
    ];
    assert_eq!(sample(&s, "deces_edge_requests_total", &health), Some(5.0));
    let missing = [("route", "other"), ("status", "404")];
    assert_eq!(sample(&s, "deces_edge_requests_total", &missing), Some(3.0));
    // The latency histogram counted each search once (its +Inf bucket).
    let latency = [("component", "search"), ("route", "search")];
    assert_eq!(
        sample(&s, "deces_edge_request_duration_seconds", &latency),
        Some(12.0)
    );
    // Instances are released once their guest has finished, which may follow its answer.
    let start = Instant::now();
    while sample(&scrape(metrics), "deces_edge_instances_in_use", &[]) != Some(0.0) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "instances still in use"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let upstream = es.url().trim_start_matches("http://").to_string();
    let es_ok = [("upstream", upstream.as_str()), ("result", "2xx")];
    assert_eq!(
        sample(&s, "deces_edge_outbound_requests_total", &es_ok),
        Some(12.0)
    );
    let es_time = [("upstream", upstream.as_str())];
    assert_eq!(
        sample(&s, "deces_edge_outbound_duration_seconds", &es_time),
        Some(12.0)
    );
    // The rate limit's counters went through Redis, without error.
    let kv = total(
        &s,
        "deces_edge_kv_operations_total",
        &[("backend", "redis"), ("result", "ok")],
    );
    assert!(kv.is_some_and(|n| n >= 12.0), "{kv:?}");
    let increments = total(
        &s,
        "deces_edge_kv_operations_total",
        &[("backend", "redis"), ("op", "increment")],
    );
    assert!(increments.is_some_and(|n| n >= 12.0), "{increments:?}");
    assert_eq!(
        total(&s, "deces_edge_kv_operations_total", &[("result", "error")]),
        None
    );

    // An upstream down is counted as errors.
    es.server.set_down(true);
    assert_eq!(h.get("/deces/api/v1/search?lastName=Dupont").status, 503);
    let s = scrape(metrics);
    let failed = total(
        &s,
        "deces_edge_outbound_requests_total",
        &[("upstream", upstream.as_str()), ("result", "error")],
    );
    assert!(failed.is_some_and(|n| n >= 1.0), "{failed:?}");
}
