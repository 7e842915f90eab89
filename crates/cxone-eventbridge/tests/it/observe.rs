//! The exchange observer: every attempt of every call, with its op and status (or transport
//! class), and the time a `429` held the client.

use crate::support::*;
use cxone_eventbridge::{Exchange, ExchangeObserver, Op};
use cxone_replay_domain::FailureClass;
use httpmock::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Seen {
    exchanges: Mutex<Vec<(Op, Exchange)>>,
    held: Mutex<Vec<Duration>>,
}

impl ExchangeObserver for Seen {
    fn exchange(&self, op: Op, exchange: Exchange) {
        self.exchanges.lock().unwrap().push((op, exchange));
    }
    fn held(&self, added: Duration) {
        self.held.lock().unwrap().push(added);
    }
}

#[tokio::test]
async fn every_attempt_and_every_hold_is_told_to_the_observer() {
    let env = Env::start().await;
    env.token_mock().await;
    env.server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(429).header("retry-after", "3").up_to_n_times(1);
        })
        .await;
    env.server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(201).json_body(accepted("e1"));
        })
        .await;
    let client = env.client();
    let seen = Arc::new(Seen::default());
    assert!(client.set_observer(Some(seen.clone())).is_none());
    client
        .put_body(TOPIC, &key("replay-e1-v1"), br#"{"eventId":"e1"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(
        *seen.exchanges.lock().unwrap(),
        [
            (Op::Token, Exchange::Status(200)),
            (Op::Put, Exchange::Status(429)),
            (Op::Put, Exchange::Status(201)),
        ]
    );
    assert_eq!(*seen.held.lock().unwrap(), [Duration::from_secs(3)]);
    assert_eq!(Op::Put.name(), "put");
    assert_eq!(Op::DlqPage.to_string(), "dlq_page");

    // Removed: told nothing more.
    assert!(client.set_observer(None).is_some());
    client
        .put_body(TOPIC, &key("replay-e2-v1"), br#"{"eventId":"e2"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(seen.exchanges.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_request_without_an_answer_is_told_with_its_class() {
    let env = Env::start().await;
    // Nothing listens on port 9 of loopback: connection refused.
    let client = builder_for("http://127.0.0.1:9", &env.clock, &env.sleeper)
        .retry_policy(
            cxone_replay_domain::RetryPolicy::new(
                2,
                Duration::from_millis(1),
                Duration::from_millis(2),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let seen = Arc::new(Seen::default());
    client.set_observer(Some(seen.clone()));
    assert!(client.authenticate().await.is_err());
    let got = seen.exchanges.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            (Op::Token, Exchange::Failed(FailureClass::Network)),
            (Op::Token, Exchange::Failed(FailureClass::Network)),
        ]
    );
}
