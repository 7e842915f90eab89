//! End to end: the engine with the CXone client against the emulator, over real sockets.

use crate::fakes::assert_one_record_per_event;
use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::{
    Decision, EventFilter, ReplayPolicy, ReplayStatus, RetryBudget, RetryPolicy, SkipReason, plan,
};
use cxone_dlq_replay::{AuditLog, JsonlAuditLog, Replayer, RunSummary};
use cxone_eventbridge_emulator::{Emulator, EmulatorHandle};
use secrecy::SecretString;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "topic_pub_conversations";

fn client(emu: &EmulatorHandle, concurrency: usize) -> Client {
    let retry = RetryPolicy::new(12, Duration::from_millis(1), Duration::from_millis(20))
        .unwrap()
        .with_retry_after_cap(Duration::from_millis(20));
    Client::builder()
        .base_url(emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_string()),
        )
        .retry_policy(retry)
        .retry_budget(RetryBudget::new(1_000_000, 1, 1, 1))
        .token_refresh_margin(Duration::from_millis(200))
        .request_timeout(Duration::from_secs(10))
        .max_connections(concurrency)
        .build()
        .unwrap()
}

/// The events the emulator should end up accepting, and the expected skips.
fn expectations(emu: &EmulatorHandle) -> (Vec<String>, HashMap<SkipReason, u64>) {
    let policy = ReplayPolicy::default();
    let mut eligible = Vec::new();
    let mut skips = HashMap::new();
    for e in emu.events(TOPIC) {
        match plan(
            &e,
            TOPIC,
            &policy,
            &EventFilter::default(),
            chrono::Utc::now(),
        ) {
            Decision::Replay(_) => eligible.push(e.event_id.clone()),
            Decision::Skip(s) => *skips.entry(s.reason).or_default() += 1,
        }
    }
    (eligible, skips)
}

async fn replay(
    emu: &EmulatorHandle,
    log: &Path,
    resume: bool,
    cancel: Option<(CancellationToken, u64)>,
) -> RunSummary {
    let c = client(emu, 32);
    let mut b = Replayer::builder()
        .topic(TOPIC)
        .source(c.clone())
        .target(c)
        .audit(JsonlAuditLog::open(log).unwrap())
        .concurrency(32)
        .page_size(100)
        .resume(resume);
    if let Some((token, after)) = cancel {
        let t = token.clone();
        b = b.cancel_token(token).on_progress(move |p| {
            if p.seen >= after {
                t.cancel();
            }
        });
    }
    b.build().unwrap().run().await.unwrap()
}

