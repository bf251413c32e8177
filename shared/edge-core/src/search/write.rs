//! Writing JSON text directly, for the search answer: a 20-person answer is some 500 keys,
//! all known ASCII names, and field values already JSON (passed through raw), so writing
//! them out costs far less than going through a serialiser.

use std::fmt::Write;

/// An object member's key as written after another member, `,"name":`, so that writing it is
/// one copy of a constant. Made by `key!("name")` for a plain ASCII name.
#[derive(Clone, Copy, Debug)]
pub struct Key(&'static str);

impl Key {
    /// Use `key!`: `text` must be `,"name":` with nothing in `name` to escape.
    pub const fn written_as(text: &'static str) -> Self {
        Key(text)
    }
}

/// `key!("name")`: the `Key` for a plain ASCII name.
macro_rules! key {
    ($name:literal) => {
        $crate::search::write::Key::written_as(concat!(",\"", $name, "\":"))
    };
}
pub(crate) use key;

/// An object being written: the opening brace is written at creation, the closing one by
/// `end`.
pub struct Object<'o> {
    out: &'o mut String,
    empty: bool,
}

impl<'o> Object<'o> {
    pub fn new(out: &'o mut String) -> Self {
        out.push('{');
        Object { out, empty: true }
    }

    /// Writes the key (after a comma unless it is the first) and gives the output for the
    /// value.
    pub fn key(&mut self, key: Key) -> &mut String {
        let text = if self.empty { &key.0[1..] } else { key.0 };
        self.empty = false;
        self.out.push_str(text);
        self.out
    }

    /// A raw JSON value, left out when absent.
    pub fn raw(&mut self, key: Key, value: Option<&str>) {
        if let Some(v) = value {
            self.key(key).push_str(v);
        }
    }

    /// A number given as text or as a float, left out when absent.
    pub fn js_number(&mut self, key: Key, value: Option<JsNumber<'_>>) {
        if let Some(n) = value {
            n.write(self.key(key));
        }
    }

    /// A nested object.
    pub fn object(&mut self, key: Key) -> Object<'_> {
        Object::new(self.key(key))
    }

    pub fn end(self) {
        self.out.push('}');
    }
}

/// An array: `each` writes one item.
pub fn array<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut String, T),
) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
    out.push(']');
}

/// A float as JavaScript prints it: whole numbers without a fraction, `null` when not finite.
pub fn js_number(out: &mut String, x: f64) {
    // Writing into a String cannot fail.
    let _ = if x.fract() == 0.0 && x.abs() < 1e15 {
        write!(out, "{}", x as i64)
    } else {
        match serde_json::Number::from_f64(x) {
            Some(n) => write!(out, "{n}"),
            None => write!(out, "null"),
        }
    };
}

/// A number read from a text: the text itself when it is already what JavaScript prints
/// for its value (most coordinates are), which spares parsing and printing the float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JsNumber<'a> {
    Printed(&'a str),
    Float(f64),
}

impl<'a> JsNumber<'a> {
    /// The number a decimal text holds; `None` when the text is not a finite number.
    pub fn parse(text: &'a str) -> Option<Self> {
        if is_js_printed(text) {
            return Some(JsNumber::Printed(text));
        }
        let ok = text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
        let x = text.parse::<f64>().ok().filter(|x| ok && x.is_finite())?;
        Some(JsNumber::Float(x))
    }

    pub fn write(self, out: &mut String) {
        match self {
            JsNumber::Printed(text) => out.push_str(text),
            JsNumber::Float(x) => js_number(out, x),
        }
    }
}

/// Whether `text` is a plain decimal that `js_number` would print back unchanged: an
/// optional minus, an integer part without a leading zero (or a lone `0`) of at most 15
/// digits, an optional fraction not ending in `0`, not below 0.0001 in magnitude, and at
/// most 15 significant digits (so that the float it parses to prints back as the same
/// digits); not `-0`.
fn is_js_printed(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    let (int, frac) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    let all_digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    if int.is_empty() || int.len() > 15 || !all_digits(int) || (int.len() > 1 && int[0] == b'0') {
        return false;
    }
    let Some(frac) = frac else {
        // A whole number: `-0` prints as `0`.
        return !(int == b"0" && text.starts_with('-'));
    };
    if frac.is_empty() || !all_digits(frac) || frac.last() == Some(&b'0') {
        return false;
    }
    let significant = if int == b"0" {
        let zeros = frac.iter().take_while(|&&b| b == b'0').count();
        if zeros > 3 {
            return false;
        }
        frac.len() - zeros
    } else {
        int.len() + frac.len()
    };
    significant <= 15
}

/// A number already rounded to hundredths (`Math.round(x * 100) / 100`), written from its
/// hundredths without going through float printing; anything else through `js_number`.
pub fn js_hundredths(out: &mut String, x: f64) {
    let k = (x * 100.0).round();
    if k.abs() >= 1e15 || k / 100.0 != x {
        return js_number(out, x);
    }
    let k = k as i64;
    if k < 0 {
        out.push('-');
    }
    let k = k.unsigned_abs();
    push_digits(out, k / 100);
    let cents = (k % 100) as u8;
    if cents != 0 {
        out.push('.');
        out.push(char::from(b'0' + cents / 10));
        if !cents.is_multiple_of(10) {
            out.push(char::from(b'0' + cents % 10));
        }
    }
}

