//! Date parameters: a year, `dd/MM/yyyy` (00 for an unknown day or month), a range `A-B`,
//! or a limit `>A` / `<A`; and what each becomes in the index's `yyyyMMdd` form.

/// What a valid date parameter searches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateQuery {
    /// A year (or `0000`): a prefix of the `yyyyMMdd` value.
    Prefix(String),
    /// A full date, `yyyyMMdd`.
    Exact(String),
    /// Bounds, each padded to eight digits (lower with 0, upper with 9).
    Range {
        gte: Option<String>,
        lte: Option<String>,
    },
}

/// Parses a date parameter; `None` when it is not valid.
pub fn parse(text: &str) -> Option<DateQuery> {
    if let Some((a, b)) = range_parts(text) {
        let (a, b) = (single(a)?, single(b)?);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        return Some(DateQuery::Range {
            gte: Some(pad(&lo, '0')),
            lte: Some(pad(&hi, '9')),
        });
    }
    if let Some(rest) = text.strip_prefix('>') {
        let d = single(rest)?;
        return Some(DateQuery::Range {
            gte: Some(pad(&d, '0')),
            lte: None,
        });
    }
    if let Some(rest) = text.strip_prefix('<') {
        let d = single(rest)?;
        return Some(DateQuery::Range {
            gte: None,
            lte: Some(pad(&d, '9')),
        });
    }
    let d = single(text)?;
    Some(if d.len() < 8 {
        DateQuery::Prefix(d)
    } else {
        DateQuery::Exact(d)
    })
}

/// `A-B` where each side looks like a date (the original's shape test, before validation).
fn range_parts(text: &str) -> Option<(&str, &str)> {
    let len = text.len();
    if len != 9 && len <= 10 {
        return None;
    }
    let (a, b) = text.split_once('-')?;
    (date_shaped(a) && date_shaped(b)).then_some((a, b))
}

/// `yyyy`, or eight digits with optional one-character separators in either order.
fn date_shaped(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    let digits = |r: &[char]| r.iter().all(|c| c.is_ascii_digit());
    match c.len() {
        4 => digits(&c),
        8..=10 => {
            // yyyy?MM?dd or dd?MM?yyyy, where each ? is an optional single character.
            let groups = [[4, 2, 2], [2, 2, 4]];
            groups.iter().any(|g| shaped_with(&c, g))
        }
        _ => false,
    }
}

fn shaped_with(c: &[char], groups: &[usize; 3]) -> bool {
    // Try every placement of the two optional separators.
    for sep1 in 0..=1 {
        for sep2 in 0..=1 {
            if groups.iter().sum::<usize>() + sep1 + sep2 != c.len() {
                continue;
            }
            let mut i = 0;
            let mut ok = true;
            for (n, g) in groups.iter().enumerate() {
                if !c[i..i + g].iter().all(|c| c.is_ascii_digit()) {
                    ok = false;
                    break;
                }
                i += g;
                let sep = if n == 0 {
                    sep1
                } else if n == 1 {
                    sep2
                } else {
                    0
                };
                i += sep;
            }
            if ok {
                return true;
            }
        }
    }
    false
}

/// One date: a year 1800-2099, `0000`, or `dd/MM/yyyy` with dd 00-39 and MM 00-19 (the
/// original's mask); returned in `yyyyMMdd` (or `yyyy`) form.
fn single(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let year_ok = |y: &[u8]| {
        y.len() == 4
            && y.iter().all(u8::is_ascii_digit)
            && (y == b"0000" || matches!(&y[..2], b"18" | b"19" | b"20"))
    };
    match b.len() {
        4 if year_ok(b) => Some(s.to_string()),
        10 if b[2] == b'/'
            && b[5] == b'/'
            && (b'0'..=b'3').contains(&b[0])
            && b[1].is_ascii_digit()
            && (b'0'..=b'1').contains(&b[3])
            && b[4].is_ascii_digit()
            && year_ok(&b[6..])
            && &b[6..] != b"0000" =>
        {
            Some(format!("{}{}{}", &s[6..], &s[3..5], &s[..2]))
        }
        _ => None,
    }
}

fn pad(s: &str, with: char) -> String {
    let mut out = s.to_string();
    while out.len() < 8 {
        out.push(with);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(gte: Option<&str>, lte: Option<&str>) -> Option<DateQuery> {
        Some(DateQuery::Range {
            gte: gte.map(String::from),
            lte: lte.map(String::from),
        })
    }

    #[test]
    fn accepted_shapes() {
        assert_eq!(parse("1935"), Some(DateQuery::Prefix("1935".into())));
        assert_eq!(parse("0000"), Some(DateQuery::Prefix("0000".into())));
        assert_eq!(
            parse("12/03/1935"),
            Some(DateQuery::Exact("19350312".into()))
        );
        assert_eq!(
            parse("00/00/1935"),
            Some(DateQuery::Exact("19350000".into()))
        );
        assert_eq!(
            parse("1930-1940"),
            range(Some("19300000"), Some("19409999"))
        );
        assert_eq!(
            parse("1940-1930"),
            range(Some("19300000"), Some("19409999"))
        );
        assert_eq!(
            parse("01/01/1935-31/12/1938"),
            range(Some("19350101"), Some("19381231"))
        );
        assert_eq!(parse(">1936"), range(Some("19360000"), None));
        assert_eq!(parse(">01/06/2020"), range(Some("20200601"), None));
        assert_eq!(parse("<2000"), range(None, Some("20009999")));
    }

    #[test]
    fn refused_shapes() {
        for bad in [
            "19350312",
            "abc",
            "41/01/1935",
            "1700",
            "2100",
            "1935/03/12",
            "19350312-19400101",
            "12/23/1935",
            "",
            ">",
            "<abc",
            "1930-",
            "-1930",
            "1930-1940-1950",
            "12/03/35",
            "١٩٣٥",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
