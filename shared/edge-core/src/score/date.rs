//! The date score (scoring.md 7).

use super::text::{lev_ratio, Distance};
use super::{
    r2, round_date, Explain, BLIND_DATE_SCORE, DATE_PENALTY, MIN_DATE_SCORE, UNCERTAIN_DATE_SCORE,
};
use regex_lite::Regex;
use serde_json::json;
use std::sync::OnceLock;

/// A date as a person holds it: a string, or something else (an age in the date slot).
#[derive(Debug, Clone, PartialEq)]
pub enum DateIn {
    S(String),
    Other,
}

impl DateIn {
    fn is_empty(&self) -> bool {
        matches!(self, DateIn::S(s) if s.is_empty())
    }
}

fn range_pattern() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        let one = r"(\d{4}|\d{4}.?\d{2}.?\d{2}|\d{2}.?\d{2}.?\d{4})";
        Regex::new(&format!("^{one}-{one}$")).expect("a valid pattern")
    })
}

fn french_date() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"(\d{2})/(\d{2})/(\d{4})").expect("a valid pattern"))
}

/// `isDateRange`: the two ends of `x-y`.
fn date_range(s: &str) -> Option<(String, String)> {
    let len = s.chars().count();
    if !(len == 9 || len > 10) || s.find('-') == Some(0) {
        return None;
    }
    let c = range_pattern().captures(s)?;
    Some((c[1].to_string(), c[2].to_string()))
}

/// `isDateLimit`: `>x` or `<x`.
fn date_limit(s: &str) -> Option<(char, &str)> {
    let op = s.chars().next()?;
    (op == '<' || op == '>').then(|| (op, &s[1..]))
}

/// `dateTransform(v, fmtIn, "yyyyMMdd")`: the year, month and day read at their places
/// in `fmt`, written as `yyyyMMdd` (an absent part keeps its letters).
pub fn transform(v: &str, fmt: &str) -> String {
    if v.is_empty() {
        return String::new();
    }
    if fmt == "yyyyMMdd" {
        return v.to_string();
    }
    let chars: Vec<char> = v.chars().collect();
    let take = |tokens: &[&str]| -> Option<String> {
        let at = tokens.iter().find_map(|t| fmt.find(t))?;
        let n = tokens[0].len();
        let from = fmt[..at].chars().count();
        Some(chars.iter().skip(from).take(n).collect())
    };
    let year = take(&["yyyy", "YYYY"]).unwrap_or_else(|| "yyyy".into());
    let month = take(&["MM", "mm"]).unwrap_or_else(|| "MM".into());
    let day = take(&["dd", "DD"]).unwrap_or_else(|| "dd".into());
    format!("{year}{month}{day}")
}

/// 7.1 `scoreDate`: A against B (`yyyyMMdd` once converted), raised to the date penalty.
#[allow(clippy::too_many_arguments)]
pub fn score_date(
    a: &Option<DateIn>,
    b: Option<&str>,
    fmt_a: Option<&str>,
    fmt_b: Option<&str>,
    foreign: bool,
    event: &str,
    explain: Option<&mut Explain>,
) -> f64 {
    let b = b.unwrap_or("");
    let Some(a) = a.as_ref().filter(|a| !a.is_empty()) else {
        return BLIND_DATE_SCORE;
    };
    if b.is_empty() || b == "00000000" {
        return BLIND_DATE_SCORE;
    }
    let b = match fmt_b {
        Some(f) => transform(b, f),
        None => b.to_string(),
    };
    let a = match (a, fmt_a) {
        (DateIn::S(s), Some(f)) => DateIn::S(if let Some((x, y)) = date_range(s) {
            format!("{}-{}", transform(&x, f), transform(&y, f))
        } else if let Some((op, rest)) = date_limit(s) {
            format!("{op}{}", transform(rest, f))
        } else {
            transform(s, f)
        }),
        (a, _) => a.clone(),
    };
    round_date(raw(&a, &b, foreign, event, explain).powf(DATE_PENALTY))
}

