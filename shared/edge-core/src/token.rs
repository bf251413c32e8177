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

/// What a token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub user: String,
    pub scopes: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    pub jti: u64,
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
            jti: 1000,
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
    fn bearer_headers() {
        assert_eq!(bearer(None), Ok(None));
        assert_eq!(bearer(Some("Bearer")), Err(TokenError::MustBeProvided));
        assert_eq!(bearer(Some("Bearer ")), Err(TokenError::MustBeProvided));
        assert_eq!(bearer(Some("Bearer abc")), Ok(Some("abc")));
        assert_eq!(TokenError::MustBeProvided.reply().status, 401);
    }
}
