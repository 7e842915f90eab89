//! The [`Replayer`]: a streaming, concurrent, paced, resumable, audited replay run.

use crate::error::EngineError;
use crate::ports::{
    AuditSink, BoxError, DlqSource, MonitorEvent, MonitorSink, ReplayTarget, RunStarted,
    SendOutcome,
};
use crate::resume::DeliveredKeys;
use crate::runtime::{Clock, Sleeper, SystemClock, TokioSleeper};
use crate::summary::{Progress, RunSummary, Tally, elapsed};
use chrono::{DateTime, Utc};
use cxone_replay_domain::{
    AuditContext, AuditRecord, Decision, DestinationOverride, DlqEvent, DlqPage, EventFilter,
    FailureClass, IdempotencyKey, ReplayPolicy, SentOutcome, plan,
};
use futures::StreamExt;
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
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

/// Builds a [`Replayer`]; see [`Replayer::builder`].
#[must_use]
pub struct ReplayerBuilder {
    topics: Vec<String>,
    policy: ReplayPolicy,
    filter: EventFilter,
    concurrency: usize,
    pace: Option<f64>,
    page_size: u32,
    dry_run: bool,
    source: Option<Arc<dyn DlqSource>>,
    target: Option<Arc<dyn ReplayTarget>>,
    audit: Option<Arc<dyn AuditSink>>,
    monitor: Option<Arc<dyn MonitorSink>>,
    resume: bool,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    drain_timeout: Duration,
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
            .finish_non_exhaustive()
    }
}

impl ReplayerBuilder {
    fn new() -> Self {
        ReplayerBuilder {
            topics: Vec::new(),
            policy: ReplayPolicy::default(),
            filter: EventFilter::default(),
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
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
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

    /// The replay policy (retry window, maximum age, body limit, destination override).
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

    /// How many events may be in flight at once (default 8, at most 1024). Never exceeded.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// At most this many sends per second, evenly spaced (no bursts). Skips and dry-run records
    /// are not paced.
    pub fn pace(mut self, events_per_second: f64) -> Self {
        self.pace = Some(events_per_second);
        self
    }

    /// DLQ page size (default 100).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n;
        self
    }

    /// Plan, validate and audit `DRY_RUN`; send nothing.
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
    /// [`RunSummary::already_replayed`]). Needs a sink that can read back
    /// ([`AuditSink::can_resume`]), such as [`JsonlAuditLog`](crate::JsonlAuditLog).
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

    /// How long in-flight events may take to finish after cancellation (default 30 s). Events
    /// still in flight then are audited `FAILED`/`TIMEOUT` with an "abandoned" message (their
    /// delivery is unknown; a resume re-sends them, which the idempotency key makes safe).
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// Called after every audit record.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The clock for audit timestamps, `initiatedAt`, latency and pacing (default: system).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What waits for the pace (default: Tokio's timer).
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
    /// [`EngineError::Setting`] naming the first missing or invalid setting.
    pub fn build(self) -> Result<Replayer, EngineError> {
        if self.topics.is_empty() {
            return Err(EngineError::setting(
                "topics",
                "at least one topic is needed",
            ));
        }
        for (i, t) in self.topics.iter().enumerate() {
            if t.trim().is_empty() {
                return Err(EngineError::setting("topics", "a topic is empty"));
            }
            if self.topics[..i].contains(t) {
                return Err(EngineError::setting(
                    "topics",
                    format!("`{t}` is given twice"),
                ));
            }
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(EngineError::setting(
                "concurrency",
                format!("must be 1 to {MAX_CONCURRENCY}, got {}", self.concurrency),
            ));
        }
        if self.page_size == 0 {
            return Err(EngineError::setting("page_size", "must be at least 1"));
        }
        let pacer = match self.pace {
            None => None,
            Some(p) if !(p.is_finite() && p > 0.0 && p <= 1e9) => {
                return Err(EngineError::setting(
                    "pace",
                    format!("must be a positive number of events per second, got {p}"),
                ));
            }
            Some(p) => Some(Pacer::new(p, Arc::clone(&self.clock))?),
        };
        if self.drain_timeout.is_zero() {
            return Err(EngineError::setting("drain_timeout", "must be positive"));
        }
        if let Err(e) = self.filter.check() {
            return Err(EngineError::setting("filter", e.to_string()));
        }
        if self.start_token.is_some() && self.topics.len() != 1 {
            return Err(EngineError::setting(
                "start_token",
                "a start token needs exactly one topic",
            ));
        }
        let source = self
            .source
            .ok_or_else(|| EngineError::setting("source", "a DLQ source is needed"))?;
        let audit = self
            .audit
            .ok_or_else(|| EngineError::setting("audit", "an audit sink is needed"))?;
        if self.resume && !audit.can_resume() {
            return Err(EngineError::setting(
                "resume",
                "the audit sink cannot read back earlier outcomes",
            ));
        }
        let target = match (self.target, self.dry_run) {
            (Some(t), _) => Some(t),
            (None, true) => None,
            (None, false) => {
                return Err(EngineError::setting(
                    "target",
                    "a replay target is needed (or a dry run)",
                ));
            }
        };
        Ok(Replayer {
            topics: self.topics.into_iter().map(Arc::from).collect(),
            policy: self.policy,
            filter: self.filter,
            concurrency: self.concurrency,
            pacer,
            page_size: self.page_size,
            dry_run: self.dry_run,
            source,
            target,
            audit,
            monitor: self.monitor,
            resume: self.resume,
            cancel: self.cancel,
            progress: self.progress,
            clock: self.clock,
            sleeper: self.sleeper,
            drain_timeout: self.drain_timeout,
            run_id: self
                .run_id
                .unwrap_or_else(|| format!("run-{}", uuid::Uuid::new_v4())),
            start_token: self.start_token,
        })
    }
}

/// The governor clock over the injected [`Clock`]: time since the pacer was made.
#[derive(Debug, Clone)]
struct PaceClock {
    clock: Arc<dyn Clock>,
    epoch: DateTime<Utc>,
}

impl governor::clock::Clock for PaceClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        elapsed(self.epoch, self.clock.now())
    }
}

