//! Accounts end to end: one-time codes by mail (outbox), tokens, refresh, admin and static
//! users, races, replicas, restarts and store outages, through the host and the built
//! otp-request and otp-verify components, on SQLite and on a real Redis.

use base64::Engine;
use e2e::*;
use edge_core::token::{sign, Claims};
use serde_json::{json, Value};
use std::path::PathBuf;

const SECRET: &str = "an-accounts-test-secret-of-32-bytes-at-least";
use e2e::accounts::{AUTH, REGISTER};
const SENT: &str = "Un code vous a été envoyé à l'adresse indiquée";
const NOT_SENT: &str = "Erreur lors de l'envoi du code par mail";
const WRONG: &str = "Wrong username or password";
const DOWN: &str = "Service temporairement indisponible";

fn start(runtime_config: PathBuf, extra: &[(&str, &str)]) -> Host {
    let mut vars = vec![
        ("SPIN_VARIABLE_TOKEN_SECRET", SECRET),
        ("SPIN_VARIABLE_DEV_ROUTES", "true"),
        ("SPIN_VARIABLE_ADMIN_USER", "admin@example.test"),
        ("SPIN_VARIABLE_ADMIN_PASSWORD", "adminpass"),
    ];
    vars.extend_from_slice(extra);
    app_host(runtime_config, &vars)
}

fn post(h: &Host, path: &str, body: Value) -> Reply {
    post_json(h.addr, path, &body)
}

fn register(h: &Host, user: &str) -> Reply {
    accounts::register(h.addr, user).expect("register")
}

fn login(h: &Host, user: &str, password: &str) -> Reply {
    accounts::login(h.addr, user, password).expect("login")
}

fn outbox(h: &Host, user: &str) -> Option<Value> {
    accounts::outbox(h.addr, user).expect("read the outbox")
}

fn code(h: &Host, user: &str) -> String {
    accounts::code(h.addr, user)
        .expect("read the outbox")
        .expect("a code in the outbox")
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn register_mail_auth_token_check_refresh_on_sqlite() {
    let dir = TempDir::new("accounts");
    full_flow(&start(sqlite_runtime_config(&dir), &[]));
}

#[test]
fn register_mail_auth_token_check_refresh_on_redis() {
    let redis = Redis::start();
    let dir = TempDir::new("accounts-redis");
    full_flow(&start(dir.write("rc.toml", &redis.runtime_config()), &[]));
}

fn full_flow(h: &Host) {
    let reply = register(h, "Bob@Example.org");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"msg": SENT, "valid": true}));
    let mail = outbox(h, "bob@example.org").unwrap();
    assert_eq!(mail["to"], "bob@example.org");
    assert!(mail["subject"]
        .as_str()
        .unwrap()
        .starts_with("Validez votre identité - deces.matchid.io - "));
    let code = code(h, "bob@example.org");
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    assert!(!reply.text().contains(&code));

    assert_eq!(
        login(h, "bob@example.org", "000000").json(),
        json!({"msg": WRONG})
    );
    let ok = login(h, "bob@example.org", &code);
    assert_eq!(ok.status, 200);
    let body = ok.json();
    assert_eq!(body["msg"], "jwt properly generated");
    let token = body["access_token"].as_str().unwrap().to_string();
    let claims = claims_of(&token);
    assert_eq!(claims["user"], "bob@example.org");
    assert_eq!(claims["scopes"], json!(["user"]));
    let text = claims.to_string();
    assert!(
        !text.contains(&code) && !text.contains("password"),
        "{text}"
    );
    let created: u64 = body["created_at"].as_str().unwrap().parse().unwrap();
    assert!(created.abs_diff(now()) < 60);
    assert_eq!(body["expiration_date"], (created + 30 * 86400).to_string());
    assert_eq!(
        body["renewal_limit_date"],
        (created + 360 * 86400).to_string()
    );
    // The code is single use.
    assert_eq!(login(h, "bob@example.org", &code).status, 401);

    let auth = format!("Bearer {token}");
    let valid = request(h.addr, "GET", AUTH, &[("authorization", &auth)], b"");
    assert_eq!(valid.status, 200);
    assert_eq!(valid.json()["msg"], "jwt is valid");
    let renewed = request(
        h.addr,
        "GET",
        &format!("{AUTH}?refresh=true"),
        &[("authorization", &auth)],
        b"",
    );
    assert_eq!(renewed.json()["msg"], "jwt has been properly renewed");
    assert_eq!(renewed.json()["created_at"], body["created_at"]);
    let new_token = renewed.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims_of(&new_token)["jti"], claims["jti"]);
    // The token opens /search's authenticated path.
    let search = request(
        h.addr,
        "GET",
        "/deces/api/v1/search?lastName=x",
        &[("authorization", &auth)],
        b"",
    );
    assert_ne!(search.status, 401);
}

