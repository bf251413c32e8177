//! Test harness for the end-to-end suites: real processes on loopback (the
//! deces-edge host serving built `.wasm` files, a private redis-server), a tiny
//! HTTP/1.1 client, and a keep-alive upstream stub.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod traffic;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: run `make build build-test-components` first (make test does)",
        path.display()
    );
    path
}

/// The host binary, built by `make build`.
pub fn host_bin() -> PathBuf {
    built(target_dir().join("release").join("deces-edge"))
}

/// Runs a `deces-edge` command (`import`, `links`, `communes`) on the repository's
/// manifest and the given runtime config; it must succeed.
pub fn deces_edge(command: &str, rc: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = std::process::Command::new(host_bin())
        .arg(command)
        .arg("--manifest")
        .arg(root().join("spin.toml"))
        .arg("--runtime-config-file")
        .arg(rc)
        .args(args)
        .output()
        .expect("deces-edge runs");
    assert!(
        out.status.success(),
        "deces-edge {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A built component, e.g. `wasm("probe")`.
pub fn wasm(name: &str) -> PathBuf {
    built(
        target_dir()
            .join("wasm32-wasip2")
            .join("wasm")
            .join(format!("{}.wasm", name.replace('-', "_"))),
    )
}

/// A port nobody listens on right now (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port")
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "deces-edge-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early ({status})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on port {port} within 60 s");
}

/// The line a host writes once it listens.
const SERVING: &str = "deces-edge: serving ";

fn serving_lines(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(SERVING)
        .count()
}

/// Waits until the host just spawned says it listens (its log holds more than `before`
/// serving lines), so that another process on the same port is never taken for it. False
/// when it exited because the port was taken; a panic when it failed otherwise.
fn wait_for_host(child: &mut Child, log: &Path, before: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if serving_lines(log) > before {
            return true;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("cannot listen on") {
                return false;
            }
            panic!("deces-edge exited early ({status}): {text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("deces-edge did not start within 60 s");
}

/// A private redis-server on a free loopback port (without persistence unless asked);
/// stopped on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
    persistence: Vec<String>,
}

impl Redis {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, vec!["--appendonly".into(), "no".into()])
    }

    /// A Redis that writes every command to an append-only file in `dir` before answering
    /// (`appendfsync always`), as the deployment's Redis does: a restart loses nothing.
    pub fn start_persistent(dir: &Path) -> Self {
        let dir = dir.to_string_lossy().into_owned();
        let persistence = [
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            &dir,
        ];
        Self::spawn(
            free_port(),
            persistence.iter().map(|s| s.to_string()).collect(),
        )
    }

    fn spawn(port: u16, persistence: Vec<String>) -> Self {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--protected-mode", "no"])
            .args(&persistence)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run `make setup` (make test does)");
        wait_for_port(port, &mut child, "redis-server");
        Redis {
            child,
            port,
            persistence,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runtime config sending the default store (and an `other` store) to this Redis.
    pub fn runtime_config(&self) -> String {
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{0}\"\n\n\
             [key_value_store.other]\ntype = \"redis\"\nurl = \"{0}/1\"\n",
            self.url()
        )
    }

    /// kill -9 (a crash: whatever is not on disk is gone).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same port with the same persistence.
    pub fn restart(&mut self) {
        self.stop();
        *self = Self::spawn(self.port, std::mem::take(&mut self.persistence));
    }

    /// SIGSTOP: the server hangs with its connections open (a partition, not a refusal).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let _ = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status();
    }

    /// One command over RESP; integers and bulk strings come back as text, arrays as their
    /// items joined by newlines, nil as `None`.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.write_all(out.as_bytes()).expect("send to redis");
        let mut reader = BufReader::new(stream);
        read_resp(&mut reader)
    }
}