fn assert_exactly_once(emu: &EmulatorHandle, eligible: &[String]) {
    let ledger = emu.ledger();
    assert!(
        ledger.violations.is_empty(),
        "contract violations: {:?}",
        &ledger.violations[..ledger.violations.len().min(5)]
    );
    assert_eq!(ledger.altered_payloads, 0);
    assert_eq!(
        ledger.accepted.len(),
        eligible.len(),
        "every eligible event accepted"
    );
    for id in eligible {
        assert_eq!(
            ledger.accepted.get(id),
            Some(&1),
            "event {id} accepted {:?} times",
            ledger.accepted.get(id)
        );
    }
    assert!(ledger.accepted_keys.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_events_with_faults_are_delivered_exactly_once() {
    let emu = Emulator::builder()
        .events(5000)
        .seed(7)
        .fail_5xx(0.10)
        .rate_limit_every(50, 1)
        .drop_fraction(0.02)
        .token_ttl(Duration::from_secs(2))
        .exhausted_fraction(0.05)
        .oversize_fraction(0.01)
        .payload_bytes(256)
        .start()
        .await
        .unwrap();
    let (eligible, skips) = expectations(&emu);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let s = replay(&emu, &log, false, None).await;
    assert_eq!(s.seen, 5000);
    assert_eq!(s.counts.total(), 5000);
    assert_eq!(s.counts.failed, 0, "failures: {:?}", s.failures);
    assert_eq!(s.counts.success + s.counts.duplicate, eligible.len() as u64);
    assert_eq!(
        s.skips.get(&SkipReason::RetryWindowExceeded),
        skips.get(&SkipReason::RetryWindowExceeded)
    );
    assert_eq!(
        s.skips.get(&SkipReason::PayloadTooLarge),
        skips.get(&SkipReason::PayloadTooLarge)
    );
    assert!(skips[&SkipReason::RetryWindowExceeded] > 0 && skips[&SkipReason::PayloadTooLarge] > 0);
    assert_exactly_once(&emu, &eligible);
    let report = AuditLog::read(&log).unwrap();
    assert_eq!(assert_one_record_per_event(&report.records), 5000);
    assert!(report.torn_tail.is_none() && report.malformed.is_empty());
    let ledger = emu.ledger();
    assert!(
        ledger.rejections.keys().any(|&s| s >= 500),
        "5xx faults were injected"
    );
    assert!(ledger.rejections.contains_key(&429));
    assert!(ledger.tokens_issued > 1, "the 2 s token was refreshed");
    assert!(ledger.max_in_flight <= 32);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_against_the_emulator_sends_no_put() {
    let emu = Emulator::builder()
        .events(300)
        .exhausted_fraction(0.1)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&emu, 8);
    let s = Replayer::builder()
        .topic(TOPIC)
        .source(c)
        .audit(JsonlAuditLog::open(dir.path().join("a.jsonl")).unwrap())
        .dry_run(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(s.seen, 300);
    assert_eq!(s.counts.dry_run + s.counts.skipped, 300);
    assert_eq!(s.counts.skipped, 30);
    let ledger = emu.ledger();
    assert_eq!(
        ledger
            .requests
            .iter()
            .filter(|(r, _)| r.starts_with("PUT"))
            .map(|(_, n)| n)
            .sum::<u64>(),
        0
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_run_then_resume_delivers_everything_once() {
    let emu = Emulator::builder()
        .events(1500)
        .seed(11)
        .fail_5xx(0.05)
        .latency(Duration::from_millis(2), Duration::from_millis(2))
        .exhausted_fraction(0.04)
        .start()
        .await
        .unwrap();
    let (eligible, _) = expectations(&emu);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let first = replay(&emu, &log, false, Some((CancellationToken::new(), 300))).await;
    assert!(first.interrupted);
    // cancelled at the 300th record; at most the other 31 sends in flight were drained
    assert!((300..332).contains(&first.seen), "{}", first.seen);
    let second = replay(&emu, &log, true, None).await;
    assert!(!second.interrupted);
    assert_eq!(
        second.already_replayed,
        first.counts.success + first.counts.duplicate
    );
    assert_exactly_once(&emu, &eligible);
    let s = AuditLog::summary(&log).unwrap();
    assert_eq!(s.events, 1500);
    assert_eq!(
        s.final_counts.success + s.final_counts.duplicate,
        eligible.len() as u64
    );
    assert_eq!(s.final_counts.failed, 0);
    emu.shutdown().await;
}

const CHILD_URL: &str = "CXONE_REPLAY_TEST_CHILD_URL";
const CHILD_LOG: &str = "CXONE_REPLAY_TEST_CHILD_LOG";
const CHILD_ID: &str = "CXONE_REPLAY_TEST_CHILD_ID";
const CHILD_SECRET: &str = "CXONE_REPLAY_TEST_CHILD_SECRET";

/// Not a test of its own: the body of the child process that
/// `sigkill_mid_run_then_resume` starts (by re-running this test binary with the environment
/// set) and kills. Without that environment it only checks that it is not in child mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_child_entry() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        assert!(std::env::var(CHILD_LOG).is_err());
        return;
    };
    let log = std::env::var(CHILD_LOG).unwrap();
    let c = Client::builder()
        .base_url(&url)
        .client_credentials(
            std::env::var(CHILD_ID).unwrap(),
            SecretString::from(std::env::var(CHILD_SECRET).unwrap()),
        )
        .max_connections(4)
        .build()
        .unwrap();
    Replayer::builder()
        .topic(TOPIC)
        .source(c.clone())
        .target(c)
        .audit(JsonlAuditLog::open(log).unwrap())
        .concurrency(4)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_resume() {
    let emu = Emulator::builder()
        .events(1200)
        .seed(3)
        .latency(Duration::from_millis(20), Duration::from_millis(5))
        .exhausted_fraction(0.05)
        .start()
        .await
        .unwrap();
    let (eligible, _) = expectations(&emu);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "emulator::sigkill_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, emu.base_url())
        .env(CHILD_LOG, &log)
        .env(CHILD_ID, emu.client_id())
        .env(CHILD_SECRET, emu.client_secret())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait (polling, with a hard limit) until the child has delivered some events
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while emu.ledger().accepted_total() < 150 {
        assert!(
            std::time::Instant::now() < deadline,
            "the child made no progress"
        );
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let accepted_at_kill = emu.ledger().accepted_total();
    assert!(
        (accepted_at_kill as usize) < eligible.len(),
        "killed too late to test anything"
    );

    let before = AuditLog::read(&log).unwrap();
    assert!(!before.records.is_empty());
    assert!(before.malformed.is_empty());
    let reopened = JsonlAuditLog::open(&log).unwrap();
    assert_eq!(
        reopened.repaired_torn_tail(),
        before.torn_tail.is_some(),
        "a torn line, if any, is reported"
    );
    drop(reopened);

    let s = replay(&emu, &log, true, None).await;
    assert!(!s.interrupted);
    assert_eq!(s.counts.failed, 0);
    assert_exactly_once(&emu, &eligible);
    let all = AuditLog::read(&log).unwrap();
    // one final delivered outcome per eligible event across both runs
    let mut delivered: HashMap<&str, u32> = HashMap::new();
    for r in &all.records {
        if r.status.is_delivered() {
            *delivered.entry(&r.event_id).or_default() += 1;
        }
    }
    assert_eq!(delivered.len(), eligible.len());
    // an event in flight at the kill may be accepted by the server without a record: resume
    // re-sends it and records DUPLICATE; otherwise exactly one delivered record per event
    let extra = delivered.values().filter(|&&n| n > 1).count();
    assert_eq!(extra, 0, "{extra} events recorded delivered twice");
    let dup = all
        .records
        .iter()
        .filter(|r| r.status == ReplayStatus::Duplicate)
        .count();
    assert!(
        dup <= 4,
        "at most `concurrency` events were in flight at the kill: {dup}"
    );
    emu.shutdown().await;
}
