//! deces-edge: a small Spin-compatible runtime that serves the application's
//! WebAssembly components on one machine.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod app;
mod bindings;
/// The commands beside `up`: `import` and `sample`.
mod cli;
/// Spin's interfaces, one module per imported family, as Spin's factor crates split them.
mod interfaces;
mod manifest;
mod metrics;
/// The HTTP server: connections, limits, scheduling of instances, the access log.
mod serve;
mod state;
mod store;

use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: deces-edge up|import|sample ...; deces-edge up [--manifest spin.toml] [--listen 127.0.0.1:3000] \
[--runtime-config-file FILE] [--max-body-bytes N] [--max-header-bytes N] [--header-timeout-ms N] \
[--body-timeout-ms N] [--request-timeout-ms N] [--lingering-time-ms N] [--lingering-timeout-ms N] \
[--lingering-max-bytes N] [--workers N] [--busy-poll-us N] [--log-format text|json] \
[--metrics-listen ADDR]";

struct UpArgs {
    options: app::AppOptions,
    /// Where the Prometheus metrics are served, if anywhere.
    metrics: Option<SocketAddr>,
    workers: serve::Workers,
    listen: SocketAddr,
    limits: serve::Limits,
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
    let mut limits = serve::Limits::default();
    let mut workers = serve::Workers::default();
    let mut metrics = None;
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
            "--max-header-bytes" => {
                let v = value()?;
                limits.max_header_bytes = v
                    .parse()
                    .with_context(|| format!("invalid --max-header-bytes `{v}`"))?;
            }
            "--header-timeout-ms" => limits.header_timeout = millis(name, &value()?)?,
            "--body-timeout-ms" => limits.body_timeout = millis(name, &value()?)?,
            "--request-timeout-ms" => limits.request_timeout = millis(name, &value()?)?,
            "--lingering-time-ms" => limits.linger.time = millis(name, &value()?)?,
            "--lingering-timeout-ms" => limits.linger.idle = millis(name, &value()?)?,
            "--lingering-max-bytes" => {
                let v = value()?;
                limits.linger.max_bytes = v
                    .parse()
                    .with_context(|| format!("invalid --lingering-max-bytes `{v}`"))?;
            }
            "--workers" => {
                let v = value()?;
                workers.count = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("invalid --workers `{v}`"))?;
            }
            "--busy-poll-us" => {
                let v = value()?;
                let us: u64 = v
                    .parse()
                    .ok()
                    .filter(|n| *n <= 1_000_000)
                    .with_context(|| format!("invalid --busy-poll-us `{v}` (0 to 1000000)"))?;
                workers.busy_poll = Duration::from_micros(us);
            }
            "--metrics-listen" => {
                let v = value()?;
                metrics = Some(
                    v.parse()
                        .with_context(|| format!("invalid --metrics-listen `{v}`"))?,
                );
            }
            "--log-format" => {
                let v = value()?;
                let format = serve::access_log::Format::parse(&v)
                    .with_context(|| format!("invalid --log-format `{v}` (text or json)"))?;
                serve::access_log::set_format(format);
            }
            other => bail!("unknown option `{other}`; {USAGE}"),
        }
    }
    Ok(UpArgs {
        options: app::AppOptions {
            manifest,
            runtime_config,
        },
        metrics,
        listen,
        limits,
        workers,
    })
}

/// A duration flag in milliseconds (at least 10 ms).
fn millis(flag: &str, v: &str) -> Result<Duration> {
    let ms: u64 = v.parse().with_context(|| format!("invalid {flag} `{v}`"))?;
    Ok(Duration::from_millis(ms.max(10)))
}

fn up(args: UpArgs) -> Result<()> {
    // A small runtime for start-up, signals and the Redis connections' drivers;
    // requests are served by the worker threads of `serve::serve`.
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("background")
        .enable_all()
        .build()?;
    let app = background.block_on(app::App::load(&args.options))?;
    let engine = app.engine.clone();
    std::thread::Builder::new()
        .name("epoch".into())
        .spawn(move || loop {
            std::thread::sleep(app::EPOCH_TICK);
            engine.increment_epoch();
        })?;
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    if let Some(addr) = args.metrics {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        listener.set_nonblocking(true)?;
        let listener =
            background.block_on(async { tokio::net::TcpListener::from_std(listener) })?;
        background.spawn(metrics::serve(listener));
        eprintln!("deces-edge: metrics on http://{addr}/metrics");
    }
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    background.spawn(async move {
        if let Err(e) = serve::shutdown_signal().await {
            eprintln!("deces-edge: cannot watch signals: {e}");
            return;
        }
        eprintln!("deces-edge: shutting down, finishing in-flight requests");
        let _ = stop.send(true);
    });
    eprintln!(
        "deces-edge: serving `{}` ({} components) on http://{}",
        app.name,
        app.components.len(),
        listener.local_addr()?
    );
    serve::serve(app, listener, args.limits, args.workers, shutdown)
}

/// `deces-edge sample --records N [--seed S] [--out FILE]`.
fn sample_command(args: &[String]) -> Result<()> {
    let (mut records, mut seed, mut out) = (None, 1u64, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| anyhow!("{flag} needs a value; {}", cli::sample::USAGE))?;
        match flag.as_str() {
            "--records" => {
                records = Some(
                    value
                        .parse::<u64>()
                        .with_context(|| format!("invalid --records `{value}`"))?,
                )
            }
            "--seed" => {
                seed = value
                    .parse()
                    .with_context(|| format!("invalid --seed `{value}`"))?
            }
            "--out" => out = Some(PathBuf::from(value)),
            other => bail!("unknown option `{other}`; {}", cli::sample::USAGE),
        }
    }
    let records = records.ok_or_else(|| anyhow!("{}", cli::sample::USAGE))?;
    match out {
        Some(path) => {
            let mut file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            cli::sample::write(records, seed, &mut file)
        }
        None => cli::sample::write(records, seed, &mut std::io::stdout().lock()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("import") => cli::import::parse_args(&args[1..]).and_then(cli::import::run),
        Some("sample") => sample_command(&args[1..]),
        Some("links") => {
            cli::data::parse_args(cli::data::Kind::Links, &args[1..]).and_then(cli::data::run)
        }
        Some("communes") => {
            cli::data::parse_args(cli::data::Kind::Communes, &args[1..]).and_then(cli::data::run)
        }
        _ => parse_args(&args).and_then(up),
    };
    if let Err(e) = result {
        eprintln!("deces-edge: error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}
