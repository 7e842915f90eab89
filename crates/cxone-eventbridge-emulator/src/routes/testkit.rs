//! Test support: an emulator's router driven with `tower::ServiceExt::oneshot`, no sockets.

use crate::config::EmulatorBuilder;
use crate::data::{self, Dataset};
use crate::ledger::Ledger;
use crate::routes::router;
use crate::server::clock::ServerClock;
use crate::server::listener::ConnTag;
use crate::server::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::{DateTime, TimeZone as _, Utc};
use cxone_replay_domain::DlqEvent;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt as _;

/// The wall-clock instant the test clock is anchored at.
pub(crate) fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 11, 9, 15, 22)
        .single()
        .expect("valid time")
}

/// One emulator's state and router, and the connection every request arrives on.
pub(crate) struct Kit {
    pub(crate) state: Arc<AppState>,
    pub(crate) conn: ConnTag,
    router: Router,
}

/// What a route answered.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an API error `{error, message, field}` with this status and field; returns it.
    pub(crate) fn expect_error(&self, status: u16, field: Option<&str>) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v = self.json();
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        match field {
            Some(f) => assert_eq!(v["field"], f, "{v}"),
            None => assert!(v.get("field").is_none(), "{v}"),
        }
        v
    }
}

impl Kit {
    /// An emulator with the data `cfg` seeds.
    pub(crate) fn new(cfg: EmulatorBuilder) -> Kit {
        let data = data::generate(&cfg);
        Kit::with_data(cfg, data)
    }

    /// An emulator serving `events` (topic, event) instead of seeded data.
    pub(crate) fn with_events(cfg: EmulatorBuilder, events: Vec<(&str, DlqEvent)>) -> Kit {
        let mut data = Dataset::default();
        for (topic, event) in events {
            data.push(topic, event);
        }
        Kit::with_data(cfg, data)
    }

    fn with_data(cfg: EmulatorBuilder, data: Dataset) -> Kit {
        let state = Arc::new(AppState::new(
            cfg,
            data,
            ServerClock::anchored_at(anchor()),
            0x5eed,
        ));
        let conn = ConnTag::default();
        let router = router(Arc::clone(&state)).layer(MockConnectInfo(conn.clone()));
        Kit {
            state,
            conn,
            router,
        }
    }

    pub(crate) async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the body is readable");
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub(crate) fn ledger(&self) -> Ledger {
        self.state.ledger().snapshot()
    }

    /// The seeded events of a topic.
    pub(crate) fn events(&self, topic: &str) -> Vec<DlqEvent> {
        self.state.data.topics[topic]
            .entries
            .iter()
            .map(|e| e.event.clone())
            .collect()
    }

    /// A token with `scope` (both when `None`), from the token route.
    pub(crate) async fn token(&self, scope: Option<&str>) -> String {
        let mut form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            self.state.cfg.client_id,
            secrecy::ExposeSecret::expose_secret(&self.state.cfg.client_secret)
        );
        if let Some(s) = scope {
            form.push_str(&format!("&scope={}", s.replace(' ', "+")));
        }
        let reply = self.send(token_request(&form)).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
}

/// `POST /oauth2/token` with a form body.
pub(crate) fn token_request(form: &str) -> Request<Body> {
    Request::post("/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("valid request")
}

/// `GET` of `uri` with a bearer token.
pub(crate) fn get(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("valid request")
}

/// The replay PUT of `body` to `topic`, JSON, with `key` as `Idempotency-Key` if given.
pub(crate) fn put(topic: &str, token: &str, key: Option<&str>, body: String) -> Request<Body> {
    let mut b = Request::put(format!("/api/v2/eventbridge/topics/{topic}/events"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(Body::from(body)).expect("valid request")
}
