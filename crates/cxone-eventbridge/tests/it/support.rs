//! Shared fixtures.

use cxone_eventbridge::runtime::testing::{FixedJitter, ManualClock, RecordingSleeper};
use cxone_eventbridge::{Client, ClientBuilder};
use cxone_replay_domain::RetryPolicy;
use httpmock::Mock;
use httpmock::prelude::*;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

pub const CLIENT_ID: &str = "demo-client";
pub const SECRET: &str = "s3cr3t-client-secret-value";
pub const TOKEN: &str = "tok-1-very-secret-bearer";
pub const TOPIC: &str = "topic_pub_conversations";

/// The instant every test's clock starts at.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    "2024-05-11T09:00:00Z".parse().unwrap()
}

/// A mock server plus the injected clock and sleeper.
pub struct Env {
    pub server: MockServer,
    pub clock: ManualClock,
    pub sleeper: RecordingSleeper,
}

impl Env {
    pub async fn start() -> Env {
        let clock = ManualClock::new(t0());
        Env {
            server: MockServer::start_async().await,
            sleeper: RecordingSleeper::advancing(clock.clone()),
            clock,
        }
    }

    /// A builder pointed at the mock server, with test clock/sleeper, jitter 0.5 and the
    /// default policy shape (5 attempts, 200 ms base, 20 s cap).
    pub fn builder(&self) -> ClientBuilder {
        builder_for(&self.server.base_url(), &self.clock, &self.sleeper)
    }

    pub fn client(&self) -> Client {
        self.builder().build().expect("valid test client")
    }

    /// `POST /oauth2/token` → `TOKEN`, valid for an hour.
    pub async fn token_mock(&self) -> Mock<'_> {
        token_mock_with(&self.server, TOKEN, 3600).await
    }
}

pub fn builder_for(base: &str, clock: &ManualClock, sleeper: &RecordingSleeper) -> ClientBuilder {
    Client::builder()
        .base_url(base)
        .client_credentials(CLIENT_ID, SecretString::from(SECRET))
        .retry_policy(
            RetryPolicy::new(5, Duration::from_millis(200), Duration::from_secs(20)).unwrap(),
        )
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(sleeper.clone()))
        .jitter(Arc::new(FixedJitter(0.5)))
}

pub async fn token_mock_with<'a>(server: &'a MockServer, token: &str, ttl: u64) -> Mock<'a> {
    let body = serde_json::json!({
        "access_token": token, "token_type": "Bearer", "expires_in": ttl,
        "scope": "eventbridge:read eventbridge:write"
    });
    server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200).json_body(body);
        })
        .await
}

/// A DLQ event as the server sends it.
pub fn event(id: &str, retry_count: u32) -> serde_json::Value {
    serde_json::json!({
        "eventId": id,
        "topicId": TOPIC,
        "payload": {"conversationId": format!("conv-{id}"), "type": "conversation:start"},
        "failureReason": "HTTP 502 Bad Gateway",
        "retryCount": retry_count,
        "firstFailureTimestamp": "2024-05-10T14:30:05Z",
        "lastFailureTimestamp": "2024-05-10T14:35:00Z"
    })
}

/// A 201 answer to a PUT.
pub fn accepted(id: &str) -> serde_json::Value {
    serde_json::json!({
        "eventId": id, "status": "queued", "routingStatus": "delivered",
        "processedAt": "2024-05-11T09:15:22Z"
    })
}

pub fn key(s: &str) -> cxone_replay_domain::IdempotencyKey {
    cxone_replay_domain::IdempotencyKey::new(s).unwrap()
}

pub fn put_path(topic: &str) -> String {
    format!("/api/v2/eventbridge/topics/{topic}/events")
}

pub const DLQ_PATH: &str = "/api/v2/eventbridge/dlq/events";

/// Reads one HTTP/1.1 request (head and `Content-Length` body) off `stream`.
pub async fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return buf;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                return buf;
            }
        }
    }
}

/// The raw HTTP/1.1 answer of a token request: `TOKEN`, valid for an hour.
pub fn raw_token_response() -> String {
    let body = format!(r#"{{"access_token":"{TOKEN}","expires_in":3600}}"#);
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}
