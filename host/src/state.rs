//! What one request's wasmtime `Store` holds.

use crate::interfaces::outbound_http::{AllowList, OutboundHooks};
use crate::interfaces::sqlite::Database;
use crate::store::Backend;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// At most this many stores open at once in one instance (`store-table-full` beyond).
pub const MAX_OPEN_STORES: usize = 64;

/// Everything a component may use, resolved once at start-up.
pub struct ComponentConfig {
    pub id: String,
    pub variables: HashMap<String, String>,
    /// The stores this component lists in `key_value_stores`.
    pub stores: HashMap<String, Backend>,
    /// Every label the runtime knows (to tell `no-such-store` from `access-denied`).
    pub known_stores: HashSet<String>,
    /// The SQLite databases this component lists in `sqlite_databases`, opened (a label
    /// nothing defines stops the start-up, so every granted label is here).
    pub databases: HashMap<String, Arc<Database>>,
    pub outbound: Arc<AllowList>,
    /// The component's `environment` table, seen by the guest as its process environment.
    pub environment: Vec<(String, String)>,
}

/// Why a guest could not open a store (each interface spells it its own way).
pub enum OpenError {
    TableFull,
    NoSuchStore,
    AccessDenied,
}

pub struct RequestState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub hooks: OutboundHooks,
    pub component: Arc<ComponentConfig>,
    pub open_stores: usize,
}

impl RequestState {
    pub fn new(component: Arc<ComponentConfig>) -> Self {
        let wasi = WasiCtx::builder()
            .inherit_stdout()
            .inherit_stderr()
            .envs(&component.environment)
            .build();
        RequestState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks::new(component.id.clone(), component.outbound.clone()),
            component,
            open_stores: 0,
        }
    }
}

impl RequestState {
    /// Opens a store this component may use, counting it against `MAX_OPEN_STORES`.
    pub fn open_store(&mut self, label: &str) -> Result<Backend, OpenError> {
        if self.open_stores >= MAX_OPEN_STORES {
            return Err(OpenError::TableFull);
        }
        match self.component.stores.get(label) {
            Some(backend) => {
                self.open_stores += 1;
                Ok(backend.clone())
            }
            None if self.component.known_stores.contains(label) => Err(OpenError::AccessDenied),
            None => Err(OpenError::NoSuchStore),
        }
    }

    pub fn close_store(&mut self) {
        self.open_stores = self.open_stores.saturating_sub(1);
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
