//! Elasticsearch answers shaped as the API's response: hits become Person objects.
//!
//! The answer is read into borrowed, typed records and the record fields a Person repeats
//! are passed through as raw JSON: no intermediate tree, a handful of allocations per hit.
//! `scan.rs` reads it in one pass; serde_json reads what the scanner leaves to it.

use super::scan::Scanner;
use super::write::{self, key, JsNumber, Object};
use crate::score::{self, date::DateIn, name::Names, text::Tx, Scored};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// A value's JSON text; `None` when it is absent or `null`.
type Raw<'a> = Option<&'a str>;

/// A `Raw` field for serde.
fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Raw<'de>, D::Error> {
    Ok(Option::<&'de RawValue>::deserialize(d)?.map(RawValue::get))
}

/// The parts of an Elasticsearch search answer the API reads.
#[derive(Deserialize, Debug, PartialEq)]
pub struct EsAnswer<'a> {
    #[serde(borrow, default, deserialize_with = "raw")]
    pub took: Raw<'a>,
    #[serde(rename = "_scroll_id", borrow, default)]
    pub scroll_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub hits: EsHits<'a>,
}

#[derive(Deserialize, Debug, PartialEq)]
pub struct EsHits<'a> {
    #[serde(borrow, default, deserialize_with = "raw")]
    pub total: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    pub max_score: Raw<'a>,
    #[serde(borrow)]
    pub hits: Vec<Hit<'a>>,
}

#[derive(Deserialize, Debug, PartialEq)]
pub struct Hit<'a> {
    #[serde(rename = "_score", default)]
    pub score: Option<f64>,
    #[serde(rename = "_source", borrow, default)]
    pub source: Record<'a>,
}

/// An indexed record's fields, as raw JSON (strings or arrays of strings, or numbers).
#[allow(non_snake_case)]
#[derive(Deserialize, Default, Debug, PartialEq)]
pub struct Record<'a> {
    #[serde(borrow, default, deserialize_with = "raw")]
    UID: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    SOURCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    SOURCE_LINE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    NOM: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    PRENOMS: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    SEXE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    DATE_NAISSANCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    COMMUNE_NAISSANCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    CODE_INSEE_NAISSANCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    CODE_POSTAL_NAISSANCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    CODE_INSEE_NAISSANCE_HISTORIQUE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    DEPARTEMENT_NAISSANCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    PAYS_NAISSANCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    PAYS_NAISSANCE_CODEISO3: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    GEOPOINT_NAISSANCE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    DATE_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    NUM_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    AGE_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    COMMUNE_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    CODE_INSEE_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    CODE_POSTAL_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    CODE_INSEE_DECES_HISTORIQUE: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    DEPARTEMENT_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    PAYS_DECES: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    PAYS_DECES_CODEISO3: Raw<'a>,
    #[serde(borrow, default, deserialize_with = "raw")]
    GEOPOINT_DECES: Raw<'a>,
}

/// Puts a field's value in its slot; `None` when the field was already seen (serde_json
/// refuses duplicate fields).
fn put<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.is_none().then(|| *slot = Some(value))
}

/// `null` as absent.
fn nullable(text: &str) -> Raw<'_> {
    (text != "null").then_some(text)
}

impl<'a> EsAnswer<'a> {
    /// Reads an Elasticsearch answer: in one pass with the scanner, or with serde_json
    /// where the scanner gives up (serde_json then decides whether it is an answer).
    pub fn read(text: &'a str) -> Option<Self> {
        Self::scan(text).or_else(|| serde_json::from_str(text).ok())
    }

    fn scan(answer: &'a str) -> Option<Self> {
        let mut s = Scanner::new(answer);
        let (mut took, mut scroll_id, mut hits) = (None, None, None);
        s.object(0, |s, key| match key? {
            "took" => put(&mut took, nullable(s.value(1)?)),
            "_scroll_id" => {
                let id = match nullable(s.value(1)?) {
                    Some(raw) => Some(text(raw)?),
                    None => None,
                };
                put(&mut scroll_id, id)
            }
            "hits" => put(&mut hits, EsHits::scan(s)?),
            _ => s.value(1).map(drop),
        })?;
        s.at_end().then_some(())?;
        Some(EsAnswer {
            took: took.flatten(),
            scroll_id: scroll_id.flatten(),
            hits: hits?,
        })
    }
}

