//! Every way a search request is refused, and the one place each becomes a status and body.

use crate::api::JsonReply;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum SearchError {
    /// Nothing to search for.
    EmptyRequest,
    /// A POST body key outside the parameter list.
    UnknownField,
    /// Field formats: one message per bad field, in the original's field order.
    Invalid(Vec<String>),
    /// Full text together with structured fields.
    SimpleAndComplex,
    /// `scroll` with a page above 1 or a size of 0.
    ScrollPaging,
    /// size above the limit, or a window reaching past it.
    SizeTooLarge,
    /// The body is not JSON.
    BadJson,
    /// The query string is not UTF-8 once decoded.
    BadEncoding,
    /// Type errors, as the original's framework worded them: path → {message, value}.
    Types(Map<String, Value>),
    /// `/id/{id}` that cannot be an id.
    InvalidId,
    /// /agg without a field to count by.
    MissingAggs,
}

impl SearchError {
    pub fn reply(&self) -> JsonReply {
        let msg = |m: &str| JsonReply::new(400, json!({ "msg": m }));
        match self {
            SearchError::EmptyRequest => msg("error - empty request"),
            SearchError::UnknownField => msg("error - unknown field"),
            SearchError::Invalid(list) => JsonReply::new(400, json!({ "msg": list })),
            SearchError::SimpleAndComplex => {
                msg("error - simple and complex request at the same time")
            }
            SearchError::ScrollPaging => msg("error - page and size 0 are not allowed with scroll"),
            SearchError::SizeTooLarge => msg("error - size too large"),
            SearchError::BadJson => msg("error - bad JSON formating"),
            SearchError::BadEncoding => msg("error - invalid UTF-8 in the query string"),
            SearchError::InvalidId => msg("error - invalid id"),
            SearchError::MissingAggs => msg("error - missing aggs parameter"),
            SearchError::Types(details) => JsonReply::new(
                422,
                json!({ "message": "Validation Failed", "details": details }),
            ),
        }
    }
}

/// One type error entry (`value` left out when there is none, as the original did).
pub fn type_error(message: impl Into<String>, value: Option<&Value>) -> Value {
    let mut entry = Map::new();
    entry.insert("message".into(), Value::String(message.into()));
    if let Some(v) = value {
        entry.insert("value".into(), v.clone());
    }
    Value::Object(entry)
}

/// The message of a value that matched none of a union's types: each member's own error,
/// serialised into the message as the original's framework did.
pub fn union_error(path: &str, members: &[String], value: &Value) -> Value {
    let issues: Vec<Value> = members
        .iter()
        .map(|m| json!({ path: type_error(m.clone(), Some(value)) }))
        .collect();
    let text = format!(
        "Could not match the union against any of the items. Issues: {}",
        Value::Array(issues)
    );
    type_error(text, Some(value))
}

/// The members of an enum, worded per member.
pub fn enum_members(allowed: &[&str]) -> Vec<String> {
    allowed
        .iter()
        .map(|a| format!("should be one of the following; ['{a}']"))
        .collect()
}
