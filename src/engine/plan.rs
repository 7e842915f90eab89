//! Plan: what happens to one event, decided by the domain's pure `plan` and the run's mode.

use super::send::{InFlight, Outgoing};
use super::{Mode, Replayer};
use crate::resume::DeliveredKeys;
use crate::selection::EventSet;
use chrono::{DateTime, Utc};
use cxone_replay_domain::{
    AuditContext, AuditRecord, Decision, DestinationOverride, DlqEvent, Skip, SkipReason,
};
use std::sync::Arc;

/// The message of an event outside the run's event set.
const NOT_SELECTED: &str = "not among the events selected for this run";

/// What the plan of one event says to do.
pub(super) enum Planned {
    /// Record it at once: a skip (a repeat within the run included), or a dry run's `DRY_RUN`.
    Record(AuditRecord),
    /// Resume: an earlier run delivered it; count it, neither send nor record it.
    AlreadyDelivered,
    /// Send it; it is recorded when its final outcome is known.
    Send(Outgoing),
}

/// What the run knows while planning: what earlier runs delivered, what this run took.
pub(super) struct Known {
    pub(super) delivered: DeliveredKeys,
    /// The events this run took for replay or found delivered by an earlier run (not every
    /// event it saw: skips are not kept), to tell a repeat within the run; about 35 bytes per
    /// event.
    pub(super) seen: EventSet,
}

impl Replayer {
    /// Plans `event` of `topic` at `now`: the domain's decision, then a repeat within this run
    /// (recorded `DUPLICATE_IN_RUN`, not sent), then resume (delivered by an earlier run: not
    /// sent, not recorded, counted in `already_replayed`).
    pub(super) fn plan(
        &self,
        topic: &Arc<str>,
        event: DlqEvent,
        known: &mut Known,
        now: DateTime<Utc>,
    ) -> Planned {
        let ctx = AuditContext {
            run_id: &self.run_id,
            topic_id: topic,
            event_id: &event.event_id,
            destination: self.destination(topic),
        };
        let decision = cxone_replay_domain::plan(&event, topic, &self.policy, &self.filter, now);
        let planned = match self.select(topic, &event.event_id, decision) {
            Decision::Skip(skip) => return Planned::Record(AuditRecord::skipped(&ctx, &skip, now)),
            Decision::Replay(planned) => planned,
        };
        let key = planned.idempotency_key();
        let attempt = planned.payload.retry_matrix.current_attempt;
        // A repeat first: an event that came up earlier in this run is a repeat, whether that
        // first time was sent or found delivered by an earlier run (counted once, not again).
        if !known.seen.insert(topic, &event.event_id) {
            let skip = Skip {
                reason: SkipReason::DuplicateInRun,
                detail: format!(
                    "eventId `{}` came up again in the DLQ of topic `{topic}` in this run; \
                     it is replayed once",
                    event.event_id
                ),
                idempotency_key: Some(key.clone()),
                attempt: Some(attempt),
            };
            return Planned::Record(AuditRecord::skipped(&ctx, &skip, now));
        }
        if !known.delivered.is_empty() && known.delivered.contains(topic, &event.event_id, attempt)
        {
            return Planned::AlreadyDelivered;
        }
        match &self.mode {
            Mode::DryRun => Planned::Record(AuditRecord::dry_run(
                &ctx,
                key.as_str(),
                attempt,
                planned.body.len(),
                now,
            )),
            Mode::Send(target) => Planned::Send(Outgoing {
                target: Arc::clone(target),
                info: InFlight {
                    topic: Arc::clone(topic),
                    key: key.clone(),
                    attempt,
                    event_id: event.event_id,
                },
                body: planned.body,
            }),
        }
    }

    /// The domain's decision, with the run's event set applied on top: an event outside it is
    /// `FILTERED`, as the domain's own filter would have it (an invalid event stays
    /// `INVALID_EVENT`).
    fn select(&self, topic: &str, event_id: &str, decision: Decision) -> Decision {
        let Some(only) = &self.only else {
            return decision;
        };
        if only.contains(topic, event_id) {
            return decision;
        }
        let filtered = |idempotency_key, attempt| {
            Decision::Skip(Skip {
                reason: SkipReason::Filtered,
                detail: NOT_SELECTED.into(),
                idempotency_key,
                attempt,
            })
        };
        match decision {
            Decision::Skip(s) if s.reason == SkipReason::InvalidEvent => Decision::Skip(s),
            Decision::Skip(s) => filtered(s.idempotency_key, s.attempt),
            Decision::Replay(p) => filtered(
                Some(p.idempotency_key().clone()),
                Some(p.payload.retry_matrix.current_attempt),
            ),
        }
    }

    /// Where the replays of `topic` go: the destination override, else the topic.
    pub(super) fn destination<'a>(&'a self, topic: &'a str) -> &'a str {
        self.policy
            .get_destination_override()
            .map_or(topic, DestinationOverride::as_str)
    }
}
