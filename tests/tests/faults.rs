//! Fault injection with real processes on loopback: replicas killed with -9 in the middle
//! of register/auth/search traffic, Redis stopped or hung under load, Elasticsearch down
//! or slow, slow clients. After each run the store is checked against what the clients
//! were told (`e2e::traffic::check`): no code, counter, ban or token lost, no 5xx other
//! than the documented 503s. The tests run one at a time (they share two cores).

use e2e::traffic::{self, Cluster, Tally, Traffic};
use e2e::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

const DOWN: &str = "Service temporairement indisponible";
const BANNED: &str = "203.0.113.7";

/// `crash_slack`: counts a Redis crash may leave twice (see `traffic::check`).
fn assert_consistent(cluster: &Cluster, tally: &Tally, crash_slack: u64) -> traffic::Check {
    let c = traffic::check(cluster, tally, crash_slack);
    let text = traffic::report(tally, &c);
    println!("{text}");
    assert!(c.violations.is_empty(), "{text}");
    assert!(
        c.codes_redeemed >= 10 && c.quota_requests >= 30,
        "too little traffic to judge: {text}"
    );
    c
}

#[test]
fn replicas_killed_mid_traffic_lose_nothing() {
    let _s = serial();
    let mut cluster = Cluster::start(3);
    cluster.ban(BANNED);
    let traffic = Traffic::start(cluster.addrs(), 6);
    traffic.wait_for(60);
    for i in [1, 2, 0] {
        cluster.hosts[i].kill9();
        sleep(1000);
        traffic.wait_for(40);
        cluster.hosts[i].respawn();
        sleep(1000);
        traffic.wait_for(40);
    }
    let tally = traffic.finish();
    assert!(
        tally.lost_in_transit.values().sum::<u64>() > 0,
        "no request met a dead replica: the kills were not exercised"
    );
    let c = assert_consistent(&cluster, &tally, 0);
    // Everything was answered by another replica: every answer a 200, except a login whose
    // first try reached the replica that was killed after it used the code (the client
    // then needs a new code; the store counts the code as used, as it must), and searches
    // the stub did not answer within es_timeout_ms on a loaded machine (503, documented).
    for ((op, status), n) in &tally.answers {
        match (*op, *status) {
            (_, 200) | ("search", 503) => {}
            ("login", 401) => assert_eq!(*n as usize, c.codes_used_in_flight),
            other => panic!("{other:?} x {n}: {:?}", tally.answers),
        }
    }
    assert!(cluster.banned_everywhere(BANNED), "the ban did not survive");
}

#[test]
fn redis_stopped_or_hung_under_load_is_503_then_recovers() {
    let _s = serial();
    let mut cluster = Cluster::start(2);
    cluster.ban(BANNED);
    let a = cluster.hosts[0].addr;
    assert_eq!(
        accounts::register(a, "before@example.org").unwrap().status,
        200
    );
    let before = accounts::code(a, "before@example.org").unwrap().unwrap();
    let traffic = Traffic::start(cluster.addrs(), 4);
    traffic.wait_for(40);

    let while_down = |cluster: &Cluster, what: &str| {
        for addr in cluster.addrs() {
            for r in [
                accounts::login(addr, "before@example.org", &before).unwrap(),
                accounts::register(addr, "during@example.org").unwrap(),
            ] {
                assert_json_error(&r, 503, what);
                assert_eq!(r.json()["msg"], DOWN, "{what}");
            }
            let r = traffic::search(addr, "198.51.100.1").unwrap();
            assert_json_error(&r, 503, &format!("search, {what}"));
        }
    };
    cluster.redis.stop();
    while_down(&cluster, "redis stopped");
    sleep(1000);
    cluster.redis.restart();
    sleep(2000);
    cluster.redis.pause();
    let started = Instant::now();
    while_down(&cluster, "redis hung");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a hung store must time out, not hang the service"
    );
    cluster.redis.resume();
    sleep(2000);
    traffic.wait_for(40);
    let tally = traffic.finish();
    assert!(
        tally.answers.contains_key(&("login", 503))
            || tally.answers.contains_key(&("register", 503)),
        "the traffic never met the outage: {:?}",
        tally.answers
    );
    // One Redis crash with 4 clients: at most 4 increments in flight.
    assert_consistent(&cluster, &tally, 4);
    // No host was restarted: the code asked before the outage still works, the ban holds.
    assert_eq!(
        accounts::login(cluster.hosts[1].addr, "before@example.org", &before)
            .unwrap()
            .status,
        200
    );
    assert!(cluster.banned_everywhere(BANNED));
}

