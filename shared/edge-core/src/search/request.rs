//! The matchID search request: GET query strings and POST JSON bodies parsed into one typed,
//! validated request, with the original's checks, order and wording.

use super::dates::{self, DateQuery};
use super::error::{enum_members, type_error, union_error, SearchError};
use super::fields::{sort_field, Kind, Param};
use serde_json::{Map, Value};

/// Largest page size, and how deep paging may reach (Elasticsearch's result window).
pub const MAX_SIZE: i64 = 1000;
pub const MAX_WINDOW: i64 = 10_000;
const DEFAULT_SIZE: i64 = 20;

/// A validated search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The parameters set, as given, in the original's order (`size`, `page`, `sort`,
    /// `fuzzy`, `scroll`, `scrollId` and `headerLang` are kept apart below).
    pub values: Vec<(Param, Value)>,
    /// The sort as given (echoed back) and as pairs of API key and order.
    pub sort_given: Value,
    pub sort: Vec<(String, String)>,
    /// `fuzzy` as given, and what it means.
    pub fuzzy_given: Option<Value>,
    pub fuzzy: bool,
    /// As given: a negative size goes to Elasticsearch, which refuses it, as the original did.
    pub size: i64,
    pub page: i64,
    pub scroll: Option<String>,
    pub scroll_id: Option<String>,
    /// `headerLang` (POST): the language of a CSV answer's header line.
    pub header_lang: Option<String>,
    /// Whether persons get the matching score (the deployment's `matching_score`; off, they
    /// carry Elasticsearch's part only and keep the backend's order).
    pub matching_score: bool,
}

impl SearchRequest {
    pub fn get(&self, p: Param) -> Option<&Value> {
        self.values.iter().find(|(q, _)| *q == p).map(|(_, v)| v)
    }

    pub fn text(&self, p: Param) -> Option<String> {
        self.get(p).map(as_text)
    }

    /// Continuing a scroll: the request only names the scroll context.
    pub fn is_scroll_continuation(&self) -> bool {
        self.scroll.is_some() && self.scroll_id.is_some()
    }

    /// A lookup of one record by its id, shaped like a search.
    pub fn by_id() -> Self {
        SearchRequest {
            values: Vec::new(),
            sort_given: default_sort(),
            sort: vec![("score".into(), "desc".into())],
            fuzzy_given: None,
            fuzzy: true,
            size: DEFAULT_SIZE,
            page: 1,
            scroll: None,
            scroll_id: None,
            header_lang: None,
            matching_score: true,
        }
    }

    /// The date a date parameter searches for (`lastSeenAliveDate` reads as a death date limit).
    pub fn date(&self, p: Param) -> Option<DateQuery> {
        self.text(p).and_then(|t| dates::parse(&t))
    }
}

fn default_sort() -> Value {
    serde_json::json!([{ "score": "desc" }])
}

/// A value as text, as JavaScript's `String(value)` would print it.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A parameter's rank in the original's order.
fn order(p: Param) -> usize {
    Param::ALL
        .iter()
        .position(|q| *q == p)
        .unwrap_or(usize::MAX)
}

/// Whether a parameter counts as given. The original tested JavaScript truthiness, so an
/// empty string, `0` or `false` was "not given"; `fuzzy: false` and `size: 0` still count.
fn given(p: Param, v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Bool(b) => *b || p == Param::Fuzzy,
        Value::Number(n) => n.as_f64() != Some(0.0) || matches!(p, Param::Size | Param::Page),
        _ => true,
    }
}

// ---------------------------------------------------------------- GET

/// Decodes a query string as the original's framework did (`+` is a space, keys may repeat).
pub fn decode_query(query: &str) -> Result<Vec<(String, String)>, SearchError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode_component(k)?, decode_component(v)?));
    }
    Ok(out)
}

fn decode_component(s: &str) -> Result<String, SearchError> {
    let spaced = s.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|_| SearchError::BadEncoding)
}

/// What a request is for: a search, or the aggregations of /agg (their own parameter
/// list, no paging, and no need for something to search for: `aggs` alone counts the index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Search,
    Agg,
}

