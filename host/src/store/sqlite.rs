//! SQLite backend: Spin's table layout, WAL mode, counters as 8-byte
//! little-endian i64 values, every read-modify-write in an IMMEDIATE transaction
//! so it is atomic across processes sharing the file.

use super::{StoreError, StoreResult};
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONNECTIONS: usize = 4;

#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
    label: Arc<str>,
}

/// A few connections to one SQLite file (WAL mode), handed out in turn: reads run side by
/// side on separate connections. The key-value store and the SQLite interface share it.
pub struct Pool {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Pool {
    /// `n` connections to the file at `path` (its folder created), each set up by `init`.
    pub fn open(
        path: &Path,
        n: usize,
        init: impl Fn(&Connection) -> rusqlite::Result<()>,
    ) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let conns = (0..n.max(1))
            .map(|_| {
                let conn = Connection::open(path)?;
                conn.busy_timeout(Duration::from_secs(10))?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                init(&conn)?;
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(Pool::of(conns))
    }

    /// A pool of the given connections.
    pub fn of(conns: Vec<Mutex<Connection>>) -> Self {
        Pool {
            conns,
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `f` on a free connection, or waits for one.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(mut conn) = self.conns[(start + i) % n].try_lock() {
                return f(&mut conn);
            }
        }
        let mut conn = self.conns[start % n]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn)
    }
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError(format!("sqlite: {e}"))
}

impl SqliteStore {
    pub fn open(path: &Path, label: &str) -> Result<Self> {
        let pool = Pool::open(path, CONNECTIONS, |conn| {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key   TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                )",
            )
        })
        .with_context(|| format!("cannot open SQLite store {}", path.display()))?;
        Ok(SqliteStore {
            pool: Arc::new(pool),
            label: label.into(),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        self.pool.with(f).map_err(err)
    }

    pub fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![&*self.label, key], |row| row.get(0))
                .optional()
        })
    }

    pub fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![&*self.label, key, value])
            .map(drop)
        })
    }

    pub fn delete(&self, key: &str) -> StoreResult<()> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![&*self.label, key])
                .map(drop)
        })
    }

    pub fn exists(&self, key: &str) -> StoreResult<bool> {
        self.with(|c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .exists(params![&*self.label, key])
        })
    }

    pub fn keys(&self) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
            let rows = stmt.query_map(params![&*self.label], |row| row.get(0))?;
            rows.collect()
        })
    }

    pub fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        let result = self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![&*self.label, key], |row| row.get(0))
                .optional()?;
            let current = match current {
                None => 0,
                Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
                    Ok(raw) => i64::from_le_bytes(raw),
                    Err(_) => return Ok(Err(StoreError(format!("`{key}` is not a counter")))),
                },
            };
            let Some(next) = current.checked_add(delta) else {
                return Ok(Err(StoreError(format!("counter `{key}` would overflow"))));
            };
            tx.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![&*self.label, key, &next.to_le_bytes()[..]])?;
            tx.commit()?;
            Ok(Ok(next))
        })?;
        result
    }

    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> StoreResult<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<Vec<u8>> = tx
                .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![&*self.label, key], |row| row.get(0))
                .optional()?;
            if current.as_deref() != expected {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![&*self.label, key, value])?;
            tx.commit()?;
            Ok(true)
        })
    }
}
