//! The matching score of the original deces-backend (`../shared/spec/scoring.md`): how
//! well a candidate person B matches a query person A, by name, sex, dates and places,
//! as pure functions. Every constant of scoring.md 2 is named once here.

pub mod date;
pub mod name;
pub mod place;
pub mod text;

use crate::api::JsonReply;
use crate::search::error::{type_error, SearchError};
use date::DateIn;
use name::Names;
use place::{CommuneLookup, Location};
use serde_json::{json, Map, Value};
use text::Tx;

pub const PERFECT_SCORE_THRESHOLD: f64 = 0.75;
pub const MULTIPLE_ERROR_PENALTY: f64 = 0.8;
pub const MULTIPLE_MATCH_PENALTY_MAX: f64 = 0.5;
pub const MULTIPLE_PERFECT_SCORE_PENALTY: f64 = 0.1;
pub const MULTIPLE_BEST_SCORE_PENALTY: f64 = 0.15;
pub const SECONDARY_CANDIDATE_PENALTY_POW: f64 = 2.0;
pub const SECONDARY_CANDIDATE_THRESHOLD: f64 = 0.4;
pub const DEFAULT_PRUNE_SCORE: f64 = 0.3;
pub const TOKEN_PLACE_PENALTY: f64 = 0.7;
pub const BLIND_TOKEN_SCORE: f64 = 0.5;
pub const NAME_INVERSION_PENALTY: f64 = 0.7;
pub const FUZZ_PENALTY: f64 = 1.5;
pub const STOP_NAME_PENALTY: f64 = 0.8;
pub const MIN_NAME_SCORE: f64 = 0.1;
pub const BLIND_NAME_SCORE: f64 = 0.5;
pub const MIN_SEX_SCORE: f64 = 0.5;
pub const FIRST_NAME_SEX_PENALTY: f64 = 0.65;
pub const BLIND_SEX_SCORE: f64 = 0.99;
pub const MIN_DATE_SCORE: f64 = 0.2;
pub const BLIND_DATE_SCORE: f64 = 0.85;
pub const UNCERTAIN_DATE_SCORE: f64 = 0.95;
pub const DATE_PENALTY: f64 = 2.5;
pub const MIN_LOCATION_SCORE: f64 = 0.2;
pub const BOROUGH_LOCATION_PENALTY: f64 = 0.9;
pub const MIN_CODE_SCORE: f64 = 0.7;
pub const MIN_DEP_SCORE: f64 = 0.7;
pub const MIN_NOT_FR_CITY_SCORE: f64 = 0.65;
pub const MIN_CITY_COUNTRY_SWAP_SCORE: f64 = 0.6;
pub const MIN_NOT_FR_SCORE: f64 = 0.4;
pub const BLIND_LOCATION_SCORE: f64 = 0.75;

/// 1: JavaScript's `parseFloat(x.toFixed(2))`: the multiple of 0.01 nearest to the exact
/// binary value, an exact tie (an odd multiple of 1/8) away from zero.
pub fn r2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let eighths = x * 8.0;
    if eighths.fract() == 0.0 && (eighths.abs() as u64) % 2 == 1 {
        return ((x.abs() * 100.0 + 0.5).floor() / 100.0).copysign(x);
    }
    let y = x * 100.0;
    if (y - y.floor() - 0.5).abs() > 1e-6 {
        return y.round() / 100.0;
    }
    // Near a tie the product may have rounded: read the exact decimal expansion.
    format!("{x:.2}").parse().unwrap_or(x)
}

/// 1: the date scores' rounding, `0.01 * Math.round(100 * x)`.
pub fn round_date(x: f64) -> f64 {
    let v = 100.0 * x;
    let f = v.floor();
    0.01 * if v - f >= 0.5 { f + 1.0 } else { f }
}

