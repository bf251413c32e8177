//! Searching the embedded index: the request's conditions, candidates from the most
//! selective indexed one (a name's fuzzy terms, a code, a date), every condition checked on
//! the candidates' rows, a name-similarity rank, and an answer shaped as Elasticsearch's so
//! the API answer is built by the same code for both backends.
//!
//! Rank, until the matching score ranks both backends: the sum over the request's name and
//! place conditions of the similarity of their best-matching terms (1 for an exact term,
//! 0.6 for one edit, 0.3 for two), the last name counting twice, a first name found first
//! among the given names half again, the two names found swapped half as much; an exact
//! date adds 1 (0.5 within the fuzziness). Ties keep the import order.

use super::load;
use super::schema::Field;
use super::text::{deletions, distance, fuzziness, normalised, tokens};
use super::{Sql, SqlValue};
use crate::search::dates::DateQuery;
use crate::search::fields::{Kind, Param};
use crate::search::query::{full_text_parts, DISTANCE_UNITS, PARTICLES};
use crate::search::request::{age_range, as_text, geo_point, SearchRequest, MAX_WINDOW};
use crate::version::IndexFacts;
use base64::Engine as _;
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Why a search has no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FindError {
    /// The database has no records (or no tables): nothing was ever imported.
    Empty,
    /// A request Elasticsearch would refuse (negative size, past the result window, a bad
    /// scroll id): the API answers it as it answers Elasticsearch's refusals.
    Rejected,
    /// The database failed.
    Database(String),
}

impl From<String> for FindError {
    fn from(e: String) -> Self {
        FindError::Database(e)
    }
}

/// Similarity of a term found with `edits` edits.
fn similarity(edits: usize) -> f64 {
    [1.0, 0.6, 0.3][edits.min(2)]
}

/// How many edits a query term may be from a record's term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fuzz {
    Exact,
    /// Elasticsearch's `auto`.
    Auto,
    /// Two edits for every term of three letters or more (one for two letters): for names
    /// of persons born on the day a request gives, too short for `auto` to forgive typos.
    Wide,
}

impl Fuzz {
    fn of(fuzzy: bool) -> Fuzz {
        if fuzzy {
            Fuzz::Auto
        } else {
            Fuzz::Exact
        }
    }

    fn max(self, term: &str) -> usize {
        match self {
            Fuzz::Exact => 0,
            Fuzz::Auto => fuzziness(term),
            Fuzz::Wide => term.chars().count().saturating_sub(1).min(2),
        }
    }
}

/// A request's terms matched against a record's tokens: the mean over the query terms of
/// their best similarity, `None` when no query term matches (Elasticsearch's `match` ORs
/// its terms).
fn match_terms(query: &[String], record: &[&str], fuzz: Fuzz) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for q in query {
        let max = fuzz.max(q);
        let best = record
            .iter()
            .filter_map(|t| distance(q, t, max))
            .min()
            .map(similarity);
        if let Some(s) = best {
            total += s;
            any = true;
        }
    }
    any.then(|| total / query.len().max(1) as f64)
}

/// What a record must satisfy, from the request.
#[derive(Debug, Clone)]
enum Cond {
    /// First and last names (the legal name is one more last name), direct or swapped.
    Names {
        first: Vec<String>,
        lasts: Vec<Vec<String>>,
    },
    /// Every term of a full-text `q` is a last or given name.
    FullText(Vec<String>),
    /// A place field's terms (fuzzy), or its whole value (exact).
    Place {
        field: Field,
        value: String,
    },
    Code {
        field: Field,
        value: String,
    },
    Date {
        birth: bool,
        query: DateQuery,
    },
    /// A `dd/MM/yyyy` date in `q`: ranks, and filters when `q` has no names.
    FullTextDate {
        date: String,
        required: bool,
    },
    Sex(String),
    Age(i64, i64),
    Geo {
        birth: bool,
        lat: f64,
        lon: f64,
        metres: f64,
    },
}

