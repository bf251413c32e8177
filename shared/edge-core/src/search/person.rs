//! Elasticsearch answers shaped as the API's response: hits become Person objects.
//!
//! The answer is read into borrowed, typed records and the record fields a Person repeats
//! are passed through as raw JSON: no intermediate tree, a handful of allocations per hit.

use super::write::{self, JsNumber, Object};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

type Raw<'a> = Option<&'a RawValue>;

/// The parts of an Elasticsearch search answer the API reads.
#[derive(Deserialize)]
pub struct EsAnswer<'a> {
    #[serde(borrow)]
    pub took: Raw<'a>,
    #[serde(rename = "_scroll_id", borrow, default)]
    pub scroll_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub hits: EsHits<'a>,
}

#[derive(Deserialize)]
pub struct EsHits<'a> {
    #[serde(borrow)]
    pub total: Raw<'a>,
    #[serde(borrow)]
    pub max_score: Raw<'a>,
    #[serde(borrow)]
    pub hits: Vec<Hit<'a>>,
}

#[derive(Deserialize)]
pub struct Hit<'a> {
    #[serde(rename = "_score", default)]
    pub score: Option<f64>,
    #[serde(rename = "_source", borrow, default)]
    pub source: Record<'a>,
}

/// An indexed record's fields, as raw JSON (strings or arrays of strings, or numbers).
#[allow(non_snake_case)]
#[derive(Deserialize, Default)]
pub struct Record<'a> {
    #[serde(borrow, default)]
    UID: Raw<'a>,
    #[serde(borrow, default)]
    SOURCE: Raw<'a>,
    #[serde(borrow, default)]
    SOURCE_LINE: Raw<'a>,
    #[serde(borrow, default)]
    NOM: Raw<'a>,
    #[serde(borrow, default)]
    PRENOMS: Raw<'a>,
    #[serde(borrow, default)]
    SEXE: Raw<'a>,
    #[serde(borrow, default)]
    DATE_NAISSANCE: Raw<'a>,
    #[serde(borrow, default)]
    COMMUNE_NAISSANCE: Raw<'a>,
    #[serde(borrow, default)]
    CODE_INSEE_NAISSANCE: Raw<'a>,
    #[serde(borrow, default)]
    CODE_POSTAL_NAISSANCE: Raw<'a>,
    #[serde(borrow, default)]
    CODE_INSEE_NAISSANCE_HISTORIQUE: Raw<'a>,
    #[serde(borrow, default)]
    DEPARTEMENT_NAISSANCE: Raw<'a>,
    #[serde(borrow, default)]
    PAYS_NAISSANCE: Raw<'a>,
    #[serde(borrow, default)]
    PAYS_NAISSANCE_CODEISO3: Raw<'a>,
    #[serde(borrow, default)]
    GEOPOINT_NAISSANCE: Raw<'a>,
    #[serde(borrow, default)]
    DATE_DECES: Raw<'a>,
    #[serde(borrow, default)]
    NUM_DECES: Raw<'a>,
    #[serde(borrow, default)]
    AGE_DECES: Raw<'a>,
    #[serde(borrow, default)]
    COMMUNE_DECES: Raw<'a>,
    #[serde(borrow, default)]
    CODE_INSEE_DECES: Raw<'a>,
    #[serde(borrow, default)]
    CODE_POSTAL_DECES: Raw<'a>,
    #[serde(borrow, default)]
    CODE_INSEE_DECES_HISTORIQUE: Raw<'a>,
    #[serde(borrow, default)]
    DEPARTEMENT_DECES: Raw<'a>,
    #[serde(borrow, default)]
    PAYS_DECES: Raw<'a>,
    #[serde(borrow, default)]
    PAYS_DECES_CODEISO3: Raw<'a>,
    #[serde(borrow, default)]
    GEOPOINT_DECES: Raw<'a>,
}

/// A Person: fields absent from the record are left out.
///
/// `score` and `scores` carry the Elasticsearch-derived part of the matching score
/// (`es = round(0.005 × min(200, _score))`) until the full matching score lands.
pub struct Person<'a> {
    score: f64,
    source: Raw<'a>,
    source_line: Raw<'a>,
    es: Option<f64>,
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
        let es = hit.score.map(|s| round2(0.005 * s.min(200.0)));
        let first = match r.PRENOMS.and_then(text) {
            Some(Cow::Borrowed(s)) => s.split(' ').map(Cow::Borrowed).collect(),
            Some(Cow::Owned(s)) => s.split(' ').map(|n| Cow::Owned(n.to_string())).collect(),
            None => vec![Cow::Borrowed("")],
        };
        Person {
            score: es.unwrap_or(0.0),
            source: r.SOURCE,
            source_line: r.SOURCE_LINE,
            es,
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
    /// The Person as the API's JSON, in the original's key order.
    pub fn write(&self, out: &mut String) {
        let mut p = Object::new(out);
        write::js_hundredths(p.key("score"), self.score);
        p.raw("source", self.source);
        p.raw("sourceLine", self.source_line);
        let mut scores = p.object("scores");
        if let Some(es) = self.es {
            write::js_hundredths(scores.key("es"), es);
        }
        scores.end();
        p.raw("id", self.id);
        let mut name = p.object("name");
        write::array(name.key("first"), &self.first, |out, n| {
            write::string(out, n)
        });
        name.raw("last", self.last);
        name.end();
        p.raw("sex", self.sex);
        self.birth.write(p.object("birth"));
        self.death.write(p.object("death"));
        p.end();
    }
}

impl Event<'_> {
    fn write(&self, mut e: Object<'_>) {
        e.raw("date", self.date);
        e.raw("certificateId", self.certificate_id);
        e.raw("age", self.age);
        let l = &self.location;
        let mut o = e.object("location");
        o.raw("city", l.city);
        o.raw("code", l.code);
        o.raw("codePostal", l.code_postal);
        o.raw("codeHistory", l.code_history);
        o.raw("departmentCode", l.department_code);
        o.raw("country", l.country);
        o.raw("countryCode", l.country_code);
        o.js_number("latitude", l.latitude);
        o.js_number("longitude", l.longitude);
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

/// A raw JSON string's text; `None` for other JSON.
fn text<'a>(raw: &'a RawValue) -> Option<Cow<'a, str>> {
    serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
}

/// `"POINT(lon lat)"` → (lon, lat).
fn wkt_point(raw: &RawValue) -> Option<(JsNumber<'_>, JsNumber<'_>)> {
    // A WKT point holds no character JSON escapes, so the raw text is the value.
    let inner = raw
        .get()
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

/// Rounds to two decimals, halves away from zero, as the original's `Math.round(x*100)/100`.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn shape(hit: Value) -> Value {
        let text = json!({"hits": {"hits": [hit]}}).to_string();
        let answer: EsAnswer = serde_json::from_str(&text).unwrap();
        let mut out = String::new();
        Person::from_hit(&answer.hits.hits[0]).write(&mut out);
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
        assert_eq!(p["score"], 0);
        assert_eq!(p["scores"], json!({}));
        assert!(p["death"]["location"].get("latitude").is_none());
        let p = shape(json!({"_source": {"PRENOMS": 5, "GEOPOINT_DECES": "POINT(inf NaN)"}}));
        assert_eq!(p["name"]["first"], json!([""]));
        assert!(p["death"]["location"].get("longitude").is_none());
    }
}