/// 7.2 `scoreDateRaw`.
fn raw(a: &DateIn, b: &str, foreign: bool, event: &str, explain: Option<&mut Explain>) -> f64 {
    let DateIn::S(a) = a else {
        return BLIND_DATE_SCORE;
    };
    let a = a.trim();
    if a.is_empty() || b.is_empty() || b == "00000000" {
        return BLIND_DATE_SCORE;
    }
    let inside = |ok: bool| {
        if ok {
            UNCERTAIN_DATE_SCORE
        } else {
            MIN_DATE_SCORE
        }
    };
    if let Some((x, y)) = date_range(a) {
        if x == y {
            return raw(&DateIn::S(x), b, foreign, event, explain);
        }
        return if x.as_str() <= b && b <= y.as_str() || b.starts_with("0000") || b.ends_with("0000")
        {
            UNCERTAIN_DATE_SCORE
        } else {
            MIN_DATE_SCORE
        };
    }
    if let Some((op, x)) = date_limit(a) {
        return inside(if op == '>' { x <= b } else { x >= b });
    }
    let a = if a.contains('/') {
        french_date().replace(a, "${3}${2}${1}").into_owned()
    } else {
        a.to_string()
    };
    let key = format!("{event}Date");
    if a == b {
        if let Some(e) = explain {
            e.set(&[&key, "score"], json!("1"));
        }
        return 1.0;
    }
    let part = |s: &str, r: std::ops::Range<usize>| -> String {
        s.chars().skip(r.start).take(r.end - r.start).collect()
    };
    let years = || lev_ratio(&part(&a, 0..4), &part(b, 0..4), Distance::Damlev);
    if b.starts_with("0000") {
        let days = lev_ratio(&part(&a, 4..8), &part(b, 4..8), Distance::Damlev);
        return r2(UNCERTAIN_DATE_SCORE * days.powi(2));
    }
    if b.ends_with("0000") {
        return r2(UNCERTAIN_DATE_SCORE * years().powi(2));
    }
    if b.ends_with("0101") || a.ends_with("0101") {
        let k = if foreign && part(b, 0..4).as_str() < "1990" {
            UNCERTAIN_DATE_SCORE
        } else {
            UNCERTAIN_DATE_SCORE * UNCERTAIN_DATE_SCORE
        };
        return r2(k * years().powi(2));
    }
    let lv = lev_ratio(&a, b, Distance::Damlev);
    let same_month = part(&a, 0..6) == part(b, 0..6);
    let un = r2(UNCERTAIN_DATE_SCORE * UNCERTAIN_DATE_SCORE * if same_month { 1.0 } else { 0.0 });
    let od = match (day_number(&a), day_number(b)) {
        (Some(x), Some(y)) => {
            let delta = (x - y) as f64 / 365.0;
            let v = r2(1.0 - (delta * delta).powf(0.2));
            if v.is_nan() {
                0.0
            } else {
                v
            }
        }
        _ => 0.0,
    };
    if let Some(e) = explain {
        e.set(&[&key, "levenshteinScore"], super::num(lv));
        e.set(&[&key, "uncertainScore"], super::num(un));
        e.set(&[&key, "oldDateScore"], super::num(od));
    }
    lv.max(un).max(od)
}

/// The day number of `yyyyMMdd` as JavaScript's `new Date(y, m - 1, d)` reads it (a month
/// or day out of range rolls over, years 0-99 are 19xx); `None` when it is not one.
fn day_number(s: &str) -> Option<i64> {
    if s.chars().count() < 8 || !s.is_ascii() {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let p = &s[r];
        p.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| p.parse().ok())?
    };
    let (mut y, m, d) = (n(0..4)?, n(4..6)? - 1, n(6..8)?);
    if (0..=99).contains(&y) {
        y += 1900;
    }
    let y = y + m.div_euclid(12);
    let m = m.rem_euclid(12) + 1;
    // Days from civil (Howard Hinnant), then the day of the month added.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe + d - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(a: &str, b: &str) -> f64 {
        score_date(
            &Some(DateIn::S(a.into())),
            Some(b),
            None,
            None,
            false,
            "birth",
            None,
        )
    }

    /// scoring.md 7.3.
    #[test]
    fn date_examples() {
        for (a, b, expected) in [
            ("12/05/1930", "19300512", 1.0),
            ("13/05/1930", "19300512", 0.79),
            ("05/12/1930", "19300512", 0.18),
            ("12/05/1931", "19300512", 0.73),
            ("12/05/1903", "19300512", 0.73),
            ("12/05/1930", "19300000", 0.88),
            ("12/05/1930", "00000512", 0.88),
            ("12/05/1930", "00000000", 0.85),
            ("1930", "19300512", 0.18),
            ("12/05/1930", "19300101", 0.77),
            ("01/01/1930", "19300512", 0.77),
            ("12/05/1930", "19310101", 0.19),
            ("01/01/1925-31/12/1935", "19300512", 0.88),
            ("1925-1935", "19300512", 0.88),
            ("1925-1930", "19301231", 0.02),
            (">01/01/1925", "19300512", 0.88),
            ("<01/01/1925", "19300512", 0.02),
        ] {
            assert_eq!(date(a, b), expected, "{a} against {b}");
        }
        let foreign = score_date(
            &Some(DateIn::S("12/05/1930".into())),
            Some("19310101"),
            None,
            None,
            true,
            "birth",
            None,
        );
        assert_eq!(foreign, 0.2);
        let with = |a: &str, fa: Option<&str>, b: &str, fb: Option<&str>| {
            score_date(
                &Some(DateIn::S(a.into())),
                Some(b),
                fa,
                fb,
                false,
                "birth",
                None,
            )
        };
        assert_eq!(
            with("1930-05-12", Some("yyyy-MM-dd"), "19300512", None),
            1.0
        );
        assert_eq!(with("05/1930", Some("MM/yyyy"), "19300512", None), 0.77);
        assert_eq!(
            with("12/05/1930", None, "12/05/1930", Some("dd/MM/yyyy")),
            1.0
        );
        assert_eq!(
            score_date(
                &Some(DateIn::Other),
                Some("20100101"),
                None,
                None,
                false,
                "death",
                None
            ),
            0.67
        );
        assert_eq!(date(">01/01/2009", "20100101"), 0.88);
    }
}
