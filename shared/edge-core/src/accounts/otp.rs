//! One-time codes (security.md "One-time codes"): issued from the CSPRNG, stored only as a
//! keyed hash under the email's hash, one live code per email, limited lifetime, attempt
//! cap, single use under concurrency, resend cooldown. State lives only in the store.

use super::email::{hash, hex};
use super::kv::{Kv, StoreDown};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The rules, from variables.
#[derive(Debug, Clone)]
pub struct OtpRules {
    pub ttl_seconds: u64,
    pub max_attempts: i64,
    /// First resend cooldown; doubles with each resend inside an hour; 0 disables.
    pub cooldown_seconds: u64,
}

/// The stored record of an email's live code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtpRecord {
    /// Random id of this issued code: its counters are keyed by it.
    pub id: String,
    /// HMAC-SHA256 of the code, keyed with the server secret (hex).
    pub mac: String,
    pub issued_at: u64,
    pub expires_at: u64,
    /// Sends inside the current hour, that hour's start, and the end of the cooldown.
    pub sends: u32,
    pub window_start: u64,
    pub cooldown_until: u64,
}

pub fn record_key(email_hash: &str) -> String {
    format!("otp:{email_hash}")
}

/// The counters of one issued code. Their names end with the code's expiry, so that the
/// sweep can delete them once no verifier can still be using them (they must outlive the
/// record: a verifier that read the record before it was deleted still increments them).
fn attempts_key(email_hash: &str, record: &OtpRecord) -> String {
    format!(
        "otp-attempts:{email_hash}:{}:{}",
        record.id, record.expires_at
    )
}

fn used_key(email_hash: &str, record: &OtpRecord) -> String {
    format!("otp-used:{email_hash}:{}:{}", record.id, record.expires_at)
}

fn mac(secret: &[u8], email_hash: &str, id: &str, code: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(format!("otp|{email_hash}|{id}|{code}").as_bytes());
    hex(&m.finalize().into_bytes())
}

/// A 6-digit code from uniform random 32-bit words, without modulo bias.
pub fn code_from(mut next_u32: impl FnMut() -> u32) -> String {
    // The largest multiple of 10^6 that fits in a u32: draws at or above it are redrawn.
    const LIMIT: u32 = 4_294_000_000;
    loop {
        let x = next_u32();
        if x < LIMIT {
            return format!("{:06}", x % 1_000_000);
        }
    }
}

/// What a code request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// Send this code.
    Send(String),
    /// Inside the cooldown: send nothing, answer as if sent.
    CoolingDown,
}

/// Issues a code for a normalised email, replacing any previous one.
pub fn issue(
    kv: &dyn Kv,
    secret: &[u8],
    rules: &OtpRules,
    email: &str,
    now: u64,
    code: String,
    id: String,
) -> Result<Issue, StoreDown> {
    let h = hash(email);
    let previous: Option<OtpRecord> = kv
        .get(&record_key(&h))?
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (mut sends, mut window_start) = (0, now);
    if let Some(p) = &previous {
        if rules.cooldown_seconds > 0 && now < p.cooldown_until {
            return Ok(Issue::CoolingDown);
        }
        if now < p.window_start + 3600 {
            (sends, window_start) = (p.sends, p.window_start);
        }
    }
    sends += 1;
    let cooldown = rules
        .cooldown_seconds
        .saturating_mul(1u64 << (sends - 1).min(20));
    let record = OtpRecord {
        mac: mac(secret, &h, &id, &code),
        id,
        issued_at: now,
        expires_at: now + rules.ttl_seconds,
        sends,
        window_start,
        cooldown_until: now.saturating_add(cooldown),
    };
    kv.set(
        &record_key(&h),
        &serde_json::to_vec(&record).unwrap_or_default(),
    )?;
    // The old code's counters stay until the sweep: a verifier that read the old record
    // just before it was replaced still counts on them.
    Ok(Issue::Send(code))
}

