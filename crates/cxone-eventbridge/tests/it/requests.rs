//! Exact request shapes: token form, headers, query parameters, PUT headers and body.

use crate::support::*;
use cxone_eventbridge::{Auth, Client, Error, PutOutcome};
use cxone_replay_domain::{Decision, DlqEvent, EventFilter, ReplayPolicy, plan};
use futures::TryStreamExt;
use httpmock::prelude::*;
use secrecy::SecretString;
use std::sync::Arc;

#[tokio::test]
async fn token_request_is_a_form_encoded_client_credentials_grant() {
    let env = Env::start().await;
    let token = env
        .server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/oauth2/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .header(
                    "user-agent",
                    format!("cxone-eventbridge/{}", env!("CARGO_PKG_VERSION")),
                )
                .header_missing("authorization")
                .form_urlencoded_tuple("grant_type", "client_credentials")
                .form_urlencoded_tuple("client_id", CLIENT_ID)
                .form_urlencoded_tuple("client_secret", SECRET)
                .form_urlencoded_tuple("scope", "eventbridge:read eventbridge:write")
                .form_urlencoded_tuple_count(".*", ".*", 4);
            then.status(200)
                .json_body(serde_json::json!({"access_token": TOKEN, "expires_in": 3600}));
        })
        .await;
    let client = env.client();
    client.authenticate().await.unwrap();
    client.authenticate().await.unwrap(); // cached
    token.assert_calls_async(1).await;
}

#[tokio::test]
async fn dlq_page_request_carries_bearer_topic_limit_and_token() {
    let env = Env::start().await;
    env.token_mock().await;
    let first = env
        .server
        .mock_async(|when, then| {
            when.method(GET)
                .path(DLQ_PATH)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("accept", "application/json")
                .query_param("topicId", TOPIC)
                .query_param("limit", "2")
                .query_param_missing("nextPageToken");
            then.status(200).json_body(serde_json::json!({
                "events": [event("e1", 1), event("e2", 2)], "nextPageToken": "p/2+="
            }));
        })
        .await;
    let second = env
        .server
        .mock_async(|when, then| {
            when.method(GET)
                .path(DLQ_PATH)
                .query_param("topicId", TOPIC)
                .query_param("limit", "2")
                .query_param("nextPageToken", "p/2+=");
            then.status(200)
                .json_body(serde_json::json!({"events": [event("e3", 0)]}));
        })
        .await;
    let events: Vec<DlqEvent> = env
        .client()
        .dlq(TOPIC)
        .page_size(2)
        .events()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<_> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"]);
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
}

#[tokio::test]
async fn put_body_sends_the_bytes_with_json_type_and_idempotency_key() {
    let env = Env::start().await;
    env.token_mock().await;
    let body = br#"{"eventId":"e1","idempotencyKey":"replay-e1-v2","originalPayload":{"a":1.50}}"#;
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                // The topic is one path segment, percent-encoded.
                .path(put_path("topic%20a%2Fb"))
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "replay-e1-v2")
                .header("accept", "application/json")
                .body(std::str::from_utf8(body).unwrap());
            then.status(201).json_body(accepted("e1"));
        })
        .await;
    let report = env
        .client()
        .put_body("topic a/b", &key("replay-e1-v2"), body.to_vec())
        .await
        .unwrap();
    put.assert_calls_async(1).await;
    assert_eq!(report.status, 201);
    assert_eq!(report.attempts, 1);
    match report.outcome {
        PutOutcome::Accepted(Some(r)) => {
            assert_eq!(r.event_id, "e1");
            assert_eq!(r.status, "queued");
            assert_eq!(r.routing_status.as_deref(), Some("delivered"));
        }
        other => panic!("expected Accepted, got {other:?}"),
    }
}

#[tokio::test]
async fn puts_to_topics_in_turn_each_go_to_their_own_topic() {
    // The client keeps the PUT URL of the last topic: switching topics must not reuse it.
    let env = Env::start().await;
    env.token_mock().await;
    let mut mocks = Vec::new();
    for topic in ["a", "b%2Fc"] {
        mocks.push(
            env.server
                .mock_async(|when, then| {
                    when.method(PUT).path(put_path(topic));
                    then.status(201).json_body(accepted("e"));
                })
                .await,
        );
    }
    let c = env.client();
    for (i, topic) in ["a", "a", "b/c", "a", "b/c", "b/c"].into_iter().enumerate() {
        let k = key(&format!("replay-e{i}-v1"));
        let report = c.put_body(topic, &k, b"{}".to_vec()).await.unwrap();
        assert_eq!(report.status, 201, "{topic}");
    }
    mocks[0].assert_calls_async(3).await;
    mocks[1].assert_calls_async(3).await;
}

