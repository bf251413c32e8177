//! The string primitives of the matching score (scoring.md 3): normalisation, the
//! original's regular-expression rule lists, tokens, edit-distance ratios, the French
//! soundex, fuzzball's ratios and the token comparison.

use super::{r2, BLIND_TOKEN_SCORE, FUZZ_PENALTY, TOKEN_PLACE_PENALTY};
use regex_lite::Regex;
use std::borrow::Cow;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

/// A value as the original handles it: one string or a list of strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Tx {
    S(String),
    L(Vec<String>),
}

impl Tx {
    /// The first string (the string itself, or a list's first element).
    pub fn first(&self) -> Option<&str> {
        match self {
            Tx::S(s) => Some(s),
            Tx::L(l) => l.first().map(String::as_str),
        }
    }

    pub fn is_list(&self) -> bool {
        matches!(self, Tx::L(_))
    }

    /// JavaScript's `String(x)`: a list's elements joined by commas.
    pub fn joined(&self, sep: &str) -> String {
        match self {
            Tx::S(s) => s.clone(),
            Tx::L(l) => l.join(sep),
        }
    }

    fn map(&self, f: impl Fn(&str) -> String) -> Tx {
        match self {
            Tx::S(s) => Tx::S(f(s)),
            Tx::L(l) => Tx::L(l.iter().map(|s| f(s)).collect()),
        }
    }
}

/// A present value: a non-empty string, or any list (JavaScript's truthiness).
pub fn present(x: &Option<Tx>) -> bool {
    match x {
        Some(Tx::S(s)) => !s.is_empty(),
        Some(Tx::L(_)) => true,
        None => false,
    }
}

/// 3.1: NFKD without combining marks, lower case, every run of other characters than
/// `a-z0-9` one space, trimmed.
pub fn normalize(s: &str) -> String {
    normalized(s).into_owned()
}

/// [`normalize`], borrowing a text that is already normalised (most are, once read).
pub fn normalized(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let plain = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b' ')
        && bytes.first() != Some(&b' ')
        && bytes.last() != Some(&b' ')
        && !s.contains("  ");
    if plain {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let lower: String = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.nfkd()
            .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
            .collect::<String>()
            .to_lowercase()
    };
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        } else {
            space = true;
        }
    }
    Cow::Owned(out)
}

/// One rule of a list: a pattern, its replacement (`${1}` for a group), whether it
/// replaces every match (JavaScript's `g`) or the first, and words one of which a text
/// must contain for the pattern to match (none: any text may match). The pattern is
/// compiled the first time a text could match it: a component instance lives for one
/// request, and most rules never get that far.
pub struct Rule {
    pattern: &'static str,
    re: OnceLock<Regex>,
    with: &'static str,
    global: bool,
    needles: &'static [&'static str],
}

impl Rule {
    fn may_match(&self, text: &str) -> bool {
        self.needles.is_empty() || self.needles.iter().any(|n| text.contains(n))
    }

    fn regex(&self) -> &Regex {
        self.re
            .get_or_init(|| Regex::new(self.pattern).expect("a valid pattern"))
    }
}

/// A rule: (pattern, replacement, global, needles).
pub type RuleSpec = (&'static str, &'static str, bool, &'static [&'static str]);

/// A rule list, each pattern compiled when first needed.
pub fn rules(list: &[RuleSpec]) -> Vec<Rule> {
    list.iter()
        .map(|(pattern, with, global, needles)| Rule {
            pattern,
            re: OnceLock::new(),
            with,
            global: *global,
            needles,
        })
        .collect()
}

/// 3.2 `applyRegex` on one string: normalised, then each rule in order.
pub fn apply(s: &str, rules: &[Rule]) -> String {
    apply_rules(s, rules, true)
}

fn apply_rules(s: &str, rules: &[Rule], use_needles: bool) -> String {
    let mut value = normalized(s).into_owned();
    for rule in rules {
        if use_needles && !rule.may_match(&value) {
            continue;
        }
        let re = rule.regex();
        if !re.is_match(&value) {
            continue;
        }
        value = if rule.global {
            re.replace_all(&value, rule.with).into_owned()
        } else {
            re.replace(&value, rule.with).into_owned()
        };
    }
    value
}

