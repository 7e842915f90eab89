//! The handlers: each behaves unless the server's [`Mode`] names its route.

use crate::server::{Seen, State};
use crate::{Huge, Mode, Route, SERVER_REASON, TOPIC, issued_token};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State as Shared};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

const CHUNK: usize = 64 * 1024;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/api/v2/eventbridge/dlq/events", get(dlq))
        .route("/api/v2/eventbridge/topics/{topic}/events", put(put_event))
        .with_state(state)
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn json_response(status: u16, body: &serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_string(),
    )
        .into_response()
}

/// The body of [`Huge`]: 64 KiB chunks of JSON-looking filler, made as hyper asks for them.
fn huge(h: Huge) -> Response {
    let chunk = Bytes::from({
        let mut c = vec![b' '; CHUNK];
        c[..12].copy_from_slice(b"{\"events\":[ ");
        c
    });
    let stream = futures::stream::unfold(h.len, move |left| {
        let chunk = chunk.clone();
        async move {
            let n = match left {
                Some(0) => return None,
                Some(left) => usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK)),
                None => CHUNK,
            };
            let next = left.map(|l| l - n as u64);
            Some((Ok::<_, Infallible>(chunk.slice(..n)), next))
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::from_u16(h.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let (true, Some(len)) = (h.declare_length, h.len) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

/// An error body that echoes the request's credentials after the reason.
fn echo(state: &State, status: u16, authorization: Option<&str>, form: Option<&str>) -> Response {
    let secret = state
        .last_secret
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let body = json!({
        "error": SERVER_REASON,
        "echo": {"authorization": authorization, "form": form, "client_secret": secret},
    });
    json_response(status, &body)
}

async fn token(Shared(state): Shared<Arc<State>>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = authorization(&headers);
    state.record(Seen {
        route: Route::Token,
        authorization: auth.clone(),
        page_token: None,
    });
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let secret = form
        .iter()
        .find(|(k, _)| k == "client_secret" || k == "password")
        .map(|(_, v)| v.clone());
    if secret.is_some() {
        *state
            .last_secret
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = secret;
    }
    match state.mode {
        Mode::HugeBody(h) if h.route == Route::Token => huge(h),
        Mode::EchoCredentials {
            route: Route::Token,
            status,
        } => echo(
            &state,
            status,
            auth.as_deref(),
            Some(&String::from_utf8_lossy(&body)),
        ),
        _ => {
            let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
            json_response(
                200,
                &json!({
                    "access_token": issued_token(n),
                    "token_type": "Bearer",
                    "expires_in": state.token_expires_in,
                    "scope": "eventbridge:read eventbridge:write",
                }),
            )
        }
    }
}

fn event(i: usize) -> serde_json::Value {
    json!({
        "eventId": format!("evt-{i}"),
        "topicId": TOPIC,
        "payload": {"conversationId": format!("conv-{i}"), "type": "conversation:start"},
        "failureReason": "HTTP 502 Bad Gateway",
        "retryCount": 1,
        "firstFailureTimestamp": "2024-05-10T14:30:05Z",
        "lastFailureTimestamp": "2024-05-10T14:35:00Z"
    })
}

async fn dlq(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let auth = authorization(&headers);
    let page_token = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "nextPageToken")
            .map(|(_, v)| v.into_owned())
    });
    state.record(Seen {
        route: Route::Dlq,
        authorization: auth.clone(),
        page_token,
    });
    match state.mode {
        Mode::HugeBody(h) if h.route == Route::Dlq => huge(h),
        Mode::DlqUnauthorized => json_response(401, &json!({"error": "invalid_token"})),
        Mode::EndlessEmptyPages => {
            let n = state.pages.fetch_add(1, Ordering::SeqCst) + 1;
            json_response(
                200,
                &json!({"events": [], "nextPageToken": format!("empty-{n}")}),
            )
        }
        Mode::EchoCredentials {
            route: Route::Dlq,
            status,
        } => echo(&state, status, auth.as_deref(), None),
        _ => {
            let events: Vec<_> = (1..=state.events).map(event).collect();
            json_response(200, &json!({"events": events}))
        }
    }
}

async fn put_event(
    Shared(state): Shared<Arc<State>>,
    Path(_topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = authorization(&headers);
    state.record(Seen {
        route: Route::Put,
        authorization: auth.clone(),
        page_token: None,
    });
    match state.mode {
        Mode::HugeBody(h) if h.route == Route::Put => huge(h),
        Mode::EchoCredentials {
            route: Route::Put,
            status,
        } => echo(&state, status, auth.as_deref(), None),
        Mode::PutNotJson => (StatusCode::CREATED, "Created.").into_response(),
        Mode::ReflectAuthorizationAsRequestId => {
            let mut response = json_response(422, &json!({"error": "rejected"}));
            if let Some(v) = auth.and_then(|a| HeaderValue::from_str(&a).ok()) {
                response.headers_mut().insert("x-request-id", v);
            }
            response
        }
        _ => {
            let id = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["eventId"].as_str().map(str::to_string))
                .unwrap_or_default();
            json_response(
                201,
                &json!({
                    "eventId": id, "status": "queued", "routingStatus": "delivered",
                    "processedAt": "2024-05-11T09:15:22Z"
                }),
            )
        }
    }
}