struct Pacer {
    limiter: RateLimiter<NotKeyed, InMemoryState, PaceClock, NoOpMiddleware<Duration>>,
    clock: PaceClock,
}

impl Pacer {
    fn new(per_second: f64, clock: Arc<dyn Clock>) -> Result<Self, EngineError> {
        let period = Duration::from_secs_f64(1.0 / per_second);
        let quota =
            Quota::with_period(period).ok_or_else(|| EngineError::setting("pace", "too fast"))?;
        let clock = PaceClock {
            epoch: clock.now(),
            clock,
        };
        Ok(Pacer {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        })
    }

    /// `None` if a send may go now (and takes the slot), else how long to wait.
    fn check(&self) -> Option<Duration> {
        match self.limiter.check() {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
    }
}

/// A configured replay run. Build with [`Replayer::builder`], start with [`Replayer::run`].
///
/// How it works: a fetch task pulls DLQ pages (reserving room in a channel of capacity one before
/// fetching, so at most one page is fetched ahead); the dispatcher takes events one by one, plans
/// each with the domain's [`plan`], audits skips and dry runs at once, and spawns each send as a
/// task, at most `concurrency` at a time, paced; outcomes are audited as they arrive. Memory is
/// bounded by two pages plus `concurrency` events, whatever the size of the DLQ.
pub struct Replayer {
    topics: Vec<Arc<str>>,
    policy: ReplayPolicy,
    filter: EventFilter,
    concurrency: usize,
    pacer: Option<Pacer>,
    page_size: u32,
    dry_run: bool,
    source: Arc<dyn DlqSource>,
    target: Option<Arc<dyn ReplayTarget>>,
    audit: Arc<dyn AuditSink>,
    monitor: Option<Arc<dyn MonitorSink>>,
    resume: bool,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    drain_timeout: Duration,
    run_id: String,
    start_token: Option<String>,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("run_id", &self.run_id)
            .field("topics", &self.topics)
            .field("concurrency", &self.concurrency)
            .field("dry_run", &self.dry_run)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

type PageMsg = Result<(Arc<str>, DlqPage), (Arc<str>, BoxError)>;

/// What the dispatcher keeps about an event being sent.
struct InFlight {
    topic: Arc<str>,
    event_id: String,
    key: IdempotencyKey,
    attempt: u32,
}

struct SendDone {
    outcome: SendOutcome,
    latency_ms: f64,
    at: DateTime<Utc>,
}

/// The run's mutable state, owned by the dispatcher.
struct RunState {
    tally: Tally,
    audit_error: Option<BoxError>,
}

impl Replayer {
    /// Starts building a replay run.
    ///
    /// ```
    /// use cxone_dlq_replay::Replayer;
    /// let err = Replayer::builder().build().unwrap_err();
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

