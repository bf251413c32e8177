//! The search's optional data files, loaded into the key-value store the search component
//! reads (a component instance serves one request: it cannot parse a large file each time).
//! - `deces-edge links FILE`: the Wikidata links file (a JSON array of `{"id": UID,
//!   "wikidata", "wikipedia", "wikimedia", "label"}`, as the original's `WIKIDATA_LINKS`):
//!   `links:<UID>` is a person's links object.
//! - `deces-edge communes FILE`: the communes dictionary of the matching score (a GeoJSON
//!   FeatureCollection with `nom`, `insee`, `surf_ha`, as the original's `COMMUNES_JSON`):
//!   `commune:<normalised name>` is `{code, latitude, longitude, surface}`.
//!
//! `<kind>:loaded` says how many were loaded: its absence spares searches the lookups.

use crate::manifest;
use crate::store::Backend;
use anyhow::{anyhow, bail, Context, Result};
use edge_core::score::place::Communes;
use serde_json::{Map, Value};
use std::path::PathBuf;

pub const USAGE: &str = "usage: deces-edge links|communes [--manifest spin.toml] \
[--runtime-config-file FILE] [--store default] FILE";

/// Which data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Links,
    Communes,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Links => "links",
            Kind::Communes => "commune",
        }
    }
}

pub struct DataArgs {
    kind: Kind,
    manifest: PathBuf,
    runtime_config: Option<PathBuf>,
    store: String,
    file: PathBuf,
}

pub fn parse_args(kind: Kind, args: &[String]) -> Result<DataArgs> {
    let (mut manifest, mut runtime_config, mut store, mut file) = (
        PathBuf::from("spin.toml"),
        None,
        "default".to_string(),
        None,
    );
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| anyhow!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--manifest" | "-f" => manifest = PathBuf::from(value()?),
            "--runtime-config-file" => runtime_config = Some(PathBuf::from(value()?)),
            "--store" => store = value()?,
            flag if flag.starts_with("--") => bail!("unknown option `{flag}`; {USAGE}"),
            path if file.is_none() => file = Some(PathBuf::from(path)),
            _ => bail!("one file only; {USAGE}"),
        }
    }
    let file = file.ok_or_else(|| anyhow!("no file; {USAGE}"))?;
    Ok(DataArgs {
        kind,
        manifest,
        runtime_config,
        store,
        file,
    })
}

/// Each entry's links, keyed by its id; an entry without an id is an error of the file.
pub fn entries(text: &str) -> Result<Vec<(String, Map<String, Value>)>> {
    let list: Vec<Map<String, Value>> =
        serde_json::from_str(text).context("the links file is not a JSON array of objects")?;
    list.into_iter()
        .enumerate()
        .map(|(i, entry)| match entry.get("id") {
            Some(Value::String(id)) if !id.is_empty() => {
                let id = id.clone();
                // The other keys in the file's order.
                let links = entry.into_iter().filter(|(k, _)| k != "id").collect();
                Ok((id, links))
            }
            _ => bail!("entry {} has no \"id\"", i + 1),
        })
        .collect()
}

/// The key-value pairs a file gives (keys without their kind's prefix).
fn pairs(kind: Kind, text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    match kind {
        Kind::Links => entries(text)?
            .into_iter()
            .map(|(id, links)| Ok((id, serde_json::to_vec(&links)?)))
            .collect(),
        Kind::Communes => Communes::from_geojson(text)
            .map_err(|e| anyhow!("the communes file is not a GeoJSON FeatureCollection: {e}"))?
            .iter()
            .map(|(key, commune)| Ok((key.clone(), serde_json::to_vec(commune)?)))
            .collect(),
    }
}

pub fn run(args: DataArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let pairs = pairs(args.kind, &text)?;
    let app_dir = manifest::app_dir(&args.manifest);
    let configs = manifest::store_configs(&app_dir, args.runtime_config.as_deref())?;
    let config = configs
        .get(&args.store)
        .ok_or_else(|| anyhow!("no key-value store `{}` in the runtime config", args.store))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let prefix = args.kind.prefix();
    runtime.block_on(async {
        let store = Backend::open(&args.store, config).await?;
        let failed = |e: crate::store::StoreError| anyhow!("{}", e.0);
        for (key, value) in &pairs {
            store
                .set(&format!("{prefix}:{key}"), value)
                .await
                .map_err(failed)?;
        }
        store
            .set(
                &format!("{prefix}:loaded"),
                pairs.len().to_string().as_bytes(),
            )
            .await
            .map_err(failed)?;
        eprintln!("deces-edge: {} {prefix} entries loaded", pairs.len());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_links_in_order_and_need_an_id() {
        let e =
            entries(r#"[{"id": "a", "wikidata": "w", "label": "L"}, {"label": "x", "id": "b"}]"#)
                .unwrap();
        assert_eq!(e[0].0, "a");
        assert_eq!(
            serde_json::to_string(&e[0].1).unwrap(),
            r#"{"wikidata":"w","label":"L"}"#
        );
        assert_eq!(e[1].0, "b");
        let err = entries(r#"[{"id": "a"}, {"label": "no id"}]"#).unwrap_err();
        assert!(err.to_string().contains("entry 2"), "{err}");
        assert!(entries("{}").is_err());
    }
}
