//! The key-value store as the account logic sees it: records and counters, and an
//! in-memory store for tests.

use std::collections::HashMap;
use std::sync::Mutex;

/// The store could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreDown;

pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreDown>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreDown>;
    fn delete(&self, key: &str) -> Result<(), StoreDown>;
    /// Atomic increment of a counter key (created at 0); returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreDown>;
}

/// A store in memory, for tests; `down` makes every call fail.
#[derive(Default)]
pub struct MemoryKv {
    pub records: Mutex<HashMap<String, Vec<u8>>>,
    pub counters: Mutex<HashMap<String, i64>>,
    pub down: std::sync::atomic::AtomicBool,
}

impl MemoryKv {
    fn check(&self) -> Result<(), StoreDown> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(StoreDown)
        } else {
            Ok(())
        }
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreDown> {
        self.check()?;
        Ok(self.records.lock().unwrap().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreDown> {
        self.check()?;
        self.records
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), StoreDown> {
        self.check()?;
        self.records.lock().unwrap().remove(key);
        self.counters.lock().unwrap().remove(key);
        Ok(())
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreDown> {
        self.check()?;
        let mut c = self.counters.lock().unwrap();
        let v = c.entry(key.to_string()).or_insert(0);
        *v += delta;
        Ok(*v)
    }
}
