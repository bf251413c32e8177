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

    // A safe id is kept and echoed.
    let r = request(
        h.addr,
        "GET",
        "/deces/api/v1/healthcheck?secret=1",
        &[("x-request-id", "client-42.a_b:c")],
        b"",
    );
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
    let r = request(
        h.addr,
        "GET",
        "/deces/api/v1/search?lastName=Dupont",
        &[("x-request-id", "es-down-1")],
        b"",
    );
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
