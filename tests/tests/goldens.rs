//! Parity with the original server: request/response pairs captured from it
//! (`tests/data/goldens/visible.jsonl`, see its README) replayed through the host and the
//! real search component, with the recording Elasticsearch stub answering each case's
//! captured Elasticsearch answers.
//!
//! Compared exactly: the Elasticsearch requests (method, path, query, body as JSON), the
//! status, the content type and the body; except, each named below:
//! - the cases a **FIX** of api.md changes (`fixed()`).

use e2e::*;
use serde_json::{json, Value};

/// The families this suite covers (search, id, version, healthcheck, unknown routes).
const FAMILIES: &[&str] = &[
    "status",
    "search_get",
    "search_post",
    "search_q",
    "search_invalid",
    "search_es_error",
    "search_scroll",
    "id",
];

/// What a FIX changes in a case: the answer expected instead of the original's, and
/// whether Elasticsearch is still called as the original called it.
struct Fixed {
    status: u16,
    body: Value,
    es_as_captured: bool,
}

fn fixed(id: &str, case: &Value) -> Option<Fixed> {
    let unavailable = json!({"msg": "error - search backend unavailable"});
    let rejected = json!({"msg": "error - search backend rejected the query"});
    let f = |status, body, es_as_captured| {
        Some(Fixed {
            status,
            body,
            es_as_captured,
        })
    };
    match id {
        // FIX: unknown sort keys are refused instead of sent to ES as "undefined".
        "es-err-unknown-sort-key" => f(
            400,
            json!({"msg": ["invalid sort value: [{\"foo\":\"asc\"}]"]}),
            false,
        ),
        // FIX: the result window is checked before ES is asked.
        "es-err-result-window" => f(400, json!({"msg": "error - size too large"}), false),
        // FIX: a negative page is refused.
        "es-err-negative-from" => f(400, json!({"msg": ["invalid page value: -1"]}), false),
        // FIX: ES failures are 503 (5xx, after the same retries) or 502 (4xx), not an empty 200.
        "es-err-unavailable" => f(503, unavailable, true),
        "es-err-post-bad-request" | "scroll-get-bogus-id" => f(502, rejected, true),
        // FIX: 401 instead of 422 for token errors.
        "inv-get-bearer-no-token" => f(401, json!({"message": "jwt must be provided"}), false),
        // FIX: bad JSON is answered in JSON.
        "inv-post-bad-json" => f(400, json!({"msg": "error - bad JSON formating"}), false),
        // FIX: legalName alone is searched as a last name (checked in
        // `legal_name_alone_is_searched_as_a_last_name`), and echoed.
        "get-legal-name-only" => {
            let mut body = case["api_response"]["body"].clone();
            body["request"]["legalName"] = json!("Dupont");
            f(200, body, false)
        }
        _ => None,
    }
}

fn goldens() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("tests/data/goldens/visible.jsonl"))
        .expect("goldens are copied into the repository");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a golden is JSON"))
        .collect()
}

/// Replays a case with the stub answering its captured Elasticsearch answers: the reply,
/// and what the stub was asked.
fn replay_scripted(h: &Host, es: &EsStub, case: &Value) -> (Reply, Vec<Recorded>) {
    es.clear_script();
    es.script(
        case["es_fixture"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["status"].as_u64().unwrap() as u16, f["body"].clone())),
    );
    let before = es.recorded().len();
    let reply = replay(h, case);
    let sent = es.recorded()[before..].to_vec();
    (reply, sent)
}

/// The Elasticsearch calls are the captured ones: method, path, query, body as JSON.
fn assert_es_calls(id: &str, sent: &[Recorded], expected: &[Value]) {
    assert_eq!(sent.len(), expected.len(), "{id}: number of ES calls");
    for (got, want) in sent.iter().zip(expected) {
        assert_eq!(got.method, want["method"].as_str().unwrap(), "{id}");
        assert_eq!(got.path, want["path"].as_str().unwrap(), "{id}");
        assert_eq!(query_map(&got.query), want["query"], "{id}: ES query");
        assert_eq!(
            got.json().unwrap_or(Value::Null),
            want["body"],
            "{id}: ES body"
        );
    }
}

/// Sends a golden's request as the original received it.
fn replay(h: &Host, case: &Value) -> Reply {
    let http = &case["http"];
    let method = http["method"].as_str().unwrap();
    let url = http["url"].as_str().unwrap();
    let headers: Vec<(String, String)> = http["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = match (&http["body"], &http["body_text"]) {
        (Value::Null, Value::String(text)) => text.clone().into_bytes(),
        (Value::Null, _) => Vec::new(),
        (json, _) => json.to_string().into_bytes(),
    };
    request(h.addr, method, url, &header_refs, &body)
}

