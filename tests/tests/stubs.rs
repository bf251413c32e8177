//! The test stubs themselves: what later suites rely on them to do.

use e2e::*;
use serde_json::json;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn es_stub_replays_its_script_in_order_and_records_requests() {
    let es = EsStub::start();
    es.script([(200, json!({"count": 60})), (404, json!({"found": false}))]);
    let addr = format!("127.0.0.1:{}", es.server.port).parse().unwrap();
    let first = request(addr, "GET", "/deces/_count", &[], b"");
    assert_eq!(first.status, 200);
    assert_eq!(first.json(), json!({"count": 60}));
    assert_eq!(first.header("x-elastic-product"), Some("Elasticsearch"));
    let body = br#"{"query":{"match_all":{}}}"#;
    let second = request(addr, "POST", "/deces/_search?scroll=1m", &[], body);
    assert_eq!(second.status, 404);
    let exhausted = request(addr, "GET", "/", &[], b"");
    assert_eq!(exhausted.status, 503);
    let seen = es.recorded();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/deces/_count")
    );
    assert_eq!(seen[0].json(), None);
    assert_eq!(seen[1].query, "scroll=1m");
    assert_eq!(seen[1].json(), Some(json!({"query": {"match_all": {}}})));
}

#[test]
fn stub_keeps_connections_alive_and_can_be_slow() {
    let up = Upstream::start("pong");
    let mut stream = TcpStream::connect(("127.0.0.1", up.port)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..3 {
        stream
            .write_all(b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut reader).unwrap();
        assert_eq!(reply.body, b"pong");
    }
    assert_eq!(up.connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(up.requests.load(std::sync::atomic::Ordering::SeqCst), 3);

    let es = EsStub::start();
    es.server.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    let reply = request(
        format!("127.0.0.1:{}", es.server.port).parse().unwrap(),
        "GET",
        "/",
        &[],
        b"",
    );
    assert_eq!(reply.status, 503);
    assert!(started.elapsed() >= Duration::from_millis(300));
}
