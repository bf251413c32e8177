//! The Spin application manifest (version 2) and the Spin runtime config file.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

// Every field real Spin accepts is parsed, so that a manifest Spin would refuse is
// refused here too, even where this runtime has no use for the value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, AppVariable>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub trigger: Option<toml::Value>,
}

#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: Route,
    pub component: String,
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Route {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    pub build: Option<Build>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .map_err(|e| anyhow!("invalid manifest {}: {}", path.display(), e.message()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        if self.spin_manifest_version != 2 {
            bail!(
                "unsupported spin_manifest_version {} (expected 2)",
                self.spin_manifest_version
            );
        }
        for (name, var) in &self.variables {
            check_variable_name(name)?;
            if var.default.is_none() && !var.required {
                bail!("variable `{name}` must have a default or be required");
            }
            if var.default.is_some() && var.required {
                bail!("variable `{name}` cannot both have a default and be required");
            }
        }
        for (name, component) in &self.component {
            for var in component.variables.keys() {
                check_variable_name(var).with_context(|| format!("in component `{name}`"))?;
            }
            if !component.files.is_empty() {
                bail!("component `{name}`: `files` is not supported by this runtime");
            }
            if component.source.is_empty() {
                bail!("component `{name}` has an empty source");
            }
        }
        let mut seen = HashMap::new();
        for trigger in &self.trigger.http {
            if !self.component.contains_key(&trigger.component) {
                bail!(
                    "trigger references unknown component `{}`",
                    trigger.component
                );
            }
            match &trigger.route {
                Route::Path(route) => {
                    if !route.starts_with('/') {
                        bail!("route `{route}` must start with `/`");
                    }
                    if let Some(other) = seen.insert(route.clone(), trigger.component.clone()) {
                        bail!(
                            "route `{route}` is declared twice (components `{other}` and `{}`)",
                            trigger.component
                        );
                    }
                }
                Route::Private { private } => {
                    if !private {
                        bail!("a route table must be `{{ private = true }}`");
                    }
                }
            }
        }
        if self.trigger.http.is_empty() {
            bail!("the manifest declares no [[trigger.http]]");
        }
        Ok(())
    }
}

/// Spin's rule: lowercase ASCII letters, digits and underscores, starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && !name.ends_with('_')
        && !name.contains("__");
    if ok {
        Ok(())
    } else {
        bail!("invalid variable name `{name}`")
    }
}

/// A key-value store backend chosen by the runtime config.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    Sqlite { path: PathBuf },
    Redis { url: String },
}

#[derive(Debug, Deserialize)]
struct RuntimeConfigFile {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreEntry>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, DatabaseEntry>,
}

/// A `[sqlite_database.<label>]` table. Spin also knows `type = "libsql"` (a remote
/// database), which this runtime does not serve.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum DatabaseEntry {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
}

/// Where a SQLite database lives.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseConfig {
    File(PathBuf),
    /// `type = "spin"` without a path: in memory, gone when the runtime stops (as Spin).
    Memory,
}

fn read_runtime_config(file: &Path) -> Result<RuntimeConfigFile> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read runtime config {}", file.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow!("invalid runtime config {}: {}", file.display(), e.message()))
}

/// A path from the runtime config: relative ones are relative to the file's folder.
fn config_path(file: &Path, path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        file.parent().unwrap_or(Path::new(".")).join(path)
    }
}

