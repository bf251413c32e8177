//! The search backends behind one trait: what the search component asks of either.

use super::find::{self, FindError};
use super::Sql;
use crate::api::JsonReply;
use crate::ready::State;
use crate::score::place::CommuneLookup;
use crate::search::agg::AggRequest;
use crate::search::{self, request::SearchRequest};
use crate::upstream::{Failure, RETRY_AFTER_SECONDS};
use crate::version::IndexFacts;
use serde_json::{json, Value};
use std::time::Instant;

/// A search backend: /search, /id and /version's facts.
pub trait SearchBackend {
    /// A search's answer as Elasticsearch shapes it (what [`search::search_reply`] reads),
    /// or the reply of its failure: a search's, or one page of a CSV download.
    fn answer(&mut self, req: &SearchRequest) -> Result<String, JsonReply>;
    /// The API's answer to a search (scored without a communes dictionary).
    fn search(&mut self, req: &SearchRequest) -> JsonReply {
        let answer = self.answer(req);
        shaped(req, answer, None)
    }
    /// One page of an /agg request's aggregation as Elasticsearch shapes it (what
    /// [`crate::search::agg::reply`] reads): the first (`after` none) or a composite's next page.
    fn agg_page(&mut self, req: &AggRequest, after: Option<&Value>) -> Result<String, JsonReply>;
    fn id(&mut self, id: &str) -> JsonReply;
    /// The index facts, `None` when the backend cannot give them.
    fn facts(&mut self) -> Option<IndexFacts>;
    /// Whether the backend answers and has records (GET /ready).
    fn ready(&mut self) -> State;
}

/// The embedded backend over any statement runner.
pub struct Embedded<S: Sql>(pub S);

/// The answer when nothing was ever imported.
pub fn empty_reply() -> JsonReply {
    JsonReply::new(
        503,
        json!({ "msg": "error - the search database is empty: load records with `deces-edge import` (see the README, \"Search data\")" }),
    )
    .with_header("retry-after", RETRY_AFTER_SECONDS.to_string())
}

fn failure(e: FindError) -> JsonReply {
    match e {
        FindError::Empty => empty_reply(),
        FindError::Rejected => Failure::Rejected.reply(),
        FindError::Database(e) => {
            eprintln!("search: sqlite: {e}");
            Failure::Unavailable.reply()
        }
    }
}

/// A backend's answer shaped into the API's, with the matching score (an answer that is
/// not Elasticsearch's shape is the backend's failure).
pub fn shaped(
    req: &SearchRequest,
    answer: Result<String, JsonReply>,
    communes: Option<&dyn CommuneLookup>,
) -> JsonReply {
    match answer {
        Ok(es) => search::search_reply_with(req, es.as_bytes(), communes)
            .unwrap_or_else(|| Failure::Unavailable.reply()),
        Err(reply) => reply,
    }
}

fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis().try_into().unwrap_or(u64::MAX)
}

impl<S: Sql> SearchBackend for Embedded<S> {
    fn answer(&mut self, req: &SearchRequest) -> Result<String, JsonReply> {
        let start = Instant::now();
        find::search(&mut self.0, req, 0)
            .map(|es| {
                // `took` is known once the search is done.
                es.replacen("{\"took\":0", &format!("{{\"took\":{}", millis(start)), 1)
            })
            .map_err(failure)
    }

    fn agg_page(&mut self, req: &AggRequest, after: Option<&Value>) -> Result<String, JsonReply> {
        let start = Instant::now();
        super::count::aggregate(&mut self.0, req, after)
            .map(|mut answer| {
                answer["took"] = json!(millis(start));
                answer.to_string()
            })
            .map_err(failure)
    }

    fn id(&mut self, id: &str) -> JsonReply {
        let answer = find::by_id(&mut self.0, id, 0).map_err(failure);
        shaped(&SearchRequest::by_id(), answer, None)
    }

    fn facts(&mut self) -> Option<IndexFacts> {
        find::facts(&mut self.0).ok()
    }

    fn ready(&mut self) -> State {
        match self.0.query("SELECT 1 FROM person LIMIT 1", &[]) {
            Ok(rows) if rows.is_empty() => State::Empty,
            Ok(_) => State::Ok,
            // A database without tables was never imported into.
            Err(e) if e.contains("no such table") => State::Empty,
            Err(_) => State::Down,
        }
    }
}
