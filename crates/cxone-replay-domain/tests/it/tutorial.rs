//! The tutorial's own examples, end to end through the domain.

use chrono::{TimeZone, Utc};
use cxone_replay_domain::{
    AuditRecord, CLIENT_VERSION, Decision, DestinationAllowList, DestinationOverride, DlqPage,
    EventFilter, PutEventResponse, ReplayPolicy, TokenResponse, plan,
};

/// Step 1's example response.
const STEP1_PAGE: &str = r#"{
  "events": [
    {
      "eventId": "evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c",
      "topicId": "topic_pub_conversations",
      "payload": {"conversationId": "conv_123", "type": "conversation:start", "timestamp": "2024-05-10T14:30:00Z"},
      "failureReason": "HTTP 502 Bad Gateway",
      "retryCount": 3,
      "firstFailureTimestamp": "2024-05-10T14:30:05Z",
      "lastFailureTimestamp": "2024-05-10T14:35:00Z"
    }
  ],
  "nextPageToken": "eyJwYWdlIjoxfQ=="
}"#;

#[test]
fn step1_event_plans_to_step2_payload_exactly() {
    let page = DlqPage::from_slice(STEP1_PAGE.as_bytes()).expect("page parses");
    assert_eq!(page.next_page_token.as_deref(), Some("eyJwYWdlIjoxfQ=="));
    assert_eq!(page.events.len(), 1);
    let event = &page.events[0];
    assert!(event.defect.is_none(), "{:?}", event.defect);

    let initiated = Utc
        .with_ymd_and_hms(2024, 5, 11, 9, 15, 22)
        .unwrap()
        .checked_add_signed(chrono::Duration::milliseconds(103))
        .unwrap();
    let destination = DestinationOverride::parse(
        "https://secure-replay-endpoint.example.com/webhook",
        &DestinationAllowList::any(),
    )
    .unwrap();
    let policy = ReplayPolicy::default()
        .max_retries(5)
        .unwrap()
        .destination_override(Some(destination));
    let Decision::Replay(replay) = plan(
        event,
        "topic_pub_conversations",
        &policy,
        &EventFilter::default(),
        initiated,
    ) else {
        panic!("the tutorial's event must be replayed");
    };
    assert_eq!(
        replay.idempotency_key().as_str(),
        "replay-evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c-v4"
    );
    // The exact body: the tutorial's Step 2 shape, in its key order, with the payload's bytes.
    let expected = format!(
        concat!(
            r#"{{"eventId":"evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c","#,
            r#""idempotencyKey":"replay-evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c-v4","#,
            r#""originalPayload":{{"conversationId": "conv_123", "type": "conversation:start", "timestamp": "2024-05-10T14:30:00Z"}},"#,
            r#""retryMatrix":{{"currentAttempt":4,"maxAllowed":5,"firstFailure":"2024-05-10T14:30:05Z","#,
            r#""lastFailure":"2024-05-10T14:35:00Z","failureReason":"HTTP 502 Bad Gateway"}},"#,
            r#""routingDirective":{{"destinationOverride":"https://secure-replay-endpoint.example.com/webhook","preserveOriginalTopic":false}},"#,
            r#""replayMetadata":{{"initiatedAt":"2024-05-11T09:15:22.103Z","clientVersion":"{}"}}}}"#
        ),
        CLIENT_VERSION
    );
    assert_eq!(String::from_utf8(replay.body.clone()).unwrap(), expected);
    assert_eq!(CLIENT_VERSION, env!("CARGO_PKG_VERSION"));
}

#[test]
fn without_override_the_original_topic_is_preserved() {
    let page = DlqPage::from_slice(STEP1_PAGE.as_bytes()).unwrap();
    let now = Utc.with_ymd_and_hms(2024, 5, 11, 9, 15, 22).unwrap();
    let Decision::Replay(replay) = plan(
        &page.events[0],
        "topic_pub_conversations",
        &ReplayPolicy::default(),
        &EventFilter::default(),
        now,
    ) else {
        panic!("must replay");
    };
    let body: serde_json::Value = serde_json::from_slice(&replay.body).unwrap();
    assert_eq!(
        body["routingDirective"],
        serde_json::json!({"destinationOverride": null, "preserveOriginalTopic": true})
    );
    // The body reads back as a ReplayPayload that passes the bus checks.
    let back: cxone_replay_domain::ReplayPayload = serde_json::from_slice(&replay.body).unwrap();
    back.check().unwrap();
    assert_eq!(back.idempotency_key, *replay.idempotency_key());
}

#[test]
fn put_and_token_responses_round_trip() {
    let put: PutEventResponse = serde_json::from_str(
        r#"{"eventId":"evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c","status":"queued","routingStatus":"delivered","processedAt":"2024-05-11T09:15:23.450Z"}"#,
    )
    .unwrap();
    assert_eq!(put.status, "queued");
    assert_eq!(put.routing_status.as_deref(), Some("delivered"));
    let again: PutEventResponse =
        serde_json::from_str(&serde_json::to_string(&put).unwrap()).unwrap();
    assert_eq!(put, again);

    let token: TokenResponse = serde_json::from_str(
        r#"{"access_token":"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.secret","token_type":"Bearer","expires_in":86400,"scope":"eventbridge:read eventbridge:write"}"#,
    )
    .unwrap();
    assert_eq!(token.expires_in, Some(86_400));
    let debug = format!("{token:?}");
    assert!(
        !debug.contains("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"),
        "{debug}"
    );
    assert!(debug.contains("redacted"));
}

#[test]
fn audit_record_has_the_spec_fields_and_ours() {
    let rec: AuditRecord = serde_json::from_str(
        r#"{"event_id":"evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c","action":"REPLAY_PUT","status":"SUCCESS",
            "error_classification":null,"latency_ms":342.15,"timestamp":"2024-05-11T09:15:23.450Z",
            "idempotency_key":"replay-evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c-v4","destination":"topic_pub_conversations",
            "run_id":"r1","topic_id":"topic_pub_conversations","attempt":4,"http_status":201,"http_attempts":1,
            "skip_reason":null,"message":null,"a_future_field":true}"#,
    )
    .unwrap();
    let v = serde_json::to_value(&rec).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "event_id",
        "action",
        "status",
        "error_classification",
        "latency_ms",
        "timestamp",
        "idempotency_key",
        "destination",
        "run_id",
        "topic_id",
        "attempt",
        "http_status",
        "http_attempts",
        "skip_reason",
        "message",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected);
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["action"], "REPLAY_PUT");
}