impl Purpose {
    /// Whether the request reads the parameter (GET ignores the others, POST refuses them).
    fn reads(self, p: Param, post: bool) -> bool {
        match self {
            Purpose::Search if post => !p.refused_in_body(),
            Purpose::Search => p != Param::HeaderLang,
            Purpose::Agg => p.read_by_agg(),
        }
    }
}

/// GET /search: the decoded query pairs. Unknown keys are ignored, as the original did.
pub fn from_query(pairs: &[(String, String)]) -> Result<SearchRequest, SearchError> {
    query_for(pairs, Purpose::Search)
}

/// A GET request's parameters for `purpose`.
pub fn query_for(
    pairs: &[(String, String)],
    purpose: Purpose,
) -> Result<SearchRequest, SearchError> {
    let mut types = Map::new();
    let mut values: Vec<(Param, Value)> = Vec::new();
    for p in Param::ALL {
        if !purpose.reads(p, false) {
            continue;
        }
        let found: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == p.name())
            .map(|(_, v)| v.as_str())
            .collect();
        let value = match found.as_slice() {
            [] => continue,
            [one] => Value::String(one.to_string()),
            many => Value::Array(many.iter().map(|s| Value::String(s.to_string())).collect()),
        };
        if let Some(err) = query_type_error(p, &value) {
            types.insert(p.name().to_string(), err);
            continue;
        }
        if given(p, &value) {
            values.push((p, value));
        }
    }
    if !types.is_empty() {
        return Err(SearchError::Types(types));
    }
    validate(values, false, purpose)
}

/// The framework's type checks on query parameters (all strings, except these).
fn query_type_error(p: Param, value: &Value) -> Option<Value> {
    let text = value.as_str();
    match p {
        Param::Sex => match text {
            Some("" | "M" | "F" | "H") => None,
            _ => Some(union_error(
                p.name(),
                &enum_members(&["M", "F", "H"]),
                value,
            )),
        },
        Param::Fuzzy => match text {
            Some("" | "true" | "false") => None,
            _ => Some(union_error(
                p.name(),
                &enum_members(&["true", "false"]),
                value,
            )),
        },
        Param::Size | Param::Page => match text {
            Some(t) if t.is_empty() || is_float(t) => None,
            _ => Some(type_error("invalid float number", Some(value))),
        },
        _ if text.is_none() => Some(type_error("invalid string value", Some(value))),
        _ => None,
    }
}

/// The framework's float syntax: optional sign, digits, fraction, exponent.
pub(crate) fn is_float(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - f;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

// ---------------------------------------------------------------- POST

/// POST /search: the raw body.
pub fn from_body(body: &[u8]) -> Result<SearchRequest, SearchError> {
    body_for(&body_object(body)?, Purpose::Search)
}

/// A POST body as a JSON object (an empty body is an empty object).
pub fn body_object(body: &[u8]) -> Result<Map<String, Value>, SearchError> {
    let json: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|_| SearchError::BadJson)?
    };
    match json {
        Value::Object(map) => Ok(map),
        other => {
            let mut types = Map::new();
            types.insert(
                "requestBody".into(),
                type_error("invalid object", Some(&other)),
            );
            Err(SearchError::Types(types))
        }
    }
}

/// A POST body's parameters for `purpose`.
pub fn body_for(map: &Map<String, Value>, purpose: Purpose) -> Result<SearchRequest, SearchError> {
    let mut types = Map::new();
    let mut unknown = false;
    let mut known: Vec<(Param, Value)> = Vec::new();
    for (key, value) in map {
        match Param::from_name(key).filter(|p| purpose.reads(*p, true)) {
            Some(p) => known.push((p, value.clone())),
            None => unknown = true,
        }
    }
    known.sort_by_key(|(p, _)| order(*p));
    let mut values = Vec::new();
    for (p, value) in known {
        if matches!(value, Value::Null) {
            continue;
        }
        body_type_errors(p, &value, &mut types);
        if given(p, &value) {
            values.push((p, value));
        }
    }
    if !types.is_empty() {
        return Err(SearchError::Types(types));
    }
    if unknown {
        return Err(SearchError::UnknownField);
    }
    validate(values, true, purpose)
}

