//! Loading an application: manifest, variables, stores, compiled components.

use crate::bindings::EdgeImports;
use crate::interfaces::outbound_http::AllowList;
use crate::interfaces::sqlite::Database;
use crate::interfaces::variables;
use crate::manifest::{self, DatabaseConfig, Manifest, Route, StoreConfig};
use crate::serve::router::{RouteEntry, Router};
use crate::state::{ComponentConfig, RequestState};
use crate::store::Backend;
use anyhow::{anyhow, Context, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// How often the engine's epoch advances; request deadlines count in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Concurrent instances the pooling allocator reserves room for.
pub const MAX_INSTANCES: u32 = 1000;

pub struct LoadedComponent {
    pub config: Arc<ComponentConfig>,
    pub pre: ProxyPre<RequestState>,
}

pub struct App {
    pub name: String,
    pub engine: Engine,
    pub router: Router,
    pub components: Vec<LoadedComponent>,
}

pub struct AppOptions {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
}

fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    if std::env::var_os("DECES_EDGE_PERFMAP").is_some() {
        // Names the guests' compiled functions for `perf` (/tmp/perf-<pid>.map).
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 4)
        .total_memories(MAX_INSTANCES * 2)
        .total_tables(MAX_INSTANCES * 4)
        .total_stacks(MAX_INSTANCES)
        .max_memory_size(256 << 20)
        // Reset recycled memory and table slots in place (only their dirty pages,
        // found with PAGEMAP_SCAN where the kernel has it) instead of unmapping
        // them: page faults and TLB shootdowns otherwise dominate a request's cost.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(1 << 20)
        .pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if let Ok(cache) = wasmtime::Cache::from_file(None) {
        config.cache(Some(cache));
    }
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            // Some sandboxes refuse the large reservations the pool needs.
            eprintln!("pooling allocator unavailable ({e}); using on-demand allocation");
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config).map_err(|e| anyhow!("{e}"))
        }
    }
}

fn linker(engine: &Engine) -> Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    EdgeImports::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

impl App {
    pub async fn load(options: &AppOptions) -> Result<Self> {
        let manifest = Manifest::load(&options.manifest)?;
        let app_dir = crate::manifest::app_dir(&options.manifest);
        let app_vars = variables::resolve_app_variables(&manifest, &|k| std::env::var(k).ok())?;
        let store_configs = manifest::store_configs(&app_dir, options.runtime_config.as_deref())?;
        let stores = open_stores(&manifest, &store_configs).await?;
        let known: HashSet<String> = store_configs.keys().cloned().collect();
        let database_configs =
            manifest::database_configs(&app_dir, options.runtime_config.as_deref())?;
        let databases = open_databases(&manifest, &database_configs)?;

        let engine = engine()?;
        let linker = linker(&engine)?;
        let mut components = Vec::new();
        let mut index = HashMap::new();
        for (id, spec) in &manifest.component {
            let config = component_config(id, spec, &app_vars, &stores, &known, &databases)?;
            let path = app_dir.join(&spec.source);
            if !path.is_file() {
                return Err(anyhow!(
                    "component `{id}`: source {} not found (build it first: make build)",
                    path.display()
                ));
            }
            let component = Component::from_file(&engine, &path)
                .map_err(|e| anyhow!("component `{id}`: cannot load {}: {e}", path.display()))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(|e| anyhow!("component `{id}`: {e}"))?;
            let pre = ProxyPre::new(pre)
                .map_err(|e| anyhow!("component `{id}` is not an HTTP component: {e}"))?;
            index.insert(id.clone(), components.len());
            components.push(LoadedComponent {
                config: Arc::new(config),
                pre,
            });
        }

        let routes = manifest
            .trigger
            .http
            .iter()
            .filter_map(|t| match &t.route {
                Route::Path(route) => Some(RouteEntry::new(route, index[&t.component])),
                Route::Private { .. } => None,
            })
            .collect();

        Ok(App {
            name: manifest.application.name.clone(),
            engine,
            router: Router::new(routes),
            components,
        })
    }
}

async fn open_stores(
    manifest: &Manifest,
    configs: &BTreeMap<String, StoreConfig>,
) -> Result<HashMap<String, Backend>> {
    let mut stores = HashMap::new();
    for (id, component) in &manifest.component {
        for label in &component.key_value_stores {
            if stores.contains_key(label) {
                continue;
            }
            let config = configs.get(label).ok_or_else(|| {
                anyhow!("component `{id}` uses key-value store `{label}`, which no runtime config defines")
            })?;
            let backend = Backend::open(label, config)
                .await
                .with_context(|| format!("key-value store `{label}`"))?;
            stores.insert(label.clone(), backend);
        }
    }
    Ok(stores)
}

/// Opens every SQLite database a component is granted, once; a label no configuration
/// defines stops the start-up, as in Spin.
fn open_databases(
    manifest: &Manifest,
    configs: &BTreeMap<String, DatabaseConfig>,
) -> Result<HashMap<String, Arc<Database>>> {
    let mut databases = HashMap::new();
    for (id, component) in &manifest.component {
        for label in &component.sqlite_databases {
            if databases.contains_key(label) {
                continue;
            }
            let config = configs.get(label).ok_or_else(|| {
                anyhow!("component `{id}` uses SQLite database `{label}`, which no runtime config defines")
            })?;
            let database =
                Database::open(config).with_context(|| format!("SQLite database `{label}`"))?;
            databases.insert(label.clone(), Arc::new(database));
        }
    }
    Ok(databases)
}

fn component_config(
    id: &str,
    spec: &manifest::Component,
    app_vars: &BTreeMap<String, String>,
    stores: &HashMap<String, Backend>,
    known: &HashSet<String>,
    databases: &HashMap<String, Arc<Database>>,
) -> Result<ComponentConfig> {
    let variables = variables::component_variables(&spec.variables, app_vars)
        .with_context(|| format!("component `{id}` variables"))?;
    let hosts = spec
        .allowed_outbound_hosts
        .iter()
        .map(|h| variables::render_template(h, app_vars))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("component `{id}` allowed_outbound_hosts"))?;
    let outbound = AllowList::parse(&hosts)
        .with_context(|| format!("component `{id}` allowed_outbound_hosts"))?;
    Ok(ComponentConfig {
        id: id.to_string(),
        variables,
        stores: spec
            .key_value_stores
            .iter()
            .map(|label| (label.clone(), stores[label].clone()))
            .collect(),
        known_stores: known.clone(),
        databases: spec
            .sqlite_databases
            .iter()
            .map(|label| (label.clone(), databases[label].clone()))
            .collect(),
        outbound: Arc::new(outbound),
        environment: spec
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}