fn conditions(req: &SearchRequest) -> Vec<Cond> {
    let mut out = Vec::new();
    if let Some(q) = req.text(Param::Q) {
        return full_text(&q);
    }
    let first = req.text(Param::FirstName).map(|t| tokens(&t));
    let mut last = req.text(Param::LastName).map(|t| tokens(&t));
    let mut legal = req.text(Param::LegalName).map(|t| tokens(&t));
    if first.is_none() && last.is_none() {
        last = legal.take();
    }
    if first.is_some() || last.is_some() {
        out.push(Cond::Names {
            first: first.unwrap_or_default(),
            lasts: last.into_iter().chain(legal).collect(),
        });
    }
    for (p, v) in &req.values {
        let cond = match (p, p.kind()) {
            (Param::Sex, _) => {
                let s = as_text(v);
                Cond::Sex(if s == "H" { "M".into() } else { s })
            }
            (Param::DeathAge, _) => {
                let text = as_text(v);
                let (a, b) = age_range(&text).unwrap_or((&text, &text));
                let (a, b) = (
                    a.trim().parse().unwrap_or(-1),
                    b.trim().parse().unwrap_or(-1),
                );
                Cond::Age(a.min(b), a.max(b))
            }
            (_, Kind::FuzzyText(doc_field)) => {
                let field = *Field::PLACES
                    .iter()
                    .find(|f| f.doc_field() == doc_field)
                    .unwrap_or(&Field::BirthCity);
                Cond::Place {
                    field,
                    value: as_text(v),
                }
            }
            (_, Kind::Code(doc_field)) => {
                match Field::CODES.iter().find(|f| f.doc_field() == doc_field) {
                    Some(f) => Cond::Code {
                        field: *f,
                        value: normalised(&as_text(v)),
                    },
                    None => continue,
                }
            }
            (_, Kind::Date(_)) => match req.date(*p) {
                Some(query) => Cond::Date {
                    birth: *p == Param::BirthDate,
                    query,
                },
                None => continue,
            },
            (_, Kind::GeoPoint(_)) => match geo_point(v) {
                Some(g) => Cond::Geo {
                    birth: *p == Param::BirthGeoPoint,
                    lat: g.latitude.as_f64().unwrap_or(f64::NAN),
                    lon: g.longitude.as_f64().unwrap_or(f64::NAN),
                    metres: metres(&g.distance).unwrap_or(1000.0),
                },
                None => continue,
            },
            _ => continue,
        };
        out.push(cond);
    }
    out
}

/// `q`: names (particles dropped) and the first `dd/MM/yyyy` date.
fn full_text(q: &str) -> Vec<Cond> {
    let mut out = Vec::new();
    let (words, date) = full_text_parts(q);
    // The index's tokens of the name words, particles left out again once split
    // (`d'Artagnan` gives `d` and `artagnan`).
    let names: Vec<String> = words
        .iter()
        .flat_map(|w| tokens(w))
        .filter(|t| !PARTICLES.contains(&t.as_str()))
        .collect();
    let has_names = !names.is_empty();
    if has_names {
        out.push(Cond::FullText(names));
    }
    if let Some(date) = date {
        out.push(Cond::FullTextDate {
            date,
            required: !has_names,
        });
    }
    out
}

/// A distance such as `10km` in metres (`None` when it is not one).
fn metres(d: &str) -> Option<f64> {
    DISTANCE_UNITS.iter().find_map(|(unit, factor)| {
        let n: f64 = d.strip_suffix(unit)?.trim().parse().ok()?;
        (n > 0.0 && n.is_finite()).then_some(n * factor)
    })
}

fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * a.sqrt().asin()
}

/// A candidate's columns.
struct Row {
    id: i64,
    nom: String,
    prenoms: String,
    sex: String,
    birth: String,
    death: String,
    age: Option<i64>,
    /// The stored document, read only when a condition or the sort needs it.
    doc: Option<Value>,
    birth_point: Option<(f64, f64)>,
    death_point: Option<(f64, f64)>,
}

/// The columns a candidate's row reads; the stored document last, when needed.
fn row_columns(with_doc: bool) -> String {
    let columns = "id, nom, prenoms, sex, birth, death, age, \
        birth_lat, birth_lon, death_lat, death_lon";
    if with_doc {
        format!("{columns}, {}", load::DOC_COLUMNS)
    } else {
        columns.to_string()
    }
}

impl Row {
    fn read(r: &[SqlValue]) -> Option<Row> {
        let text = |i: usize| r.get(i).map(|v| v.as_str().to_string()).unwrap_or_default();
        let num = |i: usize| r.get(i).and_then(SqlValue::as_f64);
        let point = |i: usize| Some((num(i)?, num(i + 1)?));
        Some(Row {
            id: r.first()?.as_i64()?,
            nom: text(1),
            prenoms: text(2),
            sex: text(3),
            birth: text(4),
            death: text(5),
            age: r.get(6).and_then(SqlValue::as_i64),
            birth_point: point(7),
            death_point: point(9),
            doc: (r.len() > 11).then(|| load::source(&r[11..])),
        })
    }

