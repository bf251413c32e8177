//! `make soak`: mixed traffic over three replicas on one persistent Redis for ten minutes,
//! with a fault injected every 30 seconds (a replica killed with -9 or stopped with
//! SIGTERM, Redis killed or hung, Elasticsearch down or slow), then the consistency check
//! of `e2e::traffic`. Prints the requests served, the answers by kind, the faults, and the
//! check; exits 1 when anything was lost or an undocumented 5xx was answered.
//!
//! Options: `--minutes N` (10), `--replicas N` (3), `--clients N` (8), `--fault-every S` (30).

use e2e::traffic::{self, Cluster, Traffic};
use std::time::{Duration, Instant};

const BANNED: &str = "203.0.113.7";

fn option(args: &[String], name: &str, default: f64) -> f64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} needs a number, not `{v}`"))
        })
        .unwrap_or(default)
}

/// The faults, in turn.
const FAULTS: [&str; 6] = [
    "kill -9 a replica, restart it 2 s later",
    "kill -9 Redis, restart it 3 s later (append-only file)",
    "hang Redis (SIGSTOP) for 3 s",
    "Elasticsearch down for 5 s",
    "Elasticsearch slower than the search timeout for 5 s",
    "SIGTERM a replica, restart it 1 s later",
];

fn inject(cluster: &mut Cluster, n: usize) {
    let hold = |ms| std::thread::sleep(Duration::from_millis(ms));
    let replica = n / FAULTS.len() % cluster.hosts.len();
    match n % FAULTS.len() {
        0 => {
            cluster.hosts[replica].kill9();
            hold(2000);
            cluster.hosts[replica].respawn();
        }
        1 => {
            cluster.redis.stop();
            hold(3000);
            cluster.redis.restart();
        }
        2 => {
            cluster.redis.pause();
            hold(3000);
            cluster.redis.resume();
        }
        3 => {
            cluster.es.server.set_down(true);
            hold(5000);
            cluster.es.server.set_down(false);
        }
        4 => {
            cluster.es.server.set_delay(Duration::from_millis(1500));
            hold(5000);
            cluster.es.server.set_delay(Duration::ZERO);
        }
        _ => {
            let status = cluster.hosts[replica].terminate();
            assert!(
                status.success(),
                "SIGTERM: the replica exited with {status}"
            );
            hold(1000);
            cluster.hosts[replica].respawn();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let minutes = option(&args, "--minutes", 10.0);
    let replicas = option(&args, "--replicas", 3.0) as usize;
    let clients = option(&args, "--clients", 8.0) as usize;
    let every = Duration::from_secs_f64(option(&args, "--fault-every", 30.0));
    let run = Duration::from_secs_f64(minutes * 60.0);

    println!("soak: {replicas} replicas on one Redis (append-only), {clients} clients, {minutes} min, a fault every {every:?}");
    let mut cluster = Cluster::start(replicas);
    cluster.ban(BANNED);
    let traffic = Traffic::start(cluster.addrs(), clients);
    let started = Instant::now();
    let mut faults = 0;
    // Fault n starts n x `every` after the start, whatever the previous one took.
    while every * (faults as u32 + 1) < run {
        std::thread::sleep((every * (faults as u32 + 1)).saturating_sub(started.elapsed()));
        let before = traffic.served.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "[{:>4} s] {before} answers so far; fault {}: {}",
            started.elapsed().as_secs(),
            faults + 1,
            FAULTS[faults % FAULTS.len()]
        );
        inject(&mut cluster, faults);
        faults += 1;
    }
    std::thread::sleep(run.saturating_sub(started.elapsed()));
    let tally = traffic.finish();
    let elapsed = started.elapsed();
    println!(
        "traffic stopped after {} s; checking the store",
        elapsed.as_secs()
    );
    let redis_crashes = (0..faults).filter(|n| n % FAULTS.len() == 1).count() as u64;
    let mut check = traffic::check(&cluster, &tally, redis_crashes * clients as u64);
    if !cluster.banned_everywhere(BANNED) {
        check
            .violations
            .push(format!("the ban of {BANNED} did not last"));
    }
    println!("faults injected: {faults}");
    println!(
        "throughput: {:.0} answers/s",
        tally.served() as f64 / elapsed.as_secs_f64()
    );
    print!("{}", traffic::report(&tally, &check));
    let failed = !check.violations.is_empty();
    // Stops the replicas and Redis (`exit` would skip their drops and leave them running).
    drop(cluster);
    std::process::exit(i32::from(failed));
}
