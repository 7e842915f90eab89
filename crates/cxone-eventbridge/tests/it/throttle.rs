//! What the client notes of the server's rate limit ([`Client::throttling`]): a `429`'s hold,
//! `503`s with `Retry-After`, the `RateLimit` fields. All of it is noted the moment a
//! response's status and headers are read, before its body, and whatever becomes of the body
//! (capped, dropped, never finished).

use crate::support::*;
use cxone_eventbridge::runtime::testing::{ManualClock, RecordingSleeper};
use cxone_eventbridge::{Client, Error, MAX_ERROR_BODY};
use cxone_replay_domain::{FailureClass, RetryPolicy, Throttling};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

const BODY: &[u8] = br#"{"eventId":"e1","idempotencyKey":"replay-e1-v1"}"#;

/// `RateLimit-Policy` and `RateLimit` header lines: 200 per second, 17 left.
const FIELDS: &str = "ratelimit-policy: \"default\";q=200;w=1\r\nratelimit: \"default\";r=17\r\n";

/// A raw server: a token request gets `TOKEN`; every API request gets `head` (the status line
/// and header lines) and the first `sent` bytes of its body, and then nothing more until the
/// returned sender says `true`, when the connection is closed.
async fn stalling_server(head: String, sent: usize) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (release, released) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (head, mut released) = (head.clone(), released.clone());
            tokio::spawn(async move {
                loop {
                    let req = read_request(&mut stream).await;
                    if req.is_empty() {
                        return;
                    }
                    if req.starts_with(b"POST") {
                        if stream
                            .write_all(raw_token_response().as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    let mut answer = format!("{head}\r\n").into_bytes();
                    answer.resize(answer.len() + sent, b'x');
                    let _ = stream.write_all(&answer).await;
                    let _ = released.wait_for(|r| *r).await;
                    return;
                }
            });
        }
    });
    (base, release)
}

/// A client of `base` on the test clock, making one attempt per call.
fn one_attempt(base: &str) -> Client {
    let clock = ManualClock::new(t0());
    let sleeper = RecordingSleeper::advancing(clock.clone());
    builder_for(base, &clock, &sleeper)
        .retry_policy(
            RetryPolicy::new(1, Duration::from_millis(1), Duration::from_secs(1)).unwrap(),
        )
        .max_page_body(64 * 1024)
        .build()
        .unwrap()
}

/// Waits until the client has noted something of the server's rate limit, and returns it.
async fn noted(client: &Client) -> Throttling {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let t = client.throttling();
            if t != Throttling::default() {
                return t;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the client noted nothing")
}

fn assert_quota(t: &Throttling) {
    assert_eq!(t.quotas_seen, 1);
    let q = t.quota.expect("a quota");
    assert_eq!((q.per_second, q.remaining), (Some(200.0), Some(17)));
}

#[tokio::test]
async fn a_429_holds_the_client_and_its_fields_are_kept_before_its_body_is_read() {
    // The body is promised, barely started, and held back until the test has looked.
    let head = format!(
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\n{FIELDS}content-length: 100000\r\n"
    );
    let (base, release) = stalling_server(head, 10).await;
    let client = one_attempt(&base);
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
                .await
        }
    });
    let t = noted(&client).await;
    assert!(!call.is_finished(), "the body is still being read");
    assert_eq!((t.throttled, t.busy), (1, 0));
    assert_eq!(t.hold_until, Some(t0() + Duration::from_secs(1)));
    assert_quota(&t);
    release.send(true).unwrap();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.last_class(), FailureClass::RateLimited);
    assert_eq!(err.status(), Some(429));
}

#[tokio::test]
async fn the_fields_of_an_error_whose_body_is_cut_at_its_cap_are_kept() {
    // A busy 503 with an endless body: 4 KiB of it are kept, the rest is never read.
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\n{FIELDS}content-length: 100000000\r\n"
    );
    let (base, release) = stalling_server(head, 3 * MAX_ERROR_BODY).await;
    let client = one_attempt(&base);
    let err = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.last_class(), FailureClass::ServerTransient);
    assert_eq!(err.body().map(str::len), Some(MAX_ERROR_BODY));
    let t = client.throttling();
    assert_eq!((t.throttled, t.busy, t.hold_until), (0, 1, None));
    assert_quota(&t);
    release.send(true).unwrap();
}

#[tokio::test]
async fn the_fields_of_a_page_over_its_cap_are_kept() {
    // The page declares more than the client's cap: it is refused unread, the fields noted.
    let head = format!("HTTP/1.1 200 OK\r\n{FIELDS}content-length: 1000000\r\n");
    let (base, release) = stalling_server(head, 1024).await;
    let client = one_attempt(&base);
    let err = futures::StreamExt::collect::<Vec<_>>(client.dlq(TOPIC).pages())
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err:?}");
    let t = client.throttling();
    assert_eq!((t.throttled, t.busy), (0, 0));
    assert_quota(&t);
    release.send(true).unwrap();
}