    /// The normalised values of a document field (place or code).
    fn values(&self, field: Field) -> Vec<String> {
        let v = self.doc.as_ref().and_then(|d| d.get(field.doc_field()));
        let texts: Vec<String> = match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        texts
            .iter()
            .map(|t| normalised(t))
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The row's rank, or `None` when a condition fails (names matched as `names` says).
    fn rank(&self, conds: &[Cond], fuzzy: bool, names: Fuzz) -> Option<f64> {
        let mut score = 0.0;
        let nom: Vec<&str> = self.nom.split(' ').filter(|t| !t.is_empty()).collect();
        let prenoms: Vec<&str> = self.prenoms.split(' ').filter(|t| !t.is_empty()).collect();
        for c in conds {
            score += match c {
                Cond::Names { first, lasts } => names_rank(first, lasts, &nom, &prenoms, names)?,
                Cond::FullText(words) => {
                    let mut s = 0.0;
                    for w in words {
                        let one = std::slice::from_ref(w);
                        let a = match_terms(one, &nom, Fuzz::Auto).unwrap_or(0.0);
                        let b = match_terms(one, &prenoms, Fuzz::Auto).unwrap_or(0.0);
                        let best = a.max(b);
                        if best == 0.0 {
                            return None;
                        }
                        s += best;
                    }
                    s
                }
                Cond::Place { field, value } => {
                    let values = self.values(*field);
                    if fuzzy {
                        let record: Vec<&str> = values.iter().flat_map(|v| v.split(' ')).collect();
                        match_terms(&tokens(value), &record, Fuzz::Auto)?
                    } else if values.contains(&normalised(value)) {
                        1.0
                    } else {
                        return None;
                    }
                }
                Cond::Code { field, value } => {
                    if !self.values(*field).contains(value) {
                        return None;
                    }
                    0.0
                }
                Cond::Date { birth, query } => {
                    let date = if *birth { &self.birth } else { &self.death };
                    date_rank(date, query, fuzzy)?
                }
                Cond::FullTextDate { date, required } => {
                    let best = [&self.birth, &self.death]
                        .iter()
                        .filter_map(|d| distance(date, d, 2))
                        .min();
                    match best {
                        Some(e) => similarity(e),
                        None if *required => return None,
                        None => 0.0,
                    }
                }
                Cond::Sex(s) => {
                    if &self.sex != s {
                        return None;
                    }
                    0.0
                }
                Cond::Age(lo, hi) => {
                    let age = self.age?;
                    if age < *lo || age > *hi {
                        return None;
                    }
                    0.0
                }
                Cond::Geo {
                    birth,
                    lat,
                    lon,
                    metres,
                } => {
                    let (plat, plon) = if *birth {
                        self.birth_point?
                    } else {
                        self.death_point?
                    };
                    if haversine(*lat, *lon, plat, plon) > *metres {
                        return None;
                    }
                    0.0
                }
            };
        }
        Some(score)
    }
}

/// Names, as the original's query combined them: the last name(s) on NOM and the first name
/// on PRENOMS (both needed when both are given), or the two swapped (half the rank).
fn names_rank(
    first: &[String],
    lasts: &[Vec<String>],
    nom: &[&str],
    prenoms: &[&str],
    fuzz: Fuzz,
) -> Option<f64> {
    let fuzzy = fuzz != Fuzz::Exact;
    let on = |terms: &[String], record: &[&str]| match_terms(terms, record, fuzz);
    let last_on = |record: &[&str]| {
        lasts
            .iter()
            .filter_map(|l| on(l, record))
            .fold(None, |a: Option<f64>, s| Some(a.map_or(s, |a| a.max(s))))
    };
    let first_rank = |record: &[&str]| -> Option<f64> {
        let s = on(first, record)?;
        let leading = record.first().map(|f| on(first, &[f])).unwrap_or(None);
        Some(s + leading.map_or(0.0, |l| l / 2.0))
    };
    let both = !first.is_empty() && !lasts.is_empty();
    let pair = |lasts_in: &[&str], first_in: &[&str]| -> Option<f64> {
        Some(2.0 * last_on(lasts_in)? + first_rank(first_in)?)
    };
    let direct = match (first.is_empty(), lasts.is_empty()) {
        (false, false) => pair(nom, prenoms),
        (true, false) => last_on(nom).map(|s| 2.0 * s),
        (false, true) => first_rank(prenoms),
        (true, true) => None,
    };
    let swapped = if fuzzy && both {
        pair(prenoms, nom).map(|s| s / 2.0)
    } else {
        None
    };
    match (direct, swapped) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn date_rank(date: &str, query: &DateQuery, fuzzy: bool) -> Option<f64> {
    match query {
        DateQuery::Prefix(p) => date.starts_with(p.as_str()).then_some(0.0),
        DateQuery::Exact(e) if fuzzy => distance(e, date, fuzziness(e)).map(similarity),
        DateQuery::Exact(e) => (date == e).then_some(1.0),
        DateQuery::Range { gte, lte } => {
            let above = gte.as_deref().is_none_or(|g| date >= g);
            let below = lte.as_deref().is_none_or(|l| date <= l);
            (!date.is_empty() && above && below).then_some(0.0)
        }
    }
}

/// How candidates are found: a term-index expression, or a date range.
enum Source {
    Match(String),
    Dates(bool, String, String),
}

pub(crate) fn json_list<T: serde::Serialize>(items: &[T]) -> SqlValue {
    SqlValue::Text(serde_json::to_string(items).unwrap_or_else(|_| "[]".into()))
}

/// The index terms of `field` within the fuzziness of `term` (or equal to it), with how
/// many records have them.
fn expand(
    db: &mut impl Sql,
    field: Field,
    term: &str,
    fuzzy: bool,
) -> Result<(Vec<String>, i64), String> {
    let max = if fuzzy { fuzziness(term) } else { 0 };
    let candidates: Vec<String> = if max == 0 {
        vec![term.to_string()]
    } else {
        let rows = db.query(
            "SELECT DISTINCT term FROM variant WHERE variant IN (SELECT value FROM json_each(?1))",
            &[json_list(&deletions(term, max))],
        )?;
        rows.iter()
            .map(|r| r[0].as_str().to_string())
            .filter(|t| distance(term, t, max).is_some())
            .collect()
    };
    let rows = db.query(
        "SELECT term, n FROM vocab WHERE field = ?1 AND term IN (SELECT value FROM json_each(?2))",
        &[SqlValue::Integer(field as i64), json_list(&candidates)],
    )?;
    let total = rows.iter().filter_map(|r| r[1].as_i64()).sum();
    Ok((
        rows.iter().map(|r| r[0].as_str().to_string()).collect(),
        total,
    ))
}

/// A part of a term-index expression and how many records it may match at most; `None`
/// when it can match nothing.
type Part = Option<(String, i64)>;

/// Any of the terms of one field.
fn any_of(field: Field, terms: &[String], n: i64) -> Part {
    if terms.is_empty() {
        return None;
    }
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"", field.indexed(t)))
        .collect();
    Some((format!("({})", quoted.join(" OR ")), n))
}

