//! `PUT /api/v2/eventbridge/topics/{topicId}/events`: a replay, checked rule by rule.
//!
//! The body is read (or drained) first, so an early answer never races a reset of unread
//! request bytes; then the API gate, then the rules in the README's order: topic, headers,
//! size, JSON, [fields](schema), the event in that topic's DLQ, `originalPayload` equal to the
//! DLQ payload, and finally the idempotency key (201, or 409 when accepted before).

mod schema;
#[cfg(test)]
mod tests;

use crate::config::BODY_LIMIT;
use crate::json_eq::{self, JsonMatch, Numbers};
use crate::routes::{ROUTE_PUT, gate};
use crate::server::listener::ConnTag;
use crate::server::reject::{Reject, json_response};
use crate::server::state::AppState;
use crate::server::tokens::Scope;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::SecondsFormat;
use futures::StreamExt as _;
use schema::{RawPayload, check_payload, object};
use serde_json::json;
use serde_json::value::RawValue;
use std::sync::Arc;

/// Bodies larger than this are not even drained: the connection is closed after the 413.
const DRAIN_MAX: usize = 8 * 1024 * 1024;

pub(crate) async fn replay(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    Path(topic): Path<String>,
    request: Request,
) -> Response {
    let _guard = InFlight::enter(&state);
    let (parts, body) = request.into_parts();
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = read_body(body, length).await;
    let admitted = match gate::admit(&state, &conn, &parts.headers, Scope::Write).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let key_header = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok());
    let context = format!(
        "PUT topics/{topic}/events [{}]",
        key_header.unwrap_or("no Idempotency-Key")
    );
    let resp = match state.put_status() {
        Some(status) => put_status_answer(status).respond(&state, &context),
        None => match accept(&state, &parts.headers, &topic, key_header, bytes) {
            Ok(resp) => resp,
            Err(r) => r.respond(&state, &context),
        },
    };
    admitted.stamp(resp)
}

/// The answer of the `put_status` setting (not a contract violation of the client).
fn put_status_answer(status: u16) -> Reject {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let reject = Reject::new(status, "put_status", "injected answer to every replay PUT");
    if status == StatusCode::UNAUTHORIZED {
        reject.header(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")
    } else {
        reject
    }
}

/// Counts a PUT in progress (latency included) for `max_in_flight`.
struct InFlight<'a>(&'a AppState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a AppState) -> Self {
        let mut l = state.ledger();
        l.request(ROUTE_PUT);
        l.in_flight += 1;
        l.ledger.max_in_flight = l.ledger.max_in_flight.max(l.in_flight);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut l = self.0.ledger();
        l.in_flight = l.in_flight.saturating_sub(1);
    }
}

fn too_large() -> Reject {
    Reject::field(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "body",
        format!("the body is over {BODY_LIMIT} bytes"),
    )
}

/// Reads the body up to [`BODY_LIMIT`]; a larger one is drained (up to [`DRAIN_MAX`]) and is a 413.
async fn read_body(body: Body, length: Option<usize>) -> Result<Vec<u8>, Reject> {
    if length.is_some_and(|n| n > DRAIN_MAX) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(length.unwrap_or(8192).min(BODY_LIMIT));
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Reject::field(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "body",
                format!("unreadable body: {e}"),
            )
        })?;
        seen += chunk.len();
        if seen > DRAIN_MAX {
            return Err(too_large());
        }
        if seen <= BODY_LIMIT {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > BODY_LIMIT {
        return Err(too_large());
    }
    Ok(buf)
}

