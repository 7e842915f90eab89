//! [`RunObserver`]: a run watched from the side, for metrics: every audited outcome, every
//! HTTP exchange, PUT latency, the sends in flight and the time held by `Retry-After`.

use crate::latency::is_measured_send;
use cxone_eventbridge::ExchangeObserver;
pub use cxone_eventbridge::{Exchange, Op};
use cxone_replay_domain::AuditRecord;
use std::sync::Arc;
use std::time::Duration;

/// Told about a run as it goes: set with
/// [`ReplayerBuilder::observer`](crate::ReplayerBuilder::observer). Every method has a no-op
/// default; implement those you need. It starts nothing by itself (no server, no task): it is
/// what a metrics exporter (the CLI's `--metrics-addr`) is fed from.
///
/// The methods are called on the run's tasks: they must be cheap and must not block (add to
/// counters; do not log or do I/O). With no observer set, the engine makes none of these calls.
///
/// The HTTP exchanges and holds come from the target and the source (a CXone
/// [`Client`](cxone_eventbridge::Client) reports them; see
/// [`ReplayTarget::observe_exchanges`](crate::ReplayTarget::observe_exchanges)), for the
/// duration of the run.
///
/// ```
/// use cxone_dlq_replay::{Exchange, Op, RunObserver, Replayer, FileSource, JsonlAuditLog};
/// use cxone_dlq_replay::domain::{AuditRecord, ReplayStatus};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// #[derive(Default)]
/// struct Counts {
///     delivered: AtomicU64,
///     puts: AtomicU64,
/// }
///
/// impl RunObserver for Counts {
///     fn outcome(&self, record: &AuditRecord) {
///         if record.status == ReplayStatus::Success {
///             self.delivered.fetch_add(1, Ordering::Relaxed);
///         }
///     }
///     fn http_exchange(&self, op: Op, _exchange: Exchange) {
///         if op == Op::Put {
///             self.puts.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let export = dir.path().join("dlq.jsonl");
/// # std::fs::write(&export, "")?;
/// let counts = Arc::new(Counts::default());
/// let replayer = Replayer::builder()
///     .topic("topic_pub_conversations")
///     .source(FileSource::new(&export))
///     .audit(JsonlAuditLog::open(dir.path().join("audit.jsonl"))?)
///     .dry_run(true)
///     .observer(counts.clone())
///     .build()?;
/// # drop(replayer);
/// // ... replayer.run().await, then read `counts` (or read them while it runs).
/// assert_eq!(counts.delivered.load(Ordering::Relaxed), 0);
/// # Ok(())
/// # }
/// ```
pub trait RunObserver: Send + Sync {
    /// An event's final record, once the audit sink accepted it (exactly the records the
    /// summary counts): its `topic_id`, `status`, and `error_classification` (`FAILED`) or
    /// `skip_reason` (`SKIPPED`).
    fn outcome(&self, record: &AuditRecord) {
        let _ = record;
    }

    /// One HTTP exchange (each attempt, retries and token requests included) of `op`: the
    /// status the server answered, or the class of the transport failure.
    fn http_exchange(&self, op: Op, exchange: Exchange) {
        let _ = (op, exchange);
    }

    /// The latency of a sent event, from just before its PUT to its final outcome (retries
    /// included): the same measure as the summary's `latency_ms`.
    fn put_latency(&self, latency: Duration) {
        let _ = latency;
    }

    /// The number of sends in flight changed to `n`.
    fn in_flight(&self, n: usize) {
        let _ = n;
    }

    /// A `429`'s `Retry-After` held every request `added` longer (overlapping holds counted
    /// once: the sum is the summary's `held_ms`).
    fn rate_limited(&self, added: Duration) {
        let _ = added;
    }
}

impl<T: RunObserver + ?Sized> RunObserver for Arc<T> {
    fn outcome(&self, record: &AuditRecord) {
        (**self).outcome(record);
    }
    fn http_exchange(&self, op: Op, exchange: Exchange) {
        (**self).http_exchange(op, exchange);
    }
    fn put_latency(&self, latency: Duration) {
        (**self).put_latency(latency);
    }
    fn in_flight(&self, n: usize) {
        (**self).in_flight(n);
    }
    fn rate_limited(&self, added: Duration) {
        (**self).rate_limited(added);
    }
}

/// Tells `observer` about an audited record: its outcome, and its latency if it was sent.
pub(crate) fn tell_outcome(observer: &dyn RunObserver, record: &AuditRecord) {
    observer.outcome(record);
    if is_measured_send(record) {
        observer.put_latency(Duration::from_secs_f64(record.latency_ms.max(0.0) / 1000.0));
    }
}

/// A [`RunObserver`] as the client's [`ExchangeObserver`].
pub(crate) struct Exchanges(pub(crate) Arc<dyn RunObserver>);

impl ExchangeObserver for Exchanges {
    fn exchange(&self, op: Op, exchange: Exchange) {
        self.0.http_exchange(op, exchange);
    }
    fn held(&self, added: Duration) {
        self.0.rate_limited(added);
    }
}