impl<'a> EsHits<'a> {
    fn scan(s: &mut Scanner<'a>) -> Option<Self> {
        let (mut total, mut max_score, mut hits) = (None, None, None);
        s.object(1, |s, key| match key? {
            "total" => put(&mut total, nullable(s.value(2)?)),
            "max_score" => put(&mut max_score, nullable(s.value(2)?)),
            "hits" => {
                // Room for a default page (20 hits) from the start.
                let mut list = Vec::with_capacity(20);
                s.array(2, |s| {
                    list.push(Hit::scan(s)?);
                    Some(())
                })?;
                put(&mut hits, list)
            }
            _ => s.value(2).map(drop),
        })?;
        Some(EsHits {
            total: total.flatten(),
            max_score: max_score.flatten(),
            hits: hits?,
        })
    }
}

impl<'a> Hit<'a> {
    fn scan(s: &mut Scanner<'a>) -> Option<Self> {
        let (mut score, mut source) = (None, None);
        s.object(3, |s, key| match key? {
            "_score" => {
                let value = match nullable(s.value(4)?) {
                    // Parsed by serde_json, so that the float is the one it would give.
                    Some(number) => Some(serde_json::from_str::<f64>(number).ok()?),
                    None => None,
                };
                put(&mut score, value)
            }
            "_source" => put(&mut source, Record::scan(s)?),
            _ => s.value(4).map(drop),
        })?;
        Some(Hit {
            score: score.flatten(),
            source: source.unwrap_or_default(),
        })
    }
}

impl<'a> Record<'a> {
    fn scan(s: &mut Scanner<'a>) -> Option<Self> {
        let mut record = Record::default();
        let mut seen = 0u32;
        s.object(4, |s, key| {
            let Some((bit, slot)) = record.field(key?) else {
                return s.value(5).map(drop);
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            *slot = nullable(s.value(5)?);
            Some(())
        })?;
        Some(record)
    }

    /// A field's bit (for spotting duplicates) and slot, by its name.
    fn field(&mut self, name: &str) -> Option<(u32, &mut Raw<'a>)> {
        let (index, slot) = match name {
            "UID" => (0, &mut self.UID),
            "SOURCE" => (1, &mut self.SOURCE),
            "SOURCE_LINE" => (2, &mut self.SOURCE_LINE),
            "NOM" => (3, &mut self.NOM),
            "PRENOMS" => (4, &mut self.PRENOMS),
            "SEXE" => (5, &mut self.SEXE),
            "DATE_NAISSANCE" => (6, &mut self.DATE_NAISSANCE),
            "COMMUNE_NAISSANCE" => (7, &mut self.COMMUNE_NAISSANCE),
            "CODE_INSEE_NAISSANCE" => (8, &mut self.CODE_INSEE_NAISSANCE),
            "CODE_POSTAL_NAISSANCE" => (9, &mut self.CODE_POSTAL_NAISSANCE),
            "CODE_INSEE_NAISSANCE_HISTORIQUE" => (10, &mut self.CODE_INSEE_NAISSANCE_HISTORIQUE),
            "DEPARTEMENT_NAISSANCE" => (11, &mut self.DEPARTEMENT_NAISSANCE),
            "PAYS_NAISSANCE" => (12, &mut self.PAYS_NAISSANCE),
            "PAYS_NAISSANCE_CODEISO3" => (13, &mut self.PAYS_NAISSANCE_CODEISO3),
            "GEOPOINT_NAISSANCE" => (14, &mut self.GEOPOINT_NAISSANCE),
            "DATE_DECES" => (15, &mut self.DATE_DECES),
            "NUM_DECES" => (16, &mut self.NUM_DECES),
            "AGE_DECES" => (17, &mut self.AGE_DECES),
            "COMMUNE_DECES" => (18, &mut self.COMMUNE_DECES),
            "CODE_INSEE_DECES" => (19, &mut self.CODE_INSEE_DECES),
            "CODE_POSTAL_DECES" => (20, &mut self.CODE_POSTAL_DECES),
            "CODE_INSEE_DECES_HISTORIQUE" => (21, &mut self.CODE_INSEE_DECES_HISTORIQUE),
            "DEPARTEMENT_DECES" => (22, &mut self.DEPARTEMENT_DECES),
            "PAYS_DECES" => (23, &mut self.PAYS_DECES),
            "PAYS_DECES_CODEISO3" => (24, &mut self.PAYS_DECES_CODEISO3),
            "GEOPOINT_DECES" => (25, &mut self.GEOPOINT_DECES),
            _ => return None,
        };
        Some((1 << index, slot))
    }
}

/// A Person: fields absent from the record are left out. Its `score` and `scores` are the
/// matching score's (`crate::score`), given when it is written.
pub struct Person<'a> {
    /// Elasticsearch's `_score` (none when it sorted on another field).
    pub es_score: Option<f64>,
    source: Raw<'a>,
    source_line: Raw<'a>,
    id: Raw<'a>,
    first: Vec<Cow<'a, str>>,
    last: Raw<'a>,
    sex: Raw<'a>,
    birth: Event<'a>,
    death: Event<'a>,
}

