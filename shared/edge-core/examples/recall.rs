//! Search quality of the embedded backend: records drawn from a database, each searched by
//! first name + last name (with and without its birth date), with the names intact, with
//! one random edit and with two; recall at 1 and at 10.
//!
//!   cargo run --release -p edge-core --example recall -- .spin/sqlite_db.db [records] [seed]

use edge_core::embedded::{find, Sql, SqlValue};
use edge_core::search;
use rusqlite::Connection;
use serde_json::Value;

/// A small deterministic generator (SplitMix64), so a run is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit of a letter: substitution, insertion, deletion or transposition.
fn edit(word: &str, rng: &mut Rng) -> String {
    let mut c: Vec<char> = word.chars().collect();
    let letter = (b'a' + rng.below(26) as u8) as char;
    let at = rng.below(c.len().max(1));
    match rng.below(4) {
        0 if !c.is_empty() => c[at] = letter,
        1 => c.insert(rng.below(c.len() + 1), letter),
        2 if c.len() > 1 => {
            c.remove(at);
        }
        _ if c.len() > 1 => {
            let i = rng.below(c.len() - 1);
            c.swap(i, i + 1);
        }
        _ => c.push(letter),
    }
    c.into_iter().collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().expect("usage: recall DB [records] [seed]");
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut db = Connection::open(path).expect("database");
    let total = db.query("SELECT max(id) FROM person", &[]).unwrap()[0][0]
        .as_i64()
        .unwrap_or(0);
    let mut rng = Rng(seed);
    let mut drawn = Vec::new();
    // Bounded: a database of records without names cannot loop for ever.
    for _ in 0..n.saturating_mul(100) {
        if drawn.len() >= n {
            break;
        }
        let id = 1 + rng.below(total as usize) as i64;
        let rows = db
            .query(
                &format!(
                    "SELECT {} FROM person WHERE id = ?1",
                    edge_core::embedded::load::DOC_COLUMNS
                ),
                &[SqlValue::Integer(id)],
            )
            .unwrap();
        if let Some(r) = rows.first() {
            let source = edge_core::embedded::load::source(r);
            let first = source["PRENOM"].as_str().unwrap_or("").to_lowercase();
            let last = source["NOM"].as_str().unwrap_or("").to_lowercase();
            let birth = source["DATE_NAISSANCE"].as_str().unwrap_or("").to_string();
            if !first.is_empty() && !last.is_empty() {
                drawn.push((r[1].as_str().to_string(), first, last, birth));
            }
        }
    }
    println!("| edits | birth date | searches | recall@1 | recall@10 | median ms |");
    println!("|---|---|---|---|---|---|");
    for edits in 0..=2 {
        for with_birth in [false, true] {
            let (mut at1, mut at10, mut asked) = (0, 0, 0);
            let mut times = Vec::new();
            for (uid, first, last, birth) in &drawn {
                let (mut f, mut l) = (first.clone(), last.clone());
                for _ in 0..edits {
                    if rng.below(2) == 0 {
                        f = edit(&f, &mut rng);
                    } else {
                        l = edit(&l, &mut rng);
                    }
                }
                let mut query = format!(
                    "firstName={}&lastName={}&size=10",
                    urlencode(&f),
                    urlencode(&l)
                );
                let full = birth.len() == 8 && !birth.starts_with("0000");
                if with_birth && full {
                    query.push_str(&format!(
                        "&birthDate={}/{}/{}",
                        &birth[6..],
                        &birth[4..6],
                        &birth[..4]
                    ));
                }
                let Ok(req) = search::parse_get(&query) else {
                    continue;
                };
                asked += 1;
                let start = std::time::Instant::now();
                let es = find::search(&mut db, &req, 0).unwrap_or_default();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                let answer: Value = serde_json::from_str(&es).unwrap_or(Value::Null);
                let ids: Vec<&str> = answer["hits"]["hits"]
                    .as_array()
                    .map(|h| h.iter().filter_map(|x| x["_id"].as_str()).collect())
                    .unwrap_or_default();
                at1 += usize::from(ids.first() == Some(&uid.as_str()));
                at10 += usize::from(ids.contains(&uid.as_str()));
                if std::env::var("RECALL_MISSES").is_ok() && !ids.contains(&uid.as_str()) {
                    eprintln!(
                        "missed ({edits}) {uid}: {query} -> {} found",
                        answer["hits"]["total"]["value"]
                    );
                }
            }
            times.sort_by(f64::total_cmp);
            let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
            println!(
                "| {edits} | {} | {asked} | {:.1}% | {:.1}% | {median:.2} |",
                if with_birth { "yes" } else { "no" },
                100.0 * at1 as f64 / asked.max(1) as f64,
                100.0 * at10 as f64 / asked.max(1) as f64,
            );
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
