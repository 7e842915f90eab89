//! `dlq list` and `dlq stats` against the emulator's seeded DLQ.

use crate::support::{Sandbox, TOPIC, emulator, run};
use std::collections::BTreeMap;

#[tokio::test]
async fn list_json_and_text() {
    let emu = emulator(30).exhausted_fraction(0.1).start().await.unwrap();
    let seeded = emu.events(TOPIC);
    let sb = Sandbox::new();

    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "list", "--limit", "7", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["count"], 7);
    assert_eq!(j["truncated"], true);
    assert_eq!(j["topic"], TOPIC);
    let events = j["events"].as_array().unwrap();
    assert_eq!(events.len(), 7);
    for (got, want) in events.iter().zip(&seeded) {
        assert_eq!(got["event_id"], want.event_id.as_str());
        assert_eq!(got["retry_count"], want.retry_count());
        assert_eq!(
            got["failure_reason"].as_str(),
            want.failure_reason.as_deref()
        );
        assert!(got["age_seconds"].as_i64().unwrap() > 0);
    }

    // all of them: not truncated
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "list", "--limit", "1000", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["count"], 30);
    assert_eq!(j["truncated"], false);

    // text: a header and one aligned row per event
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "list", "--limit", "3"]);
    let o = run(c).await;
    o.expect_code(0);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines[0].starts_with("EVENT ID"), "{}", o.stdout);
    for h in ["TYPE", "REASON", "RETRIES", "AGE"] {
        assert!(lines[0].contains(h), "{}", o.stdout);
    }
    for (i, e) in seeded.iter().take(3).enumerate() {
        assert!(lines[i + 1].starts_with(&e.event_id), "{}", o.stdout);
    }
    assert!(o.stdout.contains("raise --limit"), "{}", o.stdout);
    emu.shutdown().await;
}

#[tokio::test]
async fn stats_count_what_is_in_the_dlq() {
    let emu = emulator(40).exhausted_fraction(0.1).start().await.unwrap();
    let seeded = emu.events(TOPIC);
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_retry: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for e in &seeded {
        *by_reason
            .entry(e.failure_reason.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
        *by_retry.entry(e.retry_count().to_string()).or_default() += 1;
        *by_type
            .entry(e.event_type().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
    }
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "stats", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["total"], 40);
    let as_map = |v: &serde_json::Value| -> BTreeMap<String, u64> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
            .collect()
    };
    assert_eq!(as_map(&j["by_reason"]), by_reason);
    assert_eq!(as_map(&j["by_retry_count"]), by_retry);
    assert_eq!(as_map(&j["by_event_type"]), by_type);

    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "stats"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(
        o.stdout
            .starts_with(&format!("40 event(s) in the DLQ of topic {TOPIC}")),
        "{}",
        o.stdout
    );
    for h in ["FAILURE REASON", "EVENT TYPE", "RETRY COUNT"] {
        assert!(o.stdout.contains(h), "{}", o.stdout);
    }
    // the most frequent reason, with its count, on one line
    let (top, n) = by_reason.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with(top.as_str()) && l.trim_end().ends_with(&n.to_string())),
        "{}",
        o.stdout
    );
    emu.shutdown().await;
}
