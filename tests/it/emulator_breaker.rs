//! End to end against the emulator (issue 15): the same eventIds in two topics (item 1), and a
//! replay endpoint that is down or refuses the client (item 5).

use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::{
    Decision, EventFilter, FailureClass, KeyScheme, ReplayPolicy, ReplayStatus, RetryBudget,
    RetryPolicy, StopReason, plan,
};
use cxone_dlq_replay::{AuditLog, EngineError, JsonlAuditLog, Replayer, RunSummary};
use cxone_eventbridge_emulator::{Emulator, EmulatorHandle, ROUTE_PUT, ROUTE_TOKEN};
use secrecy::SecretString;
use std::path::Path;
use std::time::Duration;

/// HTTP attempts per request of the clients here.
const ATTEMPTS: u32 = 3;

fn client(emu: &EmulatorHandle) -> Client {
    Client::builder()
        .base_url(emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_string()),
        )
        .retry_policy(
            RetryPolicy::new(ATTEMPTS, Duration::from_millis(1), Duration::from_millis(2)).unwrap(),
        )
        .retry_budget(RetryBudget::new(1_000_000, 1, 1, 1))
        .max_connections(8)
        .build()
        .unwrap()
}

/// The event ids of `topic` that plan to a replay.
fn eligible(emu: &EmulatorHandle, topic: &str) -> Vec<String> {
    emu.events(topic)
        .iter()
        .filter(|e| {
            matches!(
                plan(
                    e,
                    topic,
                    &ReplayPolicy::default(),
                    &EventFilter::default(),
                    chrono::Utc::now()
                ),
                Decision::Replay(_)
            )
        })
        .map(|e| e.event_id.clone())
        .collect()
}

async fn replay(
    emu: &EmulatorHandle,
    topics: &[&str],
    scheme: KeyScheme,
    log: &Path,
    resume: bool,
    concurrency: usize,
) -> Result<RunSummary, EngineError> {
    let c = client(emu);
    Replayer::builder()
        .topics(topics.iter().copied())
        .policy(ReplayPolicy::default().key_scheme(scheme))
        .source(c.clone())
        .target(c)
        .audit(JsonlAuditLog::open(log).unwrap())
        .concurrency(concurrency)
        .resume(resume)
        .build()
        .unwrap()
        .run()
        .await
}

