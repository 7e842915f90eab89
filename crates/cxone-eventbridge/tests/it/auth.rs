//! The token cache: 401 refresh, single-flight refresh, fallback on a still-valid token,
//! refused credentials.

use crate::support::*;
use cxone_eventbridge::{Error, PutOutcome};
use cxone_replay_domain::FailureClass;
use httpmock::prelude::*;
use std::time::Duration;

const BODY: &[u8] = br#"{"eventId":"e1"}"#;

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries() {
    let env = Env::start().await;
    let first = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200)
                .json_body(serde_json::json!({"access_token": "tok-old", "expires_in": 3600}))
                .up_to_n_times(1);
        })
        .await;
    let second = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200)
                .json_body(serde_json::json!({"access_token": "tok-new", "expires_in": 3600}));
        })
        .await;
    let refused = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("authorization", "Bearer tok-old");
            then.status(401).body("token revoked");
        })
        .await;
    let ok = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("authorization", "Bearer tok-new");
            then.status(201).json_body(accepted("e1"));
        })
        .await;
    let client = env.client();
    let report = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(report.attempts, 2);
    assert!(matches!(report.outcome, PutOutcome::Accepted(_)));
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
    refused.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
    // The refresh came right after the first token request: it waits out the one-second
    // spacing of token requests (MIN_TOKEN_REFRESH_INTERVAL), then retries.
    assert_eq!(
        env.sleeper.sleeps(),
        [cxone_eventbridge::MIN_TOKEN_REFRESH_INTERVAL]
    );
    // The new token stays cached.
    client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    second.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_second_401_is_unauthorized() {
    let env = Env::start().await;
    let token = env.token_mock().await;
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(401)
                .header("x-correlation-id", "corr-9")
                .body(r#"{"error":"invalid_token"}"#);
        })
        .await;
    let err = env
        .client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Unauthorized);
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.attempts(), 2);
    assert_eq!(err.request_id(), Some("corr-9"));
    assert_eq!(err.body(), Some(r#"{"error":"invalid_token"}"#));
    assert!(!err.is_retryable());
    put.assert_calls_async(2).await;
    token.assert_calls_async(2).await;
}

async fn concurrent_puts(client: &cxone_eventbridge::Client, n: usize) {
    let calls = (0..n).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let key = key(&format!("replay-e{i}-v1"));
            client.put_body(TOPIC, &key, BODY.to_vec()).await
        })
    });
    for result in futures::future::join_all(calls).await {
        let report = result.unwrap().unwrap();
        assert!(matches!(report.outcome, PutOutcome::Accepted(_)));
    }
}

async fn accept_puts(env: &Env) {
    env.server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(201).json_body(accepted("e1"));
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_calls_with_an_expired_token_make_one_token_request() {
    let env = Env::start().await;
    let token = env.token_mock().await;
    accept_puts(&env).await;
    let client = env.builder().max_connections(100).build().unwrap();
    client.authenticate().await.unwrap();
    token.assert_calls_async(1).await;
    env.clock.advance(Duration::from_secs(2 * 3600)); // long expired
    concurrent_puts(&client, 100).await;
    token.assert_calls_async(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_first_calls_make_one_token_request() {
    let env = Env::start().await;
    let token = env.token_mock().await;
    accept_puts(&env).await;
    let client = env.builder().max_connections(100).build().unwrap();
    concurrent_puts(&client, 100).await;
    token.assert_calls_async(1).await;
}

#[tokio::test]
async fn the_token_is_refreshed_60s_before_expiry() {
    let env = Env::start().await;
    let token = env.token_mock().await;
    let client = env.client();
    client.authenticate().await.unwrap();
    env.clock.advance(Duration::from_secs(3539));
    client.authenticate().await.unwrap();
    token.assert_calls_async(1).await;
    env.clock.advance(Duration::from_secs(1));
    client.authenticate().await.unwrap();
    token.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_failed_refresh_keeps_serving_a_still_valid_token() {
    let env = Env::start().await;
    let good = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200)
                .json_body(serde_json::json!({"access_token": TOKEN, "expires_in": 3600}))
                .up_to_n_times(1);
        })
        .await;
    let down = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(503);
        })
        .await;
    accept_puts(&env).await;
    let client = env
        .builder()
        .retry_policy(
            cxone_replay_domain::RetryPolicy::new(
                2,
                Duration::from_millis(10),
                Duration::from_secs(1),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    client.authenticate().await.unwrap();
    // Past the refresh point (3540 s), before expiry (3600 s).
    env.clock.advance(Duration::from_secs(3550));
    client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .expect("the old token is still valid");
    good.assert_calls_async(1).await;
    down.assert_calls_async(2).await;
    // Once it has expired, the failure surfaces.
    env.clock.advance(Duration::from_secs(60));
    let err = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.operation(), Some("token request"));
    assert_eq!(err.last_class(), FailureClass::ServerTransient);
}

#[tokio::test]
async fn refused_credentials_fail_fast_as_unauthorized() {
    let env = Env::start().await;
    let token = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(401)
                .json_body(serde_json::json!({"error": "invalid_client"}));
        })
        .await;
    let err = env.client().authenticate().await.unwrap_err();
    assert_eq!(err.class(), FailureClass::Unauthorized);
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_retryable());
    assert!(err.body().unwrap().contains("invalid_client"));
    token.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_undecodable_token_response_keeps_no_body() {
    let env = Env::start().await;
    env.server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200).body(format!(
                r#"{{"access_token":"{TOKEN}","expires_in":"soon"}}"#
            ));
        })
        .await;
    let err = env.client().authenticate().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }));
    assert_eq!(err.body(), None);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_failed_token_request() {
    let env = Env::start().await;
    let token = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(400)
                .json_body(serde_json::json!({"error": "invalid_client"}));
        })
        .await;
    let client = env.client();
    let calls = (0..50).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.authenticate().await })
    });
    for result in futures::future::join_all(calls).await {
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.class(), FailureClass::Unauthorized);
        assert_eq!(err.status(), Some(400));
    }
    token.assert_calls_async(1).await;
}
