//! Email addresses: normalised, checked, hashed; the disposable-domain list.

use sha2::{Digest, Sha256};

/// The shipped disposable-domain list (sorted, one domain per line; see the README).
const DISPOSABLE: &str = include_str!("../../data/disposable-domains.txt");

/// A normalised address: trimmed, lowercased, at most 254 characters, one `@` with text on
/// both sides, no whitespace or control characters.
pub fn normalise(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let ok = !e.is_empty()
        && e.chars().count() <= 254
        && !e.chars().any(|c| c.is_control() || c.is_whitespace())
        && e.matches('@').count() == 1
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    ok.then_some(e)
}

/// Hex sha256 of a normalised address: the key under which its records live.
pub fn hash(email: &str) -> String {
    hex(&Sha256::digest(email.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the address's domain, or a parent of it, is a disposable-mail provider.
pub fn is_disposable(email: &str, extra: &[String]) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let mut d = domain;
    loop {
        if listed(d) || extra.iter().any(|x| x.eq_ignore_ascii_case(d)) {
            return true;
        }
        match d.split_once('.') {
            Some((_, parent)) if parent.contains('.') => d = parent,
            _ => return false,
        }
    }
}

/// Binary search over the sorted list's lines, without building an index.
fn listed(domain: &str) -> bool {
    let text = DISPOSABLE.as_bytes();
    let (mut lo, mut hi) = (0usize, text.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        let start = text[..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let end = text[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| start + i);
        match text[start..end].cmp(domain.as_bytes()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses() {
        assert_eq!(
            normalise("  Bob@Example.ORG ").as_deref(),
            Some("bob@example.org")
        );
        let long = format!("{}@example.org", "a".repeat(250));
        for bad in [
            "",
            "bob",
            "a@b@c.org",
            "bob@example.org\r\nBcc: x@y.z",
            "a b@c.org",
            "@x.org",
            "a@x",
            &long,
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
    }

    #[test]
    fn disposable_domains() {
        assert!(is_disposable("alice@yopmail.com", &[]));
        assert!(is_disposable("alice@mailinator.com", &[]));
        assert!(is_disposable("alice@sub.yopmail.com", &[]));
        assert!(!is_disposable("bob@example.org", &[]));
        assert!(is_disposable("bob@example.org", &["example.org".into()]));
        // The first and last entries are found too.
        let first = DISPOSABLE.lines().next().unwrap();
        let last = DISPOSABLE.lines().last().unwrap();
        assert!(listed(first) && listed(last));
        assert!(!listed("") && !listed("zzzzzzzz.invalid"));
    }
}