#[test]
fn elasticsearch_down_or_slow_is_503_and_accounts_carry_on() {
    let _s = serial();
    let cluster = Cluster::start(2);
    let traffic = Traffic::start(cluster.addrs(), 4);
    traffic.wait_for(40);
    for (fault, n) in [("down", 0), ("slow", 1)] {
        if fault == "down" {
            cluster.es.server.set_down(true);
        } else {
            // Far slower than the timeout, so that a wait bounded by the timeout is told
            // from one bounded by Elasticsearch, with room for a busy machine.
            cluster.es.server.set_delay(Duration::from_secs(20));
        }
        for addr in cluster.addrs() {
            let started = Instant::now();
            let r = traffic::search(addr, &format!("198.51.100.{n}")).unwrap();
            assert_json_error(&r, 503, &format!("elasticsearch {fault}"));
            // es_timeout_ms is 1000: the answer comes within it, plus the machine's delays.
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{fault}: {:?}",
                started.elapsed()
            );
            let user = format!("es-{fault}-{n}@example.org");
            assert_eq!(accounts::register(addr, &user).unwrap().status, 200);
            let code = accounts::code(addr, &user).unwrap().unwrap();
            assert_eq!(accounts::login(addr, &user, &code).unwrap().status, 200);
        }
        traffic.wait_for(20);
        cluster.es.server.set_down(false);
        cluster.es.server.set_delay(Duration::ZERO);
        traffic.wait_for(20);
    }
    let tally = traffic.finish();
    assert!(tally.answers.contains_key(&("search", 503)));
    let accounts_5xx: u64 = tally
        .answers
        .iter()
        .filter(|((op, s), _)| *op != "search" && *s >= 500)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(accounts_5xx, 0, "{:?}", tally.answers);
    assert_consistent(&cluster, &tally, 0);
}

#[test]
fn slow_clients_do_not_hold_others() {
    let _s = serial();
    let cluster = Cluster::start(1);
    let addr = cluster.hosts[0].addr;
    // 200 clients sending their head one line every 100 ms (slowloris): each is cut when
    // the head timeout (1 s) passes.
    let slow: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || -> Result<Duration, String> {
                let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                let started = Instant::now();
                let _ = s.write_all(b"GET /deces/api/v1/healthcheck HTTP/1.1\r\n");
                while s.write_all(b"X-Slow: 1\r\n").is_ok() {
                    if started.elapsed() > Duration::from_secs(15) {
                        return Err("still open after 15 s".into());
                    }
                    sleep(100);
                }
                Ok(started.elapsed())
            })
        })
        .collect();
    // A body trickled byte by byte: 408 JSON once the body timeout (1 s) passes.
    let trickle = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.write_all(
            b"POST /deces/api/v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        )
        .unwrap();
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..100 {
                if w.write_all(b" ").is_err() {
                    break;
                }
                sleep(100);
            }
        });
        read_reply(&mut std::io::BufReader::new(s)).unwrap()
    });
    // Meanwhile everyone else is served.
    sleep(300);
    for i in 0..50 {
        let r = request(addr, "GET", "/deces/api/v1/healthcheck", &[], b"");
        assert_eq!(
            r.status, 200,
            "request {i} while slow clients hold connections"
        );
        let r = accounts::register(addr, &format!("fast{i}@example.org")).unwrap();
        assert_eq!(r.status, 200);
    }
    let late = trickle.join().unwrap();
    assert_json_error(&late, 408, "trickled body");
    for s in slow {
        let held = s.join().unwrap().unwrap();
        assert!(
            held >= Duration::from_millis(900),
            "cut too early: {held:?}"
        );
    }
    // An idle connection that never sends a byte is closed too.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = idle.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(
        request(addr, "GET", "/deces/api/v1/healthcheck", &[], b"").status,
        200
    );
}
