//! The search component end to end, beyond the goldens: upstream failures, timeouts,
//! connection reuse, the /version cache, tokens, CORS, limits and ids.

use e2e::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

fn host_with(dir: &TempDir, es_url: &str, extra: &[(&str, &str)]) -> Host {
    let mut vars = vec![
        ("SPIN_VARIABLE_ES_URL", es_url),
        ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
        ("SPIN_VARIABLE_TOKEN_SECRET", SECRET),
        ("SPIN_VARIABLE_ES_TIMEOUT_MS", "2000"),
    ];
    vars.extend_from_slice(extra);
    app_host(sqlite_runtime_config(dir), &vars)
}

const SEARCH: &str = "/deces/api/v1/search?lastName=Dupont";

fn es_error(status: u16) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": "test_failure", "reason": "scripted"}, "status": status}),
    )
}

#[test]
fn answers_from_the_fixture_records() {
    let es = EsStub::start();
    let dir = TempDir::new("search");
    let h = host_with(&dir, &es.url(), &[]);
    let reply = h.get("/deces/api/v1/search?lastName=Dupont&size=5&page=2");
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["response"]["total"], 60);
    assert_eq!(body["response"]["page"], 2);
    let persons = body["response"]["persons"].as_array().unwrap();
    let records = fixture_records();
    let ids: Vec<&Value> = persons.iter().map(|p| &p["id"]).collect();
    let expected: Vec<&Value> = records[5..10].iter().map(|r| &r["UID"]).collect();
    assert_eq!(ids, expected);
    let sent = es.recorded();
    assert_eq!(sent[0].json().unwrap()["from"], 5);
}

#[test]
fn an_answer_of_several_megabytes_arrives_whole() {
    // Above the 1 MiB a component may hand the host in one write: the answer leaves in
    // several pieces and must arrive complete.
    let es = EsStub::start();
    let records = fixture_records();
    let hits: Vec<Value> = (0..4000)
        .map(
            |i| json!({"_id": i.to_string(), "_score": 1.0, "_source": records[i % records.len()]}),
        )
        .collect();
    es.script([(
        200,
        json!({"took": 1, "hits": {"total": {"value": 4000}, "max_score": 1.0, "hits": hits}}),
    )]);
    let dir = TempDir::new("search-big");
    let h = host_with(&dir, &es.url(), &[]);
    let reply = h.get("/deces/api/v1/search?lastName=Dupont&size=1000");
    assert_eq!(reply.status, 200);
    assert!(reply.body.len() > 2 << 20, "{} bytes", reply.body.len());
    let body = reply.json();
    let persons = body["response"]["persons"].as_array().unwrap();
    assert_eq!(persons.len(), 4000);
    assert_eq!(persons[3999]["id"], records[3999 % records.len()]["UID"]);
}

#[test]
fn scroll_pages_through_every_record() {
    let es = EsStub::start();
    let dir = TempDir::new("search-scroll");
    let h = host_with(&dir, &es.url(), &[]);
    let first = h
        .get("/deces/api/v1/search?scroll=1m&size=25&lastName=x")
        .json();
    let mut seen: Vec<Value> = first["response"]["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    let mut id = first["response"]["scrollId"].as_str().unwrap().to_string();
    loop {
        let body = json!({"scroll": "1m", "scrollId": id}).to_string();
        let page = request(h.addr, "POST", "/deces/api/v1/search", &[], body.as_bytes()).json();
        let persons = page["response"]["persons"].as_array().unwrap().clone();
        if persons.is_empty() {
            break;
        }
        seen.extend(persons.iter().map(|p| p["id"].clone()));
        id = page["response"]["scrollId"].as_str().unwrap().to_string();
    }
    let all: Vec<Value> = fixture_records().iter().map(|r| r["UID"].clone()).collect();
    assert_eq!(seen, all);
}

#[test]
fn elasticsearch_failures_become_503_or_502() {
    let es = EsStub::start();
    let dir = TempDir::new("search-fail");
    let h = host_with(&dir, &es.url(), &[]);

    // 503 four times: the original's three retries, then 503 with Retry-After.
    es.script([es_error(503), es_error(503), es_error(503), es_error(503)]);
    let before = es.recorded().len();
    let reply = h.get(SEARCH);
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.json(),
        json!({"msg": "error - search backend unavailable"})
    );
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert_eq!(es.recorded().len() - before, 4);

    // Two failures, then success: the client never sees them.
    es.script([es_error(502), es_error(504)]);
    let before = es.recorded().len();
    let reply = h.get(SEARCH);
    assert_eq!(reply.status, 200);
    assert_eq!(es.recorded().len() - before, 3);

    // 500 is not retried.
    es.script([es_error(500)]);
    let before = es.recorded().len();
    assert_eq!(h.get(SEARCH).status, 503);
    assert_eq!(es.recorded().len() - before, 1);

    // 4xx: the backend refused the query.
    for status in [400, 404] {
        es.script([es_error(status)]);
        let reply = h.get(SEARCH);
        assert_eq!(reply.status, 502, "{status}");
        assert_eq!(
            reply.json(),
            json!({"msg": "error - search backend rejected the query"})
        );
    }

    // An answer that is not Elasticsearch's.
    es.script([(200, json!({"unexpected": true}))]);
    assert_eq!(h.get(SEARCH).status, 503);

    // /id fails the same way.
    es.script([es_error(400)]);
    assert_eq!(h.get("/deces/api/v1/id/pQet0sYyrNsf").status, 502);
    // Nothing leaked: no stack trace, no upstream address.
    let text = h.get(SEARCH).text();
    assert!(!text.contains("127.0.0.1"), "{text}");
}

