//! Placeholder: answers a clear JSON 501 until its issue lands.

use edge_core::api;
use edge_spin::respond;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(respond(api::not_implemented()))
}
