//! `fermyon:spin/sqlite@2.0.0`: the SQLite databases a component is granted
//! (`sqlite_databases` in spin.toml), with the bundled SQLite (FTS5 included), as Spin
//! serves them: the same file, the same errors.

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::manifest::DatabaseConfig;
use crate::state::RequestState;
use crate::store::Pool;
use anyhow::{Context, Result};
use rusqlite::types::ValueRef;
use std::sync::{Arc, Mutex};
use wasmtime::component::Resource;

/// Connections per database file: reads in WAL mode run side by side on separate ones.
const CONNECTIONS: usize = 4;

/// One database, shared by every instance that opens it.
pub struct Database {
    pool: Pool,
}

impl Database {
    pub fn open(config: &DatabaseConfig) -> Result<Self> {
        let pool = match config {
            DatabaseConfig::File(path) => Pool::open(path, CONNECTIONS, |_| Ok(()))
                .with_context(|| format!("cannot open SQLite database {}", path.display()))?,
            // One connection: each in-memory connection would be a database of its own.
            DatabaseConfig::Memory => {
                Pool::of(vec![Mutex::new(rusqlite::Connection::open_in_memory()?)])
            }
        };
        Ok(Database { pool })
    }

    /// Runs one statement with its parameters; the rows it returns, if any.
    pub fn execute(&self, statement: &str, parameters: &[Value]) -> Result<QueryResult, Error> {
        self.pool
            .with(|conn| run(conn, statement, parameters))
            .map_err(|e| Error::Io(e.to_string()))
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
        // As Spin: a database the component was not granted is refused whether or not it
        // exists (a granted one always does: see `ComponentConfig::databases`).
        let Some(database) = self.component.databases.get(&database).cloned() else {
            return Ok(Err(Error::AccessDenied));
        };
        Ok(Ok(self.table.push(SqliteConnection { database })?))
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let database = self.table.get(&connection)?.database.clone();
        let outcome = database.execute(&statement, &parameters);
        crate::metrics::sqlite(&outcome);
        Ok(outcome)
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}
