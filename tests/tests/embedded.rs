//! The embedded search backend end to end: `deces-edge import` writes the database the
//! runtime config names, and the host serves /search, /id and /version from it with no
//! Elasticsearch; the importer's reports, idempotence and recovery from a kill.

use e2e::*;
use serde_json::{json, Value};
use std::process::{Command, Output};

fn import(rc: &std::path::Path, args: &[&str]) -> Output {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    deces_edge("import", rc, &args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The goldens' fixture records as NDJSON.
fn fixture_ndjson(dir: &TempDir) -> std::path::PathBuf {
    let path = root().join("tests/data/goldens/fixtures/records.json");
    let records: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    dir.write("records.ndjson", &(lines.join("\n") + "\n"))
}

fn count(dir: &TempDir) -> i64 {
    scalar(dir, "SELECT count(*) FROM person")
}

/// A number the database answers.
fn scalar(dir: &TempDir, sql: &str) -> i64 {
    let db = rusqlite::Connection::open(dir.path().join("search.db")).unwrap();
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_sqlite_backend_serves_search_id_and_version_without_elasticsearch() {
    let dir = TempDir::new("embedded");
    let rc = sqlite_runtime_config(&dir);
    let out = import(&rc, &[fixture_ndjson(&dir).to_str().unwrap()]);
    assert!(stderr(&out).contains("loaded 60"), "{}", stderr(&out));
    // Nothing listens on the Elasticsearch URL: only the embedded backend can answer.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let h = app_host(rc, &[("SPIN_VARIABLE_ES_URL", &nowhere)]);

    let r = h.get("/deces/api/v1/search?firstName=Jean&lastName=Dupomt");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["response"]["persons"][0]["id"], "pQet0sYyrNsf");
    assert_eq!(body["response"]["persons"][0]["name"]["last"], "Dupont");
    assert_eq!(body["request"]["lastName"], "Dupomt");

    let r = post_json(
        h.addr,
        "/deces/api/v1/search",
        &json!({"lastName": "Dupont", "birthDate": "12/03/1935"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["response"]["persons"][0]["id"], "pQet0sYyrNsf");

    let r = h.get("/deces/api/v1/search?q=Jean+Dupont");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["response"]["persons"][0]["id"], "pQet0sYyrNsf");

    let r = h.get("/deces/api/v1/id/pQet0sYyrNsf");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["response"]["persons"][0]["birth"]["date"],
        "19350312"
    );

    let r = h.get("/deces/api/v1/version");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["uniqRecordsCount"], 60);
    let r = h.get("/deces/api/v1/ready");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"store": "ok", "search": "ok"}));

    // Validation is the same as with Elasticsearch.
    let r = h.get("/deces/api/v1/search?birthDate=1935-99-99");
    assert_eq!(r.status, 400, "{}", r.text());

    // A CSV download pages through every result (scroll ids of the embedded backend).
    let search = json!({"lastName": "Dupont", "fuzzy": false});
    let total =
        post_json(h.addr, "/deces/api/v1/search", &search).json()["response"]["total"].clone();
    let body = search.to_string();
    let csv = request(
        h.addr,
        "POST",
        "/deces/api/v1/search",
        &[("content-type", "application/json"), ("accept", "text/csv")],
        body.as_bytes(),
    );
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(csv.header("content-type"), Some("text/csv"));
    assert_eq!(
        csv.header("total-results").map(str::to_string),
        Some(total.to_string())
    );
    let text = csv.text();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("source,name last,name first,sex,birth date"));
    assert_eq!(lines.count() as u64, total.as_u64().unwrap(), "{text}");
    assert!(
        text.contains(",Dupont,\"Jean, Pierre\",M,12/03/1935,"),
        "{text}"
    );

    // /agg counts the same records (the goldens' figures, checked in full natively).
    let r = h.get("/deces/api/v1/agg?aggs=sex");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("total-results-sex"), Some("2"));
    assert_eq!(
        r.json()["response"]["aggregations"],
        json!([{"key": "M", "doc_count": 34}, {"key": "F", "doc_count": 26}])
    );
    let body = json!({"aggs": ["birthDepartment", "sex"], "birthCountry": "France"});
    let r = request(
        h.addr,
        "POST",
        "/deces/api/v1/agg",
        &[("content-type", "application/json"), ("accept", "text/csv")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/csv"));
    let text = r.text();
    assert!(text.starts_with("birthDepartment,sex,value\n"), "{text}");
    let counted: u64 = text
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, 49, "{text}");
    let r = h.get("/deces/api/v1/agg?aggs=sex&aggsSize=0");
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"msg": ["invalid aggsSize value: 0"]}));
    let r = request(h.addr, "DELETE", "/deces/api/v1/agg?aggs=sex", &[], b"");
    assert_eq!(r.status, 405, "{}", r.text());
}

