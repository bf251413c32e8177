//! `Accept: text/csv` on POST /search: every page of the search, read through a scroll,
//! as one CSV download (api.md "CSV answers", the `search_csv` goldens).

use super::person::{EsAnswer, Person};
use super::request::SearchRequest;
use crate::api::JsonReply;
use serde_json::{json, Value};

/// The columns, as the original named them.
pub const COLUMNS: [&str; 24] = [
    "source",
    "name last",
    "name first",
    "sex",
    "birth date",
    "birth city",
    "birth code",
    "birth codePostal",
    "birth departmentCode",
    "birth country",
    "birth countryCode",
    "birth latitude",
    "birth longitude",
    "death certificateId",
    "death age",
    "death date",
    "death city",
    "death code",
    "death codePostal",
    "death departmentCode",
    "death country",
    "death countryCode",
    "death latitude",
    "death longitude",
];

/// The same columns in French (`headerLang: "french"`).
pub const FRENCH_COLUMNS: [&str; 24] = [
    "source",
    "nom",
    "prénoms",
    "sexe",
    "date de naissance",
    "commune de naissance",
    "code INSEE de naissance",
    "code postal de naissance",
    "département de naissance",
    "pays de naissance",
    "code pays de naissance",
    "latitude de naissance",
    "longitude de naissance",
    "numéro d'acte de décès",
    "âge au décès",
    "date de décès",
    "commune de décès",
    "code INSEE de décès",
    "code postal de décès",
    "département de décès",
    "pays de décès",
    "code pays de décès",
    "latitude de décès",
    "longitude de décès",
];

/// Persons asked for per page.
pub const PAGE_SIZE: i64 = 1000;

/// Above this many results a download is refused (402, as the original).
pub const MAX_RESULTS: u64 = 500_000;

/// The download of a search: `page` answers one request (the first one, then each scroll
/// continuation) with the backend's Elasticsearch-shaped answer, or the failure's reply.
pub fn download(
    req: &SearchRequest,
    mut page: impl FnMut(&SearchRequest) -> Result<String, JsonReply>,
) -> JsonReply {
    let mut current = SearchRequest {
        size: PAGE_SIZE,
        page: 1,
        scroll: Some("1m".into()),
        scroll_id: None,
        ..req.clone()
    };
    let french = req.header_lang.as_deref() == Some("french");
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let header = if french { FRENCH_COLUMNS } else { COLUMNS };
    let mut total = None;
    let mut written: u64 = 0;
    loop {
        let text = match page(&current) {
            Ok(text) => text,
            Err(reply) => return reply,
        };
        let Some(answer) = EsAnswer::read(&text) else {
            return crate::upstream::Failure::Unavailable.reply();
        };
        if total.is_none() {
            let n = answer
                .hits
                .total
                .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
                .and_then(|t| t.get("value").and_then(Value::as_u64).or(t.as_u64()))
                .unwrap_or(0);
            if n > MAX_RESULTS {
                return JsonReply::new(
                    402,
                    json!({ "msg": format!("error - {n} results: a CSV download is limited to {MAX_RESULTS}") }),
                );
            }
            total = Some(n);
            if out.write_record(header).is_err() {
                return crate::upstream::Failure::Unavailable.reply();
            }
        }
        let hits = &answer.hits.hits;
        for hit in hits {
            if out.write_record(Person::from_hit(hit).csv_row()).is_err() {
                return crate::upstream::Failure::Unavailable.reply();
            }
        }
        written += hits.len() as u64;
        // The last page is the first empty one (asked for, as the original did); a
        // backend that pages on past the total, or gives no scroll id, ends it all the same.
        let (Some(id), false) = (&answer.scroll_id, hits.is_empty()) else {
            break;
        };
        if written > total.unwrap_or(0) {
            break;
        }
        current.scroll_id = Some(id.to_string());
    }
    let mut body = String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default();
    if body.ends_with('\n') {
        body.pop();
    }
    JsonReply {
        status: 200,
        body,
        headers: vec![
            ("content-type".into(), "text/csv".into()),
            (
                "content-disposition".into(),
                "attachment; filename=download.csv".into(),
            ),
            ("total-results".into(), total.unwrap_or(0).to_string()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str], total: u64, scroll: &str) -> String {
        let hits: Vec<Value> = ids
            .iter()
            .map(|id| json!({"_score": 1.0, "_source": {"UID": id, "NOM": "Dupont", "PRENOMS": "Jean Pierre", "DATE_NAISSANCE": "19350312"}}))
            .collect();
        json!({"_scroll_id": scroll, "took": 1, "hits": {"total": {"value": total}, "hits": hits}})
            .to_string()
    }

    fn request(lang: Option<&str>) -> SearchRequest {
        SearchRequest {
            header_lang: lang.map(str::to_string),
            ..crate::search::from_body(br#"{"lastName": "Dupont"}"#).unwrap()
        }
    }

    #[test]
    fn pages_until_an_empty_one_with_french_labels_on_request() {
        let mut asked = Vec::new();
        let reply = download(&request(Some("french")), |r| {
            asked.push((r.size, r.scroll.clone(), r.scroll_id.clone()));
            Ok(match asked.len() {
                1 => page(&["a", "b"], 3, "s1"),
                2 => page(&["c"], 3, "s2"),
                _ => page(&[], 3, "s3"),
            })
        });
        assert_eq!(reply.status, 200);
        let lines: Vec<&str> = reply.body.lines().collect();
        assert_eq!(lines.len(), 4, "{}", reply.body);
        assert!(lines[0].starts_with("source,nom,prénoms,sexe,date de naissance"));
        assert!(
            lines[1].contains(",Dupont,\"Jean, Pierre\",,12/03/1935,"),
            "{}",
            lines[1]
        );
        assert_eq!(reply.header("total-results"), Some("3"));
        assert_eq!(asked[0], (PAGE_SIZE, Some("1m".into()), None));
        assert_eq!(asked[1].2.as_deref(), Some("s1"));
        assert_eq!(asked[2].2.as_deref(), Some("s2"));
        assert_eq!(asked.len(), 3);
    }

    #[test]
    fn too_many_results_and_a_backend_that_never_ends() {
        let reply = download(&request(None), |_| Ok(page(&["a"], MAX_RESULTS + 1, "s")));
        assert_eq!(reply.status, 402);
        // Pages past the total (a faulty backend) stop the download.
        let mut calls = 0;
        let reply = download(&request(None), |_| {
            calls += 1;
            Ok(page(&["a"], 2, "s"))
        });
        assert_eq!(reply.status, 200);
        assert!(calls <= 4, "{calls} pages");
        // A failure of a page is the download's answer.
        let reply = download(&request(None), |_| {
            Err(JsonReply::new(503, json!({"msg": "down"})))
        });
        assert_eq!(reply.status, 503);
    }
}
