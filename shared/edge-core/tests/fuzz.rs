//! Random query strings and JSON bodies thrown at the parser, the query builder and the
//! response shaper: no panic, and every refusal is a 400, 413 or 422 with a JSON body.
//! `PROPTEST_CASES` raises the count (the default runs 120,000 cases in all).

use edge_core::search;
use proptest::prelude::*;
use serde_json::{json, Value};

const KEYS: &[&str] = &[
    "q",
    "firstName",
    "lastName",
    "legalName",
    "sex",
    "birthDate",
    "birthCity",
    "birthLocationCode",
    "birthPostalCode",
    "birthDepartment",
    "birthCountry",
    "birthGeoPoint",
    "deathDate",
    "deathCity",
    "deathLocationCode",
    "deathPostalCode",
    "deathDepartment",
    "deathCountry",
    "deathGeoPoint",
    "deathAge",
    "lastSeenAliveDate",
    "source",
    "scroll",
    "scrollId",
    "size",
    "page",
    "fuzzy",
    "sort",
    "headerLang",
    "fullText",
    "bob",
    "",
    "a[b]",
];

const VALUES: &[&str] = &[
    "",
    "Dupont",
    "Jean Pierre",
    "M",
    "F",
    "H",
    "X",
    "true",
    "false",
    "maybe",
    "1935",
    "12/03/1935",
    "00/00/1935",
    "41/01/1935",
    "1930-1940",
    "1940-1930",
    ">1936",
    "<2000",
    "01/01/1935-31/12/1938",
    "19350312",
    "19350312-19400101",
    "84",
    "80-90",
    "30-20",
    "1000",
    "-1",
    "0",
    "1.5",
    "1e3",
    "99999999999999999999",
    "2020-m01",
    "1m",
    "10000",
    "[{\"birthDate\":\"asc\"}]",
    "[{\"foo\":\"asc\"}]",
    "[{}]",
    "[]",
    "{\"score\":\"desc\"}",
    "{\"latitude\":48.85,\"longitude\":2.35,\"distance\":\"10km\"}",
    "{\"latitude\":\"a\",\"longitude\":null,\"distance\":5}",
    "%",
    "%FF",
    "%C3%A8",
    "+",
    "é",
    "\u{0}",
    "\r\n",
    "𝔘𝔫𝔦",
    "../../etc/passwd",
    "Lef\u{300}vre",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(list).prop_map(str::to_string)
}

fn query_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![4 => pick(KEYS), 1 => "[a-zA-Z%&=+]{0,8}"];
    let value = prop_oneof![4 => pick(VALUES), 2 => any::<String>(), 1 => "[0-9/<>-]{0,12}"];
    prop_oneof![
        8 => prop::collection::vec((key, value), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let v: String = v
                        .chars()
                        .map(|c| match c {
                            '&' => "%26".to_string(),
                            '=' => "%3D".to_string(),
                            '#' => "%23".to_string(),
                            c => c.to_string(),
                        })
                        .collect();
                    format!("{k}={v}")
                })
                .collect::<Vec<_>>()
                .join("&")
        }),
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        pick(VALUES).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((pick(KEYS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec((pick(KEYS), json_value()), 0..8)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()).to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// A fixed Elasticsearch answer, so accepted requests also go through the shaper.
fn es_answer() -> Value {
    json!({"took": 3, "hits": {"total": {"value": 1}, "max_score": 1.0, "hits": [
        {"_score": 1.0, "_source": {"UID": "pQet0sYyrNsf", "NOM": "Dupont", "PRENOMS": "Jean",
         "GEOPOINT_DECES": "POINT(2.29 48.84)"}}
    ]}})
}

fn check(result: Result<search::request::SearchRequest, search::error::SearchError>) {
    match result {
        Ok(req) => {
            let call = search::search_call("deces", &req);
            assert!(call.body.is_some());
            let reply =
                search::search_reply(&req, es_answer().to_string().as_bytes()).expect("shaped");
            assert_eq!(reply.status, 200);
            assert!(req.size <= search::request::MAX_SIZE);
            assert!(req.page >= 1);
        }
        Err(e) => {
            let reply = e.reply();
            assert!(matches!(reply.status, 400 | 413 | 422), "{}", reply.status);
            let body: Value = serde_json::from_str(&reply.body).expect("JSON error body");
            assert!(body.get("msg").is_some() || body.get("message").is_some());
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(60_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn query_strings_never_panic(q in query_string()) {
        check(search::parse_get(&q));
    }

    #[test]
    fn bodies_never_panic(b in body()) {
        check(search::from_body(&b));
    }
}
