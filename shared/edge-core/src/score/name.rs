//! The name score (scoring.md 5) and the first-name sex mismatch (5.4).

use super::text::{
    apply, apply_tx, fuzzy_ratio, normalized, present, rules, score_token, tokenize, tsortr, Rule,
    Tx,
};
use super::{
    r2, Explain, Obj, Sv, BLIND_NAME_SCORE, MIN_NAME_SCORE, NAME_INVERSION_PENALTY,
    STOP_NAME_PENALTY, TOKEN_PLACE_PENALTY,
};
use serde_json::json;
use std::cell::OnceCell;
use std::sync::OnceLock;

/// A person's names as given (request strings, or a hit's list of first names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names {
    pub first: Option<Tx>,
    pub last: Option<Tx>,
    pub legal: Option<Tx>,
    /// The normalised first and last names, made once however many comparisons read them
    /// (a request's against every hit).
    first_norm: OnceCell<Option<Tx>>,
    last_norm: OnceCell<Option<Tx>>,
    last_stop: OnceCell<Option<Tx>>,
    pair_stop: OnceCell<String>,
}

impl Names {
    pub fn new(first: Option<Tx>, last: Option<Tx>, legal: Option<Tx>) -> Names {
        Names {
            first,
            last,
            legal,
            ..Names::default()
        }
    }

    fn first_norm(&self) -> &Option<Tx> {
        self.first_norm.get_or_init(|| first_names(&self.first))
    }

    fn last_norm(&self) -> &Option<Tx> {
        self.last_norm.get_or_init(|| last_name(&self.last))
    }

    /// Last and first names in one text, without particles (5.2 step 5).
    fn pair_stop(&self) -> &str {
        self.pair_stop
            .get_or_init(|| stop_named_pair(self.last_norm(), self.first_norm()))
    }

    /// The last name without its particles.
    fn last_stop(&self) -> &Option<Tx> {
        self.last_stop.get_or_init(|| stop_names(self.last_norm()))
    }
}

pub(crate) fn first_name_rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| {
        rules(&[(
            r"^(inconnu|spc?|sans prenom( connu)?|X+)$",
            "",
            false,
            &["inconnu", "sp", "sans prenom", "X"],
        )])
    })
}

pub(crate) fn last_name_rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| {
        rules(&[
            (
                r"^(mr|mme|mlle|monsieur|madame|mademoiselle)\s+",
                "",
                false,
                &["m"],
            ),
            (
                r"^(inconnu|snc?|sans nom( connu)?|X+)$",
                "",
                false,
                &["inconnu", "sn", "sans nom", "X"],
            ),
        ])
    })
}

pub(crate) fn stop_name_rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| {
        rules(&[
            (r"(^|\s)de (los|la)\s+", "${1}", false, &["de l"]),
            (
                r"(^|\s)(baron|marquis|duc|vicomte|prince|chevalier)\s+",
                "${1}",
                false,
                &["baron", "marquis", "duc", "vicomte", "prince", "chevalier"],
            ),
            (
                r"(^|\s)(ait|ben|du|de|l|d|dos|del|le|el)\s+",
                "${1}",
                false,
                &[" "],
            ),
            (
                r"\s+(du|de la|des|de|le|aux|de los|del|l|d)\s+",
                " ",
                false,
                &[" "],
            ),
            (r"(^|\s)st\s+", "${1}saint ", false, &["st "]),
            (r"\s+dit\s+.*$", "", false, &[" dit "]),
        ])
    })
}

/// 5.1: the first names normalised, placeholders emptied, split into tokens.
pub fn first_names(first: &Option<Tx>) -> Option<Tx> {
    tokenize(&apply_tx(first, first_name_rules()), true)
}

/// 5.1: a last name normalised, civilities and placeholders removed.
pub fn last_name(last: &Option<Tx>) -> Option<Tx> {
    apply_tx(last, last_name_rules())
}

/// Particles removed (every rule needs a space: a one-word name is left as it is).
fn stop_names(x: &Option<Tx>) -> Option<Tx> {
    let one = |s: &str| {
        let n = normalized(s);
        if n.contains(' ') {
            apply(&n, stop_name_rules())
        } else {
            n.into_owned()
        }
    };
    x.as_ref().map(|x| match x {
        Tx::S(s) => Tx::S(one(s)),
        Tx::L(l) => Tx::L(l.iter().map(|s| one(s)).collect()),
    })
}

/// `lastName + " " + firstNames` as JavaScript writes it (lists joined by commas, an
/// absent part empty), particles removed.
fn stop_named_pair(last: &Option<Tx>, first: &Option<Tx>) -> String {
    let part = |x: &Option<Tx>| x.as_ref().map(|x| x.joined(",")).unwrap_or_default();
    apply(
        &format!("{} {}", part(last), part(first)),
        stop_name_rules(),
    )
}

fn first_of(x: &Option<Tx>) -> Option<Tx> {
    match x {
        Some(Tx::L(l)) => l.first().map(|s| Tx::S(s.clone())),
        other => other.clone(),
    }
}

/// The last-name exponent: 1 for a long name (more than two tokens on a side), else 1.5.
fn last_name_power(ta: &Option<Tx>, tb: &Option<Tx>) -> (bool, f64) {
    let long = |t: &Option<Tx>| matches!(t, Some(Tx::L(l)) if l.len() > 2);
    let long = long(ta) || long(tb);
    (long, if long { 1.0 } else { 1.5 })
}

