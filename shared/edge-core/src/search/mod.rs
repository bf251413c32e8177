//! GET and POST /search and GET /id/{id}: request model, Elasticsearch query, response.

pub mod agg;
pub mod csv;
pub mod dates;
pub mod error;
pub mod fields;
pub mod person;
pub mod query;
pub mod request;
mod scan;
mod tree;
mod write;

use crate::api::JsonReply;
use crate::score::place::CommuneLookup;
use error::SearchError;
use fields::Param;
use request::SearchRequest;
use serde_json::{Map, Value};
use write::{key, Object};

pub use query::{agg_call, id_call, search_call, EsCall};
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
    search_reply_with(req, es, None)
}

/// [`search_reply`], the matching score finding communes in `communes` (scoring.md 8.5).
pub fn search_reply_with(
    req: &SearchRequest,
    es: &[u8],
    communes: Option<&dyn CommuneLookup>,
) -> Option<JsonReply> {
    // Checked as UTF-8 once here, rather than string by string while parsing.
    let es = std::str::from_utf8(es).ok()?;
    let answer = person::EsAnswer::read(es)?;
    let total: Value = match answer.hits.total {
        Some(raw) => match serde_json::from_str::<Value>(raw).ok()? {
            Value::Object(t) => t.get("value")?.clone(),
            n @ Value::Number(_) => n,
            _ => return None,
        },
        None => return None,
    };
    let mut text = String::with_capacity(es.len() + 1024);
    let mut reply = Object::new(&mut text);
    let echo = echo(req);
    write::value(reply.key(key!("request")), &echo);
    let mut response = reply.object(key!("response"));
    write::value(response.key(key!("total")), &total);
    let max_score = answer.hits.max_score.unwrap_or("null");
    response.key(key!("maxScoreES")).push_str(max_score);
    write::value(response.key(key!("size")), &req.size);
    write::value(response.key(key!("page")), &req.page);
    let delay = answer.took.unwrap_or("0");
    response.key(key!("delay")).push_str(delay);
    let persons: Vec<person::Person> = answer
        .hits
        .hits
        .iter()
        .map(person::Person::from_hit)
        .collect();
    let scored = score_persons(req, &echo, &persons, communes);
    write::array(response.key(key!("persons")), &scored, |out, (i, s)| {
        persons[*i].write(out, s)
    });
    if let Some(id) = &answer.scroll_id {
        write::string(response.key(key!("scrollId")), id);
    }
    response.end();
    reply.end();
    Some(JsonReply {
        status: 200,
        body: text,
        headers: Vec::new(),
    })
}

/// A search or id answer with each person's `links` (the Wikidata links a deployment
/// loaded, `lookup` by person id) added last; `None` when the body is not such an answer.
pub fn with_links(body: &str, mut lookup: impl FnMut(&str) -> Option<Value>) -> Option<String> {
    let mut answer: Value = serde_json::from_str(body).ok()?;
    let persons = answer
        .get_mut("response")?
        .get_mut("persons")?
        .as_array_mut()?;
    for person in persons.iter_mut() {
        let Some(id) = person.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        if let (Some(links), Some(p)) = (lookup(&id), person.as_object_mut()) {
            p.insert("links".into(), links);
        }
    }
    Some(answer.to_string())
}

/// The persons' matching scores against the request (its echo, as the original read
/// it), with their places in the answer: re-sorted by score when the sort's first key is
/// `score` (**FIX**: for a GET too, whose sort comes as JSON text), else in the order the
/// backend gave. Without the matching score (`req.matching_score` off), the backend's part
/// and order only.
fn score_persons(
    req: &SearchRequest,
    echo: &Value,
    persons: &[person::Person],
    communes: Option<&dyn CommuneLookup>,
) -> Vec<(usize, crate::score::Scored)> {
    if !req.matching_score {
        return persons
            .iter()
            .enumerate()
            .map(|(i, p)| (i, crate::score::backend_part(p.es_score)))
            .collect();
    }
    let empty = Map::new();
    let request = echo.as_object().unwrap_or(&empty);
    let hits: Vec<_> = persons.iter().map(|p| (p.scoring(), p.es_score)).collect();
    let params = crate::score::Params::default();
    let scored = crate::score::score_results(request, &hits, &params, 1.0, communes);
    let mut out: Vec<_> = scored.into_iter().enumerate().collect();
    if let Some((key, order)) = req.sort.first() {
        if key == "score" {
            let value = |s: &crate::score::Scored| s.score.unwrap_or(0.0);
            // Stable: equal scores keep the backend's order.
            out.sort_by(|(_, a), (_, b)| {
                let ord = value(a).total_cmp(&value(b));
                if order == "asc" {
                    ord
                } else {
                    ord.reverse()
                }
            });
        }
    }
    out
}

/// The request as the original echoed it: `sort` always, the fields set, `q` as
/// `fullText`, `lastSeenAliveDate` already turned into a `deathDate` limit.
pub(crate) fn echo(req: &SearchRequest) -> Value {
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

#[cfg(test)]
mod links_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn links_go_last_on_the_persons_that_have_some() {
        let body = json!({"request": {}, "response": {"persons": [
            {"score": 1, "id": "a", "name": {}}, {"score": 0.5, "id": "b"}
        ]}})
        .to_string();
        let out = with_links(&body, |id| (id == "a").then(|| json!({"label": "A"}))).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["response"]["persons"][0]["links"], json!({"label": "A"}));
        let keys: Vec<&String> = v["response"]["persons"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys.last().map(|k| k.as_str()), Some("links"));
        assert!(v["response"]["persons"][1].get("links").is_none());
        assert!(with_links("{}", |_| None).is_none());
    }
}