struct Event<'a> {
    date: Raw<'a>,
    certificate_id: Raw<'a>,
    age: Raw<'a>,
    location: Location<'a>,
}

struct Location<'a> {
    city: Raw<'a>,
    code: Raw<'a>,
    code_postal: Raw<'a>,
    code_history: Raw<'a>,
    department_code: Raw<'a>,
    country: Raw<'a>,
    country_code: Raw<'a>,
    latitude: Option<JsNumber<'a>>,
    longitude: Option<JsNumber<'a>>,
}

impl<'a> Person<'a> {
    pub fn from_hit(hit: &Hit<'a>) -> Self {
        let r = &hit.source;
        let first = match r.PRENOMS.and_then(text) {
            Some(Cow::Borrowed(s)) => s.split(' ').map(Cow::Borrowed).collect(),
            Some(Cow::Owned(s)) => s.split(' ').map(|n| Cow::Owned(n.to_string())).collect(),
            None => vec![Cow::Borrowed("")],
        };
        Person {
            es_score: hit.score,
            source: r.SOURCE,
            source_line: r.SOURCE_LINE,
            id: r.UID,
            first,
            last: r.NOM,
            sex: r.SEXE,
            birth: Event {
                date: r.DATE_NAISSANCE,
                certificate_id: None,
                age: None,
                location: Location::new(
                    [
                        r.COMMUNE_NAISSANCE,
                        r.CODE_INSEE_NAISSANCE,
                        r.CODE_POSTAL_NAISSANCE,
                        r.CODE_INSEE_NAISSANCE_HISTORIQUE,
                        r.DEPARTEMENT_NAISSANCE,
                        r.PAYS_NAISSANCE,
                        r.PAYS_NAISSANCE_CODEISO3,
                    ],
                    r.GEOPOINT_NAISSANCE,
                ),
            },
            death: Event {
                date: r.DATE_DECES,
                certificate_id: r.NUM_DECES,
                age: r.AGE_DECES,
                location: Location::new(
                    [
                        r.COMMUNE_DECES,
                        r.CODE_INSEE_DECES,
                        r.CODE_POSTAL_DECES,
                        r.CODE_INSEE_DECES_HISTORIQUE,
                        r.DEPARTEMENT_DECES,
                        r.PAYS_DECES,
                        r.PAYS_DECES_CODEISO3,
                    ],
                    r.GEOPOINT_DECES,
                ),
            },
        }
    }
}