/// The framework's type checks on the body model.
fn body_type_errors(p: Param, value: &Value, types: &mut Map<String, Value>) {
    let path = format!("requestBody.{}", p.name());
    let float_ok = |v: &Value| match v {
        Value::Number(_) => true,
        Value::String(s) => is_float(s),
        _ => false,
    };
    let error = match p {
        Param::Size | Param::Page => {
            (!float_ok(value)).then(|| type_error("invalid float number", Some(value)))
        }
        Param::Sex => match value.as_str() {
            Some("M" | "F" | "H") => None,
            _ => Some(union_error(&path, &enum_members(&["M", "F", "H"]), value)),
        },
        Param::BirthDate
        | Param::DeathDate
        | Param::BirthDepartment
        | Param::DeathDepartment
        | Param::DeathAge => (!matches!(value, Value::String(_) | Value::Number(_))).then(|| {
            union_error(
                &path,
                &["invalid string value".into(), "invalid float number".into()],
                value,
            )
        }),
        Param::Fuzzy => (!matches!(value, Value::String(_) | Value::Bool(_))).then(|| {
            union_error(
                &path,
                &[
                    "invalid string value".into(),
                    "invalid boolean value".into(),
                ],
                value,
            )
        }),
        Param::Sort => (!matches!(value, Value::String(_) | Value::Array(_))).then(|| {
            union_error(
                &path,
                &["invalid string value".into(), "invalid array".into()],
                value,
            )
        }),
        Param::BirthGeoPoint | Param::DeathGeoPoint => match value {
            Value::Object(point) => {
                for (name, number) in [("latitude", true), ("longitude", true), ("distance", false)]
                {
                    let sub = format!("{path}.{name}");
                    match point.get(name) {
                        None | Some(Value::Null) => {
                            types.insert(sub, type_error(format!("'{name}' is required"), None));
                        }
                        Some(v) if number && !float_ok(v) => {
                            types.insert(sub, type_error("invalid float number", Some(v)));
                        }
                        Some(v) if !number && !v.is_string() => {
                            types.insert(sub, type_error("invalid string value", Some(v)));
                        }
                        Some(_) => {}
                    }
                }
                None
            }
            _ => Some(type_error("invalid object", Some(value))),
        },
        _ => (!value.is_string()).then(|| type_error("invalid string value", Some(value))),
    };
    if let Some(e) = error {
        types.insert(path, e);
    }
}

// ---------------------------------------------------------------- both

