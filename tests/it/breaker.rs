//! The circuit breaker (issue 15, item 5), with in-memory fakes and paused Tokio time.

use crate::fakes::*;
use cxone_dlq_replay::domain::{FailureClass, ReplayStatus, StopReason, Throttling};
use cxone_dlq_replay::{EngineError, JsonlAuditLog, Pace, Replayer, RunSummary, SendOutcome};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The event number in a key `replay-evt-NNNNNNN-vA`.
fn number(key: &str) -> usize {
    key.trim_start_matches("replay-evt-")[..7].parse().unwrap()
}

fn failing(f: impl Fn(usize) -> Option<SendOutcome> + Send + Sync + 'static) -> FakeTarget {
    FakeTarget {
        script: Some(Arc::new(move |key: &str| f(number(key)))),
        ..FakeTarget::default()
    }
}

fn unavailable() -> SendOutcome {
    SendOutcome::failed(
        FailureClass::MaxRetriesExceeded,
        Some(503),
        5,
        "HTTP 503 after 5 attempt(s)",
    )
}

/// Runs `n` events (exhausted where `exhausted(i)`) into `tgt`; the run's error, if any.
async fn run(
    n: usize,
    tgt: &FakeTarget,
    audit: &MemoryAudit,
    concurrency: usize,
    stop_after: Option<u32>,
) -> Result<RunSummary, EngineError> {
    let mut b = Replayer::builder()
        .topic("t")
        .source(FakeSource::new(n).kinds(|i| {
            if i % 7 == 3 {
                Kind::Exhausted
            } else {
                Kind::Ok
            }
        }))
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(concurrency);
    if let Some(k) = stop_after {
        b = b.stop_after_failures(k);
    }
    b.build().unwrap().run().await
}

