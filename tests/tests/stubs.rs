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
    let unscripted = request(addr, "GET", "/", &[], b"");
    assert_eq!(unscripted.status, 404);
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
    assert_eq!(reply.status, 404);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn es_stub_serves_the_fixture_records_when_unscripted() {
    let es = EsStub::start();
    let addr = format!("127.0.0.1:{}", es.server.port).parse().unwrap();
    let count = request(addr, "GET", "/deces/_count", &[], b"");
    assert_eq!(count.json(), json!({"count": 60}));
    let page = request(
        addr,
        "POST",
        "/deces/_search?scroll=1m",
        &[],
        br#"{"size": 25, "from": 0}"#,
    )
    .json();
    assert_eq!(page["hits"]["total"]["value"], 60);
    assert_eq!(page["hits"]["hits"].as_array().unwrap().len(), 25);
    let mut id = page["_scroll_id"].as_str().unwrap().to_string();
    let mut seen = 25;
    loop {
        let body = json!({"scroll_id": id, "scroll": "1m"}).to_string();
        let next = request(addr, "POST", "/_search/scroll", &[], body.as_bytes()).json();
        let n = next["hits"]["hits"].as_array().unwrap().len();
        if n == 0 {
            break;
        }
        seen += n;
        id = next["_scroll_id"].as_str().unwrap().to_string();
    }
    assert_eq!(seen, 60);
    let bogus = request(
        addr,
        "POST",
        "/_search/scroll",
        &[],
        br#"{"scroll_id":"x"}"#,
    );
    assert_eq!(bogus.status, 400);
    let cat = request(addr, "GET", "/_cat/indices/deces", &[], b"").json();
    assert_eq!(cat[0]["creation.date.string"], "2024-03-05T09:12:44.311Z");
}
