//! The account components' Spin side: the store, settings, randomness and mail delivery.

use crate::{number_variable, outbound, variable};
use edge_core::accounts::kv::{Kv, StoreDown};
use edge_core::accounts::{otp::OtpRules, AccountsConfig, Mail, MailError, Mailer};
use edge_core::upstream::{BaseUrl, Outcome};
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};
use std::time::Duration;

/// The `default` store: records through Spin's key-value API, counters through
/// wasi:keyvalue atomics.
pub struct SpinKv {
    store: Store,
    bucket: wasi_store::Bucket,
}

impl SpinKv {
    pub fn open() -> Result<Self, StoreDown> {
        let store = Store::open_default().map_err(|e| {
            crate::log!("key-value store unavailable: {e}");
            StoreDown
        })?;
        let bucket = wasi_store::open("default").map_err(|_| StoreDown)?;
        Ok(SpinKv { store, bucket })
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreDown> {
        self.store.get(key).map_err(|_| StoreDown)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreDown> {
        self.store.set(key, value).map_err(|_| StoreDown)
    }
    fn delete(&self, key: &str) -> Result<(), StoreDown> {
        self.store.delete(key).map_err(|_| StoreDown)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreDown> {
        atomics::increment(&self.bucket, key, delta).map_err(|_| StoreDown)
    }
}

/// The settings; `None` (and one log line) while `token_secret` is empty.
pub fn config() -> Option<AccountsConfig> {
    let secret = variable("token_secret", "");
    if secret.is_empty() {
        crate::log!("auth routes off: the token_secret variable is empty");
        return None;
    }
    if secret.len() < 32 {
        crate::log!("warning: token_secret is shorter than 32 bytes");
    }
    Some(AccountsConfig {
        secret: secret.into_bytes(),
        admin_user: variable("admin_user", ""),
        admin_password: variable("admin_password", ""),
        static_users: AccountsConfig::static_users(&variable("static_users_json", "")),
        user_token_days: number_variable("user_token_days", 30),
        renewal_days: number_variable("token_renewal_days", 360),
        admin_token_hours: number_variable("admin_token_hours", 24),
        otp: OtpRules {
            ttl_seconds: number_variable("otp_ttl_seconds", 600),
            max_attempts: number_variable("otp_max_attempts", 5) as i64,
            cooldown_seconds: number_variable("otp_resend_cooldown_seconds", 60),
        },
        app_dns: variable("app_dns", "deces.matchid.io"),
        disposable_extra: variable("disposable_domains_extra", "")
            .split(',')
            .map(|d| d.trim().to_lowercase())
            .filter(|d| !d.is_empty())
            .collect(),
    })
}

/// A fresh code and record id from the host's CSPRNG (wasi:random).
pub fn new_code() -> (String, String) {
    let code =
        edge_core::accounts::otp::code_from(|| wasi::random::random::get_random_u64() as u32);
    let id = edge_core::accounts::email::hex(&wasi::random::random::get_random_bytes(16));
    (code, id)
}

/// Mail through an HTTP mail API: Brevo's transactional email API
/// (`POST https://api.brevo.com/v3/smtp/email`, header `api-key`), or any service speaking
/// the same JSON. URL, key and sender are the `mail_api_url`, `mail_api_key` and `mail_from`
/// variables.
pub struct HttpMailer {
    pub url: String,
    pub key: String,
    pub from: String,
}

impl HttpMailer {
    pub fn from_variables() -> Self {
        HttpMailer {
            url: variable("mail_api_url", "https://api.brevo.com/v3/smtp/email"),
            key: variable("mail_api_key", ""),
            from: variable("mail_from", ""),
        }
    }
}

impl Mailer for HttpMailer {
    fn send(&mut self, mail: &Mail) -> Result<(), MailError> {
        let base = BaseUrl::parse(&self.url)
            .ok_or_else(|| MailError::Failed("mail_api_url is not an http(s) URL".into()))?;
        let body = serde_json::json!({
            "sender": { "email": self.from },
            "to": [ { "email": mail.to } ],
            "subject": mail.subject,
            "textContent": mail.body,
        })
        .to_string();
        let path = match base.path_with_query("", None) {
            p if p.is_empty() => "/".to_string(),
            p => p,
        };
        let outcome = outbound::call_with_headers(
            &base,
            "POST",
            &path,
            &[("api-key", &self.key)],
            Some(body.as_bytes()),
            Duration::from_secs(10),
        );
        match outcome {
            Outcome::Answer { status, .. } if (200..300).contains(&status) => Ok(()),
            Outcome::Answer { status, .. } => {
                Err(MailError::Failed(format!("mail API answered {status}")))
            }
            other => Err(MailError::Failed(format!(
                "mail API not reached: {other:?}"
            ))),
        }
    }
}