#[test]
fn elasticsearch_down_or_slow_is_a_503_within_the_timeout() {
    let dir = TempDir::new("search-down");
    let closed = format!("http://127.0.0.1:{}", free_port());
    let h = host_with(&dir, &closed, &[]);
    let reply = h.get(SEARCH);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("5"));
    let v = h.get("/deces/api/v1/version");
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["error"], "Failed to fetch Elasticsearch data");
    drop(h);

    let es = EsStub::start();
    // Far slower than the timeout: a wait bounded by the timeout is told from one bounded
    // by Elasticsearch, with room for a busy machine.
    es.server.set_delay(Duration::from_secs(30));
    let dir = TempDir::new("search-slow");
    let h = host_with(&dir, &es.url(), &[("SPIN_VARIABLE_ES_TIMEOUT_MS", "500")]);
    let started = Instant::now();
    let reply = h.get(SEARCH);
    let waited = started.elapsed();
    assert_eq!(reply.status, 503);
    // The timeout bounds the whole call, retries included.
    assert!(waited < Duration::from_secs(15), "{waited:?}");
    // The health check does not depend on Elasticsearch.
    assert_eq!(h.get("/deces/api/v1/healthcheck").status, 200);
}

#[test]
fn connections_to_elasticsearch_are_reused() {
    let es = EsStub::start();
    let dir = TempDir::new("search-pool");
    let h = host_with(&dir, &es.url(), &[]);
    for _ in 0..30 {
        assert_eq!(h.get(SEARCH).status, 200);
    }
    assert_eq!(es.server.requests.load(Ordering::SeqCst), 30);
    assert!(es.server.connections.load(Ordering::SeqCst) <= 2);
}

#[test]
fn version_is_cached_in_the_store_and_survives_a_restart() {
    let es = EsStub::start();
    let dir = TempDir::new("search-version");
    let mut h = host_with(&dir, &es.url(), &[("SPIN_VARIABLE_APP_VERSION", "9.9.9")]);
    let first = h.get("/deces/api/v1/version");
    assert_eq!(first.status, 200);
    // The stub does not sort: its "newest" record is the first fixture record.
    assert_eq!(
        first.json(),
        json!({"backend": "9.9.9", "uniqRecordsCount": 60, "lastRecordDate": "15/01/2020",
               "lastDataset": "2020-m01", "updateDate": "05/03/2024"})
    );
    let paths: Vec<String> = es.recorded().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/deces/_count", "/deces/_search", "/_cat/indices/deces"]
    );
    assert_eq!(es.recorded()[1].json().unwrap()["size"], 1);
    assert_eq!(h.get("/deces/api/v1/version").json(), first.json());
    assert_eq!(es.recorded().len(), 3, "served from the cache");
    h.kill_and_restart();
    assert_eq!(h.get("/deces/api/v1/version").json(), first.json());
    assert_eq!(es.recorded().len(), 3, "the cache outlives the process");
}