fn and(a: Part, b: Part) -> Part {
    let (a, b) = (a?, b?);
    Some((format!("({} AND {})", a.0, b.0), a.1.min(b.1)))
}

fn or(a: Part, b: Part) -> Part {
    match (a, b) {
        (Some(a), Some(b)) => Some((format!("({} OR {})", a.0, b.0), a.1.saturating_add(b.1))),
        (a, b) => a.or(b),
    }
}

/// Several words' terms in one field, any of them (`match` ORs its words).
fn words_in(
    db: &mut impl Sql,
    field: Field,
    words: &[String],
    fuzzy: bool,
) -> Result<Part, String> {
    let mut terms = Vec::new();
    let mut n = 0i64;
    for w in words {
        let (found, count) = expand(db, field, w, fuzzy)?;
        terms.extend(found);
        n = n.saturating_add(count);
    }
    terms.sort();
    terms.dedup();
    Ok(any_of(field, &terms, n))
}

/// The term-index expression of a condition: `None` when the condition is not indexed,
/// `Some(None)` when it can match nothing.
fn indexed(db: &mut impl Sql, c: &Cond, fuzzy: bool) -> Result<Option<Part>, String> {
    let (nm, pr) = (Field::LastName, Field::GivenNames);
    Ok(Some(match c {
        Cond::Names { first, lasts } => {
            let last: Vec<String> = lasts.concat();
            let direct = match (first.is_empty(), last.is_empty()) {
                (false, false) => and(
                    words_in(db, nm, &last, fuzzy)?,
                    words_in(db, pr, first, fuzzy)?,
                ),
                (true, false) => words_in(db, nm, &last, fuzzy)?,
                (false, true) => words_in(db, pr, first, fuzzy)?,
                (true, true) => None,
            };
            if fuzzy && !first.is_empty() && !last.is_empty() {
                let swapped = and(
                    words_in(db, nm, first, fuzzy)?,
                    words_in(db, pr, &last, fuzzy)?,
                );
                or(direct, swapped)
            } else {
                direct
            }
        }
        Cond::FullText(words) => {
            let mut all: Part = Some((String::new(), i64::MAX));
            for w in words {
                let one = std::slice::from_ref(w);
                let either = or(words_in(db, nm, one, true)?, words_in(db, pr, one, true)?);
                all = match all {
                    Some((e, _)) if e.is_empty() => either,
                    all => and(all, either),
                };
            }
            all
        }
        Cond::Place { field, value } => {
            let words = tokens(value);
            if fuzzy {
                words_in(db, *field, &words, true)?
            } else {
                let mut all: Part = None;
                for (i, w) in words.iter().enumerate() {
                    let one = words_in(db, *field, std::slice::from_ref(w), false)?;
                    all = if i == 0 { one } else { and(all, one) };
                    if all.is_none() {
                        break;
                    }
                }
                all
            }
        }
        // Codes have no counts: a code is chosen over the whole table, not over a name.
        Cond::Code { field, value } => any_of(*field, std::slice::from_ref(value), i64::MAX / 4),
        _ => return Ok(None),
    }))
}

