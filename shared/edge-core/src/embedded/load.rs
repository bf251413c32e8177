//! Loading index documents: one `person` row and its terms; once documents are loaded,
//! the vocabulary derived from the term index and the deletion variants of new terms
//! ([`vocabulary`]), and the term index's segments merged ([`merge_terms`]). Idempotent
//! per UID: a record already there is skipped.

use super::schema::{Field, CREATE, UID_INDEX};
use super::text::{deletions, fuzziness, normalised};
use super::{Sql, SqlValue};
use crate::insee;
use crate::search::fields::SOURCE_FIELDS;
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// Creates the tables when they are missing.
pub fn create_schema(db: &mut impl Sql) -> Result<(), String> {
    // A table an earlier layout made would stay as it was: say so rather than fail later.
    let columns = db.query("SELECT name FROM pragma_table_info('person')", &[])?;
    let has = |name: &str| {
        columns
            .iter()
            .any(|c| c.first().map(SqlValue::as_str) == Some(name))
    };
    if !columns.is_empty() && !has("birth_place") {
        return Err(
            "this database was written by an earlier version of deces-edge: \
             import into a new file"
                .into(),
        );
    }
    // Earlier layouts had the UID's uniqueness in the table (an automatic index): it
    // does what `person_uid` does.
    let automatic = db.query(
        "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_autoindex_person_1'",
        &[],
    )?;
    for statement in CREATE {
        if *statement == UID_INDEX && !automatic.is_empty() {
            continue;
        }
        db.run(statement, &[])?;
    }
    Ok(())
}

/// An index document's fields by name: a JSON object (a document given whole, as an
/// NDJSON line is) or a record's [`insee::Document`].
pub trait Fields {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Fields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Fields for insee::Document {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// A document field's values as text: a string, a number, or each string of a list.
fn values<'a>(doc: &'a impl Fields, field: &str) -> impl Iterator<Item = Cow<'a, str>> {
    let (one, list): (Option<Cow<'a, str>>, &'a [Value]) = match doc.field(field) {
        Some(Value::String(s)) => (Some(Cow::Borrowed(s.as_str())), &[]),
        Some(Value::Number(n)) => (Some(Cow::Owned(n.to_string())), &[]),
        Some(Value::Array(items)) => (None, items.as_slice()),
        _ => (None, &[]),
    };
    one.into_iter()
        .chain(list.iter().filter_map(|v| v.as_str().map(Cow::Borrowed)))
}

