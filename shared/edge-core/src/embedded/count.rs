//! /agg on the embedded index: the persons a search finds counted by one or several
//! fields, answered as Elasticsearch answers the same aggregations (scoring.md A.3-A.4), so
//! [`crate::search::agg::reply`] shapes both backends' answers.
//!
//! SQLite groups the persons by the columns the fields are read from (sex, dates, age, the
//! stored name, the shared place); each group's keys are then made as the index makes
//! them (the `norm` normalizer, dates by month), and merged. Keys follow Elasticsearch's
//! orders: terms by count then key, months in time order with the empty ones between,
//! composite buckets by key.

use super::find::{self, json_list, FindError};
use super::text::normalised;
use super::{load, Sql, SqlValue};
use crate::insee;
use crate::search::agg::{AggRequest, MAX_BUCKETS};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a field's values are in a `person` row.
#[derive(Clone, Copy, PartialEq)]
enum Column {
    Sex,
    Age,
    /// A date column (`birth`, `death`), as `yyyyMMdd`, repaired as the index's `_NORM`.
    Date(&'static str),
    /// A field of the stored document, by its slot.
    Doc(usize),
    /// A field of the place of birth (`true`) or death, by its slot in the place.
    Place(bool, usize),
}

impl Column {
    fn of(name: &str) -> Option<Column> {
        let place = |birth: bool, field: &str| {
            let fields = load::PLACES[usize::from(!birth)];
            fields
                .iter()
                .position(|f| *f == field)
                .map(|i| Column::Place(birth, i))
        };
        match name {
            "sex" => Some(Column::Sex),
            "deathAge" => Some(Column::Age),
            "birthDate" => Some(Column::Date("birth")),
            "deathDate" => Some(Column::Date("death")),
            "firstName" => load::doc_slot("PRENOM").map(Column::Doc),
            "lastName" => load::doc_slot("NOM").map(Column::Doc),
            "birthCity" => place(true, "COMMUNE_NAISSANCE"),
            "birthDepartment" => place(true, "DEPARTEMENT_NAISSANCE"),
            "birthCountry" => place(true, "PAYS_NAISSANCE"),
            "deathCity" => place(false, "COMMUNE_DECES"),
            "deathDepartment" => place(false, "DEPARTEMENT_DECES"),
            "deathCountry" => place(false, "PAYS_DECES"),
            _ => None,
        }
    }

    fn sql(self) -> String {
        match self {
            Column::Sex => "sex".into(),
            Column::Age => "age".into(),
            Column::Date(column) => column.into(),
            Column::Doc(slot) => format!("json_extract(doc, '$[{slot}]')"),
            Column::Place(true, _) => "birth_place".into(),
            Column::Place(false, _) => "death_place".into(),
        }
    }
}

/// A bucket key: a number (age, a month's first millisecond) or a text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Num(i64),
    Text(String),
}

impl Key {
    fn json(&self) -> Value {
        match self {
            Key::Num(n) => json!(n),
            Key::Text(t) => json!(t),
        }
    }
}

/// A field's keys in one group of persons (several for a list of cities), and the value
/// its distinct count counts (a date's day rather than its month).
struct Keys {
    keys: Vec<Key>,
    distinct: Vec<Key>,
}

/// One page of the aggregation of `req` as Elasticsearch's JSON (`took` left to the caller).
pub fn aggregate(
    db: &mut impl Sql,
    req: &AggRequest,
    after: Option<&Value>,
) -> Result<Value, FindError> {
    count(db, req, after).map_err(|e| match e {
        FindError::Database(_) if find::is_empty(db) => FindError::Empty,
        e => e,
    })
}

