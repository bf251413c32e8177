//! Hostile input through the real host and the built components (security.md "Bad input"):
//! oversized bodies and heads, invalid UTF-8, deep nesting, huge numbers, unicode edge cases,
//! CR/LF injection, path traversal, unknown methods. Every answer is the right 4xx with a JSON
//! `msg`/`message`, or a normal answer; never a 5xx, never a panic; the host keeps serving.

use e2e::accounts::{AUTH, REGISTER};
use e2e::*;
use serde_json::{json, Value};

const SEARCH: &str = "/deces/api/v1/search";
const SECRET: &str = "a-hostile-input-test-secret-of-some-length";

struct App {
    h: Host,
    es: EsStub,
    _dir: TempDir,
}

fn app() -> App {
    let dir = TempDir::new("hostile");
    let es = EsStub::start();
    let url = es.url();
    let h = app_host(
        sqlite_runtime_config(&dir),
        &[
            ("SPIN_VARIABLE_ES_URL", url.as_str()),
            ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
            ("SPIN_VARIABLE_TOKEN_SECRET", SECRET),
            ("SPIN_VARIABLE_DEV_ROUTES", "true"),
        ],
    );
    App { h, es, _dir: dir }
}

fn send(h: &Host, method: &str, path: &str, body: &[u8]) -> Reply {
    request(
        h.addr,
        method,
        path,
        &[("content-type", "application/json")],
        body,
    )
}

/// Never a 5xx, never a panic: a normal answer or a JSON error.
fn assert_handled(reply: &Reply, what: &str) {
    if reply.status >= 400 {
        assert!(
            reply.status < 500,
            "{what}: {} {}",
            reply.status,
            reply.text()
        );
        assert_json_error(reply, reply.status, what);
    } else {
        assert!(
            serde_json::from_slice::<Value>(&reply.body).is_ok(),
            "{what}: {}",
            reply.text()
        );
    }
}

#[test]
fn oversized_bodies_and_heads() {
    let a = app();
    // Above the components' 1 MiB and above the host's own 2 MiB limit.
    for size in [(1 << 20) + 1, 3 << 20] {
        let body = vec![b' '; size];
        for path in [SEARCH, REGISTER, AUTH] {
            let r = send(&a.h, "POST", path, &body);
            assert_json_error(&r, 413, &format!("{size} bytes to {path}"));
        }
    }
    // A head above the limit (32 KiB) gets the JSON 431, through one header or many.
    let big = "x".repeat(100 << 10);
    let r = request(a.h.addr, "GET", SEARCH, &[("x-padding", &big)], b"");
    assert_json_error(&r, 431, "one 100 KiB header");
    let many: Vec<(String, String)> = (0..400)
        .map(|i| (format!("x-h{i}"), "y".repeat(100)))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    assert_json_error(
        &request(a.h.addr, "GET", SEARCH, &many, b""),
        431,
        "400 headers of 100 bytes",
    );
    // More header lines than the host parses: refused too.
    let lines: Vec<(String, String)> = (0..1000).map(|i| (format!("x-h{i}"), "y".into())).collect();
    let lines: Vec<(&str, &str)> = lines.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    if let Ok(r) = try_request(a.h.addr, "GET", SEARCH, &lines, b"") {
        assert_eq!(r.status, 431, "1000 header lines: {}", r.text());
    }
    let long_query = format!("{SEARCH}?lastName={}", "a".repeat(40 << 10));
    assert_json_error(&a.h.get(&long_query), 431, "a 40 KiB query string");
    // Targets above 64 KiB are refused by the HTTP parser itself.
    let longer = format!("{SEARCH}?lastName={}", "a".repeat(80 << 10));
    assert_eq!(a.h.get(&longer).status, 414, "an 80 KiB query string");
    // Far above the read buffer the connection is refused outright, never served.
    let huge = "x".repeat(600 << 10);
    // (An error here is the connection closed before an answer: also a refusal.)
    if let Ok(r) = try_request(a.h.addr, "GET", SEARCH, &[("x-padding", &huge)], b"") {
        assert_eq!(r.status, 431, "600 KiB header: {}", r.text());
    }
    assert_eq!(a.h.get("/deces/api/v1/healthcheck").status, 200);
    assert!(a.es.recorded().is_empty(), "nothing oversized reached ES");
}

