//! Random query strings and JSON bodies thrown at the search parser, the query builder and
//! the response shaper, and random bodies and `Authorization` values at the accounts
//! routes: no panic, and every refusal is a 4xx with a JSON `msg`/`message`.
//! `PROPTEST_CASES` sets the cases per property (default 60,000 for search, a quarter of
//! that for each accounts property; `make soak` runs 1,000,000 each).

use edge_core::accounts::{self, kv::MemoryKv, otp::OtpRules, AccountsConfig, Outbox};
use edge_core::search::{self, agg};
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
    "aggs",
    "aggsSize",
    "bob",
    "",
    "a[b]",
];

const VALUES: &[&str] = &[
    "",
    "Dupont",
    "sex",
    "birthDate",
    "deathAge",
    "deathCity",
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
            let body: Value =
                serde_json::from_str(call.body.as_deref().expect("a body")).expect("JSON body");
            assert!(body["query"].is_object() || body.get("scroll_id").is_some());
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

fn accounts_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(15_000)
}

const EMAILS: &[&str] = &[
    "bob@example.org",
    " Bob@Example.ORG ",
    "bob@example.org\r\nBcc: eve@example.org",
    "josé@exämple.org",
    "a@b",
    "@",
    "bob@mailinator.com",
    "admin@example.test",
    "",
    "\u{0}@\u{0}",
];

fn accounts_body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        3 => pick(EMAILS).prop_map(Value::from),
        2 => any::<String>().prop_map(Value::from),
        1 => json_value(),
    ];
    let key = prop_oneof![3 => pick(&["user", "password"]), 1 => "[a-z]{0,6}"];
    prop_oneof![
        8 => prop::collection::vec((key, value), 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()).to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    let part = "[A-Za-z0-9_=-]{0,40}";
    prop_oneof![
        Just(None),
        any::<String>().prop_map(Some),
        (part, part, part).prop_map(|(a, b, c)| Some(format!("Bearer {a}.{b}.{c}"))),
        "[A-Za-z ]{0,12}".prop_map(Some),
    ]
}

fn accounts_config() -> AccountsConfig {
    AccountsConfig {
        secret: b"a-property-test-secret-of-32-bytes!".to_vec(),
        admin_user: "admin@example.test".into(),
        admin_password: "adminpass".into(),
        static_users: Default::default(),
        user_token_days: 30,
        renewal_days: 360,
        admin_token_hours: 24,
        otp: OtpRules {
            ttl_seconds: 600,
            max_attempts: 5,
            cooldown_seconds: 60,
        },
        app_dns: "deces.matchid.io".into(),
        disposable_extra: Vec::new(),
    }
}

fn check_reply(reply: &edge_core::api::JsonReply, allowed: &[u16]) {
    assert!(
        allowed.contains(&reply.status),
        "{} {}",
        reply.status,
        reply.body
    );
    let body: Value = serde_json::from_str(&reply.body).expect("JSON body");
    if reply.status >= 400 {
        assert!(
            body.get("msg").is_some() || body.get("message").is_some(),
            "{body}"
        );
    }
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

/// An accepted /agg request makes a JSON Elasticsearch body and, whatever the answer, a
/// reply with a status the API documents.
fn check_agg(result: Result<agg::AggRequest, search::error::SearchError>) {
    match result {
        Ok(req) => {
            let call = search::agg_call("deces", &req, None);
            let body: Value =
                serde_json::from_str(call.body.as_deref().expect("a body")).expect("JSON body");
            assert!(body["aggs"].is_object() && body["size"] == 0);
            let answer = json!({"took": 1, "hits": {"total": {"value": 1}}, "aggregations": {
                "sex": {"buckets": [{"key": "M", "doc_count": 1}]},
                "bucketResults": {"buckets": []}}});
            let reply = agg::reply(
                &req,
                false,
                &mut |_: &agg::AggRequest, _: Option<&Value>| Ok(answer.to_string()),
            );
            assert!(matches!(reply.status, 200 | 503), "{}", reply.body);
            let _: Value = serde_json::from_str(&reply.body).expect("JSON body");
        }
        Err(e) => check_reply(&e.reply(), &[400, 422]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn agg_query_strings_never_panic(q in query_string()) {
        check_agg(agg::parse_get(&q));
    }

    #[test]
    fn agg_bodies_never_panic(b in body()) {
        check_agg(agg::from_body(&b));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: accounts_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn register_bodies_never_panic(b in accounts_body()) {
        let (cfg, kv) = (accounts_config(), MemoryKv::default());
        let reply = accounts::register(&cfg, &kv, &mut Outbox(&kv), &b, 1_700_000_000, || {
            ("123456".into(), "id".into())
        });
        check_reply(&reply, &[200, 400, 413, 422]);
    }

    #[test]
    fn login_bodies_never_panic(b in accounts_body()) {
        let (cfg, kv) = (accounts_config(), MemoryKv::default());
        let reply = accounts::login(&cfg, &kv, &b, 1_700_000_000);
        check_reply(&reply, &[200, 400, 401, 413, 422]);
        if reply.status == 200 {
            // Only the admin's password can succeed on an empty store.
            prop_assert!(String::from_utf8_lossy(&b).contains("adminpass"));
        }
    }

    #[test]
    fn authorization_values_never_panic(a in authorization(), refresh in any::<bool>()) {
        let reply = accounts::check(&accounts_config(), a.as_deref(), refresh, 1_700_000_000);
        check_reply(&reply, &[401]);
    }
}