/// A number as JavaScript writes it in JSON (whole numbers without `.0`, NaN `null`).
pub fn num(x: f64) -> Value {
    if !x.is_finite() {
        Value::Null
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn truthy(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

/// A sub-score: a number, or an object of sub-scores with its `score`.
#[derive(Debug, Clone, PartialEq)]
pub enum Sv {
    N(f64),
    O(Obj),
}

/// Sub-scores in the order they were first set (the JSON key order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Obj(Vec<(String, Sv)>);

impl Obj {
    fn put(&mut self, key: &str, value: Sv) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    pub fn set(&mut self, key: &str, value: f64) {
        self.put(key, Sv::N(value));
    }

    /// A number, or an object's `score`.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| match v {
                Sv::N(n) => Some(*n),
                Sv::O(o) => o.get("score"),
            })
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Sv::N(n) => num(*n),
                        Sv::O(o) => o.to_json(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        )
    }
}

/// Written as [`Obj::to_json`] would, without making the tree.
impl serde::Serialize for Obj {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            match v {
                Sv::N(n) if !n.is_finite() => map.serialize_entry(k, &())?,
                Sv::N(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                    map.serialize_entry(k, &(*n as i64))?
                }
                Sv::N(n) => map.serialize_entry(k, n)?,
                Sv::O(o) => map.serialize_entry(k, o)?,
            }
        }
        map.end()
    }
}

/// 3.9 `scoreReduce`: the product of the sub-scores, raised with the penalty (`0.8 x (2 -
/// perfect / all)`) or not; an object's own `score` when it has a non-zero one.
pub fn score_reduce(obj: &Obj, penalty: bool) -> f64 {
    if let Some(Sv::N(s)) = obj.0.iter().find(|(k, _)| k == "score").map(|(_, v)| v) {
        if truthy(*s) {
            return r2(*s);
        }
    }
    let values: Vec<f64> = obj
        .0
        .iter()
        .map(|(_, v)| match v {
            Sv::N(n) => r2(*n),
            Sv::O(o) => match o.get("score") {
                Some(s) if truthy(s) => r2(s),
                _ => score_reduce(o, penalty),
            },
        })
        .collect();
    if values.is_empty() {
        return 0.0;
    }
    let product: f64 = values.iter().product();
    let e = if penalty {
        let perfect = values
            .iter()
            .filter(|v| **v >= PERFECT_SCORE_THRESHOLD)
            .count() as f64;
        MULTIPLE_ERROR_PENALTY * (2.0 - perfect / values.len() as f64)
    } else {
        1.0
    };
    r2(product.powf(e))
}

/// The `explain` object: nested keys in the order they were first written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explain(Map<String, Value>);

impl Explain {
    pub fn set(&mut self, path: &[&str], value: Value) {
        let mut map = &mut self.0;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                map.insert(key.to_string(), value);
                return;
            }
            let slot = map
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            map = slot.as_object_mut().expect("an object");
        }
    }
}

/// A birth or a death.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub date: Option<DateIn>,
    pub location: Option<Location>,
}

/// A person to compare (scoring.md 4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    pub name: Option<Names>,
    pub sex: Option<String>,
    pub birth: Option<Event>,
    pub death: Option<Event>,
}

fn string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn text(obj: &Map<String, Value>, key: &str) -> Option<Tx> {
    match obj.get(key)? {
        Value::String(s) if !s.is_empty() => Some(Tx::S(s.clone())),
        Value::Array(items) => Some(Tx::L(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )),
        _ => None,
    }
}

/// A geo point `{latitude, longitude}` (anything else gives none).
fn geo(obj: &Map<String, Value>, key: &str) -> (Option<f64>, Option<f64>) {
    let point = obj.get(key).and_then(Value::as_object);
    let part = |k: &str| point.and_then(|p| p.get(k)).and_then(Value::as_f64);
    (part("latitude"), part("longitude"))
}