/// A request written whole, head and `size` bytes of body (chunked when `chunked`), before
/// anything is read, as most HTTP libraries send; then its answer.
fn write_whole_then_read(
    addr: std::net::SocketAddr,
    path: &str,
    size: usize,
    chunked: bool,
) -> std::io::Result<Reply> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    s.set_write_timeout(Some(std::time::Duration::from_secs(60)))?;
    let framing = if chunked {
        "transfer-encoding: chunked".to_string()
    } else {
        format!("content-length: {size}")
    };
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
    )?;
    let chunk = vec![b' '; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        if chunked {
            write!(s, "{n:x}\r\n")?;
        }
        s.write_all(&chunk[..n])?;
        if chunked {
            s.write_all(b"\r\n")?;
        }
        left -= n;
    }
    if chunked {
        s.write_all(b"0\r\n\r\n")?;
    }
    read_reply(&mut std::io::BufReader::new(s))
}

#[test]
fn early_answers_reach_clients_that_write_the_whole_body_first() {
    // The host answers before reading such bodies to their end (a declared length above
    // its 2 MiB limit, a chunked body past it, a path no component serves), then drains
    // the rest: a client that reads only after writing everything still gets the answer.
    let a = app();
    for size in [2 << 20, 3 << 20, 8 << 20, 64 << 20] {
        for i in 0..10 {
            let what = format!("{} MiB to /search, try {i}", size >> 20);
            match write_whole_then_read(a.h.addr, SEARCH, size, false) {
                Ok(r) => assert_json_error(&r, 413, &what),
                Err(e) => panic!("{what}: {e}"),
            }
        }
    }
    for (path, chunked, status) in [
        (SEARCH, true, 413),
        (REGISTER, true, 413),
        ("/nowhere", false, 404),
        ("/nowhere", true, 404),
    ] {
        let what = format!("8 MiB to {path}, chunked: {chunked}");
        match write_whole_then_read(a.h.addr, path, 8 << 20, chunked) {
            Ok(r) => assert_json_error(&r, status, &what),
            Err(e) => panic!("{what}: {e}"),
        }
    }
    assert_eq!(a.h.get("/deces/api/v1/healthcheck").status, 200);
}

/// Sends a body that never ends, in `piece`-byte writes `pause` apart, until the host cuts
/// the connection: the bytes written and the time it took.
fn send_forever(
    addr: std::net::SocketAddr,
    piece: usize,
    pause: std::time::Duration,
) -> (usize, std::time::Duration) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let started = std::time::Instant::now();
    s.write_all(
        format!(
            "POST {SEARCH} HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
            1u64 << 40
        )
        .as_bytes(),
    )
    .unwrap();
    let data = vec![b' '; piece];
    let mut sent = 0;
    while s.write_all(&data).is_ok() {
        sent += piece;
        assert!(
            started.elapsed().as_secs() < 120,
            "never cut after {sent} bytes"
        );
        std::thread::sleep(pause);
    }
    (sent, started.elapsed())
}

#[test]
fn endless_senders_are_cut_at_the_lingering_bounds() {
    let dir = TempDir::new("hostile-linger");
    let mut config = app_config(sqlite_runtime_config(&dir), &[]);
    config.args = [
        "--lingering-max-bytes",
        "8388608",
        "--lingering-time-ms",
        "3000",
        "--lingering-timeout-ms",
        "1000",
    ]
    .map(String::from)
    .to_vec();
    let h = Host::start(config);
    // As fast as it can: cut once 8 MiB were drained (the rest sat in socket buffers).
    let (sent, _) = send_forever(h.addr, 64 << 10, std::time::Duration::ZERO);
    assert!(
        sent >= 8 << 20,
        "cut after {sent} bytes, before the drain's bound"
    );
    assert!(
        sent <= 64 << 20,
        "{sent} bytes accepted for a bound of 8 MiB"
    );
    // A trickle that never pauses for the idle bound: cut at the total time, 3 s after the
    // answer (no earlier; later only by the machine's delays).
    let (sent, took) = send_forever(h.addr, 100, std::time::Duration::from_millis(50));
    assert!(
        took >= std::time::Duration::from_secs(3),
        "cut after {took:?}"
    );
    assert!(
        took < std::time::Duration::from_secs(60),
        "cut after {took:?}"
    );
    assert!(sent < 1 << 20, "{sent}");
    assert_eq!(h.get("/deces/api/v1/healthcheck").status, 200);
}

