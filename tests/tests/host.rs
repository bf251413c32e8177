//! Host conformance: the runtime's contract, end to end through real HTTP on
//! loopback, with the `probe` test component built for wasm32-wasip2.

use e2e::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

struct Setup {
    dir: TempDir,
    manifest: PathBuf,
    upstream: Upstream,
}

fn setup() -> Setup {
    let dir = TempDir::new("host");
    let upstream = Upstream::start("pong");
    let text = std::fs::read_to_string(root().join("tests/data/probe.toml"))
        .expect("probe manifest")
        .replace("{probe}", &wasm("probe").display().to_string())
        .replace("{upstream_port}", &upstream.port.to_string());
    let manifest = dir.write("spin.toml", &text);
    Setup {
        dir,
        manifest,
        upstream,
    }
}

fn sqlite_config(dir: &TempDir) -> PathBuf {
    dir.write(
        "sqlite.toml",
        "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n\n\
         [key_value_store.other]\ntype = \"spin\"\npath = \"other.db\"\n",
    )
}

fn host(s: &Setup, runtime_config: Option<PathBuf>, env: &[(&str, &str)]) -> Host {
    host_with(s, runtime_config, env, &[])
}

fn host_with(
    s: &Setup,
    runtime_config: Option<PathBuf>,
    env: &[(&str, &str)],
    extra_args: &[&str],
) -> Host {
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !env.iter().any(|(k, _)| k == "SPIN_VARIABLE_MUST_HAVE") {
        env.push(("SPIN_VARIABLE_MUST_HAVE".into(), "given".into()));
    }
    Host::start(HostConfig {
        manifest: s.manifest.clone(),
        runtime_config,
        env,
        args: ["--request-timeout-ms", "1500"]
            .iter()
            .chain(extra_args)
            .map(|a| a.to_string())
            .collect(),
        port: None,
    })
}

fn get_json(h: &Host, path: &str) -> Value {
    let reply = h.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

#[test]
fn routing_precedence_and_private_routes() {
    let s = setup();
    let h = host(&s, None, &[]);
    let who = |path: &str| get_json(&h, &format!("{path}/var?name=who"))["value"].clone();
    assert_eq!(who("/p"), json!("probe"));
    assert_eq!(who("/p/x"), json!("probe"));
    assert_eq!(who("/p/deep"), json!("deep"));
    assert_eq!(who("/p/deep/a/b"), json!("deep"));
    assert_eq!(who("/p/deeper"), json!("probe"));
    assert_eq!(who("/elsewhere"), json!("catchall"));
    assert_eq!(who("/hidden"), json!("catchall"));
    // An exact route matches only itself.
    let exact = get_json(&h, "/p/exact");
    assert_eq!(exact["headers"]["spin-matched-route"], json!("/p/exact"));
    let below = get_json(&h, "/p/exact/var?name=who");
    assert_eq!(below["value"], json!("probe"));
    // The private component is reachable by no path at all.
    for path in ["/", "/hidden", "/hidden/var", "/p/hidden", "/bare/hidden"] {
        let reply = h.get(&format!("{path}?name=who"));
        assert!(
            !reply.text().contains("\"hidden\""),
            "{path}: {}",
            reply.text()
        );
    }
}

#[test]
fn unknown_paths_without_catch_all_get_json_404() {
    let dir = TempDir::new("nocatch");
    let manifest = dir.write(
        "spin.toml",
        &format!(
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n\
             [[trigger.http]]\nroute = \"/only\"\ncomponent = \"c\"\n\
             [[trigger.http]]\nroute = {{ private = true }}\ncomponent = \"p\"\n\
             [component.c]\nsource = \"{0}\"\n[component.p]\nsource = \"{0}\"\n",
            wasm("probe").display()
        ),
    );
    let h = Host::start(HostConfig {
        manifest,
        ..Default::default()
    });
    assert_eq!(h.get("/only").status, 200);
    for path in ["/", "/p", "/only/more", "/x"] {
        let reply = h.get(path);
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json(), json!({"message": "Route not found"}));
    }
}

