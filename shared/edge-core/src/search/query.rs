//! The Elasticsearch request for a search: the same body the original built for the same
//! input (the goldens hold them), with the legal-name fix.

use super::agg::{AggRequest, COMPOSITE_PAGE};
use super::dates::DateQuery;
use super::fields::{sort_field, Kind, Param, SOURCE_FIELDS};
use super::request::{age_range, as_text, geo_point, SearchRequest};
use super::tree::{node, Node};
use serde_json::Value;
use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// One call to Elasticsearch: method, path below the base URL, query string and JSON body
/// (as text, ready to send).
#[derive(Debug, Clone, PartialEq)]
pub struct EsCall {
    pub method: &'static str,
    pub path: String,
    pub query: Option<String>,
    pub body: Option<String>,
}

/// The call a search makes.
pub fn search_call(index: &str, req: &SearchRequest) -> EsCall {
    if let (Some(scroll), Some(id)) = (&req.scroll, &req.scroll_id) {
        return EsCall {
            method: "POST",
            path: "/_search/scroll".into(),
            query: None,
            body: Some(node!({ "scroll_id": id, "scroll": scroll }).to_json()),
        };
    }
    EsCall {
        method: "POST",
        path: format!("/{index}/_search"),
        query: req.scroll.as_ref().map(|s| format!("scroll={s}")),
        body: Some(search_body(req).to_json()),
    }
}

/// A search's body: the full-text query or the structured one.
fn search_body(req: &SearchRequest) -> Node<'_> {
    let full_text = req.text(Param::Q);
    let query = match &full_text {
        Some(q) => simple_match(q),
        None => node!({ "function_score": { "query": { "bool": { "must": (clauses(req)) } } } }),
    };
    body(req, full_text.is_some(), query)
}

/// The call of an /agg request: the search's body (no person read) with its aggregations
/// after `_source` (scoring.md A.3); a composite's next page starts `after` the previous
/// page's last key, and only the first page counts each field's distinct values.
pub fn agg_call(index: &str, agg: &AggRequest, after: Option<&Value>) -> EsCall {
    let source = |name: &'static str, size: Option<i64>| {
        let field = sort_field(name).unwrap_or(name);
        if AggRequest::is_date(name) {
            node!({ "date_histogram": {
                "field": field, "calendar_interval": "month", "format": "yyyyMMdd",
            } })
        } else if let Some(size) = size {
            node!({ "terms": { "field": field, "size": size } })
        } else {
            node!({ "terms": { "field": field } })
        }
    };
    let aggs = match agg.aggs.as_slice() {
        [one] => {
            let name: &str = one;
            node!({ name: (source(name, Some(agg.size))) })
        }
        many => {
            let sources: Vec<Node> = many
                .iter()
                .map(|n| {
                    let name: &str = n;
                    node!({ name: (source(name, None)) })
                })
                .collect();
            let mut composite = vec![
                ("size".into(), Node::Int(COMPOSITE_PAGE)),
                ("sources".into(), Node::Array(sources)),
            ];
            if let Some(after) = after {
                composite.push(("after".into(), Node::Value(after)));
            }
            let mut entries = vec![(
                "bucketResults".into(),
                node!({ "composite": (Node::Object(composite)) }),
            )];
            if after.is_none() {
                for n in many {
                    let field = sort_field(n).unwrap_or(n);
                    entries.push((
                        format!("{n}_count").into(),
                        node!({ "cardinality": { "field": field } }),
                    ));
                }
            }
            Node::Object(entries)
        }
    };
    let mut body = search_body(&agg.search);
    if let Node::Object(entries) = &mut body {
        let at = entries.len().min(3);
        entries.insert(at, ("aggs".into(), aggs));
    }
    EsCall {
        method: "POST",
        path: format!("/{index}/_search"),
        query: None,
        body: Some(body.to_json()),
    }
}

