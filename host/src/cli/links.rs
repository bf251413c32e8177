//! `deces-edge links FILE`: loads the Wikidata links file (a JSON array of `{"id": UID,
//! "wikidata", "wikipedia", "wikimedia", "label"}`, as the original's `WIKIDATA_LINKS`)
//! into the key-value store the search component reads: `links:<UID>` is a person's links
//! object, `links:loaded` how many were loaded (its absence spares searches the lookups).

use crate::manifest;
use crate::store::Backend;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};
use std::path::PathBuf;

pub const USAGE: &str =
    "usage: deces-edge links [--manifest spin.toml] [--runtime-config-file FILE] [--store default] FILE";

pub struct LinksArgs {
    manifest: PathBuf,
    runtime_config: Option<PathBuf>,
    store: String,
    file: PathBuf,
}

pub fn parse_args(args: &[String]) -> Result<LinksArgs> {
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
    let file = file.ok_or_else(|| anyhow!("no links file; {USAGE}"))?;
    Ok(LinksArgs {
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

pub fn run(args: LinksArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let entries = entries(&text)?;
    let app_dir = manifest::app_dir(&args.manifest);
    let configs = manifest::store_configs(&app_dir, args.runtime_config.as_deref())?;
    let config = configs
        .get(&args.store)
        .ok_or_else(|| anyhow!("no key-value store `{}` in the runtime config", args.store))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Backend::open(&args.store, config).await?;
        for (id, links) in &entries {
            let value = serde_json::to_vec(links)?;
            store
                .set(&format!("links:{id}"), &value)
                .await
                .map_err(|e| anyhow!("{}", e.0))?;
        }
        store
            .set("links:loaded", entries.len().to_string().as_bytes())
            .await
            .map_err(|e| anyhow!("{}", e.0))?;
        eprintln!("deces-edge: links of {} persons loaded", entries.len());
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
