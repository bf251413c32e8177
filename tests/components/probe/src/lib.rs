//! A test component for the host's conformance tests: each route exercises one
//! imported interface and reports what it saw as JSON.

use edge_spin as _;
use serde_json::{json, Value};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::{Error as KvError, Store};
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn reply(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

fn kv_error(e: &KvError) -> Value {
    let kind = match e {
        KvError::StoreTableFull => "store-table-full".to_string(),
        KvError::NoSuchStore => "no-such-store".to_string(),
        KvError::AccessDenied => "access-denied".to_string(),
        KvError::Other(msg) => format!("other: {msg}"),
    };
    json!({ "error": kind })
}

fn wasi_error(e: &wasi_store::Error) -> Value {
    let kind = match e {
        wasi_store::Error::NoSuchStore => "no-such-store".to_string(),
        wasi_store::Error::AccessDenied => "access-denied".to_string(),
        wasi_store::Error::Other(msg) => format!("other: {msg}"),
    };
    json!({ "error": kind })
}

/// `/probe/kv?op=...&store=...&key=...&value=...`: the Spin key-value interface.
fn kv(query: &str) -> Response {
    let label = param(query, "store").unwrap_or("default");
    let key = param(query, "key").unwrap_or("");
    let value = param(query, "value").unwrap_or("");
    let store = match Store::open(label) {
        Ok(s) => s,
        Err(e) => return reply(200, kv_error(&e)),
    };
    let result = match param(query, "op").unwrap_or("get") {
        "get" => store.get(key).map(|v| match v {
            Some(bytes) => json!({ "value": String::from_utf8_lossy(&bytes) }),
            None => json!({ "value": null }),
        }),
        // The stored bytes, to check how a backend encodes counters.
        "raw" => store.get(key).map(|v| {
            let hex: Option<String> =
                v.map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect());
            json!({ "hex": hex })
        }),
        "set" => store
            .set(key, value.as_bytes())
            .map(|()| json!({ "ok": true })),
        "delete" => store.delete(key).map(|()| json!({ "ok": true })),
        "exists" => store.exists(key).map(|b| json!({ "exists": b })),
        "keys" => store.get_keys().map(|mut keys| {
            keys.sort();
            json!({ "keys": keys })
        }),
        other => return reply(400, json!({ "error": format!("unknown op {other}") })),
    };
    match result {
        Ok(v) => reply(200, v),
        Err(e) => reply(200, kv_error(&e)),
    }
}

/// `/probe/atomic?op=incr|cas&store=...&key=...&delta=...`: wasi:keyvalue.
fn atomic(query: &str) -> Response {
    let label = param(query, "store").unwrap_or("default");
    let key = param(query, "key").unwrap_or("");
    let bucket = match wasi_store::open(label) {
        Ok(b) => b,
        Err(e) => return reply(200, wasi_error(&e)),
    };
    match param(query, "op").unwrap_or("incr") {
        "incr" => {
            let delta = param(query, "delta")
                .and_then(|d| d.parse().ok())
                .unwrap_or(1);
            match atomics::increment(&bucket, key, delta) {
                Ok(v) => reply(200, json!({ "value": v })),
                Err(e) => reply(200, wasi_error(&e)),
            }
        }
        "cas" => {
            // Swap in `value` only if the key still holds what was read first.
            let value = param(query, "value").unwrap_or("");
            let cas = match atomics::Cas::new(&bucket, key) {
                Ok(c) => c,
                Err(e) => return reply(200, wasi_error(&e)),
            };
            let seen = cas.current().ok().flatten();
            if let Some(other) = param(query, "interfere") {
                let _ = bucket.set(key, other.as_bytes());
            }
            let seen = seen.map(|b| String::from_utf8_lossy(&b).into_owned());
            match atomics::swap(cas, value.as_bytes()) {
                Ok(()) => reply(200, json!({ "swapped": true, "seen": seen })),
                Err(atomics::CasError::CasFailed(_)) => {
                    reply(200, json!({ "swapped": false, "seen": seen }))
                }
                Err(atomics::CasError::StoreError(e)) => reply(200, wasi_error(&e)),
            }
        }
        "keys" => match bucket.list_keys(None) {
            Ok(resp) => reply(200, json!({ "keys": resp.keys })),
            Err(e) => reply(200, wasi_error(&e)),
        },
        other => reply(400, json!({ "error": format!("unknown op {other}") })),
    }
}

fn variable(query: &str) -> Response {
    let name = param(query, "name").unwrap_or("");
    match spin_sdk::variables::get(name) {
        Ok(v) => reply(200, json!({ "value": v })),
        Err(e) => {
            let kind = match e {
                spin_sdk::variables::Error::InvalidName(_) => "invalid-name",
                spin_sdk::variables::Error::Undefined(_) => "undefined",
                spin_sdk::variables::Error::Provider(_) => "provider",
                spin_sdk::variables::Error::Other(_) => "other",
            };
            reply(200, json!({ "error": kind }))
        }
    }
}