/// 4.2 `personFromRequest`: a person from a request's keys (firstName, birthDate, ...).
/// Values of another type than the original expects are left out (it failed on them).
pub fn person_from_request(obj: &Map<String, Value>) -> Person {
    let names = Names::new(
        text(obj, "firstName"),
        text(obj, "lastName"),
        text(obj, "legalName"),
    );
    let has_name = names != Names::default();
    let event = |prefix: &str, date: Option<DateIn>| -> Option<Event> {
        let key = |k: &str| format!("{prefix}{k}");
        let (lat, lon) = geo(obj, &key("GeoPoint"));
        let location = Location {
            city: text(obj, &key("City")),
            code: text(obj, &key("LocationCode")),
            department: text(obj, &key("Department")),
            country: text(obj, &key("Country")),
            latitude: lat,
            longitude: lon,
            ..Location::default()
        };
        let has_place = location.city.is_some()
            || location.code.is_some()
            || location.department.is_some()
            || location.country.is_some();
        if date.is_none() && !has_place {
            return None;
        }
        let located = has_place || lat.is_some() || lon.is_some();
        Some(Event {
            date,
            location: located.then_some(location),
        })
    };
    let mut death_date = string(obj, "lastSeenAliveDate").map(|d| DateIn::S(format!(">{d}")));
    if let Some(d) = string(obj, "deathDate") {
        death_date = Some(DateIn::S(d));
    }
    match obj.get("deathAge") {
        Some(Value::String(s)) if !s.is_empty() => death_date = Some(DateIn::S(s.clone())),
        Some(Value::Number(n)) if n.as_f64() != Some(0.0) => death_date = Some(DateIn::Other),
        _ => {}
    }
    Person {
        name: has_name.then_some(names),
        sex: string(obj, "sex"),
        birth: event("birth", string(obj, "birthDate").map(DateIn::S)),
        death: event("death", death_date),
    }
}

/// The parameters of a comparison.
#[derive(Debug, Clone)]
pub struct Params {
    pub date_format_a: Option<String>,
    pub date_format_b: Option<String>,
    pub explain: bool,
    pub prune: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            date_format_a: None,
            date_format_b: None,
            explain: false,
            prune: DEFAULT_PRUNE_SCORE,
        }
    }
}

fn foreign(event: Option<&Event>) -> bool {
    event
        .and_then(|e| e.location.as_ref())
        .and_then(|l| l.country_code.as_deref())
        .is_some_and(|c| c != "FRA")
}

fn event_date(event: Option<&Event>) -> Option<&str> {
    match event.and_then(|e| e.date.as_ref()) {
        Some(DateIn::S(s)) => Some(s),
        _ => None,
    }
}

fn date_given(event: Option<&Event>) -> bool {
    match event.and_then(|e| e.date.as_ref()) {
        Some(DateIn::S(s)) => !s.is_empty(),
        Some(DateIn::Other) => true,
        None => false,
    }
}

/// 9 `ScoreResult`: the sub-scores of A against B and their `score` (and `explain`).
pub fn score_result(
    a: &Person,
    b: &Person,
    params: &Params,
    communes: Option<&dyn CommuneLookup>,
) -> Value {
    let mut explain = params.explain.then(Explain::default);
    let obj = scored_pair(a, b, params, communes, explain.as_mut());
    let mut out = obj.to_json();
    if let (Some(e), Value::Object(map)) = (explain, &mut out) {
        map.insert("explain".into(), Value::Object(e.0));
    }
    out
}

