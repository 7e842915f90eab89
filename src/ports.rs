//! The engine's ports: the small traits through which it talks to the outside world.
//!
//! The engine knows neither HTTP nor the wire format: a [`DlqSource`] hands it pages of
//! [`DlqEvent`](cxone_replay_domain::DlqEvent)s, a [`ReplayTarget`] sends one planned replay and
//! reports its final outcome, an [`AuditSink`] keeps one record per event, and an optional
//! [`MonitorSink`] is told about the run as it goes. The CXone client implements the first two
//! (`impl DlqSource for Client`, `impl ReplayTarget for Client`); [`JsonlAuditLog`](crate::JsonlAuditLog) and
//! [`WebhookMonitor`](crate::WebhookMonitor) the last two. Tests and embedders plug their own.

use crate::summary::RunSummary;
use async_trait::async_trait;
use cxone_eventbridge::ExchangeObserver;
use cxone_replay_domain::{AuditRecord, DlqPage, FailureClass, IdempotencyKey, Throttling};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A boxed error from a port implementation, chained as the `source` of an
/// [`EngineError`](crate::EngineError).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A stream of DLQ pages, in order.
pub type PageStream = BoxStream<'static, Result<DlqPage, BoxError>>;

/// A page of one topic's DLQ, or the error that ended the stream, each with its topic.
pub type TopicPageResult = Result<(Arc<str>, DlqPage), (Arc<str>, BoxError)>;

/// The pages of several topics, in order, each with its topic.
pub type TopicPageStream = BoxStream<'static, TopicPageResult>;

/// Where failed events come from: the dead letter queue of a topic, page by page.
pub trait DlqSource: Send + Sync {
    /// The pages of `topic`'s DLQ, `page_size` events at most each, starting at `start_token`
    /// (the first page when `None`). The stream ends after the last page. It must be lazy: the
    /// engine polls it for the next page only when it has room for one (at most one page ahead).
    fn pages(&self, topic: &str, page_size: u32, start_token: Option<String>) -> PageStream;

    /// The pages of every topic of a run, each with its topic: what the engine reads. The
    /// default reads the topics one after the other with [`DlqSource::pages`] (the start token
    /// applies to each). A source that holds several topics in one sequence, such as a
    /// [`FileSource`](crate::FileSource), overrides it to read that sequence once. The same
    /// laziness applies: nothing is read until the stream is polled, one page per poll.
    fn topic_pages(
        &self,
        topics: &[Arc<str>],
        page_size: u32,
        start_token: Option<String>,
    ) -> TopicPageStream {
        let per_topic: Vec<_> = topics
            .iter()
            .map(|topic| {
                let (ok, err) = (Arc::clone(topic), Arc::clone(topic));
                self.pages(topic, page_size, start_token.clone())
                    .map(move |r| {
                        r.map(|p| (Arc::clone(&ok), p))
                            .map_err(|e| (Arc::clone(&err), e))
                    })
            })
            .collect();
        futures::stream::iter(per_topic).flatten().boxed()
    }

    /// Reports this source's HTTP exchanges to `observer` from now on (`None`: stop). The
    /// engine calls it at the start and the end of a run that has a
    /// [`RunObserver`](crate::RunObserver). Default: nothing to report.
    fn observe_exchanges(&self, observer: Option<Arc<dyn ExchangeObserver>>) {
        let _ = observer;
    }
}

/// Where a planned replay goes.
#[async_trait]
pub trait ReplayTarget: Send + Sync {
    /// Sends `body` (the exact PUT body the domain planned) to `topic` with the idempotency key
    /// `key`, with whatever retries the target does internally, and reports the final outcome.
    /// Failures are outcomes, not errors: the engine audits them.
    async fn send(&self, topic: &str, key: &IdempotencyKey, body: Vec<u8>) -> SendOutcome;

    /// What the server has said about its rate limit so far (`429`s, `503`s with
    /// `Retry-After`, the run-wide hold, the `RateLimit` fields' quota), if this target keeps
    /// track (the CXone client does: [`Client::throttling`](cxone_eventbridge::Client::throttling)).
    /// The pacer reads it before each send: it honours the hold, and
    /// [`Pace::Adaptive`](crate::Pace::Adaptive) follows the rest. The summary's
    /// `rate_limited` and `held_ms` come from it. Must be cheap and must not block.
    ///
    /// Default: `None` (the target reports nothing).
    fn throttling(&self) -> Option<Throttling> {
        None
    }