impl Person<'_> {
    /// The Person as the API's JSON, in the original's key order, with its matching score.
    pub fn write(&self, out: &mut String, scored: &Scored) {
        let mut p = Object::new(out);
        match scored.score {
            Some(score) => write::js_hundredths(p.key(key!("score")), score),
            None => p.key(key!("score")).push_str("null"),
        }
        p.raw(key!("source"), self.source);
        p.raw(key!("sourceLine"), self.source_line);
        write::value(p.key(key!("scores")), &scored.scores);
        p.raw(key!("id"), self.id);
        let mut name = p.object(key!("name"));
        write::array(name.key(key!("first")), &self.first, |out, n| {
            write::string(out, n)
        });
        name.raw(key!("last"), self.last);
        name.end();
        p.raw(key!("sex"), self.sex);
        self.birth.write(p.object(key!("birth")));
        self.death.write(p.object(key!("death")));
        p.end();
    }
}

impl Event<'_> {
    fn write(&self, mut e: Object<'_>) {
        e.raw(key!("date"), self.date);
        e.raw(key!("certificateId"), self.certificate_id);
        e.raw(key!("age"), self.age);
        let l = &self.location;
        let mut o = e.object(key!("location"));
        o.raw(key!("city"), l.city);
        o.raw(key!("code"), l.code);
        o.raw(key!("codePostal"), l.code_postal);
        o.raw(key!("codeHistory"), l.code_history);
        o.raw(key!("departmentCode"), l.department_code);
        o.raw(key!("country"), l.country);
        o.raw(key!("countryCode"), l.country_code);
        o.js_number(key!("latitude"), l.latitude);
        o.js_number(key!("longitude"), l.longitude);
        o.end();
        e.end();
    }
}

impl<'a> Location<'a> {
    fn new(f: [Raw<'a>; 7], geo: Raw<'a>) -> Self {
        let (longitude, latitude) = geo.and_then(wkt_point).unzip();
        Location {
            city: f[0],
            code: f[1],
            code_postal: f[2],
            code_history: f[3],
            department_code: f[4],
            country: f[5],
            country_code: f[6],
            latitude,
            longitude,
        }
    }
}

impl Person<'_> {
    /// The person the matching score compares (scoring.md 4.1).
    pub fn scoring(&self) -> score::Person {
        let names = Names::new(
            Some(Tx::L(self.first.iter().map(|f| f.to_string()).collect())),
            tx(self.last),
            None,
        );
        let event = |e: &Event<'_>| {
            let l = &e.location;
            let number = |n: Option<JsNumber<'_>>| match n? {
                JsNumber::Printed(t) => t.parse().ok(),
                JsNumber::Float(x) => Some(x),
            };
            score::Event {
                date: e.date.and_then(text).map(|d| DateIn::S(d.into_owned())),
                location: Some(score::place::Location {
                    city: tx(l.city),
                    code: tx(l.code),
                    code_postal: tx(l.code_postal),
                    code_history: tx(l.code_history),
                    department: tx(l.department_code),
                    country: tx(l.country),
                    country_code: l.country_code.and_then(text).map(Cow::into_owned),
                    latitude: number(l.latitude),
                    longitude: number(l.longitude),
                }),
            }
        };
        score::Person {
            name: Some(names),
            sex: self.sex.and_then(text).map(Cow::into_owned),
            birth: Some(event(&self.birth)),
            death: Some(event(&self.death)),
        }
    }
}

impl Person<'_> {
    /// The person's line of a CSV answer, in [`super::csv::COLUMNS`] order: lists joined
    /// by `", "`, the birth date as `dd/MM/yyyy` (the death date as it is, as the original
    /// wrote it).
    pub fn csv_row(&self) -> Vec<String> {
        let cell = |raw: Raw<'_>| -> String {
            let Some(raw) = raw else { return String::new() };
            if raw.starts_with('[') {
                let items: Vec<Value> = serde_json::from_str(raw).unwrap_or_default();
                return items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            text(raw).map_or_else(|| raw.to_string(), Cow::into_owned)
        };
        let number = |n: Option<JsNumber<'_>>| {
            let mut out = String::new();
            if let Some(n) = n {
                n.write(&mut out);
            }
            out
        };
        let french = |date: String| match (date.get(0..4), date.get(4..6), date.get(6..8)) {
            (Some(y), Some(m), Some(d)) if date.len() == 8 => format!("{d}/{m}/{y}"),
            _ => date,
        };
        let place = |l: &Location<'_>, row: &mut Vec<String>| {
            for raw in [
                l.city,
                l.code,
                l.code_postal,
                l.department_code,
                l.country,
                l.country_code,
            ] {
                row.push(cell(raw));
            }
            row.push(number(l.latitude));
            row.push(number(l.longitude));
        };
        let mut row = vec![
            cell(self.source),
            cell(self.last),
            self.first.join(", "),
            cell(self.sex),
            french(cell(self.birth.date)),
        ];
        place(&self.birth.location, &mut row);
        row.push(cell(self.death.certificate_id));
        row.push(cell(self.death.age));
        row.push(cell(self.death.date));
        place(&self.death.location, &mut row);
        row
    }
}

