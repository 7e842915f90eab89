//! The [`Replayer`]: a streaming, concurrent, paced, resumable, audited replay run.
//!
//! A run does four things, one file each: `feed` streams DLQ pages (at most one fetched ahead),
//! `plan` decides each event with the domain (and resume and repeats within the run), `send`
//! runs the planned replays concurrently and paced, and `record` audits every final outcome,
//! counts it once the sink took it and feeds it to the circuit breaker. `run`
//! drives them through the phases of a run (`Running`, `Draining`, `Done`). `builder` validates
//! the settings and `pacer` spaces the sends (at a fixed rate, or at the rate `adaptive` finds).

mod adaptive;
mod builder;
mod feed;
mod pacer;
mod plan;
mod record;
mod run;
mod send;

pub use builder::ReplayerBuilder;
pub use cxone_replay_domain::DEFAULT_STOP_AFTER_FAILURES;
pub use pacer::{DEFAULT_PACE_MAX, DEFAULT_PACE_MIN, MAX_PACE, Pace, check_pace};

use crate::observer::{Exchanges, RunObserver};
use crate::ports::{AuditSink, DlqSource, MonitorSink, ReplayTarget};
use crate::runtime::{Clock, Sleeper};
use crate::selection::EventSet;
use crate::summary::Progress;
use cxone_eventbridge::ExchangeObserver;
use cxone_replay_domain::{EventFilter, ReplayPolicy};
use pacer::Pacer;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A progress callback: called after every audit record with the counts so far.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Default number of events in flight.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default DLQ page size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Default bounded wait for in-flight events after cancellation.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest concurrency accepted.
pub const MAX_CONCURRENCY: usize = 1024;

/// Disconnects the observer from the HTTP exchanges when dropped.
struct WatchingExchanges<'a>(&'a Replayer);

impl Drop for WatchingExchanges<'_> {
    fn drop(&mut self) {
        self.0.observe_exchanges(false);
    }
}

/// What a run does with the replays it plans.
pub(crate) enum Mode {
    /// Plan, validate and audit `DRY_RUN`; send nothing.
    DryRun,
    /// Send every planned replay to this target.
    Send(Arc<dyn ReplayTarget>),
}

impl Mode {
    pub(crate) fn is_dry_run(&self) -> bool {
        matches!(self, Mode::DryRun)
    }
}

/// A configured replay run. Build with [`Replayer::builder`], start with [`Replayer::run`].
///
/// How it works: a fetch task pulls DLQ pages (reserving room in a channel of capacity one before
/// fetching, so at most one page is fetched ahead); the dispatcher takes events one by one, plans
/// each with the domain's [`plan`](cxone_replay_domain::plan), audits skips and dry runs at once,
/// and spawns each send as a task, at most `concurrency` at a time, paced; outcomes are audited
/// as they arrive; the circuit breaker may stop the run on what they say. Memory is two pages
/// plus `concurrency` events, whatever the size of the DLQ, plus a 16-byte digest (about 35
/// bytes with its table) per event taken for replay, to send an event that comes up twice only
/// once, and on resume per replay the log says was delivered.
pub struct Replayer {
    topics: Vec<Arc<str>>,
    policy: ReplayPolicy,
    filter: EventFilter,
    only: Option<EventSet>,
    limit: Option<NonZeroU64>,
    concurrency: usize,
    pacer: Pacer,
    page_size: u32,
    mode: Mode,
    source: Arc<dyn DlqSource>,
    audit: Arc<dyn AuditSink>,
    monitor: Option<Arc<dyn MonitorSink>>,
    resume: bool,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    observer: Option<Arc<dyn RunObserver>>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    drain_timeout: Duration,
    stop_after_failures: u32,
    run_id: String,
    start_token: Option<String>,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("run_id", &self.run_id)
            .field("topics", &self.topics)
            .field("concurrency", &self.concurrency)
            .field("dry_run", &self.mode.is_dry_run())
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

impl Replayer {
    /// Starts building a replay run.
    ///
    /// ```
    /// use cxone_dlq_replay::{EngineError, Replayer, Setting};
    /// let err = Replayer::builder().build().unwrap_err();
    /// assert!(matches!(err, EngineError::Setting { setting: Setting::Topics, .. }));
    /// assert!(err.to_string().contains("topics"));
    /// ```
    pub fn builder() -> ReplayerBuilder {
        ReplayerBuilder::new()
    }

    /// This run's id.
    #[must_use]
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Connects the observer (if any) to the HTTP exchanges of the source and the target until
    /// the guard is dropped: at the end of the run, or when its future is dropped.
    fn watch_exchanges(&self) -> WatchingExchanges<'_> {
        self.observe_exchanges(true);
        WatchingExchanges(self)
    }

    /// Connects the observer (if any) to the HTTP exchanges of the source and the target, or
    /// with `on` false disconnects it.
    fn observe_exchanges(&self, on: bool) {
        let Some(o) = &self.observer else { return };
        let bridge = on.then(|| Arc::new(Exchanges(Arc::clone(o))) as Arc<dyn ExchangeObserver>);
        self.source.observe_exchanges(bridge.clone());
        if let Mode::Send(target) = &self.mode {
            target.observe_exchanges(bridge);
        }
    }

    /// Tells the observer (if any) how many sends are in flight.
    fn observe_in_flight(&self, n: usize) {
        if let Some(o) = &self.observer {
            o.in_flight(n);
        }
    }
}