/// Where the candidates come from: the term index for the conditions it holds, or a date
/// index when that is smaller; `Ok(None)` means the whole table, and `Err(None)` that no
/// record can match.
fn best_source(
    db: &mut impl Sql,
    conds: &[Cond],
    fuzzy: bool,
) -> Result<Result<Option<Source>, ()>, String> {
    let mut terms: Option<Part> = None;
    for c in conds {
        if let Some(part) = indexed(db, c, fuzzy)? {
            terms = Some(match terms {
                None => part,
                Some(prev) => and(prev, part),
            });
        }
    }
    if let Some(None) = terms {
        return Ok(Err(()));
    }
    let mut best: Option<(i64, Source)> = terms.flatten().map(|(e, n)| (n, Source::Match(e)));
    for c in conds {
        let Cond::Date { birth, query } = c else {
            continue;
        };
        let (lo, hi) = match query {
            DateQuery::Prefix(p) => (p.clone(), format!("{p}\u{7f}")),
            DateQuery::Exact(e) if !fuzzy => (e.clone(), e.clone()),
            DateQuery::Range { gte, lte } => (
                gte.clone().unwrap_or_default(),
                lte.clone().unwrap_or_else(|| "\u{7f}".into()),
            ),
            DateQuery::Exact(_) => continue,
        };
        let column = if *birth { "birth" } else { "death" };
        let cap = best.as_ref().map_or(i64::MAX, |(n, _)| *n);
        let rows = db.query(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM person
                   WHERE {column} >= ?1 AND {column} <= ?2 LIMIT ?3)"
            ),
            &[
                lo.as_str().into(),
                hi.as_str().into(),
                cap.saturating_add(1).into(),
            ],
        )?;
        let n = rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0);
        if n < cap {
            best = Some((n, Source::Dates(*birth, lo, hi)));
        }
    }
    Ok(Ok(best.map(|(_, s)| s)))
}

/// The candidates' rows.
fn candidates(
    db: &mut impl Sql,
    source: Option<Source>,
    with_doc: bool,
) -> Result<Vec<Row>, String> {
    let columns = row_columns(with_doc);
    let rows = match source {
        Some(Source::Match(expression)) => db.query(
            &format!(
                "SELECT {columns} FROM person
                 WHERE id IN (SELECT rowid FROM terms WHERE terms MATCH ?1)"
            ),
            &[expression.into()],
        )?,
        Some(Source::Dates(birth, lo, hi)) => {
            let column = if birth { "birth" } else { "death" };
            db.query(
                &format!("SELECT {columns} FROM person WHERE {column} >= ?1 AND {column} <= ?2"),
                &[lo.into(), hi.into()],
            )?
        }
        None => db.query(&format!("SELECT {columns} FROM person"), &[])?,
    };
    Ok(rows.iter().filter_map(|r| Row::read(r)).collect())
}

/// A sort key's value for a row (`None` sorts last).
#[derive(PartialEq, PartialOrd)]
enum Key {
    Num(f64),
    Text(String),
}

fn sort_key(row: &Row, key: &str) -> Option<Key> {
    let text = |s: &str| (!s.is_empty()).then(|| Key::Text(s.to_string()));
    match key {
        "lastName" => text(&row.nom),
        "firstName" => text(row.prenoms.split(' ').next().unwrap_or("")),
        "sex" => text(&row.sex),
        "birthDate" => text(&row.birth),
        "deathDate" => text(&row.death),
        "deathAge" => row.age.map(|a| Key::Num(a as f64)),
        _ => doc_sort_field(key)
            .and_then(|f| row.values(f).into_iter().next())
            .and_then(|s| text(&s)),
    }
}

/// Sort keys read from the stored document.
fn doc_sort_field(key: &str) -> Option<Field> {
    Some(match key {
        "birthCity" => Field::BirthCity,
        "deathCity" => Field::DeathCity,
        "birthCountry" => Field::BirthCountry,
        "deathCountry" => Field::DeathCountry,
        "birthLocationCode" => Field::BirthCode,
        "deathLocationCode" => Field::DeathCode,
        "birthPostalCode" => Field::BirthPostalCode,
        "deathPostalCode" => Field::DeathPostalCode,
        "birthDepartment" => Field::BirthDepartment,
        "deathDepartment" => Field::DeathDepartment,
        _ => return None,
    })
}

/// Whether the rows need their stored document (place or code conditions, such sorts).
fn needs_doc(conds: &[Cond], sort: &[(String, String)]) -> bool {
    conds
        .iter()
        .any(|c| matches!(c, Cond::Place { .. } | Cond::Code { .. }))
        || sort.iter().any(|(k, _)| doc_sort_field(k).is_some())
}

fn compare(a: &(f64, Row), b: &(f64, Row), sort: &[(String, String)]) -> Ordering {
    for (key, order) in sort {
        let o = if key == "score" {
            a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal)
        } else {
            match (sort_key(&a.1, key), sort_key(&b.1, key)) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                // Missing values last, whatever the order.
                (Some(_), None) => return Ordering::Less,
                (None, Some(_)) => return Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        };
        let o = if order == "desc" { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.1.id.cmp(&b.1.id)
}

/// A scroll's state, carried by its id: the request and where the next page starts.
#[derive(serde::Serialize, serde::Deserialize)]
struct ScrollState {
    values: Vec<(String, Value)>,
    sort_given: Value,
    sort: Vec<(String, String)>,
    fuzzy: bool,
    size: i64,
    scroll: String,
    next: i64,
}

fn scroll_id(req: &SearchRequest, next: i64) -> String {
    let state = ScrollState {
        values: req
            .values
            .iter()
            .map(|(p, v)| (p.name().to_string(), v.clone()))
            .collect(),
        sort_given: req.sort_given.clone(),
        sort: req.sort.clone(),
        fuzzy: req.fuzzy,
        size: req.size,
        scroll: req.scroll.clone().unwrap_or_default(),
        next,
    };
    let json = serde_json::to_vec(&state).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn from_scroll_id(id: &str) -> Option<(SearchRequest, i64)> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.trim())
        .ok()?;
    let s: ScrollState = serde_json::from_slice(&json).ok()?;
    let mut req = SearchRequest::by_id();
    req.values = s
        .values
        .into_iter()
        .map(|(k, v)| Some((Param::from_name(&k)?, v)))
        .collect::<Option<_>>()?;
    req.sort_given = s.sort_given;
    req.sort = s.sort;
    req.fuzzy = s.fuzzy;
    req.size = s.size;
    req.scroll = Some(s.scroll);
    (s.next >= 0).then_some((req, s.next))
}