/// The call `/id/{id}` makes.
pub fn id_call(index: &str, id: &str) -> EsCall {
    let req = SearchRequest::by_id();
    let query = node!({ "bool": { "must": [ { "match": { "UID": id } } ] } });
    EsCall {
        method: "POST",
        path: format!("/{index}/_search"),
        query: None,
        body: Some(body(&req, false, query).to_json()),
    }
}

fn body<'a>(req: &'a SearchRequest, full_text: bool, query: Node<'a>) -> Node<'a> {
    let sort: Vec<Node> = req
        .sort
        .iter()
        .map(|(key, order)| {
            let field = sort_field(key).unwrap_or("_score");
            node!({ field: order })
        })
        .collect();
    let mut body = vec![
        ("min_score".into(), Node::Int(if full_text { 5 } else { 0 })),
        ("track_total_hits".into(), Node::Bool(true)),
        ("_source".into(), Node::from(SOURCE_FIELDS)),
        ("query".into(), node!({ "bool": { "must": [query] } })),
        ("sort".into(), Node::Array(sort)),
        ("size".into(), Node::Int(req.size)),
    ];
    // The original left `from` out when there was no page size.
    if req.size != 0 {
        let from = (req.page - 1).saturating_mul(req.size);
        body.push(("from".into(), Node::Int(from)));
    }
    Node::Object(body)
}

/// One clause per structured field present, in the original's field order.
fn clauses(req: &SearchRequest) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut names_done = false;
    for (p, v) in &req.values {
        let clause = match (p, p.kind()) {
            (Param::FirstName | Param::LastName | Param::LegalName, _) => {
                if names_done {
                    continue;
                }
                names_done = true;
                names(req)
            }
            (Param::Sex, _) => {
                let sex = as_text(v);
                let sex = if sex == "H" { "M".to_string() } else { sex };
                node!({ "match": { "SEXE": sex } })
            }
            (Param::DeathAge, _) => {
                let text = as_text(v);
                match age_range(&text) {
                    Some((a, b)) => {
                        let (a, b): (u32, u32) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
                        node!({ "range": { "AGE_DECES": { "gte": (a.min(b)), "lte": (a.max(b)) } } })
                    }
                    None => node!({ "match": { "AGE_DECES": v } }),
                }
            }
            (_, Kind::Code(field)) => node!({ "match": { field: v } }),
            (_, Kind::FuzzyText(field)) => fuzzy_term(field, text_of(v), req.fuzzy),
            (_, Kind::Date(field)) => match req.date(*p) {
                Some(d) => date(field, d, req.fuzzy),
                None => continue,
            },
            (_, Kind::GeoPoint(field)) => match geo_point(v) {
                Some(g) => {
                    let distance = if distance_ok(&g.distance) {
                        g.distance
                    } else {
                        "1km".into()
                    };
                    let point = node!({ "lat": (g.latitude), "lon": (g.longitude) });
                    node!({ "bool": {
                        "must": { "match_all": {} },
                        "filter": { "geo_distance": {
                            "distance": distance,
                            field: point,
                        } },
                    } })
                }
                None => continue,
            },
            _ => continue,
        };
        out.push(clause);
    }
    out
}

/// A field matched fuzzily with an exact boost, or exactly on its `.raw` form.
fn fuzzy_term<'a>(field: &'a str, value: Cow<'a, str>, fuzzy: bool) -> Node<'a> {
    let raw = format!("{field}.raw");
    if fuzzy {
        node!({ "bool": {
            "must": [ { "match": { field: { "query": (value.clone()), "fuzziness": "auto" } } } ],
            "should": [ { "match": { raw: value } } ],
        } })
    } else {
        node!({ "match": { raw: value } })
    }
}

