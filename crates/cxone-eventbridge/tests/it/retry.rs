//! Retries: 429 Retry-After (seconds, HTTP date, client-wide hold), 5xx backoff with the same
//! body bytes, attempt limits, the retry budget, broken connections.

use crate::support::*;
use cxone_eventbridge::runtime::testing::{ManualClock, RecordingSleeper};
use cxone_eventbridge::{Error, GaveUp, PutOutcome};
use cxone_replay_domain::{FailureClass, RetryBudget, RetryPolicy};
use httpmock::prelude::*;
use httpmock::{HttpMockRequest, HttpMockResponse};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const BODY: &[u8] =
    br#"{"eventId":"e1","idempotencyKey":"replay-e1-v1","originalPayload":{"n":1}}"#;

async fn rate_limited_then_accepted(env: &Env, retry_after: String) -> Vec<Duration> {
    env.token_mock().await;
    let limited = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(429)
                .header("retry-after", retry_after)
                .body("slow down")
                .up_to_n_times(1);
        })
        .await;
    let ok = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(201).json_body(accepted("e1"));
        })
        .await;
    let report = env
        .client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(report.attempts, 2);
    assert!(matches!(report.outcome, PutOutcome::Accepted(_)));
    limited.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    env.sleeper.sleeps()
}

#[tokio::test]
async fn retry_after_seconds_is_waited_then_the_put_succeeds() {
    let env = Env::start().await;
    let sleeps = rate_limited_then_accepted(&env, "2".into()).await;
    assert_eq!(sleeps, [Duration::from_secs(2)]);
}

#[tokio::test]
async fn retry_after_http_date_is_waited_then_the_put_succeeds() {
    let env = Env::start().await;
    // t0 is 2024-05-11T09:00:00Z, a Saturday.
    let sleeps = rate_limited_then_accepted(&env, "Sat, 11 May 2024 09:00:07 GMT".into()).await;
    assert_eq!(sleeps, [Duration::from_secs(7)]);
}

#[tokio::test]
async fn a_429_holds_every_call_of_the_client() {
    let env = Env::start().await;
    env.token_mock().await;
    env.server
        .mock_async(|when, then| {
            when.method(GET).path(DLQ_PATH);
            then.status(429).header("retry-after", "5");
        })
        .await;
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(201).json_body(accepted("e1"));
        })
        .await;
    // One attempt only: the DLQ call gives up at once, without waiting itself...
    let client = env
        .builder()
        .retry_policy(
            RetryPolicy::new(1, Duration::from_millis(1), Duration::from_secs(1)).unwrap(),
        )
        .build()
        .unwrap();
    let err = futures::StreamExt::collect::<Vec<_>>(client.dlq(TOPIC).pages())
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.last_class(), FailureClass::RateLimited);
    assert!(env.sleeper.sleeps().is_empty());
    // ...but a different call of a clone of the client waits out the hold before sending.
    client
        .clone()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(env.sleeper.sleeps(), [Duration::from_secs(5)]);
    put.assert_calls_async(1).await;
}

#[tokio::test]
async fn retry_after_is_capped_by_the_policy() {
    let env = Env::start().await;
    env.token_mock().await;
    env.server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(429)
                .header("retry-after", "86400")
                .up_to_n_times(1);
        })
        .await;
    env.server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(201).json_body(accepted("e1"));
        })
        .await;
    let policy = RetryPolicy::default().with_retry_after_cap(Duration::from_secs(30));
    let client = env.builder().retry_policy(policy).build().unwrap();
    client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(env.sleeper.sleeps(), [Duration::from_secs(30)]);
}

/// A responder: `503` for the first `failures` requests, then `201`; records every body.
fn flaky(
    failures: usize,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
) -> impl Fn(&HttpMockRequest) -> HttpMockResponse + Send + Sync + 'static {
    let count = AtomicUsize::new(0);
    move |req| {
        bodies.lock().unwrap().push(req.body_vec());
        let n = count.fetch_add(1, Ordering::SeqCst);
        if n < failures {
            HttpMockResponse::builder()
                .status(503)
                .body("try later")
                .build()
        } else {
            HttpMockResponse::builder()
                .status(201)
                .header("content-type", "application/json")
                .body(accepted("e1").to_string())
                .build()
        }
    }
}

#[tokio::test]
async fn two_503s_then_201_is_three_identical_requests() {
    let env = Env::start().await;
    env.token_mock().await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("idempotency-key", "replay-e1-v1");
            then.respond_with(flaky(2, Arc::clone(&bodies)));
        })
        .await;
    let report = env
        .client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    put.assert_calls_async(3).await;
    assert_eq!(report.attempts, 3);
    assert_eq!(report.status, 201);
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b == BODY), "{bodies:?}");
    // Full jitter (fixed at 0.5) of 200 ms, then 400 ms.
    assert_eq!(
        env.sleeper.sleeps(),
        [Duration::from_millis(100), Duration::from_millis(200)]
    );
}

#[tokio::test]
async fn always_503_stops_at_max_attempts() {
    let env = Env::start().await;
    env.token_mock().await;
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(503)
                .header("x-request-id", "req-503")
                .body("upstream down");
        })
        .await;
    let err = env
        .client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    put.assert_calls_async(5).await;
    assert_eq!(err.attempts(), 5);
    assert_eq!(err.class(), FailureClass::MaxRetriesExceeded);
    assert_eq!(err.last_class(), FailureClass::ServerTransient);
    assert_eq!(err.gave_up(), GaveUp::AttemptsExhausted);
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.body(), Some("upstream down"));
    assert_eq!(err.request_id(), Some("req-503"));
    assert!(!err.is_retryable());
    assert_eq!(env.sleeper.sleeps().len(), 4);
}