fn query_map(q: &str) -> Value {
    let mut m = serde_json::Map::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Value::Object(m)
}

/// A host as the capture's server was: its Wikidata links loaded (the fixture file).
fn start(es: &EsStub, dir: &TempDir) -> Host {
    let url = es.url();
    let rc = sqlite_runtime_config(dir);
    let links = root().join("tests/data/goldens/fixtures/wikidata.json");
    deces_edge("links", &rc, &[links.as_os_str()]);
    app_host(
        rc,
        &[
            ("SPIN_VARIABLE_ES_URL", url.as_str()),
            ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
            ("SPIN_VARIABLE_ES_TIMEOUT_MS", "3000"),
            ("SPIN_VARIABLE_APP_VERSION", "golden-1.0.0"),
            ("SPIN_VARIABLE_TOKEN_SECRET", "golden-secret-key"),
        ],
    )
}

#[test]
fn search_goldens_match_the_original() {
    let all = goldens();
    assert_eq!(all.len(), 180, "the visible corpus");
    let es = EsStub::start();
    let dir = TempDir::new("goldens");
    let h = start(&es, &dir);
    let mut replayed = 0;
    for case in &all {
        let id = case["case_id"].as_str().unwrap();
        let family = case["family"].as_str().unwrap();
        if !FAMILIES.contains(&family) {
            continue;
        }
        let (reply, sent) = replay_scripted(&h, &es, case);
        let fix = fixed(id, case);
        let expected_es = case["es_requests"].as_array().unwrap();
        if fix.as_ref().is_none_or(|f| f.es_as_captured) {
            assert_es_calls(id, &sent, expected_es);
        } else if fix.as_ref().is_some_and(|f| f.status != 200) {
            assert!(sent.is_empty(), "{id}: refused before ES");
        }
        let (status, body) = match &fix {
            Some(f) => (f.status, f.body.clone()),
            None => (
                case["api_response"]["status"].as_u64().unwrap() as u16,
                case["api_response"]["body"].clone(),
            ),
        };
        assert_eq!(reply.status, status, "{id}: status");
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{id}"
        );
        assert_eq!(reply.json(), body, "{id}: body");
        replayed += 1;
    }
    assert_eq!(replayed, 119, "cases replayed");
}

#[test]
fn legal_name_alone_is_searched_as_a_last_name() {
    let all = goldens();
    let find = |id: &str| all.iter().find(|c| c["case_id"] == id).unwrap().clone();
    let es = EsStub::start();
    let dir = TempDir::new("goldens-legal");
    let h = start(&es, &dir);
    let reply = h.get("/deces/api/v1/search?legalName=Dupont");
    assert_eq!(reply.status, 200);
    let sent = es.recorded();
    assert_eq!(sent.len(), 1);
    let last_only = &find("get-last-only")["es_requests"][0]["body"];
    assert_eq!(sent[0].json().unwrap(), *last_only);
}

