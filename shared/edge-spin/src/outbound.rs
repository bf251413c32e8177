//! Outbound HTTP with a deadline, on the WASI 0.2 interface directly (spin-sdk's `send`
//! sets no timeouts).

use edge_core::upstream::{BaseUrl, Outcome};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use std::time::Duration;
use wasi::io::streams::StreamError;

/// Largest answer read from the backend.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// One request; every failure is an `Outcome`, never a panic.
pub fn call(
    base: &BaseUrl,
    method: &str,
    path_with_query: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Outcome {
    call_with_headers(base, method, path_with_query, &[], body, timeout)
}

/// The same, with extra request headers.
pub fn call_with_headers(
    base: &BaseUrl,
    method: &str,
    path_with_query: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Outcome {
    match send(base, method, path_with_query, headers, body, timeout) {
        Ok(o) => o,
        Err(ErrorCode::ConnectionTimeout | ErrorCode::HttpResponseTimeout) => Outcome::TimedOut,
        Err(_) => Outcome::Unreachable,
    }
}

fn send(
    base: &BaseUrl,
    method: &str,
    path_with_query: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Outcome, ErrorCode> {
    let internal = |_| ErrorCode::InternalError(None);
    let mut list = vec![("accept".to_string(), b"application/json".to_vec())];
    for (k, v) in extra {
        list.push((k.to_string(), v.as_bytes().to_vec()));
    }
    if let Some(b) = body {
        list.push(("content-type".to_string(), b"application/json".to_vec()));
        list.push((
            "content-length".to_string(),
            b.len().to_string().into_bytes(),
        ));
    }
    let headers = Fields::from_list(&list).map_err(|_| ErrorCode::InternalError(None))?;
    let request = OutgoingRequest::new(headers);
    let method = match method {
        "GET" => Method::Get,
        "DELETE" => Method::Delete,
        "PUT" => Method::Put,
        _ => Method::Post,
    };
    request.set_method(&method).map_err(internal)?;
    let scheme = if base.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request.set_scheme(Some(&scheme)).map_err(internal)?;
    request
        .set_authority(Some(&base.authority))
        .map_err(internal)?;
    request
        .set_path_with_query(Some(path_with_query))
        .map_err(internal)?;
    let options = RequestOptions::new();
    let nanos = Some(timeout.as_nanos().min(u64::MAX as u128) as u64);
    let _ = options.set_connect_timeout(nanos);
    let _ = options.set_first_byte_timeout(nanos);
    let _ = options.set_between_bytes_timeout(nanos);
    let outgoing_body = request.body().map_err(internal)?;
    let pending = outgoing_handler::handle(request, Some(options))?;
    {
        let stream = outgoing_body.write().map_err(internal)?;
        for chunk in body.unwrap_or_default().chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|_| ErrorCode::HttpRequestBodySize(None))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None)?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(result)) => result?,
        _ => return Err(ErrorCode::InternalError(None)),
    };
    let status = response.status();
    let incoming = response.consume().map_err(internal)?;
    let mut answer = Vec::new();
    {
        let stream = incoming.stream().map_err(internal)?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => {
                    if answer.is_empty() {
                        // The first chunk is kept as it is, not copied.
                        answer = chunk;
                    } else {
                        answer.extend_from_slice(&chunk);
                    }
                    if answer.len() > MAX_ANSWER_BYTES {
                        return Err(ErrorCode::HttpResponseBodySize(None));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => {
                    return Err(ErrorCode::HttpResponseIncomplete)
                }
            }
        }
    }
    Ok(Outcome::Answer {
        status,
        body: answer,
    })
}
