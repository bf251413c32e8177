//! Accounts: POST /register (one-time code by mail), POST /auth (code, admin or static
//! user → token), GET /auth (token check and refresh). Contract: api.md section 5; rules:
//! security.md. Plain functions over a key-value store, a mailer and a clock.

pub mod email;
pub mod kv;
pub mod otp;

use crate::api::JsonReply;
use crate::token::{self, Claims, TokenError};
use kv::{Kv, StoreDown};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const DAY: u64 = 86_400;

/// Settings, from variables.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    pub secret: Vec<u8>,
    pub admin_user: String,
    pub admin_password: String,
    /// email → sha256 hex of the password.
    pub static_users: HashMap<String, String>,
    pub user_token_days: u64,
    pub renewal_days: u64,
    pub admin_token_hours: u64,
    pub otp: otp::OtpRules,
    pub app_dns: String,
    pub disposable_extra: Vec<String>,
}

impl AccountsConfig {
    /// Parses the static users variable (empty: none).
    pub fn static_users(json: &str) -> HashMap<String, String> {
        serde_json::from_str::<HashMap<String, String>>(json)
            .map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k.trim().to_lowercase(), v.to_lowercase()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A message for the mailer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Why a mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailError {
    /// The mail goes into the store (the development outbox) and the store is down: an
    /// outage like any other, answered 503. (A write that timed out may still land
    /// later; the code it shows is dead by then.)
    StoreDown,
    /// The mail service refused the mail or could not be reached.
    Failed(String),
}

pub trait Mailer {
    fn send(&mut self, mail: &Mail) -> Result<(), MailError>;
}

/// The development outbox: the latest message to each address, in the store.
pub struct Outbox<'a>(pub &'a dyn Kv);

pub fn outbox_key(email: &str) -> String {
    format!("outbox:{}", email::hash(email))
}

impl Mailer for Outbox<'_> {
    fn send(&mut self, mail: &Mail) -> Result<(), MailError> {
        let bytes = serde_json::to_vec(mail).map_err(|e| MailError::Failed(e.to_string()))?;
        self.0
            .set(&outbox_key(&mail.to), &bytes)
            .map_err(|StoreDown| MailError::StoreDown)
    }
}

/// `GET /dev/outbox?user=<email>`: the latest message to that address, 404 when none.
pub fn outbox_reply(kv: &dyn Kv, user: &str) -> JsonReply {
    let found = email::normalise(user)
        .map(|e| kv.get(&outbox_key(&e)))
        .transpose();
    match found {
        Err(StoreDown) => unavailable(),
        Ok(Some(Some(bytes))) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => JsonReply::new(200, v),
            Err(_) => JsonReply::new(404, json!({ "msg": "no message" })),
        },
        Ok(_) => JsonReply::new(404, json!({ "msg": "no message" })),
    }
}

pub fn unavailable() -> JsonReply {
    JsonReply::new(503, json!({ "msg": "Service temporairement indisponible" }))
}

fn bad_json() -> JsonReply {
    JsonReply::new(400, json!({ "msg": "error - bad JSON formating" }))
}

fn wrong_credentials() -> JsonReply {
    JsonReply::new(401, json!({ "msg": "Wrong username or password" }))
}

/// Reads a JSON object body and the string fields it must have, as the original's
/// framework checked them (`<model>.<field>` paths in a 422).
fn fields<'a>(body: &'a [u8], model: &str, names: &[&str]) -> Result<Vec<String>, JsonReply> {
    let v: &'a serde_json::value::RawValue = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_str("{}").map_err(|_| bad_json())?
    } else {
        serde_json::from_slice(body).map_err(|_| bad_json())?
    };
    let obj: HashMap<&'a str, &'a serde_json::value::RawValue> = serde_json::from_str(v.get())
        .map_err(|_| {
            JsonReply::new(
                422,
                json!({ "message": "Validation Failed", "details": {
                    model: { "message": "invalid object" } } }),
            )
        })?;
    let mut details = Map::new();
    let mut out = Vec::new();
    for name in names {
        match obj
            .get(name)
            .map(|raw| serde_json::from_str::<String>(raw.get()))
        {
            Some(Ok(s)) => out.push(s),
            None => {
                details.insert(
                    format!("{model}.{name}"),
                    json!({ "message": format!("'{name}' is required") }),
                );
            }
            Some(Err(_)) => {
                let value: Value = serde_json::from_str(obj[name].get()).unwrap_or(Value::Null);
                details.insert(
                    format!("{model}.{name}"),
                    json!({ "message": "invalid string value", "value": value }),
                );
            }
        }
    }
    if details.is_empty() {
        Ok(out)
    } else {
        Err(JsonReply::new(
            422,
            json!({ "message": "Validation Failed", "details": details }),
        ))
    }
}

