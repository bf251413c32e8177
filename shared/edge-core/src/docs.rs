//! GET /docs/swagger.json, the API's OpenAPI 3 document (`data/openapi.json`, kept with the
//! code it describes), and GET /docs, a page rendering it with nothing fetched from
//! elsewhere (`data/docs.html`, the document inlined in it).

use crate::api::JsonReply;

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("../data/openapi.json");

const PAGE: &str = include_str!("../data/docs.html");

/// GET /docs/swagger.json.
pub fn document() -> JsonReply {
    JsonReply {
        status: 200,
        body: OPENAPI.to_string(),
        headers: vec![("content-type".into(), "application/json".into())],
    }
}

/// GET /docs: the page, the document inlined (`</` escaped so it cannot end the script).
pub fn page() -> JsonReply {
    let inlined = OPENAPI.replace("</", "<\\/");
    JsonReply {
        status: 200,
        body: PAGE.replacen("/*SPEC*/", &inlined, 1),
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_the_document_and_loads_nothing_from_elsewhere() {
        let page = page().body;
        let start = page
            .find(r#"<script type="application/json" id="spec">"#)
            .unwrap();
        let json = &page[start..];
        let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
        let inlined: serde_json::Value = serde_json::from_str(json).unwrap();
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(inlined, doc);
        for outside in ["http://", "https://", "src=", "@import", "url("] {
            let at = page.replace(OPENAPI, "").find(outside);
            assert!(at.is_none(), "{outside} at {at:?}");
        }
    }
}

#[cfg(test)]
mod document_tests {
    use super::*;

    /// Every operation the components serve, as (method, path below the prefix).
    const SERVED: &[(&str, &str)] = &[
        ("get", "/healthcheck"),
        ("get", "/ready"),
        ("get", "/version"),
        ("get", "/search"),
        ("post", "/search"),
        ("get", "/id/{id}"),
        ("get", "/agg"),
        ("post", "/agg"),
        ("post", "/compare"),
        ("post", "/register"),
        ("post", "/auth"),
        ("get", "/auth"),
        ("get", "/ratelimit/bans"),
        ("delete", "/ratelimit/bans/{client}"),
        ("post", "/ratelimit/sweep"),
        ("get", "/docs"),
        ("get", "/docs/swagger.json"),
    ];

    #[test]
    fn the_document_is_openapi_3_and_describes_every_route() {
        let doc: openapiv3::OpenAPI =
            serde_json::from_str(OPENAPI).expect("the document is OpenAPI 3");
        assert!(doc.openapi.starts_with("3."), "{}", doc.openapi);
        assert_eq!(doc.servers[0].url, crate::api::PREFIX);
        let mut documented = Vec::new();
        for (path, item) in doc.paths.paths.iter() {
            let item = item.as_item().expect("paths are written out");
            for (method, op) in item.iter() {
                documented.push((method.to_string(), path.clone()));
                assert!(op.operation_id.is_some(), "{method} {path}");
                assert!(
                    op.responses
                        .responses
                        .keys()
                        .any(|s| s.to_string() == "200"),
                    "{method} {path}"
                );
            }
        }
        let mut served: Vec<(String, String)> = SERVED
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        documented.sort();
        assert_eq!(documented, served);
        // The statuses the API adds to the original's (api.md FIX) are described.
        let search = doc.paths.paths["/search"].as_item().unwrap();
        let codes: Vec<String> = search
            .get
            .as_ref()
            .unwrap()
            .responses
            .responses
            .keys()
            .map(|s| s.to_string())
            .collect();
        for code in ["401", "408", "413", "429", "502", "503"] {
            assert!(codes.iter().any(|c| c == code), "{code}: {codes:?}");
        }
    }
}
