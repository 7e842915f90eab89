//! [`ReplayerBuilder`]: the settings of a run, validated by [`ReplayerBuilder::build`].

use super::pacer::{Pace, Pacer};
use super::{
    DEFAULT_CONCURRENCY, DEFAULT_DRAIN_TIMEOUT, DEFAULT_PAGE_SIZE, DEFAULT_STOP_AFTER_FAILURES,
    MAX_CONCURRENCY, Mode, ProgressFn, Replayer,
};
use crate::error::{EngineError, Setting};
use crate::observer::RunObserver;
use crate::ports::{AuditSink, DlqSource, MonitorSink, ReplayTarget};
use crate::runtime::{Clock, Sleeper, SystemClock, TokioSleeper};
use crate::selection::EventSet;
use crate::summary::Progress;
use cxone_replay_domain::{DestinationOverride, DomainError, EventFilter, ReplayPolicy};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Builds a [`Replayer`]; see [`Replayer::builder`].
#[must_use]
pub struct ReplayerBuilder {
    topics: Vec<String>,
    policy: ReplayPolicy,
    filter: EventFilter,
    only: Option<EventSet>,
    limit: Option<NonZeroU64>,
    concurrency: usize,
    pace: Option<Pace>,
    page_size: u32,
    dry_run: bool,
    source: Option<Arc<dyn DlqSource>>,
    target: Option<Arc<dyn ReplayTarget>>,
    audit: Option<Arc<dyn AuditSink>>,
    monitor: Option<Arc<dyn MonitorSink>>,
    resume: bool,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    observer: Option<Arc<dyn RunObserver>>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    drain_timeout: Duration,
    stop_after_failures: u32,
    run_id: Option<String>,
    start_token: Option<String>,
}

impl std::fmt::Debug for ReplayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayerBuilder")
            .field("topics", &self.topics)
            .field("concurrency", &self.concurrency)
            .field("pace", &self.pace)
            .field("page_size", &self.page_size)
            .field("dry_run", &self.dry_run)
            .field("resume", &self.resume)
            .field("stop_after_failures", &self.stop_after_failures)
            .finish_non_exhaustive()
    }
}

impl ReplayerBuilder {
    pub(super) fn new() -> Self {
        ReplayerBuilder {
            topics: Vec::new(),
            policy: ReplayPolicy::default(),
            filter: EventFilter::default(),
            only: None,
            limit: None,
            concurrency: DEFAULT_CONCURRENCY,
            pace: None,
            page_size: DEFAULT_PAGE_SIZE,
            dry_run: false,
            source: None,
            target: None,
            audit: None,
            monitor: None,
            resume: false,
            cancel: CancellationToken::new(),
            progress: None,
            observer: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            stop_after_failures: DEFAULT_STOP_AFTER_FAILURES,
            run_id: None,
            start_token: None,
        }
    }

