//! Record: every final outcome goes to the audit sink, and only what the sink accepted is
//! counted, shown to the progress callback and told to the monitor.

use super::Replayer;
use crate::observer::tell_outcome;
use crate::ports::{AuditSink, BoxError, MonitorEvent, MonitorSink};
use crate::runtime::Clock;
use crate::summary::{RunSummary, Tally};
use chrono::{DateTime, Utc};
use cxone_replay_domain::{AuditRecord, CircuitBreaker, ReplayStatus, StopReason};
use tokio_util::sync::CancellationToken;

/// The run's audit trail and its counts.
pub(super) struct Recorder<'a> {
    replayer: &'a Replayer,
    audit: &'a dyn AuditSink,
    monitor: Option<&'a dyn MonitorSink>,
    clock: &'a dyn Clock,
    tally: Tally,
    audit_error: Option<BoxError>,
    breaker: CircuitBreaker,
    stop: CancellationToken,
}

/// What a run's recorder leaves: the summary, and why the run stopped early if the recorder
/// stopped it.
pub(super) struct Recorded {
    pub(super) summary: RunSummary,
    /// The first error of the audit sink.
    pub(super) audit_error: Option<BoxError>,
    /// Why the circuit breaker stopped the run.
    pub(super) stopped: Option<StopReason>,
}

impl<'a> Recorder<'a> {
    /// A recorder for `replayer`'s run, which started at `started`; a refused record, or a
    /// record that trips the circuit breaker, cancels `stop`.
    pub(super) fn new(
        replayer: &'a Replayer,
        started: DateTime<Utc>,
        stop: CancellationToken,
    ) -> Self {
        Recorder {
            replayer,
            audit: replayer.audit.as_ref(),
            monitor: replayer.monitor.as_deref(),
            clock: replayer.clock.as_ref(),
            tally: Tally::new(started),
            audit_error: None,
            breaker: CircuitBreaker::new(replayer.stop_after_failures),
            stop,
        }
    }

    /// Records one event's final outcome. Once the sink has it, the event is seen: it is
    /// counted, told to the monitor and to the progress callback, and given to the circuit
    /// breaker, which may stop the run. A record the sink refused is none of these, and stops
    /// the run (an event without its record would break the audit guarantee); the first such
    /// error is kept for [`Recorder::finish`].
    pub(super) async fn record(&mut self, rec: AuditRecord) {
        self.record_one(&rec).await;
    }

    async fn record_one(&mut self, rec: &AuditRecord) {
        match self.audit.record(rec).await {
            Ok(()) => self.accepted(rec),
            Err(e) => self.refused(rec, e),
        }
    }

    /// Records the final outcomes in `recs` (emptied) with one call of the sink: the sends
    /// that finished together. Each record the sink kept is then seen as with
    /// [`Recorder::record`], in order. The first it refused stops the run; each after it is
    /// still offered on its own, as the sends still in flight are while the run drains.
    pub(super) async fn record_all(&mut self, recs: &mut Vec<AuditRecord>) {
        match recs.as_slice() {
            [] => {}
            [rec] => self.record_one(rec).await,
            _ => {
                let (kept, refused) = match self.audit.record_all(recs).await {
                    Ok(()) => (recs.len(), None),
                    Err(u) => (u.recorded.min(recs.len()), Some(u.source)),
                };
                for rec in &recs[..kept] {
                    self.accepted(rec);
                }
                if let (Some(e), Some((first, rest))) = (refused, recs[kept..].split_first()) {
                    self.refused(first, e);
                    for rec in rest {
                        self.record_one(rec).await;
                    }
                }
            }
        }
        recs.clear();
    }

    /// The sink refused `rec`: stop the run.
    fn refused(&mut self, rec: &AuditRecord, e: BoxError) {
        tracing::error!(event_id = %rec.event_id, error = %e, "audit sink failed; stopping the run");
        self.audit_error.get_or_insert(e);
        self.stop.cancel();
    }

    /// The sink has `rec`: count it, tell the observer, the monitor and the progress callback,
    /// and feed the circuit breaker.
    fn accepted(&mut self, rec: &AuditRecord) {
        let now = self.clock.now();
        self.tally.add(rec, now);
        if let Some(o) = &self.replayer.observer {
            tell_outcome(o.as_ref(), rec);
        }
        if let Some(m) = self.monitor {
            m.notify(MonitorEvent::Record(rec));
        }
        self.progress(now);
        if self.paced_away(rec) {
            return;
        }
        if let Some(reason) = self.breaker.observe(rec) {
            tracing::error!(run_id = %self.replayer.run_id, reason = %reason,
                "circuit breaker: stopping the run; events not sent have no record (resume continues)");
            self.stop.cancel();
        }
    }

    /// Whether `rec` is a send that failed on `429`s while the adaptive pace can still slow
    /// down: the pace answers it, so the circuit breaker neither counts it nor lets it end a
    /// streak (see [`Pacer::can_slow_down`](super::pacer::Pacer::can_slow_down)).
    fn paced_away(&self, rec: &AuditRecord) -> bool {
        rec.status == ReplayStatus::Failed
            && rec.http_status == Some(429)
            && self.replayer.pacer.can_slow_down()
    }

    /// Whether the circuit breaker stopped the run.
    pub(super) fn breaker_tripped(&self) -> bool {
        self.breaker.tripped().is_some()
    }

    /// Counts an event an earlier run already delivered (resume): not sent, not recorded.
    pub(super) fn already_delivered(&mut self, now: DateTime<Utc>) {
        self.tally.add_already_replayed(now);
        self.progress(now);
    }

    fn progress(&self, now: DateTime<Utc>) {
        if let Some(p) = &self.replayer.progress {
            let mut progress = self.tally.progress(now);
            progress.pace = self.replayer.pacer.current();
            p(&progress);
        }
    }

    /// Flushes the sink, tells the monitor the run is complete and closes it, and returns the
    /// summary with the first audit error and the breaker's reason, if there were any.
    pub(super) async fn finish(mut self, interrupted: bool) -> Recorded {
        if let Err(e) = self.audit.flush().await {
            self.audit_error.get_or_insert(e);
        }
        let r = self.replayer;
        let mut summary = self.tally.summary(
            &r.run_id,
            self.clock.now(),
            interrupted,
            r.mode.is_dry_run(),
        );
        let pacing = r.pacer.report();
        summary.rate_limited = pacing.rate_limited;
        summary.held_ms = u64::try_from(pacing.held.as_millis()).unwrap_or(u64::MAX);
        summary.pace_per_second = pacing.pace;
        if summary.elapsed_ms > 0 {
            summary.sends_per_second = pacing.sends as f64 * 1000.0 / summary.elapsed_ms as f64;
        }
        let stopped = self.breaker.tripped().cloned();
        summary.stopped = stopped.as_ref().map(ToString::to_string);
        if let Some(m) = self.monitor {
            m.notify(MonitorEvent::Completed(&summary));
            summary.monitor_dropped = m.close().await;
        }
        Recorded {
            summary,
            audit_error: self.audit_error,
            stopped,
        }
    }
}