async fn fetch(query: &str) -> Response {
    let url = param(query, "url").unwrap_or("");
    let request = Request::builder().method(Method::Get).uri(url).build();
    match spin_sdk::http::send::<_, Response>(request).await {
        Ok(resp) => reply(
            200,
            json!({
                "status": resp.status(),
                "body": String::from_utf8_lossy(resp.body()),
            }),
        ),
        Err(e) => reply(200, json!({ "error": e.to_string() })),
    }
}

/// `/probe/wasi?marker=...`: clocks, random and standard streams.
fn wasi_basics(query: &str) -> Response {
    let marker = param(query, "marker").unwrap_or("");
    println!("probe stdout {marker}");
    eprintln!("probe stderr {marker}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let started = std::time::Instant::now();
    let millis = param(query, "sleep_ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(millis));
    let random = getrandom::u64().unwrap_or(0);
    reply(
        200,
        json!({
            "unix_seconds": now,
            "slept_ms": started.elapsed().as_millis() as u64,
            "random": random.to_string(),
        }),
    )
}

fn headers(req: &Request) -> Response {
    let mut seen = serde_json::Map::new();
    for (name, value) in req.headers() {
        seen.insert(name.to_string(), json!(value.as_str().unwrap_or("")));
    }
    reply(
        200,
        json!({
            "method": req.method().to_string(),
            "uri": req.uri(),
            "headers": seen,
            "body_len": req.body().len(),
        }),
    )
}

/// Allocates `mib` MiB (a pattern, checked back) with the components' allocator, and says
/// whether linear memory had to grow for it.
fn heap(query: &str) -> Response {
    let mib: usize = param(query, "mib")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1);
    let pages_before = core::arch::wasm32::memory_size(0);
    // Small allocations around the large one, as a request's work would make.
    let small: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 100 + i]).collect();
    let block: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    let small_ok = small
        .iter()
        .enumerate()
        .all(|(i, v)| v.len() == 100 + i && v.iter().all(|&b| b == i as u8));
    let pages_after = core::arch::wasm32::memory_size(0);
    reply(
        200,
        json!({ "sum": sum, "small_ok": small_ok, "grew": pages_after > pages_before }),
    )
}

/// `/p/sqlite?db=<label>` with a JSON body `[{"sql": ..., "params": [...]}, ...]`: runs the
/// statements in order on one connection; integers, reals, texts, null and `{"blob": [..]}`
/// as parameters and values. Answers the results, or where it stopped and why.
fn sqlite(query: &str, body: &[u8]) -> Response {
    use spin_sdk::sqlite::{Connection, Error, Value};
    let error = |e: Error| match e {
        Error::NoSuchDatabase => "no-such-database".to_string(),
        Error::AccessDenied => "access-denied".to_string(),
        Error::InvalidConnection => "invalid-connection".to_string(),
        Error::DatabaseFull => "database-full".to_string(),
        Error::Io(msg) => format!("io: {msg}"),
    };
    let conn = match Connection::open(param(query, "db").unwrap_or("default")) {
        Ok(c) => c,
        Err(e) => return reply(200, json!({ "error": error(e) })),
    };
    let Ok(list) = serde_json::from_slice::<Vec<serde_json::Value>>(body) else {
        return reply(
            400,
            json!({ "error": "the body is a JSON list of statements" }),
        );
    };
    let to_value = |v: &serde_json::Value| match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(t) => Value::Text(t.clone()),
        other => Value::Blob(
            other["blob"]
                .as_array()
                .map(|b| b.iter().map(|x| x.as_u64().unwrap_or(0) as u8).collect())
                .unwrap_or_default(),
        ),
    };
    let from_value = |v: &Value| match v {
        Value::Null => json!(null),
        Value::Integer(i) => json!(i),
        Value::Real(r) => json!(r),
        Value::Text(t) => json!(t),
        Value::Blob(b) => json!({ "blob": b }),
    };
    let mut results = Vec::new();
    for (i, statement) in list.iter().enumerate() {
        let sql = statement["sql"].as_str().unwrap_or_default();
        let params: Vec<Value> = statement["params"]
            .as_array()
            .map(|p| p.iter().map(to_value).collect())
            .unwrap_or_default();
        match conn.execute(sql, &params) {
            Ok(result) => results.push(json!({
                "columns": result.columns,
                "rows": result.rows.iter().map(|r| r.values.iter().map(from_value).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })),
            Err(e) => return reply(200, json!({ "results": results, "failed": i, "error": error(e) })),
        }
    }
    reply(200, json!({ "results": results }))
}

#[http_component]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req.path().to_string();
    let query = req.query().to_string();
    let action = path.rsplit('/').next().unwrap_or("");
    Ok(match action {
        "kv" => kv(&query),
        "atomic" => atomic(&query),
        "var" => variable(&query),
        "wasi" => wasi_basics(&query),
        "heap" => heap(&query),
        "fetch" => fetch(&query).await,
        "sqlite" => sqlite(&query, req.body()),
        "trap" => panic!("probe asked to trap"),
        "spin" => loop {
            std::hint::black_box(0);
        },
        _ => headers(&req),
    })
}
