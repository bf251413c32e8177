//! Calls to the search backend: retries like the original's client, and what a failure
//! becomes (**FIX**: never a 200 with nothing in it).

use crate::api::JsonReply;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Retries after the first attempt, as the original's Elasticsearch client did.
pub const RETRIES: u32 = 3;

/// Seconds a client is told to wait when the backend is unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// The backend's base URL (`es_url`): scheme, authority and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub https: bool,
    pub authority: String,
    pub prefix: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Option<BaseUrl> {
        let url = url.trim();
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            (true, url.strip_prefix("https://")?)
        };
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let ok = !authority.is_empty()
            && authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:[]@".contains(&b));
        ok.then(|| BaseUrl {
            https,
            authority: authority.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
        })
    }

    /// The path and query of a call below this base.
    pub fn path_with_query(&self, path: &str, query: Option<&str>) -> String {
        match query {
            Some(q) => format!("{}{path}?{q}", self.prefix),
            None => format!("{}{path}", self.prefix),
        }
    }
}

/// What one call to the backend gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answer { status: u16, body: Vec<u8> },
    Unreachable,
    TimedOut,
}

/// Why the backend could not answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Unreachable, too slow, a 5xx or an answer that is not Elasticsearch's shape.
    Unavailable,
    /// A 4xx: the backend refused what we sent.
    Rejected,
}

impl Failure {
    pub fn reply(self) -> JsonReply {
        match self {
            Failure::Unavailable => {
                JsonReply::new(503, json!({ "msg": "error - search backend unavailable" }))
                    .with_header("retry-after", RETRY_AFTER_SECONDS.to_string())
            }
            Failure::Rejected => JsonReply::new(
                502,
                json!({ "msg": "error - search backend rejected the query" }),
            ),
        }
    }
}

/// Connection errors and 502/503/504 are worth another try.
pub fn retryable(o: &Outcome) -> bool {
    matches!(
        o,
        Outcome::Unreachable
            | Outcome::Answer {
                status: 502..=504,
                ..
            }
    )
}

/// Runs `attempt` (given the time left) until it succeeds, fails for good, runs out of
/// retries or out of time.
pub fn with_retries(timeout: Duration, mut attempt: impl FnMut(Duration) -> Outcome) -> Outcome {
    let start = Instant::now();
    let mut last = Outcome::TimedOut;
    for _ in 0..=RETRIES {
        let left = match timeout.checked_sub(start.elapsed()) {
            Some(left) if !left.is_zero() => left,
            _ => return Outcome::TimedOut,
        };
        last = attempt(left);
        if !retryable(&last) {
            break;
        }
    }
    last
}

/// The body of a successful answer, or why there is none.
pub fn answer_body(o: &Outcome) -> Result<&[u8], Failure> {
    match o {
        Outcome::Answer { status, body } if (200..300).contains(status) => Ok(body),
        Outcome::Answer { status, .. } if (400..500).contains(status) => Err(Failure::Rejected),
        _ => Err(Failure::Unavailable),
    }
}

/// The JSON body of a successful answer, or why there is none.
pub fn json_answer(o: &Outcome) -> Result<Value, Failure> {
    serde_json::from_slice(answer_body(o)?).map_err(|_| Failure::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> Outcome {
        Outcome::Answer {
            status,
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn retries_three_times_on_unavailable() {
        let mut calls = 0;
        let out = with_retries(Duration::from_secs(5), |_| {
            calls += 1;
            answer(503)
        });
        assert_eq!(calls, 4);
        assert_eq!(json_answer(&out), Err(Failure::Unavailable));
    }

    #[test]
    fn does_not_retry_client_errors_or_success() {
        for (status, expect) in [(400, Err(Failure::Rejected)), (200, Ok(json!({})))] {
            let mut calls = 0;
            let out = with_retries(Duration::from_secs(5), |_| {
                calls += 1;
                answer(status)
            });
            assert_eq!(calls, 1);
            assert_eq!(json_answer(&out), expect);
        }
    }

    #[test]
    fn recovers_after_a_connection_error() {
        let mut calls = 0;
        let out = with_retries(Duration::from_secs(5), |_| {
            calls += 1;
            if calls < 3 {
                Outcome::Unreachable
            } else {
                answer(200)
            }
        });
        assert_eq!(calls, 3);
        assert!(json_answer(&out).is_ok());
    }

    #[test]
    fn stops_when_the_time_is_spent() {
        let mut calls = 0;
        let out = with_retries(Duration::from_millis(30), |left| {
            calls += 1;
            std::thread::sleep(left);
            Outcome::Unreachable
        });
        assert_eq!(calls, 1);
        assert_eq!(out, Outcome::TimedOut);
    }

    #[test]
    fn base_urls() {
        let b = BaseUrl::parse("http://127.0.0.1:9200").unwrap();
        assert!(!b.https);
        assert_eq!(b.authority, "127.0.0.1:9200");
        assert_eq!(
            b.path_with_query("/deces/_search", Some("scroll=1m")),
            "/deces/_search?scroll=1m"
        );
        let b = BaseUrl::parse("https://es.example.test/proxy/").unwrap();
        assert!(b.https);
        assert_eq!(b.path_with_query("/_count", None), "/proxy/_count");
        for bad in ["", "127.0.0.1:9200", "ftp://x", "http://", "http://a b/"] {
            assert_eq!(BaseUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn failure_replies() {
        let r = Failure::Unavailable.reply();
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("5"));
        assert_eq!(Failure::Rejected.reply().status, 502);
        assert_eq!(json_answer(&answer(500)), Err(Failure::Unavailable));
        let bad = Outcome::Answer {
            status: 200,
            body: b"<html>".to_vec(),
        };
        assert_eq!(json_answer(&bad), Err(Failure::Unavailable));
    }
}
