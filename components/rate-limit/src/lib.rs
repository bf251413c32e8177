//! The operators' rate-limit routes (admin token): `GET /ratelimit/bans` lists the current
//! bans, `DELETE /ratelimit/bans/{client-key}` lifts one, `POST /ratelimit/sweep` deletes
//! stale counters and expired records in bounded batches. Logic: `edge-core`.

use edge_core::api::{self, JsonReply};
use edge_core::limits;
use edge_core::{accounts, search, token};
use edge_spin::accounts::SpinKv;
use edge_spin::{limits as gate, now_seconds, variable};
use edge_spin::{Request, ResponseOutparam};
use serde_json::json;
use spin_sdk::http::Method;
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
fn handle(req: Request, out: ResponseOutparam) {
    edge_spin::serve(&req, out, |req| match admin(req) {
        Err(refusal) => refusal,
        Ok(()) => route(req),
    });
}

/// Every route here needs an admin token.
fn admin(req: &Request) -> Result<(), JsonReply> {
    let secret = variable("token_secret", "");
    if secret.is_empty() {
        edge_spin::log!("rate-limit routes off: the token_secret variable is empty");
        return Err(accounts::unavailable());
    }
    let authorization = req.header("authorization");
    let t = token::bearer(authorization.as_deref())
        .and_then(|t| t.ok_or(token::TokenError::NoToken))
        .map_err(|e| e.reply())?;
    token::verify(t, secret.as_bytes(), now_seconds(), "admin")
        .map(|_| ())
        .map_err(|e| e.reply())
}

fn route(req: &Request) -> JsonReply {
    let path = api::api_path(req.path()).unwrap_or("");
    match (req.method(), path) {
        (Method::Get, "/ratelimit/bans") => bans(),
        (Method::Delete, p) if p.starts_with("/ratelimit/bans/") => {
            let raw = &p["/ratelimit/bans/".len()..];
            let client = search::decode_query(&format!("c={raw}"))
                .ok()
                .and_then(|mut pairs| pairs.pop())
                .map(|(_, v)| v)
                .unwrap_or_default();
            lift(&client)
        }
        (Method::Post, "/ratelimit/sweep") => {
            let cursor = search::decode_query(req.query())
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| k == "after")
                .map(|(_, v)| v)
                .unwrap_or_default();
            match limits::parse_sweep_cursor(&cursor) {
                Some(after) => sweep(&after),
                None => JsonReply::new(400, json!({ "msg": "invalid sweep cursor" })),
            }
        }
        (_, "/ratelimit/bans" | "/ratelimit/sweep") => api::method_not_allowed(),
        _ => api::route_not_found(),
    }
}

fn bans() -> JsonReply {
    let (Ok(store), now) = (Store::open_default(), now_seconds()) else {
        return accounts::unavailable();
    };
    let Ok(keys) = store.get_keys() else {
        return accounts::unavailable();
    };
    let mut list = Vec::new();
    for key in keys.iter().filter(|k| k.starts_with("ban:")) {
        if let Ok(Some(bytes)) = store.get(key) {
            if let Some(view) = limits::running_ban(key, &bytes, now) {
                list.push(view);
            }
        }
    }
    JsonReply::new(200, json!(list))
}

fn lift(client: &str) -> JsonReply {
    if client.is_empty() {
        return api::route_not_found();
    }
    let Ok(kv) = SpinKv::open() else {
        return accounts::unavailable();
    };
    match limits::lift_ban(&kv, client, gate::quota(), now_seconds()) {
        Ok(true) => JsonReply::new(200, json!({ "msg": "ban lifted", "client": client })),
        Ok(false) => JsonReply::new(404, json!({ "msg": "no such ban", "client": client })),
        Err(_) => accounts::unavailable(),
    }
}

/// One sweep call (`limits::sweep`) over every key of the store.
fn sweep(after: &str) -> JsonReply {
    let (Ok(store), Ok(kv)) = (Store::open_default(), SpinKv::open()) else {
        return accounts::unavailable();
    };
    let Ok(keys) = store.get_keys() else {
        return accounts::unavailable();
    };
    match limits::sweep(&kv, keys, after, now_seconds()) {
        Ok(report) => report.reply(),
        Err(_) => accounts::unavailable(),
    }
}
