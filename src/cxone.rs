//! The CXone client as the engine's [`DlqSource`] and [`ReplayTarget`].

use crate::ports::{BoxError, DlqSource, PageStream, ReplayTarget, SendOutcome};
use async_trait::async_trait;
use cxone_eventbridge::{Client, PutOutcome};
use cxone_replay_domain::{IdempotencyKey, Throttling};
use futures::StreamExt;

impl DlqSource for Client {
    fn pages(&self, topic: &str, page_size: u32, start_token: Option<String>) -> PageStream {
        self.dlq(topic)
            .page_size(page_size)
            .start_token(start_token)
            .pages()
            .map(|r| r.map_err(|e| Box::new(e) as BoxError))
            .boxed()
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
                let mut message = e.to_string();
                if let Some(id) = e.request_id() {
                    message.push_str(&format!(" (request id {id})"));
                }
                SendOutcome::failed(e.class(), e.status(), e.attempts().max(1), message)
            }
        }
    }

    fn throttling(&self) -> Option<Throttling> {
        Some(Client::throttling(self))
    }
}