fn first_name(value: Cow<'_, str>, fuzzy: bool) -> Node<'_> {
    if fuzzy {
        node!({ "bool": {
            "must": [ { "match": { "PRENOMS": { "query": (value.clone()), "fuzziness": "auto" } } } ],
            "should": [
                { "match": { "PRENOM": { "query": (value.clone()), "boost": 4 } } },
                { "match": { "PRENOM": { "query": (value.clone()), "fuzziness": "auto", "boost": 2 } } },
                { "match": { "PRENOMS": value } },
            ],
        } })
    } else {
        node!({ "match": { "PRENOM": value } })
    }
}

/// A parameter as text (`as_text`), borrowed when it is a string.
fn text(req: &SearchRequest, p: Param) -> Option<Cow<'_, str>> {
    req.get(p).map(text_of)
}

fn text_of(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        other => Cow::Owned(as_text(other)),
    }
}

/// First, last and legal names, as the original queried them (the legal name is one more
/// last-name clause); a legal name alone is searched as the last name (**FIX**: the original
/// matched everything).
fn names(req: &SearchRequest) -> Node<'_> {
    let first = text(req, Param::FirstName);
    let mut last = text(req, Param::LastName);
    let mut legal = text(req, Param::LegalName);
    if first.is_none() && last.is_none() {
        last = legal.take();
    }
    let both = first.is_some() && last.is_some();
    let min_should = if both { 2 } else { 1 };
    let lasts = last.iter().chain(legal.iter()).cloned();
    if !req.fuzzy {
        let mut should = Vec::new();
        if let Some(f) = &first {
            should.push(node!({ "match": { "PRENOM": (f.clone()) } }));
        }
        should.extend(lasts.map(|l| node!({ "match": { "NOM": l } })));
        return node!({ "bool": { "minimum_should_match": min_should, "should": should } });
    }
    let mut direct = Vec::new();
    if let Some(f) = &first {
        direct.push(first_name(f.clone(), true));
    }
    direct.extend(lasts.map(|l| fuzzy_term("NOM", l, true)));
    let mut should = vec![node!({ "bool": {
        "should": direct, "minimum_should_match": min_should, "boost": 2,
    } })];
    if let (Some(f), Some(l)) = (first, last) {
        should.push(node!({ "bool": {
            "should": [ (first_name(l, true)), (fuzzy_term("NOM", f, true)) ],
            "minimum_should_match": min_should,
            "boost": 0.5,
        } }));
    }
    node!({ "bool": { "minimum_should_match": 1, "should": should } })
}

fn date(field: &str, d: DateQuery, fuzzy: bool) -> Node<'_> {
    match d {
        DateQuery::Prefix(p) => node!({ "prefix": { field: p } }),
        DateQuery::Exact(e) => fuzzy_term(field, Cow::Owned(e), fuzzy),
        DateQuery::Range { gte, lte } => {
            let mut bounds = Vec::new();
            if let Some(g) = gte {
                bounds.push(("gte".into(), Node::from(g)));
            }
            if let Some(l) = lte {
                bounds.push(("lte".into(), Node::from(l)));
            }
            node!({ "range": { field: (Node::Object(bounds)) } })
        }
    }
}

/// The distance units Elasticsearch knows, in metres, longest names first (so a suffix
/// test finds `km` before `m`).
pub const DISTANCE_UNITS: [(&str, f64); 17] = [
    ("millimeters", 0.001),
    ("centimeters", 0.01),
    ("kilometers", 1000.0),
    ("meters", 1.0),
    ("miles", 1609.344),
    ("yards", 0.9144),
    ("feet", 0.3048),
    ("inch", 0.0254),
    ("mm", 0.001),
    ("cm", 0.01),
    ("km", 1000.0),
    ("mi", 1609.344),
    ("yd", 0.9144),
    ("ft", 0.3048),
    ("in", 0.0254),
    ("NM", 1852.0),
    ("m", 1.0),
];

/// A distance Elasticsearch understands: a positive number and a unit at the end.
fn distance_ok(d: &str) -> bool {
    DISTANCE_UNITS.iter().any(|(unit, _)| {
        d.strip_suffix(unit).is_some_and(|rest| {
            let rest = rest.trim_end();
            let digits = rest.bytes().rev().take_while(u8::is_ascii_digit).count();
            // `[1-9]\d*` right before the unit: the digit run holds a non-zero digit.
            rest[rest.len() - digits..].bytes().any(|b| b != b'0')
        })
    })
}

