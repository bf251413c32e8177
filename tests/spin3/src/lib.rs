//! The built components on the engine Spin 3.6.3 embeds (the runtime of SpinKube's
//! containerd shim, i.e. production): wasmtime and wasmtime-wasi-http 42.0.2.
//!
//! Their resource table refuses to drop a resource while one made from it (a request's
//! headers, a body's stream, a pollable) is alive, and answers the guest with a trap
//! ("resource has children"). Our own host runs wasmtime 48, which does not check this, so
//! only a run on 42.0.2 shows a lifetime order that production would refuse.
//!
//! This is a harness, not a runtime: one component per [`Component`], WASI 0.2 and
//! wasi-http as wasmtime-wasi(-http) 42 serve them (outbound HTTP included, to reach a
//! stub), Spin's variables and key-value interfaces over a map in memory, and every other
//! import a trap.

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

mod bindings {
    // The same WIT our host implements: what spin-sdk 5.2 guests import.
    wasmtime::component::bindgen!({
        path: "../../host/wit",
        world: "deces:edge/edge-imports",
        imports: { default: trappable },
        with: {
            "fermyon:spin/key-value.store": crate::Label,
            "fermyon:spin/sqlite.connection": crate::Label,
            "wasi:keyvalue/store.bucket": crate::Label,
            "wasi:keyvalue/atomics.cas": crate::Cas,
        },
    });
}

use bindings::fermyon::spin::{key_value, sqlite, variables};
use bindings::wasi::keyvalue::{atomics, store as wasi_store};

/// The one store label the harness serves (the components use `default`).
const STORE_LABEL: &str = "default";

/// An open store, as both key-value interfaces see it.
pub struct Label;

/// A compare-and-swap handle: the key and the value seen when it was made.
pub struct Cas {
    key: String,
    current: Option<Vec<u8>>,
}

type Map = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A key-value store in memory, shared by the components given it (as replicas and
/// components share the host's store).
#[derive(Clone, Default)]
pub struct SharedStore(Map);

/// One component, ready to serve requests, with its variables and a store shared by every
/// request it serves.
pub struct Component {
    engine: Engine,
    pre: ProxyPre<State>,
    variables: Arc<HashMap<String, String>>,
    store: Map,
    database: Option<Database>,
    runtime: tokio::runtime::Runtime,
}

/// The SQLite database granted as `default`, when there is one.
type Database = Arc<Mutex<rusqlite::Connection>>;

/// A component's answer, read to the end.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Component {
    /// Loads a component file with its variables (unset ones answer `undefined`, as Spin
    /// does for a variable without a value) and the store it sees as `default`.
    pub fn load(wasm: &Path, variables: &[(&str, &str)], store: &SharedStore) -> Result<Self> {
        let engine = Engine::new(&Config::new())?;
        let component = wasmtime::component::Component::from_file(&engine, wasm)
            .map_err(|e| anyhow!("loading {}: {e:?}", wasm.display()))?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::add_only_http_to_linker_async(&mut linker)?;
        bindings::EdgeImports::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        Ok(Component {
            engine,
            pre,
            variables: Arc::new(
                variables
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            store: store.0.clone(),
            database: None,
            runtime,
        })
    }

    /// Grants the component the database `default`, the SQLite file at `path`.
    pub fn with_database(mut self, path: &Path) -> Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        self.database = Some(Arc::new(Mutex::new(conn)));
        Ok(self)
    }

    /// Serves one request in a fresh instance, as Spin does, with Spin's client-address
    /// header. An error is a guest that trapped (or never answered), even after it sent
    /// its answer.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:3000{path}"))
            .header("host", "127.0.0.1:3000")
            .header("spin-client-addr", "127.0.0.1:40000")
            .header("spin-full-url", format!("http://127.0.0.1:3000{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = Full::new(Bytes::copy_from_slice(body))
            .map_err(|never| -> ErrorCode { match never {} });
        let request = request.body(body)?;
        let state = State {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            variables: self.variables.clone(),
            store: self.store.clone(),
            database: self.database.clone(),
        };
        self.runtime.block_on(async {
            let mut store = Store::new(&self.engine, state);
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let req = store
                .data_mut()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store.data_mut().new_response_outparam(sender)?;
            let proxy = self.pre.instantiate_async(&mut store).await?;
            let guest = tokio::spawn(async move {
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            });
            let answer = match receiver.await {
                Ok(Ok(response)) => read(response).await,
                Ok(Err(code)) => Err(anyhow!("the guest answered an error code: {code:?}")),
                Err(_) => Err(anyhow!("the guest set no answer")),
            };
            // A trap after the answer was sent (a drop at the end of the handler) is a
            // failure too: Spin logs it and the instance is lost.
            match guest.await? {
                Ok(()) => answer,
                Err(trap) => Err(anyhow!("the guest trapped: {trap:?}")),
            }
        })
    }
}

async fn read(
    response: hyper::Response<wasmtime_wasi_http::body::HyperOutgoingBody>,
) -> Result<Answer> {
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(code) => bail!("the answer's body failed: {code:?}"),
    };
    Ok(Answer {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    })
}

/// One request's store data.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    variables: Arc<HashMap<String, String>>,
    store: Map,
    database: Option<Database>,
}

