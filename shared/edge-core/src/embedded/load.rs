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

/// The columns a stored document is read back with, in this order (see [`source`]).
pub const DOC_COLUMNS: &str = "doc, uid, sex, birth, death, source, age";

/// Where a field's value can be rebuilt from, so it is stored as `0` when equal to it: one
/// of [`DOC_COLUMNS`] (by position), or another field.
enum Origin {
    Column(usize),
    Field(&'static str),
}

fn origin(field: &str) -> Option<Origin> {
    Some(match field {
        "UID" => Origin::Column(1),
        "SEXE" => Origin::Column(2),
        "DATE_NAISSANCE" => Origin::Column(3),
        "DATE_DECES" => Origin::Column(4),
        "SOURCE" => Origin::Column(5),
        "AGE_DECES" => Origin::Column(6),
        "DATE_NAISSANCE_NORM" => Origin::Field("DATE_NAISSANCE"),
        "DATE_DECES_NORM" => Origin::Field("DATE_DECES"),
        "CODE_INSEE_NAISSANCE_HISTORIQUE" => Origin::Field("CODE_INSEE_NAISSANCE"),
        "CODE_INSEE_DECES_HISTORIQUE" => Origin::Field("CODE_INSEE_DECES"),
        _ => return None,
    })
}

/// A column's value as the document holds it.
fn column_value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Text(s) if !s.is_empty() => Value::from(s.as_str()),
        SqlValue::Integer(i) => Value::from(*i),
        _ => Value::Null,
    }
}

/// The stored document: the values of the fields searches read, in [`SOURCE_FIELDS`]
/// order (its repeated field once), as a JSON array without the keys, `null` for a field
/// the record lacks, `0` for one equal to what it is rebuilt from (a column of the row,
/// or another field: a repaired date equal to the raw one, a code history that is the
/// code), trailing `null`s left out. `columns` are the row's [`DOC_COLUMNS`] after `doc`.
fn stored(doc: &Map<String, Value>, columns: &[SqlValue]) -> String {
    let mut values: Vec<Value> = doc_fields()
        .map(|f| {
            let v = doc.get(f).cloned().unwrap_or(Value::Null);
            let rebuilt = match origin(f) {
                Some(Origin::Column(i)) => columns.get(i - 1).map(column_value),
                Some(Origin::Field(other)) => doc.get(other).cloned(),
                None => None,
            };
            if !v.is_null() && rebuilt.as_ref() == Some(&v) {
                Value::from(0)
            } else {
                v
            }
        })
        .collect();
    while values.last() == Some(&Value::Null) {
        values.pop();
    }
    Value::Array(values).to_string()
}

/// The `_source` of a stored document, from its row's [`DOC_COLUMNS`].
pub fn source(row: &[SqlValue]) -> Value {
    let text = row.first().map(SqlValue::as_str).unwrap_or("[]");
    let values: Vec<Value> = serde_json::from_str(text).unwrap_or_default();
    let mut object: Map<String, Value> = doc_fields()
        .zip(values)
        .filter(|(_, v)| !v.is_null())
        .map(|(f, v)| (f.to_string(), v))
        .collect();
    // Columns first: the fields rebuilt from other fields may read them.
    for pass in 0..2 {
        for f in doc_fields() {
            if object.get(f) != Some(&Value::from(0)) {
                continue;
            }
            let rebuilt = match (pass, origin(f)) {
                (0, Some(Origin::Column(i))) => row.get(i).map(column_value),
                (1, Some(Origin::Field(other))) => object.get(other).cloned(),
                _ => continue,
            };
            match rebuilt {
                Some(v) if !v.is_null() => object.insert(f.to_string(), v),
                _ => object.remove(f),
            };
        }
    }
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
        // The columns a stored document is rebuilt with (DOC_COLUMNS after `doc`).
        let columns = [
            SqlValue::from(uid.clone()),
            SqlValue::from(text(doc, "SEXE")),
            SqlValue::from(text(doc, "DATE_NAISSANCE")),
            SqlValue::from(text(doc, "DATE_DECES")),
            SqlValue::from(text(doc, "SOURCE")),
            age.map(|a| SqlValue::Integer(a as i64))
                .unwrap_or(SqlValue::Null),
        ];
        let params = vec![
            SqlValue::from(uid),
            SqlValue::from(stored(doc, &columns)),
            SqlValue::from(nom),
            SqlValue::from(prenoms),
            columns[1].clone(),
            columns[2].clone(),
            columns[3].clone(),
            columns[5].clone(),
            columns[4].clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored document reads back as the document (the fields searches read).
    #[test]
    fn stored_documents_read_back_whole() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/goldens/fixtures/records.json"
        );
        let mut docs: Vec<Map<String, Value>> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut odd = docs[0].clone();
        odd.insert("AGE_DECES".into(), Value::from(84.0));
        odd.insert("DATE_DECES_NORM".into(), Value::from("20200116"));
        odd.insert("SOURCE".into(), Value::from(7));
        odd.remove("SEXE");
        docs.push(odd);
        for doc in docs {
            let row = Row::of(&doc).unwrap();
            // person params: uid, doc, nom, prenoms, sex, birth, death, age, source, ...
            let p = &row.params;
            let read = [&p[1], &p[0], &p[4], &p[5], &p[6], &p[8], &p[7]].map(Clone::clone);
            let expected: Map<String, Value> = doc_fields()
                .filter_map(|f| Some((f.to_string(), doc.get(f)?.clone())))
                .collect();
            assert_eq!(source(&read), Value::Object(expected), "{}", p[1].as_str());
        }
    }
}
