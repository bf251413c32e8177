//! Loading index documents: one `person` row, its terms, and the vocabulary and deletion
//! variants of the terms it brings. Idempotent per UID: a record already there is skipped.

use super::schema::{Field, CREATE};
use super::text::{deletions, fuzziness, normalised, tokens};
use super::{Sql, SqlValue};
use crate::search::fields::SOURCE_FIELDS;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// Creates the tables when they are missing.
pub fn create_schema(db: &mut impl Sql) -> Result<(), String> {
    for statement in CREATE {
        db.run(statement, &[])?;
    }
    Ok(())
}

/// A document field's values as text: a string, a number, or each string of a list.
fn values(doc: &Map<String, Value>, field: &str) -> Vec<String> {
    match doc.get(field) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn text(doc: &Map<String, Value>, field: &str) -> String {
    values(doc, field).into_iter().next().unwrap_or_default()
}

/// `POINT(lon lat)` as (lat, lon).
pub fn point(wkt: &str) -> Option<(f64, f64)> {
    let inner = wkt.trim().strip_prefix("POINT(")?.strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let lon: f64 = parts.next()?.parse().ok()?;
    let lat: f64 = parts.next()?.parse().ok()?;
    (lat.is_finite() && lon.is_finite()).then_some((lat, lon))
}

/// The codes of a record, normalised as the index's keywords.
fn codes(doc: &Map<String, Value>) -> Vec<(Field, String)> {
    let mut terms = Vec::new();
    for f in Field::CODES {
        for v in values(doc, f.doc_field()) {
            let v = normalised(&v);
            if !v.is_empty() {
                terms.push((f, v));
            }
        }
    }
    terms
}

/// The stored document: the values of the fields searches read, in [`SOURCE_FIELDS`]
/// order (its repeated field once), as a JSON array without the keys, `null` for a field
/// the record lacks, trailing ones left out.
pub fn stored(doc: &Map<String, Value>) -> String {
    let mut values: Vec<Value> = doc_fields()
        .map(|f| doc.get(f).cloned().unwrap_or(Value::Null))
        .collect();
    while values.last() == Some(&Value::Null) {
        values.pop();
    }
    Value::Array(values).to_string()
}

/// The `_source` of a stored document.
pub fn source(stored: &str) -> Value {
    let values: Vec<Value> = serde_json::from_str(stored).unwrap_or_default();
    let object: Map<String, Value> = doc_fields()
        .zip(values)
        .filter(|(_, v)| !v.is_null())
        .map(|(f, v)| (f.to_string(), v))
        .collect();
    Value::Object(object)
}

fn doc_fields() -> impl Iterator<Item = &'static str> {
    SOURCE_FIELDS
        .iter()
        .enumerate()
        .filter(|(i, f)| !SOURCE_FIELDS[..*i].contains(f))
        .map(|(_, f)| *f)
}

/// A document as the database stores it: the `person` row's values, the term index's
/// text, the terms the vocabulary counts. Made apart from the database (an importer makes
/// them on other threads).
pub struct Row {
    params: Vec<SqlValue>,
    indexed: String,
    terms: Vec<(Field, String)>,
    newest: (String, String, String),
}

