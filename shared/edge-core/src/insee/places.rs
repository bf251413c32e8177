//! Countries and places (insee-format.md 4.6-4.8): the code rewrites, the joins with the
//! countries and communes referentials, and the labels dataprep builds from them.

use super::{ascii_fold, title};
use serde_json::Value;
use std::collections::HashMap;

/// `XXXXX`: the country code that means France.
pub const FRANCE: &str = "XXXXX";

/// One row of the communes referential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    pub name: String,
    pub newest_name: String,
    pub dep: String,
    pub postal_codes: Vec<String>,
    pub history: Vec<String>,
    pub population: u64,
}

/// The two referentials the recipe joins with.
#[derive(Debug, Default)]
pub struct Referential {
    pub communes: HashMap<String, Commune>,
    /// COG code -> (ISO 3166 alpha-3, INSEE label).
    pub countries: HashMap<String, (String, String)>,
}

impl Referential {
    /// The vendored referentials (`data/communes.tsv`, `data/countries.tsv`).
    pub fn vendored() -> Self {
        Referential::from_tsv(
            include_str!("../../data/communes.tsv"),
            include_str!("../../data/countries.tsv"),
        )
    }

    /// Referentials from their tab-separated text (`#` starts a comment line).
    pub fn from_tsv(communes: &str, countries: &str) -> Self {
        fn lines(text: &str) -> Vec<Vec<&str>> {
            text.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.split('\t').collect())
                .collect()
        }
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        };
        let communes = lines(communes)
            .into_iter()
            .filter(|f| f.len() >= 6)
            .map(|f| {
                let commune = Commune {
                    name: f[1].to_string(),
                    newest_name: f[2].to_string(),
                    dep: f[3].to_string(),
                    postal_codes: list(f[4]),
                    history: list(f[5]),
                    population: f.get(6).and_then(|p| p.parse().ok()).unwrap_or(0),
                };
                (f[0].to_string(), commune)
            })
            .collect();
        let countries = lines(countries)
            .into_iter()
            .filter(|f| f.len() >= 3)
            .map(|f| (f[0].to_string(), (f[1].to_string(), f[2].to_string())))
            .collect();
        Referential {
            communes,
            countries,
        }
    }
}

/// The country code of a place code (4.6 step 1; `birth` adds the Vietnam rule).
pub fn country_code(code: &str, birth: bool) -> String {
    const PREFIXES: [(&str, &str); 20] = [
        ("98201", "99336"),
        ("98202", "99341"),
        ("98203", "99330"),
        ("98204", "99326"),
        ("98205", "99327"),
        ("98206", "99335"),
        ("98207", "99337"),
        ("98208", "99345"),
        ("98209", "99331"),
        ("98301", "99328"),
        ("98302", "99324"),
        ("98303", "99323"),
        ("98304", "99344"),
        ("98305", "99322"),
        ("98401", "99333"),
        ("98402", "99397"),
        ("98405", FRANCE),
        ("98406", "99399"),
        ("98506", "99243"),
        ("99143", "99254"),
    ];
    for (prefix, to) in PREFIXES {
        if prefix == "98506" && !birth {
            continue;
        }
        if let Some(rest) = code.strip_prefix(prefix) {
            return format!("{to}{rest}");
        }
    }
    let b = code.as_bytes();
    let five = b.len() == 5;
    if five && b[0] == b'9' && (b'1'..=b'4').contains(&b[1]) && &code[2..] == "352" {
        return "99352".into();
    }
    let france = five
        && ((code.starts_with("98") && (b'4'..=b'8').contains(&b[2]))
            || (b[0] == b'9' && (b'0'..=b'5').contains(&b[1]))
            || (code.starts_with("97") && (b'1'..=b'6').contains(&b[2]))
            || (b'0'..=b'8').contains(&b[0]));
    if france {
        FRANCE.into()
    } else {
        code.into()
    }
}

/// The code the communes referential is joined on (4.7 step 1); empty for abroad.
pub fn commune_code(code: &str) -> String {
    let b = code.as_bytes();
    let five = b.len() == 5;
    if five && b[0] == b'9' && &code[2..] == "352" {
        return String::new();
    }
    if five && code.starts_with("985") {
        return format!("976{}", &code[3..]);
    }
    if let Some(rest) = code.strip_prefix("98405") {
        return format!("97409{rest}");
    }
    if code.starts_with("982") || code.starts_with("983") || code.starts_with("984") {
        return String::new();
    }
    if code.starts_with("99") {
        return String::new();
    }
    code.into()
}