fn stopped(r: Result<RunSummary, EngineError>) -> (StopReason, RunSummary) {
    match r {
        Err(EngineError::Stopped { reason, summary }) => (reason, *summary),
        other => panic!("not stopped: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn fifty_transient_failures_in_a_row_stop_the_run_and_a_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let tgt = failing(|_| Some(unavailable()));
    let src = FakeSource::new(150);
    let r = Replayer::builder()
        .topic("t")
        .source(src.clone())
        .target(tgt.clone())
        .audit(JsonlAuditLog::open(&log).unwrap())
        .concurrency(1)
        .build()
        .unwrap()
        .run()
        .await;
    let (reason, s) = stopped(r);
    assert_eq!(
        reason,
        StopReason::ConsecutiveFailures {
            count: 50,
            last_class: FailureClass::MaxRetriesExceeded,
            http_status: Some(503)
        }
    );
    assert_eq!(tgt.total_sends(), 50, "not every event is tried");
    assert_eq!((s.seen, s.counts.failed), (50, 50));
    assert!(!s.interrupted, "a breaker stop is not a cancellation");
    assert_eq!(s.stopped.as_deref(), Some(reason.to_string().as_str()));
    let json = serde_json::to_value(&s).unwrap();
    assert!(
        json["stopped"]
            .as_str()
            .unwrap()
            .starts_with("50 events in a row failed")
    );
    let log_report = cxone_dlq_replay::AuditLog::read(&log).unwrap();
    assert_eq!(
        log_report.records.len(),
        50,
        "no record for the events not sent"
    );

    // The API is back: a resume delivers every event exactly once (the 50 failed included).
    let ok = FakeTarget::default();
    let s = Replayer::builder()
        .topic("t")
        .source(src)
        .target(ok.clone())
        .audit(JsonlAuditLog::open(&log).unwrap())
        .resume(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!((s.counts.success, s.already_replayed), (150, 0));
    assert_eq!((ok.total_sends(), ok.max_sends_per_key()), (150, 1));
    assert_eq!(s.stopped, None);
    let summary = cxone_dlq_replay::AuditLog::summary(&log).unwrap();
    assert_eq!((summary.events, summary.final_counts.success), (150, 150));
}

#[tokio::test(start_paused = true)]
async fn sends_in_flight_when_it_trips_finish_and_are_recorded() {
    let tgt = FakeTarget {
        delay: Some(Duration::from_millis(10)),
        ..failing(|_| Some(unavailable()))
    };
    let audit = MemoryAudit::default();
    let (_, s) = stopped(run(300, &tgt, &audit, 8, Some(20)).await);
    let sends = tgt.total_sends();
    let failed = audit
        .records()
        .iter()
        .filter(|r| r.status == ReplayStatus::Failed)
        .count() as u64;
    assert_eq!(failed, sends, "every send started is recorded (the drain)");
    assert_eq!(s.counts.failed, sends);
    assert!((20..20 + 8).contains(&sends), "{sends} sends");
    assert!(!s.interrupted);
}

#[tokio::test(start_paused = true)]
async fn an_auth_failure_of_a_send_stops_the_run_at_once() {
    for (class, status) in [
        (FailureClass::Unauthorized, 401),
        (FailureClass::Forbidden, 403),
    ] {
        let tgt = failing(move |i| {
            (i >= 4).then(|| SendOutcome::failed(class, Some(status), 2, format!("HTTP {status}")))
        });
        let audit = MemoryAudit::default();
        let r = run(150, &tgt, &audit, 1, None).await;
        assert!(!r.as_ref().unwrap_err().is_retryable());
        let (reason, s) = stopped(r);
        assert_eq!(
            reason,
            StopReason::AuthFailed {
                class,
                http_status: Some(status)
            }
        );
        assert!(reason.is_auth());
        // events 0..=4 (3 is exhausted: a skip), the fifth send failed: nothing after it.
        assert_eq!(tgt.total_sends(), 4, "{class}");
        assert_eq!(
            (s.counts.success, s.counts.failed, s.counts.skipped),
            (3, 1, 1)
        );
        assert!(s.stopped.as_deref().unwrap().contains(class.as_str()));
    }
}

#[tokio::test(start_paused = true)]
async fn zero_never_stops_and_anything_answered_ends_a_streak() {
    let audit = MemoryAudit::default();
    let tgt = failing(|_| Some(unavailable()));
    let s = run(150, &tgt, &audit, 1, Some(0)).await.unwrap();
    assert_eq!(
        (tgt.total_sends(), s.counts.failed, s.stopped),
        (129, 129, None)
    );

    // A few transient failures (at most eight: a skip in place of a success neither ends a
    // streak nor counts), then a success or a permanent failure, over and over, with a limit
    // of ten: never ten in a row.
    let tgt = failing(|i| match i % 10 {
        0 => None,
        5 => Some(SendOutcome::failed(
            FailureClass::SchemaViolation,
            Some(422),
            1,
            "422",
        )),
        _ => Some(unavailable()),
    });
    let s = run(150, &tgt, &MemoryAudit::default(), 1, Some(10))
        .await
        .unwrap();
    assert_eq!(s.stopped, None);
    assert_eq!(tgt.total_sends(), 129);

    // Without the permanent failure in the middle: stopped at the fifth failure in a row
    // (events 1, 2, 4, 5, 6; 3 is a skip).
    let tgt = failing(|i| (i % 10 != 0).then(unavailable));
    let (reason, s) = stopped(run(150, &tgt, &MemoryAudit::default(), 1, Some(5)).await);
    assert!(matches!(
        reason,
        StopReason::ConsecutiveFailures { count: 5, .. }
    ));
    assert_eq!((s.counts.success, s.counts.failed), (1, 5));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_never_trips() {
    let s = Replayer::builder()
        .topic("t")
        .source(FakeSource::new(120))
        .audit(MemoryAudit::default())
        .dry_run(true)
        .stop_after_failures(1)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!((s.counts.dry_run, s.stopped), (120, None));
}

/// Runs 60 events into a target that throttles the first 30 (each a `429` it reports, failed
/// after its attempts) and accepts the rest, at `pace`, stopping after 10 failures in a row.
async fn throttled_run(pace: Pace, reports: bool) -> Result<RunSummary, EngineError> {
    let clock = Arc::new(TokioClock::new());
    let throttling = Arc::new(Mutex::new(Throttling::default()));
    let script = {
        let throttling = Arc::clone(&throttling);
        Arc::new(move |key: &str| {
            (number(key) < 30).then(|| {
                throttling.lock().unwrap().record_throttle();
                SendOutcome::failed(
                    FailureClass::MaxRetriesExceeded,
                    Some(429),
                    5,
                    "HTTP 429 after 5 attempt(s)",
                )
            })
        })
    };
    let tgt = FakeTarget {
        throttling: reports.then_some(throttling),
        script: Some(script),
        ..FakeTarget::default()
    };
    Replayer::builder()
        .topic("t")
        .source(FakeSource::new(60))
        .target(tgt)
        .audit(MemoryAudit::default())
        .concurrency(1)
        .pacing(pace)
        .stop_after_failures(10)
        .clock(clock)
        .build()
        .unwrap()
        .run()
        .await
}

#[tokio::test(start_paused = true)]
async fn under_rate_auto_failures_on_429s_do_not_stop_the_run_while_the_pace_can_slow_down() {
    // Every failure cuts the pace (at most to 10 × 0.81^30 ≈ 0.02/s): never down to its min.
    let auto = Pace::Adaptive {
        min: 0.001,
        max: 100.0,
    };
    let s = throttled_run(auto, true).await.unwrap();
    assert_eq!((s.counts.failed, s.counts.success), (30, 30));
    assert_eq!((s.stopped, s.rate_limited), (None, 30));

    // Where no slower pace will be tried, they count as any transient failure: at a fixed
    // pace, at the adaptive pace's min, or when the target does not report its throttling.
    let min = Pace::Adaptive {
        min: 10.0,
        max: 10.0,
    };
    for (pace, reports) in [(Pace::Fixed(10.0), true), (min, true), (auto, false)] {
        let (reason, s) = stopped(throttled_run(pace, reports).await);
        assert_eq!(
            reason,
            StopReason::ConsecutiveFailures {
                count: 10,
                last_class: FailureClass::MaxRetriesExceeded,
                http_status: Some(429)
            },
            "{pace:?} {reports}"
        );
        assert_eq!(s.counts.failed, 10, "{pace:?} {reports}");
    }
}