#[tokio::test]
async fn put_event_header_key_equals_body_key() {
    let env = Env::start().await;
    env.token_mock().await;
    let raw = serde_json::to_vec(&event("evt-7", 3)).unwrap();
    let dlq_event = DlqEvent::from_slice(&raw).unwrap();
    let Decision::Replay(planned) = plan(
        &dlq_event,
        TOPIC,
        &ReplayPolicy::default(),
        &EventFilter::default(),
        t0(),
    ) else {
        panic!("the event should be replayable");
    };
    let expected_body = planned.body.clone();
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("idempotency-key", "replay-evt-7-v4")
                .json_body_includes(r#"{"idempotencyKey":"replay-evt-7-v4"}"#)
                .is_true(move |req| req.body_ref() == expected_body.as_slice());
            then.status(201).json_body(accepted("evt-7"));
        })
        .await;
    let report = env
        .client()
        .put_event(TOPIC, &planned.payload)
        .await
        .unwrap();
    put.assert_calls_async(1).await;
    assert!(matches!(report.outcome, PutOutcome::Accepted(_)));
}

#[tokio::test]
async fn api_prefix_and_token_url_are_configurable() {
    let env = Env::start().await;
    let token = env
        .server
        .mock_async(|when, then| {
            when.method(POST).path("/custom/token");
            then.status(200)
                .json_body(serde_json::json!({"access_token": TOKEN, "expires_in": 3600}));
        })
        .await;
    let page = env
        .server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v9/bridge/dlq/events")
                .query_param("topicId", TOPIC);
            then.status(200)
                .json_body(serde_json::json!({"events": []}));
        })
        .await;
    let client = env
        .builder()
        .api_prefix("/v9/bridge/")
        .token_url(env.server.url("/custom/token"))
        .build()
        .unwrap();
    let pages: Vec<_> = client.dlq(TOPIC).pages().try_collect().await.unwrap();
    assert_eq!(pages.len(), 1);
    assert!(pages[0].events.is_empty());
    token.assert_calls_async(1).await;
    page.assert_calls_async(1).await;
}

#[tokio::test]
async fn access_key_mode_discovers_the_endpoint_and_uses_the_password_grant() {
    let env = Env::start().await;
    let discovery = env
        .server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/issuer/.well-known/openid-configuration");
            then.status(200).json_body(serde_json::json!({
                "issuer": env.server.url("/issuer"),
                "token_endpoint": env.server.url("/auth/token")
            }));
        })
        .await;
    let token = env
        .server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/auth/token")
                // base64("app-id:app-secret")
                .header("authorization", "Basic YXBwLWlkOmFwcC1zZWNyZXQ=")
                .form_urlencoded_tuple("grant_type", "password")
                .form_urlencoded_tuple("username", "AK-ID")
                .form_urlencoded_tuple("password", "AK-SECRET")
                .form_urlencoded_tuple_missing("client_secret")
                .form_urlencoded_tuple_missing("scope");
            then.status(200).json_body(
                serde_json::json!({"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}),
            );
        })
        .await;
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(put_path(TOPIC))
                .header("authorization", format!("Bearer {TOKEN}"));
            then.status(409);
        })
        .await;
    let client = Client::builder()
        .base_url(env.server.base_url())
        .auth(Auth::CxoneAccessKey {
            client_id: "app-id".into(),
            client_secret: SecretString::from("app-secret"),
            access_key_id: "AK-ID".into(),
            access_key_secret: SecretString::from("AK-SECRET"),
            issuer: Some(env.server.url("/issuer")),
        })
        .sleeper(Arc::new(env.sleeper.clone()))
        .build()
        .unwrap();
    let report = client
        .put_body(TOPIC, &key("replay-e1-v1"), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(report.outcome, PutOutcome::Duplicate);
    client.authenticate().await.unwrap();
    discovery.assert_calls_async(1).await;
    token.assert_calls_async(1).await;
    put.assert_calls_async(1).await;
    let debug = format!("{client:?}");
    assert!(
        !debug.contains("AK-SECRET") && !debug.contains("app-secret"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_discovered_token_endpoint_must_obey_the_transport_rule() {
    for (endpoint, rule) in [
        (
            "http://auth.example.com/token",
            "plain http to a non-loopback host",
        ),
        ("https://leak:pw-in-url@auth.example.com/token", "user-info"),
        ("ftp://auth.example.com/token", "scheme `ftp`"),
    ] {
        let env = Env::start().await;
        let discovery = env
            .server
            .mock_async(|when, then| {
                when.method(GET)
                    .path("/issuer/.well-known/openid-configuration");
                then.status(200)
                    .json_body(serde_json::json!({ "token_endpoint": endpoint }));
            })
            .await;
        let client = Client::builder()
            .base_url(env.server.base_url())
            .auth(Auth::CxoneAccessKey {
                client_id: "app-id".into(),
                client_secret: SecretString::from("app-secret"),
                access_key_id: "AK-ID".into(),
                access_key_secret: SecretString::from("AK-SECRET"),
                issuer: Some(env.server.url("/issuer")),
            })
            .sleeper(Arc::new(env.sleeper.clone()))
            .build()
            .unwrap();
        let err = client.authenticate().await.unwrap_err();
        assert!(
            matches!(err, Error::Discovery { .. }),
            "{endpoint}: {err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(text.contains(rule), "{endpoint}: {text}");
        assert!(!text.contains("pw-in-url"), "{endpoint}: {text}");
        discovery.assert_calls_async(1).await;
    }
}
