//! Request-rate limits and the anonymous search quota (security.md "Rate limits and
//! quotas"): exact across replicas because every count is an atomic increment of a
//! window-keyed counter; old windows are deleted lazily; bans are records with their expiry.

use crate::accounts::kv::{Kv, StoreDown};
use crate::api::JsonReply;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The families routes are limited by (api.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Search,
    Agg,
    Accounts,
    Other,
    Bulk,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Search => "search",
            Family::Agg => "agg",
            Family::Accounts => "accounts",
            Family::Other => "other",
            Family::Bulk => "bulk",
        }
    }

    /// The family of a path below the API prefix; `None` for exempt routes.
    pub fn of(path: &str) -> Option<Family> {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "healthcheck" | "ready" | "dev" => None,
            "search" if path == "/search" => Some(Family::Search),
            "search" => Some(Family::Bulk),
            "agg" => Some(Family::Agg),
            "register" | "auth" => Some(Family::Accounts),
            _ => Some(Family::Other),
        }
    }
}

/// At most `burst` requests per window of `burst / rate` seconds (so the long-run rate is
/// `rate` per second); a rate of 0 or less turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: u64,
}

impl Limit {
    pub fn window_seconds(&self) -> u64 {
        ((self.burst as f64 / self.rate).ceil() as u64).max(1)
    }

    pub fn off(&self) -> bool {
        self.rate.is_nan() || self.rate <= 0.0 || self.burst == 0
    }
}

/// The anonymous search quota: `max` per `window_seconds`, then a ban of `ban_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: i64,
    pub window_seconds: u64,
    pub ban_seconds: u64,
}

/// What one check says: the headers to add, and the refusal when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub headers: Vec<(String, String)>,
    pub refusal: Option<JsonReply>,
}

impl Verdict {
    fn pass() -> Self {
        Verdict {
            headers: Vec::new(),
            refusal: None,
        }
    }
}

/// Counts one request against a limit for `who` (a client key, or `*` for everyone).
pub fn check_limit(
    kv: &dyn Kv,
    scope: &str,
    who: &str,
    limit: Limit,
    now: u64,
) -> Result<Verdict, StoreDown> {
    if limit.off() {
        return Ok(Verdict::pass());
    }
    let span = limit.window_seconds();
    let window = now / span;
    // The key names its window length so that a sweep can tell stale windows.
    let n = kv.increment(&format!("rl:{scope}:{span}:{who}:{window}"), 1)?;
    if n == 1 && window >= 2 {
        // The first request of a window clears the one before the previous.
        let _ = kv.delete(&format!("rl:{scope}:{span}:{who}:{}", window - 2));
    }
    let reset = (window + 1) * span - now;
    let burst = limit.burst as i64;
    let headers = vec![
        ("ratelimit-limit".to_string(), burst.to_string()),
        (
            "ratelimit-remaining".to_string(),
            (burst - n).max(0).to_string(),
        ),
        ("ratelimit-reset".to_string(), reset.to_string()),
    ];
    let refusal = (n > burst).then(|| {
        let mut reply = JsonReply::new(429, json!({ "msg": "error - too many requests" }))
            .with_header("retry-after", reset.to_string());
        reply.headers.extend(headers.iter().cloned());
        reply
    });
    Ok(Verdict { headers, refusal })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ban {
    until: u64,
    window: u64,
    /// The quota count when the ban began: after it, the client starts again from there.
    base: i64,
}

fn quota_key(client: &str, quota: Quota, window: u64) -> String {
    format!("quota:{}:{client}:{window}", quota.window_seconds)
}

pub fn ban_key(client: &str) -> String {
    format!("ban:{client}")
}

/// A current ban, as the operators' route lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BanView {
    pub client: String,
    pub until: u64,
    #[serde(rename = "retryAfter")]
    pub retry_after: u64,
}

/// The ban of a record, when it is still running at `now`.
pub fn running_ban(key: &str, record: &[u8], now: u64) -> Option<BanView> {
    let client = key.strip_prefix("ban:")?;
    let ban: Ban = serde_json::from_slice(record).ok()?;
    (now < ban.until).then(|| BanView {
        client: client.to_string(),
        until: ban.until,
        retry_after: ban.until - now,
    })
}

