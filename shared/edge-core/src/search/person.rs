//! Elasticsearch hits shaped as the API's Person objects.

use serde_json::{Map, Value};

/// One hit as a Person; fields absent from the record are left out.
///
/// `score` and `scores` carry the Elasticsearch-derived part of the matching score
/// (`es = round(0.005 × min(200, _score))`) until the full matching score lands.
pub fn person(hit: &Value) -> Value {
    let src = &hit["_source"];
    let mut p = Map::new();
    let es = hit["_score"].as_f64().map(|s| round2(0.005 * s.min(200.0)));
    p.insert("score".into(), es.map_or(Value::from(0), Value::from));
    put(&mut p, "source", &src["SOURCE"]);
    put(&mut p, "sourceLine", &src["SOURCE_LINE"]);
    let mut scores = Map::new();
    if let Some(es) = es {
        scores.insert("es".into(), Value::from(es));
    }
    p.insert("scores".into(), Value::Object(scores));
    put(&mut p, "id", &src["UID"]);
    let first: Vec<Value> = match src["PRENOMS"].as_str() {
        Some(s) => s.split(' ').map(|n| Value::String(n.into())).collect(),
        None => vec![Value::String(String::new())],
    };
    let mut name = Map::new();
    name.insert("first".into(), Value::Array(first));
    put(&mut name, "last", &src["NOM"]);
    p.insert("name".into(), Value::Object(name));
    put(&mut p, "sex", &src["SEXE"]);

    let mut birth = Map::new();
    put(&mut birth, "date", &src["DATE_NAISSANCE"]);
    birth.insert("location".into(), location(src, "NAISSANCE"));
    p.insert("birth".into(), Value::Object(birth));

    let mut death = Map::new();
    put(&mut death, "date", &src["DATE_DECES"]);
    put(&mut death, "certificateId", &src["NUM_DECES"]);
    put(&mut death, "age", &src["AGE_DECES"]);
    death.insert("location".into(), location(src, "DECES"));
    p.insert("death".into(), Value::Object(death));
    Value::Object(p)
}

fn location(src: &Value, event: &str) -> Value {
    let field = |name: &str| &src[format!("{name}_{event}")];
    let mut l = Map::new();
    put(&mut l, "city", field("COMMUNE"));
    put(&mut l, "code", field("CODE_INSEE"));
    put(&mut l, "codePostal", field("CODE_POSTAL"));
    put(
        &mut l,
        "codeHistory",
        &src[format!("CODE_INSEE_{event}_HISTORIQUE")],
    );
    put(&mut l, "departmentCode", field("DEPARTEMENT"));
    put(&mut l, "country", field("PAYS"));
    put(
        &mut l,
        "countryCode",
        &src[format!("PAYS_{event}_CODEISO3")],
    );
    if let Some((lon, lat)) = field("GEOPOINT").as_str().and_then(wkt_point) {
        l.insert("latitude".into(), lat);
        l.insert("longitude".into(), lon);
    }
    Value::Object(l)
}

/// `POINT(lon lat)` → (lon, lat), keeping the numbers as written.
fn wkt_point(wkt: &str) -> Option<(Value, Value)> {
    let inner = wkt
        .trim()
        .strip_prefix("POINT")?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let lon: serde_json::Number = parts.next()?.parse().ok()?;
    let lat: serde_json::Number = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((Value::Number(lon), Value::Number(lat)))
}

fn put(map: &mut Map<String, Value>, key: &str, v: &Value) {
    if !v.is_null() {
        map.insert(key.into(), v.clone());
    }
}

/// Rounds to two decimals, halves away from zero, as the original's `Math.round(x*100)/100`.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_a_hit() {
        let hit = json!({"_score": 171.00245, "_source": {
            "UID": "pQet0sYyrNsf", "NOM": "Dupont", "PRENOMS": "Jean Pierre", "SEXE": "M",
            "DATE_NAISSANCE": "19350312", "COMMUNE_NAISSANCE": ["Paris", "Paris 14e"],
            "GEOPOINT_NAISSANCE": "POINT(2.3264 48.8331)", "AGE_DECES": 84,
            "SOURCE": "2020-m01", "SOURCE_LINE": 1062, "NUM_DECES": "112"
        }});
        let p = person(&hit);
        assert_eq!(p["id"], "pQet0sYyrNsf");
        assert_eq!(
            p["name"],
            json!({"first": ["Jean", "Pierre"], "last": "Dupont"})
        );
        assert_eq!(p["scores"]["es"], 0.86);
        assert_eq!(p["birth"]["location"]["latitude"], 48.8331);
        assert_eq!(p["birth"]["location"]["longitude"], 2.3264);
        assert_eq!(
            p["birth"]["location"]["city"],
            json!(["Paris", "Paris 14e"])
        );
        assert_eq!(p["death"]["age"], 84);
        assert_eq!(p["death"]["certificateId"], "112");
        assert!(p["death"]["location"].as_object().unwrap().is_empty());
        assert!(p.get("links").is_none());
    }

    #[test]
    fn missing_or_odd_values() {
        let p = person(&json!({"_score": null, "_source": {"GEOPOINT_DECES": "POINT(x y)"}}));
        assert_eq!(p["name"]["first"], json!([""]));
        assert_eq!(p["score"], 0);
        assert!(p["death"]["location"].get("latitude").is_none());
        let p = person(&json!("not a hit"));
        assert_eq!(p["scores"], json!({}));
    }
}