/// [`apply`] trying every pattern (to check the needles).
#[cfg(test)]
pub fn apply_every_rule(s: &str, rules: &[Rule]) -> String {
    apply_rules(s, rules, false)
}

/// 3.2 on a value: element-wise on a list; an absent value stays absent.
pub fn apply_tx(x: &Option<Tx>, rules: &[Rule]) -> Option<Tx> {
    x.as_ref().map(|x| x.map(|s| apply(s, rules)))
}

/// 3.3: a string split on `,\s*|\s+` (itself when one piece); a list as it is, or each
/// element split and flattened with `expand`.
pub fn tokenize(x: &Option<Tx>, expand: bool) -> Option<Tx> {
    fn split(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == ',' || c.is_whitespace() {
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        out.push(cur);
        out
    }
    match x {
        Some(Tx::S(s)) => {
            let pieces = split(s);
            Some(if pieces.len() == 1 {
                Tx::S(s.clone())
            } else {
                Tx::L(pieces)
            })
        }
        Some(Tx::L(l)) if expand => Some(Tx::L(l.iter().flat_map(|s| split(s)).collect())),
        other => other.clone(),
    }
}

/// Levenshtein distance over characters, with the cost of a substitution.
fn levenshtein<T: PartialEq>(a: &[T], b: &[T], substitution: usize) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            let cost = if ca == cb { 0 } else { substitution };
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + cost);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Unrestricted Damerau-Levenshtein distance (Lowrance-Wagner).
fn damerau(a: &[char], b: &[char]) -> usize {
    let (n, m) = (a.len(), b.len());
    let inf = n + m;
    let mut d = vec![vec![0usize; m + 2]; n + 2];
    d[0][0] = inf;
    for i in 0..=n {
        d[i + 1][0] = inf;
        d[i + 1][1] = i;
    }
    for j in 0..=m {
        d[0][j + 1] = inf;
        d[1][j + 1] = j;
    }
    let mut last_row: std::collections::HashMap<char, usize> = Default::default();
    for i in 1..=n {
        let mut last_match_col = 0;
        for j in 1..=m {
            let i1 = *last_row.get(&b[j - 1]).unwrap_or(&0);
            let j1 = last_match_col;
            let cost = if a[i - 1] == b[j - 1] {
                last_match_col = j;
                0
            } else {
                1
            };
            d[i + 1][j + 1] = (d[i][j] + cost)
                .min(d[i + 1][j] + 1)
                .min(d[i][j + 1] + 1)
                .min(d[i1][j1] + (i - i1 - 1) + 1 + (j - j1 - 1));
        }
        last_row.insert(a[i - 1], i);
    }
    d[n + 1][m + 1]
}

/// Which distance a ratio uses.
#[derive(Clone, Copy)]
pub enum Distance {
    Lev,
    Damlev,
}

/// 3.4 `levRatio`: 0 for an empty side, 1 when equal, else `r2(1 - d / longer length)`.
pub fn lev_ratio(a: &str, b: &str, distance: Distance) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    if let (Distance::Lev, true) = (distance, a.is_ascii() && b.is_ascii()) {
        // Most names: their bytes are their characters.
        let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
        let d = levenshtein(long.as_bytes(), short.as_bytes(), 1);
        return r2(1.0 - d as f64 / long.len() as f64);
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let d = match distance {
        Distance::Lev => levenshtein(&long, &short, 1),
        Distance::Damlev => damerau(&long, &short),
    };
    r2(1.0 - d as f64 / long.len() as f64)
}

