//! GET and POST /search and GET /id/{id}: request model, Elasticsearch query, response.

pub mod dates;
pub mod error;
pub mod fields;
pub mod person;
pub mod query;
pub mod request;
mod tree;

use crate::api::JsonReply;
use error::SearchError;
use fields::Param;
use request::SearchRequest;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub use query::{id_call, search_call, EsCall};
pub use request::{decode_query, from_body, from_query};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// GET /search from its raw query string.
pub fn parse_get(raw_query: &str) -> Result<SearchRequest, SearchError> {
    from_query(&decode_query(raw_query)?)
}

/// `/id/{id}`: ids are 12 characters of `[A-Za-z0-9_-]` (**FIX**: others never reach ES).
pub fn check_id(id: &str) -> Result<(), SearchError> {
    let ok = id.len() == 12
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then_some(()).ok_or(SearchError::InvalidId)
}

/// The API answer for an Elasticsearch search answer (its raw JSON); `None` when that
/// answer is not the shape Elasticsearch gives (treated as an upstream failure).
pub fn search_reply(req: &SearchRequest, es: &[u8]) -> Option<JsonReply> {
    // Checked as UTF-8 once here, rather than string by string while parsing.
    let es = std::str::from_utf8(es).ok()?;
    let answer: person::EsAnswer = serde_json::from_str(es).ok()?;
    let total: Value = match answer.hits.total {
        Some(raw) => match serde_json::from_str::<Value>(raw.get()).ok()? {
            Value::Object(t) => t.get("value")?.clone(),
            n @ Value::Number(_) => n,
            _ => return None,
        },
        None => return None,
    };
    let persons: Vec<person::Person> = answer
        .hits
        .hits
        .iter()
        .map(person::Person::from_hit)
        .collect();
    let body = Reply {
        request: echo(req),
        response: Response {
            total,
            max_score: answer.hits.max_score,
            size: req.size,
            page: req.page,
            delay: answer.took,
            persons,
            scroll_id: answer.scroll_id,
        },
    };
    let text = serde_json::to_string(&body).ok()?;
    Some(JsonReply {
        status: 200,
        body: text,
        headers: Vec::new(),
    })
}

#[derive(Serialize)]
struct Reply<'a> {
    request: Value,
    response: Response<'a>,
}

#[derive(Serialize)]
struct Response<'a> {
    total: Value,
    #[serde(rename = "maxScoreES", serialize_with = "raw_or_null")]
    max_score: Option<&'a RawValue>,
    size: i64,
    page: i64,
    #[serde(serialize_with = "raw_or_zero")]
    delay: Option<&'a RawValue>,
    persons: Vec<person::Person<'a>>,
    #[serde(rename = "scrollId", skip_serializing_if = "Option::is_none")]
    scroll_id: Option<std::borrow::Cow<'a, str>>,
}

fn raw_or_null<S: serde::Serializer>(v: &Option<&RawValue>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(raw) => raw.serialize(s),
        None => s.serialize_unit(),
    }
}

fn raw_or_zero<S: serde::Serializer>(v: &Option<&RawValue>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(raw) => raw.serialize(s),
        None => s.serialize_u8(0),
    }
}

/// The request as the original echoed it: `sort` always, the fields set, `q` as
/// `fullText`, `lastSeenAliveDate` already turned into a `deathDate` limit.
fn echo(req: &SearchRequest) -> Value {
    let mut out = Map::new();
    out.insert("sort".into(), req.sort_given.clone());
    // `fuzzy: false` (a boolean) was falsy to the original, which left it out of the echo.
    let mut fuzzy = req.fuzzy_given.clone().filter(|f| f != &Value::Bool(false));
    for (p, v) in &req.values {
        if *p != Param::Source {
            if let Some(f) = fuzzy.take() {
                out.insert("fuzzy".into(), f);
            }
        }
        let name = if *p == Param::Q { "fullText" } else { p.name() };
        out.insert(name.into(), v.clone());
    }
    if let Some(f) = fuzzy {
        out.insert("fuzzy".into(), f);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        assert!(check_id("pQet0sYyrNsf").is_ok());
        assert!(check_id("Eu8-Fb2RF8HU").is_ok());
        for bad in ["", "short", "../../etc/pa", "pQet0sYyrNsf0", "pQet0sYyrNs%"] {
            assert_eq!(check_id(bad), Err(SearchError::InvalidId), "{bad}");
        }
    }

    #[test]
    fn reply_shape() {
        let req = parse_get("q=Dupont&source=2020-m01&fuzzy=false").unwrap();
        let es = json!({"took": 7, "_scroll_id": "abc", "hits": {"total": {"value": 1},
            "max_score": 2.5, "hits": [{"_score": 2.5, "_source": {"UID": "x"}}]}});
        let es = es.to_string().into_bytes();
        let body: Value = serde_json::from_str(&search_reply(&req, &es).unwrap().body).unwrap();
        assert_eq!(
            body["request"],
            json!({"sort": [{"score": "desc"}], "source": "2020-m01", "fuzzy": "false",
                   "fullText": "Dupont"})
        );
        let keys: Vec<&String> = body["request"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["sort", "source", "fuzzy", "fullText"]);
        assert_eq!(body["response"]["total"], 1);
        assert_eq!(body["response"]["delay"], 7);
        assert_eq!(body["response"]["scrollId"], "abc");
        assert_eq!(body["response"]["persons"][0]["id"], "x");
        assert!(search_reply(&req, br#"{"error": "x"}"#).is_none());
        assert!(search_reply(&req, b"not json").is_none());

        let req = from_body(br#"{"lastName": "A", "fuzzy": false, "birthDate": 1935}"#).unwrap();
        assert!(!req.fuzzy);
        let body: Value = serde_json::from_str(&search_reply(&req, &es).unwrap().body).unwrap();
        assert_eq!(
            body["request"],
            json!({"sort": [{"score": "desc"}], "lastName": "A", "birthDate": "1935"})
        );
        assert_eq!(
            from_body(br#"{"deathAge": 0}"#).unwrap_err(),
            SearchError::EmptyRequest
        );
    }
}
