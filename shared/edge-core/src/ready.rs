//! GET /ready: whether this replica can serve, as opposed to `/healthcheck` (alive). Ready
//! when the key-value store answers a round trip and the configured search backend
//! answers; otherwise 503 naming the part that fails. The backend's answer is kept for a
//! second (in the store) so a probe every few seconds, or many at once, costs one check.

use crate::api::JsonReply;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where the backend's last answer is kept.
pub const CACHE_KEY: &str = "ready:search";
/// The key the store's round trip writes and reads back.
pub const PROBE_KEY: &str = "ready:probe";

/// How a part fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    /// The part does not answer (or answers with an error).
    Down,
    /// The search backend answers but has no record to search (nothing imported).
    Empty,
}

/// The search backend's state as checked at `at` (whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cached {
    pub at: u64,
    pub search: State,
}

impl Cached {
    /// Still good at `now` (the same second).
    pub fn fresh(&self, now: u64) -> bool {
        self.at == now
    }
}

/// The answer: 200 when both parts are ok, else 503 (with `Retry-After`).
pub fn reply(store: State, search: State) -> JsonReply {
    let ready = store == State::Ok && search == State::Ok;
    let reply = JsonReply::new(
        if ready { 200 } else { 503 },
        json!({ "store": store, "search": search }),
    );
    if ready {
        reply
    } else {
        reply.with_header("retry-after", "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_both_parts_are() {
        let r = reply(State::Ok, State::Ok);
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, r#"{"store":"ok","search":"ok"}"#)
        );
        assert_eq!(r.header("retry-after"), None);
        let r = reply(State::Down, State::Ok);
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, r#"{"store":"down","search":"ok"}"#)
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        let r = reply(State::Ok, State::Empty);
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, r#"{"store":"ok","search":"empty"}"#)
        );
        assert!(Cached {
            at: 7,
            search: State::Ok
        }
        .fresh(7));
        assert!(!Cached {
            at: 7,
            search: State::Ok
        }
        .fresh(8));
    }
}