/// A raw JSON string or array of strings as the score reads it.
fn tx(raw: Raw<'_>) -> Option<Tx> {
    let raw = raw?;
    if raw.starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(raw).ok()?;
        return Some(Tx::L(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ));
    }
    text(raw).map(|t| Tx::S(t.into_owned()))
}

/// A raw JSON string's text; `None` for other JSON.
fn text(raw: &str) -> Option<Cow<'_, str>> {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        // The text is valid JSON: a string without backslashes is its own content.
        Some(inner) if !inner.contains('\\') => Some(Cow::Borrowed(inner)),
        _ => serde_json::from_str(raw).ok(),
    }
}

/// `"POINT(lon lat)"` → (lon, lat).
fn wkt_point(raw: &str) -> Option<(JsNumber<'_>, JsNumber<'_>)> {
    // The form the index holds, read without the Unicode-aware trimming and splitting
    // below (a number holds no space, so a text it takes, both would read alike).
    let usual = raw
        .strip_prefix("\"POINT(")
        .and_then(|r| r.strip_suffix(")\""))
        .and_then(|inner| inner.split_once(' '))
        .and_then(|(lon, lat)| Some((JsNumber::parse(lon)?, JsNumber::parse(lat)?)));
    usual.or_else(|| any_wkt_point(raw))
}

