//! `limit(n)`: a canary of n sends that stops cleanly, and a resume that continues.

use crate::fakes::*;
use cxone_dlq_replay::domain::SkipReason;
use cxone_dlq_replay::{Replayer, RunSummary};
use std::num::NonZeroU64;
use std::time::Duration;

fn canary(
    source: &FakeSource,
    target: &FakeTarget,
    audit: &MemoryAudit,
    limit: Option<u64>,
    dry_run: bool,
    resume: bool,
) -> Replayer {
    let mut b = Replayer::builder()
        .topic("t")
        .source(source.clone())
        .target(target.clone())
        .audit(audit.clone())
        .concurrency(4)
        .page_size(7)
        .dry_run(dry_run)
        .resume(resume);
    if let Some(n) = limit.and_then(NonZeroU64::new) {
        b = b.limit(n);
    }
    b.build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_limit_sends_exactly_n_then_resume_sends_the_rest() {
    // every 5th event is past its retry window: skips do not count against the limit
    let source = FakeSource::new(60).kinds(|i| {
        if i % 5 == 0 {
            Kind::Exhausted
        } else {
            Kind::Ok
        }
    });
    let target = FakeTarget {
        delay: Some(Duration::from_millis(5)),
        ..FakeTarget::default()
    };
    let audit = MemoryAudit::default();
    let s: RunSummary = canary(&source, &target, &audit, Some(10), false, false)
        .run()
        .await
        .unwrap();
    assert_eq!(target.total_sends(), 10);
    assert_eq!(s.counts.success, 10);
    assert!(s.limit_reached);
    assert!(!s.interrupted, "a limit is a clean stop");
    // the skips met before the 10th send are recorded; nothing after it is
    assert_eq!(s.seen, 10 + s.skips[&SkipReason::RetryWindowExceeded]);
    assert_eq!(
        assert_one_record_per_event(&audit.records()),
        s.seen as usize
    );
    assert!(s.seen < 15, "{}", s.seen);
    assert!(
        source
            .pages_fetched
            .load(std::sync::atomic::Ordering::SeqCst)
            <= 3,
        "no fetching past the limit"
    );

    let s = canary(&source, &target, &audit, None, false, true)
        .run()
        .await
        .unwrap();
    assert_eq!(s.already_replayed, 10);
    assert_eq!(
        target.total_sends(),
        48,
        "the 48 eligible events, each once"
    );
    assert_eq!(target.max_sends_per_key(), 1);
    assert!(!s.limit_reached);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_limit_counts_planned_records_and_a_large_limit_changes_nothing() {
    let source = FakeSource::new(30);
    let target = FakeTarget::default();
    let audit = MemoryAudit::default();
    let s = canary(&source, &target, &audit, Some(4), true, false)
        .run()
        .await
        .unwrap();
    assert_eq!((s.counts.dry_run, s.seen), (4, 4));
    assert!(s.limit_reached);
    assert_eq!(target.total_sends(), 0);

    let audit = MemoryAudit::default();
    let s = canary(&source, &target, &audit, Some(1000), false, false)
        .run()
        .await
        .unwrap();
    assert_eq!(s.counts.success, 30);
    assert!(!s.limit_reached);
}