/// An unsigned integer's decimal digits.
fn push_digits(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// A JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Any serialisable value (the request echo, the total), through serde_json.
pub fn value(out: &mut String, v: &impl serde::Serialize) {
    // Serialising a `serde_json::Value` or a raw value into text cannot fail.
    out.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn strings_round_trip() {
        for s in [
            "",
            "plain",
            "Jos\u{e9}",
            "a\"b\\c",
            "\n\r\t\u{8}\u{c}\u{1}\u{1f}",
            "é\u{7f}€",
        ] {
            let mut out = String::new();
            string(&mut out, s);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s, "{out}");
        }
    }

    #[test]
    fn numbers_as_javascript_prints_them() {
        let text = |x: f64| {
            let mut out = String::new();
            js_number(&mut out, x);
            out
        };
        assert_eq!(text(2.0), "2");
        assert_eq!(text(-0.0), "0");
        assert_eq!(text(0.86), "0.86");
        assert_eq!(text(48.8331), "48.8331");
        // Large and fractional numbers as serde_json writes them.
        assert_eq!(text(1e20), serde_json::to_string(&1e20).unwrap());
        assert_eq!(text(f64::NAN), "null");
    }

    fn printed(x: f64) -> String {
        let mut out = String::new();
        js_number(&mut out, x);
        out
    }

    #[test]
    fn texts_javascript_prints_as_they_are() {
        for t in [
            "0",
            "45",
            "-4.4861",
            "2.3264",
            "48.8331",
            "0.0001",
            "123456789012345",
        ] {
            assert!(is_js_printed(t), "{t}");
            assert_eq!(printed(t.parse().unwrap()), t);
        }
        // Each of these prints differently, or is not a plain decimal at all.
        for t in [
            "",
            "-",
            "-0",
            "00",
            "01",
            "+1",
            "1.",
            ".5",
            "2.50",
            "1e3",
            "0.00001",
            "1.0",
            "1234567890123456",
            "0.1234567890123456",
            "12345678.123456789",
            "1,5",
            "NaN",
        ] {
            assert!(!is_js_printed(t), "{t}");
        }
    }

    #[test]
    fn numbers_in_text_read_as_before() {
        for (t, expected) in [
            ("2.3264", Some("2.3264")),
            ("2.30", Some("2.3")),
            ("1e2", Some("100")),
            ("-0", Some("0")),
            ("+7", Some("7")),
            ("inf", None),
            ("1e999", None),
            ("x", None),
        ] {
            let got = JsNumber::parse(t).map(|n| {
                let mut out = String::new();
                n.write(&mut out);
                out
            });
            assert_eq!(got.as_deref(), expected, "{t}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 20_000, failure_persistence: None, ..Default::default()
        })]

        /// Every text taken as already printed is what printing its float gives.
        #[test]
        fn printed_texts_print_back_unchanged(
            minus in proptest::bool::ANY,
            int in "(0|[1-9][0-9]{0,16})",
            frac in proptest::option::of("0{0,8}[0-9]{0,12}"),
        ) {
            let mut t = String::new();
            if minus { t.push('-'); }
            t.push_str(&int);
            if let Some(f) = &frac { t.push('.'); t.push_str(f); }
            if is_js_printed(&t) {
                proptest::prop_assert_eq!(printed(t.parse().unwrap()), t);
            }
        }

        /// Writing from hundredths gives exactly what float printing gives, for rounded
        /// scores and for any other float.
        #[test]
        fn hundredths_print_as_floats_do(k in -10_000_000_000i64..10_000_000_000, x in proptest::num::f64::ANY) {
            for x in [(k as f64) / 100.0, x, (x * 100.0).round() / 100.0] {
                let mut out = String::new();
                js_hundredths(&mut out, x);
                proptest::prop_assert_eq!(out, printed(x));
            }
        }
    }

    #[test]
    fn objects() {
        let raw = "[\"a\",1]";
        let mut out = String::new();
        let mut o = Object::new(&mut out);
        o.raw(key!("absent"), None);
        o.raw(key!("r"), Some(raw));
        o.js_number(key!("n"), Some(JsNumber::Float(0.5)));
        o.js_number(key!("none"), None);
        let mut inner = o.object(key!("in"));
        inner.js_number(key!("x"), JsNumber::parse("3"));
        inner.end();
        o.object(key!("empty")).end();
        value(o.key(key!("v")), &json!({"k": [true, null]}));
        array(o.key(key!("a")), ["x", "y\""], string);
        array(o.key(key!("none")), Vec::<f64>::new(), js_number);
        o.end();
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            back,
            json!({"r": ["a", 1], "n": 0.5, "in": {"x": 3}, "empty": {}, "v": {"k": [true, null]},
                   "a": ["x", "y\""], "none": []})
        );
    }
}
