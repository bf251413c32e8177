//! Redis backend: plain GET/SET/DEL, counters with INCRBY, compare-and-swap as a
//! Lua script, over a small pool of multiplexed, self-reconnecting connections.

use super::{StoreError, StoreResult};
use anyhow::{Context, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONNECTIONS: usize = 4;

#[derive(Clone)]
pub struct RedisStore {
    pool: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
}

fn err(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {e}"))
}

const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if (ARGV[1] == '0' and current == false) or (ARGV[1] == '1' and current == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[3])
  return 1
end
return 0
";

impl RedisStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let client =
            redis::Client::open(url).with_context(|| format!("invalid Redis URL `{url}`"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(1)
            .set_max_delay(500);
        let mut pool = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let manager = ConnectionManager::new_with_config(client.clone(), config.clone())
                .await
                .with_context(|| format!("cannot reach Redis at `{url}`"))?;
            pool.push(manager);
        }
        Ok(RedisStore {
            pool: pool.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn conn(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        self.pool[i].clone()
    }

    /// Runs a command, and once more when the first try met a dead connection (after a
    /// Redis restart each pooled connection finds out on its next command; the manager
    /// reconnects for the retry). Never after a timeout: a hung Redis may still apply the
    /// first try later. The one case a retried INCRBY counts twice is a Redis that dies
    /// between applying it and answering; a counter may then overcount by one (limits get
    /// stricter, a code gets used up), never undercount.
    async fn run<T, F, Fut>(&self, op: F) -> StoreResult<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn();
        match op(conn.clone()).await {
            Err(e)
                if !e.is_timeout()
                    && (e.is_io_error()
                        || e.is_connection_dropped()
                        || e.is_connection_refusal()) =>
            {
                op(conn).await.map_err(err)
            }
            other => other.map_err(err),
        }
    }

    pub async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.run(|mut c| async move { c.get(key).await }).await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.run(|mut c| async move { c.set(key, value).await })
            .await
    }

    pub async fn delete(&self, key: &str) -> StoreResult<()> {
        self.run(|mut c| async move { c.del(key).await }).await
    }

    pub async fn exists(&self, key: &str) -> StoreResult<bool> {
        self.run(|mut c| async move { c.exists(key).await }).await
    }

    pub async fn keys(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.conn();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    pub async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.run(|mut c| async move { c.incr(key, delta).await })
            .await
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> StoreResult<bool> {
        let swapped: i64 = redis::Script::new(CAS_SCRIPT)
            .key(key)
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(swapped == 1)
    }
}
