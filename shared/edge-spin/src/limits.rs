//! The rate-limit decision each component runs first (architecture.md): per-client and
//! global limits for the route's family, and the anonymous search quota, over the shared
//! store's atomic counters. Settings come from variables.

use crate::accounts::SpinKv;
use crate::{now_seconds, number_variable, variable, Request};
use edge_core::accounts;
use edge_core::api::JsonReply;
use edge_core::limits::{self, Family, Limit, Quota};
use serde_json::json;

/// Defaults from the production front (api.md section 5): per client, then global.
fn defaults(f: Family) -> (Limit, Limit) {
    let l = |rate, burst| Limit { rate, burst };
    match f {
        Family::Search => (l(1.0, 30), l(20.0, 400)),
        Family::Agg => (l(0.5, 15), l(1.0, 15)),
        Family::Accounts | Family::Other => (l(2.0, 7), l(5.0, 40)),
        Family::Bulk => (l(0.0, 0), l(4.0 / 60.0, 4)),
    }
}

fn limit(f: Family, which: &str, default: Limit) -> Limit {
    let name = f.name();
    let rate = variable(&format!("{name}_rate_{which}"), &default.rate.to_string());
    let burst = variable(&format!("{name}_burst_{which}"), &default.burst.to_string());
    Limit {
        rate: rate.trim().parse().unwrap_or(default.rate),
        burst: burst.trim().parse().unwrap_or(default.burst),
    }
}

pub fn quota() -> Quota {
    Quota {
        max: number_variable("anonymous_quota_max", 300) as i64,
        window_seconds: number_variable("anonymous_quota_window_seconds", 86_400),
        ban_seconds: number_variable("anonymous_ban_seconds", 14_400),
    }
}

/// The client's key, from the peer address and the trusted proxies' X-Forwarded-For.
pub fn client(req: &Request) -> String {
    limits::client_key(
        req.header("spin-client-addr")
            .as_deref()
            .unwrap_or("unknown"),
        req.header("x-forwarded-for").as_deref(),
        number_variable("trusted_proxies", 0) as usize,
    )
}

/// Runs the decision: the headers to add to the answer, or the answer itself.
pub fn gate(
    req: &Request,
    family: Family,
    anonymous_search: bool,
) -> Result<Vec<(String, String)>, JsonReply> {
    match decide(req, family, anonymous_search) {
        Ok(outcome) => outcome,
        Err(limits_store_down) => {
            crate::log!("rate limits: store unavailable ({limits_store_down})");
            if family == Family::Accounts {
                return Err(accounts::unavailable());
            }
            if variable("rate_limit_on_store_error", "deny") == "allow" {
                Ok(Vec::new())
            } else {
                Err(
                    JsonReply::new(503, json!({ "msg": "Service temporairement indisponible" }))
                        .with_header("retry-after", "5"),
                )
            }
        }
    }
}

type Decision = Result<Vec<(String, String)>, JsonReply>;

fn decide(req: &Request, family: Family, anonymous_search: bool) -> Result<Decision, &'static str> {
    let (client_default, global_default) = defaults(family);
    let per_client = limit(family, "per_client", client_default);
    let global = limit(family, "global", global_default);
    // The quota's settings are read only for the requests it can apply to.
    let quota = anonymous_search.then(quota).filter(|q| q.max > 0);
    if per_client.off() && global.off() && quota.is_none() {
        return Ok(Ok(Vec::new()));
    }
    let kv = SpinKv::open().map_err(|_| "open")?;
    let now = now_seconds();
    let who = client(req);
    let name = family.name();
    let mine = limits::check_limit(&kv, &format!("{name}-client"), &who, per_client, now)
        .map_err(|_| "per-client limit")?;
    if let Some(refusal) = mine.refusal {
        return Ok(Err(refusal));
    }
    let all = limits::check_limit(&kv, &format!("{name}-global"), "*", global, now)
        .map_err(|_| "global limit")?;
    if let Some(refusal) = all.refusal {
        return Ok(Err(refusal));
    }
    if let Some(quota) = quota {
        let q = limits::check_quota(&kv, &who, quota, now).map_err(|_| "quota")?;
        if let Some(mut refusal) = q.refusal {
            refusal.headers.extend(mine.headers);
            return Ok(Err(refusal));
        }
    }
    Ok(Ok(mine.headers))
}