#[test]
fn an_empty_database_answers_503_saying_how_to_load_one() {
    let dir = TempDir::new("embedded-empty");
    let h = app_host(sqlite_runtime_config(&dir), &[]);
    for path in [
        "/deces/api/v1/search?lastName=Dupont",
        "/deces/api/v1/id/pQet0sYyrNsf",
        "/deces/api/v1/agg?aggs=sex",
    ] {
        let r = h.get(path);
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        let msg = r.json()["msg"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains("deces-edge import"), "{msg}");
    }
    // Not ready either: nothing to search.
    let r = h.get("/deces/api/v1/ready");
    assert_eq!(r.status, 503);
    assert_eq!(r.json(), json!({"store": "ok", "search": "empty"}));
}

#[test]
fn the_importer_reports_malformed_lines_and_adds_nothing_twice() {
    let dir = TempDir::new("embedded-import");
    let rc = sqlite_runtime_config(&dir);
    let mut sample = Vec::new();
    let out = Command::new(host_bin())
        .args(["sample", "--records", "50", "--seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    sample.extend_from_slice(&out.stdout);
    let mut text = String::from_utf8(sample).unwrap();
    // The same record twice in a first import (loaded without its UID index: the
    // index is built at the first UID seen twice, and the copy is skipped).
    let first = text.lines().next().unwrap().to_string();
    text.insert_str(0, "TOO SHORT\n");
    text.push_str("DUPONT*JEAN/  1 19X0 broken date\n");
    text.push_str(&first);
    text.push('\n');
    let file = dir.write("deces-2020-m01.txt", &text);
    // Small batches: each writes a segment of the term index.
    let out = import(&rc, &["--batch", "10", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains("deces-2020-m01.txt:1: skipped"), "{err}");
    assert!(err.contains("deces-2020-m01.txt:52: skipped"), "{err}");
    assert!(err.contains("read 53, loaded 50, already there 1"), "{err}");
    assert_eq!(count(&dir), 50);
    assert!(has_uid_index(&dir));
    // A first import leaves its term index in one segment.
    assert_eq!(segments(&dir), 1);
    let out = import(&rc, &[file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("loaded 0, already there 51"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&dir), 50);
}

#[test]
fn an_import_killed_half_way_completes_when_run_again() {
    let dir = TempDir::new("embedded-kill");
    let rc = sqlite_runtime_config(&dir);
    let file = dir.path().join("deces-2021.txt");
    let out = Command::new(host_bin())
        .args(["sample", "--records", "60000", "--seed", "5", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut child = Command::new(host_bin())
        .arg("import")
        .arg("--manifest")
        .arg(root().join("spin.toml"))
        .arg("--runtime-config-file")
        .arg(&rc)
        .args(["--batch", "1000"])
        .arg(&file)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Observe a few committed batches, then kill -9 in the middle of the import.
    let db = dir.path().join("search.db");
    let mut seen = 0;
    for _ in 0..6000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        if let Ok(c) = rusqlite::Connection::open(&db) {
            seen = c
                .query_row("SELECT count(*) FROM person", [], |r| r.get::<_, i64>(0))
                .unwrap_or(0);
        }
        if seen >= 3000 || child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let killed = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        killed,
        "the import ended before it could be killed ({seen} records)"
    );
    let partial = count(&dir);
    assert!(partial < 60_000, "{partial}");
    // Its vocabulary is behind, its term index's segments unmerged; `make up`'s
    // `--if-empty` imports nothing into it, but derives the vocabulary of what is there
    // and gives the term index back its merging.
    assert!(vocabulary_behind(&dir));
    assert_eq!(automerge(&dir), 0);
    let out = import(&rc, &["--if-empty", file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("nothing imported"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&dir), partial);
    assert!(!vocabulary_behind(&dir));
    assert_eq!(automerge(&dir), 4);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (term, n): (String, i64) = conn
        .query_row(
            "SELECT term, n FROM vocab WHERE field = 1 ORDER BY n DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let persons: i64 = conn
        .query_row(
            "SELECT count(*) FROM person WHERE ' ' || nom || ' ' LIKE '% ' || ?1 || ' %'",
            [&term],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, persons, "{term}");
    drop(conn);
    let out = import(&rc, &[file.to_str().unwrap()]);
    assert!(stderr(&out).contains("read 60000"), "{}", stderr(&out));
    assert_eq!(count(&dir), 60_000);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let uids: i64 = conn
        .query_row("SELECT count(DISTINCT uid) FROM person", [], |r| r.get(0))
        .unwrap();
    assert_eq!(uids, 60_000);
    assert!(has_uid_index(&dir));
    // The re-run merged the term index in one when it loaded at least as many records as
    // the killed run had (when the kill came late on a busy machine, FTS5's own merging
    // keeps it to at most a level's worth of segments).
    if 60_000 - partial >= partial {
        assert_eq!(segments(&dir), 1);
    } else {
        assert!(segments(&dir) <= 16, "{}", segments(&dir));
    }
    // The same file imported in one go gives the same vocabulary and variants.
    let clean = TempDir::new("embedded-kill-clean");
    let out = import(&sqlite_runtime_config(&clean), &[file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(vocabulary(&dir), vocabulary(&clean));
}

/// The term index's segments.
fn segments(dir: &TempDir) -> i64 {
    scalar(dir, "SELECT count(DISTINCT segid) FROM terms_idx")
}

/// The term index's `automerge` setting (FTS5's default 4 when not set).
fn automerge(dir: &TempDir) -> i64 {
    scalar(
        dir,
        "SELECT coalesce((SELECT v FROM terms_config WHERE k = 'automerge'), 4)",
    )
}

/// Whether the UID index is there (a first import builds it at its end).
fn has_uid_index(dir: &TempDir) -> bool {
    scalar(
        dir,
        "SELECT count(*) FROM sqlite_schema WHERE name = 'person_uid'",
    ) == 1
}

/// Whether the database says its vocabulary is behind its term index.
fn vocabulary_behind(dir: &TempDir) -> bool {
    scalar(dir, "SELECT count(*) FROM meta WHERE key = 'vocabulary'") > 0
}

/// The vocabulary and the deletion variants of a database, as sorted lines.
fn vocabulary(dir: &TempDir) -> (Vec<String>, Vec<String>) {
    assert!(!vocabulary_behind(dir));
    let db = rusqlite::Connection::open(dir.path().join("search.db")).unwrap();
    let lines = |sql: &str| -> Vec<String> {
        db.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    (
        lines("SELECT field || ' ' || term || ' ' || n FROM vocab ORDER BY field, term"),
        lines("SELECT variant || ' ' || term FROM variant ORDER BY variant, term"),
    )
}

#[test]
fn records_of_the_opposition_files_are_not_imported() {
    let dir = TempDir::new("embedded-opt-out");
    let rc = sqlite_runtime_config(&dir);
    let out = Command::new(host_bin())
        .args(["sample", "--records", "20", "--seed", "9"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let file = dir.write("deces-2020.txt", &text);
    // Opt out the 3rd and 7th records by (death date, place of death, act number).
    let key = |line: &str| {
        let act = line[167..].trim_end().to_string();
        format!("{};{};{act}", &line[154..162], &line[162..167])
    };
    let lines: Vec<&str> = text.lines().collect();
    let csv = format!(
        "Nom;Date de décès;Code du lieu de décès;Numéro d'acte de décès\nX;{}\nY;{}\n",
        key(lines[2]),
        key(lines[6]),
    );
    let opt_out = dir.write("fichier-opposition-deces-2021.csv", &csv);
    let out = import(
        &rc,
        &[
            "--opt-out",
            opt_out.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    assert!(
        stderr(&out).contains("loaded 18, already there 0, opted out 2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&dir), 18);
}

/// Every search golden with exactly one hit, replayed through the host on the sqlite
/// backend loaded with the goldens' fixture records, finds the golden's person.
#[test]
fn single_hit_search_goldens_find_their_person_through_the_host() {
    let dir = TempDir::new("embedded-goldens");
    let rc = sqlite_runtime_config(&dir);
    import(&rc, &[fixture_ndjson(&dir).to_str().unwrap()]);
    let mut vars = vec![
        ("SPIN_VARIABLE_TOKEN_SECRET", "golden-secret-key"),
        ("SPIN_VARIABLE_ANONYMOUS_QUOTA_MAX", "0"),
    ];
    for v in [
        "SPIN_VARIABLE_SEARCH_RATE_PER_CLIENT",
        "SPIN_VARIABLE_SEARCH_BURST_PER_CLIENT",
        "SPIN_VARIABLE_SEARCH_RATE_GLOBAL",
        "SPIN_VARIABLE_SEARCH_BURST_GLOBAL",
    ] {
        vars.push((v, "0"));
    }
    let h = app_host(rc, &vars);
    let text = std::fs::read_to_string(root().join("tests/data/goldens/visible.jsonl")).unwrap();
    let mut replayed = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let family = case["family"].as_str().unwrap_or("");
        let expected = &case["api_response"];
        let single = expected["status"] == 200 && expected["body"]["response"]["total"] == 1;
        if !["search_get", "search_post", "search_q"].contains(&family) || !single {
            continue;
        }
        let http = &case["http"];
        let body = match (&http["body"], &http["body_text"]) {
            (Value::Null, Value::String(t)) => t.clone().into_bytes(),
            (Value::Null, _) => Vec::new(),
            (b, _) => b.to_string().into_bytes(),
        };
        let headers: Vec<(String, String)> = http["headers"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let method = http["method"].as_str().unwrap();
        let url = http["url"].as_str().unwrap();
        let r = request(h.addr, method, url, &headers, &body);
        let id = case["case_id"].as_str().unwrap();
        assert_eq!(r.status, 200, "{id}: {}", r.text());
        let got = r.json();
        assert_eq!(
            got["response"]["persons"][0]["id"], expected["body"]["response"]["persons"][0]["id"],
            "{id}"
        );
        assert_eq!(
            got["request"], expected["body"]["request"],
            "{id}: echoed request"
        );
        replayed += 1;
    }
    assert!(replayed >= 15, "{replayed} single-hit goldens");
}