fn read_resp(reader: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read from redis");
    let (kind, rest) = line.trim_end().split_at(1);
    match kind {
        "+" | ":" => Some(rest.to_string()),
        "-" => panic!("redis error: {rest}"),
        "$" => {
            let len: i64 = rest.parse().expect("bulk length");
            if len < 0 {
                return None;
            }
            let mut data = vec![0; len as usize + 2];
            reader.read_exact(&mut data).expect("bulk data");
            data.truncate(len as usize);
            Some(String::from_utf8_lossy(&data).into_owned())
        }
        "*" => {
            let n: i64 = rest.parse().expect("array length");
            let items: Vec<String> = (0..n.max(0)).filter_map(|_| read_resp(reader)).collect();
            Some(items.join("\n"))
        }
        other => panic!("unexpected redis reply {other}{rest}"),
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How to start one host process.
#[derive(Clone, Default)]
pub struct HostConfig {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub port: Option<u16>,
}

/// A running deces-edge host; killed on drop.
pub struct Host {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    config: HostConfig,
}

fn host_command(config: &HostConfig, port: u16, log: &Path) -> Command {
    let mut cmd = Command::new(host_bin());
    cmd.arg("up")
        .arg("--manifest")
        .arg(&config.manifest)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"));
    if let Some(rc) = &config.runtime_config {
        cmd.arg("--runtime-config-file").arg(rc);
    }
    cmd.args(&config.args);
    // Suites that are not about rate limits run with them off; a test about limits sets the
    // variables it needs (its `env` comes after these and wins).
    for family in ["SEARCH", "AGG", "ACCOUNTS", "OTHER", "BULK"] {
        for which in ["PER_CLIENT", "GLOBAL"] {
            cmd.env(format!("SPIN_VARIABLE_{family}_RATE_{which}"), "0");
        }
    }
    cmd.env("SPIN_VARIABLE_ANONYMOUS_QUOTA_MAX", "0");
    for (k, v) in &config.env {
        cmd.env(k, v);
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open host log");
    cmd.stdout(out.try_clone().expect("clone log handle"))
        .stderr(out)
        .stdin(Stdio::null());
    cmd
}

impl Host {
    pub fn start(config: HostConfig) -> Self {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        // A port found free may be taken by another test's process before the host binds
        // it: that host then exits, and the start is tried again on another port.
        for _ in 0..5 {
            let port = config.port.unwrap_or_else(free_port);
            let log = std::env::temp_dir().join(format!(
                "deces-edge-host-{}-{port}-{}.log",
                std::process::id(),
                STARTS.fetch_add(1, Ordering::Relaxed)
            ));
            let mut child = host_command(&config, port, &log)
                .spawn()
                .expect("spawn host");
            if wait_for_host(&mut child, &log, 0) {
                return Host {
                    child,
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    log,
                    config,
                };
            }
            assert!(config.port.is_none(), "port {port} is taken");
        }
        panic!("deces-edge found no free port in 5 tries");
    }

    /// kill -9 then start again on the same port with the same configuration.
    pub fn kill_and_restart(&mut self) {
        self.kill9();
        self.respawn();
    }

    /// Starts again (after `kill9`) on the same port with the same configuration.
    pub fn respawn(&mut self) {
        let before = serving_lines(&self.log);
        let mut child = host_command(&self.config, self.addr.port(), &self.log)
            .spawn()
            .expect("respawn host");
        assert!(
            wait_for_host(&mut child, &self.log, before),
            "port {} was taken while the host was down",
            self.addr.port()
        );
        self.child = child;
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "host ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it holds `needle` (request lines are written when a worker
    /// goes idle, just after the answer); the log as it is after 5 s otherwise.
    pub fn log_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log_text();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[], b"")
    }

    /// CPU time the host process has used so far (user and system), in clock ticks.
    /// How many of the host's worker threads are runnable (state `R`) right now: a worker
    /// that polls its sockets is runnable whether or not the machine lets it run, one that
    /// sleeps in `epoll_wait` is not.
    pub fn runnable_workers(&self) -> usize {
        let tasks = format!("/proc/{}/task", self.child.id());
        let Ok(entries) = std::fs::read_dir(&tasks) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|task| {
                let path = task.path();
                let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
                let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
                let state = stat
                    .rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().next());
                comm.starts_with("worker-") && state == Some("R")
            })
            .count()
    }

    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("host process stat");
        // The command name (field 2) may hold spaces: count fields after its `)`.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..]
            .split(' ')
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Runs the host and expects it to exit (a start-up failure); returns (success, stderr+stdout).
pub fn host_fails(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(host_bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run host");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.success(), text)
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"))
}

/// Like [`request`], but a refused or broken connection is an error, not a panic (for
/// clients that retry on another replica).
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    // A server may answer (413) and close before the whole body is sent: like curl,
    // read its answer before reporting the failed write.
    match (sent, read_reply(&mut BufReader::new(stream))) {
        (_, Ok(reply)) => Ok(reply),
        (Err(e), Err(_)) | (Ok(()), Err(e)) => Err(e),
    }
}

/// Reads one HTTP/1.1 response (Content-Length, chunked, or until close).
pub fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// One request an upstream stub received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON, `None` when empty.
    pub fn json(&self) -> Option<serde_json::Value> {
        if self.body.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&self.body).expect("a JSON request body"))
        }
    }
}