/// Checks a code; `Ok(true)` for the one caller that may have a token.
pub fn verify(
    kv: &dyn Kv,
    secret: &[u8],
    rules: &OtpRules,
    email: &str,
    code: &str,
    now: u64,
) -> Result<bool, StoreDown> {
    let h = hash(email);
    let key = record_key(&h);
    let Some(record) = kv
        .get(&key)?
        .and_then(|b| serde_json::from_slice::<OtpRecord>(&b).ok())
    else {
        return Ok(false);
    };
    if now >= record.expires_at {
        // Expired: absent, and deleted once its resend cooldown is over too.
        if now >= record.cooldown_until {
            let _ = kv.delete(&key);
        }
        return Ok(false);
    }
    // Every attempt counts, right or wrong: past the cap the code is dead.
    let attempts = kv.increment(&attempts_key(&h, &record), 1)?;
    if attempts > rules.max_attempts {
        return Ok(false);
    }
    let expected = mac(secret, &h, &record.id, code);
    if !constant_time_eq(expected.as_bytes(), record.mac.as_bytes()) {
        return Ok(false);
    }
    // Right code: exactly one concurrent verifier reads 1 here.
    if kv.increment(&used_key(&h, &record), 1)? != 1 {
        return Ok(false);
    }
    let _ = kv.delete(&key);
    Ok(true)
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::kv::MemoryKv;

    const SECRET: &[u8] = b"secret";

    fn rules() -> OtpRules {
        OtpRules {
            ttl_seconds: 600,
            max_attempts: 5,
            cooldown_seconds: 60,
        }
    }

    fn send(kv: &MemoryKv, now: u64, code: &str, id: &str) -> Issue {
        issue(
            kv,
            SECRET,
            &rules(),
            "bob@example.org",
            now,
            code.into(),
            id.into(),
        )
        .unwrap()
    }

    fn check(kv: &MemoryKv, code: &str, now: u64) -> bool {
        verify(kv, SECRET, &rules(), "bob@example.org", code, now).unwrap()
    }

    #[test]
    fn right_code_once() {
        let kv = MemoryKv::default();
        assert_eq!(send(&kv, 1000, "123456", "a"), Issue::Send("123456".into()));
        assert!(!check(&kv, "000000", 1001));
        assert!(check(&kv, "123456", 1002));
        assert!(!check(&kv, "123456", 1003), "single use");
    }

    #[test]
    fn nothing_in_clear() {
        let kv = MemoryKv::default();
        send(&kv, 1000, "123456", "a");
        for (k, v) in kv.records.lock().unwrap().iter() {
            let v = String::from_utf8_lossy(v);
            assert!(!k.contains("bob") && !v.contains("bob") && !v.contains("123456"));
        }
    }

    #[test]
    fn expiry() {
        let kv = MemoryKv::default();
        send(&kv, 1000, "123456", "a");
        assert!(!check(&kv, "123456", 1600));
    }

    #[test]
    fn sixth_attempt_is_dead_even_with_the_right_code() {
        let kv = MemoryKv::default();
        send(&kv, 1000, "123456", "a");
        for _ in 0..5 {
            assert!(!check(&kv, "999999", 1001));
        }
        assert!(!check(&kv, "123456", 1002));
    }

    #[test]
    fn fifth_attempt_may_be_right() {
        let kv = MemoryKv::default();
        send(&kv, 1000, "123456", "a");
        for _ in 0..4 {
            assert!(!check(&kv, "999999", 1001));
        }
        assert!(check(&kv, "123456", 1002));
    }

    #[test]
    fn resend_replaces_and_cooldown_doubles() {
        let kv = MemoryKv::default();
        send(&kv, 1000, "111111", "a");
        assert_eq!(send(&kv, 1030, "222222", "b"), Issue::CoolingDown);
        assert_eq!(send(&kv, 1060, "222222", "b"), Issue::Send("222222".into()));
        assert!(!check(&kv, "111111", 1061), "the old code is replaced");
        // Second send: cooldown 120 s.
        assert_eq!(send(&kv, 1170, "333333", "c"), Issue::CoolingDown);
        assert_eq!(send(&kv, 1180, "333333", "c"), Issue::Send("333333".into()));
        assert!(check(&kv, "333333", 1181));
        // A fresh hour starts over at 60 s.
        send(&kv, 9000, "444444", "d");
        assert_eq!(send(&kv, 9060, "555555", "e"), Issue::Send("555555".into()));
    }

    #[test]
    fn resend_resets_attempts() {
        let kv = MemoryKv::default();
        send(&kv, 1000, "111111", "a");
        for _ in 0..5 {
            check(&kv, "999999", 1001);
        }
        send(&kv, 1100, "222222", "b");
        assert!(check(&kv, "222222", 1101));
    }

    #[test]
    fn concurrent_right_codes_yield_one_winner() {
        let kv = std::sync::Arc::new(MemoryKv::default());
        send(&kv, 1000, "123456", "a");
        let winners: usize = (0..20)
            .map(|_| {
                let kv = kv.clone();
                std::thread::spawn(move || check(&kv, "123456", 1001) as usize)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(winners, 1);
    }

    #[test]
    fn store_down_is_an_error_not_a_pass() {
        let kv = MemoryKv::default();
        send(&kv, 1000, "123456", "a");
        kv.down.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            verify(&kv, SECRET, &rules(), "bob@example.org", "123456", 1001),
            Err(StoreDown)
        );
    }

    #[test]
    fn codes_are_six_digits_without_bias() {
        let mut draws = [4_294_000_000u32, 4_294_967_295, 7].into_iter();
        assert_eq!(code_from(|| draws.next().unwrap()), "000007");
        assert_eq!(code_from(|| 999_999), "999999");
    }
}
