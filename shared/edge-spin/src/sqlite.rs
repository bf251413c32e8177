//! `edge-core`'s statement runner on Spin's SQLite interface.

use edge_core::embedded::{Sql, SqlValue};
use spin_sdk::sqlite::{Connection, Value};

/// A database a component was granted (`sqlite_databases` in spin.toml).
pub struct Database(Connection);

impl Database {
    pub fn open(label: &str) -> Result<Self, String> {
        Connection::open(label)
            .map(Database)
            .map_err(|e| format!("sqlite database `{label}`: {e}"))
    }
}

fn to_spin(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(*i),
        SqlValue::Real(r) => Value::Real(*r),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_spin(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(r) => SqlValue::Real(r),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
    }
}

impl Sql for Database {
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, String> {
        let params: Vec<Value> = params.iter().map(to_spin).collect();
        let result = self.0.execute(sql, &params).map_err(|e| e.to_string())?;
        Ok(result
            .rows
            .into_iter()
            .map(|row| row.values.into_iter().map(from_spin).collect())
            .collect())
    }
}