/// The accounts cases: replayed in file order on one host configured as the capture was
/// (secret, admin, the user DB fixture, the disposable list).
///
/// Exceptions, each named: token errors are 401 instead of 422 (**FIX**); bad JSON is
/// answered in JSON (**FIX**); admin tokens carry a `jti`, so their answer has `created_at`
/// and a `renewal_limit_date` equal to it instead of `"NaN"` (**FIX**); the fields the
/// goldens' README calls volatile (tokens and clock-derived dates) are checked by shape and
/// by their relations; `/updated` belongs to the corrections workflow, out of scope.
#[test]
fn auth_goldens_match_the_original() {
    let all = goldens();
    let dir = TempDir::new("goldens-auth");
    let users =
        std::fs::read_to_string(root().join("tests/data/goldens/fixtures/userDB.json")).unwrap();
    let h = app_host(
        sqlite_runtime_config(&dir),
        &[
            ("SPIN_VARIABLE_TOKEN_SECRET", "golden-secret-key"),
            ("SPIN_VARIABLE_ADMIN_USER", "admin@example.test"),
            ("SPIN_VARIABLE_ADMIN_PASSWORD", "adminpass"),
            ("SPIN_VARIABLE_STATIC_USERS_JSON", users.trim()),
        ],
    );
    let now = now();
    let near_now = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|t| t.abs_diff(now) < 120)
    };
    let secs = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok()).unwrap();
    let mut replayed = 0;
    for case in all.iter().filter(|c| c["family"] == "auth") {
        let id = case["case_id"].as_str().unwrap();
        if id == "updated-valid-empty" {
            continue; // /updated: corrections workflow, out of scope (api.md section 1)
        }
        let reply = replay(&h, case);
        let want = &case["api_response"];
        let got = reply.json();
        match id {
            "check-no-token" | "check-malformed" | "check-bad-signature" | "check-expired" => {
                assert_eq!(reply.status, 401, "{id}: FIX 401");
                assert_eq!(got, want["body"], "{id}");
            }
            "auth-bad-json" => {
                assert_eq!(reply.status, 400, "{id}");
                assert_eq!(got, json!({ "msg": want["body_text"] }), "{id}: FIX JSON");
            }
            "auth-userdb-ok" | "auth-admin-ok" => {
                assert_eq!(reply.status, 200, "{id}");
                assert_eq!(got["msg"], want["body"]["msg"], "{id}");
                assert!(near_now(&got["created_at"]), "{id}: {got}");
                let created = secs(&got["created_at"]);
                let (lifetime, limit) = if id == "auth-admin-ok" {
                    (86_400, created) // FIX: admin tokens have a jti, not refreshable
                } else {
                    (30 * 86_400, created + 360 * 86_400)
                };
                assert_eq!(secs(&got["expiration_date"]), created + lifetime, "{id}");
                assert_eq!(secs(&got["renewal_limit_date"]), limit, "{id}");
                assert_eq!(got["access_token"].as_str().unwrap().split('.').count(), 3);
            }
            "check-refresh-ok" => {
                assert_eq!(reply.status, 200, "{id}");
                assert_eq!(got["msg"], want["body"]["msg"], "{id}");
                assert_eq!(got["created_at"], want["body"]["created_at"], "{id}");
                assert_eq!(
                    got["renewal_limit_date"], want["body"]["renewal_limit_date"],
                    "{id}"
                );
                assert!(secs(&got["expiration_date"]).abs_diff(now + 30 * 86_400) < 120);
            }
            _ => {
                assert_eq!(reply.status as u64, want["status"], "{id}");
                assert_eq!(got, want["body"], "{id}");
            }
        }
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{id}"
        );
        replayed += 1;
    }
    assert_eq!(replayed, 15, "auth cases replayed");
}

/// POST /compare: every compare case, through the host and the search component, with no
/// Elasticsearch call. Exception, a FIX of api.md: the bodies that crashed the original
/// (a code on both sides, a birth date against a person without one) answer 200 with the
/// score of what can be compared.
#[test]
fn compare_goldens_match_the_original() {
    let all = goldens();
    let es = EsStub::start();
    let dir = TempDir::new("goldens-compare");
    let h = start(&es, &dir);
    let mut replayed = 0;
    for case in all.iter().filter(|c| c["family"] == "compare") {
        let id = case["case_id"].as_str().unwrap();
        let reply = replay(&h, case);
        let expected = &case["api_response"];
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{id}"
        );
        let body = reply.json();
        if expected["status"] == 500 {
            // FIX: never a 500; the parts that can be compared are.
            assert_eq!(reply.status, 200, "{id}");
            let score = body["score"].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&score), "{id}: {body}");
            let person_b = &case["http"]["body"]["personB"];
            if person_b.get("birthLocationCode").is_some() {
                assert_eq!(body["birthLocation"]["code"], json!(1), "{id}: {body}");
            } else {
                assert_eq!(body["birthDate"], json!(0.85), "{id}: blind date, {body}");
            }
        } else {
            assert_eq!(
                reply.status as u64,
                expected["status"].as_u64().unwrap(),
                "{id}"
            );
            assert_eq!(body, expected["body"], "{id}");
        }
        replayed += 1;
    }
    assert!(
        es.recorded().is_empty(),
        "/compare never calls Elasticsearch"
    );
    assert_eq!(replayed, 17, "compare cases replayed");
    let get = h.get("/deces/api/v1/compare");
    assert_eq!(get.status, 405);
    let bad = request(h.addr, "POST", "/deces/api/v1/compare", &[], b"{not json");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json(), json!({"msg": "error - bad JSON formating"}));
}

