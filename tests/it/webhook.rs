//! The webhook monitor, against the emulator's webhook endpoint (real sockets).

use crate::fakes::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cxone_dlq_replay::{MonitorSink, Replayer, RunSummary, WebhookMonitor};
use cxone_eventbridge_emulator::Emulator;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use std::time::Duration;

async fn run_with(monitor: Option<WebhookMonitor>, n: usize) -> (RunSummary, MemoryAudit) {
    let audit = MemoryAudit::default();
    let mut b = Replayer::builder()
        .topic("t")
        .source(FakeSource::new(n).kinds(|i| {
            if i % 5 == 0 {
                Kind::Exhausted
            } else {
                Kind::Ok
            }
        }))
        .target(FakeTarget::default())
        .audit(audit.clone())
        .run_id("run-webhook");
    if let Some(m) = monitor {
        b = b.monitor(m);
    }
    (b.build().unwrap().run().await.unwrap(), audit)
}

fn fast(url: String) -> cxone_dlq_replay::WebhookMonitorBuilder {
    WebhookMonitor::builder(url)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .max_attempts(3)
        .request_timeout(Duration::from_secs(5))
        .close_timeout(Duration::from_secs(20))
}

#[tokio::test]
async fn one_signed_callback_per_record_plus_start_and_complete() {
    let emu = Emulator::builder().events(0).start().await.unwrap();
    let secret_b64 = B64.encode(b"monitor-key-0123456789");
    let monitor = fast(emu.webhook_url())
        .secret(SecretString::from(format!("whsec_{secret_b64}")))
        .build()
        .unwrap();
    let (summary, audit) = run_with(Some(monitor), 40).await;
    assert_eq!(summary.seen, 40);
    assert_eq!(summary.monitor_dropped, 0);
    let ledger = emu.ledger();
    assert_eq!(ledger.webhooks, 42);
    let deliveries = &ledger.webhook_deliveries;
    assert_eq!(deliveries.len(), 42);
    let types: Vec<String> = ledger
        .webhook_bodies
        .iter()
        .map(|b| {
            assert_eq!(b["source"], "cxone-eventbridge-replayer");
            b["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(types[0], "replay_started");
    assert_eq!(types[41], "replay_completed");
    assert!(types[1..41].iter().all(|t| t == "replay_status_update"));
    assert_eq!(ledger.webhook_bodies[41]["data"]["seen"], 40);
    let ids: Vec<&str> = ledger.webhook_bodies[1..41]
        .iter()
        .map(|b| b["data"]["event_id"].as_str().unwrap())
        .collect();
    let recs = audit.records();
    assert_eq!(
        ids,
        recs.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>()
    );
    // every signature verifies (computed here independently, per the Standard Webhooks spec)
    for d in deliveries {
        let id = d.webhook_id.as_deref().unwrap();
        assert!(id.starts_with("msg_"));
        let ts = d.webhook_timestamp.as_deref().unwrap();
        ts.parse::<i64>().unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"monitor-key-0123456789").unwrap();
        mac.update(format!("{id}.{ts}.{}", d.body).as_bytes());
        let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
        assert_eq!(d.webhook_signature.as_deref(), Some(expected.as_str()));
        assert_eq!(d.content_type.as_deref(), Some("application/json"));
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_dead_webhook_does_not_change_the_outcome() {
    let (baseline, _) = run_with(None, 30).await;
    // a loopback port nobody listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let monitor = fast(format!("http://127.0.0.1:{port}/hook"))
        .build()
        .unwrap();
    let (dead, audit) = run_with(Some(monitor), 30).await;
    assert_eq!(dead.counts, baseline.counts);
    assert_eq!(dead.seen, 30);
    assert_eq!(audit.records().len(), 30);
    assert_eq!(
        dead.monitor_dropped, 32,
        "every notification counted as dropped"
    );
}

#[tokio::test]
async fn a_410_stops_the_monitor_and_the_rest_is_dropped() {
    let emu = Emulator::builder()
        .events(0)
        .webhook_status(410)
        .start()
        .await
        .unwrap();
    let monitor = fast(emu.webhook_url()).build().unwrap();
    let (summary, _) = run_with(Some(monitor), 25).await;
    assert_eq!(summary.counts.total(), 25);
    assert_eq!(summary.monitor_dropped, 27);
    assert_eq!(emu.ledger().webhooks, 1, "posting went on after the 410");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_waiting() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let m = fast(format!("http://127.0.0.1:{port}/"))
        .queue_capacity(1)
        .close_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let rec = cxone_dlq_replay::RunStarted {
        run_id: "r".into(),
        topics: vec![],
        dry_run: false,
        resume: false,
        started_at: t0(),
    };
    for _ in 0..100 {
        m.notify(cxone_dlq_replay::MonitorEvent::Started(&rec));
    }
    let dropped = m.close().await;
    assert!(dropped >= 98, "{dropped}");
    assert_eq!(dropped + m.delivered(), 100);
}

/// Records every wait and returns at once, except the monitor's close time-out, which never
/// ends: `close` then waits for the queue to drain, as it would in real time.
#[derive(Debug, Clone, Default)]
struct Waits(std::sync::Arc<std::sync::Mutex<Vec<Duration>>>);

const CLOSE_TIMEOUT: Duration = Duration::from_secs(3_600);

impl cxone_dlq_replay::runtime::Sleeper for Waits {
    fn sleep(
        &self,
        d: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        if d == CLOSE_TIMEOUT {
            return Box::pin(std::future::pending());
        }
        self.0.lock().unwrap().push(d);
        Box::pin(async {})
    }
}

/// A receiver that answers 429 with `retry_after` every time; returns the monitor's recorded
/// waits, the summary and the receiver's hit count.
async fn against_429(retry_after: &str) -> (Vec<Duration>, RunSummary, usize) {
    let server = httpmock::MockServer::start_async().await;
    let hook = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST).path("/hook");
            then.status(429).header("retry-after", retry_after);
        })
        .await;
    let waits = Waits::default();
    let monitor = WebhookMonitor::builder(server.url("/hook"))
        .backoff(Duration::from_millis(10), Duration::from_secs(5))
        .max_attempts(3)
        .close_timeout(CLOSE_TIMEOUT)
        .sleeper(std::sync::Arc::new(waits.clone()))
        .build()
        .unwrap();
    let (summary, _) = run_with(Some(monitor), 1).await;
    let sleeps = waits.0.lock().unwrap().clone();
    (sleeps, summary, hook.calls_async().await)
}

#[tokio::test]
async fn a_429_retry_after_is_honoured_up_to_the_backoff_cap() {
    // 3 notifications (started, the record, completed) × 3 attempts, 2 waits each.
    let (sleeps, summary, calls) = against_429("3").await;
    assert_eq!(calls, 9);
    assert_eq!(sleeps, vec![Duration::from_secs(3); 6]);
    assert_eq!(summary.monitor_dropped, 3);
    // A longer Retry-After is capped at the backoff cap (5 s), not waited in full.
    let (sleeps, _, _) = against_429("600").await;
    assert_eq!(sleeps, vec![Duration::from_secs(5); 6]);
    // Without a usable Retry-After: the exponential backoff, 10 ms then 20 ms.
    let (sleeps, _, _) = against_429("later").await;
    let expected: Vec<Duration> = [10, 20, 10, 20, 10, 20]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    assert_eq!(sleeps, expected);
}

#[tokio::test]
async fn a_redirect_is_not_followed_with_the_signed_body() {
    let server = httpmock::MockServer::start_async().await;
    let hook = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST).path("/hook");
            then.status(307).header("location", "/elsewhere");
        })
        .await;
    let elsewhere = server
        .mock_async(|when, then| {
            when.path("/elsewhere");
            then.status(200);
        })
        .await;
    let monitor = fast(server.url("/hook"))
        .secret(SecretString::from("plain-secret"))
        .build()
        .unwrap();
    let (summary, _) = run_with(Some(monitor), 1).await;
    assert_eq!(
        hook.calls_async().await,
        3,
        "one try each: a 3xx is not retried"
    );
    assert_eq!(elsewhere.calls_async().await, 0);
    assert_eq!(summary.monitor_dropped, 3);
}