/// Lifts a client's ban: it starts again with a full quota.
pub fn lift_ban(kv: &dyn Kv, client: &str, quota: Quota, now: u64) -> Result<bool, StoreDown> {
    let key = ban_key(client);
    let Some(bytes) = kv.get(&key)? else {
        return Ok(false);
    };
    let was_running = running_ban(&key, &bytes, now).is_some();
    let window = now / quota.window_seconds.max(1);
    // An increment by zero reads the counter without the get that counters never take.
    let count = kv.increment(&quota_key(client, quota, window), 0)?;
    let record = Ban {
        until: now,
        window,
        base: count,
    };
    kv.set(&key, &serde_json::to_vec(&record).unwrap_or_default())?;
    Ok(was_running)
}

/// Whether a key is stale at `now`: a limit or quota counter two windows old or more, an
/// expired ban from an earlier window, or an expired one-time-code record. Used by the sweep.
pub fn stale(key: &str, record: Option<&[u8]>, now: u64) -> bool {
    let parts: Vec<&str> = key.split(':').collect();
    let old_window = |span: &str, window: &str| match (span.parse::<u64>(), window.parse::<u64>()) {
        (Ok(span), Ok(window)) if span > 0 => window + 1 < now / span,
        _ => false,
    };
    match parts.as_slice() {
        ["rl", _scope, span, .., window] if parts.len() >= 5 => old_window(span, window),
        ["quota", span, .., window] if parts.len() >= 4 => old_window(span, window),
        ["ban", ..] => record
            .and_then(|r| serde_json::from_slice::<Ban>(r).ok())
            .is_some_and(|b| now >= b.until && now >= b.until + 86_400 * 2),
        // A code's counters, named with its expiry: kept an hour longer than any request.
        ["otp-attempts" | "otp-used", _, _, expires] => expires
            .parse::<u64>()
            .is_ok_and(|e| now > e.saturating_add(3600)),
        ["otp", _] => record
            .and_then(|r| serde_json::from_slice::<serde_json::Value>(r).ok())
            .is_some_and(|v| {
                let at = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
                now >= at("expires_at") && now >= at("cooldown_until")
            }),
        _ => false,
    }
}

/// The sweep's cursor: the last key examined, hex-encoded so that it travels in a query
/// string whatever the key holds (client keys come from X-Forwarded-For).
pub fn sweep_cursor(key: &str) -> String {
    crate::accounts::email::hex(key.as_bytes())
}

