//! GET and POST /agg: counts of the records a search finds, by one or several fields
//! (scoring.md "Aggregations"): the request, the paging of a composite aggregation over
//! its pages, and the JSON and CSV answers. The backend calls are
//! [`super::query::agg_call`] (Elasticsearch) or the embedded index's own.

use super::error::{enum_members, type_error, union_error, SearchError};
use super::request::{self, as_text, Purpose, SearchRequest};
use crate::api::JsonReply;
use crate::upstream::Failure;
use serde_json::{Map, Value};

/// The fields an aggregation may count by, as the original listed them.
pub const NAMES: [&str; 12] = [
    "firstName",
    "lastName",
    "birthDate",
    "birthCity",
    "birthDepartment",
    "birthCountry",
    "deathDate",
    "deathCity",
    "deathDepartment",
    "deathCountry",
    "deathAge",
    "sex",
];

/// Buckets of a one-field aggregation, unless `aggsSize` says otherwise.
pub const DEFAULT_SIZE: i64 = 250;
/// The largest `aggsSize` (Elasticsearch refuses much more in one answer).
pub const MAX_SIZE: i64 = 10_000;
/// Buckets per page of a composite aggregation.
pub const COMPOSITE_PAGE: i64 = 1000;
/// The most buckets one answer gathers over a composite's pages (a field crossed with
/// another can have millions); a request above it is refused and says so.
pub const MAX_BUCKETS: usize = 100_000;

/// A validated /agg request: the search it counts over (no person read), the fields in
/// the order given, and the bucket count of a one-field aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct AggRequest {
    pub search: SearchRequest,
    pub aggs: Vec<&'static str>,
    pub size: i64,
}

impl AggRequest {
    /// Dates are counted by month (a date histogram), the other fields by value.
    pub fn is_date(name: &str) -> bool {
        matches!(name, "birthDate" | "deathDate")
    }

    /// Several fields are counted together, by pages of a composite aggregation.
    pub fn is_composite(&self) -> bool {
        self.aggs.len() > 1
    }
}

/// GET /agg from its raw query string (`aggs` repeated for several fields).
pub fn parse_get(raw_query: &str) -> Result<AggRequest, SearchError> {
    let pairs = request::decode_query(raw_query)?;
    let mut types = Map::new();
    let given: Vec<Value> = pairs
        .iter()
        .filter(|(k, _)| k == "aggs")
        .map(|(_, v)| Value::String(v.clone()))
        .collect();
    let aggs = names(&given, &mut types);
    let sizes: Vec<Value> = pairs
        .iter()
        .filter(|(k, _)| k == "aggsSize")
        .map(|(_, v)| Value::String(v.clone()))
        .collect();
    let size = match sizes.len() {
        0 => None,
        1 => sizes.into_iter().next(),
        _ => Some(Value::Array(sizes)),
    };
    check_size_type(size.as_ref(), "aggsSize", &mut types);
    let search = request::query_for(&pairs, Purpose::Agg);
    finish(search, aggs, size, types)
}

/// POST /agg from its body: the search's keys, `aggs` and `aggsSize`, nothing else.
pub fn from_body(body: &[u8]) -> Result<AggRequest, SearchError> {
    let mut map = request::body_object(body)?;
    let mut types = Map::new();
    let aggs = match map.remove("aggs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => names(&items, &mut types),
        Some(other) => {
            types.insert(
                "requestBody.aggs".into(),
                type_error("invalid array", Some(&other)),
            );
            Vec::new()
        }
    };
    let size = map.remove("aggsSize").filter(|v| !v.is_null());
    check_size_type(size.as_ref(), "requestBody.aggsSize", &mut types);
    let search = request::body_for(&map, Purpose::Agg);
    finish(search, aggs, size, types)
}

/// The known field names among `given`; each other one is a type error (`aggs.$<i>`, the
/// original's path for both methods).
fn names(given: &[Value], types: &mut Map<String, Value>) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (i, v) in given.iter().enumerate() {
        match v.as_str().and_then(|s| NAMES.iter().find(|n| **n == s)) {
            Some(name) => out.push(*name),
            None => {
                let path = format!("aggs.${i}");
                let error = union_error(&path, &enum_members(&NAMES), v);
                types.insert(path, error);
            }
        }
    }
    out
}

fn check_size_type(size: Option<&Value>, path: &str, types: &mut Map<String, Value>) {
    let Some(v) = size else { return };
    let ok = match v {
        Value::Number(_) => true,
        Value::String(s) => request::is_float(s),
        _ => false,
    };
    if !ok {
        types.insert(path.into(), type_error("invalid float number", Some(v)));
    }
}

