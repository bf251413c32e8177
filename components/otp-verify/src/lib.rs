//! The one-time-code verify component: POST /auth (code, admin or static user → token) and
//! GET /auth (token check, `?refresh=true` to renew). Logic: `edge-core`.

use edge_core::accounts;
use edge_core::api::{self, JsonReply};
use edge_core::limits::Family;
use edge_core::search::MAX_BODY_BYTES;
use edge_core::{cors, search};
use edge_spin::accounts::{config, SpinKv};
use edge_spin::{header, limits, now_seconds, respond, variable, with_headers};
use spin_sdk::http::{IntoResponse, Method, Request};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let origins = variable("cors_allowed_origins", "*");
    let origin = header(&req, "origin");
    if *req.method() == Method::Options {
        let asked = header(&req, "access-control-request-headers");
        return Ok(respond(cors::preflight(&origins, origin, asked)));
    }
    // The rate-limit decision comes first; a refused request does nothing else.
    let path = api::api_path(req.path()).unwrap_or("");
    let mut headers = Vec::new();
    if let Some(family) = Family::of(path) {
        match limits::gate(&req, family, false) {
            Ok(h) => headers = h,
            Err(refusal) => return Ok(respond(cors::decorate(refusal, &origins, origin))),
        }
    }
    let reply = match (req.method(), api::api_path(req.path())) {
        (Method::Post, Some("/auth")) => login(&req),
        (Method::Get, Some("/auth")) => check(&req),
        (_, Some("/auth")) => api::method_not_allowed(),
        _ => api::route_not_found(),
    };
    Ok(respond(cors::decorate(
        with_headers(reply, headers),
        &origins,
        origin,
    )))
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
    accounts::check(&cfg, header(req, "authorization"), refresh, now_seconds())
}