/// A document field's first value as text ([`values`]), empty when it has none.
fn text<'a>(doc: &'a impl Fields, field: &str) -> Cow<'a, str> {
    values(doc, field).next().unwrap_or_default()
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
fn codes(doc: &impl Fields) -> Vec<(Field, String)> {
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

/// The columns a stored document is read back with, in this order (see [`source`]): the
/// document, the row's columns some of its fields are rebuilt from, its two places.
pub const DOC_COLUMNS: &str = "doc, uid, sex, birth, death, source, age, \
    (SELECT value FROM place WHERE place.id = person.birth_place), \
    (SELECT value FROM place WHERE place.id = person.death_place)";

/// The fields of a record's place of birth and of its place of death: many records share
/// them (a commune's code, code history, names, postal codes, department, country), so
/// each distinct place is stored once in the `place` table and the row points to it.
pub const PLACES: [&[&str]; 2] = [
    &[
        "CODE_INSEE_NAISSANCE",
        "CODE_INSEE_NAISSANCE_HISTORIQUE",
        "CODE_POSTAL_NAISSANCE",
        "COMMUNE_NAISSANCE",
        "DEPARTEMENT_NAISSANCE",
        "PAYS_NAISSANCE",
        "PAYS_NAISSANCE_CODEISO3",
        "GEOPOINT_NAISSANCE",
    ],
    &[
        "CODE_INSEE_DECES",
        "CODE_INSEE_DECES_HISTORIQUE",
        "CODE_POSTAL_DECES",
        "COMMUNE_DECES",
        "DEPARTEMENT_DECES",
        "PAYS_DECES",
        "PAYS_DECES_CODEISO3",
        "GEOPOINT_DECES",
    ],
];

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

/// Whether a column holds `v` (as [`column_value`] reads it back, without making it).
fn column_is(column: &SqlValue, v: &Value) -> bool {
    match (column, v) {
        (SqlValue::Text(s), Value::String(t)) => !s.is_empty() && s == t,
        (SqlValue::Integer(i), Value::Number(n)) => !n.is_f64() && n.as_i64() == Some(*i),
        _ => false,
    }
}

/// A column's value as the document holds it.
fn column_value(v: &SqlValue) -> Value {
    match v {
        SqlValue::Text(s) if !s.is_empty() => Value::from(s.as_str()),
        SqlValue::Integer(i) => Value::from(*i),
        _ => Value::Null,
    }
}

/// The stored document and its two places. The document is the values of the fields
/// searches read, in [`SOURCE_FIELDS`] order (its repeated field once) but for its places'
/// fields, as a JSON array without the keys, `null` for a field the record lacks, `0` for one
/// equal to what it is rebuilt from (a column of the row, or another field: a repaired
/// date equal to the raw one, a code history that is the code), trailing `null`s left out.
/// A place is the array of its [`PLACES`] fields' values, made the same way, `None` when
/// the record has none of them. `columns` are the row's [`DOC_COLUMNS`] after `doc`.
fn stored(doc: &impl Fields, columns: &[SqlValue]) -> (String, [Option<String>; 2]) {
    let (zero, null) = (Value::from(0), Value::Null);
    let values = |fields: &mut dyn Iterator<Item = &str>| -> Vec<&Value> {
        let mut values: Vec<&Value> = fields
            .map(|f| match doc.field(f) {
                Some(v) if !v.is_null() && rebuilds(doc, columns, f, v) => &zero,
                Some(v) => v,
                None => &null,
            })
            .collect();
        while values.last().is_some_and(|v| v.is_null()) {
            values.pop();
        }
        values
    };
    let json = |values: &[&Value]| serde_json::to_string(values).unwrap_or_default();
    let places = PLACES.map(|place| {
        let place = values(&mut place.iter().copied());
        (!place.is_empty()).then(|| json(&place))
    });
    (json(&values(&mut kept_fields())), places)
}

/// Whether a field's value `v` is what it is rebuilt from ([`origin`]).
fn rebuilds(doc: &impl Fields, columns: &[SqlValue], field: &str, v: &Value) -> bool {
    match origin(field) {
        Some(Origin::Column(i)) => columns.get(i - 1).is_some_and(|c| column_is(c, v)),
        Some(Origin::Field(other)) => doc.field(other) == Some(v),
        None => false,
    }
}

/// The `_source` of a stored document, from its row's [`DOC_COLUMNS`].
pub fn source(row: &[SqlValue]) -> Value {
    let array = |i: usize| -> Vec<Value> {
        let text = row.get(i).map(SqlValue::as_str).unwrap_or("");
        serde_json::from_str(text).unwrap_or_default()
    };
    let mut object: Map<String, Value> = kept_fields()
        .zip(array(0))
        .chain(
            PLACES
                .iter()
                .enumerate()
                .flat_map(|(i, place)| place.iter().copied().zip(array(7 + i))),
        )
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
    // The document's fields in their usual order.
    let mut ordered = Map::new();
    for f in doc_fields() {
        if let Some(v) = object.remove(f) {
            ordered.insert(f.to_string(), v);
        }
    }
    Value::Object(ordered)
}

/// The fields the stored document keeps itself (not its places').
/// Where a field is in a stored document (`None` for a place's field, or one not kept).
pub fn doc_slot(field: &str) -> Option<usize> {
    kept_fields().position(|f| f == field)
}

fn kept_fields() -> impl Iterator<Item = &'static str> {
    // (Listed once: a record's row and a hit's document read them.)
    static KEPT: OnceLock<Vec<&str>> = OnceLock::new();
    KEPT.get_or_init(|| {
        doc_fields()
            .filter(|f| !PLACES.iter().any(|p| p.contains(f)))
            .collect()
    })
    .iter()
    .copied()
}