/// The checks in the original's order: types (the search's and ours together), a missing
/// `aggs`, the search's own checks, then the aggregation's values.
fn finish(
    search: Result<SearchRequest, SearchError>,
    aggs: Vec<&'static str>,
    size: Option<Value>,
    mut types: Map<String, Value>,
) -> Result<AggRequest, SearchError> {
    let search = match search {
        Err(SearchError::Types(more)) => {
            types.extend(more);
            return Err(SearchError::Types(types));
        }
        _ if !types.is_empty() => return Err(SearchError::Types(types)),
        _ if aggs.is_empty() => return Err(SearchError::MissingAggs),
        other => other?,
    };
    let mut errors = Vec::new();
    for (i, name) in aggs.iter().enumerate() {
        if aggs[..i].contains(name) {
            errors.push(format!("invalid aggs value: {name} (given twice)"));
        }
    }
    // **FIX**: the original sent any size on to Elasticsearch, which refused 0 or less.
    let size = match &size {
        None => DEFAULT_SIZE,
        Some(v) => match request::whole_number(v) {
            Some(n) if (1..=MAX_SIZE).contains(&n) => n,
            _ => {
                errors.push(format!("invalid aggsSize value: {}", as_text(v)));
                DEFAULT_SIZE
            }
        },
    };
    if !errors.is_empty() {
        return Err(SearchError::Invalid(errors));
    }
    Ok(AggRequest { search, aggs, size })
}

/// One page of an aggregation as Elasticsearch shapes it (what [`reply`] reads): the
/// first (`None`), or a composite's page after the previous page's last key.
pub trait AggPages {
    fn page(&mut self, req: &AggRequest, after: Option<&Value>) -> Result<String, JsonReply>;
}

impl<F: FnMut(&AggRequest, Option<&Value>) -> Result<String, JsonReply>> AggPages for F {
    fn page(&mut self, req: &AggRequest, after: Option<&Value>) -> Result<String, JsonReply> {
        self(req, after)
    }
}

/// What the pages gave: the search's total, the count of each field, every bucket, and
/// the time the backend took.
struct Gathered {
    total: Value,
    cardinality: Map<String, Value>,
    buckets: Vec<Value>,
    delay: u64,
}

/// The API's answer to an /agg request, JSON or (`csv`) CSV, reading every page it needs.
pub fn reply(req: &AggRequest, csv: bool, pages: &mut dyn AggPages) -> JsonReply {
    let gathered = match gather(req, csv, pages) {
        Ok(g) => g,
        Err(reply) => return reply,
    };
    let mut headers: Vec<(String, String)> = req
        .aggs
        .iter()
        .map(|name| {
            let n = gathered.cardinality.get(*name).map(as_text);
            (format!("total-results-{name}"), n.unwrap_or_default())
        })
        .collect();
    let (content_type, body) = if csv {
        ("text/csv", csv_text(req, &gathered.buckets))
    } else {
        ("application/json", json_text(req, &gathered))
    };
    headers.insert(0, ("content-type".into(), content_type.into()));
    JsonReply {
        status: 200,
        body,
        headers,
    }
}

fn gather(req: &AggRequest, csv: bool, pages: &mut dyn AggPages) -> Result<Gathered, JsonReply> {
    let mut fetch = |after: Option<&Value>| -> Result<(Value, u64), JsonReply> {
        let text = pages.page(req, after)?;
        let answer: Value = serde_json::from_str(&text).map_err(|_| unreadable())?;
        if !answer["aggregations"].is_object() {
            return Err(unreadable());
        }
        let took = answer["took"].as_u64().unwrap_or(0);
        Ok((answer, took))
    };
    let (first, mut delay) = fetch(None)?;
    let total = match &first["hits"]["total"] {
        Value::Object(t) => t.get("value").cloned().ok_or_else(unreadable)?,
        n @ Value::Number(_) => n.clone(),
        _ => return Err(unreadable()),
    };
    let aggregations = &first["aggregations"];
    let buckets_of = |agg: &Value| agg["buckets"].as_array().cloned().ok_or_else(unreadable);
    let mut cardinality = Map::new();
    if !req.is_composite() {
        let name = req.aggs[0];
        let buckets = buckets_of(&aggregations[name])?;
        cardinality.insert(name.into(), buckets.len().into());
        return Ok(Gathered {
            total,
            cardinality,
            buckets,
            delay,
        });
    }
    for name in &req.aggs {
        let n = aggregations[format!("{name}_count")]["value"].clone();
        cardinality.insert((*name).into(), if n.is_null() { 0.into() } else { n });
    }
    let results = &aggregations["bucketResults"];
    let mut buckets = buckets_of(results)?;
    if buckets.len() > MAX_BUCKETS {
        return Err(too_many_buckets());
    }
    let mut after = results.get("after_key").cloned();
    // The next page is asked for while the last one had buckets, as the original did;
    // in JSON, it looked at the first page after taking its first bucket off.
    let mut more = if csv {
        !buckets.is_empty()
    } else {
        buckets.len() > 1
    };
    while more {
        let Some(key) = after.take() else { break };
        let (page, took) = fetch(Some(&key))?;
        delay = delay.saturating_add(took);
        let results = &page["aggregations"]["bucketResults"];
        let items = buckets_of(results)?;
        more = !items.is_empty();
        buckets.extend(items);
        if buckets.len() > MAX_BUCKETS {
            return Err(too_many_buckets());
        }
        after = results.get("after_key").cloned();
    }
    Ok(Gathered {
        total,
        cardinality,
        buckets,
        delay,
    })
}

