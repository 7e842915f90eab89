//! The run observer, end to end against the emulator: what it is told adds up to the summary
//! and to what the emulator saw.

use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::{AuditRecord, ReplayStatus, RetryBudget, RetryPolicy};
use cxone_dlq_replay::{Exchange, JsonlAuditLog, Op, Replayer, RunObserver, StatusCounts};
use cxone_eventbridge_emulator::Emulator;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOPIC: &str = "topic_pub_conversations";

#[derive(Default)]
struct Seen {
    counts: StatusCounts,
    skips: BTreeMap<String, u64>,
    exchanges: BTreeMap<(Op, String), u64>,
    latencies: u64,
    in_flight: Vec<usize>,
    held: Duration,
}

#[derive(Default)]
struct Recording(Mutex<Seen>);

impl RunObserver for Recording {
    fn outcome(&self, record: &AuditRecord) {
        let mut s = self.0.lock().unwrap();
        match record.status {
            ReplayStatus::Success => s.counts.success += 1,
            ReplayStatus::Duplicate => s.counts.duplicate += 1,
            ReplayStatus::Failed => s.counts.failed += 1,
            ReplayStatus::Skipped => s.counts.skipped += 1,
            _ => s.counts.dry_run += 1,
        }
        assert_eq!(record.topic_id, TOPIC);
        if let Some(r) = record.skip_reason {
            *s.skips.entry(r.to_string()).or_default() += 1;
        }
    }
    fn http_exchange(&self, op: Op, exchange: Exchange) {
        let key = match exchange {
            Exchange::Status(code) => code.to_string(),
            Exchange::Failed(class) => class.to_string(),
            _ => "other".to_string(),
        };
        *self
            .0
            .lock()
            .unwrap()
            .exchanges
            .entry((op, key))
            .or_default() += 1;
    }
    fn put_latency(&self, _latency: Duration) {
        self.0.lock().unwrap().latencies += 1;
    }
    fn in_flight(&self, n: usize) {
        self.0.lock().unwrap().in_flight.push(n);
    }
    fn rate_limited(&self, added: Duration) {
        self.0.lock().unwrap().held += added;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_is_told_what_the_summary_counts_and_what_the_emulator_saw() {
    let emu = Emulator::builder()
        .events(400)
        .seed(5)
        .fail_5xx(0.1)
        .rate_limit_every(40, 1)
        .exhausted_fraction(0.05)
        .start()
        .await
        .unwrap();
    let retry = RetryPolicy::new(12, Duration::from_millis(1), Duration::from_millis(20))
        .unwrap()
        .with_retry_after_cap(Duration::from_millis(20));
    let client = Client::builder()
        .base_url(emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_string()),
        )
        .retry_policy(retry)
        .retry_budget(RetryBudget::new(1_000_000, 1, 1, 1))
        .max_connections(8)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Recording::default());
    let summary = Replayer::builder()
        .topic(TOPIC)
        .source(client.clone())
        .target(client.clone())
        .audit(JsonlAuditLog::open(dir.path().join("audit.jsonl")).unwrap())
        .concurrency(8)
        .observer(Arc::clone(&seen))
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    let s = std::mem::take(&mut *seen.0.lock().unwrap());
    // Outcomes: exactly the summary's.
    assert_eq!(s.counts, summary.counts);
    assert_eq!(s.counts.total(), 400);
    assert!(summary.counts.skipped > 0);
    let skips: BTreeMap<String, u64> = summary
        .skips
        .iter()
        .map(|(r, n)| (r.to_string(), *n))
        .collect();
    assert_eq!(s.skips, skips);
    assert_eq!(
        s.latencies,
        summary.counts.success + summary.counts.duplicate + summary.counts.failed
    );
    // Exchanges: every request the emulator received, by op, and every 429.
    let ledger = emu.ledger();
    let received = |prefix: &str| -> u64 {
        ledger
            .requests
            .iter()
            .filter(|(r, _)| r.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    };
    let told = |op: Op| -> u64 {
        s.exchanges
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(told(Op::Put), received("PUT"));
    assert_eq!(told(Op::DlqPage), received("GET /api"));
    assert!(told(Op::Token) >= 1);
    let throttled: u64 = s
        .exchanges
        .iter()
        .filter(|((_, k), _)| k == "429")
        .map(|(_, n)| n)
        .sum();
    assert!(throttled > 0, "429s were injected");
    assert_eq!(throttled, summary.rate_limited);
    assert!(
        s.exchanges.keys().any(|(_, k)| k.starts_with('5')),
        "5xx told"
    );
    assert!(s.held > Duration::ZERO);
    assert!(s.held.as_millis().abs_diff(u128::from(summary.held_ms)) <= 1);
    // In flight: never above the concurrency, and none at the end.
    assert!(s.in_flight.iter().all(|&n| n <= 8));
    assert!(s.in_flight.contains(&1));
    assert_eq!(s.in_flight.last(), Some(&0));
    // The run disconnected its observer from the client.
    assert!(client.set_observer(None).is_none());
    emu.shutdown().await;
}

/// Tells when the first event was recorded.
struct FirstOutcome(tokio::sync::Notify);

impl RunObserver for FirstOutcome {
    fn outcome(&self, _record: &AuditRecord) {
        self.0.notify_one();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_dropped_midway_disconnects_its_observer_from_the_client() {
    let emu = Emulator::builder()
        .events(200)
        .latency(Duration::from_millis(5), Duration::ZERO)
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .base_url(emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_string()),
        )
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = Arc::new(FirstOutcome(tokio::sync::Notify::new()));
    let run = Replayer::builder()
        .topic(TOPIC)
        .source(client.clone())
        .target(client.clone())
        .audit(JsonlAuditLog::open(dir.path().join("audit.jsonl")).unwrap())
        .concurrency(1)
        .observer(Arc::clone(&first))
        .build()
        .unwrap()
        .run();
    tokio::select! {
        r = run => panic!("the run ended before its first record was told: {r:?}"),
        () = first.0.notified() => {}
    }
    // The run's future is gone, mid-run: its observer is no longer the client's.
    assert!(client.set_observer(None).is_none());
    emu.shutdown().await;
}
