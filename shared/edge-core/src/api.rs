//! The API's fixed surface: its path prefix and the bodies every component answers alike.

/// Every route lives under this prefix.
pub const PREFIX: &str = "/deces/api/v1";

/// A JSON answer: status and body, independent of any HTTP library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonReply {
    pub status: u16,
    pub body: String,
}

impl JsonReply {
    pub fn new(status: u16, body: serde_json::Value) -> Self {
        JsonReply {
            status,
            body: body.to_string(),
        }
    }
}

/// `GET /healthcheck`.
pub fn healthcheck() -> JsonReply {
    JsonReply::new(200, serde_json::json!({ "msg": "OK" }))
}

/// Any path under the prefix that no route serves (the original's wording).
pub fn route_not_found() -> JsonReply {
    JsonReply::new(404, serde_json::json!({ "message": "Route not found" }))
}

/// A route whose component is not written yet.
pub fn not_implemented() -> JsonReply {
    JsonReply::new(501, serde_json::json!({ "msg": "Not implemented yet" }))
}

/// The path below the prefix, or `None` when the path is outside the API.
pub fn api_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(PREFIX)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_prefix() {
        assert_eq!(api_path("/deces/api/v1/healthcheck"), Some("/healthcheck"));
        assert_eq!(api_path("/deces/api/v1"), Some(""));
        assert_eq!(api_path("/deces/api/v10/x"), None);
        assert_eq!(api_path("/other"), None);
    }

    #[test]
    fn fixed_bodies() {
        assert_eq!(healthcheck().body, r#"{"msg":"OK"}"#);
        assert_eq!(route_not_found().status, 404);
        assert_eq!(route_not_found().body, r#"{"message":"Route not found"}"#);
    }
}