/// The mail a code is sent in.
pub fn code_mail(cfg: &AccountsConfig, email: &str, code: &str) -> Mail {
    let minutes = cfg.otp.ttl_seconds.div_ceil(60);
    Mail {
        to: email.to_string(),
        subject: format!(
            "Validez votre identité - {} - {}",
            cfg.app_dns,
            &email::hash(email)[..16]
        ),
        body: format!(
            "Bonjour,\n\nVotre code de validation est : {code}\n\nIl est valable {minutes} minutes et ne peut servir qu'une fois.\n\n{}\n",
            cfg.app_dns
        ),
    }
}

/// POST /register `{"user": "<email>"}`.
pub fn register(
    cfg: &AccountsConfig,
    kv: &dyn Kv,
    mailer: &mut dyn Mailer,
    body: &[u8],
    now: u64,
    new_code: impl FnOnce() -> (String, String),
) -> JsonReply {
    let user = match fields(body, "register", &["user"]) {
        Ok(mut f) => f.remove(0),
        Err(reply) => return reply,
    };
    let user = user.as_str();
    let not_sent = JsonReply::new(
        200,
        json!({ "msg": "Erreur lors de l'envoi du code par mail", "valid": false }),
    );
    let Some(email) = email::normalise(user) else {
        return not_sent;
    };
    if email::is_disposable(&email, &cfg.disposable_extra) {
        return JsonReply::new(
            200,
            json!({ "msg": "Le courriel fourni appartient à un fournisseur d'addresses temporaires", "valid": false }),
        );
    }
    let sent = JsonReply::new(
        200,
        json!({ "msg": "Un code vous a été envoyé à l'adresse indiquée", "valid": true }),
    );
    let (code, id) = new_code();
    match otp::issue(kv, &cfg.secret, &cfg.otp, &email, now, code, id) {
        Err(StoreDown) => unavailable(),
        Ok(otp::Issue::CoolingDown) => sent,
        Ok(otp::Issue::Send(code)) => match mailer.send(&code_mail(cfg, &email, &code)) {
            Ok(()) => sent,
            Err(e) => {
                // Nobody can know the code: drop it.
                let _ = kv.delete(&otp::record_key(&email::hash(&email)));
                match e {
                    MailError::StoreDown => unavailable(),
                    MailError::Failed(_) => not_sent,
                }
            }
        },
    }
}

/// A token and the dates the answers show.
fn token_reply(msg: &str, claims: &Claims, cfg: &AccountsConfig, with_token: bool) -> JsonReply {
    let mut body = Map::new();
    body.insert("msg".into(), msg.into());
    if with_token {
        body.insert(
            "access_token".into(),
            token::sign(claims, &cfg.secret).into(),
        );
    }
    let created = claims.created_at();
    body.insert("created_at".into(), created.to_string().into());
    body.insert("expiration_date".into(), claims.exp.to_string().into());
    body.insert(
        "renewal_limit_date".into(),
        renewal_limit(claims, cfg).to_string().into(),
    );
    JsonReply::new(200, Value::Object(body))
}

/// Until when a token may be refreshed: 360 days after its session began; never for admin
/// tokens (their limit is their creation).
fn renewal_limit(claims: &Claims, cfg: &AccountsConfig) -> u64 {
    if claims.scopes.iter().any(|s| s == "admin") {
        claims.created_at()
    } else {
        claims.created_at() + cfg.renewal_days * DAY
    }
}