/// What a stub answers: status, content type, extra headers, body.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

type Answer = dyn Fn(&Recorded) -> Canned + Send + Sync;

/// A keep-alive HTTP/1.1 stub on a free loopback port: records every request,
/// counts connections, and answers through a closure (optionally after a delay).
pub struct StubServer {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    recorded: Arc<std::sync::Mutex<Vec<Recorded>>>,
    delay_ms: Arc<AtomicUsize>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl StubServer {
    pub fn start(answer: impl Fn(&Recorded) -> Canned + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let port = listener.local_addr().expect("addr").port();
        let stub = StubServer {
            port,
            connections: Arc::new(AtomicUsize::new(0)),
            requests: Arc::new(AtomicUsize::new(0)),
            recorded: Arc::new(std::sync::Mutex::new(Vec::new())),
            delay_ms: Arc::new(AtomicUsize::new(0)),
            down: Arc::default(),
        };
        let answer: Arc<Answer> = Arc::new(answer);
        let (connections, requests, recorded, delay, down) = (
            stub.connections.clone(),
            stub.requests.clone(),
            stub.recorded.clone(),
            stub.delay_ms.clone(),
            stub.down.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if down.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes without an answer
                }
                connections.fetch_add(1, Ordering::SeqCst);
                let (answer, requests, recorded, delay, down) = (
                    answer.clone(),
                    requests.clone(),
                    recorded.clone(),
                    delay.clone(),
                    down.clone(),
                );
                std::thread::spawn(move || {
                    serve_stub(stream, &*answer, &requests, &recorded, &delay, &down)
                });
            }
        });
        stub
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request received so far, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("stub lock").clone()
    }

    /// While down, every connection is closed without an answer (a crashed upstream).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Delays every following answer (a slow upstream).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as usize, Ordering::SeqCst);
    }
}

/// Reads one request head and body; `None` when the peer closed the connection.
fn read_request(reader: &mut impl BufRead) -> Option<Recorded> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let h = header.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Recorded {
        method,
        path,
        query,
        body,
    })
}

fn serve_stub(
    stream: TcpStream,
    answer: &Answer,
    requests: &AtomicUsize,
    recorded: &std::sync::Mutex<Vec<Recorded>>,
    delay_ms: &AtomicUsize,
    down: &std::sync::atomic::AtomicBool,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        if down.load(Ordering::SeqCst) {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let canned = answer(&request);
        recorded.lock().expect("stub lock").push(request);
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay as u64));
        }
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            canned.status,
            canned.content_type,
            canned.body.len()
        );
        for (k, v) in &canned.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&canned.body).is_err() {
            return;
        }
    }
}

/// A plain upstream answering every request with the same text.
pub struct Upstream {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    _stub: StubServer,
}

impl Upstream {
    pub fn start(body: &'static str) -> Self {
        let stub = StubServer::start(move |_| Canned {
            status: 200,
            content_type: "text/plain",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        });
        Upstream {
            port: stub.port,
            connections: stub.connections.clone(),
            requests: stub.requests.clone(),
            _stub: stub,
        }
    }
}

/// A recording Elasticsearch stand-in. Scripted `(status, JSON)` answers (a golden's
/// `es_fixture`) are served first, in order; with none left it serves the fixture records
/// itself: `_search` pages through them in file order (it does not evaluate queries: that is
/// what the goldens are for; aggregations come back without buckets), `_search/scroll` continues, `_count` and `_cat/indices` answer,
/// always with the `x-elastic-product: Elasticsearch` header a real cluster sends.
pub struct EsStub {
    pub server: StubServer,
    script: Arc<std::sync::Mutex<std::collections::VecDeque<(u16, serde_json::Value)>>>,
}