#[test]
fn version_cache_expires() {
    let es = EsStub::start();
    let dir = TempDir::new("search-version-ttl");
    let h = host_with(
        &dir,
        &es.url(),
        &[("SPIN_VARIABLE_VERSION_CACHE_SECONDS", "0")],
    );
    h.get("/deces/api/v1/version");
    h.get("/deces/api/v1/version");
    assert_eq!(es.recorded().len(), 6);
}

fn token(scopes: &[&str], exp: u64, secret: &str) -> String {
    bearer(
        secret,
        "someone@example.test",
        scopes,
        exp as i64 - now() as i64,
    )
}

#[test]
fn tokens_on_search_are_checked_when_sent() {
    let es = EsStub::start();
    let dir = TempDir::new("search-token");
    let h = host_with(&dir, &es.url(), &[]);
    let get = |auth: &str| request(h.addr, "GET", SEARCH, &[("authorization", auth)], b"");
    assert_eq!(get(&token(&["user"], now() + 3600, SECRET)).status, 200);
    for (auth, message) in [
        ("Bearer", "jwt must be provided"),
        ("Bearer abc", "jwt malformed"),
        (
            &token(&["user"], now() + 3600, "another-secret") as &str,
            "invalid signature",
        ),
        (&token(&["user"], now() - 3600, SECRET), "jwt expired"),
        (
            &token(&["other"], now() + 3600, SECRET),
            "JWT does not contain required scope.",
        ),
    ] {
        let reply = get(auth);
        assert_eq!(reply.status, 401, "{message}");
        assert_eq!(reply.json(), json!({ "message": message }));
    }
    assert_eq!(es.recorded().len(), 1, "refused tokens never reach ES");
}

#[test]
fn cors_preflight_and_origins() {
    let es = EsStub::start();
    let dir = TempDir::new("search-cors");
    let h = host_with(&dir, &es.url(), &[]);
    let pre = request(
        h.addr,
        "OPTIONS",
        "/deces/api/v1/search",
        &[
            ("origin", "https://ui.example.test"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type, authorization",
            ),
        ],
        b"",
    );
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert!(pre
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("content-type, authorization")
    );
    let reply = request(h.addr, "GET", SEARCH, &[("origin", "https://x.test")], b"");
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    drop(h);

    let dir = TempDir::new("search-cors-list");
    let h = host_with(
        &dir,
        &es.url(),
        &[(
            "SPIN_VARIABLE_CORS_ALLOWED_ORIGINS",
            "https://deces.matchid.io",
        )],
    );
    let ok = request(
        h.addr,
        "GET",
        SEARCH,
        &[("origin", "https://deces.matchid.io")],
        b"",
    );
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://deces.matchid.io")
    );
    let other = request(
        h.addr,
        "GET",
        SEARCH,
        &[("origin", "https://evil.test")],
        b"",
    );
    assert_eq!(other.status, 200);
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn limits_ids_and_methods() {
    let es = EsStub::start();
    let dir = TempDir::new("search-limits");
    let h = host_with(&dir, &es.url(), &[]);
    let big = vec![b' '; (1 << 20) + 1];
    let reply = request(h.addr, "POST", "/deces/api/v1/search", &[], &big);
    assert_eq!(reply.status, 413);
    assert!(reply.json()["msg"].is_string());
    for bad in [
        "/deces/api/v1/id/short",
        "/deces/api/v1/id/..%2F..%2Fetc%2Fpasswd",
        "/deces/api/v1/id/AAAAAAAAAAAA%00",
    ] {
        let reply = h.get(bad);
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.json(), json!({"msg": "error - invalid id"}));
    }
    let reply = h.get("/deces/api/v1/search?lastName=A&size=1001");
    assert_eq!(reply.json(), json!({"msg": "error - size too large"}));
    let reply = request(h.addr, "PUT", "/deces/api/v1/search", &[], b"{}");
    assert_eq!(reply.status, 405);
    let reply = h.get("/deces/api/v1/search?lastName=%FF");
    assert_eq!(reply.status, 400);
    assert_eq!(es.recorded().len(), 0, "none of these reached ES");
    let reply = h.get("/deces/api/v1/id/pQet0sYyrNsf");
    assert_eq!(reply.status, 200);
    assert_eq!(
        es.recorded()[0].json().unwrap()["query"]["bool"]["must"][0]["bool"]["must"][0],
        json!({"match": {"UID": "pQet0sYyrNsf"}})
    );
}
