//! The location score (scoring.md 8), with the optional communes dictionary (8.5).

use super::text::{
    apply, apply_tx, fuzz_mix_ratio, fuzzy_ratio, normalize, rules, tokenize, tsr, Rule, Tx,
};
use super::{
    r2, score_reduce, Explain, Obj, BLIND_LOCATION_SCORE, BOROUGH_LOCATION_PENALTY,
    MIN_CITY_COUNTRY_SWAP_SCORE, MIN_CODE_SCORE, MIN_DEP_SCORE, MIN_LOCATION_SCORE,
    MIN_NOT_FR_CITY_SCORE, MIN_NOT_FR_SCORE,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// A place of birth or death.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub city: Option<Tx>,
    pub code: Option<Tx>,
    pub code_postal: Option<Tx>,
    pub code_history: Option<Tx>,
    pub department: Option<Tx>,
    pub country: Option<Tx>,
    pub country_code: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A commune of the dictionary: its INSEE code, centroid and surface.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Commune {
    pub code: String,
    pub latitude: f64,
    pub longitude: f64,
    pub surface: f64,
}

/// The communes dictionary, keyed by normalised city name (`cityNorm`).
#[derive(Debug, Clone, Default)]
pub struct Communes(HashMap<String, Commune>);

impl Communes {
    /// From a GeoJSON FeatureCollection (properties `nom`, `insee`, `surf_ha`): the key is
    /// the normalised name (a later feature overwrites an earlier one), the centroid the
    /// mean of the geometry's vertices.
    pub fn from_geojson(text: &str) -> Result<Communes, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let features = doc["features"]
            .as_array()
            .ok_or("not a FeatureCollection")?;
        let mut map = HashMap::new();
        for f in features {
            let p = &f["properties"];
            let (Some(name), Some(code)) = (p["nom"].as_str(), p["insee"].as_str()) else {
                continue;
            };
            let mut points = Vec::new();
            vertices(&f["geometry"]["coordinates"], &mut points);
            if points.is_empty() {
                continue;
            }
            let n = points.len() as f64;
            let commune = Commune {
                code: code.to_string(),
                longitude: points.iter().map(|p| p.0).sum::<f64>() / n,
                latitude: points.iter().map(|p| p.1).sum::<f64>() / n,
                surface: p["surf_ha"].as_f64().unwrap_or(0.0),
            };
            map.insert(city_norm(name), commune);
        }
        Ok(Communes(map))
    }

    /// The communes by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Commune)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where the score finds a commune by its normalised name (`cityNorm`): a dictionary in
/// memory, or one a deployment loaded into its key-value store.
pub trait CommuneLookup {
    fn commune(&self, key: &str) -> Option<Commune>;
}

impl CommuneLookup for Communes {
    fn commune(&self, key: &str) -> Option<Commune> {
        self.0.get(key).cloned()
    }
}

/// Every `[x, y]` pair of nested coordinate arrays.
fn vertices(v: &Value, out: &mut Vec<(f64, f64)>) {
    if let Some(items) = v.as_array() {
        if let [Value::Number(x), Value::Number(y), ..] = items.as_slice() {
            if let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) {
                out.push((x, y));
            }
            return;
        }
        for item in items {
            vertices(item, out);
        }
    }
}

pub(crate) fn city_rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| {
        let particles = r"(^|\s)(de|en|les|le|la|a|aux|au|du|de la|sous|ss?|sur|l|d|des)\s";
        rules(&[
            (
                r"^\s*(lyon|marseille|paris)(\s.*|\s*\d\d*.*|.*art.*|.*arr.*)$",
                "${1}",
                false,
                &["lyon", "marseille", "paris"],
            ),
            (r"(^|\s)ste(\s|$)", "${1}sainte${2}", false, &["ste"]),
            (r"(^|\s)st(\s|$)", "${1}saint${2}", false, &["st"]),
            (r"^aix pce$", "aix provence", false, &["aix pce"]),
            (particles, " ", true, &[" "]),
            (particles, " ", true, &[" "]),
            (r"\s+", " ", false, &[" "]),
            (r"^.*inconnu.*$", "", false, &["inconnu"]),
            (
                r"sainte clotilde",
                "saint denis",
                false,
                &["sainte clotilde"],
            ),
            (r"berck mer", "berck", false, &["berck mer"]),
            (r"montreuil s.* bois", "montreuil", false, &["montreuil s"]),
            (r"asnieres s.* seine", "asnieres", false, &["asnieres s"]),
            (r"clichy garenne.*", "clichy", false, &["clichy garenne"]),
            (
                r"belleville saone",
                "belleville",
                false,
                &["belleville saone"],
            ),
            (r"^levallois$", "levallois perret", false, &["levallois"]),
            (r"'\s$", "", false, &["'"]),
            (r"^\s*", "", false, &[" "]),
        ])
    })
}

