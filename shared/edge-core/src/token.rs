//! HS256 tokens: signing and verification (security.md "Tokens"): HS256 only, signature,
//! expiry and scope checked, errors worded as the original's.

use crate::api::JsonReply;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

/// Leeway on `exp`, in seconds.
const LEEWAY: u64 = 30;

/// What a token says. `jti` is the creation time of the first token of a session, as text
/// (the original's tokens carry it as a string; a number is accepted too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub user: String,
    pub scopes: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    #[serde(
        default,
        deserialize_with = "text_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub jti: Option<String>,
}

impl Claims {
    /// When the session began: `jti`, or `iat` for a token without one.
    pub fn created_at(&self) -> u64 {
        self.jti
            .as_deref()
            .and_then(|j| j.parse().ok())
            .unwrap_or(self.iat)
    }
}

fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    NoToken,
    MustBeProvided,
    Malformed,
    Expired,
    InvalidSignature,
    MissingScope,
}

impl TokenError {
    pub fn message(self) -> &'static str {
        match self {
            TokenError::NoToken => "No token provided",
            TokenError::MustBeProvided => "jwt must be provided",
            TokenError::Malformed => "jwt malformed",
            TokenError::Expired => "jwt expired",
            TokenError::InvalidSignature => "invalid signature",
            TokenError::MissingScope => "JWT does not contain required scope.",
        }
    }

    /// 401 (**FIX**: the original answered 422).
    pub fn reply(self) -> JsonReply {
        JsonReply::new(401, json!({ "message": self.message() }))
    }
}

/// The token of an `Authorization` header: `None` without a header.
pub fn bearer(header: Option<&str>) -> Result<Option<&str>, TokenError> {
    let Some(h) = header else { return Ok(None) };
    let h = h.trim();
    let token = match h.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        None if h.eq_ignore_ascii_case("bearer") => "",
        _ => h,
    };
    if token.is_empty() {
        return Err(TokenError::MustBeProvided);
    }
    Ok(Some(token))
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length")
}

/// Signs claims with HS256.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Verifies a token at time `now` (seconds) and the scope the route needs.
pub fn verify(token: &str, secret: &[u8], now: u64, scope: &str) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if header["alg"] != "HS256" || secret.is_empty() {
        return Err(TokenError::InvalidSignature);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::InvalidSignature)?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig)
        .map_err(|_| TokenError::InvalidSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.exp + LEEWAY <= now {
        return Err(TokenError::Expired);
    }
    if !claims.scopes.iter().any(|s| s == scope) {
        return Err(TokenError::MissingScope);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(scopes: &[&str], exp: u64) -> Claims {
        Claims {
            user: "a@b.test".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            iat: 1000,
            exp,
            jti: Some("1000".into()),
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let t = sign(&claims(&["user"], 5000), b"secret");
        assert!(verify(&t, b"secret", 2000, "user").is_ok());
        assert_eq!(
            verify(&t, b"other", 2000, "user"),
            Err(TokenError::InvalidSignature)
        );
        assert_eq!(
            verify(&t, b"secret", 6000, "user"),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&t, b"secret", 2000, "admin"),
            Err(TokenError::MissingScope)
        );
        assert_eq!(
            verify("abc", b"secret", 2000, "user"),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify(&t, b"", 2000, "user"),
            Err(TokenError::InvalidSignature)
        );
    }

    #[test]
    fn refuses_alg_none() {
        let t = sign(&claims(&["user"], 5000), b"secret");
        let payload = t.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#)
        );
        assert_eq!(
            verify(&none, b"secret", 2000, "user"),
            Err(TokenError::InvalidSignature)
        );
    }

    #[test]
    fn reads_the_original_tokens() {
        // A token the original minted (string jti, and the password it used to sign in).
        let t = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyIjoidXNlcjFAZ21haWwuY29tIiwicGFzc3dvcmQiOiJtYWdpY1Bhc3MiLCJzY29wZXMiOlsidXNlciJdLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMCwianRpIjoiMTcwMDAwMDAwMCJ9";
        let payload: Claims = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(t.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(payload.created_at(), 1_700_000_000);
        assert_eq!(payload.exp, 4_102_444_800);
        let resigned = sign(&payload, b"k");
        assert!(!resigned.contains("magicPass"));
        assert!(verify(&resigned, b"k", 1_800_000_000, "user").is_ok());
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(None), Ok(None));
        assert_eq!(bearer(Some("Bearer")), Err(TokenError::MustBeProvided));
        assert_eq!(bearer(Some("Bearer ")), Err(TokenError::MustBeProvided));
        assert_eq!(bearer(Some("Bearer abc")), Ok(Some("abc")));
        assert_eq!(TokenError::MustBeProvided.reply().status, 401);
    }
}