fn count(db: &mut impl Sql, req: &AggRequest, after: Option<&Value>) -> Result<Value, FindError> {
    let columns: Vec<Column> = req
        .aggs
        .iter()
        .map(|n| Column::of(n).ok_or(FindError::Rejected))
        .collect::<Result<_, _>>()?;
    let groups = groups(db, req, &columns)?;
    let total: i64 = groups.iter().map(|(_, n)| n).sum();
    if total == 0 && find::is_empty(db) {
        return Err(FindError::Empty);
    }
    let places = places(db, &columns, &groups)?;
    // Each group's keys per field; composite buckets cross them.
    let mut combos: BTreeMap<Vec<Key>, i64> = BTreeMap::new();
    let mut distinct: Vec<BTreeSet<Key>> = vec![BTreeSet::new(); columns.len()];
    for (values, n) in &groups {
        let keys: Vec<Keys> = columns
            .iter()
            .zip(values)
            .map(|(c, v)| keys(*c, v, &places))
            .collect();
        for (set, k) in distinct.iter_mut().zip(&keys) {
            set.extend(k.distinct.iter().cloned());
        }
        for combo in cross(&keys) {
            *combos.entry(combo).or_default() += n;
        }
    }
    let aggregations = if req.is_composite() {
        composite(req, &combos, &distinct, after)
    } else {
        let name = req.aggs[0];
        let single: BTreeMap<Key, i64> = combos
            .into_iter()
            .filter_map(|(mut k, n)| Some((k.pop()?, n)))
            .collect();
        let buckets = if AggRequest::is_date(name) {
            months(&single)
        } else {
            terms(&single, req.size)
        };
        json!({ name: buckets })
    };
    Ok(json!({
        "took": 0,
        "hits": { "total": { "value": total, "relation": "eq" }, "max_score": null, "hits": [] },
        "aggregations": aggregations,
    }))
}

/// The persons grouped by the fields' columns: (the columns' values, how many persons).
fn groups(
    db: &mut impl Sql,
    req: &AggRequest,
    columns: &[Column],
) -> Result<Vec<(Vec<SqlValue>, i64)>, FindError> {
    let mut exprs: Vec<String> = Vec::new();
    for c in columns {
        if !exprs.contains(&c.sql()) {
            exprs.push(c.sql());
        }
    }
    let positions: Vec<usize> = columns
        .iter()
        .map(|c| exprs.iter().position(|e| *e == c.sql()).unwrap_or(0))
        .collect();
    let group_by: Vec<String> = (1..=exprs.len()).map(|i| i.to_string()).collect();
    let select = format!("SELECT {}, count(*) FROM person", exprs.join(", "));
    let rows = match find::matching(db, &req.search)? {
        None => db.query(&format!("{select} GROUP BY {}", group_by.join(", ")), &[])?,
        Some(ids) if ids.is_empty() => Vec::new(),
        Some(ids) => db.query(
            &format!(
                "{select} WHERE id IN (SELECT value FROM json_each(?1)) GROUP BY {}",
                group_by.join(", ")
            ),
            &[json_list(&ids)],
        )?,
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let n = row.last().and_then(SqlValue::as_i64).unwrap_or(0);
            let values = positions.iter().map(|p| row[*p].clone()).collect();
            (values, n)
        })
        .collect())
}

/// The places the groups point to, by id (their stored field values).
fn places(
    db: &mut impl Sql,
    columns: &[Column],
    groups: &[(Vec<SqlValue>, i64)],
) -> Result<HashMap<i64, Vec<Value>>, String> {
    let mut ids = BTreeSet::new();
    for (values, _) in groups {
        for (c, v) in columns.iter().zip(values) {
            if let (Column::Place(..), Some(id)) = (c, v.as_i64()) {
                ids.insert(id);
            }
        }
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = ids.into_iter().collect();
    let rows = db.query(
        "SELECT id, value FROM place WHERE id IN (SELECT value FROM json_each(?1))",
        &[json_list(&ids)],
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let id = r.first()?.as_i64()?;
            let value = serde_json::from_str(r.get(1)?.as_str()).ok()?;
            Some((id, value))
        })
        .collect())
}

