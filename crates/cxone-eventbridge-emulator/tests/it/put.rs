//! Every rejection rule of the replay PUT, one raw request each.

use crate::common::*;
use cxone_eventbridge_emulator::{BODY_LIMIT, Emulator, EmulatorHandle};
use cxone_replay_domain::DlqEvent;
use reqwest::StatusCode;

async fn setup() -> (EmulatorHandle, String, DlqEvent) {
    let emu = start(
        Emulator::builder()
            .events(10)
            .topics([TOPIC, "other_topic"])
            .seed(21),
    )
    .await;
    let tok = token(&emu).await;
    let event = emu.events(TOPIC)[0].clone();
    (emu, tok, event)
}

/// Asserts a rejection was recorded as a violation naming the field, and nothing was accepted.
fn assert_violation(emu: &EmulatorHandle, status: u16, field: &str) {
    let l = emu.ledger();
    assert!(l.accepted.is_empty());
    assert_eq!(l.rejections.get(&status), Some(&1), "{:?}", l.rejections);
    assert_eq!(l.violations_total, 1, "{:?}", l.violations);
    assert!(l.violations[0].contains(field), "{:?}", l.violations);
}

#[tokio::test]
async fn valid_body_is_accepted_and_the_same_key_again_is_409() {
    let (emu, tok, event) = setup().await;
    let body = Body::for_event(&event);
    assert_eq!(
        put(&emu, &tok, TOPIC, &body).await.status(),
        StatusCode::CREATED
    );
    let resp = put(&emu, &tok, TOPIC, &body).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let v: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(
        v["eventId"],
        serde_json::Value::String(event.event_id.clone())
    );
    // A new attempt of the same event has a new key and is accepted.
    let mut next = Body::for_event(&event);
    let attempt = event.retry_count() + 2;
    next.key = Some(json(&format!("replay-{}-v{attempt}", event.event_id)));
    next.matrix = Some(format!(
        r#"{{"currentAttempt":{attempt},"maxAllowed":10,"firstFailure":null,"lastFailure":null,"failureReason":null}}"#
    ));
    assert_eq!(
        put(&emu, &tok, TOPIC, &next).await.status(),
        StatusCode::CREATED
    );
    let l = emu.ledger();
    assert_eq!(l.duplicates, 1);
    assert_eq!(l.accepted.get(&event.event_id), Some(&2));
    assert_eq!(l.accepted_keys.len(), 2);
    assert!(l.rejections.is_empty(), "409 is counted in duplicates only");
    assert!(l.violations.is_empty());
}