/// The key a cursor names; `None` when it is not one.
pub fn parse_sweep_cursor(cursor: &str) -> Option<String> {
    if !cursor.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Keys examined per sweep call, so one call stays short.
pub const SWEEP_BATCH: usize = 1000;

/// The prefixes of the keys the sweep looks at (everything else is left alone).
const SWEPT: [&str; 6] = [
    "rl:",
    "quota:",
    "ban:",
    "otp:",
    "otp-attempts:",
    "otp-used:",
];

/// What one sweep call did, and where the next one starts.
#[derive(Debug, PartialEq)]
pub struct SweepReport {
    pub examined: usize,
    pub deleted: usize,
    /// The cursor of the last key examined while more may follow.
    pub next: Option<String>,
}

impl SweepReport {
    pub fn reply(&self) -> JsonReply {
        JsonReply::new(
            200,
            json!({ "examined": self.examined, "deleted": self.deleted,
                    "more": self.next.is_some(), "next": self.next }),
        )
    }
}

/// One sweep call over the store's keys (`keys`, in any order): examines up to
/// [`SWEEP_BATCH`] of the swept keys that sort after `after`, in key order, and deletes the
/// stale ones. This, not the lazy deletion, is what bounds the store: a client that pauses
/// for a window leaves counters that no later count of its own deletes.
pub fn sweep(
    kv: &dyn Kv,
    mut keys: Vec<String>,
    after: &str,
    now: u64,
) -> Result<SweepReport, StoreDown> {
    keys.sort_unstable();
    let candidates = keys
        .iter()
        .filter(|k| k.as_str() > after && SWEPT.iter().any(|p| k.starts_with(p)));
    let (mut examined, mut deleted, mut last) = (0, 0, None);
    for key in candidates.take(SWEEP_BATCH) {
        examined += 1;
        last = Some(key);
        // Counters are never read with `get`: their names say when they are stale.
        let record = if key.starts_with("ban:") || key.starts_with("otp:") {
            kv.get(key)?
        } else {
            None
        };
        if stale(key, record.as_deref(), now) && kv.delete(key).is_ok() {
            deleted += 1;
        }
    }
    let more = examined == SWEEP_BATCH;
    Ok(SweepReport {
        examined,
        deleted,
        next: last.filter(|_| more).map(|k| sweep_cursor(k)),
    })
}

/// Counts one anonymous search against the quota for a client.
pub fn check_quota(
    kv: &dyn Kv,
    client: &str,
    quota: Quota,
    now: u64,
) -> Result<Verdict, StoreDown> {
    if quota.max <= 0 || quota.window_seconds == 0 {
        return Ok(Verdict::pass());
    }
    let hours = (quota.window_seconds as f64 / 3600.0).round() as u64;
    let refuse = |retry: u64| {
        JsonReply::new(
            429,
            json!({ "message": format!("No token provided and temporary anonymous usage expired, please register with email or wait {hours} hours") }),
        )
        .with_header("retry-after", retry.to_string())
    };
    let ban_key = ban_key(client);
    let ban: Option<Ban> = kv
        .get(&ban_key)?
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(b) = &ban {
        if now < b.until {
            return Ok(Verdict {
                headers: Vec::new(),
                refusal: Some(refuse(b.until - now)),
            });
        }
    }
    let window = now / quota.window_seconds;
    let n = kv.increment(&quota_key(client, quota, window), 1)?;
    if n == 1 && window >= 2 {
        let _ = kv.delete(&quota_key(client, quota, window - 2));
    }
    let base = match &ban {
        Some(b) if b.window == window => b.base,
        Some(_) => {
            let _ = kv.delete(&ban_key);
            0
        }
        None => 0,
    };
    if n - base > quota.max {
        let record = Ban {
            until: now + quota.ban_seconds,
            window,
            base: n,
        };
        kv.set(&ban_key, &serde_json::to_vec(&record).unwrap_or_default())?;
        return Ok(Verdict {
            headers: Vec::new(),
            refusal: Some(refuse(quota.ban_seconds)),
        });
    }
    Ok(Verdict::pass())
}

/// The client's address: the peer (without its port), or the X-Forwarded-For entry at the
/// trusted depth counted from the right, so that a forged left-most entry changes nothing.
pub fn client_key(peer: &str, forwarded_for: Option<&str>, trusted_proxies: usize) -> String {
    let peer_ip = match peer.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.is_empty() => {
            host.trim_start_matches('[').trim_end_matches(']')
        }
        _ => peer,
    };
    if trusted_proxies == 0 {
        return peer_ip.to_string();
    }
    let entries: Vec<&str> = forwarded_for
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    match entries.len().checked_sub(trusted_proxies) {
        Some(i) => entries[i].to_string(),
        None => entries.first().copied().unwrap_or(peer_ip).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::kv::MemoryKv;

    #[test]
    fn families() {
        assert_eq!(Family::of("/healthcheck"), None);
        assert_eq!(Family::of("/dev/outbox"), None);
        assert_eq!(Family::of("/search"), Some(Family::Search));
        assert_eq!(Family::of("/search/csv"), Some(Family::Bulk));
        assert_eq!(Family::of("/agg"), Some(Family::Agg));
        assert_eq!(Family::of("/ready"), None);
        assert_eq!(Family::of("/auth"), Some(Family::Accounts));
        assert_eq!(Family::of("/id/x"), Some(Family::Other));
        assert_eq!(Family::of("/nope"), Some(Family::Other));
    }

    #[test]
    fn a_burst_is_exact_and_the_window_resets() {
        let kv = MemoryKv::default();
        let limit = Limit {
            rate: 1.0,
            burst: 30,
        };
        assert_eq!(limit.window_seconds(), 30);
        let passed = (0..31)
            .filter(|_| {
                check_limit(&kv, "search", "1.2.3.4", limit, 600)
                    .unwrap()
                    .refusal
                    .is_none()
            })
            .count();
        assert_eq!(passed, 30);
        let refused = check_limit(&kv, "search", "1.2.3.4", limit, 601).unwrap();
        let r = refused.refusal.unwrap();
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("29"));
        assert_eq!(r.header("ratelimit-remaining"), Some("0"));
        // Another client has its own count; the next window starts over.
        assert!(check_limit(&kv, "search", "5.6.7.8", limit, 601)
            .unwrap()
            .refusal
            .is_none());
        assert!(check_limit(&kv, "search", "1.2.3.4", limit, 630)
            .unwrap()
            .refusal
            .is_none());
    }

    #[test]
    fn old_windows_are_deleted() {
        let kv = MemoryKv::default();
        let limit = Limit {
            rate: 1.0,
            burst: 1,
        };
        for t in 0..100 {
            check_limit(&kv, "other", "c", limit, t).unwrap();
        }
        assert!(kv.counters.lock().unwrap().len() <= 2);
    }

    #[test]
    fn quota_then_ban_then_a_fresh_start() {
        let kv = MemoryKv::default();
        let q = Quota {
            max: 10,
            window_seconds: 86_400,
            ban_seconds: 100,
        };
        let passed = (0..15)
            .filter(|_| check_quota(&kv, "c", q, 1_000).unwrap().refusal.is_none())
            .count();
        assert_eq!(passed, 10);
        let r = check_quota(&kv, "c", q, 1_050).unwrap().refusal.unwrap();
        assert_eq!(r.header("retry-after"), Some("50"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["message"],
            "No token provided and temporary anonymous usage expired, please register with email or wait 24 hours"
        );
        // After the ban: max more, then banned again.
        let passed = (0..15)
            .filter(|_| check_quota(&kv, "c", q, 1_200).unwrap().refusal.is_none())
            .count();
        assert_eq!(passed, 10);
    }

    #[test]
    fn quota_is_exact_under_concurrency() {
        let kv = std::sync::Arc::new(MemoryKv::default());
        let q = Quota {
            max: 50,
            window_seconds: 3600,
            ban_seconds: 60,
        };
        let passed: usize = (0..200)
            .map(|_| {
                let kv = kv.clone();
                std::thread::spawn(move || {
                    check_quota(&*kv, "c", q, 10).unwrap().refusal.is_none() as usize
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(passed, 50);
    }

    #[test]
    fn store_growth_is_bounded() {
        // 10,000 requests from 1,000 clients across 5 windows of each policy.
        let kv = MemoryKv::default();
        let limit = Limit {
            rate: 1.0,
            burst: 60,
        };
        let quota = Quota {
            max: 300,
            window_seconds: 60,
            ban_seconds: 10,
        };
        for i in 0..10_000u64 {
            let now = i * 300 / 10_000; // 0..300 s: five 60 s windows
            let c = i % 1000;
            let client = format!("10.0.{}.{}", c / 256, c % 256);
            check_limit(&kv, "search-client", &client, limit, now).unwrap();
            check_limit(&kv, "search-global", "*", limit, now).unwrap();
            check_quota(&kv, &client, quota, now).unwrap();
        }
        // What the current and the previous windows need: per client, one limit counter
        // and one quota counter in each; one global counter in each.
        let keys = kv.counters.lock().unwrap().len() + kv.records.lock().unwrap().len();
        assert!(keys <= 2 * (1000 * 2 + 1), "{keys} keys");
    }

    #[test]
    fn a_client_that_pauses_leaves_counters_that_only_the_sweep_deletes() {
        let kv = MemoryKv::default();
        let limit = Limit {
            rate: 1.0,
            burst: 10,
        };
        let keys = |kv: &MemoryKv| {
            let mut k: Vec<String> = kv.counters.lock().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        // Seen in windows 0 and 1, then not before window 4: windows 0 and 1 stay, since
        // only a first count in windows 2 and 3 would have deleted them.
        for now in [0, 10, 40] {
            check_limit(&kv, "other-client", "c", limit, now).unwrap();
        }
        assert_eq!(
            keys(&kv),
            [
                "rl:other-client:10:c:0",
                "rl:other-client:10:c:1",
                "rl:other-client:10:c:4"
            ]
        );
        // The sweep deletes what is two windows old and keeps the current window.
        let report = sweep(&kv, keys(&kv), "", 45).unwrap();
        assert_eq!((report.examined, report.deleted, report.next), (3, 2, None));
        assert_eq!(keys(&kv), ["rl:other-client:10:c:4"]);
        // Two windows later nothing is left.
        sweep(&kv, keys(&kv), "", 60).unwrap();
        assert!(keys(&kv).is_empty());
    }

    #[test]
    fn the_sweep_goes_batch_by_batch_and_leaves_other_keys() {
        let kv = MemoryKv::default();
        for i in 0..SWEEP_BATCH + 5 {
            kv.increment(&format!("rl:s:1:c{i:05}:0"), 1).unwrap();
        }
        kv.set("cache:version", b"{}").unwrap();
        let all = || {
            let mut k: Vec<String> = kv.counters.lock().unwrap().keys().cloned().collect();
            k.extend(kv.records.lock().unwrap().keys().cloned());
            k
        };
        let first = sweep(&kv, all(), "", 100).unwrap();
        assert_eq!((first.examined, first.deleted), (SWEEP_BATCH, SWEEP_BATCH));
        let after = parse_sweep_cursor(first.next.as_deref().unwrap()).unwrap();
        let second = sweep(&kv, all(), &after, 100).unwrap();
        assert_eq!((second.examined, second.deleted, second.next), (5, 5, None));
        assert_eq!(all(), ["cache:version"]);
    }

    #[test]
    fn lifting_and_sweeping() {
        let kv = MemoryKv::default();
        let q = Quota {
            max: 2,
            window_seconds: 1000,
            ban_seconds: 500,
        };
        for _ in 0..3 {
            check_quota(&kv, "c", q, 10).unwrap();
        }
        assert!(check_quota(&kv, "c", q, 11).unwrap().refusal.is_some());
        let records = kv.records.lock().unwrap().clone();
        let view = running_ban("ban:c", &records["ban:c"], 20).unwrap();
        assert_eq!((view.client.as_str(), view.retry_after), ("c", 490));
        assert!(lift_ban(&kv, "c", q, 20).unwrap());
        let passed = (0..3)
            .filter(|_| check_quota(&kv, "c", q, 21).unwrap().refusal.is_none())
            .count();
        assert_eq!(passed, 2);
        assert!(stale("rl:search-client:30:1.2.3.4:5", None, 30 * 7));
        assert!(!stale("rl:search-client:30:1.2.3.4:6", None, 30 * 7));
        assert!(stale("quota:1000:c:0", None, 2000));
        assert!(!stale("quota:1000:c:1", None, 2000));
        assert!(!stale("other:key", None, 1 << 40));
    }

    #[test]
    fn a_codes_counters_are_stale_an_hour_after_its_expiry() {
        use crate::accounts::otp::{issue, verify, Issue, OtpRules};
        let kv = MemoryKv::default();
        let rules = OtpRules {
            ttl_seconds: 600,
            max_attempts: 5,
            cooldown_seconds: 0,
        };
        let issued = issue(
            &kv,
            b"s",
            &rules,
            "a@b.org",
            1000,
            "123456".into(),
            "i".into(),
        );
        let Ok(Issue::Send(code)) = issued else {
            panic!("not issued")
        };
        assert!(verify(&kv, b"s", &rules, "a@b.org", &code, 1001).unwrap());
        let counters: Vec<String> = kv.counters.lock().unwrap().keys().cloned().collect();
        assert_eq!(counters.len(), 2, "{counters:?}");
        for key in &counters {
            assert!(!stale(key, None, 1600 + 3600), "{key}");
            assert!(stale(key, None, 1600 + 3601), "{key}");
        }
    }

    #[test]
    fn sweep_cursors_round_trip() {
        for key in ["", "quota:86400:::1:3", "rl:x:1:a b&c=d#+%:9", "ban:é"] {
            let cursor = sweep_cursor(key);
            assert!(cursor.bytes().all(|b| b.is_ascii_hexdigit()), "{cursor}");
            assert_eq!(parse_sweep_cursor(&cursor).as_deref(), Some(key));
        }
        for bad in ["a", "zz", "ff", "é0"] {
            assert_eq!(parse_sweep_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_keys() {
        assert_eq!(client_key("10.0.0.1:5555", Some("6.6.6.6"), 0), "10.0.0.1");
        assert_eq!(client_key("[::1]:5555", None, 0), "::1");
        // One trusted proxy appends the real client: forged entries on the left change nothing.
        assert_eq!(
            client_key("10.0.0.1:1", Some("6.6.6.6, 203.0.113.9"), 1),
            "203.0.113.9"
        );
        assert_eq!(
            client_key("10.0.0.1:1", Some("1.1.1.1, 6.6.6.6, 203.0.113.9"), 1),
            "203.0.113.9"
        );
        assert_eq!(client_key("10.0.0.1:1", Some("a, b, c"), 2), "b");
        assert_eq!(client_key("10.0.0.1:1", None, 1), "10.0.0.1");
    }

    #[test]
    fn store_down_is_an_error() {
        let kv = MemoryKv::default();
        kv.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let limit = Limit {
            rate: 1.0,
            burst: 1,
        };
        assert_eq!(check_limit(&kv, "s", "c", limit, 1), Err(StoreDown));
        let q = Quota {
            max: 1,
            window_seconds: 10,
            ban_seconds: 10,
        };
        assert_eq!(check_quota(&kv, "c", q, 1), Err(StoreDown));
    }
}
