//! The request log on stdout: one line per request,
//! `METHOD PATH COMPONENT STATUS MICROSECONDSus` (never the query string).
//!
//! Each worker thread gathers its lines and writes them in one piece when it
//! goes idle, or as soon as 16 KiB are waiting: an idle host's line is out
//! within microseconds of its answer, and a busy one makes one write for many
//! requests instead of one per request. A worker writes what it holds before
//! it exits.

use std::cell::RefCell;
use std::io::Write;

/// Lines waiting beyond this size are written at once, busy or not.
const FLUSH_AT: usize = 16 << 10;

thread_local! {
    static PENDING: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(FLUSH_AT + 512));
}

/// Adds one request's line; writes the lines waiting when they pass `FLUSH_AT`.
pub fn record(method: &str, path: &str, component: &str, status: u16, micros: u128) {
    let full = PENDING.with_borrow_mut(|buf| append(buf, method, path, component, status, micros));
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
fn append(
    buf: &mut Vec<u8>,
    method: &str,
    path: &str,
    component: &str,
    status: u16,
    micros: u128,
) -> bool {
    let mut numbers = itoa::Buffer::new();
    for part in [method, " ", path, " ", component, " "] {
        buf.extend_from_slice(part.as_bytes());
    }
    buf.extend_from_slice(numbers.format(status).as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(numbers.format(micros).as_bytes());
    buf.extend_from_slice(b"us\n");
    buf.len() >= FLUSH_AT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_its_fields_in_order() {
        let mut buf = Vec::new();
        append(
            &mut buf,
            "GET",
            "/deces/api/v1/healthcheck",
            "search",
            200,
            1234,
        );
        append(&mut buf, "POST", "/deces/api/v1/auth", "otp-verify", 401, 7);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "GET /deces/api/v1/healthcheck search 200 1234us\n\
             POST /deces/api/v1/auth otp-verify 401 7us\n"
        );
    }

    #[test]
    fn lines_wait_until_they_pass_the_threshold() {
        let path = format!("/{}", "p".repeat(999));
        let mut one = Vec::new();
        append(&mut one, "GET", &path, "search", 200, 1);
        let mut buf = Vec::new();
        let mut waiting = 0;
        while !append(&mut buf, "GET", &path, "search", 200, 1) {
            waiting += 1;
        }
        assert_eq!(waiting + 1, FLUSH_AT.div_ceil(one.len()));
        assert!(buf.len() >= FLUSH_AT && buf.len() - one.len() < FLUSH_AT);
    }
}