    fn destination<'a>(&'a self, topic: &'a str) -> &'a str {
        self.policy
            .get_destination_override()
            .map_or(topic, DestinationOverride::as_str)
    }

    async fn emit(&self, state: &mut RunState, rec: AuditRecord, stop: &CancellationToken) {
        if let Err(e) = self.audit.record(&rec).await {
            tracing::error!(error = %e, "audit sink failed; stopping the run");
            state.audit_error.get_or_insert(e);
            stop.cancel();
        }
        let now = self.clock.now();
        state.tally.add(&rec, now);
        if let Some(m) = &self.monitor {
            m.notify(MonitorEvent::Record(&rec));
        }
        if let Some(p) = &self.progress {
            p(&state.tally.progress(now));
        }
    }

    fn sent_record(&self, f: &InFlight, done: &SendDone) -> AuditRecord {
        let ctx = AuditContext {
            run_id: &self.run_id,
            topic_id: &f.topic,
            event_id: &f.event_id,
            destination: self.destination(&f.topic),
        };
        AuditRecord::sent(
            &ctx,
            &SentOutcome {
                class: done.outcome.class,
                idempotency_key: f.key.as_str().to_string(),
                attempt: f.attempt,
                http_status: done.outcome.http_status,
                http_attempts: done.outcome.attempts,
                latency_ms: done.latency_ms,
                message: done.outcome.message.clone(),
            },
            done.at,
        )
    }