/// SQLite database labels and where they live, as Spin reads them: `default` is
/// `.spin/sqlite_db.db` beside the manifest unless the runtime config says otherwise.
/// The folder relative paths of a manifest are resolved from (`.` for a bare file name).
pub fn app_dir(manifest: &Path) -> PathBuf {
    match manifest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn database_configs(
    app_dir: &Path,
    runtime_config: Option<&Path>,
) -> Result<BTreeMap<String, DatabaseConfig>> {
    let mut databases = BTreeMap::new();
    databases.insert(
        "default".to_string(),
        DatabaseConfig::File(app_dir.join(".spin").join("sqlite_db.db")),
    );
    let Some(file) = runtime_config else {
        return Ok(databases);
    };
    for (label, entry) in read_runtime_config(file)?.sqlite_database {
        let DatabaseEntry::Spin { path } = entry;
        let config = match path {
            Some(p) => DatabaseConfig::File(config_path(file, p)),
            None => DatabaseConfig::Memory,
        };
        databases.insert(label, config);
    }
    Ok(databases)
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StoreEntry {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    Redis {
        url: String,
    },
}

/// Store labels and their backends. `default` is always present: a SQLite file
/// `.spin/sqlite_key_value.db` beside the manifest unless the runtime config says otherwise.
pub fn store_configs(
    app_dir: &Path,
    runtime_config: Option<&Path>,
) -> Result<BTreeMap<String, StoreConfig>> {
    let mut stores = BTreeMap::new();
    stores.insert(
        "default".to_string(),
        StoreConfig::Sqlite {
            path: app_dir.join(".spin").join("sqlite_key_value.db"),
        },
    );
    let Some(file) = runtime_config else {
        return Ok(stores);
    };
    for (label, entry) in read_runtime_config(file)?.key_value_store {
        let config = match entry {
            StoreEntry::Spin { path } => StoreConfig::Sqlite {
                path: match path {
                    Some(p) => config_path(file, p),
                    None => app_dir.join(".spin").join(format!("{label}.db")),
                },
            },
            StoreEntry::Redis { url } => StoreConfig::Redis { url },
        };
        stores.insert(label, config);
    }
    Ok(stores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        let m: Manifest = toml::from_str(text).map_err(|e| anyhow!(e.message().to_string()))?;
        m.validate()?;
        Ok(m)
    }

    const BASE: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
a = { default = "x" }
[[trigger.http]]
route = "/x/..."
component = "c"
[[trigger.http]]
route = { private = true }
component = "c"
[component.c]
source = "c.wasm"
"#;

    #[test]
    fn accepts_a_valid_manifest() {
        let m = parse(BASE).unwrap();
        assert_eq!(m.trigger.http.len(), 2);
        assert!(matches!(
            m.trigger.http[1].route,
            Route::Private { private: true }
        ));
    }

    #[test]
    fn refuses_unknown_fields_and_bad_references() {
        assert!(parse(&BASE.replace("source =", "sorce =")).is_err());
        assert!(parse(&BASE.replace("component = \"c\"\n[[", "component = \"d\"\n[[")).is_err());
        assert!(
            parse(&BASE.replace("spin_manifest_version = 2", "spin_manifest_version = 1")).is_err()
        );
        assert!(parse(&BASE.replace("a = { default = \"x\" }", "a = {}")).is_err());
        assert!(parse(&BASE.replace("a = {", "A = {")).is_err());
        let dup = format!("{BASE}\n[[trigger.http]]\nroute = \"/x/...\"\ncomponent = \"c\"\n");
        assert!(parse(&dup).is_err());
    }

    #[test]
    fn runtime_config_selects_redis() {
        let dir = std::env::temp_dir().join(format!("rc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("rc.toml");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n[key_value_store.other]\ntype = \"spin\"\npath = \"o.db\"\n",
        )
        .unwrap();
        let stores = store_configs(Path::new("/app"), Some(&file)).unwrap();
        assert_eq!(
            stores["default"],
            StoreConfig::Redis {
                url: "redis://127.0.0.1:1".into()
            }
        );
        assert_eq!(
            stores["other"],
            StoreConfig::Sqlite {
                path: dir.join("o.db")
            }
        );
        let databases = database_configs(Path::new("/app"), Some(&file)).unwrap();
        assert_eq!(
            databases["default"],
            DatabaseConfig::File(PathBuf::from("/app/.spin/sqlite_db.db"))
        );
        std::fs::write(
            &file,
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"data/deces.db\"\n[sqlite_database.scratch]\ntype = \"spin\"\n",
        )
        .unwrap();
        let databases = database_configs(Path::new("/app"), Some(&file)).unwrap();
        assert_eq!(
            databases["default"],
            DatabaseConfig::File(dir.join("data/deces.db"))
        );
        assert_eq!(databases["scratch"], DatabaseConfig::Memory);
        std::fs::write(
            &file,
            "[sqlite_database.x]\ntype = \"libsql\"\nurl = \"u\"\n",
        )
        .unwrap();
        assert!(database_configs(Path::new("/app"), Some(&file)).is_err());
        let none = store_configs(Path::new("/app"), None).unwrap();
        assert_eq!(
            none["default"],
            StoreConfig::Sqlite {
                path: PathBuf::from("/app/.spin/sqlite_key_value.db")
            }
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