/// The answer to a search, as Elasticsearch's JSON (`took` in milliseconds, given).
pub fn search(db: &mut impl Sql, req: &SearchRequest, took: u64) -> Result<String, FindError> {
    let fresh_scroll = req.scroll.is_some() && req.scroll_id.is_none();
    run(db, req, took, fresh_scroll).map_err(|e| match e {
        FindError::Database(_) if is_empty(db) => FindError::Empty,
        e => e,
    })
}

fn run(
    db: &mut impl Sql,
    req: &SearchRequest,
    took: u64,
    fresh_scroll: bool,
) -> Result<String, FindError> {
    let (req, from) = match (&req.scroll, &req.scroll_id) {
        (Some(_), Some(id)) => from_scroll_id(id).ok_or(FindError::Rejected)?,
        _ => (req.clone(), (req.page - 1).saturating_mul(req.size)),
    };
    let scrolling = req.scroll.is_some();
    let size = req.size;
    let refused = size < 0
        || from < 0
        || (!scrolling && from.saturating_add(size) > MAX_WINDOW)
        || (fresh_scroll && (from > 0 || size == 0));
    if refused {
        return Err(FindError::Rejected);
    }
    let conds = conditions(&req);
    let (total, page, max) = match by_tiers(db, &req, &conds, from, size)? {
        Some(found) => found,
        None => ranked_page(db, &req, &conds, from, size)?,
    };
    if total == 0 && is_empty(db) {
        return Err(FindError::Empty);
    }
    let by_score = req.sort.iter().any(|(k, _)| k == "score");
    let ids: Vec<i64> = page.iter().map(|(_, id)| *id).collect();
    let docs = documents(db, &ids)?;
    let score = |s: f64| if by_score { json!(s) } else { Value::Null };
    let hits: Vec<Value> = page
        .iter()
        .filter_map(|(s, id)| {
            let (uid, source) = docs.get(id)?;
            Some(hit(uid, score(*s), source.clone()))
        })
        .collect();
    let mut answer = json!({
        "took": took,
        "hits": {
            "total": { "value": total, "relation": "eq" },
            "max_score": if by_score && size > 0 { max.map(Value::from).unwrap_or(Value::Null) } else { Value::Null },
            "hits": hits,
        },
    });
    if scrolling {
        answer["_scroll_id"] = Value::from(scroll_id(&req, from.saturating_add(size)));
    }
    Ok(answer.to_string())
}

/// A page of persons: every candidate ranked and sorted; (total, page of (rank, id), top rank).
type Found = (usize, Vec<(f64, i64)>, Option<f64>);

fn ranked_page(
    db: &mut impl Sql,
    req: &SearchRequest,
    conds: &[Cond],
    from: i64,
    size: i64,
) -> Result<Found, String> {
    let mut ranked: Vec<(f64, Row)> = if conds.is_empty() {
        Vec::new()
    } else {
        match best_source(db, conds, req.fuzzy)? {
            Ok(source) => candidates(db, source, needs_doc(conds, &req.sort))?
                .into_iter()
                .filter_map(|row| Some((row.rank(conds, req.fuzzy, Fuzz::of(req.fuzzy))?, row)))
                .collect(),
            Err(()) => Vec::new(),
        }
    };
    if req.fuzzy {
        born_that_day(db, conds, &req.sort, &mut ranked)?;
    }
    ranked.sort_by(|a, b| compare(a, b, &req.sort));
    let max = ranked
        .iter()
        .map(|(s, _)| *s)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let page = ranked
        .iter()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .take(usize::try_from(size).unwrap_or(0))
        .map(|(s, r)| (*s, r.id))
        .collect();
    Ok((ranked.len(), page, max))
}

/// The persons a search finds, every one, in no order (what /agg counts): `None` when the
/// search has no condition (the whole table).
pub fn matching(db: &mut impl Sql, req: &SearchRequest) -> Result<Option<Vec<i64>>, String> {
    let conds = conditions(req);
    if conds.is_empty() {
        return Ok(None);
    }
    let mut found: Vec<(f64, Row)> = match best_source(db, &conds, req.fuzzy)? {
        Ok(source) => candidates(db, source, needs_doc(&conds, &[]))?
            .into_iter()
            .filter_map(|row| Some((row.rank(&conds, req.fuzzy, Fuzz::of(req.fuzzy))?, row)))
            .collect(),
        Err(()) => Vec::new(),
    };
    if req.fuzzy {
        born_that_day(db, &conds, &[], &mut found)?;
    }
    Ok(Some(found.into_iter().map(|(_, row)| row.id).collect()))
}

