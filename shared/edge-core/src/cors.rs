//! CORS: browsers on the allowed origins (variable `cors_allowed_origins`: `*` or a
//! comma-separated list) may call the API.

use crate::api::JsonReply;

const METHODS: &str = "GET, POST, DELETE, OPTIONS";
const DEFAULT_HEADERS: &str = "authorization, content-type";
const EXPOSED: &str = "retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset";

/// The `Access-Control-Allow-Origin` value for a request from `origin`, if it may have one.
pub fn allowed_origin(config: &str, origin: Option<&str>) -> Option<String> {
    let config = config.trim();
    if config == "*" {
        return Some("*".into());
    }
    let origin = origin?;
    config
        .split(',')
        .map(str::trim)
        .any(|o| !o.is_empty() && o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

/// Adds the CORS headers an answer carries.
pub fn decorate(reply: JsonReply, config: &str, origin: Option<&str>) -> JsonReply {
    match allowed_origin(config, origin) {
        Some(allowed) => {
            let vary = allowed != "*";
            let reply = reply
                .with_header("access-control-allow-origin", allowed)
                .with_header("access-control-expose-headers", EXPOSED);
            if vary {
                reply.with_header("vary", "Origin")
            } else {
                reply
            }
        }
        None => reply,
    }
}

/// The answer to a preflight `OPTIONS` request.
pub fn preflight(config: &str, origin: Option<&str>, requested_headers: Option<&str>) -> JsonReply {
    let reply = JsonReply {
        status: 204,
        body: String::new(),
        headers: Vec::new(),
    };
    if allowed_origin(config, origin).is_none() {
        return reply;
    }
    let headers = requested_headers
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic() || b == b' ') && h.len() < 1024)
        .unwrap_or(DEFAULT_HEADERS);
    decorate(reply, config, origin)
        .with_header("access-control-allow-methods", METHODS)
        .with_header("access-control-allow-headers", headers)
        .with_header("access-control-max-age", "86400")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_allows_everyone() {
        assert_eq!(allowed_origin("*", None).as_deref(), Some("*"));
        assert_eq!(
            allowed_origin("*", Some("https://x.test")).as_deref(),
            Some("*")
        );
    }

    #[test]
    fn lists_allow_only_their_origins() {
        let cfg = "https://deces.matchid.io, https://ui.test";
        assert_eq!(
            allowed_origin(cfg, Some("https://ui.test")).as_deref(),
            Some("https://ui.test")
        );
        assert_eq!(allowed_origin(cfg, Some("https://evil.test")), None);
        assert_eq!(allowed_origin(cfg, None), None);
        let r = decorate(
            JsonReply::new(200, serde_json::json!({})),
            cfg,
            Some("https://ui.test"),
        );
        assert_eq!(r.header("vary"), Some("Origin"));
    }

    #[test]
    fn preflight_answers() {
        let r = preflight("*", Some("https://x.test"), Some("authorization"));
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("authorization")
        );
        let r = preflight("https://a.test", Some("https://b.test"), None);
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
}
