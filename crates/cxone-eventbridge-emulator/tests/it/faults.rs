//! Fault injection: reproducible from the seed, and never recorded as accepted.

use crate::common::*;
use cxone_eventbridge_emulator::{Emulator, EmulatorBuilder, ROUTE_DLQ};
use reqwest::StatusCode;

/// Runs `n` sequential DLQ GETs and returns what each got: a status, or 0 for a dropped connection.
async fn outcomes(b: EmulatorBuilder, n: usize) -> (Vec<u16>, cxone_eventbridge_emulator::Ledger) {
    let emu = start(b).await;
    let tok = token(&emu).await;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match http()
            .get(format!("{}/api/v2/eventbridge/dlq/events", emu.base_url()))
            .bearer_auth(&tok)
            .query(&[("topicId", TOPIC), ("limit", "5")])
            .send()
            .await
        {
            Ok(resp) => out.push(resp.status().as_u16()),
            Err(_) => out.push(0),
        }
    }
    let ledger = emu.ledger();
    emu.shutdown().await;
    (out, ledger)
}

fn faulty(seed: u64) -> EmulatorBuilder {
    Emulator::builder()
        .events(10)
        .seed(seed)
        .fail_5xx(0.3)
        .drop_fraction(0.1)
        .rate_limit_every(5, 2)
}

#[tokio::test]
async fn same_seed_same_fault_sequence() {
    let (a, la) = outcomes(faulty(42), 60).await;
    let (b, lb) = outcomes(faulty(42), 60).await;
    let (c, _) = outcomes(faulty(43), 60).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Every 5th request is a 429.
    for (i, s) in a.iter().enumerate() {
        if (i + 1) % 5 == 0 {
            assert_eq!(*s, 429, "request {i}");
        }
    }
    assert!(a.contains(&0), "some connections dropped: {a:?}");
    assert!(a.iter().any(|s| (500..600).contains(s)), "some 5xx: {a:?}");
    assert!(a.contains(&200), "some served: {a:?}");
    // The ledger agrees with what the client saw.
    let count = |s: u16| a.iter().filter(|x| **x == s).count() as u64;
    assert_eq!(la.rejections.get(&429).copied().unwrap_or(0), count(429));
    assert_eq!(la.dropped, count(0));
    assert_eq!(la.requests_on(ROUTE_DLQ), 60);
    assert_eq!(la, lb);
}

#[tokio::test]
async fn same_seed_same_data_other_seed_other_data() {
    let a = start(Emulator::builder().events(25).topics(["x", "y"]).seed(9)).await;
    let b = start(Emulator::builder().events(25).topics(["x", "y"]).seed(9)).await;
    let c = start(Emulator::builder().events(25).topics(["x", "y"]).seed(10)).await;
    let dump = |e: &cxone_eventbridge_emulator::EmulatorHandle| {
        serde_json::to_string(&[e.events("x"), e.events("y")]).expect("JSON")
    };
    assert_eq!(dump(&a), dump(&b));
    assert_ne!(dump(&a), dump(&c));
}

#[tokio::test]
async fn a_dropped_connection_is_a_client_error_without_a_response() {
    let emu = start(Emulator::builder().events(3).drop_fraction(1.0)).await;
    let tok = token(&emu).await;
    let res = http()
        .get(format!(
            "{}/api/v2/eventbridge/dlq/events?topicId={TOPIC}",
            emu.base_url()
        ))
        .bearer_auth(&tok)
        .send()
        .await;
    assert!(res.is_err(), "expected a transport error, got {res:?}");
    let l = emu.ledger();
    assert_eq!(l.dropped, 1);
    assert_eq!(l.requests_on(ROUTE_DLQ), 1, "no hidden client retries");
    assert!(l.rejections.is_empty());
}