/// The document's fields, each once, in [`SOURCE_FIELDS`] order.
fn doc_fields() -> impl Iterator<Item = &'static str> {
    static FIELDS: OnceLock<Vec<&str>> = OnceLock::new();
    FIELDS
        .get_or_init(|| {
            SOURCE_FIELDS
                .iter()
                .enumerate()
                .filter(|(i, f)| !SOURCE_FIELDS[..*i].contains(f))
                .map(|(_, f)| *f)
                .collect()
        })
        .iter()
        .copied()
}

/// A document as the database stores it: the `person` row's values and the term index's
/// text. Made apart from the database (an importer makes them on other threads).
#[derive(Debug, PartialEq)]
pub struct Row {
    params: Vec<SqlValue>,
    /// The birth and death places ([`PLACES`]), their ids appended to `params` when loaded.
    places: [Option<String>; 2],
    indexed: String,
}

impl Row {
    pub fn of(doc: &impl Fields) -> Result<Row, String> {
        let uid = text(doc, "UID").into_owned();
        if uid.is_empty() {
            return Err("a document without UID".into());
        }
        let nom = normalised(&text(doc, "NOM"));
        let prenoms = normalised(&text(doc, "PRENOMS"));
        let birth = point(&text(doc, "GEOPOINT_NAISSANCE"));
        let death = point(&text(doc, "GEOPOINT_DECES"));
        let age = doc.field("AGE_DECES").and_then(Value::as_f64);
        // The text fields' tokens (a normalised value is its tokens joined by spaces),
        // sorted and each once, then the codes.
        let place_texts: Vec<(Field, String)> = Field::PLACES
            .into_iter()
            .flat_map(|f| values(doc, f.doc_field()).map(move |v| (f, normalised(&v))))
            .collect();
        let mut terms: Vec<(Field, &str)> = Vec::with_capacity(16);
        terms.extend(nom.split(' ').map(|t| (Field::LastName, t)));
        terms.extend(prenoms.split(' ').map(|t| (Field::GivenNames, t)));
        for (f, text) in &place_texts {
            terms.extend(text.split(' ').map(|t| (*f, t)));
        }
        terms.retain(|(_, t)| !t.is_empty());
        terms.sort_unstable();
        terms.dedup();
        let codes = codes(doc);
        let mut indexed = String::with_capacity(160);
        for (f, t) in terms
            .into_iter()
            .chain(codes.iter().map(|(f, t)| (*f, t.as_str())))
        {
            if !indexed.is_empty() {
                indexed.push(' ');
            }
            f.push_indexed(t, &mut indexed);
        }
        // The columns a stored document is rebuilt with (DOC_COLUMNS after `doc`).
        let columns = [
            SqlValue::from(uid),
            SqlValue::from(text(doc, "SEXE").into_owned()),
            SqlValue::from(text(doc, "DATE_NAISSANCE").into_owned()),
            SqlValue::from(text(doc, "DATE_DECES").into_owned()),
            SqlValue::from(text(doc, "SOURCE").into_owned()),
            age.map(|a| SqlValue::Integer(a as i64))
                .unwrap_or(SqlValue::Null),
        ];
        let (stored, places) = stored(doc, &columns);
        let [uid, sex, birth_date, death_date, source, age] = columns;
        let params = vec![
            uid,
            SqlValue::from(stored),
            SqlValue::from(nom),
            SqlValue::from(prenoms),
            sex,
            birth_date,
            death_date,
            age,
            source,
            SqlValue::from(birth.map(|p| p.0)),
            SqlValue::from(birth.map(|p| p.1)),
            SqlValue::from(death.map(|p| p.0)),
            SqlValue::from(death.map(|p| p.1)),
        ];
        Ok(Row {
            params,
            places,
            indexed,
        })
    }
}

