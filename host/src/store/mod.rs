//! Key-value store backends behind one type. Both give the same answers to the
//! same calls; counters are opaque (only incremented or deleted).

mod redis;
mod sqlite;

pub use self::redis::RedisStore;
pub use self::sqlite::{Pool, SqliteStore};

use crate::manifest::StoreConfig;
use anyhow::Result;
use std::fmt;

/// A backend failure, shown to the guest as `error::other`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// One labelled store.
#[derive(Clone)]
pub enum Backend {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

/// Runs an operation on the backend and counts it (`crate::metrics::kv`).
macro_rules! dispatch {
    ($self:ident, $op:literal, $s:ident => $call:expr) => {{
        let outcome = match $self {
            Backend::Sqlite($s) => $call,
            Backend::Redis($s) => $call.await,
        };
        crate::metrics::kv($self.kind(), $op, &outcome);
        outcome
    }};
}

impl Backend {
    /// The backend's kind, as metrics label it.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Redis(_) => "redis",
        }
    }

    /// Opens a backend; an unreachable Redis is an error here, at start-up.
    pub async fn open(label: &str, config: &StoreConfig) -> Result<Self> {
        Ok(match config {
            StoreConfig::Sqlite { path } => Backend::Sqlite(SqliteStore::open(path, label)?),
            StoreConfig::Redis { url } => Backend::Redis(RedisStore::connect(url).await?),
        })
    }

    pub async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        dispatch!(self, "get", s => s.get(key))
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        dispatch!(self, "set", s => s.set(key, value))
    }

    pub async fn delete(&self, key: &str) -> StoreResult<()> {
        dispatch!(self, "delete", s => s.delete(key))
    }

    pub async fn exists(&self, key: &str) -> StoreResult<bool> {
        dispatch!(self, "exists", s => s.exists(key))
    }

    pub async fn keys(&self) -> StoreResult<Vec<String>> {
        dispatch!(self, "keys", s => s.keys())
    }

    /// Adds `delta` atomically (across processes sharing the store) and returns the new value.
    pub async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        dispatch!(self, "increment", s => s.increment(key, delta))
    }

    /// Sets `value` only if the current value is still `expected`; false when it changed.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> StoreResult<bool> {
        dispatch!(self, "compare_and_swap", s => s.compare_and_swap(key, expected, value))
    }
}