fn unreadable() -> JsonReply {
    Failure::Unavailable.reply()
}

fn too_many_buckets() -> JsonReply {
    JsonReply::new(
        400,
        serde_json::json!({ "msg": format!("error - more than {MAX_BUCKETS} buckets: narrow the search or count by fewer fields") }),
    )
}

/// The JSON answer, written exactly as the original wrote it (in pieces, with a space
/// after `"delay":`).
fn json_text(req: &AggRequest, g: &Gathered) -> String {
    let mut echo = Map::new();
    let search_echo = super::echo(&req.search);
    let mut rest = search_echo.as_object().cloned().unwrap_or_default();
    if let Some(sort) = rest.remove("sort") {
        echo.insert("sort".into(), sort);
    }
    echo.insert("aggs".into(), req.aggs.clone().into());
    echo.extend(rest);
    format!(
        "{{\"request\":{},\"response\":{{\"total\":{},\"cardinality\":{},\"aggregations\":{},\"delay\": {}}}}}",
        json(&echo),
        json(&g.total),
        json(&g.cardinality),
        json(&g.buckets),
        g.delay
    )
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The CSV answer: a header line of the first bucket's keys (a composite's fields, then
/// `value`), then one line per bucket. Quoted where a value needs it (**FIX**: the original
/// wrote values as they were, so a comma in a city's name shifted the columns).
fn csv_text(req: &AggRequest, buckets: &[Value]) -> String {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let Some(first) = buckets.first() else {
        return String::new();
    };
    let header: Vec<String> = if req.is_composite() {
        let keys = first["key"]
            .as_object()
            .map(|k| k.keys().cloned().collect());
        let mut h: Vec<String> = keys.unwrap_or_default();
        h.push("value".into());
        h
    } else {
        first
            .as_object()
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut ok = out.write_record(&header).is_ok();
    for bucket in buckets {
        let row: Vec<String> = if req.is_composite() {
            let key = &bucket["key"];
            let mut row: Vec<String> = header[..header.len() - 1]
                .iter()
                .map(|h| cell(&key[h.as_str()]))
                .collect();
            row.push(cell(&bucket["doc_count"]));
            row
        } else {
            header.iter().map(|h| cell(&bucket[h.as_str()])).collect()
        };
        ok &= out.write_record(&row).is_ok();
    }
    let bytes = out.into_inner().unwrap_or_default();
    if !ok {
        return String::new();
    }
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn post(body: Value) -> Result<AggRequest, SearchError> {
        from_body(body.to_string().as_bytes())
    }

    #[test]
    fn requests() {
        let r = parse_get("aggs=sex&aggs=birthDate&lastName=Dupont&size=5").unwrap();
        assert_eq!(r.aggs, ["sex", "birthDate"]);
        assert_eq!((r.size, r.search.size), (DEFAULT_SIZE, 0));
        assert!(r.is_composite());
        let r = post(json!({"aggs": ["sex"], "birthPostalCode": "75014", "aggsSize": 3})).unwrap();
        assert_eq!(r.size, 3);
        assert!(post(json!({"aggs": ["deathAge"]})).is_ok());
        assert_eq!(
            post(json!({"aggs": ["sex"], "size": 5})),
            Err(SearchError::UnknownField)
        );
        assert_eq!(parse_get("lastName=Dupont"), Err(SearchError::MissingAggs));
        assert_eq!(post(json!({"aggs": []})), Err(SearchError::MissingAggs));
        assert_eq!(
            parse_get("aggs=sex&q=Dupont&lastName=Dupont"),
            Err(SearchError::SimpleAndComplex)
        );
    }

    #[test]
    fn refusals() {
        for (size, text) in [("0", "0"), ("-3", "-3"), ("2.5", "2.5"), ("10001", "10001")] {
            assert_eq!(
                parse_get(&format!("aggs=sex&aggsSize={size}")),
                Err(SearchError::Invalid(vec![format!(
                    "invalid aggsSize value: {text}"
                )])),
                "{size}"
            );
        }
        assert_eq!(
            parse_get("aggs=sex&aggs=sex"),
            Err(SearchError::Invalid(vec![
                "invalid aggs value: sex (given twice)".into()
            ]))
        );
        let Err(SearchError::Types(t)) = parse_get("aggs=sex&aggs=nope&aggsSize=abc&sex=X") else {
            panic!()
        };
        let keys: Vec<&str> = t.keys().map(String::as_str).collect();
        assert_eq!(keys, ["aggs.$1", "aggsSize", "sex"]);
        let Err(SearchError::Types(t)) = post(json!({"aggs": "sex", "aggsSize": true})) else {
            panic!()
        };
        assert_eq!(t["requestBody.aggs"]["message"], "invalid array");
        assert_eq!(t["requestBody.aggsSize"]["message"], "invalid float number");
    }

    fn composite_page(keys: &[&str], after: Option<&str>) -> String {
        let buckets: Vec<Value> = keys
            .iter()
            .map(|k| json!({"key": {"deathCity": k, "sex": "M"}, "doc_count": 1}))
            .collect();
        let mut results = json!({ "buckets": buckets });
        if let Some(a) = after {
            results["after_key"] = json!({"deathCity": a, "sex": "M"});
        }
        json!({"took": 2, "hits": {"total": {"value": 9}}, "aggregations": {
            "bucketResults": results, "deathCity_count": {"value": 3}, "sex_count": {"value": 1}
        }})
        .to_string()
    }

    #[test]
    fn csv_answers_quote_what_needs_it() {
        let req = parse_get("aggs=deathCity&aggs=sex").unwrap();
        let mut asked = Vec::new();
        let mut pages = |_: &AggRequest, after: Option<&Value>| {
            asked.push(after.cloned());
            Ok(match asked.len() {
                1 => composite_page(&["paris", "saint-denis, la reunion"], Some("x")),
                2 => composite_page(&["zz"], Some("zz")),
                _ => composite_page(&[], None),
            })
        };
        let reply = super::reply(&req, true, &mut pages);
        assert_eq!(
            reply.body,
            "deathCity,sex,value\nparis,M,1\n\"saint-denis, la reunion\",M,1\nzz,M,1\n"
        );
        assert_eq!(reply.header("total-results-deathCity"), Some("3"));
        assert_eq!(
            asked,
            [
                None,
                Some(json!({"deathCity": "x", "sex": "M"})),
                Some(json!({"deathCity": "zz", "sex": "M"}))
            ]
        );

        let req = parse_get("aggs=birthDate").unwrap();
        let page = json!({"took": 1, "hits": {"total": {"value": 2}}, "aggregations": {"birthDate":
            {"buckets": [{"key_as_string": "19350301", "key": -1099440000000i64, "doc_count": 2}]}}});
        let reply = super::reply(&req, true, &mut |_: &AggRequest, _: Option<&Value>| {
            Ok(page.to_string())
        });
        assert_eq!(
            reply.body,
            "key_as_string,key,doc_count\n19350301,-1099440000000,2\n"
        );
        let empty = json!({"took": 1, "hits": {"total": {"value": 0}}, "aggregations": {"birthDate": {"buckets": []}}});
        let reply = super::reply(&req, true, &mut |_: &AggRequest, _: Option<&Value>| {
            Ok(empty.to_string())
        });
        assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    }

    #[test]
    fn a_json_composite_of_one_bucket_is_one_page_and_paging_is_bounded() {
        let req = parse_get("aggs=deathCity&aggs=sex").unwrap();
        let mut n = 0;
        let reply = super::reply(&req, false, &mut |_: &AggRequest, _: Option<&Value>| {
            n += 1;
            Ok(composite_page(&["paris"], Some("paris")))
        });
        assert_eq!((reply.status, n), (200, 1));
        // A backend that never stops paging is cut off with a clear refusal.
        let full: Vec<String> = (0..COMPOSITE_PAGE).map(|i| format!("c{i}")).collect();
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let mut n = 0;
        let reply = super::reply(&req, false, &mut |_: &AggRequest, _: Option<&Value>| {
            n += 1;
            Ok(composite_page(&full, Some("c")))
        });
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.body.contains("more than 100000 buckets"));
        assert_eq!(n, MAX_BUCKETS / COMPOSITE_PAGE as usize + 1);
    }

    #[test]
    fn answers_that_are_not_elasticsearch_s_are_failures() {
        let req = parse_get("aggs=sex").unwrap();
        for bad in [
            "not json",
            "{}",
            r#"{"aggregations": {"sex": {}}, "hits": {"total": 1}}"#,
        ] {
            let reply = super::reply(&req, false, &mut |_: &AggRequest, _: Option<&Value>| {
                Ok(bad.to_string())
            });
            assert_eq!(reply.status, 503, "{bad}");
        }
    }
}