/// 3.5: the French soundex key of a normalised string (4 characters; it is ASCII, so
/// upper case is ASCII's).
pub fn soundex(s: &str) -> [char; 4] {
    fn code(c: char) -> Option<u8> {
        Some(match c {
            'B' | 'P' => 1,
            'C' | 'K' | 'Q' => 2,
            'D' | 'T' => 3,
            'L' => 4,
            'M' | 'N' => 5,
            'R' => 6,
            'G' | 'J' => 7,
            'S' | 'X' | 'Z' => 8,
            'F' | 'V' => 9,
            'A' | 'E' | 'I' | 'O' | 'U' => 0,
            _ => return None,
        })
    }
    let mut key = ['0'; 4];
    let mut chars = s.chars().map(|c| c.to_ascii_uppercase());
    let Some(first) = chars.next() else {
        return key;
    };
    key[0] = first;
    let mut len = 1;
    let mut previous = code(first);
    for c in chars {
        if len >= 4 {
            break;
        }
        match code(c) {
            None => {}
            Some(0) => previous = Some(0),
            Some(n) => {
                if previous != Some(n) {
                    key[len] = char::from(b'0' + n);
                    len += 1;
                }
                previous = Some(n);
            }
        }
    }
    key
}

/// A comparison of two normalised strings, for [`fuzzy_ratio`].
pub type Compare = fn(&str, &str) -> f64;

/// 3.6 `fuzzyRatio`: 0 for an empty side, 1 when equal once normalised; else the
/// comparison (Levenshtein ratio by default, then raised by the soundex agreement).
pub fn fuzzy_ratio(a: &str, b: &str, compare: Option<Compare>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (a, b) = (normalized(a), normalized(b));
    if a == b {
        return 1.0;
    }
    let s = match compare {
        Some(f) => f(&a, &b),
        None => lev_ratio(&a, &b, Distance::Lev),
    };
    if s == 1.0 {
        return 1.0;
    }
    let s = match compare {
        Some(_) => s,
        None if soundex(&a) == soundex(&b) => s.powf(1.0 / FUZZ_PENALTY),
        None => s.powf(FUZZ_PENALTY),
    };
    r2(s)
}

