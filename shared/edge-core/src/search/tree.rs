//! A JSON document assembled from borrowed parts and serialised once: the Elasticsearch
//! bodies. Building them as `serde_json::Value` trees cost an allocation per key and per
//! value, a hash per key, and a round trip through the serialiser for every value put in.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
    Array(Vec<Node<'a>>),
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An array of strings, serialised straight from the slice.
    Strs(&'a [&'a str]),
    /// A JSON value given by the client, passed through as it is.
    Value(&'a Value),
    OwnedValue(Value),
}

impl Node<'_> {
    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        // Room for a search body (about 1-2 KB) from the start.
        let mut out = Vec::with_capacity(2048);
        // Serialising strings, numbers and borrowed values cannot fail, and serde_json
        // writes UTF-8 only.
        match serde_json::to_writer(&mut out, self) {
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Str(text) => s.serialize_str(text),
            Node::Int(n) => s.serialize_i64(*n),
            Node::Float(x) => s.serialize_f64(*x),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Strs(items) => items.serialize(s),
            Node::Value(v) => v.serialize(s),
            Node::OwnedValue(v) => v.serialize(s),
        }
    }
}

impl<'a> From<&'a str> for Node<'a> {
    fn from(s: &'a str) -> Self {
        Node::Str(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Node<'a> {
    fn from(s: &'a String) -> Self {
        Node::Str(Cow::Borrowed(s))
    }
}

impl<'a> From<Cow<'a, str>> for Node<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Node::Str(s)
    }
}

impl From<String> for Node<'_> {
    fn from(s: String) -> Self {
        Node::Str(Cow::Owned(s))
    }
}

impl<'a> From<&'a Value> for Node<'a> {
    fn from(v: &'a Value) -> Self {
        Node::Value(v)
    }
}

impl From<Value> for Node<'_> {
    fn from(v: Value) -> Self {
        Node::OwnedValue(v)
    }
}

impl From<i32> for Node<'_> {
    fn from(n: i32) -> Self {
        Node::Int(n.into())
    }
}

impl From<i64> for Node<'_> {
    fn from(n: i64) -> Self {
        Node::Int(n)
    }
}

impl From<u32> for Node<'_> {
    fn from(n: u32) -> Self {
        Node::Int(n.into())
    }
}

impl From<f64> for Node<'_> {
    fn from(x: f64) -> Self {
        Node::Float(x)
    }
}

impl From<bool> for Node<'_> {
    fn from(b: bool) -> Self {
        Node::Bool(b)
    }
}

impl<'a> From<Vec<Node<'a>>> for Node<'a> {
    fn from(items: Vec<Node<'a>>) -> Self {
        Node::Array(items)
    }
}

impl<'a> From<&'a [&'a str]> for Node<'a> {
    fn from(items: &'a [&'a str]) -> Self {
        Node::Strs(items)
    }
}

/// An object key: a literal, or a field name known at run time.
pub fn key<'a>(k: impl Into<Cow<'a, str>>) -> Cow<'a, str> {
    k.into()
}

/// `serde_json::json!`'s syntax for `Node`s, where each key and each value is one token
/// tree: a literal, a name, a nested `{...}` or `[...]`, or a parenthesised expression.
macro_rules! node {
    ({ $($k:tt : $v:tt),* $(,)? }) => {
        $crate::search::tree::Node::Object(vec![
            $( ($crate::search::tree::key($k), node!($v)) ),*
        ])
    };
    ([ $($v:tt),* $(,)? ]) => {
        $crate::search::tree::Node::Array(vec![ $( node!($v) ),* ])
    };
    ($e:expr) => {
        $crate::search::tree::Node::from($e)
    };
}
pub(crate) use node;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_text_as_serde_json() {
        let field = String::from("NOM.raw");
        let given = json!({"lat": 48.85, "lon": [2, "x"]});
        let doc = node!({
            "bool": {
                "must": [ { "match": { field: "Dupont \"le\" \n" } } ],
                "boost": 0.5,
                "n": (-3i64),
                "two": 2.0,
                "ok": true,
                "given": (&given),
            },
            "empty": {},
            "none": [],
            "names": (&["NOM", "a \"b\"", ""][..]),
        });
        let expected = json!({
            "bool": {
                "must": [ { "match": { "NOM.raw": "Dupont \"le\" \n" } } ],
                "boost": 0.5, "n": -3, "two": 2.0, "ok": true,
                "given": {"lat": 48.85, "lon": [2, "x"]},
            },
            "empty": {}, "none": [], "names": ["NOM", "a \"b\"", ""],
        });
        assert_eq!(doc.to_json(), expected.to_string());
        // The number kinds survive: 2.0 stays a float, -3 an integer.
        let back: Value = serde_json::from_str(&doc.to_json()).unwrap();
        assert_eq!(back, expected);
        assert!(back["bool"]["two"].is_f64());
        assert!(back["bool"]["n"].is_i64());
    }
}
