//! Every component on wasmtime 42.0.2 (Spin 3.6.3, SpinKube's shim): a request whose
//! headers are read, one with a body, the answer written, and outbound HTTP. A resource
//! dropped before one made from it traps there ("resource has children"), which our
//! wasmtime 48 host would not show.

use e2e::{fixture_records, wasm, EsStub, Upstream};
use serde_json::{json, Value};
use spin3_compat::{Answer, Component, SharedStore};

const SECRET: &str = "compatibility-secret-0123456789abcdef";
const ADMIN: &str = "admin@example.org";
const ADMIN_PASSWORD: &str = "admin-password-for-tests";

fn load(name: &str, vars: &[(&str, &str)], store: &SharedStore) -> Component {
    Component::load(&wasm(name), vars, store)
        .unwrap_or_else(|e| panic!("{name} does not load on wasmtime 42: {e:#}"))
}

/// One request that must be answered without a trap.
fn call(c: &Component, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    c.call(method, path, headers, body.as_bytes())
        .unwrap_or_else(|e| panic!("{method} {path} failed on wasmtime 42: {e:#}"))
}

fn json_of(a: &Answer) -> Value {
    serde_json::from_slice(&a.body).unwrap_or_else(|_| panic!("not JSON: {}", a.text()))
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn search_reads_headers_and_bodies_and_calls_elasticsearch() {
    let es = EsStub::start();
    let url = es.url();
    let search = load(
        "search",
        &[("es_url", &url), ("search_backend", "elasticsearch")],
        &SharedStore::default(),
    );

    let origin = ("origin", "https://deces.matchid.io");
    let a = call(&search, "GET", "/deces/api/v1/healthcheck", &[origin], "");
    assert_eq!((a.status, json_of(&a)), (200, json!({"msg": "OK"})));
    assert_eq!(a.header("access-control-allow-origin"), Some("*"));

    let a = call(
        &search,
        "POST",
        "/deces/api/v1/search",
        &[JSON, origin],
        r#"{"lastName": "Dupont", "size": 2}"#,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(
        json_of(&a)["response"]["persons"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(a.header("ratelimit-limit").is_some(), "the limits ran");

    let uid = fixture_records()[0]["UID"].as_str().unwrap().to_string();
    let a = call(&search, "GET", &format!("/deces/api/v1/id/{uid}"), &[], "");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(json_of(&a)["response"]["persons"][0]["id"], json!(uid));
    assert!(
        es.recorded().iter().any(|r| r.path.ends_with("/_search")),
        "Elasticsearch was asked"
    );

    let a = call(&search, "POST", "/deces/api/v1/search", &[JSON], "{nope");
    assert_eq!(
        (a.status, json_of(&a)),
        (400, json!({"msg": "error - bad JSON formating"}))
    );
    let a = call(&search, "GET", "/deces/api/v1/nowhere", &[], "");
    assert_eq!(a.status, 404);
    // A body read in several pieces, then refused.
    let big = format!("{{\"lastName\": \"{}\"}}", "a".repeat(3 << 20));
    let a = call(&search, "POST", "/deces/api/v1/search", &[JSON], &big);
    assert_eq!(a.status, 413, "{}", a.text());
}

#[test]
fn search_answers_an_unreachable_elasticsearch() {
    let url = format!("http://127.0.0.1:{}", e2e::free_port());
    let search = load(
        "search",
        &[
            ("es_url", &url),
            ("es_timeout_ms", "2000"),
            ("search_backend", "elasticsearch"),
        ],
        &SharedStore::default(),
    );
    let a = call(
        &search,
        "GET",
        "/deces/api/v1/search?lastName=Dupont",
        &[],
        "",
    );
    assert_eq!(a.status, 503, "{}", a.text());
    assert!(a.header("retry-after").is_some());
}

#[test]
fn a_code_requested_verifies_and_tokens_reach_the_operators_routes() {
    let store = SharedStore::default();
    let vars = [
        ("token_secret", SECRET),
        ("admin_user", ADMIN),
        ("admin_password", ADMIN_PASSWORD),
        ("dev_routes", "true"),
    ];
    let register = load("otp-request", &vars, &store);
    let verify = load("otp-verify", &vars, &store);
    let operators = load("rate-limit", &vars, &store);
    let user = "someone@example.org";

    let a = call(
        &register,
        "POST",
        "/deces/api/v1/register",
        &[JSON],
        &json!({ "user": user }).to_string(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(json_of(&a)["valid"], json!(true));
    let a = call(
        &register,
        "GET",
        &format!("/deces/api/v1/dev/outbox?user={user}"),
        &[],
        "",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let mail = json_of(&a)["body"].as_str().unwrap().to_string();
    let code: String = mail
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code in the mail")
        .to_string();

    let login = |password: &str| {
        let body = json!({ "user": user, "password": password }).to_string();
        call(&verify, "POST", "/deces/api/v1/auth", &[JSON], &body)
    };
    assert_eq!(login("000000x").status, 401);
    let a = login(&code);
    assert_eq!(a.status, 200, "{}", a.text());
    let token = json_of(&a)["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let a = call(
        &verify,
        "GET",
        "/deces/api/v1/auth",
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(
        (a.status, json_of(&a)["msg"].clone()),
        (200, json!("jwt is valid"))
    );

    let body = json!({ "user": ADMIN, "password": ADMIN_PASSWORD }).to_string();
    let a = call(&verify, "POST", "/deces/api/v1/auth", &[JSON], &body);
    assert_eq!(a.status, 200, "{}", a.text());
    let admin = format!("Bearer {}", json_of(&a)["access_token"].as_str().unwrap());
    let auth = ("authorization", admin.as_str());
    let a = call(
        &operators,
        "GET",
        "/deces/api/v1/ratelimit/bans",
        &[auth],
        "",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(json_of(&a).is_array(), "{}", a.text());
    let a = call(
        &operators,
        "POST",
        "/deces/api/v1/ratelimit/sweep",
        &[auth, JSON],
        "{}",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let a = call(&operators, "GET", "/deces/api/v1/ratelimit/bans", &[], "");
    assert_eq!(a.status, 401, "{}", a.text());
}

#[test]
fn the_mail_api_is_called_over_outbound_http() {
    let mail_api = Upstream::start("{\"messageId\":\"1\"}");
    let url = format!("http://127.0.0.1:{}/v3/smtp/email", mail_api.port);
    let vars = [
        ("token_secret", SECRET),
        ("mail_mode", "http"),
        ("mail_api_url", url.as_str()),
        ("mail_api_key", "key"),
        ("mail_from", "noreply@example.org"),
    ];
    let register = load("otp-request", &vars, &SharedStore::default());
    let body = json!({ "user": "reader@example.org" }).to_string();
    let a = call(&register, "POST", "/deces/api/v1/register", &[JSON], &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(json_of(&a)["valid"], json!(true), "{}", a.text());
    assert_eq!(
        mail_api.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[test]
fn search_serves_the_embedded_index_from_a_database_the_importer_wrote() {
    let dir = e2e::TempDir::new("spin3-sqlite");
    let lines: Vec<String> = fixture_records().iter().map(Value::to_string).collect();
    let records = dir.write("records.ndjson", &(lines.join("\n") + "\n"));
    let rc = dir.write(
        "rc.toml",
        "[sqlite_database.default]\ntype = \"spin\"\npath = \"search.db\"\n",
    );
    let out = std::process::Command::new(e2e::host_bin())
        .arg("import")
        .arg("--manifest")
        .arg(e2e::root().join("spin.toml"))
        .arg("--runtime-config-file")
        .arg(&rc)
        .arg(&records)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No Elasticsearch anywhere: the default backend is the embedded one.
    let search = load("search", &[], &SharedStore::default())
        .with_database(&dir.path().join("search.db"))
        .unwrap();
    let a = call(
        &search,
        "GET",
        "/deces/api/v1/search?firstName=Jean&lastName=Dupomt",
        &[],
        "",
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(json_of(&a)["response"]["persons"][0]["id"], "pQet0sYyrNsf");
    let a = call(
        &search,
        "POST",
        "/deces/api/v1/search",
        &[JSON],
        r#"{"lastName": "Dupont", "birthDate": "12/03/1935"}"#,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(json_of(&a)["response"]["persons"][0]["id"], "pQet0sYyrNsf");
    let a = call(&search, "GET", "/deces/api/v1/id/pQet0sYyrNsf", &[], "");
    assert_eq!(json_of(&a)["response"]["total"], 1);
    let a = call(&search, "GET", "/deces/api/v1/version", &[], "");
    assert_eq!(json_of(&a)["uniqRecordsCount"], 60);

    // A component granted no database is refused as Spin refuses it: 503, no trap.
    let refused = load("search", &[], &SharedStore::default());
    let a = call(
        &refused,
        "GET",
        "/deces/api/v1/search?lastName=Dupont",
        &[],
        "",
    );
    assert_eq!(a.status, 503, "{}", a.text());
}
