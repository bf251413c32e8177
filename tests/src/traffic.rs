//! Mixed client traffic over replicas sharing one Redis, and the consistency check that
//! follows it. Each client runs sessions (register, read the code, log in, check the token,
//! a few anonymous searches), sends each request to the next replica, and when a connection
//! fails (a replica killed) sends it again to another one. It keeps the books a check needs:
//! which codes it was given, which tokens, and per search client which requests surely
//! passed the quota gate and which may have (their answer was lost or was a 503/502).
//! Used by the fault suite (`tests/faults.rs`) and by `make soak`.

use crate::accounts;
use crate::{app_config, try_request, EsStub, Host, Redis, Reply, TempDir};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub const SECRET: &str = "a-reliability-test-secret-of-enough-bytes";
/// Anonymous searches a client may make per day in these runs.
pub const QUOTA_MAX: u64 = 40;
pub const SEARCH: &str = "/deces/api/v1/search?lastName=Dupont";
/// Searches a traffic client makes from one address before it takes another, so traffic
/// stays under the quota (bans are checked with a client of their own).
const SEARCHES_PER_ADDRESS: u64 = 30;
/// The 5xx answers the service documents: 503 while the store or Elasticsearch is
/// unreachable, 502 for an answer Elasticsearch should not have given.
pub const DOCUMENTED_5XX: [u16; 2] = [502, 503];

/// Replicas of the application on one persistent Redis, and the Elasticsearch stub.
pub struct Cluster {
    pub redis: Redis,
    pub es: EsStub,
    pub hosts: Vec<Host>,
    _dir: TempDir,
}

impl Cluster {
    pub fn start(replicas: usize) -> Self {
        let dir = TempDir::new("cluster");
        let redis = Redis::start_persistent(dir.path());
        let es = EsStub::start();
        let rc = dir.write("rc.toml", &redis.runtime_config());
        let (url, quota) = (es.url(), QUOTA_MAX.to_string());
        let mut config = app_config(
            rc,
            &[
                ("SPIN_VARIABLE_ES_URL", url.as_str()),
                ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
                ("SPIN_VARIABLE_ES_TIMEOUT_MS", "1000"),
                ("SPIN_VARIABLE_TOKEN_SECRET", SECRET),
                ("SPIN_VARIABLE_DEV_ROUTES", "true"),
                ("SPIN_VARIABLE_TRUSTED_PROXIES", "1"),
                ("SPIN_VARIABLE_ANONYMOUS_QUOTA_MAX", quota.as_str()),
                ("SPIN_VARIABLE_ANONYMOUS_BAN_SECONDS", "3600"),
                ("SPIN_VARIABLE_OTP_RESEND_COOLDOWN_SECONDS", "0"),
                // Longer than a soak and its check: a code left for later must not expire.
                ("SPIN_VARIABLE_OTP_TTL_SECONDS", "7200"),
            ],
        );
        config.args = ["--header-timeout-ms", "1000", "--body-timeout-ms", "1000"]
            .map(String::from)
            .to_vec();
        let hosts = (0..replicas).map(|_| Host::start(config.clone())).collect();
        Cluster {
            redis,
            es,
            hosts,
            _dir: dir,
        }
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.hosts.iter().map(|h| h.addr).collect()
    }

    /// The store's quota counters, summed over windows, by client (one pass over the keys).
    pub fn quota_counts(&self) -> BTreeMap<String, u64> {
        let keys = self.redis.command(&["KEYS", "quota:*"]).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for key in keys.lines().filter(|k| !k.is_empty()) {
            // quota:<span>:<client>:<window>, the client possibly holding colons (IPv6).
            let parts: Vec<&str> = key.split(':').collect();
            if parts.len() < 4 {
                continue;
            }
            let client = parts[2..parts.len() - 1].join(":");
            let n: u64 = self
                .redis
                .command(&["GET", key])
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            *counts.entry(client).or_default() += n;
        }
        counts
    }