impl Row {
    pub fn of(doc: &Map<String, Value>) -> Result<Row, String> {
        let uid = text(doc, "UID");
        if uid.is_empty() {
            return Err("a document without UID".into());
        }
        let nom = tokens(&text(doc, "NOM")).join(" ");
        let prenoms = tokens(&text(doc, "PRENOMS")).join(" ");
        let birth = point(&text(doc, "GEOPOINT_NAISSANCE"));
        let death = point(&text(doc, "GEOPOINT_DECES"));
        let age = doc.get("AGE_DECES").and_then(Value::as_f64);
        let mut terms: Vec<(Field, String)> = Vec::new();
        terms.extend(nom.split(' ').map(|t| (Field::LastName, t.to_string())));
        terms.extend(
            prenoms
                .split(' ')
                .map(|t| (Field::GivenNames, t.to_string())),
        );
        for f in Field::PLACES {
            for v in values(doc, f.doc_field()) {
                terms.extend(tokens(&v).into_iter().map(|t| (f, t)));
            }
        }
        terms.retain(|(_, t)| !t.is_empty());
        terms.sort();
        terms.dedup();
        let indexed: Vec<String> = terms
            .iter()
            .chain(codes(doc).iter())
            .map(|(f, t)| f.indexed(t))
            .collect();
        let newest = (text(doc, "SOURCE"), text(doc, "DATE_DECES"), uid.clone());
        let params = vec![
            SqlValue::from(uid),
            SqlValue::from(stored(doc)),
            SqlValue::from(nom),
            SqlValue::from(prenoms),
            SqlValue::from(text(doc, "SEXE")),
            SqlValue::from(text(doc, "DATE_NAISSANCE")),
            SqlValue::from(text(doc, "DATE_DECES")),
            age.map(|a| SqlValue::Integer(a as i64))
                .unwrap_or(SqlValue::Null),
            SqlValue::from(text(doc, "SOURCE")),
            SqlValue::from(birth.map(|p| p.0)),
            SqlValue::from(birth.map(|p| p.1)),
            SqlValue::from(death.map(|p| p.0)),
            SqlValue::from(death.map(|p| p.1)),
        ];
        Ok(Row {
            params,
            indexed: indexed.join(" "),
            terms,
            newest,
        })
    }
}

/// Loads documents, keeping the vocabulary counts of the current batch until
/// [`Loader::flush`] writes them (call it before committing the batch's transaction).
#[derive(Default)]
pub struct Loader {
    counts: BTreeMap<(Field, String), i64>,
    variants_written: HashSet<String>,
    /// The batch's newest record: (SOURCE, DATE_DECES, UID).
    newest: Option<(String, String, String)>,
}

impl Loader {
    pub fn new() -> Self {
        Loader::default()
    }

    /// Adds one index document; `Ok(false)` when its UID is already loaded.
    pub fn add(&mut self, db: &mut impl Sql, doc: &Map<String, Value>) -> Result<bool, String> {
        self.add_row(db, Row::of(doc)?)
    }

    /// Adds a document already turned into its row; `Ok(false)` when its UID is loaded.
    pub fn add_row(&mut self, db: &mut impl Sql, row: Row) -> Result<bool, String> {
        let rows = db.query(
            "INSERT INTO person (uid, doc, nom, prenoms, sex, birth, death, age, source,
                birth_lat, birth_lon, death_lat, death_lon)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (uid) DO NOTHING RETURNING id",
            &row.params,
        )?;
        let Some(id) = rows
            .first()
            .and_then(|r| r.first())
            .and_then(SqlValue::as_i64)
        else {
            return Ok(false);
        };
        db.run(
            "INSERT INTO terms (rowid, t) VALUES (?1, ?2)",
            &[id.into(), row.indexed.into()],
        )?;
        for (f, t) in row.terms {
            *self.counts.entry((f, t)).or_default() += 1;
        }
        let key = row.newest;
        if self.newest.as_ref().is_none_or(|n| key > *n) {
            self.newest = Some(key);
        }
        Ok(true)
    }

    /// Writes the batch's vocabulary counts, the deletion variants of new terms and the
    /// newest record.
    pub fn flush(&mut self, db: &mut impl Sql) -> Result<(), String> {
        if let Some((source, death, uid)) = self.newest.take() {
            let key = format!("{source}\t{death}\t{uid}");
            db.run(
                "INSERT INTO meta (key, value) VALUES ('newest', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                &[key.into()],
            )?;
        }
        for ((f, t), n) in std::mem::take(&mut self.counts) {
            db.run(
                "INSERT INTO vocab (field, term, n) VALUES (?1, ?2, ?3)
                 ON CONFLICT (field, term) DO UPDATE SET n = n + excluded.n",
                &[SqlValue::Integer(f as i64), t.as_str().into(), n.into()],
            )?;
            if self.variants_written.insert(t.clone()) {
                for v in deletions(&t, fuzziness(&t)) {
                    db.run(
                        "INSERT OR IGNORE INTO variant (variant, term) VALUES (?1, ?2)",
                        &[v.into(), t.as_str().into()],
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Records when the data was loaded (`/version`'s update date).
    pub fn stamp(db: &mut impl Sql, day: &str) -> Result<(), String> {
        db.run(
            "INSERT INTO meta (key, value) VALUES ('update_date', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[day.into()],
        )
    }
}
