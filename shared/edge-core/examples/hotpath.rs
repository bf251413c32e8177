//! Native timings of the /search hot path, one step at a time (see bench/README.md):
//! `cargo run --release -p edge-core --example hotpath`. With the argument `count`, each
//! step runs 100 times untimed, for instruction counts that do not depend on the machine:
//! `valgrind --tool=callgrind --toggle-collect='*search_reply*' target/release/examples/hotpath count`
//! (instructions per shaped answer: the total divided by 100).

use edge_core::{score, search};
use std::hint::black_box;
use std::time::Instant;

const QUERY: &str = "firstName=Jean&lastName=Dupont";

/// Median time of `f` in microseconds, over rounds of `n` calls.
fn time<T>(n: u32, mut f: impl FnMut() -> T) -> f64 {
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(f());
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn main() {
    let records: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/goldens/fixtures/records.json"
        ))
        .expect("fixture records"),
    )
    .expect("fixture JSON");
    let hits: Vec<serde_json::Value> = records.as_array().expect("records")[..20]
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::json!({"_index": "deces", "_id": r["UID"], "_score": 10.0 - i as f64 / 10.0, "_source": r}))
        .collect();
    let es = serde_json::json!({"took": 3, "timed_out": false,
        "hits": {"total": {"value": 60, "relation": "eq"}, "max_score": 10.0, "hits": hits}})
    .to_string()
    .into_bytes();

    let req = search::parse_get(QUERY).expect("valid query");
    if std::env::args().nth(1).as_deref() == Some("count") {
        for _ in 0..100 {
            let _ = black_box(search::parse_get(black_box(QUERY)));
            black_box(search::search_call("deces", black_box(&req)));
            black_box(search::search_reply(black_box(&req), black_box(&es)));
        }
        return;
    }
    let n = 2000;
    println!("step (native, median of 15 rounds)        us");
    println!(
        "parse the query string              {:>10.2}",
        time(n, || search::parse_get(black_box(QUERY)))
    );
    println!(
        "build the Elasticsearch call        {:>10.2}",
        time(n, || search::search_call("deces", black_box(&req)))
    );
    // The matching score's share of that: the same 20 persons scored against the request.
    let text = std::str::from_utf8(&es).expect("UTF-8");
    let answer = search::person::EsAnswer::read(text).expect("an answer");
    let persons: Vec<_> = answer
        .hits
        .hits
        .iter()
        .map(search::person::Person::from_hit)
        .collect();
    let request =
        serde_json::json!({"sort": [{"score": "desc"}], "firstName": "Jean", "lastName": "Dupont"});
    let request = request.as_object().expect("an object");
    let params = score::Params::default();
    println!(
        "matching score of the 20 persons    {:>10.2}",
        time(n / 4, || {
            let hits: Vec<_> = persons.iter().map(|p| (p.scoring(), p.es_score)).collect();
            score::score_results(black_box(request), &hits, &params, 1.0, None)
        })
    );
    println!(
        "shape a 20-hit answer ({} KB)       {:>10.2}  (matching score included)",
        es.len() / 1024,
        time(n / 4, || search::search_reply(
            black_box(&req),
            black_box(&es)
        ))
    );
}