/// fuzzball's full process: other characters than letters and digits a space, lower
/// case, trimmed, runs of spaces one.
fn full_process(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_lowercase();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// fuzzball's `ratio` on processed strings (a substitution costs 2), 0-100.
fn ratio(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let total = (a.len() + b.len()) as f64;
    let d = levenshtein(&a, &b, 2) as f64;
    (100.0 * (total - d) / total + 0.5).floor()
}

/// Tokens sorted as JavaScript sorts strings (by UTF-16 code units).
fn sorted(mut tokens: Vec<&str>) -> Vec<&str> {
    tokens.sort_by(|x, y| x.encode_utf16().cmp(y.encode_utf16()));
    tokens
}

/// `token_sort_ratio / 100`.
pub fn tsortr(a: &str, b: &str) -> f64 {
    let (a, b) = (full_process(a), full_process(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let a = sorted(a.split(' ').collect()).join(" ");
    let b = sorted(b.split(' ').collect()).join(" ");
    0.01 * ratio(&a, &b)
}

/// `token_set_ratio / 100`.
pub fn tsr(a: &str, b: &str) -> f64 {
    let (a, b) = (full_process(a), full_process(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let unique = |s: &str| {
        let mut seen: Vec<String> = Vec::new();
        for t in s.split(' ') {
            if !seen.iter().any(|x| x == t) {
                seen.push(t.to_string());
            }
        }
        seen
    };
    let (ta, tb) = (unique(&a), unique(&b));
    let inter: Vec<&str> = ta
        .iter()
        .filter(|t| tb.contains(t))
        .map(String::as_str)
        .collect();
    let d1: Vec<&str> = ta
        .iter()
        .filter(|t| !tb.contains(t))
        .map(String::as_str)
        .collect();
    let d2: Vec<&str> = tb
        .iter()
        .filter(|t| !ta.contains(t))
        .map(String::as_str)
        .collect();
    let sect = sorted(inter).join(" ");
    let c1 = format!("{sect} {}", sorted(d1).join(" "))
        .trim()
        .to_string();
    let c2 = format!("{sect} {}", sorted(d2).join(" "))
        .trim()
        .to_string();
    let best = ratio(&sect, &c1)
        .max(ratio(&sect, &c2))
        .max(ratio(&c1, &c2));
    0.01 * best
}

/// `fuzzMixRatio` (cities): token set ratio when a side has several words, else the
/// Levenshtein ratio.
pub fn fuzz_mix_ratio(a: &str, b: &str) -> f64 {
    let words = |s: &str| tokenize(&Some(Tx::S(s.to_string())), false).is_some_and(|t| t.is_list());
    if words(a) || words(b) {
        tsr(a, b)
    } else {
        lev_ratio(a, b, Distance::Lev)
    }
}

/// 3.8 `scoreToken` on normalised values (not rounded).
pub fn score_token(a: &Option<Tx>, b: &Option<Tx>, compare: Option<Compare>) -> f64 {
    if !present(a) || !present(b) {
        return BLIND_TOKEN_SCORE;
    }
    match (a.as_ref(), b.as_ref()) {
        (Some(Tx::S(a)), Some(Tx::S(b))) => {
            if a == b {
                1.0
            } else {
                fuzzy_ratio(a, b, compare)
            }
        }
        (Some(Tx::S(a)), Some(Tx::L(b))) => string_list(a, b, compare),
        (Some(Tx::L(a)), Some(Tx::S(b))) => string_list(b, a, compare),
        (Some(Tx::L(a)), Some(Tx::L(b))) => {
            let mut runs = Vec::new();
            let mut run = 0.0;
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let cur = fuzzy_ratio(x, y, compare);
                run = if i > 0 && run != 0.0 {
                    (run + cur) / 2.0
                } else {
                    cur
                };
                runs.push(run);
            }
            if runs.is_empty() {
                0.0
            } else {
                runs.iter().sum::<f64>() / runs.len() as f64
            }
        }
        _ => BLIND_TOKEN_SCORE,
    }
}

/// A string against a list: its first element, or the product of the others (sic).
fn string_list(a: &str, b: &[String], compare: Option<Compare>) -> f64 {
    let first = b.first().map_or(0.0, |b0| fuzzy_ratio(a, b0, compare));
    let others = if b.len() > 1 {
        TOKEN_PLACE_PENALTY
            * b[1..]
                .iter()
                .map(|x| fuzzy_ratio(a, x, compare))
                .product::<f64>()
    } else {
        0.0
    };
    first.max(others)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<Tx> {
        Some(Tx::S(x.into()))
    }

    fn l(x: &[&str]) -> Option<Tx> {
        Some(Tx::L(x.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize("Jean-Pierre"), "jean pierre");
        assert_eq!(normalize("D'Artagnan"), "d artagnan");
        assert_eq!(normalize("Cœur"), "c ur");
        assert_eq!(normalize("  Hélène  Louise "), "helene louise");
    }

    #[test]
    fn soundex_keys() {
        let key = |s: &str| soundex(s).iter().collect::<String>();
        assert_eq!(key("pompidou"), "P513");
        assert_eq!(key("pompidous"), "P513");
        assert_eq!(key("marie"), "M600");
        assert_eq!(key("martin"), "M635");
        assert_eq!(key(""), "0000");
    }

    #[test]
    fn ratios() {
        assert_eq!(fuzzy_ratio("pompidous", "pompidou", None), 0.93);
        assert_eq!(tsr("fuzzy was a bear", "a fuzzy bear fuzzy was"), 1.0);
        assert_eq!(lev_ratio("19300513", "19300512", Distance::Damlev), 0.88);
        assert_eq!(damerau(&['a', 'b', 'c'], &['c', 'a']), 2);
        assert_eq!(damerau(&['c', 'a'], &['a', 'b', 'c']), 2);
    }

    #[test]
    fn tokens() {
        assert_eq!(tokenize(&s("jean pierre"), true), l(&["jean", "pierre"]));
        assert_eq!(tokenize(&s("georges"), true), s("georges"));
        assert_eq!(
            tokenize(&l(&["jean pierre", "marie"]), true),
            l(&["jean", "pierre", "marie"])
        );
        // 3.8: the product over the list's other tokens.
        assert_eq!(
            r2(score_token(
                &s("marie"),
                &l(&["jeanne", "louise", "marie"]),
                None
            )),
            0.19
        );
        assert_eq!(
            score_token(&s("marie"), &l(&["jeanne", "marie"]), None),
            0.7
        );
        assert_eq!(
            r2(score_token(
                &l(&["pierre", "jean"]),
                &l(&["jean", "pierre"]),
                None
            )),
            0.07
        );
        assert_eq!(score_token(&None, &s("x"), None), 0.5);
    }
}
