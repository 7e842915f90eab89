//! Helpers shared by the integration tests.

use cxone_eventbridge_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use cxone_replay_domain::DlqEvent;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::sync::OnceLock;

pub const TOPIC: &str = "topic_pub_conversations";

/// One client for the whole test binary (building one loads the TLS roots, which is slow).
/// Pooling is off: each test has its own runtime, so no connection may outlive its test.
pub fn http() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("reqwest client")
        })
        .clone()
}

pub async fn start(b: EmulatorBuilder) -> EmulatorHandle {
    b.start().await.expect("emulator starts")
}

pub async fn small() -> EmulatorHandle {
    start(Emulator::builder().events(20).seed(7)).await
}

/// Fetches a token with the given scope (both scopes when `None`).
pub async fn token_with(emu: &EmulatorHandle, scope: Option<&str>) -> String {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", emu.client_id()),
        ("client_secret", emu.client_secret()),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let resp = http()
        .post(format!("{}/oauth2/token", emu.base_url()))
        .form(&form)
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.expect("token JSON");
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub async fn token(emu: &EmulatorHandle) -> String {
    token_with(emu, Some("eventbridge:read eventbridge:write")).await
}

/// The parts of a replay body as JSON texts; `None` leaves the field out.
#[derive(Clone, Debug)]
pub struct Body {
    pub event_id: Option<String>,
    pub key: Option<String>,
    pub original: Option<String>,
    pub matrix: Option<String>,
    pub routing: Option<String>,
    pub metadata: Option<String>,
}

impl Body {
    /// A valid body replaying `event` (attempt retryCount + 1, max 10, no override).
    pub fn for_event(event: &DlqEvent) -> Body {
        let attempt = event.retry_count() + 1;
        let key = format!("replay-{}-v{attempt}", event.event_id);
        Body {
            event_id: Some(json(&event.event_id)),
            key: Some(json(&key)),
            original: event.payload.as_ref().map(|p| p.get().to_string()),
            matrix: Some(format!(
                r#"{{"currentAttempt":{attempt},"maxAllowed":10,"firstFailure":{},"lastFailure":{},"failureReason":{}}}"#,
                serde_json::to_string(&event.first_failure_timestamp).expect("json"),
                serde_json::to_string(&event.last_failure_timestamp).expect("json"),
                serde_json::to_string(&event.failure_reason).expect("json"),
            )),
            routing: Some(r#"{"destinationOverride":null,"preserveOriginalTopic":true}"#.into()),
            metadata: Some(
                r#"{"initiatedAt":"2024-05-11T09:15:22.103Z","clientVersion":"1.0.0"}"#.into(),
            ),
        }
    }

    pub fn key(&self) -> String {
        serde_json::from_str(self.key.as_deref().expect("key set")).expect("key is a string")
    }

    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        for (name, v) in [
            ("eventId", &self.event_id),
            ("idempotencyKey", &self.key),
            ("originalPayload", &self.original),
            ("retryMatrix", &self.matrix),
            ("routingDirective", &self.routing),
            ("replayMetadata", &self.metadata),
        ] {
            if let Some(v) = v {
                parts.push(format!("\"{name}\":{v}"));
            }
        }
        format!("{{{}}}", parts.join(","))
    }
}

pub fn json(s: &str) -> String {
    serde_json::to_string(s).expect("string serializes")
}

/// PUTs `body` with a matching Idempotency-Key header.
pub async fn put(emu: &EmulatorHandle, token: &str, topic: &str, body: &Body) -> Response {
    put_raw(
        emu,
        token,
        topic,
        Some(&body.key()),
        "application/json",
        body.render(),
    )
    .await
}

pub async fn put_raw(
    emu: &EmulatorHandle,
    token: &str,
    topic: &str,
    key: Option<&str>,
    content_type: &str,
    body: String,
) -> Response {
    let mut req = http()
        .put(format!(
            "{}/api/v2/eventbridge/topics/{topic}/events",
            emu.base_url()
        ))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    req.send().await.expect("PUT request")
}

/// Asserts the status and that the JSON error names `field`; returns the body.
pub async fn expect_error(resp: Response, status: u16, field: Option<&str>) -> Value {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let v: Value = resp.json().await.expect("error body is JSON");
    assert!(v["error"].is_string(), "{v}");
    assert!(v["message"].is_string(), "{v}");
    if let Some(f) = field {
        assert_eq!(v["field"], Value::String(f.into()), "{v}");
    }
    v
}

pub async fn get_page(emu: &EmulatorHandle, token: &str, query: &[(&str, &str)]) -> Response {
    http()
        .get(format!("{}/api/v2/eventbridge/dlq/events", emu.base_url()))
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .expect("DLQ request")
}