pub(crate) fn country_rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| {
        rules(&[
            (
                r"(^|\s)(de|en|les|le|la|a|aux|au|du|de la|s|sous|sur|l|d|des)\s",
                " ",
                true,
                &[" "],
            ),
            (r"hollande", "pays-bas", false, &["hollande"]),
            (
                r"(angleterre|grande bretagne)",
                "royaume-uni",
                false,
                &["angleterre", "grande bretagne"],
            ),
            (r"(vietnam)", "viet nam", false, &["vietnam"]),
        ])
    })
}

pub(crate) fn department_rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| {
        rules(&[
            (r"^0?2[ab]$", "20", false, &[]),
            (r"^0*([1-9]+0?)$", "${1}", false, &[]),
            (r"^(\D*|99|0)$", "", false, &[]),
        ])
    })
}

pub(crate) fn borough_rules() -> &'static [Rule] {
    static R: OnceLock<Vec<Rule>> = OnceLock::new();
    R.get_or_init(|| rules(&[(r"^\D*0*([1-9]+0?)\D*$", "${1}", false, &[])]))
}

pub fn city_norm(s: &str) -> String {
    apply(s, city_rules())
}

/// A Paris arrondissement's number in a city name, when there is one.
fn borough(city: &str) -> Option<String> {
    let b = apply(city, borough_rules());
    (b != normalize(city)).then_some(b)
}

/// `scoreCity`.
fn score_city(a: &Tx, b: &Tx) -> f64 {
    match a {
        Tx::S(a_raw) => {
            let a = city_norm(a_raw);
            let s = match b {
                Tx::S(b) => fuzzy_ratio(&a, &city_norm(b), Some(fuzz_mix_ratio)),
                Tx::L(list) => list
                    .iter()
                    .map(|b| fuzzy_ratio(&a, &city_norm(b), Some(fuzz_mix_ratio)))
                    .fold(0.0, f64::max),
            };
            if s == 1.0 {
                if let Tx::L(list) = b {
                    if list.first().is_some_and(|f| city_norm(f) == "paris") {
                        let theirs = list.get(1).and_then(|c| borough(c));
                        if let Some(ours) = borough(a_raw) {
                            if Some(&ours) != theirs.as_ref() {
                                return BOROUGH_LOCATION_PENALTY;
                            }
                        }
                    }
                }
            }
            s
        }
        Tx::L(list) => {
            let b = match b {
                Tx::S(s) => Tx::S(city_norm(s)),
                Tx::L(l) => Tx::L(l.iter().map(|s| city_norm(s)).collect()),
            };
            list.iter()
                .map(|a| score_city(&Tx::S(city_norm(a)), &b))
                .fold(0.0, f64::max)
        }
    }
}

/// `scoreLocationCode`: an INSEE code against the hit's code history.
fn score_code(a: &Tx, b: &Tx) -> f64 {
    match (a, b) {
        (Tx::L(list), b) => list
            .iter()
            .map(|a| score_code(&Tx::S(a.clone()), b))
            .fold(0.0, f64::max),
        (a, Tx::L(list)) => list
            .iter()
            .map(|b| score_code(a, &Tx::S(b.clone())))
            .fold(0.0, f64::max),
        (Tx::S(a), Tx::S(b)) => {
            let a = if a.chars().count() == 4 {
                format!("0{a}")
            } else {
                a.clone()
            };
            if &a == b {
                return 1.0;
            }
            let part = |s: &str, r: std::ops::Range<usize>| -> String {
                s.chars().skip(r.start).take(r.end - r.start).collect()
            };
            let (da, db) = (part(&a, 0..2), part(b, 0..2));
            let suburbs = ["91", "92", "93", "94"];
            if (suburbs.contains(&db.as_str()) || db == "99") && part(b, 2..5) == "352" {
                return if suburbs.contains(&da.as_str()) || part(&a, 2..5) == "352" {
                    0.87
                } else {
                    MIN_CODE_SCORE
                };
            }
            if (da == "98" && db == "99") || (da == "99" && db == "98") {
                return BLIND_LOCATION_SCORE;
            }
            if da == db {
                return if da == "99" {
                    BLIND_LOCATION_SCORE
                } else {
                    0.87
                };
            }
            MIN_CODE_SCORE
        }
    }
}