#[test]
fn invalid_utf8_and_malformed_json() {
    let a = app();
    let bad_utf8: &[&[u8]] = &[
        b"{\"firstName\":\"\xff\xfe\"}",
        b"{\"user\":\"a\xc3@example.org\",\"password\":\"\xed\xa0\x80\"}",
    ];
    for body in bad_utf8 {
        for path in [SEARCH, REGISTER, AUTH] {
            assert_json_error(&send(&a.h, "POST", path, body), 400, path);
        }
    }
    // Percent-encoded bytes that are not UTF-8, in the query string.
    assert_json_error(&a.h.get(&format!("{SEARCH}?lastName=%FF%FE")), 400, "%FF");
    assert_json_error(
        &a.h.get(&format!("{SEARCH}?lastName=%ED%A0%80")),
        400,
        "surrogate",
    );
    // Raw non-ASCII bytes in the request line itself.
    let r = raw_request(
        a.h.addr,
        b"GET /deces/api/v1/search?lastName=\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    if let Ok(r) = r {
        assert!(r.status == 400, "raw byte in the target: {}", r.status);
    }
    for body in [
        &b"{"[..],
        b"{\"firstName\":",
        b"[1,2",
        b"nul",
        b"{\"a\":1}{\"b\":2}",
        b"\"just a string\"",
        b"\x00\x00\x00",
    ] {
        for path in [SEARCH, REGISTER, AUTH] {
            let r = send(&a.h, "POST", path, body);
            assert_handled(&r, &format!("{path} {}", String::from_utf8_lossy(body)));
            assert_ne!(r.status, 200, "{path}: malformed JSON accepted");
        }
    }
}

#[test]
fn deep_nesting_and_huge_numbers() {
    let a = app();
    for depth in [200, 10_000, 100_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let in_field = format!(
            "{{\"firstName\":{}{}}}",
            "{\"a\":".repeat(depth),
            "1".to_string() + &"}".repeat(depth)
        );
        for body in [nested, in_field] {
            for path in [SEARCH, REGISTER, AUTH] {
                let r = send(&a.h, "POST", path, body.as_bytes());
                assert_handled(&r, &format!("depth {depth} to {path}"));
                assert_ne!(r.status, 200, "depth {depth} to {path}");
            }
        }
    }
    let numbers = [
        "1e400",
        "-1e400",
        "18446744073709551616",
        "-9223372036854775809",
        "99999999999999999999999999999999999999",
        "0.0000000000000000000000001",
        "-0",
        "NaN",
        "Infinity",
    ];
    for n in numbers {
        for field in ["size", "page", "fuzzy", "birthDate", "latitude"] {
            let body = format!("{{\"lastName\":\"Dupont\",\"{field}\":{n}}}");
            let r = send(&a.h, "POST", SEARCH, body.as_bytes());
            assert_handled(&r, &format!("{field}={n} in a body"));
            let r = a.h.get(&format!("{SEARCH}?lastName=Dupont&{field}={n}"));
            assert_handled(&r, &format!("{field}={n} in a query"));
        }
    }
    for n in ["1e400", "18446744073709551616"] {
        let r = a.h.get(&format!("{SEARCH}?lastName=Dupont&size={n}"));
        assert!(r.status == 400 || r.status == 422, "size={n}: {}", r.status);
    }
}

#[test]
fn unicode_names_and_emails() {
    let a = app();
    let names = [
        "Zoë",
        "ZOË",
        "Zoe\u{0308}",
        "👀",
        "\u{202e}tnopuD",
        "\u{200b}Dupont",
        "Dupont\u{0000}",
        "\u{feff}",
        "𝔇𝔲𝔭𝔬𝔫𝔱",
        "ǅupont",
        "İstanbul",
        "ß",
        "\u{10ffff}",
        "'; DROP TABLE deces; --",
        "*",
        "\\\"}",
    ];
    for name in names {
        let r = send(
            &a.h,
            "POST",
            SEARCH,
            json!({ "lastName": name, "firstName": name })
                .to_string()
                .as_bytes(),
        );
        assert_handled(&r, &format!("POST name {name:?}"));
        let q: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
        let r = a.h.get(&format!("{SEARCH}?lastName={q}&birthCity={q}"));
        assert_handled(&r, &format!("GET name {name:?}"));
    }
    let emails = [
        "josé@exämple.org",
        "ｆｕｌｌ@ｗｉｄｔｈ.org",
        "a@b\u{0000}.org",
        "\u{202e}gro.elpmaxe@bob",
        "bob@example.org\u{200b}",
        "BOB@EXAMPLE.ORG",
        "bob@@example.org",
        "@example.org",
        "bob@",
        "bob@localhost",
        "\"bob\"@example.org",
    ];
    for email in emails {
        let r = post_json(a.h.addr, REGISTER, &json!({ "user": email }));
        assert_handled(&r, &format!("register {email:?}"));
        let r = post_json(
            a.h.addr,
            AUTH,
            &json!({ "user": email, "password": "123456" }),
        );
        assert_handled(&r, &format!("auth {email:?}"));
        assert_ne!(r.status, 200, "auth {email:?} gave a token");
    }
}

