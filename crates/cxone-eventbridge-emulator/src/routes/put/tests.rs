//! The replay PUT through the router, one request per rule.

use super::*;
use crate::Emulator;
use crate::routes::testkit::{Kit, Reply, anchor, put};
use axum::body::Body;
use axum::http::Request;
use cxone_replay_domain::DlqEvent;
use std::time::Duration;

const TOPIC: &str = "topic_pub_conversations";

/// The replay body of `event` as JSON text, with `original` as `originalPayload`.
fn body_with(event: &DlqEvent, key: &str, original: &str) -> String {
    format!(
        r#"{{"eventId":{},"idempotencyKey":{},"originalPayload":{original},"retryMatrix":{{"currentAttempt":1,"maxAllowed":5,"firstFailure":null,"lastFailure":"2024-05-10T14:35:00Z","failureReason":"HTTP 502"}},"routingDirective":{{"destinationOverride":null,"preserveOriginalTopic":true}},"replayMetadata":{{"initiatedAt":"2024-05-11T09:15:22.103Z","clientVersion":"1.0.0"}}}}"#,
        serde_json::json!(event.event_id),
        serde_json::json!(key),
    )
}

fn key_of(event: &DlqEvent) -> String {
    format!("replay-{}-v1", event.event_id)
}

fn payload_of(event: &DlqEvent) -> String {
    event.payload.as_ref().expect("payload").get().to_string()
}

/// A kit, a full-scope token and the first event of the topic.
async fn setup(b: crate::EmulatorBuilder) -> (Kit, String, DlqEvent) {
    let k = Kit::new(b);
    let tok = k.token(None).await;
    let event = k.events(TOPIC)[0].clone();
    (k, tok, event)
}

async fn send_valid(k: &Kit, tok: &str, event: &DlqEvent, original: &str) -> Reply {
    let key = key_of(event);
    k.send(put(
        TOPIC,
        tok,
        Some(&key),
        body_with(event, &key, original),
    ))
    .await
}