/// Words a full-text `q` does not search for.
pub const PARTICLES: [&str; 6] = ["el", "d", "le", "de", "la", "los"];

/// Full-text `q`, as the original read it: its words with accents removed, the name words
/// (a letter, not a particle) and the first `dd/MM/yyyy` date as `yyyyMMdd`.
pub fn full_text_parts(q: &str) -> (Vec<String>, Option<String>) {
    let folded: String = q
        .nfkd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .collect();
    let words: Vec<&str> = folded.split_whitespace().collect();
    let date = words.iter().find_map(|t| {
        let b = t.as_bytes();
        (b.len() == 10
            && b[2] == b'/'
            && b[5] == b'/'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 2 || i == 5 || c.is_ascii_digit()))
        .then(|| format!("{}{}{}", &t[6..], &t[3..5], &t[..2]))
    });
    let names = words
        .iter()
        .filter(|t| t.bytes().any(|b| b.is_ascii_alphabetic()))
        .filter(|t| !PARTICLES.iter().any(|p| p.eq_ignore_ascii_case(t)))
        .map(|t| t.to_string())
        .collect();
    (names, date)
}

/// Full-text `q`: names (particles dropped) and the first `dd/MM/yyyy` date.
fn simple_match(q: &str) -> Node<'static> {
    let (names, date) = full_text_parts(q);
    let names_query = (!names.is_empty()).then(|| {
        let joined = names.join(" ");
        let mut must = vec![
            node!({ "match": { "PRENOMS_NOM": { "query": (joined.clone()), "fuzziness": "auto" } } }),
        ];
        if let [a, b] = names.as_slice() {
            let order = |last: &str, first: &str| {
                let (last, first) = (last.to_string(), first.to_string());
                node!({ "bool": { "must": [
                    { "bool": {
                        "must": [ { "match": { "NOM": { "query": (last.clone()), "fuzziness": "auto" } } } ],
                        "should": [ { "match": { "NOM": last } } ],
                    } },
                    { "bool": {
                        "must": [ { "match": { "PRENOMS": { "query": (first.clone()), "fuzziness": "auto" } } } ],
                        "should": [
                            { "match": { "PRENOM": { "query": (first.clone()), "fuzziness": "auto" } } },
                            { "match": { "PRENOM": first } },
                        ],
                    } },
                ] } })
            };
            must.push(node!({ "bool": {
                "minimum_should_match": 1,
                "should": [ (order(a, b)), (order(b, a)) ],
            } }));
        }
        node!({ "bool": {
            "must": must,
            "should": [
                { "match": { "PRENOM_NOM": (joined.clone()) } },
                { "match": { "PRENOM_NOM": { "query": joined, "fuzziness": "auto" } } },
            ],
        } })
    });
    let date_query = date.map(|d| {
        node!({ "bool": {
            "minimum_should_match": 1,
            "should": [
                { "match": { "DATE_NAISSANCE": { "query": (d.clone()), "fuzziness": "auto" } } },
                { "match": { "DATE_DECES": { "query": d, "fuzziness": "auto" } } },
            ],
        } })
    });
    match (names_query, date_query) {
        (Some(n), Some(d)) => node!({ "function_score": { "query": { "bool": {
            "must": [n], "should": [d],
        } } } }),
        (None, Some(d)) => d,
        (Some(n), None) => n,
        (None, None) => node!({ "match_all": {} }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::request::{decode_query, from_query};
    use serde_json::json;

    fn body_of(c: EsCall) -> Value {
        serde_json::from_str(&c.body.unwrap()).unwrap()
    }

    fn call(q: &str) -> EsCall {
        search_call("deces", &from_query(&decode_query(q).unwrap()).unwrap())
    }

    fn must(q: &str) -> Vec<Value> {
        let body = body_of(call(q));
        body["query"]["bool"]["must"][0]["function_score"]["query"]["bool"]["must"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn skeleton() {
        let c = call("lastName=Martin&size=2&page=3");
        assert_eq!(c.method, "POST");
        assert_eq!(c.path, "/deces/_search");
        let b = body_of(c);
        assert_eq!(b["min_score"], 0);
        assert_eq!(b["track_total_hits"], true);
        assert_eq!(b["size"], 2);
        assert_eq!(b["from"], 4);
        assert_eq!(b["sort"], json!([{ "_score": "desc" }]));
        assert_eq!(b["_source"].as_array().unwrap().len(), 29);
    }

    #[test]
    fn clause_order_follows_the_original() {
        let m = must("deathAge=80-90&sex=F&source=2020-m01");
        assert_eq!(m[0], json!({ "match": { "SOURCE": "2020-m01" } }));
        assert_eq!(m[1], json!({ "match": { "SEXE": "F" } }));
        assert_eq!(
            m[2],
            json!({ "range": { "AGE_DECES": { "gte": 80, "lte": 90 } } })
        );
    }

    #[test]
    fn legal_name_alone_is_a_last_name() {
        let alone = must("legalName=Dupont");
        let last = must("lastName=Dupont");
        assert_eq!(alone, last);
        assert!(!alone.is_empty());
    }

    #[test]
    fn legal_name_with_a_first_name_is_one_more_last_name_clause() {
        let m = must("firstName=Nathalie&legalName=Leclercq");
        let should = m[0]["bool"]["should"].as_array().unwrap();
        assert_eq!(should.len(), 1, "no swapped branch without a last name");
        assert_eq!(should[0]["bool"]["minimum_should_match"], 1);
        let direct = should[0]["bool"]["should"].as_array().unwrap();
        assert_eq!(direct.len(), 2);
        assert_eq!(
            direct[1]["bool"]["must"][0]["match"]["NOM"]["query"],
            "Leclercq"
        );
    }

    #[test]
    fn negative_sizes_go_to_elasticsearch_as_the_original_did() {
        let b = body_of(call("lastName=A&size=-5&page=999999999999999"));
        assert_eq!(b["size"], -5);
        assert!(b["from"].as_i64().unwrap() < 0);
    }

    #[test]
    fn size_zero_has_no_from() {
        let b = body_of(call("lastName=A&size=0"));
        assert_eq!(b["size"], 0);
        assert!(b.get("from").is_none());
    }

    #[test]
    fn full_text() {
        let b = body_of(call("q=Lef%C3%A8vre"));
        assert_eq!(b["min_score"], 5);
        let names = &b["query"]["bool"]["must"][0]["bool"];
        assert_eq!(names["must"][0]["match"]["PRENOMS_NOM"]["query"], "Lefevre");
        let b = body_of(call("q=1935"));
        assert_eq!(b["query"]["bool"]["must"][0], json!({ "match_all": {} }));
        let b = body_of(call("q=de+la+Fontaine"));
        assert_eq!(
            b["query"]["bool"]["must"][0]["bool"]["must"][0]["match"]["PRENOMS_NOM"]["query"],
            "Fontaine"
        );
    }

    #[test]
    fn scroll_calls() {
        let c = call("lastName=Martin&scroll=1m&size=2");
        assert_eq!(c.query.as_deref(), Some("scroll=1m"));
        let c = call("scroll=1m&scrollId=abc");
        assert_eq!(c.path, "/_search/scroll");
        assert_eq!(body_of(c), json!({ "scroll_id": "abc", "scroll": "1m" }));
    }

    #[test]
    fn distances() {
        for ok in ["10km", "5 km", "1mi", "100m", "3NM"] {
            assert!(distance_ok(ok), "{ok}");
        }
        for bad in ["10 parsecs", "km", "0km", "", "10"] {
            assert!(!distance_ok(bad), "{bad}");
        }
    }
}
