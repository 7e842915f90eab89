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
    assert_eq!(s["runs"], serde_json::json!([run_id]));
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
