//! The CXone client as the engine's [`DlqSource`] and [`ReplayTarget`].

use crate::ports::{BoxError, DlqSource, PageStream, ReplayTarget, SendOutcome};
use async_trait::async_trait;
use cxone_eventbridge::{Client, Error, ExchangeObserver, PutOutcome};
use cxone_replay_domain::{IdempotencyKey, MAX_MESSAGE_EXCERPT, Throttling, excerpt};
use futures::StreamExt;
use std::sync::Arc;

impl DlqSource for Client {
    fn pages(&self, topic: &str, page_size: u32, start_token: Option<String>) -> PageStream {
        self.dlq(topic)
            .page_size(page_size)
            .start_token(start_token)
            .pages()
            .map(|r| r.map_err(|e| Box::new(e) as BoxError))
            .boxed()
    }

    fn observe_exchanges(&self, observer: Option<Arc<dyn ExchangeObserver>>) {
        self.set_observer(observer);
    }
}

#[async_trait]
impl ReplayTarget for Client {
    async fn send(&self, topic: &str, key: &IdempotencyKey, body: Vec<u8>) -> SendOutcome {
        match self.put_body(topic, key, body).await {
            Ok(report) => match report.outcome {
                PutOutcome::Duplicate => SendOutcome::duplicate(report.attempts),
                _ => SendOutcome::accepted(report.status, report.attempts),
            },
            Err(e) => {
                let message = failure_message(&e);
                tracing::info!(
                    topic,
                    key = key.as_str(),
                    class = %e.class(),
                    "replay failed: {message}"
                );
                SendOutcome::failed(e.class(), e.status(), e.attempts().max(1), message)
            }
        }
    }

    fn throttling(&self) -> Option<Throttling> {
        Some(Client::throttling(self))
    }

    fn observe_exchanges(&self, observer: Option<Arc<dyn ExchangeObserver>>) {
        self.set_observer(observer);
    }
}

/// The audit `message` of a failed send: the client's one-line error, then what the server
/// said (already redacted of the client's credentials by the client; here made one line and
/// at most [`MAX_MESSAGE_EXCERPT`] bytes), then the server's request id.
fn failure_message(e: &Error) -> String {
    let mut message = e.to_string();
    if let Some(text) = e.body().map(|b| excerpt(b, MAX_MESSAGE_EXCERPT))
        && !text.is_empty()
    {
        message.push_str(": server said: ");
        message.push_str(&text);
    }
    if let Some(id) = e.request_id() {
        message.push_str(&format!(" (request id {id})"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxone_eventbridge::GaveUp;
    use cxone_replay_domain::FailureClass;

    fn status(body: Option<&str>, request_id: Option<&str>) -> Error {
        Error::Status {
            op: "topic PUT",
            status: 422,
            class: FailureClass::SchemaViolation,
            attempts: 1,
            gave_up: GaveUp::Permanent,
            body: body.map(Into::into),
            request_id: request_id.map(Into::into),
        }
    }

    #[test]
    fn the_message_keeps_the_prefix_and_appends_the_server_text_on_one_bounded_line() {
        assert_eq!(
            failure_message(&status(None, None)),
            "topic PUT: HTTP 422 (SCHEMA_VIOLATION) after 1 attempt(s)"
        );
        assert_eq!(
            failure_message(&status(Some("  bad field\n"), Some("req-7"))),
            "topic PUT: HTTP 422 (SCHEMA_VIOLATION) after 1 attempt(s): server said: bad field \
             (request id req-7)"
        );
        let long = failure_message(&status(Some(&"x\n".repeat(4000)), None));
        let (_, text) = long.split_once(": server said: ").unwrap();
        assert!(text.len() <= MAX_MESSAGE_EXCERPT, "{}", text.len());
        assert!(text.starts_with(r"x\nx\n") && text.ends_with('…'), "{text}");
        assert_eq!(
            failure_message(&status(Some(" \t "), None)),
            "topic PUT: HTTP 422 (SCHEMA_VIOLATION) after 1 attempt(s)"
        );
    }
}
