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