/// The sub-scores of [`score_result`], writing what it finds to `explain` when given.
fn scored_pair(
    a: &Person,
    b: &Person,
    params: &Params,
    communes: Option<&dyn CommuneLookup>,
    mut explain: Option<&mut Explain>,
) -> Obj {
    let mut obj = Obj::default();
    let prune = params.prune;
    let not_pruned = |obj: &Obj| prune < score_reduce(obj, true);
    let fmt_a = params.date_format_a.as_deref();
    let fmt_b = params.date_format_b.as_deref();
    if date_given(a.birth.as_ref()) {
        let date = a.birth.as_ref().and_then(|e| e.date.clone());
        let s = date::score_date(
            &date,
            event_date(b.birth.as_ref()),
            fmt_a,
            fmt_b,
            foreign(b.birth.as_ref()),
            "birth",
            explain.as_deref_mut(),
        );
        obj.set("birthDate", s);
    }
    let empty = Names::default();
    let a_names = a.name.as_ref().unwrap_or(&empty);
    let b_names = b.name.as_ref().unwrap_or(&empty);
    if text::present(&a_names.first) || text::present(&a_names.last) {
        if not_pruned(&obj) || !obj.has("birthDate") {
            let female = b.sex.as_deref() == Some("F");
            let name = if female {
                if let Some(e) = explain.as_deref_mut() {
                    e.set(&["sex"], json!("F"));
                }
                let n = name::score_name(a_names, b_names, true, explain.as_deref_mut());
                if text::present(&a_names.legal) {
                    if let Some(e) = explain.as_deref_mut() {
                        e.set(&["legalName"], json!(true));
                    }
                }
                n
            } else {
                let n = name::score_name(a_names, b_names, false, None);
                if let Some(e) = explain.as_deref_mut() {
                    e.set(&["sex"], json!("M"));
                }
                n
            };
            obj.put("name", name);
        } else {
            obj.set("score", 0.0);
        }
    }
    if let Some(sex) = &a.sex {
        if not_pruned(&obj) {
            let ours = if sex.starts_with('H') {
                "M"
            } else {
                sex.as_str()
            };
            let s = match &b.sex {
                Some(theirs) if ours == theirs => 1.0,
                Some(_) => MIN_SEX_SCORE,
                None => BLIND_SEX_SCORE,
            };
            obj.set("sex", s);
        } else {
            obj.set("score", 0.0);
        }
    } else if text::present(&a_names.first) && name::sex_mismatch(a_names, b_names) {
        obj.set("sex", FIRST_NAME_SEX_PENALTY);
    }
    if not_pruned(&obj) {
        let none = Location::default();
        let la = a
            .birth
            .as_ref()
            .and_then(|e| e.location.as_ref())
            .unwrap_or(&none);
        let lb = b
            .birth
            .as_ref()
            .and_then(|e| e.location.as_ref())
            .unwrap_or(&none);
        let loc = place::score_location(la, lb, "birth", communes, explain.as_deref_mut());
        obj.put("birthLocation", Sv::O(loc));
    } else {
        obj.set("score", 0.0);
    }
    if date_given(a.death.as_ref()) {
        if not_pruned(&obj) {
            let date = a.death.as_ref().and_then(|e| e.date.clone());
            let s = date::score_date(
                &date,
                event_date(b.death.as_ref()),
                fmt_a,
                fmt_b,
                foreign(b.death.as_ref()),
                "death",
                explain.as_deref_mut(),
            );
            obj.set("deathDate", s);
        } else {
            obj.set("score", 0.0);
        }
    }
    let la = a.death.as_ref().and_then(|e| e.location.as_ref());
    let has_place = la.is_some_and(|l| {
        text::present(&l.city)
            || text::present(&l.code)
            || text::present(&l.country)
            || text::present(&l.department)
            || l.latitude.is_some_and(truthy)
    });
    if let (Some(la), true) = (la, has_place) {
        if not_pruned(&obj) {
            let none = Location::default();
            let lb = b
                .death
                .as_ref()
                .and_then(|e| e.location.as_ref())
                .unwrap_or(&none);
            let loc = place::score_location(la, lb, "death", communes, explain);
            obj.put("deathLocation", Sv::O(loc));
        } else {
            obj.set("score", 0.0);
        }
    }
    if !obj.get("score").is_some_and(truthy) {
        let s = score_reduce(&obj, true);
        obj.set("score", s);
    }
    obj
}

