//! `audit summary` of a real run's log, including a torn last line.

use crate::support::{Sandbox, emulator, run};
use std::io::Write;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_of_a_run_and_of_a_torn_log() {
    let emu = emulator(20).exhausted_fraction(0.1).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--audit-log", "run.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    let run_summary = o.json();
    let run_id = run_summary["run_id"].as_str().unwrap().to_string();

    let mut c = sb.cmd();
    c.args(["audit", "summary", "run.jsonl", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["records"], 20);
    assert_eq!(s["events"], 20);
    assert_eq!(s["runs"].as_array().unwrap().len(), 1);
    assert_eq!(s["runs"][0]["run_id"], run_id.as_str());
    assert_eq!(s["runs"][0]["records"], 20);
    assert_eq!(s["runs"][0]["counts"], run_summary["counts"]);
    assert!(s["runs"][0]["duration_ms"].as_u64().is_some());
    assert_eq!(s["run"], serde_json::Value::Null);
    assert_eq!(s["final_counts"], run_summary["counts"]);
    assert_eq!(s["skips"], run_summary["skips"]);
    assert!(s["torn_tail"].is_null());
    assert_eq!(s["path"], "run.jsonl");

    let mut c = sb.cmd();
    c.args(["audit", "summary", "run.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(
        o.stdout.starts_with("Audit log run.jsonl\n"),
        "{}",
        o.stdout
    );
    for needle in [
        "FINAL STATUS",
        "SUCCESS",
        "SKIPPED BY REASON",
        run_id.as_str(),
    ] {
        assert!(o.stdout.contains(needle), "{needle}:\n{}", o.stdout);
    }
    assert!(!o.stdout.contains("torn"), "{}", o.stdout);

    // a crash cut the last write short
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(sb.file("run.jsonl"))
        .unwrap();
    f.write_all(br#"{"event_id":"evt_cut","act"#).unwrap();
    drop(f);
    let mut c = sb.cmd();
    c.args(["audit", "summary", "run.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(
        o.stdout.contains("warning: the last line (21"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("torn"), "{}", o.stdout);
    let mut c = sb.cmd();
    c.args(["audit", "summary", "run.jsonl", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["torn_tail"]["line"], 21);
    assert_eq!(s["records"], 20);
    emu.shutdown().await;
}

#[tokio::test]
async fn missing_log_is_a_usage_error() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["audit", "summary", "nope.jsonl"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.starts_with("error: no audit log at nope.jsonl"),
        "{}",
        o.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_has_a_row_per_run_and_can_show_one() {
    let emu = emulator(12).start().await.unwrap();
    let sb = Sandbox::new();
    let mut ids = Vec::new();
    for args in [
        vec!["replay", "--dry-run", "--json"],
        vec!["replay", "--yes", "--json", "--limit", "5"],
        vec!["replay", "--yes", "--json", "--resume"],
    ] {
        let mut c = sb.cmd_for(&emu);
        c.args(&args);
        let o = run(c).await;
        o.expect_code(0);
        ids.push(o.json()["run_id"].as_str().unwrap().to_string());
    }
    let mut c = sb.cmd();
    c.args(["audit", "summary", "replay_audit_log.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    let header = o
        .stdout
        .lines()
        .find(|l| l.starts_with("RUN "))
        .unwrap_or_else(|| panic!("no run table:\n{}", o.stdout));
    for h in [
        "STARTED",
        "DURATION",
        "SUCCESS",
        "DUPLICATE",
        "FAILED",
        "SKIPPED",
        "DRY_RUN",
    ] {
        assert!(header.contains(h), "{header}");
    }
    // one row per run, in order, with its counts
    let rows: Vec<&str> = o
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("RUN "))
        .skip(1)
        .take(3)
        .collect();
    for (row, id) in rows.iter().zip(&ids) {
        assert!(row.starts_with(id.as_str()), "{row}");
    }
    let cells = |row: &str| -> Vec<u64> {
        row.split_whitespace()
            .rev()
            .take(5)
            .map(|c| c.parse().unwrap())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    };
    // SUCCESS DUPLICATE FAILED SKIPPED DRY_RUN
    assert_eq!(cells(rows[0]), [0, 0, 0, 0, 12]);
    assert_eq!(cells(rows[1]), [5, 0, 0, 0, 0]);
    assert_eq!(cells(rows[2]), [7, 0, 0, 0, 0]);

    let mut c = sb.cmd();
    c.args([
        "audit",
        "summary",
        "replay_audit_log.jsonl",
        "--json",
        "--run",
        &ids[1],
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["run"], ids[1].as_str());
    assert_eq!(s["records"], 5);
    assert_eq!(s["final_counts"]["SUCCESS"], 5);
    assert_eq!(s["runs"].as_array().unwrap().len(), 1);

    let mut c = sb.cmd();
    c.args([
        "audit",
        "summary",
        "replay_audit_log.jsonl",
        "--run",
        "run-nope",
    ]);
    let o = run(c).await;
    o.expect_code(1);
    assert!(
        o.stderr
            .starts_with("error: no run run-nope in replay_audit_log.jsonl"),
        "{}",
        o.stderr
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_file_that_is_not_an_audit_log_exits_1() {
    let sb = Sandbox::new();
    std::fs::write(sb.file("notes.txt"), "hello\nworld\n").unwrap();
    for cmd in ["summary", "failed"] {
        let mut c = sb.cmd();
        c.args(["audit", cmd, "notes.txt"]);
        let o = run(c).await;
        o.expect_code(1);
        assert!(o.stdout.is_empty(), "{}", o.stdout);
        assert!(
            o.stderr.starts_with(
                "error: notes.txt is not an audit log: none of its 2 line(s) is an audit record"
            ),
            "{}",
            o.stderr
        );
    }
    // an empty log is a log with nothing in it
    std::fs::write(sb.file("empty.jsonl"), "").unwrap();
    let mut c = sb.cmd();
    c.args(["audit", "summary", "empty.jsonl", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["records"], 0);
}
