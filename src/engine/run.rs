//! The run: stream → plan → send → record, driven through its phases.

use super::Replayer;
use super::feed::Feed;
use super::plan::{Known, Planned};
use super::record::{Recorded, Recorder};
use super::send::{Outgoing, Sends};
use crate::error::EngineError;
use crate::ports::{MonitorEvent, RunStarted};
use crate::resume::DeliveredKeys;
use crate::selection::EventSet;
use crate::summary::RunSummary;
use cxone_replay_domain::{AuditRecord, ReplayStatus};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Where a run is.
enum Phase {
    /// Planning events, sending replays, fetching pages, recording outcomes.
    Running,
    /// Stopped (cancelled, the audit sink failed, or the circuit breaker tripped): no more
    /// planning, sending or fetching;
    /// the sends in flight finish and are recorded until `deadline`, then the rest are
    /// abandoned (and recorded as such).
    Draining {
        deadline: Pin<Box<dyn Future<Output = ()> + Send>>,
    },
    /// Nothing is in flight any more.
    Done,
}

/// The state of a run, owned by the dispatcher.
struct Dispatch<'a> {
    replayer: &'a Replayer,
    known: Known,
    feed: Feed,
    /// A planned replay waiting for a free slot and the pace.
    pending: Option<Outgoing>,
    sends: Sends,
    recorder: Recorder<'a>,
    stop: CancellationToken,
    /// Whether events were left (unseen, or planned but not sent) when the run was cancelled
    /// or its audit sink failed (a stop of the circuit breaker is told by `stopped` instead).
    interrupted: bool,
    /// Replays planned for sending (or `DRY_RUN` records), counted against the limit.
    planned: u64,
    /// The records of the sends that finished together, handed to the sink in one call (kept
    /// to reuse its allocation; at most the concurrency long).
    batch: Vec<AuditRecord>,
}

impl Replayer {
    /// Runs the replay to its end (or cancellation) and returns its summary.
    ///
    /// # Errors
    /// [`EngineError::Resume`] if earlier outcomes cannot be read; [`EngineError::Fetch`] if
    /// the DLQ cannot be fetched (fetching stops, every event already seen is finished and
    /// audited first); [`EngineError::Audit`] if the audit sink fails (the run stops);
    /// [`EngineError::Stopped`] if the circuit breaker stopped the run (in-flight sends
    /// finished and audited, events not sent left without a record for a resume). The last
    /// three carry the summary of what was done.
    ///
    /// The run, and everything it logs, is in a `run` span with its `run_id`; its sends in
    /// `topic` and `send` spans below it (`topic`; `event_id`, `attempt`).
    pub async fn run(self) -> Result<RunSummary, EngineError> {
        let span = tracing::info_span!("run", run_id = %self.run_id);
        self.run_in_span().instrument(span).await
    }