#[tokio::test]
async fn rate_limit_sends_retry_after() {
    let emu = start(Emulator::builder().events(3).rate_limit_every(1, 7)).await;
    let tok = token(&emu).await;
    let resp = get_page(&emu, &tok, &[("topicId", TOPIC)]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    expect_error(resp, 429, None).await;
    // Faults are not contract violations, and the token endpoint is not faulted.
    let l = emu.ledger();
    assert!(l.violations.is_empty());
    assert_eq!(l.tokens_issued, 1);
}

#[tokio::test]
async fn a_faulted_put_is_not_accepted() {
    let emu = start(Emulator::builder().events(3).fail_5xx(1.0)).await;
    let tok = token(&emu).await;
    let event = emu.events(TOPIC)[0].clone();
    let resp = put(&emu, &tok, TOPIC, &Body::for_event(&event)).await;
    assert!(resp.status().is_server_error());
    let l = emu.ledger();
    assert!(l.accepted.is_empty() && l.accepted_keys.is_empty());
    assert_eq!(l.rejections_total(), 1);
    // The emulator endpoints are never faulted.
    let resp = http()
        .get(format!("{}/__emulator/ledger", emu.base_url()))
        .send()
        .await
        .expect("ledger");
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn try_put(
    emu: &cxone_eventbridge_emulator::EmulatorHandle,
    tok: &str,
    body: &Body,
) -> Result<reqwest::Response, reqwest::Error> {
    http()
        .put(format!(
            "{}/api/v2/eventbridge/topics/{TOPIC}/events",
            emu.base_url()
        ))
        .bearer_auth(tok)
        .header("content-type", "application/json")
        .header("idempotency-key", body.key())
        .body(body.render())
        .send()
        .await
}

#[tokio::test]
async fn a_dropped_put_is_not_accepted_and_its_retry_is() {
    let emu = start(Emulator::builder().events(3).drop_fraction(0.5).seed(1)).await;
    let tok = token(&emu).await;
    let body = Body::for_event(&emu.events(TOPIC)[0]);
    let mut dropped = 0;
    let mut created = 0;
    // The seeded schedule has both drops and deliveries within a few requests.
    for _ in 0..20 {
        match try_put(&emu, &tok, &body).await {
            Err(_) => {
                dropped += 1;
                if created == 0 {
                    assert!(emu.ledger().accepted.is_empty());
                }
            }
            Ok(r) if created == 0 => {
                assert_eq!(r.status(), StatusCode::CREATED);
                created += 1;
            }
            Ok(r) => assert_eq!(r.status(), StatusCode::CONFLICT),
        }
    }
    assert!(
        dropped > 0 && created == 1,
        "dropped {dropped}, created {created}"
    );
    let l = emu.ledger();
    assert_eq!(l.accepted_total(), 1);
    assert_eq!(l.dropped, dropped);
    assert_eq!(l.duplicates, 20 - dropped - 1);
}

#[tokio::test]
async fn the_handle_changes_the_rate_limit_and_refuses_a_bad_one() {
    use cxone_eventbridge_emulator::RateLimit;
    let emu = Emulator::builder()
        .events(2)
        .rate_limit(RateLimit::new(1).with_burst(1))
        .start()
        .await
        .expect("starts");
    let err = emu
        .set_rate_limit(Some(RateLimit::new(10).with_burst(0)))
        .expect_err("burst 0");
    assert_eq!(err.setting(), Some("rate_limit_burst"));
    emu.set_rate_limit(None).expect("lifted");
    emu.set_rate_limit(Some(RateLimit::new(1_000_000)))
        .expect("the largest");
    emu.shutdown().await;
}

#[tokio::test]
async fn put_status_leaves_the_dlq_readable_and_is_checked_when_changed() {
    let emu = start(Emulator::builder().events(3).put_status(503)).await;
    let tok = token(&emu).await;
    let resp = http()
        .get(format!("{}/api/v2/eventbridge/dlq/events", emu.base_url()))
        .bearer_auth(&tok)
        .query(&[("topicId", TOPIC)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let err = emu.set_put_status(Some(200)).unwrap_err();
    assert_eq!(err.setting(), Some("put_status"));
    assert!(emu.set_put_status(Some(403)).is_ok());
    assert!(emu.set_put_status(None).is_ok());
    emu.shutdown().await;
}
