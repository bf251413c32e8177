//! The embedded search backend: the index in one SQLite database (Spin's SQLite interface in
//! the component, rusqlite in the importer and the native tests), reached through a narrow
//! statement runner so the SQL, the candidate generation and the ranking live here.
//!
//! Tables (see [`schema::CREATE`]): `person` (one row per record: the index document as
//! JSON and the columns the filters read), `place` (the places records share), `terms` (a
//! contentless FTS5 index of every token and code of a record, prefixed by its field, so
//! candidates come from an index), `vocab` (field, term, count: derived from `terms` once
//! an import has loaded its records) and `variant` (deletion variant -> term, the fuzzy
//! lookup), `meta` (import facts).

pub mod backend;
pub mod count;
pub mod find;
pub mod load;
pub mod schema;
pub mod text;

/// A value passed to or read from SQLite (the five types Spin's interface has).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    pub fn as_str(&self) -> &str {
        match self {
            SqlValue::Text(s) => s,
            _ => "",
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Integer(i) => Some(*i),
            SqlValue::Real(r) => Some(*r as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SqlValue::Integer(i) => Some(*i as f64),
            SqlValue::Real(r) => Some(*r),
            _ => None,
        }
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Integer(i)
    }
}

impl From<Option<f64>> for SqlValue {
    fn from(f: Option<f64>) -> Self {
        f.map(SqlValue::Real).unwrap_or(SqlValue::Null)
    }
}

/// Runs SQL statements: the only thing the backend needs from a database.
pub trait Sql {
    /// One statement with positional parameters (`?1`, `?2`...), and the rows it returned.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, String>;

    /// A statement whose rows, if any, do not matter.
    fn run(&mut self, sql: &str, params: &[SqlValue]) -> Result<(), String> {
        self.query(sql, params).map(drop)
    }

    /// An `INSERT`: the new row's id when it added one (`None` when a conflict clause
    /// left the table as it was).
    fn insert(&mut self, sql: &str, params: &[SqlValue]) -> Result<Option<i64>, String> {
        self.run(sql, params)?;
        // (Cheaper than `RETURNING`, which goes through a temporary table.)
        let rows = self.query("SELECT last_insert_rowid() WHERE changes() > 0", &[])?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(SqlValue::as_i64))
    }
}

#[cfg(feature = "rusqlite")]
mod native {
    use super::{Sql, SqlValue};
    use rusqlite::types::{ToSqlOutput, ValueRef};
    use rusqlite::ToSql;

    /// A parameter bound by reference (no copy of its text).
    struct Bind<'a>(&'a SqlValue);

    impl ToSql for Bind<'_> {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::Borrowed(match self.0 {
                SqlValue::Null => ValueRef::Null,
                SqlValue::Integer(i) => ValueRef::Integer(*i),
                SqlValue::Real(r) => ValueRef::Real(*r),
                SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
                SqlValue::Blob(b) => ValueRef::Blob(b),
            }))
        }
    }

    fn from_sql(v: ValueRef<'_>) -> SqlValue {
        match v {
            ValueRef::Null => SqlValue::Null,
            ValueRef::Integer(i) => SqlValue::Integer(i),
            ValueRef::Real(r) => SqlValue::Real(r),
            ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
        }
    }

    /// rusqlite runs the statements, each prepared once per connection.
    impl Sql for rusqlite::Connection {
        fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, String> {
            let mut stmt = self.prepare_cached(sql).map_err(|e| e.to_string())?;
            let width = stmt.column_count();
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params.iter().map(Bind)))
                .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(|e| e.to_string())? {
                let mut values = Vec::with_capacity(width);
                for i in 0..width {
                    values.push(from_sql(row.get_ref(i).map_err(|e| e.to_string())?));
                }
                out.push(values);
            }
            Ok(out)
        }

        fn insert(&mut self, sql: &str, params: &[SqlValue]) -> Result<Option<i64>, String> {
            let mut stmt = self.prepare_cached(sql).map_err(|e| e.to_string())?;
            let changed = stmt
                .execute(rusqlite::params_from_iter(params.iter().map(Bind)))
                .map_err(|e| e.to_string())?;
            Ok((changed > 0).then(|| self.last_insert_rowid()))
        }
    }
}