/// A search for one last-name word and nothing else, by rank: its persons fall in tiers of
/// equal rank (the exact term, then the terms one edit away, then two), each in import
/// order, so the page is read tier by tier from the term index without reading the other
/// records, and the total is the index's count. The same answer as [`ranked_page`], for the
/// search that can match most records.
fn by_tiers(
    db: &mut impl Sql,
    req: &SearchRequest,
    conds: &[Cond],
    from: i64,
    size: i64,
) -> Result<Option<Found>, String> {
    let [Cond::Names { first, lasts }] = conds else {
        return Ok(None);
    };
    let by_rank = matches!(req.sort.as_slice(), [(k, o)] if k == "score" && o == "desc");
    let words = lasts.concat();
    let (true, true, [word]) = (by_rank, first.is_empty(), words.as_slice()) else {
        return Ok(None);
    };
    let field = Field::LastName;
    let (terms, _) = expand(db, field, word, req.fuzzy)?;
    let mut tiers: Vec<Vec<String>> = vec![Vec::new(); 3];
    for t in terms {
        if let Some(d) = distance(word, &t, fuzziness(word)) {
            tiers[d].push(t);
        }
    }
    let all: Vec<String> = tiers.concat();
    let Some((everything, _)) = any_of(field, &all, 0) else {
        return Ok(Some((0, Vec::new(), None)));
    };
    let total = db.query(
        "SELECT count(*) FROM terms WHERE terms MATCH ?1",
        &[everything.into()],
    )?;
    let total = total.first().and_then(|r| r[0].as_i64()).unwrap_or(0) as usize;
    let (mut skip, mut want) = (from.max(0), size.max(0));
    let mut page = Vec::new();
    let mut max = None;
    let mut before: Option<String> = None;
    for (d, tier) in tiers.iter().enumerate() {
        let Some((expression, _)) = any_of(field, tier, 0) else {
            continue;
        };
        let rank = 2.0 * similarity(d);
        let only_this = match &before {
            Some(b) => format!("{expression} NOT {b}"),
            None => expression.clone(),
        };
        let ids = db.query(
            "SELECT rowid FROM terms WHERE terms MATCH ?1 ORDER BY rowid LIMIT ?2 OFFSET ?3",
            &[only_this.clone().into(), want.into(), skip.into()],
        )?;
        if max.is_none() {
            max = Some(rank);
        }
        if ids.is_empty() && skip > 0 {
            let n = db.query(
                "SELECT count(*) FROM terms WHERE terms MATCH ?1",
                &[only_this.into()],
            )?;
            skip -= n.first().and_then(|r| r[0].as_i64()).unwrap_or(0).min(skip);
        } else {
            skip = 0;
        }
        want -= ids.len() as i64;
        page.extend(ids.iter().filter_map(|r| Some((rank, r[0].as_i64()?))));
        before = Some(match before {
            Some(b) => format!("({b} OR {expression})"),
            None => expression,
        });
        if want == 0 {
            break;
        }
    }
    Ok(Some((total, page, max.filter(|_| total > 0))))
}

/// With names and a full birth date: the persons born that day whose names are within
/// [`Fuzz::Wide`] of the request's, added to what `auto` found (a typo in a short name,
/// two in a name of five letters, would otherwise lose the person the date identifies).
fn born_that_day(
    db: &mut impl Sql,
    conds: &[Cond],
    sort: &[(String, String)],
    ranked: &mut Vec<(f64, Row)>,
) -> Result<(), String> {
    let day = conds.iter().find_map(|c| match c {
        Cond::Date {
            birth: true,
            query: DateQuery::Exact(d),
        } => Some(d.clone()),
        _ => None,
    });
    let has_names = conds.iter().any(|c| matches!(c, Cond::Names { .. }));
    let (Some(day), true) = (day, has_names) else {
        return Ok(());
    };
    let seen: HashSet<i64> = ranked.iter().map(|(_, r)| r.id).collect();
    let rows = db.query(
        &format!(
            "SELECT {} FROM person WHERE birth = ?1",
            row_columns(needs_doc(conds, sort))
        ),
        &[day.into()],
    )?;
    for row in rows.iter().filter_map(|r| Row::read(r)) {
        if seen.contains(&row.id) {
            continue;
        }
        if let Some(rank) = row.rank(conds, true, Fuzz::Wide) {
            ranked.push((rank, row));
        }
    }
    Ok(())
}

fn hit(uid: &str, score: Value, source: Value) -> Value {
    json!({ "_index": "deces", "_id": uid, "_score": score, "_source": source })
}

/// The documents of some persons, by id: (uid, `_source`).
fn documents(db: &mut impl Sql, ids: &[i64]) -> Result<HashMap<i64, (String, Value)>, String> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = db.query(
        &format!(
            "SELECT id, {} FROM person WHERE id IN (SELECT value FROM json_each(?1))",
            load::DOC_COLUMNS
        ),
        &[json_list(ids)],
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let id = r.first()?.as_i64()?;
            Some((id, (r.get(2)?.as_str().to_string(), load::source(&r[1..]))))
        })
        .collect())
}