#[test]
fn attempts_expiry_resend_and_cooldown_on_sqlite() {
    let dir = TempDir::new("accounts-rules");
    let rc = sqlite_runtime_config(&dir);
    attempts_expiry_resend_and_cooldown(rc.clone(), rc);
}

#[test]
fn attempts_expiry_resend_and_cooldown_on_redis() {
    let redis = Redis::start();
    let dir = TempDir::new("accounts-rules-redis");
    let rc = dir.write("rc.toml", &redis.runtime_config());
    attempts_expiry_resend_and_cooldown(rc.clone(), rc);
}

fn attempts_expiry_resend_and_cooldown(rc: PathBuf, rc2: PathBuf) {
    let h = start(rc, &[]);
    // Five wrong codes, then even the right one is refused.
    register(&h, "carol@example.org");
    let right = code(&h, "carol@example.org");
    for _ in 0..5 {
        assert_eq!(login(&h, "carol@example.org", "999999").status, 401);
    }
    assert_eq!(login(&h, "carol@example.org", &right).status, 401);

    // A resend inside the cooldown answers the same and sends nothing.
    register(&h, "dave@example.org");
    let first = outbox(&h, "dave@example.org").unwrap();
    let again = register(&h, "dave@example.org");
    assert_eq!(again.json(), json!({"msg": SENT, "valid": true}));
    assert_eq!(outbox(&h, "dave@example.org").unwrap(), first);
    drop(h);

    // Without a cooldown a resend replaces the code; a short lifetime expires it.
    let h = start(
        rc2,
        &[
            ("SPIN_VARIABLE_OTP_RESEND_COOLDOWN_SECONDS", "0"),
            ("SPIN_VARIABLE_OTP_TTL_SECONDS", "2"),
        ],
    );
    let mut old = String::new();
    let mut new = String::new();
    for _ in 0..20 {
        register(&h, "erin@example.org");
        old = code(&h, "erin@example.org");
        register(&h, "erin@example.org");
        new = code(&h, "erin@example.org");
        if old != new {
            break;
        }
    }
    assert_ne!(old, new, "a resend sends a new code");
    assert_eq!(login(&h, "erin@example.org", &old).status, 401);
    assert_eq!(login(&h, "erin@example.org", &new).status, 200);
    register(&h, "erin@example.org");
    let late = code(&h, "erin@example.org");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(login(&h, "erin@example.org", &late).status, 401, "expired");
}

#[test]
fn bad_addresses_and_fields() {
    let dir = TempDir::new("accounts-bad");
    let h = start(
        sqlite_runtime_config(&dir),
        &[("SPIN_VARIABLE_DISPOSABLE_DOMAINS_EXTRA", "throwaway.test")],
    );
    for user in ["alice@yopmail.com", "x@throwaway.test"] {
        let r = register(&h, user);
        assert_eq!(r.json()["valid"], false, "{user}");
        assert!(r.json()["msg"].as_str().unwrap().contains("temporaires"));
        assert!(outbox(&h, user).is_none());
    }
    let long = format!("{}@example.org", "a".repeat(290));
    for user in [
        "bob@example.org\r\nBcc: eve@evil.test",
        "no-at-sign",
        long.as_str(),
    ] {
        let r = register(&h, user);
        assert_eq!(
            r.json(),
            json!({"msg": NOT_SENT, "valid": false}),
            "{user:?}"
        );
    }
    assert!(outbox(&h, "bob@example.org").is_none());
    assert!(outbox(&h, "eve@evil.test").is_none());
    let r = post(&h, REGISTER, json!({}));
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"message": "Validation Failed", "details": {"register.user": {"message": "'user' is required"}}})
    );
    let r = post(&h, AUTH, json!({"user": "bob@example.org"}));
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["details"],
        json!({"jsonToken.password": {"message": "'password' is required"}})
    );
    let r = request(h.addr, "POST", AUTH, &[], b"{bad json");
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"msg": "error - bad JSON formating"}))
    );
    assert_eq!(request(h.addr, "DELETE", AUTH, &[], b"").status, 405);
}