fn new_claims(user: &str, scopes: &[&str], now: u64, lifetime: u64) -> Claims {
    Claims {
        user: user.to_string(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        iat: now,
        exp: now + lifetime,
        jti: Some(now.to_string()),
    }
}

/// POST /auth `{"user", "password"}`.
pub fn login(cfg: &AccountsConfig, kv: &dyn Kv, body: &[u8], now: u64) -> JsonReply {
    let given = match fields(body, "jsonToken", &["user", "password"]) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let (user, password) = (given[0].as_str(), given[1].as_str());
    let generated = "jwt properly generated";
    if !cfg.admin_user.is_empty()
        && !cfg.admin_password.is_empty()
        && user == cfg.admin_user
        && otp::constant_time_eq(password.as_bytes(), cfg.admin_password.as_bytes())
    {
        let claims = new_claims(user, &["admin", "user"], now, cfg.admin_token_hours * 3600);
        return token_reply(generated, &claims, cfg, true);
    }
    let Some(email) = email::normalise(user) else {
        return wrong_credentials();
    };
    if let Some(expected) = cfg.static_users.get(&email) {
        let given = email::hex(&Sha256::digest(password.as_bytes()));
        if otp::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            let claims = new_claims(&email, &["user"], now, cfg.user_token_days * DAY);
            return token_reply(generated, &claims, cfg, true);
        }
    }
    match otp::verify(kv, &cfg.secret, &cfg.otp, &email, password.trim(), now) {
        Err(StoreDown) => unavailable(),
        Ok(false) => wrong_credentials(),
        Ok(true) => {
            let claims = new_claims(&email, &["user"], now, cfg.user_token_days * DAY);
            token_reply(generated, &claims, cfg, true)
        }
    }
}