/// The checks after typing, in the original's order: empty, formats, full text with
/// structured fields, then the limits the original lacked.
fn validate(
    mut values: Vec<(Param, Value)>,
    post: bool,
    purpose: Purpose,
) -> Result<SearchRequest, SearchError> {
    if purpose == Purpose::Search && !values.iter().any(|(p, _)| p.is_search_term()) {
        return Err(SearchError::EmptyRequest);
    }
    let take = |values: &mut Vec<(Param, Value)>, p: Param| {
        values
            .iter()
            .position(|(q, _)| *q == p)
            .map(|i| values.remove(i).1)
    };
    let size_given = take(&mut values, Param::Size);
    let page_given = take(&mut values, Param::Page);
    let sort_given = take(&mut values, Param::Sort);
    let fuzzy_given = take(&mut values, Param::Fuzzy);
    let scroll = take(&mut values, Param::Scroll).map(|v| as_text(&v));
    let scroll_id = take(&mut values, Param::ScrollId).map(|v| as_text(&v));
    let header_lang = take(&mut values, Param::HeaderLang).map(|v| as_text(&v));
    // lastSeenAliveDate is a death date limit and replaces deathDate.
    if let Some(lsa) = take(&mut values, Param::LastSeenAliveDate) {
        take(&mut values, Param::DeathDate);
        values.push((
            Param::DeathDate,
            Value::String(format!(">{}", as_text(&lsa))),
        ));
        values.sort_by_key(|(p, _)| order(*p));
    }

    // Dates are read as text (a number such as 1935 is the year "1935").
    for (p, v) in values.iter_mut() {
        if matches!(p.kind(), Kind::Date(_)) {
            *v = Value::String(as_text(v));
        }
    }

    let mut errors = Vec::new();
    let mut invalid = |p: Param, v: &str| errors.push(format!("invalid {} value: {v}", p.name()));

    let size = match &size_given {
        // Aggregations read no person.
        None if purpose == Purpose::Agg => 0,
        None => DEFAULT_SIZE,
        Some(v) => match whole_number(v) {
            Some(n) => n,
            None => {
                invalid(Param::Size, &as_text(v));
                DEFAULT_SIZE
            }
        },
    };
    let page = match &page_given {
        None => 1,
        Some(v) => match whole_number(v) {
            Some(0) => 1,
            Some(n) if n > 0 => n,
            _ => {
                invalid(Param::Page, &as_text(v));
                1
            }
        },
    };
    if let Some(s) = &scroll {
        if !is_duration(s) {
            invalid(Param::Scroll, s);
        }
    }
    let sort = match &sort_given {
        None => vec![("score".to_string(), "desc".to_string())],
        Some(v) => parse_sort(v).unwrap_or_else(|| {
            invalid(Param::Sort, &sort_text(v));
            Vec::new()
        }),
    };
    if let Some(v) = values
        .iter()
        .find(|(p, _)| *p == Param::Source)
        .map(|x| &x.1)
    {
        if !has_four_digits(&as_text(v)) {
            invalid(Param::Source, &as_text(v));
        }
    }
    let fuzzy = match &fuzzy_given {
        None | Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) => false,
        Some(v) => match v.as_str() {
            Some("true") => true,
            Some("false") => false,
            _ => {
                invalid(Param::Fuzzy, &as_text(v));
                true
            }
        },
    };
    for (p, v) in &values {
        let text = as_text(v);
        let ok = match (p, p.kind()) {
            (_, Kind::Date(_)) => dates::parse(&text).is_some(),
            (Param::DeathAge, _) => age_ok(&text),
            (Param::Sex, _) => matches!(text.as_str(), "M" | "F" | "H"),
            (_, Kind::GeoPoint(_)) => geo_point(v).is_some(),
            _ => true,
        };
        if !ok {
            invalid(*p, &text);
        }
    }
    if !errors.is_empty() {
        return Err(SearchError::Invalid(errors));
    }
    if values.iter().any(|(p, _)| *p == Param::Q)
        && values.iter().any(|(p, _)| p.conflicts_with_q(post))
    {
        return Err(SearchError::SimpleAndComplex);
    }
    if scroll.is_some() && scroll_id.is_none() && (page > 1 || size == 0) {
        return Err(SearchError::ScrollPaging);
    }
    if size > MAX_SIZE || page.saturating_mul(size) > MAX_WINDOW {
        return Err(SearchError::SizeTooLarge);
    }
    Ok(SearchRequest {
        values,
        sort_given: sort_given.unwrap_or_else(default_sort),
        sort,
        fuzzy_given,
        fuzzy,
        size,
        page,
        scroll,
        scroll_id,
        header_lang,
        matching_score: true,
    })
}

/// A whole number given as a JSON number or as text.
pub(crate) fn whole_number(v: &Value) -> Option<i64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) if is_float(s) => s.parse::<f64>().ok()?,
        _ => return None,
    };
    (f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
}

/// An Elasticsearch duration such as `1m` or `30s`.
fn is_duration(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && digits <= 6
        && matches!(
            &s[digits..],
            "d" | "h" | "m" | "s" | "ms" | "micros" | "nanos"
        )
}

/// `[{"<key>":"asc|desc"}, ...]`, given as JSON text or as a JSON array; keys the API knows.
fn parse_sort(v: &Value) -> Option<Vec<(String, String)>> {
    let parsed;
    let list = match v {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            parsed.as_array()?
        }
        Value::Array(a) => a,
        _ => return None,
    };
    if list.is_empty() {
        return None;
    }
    list.iter()
        .map(|item| {
            let obj = item.as_object()?;
            if obj.len() != 1 {
                return None;
            }
            let (key, order) = obj.iter().next()?;
            let order = order.as_str().filter(|o| *o == "asc" || *o == "desc")?;
            sort_field(key)?;
            Some((key.clone(), order.to_string()))
        })
        .collect()
}