    /// Uses up `client`'s quota; the request after the last allowed one creates its ban.
    pub fn ban(&self, client: &str) {
        for i in 0..=QUOTA_MAX {
            let r = search(self.hosts[0].addr, client).expect("search while banning");
            let want = if i < QUOTA_MAX { 200 } else { 429 };
            assert_eq!(r.status, want, "search {i} of {client}: {}", r.text());
        }
    }

    /// Whether the next search of `client` is refused by a ban (asked of every replica).
    pub fn banned_everywhere(&self, client: &str) -> bool {
        self.addrs()
            .into_iter()
            .all(|a| search(a, client).is_ok_and(|r| r.status == 429))
    }
}

/// An anonymous search from `client` behind one trusted proxy (the proxy is the peer and
/// names the client in X-Forwarded-For).
pub fn search(addr: SocketAddr, client: &str) -> std::io::Result<Reply> {
    try_request(addr, "GET", SEARCH, &[("x-forwarded-for", client)], b"")
}

/// A code a client was given.
#[derive(Debug, Clone)]
pub struct Code {
    pub user: String,
    pub code: String,
    pub redeemed: bool,
    /// A login with it failed in transit or with a 503: the store may have counted it.
    pub uncertain: bool,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Answers by operation and status.
    pub answers: BTreeMap<(&'static str, u16), u64>,
    /// Requests whose connection failed (sent again to another replica), by operation.
    pub lost_in_transit: BTreeMap<&'static str, u64>,
    pub codes: Vec<Code>,
    pub tokens: Vec<String>,
    /// Per search client: (searches that surely passed the quota gate, searches that may have).
    pub clients: BTreeMap<String, (u64, u64)>,
    /// Anything a correct service never does, as found.
    pub violations: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
        for (k, v) in other.lost_in_transit {
            *self.lost_in_transit.entry(k).or_default() += v;
        }
        self.codes.extend(other.codes);
        self.tokens.extend(other.tokens);
        self.clients.extend(other.clients);
        self.violations.extend(other.violations);
    }

    pub fn served(&self) -> u64 {
        self.answers.values().sum()
    }