#[test]
fn spin_headers_are_set_and_cannot_be_forged() {
    let s = setup();
    let h = host(&s, None, &[]);
    let reply = request(
        h.addr,
        "POST",
        "/p/deep/x/headers?z=1&y=%20",
        &[
            ("spin-client-addr", "6.6.6.6:1"),
            ("Spin-Path-Info", "/forged"),
        ],
        b"four",
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = reply.json();
    let headers = &seen["headers"];
    let port = h.addr.port();
    assert_eq!(
        headers["spin-full-url"],
        json!(format!(
            "http://127.0.0.1:{port}/p/deep/x/headers?z=1&y=%20"
        ))
    );
    assert_eq!(headers["spin-path-info"], json!("/x/headers"));
    assert_eq!(headers["spin-matched-route"], json!("/p/deep/..."));
    assert_eq!(headers["spin-raw-component-route"], json!("/p/deep/..."));
    assert_eq!(headers["spin-component-route"], json!("/p/deep"));
    assert_eq!(headers["spin-base-path"], json!("/"));
    let client = headers["spin-client-addr"].as_str().unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{client}");
    assert_ne!(client, "127.0.0.1:1");
    assert_eq!(seen["method"], json!("POST"));
    assert_eq!(seen["body_len"], json!(4));
}

#[test]
fn variables_defaults_templates_and_env_overrides() {
    let s = setup();
    let h = host(&s, None, &[]);
    assert_eq!(
        get_json(&h, "/p/var?name=greeting")["value"],
        json!("hello")
    );
    assert_eq!(
        get_json(&h, "/p/var?name=combo")["value"],
        json!("<hello|given>")
    );
    // Only what the component declares is visible.
    assert_eq!(
        get_json(&h, "/p/var?name=upstream")["error"],
        json!("undefined")
    );
    assert_eq!(
        get_json(&h, "/p/var?name=Bad-Name")["error"],
        json!("invalid-name")
    );
    drop(h);

    let h = host(&s, None, &[("SPIN_VARIABLE_GREETING", "bonjour")]);
    assert_eq!(
        get_json(&h, "/p/var?name=greeting")["value"],
        json!("bonjour")
    );
    assert_eq!(
        get_json(&h, "/p/var?name=combo")["value"],
        json!("<bonjour|given>")
    );
    drop(h);

    // A required variable without a value stops the host at start-up.
    let (ok, out) = host_fails(
        &[
            "up",
            "--manifest",
            s.manifest.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(!ok);
    assert!(out.contains("must_have"), "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
}

#[test]
fn outbound_allow_list_and_connection_pooling() {
    let s = setup();
    let other = Upstream::start("other");
    // One worker thread: with several, a connection handed back to the pool by one
    // worker may not be idle yet when the next request lands on another.
    let h = host_with(&s, None, &[], &["--workers", "1"]);
    let url = format!("http://127.0.0.1:{}/ping", s.upstream.port);
    for _ in 0..20 {
        let seen = get_json(&h, &format!("/p/fetch?url={url}"));
        assert_eq!(seen["status"], json!(200), "{seen}");
        assert_eq!(seen["body"], json!("pong"));
    }
    assert_eq!(s.upstream.requests.load(Ordering::SeqCst), 20);
    // Twenty sequential calls ride one kept-alive connection.
    assert_eq!(s.upstream.connections.load(Ordering::SeqCst), 1);

    // Another port on the same host is refused before any connection is made.
    let denied = get_json(
        &h,
        &format!("/p/fetch?url=http://127.0.0.1:{}/", other.port),
    );
    let error = denied["error"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(error.contains("denied"), "{denied}");
    // A component with no allowed hosts may call nothing.
    let bare = get_json(&h, &format!("/bare/fetch?url={url}"));
    assert!(bare["error"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .contains("denied"));
    assert_eq!(other.connections.load(Ordering::SeqCst), 0);
    assert_eq!(s.upstream.requests.load(Ordering::SeqCst), 20);
}

fn kv_conformance(h: &Host) {
    let kv = |q: &str| get_json(h, &format!("/p/kv?{q}"));
    let atomic = |q: &str| get_json(h, &format!("/p/atomic?{q}"));
    assert_eq!(kv("op=get&key=a"), json!({"value": null}));
    assert_eq!(kv("op=exists&key=a"), json!({"exists": false}));
    assert_eq!(kv("op=set&key=a&value=one"), json!({"ok": true}));
    assert_eq!(kv("op=get&key=a"), json!({"value": "one"}));
    assert_eq!(kv("op=set&key=a&value=two"), json!({"ok": true}));
    assert_eq!(kv("op=get&key=a"), json!({"value": "two"}));
    assert_eq!(kv("op=exists&key=a"), json!({"exists": true}));
    assert_eq!(kv("op=set&key=b&value="), json!({"ok": true}));
    assert_eq!(kv("op=get&key=b"), json!({"value": ""}));
    assert_eq!(kv("op=keys"), json!({"keys": ["a", "b"]}));
    assert_eq!(atomic("op=keys"), json!({"keys": ["a", "b"]}));
    assert_eq!(kv("op=delete&key=a"), json!({"ok": true}));
    assert_eq!(kv("op=delete&key=a"), json!({"ok": true}));
    assert_eq!(kv("op=get&key=a"), json!({"value": null}));
    assert_eq!(kv("op=keys"), json!({"keys": ["b"]}));
    // Store labels: known but not granted, and unknown.
    assert_eq!(
        kv("store=other&op=get&key=a"),
        json!({"error": "access-denied"})
    );
    assert_eq!(
        kv("store=nope&op=get&key=a"),
        json!({"error": "no-such-store"})
    );
    assert_eq!(
        atomic("store=other&op=incr&key=a"),
        json!({"error": "access-denied"})
    );
    assert_eq!(
        atomic("store=nope&op=incr&key=a"),
        json!({"error": "no-such-store"})
    );
    assert_eq!(
        get_json(h, "/bare/kv?op=get&key=a"),
        json!({"error": "access-denied"})
    );
    // Counters, compared through increment results only.
    assert_eq!(atomic("op=incr&key=c"), json!({"value": 1}));
    assert_eq!(atomic("op=incr&key=c&delta=4"), json!({"value": 5}));
    assert_eq!(atomic("op=incr&key=c&delta=-7"), json!({"value": -2}));
    assert_eq!(atomic("op=incr&key=c&delta=0"), json!({"value": -2}));
    assert_eq!(kv("op=delete&key=c"), json!({"ok": true}));
    assert_eq!(atomic("op=incr&key=c"), json!({"value": 1}));
    // Compare-and-swap: succeeds on an unchanged value, fails when it moved.
    assert_eq!(
        atomic("op=cas&key=s&value=v1"),
        json!({"swapped": true, "seen": null})
    );
    assert_eq!(
        atomic("op=cas&key=s&value=v2"),
        json!({"swapped": true, "seen": "v1"})
    );
    assert_eq!(
        atomic("op=cas&key=s&value=v3&interfere=x"),
        json!({"swapped": false, "seen": "v2"})
    );
    assert_eq!(kv("op=get&key=s"), json!({"value": "x"}));
}

#[test]
fn key_value_semantics_on_sqlite() {
    let s = setup();
    let h = host(&s, Some(sqlite_config(&s.dir)), &[]);
    kv_conformance(&h);
    // Counters are 8-byte little-endian integers, as Spin's SQLite backend keeps them.
    assert_eq!(
        get_json(&h, "/p/atomic?op=incr&key=enc&delta=261"),
        json!({"value": 261})
    );
    assert_eq!(
        get_json(&h, "/p/kv?op=raw&key=enc"),
        json!({"hex": "0501000000000000"})
    );
}

#[test]
fn key_value_semantics_on_redis() {
    let s = setup();
    let redis = Redis::start();
    let rc = s.dir.write("redis.toml", &redis.runtime_config());
    let h = host(&s, Some(rc), &[]);
    kv_conformance(&h);
    // Counters are Redis integers (INCRBY), stored as their decimal text.
    assert_eq!(
        get_json(&h, "/p/atomic?op=incr&key=enc&delta=261"),
        json!({"value": 261})
    );
    assert_eq!(
        get_json(&h, "/p/kv?op=raw&key=enc"),
        json!({"hex": "323631"})
    );
}

/// 2 host processes × 50 concurrent increments of one key: exactly 100.
fn exact_increments(runtime_config: PathBuf, s: &Setup) {
    let a = host(s, Some(runtime_config.clone()), &[]);
    let b = host(s, Some(runtime_config), &[]);
    let results: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let addr = if i % 2 == 0 { a.addr } else { b.addr };
                scope.spawn(move || {
                    let reply = request(addr, "GET", "/p/atomic?op=incr&key=hits", &[], b"");
                    assert_eq!(reply.status, 200, "{}", reply.text());
                    reply.json()["value"].as_i64().expect("a counter value")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = results.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (1..=100).collect::<Vec<i64>>(),
        "every value seen once"
    );
    let last = get_json(&a, "/p/atomic?op=incr&key=hits&delta=0");
    assert_eq!(last["value"], json!(100));
}

#[test]
fn increments_are_exact_across_processes_on_redis() {
    let s = setup();
    let redis = Redis::start();
    let rc = s.dir.write("redis.toml", &redis.runtime_config());
    exact_increments(rc, &s);
}

#[test]
fn increments_are_exact_across_processes_on_sqlite() {
    let s = setup();
    exact_increments(sqlite_config(&s.dir), &s);
}

#[test]
fn sqlite_data_survives_kill_and_restart() {
    let s = setup();
    let mut h = host(&s, Some(sqlite_config(&s.dir)), &[]);
    assert_eq!(
        get_json(&h, "/p/kv?op=set&key=k&value=kept"),
        json!({"ok": true})
    );
    assert_eq!(
        get_json(&h, "/p/atomic?op=incr&key=n&delta=41"),
        json!({"value": 41})
    );
    h.kill_and_restart();
    assert_eq!(get_json(&h, "/p/kv?op=get&key=k"), json!({"value": "kept"}));
    assert_eq!(
        get_json(&h, "/p/atomic?op=incr&key=n"),
        json!({"value": 42})
    );
}

#[test]
fn default_store_is_a_sqlite_file_beside_the_manifest() {
    let s = setup();
    let h = host(&s, None, &[]);
    assert_eq!(
        get_json(&h, "/p/kv?op=set&key=k&value=v"),
        json!({"ok": true})
    );
    assert!(s.dir.path().join(".spin/sqlite_key_value.db").is_file());
    // Write-ahead logging: the WAL file sits beside the database while it is open.
    assert!(s.dir.path().join(".spin/sqlite_key_value.db-wal").is_file());
}

#[test]
fn a_trap_or_a_runaway_guest_does_not_kill_the_server() {
    let s = setup();
    let h = host(&s, None, &[]);
    let reply = h.get("/p/trap");
    assert_eq!(reply.status, 500);
    assert!(reply.json()["msg"].is_string());
    let started = Instant::now();
    let reply = h.get("/p/spin");
    assert!(matches!(reply.status, 500 | 504), "{}", reply.status);
    assert!(reply.json()["msg"].is_string());
    assert!(started.elapsed() < Duration::from_secs(15));
    for _ in 0..3 {
        assert_eq!(h.get("/p/var?name=who").status, 200);
    }
    let log = h.log_with("GET /p/trap probe 500");
    assert!(log.contains("GET /p/trap probe 500"), "{log}");
}

/// A keep-alive connection: requests written one at a time, answers read in turn.
struct KeepAlive {
    stream: std::net::TcpStream,
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl KeepAlive {
    fn open(h: &Host) -> KeepAlive {
        let stream = std::net::TcpStream::connect(h.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let reader = std::io::BufReader::new(stream.try_clone().unwrap());
        KeepAlive { stream, reader }
    }

    /// A connection that has had one answer (so the host has placed it on a worker).
    fn served(h: &Host) -> KeepAlive {
        let mut c = KeepAlive::open(h);
        c.send("/p/var?name=who");
        assert_eq!(c.reply().status, 200);
        c
    }

    fn send(&mut self, path: &str) {
        use std::io::Write;
        let head = format!("GET {path} HTTP/1.1\r\nHost: edge\r\n\r\n");
        self.stream.write_all(head.as_bytes()).unwrap();
    }

    fn reply(&mut self) -> Reply {
        read_reply(&mut self.reader).unwrap()
    }

    /// True when an answer has arrived and not been read yet.
    fn answered(&mut self) -> bool {
        use std::io::BufRead;
        self.stream.set_nonblocking(true).unwrap();
        let waiting = match self.reader.fill_buf() {
            Ok(bytes) => !bytes.is_empty(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("{e}"),
        };
        self.stream.set_nonblocking(false).unwrap();
        waiting
    }
}

/// Lets the host close the connection that found it listening (which counts against
/// a worker while it lasts), so that the connections a test opens are the only ones.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

/// A two-worker host with two keep-alive connections, each answered once (so each has been
/// placed on a worker), and a guest spinning on the first one's worker until the deadline.
fn spinning_on_one_of_two(s: &Setup) -> (Host, KeepAlive, KeepAlive) {
    let h = host_with(s, None, &[], &["--workers", "2"]);
    settle();
    let mut a = KeepAlive::served(&h);
    let b = KeepAlive::served(&h);
    a.send("/p/spin");
    // Let the guest start spinning first.
    std::thread::sleep(Duration::from_millis(100));
    (h, a, b)
}

#[test]
fn keep_alive_connections_are_spread_over_the_workers() {
    // Two connections on a two-worker host, each having had its first answer: while
    // a guest spins on the first connection's worker (until the 1.5 s deadline), the
    // second connection is answered at once, so it is served by the other worker,
    // whichever of the two accepted it.
    let s = setup();
    for round in 0..4 {
        let (_h, mut a, mut b) = spinning_on_one_of_two(&s);
        b.send("/p/var?name=who");
        assert_eq!(b.reply().status, 200, "round {round}");
        assert!(
            !a.answered(),
            "round {round}: the spinning request ended before the other connection was served"
        );
        assert!(matches!(a.reply().status, 500 | 504));
    }
}

#[test]
fn a_worker_stuck_in_a_guest_is_passed_no_connection() {
    // A and B on different workers (see above); a guest spins on A's worker. C is
    // accepted by B's worker, which then serves two connections against one: D would be
    // passed to A's worker, which could not serve it before the deadline, so it stays.
    let s = setup();
    let (h, mut a, _b) = spinning_on_one_of_two(&s);
    for name in ["c", "d"] {
        let _served = KeepAlive::served(&h);
        assert!(
            !a.answered(),
            "{name} was served only after the spinning request"
        );
    }
    assert!(matches!(a.reply().status, 500 | 504));
}

#[test]
fn body_limit_and_request_log() {
    let s = setup();
    let mut config = HostConfig {
        manifest: s.manifest.clone(),
        env: vec![("SPIN_VARIABLE_MUST_HAVE".into(), "x".into())],
        args: vec!["--max-body-bytes".into(), "1024".into()],
        ..Default::default()
    };
    config.port = None;
    let h = Host::start(config);
    let ok = request(h.addr, "POST", "/p/headers", &[], &[b'a'; 1024]);
    assert_eq!(ok.status, 200);
    let big = request(h.addr, "POST", "/p/headers", &[], &[b'a'; 1025]);
    assert_eq!(big.status, 413);
    assert!(big.json()["msg"].is_string());
    let _ = h.get("/p/headers?secret=do-not-log");
    let log = h.log_with("GET /p/headers probe 200 ");
    assert!(log.contains("GET /p/headers probe 200 "), "{log}");
    assert!(
        !log.contains("do-not-log"),
        "query strings stay out of the log"
    );
}

#[test]
fn start_up_errors_exit_with_one_clear_line() {
    let s = setup();
    let listen = format!("127.0.0.1:{}", free_port());
    let env = [("SPIN_VARIABLE_MUST_HAVE", "x")];
    // Missing .wasm.
    let dir = TempDir::new("bad");
    let missing = dir.write(
        "spin.toml",
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/...\"\n\
         component = \"c\"\n[component.c]\nsource = \"nowhere.wasm\"\n",
    );
    // Invalid manifest.
    let invalid = dir.write("invalid.toml", "spin_manifest_version = 2\n[application\n");
    // Unreachable Redis.
    let rc = dir.write(
        "redis.toml",
        &format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
            free_port()
        ),
    );
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec![
                "up",
                "--manifest",
                missing.to_str().unwrap(),
                "--listen",
                &listen,
            ],
            "nowhere.wasm",
        ),
        (
            vec![
                "up",
                "--manifest",
                invalid.to_str().unwrap(),
                "--listen",
                &listen,
            ],
            "invalid manifest",
        ),
        (
            vec![
                "up",
                "--manifest",
                s.manifest.to_str().unwrap(),
                "--listen",
                &listen,
                "--runtime-config-file",
                rc.to_str().unwrap(),
            ],
            "Redis",
        ),
        (vec!["up", "--nonsense"], "unknown option"),
        (
            vec!["up", "--busy-poll-us", "soon"],
            "invalid --busy-poll-us",
        ),
    ];
    for (args, expected) in cases {
        let (ok, out) = host_fails(&args, &env);
        assert!(!ok, "{args:?} should fail");
        assert!(out.contains(expected), "{args:?}: {out}");
        assert_eq!(out.trim().lines().count(), 1, "{args:?}: {out}");
    }
}

/// CPU ticks (1/100 s) the host uses in the `ms` after its last request.
/// After 20 requests, looks 10 ms apart for `within`: (how many looks saw a worker polling,
/// that is runnable, how many looks there were). Runnable, not CPU time: on a busy machine
/// a polling worker that hands its CPU to others between two polls uses almost none, yet
/// still polls.
fn polling_after_requests(h: &Host, within: Duration) -> (usize, usize) {
    for _ in 0..20 {
        assert_eq!(h.get("/p/var?name=who").status, 200);
    }
    let started = Instant::now();
    let (mut seen, mut looks) = (0, 0);
    while started.elapsed() < within {
        std::thread::sleep(Duration::from_millis(10));
        looks += 1;
        if h.runnable_workers() > 0 {
            seen += 1;
        }
    }
    (seen, looks)
}

#[test]
fn workers_poll_their_sockets_after_work_for_the_window_only() {
    let s = setup();
    // Within a 1 s window, a worker keeps polling after its last request...
    let polling = host_with(&s, None, &[], &["--busy-poll-us", "1000000"]);
    let (seen, looks) = polling_after_requests(&polling, Duration::from_millis(700));
    assert!(
        looks > 0 && seen * 10 >= looks * 8,
        "a worker polled in {seen} of {looks} looks within its window"
    );
    drop(polling);
    // ...and after the default window (200 µs) it sleeps: an idle host costs nothing.
    let idle = host(&s, None, &[]);
    let (seen, looks) = polling_after_requests(&idle, Duration::from_millis(500));
    assert!(
        seen <= 2 + looks / 10,
        "a worker polled in {seen} of {looks} looks after its window"
    );
    // Turned off, the host still serves, and does not poll.
    let off = host_with(&s, None, &[], &["--busy-poll-us", "0"]);
    let (seen, looks) = polling_after_requests(&off, Duration::from_millis(200));
    assert!(seen <= 2 + looks / 10, "{seen} of {looks}");
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_cleanly() {
    let s = setup();
    // Room for the guest's 3 s sleep (the other tests' hosts answer 504 after 1.5 s).
    let mut h = host_with(&s, None, &[], &["--request-timeout-ms", "20000"]);
    assert_eq!(h.get("/p/var?name=who").status, 200);
    let addr = h.addr;
    let slow = std::thread::spawn(move || {
        request(
            addr,
            "GET",
            "/p/wasi?marker=m-sigterm&sleep_ms=3000",
            &[],
            b"",
        )
    });
    // The request is in flight once the guest has written its marker (it then sleeps).
    let started = Instant::now();
    while !h.log_text().contains("probe stderr m-sigterm") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the guest never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = h.terminate();
    assert!(status.success(), "{status}");
    let reply = slow.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.json()["slept_ms"].as_u64().unwrap() >= 3000);
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
    // The request finished during the shutdown has its log line.
    assert!(
        h.log_text().contains("GET /p/wasi probe 200 "),
        "{}",
        h.log_text()
    );
}

#[test]
fn wasi_clocks_random_and_standard_streams() {
    let s = setup();
    let h = host(&s, None, &[]);
    let first = get_json(&h, "/p/wasi?marker=m-4821&sleep_ms=30");
    let second = get_json(&h, "/p/wasi");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let seen = first["unix_seconds"].as_u64().unwrap();
    assert!(seen.abs_diff(now) <= 5, "wall clock {seen} vs {now}");
    assert!(first["slept_ms"].as_u64().unwrap() >= 30);
    assert_ne!(first["random"], second["random"]);
    assert_ne!(first["random"], json!("0"));
    let log = h.log_text();
    assert!(log.contains("probe stdout m-4821"), "{log}");
    assert!(log.contains("probe stderr m-4821"), "{log}");
}

#[test]
fn component_heap_starts_in_its_arena_then_grows() {
    let s = setup();
    let h = host(&s, None, &[]);
    let expected = |mib: u64| -> u64 { (0..mib << 20).map(|i| i % 251).sum() };
    // Small enough for the static arena: linear memory never grows (no mprotect per request).
    let small = get_json(&h, "/p/heap?mib=1");
    assert_eq!(small["sum"], json!(expected(1)));
    assert_eq!(small["small_ok"], json!(true));
    assert_eq!(small["grew"], json!(false), "{small}");
    // Beyond it, the heap grows and stays consistent, request after request.
    for mib in [12, 40, 12] {
        let big = get_json(&h, &format!("/p/heap?mib={mib}"));
        assert_eq!(big["sum"], json!(expected(mib)), "{mib} MiB");
        assert_eq!(big["small_ok"], json!(true), "{mib} MiB");
        assert_eq!(big["grew"], json!(true), "{mib} MiB");
    }
    assert_eq!(get_json(&h, "/p/heap?mib=1")["grew"], json!(false));
}

#[test]
fn redis_outage_is_an_error_the_guest_sees_and_recovery_needs_no_restart() {
    let s = setup();
    let mut redis = Redis::start();
    let port = redis.port;
    let rc = s.dir.write("redis.toml", &redis.runtime_config());
    let h = host(&s, Some(rc), &[]);
    assert_eq!(
        get_json(&h, "/p/kv?op=set&key=k&value=v"),
        json!({"ok": true})
    );
    redis.stop();
    let started = Instant::now();
    let down = get_json(&h, "/p/kv?op=get&key=k");
    let error = down["error"].as_str().unwrap_or_default().to_string();
    assert!(error.starts_with("other: redis"), "{down}");
    let down = get_json(&h, "/p/atomic?op=incr&key=n");
    assert!(down["error"]
        .as_str()
        .unwrap_or_default()
        .starts_with("other: redis"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "errors come quickly"
    );
    let _redis = Redis::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = get_json(&h, "/p/kv?op=set&key=k&value=back");
        if reply == json!({"ok": true}) {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {reply}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get_json(&h, "/p/kv?op=get&key=k"), json!({"value": "back"}));
    assert_eq!(get_json(&h, "/p/atomic?op=incr&key=n"), json!({"value": 1}));
}

/// Runs a list of statements through the probe at `path`.
fn sql(h: &Host, path: &str, statements: serde_json::Value) -> serde_json::Value {
    let body = statements.to_string();
    let reply = request(
        h.addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[test]
fn sqlite_databases_are_served_as_spin_serves_them() {
    let s = setup();
    let h = host(&s, None, &[]);
    // Every value type, as a parameter and back.
    let r = sql(
        &h,
        "/p/sqlite?db=default",
        json!([
            {"sql": "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)"},
            {"sql": "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
             "params": [42, 1.5, "Élodie d'Artagnan", {"blob": [0, 255]}, null]},
            {"sql": "SELECT i, r, s, b, n FROM t"},
        ]),
    );
    assert_eq!(
        r["results"][2],
        json!({"columns": ["i", "r", "s", "b", "n"],
               "rows": [[42, 1.5, "Élodie d'Artagnan", {"blob": [0, 255]}, null]]}),
        "{r}"
    );
    assert_eq!(r["results"][1], json!({"columns": [], "rows": []}));
    // The bundled SQLite has FTS5.
    let r = sql(
        &h,
        "/p/sqlite",
        json!([
            {"sql": "CREATE VIRTUAL TABLE f USING fts5(name)"},
            {"sql": "INSERT INTO f VALUES (?), (?)", "params": ["jean dupont", "marie martin"]},
            {"sql": "SELECT name FROM f WHERE f MATCH ?", "params": ["dupont"]},
        ]),
    );
    assert_eq!(r["results"][2]["rows"], json!([["jean dupont"]]), "{r}");
    // A statement SQLite refuses is an `io` error, after the ones before it ran.
    let r = sql(
        &h,
        "/p/sqlite",
        json!([{"sql": "SELECT count(*) FROM t"}, {"sql": "SELECT nope FROM nowhere"}]),
    );
    assert_eq!(
        (r["failed"].clone(), r["results"][0]["rows"].clone()),
        (json!(1), json!([[1]]))
    );
    assert!(r["error"].as_str().unwrap().starts_with("io: "), "{r}");
    // Spin's default file, beside the manifest.
    assert!(s.dir.path().join(".spin/sqlite_db.db").is_file());
    // A database the component was not granted is refused, existing or not.
    for path in ["/bare/sqlite?db=default", "/p/sqlite?db=other"] {
        assert_eq!(
            sql(&h, path, json!([])),
            json!({"error": "access-denied"}),
            "{path}"
        );
    }
    drop(h);

    // The runtime config names the file, relative to itself; the data outlives the host.
    let rc = s.dir.write(
        "sqlite-rc.toml",
        "[sqlite_database.default]\ntype = \"spin\"\npath = \"data/deces.db\"\n",
    );
    let h = host(&s, Some(rc.clone()), &[]);
    sql(
        &h,
        "/p/sqlite",
        json!([{"sql": "CREATE TABLE p (name TEXT)"}, {"sql": "INSERT INTO p VALUES ('kept')"}]),
    );
    assert!(s.dir.path().join("data/deces.db").is_file());
    drop(h);
    let h = host(&s, Some(rc), &[]);
    let r = sql(&h, "/p/sqlite", json!([{"sql": "SELECT name FROM p"}]));
    assert_eq!(r["results"][0]["rows"], json!([["kept"]]), "{r}");
    drop(h);

    // A component granted a database that nothing defines does not start.
    let text = std::fs::read_to_string(&s.manifest).unwrap().replace(
        "sqlite_databases = [\"default\"]",
        "sqlite_databases = [\"default\", \"ghost\"]",
    );
    let ghost = s.dir.write("ghost.toml", &text);
    let listen = format!("127.0.0.1:{}", free_port());
    let (ok, out) = host_fails(
        &[
            "up",
            "--manifest",
            ghost.to_str().unwrap(),
            "--listen",
            &listen,
        ],
        &[("SPIN_VARIABLE_MUST_HAVE", "x")],
    );
    assert!(!ok && out.contains("ghost"), "{out}");
}
