//! A validating JSON scanner for the Elasticsearch search answer: one pass over the text,
//! values handed out as slices of it, strings searched eight bytes at a time.
//!
//! It reads only what is plainly well-formed: anything it is unsure of (an escaped key, a
//! nesting deeper than `MAX_DEPTH`, a malformed value) makes it give up, and the caller
//! then reads the text with serde_json, which decides. So it never accepts what serde_json
//! would refuse, and where it accepts, it reads the same values.

/// Deeper nesting is left to serde_json (which refuses beyond 128).
const MAX_DEPTH: u32 = 100;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` equal to zero, marked by their high bit (exact up to the first).
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

pub struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.at).copied()
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// Consumes `byte` after any whitespace.
    #[inline(always)]
    pub fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// An object: `each` is called with every key (`None` for a key holding escapes,
    /// which the scanner does not decode) and must consume its value.
    pub fn object(
        &mut self,
        depth: u32,
        mut each: impl FnMut(&mut Self, Option<&'a str>) -> Option<()>,
    ) -> Option<()> {
        self.members(depth, b'{', b'}', |s| {
            s.skip_whitespace();
            let (start, end, escaped) = s.string()?;
            s.eat(b':')?;
            // The key's text inside its quotes, sliced once.
            let key = (!escaped).then(|| &s.text[start + 1..end - 1]);
            each(s, key)
        })
    }

    /// An array: `each` is called before every item and must consume it.
    pub fn array(&mut self, depth: u32, each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.members(depth, b'[', b']', each)
    }

    /// `open`, members separated by commas (`member` consumes one), `close`. Inlined into
    /// `object` and `array`, so that each has its own loop (1% fewer instructions).
    #[inline(always)]
    fn members(
        &mut self,
        depth: u32,
        open: u8,
        close: u8,
        mut member: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(open)?;
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            member(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b if b == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Any JSON value, checked; its text (without surrounding whitespace).
    pub fn value(&mut self, depth: u32) -> Option<&'a str> {
        let start = match self.peek()? {
            b'"' => {
                let (start, end, _) = self.string()?;
                return Some(&self.text[start..end]);
            }
            b'{' => {
                let start = self.at;
                self.object(depth + 1, |s, _| s.value(depth + 1).map(drop))?;
                start
            }
            b'[' => {
                let start = self.at;
                self.array(depth + 1, |s| s.value(depth + 1).map(drop))?;
                start
            }
            b't' => self.literal("true")?,
            b'f' => self.literal("false")?,
            b'n' => self.literal("null")?,
            _ => self.number()?,
        };
        Some(&self.text[start..self.at])
    }

    fn literal(&mut self, word: &str) -> Option<usize> {
        let start = self.at;
        self.bytes()[start..].starts_with(word.as_bytes()).then(|| {
            self.at += word.len();
            start
        })
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; its start.
    fn number(&mut self) -> Option<usize> {
        let start = self.at;
        let b = self.bytes();
        if b.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match b.get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if b.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.at_least_one_digit()?;
        }
        if let Some(b'e' | b'E') = b.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = b.get(self.at) {
                self.at += 1;
            }
            self.at_least_one_digit()?;
        }
        Some(start)
    }

    fn digits(&mut self) {
        while self.bytes().get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// A string at the cursor: where its text starts and ends (quotes included), and
    /// whether it holds escapes.
    ///
    /// Escapes are checked as serde_json checks them when skipping a string (`\u`
    /// followed by four hex digits, not whether they pair up); raw control characters
    /// are refused. Inlined into its callers: 11% fewer instructions per answer than as a
    /// call.
    #[inline(always)]
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        let b = self.bytes();
        let start = self.at;
        if b.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            // Eight bytes at a time up to the next quote, backslash or control character.
            while let Some(chunk) = b.get(i..i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().ok()?);
                let quote = zero_bytes(word ^ (ONES * u64::from(b'"')));
                let backslash = zero_bytes(word ^ (ONES * u64::from(b'\\')));
                let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
                let found = quote | backslash | control;
                if found != 0 {
                    i += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            match *b.get(i)? {
                b'"' => {
                    self.at = i + 1;
                    return Some((start, self.at, escaped));
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let hex = b.get(i + 2..i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// What the scanner reads as one value, or `None`.
    fn scanned(text: &str) -> Option<&str> {
        let mut s = Scanner::new(text);
        let v = s.value(0)?;
        s.at_end().then_some(v)
    }

    #[test]
    fn reads_values_as_serde_json_does() {
        for text in [
            "\"plain\"",
            " \"with \\\"escapes\\\" and \\u00e9\" ",
            "\"long enough to be read eight bytes at a time, twice over\"",
            "\"é€ multibyte then a quote at the end of a word!\"",
            "-0.5e+10",
            "0",
            "[1, \"a\", [true, false, null], {}]",
            "{\"a\": {\"b\": [1.5, -2]}, \"c\": \"d\"}",
            "[]",
        ] {
            let expected = serde_json::from_str::<&RawValue>(text).unwrap().get();
            assert_eq!(scanned(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn gives_up_where_serde_json_refuses() {
        for text in [
            "\"unterminated",
            "\"control \u{1} char\"",
            "\"\u{1f}\"",
            "\"bad \\x escape\"",
            "\"short \\u12\"",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1 2]",
            "nul",
        ] {
            assert!(serde_json::from_str::<&RawValue>(text).is_err(), "{text}");
            assert_eq!(scanned(text), None, "{text}");
        }
        let deep = "[".repeat(150) + &"]".repeat(150);
        assert_eq!(scanned(&deep), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 20_000, failure_persistence: None, ..Default::default()
        })]

        /// On any text, the scanner either gives up or reads exactly what serde_json reads.
        #[test]
        fn never_disagrees_with_serde_json(text in "[ \\[\\]{}\",:a-c0-9.eE+\\-\\\\u\u{1}\u{1f}é]{0,40}") {
            if let Some(v) = scanned(&text) {
                let expected = serde_json::from_str::<&RawValue>(&text).map(|r| r.get());
                proptest::prop_assert_eq!(Ok(v), expected.map_err(|_| ()), "{}", text);
            }
        }

        /// Every valid JSON value serde_json writes is read back whole.
        #[test]
        fn reads_what_serde_json_writes(v in json_value()) {
            let text = serde_json::to_string_pretty(&v).unwrap();
            proptest::prop_assert_eq!(scanned(&text), Some(text.as_str()));
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Value::from),
            ".{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((".{0,8}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }
}
