//! Re-driving failures: `--only-failed AUDIT_LOG` and `--event-ids-file`.

use crate::support::{Sandbox, TOPIC, emulator, run};
use cxone_eventbridge_emulator::ROUTE_PUT;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_re_sends_exactly_the_failed_events() {
    let emu = emulator(20).start().await.unwrap();
    let ids: Vec<String> = emu.events(TOPIC).into_iter().map(|e| e.event_id).collect();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "dlq.jsonl"]);
    run(c).await.expect_code(0);
    // Permanent failures: three lines whose payload no longer matches the DLQ's (422).
    let broken: BTreeSet<String> = [2, 7, 12].iter().map(|i| ids[*i].clone()).collect();
    let text: String = std::fs::read_to_string(sb.file("dlq.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let id = serde_json::from_str::<serde_json::Value>(l).unwrap()["eventId"]
                .as_str()
                .unwrap()
                .to_string();
            let l = if broken.contains(&id) {
                l.replacen(r#""payload":{"#, r#""payload":{"tampered":true,"#, 1)
            } else {
                l.to_string()
            };
            l + "\n"
        })
        .collect();
    std::fs::write(sb.file("dlq.jsonl"), text).unwrap();

    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--from-file", "dlq.jsonl", "--json"]);
    let o = run(c).await;
    o.expect_code(1);
    let s = o.json();
    assert_eq!(s["counts"]["FAILED"], 3, "{s}");
    assert_eq!(s["failures"]["SCHEMA_VIOLATION"], 3, "{s}");
    assert_eq!(s["counts"]["SUCCESS"], 17, "{s}");
    // a later dry run that filters them out says nothing about their delivery: still failed
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--dry-run", "--json", "--event-id", &ids[0]]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["skips"]["FILTERED"], 19);
    let puts_before = emu.ledger().requests_on(ROUTE_PUT);

    // audit failed lists them, with class, status and message
    let mut c = sb.cmd();
    c.args(["audit", "failed", "replay_audit_log.jsonl", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["count"], 3);
    assert_eq!(j["by_class"]["SCHEMA_VIOLATION"], 3);
    assert_eq!(j["log_events"], 20);
    let listed: BTreeSet<String> = j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["topic_id"], TOPIC);
            assert_eq!(e["error_classification"], "SCHEMA_VIOLATION");
            assert_eq!(e["http_status"], 422);
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
            e["event_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(listed, broken);
    let mut c = sb.cmd();
    c.args(["audit", "failed", "replay_audit_log.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(o.stdout.starts_with("TOPIC"), "{}", o.stdout);
    for h in ["EVENT ID", "CLASS", "HTTP", "MESSAGE"] {
        assert!(o.stdout.lines().next().unwrap().contains(h), "{}", o.stdout);
    }
    assert!(
        o.stdout.contains(&format!(
            " replay --topic {TOPIC} --only-failed replay_audit_log.jsonl\n"
        )),
        "{}",
        o.stdout
    );
    let mut c = sb.cmd();
    c.args([
        "audit",
        "failed",
        "replay_audit_log.jsonl",
        "--class",
        "NETWORK",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(
        o.stdout.starts_with("No event's final outcome"),
        "{}",
        o.stdout
    );

    // a class that did not fail: nothing to re-drive, nothing sent
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--only-failed", "replay_audit_log.jsonl"])
        .args(["--only-failed-class", "NETWORK"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(o.stderr.contains("nothing to re-drive"), "{}", o.stderr);
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), puts_before);

    // re-drive from the DLQ itself: exactly the three, once each
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--audit-log", "redrive.jsonl"])
        .args(["--only-failed", "replay_audit_log.jsonl"])
        .args(["--only-failed-class", "schema_violation"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["counts"]["SUCCESS"], 3, "{s}");
    assert_eq!(s["skips"]["FILTERED"], 17, "{s}");
    let ledger = emu.ledger();
    assert_eq!(
        ledger.requests_on(ROUTE_PUT) - puts_before,
        3,
        "one PUT per failed event, none for the others"
    );
    assert_eq!(ledger.accepted.len(), 20);
    assert!(ledger.accepted.values().all(|n| *n == 1), "never twice");
    let redriven: BTreeSet<String> = cxone_dlq_replay::AuditLog::read(sb.file("redrive.jsonl"))
        .unwrap()
        .records
        .into_iter()
        .filter(|r| r.status == cxone_replay_domain::ReplayStatus::Success)
        .map(|r| r.event_id)
        .collect();
    assert_eq!(redriven, broken);

    // combined by AND with the other filters: one id of the three
    let mut c = sb.cmd_for(&emu);
    c.args([
        "dlq",
        "list",
        "--json",
        "--only-failed",
        "replay_audit_log.jsonl",
    ])
    .args(["--event-id", &ids[7]]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["count"], 1);
    assert_eq!(j["events"][0]["event_id"], ids[7].as_str());
    emu.shutdown().await;
}

#[tokio::test]
async fn event_ids_file_joins_event_id() {
    let emu = emulator(12).start().await.unwrap();
    let ids: Vec<String> = emu.events(TOPIC).into_iter().map(|e| e.event_id).collect();
    let sb = Sandbox::new();
    std::fs::write(
        sb.file("ids.txt"),
        format!("# to look at\n{}\n\n  {}  \n# {}\n", ids[1], ids[4], ids[5]),
    )
    .unwrap();
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "list", "--json", "--event-ids-file", "ids.txt"])
        .args(["--event-id", &ids[9]]);
    let o = run(c).await;
    o.expect_code(0);
    let got: Vec<String> = o.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, [ids[1].clone(), ids[4].clone(), ids[9].clone()]);

    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay",
        "--dry-run",
        "--json",
        "--event-ids-file",
        "ids.txt",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["counts"]["DRY_RUN"], 2);
    assert_eq!(s["skips"]["FILTERED"], 10);

    // a file with no ids, a missing file, a log that is not an audit log
    std::fs::write(sb.file("empty.txt"), "# none\n").unwrap();
    std::fs::write(sb.file("notes.txt"), "hello\n").unwrap();
    for (args, code, needle) in [
        (["--event-ids-file", "empty.txt"], 2, "lists no event ids"),
        (["--event-ids-file", "nope.txt"], 2, "no file at nope.txt"),
        (
            ["--only-failed", "nope.jsonl"],
            2,
            "no audit log at nope.jsonl",
        ),
        (["--only-failed", "notes.txt"], 1, "is not an audit log"),
    ] {
        let mut c = sb.cmd_for(&emu);
        c.args(["dlq", "stats"]).args(args);
        let o = run(c).await;
        o.expect_code(code);
        assert!(o.stderr.contains(needle), "{}", o.stderr);
    }
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "stats", "--only-failed-class", "NETWORK"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--only-failed"), "{}", o.stderr);
    emu.shutdown().await;
}