fn sort_text(v: &Value) -> String {
    as_text(v)
}

fn has_four_digits(s: &str) -> bool {
    s.as_bytes()
        .windows(4)
        .any(|w| w.iter().all(u8::is_ascii_digit))
}

/// An age 0-139, or a range `a-b` of those with a < b (the original's mask).
fn age_ok(text: &str) -> bool {
    let single = |s: &str| {
        !s.is_empty()
            && s.len() <= 3
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s.len() == 1 || !s.starts_with('0'))
            && s.parse::<u32>().is_ok_and(|n| n < 140)
    };
    match age_range(text) {
        Some((a, b)) => single(a) && single(b) && a.parse::<u32>().ok() < b.parse::<u32>().ok(),
        None => single(text),
    }
}

/// `a-b`: the two sides of an age range.
pub fn age_range(text: &str) -> Option<(&str, &str)> {
    let (a, b) = text.split_once('-')?;
    (!a.is_empty() && !b.is_empty()).then_some((a, b))
}

/// A geo point: `{"latitude": n, "longitude": n, "distance": "10km"}`, as a JSON object or
/// as JSON text (GET).
#[derive(Debug, Clone, PartialEq)]
pub struct GeoPoint {
    pub latitude: Value,
    pub longitude: Value,
    pub distance: String,
}