    /// Reports this target's HTTP exchanges and `Retry-After` holds to `observer` from now on
    /// (`None`: stop). The engine calls it at the start and the end of a run that has a
    /// [`RunObserver`](crate::RunObserver); the CXone client sets its
    /// [`observer`](cxone_eventbridge::Client::set_observer). Default: nothing to report.
    fn observe_exchanges(&self, observer: Option<Arc<dyn ExchangeObserver>>) {
        let _ = observer;
    }
}

/// The final outcome of one [`ReplayTarget::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// `None` when accepted; [`FailureClass::DuplicateDetected`] for an already-accepted replay
    /// (audited `DUPLICATE`); any other class is a failure.
    pub class: Option<FailureClass>,
    /// The HTTP status of the last response, if there was one.
    pub http_status: Option<u16>,
    /// How many requests were made (including retries).
    pub attempts: u32,
    /// A short, secret-free description of a failure.
    pub message: Option<String>,
}

impl SendOutcome {
    /// Accepted (`201`).
    #[must_use]
    pub fn accepted(http_status: u16, attempts: u32) -> Self {
        SendOutcome {
            class: None,
            http_status: Some(http_status),
            attempts,
            message: None,
        }
    }

    /// Already accepted earlier (`409`).
    #[must_use]
    pub fn duplicate(attempts: u32) -> Self {
        SendOutcome {
            class: Some(FailureClass::DuplicateDetected),
            http_status: Some(409),
            attempts,
            message: None,
        }
    }

    /// Failed with `class`.
    #[must_use]
    pub fn failed(
        class: FailureClass,
        http_status: Option<u16>,
        attempts: u32,
        message: impl Into<String>,
    ) -> Self {
        SendOutcome {
            class: Some(class),
            http_status,
            attempts,
            message: Some(message.into()),
        }
    }
}

/// The error of [`AuditSink::record_all`]: the sink kept the first `recorded` records of the
/// batch, and refused the next for `source`.
#[derive(Debug, thiserror::Error)]
#[error("the audit sink kept {recorded} record(s) of the batch and refused the next")]
pub struct Unrecorded {
    /// How many records of the batch, from the first, the sink kept.
    pub recorded: usize,
    /// Why the sink refused the next one.
    #[source]
    pub source: BoxError,
}

/// Keeps the audit trail: exactly one record per event seen, in the order outcomes happen.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Appends one record. An error stops the run (an event without its record would break the
    /// audit guarantee): the engine stops fetching, lets in-flight events finish and returns
    /// [`EngineError::Audit`](crate::EngineError::Audit).
    async fn record(&self, record: &AuditRecord) -> Result<(), BoxError>;

    /// Appends several records, in order: the sends that finished together. The engine counts
    /// each only once the sink has it, so a sink that writes them in one go, as
    /// [`JsonlAuditLog`](crate::JsonlAuditLog) does (all or none), saves a write per record.
    ///
    /// # Errors
    /// [`Unrecorded`]: how many of `records`, from the first, the sink kept (those are counted),
    /// and why it refused the next; that stops the run as an error of
    /// [`record`](AuditSink::record) does, and the engine then offers each record after the
    /// refused one to `record` on its own (as it does the sends still in flight). The default
    /// calls `record` for each, in order, up to the first error.
    async fn record_all(&self, records: &[AuditRecord]) -> Result<(), Unrecorded> {
        for (recorded, r) in records.iter().enumerate() {
            self.record(r)
                .await
                .map_err(|source| Unrecorded { recorded, source })?;
        }
        Ok(())
    }

    /// Makes every record so far durable (e.g. `fsync`). Called at the end of a run.
    async fn flush(&self) -> Result<(), BoxError>;

    /// For resume: the replays that already ended `SUCCESS` or `DUPLICATE` according to this
    /// sink's earlier records (each identified by topic, eventId and attempt: collect the
    /// records, or call [`DeliveredKeys::insert_record`](crate::DeliveredKeys::insert_record)
    /// for each); `None` if this sink cannot read back (then
    /// [`ReplayerBuilder::resume`](crate::ReplayerBuilder::resume) is refused at build time).
    async fn delivered_keys(&self) -> Result<Option<crate::DeliveredKeys>, BoxError> {
        Ok(None)
    }

    /// Whether [`AuditSink::delivered_keys`] is supported.
    fn can_resume(&self) -> bool {
        false
    }
}

/// What the engine tells a [`MonitorSink`].
#[derive(Debug, Clone, Copy)]
pub enum MonitorEvent<'a> {
    /// The run started.
    Started(&'a RunStarted),
    /// One event's final record.
    Record(&'a AuditRecord),
    /// The run ended.
    Completed(&'a RunSummary),
}

impl MonitorEvent<'_> {
    /// The event's `type` in the webhook body.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            MonitorEvent::Started(_) => "replay_started",
            MonitorEvent::Record(_) => "replay_status_update",
            MonitorEvent::Completed(_) => "replay_completed",
        }
    }
}