/// The synthetic records the goldens were captured with.
pub fn fixture_records() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(root().join("tests/data/goldens/fixtures/records.json"))
        .expect("fixture records are in the repository");
    serde_json::from_str(&text).expect("records.json is a JSON array")
}

impl EsStub {
    /// A stub serving the golden fixture records.
    pub fn start() -> Self {
        Self::serving(fixture_records())
    }

    pub fn serving(records: Vec<serde_json::Value>) -> Self {
        let script: Arc<std::sync::Mutex<std::collections::VecDeque<(u16, serde_json::Value)>>> =
            Arc::default();
        let next = script.clone();
        let records = Arc::new(records);
        let server = StubServer::start(move |req| {
            let scripted = next.lock().expect("script lock").pop_front();
            let (status, body) = scripted.unwrap_or_else(|| serve_records(&records, req));
            Canned {
                status,
                content_type: "application/json",
                headers: vec![("x-elastic-product".into(), "Elasticsearch".into())],
                body: body.to_string().into_bytes(),
            }
        });
        EsStub { server, script }
    }

    /// Queues answers for the next requests, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = (u16, serde_json::Value)>) {
        self.script.lock().expect("script lock").extend(answers);
    }

    /// Drops the scripted answers not used yet.
    pub fn clear_script(&self) {
        self.script.lock().expect("script lock").clear();
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.server.recorded()
    }
}

/// The fixture-records side of the stub.
fn serve_records(records: &[serde_json::Value], req: &Recorded) -> (u16, serde_json::Value) {
    use serde_json::json;
    let page = |from: usize, size: usize, scroll: bool| {
        let hits: Vec<serde_json::Value> = records
            .iter()
            .skip(from)
            .take(size)
            .map(|r| json!({"_index": "deces", "_id": r["UID"], "_score": 1.0, "_source": r}))
            .collect();
        let mut answer = json!({
            "took": 1,
            "timed_out": false,
            "hits": {"total": {"value": records.len(), "relation": "eq"}, "max_score": 1.0, "hits": hits},
        });
        if scroll {
            answer["_scroll_id"] = json!(format!("fixture:{}:{size}", from + size));
        }
        (200, answer)
    };
    let body = req.json().unwrap_or(serde_json::Value::Null);
    if req.path.ends_with("/_count") {
        (200, json!({"count": records.len()}))
    } else if req.path.starts_with("/_cat/indices/") {
        (
            200,
            json!([{"creation.date.string": "2024-03-05T09:12:44.311Z"}]),
        )
    } else if req.path == "/_search/scroll" {
        let id = body["scroll_id"].as_str().unwrap_or_default();
        let mut parts = id.strip_prefix("fixture:").unwrap_or("x").split(':');
        match (
            parts.next().and_then(|n| n.parse().ok()),
            parts.next().and_then(|n| n.parse().ok()),
        ) {
            (Some(from), Some(size)) => page(from, size, true),
            _ => (
                400,
                json!({"error": {"type": "illegal_argument_exception", "reason": "Cannot parse scroll id"}, "status": 400}),
            ),
        }
    } else if req.path.ends_with("/_search") {
        let size = body["size"].as_u64().unwrap_or(10) as usize;
        let from = body["from"].as_u64().unwrap_or(0) as usize;
        let (status, mut answer) = page(from, size, req.query.contains("scroll="));
        // Aggregations (/agg) answer with no bucket, in the shape asked for.
        if let Some(aggs) = body["aggs"].as_object() {
            let empty: serde_json::Map<String, serde_json::Value> = aggs
                .iter()
                .map(|(name, agg)| {
                    let value = if agg.get("cardinality").is_some() {
                        json!({"value": 0})
                    } else {
                        json!({"buckets": []})
                    };
                    (name.clone(), value)
                })
                .collect();
            answer["aggregations"] = serde_json::Value::Object(empty);
        }
        (status, answer)
    } else {
        (404, json!({"error": "no handler", "status": 404}))
    }
}