/// A field's keys from its column's value in a group.
fn keys(column: Column, value: &SqlValue, places: &HashMap<i64, Vec<Value>>) -> Keys {
    let texts = |v: Option<&Value>| -> Vec<Key> {
        let list: Vec<&str> = match v {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut out: Vec<Key> = list
            .into_iter()
            .map(normalised)
            .filter(|t| !t.is_empty())
            .map(Key::Text)
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let same = |keys: Vec<Key>| Keys {
        distinct: keys.clone(),
        keys,
    };
    match column {
        Column::Sex => same(match value.as_str() {
            "" => Vec::new(),
            s => vec![Key::Text(s.to_string())],
        }),
        Column::Age => same(value.as_i64().map(Key::Num).into_iter().collect()),
        Column::Date(_) => match insee::normalise_date(value.as_str()) {
            Some(day) => Keys {
                keys: vec![Key::Text(format!("{}01", &day[..6]))],
                distinct: vec![Key::Text(day)],
            },
            None => same(Vec::new()),
        },
        Column::Doc(_) => same(match value {
            SqlValue::Text(t) => texts(Some(&Value::String(t.clone()))),
            _ => Vec::new(),
        }),
        Column::Place(_, slot) => {
            let place = value.as_i64().and_then(|id| places.get(&id));
            same(texts(place.and_then(|p| p.get(slot))))
        }
    }
}

/// Every combination of one key per field (none when a field has no value: Elasticsearch
/// leaves such documents out of a composite).
fn cross(fields: &[Keys]) -> Vec<Vec<Key>> {
    let mut out: Vec<Vec<Key>> = vec![Vec::new()];
    for f in fields {
        out = out
            .iter()
            .flat_map(|prefix| {
                f.keys.iter().map(move |k| {
                    let mut next = prefix.clone();
                    next.push(k.clone());
                    next
                })
            })
            .collect();
    }
    out
}

/// A terms aggregation: the `size` most frequent keys, by count then key.
fn terms(counts: &BTreeMap<Key, i64>, size: i64) -> Value {
    let mut sorted: Vec<(&Key, &i64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let size = usize::try_from(size).unwrap_or(0);
    let others: i64 = sorted.iter().skip(size).map(|(_, n)| **n).sum();
    let buckets: Vec<Value> = sorted
        .iter()
        .take(size)
        .map(|(k, n)| json!({ "key": k.json(), "doc_count": n }))
        .collect();
    json!({ "doc_count_error_upper_bound": 0, "sum_other_doc_count": others, "buckets": buckets })
}

/// A monthly date histogram: every month from the first to the last one counted.
fn months(counts: &BTreeMap<Key, i64>) -> Value {
    let month = |k: &Key| match k {
        Key::Text(t) => t[..4].parse::<i64>().ok().zip(t[4..6].parse::<i64>().ok()),
        Key::Num(_) => None,
    };
    let (Some(first), Some(last)) = (
        counts.keys().next().and_then(month),
        counts.keys().next_back().and_then(month),
    ) else {
        return json!({ "buckets": [] });
    };
    let mut buckets = Vec::new();
    let (mut y, mut m) = first;
    while (y, m) <= last {
        let day = format!("{y:04}{m:02}01");
        let n = counts.get(&Key::Text(day.clone())).copied().unwrap_or(0);
        let millis = insee::unix_day(&day) * 86_400_000;
        buckets.push(json!({ "key_as_string": day, "key": millis, "doc_count": n }));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    json!({ "buckets": buckets })
}

/// A composite aggregation's buckets after `after` (all of them: a page per request would
/// count the persons again for each; the answer is the same), with each field's distinct
/// count. Bounded: one bucket more than an answer may hold says it is too many.
fn composite(
    req: &AggRequest,
    combos: &BTreeMap<Vec<Key>, i64>,
    distinct: &[BTreeSet<Key>],
    after: Option<&Value>,
) -> Value {
    let named = |keys: &[Key]| -> Map<String, Value> {
        req.aggs
            .iter()
            .zip(keys)
            .map(|(n, k)| ((*n).to_string(), k.json()))
            .collect()
    };
    let start: Option<Vec<Key>> = after.map(|a| {
        req.aggs
            .iter()
            .map(|n| match &a[*n] {
                Value::Number(x) => Key::Num(x.as_i64().unwrap_or(i64::MIN)),
                other => Key::Text(other.as_str().unwrap_or_default().to_string()),
            })
            .collect()
    });
    let page: Vec<(&Vec<Key>, &i64)> = combos
        .iter()
        .filter(|(k, _)| start.as_ref().is_none_or(|s| *k > s))
        .take(MAX_BUCKETS + 1)
        .collect();
    let buckets: Vec<Value> = page
        .iter()
        .map(|(k, n)| json!({ "key": named(k), "doc_count": n }))
        .collect();
    let mut results = Map::new();
    results.insert("buckets".into(), Value::Array(buckets));
    let mut out = Map::new();
    out.insert("bucketResults".into(), Value::Object(results));
    if after.is_none() {
        for (n, set) in req.aggs.iter().zip(distinct) {
            out.insert(format!("{n}_count"), json!({ "value": set.len() }));
        }
    }
    Value::Object(out)
}