#[tokio::test]
async fn a_dlq_page_is_retried_after_a_503() {
    let env = Env::start().await;
    env.token_mock().await;
    let failing = env
        .server
        .mock_async(|when, then| {
            when.method(GET).path(DLQ_PATH);
            then.status(502).up_to_n_times(1);
        })
        .await;
    env.server
        .mock_async(|when, then| {
            when.method(GET).path(DLQ_PATH);
            then.status(200)
                .json_body(serde_json::json!({"events": [event("e1", 0)]}));
        })
        .await;
    let events: Vec<_> =
        futures::TryStreamExt::try_collect::<Vec<_>>(env.client().dlq(TOPIC).events())
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    failing.assert_calls_async(1).await;
}

#[tokio::test]
async fn the_retry_budget_stops_a_retry_storm() {
    let env = Env::start().await;
    env.token_mock().await;
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(500);
        })
        .await;
    // Room for two retries (5 tokens each).
    let client = env
        .builder()
        .retry_budget(RetryBudget::new(10, 5, 10, 1))
        .build()
        .unwrap();
    let err = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.gave_up(), GaveUp::BudgetExhausted);
    assert_eq!(err.class(), FailureClass::ServerTransient);
    assert!(err.is_retryable());
    // The next call may not retry at all.
    let err = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
    put.assert_calls_async(4).await;
}

/// A raw server: answers token requests; the first `broken` PUTs get half a response and a
/// closed connection, later ones a 201. Returns the base URL and the PUT count.
async fn breaking_server(broken: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let puts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&puts);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                loop {
                    let req = read_request(&mut stream).await;
                    if req.is_empty() {
                        return;
                    }
                    let response = if req.starts_with(b"POST") {
                        raw_token_response()
                    } else if counter.fetch_add(1, Ordering::SeqCst) < broken {
                        // Promise 500 bytes, send 10, close.
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 201 Created\r\ncontent-length: 500\r\n\r\n{\"eventId\"",
                            )
                            .await;
                        let _ = stream.shutdown().await;
                        return;
                    } else {
                        let body = accepted("e1").to_string();
                        format!(
                            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    if stream.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, puts)
}

fn raw_client(base: &str) -> (cxone_eventbridge::Client, RecordingSleeper) {
    let clock = ManualClock::new(t0());
    let sleeper = RecordingSleeper::advancing(clock.clone());
    let client = builder_for(base, &clock, &sleeper).build().unwrap();
    (client, sleeper)
}

#[tokio::test]
async fn a_connection_closed_mid_response_is_retried() {
    let (base, puts) = breaking_server(2).await;
    let (client, sleeper) = raw_client(&base);
    let report = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(report.attempts, 3);
    assert_eq!(puts.load(Ordering::SeqCst), 3);
    assert_eq!(sleeper.sleeps().len(), 2);
}

#[tokio::test]
async fn connections_that_always_break_are_network_failures() {
    let (base, puts) = breaking_server(usize::MAX).await;
    let (client, _) = raw_client(&base);
    let err = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(err.last_class(), FailureClass::Network);
    assert_eq!(err.class(), FailureClass::MaxRetriesExceeded);
    assert_eq!(err.attempts(), 5);
    assert_eq!(err.status(), None);
    assert_eq!(puts.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (client, sleeper) = raw_client(&base);
    let err = client.authenticate().await.unwrap_err();
    assert_eq!(err.last_class(), FailureClass::Network);
    assert_eq!(err.attempts(), 5);
    assert_eq!(err.operation(), Some("token request"));
    assert_eq!(sleeper.sleeps().len(), 4);
}

#[tokio::test]
async fn a_hold_that_outlives_the_token_fetches_a_fresh_one() {
    let env = Env::start().await;
    let short = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200)
                .json_body(serde_json::json!({"access_token": "tok-short", "expires_in": 100}))
                .up_to_n_times(1);
        })
        .await;
    let long = token_mock_with(&env.server, "tok-long", 3600).await;
    let limited = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("authorization", "Bearer tok-short");
            then.status(429).header("retry-after", "90");
        })
        .await;
    let ok = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("authorization", "Bearer tok-long");
            then.status(201).json_body(accepted("e1"));
        })
        .await;
    env.client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(env.sleeper.sleeps(), [Duration::from_secs(90)]);
    short.assert_calls_async(1).await;
    long.assert_calls_async(1).await;
    limited.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_request_timeout_is_classified_timeout() {
    let env = Env::start().await;
    env.token_mock().await;
    let slow = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(201).delay(Duration::from_secs(10));
        })
        .await;
    let client = env
        .builder()
        .request_timeout(Duration::from_millis(100))
        .retry_policy(
            RetryPolicy::new(2, Duration::from_millis(1), Duration::from_secs(1)).unwrap(),
        )
        .build()
        .unwrap();
    let err = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.last_class(), FailureClass::Timeout);
    assert_eq!(err.class(), FailureClass::MaxRetriesExceeded);
    assert_eq!(err.attempts(), 2);
    slow.assert_calls_async(2).await;
}
