//! The API's fixed surface: its path prefix and the bodies every component answers alike.

/// Every route lives under this prefix.
pub const PREFIX: &str = "/deces/api/v1";

/// A JSON answer: status and body, independent of any HTTP library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonReply {
    pub status: u16,
    pub body: String,
    /// Headers beyond the JSON content type (`Retry-After`, CORS, ...).
    pub headers: Vec<(String, String)>,
}

impl JsonReply {
    pub fn new(status: u16, body: serde_json::Value) -> Self {
        JsonReply {
            status,
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `405` for a method a route does not serve.
pub fn method_not_allowed() -> JsonReply {
    JsonReply::new(
        405,
        serde_json::json!({ "msg": "error - method not allowed" }),
    )
}

/// `413` for a body above the limit.
pub fn payload_too_large() -> JsonReply {
    JsonReply::new(413, serde_json::json!({ "msg": "Payload Too Large" }))
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
