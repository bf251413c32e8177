//! The request log on stdout: one line per request, never with the query string:
//! `METHOD PATH COMPONENT STATUS MICROSECONDSus REQUEST-ID`, or with `--log-format json`
//! one JSON object (`time`, `method`, `path`, `component`, `status`, `us`, `request_id`).
//!
//! Each worker thread gathers its lines and writes them in one piece when it
//! goes idle, or as soon as 16 KiB are waiting: an idle host's line is out
//! within microseconds of its answer, and a busy one makes one write for many
//! requests instead of one per request. A worker writes what it holds before
//! it exits.

use serde::Serialize;
use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Whether lines are JSON (`--log-format json`), set once at start.
static JSON: AtomicBool = AtomicBool::new(false);

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

pub fn set_format(format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

/// One request, as logged.
#[derive(Serialize)]
pub struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub method: &'a str,
    pub path: &'a str,
    pub component: &'a str,
    pub status: u16,
    pub us: u128,
    pub request_id: &'a str,
}

/// Lines waiting beyond this size are written at once, busy or not.
const FLUSH_AT: usize = 16 << 10;

thread_local! {
    static PENDING: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(FLUSH_AT + 512));
}

/// Adds one request's line; writes the lines waiting when they pass `FLUSH_AT`.
pub fn record(mut line: Line<'_>) {
    let json = JSON.load(Ordering::Relaxed);
    if json {
        line.time = Some(humantime::format_rfc3339_micros(SystemTime::now()).to_string());
    }
    let full = PENDING.with_borrow_mut(|buf| append(buf, &line, json));
    if full {
        flush();
    }
}

/// Writes this thread's waiting lines.
pub fn flush() {
    PENDING.with_borrow_mut(|buf| {
        if !buf.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(buf);
            let _ = out.flush();
            buf.clear();
        }
    });
}

/// Appends one line to `buf`; true when `buf` should now be written.
fn append(buf: &mut Vec<u8>, line: &Line<'_>, json: bool) -> bool {
    if json {
        // Strings and numbers only: serialising cannot fail.
        let _ = serde_json::to_writer(&mut *buf, line);
        buf.push(b'\n');
        return buf.len() >= FLUSH_AT;
    }
    let mut numbers = itoa::Buffer::new();
    for part in [line.method, " ", line.path, " ", line.component, " "] {
        buf.extend_from_slice(part.as_bytes());
    }
    buf.extend_from_slice(numbers.format(line.status).as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(numbers.format(line.us).as_bytes());
    buf.extend_from_slice(b"us ");
    buf.extend_from_slice(line.request_id.as_bytes());
    buf.push(b'\n');
    buf.len() >= FLUSH_AT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(method: &'a str, path: &'a str, component: &'a str, status: u16) -> Line<'a> {
        Line {
            time: None,
            method,
            path,
            component,
            status,
            us: 1234,
            request_id: "r-1",
        }
    }

    #[test]
    fn a_line_has_its_fields_in_order() {
        let mut buf = Vec::new();
        append(
            &mut buf,
            &line("GET", "/deces/api/v1/healthcheck", "search", 200),
            false,
        );
        append(
            &mut buf,
            &line("POST", "/deces/api/v1/auth", "otp-verify", 401),
            false,
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "GET /deces/api/v1/healthcheck search 200 1234us r-1\n\
             POST /deces/api/v1/auth otp-verify 401 1234us r-1\n"
        );
    }

    #[test]
    fn json_lines_are_json_objects() {
        let mut buf = Vec::new();
        let mut l = line("GET", "/a\"b", "search", 503);
        l.time = Some("2026-12-04T01:02:03.000004Z".into());
        append(&mut buf, &l, true);
        let text = String::from_utf8(buf).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"time": "2026-12-04T01:02:03.000004Z", "method": "GET",
                "path": "/a\"b", "component": "search", "status": 503, "us": 1234,
                "request_id": "r-1"})
        );
    }

    #[test]
    fn lines_wait_until_they_pass_the_threshold() {
        let path = format!("/{}", "p".repeat(999));
        let mut one = Vec::new();
        append(&mut one, &line("GET", &path, "search", 200), false);
        let mut buf = Vec::new();
        let mut waiting = 0;
        while !append(&mut buf, &line("GET", &path, "search", 200), false) {
            waiting += 1;
        }
        assert_eq!(waiting + 1, FLUSH_AT.div_ceil(one.len()));
        assert!(buf.len() >= FLUSH_AT && buf.len() - one.len() < FLUSH_AT);
    }
}
