//! The spec's request/response examples round-trip against the emulator.

use crate::common::*;
use chrono::{DateTime, TimeZone, Utc};
use cxone_eventbridge_emulator::Emulator;
use cxone_replay_domain::{
    Decision, DlqPage, EventFilter, PutEventResponse, ReplayPolicy, TokenResponse, plan,
};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn token_example_round_trips() {
    let emu = small().await;
    // Exactly the spec's example body.
    let resp = http()
        .post(emu.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=demo&client_secret=demo-secret&scope=eventbridge:read%20eventbridge:write")
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let bytes = resp.bytes().await.expect("body");
    let t: TokenResponse = serde_json::from_slice(&bytes).expect("domain parses the token");
    assert!(!t.access_token.is_empty());
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_in, Some(3600));
    assert_eq!(
        t.scope.as_deref(),
        Some("eventbridge:read eventbridge:write")
    );
    let l = emu.ledger();
    assert_eq!((l.token_requests, l.tokens_issued), (1, 1));
}

#[tokio::test]
async fn dlq_example_shape_round_trips() {
    let emu = start(Emulator::builder().events(120).seed(3)).await;
    let tok = token(&emu).await;
    let resp = get_page(&emu, &tok, &[("topicId", TOPIC), ("limit", "50")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.expect("body");
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    let first = &v["events"][0];
    for field in [
        "eventId",
        "topicId",
        "payload",
        "failureReason",
        "retryCount",
        "firstFailureTimestamp",
        "lastFailureTimestamp",
    ] {
        assert!(!first[field].is_null(), "{field} missing in {first}");
    }
    assert!(
        first["eventId"]
            .as_str()
            .is_some_and(|s| s.starts_with("evt_"))
    );
    assert!(
        first["payload"]["conversationId"]
            .as_str()
            .is_some_and(|s| s.starts_with("conv_"))
    );
    let page = DlqPage::from_slice(&bytes).expect("domain parses the page");
    assert_eq!(page.events.len(), 50);
    assert!(page.events.iter().all(|e| e.check().is_ok()));
    assert!(page.next_page_token.is_some());
    // The served payload is byte-identical to the seeded one.
    let seeded = emu.events(TOPIC);
    assert_eq!(
        page.events[0].payload.as_ref().map(|p| p.get()),
        seeded[0].payload.as_ref().map(|p| p.get())
    );
}

#[tokio::test]
async fn put_example_round_trips_with_override() {
    let emu = small().await;
    let tok = token(&emu).await;
    let event = emu.events(TOPIC)[0].clone();
    let mut body = Body::for_event(&event);
    body.routing = Some(
        r#"{"destinationOverride":"https://secure-replay-endpoint.example.com/webhook","preserveOriginalTopic":false}"#
            .into(),
    );
    let resp = put(&emu, &tok, TOPIC, &body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().get("x-request-id").is_some());
    let r: PutEventResponse = resp.json().await.expect("domain parses the response");
    assert_eq!(r.event_id, event.event_id);
    assert_eq!(r.status, "queued");
    assert_eq!(r.routing_status.as_deref(), Some("delivered"));
    let at = r.processed_at.expect("processedAt");
    assert!(DateTime::parse_from_rfc3339(&at).is_ok(), "{at}");
    let l = emu.ledger();
    assert_eq!(l.accepted.get(&event.event_id), Some(&1));
    assert_eq!(l.accepted_keys.get(&body.key()), Some(&1));
    assert_eq!(l.altered_payloads, 0);
    assert!(l.violations.is_empty(), "{:?}", l.violations);
}

#[tokio::test]
async fn domain_planned_bodies_are_accepted_byte_exact() {
    let emu = start(
        Emulator::builder()
            .events(30)
            .seed(5)
            .exhausted_fraction(0.2),
    )
    .await;
    let tok = token(&emu).await;
    let now = Utc
        .with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
        .single()
        .expect("time");
    let mut sent = 0;
    for event in emu.events(TOPIC) {
        if let Decision::Replay(planned) = plan(
            &event,
            TOPIC,
            &ReplayPolicy::default(),
            &EventFilter::default(),
            now,
        ) {
            let resp = put_raw(
                &emu,
                &tok,
                TOPIC,
                Some(planned.idempotency_key().as_str()),
                "application/json",
                String::from_utf8(planned.body.clone()).expect("UTF-8"),
            )
            .await;
            assert_eq!(
                resp.status(),
                StatusCode::CREATED,
                "{}",
                resp.text().await.unwrap_or_default()
            );
            sent += 1;
        }
    }
    assert_eq!(sent, 24, "6 of 30 are exhausted");
    let l = emu.ledger();
    assert_eq!(l.accepted_total(), 24);
    assert_eq!(l.altered_payloads, 0);
    assert!(l.violations.is_empty(), "{:?}", l.violations);
}