    /// Runs the replay to its end (or cancellation) and returns its summary.
    ///
    /// # Errors
    /// [`EngineError::Resume`] if earlier outcomes cannot be read; [`EngineError::Fetch`] if
    /// the DLQ cannot be fetched (fetching stops, every event already seen is finished and
    /// audited first); [`EngineError::Audit`] if the audit sink fails (the run stops). Both of
    /// the latter carry the summary of what was done.
    pub async fn run(self) -> Result<RunSummary, EngineError> {
        let started = self.clock.now();
        let delivered = if self.resume {
            self.audit
                .delivered_keys()
                .await
                .map_err(|source| EngineError::Resume { source })?
                .unwrap_or_default()
        } else {
            DeliveredKeys::new()
        };
        if let Some(m) = &self.monitor {
            m.notify(MonitorEvent::Started(&RunStarted {
                run_id: self.run_id.clone(),
                topics: self.topics.iter().map(|t| t.to_string()).collect(),
                dry_run: self.dry_run,
                resume: self.resume,
                started_at: started,
            }));
        }
        tracing::info!(run_id = %self.run_id, topics = ?self.topics, resume = self.resume,
            resumed_keys = delivered.len(), dry_run = self.dry_run, "replay started");

        let stop = self.cancel.child_token();
        let (tx, mut rx) = mpsc::channel::<PageMsg>(1);
        let fetcher = tokio::spawn(fetch_pages(
            Arc::clone(&self.source),
            self.topics.clone(),
            self.page_size,
            self.start_token.clone(),
            tx,
            stop.clone(),
        ));

        let mut state = RunState {
            tally: Tally::new(started),
            audit_error: None,
        };
        let mut current: Option<(Arc<str>, std::vec::IntoIter<DlqEvent>)> = None;
        let mut pending: Option<(InFlight, Vec<u8>)> = None;
        let mut in_flight: HashMap<tokio::task::Id, InFlight> = HashMap::new();
        let mut tasks: JoinSet<SendDone> = JoinSet::new();
        let mut source_done = false;
        let mut fetch_error: Option<(Arc<str>, BoxError)> = None;
        let mut stopping = false;
        let mut interrupted = false;
        let mut drain_deadline: Option<Pin<Box<dyn Future<Output = ()> + Send>>> = None;

        loop {
            // Plan events until one needs sending (or none is left on this page).
            while pending.is_none() && !stopping {
                let Some((topic, ev)) = current
                    .as_mut()
                    .and_then(|(t, it)| it.next().map(|e| (Arc::clone(t), e)))
                else {
                    break;
                };
                self.plan_one(&mut state, &topic, ev, &delivered, &mut pending, &stop)
                    .await;
                if stop.is_cancelled() {
                    stopping = true;
                }
            }
            // Send the planned replay if there is room and the pace allows.
            let mut pace_wait = None;
            if !stopping && tasks.len() < self.concurrency && pending.is_some() {
                pace_wait = self.pacer.as_ref().and_then(Pacer::check);
                if pace_wait.is_none()
                    && let Some((info, body)) = pending.take()
                {
                    self.spawn_send(&mut tasks, &mut in_flight, info, body);
                    continue;
                }
            }
            let page_empty = current.as_ref().is_none_or(|(_, it)| it.len() == 0);
            let work_left = !(source_done && page_empty && pending.is_none());
            if stopping && drain_deadline.is_none() {
                // First time round since the stop: events were left unseen (or not).
                interrupted = work_left;
                drain_deadline = Some(self.sleeper.sleep(self.drain_timeout));
            }
            if tasks.is_empty() && (stopping || !work_left) {
                break;
            }
            let want_page = !stopping && !source_done && page_empty && pending.is_none();
            tokio::select! {
                biased;
                () = stop.cancelled(), if !stopping => stopping = true,
                () = async { if let Some(d) = drain_deadline.as_mut() { d.await } }, if drain_deadline.is_some() => {
                    break;
                }
                Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    self.finish_send(&mut state, &mut in_flight, joined, &stop).await;
                }
                () = async { if let Some(w) = pace_wait { self.sleeper.sleep(w).await } }, if pace_wait.is_some() => {}
                msg = rx.recv(), if want_page => match msg {
                    Some(Ok((topic, page))) => current = Some((topic, page.events.into_iter())),
                    Some(Err((topic, e))) => {
                        tracing::error!(topic = %topic, error = %e, "DLQ fetch failed; finishing what was seen");
                        fetch_error = Some((topic, e));
                        source_done = true;
                    }
                    None => source_done = true,
                },
            }
        }
        fetcher.abort();
        // Past the drain timeout: abandon what is still in flight, but audit it.
        if !tasks.is_empty() {
            interrupted = true;
            tasks.abort_all();
            while let Some(joined) = tasks.join_next_with_id().await {
                self.finish_send(&mut state, &mut in_flight, joined, &stop)
                    .await;
            }
        }
        if let Err(e) = self.audit.flush().await {
            state.audit_error.get_or_insert(e);
        }
        let now = self.clock.now();
        let mut summary = state
            .tally
            .summary(&self.run_id, now, interrupted, self.dry_run);
        if let Some(m) = &self.monitor {
            m.notify(MonitorEvent::Completed(&summary));
            summary.monitor_dropped = m.close().await;
        }
        tracing::info!(run_id = %self.run_id, seen = summary.seen, interrupted, "replay finished");
        if let Some(source) = state.audit_error {
            return Err(EngineError::Audit {
                summary: Box::new(summary),
                source,
            });
        }
        if let Some((topic, source)) = fetch_error {
            return Err(EngineError::Fetch {
                topic: topic.to_string(),
                summary: Box::new(summary),
                source,
            });
        }
        Ok(summary)
    }

    async fn plan_one(
        &self,
        state: &mut RunState,
        topic: &Arc<str>,
        ev: DlqEvent,
        delivered: &DeliveredKeys,
        pending: &mut Option<(InFlight, Vec<u8>)>,
        stop: &CancellationToken,
    ) {
        let now = self.clock.now();
        let decision = plan(&ev, &self.policy, &self.filter, now);
        let ctx = AuditContext {
            run_id: &self.run_id,
            topic_id: topic,
            event_id: &ev.event_id,
            destination: self.destination(topic),
        };
        match decision {
            Decision::Skip(skip) => {
                let rec = AuditRecord::skipped(&ctx, &skip, now);
                self.emit(state, rec, stop).await;
            }
            Decision::Replay(planned) => {
                let key: &IdempotencyKey = planned.idempotency_key();
                if !delivered.is_empty() && delivered.contains(key.as_str()) {
                    state.tally.add_already_replayed(now);
                    if let Some(p) = &self.progress {
                        p(&state.tally.progress(now));
                    }
                } else if self.dry_run {
                    let rec = AuditRecord::dry_run(
                        &ctx,
                        key.as_str(),
                        planned.payload.retry_matrix.current_attempt,
                        planned.body.len(),
                        now,
                    );
                    self.emit(state, rec, stop).await;
                } else {
                    let info = InFlight {
                        topic: Arc::clone(topic),
                        event_id: ev.event_id,
                        key: key.clone(),
                        attempt: planned.payload.retry_matrix.current_attempt,
                    };
                    *pending = Some((info, planned.body));
                }
            }
        }
    }

