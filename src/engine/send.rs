//! Send: the planned replays in flight, each a task that reports its final outcome.

use super::Replayer;
use crate::ports::{ReplayTarget, SendOutcome};
use crate::runtime::Clock;
use chrono::{DateTime, Utc};
use cxone_replay_domain::{AuditContext, AuditRecord, FailureClass, IdempotencyKey, SentOutcome};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::{Id, JoinError, JoinSet};
use tracing::{Instrument, Span};

/// What the dispatcher keeps about an event being sent, to record it when it is done.
pub(super) struct InFlight {
    pub(super) topic: Arc<str>,
    pub(super) event_id: String,
    pub(super) key: IdempotencyKey,
    pub(super) attempt: u32,
}

/// A planned replay, ready to go: where to, what, and what to record about it.
pub(super) struct Outgoing {
    pub(super) target: Arc<dyn ReplayTarget>,
    pub(super) info: InFlight,
    pub(super) body: Vec<u8>,
}

/// The final outcome of one send.
pub(super) struct SendDone {
    outcome: SendOutcome,
    latency_ms: f64,
    at: DateTime<Utc>,
}

const ABANDONED: &str = "abandoned: still in flight when the drain timeout after cancellation \
                         expired; delivery unknown, a resume re-sends it safely (idempotency key)";
const PANICKED: &str = "the send task panicked; delivery unknown, a resume re-sends it safely";

/// The sends in flight.
pub(super) struct Sends {
    tasks: JoinSet<SendDone>,
    in_flight: HashMap<Id, InFlight>,
    clock: Arc<dyn Clock>,
    /// The topic being sent (none before the first send) and its `topic` span (a child of the
    /// run's span), the parent of its sends' spans.
    topic_span: (Option<Arc<str>>, Span),
}

impl Sends {
    pub(super) fn new(clock: Arc<dyn Clock>) -> Self {
        Sends {
            tasks: JoinSet::new(),
            in_flight: HashMap::new(),
            clock,
            topic_span: (None, Span::none()),
        }
    }

    /// The span of `topic`'s sends: a new one when the topic changes (topics are sent one
    /// after the other). Disabled (and free) when the `info` level is off.
    fn topic_span(&mut self, topic: &Arc<str>) -> &Span {
        let (current, span) = &mut self.topic_span;
        if !current
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, topic) || t == topic)
        {
            *current = Some(Arc::clone(topic));
            *span = tracing::info_span!("topic", topic = %topic);
        }
        span
    }

    /// How many sends are in flight.
    pub(super) fn len(&self) -> usize {
        self.tasks.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Starts sending `out`, timing it on the clock, in a `send` span (`event_id`, `attempt`)
    /// under its topic's: every log line of the send (the client's retries included) says
    /// which run, topic and event it belongs to. The span is disabled, and costs nothing, when
    /// the `debug` level is off.
    pub(super) fn spawn(&mut self, out: Outgoing) {
        let Outgoing { target, info, body } = out;
        let clock = Arc::clone(&self.clock);
        let topic = Arc::clone(&info.topic);
        let key = info.key.clone();
        let span = tracing::debug_span!(parent: self.topic_span(&topic), "send",
            event_id = %info.event_id, attempt = info.attempt);
        let send = async move {
            let t0 = clock.now();
            let outcome = target.send(&topic, &key, body).await;
            let at = clock.now();
            let latency_us = at.signed_duration_since(t0).num_microseconds();
            SendDone {
                outcome,
                latency_ms: latency_us.unwrap_or(0).max(0) as f64 / 1000.0,
                at,
            }
        };
        let handle = self.tasks.spawn(send.instrument(span));
        self.in_flight.insert(handle.id(), info);
    }

    /// The next send to finish, with its outcome (cancel-safe); `None` when none is in flight.
    /// A send that was aborted or panicked is a `TIMEOUT` failure whose delivery is unknown.
    pub(super) async fn join_next(&mut self) -> Option<(InFlight, SendDone)> {
        while let Some(joined) = self.tasks.join_next_with_id().await {
            if let Some(done) = self.finished(joined) {
                return Some(done);
            }
        }
        None
    }

    /// A send that has already finished, with its outcome, without waiting; `None` when none
    /// has.
    pub(super) fn try_join_next(&mut self) -> Option<(InFlight, SendDone)> {
        while let Some(joined) = self.tasks.try_join_next_with_id() {
            if let Some(done) = self.finished(joined) {
                return Some(done);
            }
        }
        None
    }

    /// What the dispatcher knows of the task that ended as `joined`, with its outcome.
    fn finished(
        &mut self,
        joined: Result<(Id, SendDone), JoinError>,
    ) -> Option<(InFlight, SendDone)> {
        let (id, done) = match joined {
            Ok(ok) => ok,
            Err(e) => (e.id(), self.lost(&e)),
        };
        // Every task's id was registered when it was spawned.
        self.in_flight.remove(&id).map(|info| (info, done))
    }

    fn lost(&self, e: &JoinError) -> SendDone {
        let message = if e.is_cancelled() {
            ABANDONED
        } else {
            PANICKED
        };
        SendDone {
            outcome: SendOutcome::failed(FailureClass::Timeout, None, 0, message),
            latency_ms: 0.0,
            at: self.clock.now(),
        }
    }

    /// Aborts every send still in flight; [`Sends::join_next`] then reports them.
    pub(super) fn abort_all(&mut self) {
        self.tasks.abort_all();
    }
}

impl Replayer {
    /// The audit record of a finished send.
    pub(super) fn sent_record(&self, f: &InFlight, done: SendDone) -> AuditRecord {
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
                message: done.outcome.message,
            },
            done.at,
        )
    }
}
