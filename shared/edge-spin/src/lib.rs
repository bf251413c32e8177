//! Glue between `edge-core` and spin-sdk, so each component stays a few lines.

use edge_core::api::JsonReply;
use spin_sdk::http::Response;

/// Turns a reply into a Spin response with a JSON content type.
pub fn respond(reply: JsonReply) -> Response {
    Response::builder()
        .status(reply.status)
        .header("content-type", "application/json; charset=utf-8")
        .body(reply.body)
        .build()
}