/// What scoring a hit of a result list gives it: its `score` (`None`: not scored, a hit
/// Elasticsearch sorted on another field) and its `scores` object.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub score: Option<f64>,
    pub scores: Obj,
}

/// A hit's score without the matching score: Elasticsearch's part only
/// (`r2(0.005 x min(200, _score))`, 0 when it has none).
pub fn backend_part(es: Option<f64>) -> Scored {
    let mut scores = Obj::default();
    let es = es.map(|s| r2(0.005 * s.min(200.0)));
    if let Some(es) = es {
        scores.set("es", es);
    }
    Scored {
        score: Some(es.unwrap_or(0.0)),
        scores,
    }
}

/// 10 `scoreResults`: every hit (a person and its Elasticsearch `_score`) scored against
/// the request object (the search's echo), the multi-match penalty applied; in the hits'
/// order. `candidates` is how many matches a request expects (1 for a search).
pub fn score_results(
    request: &Map<String, Value>,
    hits: &[(Person, Option<f64>)],
    params: &Params,
    candidates: f64,
    communes: Option<&dyn CommuneLookup>,
) -> Vec<Scored> {
    let given = |keys: &[&str]| {
        keys.iter().any(|k| match request.get(*k) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Null) | None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => true,
        })
    };
    let meaningful = [
        given(&["fullText", "lastName", "firstName"]),
        given(&["birthDate"]),
        given(&[
            "birthCity",
            "birthLocationCode",
            "birthCountry",
            "birthDepartment",
            "birthGeoPoint",
        ]),
    ]
    .iter()
    .filter(|b| **b)
    .count() as f64;
    let a = person_from_request(request);
    // Per hit: score, scores, name score, female.
    let mut scored: Vec<(Option<f64>, Obj, Option<f64>, bool)> = Vec::with_capacity(hits.len());
    let (mut max_score, mut perfect, mut perfect_name) = (0.0f64, 0usize, false);
    for (b, es) in hits {
        let Some(es) = es.filter(|s| *s > 0.0) else {
            let mut scores = Obj::default();
            scores.set("score", 0.0);
            scored.push((None, scores, None, false));
            continue;
        };
        let mut s = scored_pair(&a, b, params, communes, None);
        let name = s.get("name");
        let p = [name, s.get("birthLocation")]
            .iter()
            .filter(|v| v.is_some_and(|v| v >= PERFECT_SCORE_THRESHOLD))
            .count() as f64;
        let k = s.0.len() as f64;
        let denominator = 0.5 * p + k;
        let exponent = meaningful / if denominator == 0.0 { 1.0 } else { denominator };
        let score = r2(r2(s.get("score").unwrap_or(0.0)).powf(exponent));
        s.set("score", score);
        s.set("es", r2(0.005 * es.min(200.0)));
        let score = r2(score);
        let female = b.sex.as_deref() == Some("F");
        max_score = max_score.max(score);
        if score >= PERFECT_SCORE_THRESHOLD {
            perfect += 1;
        }
        if female && name.is_some_and(|n| n > 0.65) {
            perfect_name = true;
        }
        scored.push((Some(score), s, name, female));
    }
    // The multi-match penalty, over the hits kept, best first.
    let prune = params.prune;
    let mut order: Vec<usize> = (0..scored.len())
        .filter(|i| scored[*i].0.is_some_and(|s| s >= prune))
        .collect();
    let best = order
        .iter()
        .filter(|i| scored[**i].0 == Some(max_score))
        .count();
    let filtered = order
        .iter()
        .filter(|i| {
            let (_, _, name, female) = &scored[**i];
            !perfect_name || !*female || name.is_some_and(|n| n > 0.65)
        })
        .count();
    order.sort_by(|x, y| {
        let (x, y) = (scored[*x].0.unwrap_or(0.0), scored[*y].0.unwrap_or(0.0));
        y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal)
    });
    let (n_perfect, n_best, n_filtered) = (perfect as f64, best as f64, filtered as f64);
    for i in order {
        let (score, scores, name, _) = &mut scored[i];
        let mut s = score.unwrap_or(0.0);
        if perfect_name && filtered > 0 && name.is_some_and(|n| n <= 0.65) {
            s = 0.0;
        }
        if s > 0.0 && filtered > 1 {
            let pen = if perfect > 0 {
                1.0 - MULTIPLE_PERFECT_SCORE_PENALTY
                    * (n_perfect - 1.0 + (n_filtered - n_perfect) / candidates)
            } else {
                1.0 - MULTIPLE_BEST_SCORE_PENALTY
                    * (n_best - 1.0 + (n_filtered - n_best) / candidates)
            }
            .max(MULTIPLE_MATCH_PENALTY_MAX);
            let pow = if s == max_score {
                1.0
            } else if s >= PERFECT_SCORE_THRESHOLD {
                SECONDARY_CANDIDATE_PENALTY_POW + 1.0
            } else {
                let others = if perfect > 0 { n_perfect } else { n_best };
                SECONDARY_CANDIDATE_PENALTY_POW + n_filtered - others
            };
            let penalised = r2(pen * s.powf(pow));
            if penalised != s {
                s = penalised;
                let before = scores.get("score").filter(|v| truthy(*v)).unwrap_or(1.0);
                scores.set("multiMatchPenalty", r2(s / before));
                scores.set("multiMatch", n_filtered);
                scores.set("score", s);
            }
        }
        if s > 0.0 && s < max_score && s < SECONDARY_CANDIDATE_THRESHOLD {
            s = 0.0;
        }
        *score = Some(s);
    }
    scored
        .into_iter()
        .map(|(score, scores, _, _)| Scored { score, scores })
        .collect()
}

