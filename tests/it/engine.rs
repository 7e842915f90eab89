//! The engine's guarantees, with in-memory fakes and paused Tokio time.

use crate::fakes::*;
use cxone_dlq_replay::domain::{FailureClass, ReplayStatus, SkipReason};
use cxone_dlq_replay::{
    AuditLog, EngineError, JsonlAuditLog, Progress, Replayer, SendOutcome, Setting, TokioSleeper,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn base(n: usize) -> (FakeSource, FakeTarget, MemoryAudit) {
    (
        FakeSource::new(n),
        FakeTarget {
            delay: Some(Duration::from_millis(10)),
            ..FakeTarget::default()
        },
        MemoryAudit::default(),
    )
}

#[tokio::test(start_paused = true)]
async fn never_more_than_concurrency_in_flight_and_each_event_sent_once() {
    let (src, tgt, audit) = base(300);
    let summary = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(5)
        .page_size(7)
        .clock(Arc::new(TokioClock::new()))
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(tgt.max_in_flight.load(Ordering::SeqCst), 5);
    assert_eq!(tgt.total_sends(), 300);
    assert_eq!(tgt.max_sends_per_key(), 1);
    assert_eq!(summary.seen, 300);
    assert_eq!(summary.counts.success, 300);
    assert_eq!(summary.counts.total(), summary.seen);
    assert!(!summary.interrupted);
    // paused time: each send takes exactly 10 ms
    assert!(
        (summary.latency_ms.p50 - 10.0).abs() < 0.5,
        "{:?}",
        summary.latency_ms
    );
    let recs = audit.records();
    assert_eq!(assert_one_record_per_event(&recs), 300);
    assert!(
        recs.iter()
            .all(|r| r.http_status == Some(201) && r.http_attempts == 1)
    );
    assert_eq!(audit.flushes.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn pace_is_respected_on_a_fake_clock() {
    let clock = Arc::new(TokioClock::new());
    let tgt = FakeTarget {
        clock: Some(clock.clone()),
        ..FakeTarget::default()
    };
    let summary = Replayer::builder()
        .topic("t")
        .source(FakeSource::new(40))
        .target(tgt.clone())
        .audit(MemoryAudit::default())
        .concurrency(8)
        .pace(20.0)
        .clock(clock)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(summary.counts.success, 40);
    let times = tgt.send_times.lock().unwrap().clone();
    assert_eq!(times.len(), 40);
    for w in times.windows(2) {
        let gap = (w[1] - w[0]).to_std().unwrap();
        assert!(
            gap >= Duration::from_millis(50),
            "sends {gap:?} apart at 20/s"
        );
    }
    let span = (times[39] - times[0]).to_std().unwrap();
    assert!(span >= Duration::from_millis(39 * 50), "{span:?}");
    assert!(
        span < Duration::from_millis(39 * 50 + 50),
        "pacing much slower than asked: {span:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hold_pauses_paced_sends_which_resume_one_period_apart() {
    use cxone_dlq_replay::domain::Throttling;
    let clock = Arc::new(TokioClock::new());
    let throttling = Arc::new(Mutex::new(Throttling::default()));
    let sent = Arc::new(AtomicUsize::new(0));
    // The third send is answered 429 with `Retry-After: 1`: the target holds everything.
    let script = {
        let (clock, throttling, sent) = (clock.clone(), throttling.clone(), sent.clone());
        Arc::new(move |_: &str| {
            if sent.fetch_add(1, Ordering::SeqCst) == 2 {
                let now = cxone_dlq_replay::Clock::now(clock.as_ref());
                let mut t = throttling.lock().unwrap();
                t.record_throttle();
                t.hold(now, now + chrono::TimeDelta::seconds(1));
            }
            None
        })
    };
    let tgt = FakeTarget {
        clock: Some(clock.clone()),
        throttling: Some(throttling),
        script: Some(script),
        ..FakeTarget::default()
    };
    let summary = Replayer::builder()
        .topic("t")
        .source(FakeSource::new(8))
        .target(tgt.clone())
        .audit(MemoryAudit::default())
        .concurrency(8)
        .pace(50.0)
        .clock(clock)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(summary.counts.success, 8);
    let times = tgt.send_times.lock().unwrap().clone();
    let ms: Vec<i64> = times
        .iter()
        .map(|t| (*t - times[0]).num_milliseconds())
        .collect();
    // 0, 20, 40 (the 429 and its hold until 1040), then one period apart: no burst.
    assert_eq!(ms, [0, 20, 40, 1040, 1060, 1080, 1100, 1120], "{ms:?}");
    assert_eq!((summary.rate_limited, summary.held_ms), (1, 1000));
    assert_eq!(summary.pace_per_second, Some(50.0));
}

#[tokio::test(start_paused = true)]
async fn dry_run_sends_nothing_and_audits_every_event() {
    let src = FakeSource::new(100).kinds(|i| {
        if i % 10 == 0 {
            Kind::Exhausted
        } else {
            Kind::Ok
        }
    });
    let (_, tgt, audit) = base(0);
    let summary = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .dry_run(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(tgt.total_sends(), 0);
    assert_eq!(summary.counts.dry_run, 90);
    assert_eq!(summary.counts.skipped, 10);
    assert_eq!(
        summary.skips.get(&SkipReason::RetryWindowExceeded),
        Some(&10)
    );
    assert!(summary.dry_run);
    let recs = audit.records();
    assert_eq!(assert_one_record_per_event(&recs), 100);
    assert!(
        recs.iter()
            .filter(|r| r.status == ReplayStatus::DryRun)
            .all(|r| r
                .idempotency_key
                .as_deref()
                .is_some_and(|k| k.starts_with("replay-evt-")))
    );
    // no target needed at all for a dry run
    assert!(
        Replayer::builder()
            .topic("t")
            .source(FakeSource::new(1))
            .audit(MemoryAudit::default())
            .dry_run(true)
            .build()
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn one_final_record_per_event_whatever_the_outcome() {
    let kinds = |i: usize| match i % 10 {
        1 => Kind::Exhausted,
        2 => Kind::Invalid,
        3 if i % 20 == 3 => Kind::Oversize,
        _ => Kind::Ok,
    };
    let src = FakeSource::new(200).kinds(kinds);
    let tgt = FakeTarget {
        script: Some(Arc::new(|key: &str| {
            let n: usize = key.trim_start_matches("replay-evt-")[..7].parse().unwrap();
            match n % 10 {
                4 => Some(SendOutcome::failed(
                    FailureClass::MaxRetriesExceeded,
                    Some(503),
                    5,
                    "503 x5",
                )),
                5 => Some(SendOutcome::duplicate(1)),
                // (a 403 would stop the run: see breaker.rs)
                6 => Some(SendOutcome::failed(
                    FailureClass::NotFound,
                    Some(404),
                    1,
                    "not found",
                )),
                _ => None,
            }
        })),
        ..FakeTarget::default()
    };
    let audit = MemoryAudit::default();
    let progress = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let p2 = progress.clone();
    let summary = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(16)
        .page_size(33)
        .on_progress(move |p| p2.lock().unwrap().push(p.clone()))
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    let recs = audit.records();
    assert_eq!(assert_one_record_per_event(&recs), 200);
    assert_eq!(summary.seen, 200);
    assert_eq!(summary.counts.total(), 200);
    assert_eq!(summary.counts.skipped, 20 + 20 + 10);
    assert_eq!(summary.skips[&SkipReason::RetryWindowExceeded], 20);
    assert_eq!(summary.skips[&SkipReason::InvalidEvent], 20);
    assert_eq!(summary.skips[&SkipReason::PayloadTooLarge], 10);
    assert_eq!(summary.counts.duplicate, 20);
    assert_eq!(summary.counts.failed, 40);
    assert_eq!(summary.failures[&FailureClass::MaxRetriesExceeded], 20);
    assert_eq!(summary.failures[&FailureClass::NotFound], 20);
    assert_eq!(summary.counts.success, 200 - 50 - 20 - 40);
    // skips send nothing; every send has its record
    assert_eq!(tgt.total_sends(), 150);
    let failed = recs
        .iter()
        .find(|r| r.status == ReplayStatus::Failed && r.http_status == Some(503))
        .unwrap();
    assert_eq!(failed.http_attempts, 5);
    assert_eq!(
        failed.error_classification,
        Some(FailureClass::MaxRetriesExceeded)
    );
    let dup = recs
        .iter()
        .find(|r| r.status == ReplayStatus::Duplicate)
        .unwrap();
    assert_eq!(
        dup.error_classification,
        Some(FailureClass::DuplicateDetected)
    );
    let p = progress.lock().unwrap();
    assert_eq!(p.len(), 200, "one progress call per record");
    assert_eq!(p.last().unwrap().counts, summary.counts);
}

#[tokio::test(start_paused = true)]
async fn at_most_one_page_is_fetched_ahead() {
    let src = FakeSource::new(100);
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let tgt = FakeTarget {
        hold: Some(hold.clone()),
        ..FakeTarget::default()
    };
    let fetched = src.pages_fetched.clone();
    let run = tokio::spawn(
        Replayer::builder()
            .topic("t")
            .source(src)
            .target(tgt.clone())
            .audit(MemoryAudit::default())
            .concurrency(1)
            .page_size(5)
            .build()
            .unwrap()
            .run(),
    );
    tgt.wait_in_flight(1).await;
    // Give the fetch task every chance to run ahead: it must stop after one page.
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    // the page being dispatched plus one ahead
    assert!(
        fetched.load(Ordering::SeqCst) <= 2,
        "{} pages fetched",
        fetched.load(Ordering::SeqCst)
    );
    hold.add_permits(1000);
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.counts.success, 100);
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_fetching_lets_in_flight_finish_then_resume_completes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (src, tgt, _) = base(500);
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let log = JsonlAuditLog::open(&path).unwrap();
    let first = Replayer::builder()
        .topic("t")
        .source(src.clone())
        .target(tgt.clone())
        .audit(log)
        .concurrency(8)
        .cancel_token(cancel)
        .drain_timeout(Duration::from_secs(60))
        .on_progress(move |p| {
            if p.seen == 120 {
                c2.cancel();
            }
        })
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(first.interrupted);
    // The 7 other sends in flight when record 120 was written (or finished with it, and
    // written in the same batch) were recorded, and none was started after the cancel.
    assert!((120..=127).contains(&first.seen), "{}", first.seen);
    // in-flight events finished and were recorded: every send has its record
    assert_eq!(tgt.total_sends(), first.seen);
    assert_eq!(first.counts.success, first.seen);
    let after_first = AuditLog::read(&path).unwrap();
    assert_eq!(after_first.records.len() as u64, first.seen);
    assert!(after_first.torn_tail.is_none());

    let second = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(JsonlAuditLog::open(&path).unwrap())
        .concurrency(8)
        .resume(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(!second.interrupted);
    assert_eq!(second.already_replayed, first.seen);
    assert_eq!(second.seen + first.seen, 500);
    assert_eq!(tgt.total_sends(), 500);
    assert_eq!(tgt.max_sends_per_key(), 1, "nothing sent twice");
    let log = AuditLog::read(&path).unwrap();
    assert_eq!(assert_one_record_per_event(&log.records), 500);
    let s = AuditLog::summary(&path).unwrap();
    assert_eq!(s.events, 500);
    assert_eq!(s.final_counts.success, 500);
    assert_eq!(s.runs.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn drain_timeout_abandons_in_flight_events_with_a_record() {
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let tgt = FakeTarget {
        hold: Some(hold),
        ..FakeTarget::default()
    };
    let audit = MemoryAudit::default();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(
        Replayer::builder()
            .topic("t")
            .source(FakeSource::new(50))
            .target(tgt.clone())
            .audit(audit.clone())
            .concurrency(4)
            .cancel_token(cancel.clone())
            .drain_timeout(Duration::from_secs(5))
            .sleeper(Arc::new(TokioSleeper))
            .build()
            .unwrap()
            .run(),
    );
    tgt.wait_in_flight(4).await;
    cancel.cancel();
    let summary = run.await.unwrap().unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.seen, 4);
    assert_eq!(tgt.total_sends(), 4, "nothing was sent after the cancel");
    assert_eq!(summary.failures.get(&FailureClass::Timeout), Some(&4));
    let recs = audit.records();
    assert_eq!(assert_one_record_per_event(&recs), 4);
    assert!(
        recs.iter()
            .all(|r| r.message.as_deref().unwrap_or("").contains("abandoned"))
    );
}

/// A run of `n` events spawned with a cancel token, a drain that never times out, and a target
/// whose sends wait at a gate.
struct Gated {
    src: FakeSource,
    tgt: FakeTarget,
    gate: Arc<tokio::sync::Semaphore>,
    audit: MemoryAudit,
    cancel: CancellationToken,
    run: tokio::task::JoinHandle<Result<cxone_dlq_replay::RunSummary, EngineError>>,
}

fn gated_run(n: usize, concurrency: usize) -> Gated {
    let src = FakeSource::new(n);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let tgt = FakeTarget {
        hold: Some(gate.clone()),
        ..FakeTarget::default()
    };
    let audit = MemoryAudit::default();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(
        Replayer::builder()
            .topic("t")
            .source(src.clone())
            .target(tgt.clone())
            .audit(audit.clone())
            .concurrency(concurrency)
            .page_size(10)
            .cancel_token(cancel.clone())
            .sleeper(Arc::new(Never))
            .build()
            .unwrap()
            .run(),
    );
    Gated {
        src,
        tgt,
        gate,
        audit,
        cancel,
        run,
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_sends_are_in_flight_drains_and_records_them() {
    let Gated {
        src,
        tgt,
        gate,
        audit,
        cancel,
        run,
    } = gated_run(50, 4);
    tgt.wait_in_flight(4).await;
    cancel.cancel();
    // The sends in flight are answered only after the cancel.
    gate.add_permits(50);
    let summary = run.await.unwrap().unwrap();
    assert!(summary.interrupted, "46 events were never taken");
    assert_eq!(tgt.total_sends(), 4, "nothing was sent after the cancel");
    assert_eq!(summary.seen, 4);
    assert_eq!(summary.counts.success, 4, "drained, not abandoned");
    let recs = audit.records();
    assert_eq!(assert_one_record_per_event(&recs), 4);
    assert!(recs.iter().all(|r| r.http_status == Some(201)));
    assert_eq!(audit.flushes.load(Ordering::SeqCst), 1);
    assert!(src.pages_fetched.load(Ordering::SeqCst) <= 2);
    assert!(!src.exhausted.is_set(), "fetching stopped");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_with_nothing_left_to_take_is_not_an_interruption() {
    // Every event is in flight and the source has ended when the cancel comes.
    let Gated {
        src,
        tgt,
        gate,
        audit,
        cancel,
        run,
    } = gated_run(3, 4);
    tgt.wait_in_flight(3).await;
    src.exhausted.wait().await;
    cancel.cancel();
    gate.add_permits(3);
    let summary = run.await.unwrap().unwrap();
    assert!(!summary.interrupted);
    assert_eq!(summary.seen, 3);
    assert_eq!(summary.counts.success, 3);
    assert_eq!(assert_one_record_per_event(&audit.records()), 3);
}

#[tokio::test(start_paused = true)]
async fn a_fetch_error_finishes_what_was_seen_and_is_returned_with_the_summary() {
    let src = FakeSource::new(100).fail_at_page(4);
    let (_, tgt, audit) = base(0);
    let err = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .page_size(10)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    let EngineError::Fetch { topic, summary, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(topic, "t");
    assert_eq!(summary.seen, 30);
    assert_eq!(summary.counts.success, 30);
    assert_eq!(audit.records().len(), 30);
    assert_eq!(tgt.total_sends(), 30);
    assert!(
        std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("injected")
    );
    assert_eq!(err.summary().map(|s| s.seen), Some(30));
}

#[tokio::test(start_paused = true)]
async fn an_audit_failure_stops_the_run() {
    let (src, tgt, _) = base(1000);
    let audit = MemoryAudit {
        fail_after: Some(10),
        ..MemoryAudit::default()
    };
    let err = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(4)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Audit { .. }), "{err:?}");
    let summary = err.summary().unwrap();
    assert_eq!(
        summary.seen, 10,
        "only the records the sink accepted are counted"
    );
    assert_eq!(summary.counts.total(), 10);
    assert_eq!(audit.records().len(), 10);
    let sends = tgt.total_sends();
    assert_eq!(
        audit.attempts.load(Ordering::SeqCst),
        sends,
        "no send without an attempt to record it"
    );
    // the refused record, plus at most the other 3 sends in flight then
    assert!(
        (11..=14).contains(&sends),
        "the run went on after the audit failed: {sends}"
    );
}

#[tokio::test(start_paused = true)]
async fn resume_skips_delivered_and_retries_failed_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let src = FakeSource::new(60).kinds(|i| {
        if i % 6 == 0 {
            Kind::Exhausted
        } else {
            Kind::Ok
        }
    });
    let failing = FakeTarget {
        script: Some(Arc::new(|key: &str| {
            let n: usize = key.trim_start_matches("replay-evt-")[..7].parse().ok()?;
            (n % 4 == 1)
                .then(|| SendOutcome::failed(FailureClass::ServerTransient, Some(503), 3, "503"))
        })),
        ..FakeTarget::default()
    };
    let first = Replayer::builder()
        .topic("t")
        .source(src.clone())
        .target(failing)
        .audit(JsonlAuditLog::open(&path).unwrap())
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    // 10 exhausted (i % 6 == 0); of the other 50, those with i % 4 == 1 fail (none is even)
    let failed_first = first.counts.failed;
    assert_eq!(failed_first, 15);
    assert_eq!(first.counts.success, 35);
    assert_eq!(first.counts.skipped, 10);

    let ok = FakeTarget::default();
    let second = Replayer::builder()
        .topic("t")
        .source(src)
        .target(ok.clone())
        .audit(JsonlAuditLog::open(&path).unwrap())
        .resume(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(
        ok.total_sends(),
        failed_first,
        "only the failed ones are sent again"
    );
    assert_eq!(second.counts.success, failed_first);
    assert_eq!(second.already_replayed, first.counts.success);
    assert_eq!(second.counts.skipped, 10, "skips are recorded again");
    let s = AuditLog::summary(&path).unwrap();
    assert_eq!(s.events, 60);
    assert_eq!(s.final_counts.success, 50);
    assert_eq!(s.final_counts.failed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_torn_last_line_is_tolerated_reported_and_repaired_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let src = FakeSource::new(20);
    Replayer::builder()
        .topic("t")
        .source(src.clone())
        .target(FakeTarget::default())
        .audit(JsonlAuditLog::open(&path).unwrap())
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    // simulate a crash mid-write: half a line at the end
    let mut text = std::fs::read_to_string(&path).unwrap();
    let first_line = text.lines().next().unwrap().to_string();
    text.push_str(&first_line[..first_line.len() / 2]);
    std::fs::write(&path, text).unwrap();
    let report = AuditLog::read(&path).unwrap();
    assert_eq!(report.records.len(), 20);
    assert_eq!(report.torn_tail.as_ref().unwrap().line, 21);

    let log = JsonlAuditLog::open(&path).unwrap();
    assert!(log.repaired_torn_tail());
    let tgt = FakeTarget::default();
    let s = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(log)
        .resume(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(s.already_replayed, 20);
    assert_eq!(tgt.total_sends(), 0);
    let report = AuditLog::read(&path).unwrap();
    assert!(report.torn_tail.is_none());
    assert_eq!(report.malformed.len(), 1);
}

#[tokio::test]
async fn the_lock_file_refuses_a_second_concurrent_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let tgt = FakeTarget {
        hold: Some(hold.clone()),
        ..FakeTarget::default()
    };
    let run = tokio::spawn(
        Replayer::builder()
            .topic("t")
            .source(FakeSource::new(3))
            .target(tgt.clone())
            .audit(JsonlAuditLog::open(&path).unwrap())
            .build()
            .unwrap()
            .run(),
    );
    let err = JsonlAuditLog::open(&path).unwrap_err();
    assert!(matches!(err, EngineError::LogLocked { .. }), "{err:?}");
    hold.add_permits(10);
    run.await.unwrap().unwrap();
    assert!(
        JsonlAuditLog::open(&path).is_ok(),
        "the lock goes with the run"
    );
}

#[test]
fn the_builder_names_the_bad_setting() {
    let ok = || {
        Replayer::builder()
            .topic("t")
            .source(FakeSource::new(1))
            .target(FakeTarget::default())
            .audit(MemoryAudit::default())
    };
    assert!(ok().build().is_ok());
    let cases: Vec<(Setting, cxone_dlq_replay::ReplayerBuilder)> = vec![
        (Setting::Concurrency, ok().concurrency(0)),
        (Setting::Concurrency, ok().concurrency(100_000)),
        (Setting::Pace, ok().pace(-1.0)),
        (Setting::Pace, ok().pace(f64::NAN)),
        (Setting::PageSize, ok().page_size(0)),
        (
            Setting::Topics,
            Replayer::builder().source(FakeSource::new(1)),
        ),
        (Setting::Topics, ok().topic("t")),
        (Setting::Topics, ok().topic(" ")),
        (
            Setting::StartToken,
            ok().topic("u").start_token(Some("x".into())),
        ),
        (Setting::DrainTimeout, ok().drain_timeout(Duration::ZERO)),
        (
            Setting::Filter,
            ok().filter(
                cxone_dlq_replay::domain::EventFilter::new()
                    .since(t0())
                    .until(t0() - chrono::TimeDelta::hours(1)),
            ),
        ),
        (
            Setting::Source,
            Replayer::builder()
                .topic("t")
                .target(FakeTarget::default())
                .audit(MemoryAudit::default()),
        ),
        (
            Setting::Target,
            Replayer::builder()
                .topic("t")
                .source(FakeSource::new(1))
                .audit(MemoryAudit::default()),
        ),
        (
            Setting::Audit,
            Replayer::builder()
                .topic("t")
                .source(FakeSource::new(1))
                .target(FakeTarget::default()),
        ),
    ];
    // a sink that cannot read back cannot resume
    struct WriteOnly;
    #[async_trait::async_trait]
    impl cxone_dlq_replay::AuditSink for WriteOnly {
        async fn record(
            &self,
            _: &cxone_dlq_replay::domain::AuditRecord,
        ) -> Result<(), cxone_dlq_replay::BoxError> {
            Ok(())
        }
        async fn flush(&self) -> Result<(), cxone_dlq_replay::BoxError> {
            Ok(())
        }
    }
    let mut cases = cases;
    cases.push((
        Setting::Resume,
        Replayer::builder()
            .topic("t")
            .source(FakeSource::new(1))
            .target(FakeTarget::default())
            .audit(WriteOnly)
            .resume(true),
    ));
    for (setting, b) in cases {
        match b.build() {
            Err(e @ EngineError::Setting { setting: s, .. }) => {
                assert_eq!(s, setting);
                assert!(
                    e.to_string()
                        .starts_with(&format!("invalid setting `{}`: ", setting.as_str())),
                    "{e}"
                );
            }
            other => panic!("{setting}: {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancel_seen_while_planning_still_bounds_the_drain() {
    // event 0 is sent and never answered; the others are skips, recorded while planning
    let src = FakeSource::new(50).kinds(|i| if i == 0 { Kind::Ok } else { Kind::Exhausted });
    let tgt = FakeTarget {
        hold: Some(Arc::new(tokio::sync::Semaphore::new(0))),
        ..FakeTarget::default()
    };
    let audit = MemoryAudit::default();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let summary = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .cancel_token(cancel)
        .drain_timeout(Duration::from_secs(5))
        .sleeper(Arc::new(TokioSleeper))
        .on_progress(move |p| {
            if p.counts.skipped == 5 {
                c2.cancel();
            }
        })
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.counts.skipped, 5);
    assert_eq!(summary.failures.get(&FailureClass::Timeout), Some(&1));
    assert_eq!(assert_one_record_per_event(&audit.records()), 6);
    assert_eq!(tgt.total_sends(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_audit_failure_while_planning_stops_the_run() {
    let src = FakeSource::new(500);
    let audit = MemoryAudit {
        fail_after: Some(10),
        ..MemoryAudit::default()
    };
    let monitor = MemoryMonitor::default();
    let progress = Arc::new(Mutex::new(Vec::<u64>::new()));
    let p2 = progress.clone();
    let err = Replayer::builder()
        .topic("t")
        .source(src)
        .audit(audit.clone())
        .monitor(monitor.clone())
        .on_progress(move |p| p2.lock().unwrap().push(p.seen))
        .dry_run(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Audit { .. }), "{err:?}");
    let summary = err.summary().unwrap();
    // The 11th record was refused: it is not seen, not counted, not shown, not notified.
    assert_eq!(summary.seen, 10, "{summary:?}");
    assert_eq!(summary.counts.dry_run, 10);
    assert_eq!(
        audit.attempts.load(Ordering::SeqCst),
        11,
        "stopped at the first failed record"
    );
    let recs = audit.records();
    assert_eq!(recs.len(), 10);
    assert_eq!(*progress.lock().unwrap(), (1..=10).collect::<Vec<u64>>());
    assert_eq!(
        monitor.records(),
        recs.iter().map(|r| r.event_id.clone()).collect::<Vec<_>>()
    );
    let events = monitor.events.lock().unwrap().clone();
    assert_eq!(events.last(), Some(&("replay_completed", "10".to_string())));
}

/// A sink that tells its batches apart: the size of each `record_all` call, and, when
/// `keep_of_first_batch` is set, the first batch kept only that far (the next record refused).
#[derive(Clone, Default)]
struct BatchAudit {
    inner: MemoryAudit,
    batches: Arc<Mutex<Vec<usize>>>,
    keep_of_first_batch: Option<usize>,
}

#[async_trait::async_trait]
impl cxone_dlq_replay::AuditSink for BatchAudit {
    async fn record(
        &self,
        record: &cxone_dlq_replay::domain::AuditRecord,
    ) -> Result<(), cxone_dlq_replay::BoxError> {
        self.inner.record(record).await
    }
    async fn record_all(
        &self,
        records: &[cxone_dlq_replay::domain::AuditRecord],
    ) -> Result<(), cxone_dlq_replay::Unrecorded> {
        let first = {
            let mut b = self.batches.lock().unwrap();
            b.push(records.len());
            b.len() == 1
        };
        let keep = match self.keep_of_first_batch {
            Some(k) if first => k.min(records.len()),
            _ => records.len(),
        };
        for r in &records[..keep] {
            self.inner.record(r).await.unwrap();
        }
        if keep < records.len() {
            return Err(cxone_dlq_replay::Unrecorded {
                recorded: keep,
                source: "batch refused (injected)".into(),
            });
        }
        Ok(())
    }
    async fn flush(&self) -> Result<(), cxone_dlq_replay::BoxError> {
        self.inner.flush().await
    }
}

#[tokio::test(start_paused = true)]
async fn sends_that_finish_together_are_recorded_in_one_call_and_each_counted() {
    // 4 at a time, each answered after 10 ms: the sends of a wave finish together.
    let (src, tgt, _) = base(12);
    let audit = BatchAudit::default();
    let summary = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(4)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    let records = audit.inner.records();
    assert_eq!(summary.seen, 12);
    assert_eq!(records.len(), 12);
    assert_one_record_per_event(&records);
    let batches = audit.batches.lock().unwrap().clone();
    assert!(
        batches.iter().all(|&n| n > 1),
        "a single record goes through `record`: {batches:?}"
    );
    assert!(
        batches.contains(&4),
        "a wave of 4 sends is one call: {batches:?}"
    );
    // every record went through exactly one call: a batch, or `record` on its own
    let batched: usize = batches.iter().sum();
    assert_eq!(
        audit.inner.attempts.load(Ordering::SeqCst),
        12,
        "{batched} of 12 in batches"
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_kept_in_part_counts_that_part_and_offers_each_later_record_on_its_own() {
    let (src, tgt, _) = base(12);
    let audit = BatchAudit {
        keep_of_first_batch: Some(1),
        ..BatchAudit::default()
    };
    let err = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(4)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Audit { .. }), "{err:?}");
    assert!(err.to_string().contains("audit"), "{err}");
    let first = audit.batches.lock().unwrap()[0];
    assert!(first >= 2, "{first}");
    let summary = err.summary().unwrap();
    let records = audit.inner.records();
    // all the batch but its refused second record: the first kept in the batch, the rest
    // offered one by one (and accepted), like the sends still in flight when the run stopped
    assert_eq!(summary.seen, records.len() as u64);
    assert_eq!(
        tgt.total_sends(),
        summary.seen + 1,
        "one send has no record"
    );
    assert!(summary.seen >= first as u64 - 1, "{summary:?}");
    assert!(summary.seen < 12, "the run stopped");
}
