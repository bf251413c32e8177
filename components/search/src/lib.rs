//! The search component: /healthcheck now; /search, /id, /version follow.

use edge_core::api;
use edge_spin::respond;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let reply = match api::api_path(req.path()) {
        Some("/healthcheck") => api::healthcheck(),
        _ => api::route_not_found(),
    };
    Ok(respond(reply))
}
