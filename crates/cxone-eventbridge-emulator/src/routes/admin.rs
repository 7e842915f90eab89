//! The emulator's own routes: `GET /__emulator/ledger`, `POST /__emulator/webhook`, and the
//! 404 for anything else. None of them passes the API gate.

use crate::ledger::WebhookDelivery;
use crate::routes::{ROUTE_OTHER, ROUTE_WEBHOOK};
use crate::server::reject::json_response;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// The ledger snapshot as JSON (not itself counted).
pub(crate) async fn ledger(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = state.ledger().snapshot();
    let body = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());
    json_response(&state, StatusCode::OK, body)
}

/// Keeps a monitoring callback (body and signature headers) and answers the configured status.
pub(crate) async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let value = serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap_or_else(|_| serde_json::Value::String(text.clone()));
    let delivery = WebhookDelivery {
        webhook_id: header_text("webhook-id"),
        webhook_timestamp: header_text("webhook-timestamp"),
        webhook_signature: header_text("webhook-signature"),
        content_type: header_text("content-type"),
        body: text,
    };
    {
        let mut l = state.ledger();
        l.request(ROUTE_WEBHOOK);
        l.webhook(value, delivery);
    }
    let status = StatusCode::from_u16(state.cfg.webhook_status).unwrap_or(StatusCode::OK);
    json_response(&state, status, json!({ "received": true }).to_string())
}

/// Any other route: a JSON 404, counted as `OTHER`.
pub(crate) async fn fallback(State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    state.ledger().request(ROUTE_OTHER);
    let body = json!({ "error": "not_found", "message": format!("no route for {}", uri.path()) });
    json_response(&state, StatusCode::NOT_FOUND, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::testkit::{Kit, get};
    use crate::{Emulator, Ledger};
    use axum::body::Body;
    use axum::http::Request;

    #[tokio::test]
    async fn the_ledger_route_serves_the_snapshot_without_counting_itself() {
        let k = Kit::new(Emulator::builder().events(1));
        let _ = k.token(None).await;
        let r = k.send(get("/__emulator/ledger", "unused")).await;
        assert_eq!(r.status, StatusCode::OK);
        let served: Ledger = serde_json::from_slice(&r.body).expect("a ledger");
        assert_eq!(served, k.ledger());
        assert_eq!(served.token_requests, 1);
        assert_eq!(served.requests.len(), 1, "{:?}", served.requests);
    }

    #[tokio::test]
    async fn webhooks_are_kept_with_their_signature_headers() {
        let k = Kit::new(Emulator::builder().events(0).webhook_status(503));
        let req = Request::post("/__emulator/webhook")
            .header("content-type", "application/json")
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", "1715419000")
            .header("webhook-signature", "v1,abc=")
            .body(Body::from(
                r#"{"type":"replay_status_update","data":{"n":1}}"#,
            ))
            .expect("request");
        let r = k.send(req).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json()["received"], true);
        let not_json = Request::post("/__emulator/webhook")
            .body(Body::from("plain text"))
            .expect("request");
        k.send(not_json).await;
        let l = k.ledger();
        assert_eq!(l.webhooks, 2);
        assert_eq!(l.requests_on(ROUTE_WEBHOOK), 2);
        assert_eq!(l.webhook_bodies[0]["data"]["n"], 1);
        assert_eq!(l.webhook_bodies[1], "plain text");
        let d = &l.webhook_deliveries[0];
        assert_eq!(d.webhook_id.as_deref(), Some("msg_1"));
        assert_eq!(d.webhook_timestamp.as_deref(), Some("1715419000"));
        assert_eq!(d.webhook_signature.as_deref(), Some("v1,abc="));
        assert_eq!(d.content_type.as_deref(), Some("application/json"));
        assert_eq!(d.body, r#"{"type":"replay_status_update","data":{"n":1}}"#);
        assert!(
            l.rejections.is_empty(),
            "webhook statuses are not rejections"
        );
    }

    #[tokio::test]
    async fn unknown_routes_are_a_json_404_counted_as_other() {
        let k = Kit::new(Emulator::builder().events(0));
        let r = k.send(get("/api/v1/nothing", "t")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json()["error"], "not_found");
        // A known path with another method is not the fallback.
        let r = k
            .send(
                Request::delete("/oauth2/token")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(k.ledger().requests_on(ROUTE_OTHER), 1);
    }
}