/// POST /compare's answer to a body: the score object, 400 for a body that is not JSON,
/// 413 above the search bodies' limit, 422 (as the original's validation) without a
/// person. Whatever the persons hold, never a 500 (api.md FIX).
pub fn reply(body: &[u8], communes: Option<&dyn CommuneLookup>) -> JsonReply {
    if body.len() > crate::search::MAX_BODY_BYTES {
        return crate::api::payload_too_large();
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return SearchError::BadJson.reply();
    };
    match compare(&json, communes) {
        Ok(score) => JsonReply::new(200, score),
        Err(e) => SearchError::Types(e).reply(),
    }
}

/// POST /compare: `{"personA", "personB", "params"?}` to the score object, or the type
/// errors of a body without its persons.
pub fn compare(
    body: &Value,
    communes: Option<&dyn CommuneLookup>,
) -> Result<Value, Map<String, Value>> {
    let field = |key: &str| -> Result<&Map<String, Value>, Map<String, Value>> {
        let (message, value) = match body.get(key) {
            Some(Value::Object(o)) => return Ok(o),
            None | Some(Value::Null) => (format!("'{key}' is required"), None),
            Some(other) => ("invalid object".to_string(), Some(other)),
        };
        let mut errors = Map::new();
        errors.insert(format!("requestBody.{key}"), type_error(message, value));
        Err(errors)
    };
    let a = person_from_request(field("personA")?);
    let b = person_from_request(field("personB")?);
    let p = body.get("params").and_then(Value::as_object);
    let get = |k: &str| p.and_then(|p| p.get(k));
    let params = Params {
        date_format_a: get("dateFormatA")
            .and_then(Value::as_str)
            .map(str::to_string),
        date_format_b: get("dateFormatB")
            .and_then(Value::as_str)
            .map(str::to_string),
        explain: get("explain").is_some_and(|v| match v {
            Value::Bool(b) => *b,
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64().is_some_and(truthy),
            _ => true,
        }),
        prune: get("pruneScore")
            .and_then(Value::as_f64)
            .filter(|p| p.is_finite())
            .unwrap_or(DEFAULT_PRUNE_SCORE),
    };
    Ok(score_result(&a, &b, &params, communes))
}

#[cfg(test)]
mod tests;
