//! `fermyon:spin/sqlite@2.0.0`: the SQLite databases a component is granted
//! (`sqlite_databases` in spin.toml), with the bundled SQLite (FTS5 included), as Spin
//! serves them: the same file, the same errors.

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::manifest::DatabaseConfig;
use crate::state::RequestState;
use anyhow::{Context, Result};
use rusqlite::types::ValueRef;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::Resource;

/// Connections per database file: reads in WAL mode run side by side on separate ones.
const CONNECTIONS: usize = 4;

/// One database, shared by every instance that opens it.
pub struct Database {
    conns: Vec<Mutex<rusqlite::Connection>>,
    next: AtomicUsize,
}

impl Database {
    pub fn open(config: &DatabaseConfig) -> Result<Self> {
        let conns = match config {
            DatabaseConfig::File(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                let mut conns = Vec::with_capacity(CONNECTIONS);
                for _ in 0..CONNECTIONS {
                    let conn = rusqlite::Connection::open(path).with_context(|| {
                        format!("cannot open SQLite database {}", path.display())
                    })?;
                    conn.busy_timeout(Duration::from_secs(10))?;
                    conn.pragma_update(None, "journal_mode", "WAL")?;
                    conns.push(Mutex::new(conn));
                }
                conns
            }
            // One connection: each in-memory connection would be a database of its own.
            DatabaseConfig::Memory => vec![Mutex::new(rusqlite::Connection::open_in_memory()?)],
        };
        Ok(Database {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs one statement with its parameters; the rows it returns, if any.
    pub fn execute(&self, statement: &str, parameters: &[Value]) -> Result<QueryResult, Error> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut conn = (0..n)
            .find_map(|i| self.conns[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.conns[start % n]
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            });
        run(&mut conn, statement, parameters).map_err(|e| Error::Io(e.to_string()))
    }
}

fn run(
    conn: &mut rusqlite::Connection,
    statement: &str,
    parameters: &[Value],
) -> rusqlite::Result<QueryResult> {
    let mut stmt = conn.prepare_cached(statement)?;
    for (i, value) in parameters.iter().enumerate() {
        let at = i + 1;
        match value {
            Value::Integer(v) => stmt.raw_bind_parameter(at, v)?,
            Value::Real(v) => stmt.raw_bind_parameter(at, v)?,
            Value::Text(v) => stmt.raw_bind_parameter(at, v)?,
            Value::Blob(v) => stmt.raw_bind_parameter(at, v)?,
            Value::Null => stmt.raw_bind_parameter(at, rusqlite::types::Null)?,
        }
    }
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut raw = stmt.raw_query();
    while let Some(row) = raw.next()? {
        let values = (0..width)
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Integer(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<Vec<Value>>>()?;
        rows.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows })
}

/// The host side of a `connection` resource.
pub struct SqliteConnection {
    database: Arc<Database>,
}

impl sqlite::Host for RequestState {}

impl sqlite::HostConnection for RequestState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, Error>> {
        // Spin's order: a database the component was not granted is refused whether or not
        // it exists.
        if !self.component.granted_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(db) = self.component.databases.get(&database) else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        let database = db.clone();
        Ok(Ok(self.table.push(SqliteConnection { database })?))
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let database = self.table.get(&connection)?.database.clone();
        Ok(database.execute(&statement, &parameters))
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}
