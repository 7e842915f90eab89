//! `dlq export` and `replay --from-file`: a DLQ to a file and back, byte for byte.

use crate::support::{
    Sandbox, TOPIC, counts_sum, emulator, emulator_with_ratelimit_fields,
    replay_paced_by_the_fields, run,
};
use cxone_dlq_replay::AuditLog;
use cxone_eventbridge_emulator::ROUTE_PUT;
use cxone_replay_domain::{
    Decision, DlqEvent, EventFilter, ReplayPolicy, ReplayStatus, SkipReason, plan,
};
use std::collections::BTreeSet;

const OTHER: &str = "topic_cli_other";

/// The events of a DLQ file, with their line's topic.
fn read_export(path: &std::path::Path) -> Vec<(String, DlqEvent)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let e = DlqEvent::from_slice(l.as_bytes()).unwrap();
            (e.topic_id.clone().unwrap(), e)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_every_event_with_its_payload_bytes() {
    // 250 events over two topics: several pages each; some payloads are large
    let emu = emulator(250)
        .topics([TOPIC, OTHER])
        .oversize_fraction(0.02)
        .exhausted_fraction(0.1)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_TOPIC_ID", format!("{TOPIC},{OTHER}")).args([
        "dlq",
        "export",
        "--out",
        "dlq.jsonl",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(
        o.stdout,
        format!("exported 250 event(s) of topics {TOPIC}, {OTHER} to dlq.jsonl (250 read)\n")
    );
    let got = read_export(&sb.file("dlq.jsonl"));
    let want: Vec<(String, DlqEvent)> = [TOPIC, OTHER]
        .iter()
        .flat_map(|t| emu.events(t).into_iter().map(|e| (t.to_string(), e)))
        .collect();
    assert_eq!(got.len(), want.len());
    for ((gt, g), (wt, w)) in got.iter().zip(&want) {
        assert_eq!((gt, &g.event_id), (wt, &w.event_id));
        assert_eq!(
            g.payload.as_ref().unwrap().get(),
            w.payload.as_ref().unwrap().get(),
            "payload of {} byte for byte",
            w.event_id
        );
        assert_eq!(g.retry_count, w.retry_count);
        assert_eq!(g.failure_reason, w.failure_reason);
        assert_eq!(g.first_failure_timestamp, w.first_failure_timestamp);
        assert_eq!(g.last_failure_timestamp, w.last_failure_timestamp);
    }
    // written beside and renamed: no temporary file is left
    let names: Vec<String> = std::fs::read_dir(sb.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");

    // an existing file is not replaced without --force
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "dlq.jsonl"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--force"), "{}", o.stderr);

    // `-`: the same lines on stdout, the count on stderr; a filter and --json
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_TOPIC_ID", format!("{TOPIC},{OTHER}"))
        .args(["dlq", "export", "--out", "-"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(
        o.stdout,
        std::fs::read_to_string(sb.file("dlq.jsonl")).unwrap()
    );
    assert!(
        o.stderr.starts_with("exported 250 event(s)"),
        "{}",
        o.stderr
    );
    let id = &want[3].1.event_id;
    let mut c = sb.cmd_for(&emu);
    c.args([
        "dlq",
        "export",
        "--out",
        "one.jsonl",
        "--json",
        "--event-id",
        id,
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(
        (j["written"].as_u64(), j["read"].as_u64()),
        (Some(1), Some(125))
    );
    assert_eq!(j["out"], "one.jsonl");
    assert_eq!(read_export(&sb.file("one.jsonl"))[0].1.event_id, *id);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_file_delivers_exactly_the_exported_events() {
    let emu = emulator(60)
        .topics([TOPIC, OTHER])
        .exhausted_fraction(0.1)
        .start()
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let eligible: BTreeSet<String> = [TOPIC, OTHER]
        .iter()
        .flat_map(|t| emu.events(t).into_iter().map(move |e| (*t, e)))
        .filter(|(t, e)| {
            matches!(
                plan(e, t, &ReplayPolicy::default(), &EventFilter::default(), now),
                Decision::Replay(_)
            )
        })
        .map(|(_, e)| e.event_id)
        .collect();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_TOPIC_ID", format!("{TOPIC},{OTHER}")).args([
        "dlq",
        "export",
        "--out",
        "backup.jsonl",
    ]);
    run(c).await.expect_code(0);
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 0);

    // a dry run of the file needs no credentials and no API at all
    let mut c = sb.cmd();
    c.args([
        "replay",
        "--from-file",
        "backup.jsonl",
        "--dry-run",
        "--json",
    ])
    .args(["--audit-log", "dry.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 60);
    assert_eq!(s["counts"]["DRY_RUN"], eligible.len() as u64);

    // live, every topic of the file: the emulator accepts exactly the eligible events, once
    let mut c = sb.cmd_for(&emu);
    c.env_remove("CXONE_TOPIC_ID").args([
        "replay",
        "--from-file",
        "backup.jsonl",
        "--json",
        "--yes",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 60);
    assert_eq!(counts_sum(&s), 60);
    let ledger = emu.ledger();
    let accepted: BTreeSet<String> = ledger.accepted.keys().cloned().collect();
    assert_eq!(accepted, eligible);
    assert!(ledger.accepted.values().all(|n| *n == 1));
    assert_eq!(ledger.altered_payloads, 0, "payloads sent as exported");
    assert!(ledger.violations.is_empty(), "{:?}", ledger.violations);
    let log = AuditLog::read(sb.file("replay_audit_log.jsonl")).unwrap();
    let topics: BTreeSet<&str> = log.records.iter().map(|r| r.topic_id.as_str()).collect();
    assert_eq!(topics, BTreeSet::from([TOPIC, OTHER]));

    // --topic filters the file's topics; --resume skips what was delivered
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--from-file", "backup.jsonl", "--topic", OTHER])
        .args(["--resume", "--json", "--yes"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(
        s["seen"].as_u64().unwrap() + s["already_replayed"].as_u64().unwrap(),
        30
    );
    assert_eq!(s["counts"]["SUCCESS"], 0);
    assert_eq!(emu.ledger().accepted_total(), eligible.len() as u64);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_from_a_file_is_paced_by_what_the_api_answers_its_puts() {
    use cxone_eventbridge_emulator::ROUTE_DLQ;
    // The file source reports no throttling; the client (the target) does: `--rate auto`
    // follows the RateLimit fields of the PUTs' answers.
    let emu = emulator_with_ratelimit_fields(30).await;
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "backup.jsonl"]);
    run(c).await.expect_code(0);
    let reads = emu.ledger().requests_on(ROUTE_DLQ);
    replay_paced_by_the_fields(&sb, &emu, &["--from-file", "backup.jsonl"], 30).await;
    assert_eq!(
        emu.ledger().requests_on(ROUTE_DLQ),
        reads,
        "the replay read the file, not the DLQ"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_line_that_does_not_parse_is_audited_with_its_number() {
    let emu = emulator(5).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "dlq.jsonl"]);
    run(c).await.expect_code(0);
    let mut text = std::fs::read_to_string(sb.file("dlq.jsonl")).unwrap();
    text.push_str("{\"eventId\":\"evt_torn\",\"topicId\":\"");
    std::fs::write(sb.file("dlq.jsonl"), text).unwrap();
    let mut c = sb.cmd();
    c.args(["replay", "--from-file", "dlq.jsonl", "--dry-run", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 6);
    assert_eq!(s["skips"]["INVALID_EVENT"], 1);
    let log = AuditLog::read(sb.file("replay_audit_log.jsonl")).unwrap();
    let bad = log
        .records
        .iter()
        .find(|r| r.skip_reason == Some(SkipReason::InvalidEvent))
        .unwrap();
    assert_eq!(bad.status, ReplayStatus::Skipped);
    assert!(
        bad.message.as_deref().unwrap().contains("(line 6)"),
        "{:?}",
        bad.message
    );
    // not a DLQ export at all; no such file
    std::fs::write(sb.file("notes.txt"), "hello\nworld\n").unwrap();
    let mut c = sb.cmd();
    c.args(["replay", "--from-file", "notes.txt", "--dry-run"]);
    let o = run(c).await;
    o.expect_code(1);
    assert!(o.stderr.contains("is not a DLQ export"), "{}", o.stderr);
    let mut c = sb.cmd();
    c.args(["replay", "--from-file", "nope.jsonl", "--dry-run"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("no file at nope.jsonl"), "{}", o.stderr);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_from_a_file_honours_the_key_scope_and_the_breaker() {
    let emu = emulator(12).put_status(503).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "dlq.jsonl"]);
    run(c).await.expect_code(0);
    let replay = |extra: &[&str]| {
        let mut c = sb.cmd_for(&emu);
        c.env_remove("CXONE_TOPIC_ID")
            .args(["replay", "--from-file", "dlq.jsonl", "--yes", "--json"])
            .args(["--max-attempts", "1", "--concurrency", "1"])
            .args(["--key-scope", "topic"])
            .args(extra);
        c
    };
    // the breaker stops a file's replay as it stops the API's
    let o = run(replay(&["--stop-after-failures", "2"])).await;
    o.expect_code(1);
    let s = o.json();
    assert_eq!(
        (s["counts"]["FAILED"].as_u64(), s["seen"].as_u64()),
        (Some(2), Some(2)),
        "{s}"
    );
    assert!(
        s["stopped"]
            .as_str()
            .unwrap()
            .starts_with("2 events in a row failed"),
        "{s}"
    );
    assert_eq!(s["limit_reached"], false);
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 2);

    // the endpoint is back: the resume delivers the rest under topic-scoped keys
    emu.set_put_status(None).unwrap();
    let o = run(replay(&["--resume"])).await;
    o.expect_code(0);
    assert_eq!(o.json()["counts"]["SUCCESS"], 12);
    let ledger = emu.ledger();
    assert_eq!(ledger.accepted.len(), 12);
    assert!(ledger.accepted.values().all(|&n| n == 1));
    let prefix = format!("replay-{TOPIC}-");
    assert!(
        ledger.accepted_keys.keys().all(|k| k.starts_with(&prefix)),
        "{:?}",
        ledger.accepted_keys.keys().take(3).collect::<Vec<_>>()
    );

    // two lines that do not parse are two INVALID_EVENTs, never a repeat within the run;
    // a line given twice is one
    let mut text = std::fs::read_to_string(sb.file("dlq.jsonl")).unwrap();
    let first = text.lines().next().unwrap().to_string();
    text.push_str("{oops\nnot json\n");
    text.push_str(&first);
    text.push('\n');
    std::fs::write(sb.file("dlq.jsonl"), text).unwrap();
    let mut c = sb.cmd();
    c.args(["replay", "--from-file", "dlq.jsonl", "--dry-run", "--json"])
        .args(["--audit-log", "dry.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 15, "{s}");
    assert_eq!(s["skips"]["INVALID_EVENT"], 2, "{s}");
    assert_eq!(s["skips"]["DUPLICATE_IN_RUN"], 1, "{s}");
    assert_eq!(s["counts"]["DRY_RUN"], 12, "{s}");
    emu.shutdown().await;
}