impl State {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn ctx(&mut self) -> &mut WasiHttpCtx {
        &mut self.http
    }

    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl variables::Host for State {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(self
            .variables
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(name)))
    }
}

/// The database `default` when one was granted (`with_database`), on rusqlite; any other
/// label is refused as Spin refuses an ungranted one.
impl sqlite::Host for State {}

fn to_sql(v: &sqlite::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        sqlite::Value::Integer(i) => V::Integer(*i),
        sqlite::Value::Real(r) => V::Real(*r),
        sqlite::Value::Text(t) => V::Text(t.clone()),
        sqlite::Value::Blob(b) => V::Blob(b.clone()),
        sqlite::Value::Null => V::Null,
    }
}

fn query(
    conn: &rusqlite::Connection,
    statement: &str,
    parameters: &[sqlite::Value],
) -> rusqlite::Result<sqlite::QueryResult> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let params: Vec<rusqlite::types::Value> = parameters.iter().map(to_sql).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => sqlite::Value::Null,
                    ValueRef::Integer(v) => sqlite::Value::Integer(v),
                    ValueRef::Real(v) => sqlite::Value::Real(v),
                    ValueRef::Text(t) => sqlite::Value::Text(String::from_utf8_lossy(t).into()),
                    ValueRef::Blob(b) => sqlite::Value::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(sqlite::RowResult { values });
    }
    Ok(sqlite::QueryResult { columns, rows: out })
}

impl sqlite::HostConnection for State {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Label>, sqlite::Error>> {
        if database != "default" || self.database.is_none() {
            return Ok(Err(sqlite::Error::AccessDenied));
        }
        Ok(Ok(self.table.push(Label)?))
    }

    fn execute(
        &mut self,
        connection: Resource<Label>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<sqlite::QueryResult, sqlite::Error>> {
        self.table.get(&connection)?;
        let Some(db) = &self.database else {
            return Ok(Err(sqlite::Error::InvalidConnection));
        };
        let conn = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(query(&conn, &statement, &parameters).map_err(|e| sqlite::Error::Io(e.to_string())))
    }

    fn drop(&mut self, connection: Resource<Label>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl key_value::Host for State {}

impl key_value::HostStore for State {
    fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<Label>, key_value::Error>> {
        if label != STORE_LABEL {
            return Ok(Err(key_value::Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(Label)?))
    }

    fn get(
        &mut self,
        _: Resource<Label>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, key_value::Error>> {
        Ok(Ok(self.map().get(&key).cloned()))
    }

    fn set(
        &mut self,
        _: Resource<Label>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        self.map().insert(key, value);
        Ok(Ok(()))
    }

    fn delete(
        &mut self,
        _: Resource<Label>,
        key: String,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        self.map().remove(&key);
        Ok(Ok(()))
    }

    fn exists(
        &mut self,
        _: Resource<Label>,
        key: String,
    ) -> wasmtime::Result<Result<bool, key_value::Error>> {
        Ok(Ok(self.map().contains_key(&key)))
    }

    fn get_keys(
        &mut self,
        _: Resource<Label>,
    ) -> wasmtime::Result<Result<Vec<String>, key_value::Error>> {
        Ok(Ok(self.map().keys().cloned().collect()))
    }

    fn drop(&mut self, store: Resource<Label>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl wasi_store::Host for State {
    fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Label>, wasi_store::Error>> {
        if identifier != STORE_LABEL {
            return Ok(Err(wasi_store::Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(Label)?))
    }
}

impl wasi_store::HostBucket for State {
    fn get(
        &mut self,
        _: Resource<Label>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        Ok(Ok(self.map().get(&key).cloned()))
    }

    fn set(
        &mut self,
        _: Resource<Label>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        self.map().insert(key, value);
        Ok(Ok(()))
    }

    fn delete(
        &mut self,
        _: Resource<Label>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        self.map().remove(&key);
        Ok(Ok(()))
    }

    fn exists(
        &mut self,
        _: Resource<Label>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        Ok(Ok(self.map().contains_key(&key)))
    }

    fn list_keys(
        &mut self,
        _: Resource<Label>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        let keys = self.map().keys().cloned().collect();
        Ok(Ok(wasi_store::KeyResponse { keys, cursor: None }))
    }

    fn drop(&mut self, bucket: Resource<Label>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for State {
    /// Counters are kept as decimal text, as Redis keeps them.
    fn increment(
        &mut self,
        _: Resource<Label>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        let mut map = self.map();
        let now = map
            .get(&key)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
            .unwrap_or(0)
            .saturating_add(delta);
        map.insert(key, now.to_string().into_bytes());
        Ok(Ok(now))
    }

    fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let cas = self.table.delete(cas)?;
        let mut map = self.map();
        if map.get(&cas.key) != cas.current.as_ref() {
            let current = map.get(&cas.key).cloned();
            drop(map);
            let again = self.table.push(Cas { current, ..cas })?;
            return Ok(Err(atomics::CasError::CasFailed(again)));
        }
        map.insert(cas.key, value);
        Ok(Ok(()))
    }
}

impl atomics::HostCas for State {
    fn new(
        &mut self,
        _: Resource<Label>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, wasi_store::Error>> {
        let current = self.map().get(&key).cloned();
        Ok(Ok(self.table.push(Cas { key, current })?))
    }

    fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}