pub fn geo_point(v: &Value) -> Option<GeoPoint> {
    let parsed;
    let obj = match v {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            parsed.as_object()?
        }
        Value::Object(o) => o,
        _ => return None,
    };
    let number = |key: &str| -> Option<Value> {
        match obj.get(key)? {
            n @ Value::Number(_) => Some(n.clone()),
            Value::String(s) if is_float(s) => {
                serde_json::Number::from_f64(s.parse().ok()?).map(Value::Number)
            }
            _ => None,
        }
    };
    Some(GeoPoint {
        latitude: number("latitude")?,
        longitude: number("longitude")?,
        distance: obj.get("distance")?.as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(q: &str) -> Result<SearchRequest, SearchError> {
        from_query(&decode_query(q)?)
    }

    fn post(body: Value) -> Result<SearchRequest, SearchError> {
        from_body(body.to_string().as_bytes())
    }

    #[test]
    fn decodes_like_the_original() {
        let pairs = decode_query("firstName=jean+pierre&lastName=Lef%C3%A8vre&x").unwrap();
        assert_eq!(pairs[0], ("firstName".into(), "jean pierre".into()));
        assert_eq!(pairs[1], ("lastName".into(), "Lefèvre".into()));
        assert_eq!(pairs[2], ("x".into(), "".into()));
        assert_eq!(decode_query("a=%FF"), Err(SearchError::BadEncoding));
    }

    #[test]
    fn empty_requests() {
        assert_eq!(get("bob=pop"), Err(SearchError::EmptyRequest));
        assert_eq!(get("lastName="), Err(SearchError::EmptyRequest));
        assert_eq!(get("size=5&fuzzy=true"), Err(SearchError::EmptyRequest));
        assert!(get("scroll=1m").is_ok());
        assert_eq!(post(json!({})), Err(SearchError::EmptyRequest));
        assert_eq!(from_body(b""), Err(SearchError::EmptyRequest));
    }

    #[test]
    fn post_refuses_unknown_fields() {
        for body in [
            json!({"foo": "bar"}),
            json!({"fullText": "Dupont"}),
            json!({"lastName": "Dupont", "birthPostalCode": "75014"}),
        ] {
            assert_eq!(post(body), Err(SearchError::UnknownField));
        }
    }

    #[test]
    fn format_errors_come_in_field_order() {
        let err = get("birthDate=abc&deathDate=xyz&source=abc&deathAge=999").unwrap_err();
        assert_eq!(
            err,
            SearchError::Invalid(vec![
                "invalid source value: abc".into(),
                "invalid birthDate value: abc".into(),
                "invalid deathDate value: xyz".into(),
                "invalid deathAge value: 999".into(),
            ])
        );
    }

    #[test]
    fn type_errors_name_the_path() {
        let SearchError::Types(d) = get("lastName=Dupont&size=abc&sex=X").unwrap_err() else {
            panic!()
        };
        assert_eq!(d["size"]["message"], "invalid float number");
        assert!(d["sex"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Could not match the union"));
        let SearchError::Types(d) = post(json!({"lastName": 123})).unwrap_err() else {
            panic!()
        };
        assert_eq!(
            d["requestBody.lastName"],
            json!({"message": "invalid string value", "value": 123})
        );
        let SearchError::Types(d) =
            post(json!({"birthGeoPoint": {"latitude": 1, "longitude": 2}})).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(
            d["requestBody.birthGeoPoint.distance"],
            json!({"message": "'distance' is required"})
        );
        assert!(matches!(post(json!([1])), Err(SearchError::Types(_))));
    }

    #[test]
    fn full_text_conflicts_differ_by_method() {
        assert_eq!(get("q=Dupont&sex=M"), Err(SearchError::SimpleAndComplex));
        assert!(post(json!({"q": "Dupont", "sex": "M"})).is_ok());
        assert!(get("q=Dupont&source=2020-m01&deathPostalCode=75014").is_ok());
        assert_eq!(
            post(json!({"q": "Dupont", "source": "2020-m01"})),
            Err(SearchError::SimpleAndComplex)
        );
    }

    #[test]
    fn limits_and_paging() {
        assert_eq!(get("lastName=A&size=1001"), Err(SearchError::SizeTooLarge));
        assert_eq!(
            get("lastName=A&size=10000&page=2"),
            Err(SearchError::SizeTooLarge)
        );
        assert!(get("lastName=A&size=1000&page=10").is_ok());
        assert_eq!(
            get("lastName=A&page=-1"),
            Err(SearchError::Invalid(vec!["invalid page value: -1".into()]))
        );
        assert_eq!(get("lastName=A&page=0").unwrap().page, 1);
        assert_eq!(
            get("lastName=A&scroll=1m&page=2"),
            Err(SearchError::ScrollPaging)
        );
        assert_eq!(
            get("lastName=A&scroll=1m&size=0"),
            Err(SearchError::ScrollPaging)
        );
    }

    #[test]
    fn sort_keys_are_checked() {
        assert_eq!(
            get("lastName=A&sort=%5B%7B%22foo%22%3A%22asc%22%7D%5D"),
            Err(SearchError::Invalid(vec![
                "invalid sort value: [{\"foo\":\"asc\"}]".into()
            ]))
        );
        let r = post(json!({"lastName": "A", "sort": [{"birthDate": "desc"}]})).unwrap();
        assert_eq!(r.sort, vec![("birthDate".to_string(), "desc".to_string())]);
    }

    #[test]
    fn last_seen_alive_is_a_death_date_limit() {
        let r = post(json!({"lastName": "Moreau", "lastSeenAliveDate": "01/01/2021"})).unwrap();
        assert_eq!(r.get(Param::DeathDate), Some(&json!(">01/01/2021")));
        assert_eq!(r.get(Param::LastSeenAliveDate), None);
    }

    #[test]
    fn ages() {
        for ok in ["0", "9", "84", "139", "80-90"] {
            assert!(age_ok(ok), "{ok}");
        }
        for bad in ["", "140", "999", "1000", "30-20", "abc", "08", "-5", "5-"] {
            assert!(!age_ok(bad), "{bad}");
        }
    }

    #[test]
    fn floats() {
        for ok in ["1", "-1", "+2", "1.5", ".5", "1e3", "2E-2"] {
            assert!(is_float(ok), "{ok}");
        }
        for bad in ["", "abc", "1e", ".", "-", "inf", "NaN", "1 "] {
            assert!(!is_float(bad), "{bad}");
        }
    }
}
