//! Glue between `edge-core` and spin-sdk, so each component stays a few lines.

pub mod accounts;
pub mod limits;
pub mod outbound;

use edge_core::api::JsonReply;
use spin_sdk::http::{Request, Response};

/// Turns a reply into a Spin response with a JSON content type (none for an empty body).
pub fn respond(reply: JsonReply) -> Response {
    let mut builder = Response::builder();
    builder.status(reply.status);
    if !reply.body.is_empty() {
        builder.header("content-type", "application/json; charset=utf-8");
    }
    for (name, value) in reply.headers {
        builder.header(name, value);
    }
    builder.body(reply.body).build()
}

/// Adds headers to a reply.
pub fn with_headers(mut reply: JsonReply, headers: Vec<(String, String)>) -> JsonReply {
    reply.headers.extend(headers);
    reply
}

/// A request header as text.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).and_then(|v| v.as_str())
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
