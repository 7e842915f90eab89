//! Replay options end to end: filters, destination override, webhook monitor, JSON logs.

use crate::support::{Sandbox, TOPIC, emulator, run};
use cxone_dlq_replay::AuditLog;
use cxone_replay_domain::{ReplayStatus, SkipReason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_id_filter_and_json_logs() {
    let emu = emulator(15).start().await.unwrap();
    let ids: Vec<String> = emu
        .events(TOPIC)
        .iter()
        .take(2)
        .map(|e| e.event_id.clone())
        .collect();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["-vv", "--log-format", "json", "replay", "--yes", "--json"])
        .args(["--event-id", &ids[0], "--event-id", &ids[1]]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["counts"]["SUCCESS"], 2);
    assert_eq!(s["skips"]["FILTERED"], 13);
    let accepted: Vec<String> = emu.ledger().accepted.into_keys().collect();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(accepted, want);
    let mut lines = 0;
    for line in o.stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        lines += 1;
    }
    assert!(lines > 0, "debug logs were written");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_override_and_signed_webhook() {
    let emu = emulator(10).start().await.unwrap();
    let webhook_secret = "Wh00k-SECRET-77-do-not-print";
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.env(
        "DESTINATION_OVERRIDE_URL",
        "https://hooks.example.com/replay",
    )
    .env("MONITORING_WEBHOOK_URL", emu.webhook_url())
    .env("MONITORING_WEBHOOK_SECRET", webhook_secret)
    .args([
        "-vv",
        "replay",
        "--yes",
        "--json",
        "--allow-destination-host",
        "hooks.example.com",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(!o.stdout.contains(webhook_secret) && !o.stderr.contains(webhook_secret));
    let s = o.json();
    assert_eq!(s["counts"]["SUCCESS"], 10);
    assert_eq!(s["monitor_dropped"], 0);
    let log = AuditLog::read(sb.file("replay_audit_log.jsonl")).unwrap();
    assert!(
        log.records.iter().all(|r| r.status == ReplayStatus::Success
            && r.destination == "https://hooks.example.com/replay"),
        "{:?}",
        log.records.first()
    );
    let ledger = emu.ledger();
    // replay_started, one replay_status_update per event, replay_completed
    assert_eq!(ledger.webhooks, 12, "the monitor posted every notification");
    assert_eq!(ledger.webhook_deliveries.len(), 12);
    assert!(
        ledger.webhook_deliveries.iter().all(|d| d
            .webhook_signature
            .as_deref()
            .is_some_and(|s| s.starts_with("v1,"))),
        "every notification is signed"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_replay_options_exit_2() {
    let emu = emulator(3).start().await.unwrap();
    let sb = Sandbox::new();
    let cases: [(&[&str], &str); 10] = [
        (
            &["--destination-override", "http://hooks.example.com/"],
            "--destination-override",
        ),
        (
            &[
                "--destination-override",
                "https://evil.example.net/",
                "--allow-destination-host",
                "hooks.example.com",
            ],
            "--destination-override",
        ),
        (
            &[
                "--since",
                "2024-05-10T00:00:00Z",
                "--until",
                "2024-05-01T00:00:00Z",
            ],
            "--since/--until",
        ),
        (&["--max-age", "seven days"], "--max-age"),
        (&["--rate", "0"], "--rate"),
        (&["--rate", "quick"], "--rate"),
        (&["--rate", "10", "--rate-min", "5"], "--rate-min"),
        (&["--rate-max", "50"], "--rate"),
        (&["--rate", "auto", "--rate-max=-1"], "--rate-max"),
        (
            &["--rate", "auto", "--rate-min", "50", "--rate-max", "10"],
            "--rate-min/--rate-max: min (50) is above max (10)",
        ),
    ];
    for (args, needle) in cases {
        let mut c = sb.cmd_for(&emu);
        c.arg("replay").args(args);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stderr.contains(needle), "{needle}: {}", o.stderr);
    }
    assert_eq!(emu.ledger().accepted_total(), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_retries_moves_the_retry_window() {
    let emu = emulator(20).start().await.unwrap();
    let over = emu
        .events(TOPIC)
        .iter()
        .filter(|e| e.retry_count() + 1 > 2)
        .count() as u64;
    assert!(over > 0);
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--json", "--dry-run", "--max-retries", "2"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(
        s["skips"][SkipReason::RetryWindowExceeded.as_str()],
        over,
        "{s}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_topics_from_flags_or_the_environment() {
    let emu = emulator(24)
        .topics(["topic_a", "topic_b"])
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay",
        "--json",
        "--dry-run",
        "--topic",
        "topic_a",
        "--topic",
        "topic_b",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 24);
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_TOPIC_ID", "topic_a,topic_b").args([
        "replay",
        "--json",
        "--dry-run",
        "--audit-log",
        "env.jsonl",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 24);
    let log = AuditLog::read(sb.file("env.jsonl")).unwrap();
    let topics: std::collections::BTreeSet<&str> =
        log.records.iter().map(|r| r.topic_id.as_str()).collect();
    assert_eq!(
        topics.into_iter().collect::<Vec<_>>(),
        ["topic_a", "topic_b"]
    );
    // dlq list and stats read several topics too; dlq show reads one
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_TOPIC_ID", "topic_a,topic_b")
        .args(["dlq", "stats", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(
        o.json()["by_topic"],
        serde_json::json!({"topic_a": 12, "topic_b": 12})
    );
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_TOPIC_ID", "topic_a,topic_b")
        .args(["dlq", "show", "evt_x"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--topic"), "{}", o.stderr);
    emu.shutdown().await;
}
