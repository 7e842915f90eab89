//! The ledger: exact under concurrency, served as JSON; the monitoring webhook.

use crate::common::*;
use cxone_eventbridge_emulator::{Emulator, Ledger, ROUTE_PUT, ROUTE_WEBHOOK};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_is_exact_under_1000_concurrent_puts() {
    let emu = Arc::new(start(Emulator::builder().events(500).payload_bytes(600).seed(77)).await);
    let tok = Arc::new(token(&emu).await);
    let client = http();
    let events = emu.events(TOPIC);
    let mut tasks = Vec::with_capacity(1000);
    // Every event twice with the same key: exactly one 201 and one 409 each.
    for _round in 0..2 {
        for e in &events {
            let (emu, tok, client, e) = (
                Arc::clone(&emu),
                Arc::clone(&tok),
                client.clone(),
                e.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let body = Body::for_event(&e);
                let resp = client
                    .put(format!(
                        "{}/api/v2/eventbridge/topics/{TOPIC}/events",
                        emu.base_url()
                    ))
                    .bearer_auth(tok.as_str())
                    .header("content-type", "application/json")
                    .header("idempotency-key", body.key())
                    .body(body.render())
                    .send()
                    .await
                    .expect("PUT");
                resp.status().as_u16()
            }));
        }
    }
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.expect("task") {
            201 => created += 1,
            409 => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, conflicts), (500, 500));
    let l = emu.ledger();
    assert_eq!(l.accepted.len(), 500);
    assert!(l.accepted.values().all(|n| *n == 1));
    assert_eq!(l.accepted_keys.len(), 500);
    assert_eq!(l.duplicates, 500);
    assert_eq!(l.requests_on(ROUTE_PUT), 1000);
    assert!(l.rejections.is_empty());
    assert!((1..=1000).contains(&l.max_in_flight));
    assert_eq!(l.in_flight, 0);
    // The HTTP view is the same ledger.
    let served: Ledger = http()
        .get(format!("{}/__emulator/ledger", emu.base_url()))
        .send()
        .await
        .expect("ledger")
        .json()
        .await
        .expect("ledger JSON");
    assert_eq!(served, emu.ledger());
}

#[tokio::test]
async fn max_in_flight_sees_concurrent_puts() {
    // Long latency holds the PUTs open; the test ends (cancelling them) once all four are in.
    let emu = Arc::new(
        start(
            Emulator::builder()
                .events(4)
                .latency(Duration::from_secs(20), Duration::ZERO),
        )
        .await,
    );
    let tok = token(&emu).await;
    for e in emu.events(TOPIC) {
        let (emu, tok) = (Arc::clone(&emu), tok.clone());
        tokio::spawn(async move {
            let _ = put(&emu, &tok, TOPIC, &Body::for_event(&e)).await;
        });
    }
    let mut l = emu.ledger();
    for _ in 0..4000 {
        if l.in_flight == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        l = emu.ledger();
    }
    assert_eq!((l.in_flight, l.max_in_flight), (4, 4));
    assert!(l.accepted.is_empty(), "latency comes before processing");
}

#[tokio::test]
async fn webhook_callbacks_are_counted_and_verifiable() {
    let emu = small().await;
    let secret = b"whsec-test-key";
    let body = r#"{"source":"cxone-eventbridge-replayer","type":"replay_status_update","data":{"event_id":"evt_1","status":"SUCCESS"}}"#;
    let (id, ts) = ("msg_1", "1715419000");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    use base64::Engine as _;
    let sig = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let resp = http()
        .post(emu.webhook_url())
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts)
        .header("webhook-signature", &sig)
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert_eq!(resp.status(), StatusCode::OK);
    // A body that is not JSON is counted and kept as text.
    let resp = http()
        .post(emu.webhook_url())
        .body("plain text")
        .send()
        .await
        .expect("webhook");
    assert_eq!(resp.status(), StatusCode::OK);

    let l = emu.ledger();
    assert_eq!(l.webhooks, 2);
    assert_eq!(l.requests_on(ROUTE_WEBHOOK), 2);
    assert_eq!(l.webhook_bodies[0]["data"]["status"], "SUCCESS");
    assert_eq!(
        l.webhook_bodies[1],
        serde_json::Value::String("plain text".into())
    );
    let d = &l.webhook_deliveries[0];
    assert_eq!(d.webhook_id.as_deref(), Some(id));
    assert_eq!(d.body, body);
    // Verify the stored signature the way a receiver would.
    let stored = d
        .webhook_signature
        .as_deref()
        .expect("signature")
        .strip_prefix("v1,")
        .expect("v1");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .expect("base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
    mac.update(
        format!(
            "{}.{}.{}",
            d.webhook_id.as_deref().unwrap_or(""),
            d.webhook_timestamp.as_deref().unwrap_or(""),
            d.body
        )
        .as_bytes(),
    );
    assert!(mac.verify_slice(&raw).is_ok());
    assert!(l.webhook_deliveries[1].webhook_signature.is_none());
}

#[tokio::test]
async fn webhook_can_be_made_to_fail_and_still_counts() {
    let emu = start(Emulator::builder().events(1).webhook_status(503)).await;
    let resp = http()
        .post(emu.webhook_url())
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .expect("webhook");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(emu.ledger().webhooks, 1);
}

#[tokio::test]
async fn unknown_routes_are_404_json_and_counted() {
    let emu = small().await;
    let resp = http()
        .get(format!("{}/api/v2/nope", emu.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let v: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(v["error"], "not_found");
    assert_eq!(emu.ledger().requests_on("OTHER"), 1);
}