/// GET /auth: the token's dates, or (`refresh`) a new token for the same session.
pub fn check(
    cfg: &AccountsConfig,
    authorization: Option<&str>,
    refresh: bool,
    now: u64,
) -> JsonReply {
    let claims = match token::bearer(authorization)
        .and_then(|t| t.ok_or(TokenError::NoToken))
        .and_then(|t| token::verify(t, &cfg.secret, now, "user"))
    {
        Ok(c) => c,
        Err(e) => return e.reply(),
    };
    if !refresh {
        return token_reply("jwt is valid", &claims, cfg, false);
    }
    let limit = renewal_limit(&claims, cfg);
    if now >= limit {
        return JsonReply::new(
            200,
            json!({ "msg": "Token can't be refreshed for more than 1 year" }),
        );
    }
    let renewed = Claims {
        iat: now,
        exp: now + (cfg.user_token_days * DAY).min(limit - now),
        ..claims
    };
    token_reply("jwt has been properly renewed", &renewed, cfg, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv::MemoryKv;

    fn cfg() -> AccountsConfig {
        AccountsConfig {
            secret: b"a-test-secret".to_vec(),
            admin_user: "admin@example.test".into(),
            admin_password: "adminpass".into(),
            static_users: AccountsConfig::static_users(
                r#"{"User1@gmail.com": "8f2b2a5c0f9d6e6b0b7b7d8cfc8e4c1ad3f2d2b8e9b7c6a5d4e3f2a1b0c9d8e7"}"#,
            ),
            user_token_days: 30,
            renewal_days: 360,
            admin_token_hours: 24,
            otp: otp::OtpRules {
                ttl_seconds: 600,
                max_attempts: 5,
                cooldown_seconds: 60,
            },
            app_dns: "deces.matchid.io".into(),
            disposable_extra: vec![],
        }
    }

    #[derive(Default)]
    struct Sent(Vec<Mail>, bool);
    impl Mailer for Sent {
        fn send(&mut self, mail: &Mail) -> Result<(), MailError> {
            if self.1 {
                return Err(MailError::Failed("down".into()));
            }
            self.0.push(mail.clone());
            Ok(())
        }
    }

    fn body(reply: &JsonReply) -> Value {
        serde_json::from_str(&reply.body).unwrap()
    }

    fn code_of(mail: &Mail) -> String {
        mail.body.split(": ").nth(1).unwrap()[..6].to_string()
    }

    #[test]
    fn register_then_login_then_check_and_refresh() {
        let (c, kv, mut mails) = (cfg(), MemoryKv::default(), Sent::default());
        let r = register(
            &c,
            &kv,
            &mut mails,
            br#"{"user": " Bob@Example.org"}"#,
            1000,
            || ("123456".into(), "id1".into()),
        );
        assert_eq!(body(&r)["valid"], true);
        let mail = &mails.0[0];
        assert_eq!(mail.to, "bob@example.org");
        assert!(mail
            .subject
            .starts_with("Validez votre identité - deces.matchid.io - "));
        assert_eq!(code_of(mail), "123456");
        let r = login(
            &c,
            &kv,
            br#"{"user": "bob@example.org", "password": "123456"}"#,
            1010,
        );
        assert_eq!(r.status, 200);
        let b = body(&r);
        assert_eq!(b["msg"], "jwt properly generated");
        assert_eq!(b["created_at"], "1010");
        assert_eq!(b["expiration_date"], (1010 + 30 * DAY).to_string());
        assert_eq!(b["renewal_limit_date"], (1010 + 360 * DAY).to_string());
        let token = b["access_token"].as_str().unwrap().to_string();
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let claims = String::from_utf8(claims).unwrap();
        assert!(!claims.contains("123456") && !claims.contains("password"));
        let auth = format!("Bearer {token}");
        assert_eq!(
            body(&check(&c, Some(&auth), false, 2000))["msg"],
            "jwt is valid"
        );
        let renewed = body(&check(&c, Some(&auth), true, 2000));
        assert_eq!(renewed["msg"], "jwt has been properly renewed");
        assert_eq!(renewed["created_at"], "1010");
        assert_eq!(renewed["expiration_date"], (2000 + 30 * DAY).to_string());
        // Near the renewal limit the new token ends at the limit; past it, no refresh.
        let old = Claims {
            exp: 1010 + 400 * DAY,
            ..token::verify(&token, &c.secret, 2000, "user").unwrap()
        };
        let old = format!("Bearer {}", token::sign(&old, &c.secret));
        let near = check(&c, Some(&old), true, 1010 + 355 * DAY);
        assert_eq!(
            body(&near)["expiration_date"],
            (1010 + 360 * DAY).to_string()
        );
        assert_eq!(
            body(&check(&c, Some(&old), true, 1010 + 361 * DAY))["msg"],
            "Token can't be refreshed for more than 1 year"
        );
        // The code was used up.
        let again = login(
            &c,
            &kv,
            br#"{"user": "bob@example.org", "password": "123456"}"#,
            1020,
        );
        assert_eq!(again.status, 401);
    }

    #[test]
    fn register_refusals() {
        let (c, kv, mut mails) = (cfg(), MemoryKv::default(), Sent::default());
        let code = || ("123456".to_string(), "x".to_string());
        let r = register(
            &c,
            &kv,
            &mut mails,
            br#"{"user": "alice@yopmail.com"}"#,
            1,
            code,
        );
        assert_eq!(body(&r)["valid"], false);
        assert!(body(&r)["msg"].as_str().unwrap().contains("temporaires"));
        for bad in [
            r#"{"user": "bob@example.org\r\nBcc: x@y.z"}"#,
            r#"{"user": "nope"}"#,
        ] {
            let r = register(&c, &kv, &mut mails, bad.as_bytes(), 1, code);
            assert_eq!(
                body(&r)["msg"],
                "Erreur lors de l'envoi du code par mail",
                "{bad}: {}",
                r.body
            );
        }
        assert!(mails.0.is_empty());
        let r = register(&c, &kv, &mut mails, b"{}", 1, code);
        assert_eq!(r.status, 422);
        assert_eq!(
            body(&r),
            json!({"message": "Validation Failed", "details": {"register.user": {"message": "'user' is required"}}})
        );
        assert_eq!(register(&c, &kv, &mut mails, b"{bad", 1, code).status, 400);
        let mut down = Sent(vec![], true);
        let r = register(
            &c,
            &kv,
            &mut down,
            br#"{"user": "bob@example.org"}"#,
            1,
            code,
        );
        assert_eq!(body(&r)["valid"], false);
        assert!(
            kv.records.lock().unwrap().is_empty(),
            "no code without a mail"
        );
    }

    /// The store, with writes to the outbox failing (the store went down between the
    /// code and its mail).
    struct OutboxDown(MemoryKv);
    impl Kv for OutboxDown {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreDown> {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreDown> {
            if key.starts_with("outbox:") {
                return Err(StoreDown);
            }
            self.0.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), StoreDown> {
            self.0.delete(key)
        }
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreDown> {
            self.0.increment(key, delta)
        }
    }

    #[test]
    fn an_outbox_the_store_cannot_take_is_an_outage() {
        let (c, kv) = (cfg(), OutboxDown(MemoryKv::default()));
        let code = || ("123456".to_string(), "x".to_string());
        let user = br#"{"user": "bob@example.org"}"#;
        let r = register(&c, &kv, &mut Outbox(&kv), user, 1, code);
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(body(&r), body(&unavailable()));
        assert!(
            kv.0.records.lock().unwrap().is_empty(),
            "no code without a mail"
        );
        // The same store taking the outbox: the code is sent.
        let kv = MemoryKv::default();
        let r = register(&c, &kv, &mut Outbox(&kv), user, 1, code);
        assert_eq!(body(&r)["valid"], true);
        assert!(outbox_reply(&kv, "bob@example.org").body.contains("123456"));
    }

    #[test]
    fn login_refusals_and_admin() {
        let (c, kv) = (cfg(), MemoryKv::default());
        let r = login(&c, &kv, b"{}", 1);
        assert_eq!(r.status, 422);
        assert_eq!(
            body(&r)["details"],
            json!({"jsonToken.user": {"message": "'user' is required"}, "jsonToken.password": {"message": "'password' is required"}})
        );
        let r = login(
            &c,
            &kv,
            br#"{"user": "admin@example.test", "password": "wrong"}"#,
            1,
        );
        assert_eq!(
            (r.status, body(&r)),
            (401, json!({"msg": "Wrong username or password"}))
        );
        let r = login(
            &c,
            &kv,
            br#"{"user": "admin@example.test", "password": "adminpass"}"#,
            1000,
        );
        let b = body(&r);
        assert_eq!(b["created_at"], "1000");
        assert_eq!(b["renewal_limit_date"], "1000");
        assert_eq!(b["expiration_date"], (1000 + DAY).to_string());
        let admin = format!("Bearer {}", b["access_token"].as_str().unwrap());
        assert_eq!(
            body(&check(&c, Some(&admin), true, 1001))["msg"],
            "Token can't be refreshed for more than 1 year"
        );
        kv.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let r = login(
            &c,
            &kv,
            br#"{"user": "bob@example.org", "password": "123456"}"#,
            1,
        );
        assert_eq!(
            (r.status, body(&r)),
            (503, json!({"msg": "Service temporairement indisponible"}))
        );
    }

    #[test]
    fn static_users() {
        let mut c = cfg();
        let hash = email::hex(&Sha256::digest(b"magicPass"));
        c.static_users =
            AccountsConfig::static_users(&format!(r#"{{"user1@gmail.com": "{hash}"}}"#));
        let kv = MemoryKv::default();
        let r = login(
            &c,
            &kv,
            br#"{"user": "user1@gmail.com", "password": "magicPass"}"#,
            5,
        );
        assert_eq!(r.status, 200);
        let r = login(
            &c,
            &kv,
            br#"{"user": "user1@gmail.com", "password": "magicpass"}"#,
            5,
        );
        assert_eq!(r.status, 401);
    }

    #[test]
    fn check_errors() {
        let c = cfg();
        assert_eq!(
            body(&check(&c, None, false, 1)),
            json!({"message": "No token provided"})
        );
        assert_eq!(check(&c, Some("Bearer xxx"), false, 1).status, 401);
    }
}