/// 5.2: the name score of A against B (`female`: B's sex is F). A number (0.5) when a
/// side has no name at all, else `{score, first, last, fuzz?, particleScore?}`.
pub fn score_name(a: &Names, b: &Names, female: bool, mut explain: Option<&mut Explain>) -> Sv {
    if (!present(&a.first) && !present(&a.last)) || (!present(&b.first) && !present(&b.last)) {
        return Sv::N(BLIND_NAME_SCORE);
    }
    let wrong_last_name_penalty = if female { 0.65 } else { 0.1 };
    let fa = a.first_norm().clone();
    let fb = b.first_norm().clone();
    // 5.3: a woman's record against the legal (birth) name too.
    let la = match (&a.legal, female) {
        (Some(legal), true) if present(&Some(legal.clone())) => {
            let one = |x: &Option<Tx>| last_name(x).and_then(|t| t.first().map(str::to_string));
            Some(Tx::L(vec![
                one(&a.last).unwrap_or_default(),
                one(&Some(legal.clone())).unwrap_or_default(),
            ]))
        }
        _ => a.last_norm().clone(),
    };
    let lb = b.last_norm().clone();
    let ta = tokenize(&la, false);
    let tb = tokenize(&lb, false);
    let (long, p) = last_name_power(&ta, &tb);
    if let Some(e) = explain.as_deref_mut() {
        e.set(&["lastName", "longname"], json!(long));
        e.set(&["lastName", "penalty"], json!(1.5));
    }
    let sf = r2(score_token(&fa, &fb, None));
    let sl = r2(score_token(&la, &lb, None));
    if let Some(e) = explain.as_deref_mut() {
        e.set(&["lastName", "levenshteinScore"], super::num(sl));
        e.set(&["firstName", "levenshteinScore"], super::num(sf));
    }
    let blind_first = if !present(&a.first) || !present(&b.last) {
        sl.powf(p) * 0.25
    } else {
        0.0
    };
    let mut score = r2((sf * sl.powf(p)).max(blind_first.max(sf * wrong_last_name_penalty)));
    let mut fuzz = 0.0;
    if score < BLIND_NAME_SCORE {
        let some_half = sf >= 0.5 || sl >= 0.5;
        let a_list = |x: &Option<Tx>| matches!(x, Some(Tx::L(_)));
        if some_half && (a_list(&ta) || a_list(&tb)) && (a_list(&fa) || a_list(&fb)) {
            let part_a = if &la == a.last_norm() {
                a.pair_stop().to_string()
            } else {
                stop_named_pair(&la, &fa)
            };
            let part_b = b.pair_stop();
            fuzz = r2(TOKEN_PLACE_PENALTY * fuzzy_ratio(&part_a, part_b, Some(tsortr)).powf(1.5));
            if fuzz > 0.5 {
                score = score.max(fuzz);
            }
        }
        let f1a = first_of(&fa);
        let x = score_token(&f1a, &lb, None);
        if x >= 0.5 {
            let f1b = first_of(&fb);
            let swapped = NAME_INVERSION_PENALTY * x.powf(p) * score_token(&la, &f1b, None).powf(p);
            score = score.max(MIN_NAME_SCORE.max(swapped));
            if let Some(e) = explain.as_deref_mut() {
                e.set(&["firstName", "nameSwap"], json!(true));
                e.set(&["lastName", "nameSwap"], json!(true));
            }
        }
    }
    let mut out = Obj::default();
    out.set("score", score);
    out.set("first", sf);
    out.set("last", sl);
    if fuzz != 0.0 {
        out.set("fuzz", fuzz);
    }
    if score == 1.0 {
        return Sv::O(out);
    }
    let sa = if &la == a.last_norm() {
        a.last_stop().clone()
    } else {
        stop_names(&la)
    };
    let sb = b.last_stop().clone();
    let changed = la.as_ref().is_some_and(Tx::is_list)
        || lb.as_ref().is_some_and(Tx::is_list)
        || sa != la
        || sb != lb;
    if changed {
        let mut ps = STOP_NAME_PENALTY * r2(sf * score_token(&sa, &sb, None).powf(p));
        if ps < 0.5 {
            let f1a = first_of(&fa);
            let x = score_token(&f1a, &sb, None);
            if x >= 0.5 {
                let f1b = first_of(&fb);
                let swapped =
                    NAME_INVERSION_PENALTY * x.powf(p) * score_token(&sb, &f1b, None).powf(p);
                ps = ps.max(STOP_NAME_PENALTY * r2(swapped));
            }
        }
        if ps > score {
            out.set("score", ps);
            out.set("particleScore", ps);
            if let Some(e) = explain {
                e.set(&["firstName", "particles"], json!(true));
            }
        }
    }
    Sv::O(out)
}

/// 5.4: the first tokens of the first names differ by a feminine ending (louis/louise).
pub fn sex_mismatch(a: &Names, b: &Names) -> bool {
    let token = |x: &Names| {
        x.first_norm()
            .as_ref()
            .and_then(|t| t.first().map(str::to_string))
    };
    let (Some(a), Some(b)) = (token(a), token(b)) else {
        return false;
    };
    let ending = |s: String| {
        let chars: Vec<char> = s.chars().collect();
        match chars.as_slice() {
            [e] | [_, e] => *e == 'e' || *e == 'a',
            _ => false,
        }
    };
    ending(a.replacen(&b, "", 1)) || ending(b.replacen(&a, "", 1))
}