fn token(claims: Value, secret: &str) -> String {
    let claims: Claims = serde_json::from_value(claims).unwrap();
    format!("Bearer {}", sign(&claims, secret.as_bytes()))
}

#[test]
fn refused_tokens() {
    let dir = TempDir::new("accounts-tokens");
    let h = start(sqlite_runtime_config(&dir), &[]);
    let n = now();
    let good = json!({"user": "u@example.org", "scopes": ["user"], "iat": n, "exp": n + 3600, "jti": n.to_string()});
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "Bearer {}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&good)
    );
    let mut expired = good.clone();
    expired["exp"] = json!(n - 3600);
    let mut no_scope = good.clone();
    no_scope["scopes"] = json!(["other"]);
    for (auth, message) in [
        (none, "invalid signature"),
        (token(good.clone(), "not-the-secret"), "invalid signature"),
        (token(expired, SECRET), "jwt expired"),
        (
            token(no_scope, SECRET),
            "JWT does not contain required scope.",
        ),
        ("Bearer xxx".to_string(), "jwt malformed"),
    ] {
        let r = request(h.addr, "GET", AUTH, &[("authorization", &auth)], b"");
        assert_eq!(
            (r.status, r.json()),
            (401, json!({ "message": message })),
            "{message}"
        );
    }
    let r = h.get(AUTH);
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"message": "No token provided"}))
    );
    let ok = request(
        h.addr,
        "GET",
        AUTH,
        &[("authorization", &token(good, SECRET))],
        b"",
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn admin_and_static_users() {
    let dir = TempDir::new("accounts-admin");
    let users =
        std::fs::read_to_string(root().join("tests/data/goldens/fixtures/userDB.json")).unwrap();
    let h = start(
        sqlite_runtime_config(&dir),
        &[("SPIN_VARIABLE_STATIC_USERS_JSON", users.trim())],
    );
    assert_eq!(
        login(&h, "admin@example.test", "wrong").json(),
        json!({"msg": WRONG})
    );
    let admin = login(&h, "admin@example.test", "adminpass").json();
    let claims = claims_of(admin["access_token"].as_str().unwrap());
    assert_eq!(claims["scopes"], json!(["admin", "user"]));
    assert_eq!(admin["renewal_limit_date"], admin["created_at"]);
    let user = login(&h, "user1@gmail.com", "magicPass");
    assert_eq!(user.status, 200);
    assert!(!user.json()["access_token"]
        .as_str()
        .map(claims_of)
        .unwrap()
        .to_string()
        .contains("magicPass"));
    assert_eq!(login(&h, "user1@gmail.com", "magicpass").status, 401);
}

#[test]
fn without_a_secret_the_auth_routes_are_off() {
    let dir = TempDir::new("accounts-off");
    let h = start(
        sqlite_runtime_config(&dir),
        &[("SPIN_VARIABLE_TOKEN_SECRET", "")],
    );
    for r in [
        register(&h, "bob@example.org"),
        login(&h, "admin@example.test", "adminpass"),
    ] {
        assert_eq!((r.status, r.json()), (503, json!({"msg": DOWN})));
    }
    assert!(h.log_text().contains("token_secret variable is empty"));
}

/// N concurrent right codes, spread over the hosts: exactly one token.
fn race(hosts: &[&Host], user: &str) {
    register(hosts[0], user);
    let code = code(hosts[0], user);
    let addrs: Vec<_> = hosts.iter().map(|h| h.addr).collect();
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let addr = addrs[i % addrs.len()];
            let (user, code) = (user.to_string(), code.clone());
            std::thread::spawn(move || {
                let body = json!({"user": user, "password": code}).to_string();
                request(addr, "POST", AUTH, &[], body.as_bytes()).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

#[test]
fn one_token_per_code_under_concurrency() {
    let dir = TempDir::new("accounts-race-sqlite");
    let h = start(sqlite_runtime_config(&dir), &[]);
    race(&[&h], "race1@example.org");

    let redis = Redis::start();
    let dir = TempDir::new("accounts-race-redis");
    let rc = dir.write("rc.toml", &redis.runtime_config());
    let a = start(rc.clone(), &[]);
    let b = start(rc, &[]);
    race(&[&a, &b], "race2@example.org");
}

#[test]
fn codes_survive_replicas_restarts_and_outages() {
    // Redis: asked on A, verified on B; asked on A, verified on A after a kill -9.
    let mut redis = Redis::start();
    let dir = TempDir::new("accounts-replicas");
    let rc = dir.write("rc.toml", &redis.runtime_config());
    let mut a = start(rc.clone(), &[]);
    let b = start(rc, &[]);
    register(&a, "frank@example.org");
    register(&a, "grace@example.org");
    let frank = code(&b, "frank@example.org");
    let grace = code(&a, "grace@example.org");
    a.kill_and_restart();
    assert_eq!(login(&b, "frank@example.org", &frank).status, 200);
    assert_eq!(login(&a, "grace@example.org", &grace).status, 200);

    // SQLite: a kill -9 loses nothing.
    let dir2 = TempDir::new("accounts-restart");
    let mut s = start(sqlite_runtime_config(&dir2), &[]);
    register(&s, "heidi@example.org");
    let heidi = code(&s, "heidi@example.org");
    s.kill_and_restart();
    assert_eq!(login(&s, "heidi@example.org", &heidi).status, 200);

    // Redis down: 503 on both routes, never a token.
    register(&a, "judy@example.org");
    let judy = code(&a, "judy@example.org");
    redis.stop();
    for r in [
        register(&a, "ivan@example.org"),
        login(&a, "judy@example.org", &judy),
        login(&b, "judy@example.org", &judy),
    ] {
        assert_eq!((r.status, r.json()), (503, json!({"msg": DOWN})));
    }
    // Back up (empty: this test Redis keeps nothing): both hosts recover without a restart.
    let _redis = Redis::start_on(redis.port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while register(&a, "ivan@example.org").status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "store never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let ivan = code(&a, "ivan@example.org");
    assert_eq!(login(&b, "ivan@example.org", &ivan).status, 200);
    assert_eq!(
        login(&b, "judy@example.org", &judy).status,
        401,
        "lost with the store, refused"
    );
}

#[test]
fn a_code_whose_mail_the_store_refuses_is_dropped_and_503() {
    let redis = Redis::start();
    let dir = TempDir::new("accounts-outbox-refused");
    let h = start(dir.write("rc.toml", &redis.runtime_config()), &[]);
    // The store takes the code but refuses its mail: every key may be written except the
    // outbox's, which may only be read (a store failing between the two writes).
    let acl = |keys: &[&str]| {
        let mut args = vec!["ACL", "SETUSER", "default", "resetkeys"];
        args.extend_from_slice(keys);
        assert_eq!(redis.command(&args).as_deref(), Some("OK"));
    };
    acl(&["~[^o]*", "~otp*", "%R~outbox:*"]);
    let r = register(&h, "mallory@example.org");
    assert_eq!((r.status, r.json()), (503, json!({"msg": DOWN})));
    assert_eq!(
        redis.command(&["KEYS", "otp:*"]).as_deref(),
        Some(""),
        "no code without a mail"
    );
    assert_eq!(outbox(&h, "mallory@example.org"), None);
    // The store whole again: the next request sends a code that works.
    acl(&["~*"]);
    let r = register(&h, "mallory@example.org");
    assert_eq!((r.status, r.json()["msg"].as_str()), (200, Some(SENT)));
    let code = code(&h, "mallory@example.org");
    assert_eq!(login(&h, "mallory@example.org", &code).status, 200);
}