/// Runtime config keeping the default store in `kv.db` inside `dir`.
pub fn sqlite_runtime_config(dir: &TempDir) -> PathBuf {
    dir.write(
        "rc.toml",
        "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n\n\
         [sqlite_database.default]\ntype = \"spin\"\npath = \"search.db\"\n",
    )
}

/// The real application (`spin.toml` and the built components) on one host, with a runtime
/// config and variables as `(SPIN_VARIABLE_NAME, value)` pairs (a later pair wins).
pub fn app_host(runtime_config: PathBuf, vars: &[(&str, &str)]) -> Host {
    Host::start(app_config(runtime_config, vars))
}

/// The configuration [`app_host`] starts, for suites that start several replicas.
pub fn app_config(runtime_config: PathBuf, vars: &[(&str, &str)]) -> HostConfig {
    HostConfig {
        manifest: root().join("spin.toml"),
        runtime_config: Some(runtime_config),
        env: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// An `Authorization` value: a token for `user` with `scopes`, valid `ttl` seconds from now.
pub fn bearer(secret: &str, user: &str, scopes: &[&str], ttl: i64) -> String {
    let claims = edge_core::token::Claims {
        user: user.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        iat: now(),
        exp: now().saturating_add_signed(ttl),
        jti: Some(now().to_string()),
    };
    format!(
        "Bearer {}",
        edge_core::token::sign(&claims, secret.as_bytes())
    )
}

/// POST a JSON body.
pub fn try_post_json(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
) -> std::io::Result<Reply> {
    try_request(
        addr,
        "POST",
        path,
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
}

pub fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Reply {
    try_post_json(addr, path, body).unwrap_or_else(|e| panic!("POST {path} on {addr}: {e}"))
}

/// The accounts routes, as a client drives them.
pub mod accounts {
    use super::*;
    use serde_json::{json, Value};

    pub const REGISTER: &str = "/deces/api/v1/register";
    pub const AUTH: &str = "/deces/api/v1/auth";

    pub fn register(addr: SocketAddr, user: &str) -> std::io::Result<Reply> {
        try_post_json(addr, REGISTER, &json!({ "user": user }))
    }

    pub fn login(addr: SocketAddr, user: &str, password: &str) -> std::io::Result<Reply> {
        try_post_json(addr, AUTH, &json!({ "user": user, "password": password }))
    }

    /// The latest mail to `user` in the development outbox (`dev_routes` on).
    pub fn outbox(addr: SocketAddr, user: &str) -> std::io::Result<Option<Value>> {
        let reply = try_request(
            addr,
            "GET",
            &format!("/deces/api/v1/dev/outbox?user={user}"),
            &[],
            b"",
        )?;
        Ok((reply.status == 200).then(|| reply.json()))
    }

    /// The code in the latest mail to `user`.
    pub fn code(addr: SocketAddr, user: &str) -> std::io::Result<Option<String>> {
        Ok(outbox(addr, user)?.and_then(|mail| code_in(&mail)))
    }

    /// The code in an outbox mail (`{"to","subject","body"}`).
    pub fn code_in(mail: &Value) -> Option<String> {
        let body = mail["body"].as_str()?;
        let at = body.find(": ")? + 2;
        body.get(at..at + 6).map(str::to_string)
    }
}

/// Sends `bytes` as they are on a fresh connection and reads one answer (for requests a
/// well-behaved client would never send).
pub fn raw_request(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(bytes)?;
    read_reply(&mut BufReader::new(stream))
}

/// Asserts an error answer as security.md wants it: the status, a JSON body with a `msg`
/// or `message` text, and nothing internal (no panic text, no stack, no address).
pub fn assert_json_error(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    let body: serde_json::Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {}", reply.text()));
    // A text, or a list of texts (the original's validation errors).
    let message = [&body["msg"], &body["message"]]
        .into_iter()
        .flat_map(|m| match m {
            serde_json::Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .any(|m| m.as_str().is_some_and(|m| !m.is_empty()));
    assert!(message, "{what}: no msg or message: {body}");
    let text = reply.text().to_ascii_lowercase();
    for leak in ["panicked", "backtrace", "127.0.0.1", "src/", ".rs:"] {
        assert!(!text.contains(leak), "{what}: leaks `{leak}`: {text}");
    }
}