/// `Accept: text/csv` on POST /search: the scroll loop's Elasticsearch calls, the headers and
/// the CSV text, as the original sent them.
#[test]
fn csv_goldens_match_the_original() {
    let all = goldens();
    let es = EsStub::start();
    let dir = TempDir::new("goldens-csv");
    let h = start(&es, &dir);
    let mut replayed = 0;
    for case in all.iter().filter(|c| c["family"] == "search_csv") {
        let id = case["case_id"].as_str().unwrap();
        let (reply, sent) = replay_scripted(&h, &es, case);
        let expected_es = case["es_requests"].as_array().unwrap();
        assert_es_calls(id, &sent, expected_es);
        let expected = &case["api_response"];
        assert_eq!(
            reply.status as u64,
            expected["status"].as_u64().unwrap(),
            "{id}"
        );
        for name in ["content-type", "content-disposition", "total-results"] {
            assert_eq!(
                reply.header(name),
                expected["headers"][name].as_str(),
                "{id}: {name}"
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            expected["body_text"].as_str().unwrap(),
            "{id}: CSV"
        );
        replayed += 1;
    }
    assert_eq!(replayed, 3, "CSV cases replayed");
}

/// GET and POST /agg: the Elasticsearch calls (a composite's pages with their `after`),
/// the status, the `total-results-<agg>` headers, the content type and the body, text for
/// text. Exception, a FIX of api.md: Elasticsearch failing is a 503 JSON answer after the
/// same retries, not the original's empty body.
#[test]
fn agg_goldens_match_the_original() {
    let all = goldens();
    let es = EsStub::start();
    let dir = TempDir::new("goldens-agg");
    let h = start(&es, &dir);
    let mut replayed = 0;
    for case in all.iter().filter(|c| c["family"] == "agg") {
        let id = case["case_id"].as_str().unwrap();
        let (reply, sent) = replay_scripted(&h, &es, case);
        assert_es_calls(id, &sent, case["es_requests"].as_array().unwrap());
        let expected = &case["api_response"];
        if id == "agg-get-es-down" {
            assert_eq!(reply.status, 503, "{id}: FIX");
            assert_eq!(
                reply.json(),
                json!({"msg": "error - search backend unavailable"}),
                "{id}: FIX"
            );
            assert!(reply.header("retry-after").is_some(), "{id}");
            replayed += 1;
            continue;
        }
        assert_eq!(
            reply.status as u64,
            expected["status"].as_u64().unwrap(),
            "{id}"
        );
        for (name, value) in expected["headers"].as_object().unwrap() {
            assert_eq!(reply.header(name), value.as_str(), "{id}: {name}");
        }
        let want = &expected["body"];
        if reply.status == 200 {
            let text = want.to_string().replacen("\"delay\":", "\"delay\": ", 1);
            assert_eq!(String::from_utf8_lossy(&reply.body), text, "{id}: body");
        } else {
            assert_eq!(reply.json(), *want, "{id}: body");
        }
        replayed += 1;
    }
    assert_eq!(replayed, 17, "agg cases replayed");
}

/// The communes dictionary (scoring.md 8.5), loaded with `deces-edge communes` from a small
/// hand-made file: a city that does not match by name is found by its code. Without it, as
/// the goldens were captured, the name alone counts.
#[test]
fn a_communes_dictionary_finds_a_city_by_its_code() {
    let hit = json!({"took": 1, "timed_out": false, "hits": {"total": {"value": 1, "relation": "eq"},
        "max_score": 10.0, "hits": [{"_index": "deces", "_id": "x", "_score": 10.0, "_source": {
            "UID": "aaaaaaaaaaaa", "NOM": "Pompidou", "PRENOMS": "Georges", "SEXE": "M",
            "DATE_NAISSANCE": "19691101", "COMMUNE_NAISSANCE": "Vincennes",
            "CODE_INSEE_NAISSANCE": "75080", "CODE_INSEE_NAISSANCE_HISTORIQUE": ["75080", "94800"],
            "DEPARTEMENT_NAISSANCE": "75", "PAYS_NAISSANCE": "France",
            "PAYS_NAISSANCE_CODEISO3": "FRA", "GEOPOINT_NAISSANCE": "POINT(2.439497 48.847759)"}}]}});
    let search = "/deces/api/v1/search?firstName=Georges&lastName=Pompidou&birthCity=Paris";
    let birth_location = |with_dictionary: bool| {
        let es = EsStub::start();
        let dir = TempDir::new("communes");
        let rc = sqlite_runtime_config(&dir);
        if with_dictionary {
            let file = dir.path().join("communes.geojson");
            std::fs::write(
                &file,
                json!({"type": "FeatureCollection", "features": [{"type": "Feature",
                    "properties": {"nom": "Paris", "insee": "75056", "surf_ha": 10540},
                    "geometry": {"type": "Polygon", "coordinates": [[[2.25, 48.82], [2.42, 48.82], [2.42, 48.90], [2.25, 48.90]]]}}]})
                .to_string(),
            )
            .unwrap();
            deces_edge("communes", &rc, &[file.as_os_str()]);
        }
        let h = app_host(
            rc,
            &[
                ("SPIN_VARIABLE_ES_URL", es.url().as_str()),
                ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
            ],
        );
        es.script([(200, hit.clone())]);
        let reply = h.get(search);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["response"]["persons"][0]["scores"]["birthLocation"].clone()
    };
    assert_eq!(birth_location(false), json!({"city": 0.11, "score": 0.2}));
    assert_eq!(
        birth_location(true),
        json!({"city": 1, "code": 0.87, "score": 0.87})
    );
}