/// `scoreDepCode`; `None` when a side has no department.
fn score_department(a: &Tx, b: &Tx, same_city: Option<bool>) -> Option<f64> {
    let norm = |x: &Tx| {
        apply_tx(&Some(x.clone()), department_rules()).and_then(|t| t.first().map(str::to_string))
    };
    let (na, nb) = (norm(a)?, norm(b)?);
    if na.is_empty() || nb.is_empty() {
        return None;
    }
    if na == nb {
        return Some(1.0);
    }
    let (inner, outer) = (["78", "75"], ["91", "92", "93", "94", "95"]);
    let crossing = (inner.contains(&na.as_str()) && outer.contains(&nb.as_str()))
        || (inner.contains(&nb.as_str()) && outer.contains(&na.as_str()));
    if crossing {
        return Some(match same_city {
            Some(true) => 1.0,
            None => r2(3.7 / 4.0),
            Some(false) => MIN_DEP_SCORE,
        });
    }
    Some(if na == "97" {
        r2(3.7 / 4.0)
    } else {
        MIN_DEP_SCORE
    })
}

fn country_norm(s: &str) -> String {
    apply(s, country_rules())
}

/// `scoreCountry`, B's country already split into tokens.
fn score_country(a: &Tx, b: &Option<Tx>) -> f64 {
    match a {
        Tx::S(a) => {
            let a = country_norm(a);
            match b {
                Some(Tx::S(b)) => fuzzy_ratio(&a, &country_norm(b), Some(tsr)),
                Some(Tx::L(list)) => list
                    .iter()
                    .map(|e| fuzzy_ratio(&a, &country_norm(e), Some(tsr)))
                    .fold(0.0, f64::max)
                    .max(tsr(&a, &list.join(" "))),
                None => 0.0,
            }
        }
        Tx::L(list) => {
            let b_norm = b.as_ref().map(|b| match b {
                Tx::S(s) => Tx::S(country_norm(s)),
                Tx::L(l) => Tx::L(l.iter().map(|s| country_norm(s)).collect()),
            });
            let each = list
                .iter()
                .map(|e| score_country(&Tx::S(country_norm(e)), &b_norm))
                .fold(0.0, f64::max);
            let joined = b_norm.map(|b| b.joined(" ")).unwrap_or_default();
            each.max(tsr(&list.join(" "), &joined))
        }
    }
}

/// `scoreGeo`: 20 / (20 + distance in km), by the spherical law of cosines.
fn score_geo(lat_a: f64, lon_a: f64, lat_b: f64, lon_b: f64) -> f64 {
    let (p1, p2) = (lat_a.to_radians(), lat_b.to_radians());
    let dl = (lon_b - lon_a).to_radians();
    let c = (p1.sin() * p2.sin() + p1.cos() * p2.cos() * dl.cos()).clamp(-1.0, 1.0);
    let d = 6370.693486 * c.acos();
    r2((20.0 / (20.0 + d)).max(0.0))
}

fn has_text(x: &Option<Tx>) -> bool {
    x.as_ref()
        .is_some_and(|x| !normalize(&x.joined(" ")).is_empty())
}