    /// Adds a topic to replay (in the order given).
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Adds topics to replay.
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// The replay policy (retry window, maximum age, body limit, destination override, key
    /// scheme). With [`KeyScheme::TopicScoped`](cxone_replay_domain::KeyScheme::TopicScoped)
    /// every topic must fit in a key ([`build`](Self::build) checks it).
    pub fn policy(mut self, policy: ReplayPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the destination override of the policy.
    pub fn destination_override(mut self, url: Option<DestinationOverride>) -> Self {
        self.policy = self.policy.destination_override(url);
        self
    }

    /// Which events to replay (the others are audited `SKIPPED`/`FILTERED`).
    pub fn filter(mut self, filter: EventFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Only these events (by topic and event id); the others are audited `SKIPPED`/`FILTERED`
    /// like those the [`filter`](Self::filter) excludes (both must admit an event). An invalid
    /// event is still audited `INVALID_EVENT`. See [`AuditLog::failed`](crate::AuditLog::failed)
    /// for the events a log says failed.
    pub fn only_events(mut self, events: EventSet) -> Self {
        self.only = Some(events);
        self
    }

    /// Sends at most `n` replays (in a dry run: plans at most `n` `DRY_RUN` records), then stops
    /// cleanly: nothing more is taken off the DLQ, the sends in flight finish and are recorded,
    /// and the summary says [`limit_reached`](crate::RunSummary::limit_reached). The events
    /// not reached have no record, so a resumed run continues with them. Skips, and events a
    /// resumed run finds already delivered, do not count. For a canary: `limit(10)`, look, then
    /// resume.
    pub fn limit(mut self, n: NonZeroU64) -> Self {
        self.limit = Some(n);
        self
    }

    /// How many events may be in flight at once (default [`DEFAULT_CONCURRENCY`], at most
    /// [`MAX_CONCURRENCY`]). Never exceeded.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// At most this many sends per second, evenly spaced (no bursts; see [`check_pace`] for the
    /// accepted values): [`pacing`](Self::pacing) with [`Pace::Fixed`]. Skips and dry-run
    /// records are not paced.
    ///
    /// [`check_pace`]: crate::check_pace
    pub fn pace(self, events_per_second: f64) -> Self {
        self.pacing(Pace::Fixed(events_per_second))
    }

    /// How the sends are paced: a fixed rate, or [`Pace::Adaptive`] to find the server's rate
    /// limit (default: unpaced, only [`concurrency`](Self::concurrency) limits them). Every
    /// pace waits out the target's run-wide `Retry-After` hold and resumes one period at a time
    /// after it, never in a burst.
    pub fn pacing(mut self, pace: Pace) -> Self {
        self.pace = Some(pace);
        self
    }

    /// DLQ page size (default [`DEFAULT_PAGE_SIZE`]).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n;
        self
    }

    /// Plan, validate and audit `DRY_RUN`; send nothing (a [`target`](Self::target), if given,
    /// is not used).
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Where events come from.
    pub fn source(mut self, source: impl DlqSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Where replays go (not needed for a dry run).
    pub fn target(mut self, target: impl ReplayTarget + 'static) -> Self {
        self.target = Some(Arc::new(target));
        self
    }

    /// The audit sink (required): one record per event seen.
    pub fn audit(mut self, sink: impl AuditSink + 'static) -> Self {
        self.audit = Some(Arc::new(sink));
        self
    }

    /// An optional monitor.
    pub fn monitor(mut self, sink: impl MonitorSink + 'static) -> Self {
        self.monitor = Some(Arc::new(sink));
        self
    }

    /// Resume: read the audit sink's earlier records first and neither send nor re-record the
    /// events whose replay already ended `SUCCESS` or `DUPLICATE` (they are counted in
    /// [`RunSummary::already_replayed`](crate::RunSummary::already_replayed)). Needs a sink that
    /// can read back ([`AuditSink::can_resume`]), such as
    /// [`JsonlAuditLog`](crate::JsonlAuditLog).
    pub fn resume(mut self, yes: bool) -> Self {
        self.resume = yes;
        self
    }

    /// Cancelling this token stops the run: no more fetching, in-flight events finish (within
    /// [`drain_timeout`](Self::drain_timeout)), the audit sink is flushed and the summary says
    /// `interrupted`.
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// How long in-flight events may take to finish after cancellation (default
    /// [`DEFAULT_DRAIN_TIMEOUT`]). Events still in flight then are audited `FAILED`/`TIMEOUT`
    /// with an "abandoned" message (their delivery is unknown; a resume re-sends them, which the
    /// idempotency key makes safe).
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// The circuit breaker: stop the run after this many events in a row ended `FAILED` with a
    /// transient class (429, 5xx, network, time-out, retries used up; default
    /// [`DEFAULT_STOP_AFTER_FAILURES`]; 0: never). An authentication or permission failure of a
    /// send (401 after a token refresh, 403) stops the run at once whatever this is. A stopped
    /// run lets in-flight sends finish and records them, leaves the events not sent without a
    /// record (a resume continues with them) and returns [`EngineError::Stopped`]
    /// (see [`CircuitBreaker`](cxone_replay_domain::CircuitBreaker)). Under
    /// [`Pace::Adaptive`], a send that failed on `429`s while the pace can still slow down
    /// (it is above its `min`, and the target reports its
    /// [`throttling`](crate::ReplayTarget::throttling)) is the pace's to answer: it neither
    /// counts nor ends a streak.
    pub fn stop_after_failures(mut self, n: u32) -> Self {
        self.stop_after_failures = n;
        self
    }

    /// Called after every audit record the sink accepted.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Watches the run for metrics (see [`RunObserver`]): every audited outcome, the HTTP
    /// exchanges and `Retry-After` holds of the target and the source (for the duration of the
    /// run, through [`ReplayTarget::observe_exchanges`](crate::ReplayTarget::observe_exchanges)),
    /// PUT latency and the sends in flight. Default: none, and then none of these calls is made.
    ///
    /// For the run, this takes the client's one observer slot: an
    /// [`ExchangeObserver`](cxone_eventbridge::ExchangeObserver) set on the same client with
    /// [`Client::set_observer`](cxone_eventbridge::Client::set_observer) is replaced when the run
    /// starts and the slot is left empty when it ends. Watch exchanges through this observer
    /// (its `http_exchange`) rather than through both.
    pub fn observer(mut self, observer: impl RunObserver + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The clock for audit timestamps, `initiatedAt`, latency and pacing (default: system).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What waits for the pace and the drain timeout (default: Tokio's timer).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// The run id in every audit record (default: `run-<uuid v4>`).
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// Start from this DLQ page token (only with a single topic).
    pub fn start_token(mut self, token: Option<String>) -> Self {
        self.start_token = token;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// [`EngineError::Setting`] naming the first missing or invalid [`Setting`] (a topic that
    /// cannot be part of the policy's topic-scoped keys is [`Setting::Topics`]).
    pub fn build(self) -> Result<Replayer, EngineError> {
        check_topics(&self.topics)?;
        for t in &self.topics {
            if let Err(e) = self.policy.get_key_scheme().check_topic(t) {
                let problem = match e {
                    DomainError::InvalidSetting { problem, .. } => problem,
                    other => other.to_string(),
                };
                return Err(EngineError::invalid(Setting::Topics, problem));
            }
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(EngineError::invalid(
                Setting::Concurrency,
                format!("must be 1 to {MAX_CONCURRENCY}, got {}", self.concurrency),
            ));
        }
        if self.page_size == 0 {
            return Err(EngineError::invalid(
                Setting::PageSize,
                "must be at least 1",
            ));
        }
        if let Some(p) = &self.pace {
            p.check()?;
        }
        if self.drain_timeout.is_zero() {
            return Err(EngineError::invalid(
                Setting::DrainTimeout,
                "must be positive",
            ));
        }
        if let Err(e) = self.filter.check() {
            return Err(EngineError::invalid(Setting::Filter, e.to_string()));
        }
        if self.start_token.is_some() && self.topics.len() != 1 {
            return Err(EngineError::invalid(
                Setting::StartToken,
                "a start token needs exactly one topic",
            ));
        }
        let source = self
            .source
            .ok_or_else(|| EngineError::invalid(Setting::Source, "a DLQ source is needed"))?;
        let audit = self
            .audit
            .ok_or_else(|| EngineError::invalid(Setting::Audit, "an audit sink is needed"))?;
        if self.resume && !audit.can_resume() {
            return Err(EngineError::invalid(
                Setting::Resume,
                "the audit sink cannot read back earlier outcomes",
            ));
        }
        let mode = match (self.dry_run, self.target) {
            (true, _) => Mode::DryRun,
            (false, Some(target)) => Mode::Send(target),
            (false, None) => {
                return Err(EngineError::invalid(
                    Setting::Target,
                    "a replay target is needed (or a dry run)",
                ));
            }
        };
        let feedback = match &mode {
            Mode::Send(target) => Some(Arc::clone(target)),
            Mode::DryRun => None,
        };
        let pacer = Pacer::new(self.pace, Arc::clone(&self.clock), feedback)?;
        Ok(Replayer {
            topics: self.topics.into_iter().map(Arc::from).collect(),
            policy: self.policy,
            filter: self.filter,
            only: self.only,
            limit: self.limit,
            concurrency: self.concurrency,
            pacer,
            page_size: self.page_size,
            mode,
            source,
            audit,
            monitor: self.monitor,
            resume: self.resume,
            cancel: self.cancel,
            progress: self.progress,
            observer: self.observer,
            clock: self.clock,
            sleeper: self.sleeper,
            drain_timeout: self.drain_timeout,
            stop_after_failures: self.stop_after_failures,
            run_id: self
                .run_id
                .unwrap_or_else(|| format!("run-{}", uuid::Uuid::new_v4())),
            start_token: self.start_token,
        })
    }
}

/// At least one topic, none empty, none twice.
fn check_topics(topics: &[String]) -> Result<(), EngineError> {
    if topics.is_empty() {
        return Err(EngineError::invalid(
            Setting::Topics,
            "at least one topic is needed",
        ));
    }
    for (i, t) in topics.iter().enumerate() {
        if t.trim().is_empty() {
            return Err(EngineError::invalid(Setting::Topics, "a topic is empty"));
        }
        if topics[..i].contains(t) {
            return Err(EngineError::invalid(
                Setting::Topics,
                format!("`{t}` is given twice"),
            ));
        }
    }
    Ok(())
}
