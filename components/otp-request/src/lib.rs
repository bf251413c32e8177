//! The one-time-code request component: POST /register, and the development outbox
//! (`GET /dev/outbox?user=<email>`, only with `dev_routes = true`). Logic: `edge-core`.

use edge_core::accounts::{self, kv::Kv, Mailer, Outbox};
use edge_core::api::{self, JsonReply};
use edge_core::search;
use edge_core::search::MAX_BODY_BYTES;
use edge_spin::accounts::{config, new_code, HttpMailer, SpinKv};
use edge_spin::{now_seconds, variable};
use edge_spin::{Request, ResponseOutparam};
use spin_sdk::http::Method;
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request, out: ResponseOutparam) {
    edge_spin::serve(&req, out, route);
}

fn route(req: &Request) -> JsonReply {
    match (req.method(), api::api_path(req.path())) {
        (Method::Post, Some("/register")) => register(req),
        (_, Some("/register")) => api::method_not_allowed(),
        (Method::Get, Some("/dev/outbox")) if variable("dev_routes", "false") == "true" => {
            outbox(req)
        }
        _ => api::route_not_found(),
    }
}

fn register(req: &Request) -> JsonReply {
    if req.body().len() > MAX_BODY_BYTES {
        return api::payload_too_large();
    }
    let Some(cfg) = config() else {
        return accounts::unavailable();
    };
    let kv = match SpinKv::open() {
        Ok(kv) => kv,
        Err(_) => return accounts::unavailable(),
    };
    let mut outbox;
    let mut http;
    let mailer: &mut dyn Mailer = if variable("mail_mode", "outbox") == "http" {
        http = HttpMailer::from_variables();
        &mut http
    } else {
        outbox = Outbox(&kv as &dyn Kv);
        &mut outbox
    };
    let reply = accounts::register(&cfg, &kv, mailer, req.body(), now_seconds(), new_code);
    if reply.status == 200 && reply.body.contains("\"valid\":false") {
        edge_spin::log!("register: code not sent");
    }
    reply
}

fn outbox(req: &Request) -> JsonReply {
    let user = search::decode_query(req.query())
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "user").map(|(_, v)| v))
        .unwrap_or_default();
    match SpinKv::open() {
        Ok(kv) => accounts::outbox_reply(&kv, &user),
        Err(_) => accounts::unavailable(),
    }
}
