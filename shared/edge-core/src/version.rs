//! GET /version: the deployed version and facts about the index, fetched from Elasticsearch
//! once and then cached (in the key-value store, by the component) for a configurable time.

use crate::api::JsonReply;
use crate::search::EsCall;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Key of the cached index facts in the key-value store.
pub const CACHE_KEY: &str = "cache:version";

/// What /version reports about the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexFacts {
    pub uniq_records_count: Value,
    pub last_record_date: String,
    pub last_dataset: Value,
    pub update_date: String,
}

/// A cache record: the facts and when they stop being fresh (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cached {
    pub expires_at: u64,
    pub facts: IndexFacts,
}

impl Cached {
    pub fn fresh(&self, now: u64) -> bool {
        now < self.expires_at
    }
}

/// The three calls, in the original's order: record count, newest record, index creation.
pub fn calls(index: &str) -> [EsCall; 3] {
    [
        EsCall {
            method: "GET",
            path: format!("/{index}/_count"),
            query: None,
            body: None,
        },
        EsCall {
            method: "POST",
            path: format!("/{index}/_search"),
            query: None,
            body: Some(
                json!({
                    "sort": [ { "SOURCE": "desc" }, { "DATE_DECES.raw": "desc" } ],
                    "size": 1,
                })
                .to_string(),
            ),
        },
        EsCall {
            method: "GET",
            path: format!("/_cat/indices/{index}"),
            query: Some("format=json&h=creation.date.string".into()),
            body: None,
        },
    ]
}

/// The facts from the three answers; `None` when one is not what Elasticsearch gives.
pub fn facts(count: &Value, newest: &Value, indices: &Value) -> Option<IndexFacts> {
    let record = &newest["hits"]["hits"].as_array()?.first()?["_source"];
    let created = indices.as_array()?.first()?["creation.date.string"].as_str()?;
    let day = created.trim().split('T').next()?.replace('-', "");
    Some(IndexFacts {
        uniq_records_count: count.get("count")?.clone(),
        last_record_date: dd_mm_yyyy(record["DATE_DECES"].as_str()?),
        last_dataset: record["SOURCE"].clone(),
        update_date: dd_mm_yyyy(&day),
    })
}

/// `yyyyMMdd` → `dd/MM/yyyy` (other text unchanged, as the original's replace did).
fn dd_mm_yyyy(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 8 && b[..8].iter().all(u8::is_ascii_digit) {
        format!("{}/{}/{}{}", &s[6..8], &s[4..6], &s[..4], &s[8..])
    } else {
        s.to_string()
    }
}

/// The answer: 200 with the facts, or 200 with an error when Elasticsearch failed.
pub fn reply(app_version: &str, facts: Option<&IndexFacts>) -> JsonReply {
    match facts {
        Some(f) => JsonReply::new(
            200,
            json!({
                "backend": app_version,
                "uniqRecordsCount": f.uniq_records_count,
                "lastRecordDate": f.last_record_date,
                "lastDataset": f.last_dataset,
                "updateDate": f.update_date,
            }),
        ),
        None => JsonReply::new(
            200,
            json!({ "backend": app_version, "error": "Failed to fetch Elasticsearch data" }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_answers() {
        let f = facts(
            &json!({"count": 60}),
            &json!({"hits": {"hits": [{"_source": {"DATE_DECES": "20240131", "SOURCE": "2024-m01"}}]}}),
            &json!([{"creation.date.string": "2024-03-05T09:12:44.311Z"}]),
        )
        .unwrap();
        assert_eq!(f.last_record_date, "31/01/2024");
        assert_eq!(f.update_date, "05/03/2024");
        let body: Value = serde_json::from_str(&reply("1.2.3", Some(&f)).body).unwrap();
        assert_eq!(
            body,
            json!({"backend": "1.2.3", "uniqRecordsCount": 60, "lastRecordDate": "31/01/2024",
                   "lastDataset": "2024-m01", "updateDate": "05/03/2024"})
        );
        assert!(facts(
            &json!({"count": 1}),
            &json!({"hits": {"hits": []}}),
            &json!([])
        )
        .is_none());
    }

    #[test]
    fn cache_freshness() {
        let f = IndexFacts {
            uniq_records_count: json!(1),
            last_record_date: String::new(),
            last_dataset: json!("x"),
            update_date: String::new(),
        };
        let c = Cached {
            expires_at: 100,
            facts: f,
        };
        assert!(c.fresh(99));
        assert!(!c.fresh(100));
        let back: Cached = serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn failure_keeps_a_200() {
        let r = reply("1.2.3", None);
        assert_eq!(r.status, 200);
        assert!(r.body.contains("Failed to fetch Elasticsearch data"));
    }
}
