//! The components' request and response, read from and written to the WASI HTTP resources
//! directly. Only what a component asks for crosses from the host: headers are looked up
//! one at a time when needed, a request without a body (GET, HEAD, OPTIONS) never has its
//! body read, and the answer is written in one piece. spin-sdk's `Request` instead copies
//! every header into a map, parses the URL and reads the body through its executor: about
//! a third more calls into the host for a request that needs none of it.

use edge_core::api::JsonReply;
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse};
use std::cell::RefCell;
use wasi::io::streams::StreamError;

pub use spin_sdk::http::ResponseOutparam;

/// Every answer's content type but a CSV download's.
const JSON: &str = "application/json; charset=utf-8";

/// The most a single read of the request body asks for (the host caps bodies well below).
const READ_CHUNK: u64 = 1 << 20;

/// One incoming request: method, path and query, body, and its headers on demand.
pub struct Request {
    method: Method,
    path_with_query: String,
    /// Where the query starts (the `?`), or the length when there is none.
    query_at: usize,
    /// The request's headers: a resource made from `_request`, so it is declared (and thus
    /// dropped) before it. Spin 3.6's runtime (wasmtime 42) traps with "resource has
    /// children" when a request is dropped while its headers are alive.
    headers: Fields,
    /// Kept only so that it outlives `headers`.
    _request: IncomingRequest,
    /// Headers already fetched, by the name asked for: several steps (the limits, the
    /// route) may ask for the same one, and each fetch is a call into the host.
    fetched: RefCell<Vec<(String, Option<String>)>>,
    body: Vec<u8>,
}

impl Request {
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        &self.path_with_query[..self.query_at]
    }

    /// The query string without its `?` (empty when there is none).
    pub fn query(&self) -> &str {
        self.path_with_query
            .get(self.query_at + 1..)
            .unwrap_or_default()
    }

    /// The body (empty for GET, HEAD and OPTIONS, whose bodies are not read).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A header's value as text (several values joined by `, `), or `None` when it is
    /// absent or not UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        let known = self
            .fetched
            .borrow()
            .iter()
            .find_map(|(n, v)| n.eq_ignore_ascii_case(name).then(|| v.clone()));
        if let Some(value) = known {
            return value;
        }
        let value = self.fetch_header(name);
        self.fetched
            .borrow_mut()
            .push((name.to_string(), value.clone()));
        value
    }

    fn fetch_header(&self, name: &str) -> Option<String> {
        let values = self.headers.get(name);
        let mut text = String::new();
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(std::str::from_utf8(value).ok()?);
        }
        (!values.is_empty()).then_some(text)
    }
}

/// The request body could not be read (the client went away mid-body).
#[derive(Debug)]
pub struct UnreadableBody;

impl spin_sdk::http::IntoResponse for UnreadableBody {
    fn into_response(self) -> spin_sdk::http::Response {
        spin_sdk::http::Response::builder()
            .status(400)
            .header("content-type", JSON)
            .body(r#"{"msg":"Bad Request"}"#)
            .build()
    }
}

#[async_trait::async_trait]
impl TryFromIncomingRequest for Request {
    type Error = UnreadableBody;

    async fn try_from_incoming_request(request: IncomingRequest) -> Result<Self, UnreadableBody> {
        let method = request.method();
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
        let query_at = path_with_query.find('?').unwrap_or(path_with_query.len());
        let body = match method {
            Method::Get | Method::Head | Method::Options => Vec::new(),
            _ => read_body(&request).ok_or(UnreadableBody)?,
        };
        Ok(Request {
            method,
            path_with_query,
            query_at,
            headers: request.headers(),
            _request: request,
            fetched: RefCell::new(Vec::new()),
            body,
        })
    }
}

fn read_body(request: &IncomingRequest) -> Option<Vec<u8>> {
    let incoming = request.consume().ok()?;
    // Made from `incoming`, so declared after it: locals drop in reverse order.
    let stream = incoming.stream().ok()?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) if body.is_empty() => body = chunk,
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Some(body),
            Err(StreamError::LastOperationFailed(_)) => return None,
        }
    }
}

/// Sends a reply: status, a JSON content type (unless the reply names its own; none for an
/// empty body), its headers, and
/// the body written in as few pieces as the host accepts.
pub fn send(out: ResponseOutparam, reply: JsonReply) {
    let mut list = Vec::with_capacity(reply.headers.len() + 1);
    let typed = reply
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !reply.body.is_empty() && !typed {
        list.push(("content-type".to_string(), JSON.as_bytes().to_vec()));
    }
    for (name, value) in reply.headers {
        list.push((name, value.into_bytes()));
    }
    let fields = match Fields::from_list(&list) {
        Ok(fields) => fields,
        Err(e) => {
            // Only a bug of ours can build an invalid header: answer 500 rather than nothing.
            crate::log!("response headers refused: {e:?}");
            return send(out, internal_error());
        }
    };
    let response = OutgoingResponse::new(fields);
    if response.set_status_code(reply.status).is_err() {
        crate::log!("response status {} refused", reply.status);
        return send(out, internal_error());
    }
    let Ok(body) = response.body() else {
        return send(out, internal_error());
    };
    out.set(response);
    if let Err(e) = write_body(&body, reply.body.as_bytes()) {
        crate::log!("response body not written: {e:?}");
        return;
    }
    if let Err(e) = OutgoingBody::finish(body, None) {
        crate::log!("response body not finished: {e:?}");
    }
}

fn internal_error() -> JsonReply {
    JsonReply::new(500, serde_json::json!({ "msg": "Internal Server Error" }))
}

fn write_body(body: &OutgoingBody, mut bytes: &[u8]) -> Result<(), StreamError> {
    let stream = body.write().map_err(|()| StreamError::Closed)?;
    while !bytes.is_empty() {
        let room = stream.check_write()?;
        if room == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    stream.blocking_flush()
}
