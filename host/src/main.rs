//! deces-edge: a small Spin-compatible runtime that serves the application's
//! WebAssembly components on one machine.

mod app;
mod bindings;
mod key_value;
mod manifest;
mod outbound_http;
mod router;
mod server;
mod state;
mod store;
mod variables;
mod wasi_keyvalue;

use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: deces-edge up [--manifest spin.toml] [--listen 127.0.0.1:3000] \
[--runtime-config-file FILE] [--max-body-bytes N] [--request-timeout-ms N]";

struct UpArgs {
    options: app::AppOptions,
    listen: SocketAddr,
    limits: server::Limits,
}

fn parse_args(args: &[String]) -> Result<UpArgs> {
    match args.first().map(String::as_str) {
        Some("up") => {}
        Some("-h" | "--help") | None => bail!("{USAGE}"),
        Some(other) => bail!("unknown command `{other}`; {USAGE}"),
    }
    let mut manifest = PathBuf::from("spin.toml");
    let mut runtime_config = None;
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut limits = server::Limits::default();
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| anyhow!("{name} needs a value"))
        };
        match name {
            "--manifest" | "-f" => manifest = PathBuf::from(value()?),
            "--listen" => {
                let v = value()?;
                listen = v
                    .parse()
                    .with_context(|| format!("invalid --listen `{v}`"))?;
            }
            "--runtime-config-file" => {
                let v = value()?;
                if !v.is_empty() {
                    runtime_config = Some(PathBuf::from(v));
                }
            }
            "--max-body-bytes" => {
                let v = value()?;
                limits.max_body_bytes = v
                    .parse()
                    .with_context(|| format!("invalid --max-body-bytes `{v}`"))?;
            }
            "--request-timeout-ms" => {
                let v = value()?;
                let ms: u64 = v
                    .parse()
                    .with_context(|| format!("invalid --request-timeout-ms `{v}`"))?;
                limits.request_timeout = Duration::from_millis(ms.max(10));
            }
            other => bail!("unknown option `{other}`; {USAGE}"),
        }
    }
    Ok(UpArgs {
        options: app::AppOptions {
            manifest,
            runtime_config,
        },
        listen,
        limits,
    })
}

async fn up(args: UpArgs) -> Result<()> {
    let app = app::App::load(&args.options).await?;
    let engine = app.engine.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(app::EPOCH_TICK);
        engine.increment_epoch();
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "deces-edge: serving `{}` ({} components) on http://{}",
        app.name,
        app.components.len(),
        listener.local_addr()?
    );
    server::serve(app, listener, args.limits).await
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(|args| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_keep_alive(Duration::from_secs(60))
            .build()?
            .block_on(up(args))
    });
    if let Err(e) = result {
        eprintln!("deces-edge: error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}
