//! The search component: /healthcheck, /version, GET and POST /search, GET /id/{id}, POST
//! /compare (the matching score of two persons, computed here), CSV downloads of a POST
//! /search (`Accept: text/csv`), GET and POST /agg (JSON or CSV), the
//! API's OpenAPI document (`/docs/swagger.json`, rendered at `/docs`), /ready, and the
//! JSON 404 for every other path under the API prefix, on the backend `search_backend`
//! names: `sqlite` (the embedded index in the granted database `default`) or
//! `elasticsearch` (`es_url`). The logic is in `edge-core`.

use edge_core::api::{self, JsonReply};
use edge_core::embedded::backend::{shaped, Embedded, SearchBackend};
use edge_core::score::place::{Commune, CommuneLookup};
use edge_core::search::agg::{self, AggRequest};
use edge_core::search::error::SearchError;
use edge_core::search::request::SearchRequest;
use edge_core::search::{self, EsCall};
use edge_core::upstream::{self, BaseUrl, Failure, Outcome};
use edge_core::{docs, ready, score, token, version};
use edge_spin::{now_seconds, outbound, variable};
use edge_spin::{Request, ResponseOutparam};
use serde_json::Value;
use spin_sdk::http::Method;
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use std::time::Duration;

#[http_component]
fn handle(req: Request, out: ResponseOutparam) {
    edge_spin::serve(&req, out, route);
}

fn route(req: &Request) -> JsonReply {
    let get = *req.method() == Method::Get;
    match api::api_path(req.path()) {
        Some("/healthcheck") if get => api::healthcheck(),
        Some("/version") if get => version_reply(),
        Some("/ready") if get => ready_reply(),
        Some("/docs") if get => docs::page(),
        Some("/docs/swagger.json") if get => docs::document(),
        Some("/search") => match req.method() {
            Method::Get | Method::Post => search_reply(req),
            _ => api::method_not_allowed(),
        },
        Some("/compare") if *req.method() == Method::Post => {
            let store = Store::open_default().ok();
            let communes = StoredCommunes::open(store.as_ref());
            score::reply(
                req.body(),
                communes.as_ref().map(|c| c as &dyn CommuneLookup),
            )
        }
        Some("/compare") => api::method_not_allowed(),
        Some("/agg") => match req.method() {
            Method::Get | Method::Post => agg_reply(req),
            _ => api::method_not_allowed(),
        },
        Some(p) if p.starts_with("/id/") && get => id_reply(&p[4..]),
        Some(p) if p.starts_with("/id/") => api::method_not_allowed(),
        Some("/healthcheck" | "/version" | "/ready" | "/docs" | "/docs/swagger.json") => {
            api::method_not_allowed()
        }
        _ => api::route_not_found(),
    }
}

/// The configured backend; a database that cannot be opened answers 503.
fn backend() -> Result<Box<dyn SearchBackend>, JsonReply> {
    match variable("search_backend", "sqlite").as_str() {
        "elasticsearch" => Ok(Box::new(Elasticsearch::load())),
        "sqlite" => match edge_spin::sqlite::Database::open("default") {
            Ok(db) => Ok(Box::new(Embedded(db))),
            Err(e) => {
                edge_spin::log!("search: {e}");
                Err(Failure::Unavailable.reply())
            }
        },
        other => {
            edge_spin::log!("search: search_backend `{other}` is neither sqlite nor elasticsearch");
            Err(Failure::Unavailable.reply())
        }
    }
}

/// Where Elasticsearch is and how long it may take.
struct Elasticsearch {
    base: Option<BaseUrl>,
    index: String,
    timeout: Duration,
}

impl Elasticsearch {
    fn load() -> Self {
        let url = variable("es_url", "http://127.0.0.1:9200");
        let base = BaseUrl::parse(&url);
        if base.is_none() {
            edge_spin::log!("search: es_url `{url}` is not an http(s) URL");
        }
        let ms = variable("es_timeout_ms", "10000").parse().unwrap_or(10_000);
        Elasticsearch {
            base,
            index: variable("es_index", "deces"),
            timeout: Duration::from_millis(ms),
        }
    }

    /// One logical call, retried like the original's client, as JSON or a failure.
    fn json(&self, call: &EsCall) -> Result<serde_json::Value, Failure> {
        let outcome = self.call(call)?;
        upstream::json_answer(&outcome)
    }