#[test]
fn header_injection_is_refused() {
    let a = app();
    for user in [
        "bob@example.org\r\nBcc: eve@example.org",
        "bob@example.org\nBcc: eve@example.org",
        "bob@example.org%0d%0aBcc: eve@example.org",
        "bob\r@example.org",
    ] {
        let r = post_json(a.h.addr, REGISTER, &json!({ "user": user }));
        assert_handled(&r, &format!("register {user:?}"));
        for to in ["bob@example.org", "eve@example.org"] {
            let mail = accounts::outbox(a.h.addr, to).unwrap();
            assert!(mail.is_none(), "{user:?} sent a mail to {to}: {mail:?}");
        }
    }
    // CR/LF in a search value stays data: it never becomes a header of the answer.
    let r = a.h.get(&format!(
        "{SEARCH}?lastName=Dupont%0D%0ASet-Cookie:%20pwned=1"
    ));
    assert_handled(&r, "CR/LF in a query");
    assert!(r.header("set-cookie").is_none(), "{:?}", r.headers);
    // A raw CR in a header value is a malformed request.
    let r = raw_request(
        a.h.addr,
        b"GET /deces/api/v1/healthcheck HTTP/1.1\r\nHost: x\r\nX-A: b\rSet-Cookie: c\r\nConnection: close\r\n\r\n",
    );
    if let Ok(r) = r {
        assert_eq!(r.status, 400);
        assert!(r.header("set-cookie").is_none());
    }
}

#[test]
fn path_traversal_in_ids_and_unknown_routes() {
    let a = app();
    let ids = [
        "/deces/api/v1/id/..%2F..%2F_cat%2Findices",
        "/deces/api/v1/id/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/deces/api/v1/id/../../../etc/passwd",
        "/deces/api/v1/id/abc%00def",
        "/deces/api/v1/id/_search",
        "/deces/api/v1/id/a%22%7D%2C%22query%22%3A%7B%22match_all%22%3A%7B%7D%7D",
        "/deces/api/v1/id/%ff%fe",
        "/deces/api/v1/id/",
    ];
    for path in ids {
        let r = a.h.get(path);
        assert_handled(&r, path);
    }
    // Whatever the id, Elasticsearch is only ever asked for the index's `_search`.
    for rec in a.es.recorded() {
        assert_eq!(rec.path, "/deces/_search", "an id reached ES as a path");
    }
    for path in [
        "/deces/api/v1/../../etc/passwd",
        "/deces/api/v1/%2e%2e/%2e%2e/etc/passwd",
        "/deces/api/v1/nope",
        "/deces/api/v2/search",
        "/etc/passwd",
        "/",
    ] {
        let r = a.h.get(path);
        assert_json_error(&r, 404, path);
    }
}

#[test]
fn unknown_and_wrong_methods() {
    let a = app();
    for (method, path) in [
        ("PUT", SEARCH),
        ("DELETE", SEARCH),
        ("PATCH", "/deces/api/v1/healthcheck"),
        ("GET", REGISTER),
        ("PUT", REGISTER),
        ("DELETE", AUTH),
        ("POST", "/deces/api/v1/id/abc"),
    ] {
        let r = send(&a.h, method, path, b"{}");
        assert_json_error(&r, 405, &format!("{method} {path}"));
    }
    for method in ["FOO", "PROPFIND", "BREW"] {
        let r = send(&a.h, method, SEARCH, b"");
        assert_handled(&r, method);
        assert!(r.status == 405 || r.status == 400, "{method}: {}", r.status);
    }
    assert_eq!(a.h.get("/deces/api/v1/healthcheck").status, 200);
    assert!(
        !a.h.log_text().contains("panicked"),
        "a component panicked: {}",
        a.h.log_text()
    );
}