/// A `/`-separated value as the recipe stores it: a list when it holds a `/`.
fn split_value(value: String) -> Value {
    if value.contains('/') {
        Value::Array(value.split('/').map(Value::from).collect())
    } else {
        Value::String(value)
    }
}

fn list(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// The code history (4.7 step 6): the joined list (one code as a string), else the raw
/// code, or `[country code, raw code]` when they differ.
fn history(joined: Option<&Commune>, raw: &str, country: &str) -> Value {
    match joined {
        Some(c) if c.history.len() > 1 => list(&c.history),
        Some(c) if c.history.len() == 1 => Value::from(c.history[0].as_str()),
        _ if raw == country => Value::from(raw),
        _ => Value::Array(vec![Value::from(country), Value::from(raw)]),
    }
}

/// `Rochelle (La)` -> `La Rochelle ` (the recipe's regex keeps the space before `(`).
fn article_first(label: &str) -> String {
    if let (Some(open), true) = (label.rfind('('), label.ends_with(')')) {
        let word = &label[open + 1..label.len() - 1];
        if !word.is_empty() && word.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return format!("{word} {}", &label[..open]);
        }
    }
    label.to_string()
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

/// The place fields of one side of a record, ready to go into the document.
#[derive(Debug, Default, PartialEq)]
pub struct Place {
    pub country: String,
    pub country_iso3: String,
    pub commune: Option<Value>,
    pub postal_codes: Option<Value>,
    pub department: String,
    pub history: Value,
}

impl Referential {
    fn country(&self, code: &str) -> Option<&(String, String)> {
        self.countries.get(code)
    }

    /// Birth place (4.6 and 4.7) from the raw code, locality label and country label.
    pub fn birth_place(&self, code: &str, label: &str, country_label: &str) -> Place {
        let country_code = country_code(code, true);
        let (iso3, lib) = self
            .country(&country_code)
            .map(|(i, l)| (i.as_str(), l.as_str()))
            .unwrap_or(("", ""));
        let country = if country_label.is_empty() {
            title(lib)
        } else if country_label == lib {
            title(country_label)
        } else {
            format!("{}, {}", title(lib), title(country_label))
        };
        let joined = self.communes.get(&commune_code(code));
        let (reference, alter) = joined
            .map(|c| (c.name.as_str(), c.newest_name.as_str()))
            .unwrap_or(("", ""));
        let c = article_first(&title(label));
        let t = |x: &str| title(&ascii_fold(x));
        let mut all = if c == t(reference) {
            reference.to_string()
        } else if reference.is_empty() {
            c.clone()
        } else {
            format!("{c}/{reference}")
        };
        if reference != alter && c != t(alter) {
            all = format!("{all}/{alter}");
        }
        let value = if reference.contains("Arrondissement") {
            format!("{}/{reference}", first_word(reference))
        } else {
            all
        };
        let mut department = joined.map(|c| c.dep.clone()).unwrap_or_default();
        if department.is_empty() && country_code == FRANCE && code.len() >= 3 {
            department = code[..code.len() - 3].to_string();
        }
        Place {
            country,
            country_iso3: iso3.into(),
            commune: (!value.is_empty()).then(|| split_value(value)),
            postal_codes: joined.map(|c| list(&c.postal_codes)),
            department,
            history: history(joined, code, &country_code),
        }
    }

    /// Death place (4.8) from the raw code (the files have no death labels).
    pub fn death_place(&self, code: &str) -> Place {
        let country_code = country_code(code, false);
        let (iso3, lib) = self
            .country(&country_code)
            .map(|(i, l)| (i.as_str(), l.as_str()))
            .unwrap_or(("", ""));
        let joined = self.communes.get(&commune_code(code));
        let commune = joined.map(|c| {
            let mut value = if c.name == c.newest_name || c.newest_name.is_empty() {
                c.name.clone()
            } else {
                format!("{}/{}", c.name, c.newest_name)
            };
            if value.contains("Arrondissement") {
                value = format!("{}/{value}", first_word(&value));
            }
            Value::Array(value.split('/').map(Value::from).collect())
        });
        Place {
            country: title(lib),
            country_iso3: iso3.into(),
            commune,
            postal_codes: joined.map(|c| list(&c.postal_codes)),
            department: joined.map(|c| c.dep.clone()).unwrap_or_default(),
            history: history(joined, code, &country_code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refs() -> Referential {
        Referential::from_tsv(
            "74214\tBonneville\tBonneville\t74\t74130\t74042,74214\t0\n\
             75114\tParis 14e Arrondissement\tParis 14e Arrondissement\t75\t75014\t75114\t1\n\
             01004\tAmbérieu\tAmbérieu-en-Bugey\t01\t01500\t01004\t1\n",
            "XXXXX\tFRA\tFRANCE\n99350\tMAR\tMAROC\n99404\tUSA\tETATS-UNIS\n99352\tDZA\tALGERIE\n",
        )
    }

    #[test]
    fn country_codes() {
        assert_eq!(country_code("75114", true), FRANCE);
        assert_eq!(country_code("2A004", true), FRANCE);
        assert_eq!(country_code("97105", true), FRANCE);
        assert_eq!(country_code("98405", true), FRANCE);
        assert_eq!(country_code("98201", true), "99336");
        assert_eq!(country_code("91352", true), "99352");
        assert_eq!(country_code("98506", true), "99243");
        assert_eq!(country_code("98506", false), FRANCE);
        assert_eq!(country_code("99143", true), "99254");
        assert_eq!(country_code("99404", true), "99404");
        assert_eq!(country_code("97701", true), "97701");
    }

    #[test]
    fn commune_codes() {
        assert_eq!(commune_code("91352"), "");
        assert_eq!(commune_code("98501"), "97601");
        assert_eq!(commune_code("98405"), "97409");
        assert_eq!(commune_code("98201"), "");
        assert_eq!(commune_code("99350"), "");
        assert_eq!(commune_code("74214"), "74214");
    }

    #[test]
    fn the_worked_examples() {
        let r = refs();
        let p = r.birth_place("74214", "PONTCHY", "");
        assert_eq!(p.country, "France");
        assert_eq!(p.country_iso3, "FRA");
        assert_eq!(p.commune, Some(json!(["Pontchy", "Bonneville"])));
        assert_eq!(p.history, json!(["74042", "74214"]));
        assert_eq!(p.postal_codes, Some(json!(["74130"])));
        assert_eq!(p.department, "74");
        let p = r.birth_place("01004", "AMBERIEU-EN-BUGEY", "");
        assert_eq!(p.commune, Some(json!(["Amberieu-En-Bugey", "Ambérieu"])));
        assert_eq!(p.history, json!("01004"));
        let p = r.birth_place("99350", "CASABLANCA", "MAROC");
        assert_eq!(
            (p.country.as_str(), p.country_iso3.as_str()),
            ("Maroc", "MAR")
        );
        assert_eq!(p.commune, Some(json!("Casablanca")));
        assert_eq!(p.history, json!("99350"));
        assert_eq!((p.postal_codes, p.department.as_str()), (None, ""));
        let p = r.birth_place("99404", "APPLETON, WISCONSIN", "ETATS-UNIS");
        assert_eq!(p.commune, Some(json!("Appleton, Wisconsin")));
        assert_eq!(p.country, "Etats-Unis");
        let p = r.birth_place("91352", "ALGER", "ALGERIE");
        assert_eq!(p.history, json!(["99352", "91352"]));
        let p = r.birth_place("97105", "BASSE-TERRE", "GUADELOUPE");
        assert_eq!(p.country, "France, Guadeloupe");
        assert_eq!(p.department, "97");
        let p = r.birth_place("99999", "X", "");
        assert_eq!(p.country, "");
        let p = r.birth_place("97701", "X", "Y");
        assert_eq!(p.country, ", Y");
        let p = r.birth_place("17300", "ROCHELLE (LA)", "");
        assert_eq!(p.commune, Some(json!("La Rochelle ")));
        assert_eq!(p.history, json!(["XXXXX", "17300"]));
        assert_eq!(p.department, "17");

        let d = r.death_place("75114");
        assert_eq!(
            d.commune,
            Some(json!(["Paris", "Paris 14e Arrondissement"]))
        );
        assert_eq!(d.country, "France");
        assert_eq!(d.history, json!("75114"));
        let d = r.death_place("01004");
        assert_eq!(d.commune, Some(json!(["Ambérieu", "Ambérieu-en-Bugey"])));
        let d = r.death_place("99131");
        assert_eq!((d.commune, d.country.as_str()), (None, ""));
    }

    #[test]
    fn the_vendored_referentials_load() {
        let r = Referential::vendored();
        assert!(r.communes.len() > 35_000, "{}", r.communes.len());
        assert_eq!(r.communes["74214"].newest_name, "Bonneville");
        assert_eq!(r.countries["99350"].0, "MAR");
    }
}