/// The checks after the gate, and the answer: 201, or 409 for a key accepted before.
fn accept(
    state: &AppState,
    headers: &HeaderMap,
    topic: &str,
    key_header: Option<&str>,
    body: Result<Vec<u8>, Reject>,
) -> Result<Response, Reject> {
    let Some(topic_data) = state.data.topics.get(topic) else {
        return Err(Reject::field(
            StatusCode::NOT_FOUND,
            "topic_not_found",
            "topicId",
            format!("topic `{topic}` does not exist"),
        ));
    };
    check_content_type(headers)?;
    let key_header = check_key_header(headers, key_header)?;
    let bytes = body?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Reject::field(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "body",
            "the body is not UTF-8",
        )
    })?;
    let whole: &RawValue = serde_json::from_str(text).map_err(|e| {
        Reject::field(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "body",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let payload: RawPayload<'_> = object("body", whole)?;
    let checked = check_payload(&payload, key_header)?;
    let Some(&index) = topic_data.by_id.get(&checked.event_id) else {
        return Err(Reject::field(
            StatusCode::NOT_FOUND,
            "event_not_found",
            "eventId",
            format!(
                "event `{}` is not in the DLQ of topic `{topic}`",
                checked.event_id
            ),
        ));
    };
    let dlq_payload = topic_data.entries[index].event.payload.as_deref();
    let altered = compare_payload(dlq_payload, checked.original, state.payload_numbers())?;
    record(state, &checked.event_id, &checked.key, altered)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Reject> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if json_type {
        Ok(())
    } else {
        Err(Reject::field(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type",
            "Content-Type must be application/json",
        ))
    }
}

/// The `Idempotency-Key` header: present, visible ASCII (`key_header` is `None` otherwise),
/// not empty.
fn check_key_header<'a>(
    headers: &HeaderMap,
    key_header: Option<&'a str>,
) -> Result<&'a str, Reject> {
    let bad = |message: &str| {
        Reject::field(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Idempotency-Key",
            message,
        )
    };
    match (headers.contains_key("idempotency-key"), key_header) {
        (false, _) => Err(bad("the Idempotency-Key header is required")),
        (true, None) => Err(bad("the Idempotency-Key header must be visible ASCII")),
        (true, Some("")) => Err(bad("the Idempotency-Key header is empty")),
        (true, Some(k)) => Ok(k),
    }
}

/// Compares `originalPayload` with the DLQ payload: `Ok(true)` when equal but not the same
/// bytes (an altered payload), a 422 when different.
fn compare_payload(
    dlq: Option<&RawValue>,
    sent: &RawValue,
    numbers: Numbers,
) -> Result<bool, Reject> {
    match dlq.map(|p| json_eq::compare(p, sent, numbers)) {
        Some(JsonMatch::Identical) => Ok(false),
        Some(JsonMatch::Equivalent) => Ok(true),
        Some(JsonMatch::Different) | None => Err(Reject::schema(
            "originalPayload",
            match numbers {
                Numbers::ByText => {
                    "differs from the DLQ event's payload (strict: numbers are compared by their exact text)"
                }
                Numbers::ByValue => {
                    "differs from the DLQ event's payload (numbers are compared by value)"
                }
            },
        )),
    }
}

/// Records an accepted replay (201) or a repeated key (409), under one lock.
fn record(state: &AppState, event_id: &str, key: &str, altered: bool) -> Result<Response, Reject> {
    let first = {
        let mut l = state.ledger();
        if altered {
            l.ledger.altered_payloads += 1;
        }
        if l.ledger.accepted_keys.contains_key(key) {
            l.ledger.duplicates += 1;
            false
        } else {
            l.ledger.accepted_keys.insert(key.to_string(), 1);
            *l.ledger.accepted.entry(event_id.to_string()).or_default() += 1;
            true
        }
    };
    if !first {
        let body = json!({
            "error": "duplicate",
            "message": format!("idempotency key `{key}` was already accepted"),
            "eventId": event_id,
        });
        return Ok(json_response(state, StatusCode::CONFLICT, body.to_string()));
    }
    let body = json!({
        "eventId": event_id,
        "status": "queued",
        "routingStatus": "delivered",
        "processedAt": state.clock.wall_now().to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    Ok(json_response(state, StatusCode::CREATED, body.to_string()))
}
