//! Writing JSON text directly, for the search answer: a 20-person answer is some 500 keys,
//! all known ASCII names, and field values already JSON (passed through raw), so writing
//! them out costs far less than going through a serialiser.

use serde_json::value::RawValue;
use std::fmt::Write;

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

    /// Writes `"key":` (the key is a plain ASCII name) and gives the output for the value.
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    /// A raw JSON value, left out when absent.
    pub fn raw(&mut self, key: &str, value: Option<&RawValue>) {
        if let Some(v) = value {
            self.key(key).push_str(v.get());
        }
    }

    /// A number as JavaScript prints it, left out when absent.
    pub fn number(&mut self, key: &str, value: Option<f64>) {
        if let Some(x) = value {
            js_number(self.key(key), x);
        }
    }

    /// A nested object.
    pub fn object(&mut self, key: &str) -> Object<'_> {
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

    #[test]
    fn objects() {
        let raw = RawValue::from_string("[\"a\",1]".into()).unwrap();
        let mut out = String::new();
        let mut o = Object::new(&mut out);
        o.raw("absent", None);
        o.raw("r", Some(&raw));
        o.number("n", Some(0.5));
        o.number("none", None);
        let mut inner = o.object("in");
        inner.number("x", Some(3.0));
        inner.end();
        o.object("empty").end();
        value(o.key("v"), &json!({"k": [true, null]}));
        array(o.key("a"), ["x", "y\""], string);
        array(o.key("none"), Vec::<f64>::new(), js_number);
        o.end();
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            back,
            json!({"r": ["a", 1], "n": 0.5, "in": {"x": 3}, "empty": {}, "v": {"k": [true, null]},
                   "a": ["x", "y\""], "none": []})
        );
    }
}