/// `wkt_point` for any spacing.
fn any_wkt_point(raw: &str) -> Option<(JsNumber<'_>, JsNumber<'_>)> {
    // A WKT point holds no character JSON escapes, so the raw text is the value.
    let inner = raw
        .strip_prefix('"')?
        .strip_suffix('"')?
        .trim()
        .strip_prefix("POINT")?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let (lon, lat) = (
        JsNumber::parse(parts.next()?)?,
        JsNumber::parse(parts.next()?)?,
    );
    parts.next().is_none().then_some((lon, lat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn shape(hit: Value) -> Value {
        let text = json!({"hits": {"hits": [hit]}}).to_string();
        let answer = EsAnswer::read(&text).unwrap();
        let mut out = String::new();
        let person = Person::from_hit(&answer.hits.hits[0]);
        let request = serde_json::Map::new();
        let scored = score::score_results(
            &request,
            &[(person.scoring(), person.es_score)],
            &score::Params::default(),
            1.0,
            None,
        );
        person.write(&mut out, &scored[0]);
        serde_json::from_str(&out).unwrap()
    }

    #[test]
    fn shapes_a_hit() {
        let p = shape(json!({"_score": 171.00245, "_source": {
            "UID": "pQet0sYyrNsf", "NOM": "Dupont", "PRENOMS": "Jean Pierre", "SEXE": "M",
            "DATE_NAISSANCE": "19350312", "COMMUNE_NAISSANCE": ["Paris", "Paris 14e"],
            "GEOPOINT_NAISSANCE": "POINT(2.3264 48.8331)", "AGE_DECES": 84,
            "SOURCE": "2020-m01", "SOURCE_LINE": 1062, "NUM_DECES": "112", "OTHER": 1
        }}));
        assert_eq!(p["id"], "pQet0sYyrNsf");
        assert_eq!(
            p["name"],
            json!({"first": ["Jean", "Pierre"], "last": "Dupont"})
        );
        assert_eq!(p["scores"]["es"], 0.86);
        assert_eq!(p["birth"]["location"]["latitude"], 48.8331);
        assert_eq!(p["birth"]["location"]["longitude"], 2.3264);
        assert_eq!(
            p["birth"]["location"]["city"],
            json!(["Paris", "Paris 14e"])
        );
        assert_eq!(p["death"]["age"], 84);
        assert_eq!(p["death"]["certificateId"], "112");
        assert!(p["death"]["location"].as_object().unwrap().is_empty());
        assert!(p.get("links").is_none());
    }

    #[test]
    fn missing_or_odd_values() {
        let p = shape(json!({"_score": null, "_source": {
            "GEOPOINT_DECES": "POINT(x y)", "PRENOMS": "Jos\u{e9} \"Jo\"", "NOM": null
        }}));
        assert_eq!(p["name"]["first"], json!(["José", "\"Jo\""]));
        assert!(p["name"].get("last").is_none());
        assert_eq!(p["score"], Value::Null);
        assert_eq!(p["scores"], json!({"score": 0}));
        assert!(p["death"]["location"].get("latitude").is_none());
        let p = shape(json!({"_source": {"PRENOMS": 5, "GEOPOINT_DECES": "POINT(inf NaN)"}}));
        assert_eq!(p["name"]["first"], json!([""]));
        assert!(p["death"]["location"].get("longitude").is_none());
    }

    /// What serde_json alone reads.
    fn by_serde(text: &str) -> Option<EsAnswer<'_>> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn the_scanner_reads_every_golden_answer_as_serde_json_does() {
        let goldens = include_str!("../../../../tests/data/goldens/visible.jsonl");
        let mut answers = 0;
        for line in goldens.lines() {
            let case: Value = serde_json::from_str(line).unwrap();
            for fixture in case["es_fixture"].as_array().into_iter().flatten() {
                let body = &fixture["body"];
                if body.get("hits").is_none() {
                    continue;
                }
                for text in [
                    body.to_string(),
                    serde_json::to_string_pretty(body).unwrap(),
                ] {
                    let scanned = EsAnswer::scan(&text);
                    assert!(scanned.is_some(), "{}", case["case_id"]);
                    assert_eq!(scanned, by_serde(&text), "{}", case["case_id"]);
                }
                answers += 1;
            }
        }
        assert!(answers > 50, "{answers} answers");
    }

    #[test]
    fn the_scanner_leaves_what_it_cannot_read_to_serde_json() {
        for text in [
            // Refused by serde_json: duplicate fields, wrong types, missing hits.
            r#"{"hits":{"hits":[{"_source":{"NOM":"a","NOM":null}}]}}"#,
            r#"{"hits":{"hits":[],"hits":[]}}"#,
            r#"{"took":1,"took":2,"hits":{"hits":[]}}"#,
            r#"{"hits":{"hits":[{"_score":"1"}]}}"#,
            r#"{"hits":{"hits":[{"_source":null}]}}"#,
            r#"{"hits":{"hits":null}}"#,
            r#"{"_scroll_id":5,"hits":{"hits":[]}}"#,
            r#"{"took":1}"#,
            r#"{"hits":{"hits":[]}} x"#,
            // Read by serde_json, left to it: an escaped key, a record as an array.
            r#"{"hits":{"hits":[{"_source":{"N\u004fM":"Dupont"}}]}}"#,
            r#"{"hits":{"hits":[{"_source":[]}]}}"#,
        ] {
            assert_eq!(EsAnswer::scan(text), None, "{text}");
            assert_eq!(EsAnswer::read(text), by_serde(text), "{text}");
        }
        let escaped = r#"{"hits":{"hits":[{"_source":{"N\u004fM":"Dupont"}}]}}"#;
        assert_eq!(
            EsAnswer::read(escaped).unwrap().hits.hits[0].source.NOM,
            Some("\"Dupont\"")
        );
        // Read by both, the same way: nulls, escapes in values and in the scroll id.
        let text = r#" { "took" : null , "_scroll_id" : "a\"b" , "hits" : { "total" : 3 ,
            "max_score" : null , "hits" : [ { "_score" : 1.5e1 , "_source" : { "NOM" : null ,
            "PRENOMS" : "Jos\u00e9" , "X" : [ { } ] } } ] } } "#;
        let scanned = EsAnswer::scan(text).unwrap();
        assert_eq!(Some(&scanned), by_serde(text).as_ref());
        assert_eq!(scanned.scroll_id.as_deref(), Some("a\"b"));
        assert_eq!(scanned.hits.hits[0].score, Some(15.0));
        assert_eq!(scanned.hits.hits[0].source.PRENOMS, Some(r#""Jos\u00e9""#));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 5_000, failure_persistence: None, ..Default::default()
        })]

        /// The usual point's shortcut reads what the general reader reads.
        #[test]
        fn points_read_alike_either_way(
            lon in "-?[0-9]{1,3}(\\.[0-9]{0,8})?|[0-9eE+.-]{1,6}",
            lat in "-?[0-9]{1,3}(\\.[0-9]{0,8})?|[0-9eE+.-]{1,6}",
            gap in "[ \t]{1,2}|\u{a0}",
            pad in "|[ ]",
        ) {
            let raw = format!("\"{pad}POINT({lon}{gap}{lat}){pad}\"");
            proptest::prop_assert_eq!(wkt_point(&raw), any_wkt_point(&raw), "{}", raw);
        }

        /// On answers of every shape, the scanner reads what serde_json reads, or gives up.
        #[test]
        fn the_scanner_never_disagrees_with_serde_json(answer in es_answer(), pretty in proptest::bool::ANY) {
            let text = if pretty { serde_json::to_string_pretty(&answer) } else { serde_json::to_string(&answer) }.unwrap();
            let expected = by_serde(&text);
            if let Some(scanned) = EsAnswer::scan(&text) {
                proptest::prop_assert_eq!(Some(scanned), expected);
            }
        }
    }

    fn es_answer() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        use proptest::sample::select;
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-zé\"\\\n ]{0,12}".prop_map(Value::from),
        ];
        let value = scalar.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        let names = select(vec![
            "UID",
            "NOM",
            "PRENOMS",
            "SEXE",
            "SOURCE_LINE",
            "GEOPOINT_DECES",
            "COMMUNE_DECES",
            "PAYS_NAISSANCE",
            "AGE_DECES",
            "PRENOM_NOM",
            "OTHER",
        ]);
        let source = prop_oneof![
            8 => proptest::collection::btree_map(names, value.clone(), 0..8)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            1 => value.clone(),
        ];
        let score = prop_oneof![
            (0f64..300.0).prop_map(Value::from),
            Just(Value::Null),
            value.clone(),
        ];
        let hit = (
            proptest::option::of(score),
            proptest::option::of(source),
            proptest::option::of(value.clone()),
        )
            .prop_map(|(score, source, other)| {
                let mut hit = serde_json::Map::new();
                if let Some(v) = other {
                    hit.insert("_index".into(), v);
                }
                if let Some(v) = score {
                    hit.insert("_score".into(), v);
                }
                if let Some(v) = source {
                    hit.insert("_source".into(), v);
                }
                Value::Object(hit)
            });
        let hits = prop_oneof![
            8 => proptest::collection::vec(hit, 0..4).prop_map(Value::from),
            1 => value.clone(),
        ];
        (
            proptest::option::of(value.clone()),
            proptest::option::of(value.clone()),
            proptest::option::of(hits),
            proptest::option::of(value),
        )
            .prop_map(|(took, scroll, hits, total)| {
                let mut inner = serde_json::Map::new();
                if let Some(v) = total {
                    inner.insert("total".into(), v);
                }
                if let Some(v) = hits {
                    inner.insert("hits".into(), v);
                }
                let mut answer = serde_json::Map::new();
                if let Some(v) = took {
                    answer.insert("took".into(), v);
                }
                if let Some(v) = scroll {
                    answer.insert("_scroll_id".into(), v);
                }
                answer.insert("hits".into(), Value::Object(inner));
                Value::Object(answer)
            })
    }
}
