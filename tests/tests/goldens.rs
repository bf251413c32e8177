//! Parity with the original server: request/response pairs captured from it
//! (`tests/data/goldens/visible.jsonl`, see its README) replayed through the host.
//! Cases join `COVERED` as the routes they exercise are built.

use e2e::*;
use serde_json::Value;

/// Cases whose behaviour is implemented and needs no Elasticsearch.
const COVERED: &[&str] = &[
    "status-healthcheck",
    "status-unknown-route",
    "status-unknown-route-post",
];

fn goldens() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("tests/data/goldens/visible.jsonl"))
        .expect("goldens are copied into the repository");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a golden is JSON"))
        .collect()
}

/// Sends a golden's request as the original received it.
fn replay(h: &Host, case: &Value) -> Reply {
    let http = &case["http"];
    let method = http["method"].as_str().unwrap();
    let url = http["url"].as_str().unwrap();
    let headers: Vec<(String, String)> = http["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = match (&http["body"], &http["body_text"]) {
        (Value::Null, Value::String(text)) => text.clone().into_bytes(),
        (Value::Null, _) => Vec::new(),
        (json, _) => json.to_string().into_bytes(),
    };
    request(h.addr, method, url, &header_refs, &body)
}

#[test]
fn covered_goldens_match_the_original() {
    let all = goldens();
    assert_eq!(all.len(), 180, "the visible corpus");
    let dir = TempDir::new("goldens");
    let rc = dir.write(
        "rc.toml",
        "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n",
    );
    let h = Host::start(HostConfig {
        manifest: root().join("spin.toml"),
        runtime_config: Some(rc),
        ..Default::default()
    });
    for id in COVERED {
        let case = all
            .iter()
            .find(|c| c["case_id"] == *id)
            .unwrap_or_else(|| panic!("no golden {id}"));
        assert!(case["es_requests"].as_array().unwrap().is_empty(), "{id}");
        let expected = &case["api_response"];
        let reply = replay(&h, case);
        assert_eq!(
            reply.status,
            expected["status"].as_u64().unwrap() as u16,
            "{id}"
        );
        assert_eq!(
            reply.header("content-type"),
            expected["headers"]["content-type"].as_str(),
            "{id}"
        );
        assert_eq!(reply.json(), expected["body"], "{id}");
    }
}