/// Rows as one JSON array of arrays (a statement reads them with `json_each`), `None`
/// when there are none.
fn json_rows<T: serde::Serialize>(rows: &[T]) -> Result<Option<String>, String> {
    if rows.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(rows)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The statement that adds a person (its params are a [`Row`]'s).
macro_rules! insert_person {
    () => {
        "INSERT INTO person (uid, doc, nom, prenoms, sex, birth, death, age, source,
            birth_lat, birth_lon, death_lat, death_lon, birth_place, death_place)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    };
}
const INSERT_PERSON: &str = insert_person!();

/// Loads documents, keeping the term index rows of the current batch until
/// [`Loader::flush`] writes them (call it before committing the batch's transaction).
/// The vocabulary and the deletion variants are derived from the term index once the
/// documents are loaded: [`vocabulary`].
#[derive(Default)]
pub struct Loader {
    /// While loading into a table that was empty, without its UID index: the hashes of
    /// the UIDs loaded (see [`Loader::into_empty`]).
    uids: Option<FxHashSet<u64>>,
    /// The batch's rows of the term index: (person id, text).
    terms: Vec<(i64, String)>,
    /// The ids of the places loaded or seen (their `place.value`).
    place_ids: FxHashMap<String, i64>,
    /// The batch's newest record: (SOURCE, DATE_DECES, UID).
    newest: Option<(String, String, String)>,
}

impl Loader {
    pub fn new() -> Self {
        Loader::default()
    }

    /// A loader for a `person` table that is empty and has no UID index (a first import
    /// drops it: one sorted build at the end costs less than a B-tree insert per record).
    /// UIDs are then told apart by their hashes in memory; at the first hash seen twice
    /// (the same UID, or two sharing a hash) the index is built from the rows loaded so
    /// far, all distinct, and loading goes on as [`Loader::new`]'s does.
    pub fn into_empty() -> Self {
        Loader {
            uids: Some(FxHashSet::default()),
            ..Loader::default()
        }
    }

    /// Adds one index document; `Ok(false)` when its UID is already loaded.
    pub fn add(&mut self, db: &mut impl Sql, doc: &impl Fields) -> Result<bool, String> {
        self.add_row(db, Row::of(doc)?)
    }

    /// Adds a document already turned into its row; `Ok(false)` when its UID is loaded.
    pub fn add_row(&mut self, db: &mut impl Sql, mut row: Row) -> Result<bool, String> {
        for place in std::mem::take(&mut row.places) {
            let id = self.place_id(db, place)?;
            row.params.push(id);
        }
        if let Some(uids) = &mut self.uids {
            let mut hasher = FxHasher::default();
            row.params[0].as_str().hash(&mut hasher);
            if !uids.insert(hasher.finish()) {
                self.uids = None;
                db.run(UID_INDEX, &[])?;
            }
        }
        // Without the UID index, the UIDs are known to be new (above).
        let sql = if self.uids.is_some() {
            INSERT_PERSON
        } else {
            concat!(insert_person!(), " ON CONFLICT (uid) DO NOTHING")
        };
        let inserted = db.insert(sql, &row.params)?;
        let Some(id) = inserted else {
            return Ok(false);
        };
        self.terms.push((id, row.indexed));
        // (SOURCE, DATE_DECES, UID) of the person params.
        let p = |i: usize| row.params[i].as_str();
        let key = (p(8), p(6), p(0));
        let newer = match &self.newest {
            Some((s, d, u)) => key > (s.as_str(), d.as_str(), u.as_str()),
            None => true,
        };
        if newer {
            self.newest = Some((key.0.into(), key.1.into(), key.2.into()));
        }
        Ok(true)
    }

    /// A place's id, the place added when new.
    fn place_id(&mut self, db: &mut impl Sql, place: Option<String>) -> Result<SqlValue, String> {
        let Some(place) = place else {
            return Ok(SqlValue::Null);
        };
        if let Some(id) = self.place_ids.get(&place) {
            return Ok(SqlValue::Integer(*id));
        }
        let value = [SqlValue::from(place.as_str())];
        let inserted = db.insert(
            "INSERT INTO place (value) VALUES (?1) ON CONFLICT (value) DO NOTHING",
            &value,
        )?;
        let id = match inserted {
            Some(id) => id,
            None => db
                .query("SELECT id FROM place WHERE value = ?1", &value)?
                .first()
                .and_then(|r| r.first())
                .and_then(SqlValue::as_i64)
                .ok_or("a place without id")?,
        };
        self.place_ids.insert(place, id);
        Ok(SqlValue::Integer(id))
    }

    /// Writes the batch's term index rows and its newest record, and marks the vocabulary
    /// as behind the term index until [`vocabulary`] derives it again.
    pub fn flush(&mut self, db: &mut impl Sql) -> Result<(), String> {
        // The term index's rows in one statement: FTS5 writes what it holds in memory
        // to disk at each statement of the transaction, so row by row it would write (and
        // then merge) one segment per person.
        let terms = std::mem::take(&mut self.terms);
        if let Some(&(first, _)) = terms.first() {
            // A batch's persons have consecutive ids (each new row gets the largest id +
            // 1): then only the texts are sent, a person's id their first's + position.
            let consecutive = terms.iter().zip(first..).all(|((id, _), n)| *id == n);
            if consecutive {
                let texts: Vec<&str> = terms.iter().map(|(_, t)| t.as_str()).collect();
                db.run(
                    "INSERT INTO terms (rowid, t) SELECT ?1 + key, value FROM json_each(?2)",
                    &[
                        SqlValue::Integer(first),
                        json_rows(&texts)?.unwrap_or_default().into(),
                    ],
                )?;
            } else if let Some(rows) = json_rows(&terms)? {
                db.run(
                    "INSERT INTO terms (rowid, t) SELECT value ->> 0, value ->> 1 FROM json_each(?1)",
                    &[rows.into()],
                )?;
            }
            db.run(
                "INSERT INTO meta (key, value) VALUES ('vocabulary', 'behind')
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[],
            )?;
        }
        if let Some((source, death, uid)) = self.newest.take() {
            let key = format!("{source}\t{death}\t{uid}");
            db.run(
                "INSERT INTO meta (key, value) VALUES ('newest', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                &[key.into()],
            )?;
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

/// FTS5 merges the term index's segments (one per batch) as they are written: `automerge`
/// pages of work at each write once that many segments share a level, and all of a level's
/// at once when it holds `crisismerge` (FTS5's defaults, restored by [`merge_terms`]).
const AUTOMERGE: i64 = 4;
const CRISISMERGE: i64 = 16;

/// No merging of the term index's segments while a first import loads (it merges them in
/// one at its end: [`merge_terms`]), but at FTS5's limit of segments on a level.
pub fn defer_merging(db: &mut impl Sql) -> Result<(), String> {
    fts5_setting(db, "automerge", 0)?;
    fts5_setting(db, "crisismerge", 1999)
}

/// Merges the term index's segments in one (a search then reads each term's records in one
/// list) when `all`, or when there are more than FTS5 keeps on a level (an interrupted
/// first import); restores FTS5's own merging for later imports.
pub fn merge_terms(db: &mut impl Sql, all: bool) -> Result<(), String> {
    let segments = db.query("SELECT count(DISTINCT segid) FROM terms_idx", &[])?;
    let segments = segments
        .first()
        .and_then(|r| r.first()?.as_i64())
        .unwrap_or(0);
    if segments > 1 && (all || segments > CRISISMERGE) {
        db.run("INSERT INTO terms (terms) VALUES ('optimize')", &[])?;
    }
    fts5_setting(db, "automerge", AUTOMERGE)?;
    fts5_setting(db, "crisismerge", CRISISMERGE)
}

fn fts5_setting(db: &mut impl Sql, name: &str, value: i64) -> Result<(), String> {
    db.run(
        "INSERT INTO terms (terms, rank) VALUES (?1, ?2)",
        &[name.into(), SqlValue::Integer(value)],
    )
}

/// Whether the vocabulary is behind the term index (documents loaded since
/// [`vocabulary`] last ran, for example by an import that was interrupted).
pub fn vocabulary_behind(db: &mut impl Sql) -> Result<bool, String> {
    let rows = db.query("SELECT value FROM meta WHERE key = 'vocabulary'", &[])?;
    Ok(rows.first().and_then(|r| r.first()).map(SqlValue::as_str) == Some("behind"))
}

/// Derives the vocabulary (each text field's terms and how many records have them) from
/// the term index, and adds the deletion variants of the terms that are new. Run it once
/// documents are loaded, in a transaction: the counts are the index's own, so they are
/// right whatever happened before (an import interrupted, a document loaded twice), and
/// an import counts nothing per record. Its three steps can also be run apart, the
/// variants made on another thread while the database does other work: [`derive_vocabulary`],
/// [`variant_rows`], [`add_variants`].
pub fn vocabulary(db: &mut impl Sql) -> Result<(), String> {
    let new = derive_vocabulary(db)?;
    add_variants(db, variant_rows(&new)?)
}

/// The vocabulary derived from the term index (see [`vocabulary`]); returns the terms
/// without deletion variants yet.
pub fn derive_vocabulary(db: &mut impl Sql) -> Result<Vec<String>, String> {
    db.run(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.term_counts USING fts5vocab(main, terms, 'row')",
        &[],
    )?;
    db.run("DELETE FROM vocab", &[])?;
    for field in Field::TEXT {
        let tag = field.tag();
        // An indexed term is its field's tag then letters and digits: `{` sorts after them.
        db.run(
            "INSERT INTO vocab (field, term, n)
             SELECT ?1, substr(term, 3), doc FROM temp.term_counts
             WHERE term > ?2 AND term < ?2 || '{'",
            &[SqlValue::Integer(field as i64), tag.into()],
        )?;
    }
    db.run("DROP TABLE temp.term_counts", &[])?;
    // A term with variants has itself among them (no deletion).
    let new = db.query(
        "SELECT DISTINCT term FROM vocab
         WHERE NOT EXISTS (SELECT 1 FROM variant WHERE variant = vocab.term AND term = vocab.term)",
        &[],
    )?;
    Ok(new
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(SqlValue::Text(t)) => Some(t),
            _ => None,
        })
        .collect())
}

/// The rows of the `variant` table for `terms` (each term's deletion neighbourhood as
/// [`fuzziness`] sets it), sorted, for [`add_variants`]; `None` when there are none.
pub fn variant_rows(terms: &[String]) -> Result<Option<String>, String> {
    let mut variants: Vec<(String, &str)> = Vec::new();
    for t in terms {
        variants.extend(
            deletions(t, fuzziness(t))
                .into_iter()
                .map(|v| (v, t.as_str())),
        );
    }
    // Sorted: the rows go into the table's B-tree in its order.
    variants.sort_unstable();
    variants.dedup();
    json_rows(&variants)
}

/// Adds [`variant_rows`] and marks the vocabulary as up to date with the term index.
pub fn add_variants(db: &mut impl Sql, rows: Option<String>) -> Result<(), String> {
    if let Some(rows) = rows {
        db.run(
            "INSERT OR IGNORE INTO variant (variant, term)
             SELECT value ->> 0, value ->> 1 FROM json_each(?1)",
            &[rows.into()],
        )?;
    }
    db.run("DELETE FROM meta WHERE key = 'vocabulary'", &[])
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
            let places = row
                .places
                .clone()
                .map(|p| p.map_or(SqlValue::Null, SqlValue::from));
            let mut read = [&p[1], &p[0], &p[4], &p[5], &p[6], &p[8], &p[7]]
                .map(Clone::clone)
                .to_vec();
            read.extend(places);
            let expected: Map<String, Value> = doc_fields()
                .filter_map(|f| Some((f.to_string(), doc.field(f)?.clone())))
                .collect();
            assert_eq!(source(&read), Value::Object(expected), "{}", p[1].as_str());
        }
    }
}