/// `/id/{id}`: the record with that UID, as a one-hit answer.
pub fn by_id(db: &mut impl Sql, uid: &str, took: u64) -> Result<String, FindError> {
    let rows = db
        .query(
            &format!("SELECT {} FROM person WHERE uid = ?1", load::DOC_COLUMNS),
            &[uid.into()],
        )
        .unwrap_or_default();
    if rows.is_empty() && is_empty(db) {
        return Err(FindError::Empty);
    }
    let hits: Vec<Value> = rows
        .iter()
        .map(|r| hit(r[1].as_str(), json!(1.0), load::source(r)))
        .collect();
    Ok(json!({
        "took": took,
        "hits": {
            "total": { "value": hits.len(), "relation": "eq" },
            "max_score": if hits.is_empty() { Value::Null } else { json!(1.0) },
            "hits": hits,
        },
    })
    .to_string())
}

/// Whether the database holds no record (or no tables at all).
pub fn is_empty(db: &mut impl Sql) -> bool {
    db.query("SELECT 1 FROM person LIMIT 1", &[])
        .map(|rows| rows.is_empty())
        .unwrap_or(true)
}

/// `/version`'s facts: the record count, the newest record, the day of the last import.
pub fn facts(db: &mut impl Sql) -> Result<IndexFacts, FindError> {
    if is_empty(db) {
        return Err(FindError::Empty);
    }
    let count = db.query("SELECT count(*) FROM person", &[])?;
    let count = count.first().and_then(|r| r[0].as_i64()).unwrap_or(0);
    // `meta.newest` is `SOURCE<tab>DATE_DECES<tab>UID` of the newest record loaded.
    let key = db.query("SELECT value FROM meta WHERE key = 'newest'", &[])?;
    let uid = key
        .first()
        .and_then(|r| r[0].as_str().rsplit('\t').next().map(str::to_string))
        .unwrap_or_default();
    let newest = db.query(
        &format!("SELECT {} FROM person WHERE uid = ?1", load::DOC_COLUMNS),
        &[uid.into()],
    )?;
    let doc = newest
        .first()
        .map(|r| load::source(r))
        .unwrap_or(Value::Null);
    let day = db
        .query("SELECT value FROM meta WHERE key = 'update_date'", &[])?
        .first()
        .map(|r| r[0].as_str().to_string())
        .unwrap_or_default();
    let newest = json!({ "hits": { "hits": [ { "_source": doc } ] } });
    let indices = json!([{ "creation.date.string": day }]);
    crate::version::facts(&json!({ "count": count }), &newest, &indices)
        .ok_or_else(|| FindError::Database("no newest record".into()))
}

/// The ids of the first records whose rank passes, for tests: the set a scan would find.
#[doc(hidden)]
pub fn scan_ids(db: &mut impl Sql, req: &SearchRequest) -> Result<HashSet<i64>, String> {
    let conds = conditions(req);
    Ok(candidates(db, None, true)?
        .into_iter()
        .filter(|r| r.rank(&conds, req.fuzzy, Fuzz::of(req.fuzzy)).is_some())
        .map(|r| r.id)
        .collect())
}

#[cfg(all(test, feature = "rusqlite"))]
mod tests {
    use super::*;
    use crate::embedded::load;
    use serde_json::Map;

    fn fixtures() -> rusqlite::Connection {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/goldens/fixtures/records.json"
        );
        let docs: Vec<Map<String, Value>> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        load::create_schema(&mut db).unwrap();
        let mut loader = load::Loader::new();
        for d in &docs {
            loader.add(&mut db, d).unwrap();
        }
        loader.flush(&mut db).unwrap();
        load::vocabulary(&mut db).unwrap();
        db
    }

    #[test]
    fn tiers_give_the_ranked_answer() {
        let mut db = fixtures();
        for q in [
            "lastName=Dupont",
            "lastName=Dupond",
            "lastName=Lefevre",
            "lastName=Leclerc",
            "lastName=Martin&fuzzy=false",
            "legalName=Muller",
            "lastName=Xyzzy",
        ] {
            for (size, page) in [(20, 1), (2, 1), (2, 2), (3, 3), (1, 5), (0, 1)] {
                let req =
                    crate::search::parse_get(&format!("{q}&size={size}&page={page}")).unwrap();
                let conds = conditions(&req);
                let from = (page - 1) * size;
                let tiers = by_tiers(&mut db, &req, &conds, from, size)
                    .unwrap()
                    .expect("a tiered search");
                let ranked = ranked_page(&mut db, &req, &conds, from, size).unwrap();
                assert_eq!(tiers.0, ranked.0, "{q} {size} {page}: total");
                assert_eq!(tiers.1, ranked.1, "{q} {size} {page}: page");
                assert_eq!(tiers.2, ranked.2, "{q} {size} {page}: top rank");
            }
        }
    }
}
