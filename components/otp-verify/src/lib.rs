//! The one-time-code verify component: POST /auth (code, admin or static user → token) and
//! GET /auth (token check, `?refresh=true` to renew). Logic: `edge-core`.

use edge_core::accounts;
use edge_core::api::{self, JsonReply};
use edge_core::search;
use edge_core::search::MAX_BODY_BYTES;
use edge_spin::accounts::{config, SpinKv};
use edge_spin::now_seconds;
use edge_spin::{Request, ResponseOutparam};
use spin_sdk::http::Method;
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request, out: ResponseOutparam) {
    edge_spin::serve(&req, out, route);
}

fn route(req: &Request) -> JsonReply {
    match (req.method(), api::api_path(req.path())) {
        (Method::Post, Some("/auth")) => login(req),
        (Method::Get, Some("/auth")) => check(req),
        (_, Some("/auth")) => api::method_not_allowed(),
        _ => api::route_not_found(),
    }
}

fn login(req: &Request) -> JsonReply {
    if req.body().len() > MAX_BODY_BYTES {
        return api::payload_too_large();
    }
    let Some(cfg) = config() else {
        return accounts::unavailable();
    };
    match SpinKv::open() {
        Ok(kv) => accounts::login(&cfg, &kv, req.body(), now_seconds()),
        Err(_) => accounts::unavailable(),
    }
}

fn check(req: &Request) -> JsonReply {
    let Some(cfg) = config() else {
        return accounts::unavailable();
    };
    let refresh = search::decode_query(req.query())
        .map(|pairs| pairs.iter().any(|(k, v)| k == "refresh" && v == "true"))
        .unwrap_or(false);
    accounts::check(
        &cfg,
        req.header("authorization").as_deref(),
        refresh,
        now_seconds(),
    )
}