    /// 5xx answers other than the documented ones.
    pub fn undocumented_5xx(&self) -> u64 {
        self.answers
            .iter()
            .filter(|((_, s), _)| *s >= 500 && !DOCUMENTED_5XX.contains(s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Client threads running sessions until `finish`.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
    /// Answers received so far, for progress reports.
    pub served: Arc<AtomicU64>,
}

impl Traffic {
    pub fn start(addrs: Vec<SocketAddr>, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let threads = (0..clients)
            .map(|id| {
                let mut client = Client {
                    id,
                    addrs: addrs.clone(),
                    next: id,
                    stop: stop.clone(),
                    served: served.clone(),
                    searches: 0,
                    t: Tally::default(),
                };
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !client.stopping() {
                        client.session(n);
                        n += 1;
                    }
                    client.t
                })
            })
            .collect();
        Traffic {
            stop,
            threads,
            served,
        }
    }

    /// Waits until the clients have received `more` answers beyond those received so far:
    /// a test waits for traffic to happen, not for a time a busy machine may not fill.
    pub fn wait_for(&self, more: u64) {
        let target = self.served.load(Ordering::SeqCst) + more;
        let started = std::time::Instant::now();
        while self.served.load(Ordering::SeqCst) < target {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "the traffic stalled: {} of {target} answers",
                self.served.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Tally::default();
        for t in self.threads {
            all.merge(t.join().expect("a traffic client panicked"));
        }
        all
    }
}

struct Client {
    id: usize,
    addrs: Vec<SocketAddr>,
    next: usize,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    searches: u64,
    t: Tally,
}

fn pause() {
    std::thread::sleep(Duration::from_millis(100));
}

impl Client {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sends to the next replica; a failed connection is counted and the request goes to
    /// the next one, until an answer comes (`None` once the run stops). The flag tells
    /// whether a connection failed on the way.
    fn send(
        &mut self,
        op: &'static str,
        f: impl Fn(SocketAddr) -> std::io::Result<Reply>,
    ) -> Option<(Reply, bool)> {
        let mut failed = false;
        loop {
            let addr = self.addrs[self.next % self.addrs.len()];
            self.next += 1;
            match f(addr) {
                Ok(r) => {
                    *self.t.answers.entry((op, r.status)).or_default() += 1;
                    self.served.fetch_add(1, Ordering::Relaxed);
                    return Some((r, failed));
                }
                Err(_) => {
                    failed = true;
                    *self.t.lost_in_transit.entry(op).or_default() += 1;
                    if self.stopping() {
                        return None;
                    }
                    pause();
                }
            }
        }
    }

    fn violation(&mut self, what: String) {
        self.t.violations.push(what);
    }

    fn session(&mut self, n: usize) {
        let user = format!("c{}-{n}@example.org", self.id);
        let Some((r, _)) = self.send("register", |a| accounts::register(a, &user)) else {
            return;
        };
        if r.status != 200 {
            if r.status != 503 {
                self.violation(format!("register {user}: {} {}", r.status, r.text()));
            }
            return;
        }
        // A 200 that says no code was sent: the store took the code but not its mail,
        // which is an outage and must be answered 503, not as a mail error.
        if r.json()["valid"] != true {
            self.violation(format!("register {user}: 200 without a code: {}", r.text()));
            return;
        }
        let Some(code) = self.read_code(&user) else {
            return;
        };
        let i = self.t.codes.len();
        self.t.codes.push(Code {
            user: user.clone(),
            code: code.clone(),
            redeemed: false,
            uncertain: false,
        });
        if n % 4 == 3 {
            return; // a user who reads the mail later: the final check redeems the code
        }
        let token = loop {
            let Some((r, failed)) = self.send("login", |a| accounts::login(a, &user, &code)) else {
                return;
            };
            self.t.codes[i].uncertain |= failed;
            match r.status {
                200 => {
                    self.t.codes[i].redeemed = true;
                    break r.json()["access_token"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                }
                503 => {
                    self.t.codes[i].uncertain = true;
                    if self.stopping() {
                        return;
                    }
                    pause();
                }
                401 if self.t.codes[i].uncertain => return, // used by an answer we lost
                s => {
                    self.violation(format!("login {user} with its code: {s} {}", r.text()));
                    return;
                }
            }
        };
        self.t.tokens.push(token.clone());
        let bearer = format!("Bearer {token}");
        if let Some((r, _)) = self.send("check", |a| {
            try_request(a, "GET", accounts::AUTH, &[("authorization", &bearer)], b"")
        }) {
            if r.status != 200 && r.status != 503 {
                self.violation(format!("token of {user} refused: {}", r.status));
            }
        }
        for _ in 0..3 {
            self.search();
        }
    }

    /// The code in the outbox; `None` when the run stops first.
    fn read_code(&mut self, user: &str) -> Option<String> {
        let path = format!("/deces/api/v1/dev/outbox?user={user}");
        loop {
            let (r, _) = self.send("outbox", |a| try_request(a, "GET", &path, &[], b""))?;
            match r.status {
                200 => return accounts::code_in(&r.json()),
                503 if !self.stopping() => pause(),
                503 => return None,
                s => {
                    self.violation(format!("mail to {user} after a 200 register: {s}"));
                    return None;
                }
            }
        }
    }

    fn search(&mut self) {
        let k = self.searches / SEARCHES_PER_ADDRESS;
        self.searches += 1;
        let client = format!("10.{}.{}.{}", self.id % 250, k / 250 % 250, k % 250 + 1);
        let Some((r, failed)) = self.send("search", |a| search(a, &client)) else {
            return;
        };
        let counts = self.t.clients.entry(client.clone()).or_default();
        counts.1 += u64::from(failed);
        match r.status {
            200 | 502 => counts.0 += 1,
            503 => counts.1 += 1,
            s => self.violation(format!("search from {client}: {s} {}", r.text())),
        }
    }
}

/// What the store holds after the run, against what the clients were told.
#[derive(Debug, Default)]
pub struct Check {
    pub codes_issued: usize,
    pub codes_redeemed: usize,
    pub codes_still_valid: usize,
    /// Codes whose login lost its answer (cut connection or 503) and that the store counts as used.
    pub codes_used_in_flight: usize,
    pub tokens_checked: usize,
    pub quota_clients: usize,
    pub quota_requests: u64,
    /// Counts above what the clients' answers explain (an increment Redis applied just
    /// before it was killed, retried by the host on the new connection).
    pub counted_twice: u64,
    pub violations: Vec<String>,
}

/// Checks the store against the tally: every code redeemed, still valid, or used by a login
/// whose answer was lost; every token valid on a replica; every quota counter at least the
/// searches that surely passed (never an undercount) and at most those plus the uncertain
/// ones, save at most `crash_slack` counts in all: the increments in flight when Redis was
/// killed (at most one per client per crash).
pub fn check(cluster: &Cluster, t: &Tally, crash_slack: u64) -> Check {
    let addrs = cluster.addrs();
    let mut c = Check {
        codes_issued: t.codes.len(),
        violations: t.violations.clone(),
        ..Default::default()
    };
    for (i, code) in t.codes.iter().enumerate() {
        if code.redeemed {
            c.codes_redeemed += 1;
            continue;
        }
        let addr = addrs[i % addrs.len()];
        match accounts::login(addr, &code.user, &code.code).map(|r| r.status) {
            Ok(200) => c.codes_still_valid += 1,
            Ok(401) if code.uncertain => c.codes_used_in_flight += 1,
            other => c
                .violations
                .push(format!("code of {} lost: {other:?}", code.user)),
        }
    }
    for (i, token) in t.tokens.iter().enumerate() {
        let bearer = format!("Bearer {token}");
        let addr = addrs[i % addrs.len()];
        match try_request(
            addr,
            "GET",
            accounts::AUTH,
            &[("authorization", &bearer)],
            b"",
        ) {
            Ok(r) if r.status == 200 => c.tokens_checked += 1,
            other => c.violations.push(format!(
                "token {i} no longer valid: {:?}",
                other.map(|r| r.status)
            )),
        }
    }
    let counts = cluster.quota_counts();
    for (client, &(sure, maybe)) in &t.clients {
        let counted = counts.get(client).copied().unwrap_or(0);
        c.quota_clients += 1;
        c.quota_requests += sure;
        if counted < sure {
            c.violations.push(format!(
                "quota of {client}: store counts {counted}, clients saw {sure} pass"
            ));
        }
        c.counted_twice += counted.saturating_sub(sure + maybe);
    }
    if c.counted_twice > crash_slack {
        c.violations.push(format!(
            "quota counters hold {} counts more than the answers explain (allowed {crash_slack})",
            c.counted_twice
        ));
    }
    if t.undocumented_5xx() > 0 {
        c.violations
            .push(format!("{} undocumented 5xx answers", t.undocumented_5xx()));
    }
    c
}

/// A plain-text report of a run.
pub fn report(t: &Tally, c: &Check) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "requests answered: {}", t.served());
    let mut by_op: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((op, status), n) in &t.answers {
        by_op.entry(op).or_default().push(format!("{status}: {n}"));
    }
    for (op, statuses) in by_op {
        let lost = t.lost_in_transit.get(op).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {op:<9} {}; connections cut (sent again): {lost}",
            statuses.join(", ")
        );
    }
    let _ = writeln!(out, "undocumented 5xx: {}", t.undocumented_5xx());
    let _ = writeln!(
        out,
        "codes issued {}: redeemed {}, still valid {}, used by a login whose answer was lost {}, lost {}",
        c.codes_issued,
        c.codes_redeemed,
        c.codes_still_valid,
        c.codes_used_in_flight,
        c.codes_issued - c.codes_redeemed - c.codes_still_valid - c.codes_used_in_flight,
    );
    let _ = writeln!(
        out,
        "tokens still valid: {} of {}",
        c.tokens_checked,
        t.tokens.len()
    );
    let _ = writeln!(
        out,
        "quota counters checked: {} clients, {} searches; counted twice at a Redis crash: {}",
        c.quota_clients, c.quota_requests, c.counted_twice
    );
    let _ = writeln!(out, "violations: {}", c.violations.len());
    for v in c.violations.iter().take(20) {
        let _ = writeln!(out, "  {v}");
    }
    out
}