    async fn run_in_span(self) -> Result<RunSummary, EngineError> {
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
        let dry_run = self.mode.is_dry_run();
        if let Some(m) = &self.monitor {
            m.notify(MonitorEvent::Started(&RunStarted {
                run_id: self.run_id.clone(),
                topics: self.topics.iter().map(|t| t.to_string()).collect(),
                dry_run,
                resume: self.resume,
                started_at: started,
            }));
        }
        tracing::info!(run_id = %self.run_id, topics = ?self.topics, resume = self.resume,
            resumed_keys = delivered.len(), dry_run, "replay started");

        self.pacer.start();
        let _watching = self.watch_exchanges();
        let stop = self.cancel.child_token();
        let mut run = Dispatch {
            replayer: &self,
            known: Known {
                delivered,
                seen: EventSet::new(),
            },
            feed: Feed::start(
                Arc::clone(&self.source),
                self.topics.clone(),
                self.page_size,
                self.start_token.clone(),
                stop.clone(),
            ),
            pending: None,
            sends: Sends::new(Arc::clone(&self.clock)),
            recorder: Recorder::new(&self, started, stop.clone()),
            stop,
            interrupted: false,
            planned: 0,
            batch: Vec::new(),
        };
        let mut phase = Phase::Running;
        loop {
            phase = match phase {
                Phase::Running => run.running().await,
                Phase::Draining { deadline } => run.draining(deadline).await,
                Phase::Done => break,
            };
        }
        let limit_reached = run.limit_reached();
        let Dispatch {
            feed,
            recorder,
            interrupted,
            ..
        } = run;
        let fetch_error = feed.close();
        let Recorded {
            mut summary,
            audit_error,
            stopped,
        } = recorder.finish(interrupted).await;
        summary.limit_reached = limit_reached;
        tracing::info!(run_id = %self.run_id, seen = summary.seen, interrupted, limit_reached,
            stopped = summary.stopped.as_deref(), "replay finished");
        if let Some(source) = audit_error {
            return Err(EngineError::Audit {
                summary: Box::new(summary),
                source,
            });
        }
        if let Some(reason) = stopped {
            return Err(EngineError::Stopped {
                reason,
                summary: Box::new(summary),
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
}

impl Dispatch<'_> {
    /// Whether the run's limit of sends (or dry-run records) is used up: then no more events
    /// are taken, and the run ends once what is in flight is recorded.
    fn limit_reached(&self) -> bool {
        self.replayer.limit.is_some_and(|n| self.planned >= n.get())
    }

    /// One step of a running run: plan events until one needs sending, then do whichever comes
    /// first of: the stop, a free slot and the pace for the planned send, a send finishing, the
    /// next page.
    async fn running(&mut self) -> Phase {
        while self.pending.is_none() && !self.stop.is_cancelled() && !self.limit_reached() {
            let Some((topic, event)) = self.feed.next_event() else {
                break;
            };
            let now = self.replayer.clock.now();
            match self.replayer.plan(&topic, event, &mut self.known, now) {
                Planned::Record(rec) => {
                    if rec.status == ReplayStatus::DryRun {
                        self.planned += 1;
                    }
                    self.recorder.record(rec).await;
                }
                Planned::AlreadyDelivered => self.recorder.already_delivered(now),
                Planned::Send(out) => {
                    self.planned += 1;
                    self.pending = Some(out);
                }
            }
        }
        if self.stop.is_cancelled() {
            return self.drain();
        }
        let more = self.feed.has_more() && !self.limit_reached();
        if self.pending.is_none() && self.sends.is_empty() && !more {
            return Phase::Done;
        }
        let can_send = self.pending.is_some() && self.sends.len() < self.replayer.concurrency;
        let want_page = self.pending.is_none() && more && self.feed.wants_page();
        let pacer = &self.replayer.pacer;
        let sleeper = self.replayer.sleeper.as_ref();
        tokio::select! {
            biased;
            () = self.stop.cancelled() => self.drain(),
            () = pacer.until_ready(sleeper), if can_send => {
                if let Some(out) = self.pending.take() {
                    self.sends.spawn(out);
                    self.replayer.observe_in_flight(self.sends.len());
                }
                Phase::Running
            }
            Some((info, done)) = self.sends.join_next(), if !self.sends.is_empty() => {
                // With it, the sends that finished meanwhile: one call of the sink for all.
                self.batch.push(self.replayer.sent_record(&info, done));
                while let Some((info, done)) = self.sends.try_join_next() {
                    self.batch.push(self.replayer.sent_record(&info, done));
                }
                self.replayer.observe_in_flight(self.sends.len());
                self.recorder.record_all(&mut self.batch).await;
                Phase::Running
            }
            () = self.feed.next_page(), if want_page => Phase::Running,
        }
    }

    /// Stops planning, sending and fetching; what is in flight may finish until the drain
    /// timeout.
    fn drain(&mut self) -> Phase {
        // A planned replay that was not sent has no record: it is left for a resume.
        let unsent = self.pending.take().is_some();
        self.interrupted = (unsent || self.feed.has_more()) && !self.recorder.breaker_tripped();
        Phase::Draining {
            deadline: self.replayer.sleeper.sleep(self.replayer.drain_timeout),
        }
    }

    /// One step of a draining run: a send finishes and is recorded, or the deadline passes and
    /// every send still in flight is abandoned and recorded.
    async fn draining(&mut self, mut deadline: Pin<Box<dyn Future<Output = ()> + Send>>) -> Phase {
        if self.sends.is_empty() {
            return Phase::Done;
        }
        tokio::select! {
            biased;
            () = &mut deadline => {
                self.abandon().await;
                Phase::Done
            }
            Some((info, done)) = self.sends.join_next() => {
                self.replayer.observe_in_flight(self.sends.len());
                let rec = self.replayer.sent_record(&info, done);
                self.recorder.record(rec).await;
                Phase::Draining { deadline }
            }
        }
    }

    /// Past the drain timeout: abandons what is still in flight, but records it.
    async fn abandon(&mut self) {
        self.interrupted = true;
        self.sends.abort_all();
        while let Some((info, done)) = self.sends.join_next().await {
            self.replayer.observe_in_flight(self.sends.len());
            let rec = self.replayer.sent_record(&info, done);
            self.recorder.record(rec).await;
        }
    }
}