/// 8.2-8.4 `scoreLocation`: the sub-scores and their `score`.
pub fn score_location(
    a: &Location,
    b: &Location,
    event: &str,
    communes: Option<&dyn CommuneLookup>,
    mut explain: Option<&mut Explain>,
) -> Obj {
    let mut out = Obj::default();
    let present = |x: &Option<Tx>| super::text::present(x);
    // The code against the hit's history (its code when it has none: a /compare person).
    if let (Some(code), true) = (&a.code, present(&a.code) && present(&b.code)) {
        let theirs = b.code_history.as_ref().or(b.code.as_ref());
        if let Some(theirs) = theirs {
            out.set("code", score_code(code, theirs));
        }
    }
    if let (Some(pa), Some(pb)) = (&a.code_postal, &b.code_postal) {
        if present(&a.code_postal) && present(&b.code_postal) {
            out.set("codePostal", score_code(pa, pb));
        }
    }
    if let (Some(la), Some(lo)) = (
        a.latitude.filter(|v| *v != 0.0),
        a.longitude.filter(|v| *v != 0.0),
    ) {
        if let (Some(lb), Some(lob)) = (b.latitude, b.longitude) {
            out.set("geo", score_geo(la, lo, lb, lob));
        }
    }
    let country_key = format!("{event}Country");
    let city_key = format!("{event}City");
    let b_country = tokenize(&b.country, false);
    let a_city = a.city.as_ref().filter(|_| has_text(&a.city));
    if b.country_code.as_deref() == Some("FRA") {
        if let Some(e) = explain.as_deref_mut() {
            e.set(&[&country_key], json!("France"));
        }
        if let (Some(country), true) = (&a.country, has_text(&a.country)) {
            let mut c = score_country(country, &b_country);
            if out.get("code").is_some_and(|v| v >= 0.87) && c < BLIND_LOCATION_SCORE {
                c = 0.87;
            }
            out.set("country", c);
        }
        if let (Some(city), Some(b_city)) = (a_city, b.city.as_ref().filter(|_| present(&b.city))) {
            let entry = city
                .first()
                .and_then(|c| communes.and_then(|d| d.commune(&city_norm(c))));
            if let (Some(entry), Some(e)) = (&entry, explain.as_deref_mut()) {
                e.set(&[&city_key, "surface"], super::num(entry.surface));
            }
            let mut c = score_city(city, b_city);
            out.set("city", c);
            if out.get("code") == Some(1.0) && c < BLIND_LOCATION_SCORE {
                c = 0.87;
            } else if c < BLIND_LOCATION_SCORE {
                if let Some(entry) = &entry {
                    let theirs = b.code_history.as_ref().or(b.code.as_ref());
                    let code = theirs.map_or(MIN_CODE_SCORE, |t| {
                        score_code(&Tx::S(entry.code.clone()), t)
                    });
                    out.set("code", code);
                    if code >= BLIND_LOCATION_SCORE {
                        c = 1.0;
                    } else if let (Some(lb), Some(lob)) = (b.latitude, b.longitude) {
                        c = score_geo(entry.latitude, entry.longitude, lb, lob).max(c);
                    }
                }
            }
            out.set("city", c);
        }
        if let (Some(dep), Some(b_dep)) = (&a.department, &b.department) {
            if has_text(&a.department) && present(&b.department) {
                let code = out.get("code");
                let same_city = if out.get("city").is_some_and(|c| c >= 0.75)
                    || code.is_some_and(|c| c >= 0.75)
                {
                    Some(true)
                } else if code.is_some() {
                    Some(false)
                } else {
                    None
                };
                match score_department(dep, b_dep, same_city) {
                    Some(d) => {
                        let d = if code.is_some_and(|c| c >= 0.75) && d < BLIND_LOCATION_SCORE {
                            BLIND_LOCATION_SCORE.powf(0.5)
                        } else {
                            d
                        };
                        out.set("department", d);
                    }
                    None if dep.first() == Some("99") => {
                        if out.get("country").is_some_and(|c| c < BLIND_LOCATION_SCORE) {
                            out.set("country", MIN_LOCATION_SCORE);
                        } else {
                            out.set("department", MIN_DEP_SCORE);
                        }
                    }
                    None => {}
                }
            }
        }
        let truthy = |k: &str| out.get(k).is_some_and(|v| v != 0.0 && !v.is_nan());
        let country_below_one = out.get("country").is_some_and(|c| c < 1.0);
        let score = if country_below_one
            || truthy("code")
            || truthy("city")
            || truthy("department")
            || truthy("geo")
        {
            MIN_LOCATION_SCORE.max(score_reduce(&out, false))
        } else {
            BLIND_LOCATION_SCORE
        };
        out.set("score", score);
    } else {
        let not_france = "BirthCountry not France";
        if let Some(e) = explain.as_deref_mut() {
            e.set(&[&country_key], json!(not_france));
        }
        if let (Some(country), true) = (&a.country, has_text(&a.country)) {
            out.set("country", score_country(country, &b_country));
        } else if let Some(city) = a_city {
            let c = score_country(city, &b_country);
            if c > MIN_CITY_COUNTRY_SWAP_SCORE {
                out.set("country", c.powf(0.3));
            }
        } else if out.get("code").is_none() {
            out.set("country", BLIND_LOCATION_SCORE);
        }
        if let (Some(city), Some(b_city)) = (a_city, b.city.as_ref().filter(|_| present(&b.city))) {
            let c = score_city(city, b_city);
            let c = if out
                .get("country")
                .is_some_and(|v| v >= BLIND_LOCATION_SCORE)
            {
                c.max(MIN_NOT_FR_CITY_SCORE)
            } else {
                c
            };
            out.set("city", c);
            if let Some(e) = explain {
                e.set(&[&city_key, "country"], json!(not_france));
                let entry = city
                    .first()
                    .and_then(|c| communes.and_then(|d| d.commune(&city_norm(c))));
                if let Some(entry) = entry {
                    e.set(
                        &[&city_key, "surface"],
                        json!(format!("{} m2", entry.surface)),
                    );
                }
                e.set(&[&city_key, "score"], super::num(c));
            }
        }
        out.set("score", MIN_NOT_FR_SCORE.max(score_reduce(&out, false)));
    }
    out
}
