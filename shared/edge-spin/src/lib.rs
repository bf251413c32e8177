//! Glue between `edge-core` and spin-sdk, so each component stays a few lines.

pub mod accounts;
pub mod http;
pub mod limits;
pub mod outbound;
pub mod sqlite;

pub use http::{Request, ResponseOutparam};

use edge_core::api::{self, JsonReply};
use edge_core::cors;
use edge_core::limits::Family;
use spin_sdk::http::Method;

#[cfg(target_arch = "wasm32")]
mod heap;

/// Every component links this crate, so all of them use this allocator (see `heap`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: heap::Heap = heap::heap();

/// The request's id (`x-request-id`, which the host sets on every request), for log lines.
static REQUEST_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The id of the request this instance serves (`-` when it came without one).
pub fn request_id() -> &'static str {
    REQUEST_ID.get().map_or("-", String::as_str)
}

/// A line on the component's standard error, tagged with the request's id so the host's
/// log line of the same request can be found: `[<id>] <message>`.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("[{}] {}", $crate::request_id(), format_args!($($arg)*))
    };
}

/// Every component's frame: the CORS preflight, then the rate-limit decision (a refused
/// request does nothing else), then the route; CORS and limit headers on the answer.
pub fn serve(req: &Request, out: ResponseOutparam, route: impl FnOnce(&Request) -> JsonReply) {
    if let Some(id) = req.header("x-request-id") {
        let _ = REQUEST_ID.set(id);
    }
    http::send(out, reply(req, route));
}

fn reply(req: &Request, route: impl FnOnce(&Request) -> JsonReply) -> JsonReply {
    let origins = variable("cors_allowed_origins", "*");
    let origin = req.header("origin");
    let origin = origin.as_deref();
    if *req.method() == Method::Options {
        let asked = req.header("access-control-request-headers");
        return cors::preflight(&origins, origin, asked.as_deref());
    }
    let mut headers = Vec::new();
    if let Some(family) = Family::of(api::api_path(req.path()).unwrap_or("")) {
        let anonymous_search = family == Family::Search && req.header("authorization").is_none();
        match limits::gate(req, family, anonymous_search) {
            Ok(h) => headers = h,
            Err(refusal) => return cors::decorate(refusal, &origins, origin),
        }
    }
    cors::decorate(with_headers(route(req), headers), &origins, origin)
}

/// Adds headers to a reply.
pub fn with_headers(mut reply: JsonReply, headers: Vec<(String, String)>) -> JsonReply {
    reply.headers.extend(headers);
    reply
}

/// A variable, or `default` when it is unset or unreadable.
pub fn variable(name: &str, default: &str) -> String {
    spin_sdk::variables::get(name).unwrap_or_else(|_| default.to_string())
}

/// A whole-number variable, or `default` when it is unset or not a number.
pub fn number_variable(name: &str, default: u64) -> u64 {
    variable(name, &default.to_string())
        .trim()
        .parse()
        .unwrap_or(default)
}

/// Seconds since the epoch.
pub fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
