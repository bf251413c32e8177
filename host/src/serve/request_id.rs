//! The request id: `x-request-id` as the client (or a proxy in front) sent it when it is a
//! safe token, a new random one otherwise. The component receives it in the same header,
//! the answer carries it back, and the request's log line names it.

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a request.
const MAX_LEN: usize = 128;

/// The request's id: the one it carries when safe to log and echo, else a new one.
pub fn of(headers: &HeaderMap) -> HeaderValue {
    let given = headers.get(&HEADER).filter(|v| safe(v.as_bytes()));
    match given {
        Some(v) => v.clone(),
        None => HeaderValue::from_str(&format!("{:032x}", rand::random::<u128>()))
            .unwrap_or_else(|_| HeaderValue::from_static("-")),
    }
}

/// 1 to 128 letters, digits, `-`, `_`, `.` or `:`: nothing a log line or a header could
/// misread.
fn safe(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(id: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_bytes(id).unwrap());
        h
    }

    #[test]
    fn safe_ids_are_kept_others_replaced() {
        for ok in ["abc", "3f2a-77_x.y:z", &"a".repeat(128)] {
            assert_eq!(of(&with(ok.as_bytes())).as_bytes(), ok.as_bytes(), "{ok}");
        }
        for bad in [
            &b"a b"[..],
            b"a\"b",
            b"{x}",
            b"caf\xc3\xa9",
            &[b'a'; 129][..],
        ] {
            let id = of(&with(bad));
            assert_ne!(id.as_bytes(), bad);
            assert_eq!(id.len(), 32);
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        }
        let (a, b) = (of(&HeaderMap::new()), of(&HeaderMap::new()));
        assert_ne!(a, b, "new ids differ");
    }
}