    fn spawn_send(
        &self,
        tasks: &mut JoinSet<SendDone>,
        in_flight: &mut HashMap<tokio::task::Id, InFlight>,
        info: InFlight,
        body: Vec<u8>,
    ) {
        let Some(target) = self.target.clone() else {
            return; // unreachable: a target is required unless dry run
        };
        let clock = Arc::clone(&self.clock);
        let topic = Arc::clone(&info.topic);
        let key = info.key.clone();
        let handle = tasks.spawn(async move {
            let t0 = clock.now();
            let outcome = target.send(&topic, &key, body).await;
            let at = clock.now();
            SendDone {
                outcome,
                latency_ms: at
                    .signed_duration_since(t0)
                    .num_microseconds()
                    .unwrap_or(0)
                    .max(0) as f64
                    / 1000.0,
                at,
            }
        });
        in_flight.insert(handle.id(), info);
    }

    async fn finish_send(
        &self,
        state: &mut RunState,
        in_flight: &mut HashMap<tokio::task::Id, InFlight>,
        joined: Result<(tokio::task::Id, SendDone), tokio::task::JoinError>,
        stop: &CancellationToken,
    ) {
        let (id, done) = match joined {
            Ok((id, done)) => (id, done),
            Err(e) => {
                let at = self.clock.now();
                let message = if e.is_cancelled() {
                    "abandoned: still in flight when the drain timeout after cancellation expired; \
                     delivery unknown, a resume re-sends it safely (idempotency key)"
                } else {
                    "the send task panicked; delivery unknown, a resume re-sends it safely"
                };
                (
                    e.id(),
                    SendDone {
                        outcome: SendOutcome::failed(FailureClass::Timeout, None, 0, message),
                        latency_ms: 0.0,
                        at,
                    },
                )
            }
        };
        if let Some(info) = in_flight.remove(&id) {
            let rec = self.sent_record(&info, &done);
            self.emit(state, rec, stop).await;
        }
    }
}

async fn fetch_pages(
    source: Arc<dyn DlqSource>,
    topics: Vec<Arc<str>>,
    page_size: u32,
    start_token: Option<String>,
    tx: mpsc::Sender<PageMsg>,
    stop: CancellationToken,
) {
    for topic in topics {
        let mut pages = source.pages(&topic, page_size, start_token.clone());
        loop {
            // Reserve room first: at most one page is fetched ahead of the dispatcher.
            let permit = tokio::select! {
                p = tx.reserve() => match p { Ok(p) => p, Err(_) => return },
                () = stop.cancelled() => return,
            };
            let next = tokio::select! {
                n = pages.next() => n,
                () = stop.cancelled() => return,
            };
            match next {
                Some(Ok(page)) => permit.send(Ok((Arc::clone(&topic), page))),
                Some(Err(e)) => {
                    permit.send(Err((topic, e)));
                    return;
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::testing::ManualClock;

    #[test]
    fn the_pacer_spaces_sends_evenly_on_the_injected_clock() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let clock = ManualClock::new(t0);
        let pacer = Pacer::new(4.0, Arc::new(clock.clone())).unwrap();
        assert_eq!(pacer.check(), None, "the first send goes at once");
        assert_eq!(pacer.check(), Some(Duration::from_millis(250)));
        clock.advance(Duration::from_millis(100));
        assert_eq!(pacer.check(), Some(Duration::from_millis(150)));
        clock.advance(Duration::from_millis(150));
        assert_eq!(pacer.check(), None);
        // no burst after idling: one send, then the period again
        clock.advance(Duration::from_secs(10));
        assert_eq!(pacer.check(), None);
        assert_eq!(pacer.check(), Some(Duration::from_millis(250)));
    }

    #[test]
    fn fractional_paces_are_accepted() {
        let pacer = Pacer::new(0.5, Arc::new(SystemClock)).unwrap();
        assert_eq!(pacer.check(), None);
        let wait = pacer.check().unwrap();
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2));
    }
}