    /// One logical call, retried like the original's client.
    fn call(&self, call: &EsCall) -> Result<Outcome, Failure> {
        let Some(base) = &self.base else {
            return Err(Failure::Unavailable);
        };
        let path = base.path_with_query(&call.path, call.query.as_deref());
        let body = call.body.as_deref().map(str::as_bytes);
        let outcome = upstream::with_retries(self.timeout, |left| {
            outbound::call(base, call.method, &path, body, left)
        });
        if let Outcome::Answer { status, .. } = &outcome {
            if *status >= 300 {
                edge_spin::log!(
                    "search: elasticsearch answered {status} to {} {}",
                    call.method,
                    call.path
                );
            }
        } else {
            edge_spin::log!(
                "search: elasticsearch {} on {} {}",
                outcome_kind(&outcome),
                call.method,
                call.path
            );
        }
        Ok(outcome)
    }

    /// A search call's answer body, or the reply of its failure.
    fn raw(&self, call: &EsCall) -> Result<String, JsonReply> {
        self.call(call)
            .and_then(|o| Ok(String::from_utf8_lossy(upstream::answer_body(&o)?).into_owned()))
            .map_err(Failure::reply)
    }
}

impl SearchBackend for Elasticsearch {
    fn answer(&mut self, req: &SearchRequest) -> Result<String, JsonReply> {
        self.raw(&search::search_call(&self.index, req))
    }

    fn agg_page(&mut self, req: &AggRequest, after: Option<&Value>) -> Result<String, JsonReply> {
        self.raw(&search::agg_call(&self.index, req, after))
    }

    fn id(&mut self, id: &str) -> JsonReply {
        let answer = self.raw(&search::id_call(&self.index, id));
        shaped(&SearchRequest::by_id(), answer, None)
    }

    fn ready(&mut self) -> ready::State {
        // A probe waits at most this long, retries included.
        const READY_TIMEOUT: Duration = Duration::from_secs(2);
        let call = EsCall {
            method: "GET",
            path: format!("/{}/_count", self.index),
            query: None,
            body: None,
        };
        self.timeout = self.timeout.min(READY_TIMEOUT);
        match self.json(&call) {
            Ok(v) if v["count"].as_u64().is_some_and(|n| n > 0) => ready::State::Ok,
            Ok(v) if v["count"].is_u64() => ready::State::Empty,
            _ => ready::State::Down,
        }
    }

    fn facts(&mut self) -> Option<version::IndexFacts> {
        let [count, newest, indices] = version::calls(&self.index);
        let count = self.json(&count).ok()?;
        let newest = self.json(&newest).ok()?;
        let indices = self.json(&indices).ok()?;
        version::facts(&count, &newest, &indices)
    }
}

fn outcome_kind(o: &Outcome) -> &'static str {
    match o {
        Outcome::Answer { .. } => "answer",
        Outcome::Unreachable => "unreachable",
        Outcome::TimedOut => "timed out",
    }
}

fn search_reply(req: &Request) -> JsonReply {
    // A token, when one is sent, must be valid: a bad one is refused, not read as anonymous.
    match token::bearer(req.header("authorization").as_deref()) {
        Ok(None) => {}
        Ok(Some(t)) => {
            let secret = variable("token_secret", "");
            if let Err(e) = token::verify(t, secret.as_bytes(), now_seconds(), "user") {
                return e.reply();
            }
        }
        Err(e) => return e.reply(),
    }
    let mut request = match parsed(req, search::from_body, search::parse_get) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    request.matching_score = variable("matching_score", "true") != "false";
    let csv = *req.method() == Method::Post && wants_csv(req);
    match backend() {
        Ok(mut b) if csv => search::csv::download(&request, |page| b.answer(page)),
        Ok(mut b) => {
            let store = Store::open_default().ok();
            let communes = StoredCommunes::open(store.as_ref());
            let lookup = communes.as_ref().map(|c| c as &dyn CommuneLookup);
            let reply = shaped(&request, b.answer(&request), lookup);
            links(reply, store.as_ref())
        }
        Err(reply) => reply,
    }
}

/// A request of /search or /agg: its JSON body for a POST (413 above the limit), its
/// query string otherwise; the refusal's reply when it is not valid.
fn parsed<T>(
    req: &Request,
    body: fn(&[u8]) -> Result<T, SearchError>,
    query: fn(&str) -> Result<T, SearchError>,
) -> Result<T, JsonReply> {
    let parsed = if *req.method() == Method::Post {
        if req.body().len() > search::MAX_BODY_BYTES {
            return Err(api::payload_too_large());
        }
        body(req.body())
    } else {
        query(req.query())
    };
    parsed.map_err(|e| e.reply())
}

/// Whether the client asks for CSV.
fn wants_csv(req: &Request) -> bool {
    req.header("accept").is_some_and(|a| a.contains("text/csv"))
}