/// The data of a `replay_started` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    /// This run's id (also in every audit record).
    pub run_id: String,
    /// The topics being replayed.
    pub topics: Vec<String>,
    /// Whether this is a dry run.
    pub dry_run: bool,
    /// Whether this run resumes an earlier one.
    pub resume: bool,
    /// When the run started.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Watches a run from the side. It must never slow the replay down or fail it.
#[async_trait]
pub trait MonitorSink: Send + Sync {
    /// Takes note of `event`. Must not block: queue it, or drop it and count the drop.
    fn notify(&self, event: MonitorEvent<'_>);

    /// Called once, after the `Completed` notification: deliver what is queued within the
    /// sink's own bounded time, then stop. Returns how many notifications were dropped over the
    /// whole run (they end up in [`RunSummary::monitor_dropped`]).
    async fn close(&self) -> u64;
}

impl<T: DlqSource + ?Sized> DlqSource for std::sync::Arc<T> {
    fn pages(&self, topic: &str, page_size: u32, start_token: Option<String>) -> PageStream {
        (**self).pages(topic, page_size, start_token)
    }
    fn topic_pages(
        &self,
        topics: &[Arc<str>],
        page_size: u32,
        start_token: Option<String>,
    ) -> TopicPageStream {
        (**self).topic_pages(topics, page_size, start_token)
    }
    fn observe_exchanges(&self, observer: Option<Arc<dyn ExchangeObserver>>) {
        (**self).observe_exchanges(observer);
    }
}

#[async_trait]
impl<T: ReplayTarget + ?Sized> ReplayTarget for std::sync::Arc<T> {
    async fn send(&self, topic: &str, key: &IdempotencyKey, body: Vec<u8>) -> SendOutcome {
        (**self).send(topic, key, body).await
    }
    fn throttling(&self) -> Option<Throttling> {
        (**self).throttling()
    }
    fn observe_exchanges(&self, observer: Option<Arc<dyn ExchangeObserver>>) {
        (**self).observe_exchanges(observer);
    }
}

#[async_trait]
impl<T: AuditSink + ?Sized> AuditSink for std::sync::Arc<T> {
    async fn record(&self, record: &AuditRecord) -> Result<(), BoxError> {
        (**self).record(record).await
    }
    async fn record_all(&self, records: &[AuditRecord]) -> Result<(), Unrecorded> {
        (**self).record_all(records).await
    }
    async fn flush(&self) -> Result<(), BoxError> {
        (**self).flush().await
    }
    async fn delivered_keys(&self) -> Result<Option<crate::DeliveredKeys>, BoxError> {
        (**self).delivered_keys().await
    }
    fn can_resume(&self) -> bool {
        (**self).can_resume()
    }
}

#[async_trait]
impl<T: MonitorSink + ?Sized> MonitorSink for std::sync::Arc<T> {
    fn notify(&self, event: MonitorEvent<'_>) {
        (**self).notify(event);
    }
    async fn close(&self) -> u64 {
        (**self).close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refuses the record of the event `"bad"`, keeps the others.
    struct RefusesBad(std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl AuditSink for RefusesBad {
        async fn record(&self, record: &AuditRecord) -> Result<(), BoxError> {
            if record.event_id == "bad" {
                return Err("disk full (injected)".into());
            }
            self.0.lock().unwrap().push(record.event_id.clone());
            Ok(())
        }
        async fn flush(&self) -> Result<(), BoxError> {
            Ok(())
        }
    }

    fn rec(event_id: &str) -> AuditRecord {
        let ctx = cxone_replay_domain::AuditContext {
            run_id: "r",
            topic_id: "t",
            event_id,
            destination: "t",
        };
        AuditRecord::dry_run(&ctx, "replay-k-v1", 1, 10, chrono::DateTime::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn the_default_record_all_records_in_order_up_to_the_first_refusal() {
        let sink = std::sync::Arc::new(RefusesBad(std::sync::Mutex::default()));
        let batch = [rec("a"), rec("b"), rec("bad"), rec("c")];
        // Through the Arc forwarding, as the engine holds sinks.
        let err = AuditSink::record_all(&sink, &batch).await.unwrap_err();
        assert_eq!(err.recorded, 2);
        assert_eq!(*sink.0.lock().unwrap(), ["a", "b"]);
        assert_eq!(
            err.to_string(),
            "the audit sink kept 2 record(s) of the batch and refused the next"
        );
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk full (injected)"));
        assert!(sink.record_all(&[rec("d")]).await.is_ok());
        assert_eq!(*sink.0.lock().unwrap(), ["a", "b", "d"]);
    }
}
