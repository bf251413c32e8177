//! The embedded backend on rusqlite: the goldens' searches against the goldens' 60 fixture
//! records, fuzzy names, candidates from the index against a scan of the table, and the
//! loader's idempotence.

use edge_core::embedded::{find, load, Sql};
use edge_core::search::{self, request::SearchRequest};
use rusqlite::Connection;
use serde_json::{Map, Value};

fn data(path: &str) -> String {
    let full = format!(
        "{}/../../tests/data/goldens/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(full).expect("goldens are in the repository")
}

fn records() -> Vec<Map<String, Value>> {
    serde_json::from_str(&data("fixtures/records.json")).unwrap()
}

fn loaded(docs: &[Map<String, Value>]) -> Connection {
    let mut db = Connection::open_in_memory().unwrap();
    load::create_schema(&mut db).unwrap();
    let mut loader = load::Loader::new();
    for d in docs {
        assert!(loader.add(&mut db, d).unwrap());
    }
    loader.flush(&mut db).unwrap();
    load::vocabulary(&mut db).unwrap();
    load::Loader::stamp(&mut db, "20240305").unwrap();
    db
}

fn answer(db: &mut Connection, req: &SearchRequest) -> Value {
    let es = find::search(db, req, 1).unwrap();
    let reply = search::search_reply(req, es.as_bytes()).expect("an Elasticsearch-shaped answer");
    serde_json::from_str(&reply.body).unwrap()
}

fn get(db: &mut Connection, query: &str) -> Value {
    answer(db, &search::parse_get(query).unwrap())
}

fn first_ids(body: &Value) -> Vec<String> {
    body["response"]["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

fn names(body: &Value) -> Vec<String> {
    body["response"]["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"]["first"][0].as_str().unwrap_or(""),
                p["name"]["last"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn parse(case: &Value) -> Option<SearchRequest> {
    let http = &case["http"];
    if http["method"] == "GET" {
        let url = http["url"].as_str()?;
        search::parse_get(url.split_once('?').map_or("", |(_, q)| q)).ok()
    } else {
        let body = match (&http["body"], &http["body_text"]) {
            (Value::Null, Value::String(t)) => t.clone(),
            (b, _) => b.to_string(),
        };
        search::from_body(body.as_bytes()).ok()
    }
}

/// Keys of an object, sorted (`links` is left to the Wikidata links file).
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().filter(|k| *k != "links").cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn single_hit_goldens_find_the_same_person_with_the_same_answer_shape() {
    let mut db = loaded(&records());
    let mut checked = Vec::new();
    for line in data("visible.jsonl").lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let family = case["family"].as_str().unwrap_or("");
        if !["search_get", "search_post", "search_q"].contains(&family) {
            continue;
        }
        let expected = &case["api_response"];
        if expected["status"] != 200 || expected["body"]["response"]["total"] != 1 {
            continue;
        }
        let req = parse(&case).expect("a golden's valid request parses");
        let body = answer(&mut db, &req);
        let id = case["case_id"].as_str().unwrap();
        let want = &expected["body"]["response"]["persons"][0];
        let got = &body["response"]["persons"][0];
        assert_eq!(got["id"], want["id"], "{id}: first person");
        assert_eq!(keys(&body), keys(&expected["body"]), "{id}: answer keys");
        assert_eq!(
            keys(&body["response"]),
            keys(&expected["body"]["response"]),
            "{id}"
        );
        assert_eq!(keys(got), keys(want), "{id}: person keys");
        // The person itself, but for the scores (the matching score's issue) and links.
        let strip = |p: &Value| {
            let mut p = p.clone();
            for k in ["score", "scores", "links"] {
                p.as_object_mut().unwrap().remove(k);
            }
            p
        };
        assert_eq!(strip(got), strip(want), "{id}: person");
        assert_eq!(
            body["request"], expected["body"]["request"],
            "{id}: echoed request"
        );
        checked.push(id.to_string());
    }
    assert!(
        checked.len() >= 15,
        "only {} single-hit goldens: {checked:?}",
        checked.len()
    );
}

#[test]
fn fuzzy_names() {
    let mut db = loaded(&records());
    // One typo, two typos, a missing accent, swapped names, a compound name.
    let top =
        |db: &mut Connection, q: &str| names(&get(db, q)).first().cloned().unwrap_or_default();
    assert_eq!(
        top(&mut db, "firstName=Jean&lastName=Dupont"),
        "Jean Dupont"
    );
    assert_eq!(
        top(&mut db, "firstName=Jean&lastName=Dupomt"),
        "Jean Dupont"
    );
    assert_eq!(
        top(
            &mut db,
            "firstName=Jean&lastName=Dupont&birthDate=12/03/1935"
        ),
        "Jean Dupont"
    );
    let two = get(&mut db, "lastName=Lefbevr");
    assert!(
        names(&two).iter().any(|n| n.ends_with("Lefebvre")),
        "{:?}",
        names(&two)
    );
    let accent = get(&mut db, "lastName=Lefevre");
    let found = names(&accent);
    assert!(found.iter().any(|n| n.ends_with("Lefèvre")), "{found:?}");
    assert!(found.iter().any(|n| n.ends_with("Lefevre")), "{found:?}");
    // Given names in another order: found, below the person whose given names are in
    // that order (the matching score compares given names in order).
    let order = names(&get(&mut db, "firstName=Pierre+Jean&lastName=Dupont"));
    assert_eq!(order[0], "Pierre Dupont", "{order:?}");
    assert!(order.contains(&"Jean Dupont".to_string()), "{order:?}");
    let swapped = get(&mut db, "firstName=Dupont&lastName=Jean");
    assert!(names(&swapped).contains(&"Jean Dupont".to_string()));
    let exact = get(&mut db, "firstName=Dupont&lastName=Jean&fuzzy=false");
    assert_eq!(exact["response"]["total"], 0, "no swap without fuzziness");
    let compound = get(&mut db, "lastName=Le+Goff");
    assert!(names(&compound).iter().any(|n| n.ends_with("Le Goff")));
    // An exact name ranks above its fuzzy neighbours.
    let dup = names(&get(&mut db, "lastName=Dupont"));
    assert!(
        dup[0].ends_with("Dupont") && dup.iter().any(|n| n.ends_with("Dupond")),
        "{dup:?}"
    );
    // Too many edits for a short name.
    assert_eq!(get(&mut db, "lastName=Xyzzy")["response"]["total"], 0);
}

#[test]
fn candidates_from_the_index_are_those_a_scan_finds() {
    let mut db = loaded(&records());
    let queries = [
        "lastName=Dupont",
        "lastName=Dupomt&firstName=Jean",
        "firstName=Jean-Pierre",
        "lastName=Martin&fuzzy=false",
        "birthCity=Paris",
        "birthCity=Pari&birthDate=1930-1940",
        "deathDepartment=75",
        "birthLocationCode=75114",
        "deathDate=2020",
        "birthDate=12/03/1935",
        "birthDate=12/03/1935&fuzzy=false",
        "q=Jean+Dupont",
        "q=Dupont+12/03/1935",
        "sex=F&deathAge=80-90",
        "legalName=Leclercq&firstName=Nathalie",
        "birthCountry=Maroc",
    ];
    for q in queries {
        let req = search::parse_get(q).unwrap();
        let mut req_all = req.clone();
        req_all.size = 1000;
        let body = answer(&mut db, &req_all);
        let mut via_index: Vec<String> = first_ids(&body);
        via_index.sort();
        let scan = find::scan_ids(&mut db, &req).unwrap();
        assert_eq!(via_index.len(), scan.len(), "{q}");
        assert_eq!(body["response"]["total"], scan.len(), "{q}");
    }
}

#[test]
fn paging_sorting_scrolling_and_ids() {
    let mut db = loaded(&records());
    let all = get(
        &mut db,
        "deathDate=1900-2030&size=100&sort=[{\"birthDate\":\"asc\"}]",
    );
    let total = all["response"]["total"].as_u64().unwrap();
    assert!(total >= 50, "{total}");
    let dates: Vec<String> = all["response"]["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["birth"]["date"].as_str().unwrap_or("").to_string())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted);
    let p2 = get(
        &mut db,
        "deathDate=1900-2030&size=10&page=2&sort=[{\"birthDate\":\"asc\"}]",
    );
    assert_eq!(first_ids(&p2), first_ids(&all)[10..20]);

    // A scroll walks every record once.
    let mut req = search::parse_get("deathDate=1900-2030&scroll=1m&size=7").unwrap();
    let mut seen = Vec::new();
    loop {
        let body = answer(&mut db, &req);
        let ids = first_ids(&body);
        if ids.is_empty() {
            break;
        }
        seen.extend(ids);
        let next = body["response"]["scrollId"].as_str().unwrap().to_string();
        req = search::parse_get(&format!("scroll=1m&scrollId={next}")).unwrap();
    }
    assert_eq!(seen.len() as u64, total);
    let bogus = search::parse_get("scroll=1m&scrollId=bm9wZQ").unwrap();
    assert_eq!(
        find::search(&mut db, &bogus, 0),
        Err(find::FindError::Rejected)
    );
    let mut window = search::parse_get("lastName=Dupont&size=500").unwrap();
    window.page = 21;
    assert_eq!(
        find::search(&mut db, &window, 0),
        Err(find::FindError::Rejected)
    );

    let es = find::by_id(&mut db, "pQet0sYyrNsf", 0).unwrap();
    let reply = search::search_reply(&SearchRequest::by_id(), es.as_bytes()).unwrap();
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(first_ids(&body), ["pQet0sYyrNsf"]);
    let es = find::by_id(&mut db, "AAAAAAAAAAAA", 0).unwrap();
    assert!(es.contains("\"hits\":[]"));
}

#[test]
fn an_empty_database_says_so() {
    let mut db = Connection::open_in_memory().unwrap();
    let req = search::parse_get("lastName=Dupont").unwrap();
    assert_eq!(find::search(&mut db, &req, 0), Err(find::FindError::Empty));
    load::create_schema(&mut db).unwrap();
    assert_eq!(find::search(&mut db, &req, 0), Err(find::FindError::Empty));
    assert_eq!(
        find::by_id(&mut db, "pQet0sYyrNsf", 0),
        Err(find::FindError::Empty)
    );
    assert_eq!(find::facts(&mut db), Err(find::FindError::Empty));
}

#[test]
fn loading_twice_adds_nothing_and_facts_count_once() {
    let docs = records();
    let mut db = loaded(&docs);
    let mut loader = load::Loader::new();
    for d in &docs {
        assert!(!loader.add(&mut db, d).unwrap(), "loaded again");
    }
    loader.flush(&mut db).unwrap();
    load::vocabulary(&mut db).unwrap();
    let count = db.query("SELECT count(*) FROM person", &[]).unwrap();
    assert_eq!(count[0][0].as_i64(), Some(docs.len() as i64));
    let vocab = db
        .query(
            "SELECT n FROM vocab WHERE field = 1 AND term = 'dupont'",
            &[],
        )
        .unwrap();
    let dupont = docs.iter().filter(|d| d["NOM"] == "Dupont").count() as i64;
    assert_eq!(vocab[0][0].as_i64(), Some(dupont));
    let facts = find::facts(&mut db).unwrap();
    assert_eq!(facts.uniq_records_count, Value::from(docs.len()));
    assert_eq!(facts.update_date, "05/03/2024");
}

/// Loading into an empty table without its UID index (a first import): the same rows,
/// vocabulary and variants as with it; a UID seen twice builds the index and is skipped.
#[test]
fn a_first_load_without_the_uid_index_loads_the_same() {
    let docs = records();
    let dump = |db: &mut Connection| {
        let mut out = Vec::new();
        for sql in [
            "SELECT uid, doc, nom, prenoms FROM person ORDER BY uid",
            "SELECT field, term, n FROM vocab ORDER BY field, term",
            "SELECT variant, term FROM variant ORDER BY variant, term",
        ] {
            out.push(format!("{:?}", db.query(sql, &[]).unwrap()));
        }
        out
    };
    let mut indexed = loaded(&docs);
    let mut db = Connection::open_in_memory().unwrap();
    load::create_schema(&mut db).unwrap();
    db.run("DROP INDEX person_uid", &[]).unwrap();
    let mut loader = load::Loader::into_empty();
    let (half, rest) = docs.split_at(docs.len() / 2);
    for d in half {
        assert!(loader.add(&mut db, d).unwrap());
    }
    let index = "SELECT count(*) FROM sqlite_schema WHERE name = 'person_uid'";
    assert_eq!(db.query(index, &[]).unwrap()[0][0].as_i64(), Some(0));
    assert!(
        !loader.add(&mut db, &half[0]).unwrap(),
        "a UID loaded twice"
    );
    assert_eq!(db.query(index, &[]).unwrap()[0][0].as_i64(), Some(1));
    for d in rest {
        assert!(loader.add(&mut db, d).unwrap());
    }
    loader.flush(&mut db).unwrap();
    load::vocabulary(&mut db).unwrap();
    assert_eq!(dump(&mut db), dump(&mut indexed));
}

/// Places are stored once, however many records share them, and read back into each.
#[test]
fn records_share_their_places() {
    let docs = records();
    let mut db = loaded(&docs);
    let count = |db: &mut Connection, sql: &str| db.query(sql, &[]).unwrap()[0][0].as_i64();
    let places = count(&mut db, "SELECT count(*) FROM place").unwrap();
    let distinct = count(
        &mut db,
        "SELECT count(*) FROM (SELECT birth_place FROM person UNION SELECT death_place FROM person)",
    )
    .unwrap();
    assert!(
        places > 0 && places == distinct,
        "{places} places, {distinct} used"
    );
    assert!(
        places < 2 * docs.len() as i64,
        "{places} places for {} records",
        docs.len()
    );
    // A copy of a record under another UID points to the same places.
    let mut twin = docs[0].clone();
    twin.insert("UID".into(), Value::from("twin-of-zero"));
    let mut loader = load::Loader::new();
    assert!(loader.add(&mut db, &twin).unwrap());
    loader.flush(&mut db).unwrap();
    assert_eq!(count(&mut db, "SELECT count(*) FROM place"), Some(places));
    let rows = db
        .query(
            &format!(
                "SELECT {} FROM person WHERE uid = 'twin-of-zero'",
                load::DOC_COLUMNS
            ),
            &[],
        )
        .unwrap();
    let read = load::source(&rows[0]);
    let birth = docs[0].get("COMMUNE_NAISSANCE").cloned();
    assert!(birth.is_some());
    assert_eq!(read.get("COMMUNE_NAISSANCE").cloned(), birth);
    assert_eq!(
        read.get("CODE_INSEE_DECES"),
        docs[0].get("CODE_INSEE_DECES")
    );
}

/// A database an earlier layout wrote is refused with what to do, not failed row by row.
#[test]
fn an_earlier_layout_is_refused() {
    let mut db = Connection::open_in_memory().unwrap();
    db.execute_batch("CREATE TABLE person (id INTEGER PRIMARY KEY, uid TEXT, doc TEXT)")
        .unwrap();
    let err = load::create_schema(&mut db).unwrap_err();
    assert!(
        err.contains("earlier version") && err.contains("new file"),
        "{err}"
    );
}

/// /agg on the embedded index loaded with the 60 records the goldens were captured on:
/// every aggregation the original answered (terms with their sizes and order, monthly
/// histograms with their empty months, composites with their pages and distinct counts)
/// comes out the same, in JSON; only `delay` differs.
#[test]
fn agg_goldens_counted_by_the_embedded_index() {
    use edge_core::embedded::backend::{Embedded, SearchBackend};
    use edge_core::search::agg;
    let mut backend = Embedded(loaded(&records()));
    let goldens: Vec<Value> = data("visible.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut checked = 0;
    for case in goldens.iter().filter(|c| c["family"] == "agg") {
        let id = case["case_id"].as_str().unwrap();
        let expected = &case["api_response"];
        if expected["status"] != 200 {
            continue;
        }
        let http = &case["http"];
        let req = if http["method"] == "GET" {
            let url = http["url"].as_str().unwrap();
            agg::parse_get(url.split_once('?').unwrap().1).unwrap()
        } else {
            agg::from_body(http["body"].to_string().as_bytes()).unwrap()
        };
        let mut pages = 0;
        let reply = agg::reply(
            &req,
            false,
            &mut |r: &agg::AggRequest, after: Option<&Value>| {
                pages += 1;
                backend.agg_page(r, after)
            },
        );
        assert_eq!(reply.status, 200, "{id}: {}", reply.body);
        let mut body: Value = serde_json::from_str(&reply.body).unwrap();
        let mut want = expected["body"].clone();
        body["response"]["delay"] = Value::Null;
        want["response"]["delay"] = Value::Null;
        assert_eq!(body, want, "{id}");
        for (name, value) in expected["headers"].as_object().unwrap() {
            assert_eq!(reply.header(name), value.as_str(), "{id}: {name}");
        }
        // Every bucket at once: counting again for a next page would cost as much.
        assert_eq!(pages, 1, "{id}: pages");
        checked += 1;
    }
    assert_eq!(checked, 10, "agg cases answered by the original");

    // CSV: a composite's pages, one line per bucket after the fields' names.
    let req =
        agg::from_body(br#"{"aggs": ["deathCity", "sex"], "deathDepartment": "75"}"#).unwrap();
    let reply = agg::reply(
        &req,
        true,
        &mut |r: &agg::AggRequest, after: Option<&Value>| backend.agg_page(r, after),
    );
    assert_eq!(reply.header("content-type"), Some("text/csv"));
    assert_eq!(
        reply.body,
        "deathCity,sex,value\nparis,F,3\nparis,M,4\nparis 14e arrondissement,F,1\n\
         paris 14e arrondissement,M,1\nparis 15e arrondissement,F,1\n\
         paris 15e arrondissement,M,1\nparis 4e arrondissement,F,1\nparis 4e arrondissement,M,2\n"
    );
    // Nothing found: no bucket, and the CSV is empty.
    let req = agg::parse_get("aggs=sex&lastName=Zzyzx&fuzzy=false").unwrap();
    let reply = agg::reply(
        &req,
        false,
        &mut |r: &agg::AggRequest, after: Option<&Value>| backend.agg_page(r, after),
    );
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["response"]["total"], 0);
    assert_eq!(body["response"]["aggregations"], serde_json::json!([]));
    assert_eq!(reply.header("total-results-sex"), Some("0"));
}

/// While loading with merging deferred, each flush leaves a segment of the term index;
/// merging them leaves one, or (not asked for all) leaves a few to FTS5 but not more than
/// FTS5 keeps on a level; searches answer the same either way.
#[test]
fn the_term_index_segments_are_merged_after_a_first_load() {
    let docs = records();
    let segments = |db: &mut Connection| {
        db.query("SELECT count(DISTINCT segid) FROM terms_idx", &[])
            .unwrap()[0][0]
            .as_i64()
            .unwrap()
    };
    let automerge = |db: &mut Connection| {
        db.query("SELECT v FROM terms_config WHERE k = 'automerge'", &[])
            .unwrap()[0][0]
            .as_i64()
    };
    let load_in = |batches: usize| {
        let mut db = Connection::open_in_memory().unwrap();
        load::create_schema(&mut db).unwrap();
        load::defer_merging(&mut db).unwrap();
        let mut loader = load::Loader::new();
        for part in docs.chunks(docs.len().div_ceil(batches)) {
            for d in part {
                assert!(loader.add(&mut db, d).unwrap());
            }
            loader.flush(&mut db).unwrap();
        }
        load::vocabulary(&mut db).unwrap();
        db
    };
    let mut whole = loaded(&docs);
    let pairs = search::request::decode_query("lastName=Dupond&firstName=Jean").unwrap();
    let req = search::request::from_query(&pairs).unwrap();
    // A few segments: left to FTS5 unless all are asked for.
    let mut few = load_in(5);
    assert_eq!(segments(&mut few), 5);
    assert_eq!(automerge(&mut few), Some(0));
    load::merge_terms(&mut few, false).unwrap();
    assert_eq!(segments(&mut few), 5);
    assert_eq!(automerge(&mut few), Some(4));
    load::merge_terms(&mut few, true).unwrap();
    assert_eq!(segments(&mut few), 1);
    // More than a level holds (an interrupted first import): merged all the same.
    let mut many = load_in(30);
    assert!(segments(&mut many) > 16, "{}", segments(&mut many));
    load::merge_terms(&mut many, false).unwrap();
    assert_eq!(segments(&mut many), 1);
    let expected = answer(&mut whole, &req);
    assert!(
        expected["response"]["total"].as_u64() > Some(0),
        "{expected}"
    );
    for db in [&mut few, &mut many] {
        assert_eq!(answer(db, &req), expected);
    }
}

/// A batch whose persons' ids do not follow each other (a row added between two of its
/// documents) still indexes each document's terms under its own person.
#[test]
fn a_batch_with_ids_apart_indexes_each_person_under_its_id() {
    use edge_core::embedded::{schema::Field, text::tokens};
    let docs = records();
    let mut db = Connection::open_in_memory().unwrap();
    load::create_schema(&mut db).unwrap();
    let mut loader = load::Loader::new();
    let (half, rest) = docs.split_at(docs.len() / 2);
    for d in half {
        assert!(loader.add(&mut db, d).unwrap());
    }
    db.run(
        "INSERT INTO person (uid, doc, nom, prenoms, sex, birth, death, source)
         VALUES ('apart', '[]', '', '', 'M', '', '', '')",
        &[],
    )
    .unwrap();
    for d in rest {
        assert!(loader.add(&mut db, d).unwrap());
    }
    loader.flush(&mut db).unwrap();
    for d in &docs {
        let uid = d["UID"].as_str().unwrap();
        let last = tokens(d["NOM"].as_str().unwrap()).remove(0);
        let found = db
            .query(
                "SELECT count(*) FROM terms WHERE terms MATCH ?1
                   AND rowid = (SELECT id FROM person WHERE uid = ?2)",
                &[
                    format!("\"{}\"", Field::LastName.indexed(&last)).into(),
                    uid.into(),
                ],
            )
            .unwrap();
        assert_eq!(found[0][0].as_i64(), Some(1), "{uid} {last}");
    }
}