#[tokio::test(start_paused = true)]
async fn a_valid_replay_is_201_once_then_409() {
    let (k, tok, event) = setup(Emulator::builder().events(3)).await;
    tokio::time::advance(Duration::from_millis(1_250)).await;
    let r = send_valid(&k, &tok, &event, &payload_of(&event)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v = r.json();
    assert_eq!(v["eventId"], event.event_id.as_str());
    assert_eq!(v["status"], "queued");
    assert_eq!(v["routingStatus"], "delivered");
    // processedAt is the anchored wall time plus tokio's elapsed time: exact under a paused clock.
    let expected = anchor() + chrono::TimeDelta::milliseconds(1_250);
    assert_eq!(
        v["processedAt"],
        expected.to_rfc3339_opts(SecondsFormat::Millis, true)
    );
    assert_eq!(v["processedAt"], "2024-05-11T09:15:23.250Z");
    let r = send_valid(&k, &tok, &event, &payload_of(&event)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let v = r.json();
    assert_eq!(v["error"], "duplicate");
    assert_eq!(v["eventId"], event.event_id.as_str());
    let l = k.ledger();
    assert_eq!(l.accepted.get(&event.event_id), Some(&1));
    assert_eq!(l.accepted_keys.get(&key_of(&event)), Some(&1));
    assert_eq!(l.duplicates, 1);
    assert!(
        l.rejections.is_empty(),
        "a 409 is counted in duplicates only"
    );
    assert_eq!(l.requests_on(ROUTE_PUT), 2);
    assert_eq!((l.max_in_flight, l.in_flight), (1, 0));
}

#[tokio::test]
async fn the_token_needs_the_write_scope() {
    let (k, _, event) = setup(Emulator::builder().events(3)).await;
    let read_only = k.token(Some("eventbridge:read")).await;
    let r = send_valid(&k, &read_only, &event, &payload_of(&event)).await;
    assert_eq!(r.expect_error(403, None)["error"], "insufficient_scope");
    assert!(k.ledger().accepted.is_empty());
}

#[tokio::test]
async fn header_rules_in_order() {
    let (k, tok, event) = setup(Emulator::builder().events(3)).await;
    let key = key_of(&event);
    let body = body_with(&event, &key, &payload_of(&event));
    let with = |content_type: &str, key: Option<&[u8]>| {
        let mut b = Request::put(format!("/api/v2/eventbridge/topics/{TOPIC}/events"))
            .header(header::AUTHORIZATION, format!("Bearer {tok}"))
            .header(header::CONTENT_TYPE, content_type);
        if let Some(k) = key {
            b = b.header(
                "idempotency-key",
                axum::http::HeaderValue::from_bytes(k).expect("header value"),
            );
        }
        b.body(Body::from(body.clone())).expect("request")
    };
    // The topic is checked before anything about the request itself.
    let r = k
        .send(put("no_such_topic", &tok, None, "not json".into()))
        .await;
    r.expect_error(404, Some("topicId"));
    let r = k.send(with("text/plain", None)).await;
    r.expect_error(415, Some("Content-Type"));
    let r = k.send(with("application/json", None)).await;
    r.expect_error(400, Some("Idempotency-Key"));
    let r = k.send(with("application/json", Some(b""))).await;
    r.expect_error(400, Some("Idempotency-Key"));
    let r = k
        .send(with("application/json", Some("clé".as_bytes())))
        .await;
    let v = r.expect_error(400, Some("Idempotency-Key"));
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("visible ASCII")),
        "{v}"
    );
    // Parameters of the media type are fine.
    let r = k
        .send(with(
            "Application/JSON; charset=utf-8",
            Some(key.as_bytes()),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let l = k.ledger();
    assert_eq!(l.violations_total, 5);
    assert!(
        l.violations[0]
            .starts_with("PUT topics/no_such_topic/events [no Idempotency-Key]: 404 `topicId`"),
        "{:?}",
        l.violations
    );
    assert!(
        l.violations[1].contains("415 `Content-Type`"),
        "{:?}",
        l.violations
    );
}

#[tokio::test]
async fn body_rules() {
    let (k, tok, event) = setup(Emulator::builder().events(3)).await;
    let key = key_of(&event);
    let send = |body: Vec<u8>| {
        let req = Request::put(format!("/api/v2/eventbridge/topics/{TOPIC}/events"))
            .header(header::AUTHORIZATION, format!("Bearer {tok}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key.as_str())
            .body(Body::from(body))
            .expect("request");
        k.send(req)
    };
    let r = send(vec![b'x'; BODY_LIMIT + 1]).await;
    assert_eq!(
        r.expect_error(413, Some("body"))["error"],
        "payload_too_large"
    );
    let r = send(vec![b'"', 0xff, b'"']).await;
    assert_eq!(r.expect_error(400, Some("body"))["error"], "invalid_json");
    let r = send(b"{\"eventId\":".to_vec()).await;
    assert_eq!(r.expect_error(400, Some("body"))["error"], "invalid_json");
    let r = send(b"[1,2]".to_vec()).await;
    assert_eq!(
        r.expect_error(422, Some("body"))["error"],
        "schema_violation"
    );
    // Exactly at the limit is not too large: it fails later, as it is no replay body.
    let at_limit = format!("{{\"pad\":\"{}\"}}", "x".repeat(BODY_LIMIT - 10));
    assert_eq!(at_limit.len(), BODY_LIMIT);
    send(at_limit.into_bytes())
        .await
        .expect_error(422, Some("eventId"));
    let l = k.ledger();
    assert_eq!(l.rejections.get(&413), Some(&1));
    assert_eq!(l.rejections.get(&400), Some(&2));
    assert_eq!(l.rejections.get(&422), Some(&2));
}

#[tokio::test]
async fn field_rules_name_the_field() {
    let (k, tok, event) = setup(Emulator::builder().events(3)).await;
    let key = key_of(&event);
    let good = body_with(&event, &key, &payload_of(&event));
    let cases: Vec<(&str, String)> = vec![
        ("eventId", good.replacen(r#""eventId":"#, r#""eventId":42,"x":"#, 1)),
        ("idempotencyKey", good.replacen(&format!("\"{key}\""), "\"replay bad key\"", 1)),
        ("originalPayload", good.replacen(r#""originalPayload":{"#, r#""originalPayload":[{"#, 1).replacen(r#","retryMatrix""#, r#"],"retryMatrix""#, 1)),
        ("retryMatrix.currentAttempt", good.replacen(r#""currentAttempt":1"#, r#""currentAttempt":0"#, 1)),
        ("retryMatrix.maxAllowed", good.replacen(r#""maxAllowed":5"#, r#""maxAllowed":2.5"#, 1)),
        ("retryMatrix.firstFailure", good.replacen(r#""firstFailure":null"#, r#""firstFailure":"yesterday""#, 1)),
        ("retryMatrix.failureReason", good.replacen(r#""failureReason":"HTTP 502""#, r#""failureReason":502"#, 1)),
        ("routingDirective.destinationOverride", good.replacen(r#""destinationOverride":null,"preserveOriginalTopic":true"#, r#""destinationOverride":"http://plain.example.com/","preserveOriginalTopic":false"#, 1)),
        ("routingDirective.preserveOriginalTopic", good.replacen(r#""preserveOriginalTopic":true"#, r#""preserveOriginalTopic":false"#, 1)),
        ("replayMetadata.initiatedAt", good.replacen(r#""initiatedAt":"2024-05-11T09:15:22.103Z""#, r#""initiatedAt":"soon""#, 1)),
        ("replayMetadata.clientVersion", good.replacen(r#","clientVersion":"1.0.0""#, "", 1)),
        ("retryMatrix.currentAttempt", good.replacen(r#""currentAttempt":1"#, r#""currentAttempt":6"#, 1)),
    ];
    for (field, body) in &cases {
        assert_ne!(body, &good, "case {field} changes the body");
        let r = k.send(put(TOPIC, &tok, Some(&key), body.clone())).await;
        r.expect_error(422, Some(field));
    }
    // The body's key must be the header's.
    let r = k
        .send(put(TOPIC, &tok, Some("replay-other-v1"), good.clone()))
        .await;
    r.expect_error(422, Some("idempotencyKey"));
    let l = k.ledger();
    assert_eq!(l.rejections.get(&422), Some(&(cases.len() as u64 + 1)));
    assert!(l.accepted.is_empty());
}

#[tokio::test]
async fn the_event_must_be_in_that_topics_dlq_with_its_payload() {
    let (k, tok, event) = setup(Emulator::builder().events(4).topics([TOPIC, "other"])).await;
    let other = k.events("other")[0].clone();
    let r = send_valid(&k, &tok, &other, &payload_of(&other)).await;
    assert_eq!(
        r.expect_error(404, Some("eventId"))["error"],
        "event_not_found"
    );
    let changed = payload_of(&event).replacen("\"conv_", "\"conv_X", 1);
    let r = send_valid(&k, &tok, &event, &changed).await;
    r.expect_error(422, Some("originalPayload"));
    // Equal as JSON, not the same bytes: accepted and counted.
    let spaced = format!("{{ \n{}", &payload_of(&event)[1..]);
    assert_eq!(
        send_valid(&k, &tok, &event, &spaced).await.status,
        StatusCode::CREATED
    );
    let l = k.ledger();
    assert_eq!(l.accepted_total(), 1);
    assert_eq!(l.violations_total, 2);
}

#[tokio::test(start_paused = true)]
async fn a_put_is_in_flight_through_its_latency() {
    let k = Arc::new(Kit::new(
        Emulator::builder()
            .events(3)
            .latency(Duration::from_millis(100), Duration::ZERO),
    ));
    let tok = k.token(None).await;
    let events = k.events(TOPIC);
    let mut tasks = Vec::new();
    for e in events {
        let (k, tok) = (Arc::clone(&k), tok.clone());
        tasks.push(tokio::spawn(async move {
            send_valid(&k, &tok, &e, &payload_of(&e)).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::CREATED);
    }
    let l = k.ledger();
    assert_eq!((l.max_in_flight, l.in_flight), (3, 0));
}

/// The tutorial's example DLQ event, byte for byte.
pub(super) const TUTORIAL_EVENT: &str = r#"{
  "eventId": "evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c",
  "topicId": "topic_pub_conversations",
  "payload": {"conversationId": "conv_123", "type": "conversation:start", "timestamp": "2024-05-10T14:30:00Z"},
  "failureReason": "HTTP 502 Bad Gateway",
  "retryCount": 3,
  "firstFailureTimestamp": "2024-05-10T14:30:05Z",
  "lastFailureTimestamp": "2024-05-10T14:35:00Z"
}"#;

/// The tutorial's example constructed payload (Step 2), byte for byte.
const TUTORIAL_REPLAY: &str = r#"{
  "eventId": "evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c",
  "idempotencyKey": "replay-evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c-v4",
  "originalPayload": {"conversationId": "conv_123", "type": "conversation:start", "timestamp": "2024-05-10T14:30:00Z"},
  "retryMatrix": {
    "currentAttempt": 4,
    "maxAllowed": 5,
    "firstFailure": "2024-05-10T14:30:05Z",
    "lastFailure": "2024-05-10T14:35:00Z",
    "failureReason": "HTTP 502 Bad Gateway"
  },
  "routingDirective": {
    "destinationOverride": "https://secure-replay-endpoint.example.com/webhook",
    "preserveOriginalTopic": false
  },
  "replayMetadata": {
    "initiatedAt": "2024-05-11T09:15:22.103Z",
    "clientVersion": "1.0.0"
  }
}"#;

pub(super) fn tutorial_kit(b: crate::EmulatorBuilder) -> Kit {
    let event = DlqEvent::from_slice(TUTORIAL_EVENT.as_bytes()).expect("the tutorial's event");
    Kit::with_events(b, vec![(TOPIC, event)])
}

#[tokio::test]
async fn the_tutorials_example_replay_is_accepted_as_sent() {
    let k = tutorial_kit(Emulator::builder());
    let tok = k.token(None).await;
    let key = "replay-evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c-v4";
    let r = k
        .send(put(TOPIC, &tok, Some(key), TUTORIAL_REPLAY.to_string()))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        r.json()["eventId"],
        "evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c"
    );
    let l = k.ledger();
    assert_eq!(l.accepted_keys.get(key), Some(&1));
    assert_eq!(l.altered_payloads, 0, "the payload's bytes were kept");
}

// ---------------------------------------------------------------------------------------------
// originalPayload equality: by value by default, by text with `strict_payload`.

use crate::json_eq::python::{Style, dumps};

/// A payload with the numbers a JSON parser rewrites: `1e3`, a 22-digit decimal, 2^53 + 1.
const NUMBERS_PAYLOAD: &str =
    r#"{"count":1e3,"amount":81062.161182923068587886,"contactId":9007199254740993,"ratio":0.10}"#;

fn numbers_event() -> DlqEvent {
    let text = format!(
        r#"{{"eventId":"evt_numbers","topicId":"{TOPIC}","payload":{NUMBERS_PAYLOAD},"retryCount":0}}"#
    );
    DlqEvent::from_slice(text.as_bytes()).expect("an event")
}

fn numbers_kit(strict: bool) -> Kit {
    Kit::with_events(
        Emulator::builder().strict_payload(strict),
        vec![(TOPIC, numbers_event())],
    )
}

/// PUTs `event`'s replay with `original`, the whole body re-serialized in `style` if given.
async fn send_as(k: &Kit, event: &DlqEvent, original: &str, style: Option<Style>) -> Reply {
    let tok = k.token(None).await;
    let key = key_of(event);
    let body = body_with(event, &key, original);
    let body = style.map_or(body.clone(), |s| dumps(&body, s));
    k.send(put(TOPIC, &tok, Some(&key), body)).await
}

#[tokio::test]
async fn the_tutorials_python_client_is_accepted_and_counted_when_it_alters_the_payload() {
    let tutorial = DlqEvent::from_slice(TUTORIAL_EVENT.as_bytes()).expect("event");
    let key = "replay-evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c-v4";
    for (style, altered) in [(Style::Json, 0), (Style::Httpx, 1)] {
        for strict in [false, true] {
            let k = tutorial_kit(Emulator::builder().strict_payload(strict));
            let tok = k.token(None).await;
            let body = dumps(TUTORIAL_REPLAY, style);
            let r = k.send(put(TOPIC, &tok, Some(key), body)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{style:?} strict={strict}");
            assert_eq!(r.json()["eventId"], tutorial.event_id.as_str());
            // json.dumps's default layout is the tutorial's own: the payload's bytes survive;
            // httpx 0.28's compact layout changes them.
            assert_eq!(k.ledger().altered_payloads, altered, "{style:?}");
        }
    }
}

#[tokio::test]
async fn numbers_rewritten_by_a_python_client_are_accepted_by_value_and_counted() {
    let event = numbers_event();
    for style in [Style::Json, Style::Httpx] {
        let k = numbers_kit(false);
        let sent = dumps(NUMBERS_PAYLOAD, style);
        assert!(
            sent.contains("1000.0")
                && sent.contains("81062.16118292307")
                && sent.contains("9007199254740993")
                && sent.contains("0.1")
                && !sent.contains("0.10"),
            "{sent}"
        );
        let r = send_as(&k, &event, NUMBERS_PAYLOAD, Some(style)).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let l = k.ledger();
        assert_eq!(l.altered_payloads, 1);
        assert_eq!(l.accepted.get("evt_numbers"), Some(&1));
        assert!(l.violations.is_empty(), "{:?}", l.violations);
    }
}

#[tokio::test]
async fn python_re_serialized_seeded_events_are_accepted_by_value() {
    let k = Kit::new(Emulator::builder().events(6).seed(9));
    let tok = k.token(None).await;
    for event in k.events(TOPIC) {
        let key = key_of(&event);
        let body = dumps(&body_with(&event, &key, &payload_of(&event)), Style::Json);
        let r = k.send(put(TOPIC, &tok, Some(&key), body)).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let l = k.ledger();
    assert_eq!((l.accepted_total(), l.altered_payloads), (6, 6));
}

#[tokio::test]
async fn strict_mode_rejects_any_number_written_differently() {
    let event = numbers_event();
    let rewrites = [
        ("1e3", "1000.0"),
        ("1e3", "1000"),
        ("1e3", "1E3"),
        ("81062.161182923068587886", "81062.16118292307"),
        ("9007199254740993", "9007199254740992"),
        ("0.10", "0.1"),
    ];
    for (from, to) in rewrites {
        let sent = NUMBERS_PAYLOAD.replacen(from, to, 1);
        assert_ne!(sent, NUMBERS_PAYLOAD);
        let strict = numbers_kit(true);
        let r = send_as(&strict, &event, &sent, None).await;
        let v = r.expect_error(422, Some("originalPayload"));
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains("strict")),
            "{v}"
        );
        let l = strict.ledger();
        assert_eq!((l.accepted_total(), l.altered_payloads), (0, 0));
        assert_eq!(l.violations_total, 1);
        // The default accepts each of them, counted as altered.
        let lenient = numbers_kit(false);
        let r = send_as(&lenient, &event, &sent, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{from} -> {to}");
        assert_eq!(lenient.ledger().altered_payloads, 1);
    }
    // Layout is not a number: strict accepts it, and counts it as altered.
    let strict = numbers_kit(true);
    let spaced = NUMBERS_PAYLOAD.replace(',', " ,\n ");
    let r = send_as(&strict, &event, &spaced, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(strict.ledger().altered_payloads, 1);
}

#[tokio::test]
async fn a_genuinely_different_value_is_422_in_both_modes() {
    let event = numbers_event();
    let changes = [
        // A different 22-digit decimal, though it rounds to the same double.
        ("81062.161182923068587886", "81062.161182923068587887"),
        // More digits than a double is written with, rounding to it: no double round trip.
        ("81062.161182923068587886", "81062.1611829230686"),
        ("1e3", "1001"),
        ("1e3", "\"1000\""),
        ("9007199254740993", "9007199254740994"),
        ("0.10", "0.11"),
    ];
    for (from, to) in changes {
        let sent = NUMBERS_PAYLOAD.replacen(from, to, 1);
        for strict in [false, true] {
            let k = numbers_kit(strict);
            let r = send_as(&k, &event, &sent, None).await;
            r.expect_error(422, Some("originalPayload"));
            let l = k.ledger();
            assert_eq!((l.accepted_total(), l.altered_payloads), (0, 0));
            assert!(
                l.violations[0].contains("422 `originalPayload`"),
                "{:?}",
                l.violations
            );
        }
    }
}

#[tokio::test]
async fn put_status_answers_every_put_after_the_gate_and_can_be_changed() {
    let (k, tok, event) = setup(Emulator::builder().events(3).put_status(503)).await;
    for _ in 0..3 {
        let r = send_valid(&k, &tok, &event, &payload_of(&event)).await;
        assert_eq!(r.expect_error(503, None)["error"], "put_status");
    }
    // The gate comes first: no token, a 401 of the gate (not of put_status).
    let r = k
        .send(put(
            TOPIC,
            "not-a-token",
            Some(&key_of(&event)),
            "{}".into(),
        ))
        .await;
    assert_eq!(r.expect_error(401, None)["error"], "invalid_token");
    k.state.set_put_status(Some(401));
    let r = send_valid(&k, &tok, &event, &payload_of(&event)).await;
    assert_eq!(r.expect_error(401, None)["error"], "put_status");
    assert!(r.header("www-authenticate").is_some());
    k.state.set_put_status(Some(403));
    let r = send_valid(&k, &tok, &event, &payload_of(&event)).await;
    r.expect_error(403, None);
    k.state.set_put_status(None);
    let r = send_valid(&k, &tok, &event, &payload_of(&event)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let l = k.ledger();
    assert_eq!(l.rejections.get(&503), Some(&3));
    assert_eq!(l.rejections.get(&401), Some(&2));
    assert_eq!(l.rejections.get(&403), Some(&1));
    assert!(
        l.violations.is_empty(),
        "not the client's fault: {:?}",
        l.violations
    );
    assert_eq!(l.accepted.get(&event.event_id), Some(&1));
    assert_eq!(l.requests_on(ROUTE_PUT), 7);
}
