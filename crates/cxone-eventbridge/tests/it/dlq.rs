//! The DLQ stream: laziness, pagination, repeated tokens, errors end the stream.

use crate::support::*;
use cxone_eventbridge::Error;
use cxone_replay_domain::FailureClass;
use futures::{StreamExt, TryStreamExt};
use httpmock::prelude::*;
use httpmock::{Mock, MockServer};

/// `GET /dlq/events` for `token` (`None`: the first page) answers `events` and `next`.
async fn page<'a>(
    server: &'a MockServer,
    token: Option<&str>,
    ids: &[&str],
    next: Option<&str>,
) -> Mock<'a> {
    let mut body = serde_json::json!({
        "events": ids.iter().map(|id| event(id, 1)).collect::<Vec<_>>()
    });
    if let Some(next) = next {
        body["nextPageToken"] = next.into();
    }
    let token = token.map(str::to_string);
    server
        .mock_async(move |when, then| {
            let when = when
                .method(GET)
                .path(DLQ_PATH)
                .query_param("topicId", TOPIC);
            match token {
                Some(t) => when.query_param("nextPageToken", t),
                None => when.query_param_missing("nextPageToken"),
            };
            then.status(200).json_body(body);
        })
        .await
}

#[tokio::test]
async fn follows_tokens_past_a_short_page_until_none() {
    let env = Env::start().await;
    env.token_mock().await;
    let p1 = page(&env.server, None, &["a1", "a2", "a3"], Some("t2")).await;
    // A short page (1 < limit 3) that still has a token: not the end.
    let p2 = page(&env.server, Some("t2"), &["b1"], Some("t3")).await;
    // An empty page with a token: not the end either.
    let p3 = page(&env.server, Some("t3"), &[], Some("t4")).await;
    let p4 = page(&env.server, Some("t4"), &["d1", "d2"], None).await;
    let pages: Vec<_> = env
        .client()
        .dlq(TOPIC)
        .page_size(3)
        .pages()
        .try_collect()
        .await
        .unwrap();
    let sizes: Vec<_> = pages.iter().map(|p| p.events.len()).collect();
    assert_eq!(sizes, [3, 1, 0, 2]);
    assert_eq!(pages[3].next_page_token, None);
    for m in [p1, p2, p3, p4] {
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn events_flatten_the_pages_in_order() {
    let env = Env::start().await;
    env.token_mock().await;
    page(&env.server, None, &["a1", "a2"], Some("t2")).await;
    page(&env.server, Some("t2"), &["b1"], None).await;
    let ids: Vec<String> = env
        .client()
        .dlq(TOPIC)
        .events()
        .map_ok(|e| e.event_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["a1", "a2", "b1"]);
}

#[tokio::test]
async fn starts_from_a_saved_token() {
    let env = Env::start().await;
    env.token_mock().await;
    let first = page(&env.server, None, &["a1"], Some("t2")).await;
    page(&env.server, Some("t2"), &["b1"], None).await;
    let ids: Vec<String> = env
        .client()
        .dlq(TOPIC)
        .start_token(Some("t2".into()))
        .events()
        .map_ok(|e| e.event_id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["b1"]);
    first.assert_calls_async(0).await;
}

#[tokio::test]
async fn the_stream_is_lazy() {
    let env = Env::start().await;
    let token = env.token_mock().await;
    let p1 = page(&env.server, None, &["a1"], Some("t2")).await;
    let p2 = page(&env.server, Some("t2"), &["b1"], None).await;
    let mut events = Box::pin(env.client().dlq(TOPIC).events());
    token.assert_calls_async(0).await;
    p1.assert_calls_async(0).await;
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.event_id, "a1");
    p1.assert_calls_async(1).await;
    p2.assert_calls_async(0).await; // the second page is not fetched before it is needed
}

#[tokio::test]
async fn a_repeated_token_ends_the_stream_with_an_error() {
    let env = Env::start().await;
    env.token_mock().await;
    // a → b → a: not the previous token, but one seen before.
    page(&env.server, None, &["x1"], Some("a")).await;
    page(&env.server, Some("a"), &["x2"], Some("b")).await;
    let looping = page(&env.server, Some("b"), &["x3"], Some("a")).await;
    let results: Vec<_> = env.client().dlq(TOPIC).pages().collect().await;
    assert_eq!(results.len(), 4, "3 pages, then the error, then the end");
    assert!(results[..3].iter().all(Result::is_ok));
    match &results[3] {
        Err(Error::RepeatedPageToken { token, page, topic }) => {
            assert_eq!(token, "a");
            assert_eq!(*page, 3);
            assert_eq!(topic, TOPIC);
        }
        other => panic!("expected RepeatedPageToken, got {other:?}"),
    }
    looping.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_token_equal_to_the_start_token_is_repeated() {
    let env = Env::start().await;
    env.token_mock().await;
    page(&env.server, Some("s"), &["x1"], Some("s")).await;
    let results: Vec<_> = env
        .client()
        .dlq(TOPIC)
        .start_token(Some("s".into()))
        .pages()
        .collect()
        .await;
    assert_eq!(results.len(), 2);
    assert!(matches!(results[1], Err(Error::RepeatedPageToken { .. })));
}

#[tokio::test]
async fn malformed_events_are_items_with_a_defect() {
    let env = Env::start().await;
    env.token_mock().await;
    env.server
        .mock_async(|when, then| {
            when.method(GET).path(DLQ_PATH);
            then.status(200).body(
                r#"{"events":[{"eventId":"ok","payload":{"a":1}},{"payload":{"a":2}},"junk"]}"#,
            );
        })
        .await;
    let events: Vec<_> = env
        .client()
        .dlq(TOPIC)
        .events()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 3);
    assert!(events[0].defect.is_none());
    assert_eq!(events[1].defect.as_ref().unwrap().field, "eventId");
    assert_eq!(events[2].defect.as_ref().unwrap().field, "event");
}

#[tokio::test]
async fn an_error_ends_the_stream() {
    let env = Env::start().await;
    env.token_mock().await;
    page(&env.server, None, &["a1"], Some("t2")).await;
    let gone = env
        .server
        .mock_async(|when, then| {
            when.method(GET)
                .path(DLQ_PATH)
                .query_param("nextPageToken", "t2");
            then.status(404).body("no such topic");
        })
        .await;
    let results: Vec<_> = env.client().dlq(TOPIC).events().collect().await;
    assert_eq!(results.len(), 2);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.class(), FailureClass::NotFound);
    assert_eq!(err.body(), Some("no such topic"));
    gone.assert_calls_async(1).await; // 404 is not retried
}

#[tokio::test]
async fn a_malformed_page_is_a_decode_error_with_the_start_of_the_body() {
    let env = Env::start().await;
    env.token_mock().await;
    env.server
        .mock_async(|when, then| {
            when.method(GET).path(DLQ_PATH);
            then.status(200).body("<html>maintenance</html>");
        })
        .await;
    let results: Vec<_> = env.client().dlq(TOPIC).pages().collect().await;
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }));
    assert_eq!(err.body(), Some("<html>maintenance</html>"));
    assert_eq!(err.status(), Some(200));
    assert_eq!(err.class(), FailureClass::UnknownFailure);
}

#[tokio::test]
async fn zero_page_size_and_empty_topic_are_refused_without_a_request() {
    let env = Env::start().await;
    let token = env.token_mock().await;
    let client = env.client();
    let r: Vec<_> = client.dlq(TOPIC).page_size(0).pages().collect().await;
    assert!(matches!(
        r[..],
        [Err(Error::InvalidArgument {
            name: "page_size",
            ..
        })]
    ));
    let r: Vec<_> = client.dlq(" ").pages().collect().await;
    assert!(matches!(
        r[..],
        [Err(Error::InvalidArgument { name: "topic", .. })]
    ));
    token.assert_calls_async(0).await;
}