#[tokio::test]
async fn content_type_must_be_json() {
    let (emu, tok, event) = setup().await;
    let body = Body::for_event(&event);
    let resp = put_raw(
        &emu,
        &tok,
        TOPIC,
        Some(&body.key()),
        "text/plain",
        body.render(),
    )
    .await;
    expect_error(resp, 415, Some("Content-Type")).await;
    assert_violation(&emu, 415, "Content-Type");
    // Parameters are fine.
    let resp = put_raw(
        &emu,
        &tok,
        TOPIC,
        Some(&body.key()),
        "application/json; charset=utf-8",
        body.render(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn idempotency_key_header_is_required() {
    let (emu, tok, event) = setup().await;
    let body = Body::for_event(&event);
    let resp = put_raw(&emu, &tok, TOPIC, None, "application/json", body.render()).await;
    expect_error(resp, 400, Some("Idempotency-Key")).await;
    assert_violation(&emu, 400, "Idempotency-Key");
}

#[tokio::test]
async fn idempotency_key_header_must_equal_the_body_key() {
    let (emu, tok, event) = setup().await;
    let body = Body::for_event(&event);
    let resp = put_raw(
        &emu,
        &tok,
        TOPIC,
        Some("replay-other-v1"),
        "application/json",
        body.render(),
    )
    .await;
    expect_error(resp, 422, Some("idempotencyKey")).await;
    assert_violation(&emu, 422, "idempotencyKey");
}

type Strip = fn(&mut Body);

#[tokio::test]
async fn every_field_is_required() {
    let (emu, tok, event) = setup().await;
    let full = Body::for_event(&event);
    let top: [(&str, Strip); 6] = [
        ("eventId", |b| b.event_id = None),
        ("idempotencyKey", |b| b.key = None),
        ("originalPayload", |b| b.original = None),
        ("retryMatrix", |b| b.matrix = None),
        ("routingDirective", |b| b.routing = None),
        ("replayMetadata", |b| b.metadata = None),
    ];
    for (field, strip) in top {
        let mut b = full.clone();
        strip(&mut b);
        let resp = put_raw(
            &emu,
            &tok,
            TOPIC,
            Some(&full.key()),
            "application/json",
            b.render(),
        )
        .await;
        let v = expect_error(resp, 422, Some(field)).await;
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("required")),
            "{v}"
        );
    }
    let nested = [
        (
            "retryMatrix.currentAttempt",
            r#"{"maxAllowed":5,"firstFailure":null,"lastFailure":null,"failureReason":null}"#,
            "matrix",
        ),
        (
            "retryMatrix.maxAllowed",
            r#"{"currentAttempt":1,"firstFailure":null,"lastFailure":null,"failureReason":null}"#,
            "matrix",
        ),
        (
            "retryMatrix.firstFailure",
            r#"{"currentAttempt":1,"maxAllowed":5,"lastFailure":null,"failureReason":null}"#,
            "matrix",
        ),
        (
            "retryMatrix.lastFailure",
            r#"{"currentAttempt":1,"maxAllowed":5,"firstFailure":null,"failureReason":null}"#,
            "matrix",
        ),
        (
            "retryMatrix.failureReason",
            r#"{"currentAttempt":1,"maxAllowed":5,"firstFailure":null,"lastFailure":null}"#,
            "matrix",
        ),
        (
            "routingDirective.destinationOverride",
            r#"{"preserveOriginalTopic":true}"#,
            "routing",
        ),
        (
            "routingDirective.preserveOriginalTopic",
            r#"{"destinationOverride":null}"#,
            "routing",
        ),
        (
            "replayMetadata.initiatedAt",
            r#"{"clientVersion":"1.0.0"}"#,
            "metadata",
        ),
        (
            "replayMetadata.clientVersion",
            r#"{"initiatedAt":"2024-05-11T09:15:22.103Z"}"#,
            "metadata",
        ),
    ];
    for (field, part, which) in nested {
        let mut b = full.clone();
        let slot = match which {
            "matrix" => &mut b.matrix,
            "routing" => &mut b.routing,
            _ => &mut b.metadata,
        };
        *slot = Some(part.to_string());
        let resp = put(&emu, &tok, TOPIC, &b).await;
        expect_error(resp, 422, Some(field)).await;
    }
    let l = emu.ledger();
    assert!(l.accepted.is_empty());
    assert_eq!(l.rejections.get(&422), Some(&15));
    assert_eq!(l.violations_total, 15);
}

#[tokio::test]
async fn every_field_has_its_type() {
    let (emu, tok, event) = setup().await;
    let full = Body::for_event(&event);
    let cases: Vec<(&str, Body)> = vec![
        ("eventId", Body { event_id: Some("42".into()), ..full.clone() }),
        ("eventId", Body { event_id: Some(r#""""#.into()), ..full.clone() }),
        ("originalPayload", Body { original: Some("[1,2]".into()), ..full.clone() }),
        ("originalPayload", Body { original: Some(r#""{}""#.into()), ..full.clone() }),
        ("retryMatrix", Body { matrix: Some("[]".into()), ..full.clone() }),
        ("retryMatrix.currentAttempt", Body { matrix: Some(r#"{"currentAttempt":"4","maxAllowed":5,"firstFailure":null,"lastFailure":null,"failureReason":null}"#.into()), ..full.clone() }),
        ("retryMatrix.currentAttempt", Body { matrix: Some(r#"{"currentAttempt":0,"maxAllowed":5,"firstFailure":null,"lastFailure":null,"failureReason":null}"#.into()), ..full.clone() }),
        ("retryMatrix.maxAllowed", Body { matrix: Some(r#"{"currentAttempt":1,"maxAllowed":2.5,"firstFailure":null,"lastFailure":null,"failureReason":null}"#.into()), ..full.clone() }),
        ("retryMatrix.firstFailure", Body { matrix: Some(r#"{"currentAttempt":1,"maxAllowed":5,"firstFailure":"yesterday","lastFailure":null,"failureReason":null}"#.into()), ..full.clone() }),
        ("retryMatrix.failureReason", Body { matrix: Some(r#"{"currentAttempt":1,"maxAllowed":5,"firstFailure":null,"lastFailure":null,"failureReason":502}"#.into()), ..full.clone() }),
        ("routingDirective.preserveOriginalTopic", Body { routing: Some(r#"{"destinationOverride":null,"preserveOriginalTopic":"true"}"#.into()), ..full.clone() }),
        ("routingDirective.destinationOverride", Body { routing: Some(r#"{"destinationOverride":"http://plain.example.com/","preserveOriginalTopic":false}"#.into()), ..full.clone() }),
        ("replayMetadata.initiatedAt", Body { metadata: Some(r#"{"initiatedAt":"soon","clientVersion":"1"}"#.into()), ..full.clone() }),
        ("replayMetadata.clientVersion", Body { metadata: Some(r#"{"initiatedAt":"2024-05-11T09:15:22.103Z","clientVersion":1}"#.into()), ..full.clone() }),
    ];
    let n = cases.len() as u64;
    for (field, b) in cases {
        let resp = put_raw(
            &emu,
            &tok,
            TOPIC,
            Some(&full.key()),
            "application/json",
            b.render(),
        )
        .await;
        expect_error(resp, 422, Some(field)).await;
    }
    // A key with a space is not a valid idempotency key.
    let b = Body {
        key: Some(json("replay bad key")),
        ..full.clone()
    };
    expect_error(
        put(&emu, &tok, TOPIC, &b).await,
        422,
        Some("idempotencyKey"),
    )
    .await;
    assert_eq!(emu.ledger().rejections.get(&422), Some(&(n + 1)));
    assert!(emu.ledger().accepted.is_empty());
}

#[tokio::test]
async fn current_attempt_may_not_exceed_max_allowed() {
    let (emu, tok, event) = setup().await;
    let mut b = Body::for_event(&event);
    b.matrix = Some(r#"{"currentAttempt":6,"maxAllowed":5,"firstFailure":null,"lastFailure":null,"failureReason":null}"#.into());
    expect_error(
        put(&emu, &tok, TOPIC, &b).await,
        422,
        Some("retryMatrix.currentAttempt"),
    )
    .await;
    assert_violation(&emu, 422, "currentAttempt");
    // Equal is fine.
    b.matrix = Some(r#"{"currentAttempt":5,"maxAllowed":5,"firstFailure":null,"lastFailure":null,"failureReason":null}"#.into());
    assert_eq!(
        put(&emu, &tok, TOPIC, &b).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn event_must_be_in_that_topics_dlq() {
    let (emu, tok, event) = setup().await;
    // Unknown event.
    let mut b = Body::for_event(&event);
    b.event_id = Some(json("evt_does-not-exist"));
    expect_error(put(&emu, &tok, TOPIC, &b).await, 404, Some("eventId")).await;
    // An event of another topic.
    let other = emu.events("other_topic")[0].clone();
    expect_error(
        put(&emu, &tok, TOPIC, &Body::for_event(&other)).await,
        404,
        Some("eventId"),
    )
    .await;
    // A topic that does not exist.
    expect_error(
        put(&emu, &tok, "no_such_topic", &Body::for_event(&event)).await,
        404,
        Some("topicId"),
    )
    .await;
    let l = emu.ledger();
    assert_eq!(l.rejections.get(&404), Some(&3));
    assert_eq!(l.violations_total, 3);
    assert!(l.accepted.is_empty());
}

#[tokio::test]
async fn preserve_original_topic_must_match_the_override() {
    let (emu, tok, event) = setup().await;
    let mut b = Body::for_event(&event);
    b.routing = Some(
        r#"{"destinationOverride":"https://hooks.example.com/x","preserveOriginalTopic":true}"#
            .into(),
    );
    expect_error(
        put(&emu, &tok, TOPIC, &b).await,
        422,
        Some("routingDirective.preserveOriginalTopic"),
    )
    .await;
    b.routing = Some(r#"{"destinationOverride":null,"preserveOriginalTopic":false}"#.into());
    expect_error(
        put(&emu, &tok, TOPIC, &b).await,
        422,
        Some("routingDirective.preserveOriginalTopic"),
    )
    .await;
    assert_eq!(emu.ledger().rejections.get(&422), Some(&2));
}

#[tokio::test]
async fn original_payload_is_compared_by_value_and_a_rewritten_one_is_counted() {
    let (emu, tok, event) = setup().await;
    let text = event.payload.as_ref().expect("payload").get().to_string();
    // Re-serialized through f64 (serde_json without arbitrary_precision): the long decimal is
    // shortened, `1e3` becomes `1000.0`... the same values as a JSON parser sees them.
    let lossy = serde_json::from_str::<serde_json::Value>(&text)
        .expect("JSON")
        .to_string();
    assert_ne!(lossy, text);
    let mut b = Body::for_event(&event);
    b.original = Some(lossy);
    assert_eq!(
        put(&emu, &tok, TOPIC, &b).await.status(),
        StatusCode::CREATED
    );
    // A changed value is not equal.
    let mut other = Body::for_event(&event);
    other.original = Some(text.replacen("\"conv_", "\"conv_X", 1));
    expect_error(
        put(&emu, &tok, TOPIC, &other).await,
        422,
        Some("originalPayload"),
    )
    .await;
    let l = emu.ledger();
    assert_eq!(l.altered_payloads, 1);
    assert_eq!(l.accepted_total(), 1);
    assert_eq!(l.violations_total, 1);
}

#[tokio::test]
async fn strict_payload_compares_numbers_by_their_exact_text() {
    let emu = start(Emulator::builder().events(10).seed(21).strict_payload(true)).await;
    let tok = token(&emu).await;
    let event = emu.events(TOPIC)[0].clone();
    let text = event.payload.as_ref().expect("payload").get().to_string();
    let lossy = serde_json::from_str::<serde_json::Value>(&text)
        .expect("JSON")
        .to_string();
    let mut b = Body::for_event(&event);
    b.original = Some(lossy);
    let v = expect_error(
        put(&emu, &tok, TOPIC, &b).await,
        422,
        Some("originalPayload"),
    )
    .await;
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("exact text"))
    );
    assert_eq!(emu.ledger().altered_payloads, 0);
    // Equal as JSON but not byte-identical (extra whitespace): accepted and counted.
    b.original = Some(format!("{{ \n{}", &text[1..]));
    assert_eq!(
        put(&emu, &tok, TOPIC, &b).await.status(),
        StatusCode::CREATED
    );
    let l = emu.ledger();
    assert_eq!(l.altered_payloads, 1);
    assert_eq!(l.accepted_total(), 1);
    assert_eq!(l.violations_total, 1);
}

#[tokio::test]
async fn unparseable_json_is_400_and_a_non_object_is_422() {
    let (emu, tok, event) = setup().await;
    let key = Body::for_event(&event).key();
    let resp = put_raw(
        &emu,
        &tok,
        TOPIC,
        Some(&key),
        "application/json",
        "{\"eventId\":".into(),
    )
    .await;
    let v = expect_error(resp, 400, Some("body")).await;
    assert_eq!(v["error"], "invalid_json");
    let resp = put_raw(
        &emu,
        &tok,
        TOPIC,
        Some(&key),
        "application/json",
        "[1,2,3]".into(),
    )
    .await;
    expect_error(resp, 422, Some("body")).await;
    let l = emu.ledger();
    assert_eq!(
        (l.rejections.get(&400), l.rejections.get(&422)),
        (Some(&1), Some(&1))
    );
}

#[tokio::test]
async fn bodies_over_256_kib_are_413() {
    let emu = start(
        Emulator::builder()
            .events(10)
            .oversize_fraction(0.2)
            .seed(4),
    )
    .await;
    let tok = token(&emu).await;
    let big = emu
        .events(TOPIC)
        .into_iter()
        .find(|e| {
            e.payload
                .as_ref()
                .is_some_and(|p| p.get().len() > BODY_LIMIT)
        })
        .expect("an oversize event");
    let body = Body::for_event(&big);
    assert!(body.render().len() > BODY_LIMIT);
    let v = expect_error(put(&emu, &tok, TOPIC, &body).await, 413, Some("body")).await;
    assert_eq!(v["error"], "payload_too_large");
    assert_violation(&emu, 413, "body");
    // Exactly at the limit is not rejected for size (it fails later, as it is not a replay body).
    let at_limit = format!("{{\"pad\":\"{}\"}}", "x".repeat(BODY_LIMIT - 10));
    assert_eq!(at_limit.len(), BODY_LIMIT);
    let resp = put_raw(&emu, &tok, TOPIC, Some("k"), "application/json", at_limit).await;
    assert_eq!(resp.status().as_u16(), 422);
}