async fn fan_out() -> EmulatorHandle {
    Emulator::builder()
        .events(40)
        .topics(["t1", "t2"])
        .fan_out(true)
        .exhausted_fraction(0.1)
        .seed(3)
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_over_two_topics_sends_the_second_topics_events() {
    // The emulator dedupes keys across topics: with the tutorial's key, the second topic's
    // replays are answered 409. What matters here is that they are sent at all: before the fix
    // a resume took them for delivered and sent nothing to t2.
    let emu = fan_out().await;
    let ids = eligible(&emu, "t1");
    assert_eq!(ids, eligible(&emu, "t2"), "the same events in both topics");
    assert!(ids.len() >= 30);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let first = replay(&emu, &["t1"], KeyScheme::EventScoped, &log, false, 8)
        .await
        .unwrap();
    assert_eq!(first.counts.success, ids.len() as u64);
    let puts = emu.ledger().requests_on(ROUTE_PUT);

    let second = replay(&emu, &["t1", "t2"], KeyScheme::EventScoped, &log, true, 8)
        .await
        .unwrap();
    assert_eq!(second.already_replayed, ids.len() as u64, "t1 only");
    // Every t2 event has its record (and t1's skips are recorded again).
    let skips = 40 - ids.len() as u64;
    assert_eq!(second.seen, 40 + skips);
    assert_eq!(second.counts.duplicate, ids.len() as u64);
    let ledger = emu.ledger();
    assert_eq!(ledger.requests_on(ROUTE_PUT) - puts, ids.len() as u64);
    assert_eq!(ledger.duplicates, ids.len() as u64);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_scoped_keys_deliver_every_t2_event_after_a_t1_run_and_a_resume_over_both() {
    let emu = fan_out().await;
    let ids = eligible(&emu, "t1");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let first = replay(&emu, &["t1"], KeyScheme::TopicScoped, &log, false, 8)
        .await
        .unwrap();
    assert_eq!(first.counts.success, ids.len() as u64);
    let second = replay(&emu, &["t1", "t2"], KeyScheme::TopicScoped, &log, true, 8)
        .await
        .unwrap();
    assert_eq!(second.already_replayed, ids.len() as u64);
    assert_eq!(
        (second.seen, second.counts.success, second.counts.duplicate),
        (40 + (40 - ids.len() as u64), ids.len() as u64, 0)
    );
    let ledger = emu.ledger();
    assert!(ledger.violations.is_empty(), "{:?}", ledger.violations);
    assert_eq!(ledger.duplicates, 0);
    for id in &ids {
        assert_eq!(ledger.accepted.get(id), Some(&2), "{id}: once per topic");
        for t in ["t1", "t2"] {
            let key = format!("replay-{t}-{id}-v");
            let n: u64 = ledger
                .accepted_keys
                .iter()
                .filter(|(k, _)| k.starts_with(&key))
                .map(|(_, n)| n)
                .sum();
            assert_eq!(n, 1, "{key}*");
        }
    }
    // A third run: nothing left anywhere.
    let third = replay(&emu, &["t1", "t2"], KeyScheme::TopicScoped, &log, true, 8)
        .await
        .unwrap();
    assert_eq!(third.already_replayed, 2 * ids.len() as u64);
    assert_eq!(third.counts.success + third.counts.duplicate, 0);
    emu.shutdown().await;
}

fn stopped(r: Result<RunSummary, EngineError>) -> (StopReason, RunSummary) {
    match r {
        Err(EngineError::Stopped { reason, summary }) => (reason, *summary),
        other => panic!("not stopped by the breaker: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_endpoint_that_is_down_stops_the_run_and_a_resume_delivers_the_rest_once() {
    const TOPIC: &str = "topic_pub_conversations";
    let emu = Emulator::builder()
        .events(150)
        .put_status(503)
        .seed(5)
        .start()
        .await
        .unwrap();
    let ids = eligible(&emu, TOPIC);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    // One event at a time: exactly 50 (the default) failed events, nothing in flight.
    let (reason, s) = stopped(replay(&emu, &[TOPIC], KeyScheme::EventScoped, &log, false, 1).await);
    assert_eq!(
        reason,
        StopReason::ConsecutiveFailures {
            count: 50,
            last_class: FailureClass::MaxRetriesExceeded,
            http_status: Some(503)
        }
    );
    assert_eq!(s.counts.failed, 50);
    assert_eq!(s.failures.get(&FailureClass::MaxRetriesExceeded), Some(&50));
    assert_eq!(s.stopped.as_deref(), Some(reason.to_string().as_str()));
    assert!(!s.interrupted);
    let ledger = emu.ledger();
    assert_eq!(ledger.requests_on(ROUTE_PUT), 50 * u64::from(ATTEMPTS));
    assert_eq!(
        ledger.rejections.get(&503),
        Some(&(50 * u64::from(ATTEMPTS)))
    );
    assert!(ledger.accepted.is_empty());
    // Records: the skips seen before the stop, and the 50 failures; none for the rest.
    let report = AuditLog::read(&log).unwrap();
    assert_eq!(report.records.len() as u64, s.seen);
    assert!(s.seen < 150);

    // The endpoint is back: a resume delivers every eligible event exactly once.
    emu.set_put_status(None).unwrap();
    let s = replay(&emu, &[TOPIC], KeyScheme::EventScoped, &log, true, 8)
        .await
        .unwrap();
    assert_eq!(
        (s.counts.success, s.counts.failed, s.stopped),
        (ids.len() as u64, 0, None)
    );
    let ledger = emu.ledger();
    assert_eq!(ledger.accepted.len(), ids.len());
    assert!(ledger.accepted.values().all(|&n| n == 1));
    assert_eq!(ledger.duplicates, 0);
    let summary = AuditLog::summary(&log).unwrap();
    assert_eq!((summary.events, summary.final_counts.failed), (150, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sends_in_flight_the_stop_drains_them() {
    let emu = Emulator::builder()
        .events(300)
        .put_status(503)
        .latency(Duration::from_millis(2), Duration::ZERO)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let (_, s) = stopped(
        replay(
            &emu,
            &["topic_pub_conversations"],
            KeyScheme::EventScoped,
            &log,
            false,
            4,
        )
        .await,
    );
    // The 50th failure stops the run; up to 3 more were in flight and are recorded.
    assert!((50..=53).contains(&s.counts.failed), "{}", s.counts.failed);
    assert_eq!(
        emu.ledger().requests_on(ROUTE_PUT),
        s.counts.failed * u64::from(ATTEMPTS)
    );
    let report = AuditLog::read(&log).unwrap();
    let failed = report
        .records
        .iter()
        .filter(|r| r.status == ReplayStatus::Failed)
        .count();
    assert_eq!(failed as u64, s.counts.failed);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_stops_at_the_first_send() {
    for (status, class, puts, tokens) in [
        // 401: one refresh and one retry, then the run stops (before: a new token per event)
        (401, FailureClass::Unauthorized, 2, 2),
        (403, FailureClass::Forbidden, 1, 1),
    ] {
        let emu = Emulator::builder()
            .events(150)
            .put_status(status)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let (reason, s) = stopped(
            replay(
                &emu,
                &["topic_pub_conversations"],
                KeyScheme::EventScoped,
                &log,
                false,
                1,
            )
            .await,
        );
        assert_eq!(
            reason,
            StopReason::AuthFailed {
                class,
                http_status: Some(status)
            }
        );
        assert_eq!(s.counts.failed, 1);
        let ledger = emu.ledger();
        assert_eq!(ledger.requests_on(ROUTE_PUT), puts, "{status}");
        assert_eq!(ledger.tokens_issued, tokens, "{status}");
        assert_eq!(ledger.requests_on(ROUTE_TOKEN), tokens, "{status}");
        emu.shutdown().await;
    }
}
