//! `dlq list`, `dlq stats` and `dlq show` against the emulator's seeded DLQ.

use crate::support::{Sandbox, TOPIC, emulator, run};
use std::collections::{BTreeMap, BTreeSet};

const OTHER: &str = "topic_cli_other";

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
    assert_eq!(j["read"], 7);
    assert_eq!(j["truncated"], true);
    assert_eq!(j["topics"], serde_json::json!([TOPIC]));
    assert!(j["next_page_tokens"][TOPIC].is_string(), "{j}");
    let events = j["events"].as_array().unwrap();
    assert_eq!(events.len(), 7);
    for (got, want) in events.iter().zip(&seeded) {
        assert_eq!(got["topic"], TOPIC);
        assert_eq!(got["event_id"], want.event_id.as_str());
        assert_eq!(got["retry_count"], want.retry_count());
        assert_eq!(
            got["failure_reason"].as_str(),
            want.failure_reason.as_deref()
        );
        assert!(got["age_seconds"].as_i64().unwrap() > 0);
    }

    // all of them: not truncated, no token
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "list", "--limit", "1000", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["count"], 30);
    assert_eq!(j["truncated"], false);
    assert_eq!(j["next_page_tokens"], serde_json::json!({}));

    // text: a header and one aligned row per event, then how to continue
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
    assert!(
        o.stdout.contains(&format!(
            "more in the DLQ of {TOPIC}: continue with --topic {TOPIC} --page-token "
        )),
        "{}",
        o.stdout
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn list_pages_with_the_printed_token_to_the_end() {
    let emu = emulator(23).start().await.unwrap();
    let want: Vec<String> = emu.events(TOPIC).into_iter().map(|e| e.event_id).collect();
    let sb = Sandbox::new();
    let mut got: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        assert!(page < 10, "paging does not end");
        let mut c = sb.cmd_for(&emu);
        c.args(["dlq", "list", "--limit", "5", "--json"]);
        if let Some(t) = &token {
            c.args(["--page-token", t]);
        }
        let o = run(c).await;
        o.expect_code(0);
        let j = o.json();
        got.extend(
            j["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string()),
        );
        token = j["next_page_tokens"][TOPIC].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(got, want, "every event once, in DLQ order");
    // a token continues one topic only
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "list", "--topic", TOPIC, "--topic", OTHER])
        .args(["--page-token", "abc"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--page-token"), "{}", o.stderr);
    emu.shutdown().await;
}

#[tokio::test]
async fn list_and_stats_take_filters_and_several_topics() {
    let emu = emulator(40)
        .topics([TOPIC, OTHER])
        .exhausted_fraction(0.1)
        .start()
        .await
        .unwrap();
    let all: Vec<(String, cxone_replay_domain::DlqEvent)> = [TOPIC, OTHER]
        .iter()
        .flat_map(|t| emu.events(t).into_iter().map(|e| (t.to_string(), e)))
        .collect();
    let event_type = all[0].1.event_type().unwrap();
    let reason = all[1].1.failure_reason.clone().unwrap();
    let want: BTreeSet<(String, String)> = all
        .iter()
        .filter(|(_, e)| {
            e.event_type().as_deref() == Some(event_type.as_str())
                && e.failure_reason.as_deref() == Some(reason.as_str())
        })
        .map(|(t, e)| (t.clone(), e.event_id.clone()))
        .collect();
    let sb = Sandbox::new();
    let filters = ["--event-type", &event_type, "--reason", &reason];

    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_TOPIC_ID", format!("{TOPIC},{OTHER}"))
        .args(["dlq", "list", "--limit", "1000", "--json"])
        .args(filters);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["topics"], serde_json::json!([TOPIC, OTHER]));
    assert_eq!(j["read"], 40);
    let got: BTreeSet<(String, String)> = j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["topic"].as_str().unwrap().to_string(),
                e["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);

    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "stats", "--json", "--topic", TOPIC, "--topic", OTHER])
        .args(filters);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["read"], 40);
    assert_eq!(j["total"], want.len() as u64);
    let by_topic: u64 = j["by_topic"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_topic, want.len() as u64);

    // relative times: the seeded failures are from 2024, long before "1h ago"
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "stats", "--json", "--topic", TOPIC, "--since", "1h"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["total"], 0);
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "stats", "--topic", TOPIC, "--until", "1h"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(
        o.stdout.starts_with(&format!(
            "20 event(s) in the DLQ of topic {TOPIC} matching the filters, of 20 read"
        )),
        "{}",
        o.stdout
    );
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "stats", "--topic", TOPIC, "--since", "yesterday"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("RFC 3339"), "{}", o.stderr);
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
    assert_eq!(j["read"], 40);
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
            .starts_with(&format!("40 event(s) in the DLQ of topic {TOPIC}\n")),
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

#[tokio::test]
async fn show_prints_one_event_as_received() {
    // page size 100 at most: the last event is on the third page
    let emu = emulator(250).start().await.unwrap();
    let last = emu.events(TOPIC).pop().unwrap();
    let sb = Sandbox::new();

    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "show", &last.event_id, "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let line = o.stdout.trim_end();
    assert!(!line.contains('\n'), "one line: {line}");
    let payload = last.payload.as_ref().unwrap().get();
    assert!(
        line.contains(&format!(r#""payload":{payload}"#)),
        "the payload's bytes as received:\n{line}"
    );
    let j = o.json();
    assert_eq!(j["eventId"], last.event_id.as_str());
    assert_eq!(j["topicId"], TOPIC);
    assert_eq!(j["retryCount"], last.retry_count());

    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "show", &last.event_id]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(
        o.stdout.starts_with(&format!(
            "event id        {}\ntopic           {TOPIC}\n",
            last.event_id
        )),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("\npayload ("), "{}", o.stdout);
    // pretty-printed: the same JSON value
    let pretty = o.stdout.split_once("as sent):\n").unwrap().1;
    let a: serde_json::Value = serde_json::from_str(pretty).unwrap();
    let b: serde_json::Value = serde_json::from_str(payload).unwrap();
    assert_eq!(a, b);

    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "show", "evt_not_there"]);
    let o = run(c).await;
    o.expect_code(1);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    assert!(
        o.stderr.starts_with(&format!(
            "error: no event `evt_not_there` in the DLQ of topic {TOPIC} (250 events read, to the end)"
        )),
        "{}",
        o.stderr
    );
    emu.shutdown().await;
}
