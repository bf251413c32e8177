//! The OpenAPI document tells the truth: schemathesis (PyPI, pinned; `make api-fuzz`
//! installs it) generates requests for every documented operation from the document the
//! host serves, a bounded number per operation with a fixed seed, and checks every answer
//! against it (status, content type, headers, body schema) and for server errors. Against
//! the real host with Redis, twice: the embedded backend loaded with the goldens' records,
//! and Elasticsearch (the recording stub).

use e2e::*;
use std::path::PathBuf;
use std::process::Command;

const SECRET: &str = "an-api-fuzz-secret-of-32-bytes-at-least!";
/// Examples per operation (and the seed), so a run is bounded and repeatable.
const EXAMPLES: &str = "25";
const SEED: &str = "20261204";

fn schemathesis() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/api-fuzz-venv/bin/schemathesis"));
    assert!(
        path.exists(),
        "{} is missing: run `make api-fuzz` (or `make test`), which installs it",
        path.display()
    );
    path
}

/// Runs schemathesis against `h`; returns the number of requests it made.
fn fuzz(h: &Host, dir: &TempDir, name: &str) -> usize {
    let base = format!("http://{}/deces/api/v1", h.addr);
    let cassette = dir.path().join(format!("{name}.yaml"));
    let admin = bearer(SECRET, "admin@example.org", &["admin", "user"], 3600);
    let out = Command::new(schemathesis())
        .args([
            "run",
            &format!("{base}/docs/swagger.json"),
            "--base-url",
            &base,
        ])
        .args(["--checks", "all", "--hypothesis-max-examples", EXAMPLES])
        .args(["--hypothesis-seed", SEED, "--no-color", "--workers", "1"])
        .args(["--hypothesis-suppress-health-check", "all"])
        // A busy machine answers slowly: a deadline is not what this test checks.
        .args(["--hypothesis-deadline", "60000"])
        .args(["-H", &format!("Authorization: {admin}")])
        .arg("--cassette-path")
        .arg(&cassette)
        // Hypothesis keeps its cache in the working directory: the test's own.
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name}: schemathesis found answers that break the document:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let network = std::fs::read(&cassette).expect("the network log");
    let requests = String::from_utf8_lossy(&network)
        .lines()
        .filter(|l| l.starts_with("- id: "))
        .count();
    eprintln!("api-fuzz {name}: {requests} requests");
    assert!(
        requests >= 17 * 5,
        "{name}: only {requests} requests:\n{report}"
    );
    requests
}

#[test]
fn the_api_answers_as_its_openapi_document_says() {
    let redis = Redis::start();
    let dir = TempDir::new("api-fuzz");
    let rc = format!(
        "{}\n[sqlite_database.default]\ntype = \"spin\"\npath = \"search.db\"\n",
        redis.runtime_config()
    );
    let rc = dir.write("rc.toml", &rc);
    let records: Vec<String> = fixture_records().iter().map(|r| r.to_string()).collect();
    let ndjson = dir.write("records.ndjson", &(records.join("\n") + "\n"));
    let out = deces_edge("import", &rc, &[ndjson.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let embedded = app_host(rc.clone(), &[("SPIN_VARIABLE_TOKEN_SECRET", SECRET)]);
    let embedded_requests = fuzz(&embedded, &dir, "embedded");
    drop(embedded);

    let es = EsStub::start();
    let url = es.url();
    let elastic = app_host(
        rc,
        &[
            ("SPIN_VARIABLE_TOKEN_SECRET", SECRET),
            ("SPIN_VARIABLE_SEARCH_BACKEND", "elasticsearch"),
            ("SPIN_VARIABLE_ES_URL", url.as_str()),
        ],
    );
    let es_requests = fuzz(&elastic, &dir, "elasticsearch");
    eprintln!(
        "api-fuzz: {} requests in all",
        embedded_requests + es_requests
    );
}