/// GET and POST /agg (no token needed, as the original).
fn agg_reply(req: &Request) -> JsonReply {
    let request = match parsed(req, agg::from_body, agg::parse_get) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    match backend() {
        Ok(mut b) => agg::reply(
            &request,
            wants_csv(req),
            &mut |r: &AggRequest, after: Option<&Value>| b.agg_page(r, after),
        ),
        Err(reply) => reply,
    }
}

/// The communes dictionary a deployment loaded with `deces-edge communes` (none when it
/// did not: the matching score then goes without, as the original did).
struct StoredCommunes<'a>(&'a Store);

impl<'a> StoredCommunes<'a> {
    fn open(store: Option<&'a Store>) -> Option<Self> {
        let store = store?;
        store
            .exists("commune:loaded")
            .unwrap_or(false)
            .then_some(StoredCommunes(store))
    }
}

impl CommuneLookup for StoredCommunes<'_> {
    fn commune(&self, key: &str) -> Option<Commune> {
        let bytes = self.0.get(&format!("commune:{key}")).ok()??;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A search or id answer with the persons' Wikidata links, when `deces-edge links` loaded
/// some into the key-value store (one lookup, `links:loaded`, when none were).
fn links(reply: JsonReply, store: Option<&Store>) -> JsonReply {
    let Some(store) = store.filter(|_| reply.status == 200) else {
        return reply;
    };
    if !store.exists("links:loaded").unwrap_or(false) {
        return reply;
    }
    let lookup = |id: &str| {
        let bytes = store.get(&format!("links:{id}")).ok()??;
        serde_json::from_slice(&bytes).ok()
    };
    match search::with_links(&reply.body, lookup) {
        Some(body) => JsonReply { body, ..reply },
        None => reply,
    }
}

fn id_reply(id: &str) -> JsonReply {
    if let Err(e) = search::check_id(id) {
        return e.reply();
    }
    match backend() {
        Ok(mut b) => links(b.id(id), Store::open_default().ok().as_ref()),
        Err(reply) => reply,
    }
}

/// GET /ready: a round trip to the key-value store, and the search backend's answer (kept
/// a second in the store).
fn ready_reply() -> JsonReply {
    use ready::State;
    let now = now_seconds();
    let store = Store::open_default().ok();
    let probe = now.to_string();
    let store_state = match &store {
        Some(s)
            if s.set(ready::PROBE_KEY, probe.as_bytes()).is_ok()
                && s.get(ready::PROBE_KEY).ok().flatten().as_deref() == Some(probe.as_bytes()) =>
        {
            State::Ok
        }
        _ => State::Down,
    };
    let store = store.filter(|_| store_state == State::Ok);
    let cached = store
        .as_ref()
        .and_then(|s| s.get(ready::CACHE_KEY).ok().flatten())
        .and_then(|bytes| serde_json::from_slice::<ready::Cached>(&bytes).ok())
        .filter(|c| c.fresh(now));
    let search = match cached {
        Some(c) => c.search,
        None => {
            let search = backend().map_or(State::Down, |mut b| b.ready());
            if let Some(s) = &store {
                let record = ready::Cached { at: now, search };
                let _ = s.set(
                    ready::CACHE_KEY,
                    &serde_json::to_vec(&record).unwrap_or_default(),
                );
            }
            search
        }
    };
    if search != State::Ok || store_state != State::Ok {
        edge_spin::log!("search: not ready: store {store_state:?}, search {search:?}");
    }
    ready::reply(store_state, search)
}

fn version_reply() -> JsonReply {
    let app_version = variable("app_version", "");
    let store = Store::open_default().ok();
    let now = now_seconds();
    let cached = store
        .as_ref()
        .and_then(|s| s.get(version::CACHE_KEY).ok().flatten())
        .and_then(|bytes| serde_json::from_slice::<version::Cached>(&bytes).ok())
        .filter(|c| c.fresh(now));
    if let Some(c) = cached {
        return version::reply(&app_version, Some(&c.facts));
    }
    let facts = backend().ok().and_then(|mut b| b.facts());
    if let (Some(f), Some(s)) = (&facts, &store) {
        let ttl = variable("version_cache_seconds", "3600")
            .parse()
            .unwrap_or(3600);
        let record = version::Cached {
            expires_at: now.saturating_add(ttl),
            facts: f.clone(),
        };
        if let Err(e) = s.set(
            version::CACHE_KEY,
            &serde_json::to_vec(&record).unwrap_or_default(),
        ) {
            edge_spin::log!("search: version cache not written: {e}");
        }
    }
    version::reply(&app_version, facts.as_ref())
}
