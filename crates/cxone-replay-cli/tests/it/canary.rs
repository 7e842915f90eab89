//! `--limit` (a canary that stops cleanly) and the confirmation of a live replay.

use crate::support::{Sandbox, emulator, run};
use cxone_eventbridge_emulator::{ROUTE_DLQ, ROUTE_PUT, ROUTE_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_10_sends_exactly_10_puts_and_resume_continues() {
    let emu = emulator(40).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay",
        "--yes",
        "--json",
        "--limit",
        "10",
        "--concurrency",
        "4",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["limit_reached"], true, "{s}");
    assert_eq!(s["interrupted"], false, "{s}");
    assert_eq!(s["counts"]["SUCCESS"], 10, "{s}");
    assert_eq!(s["seen"], 10, "{s}");
    let ledger = emu.ledger();
    assert_eq!(ledger.requests_on(ROUTE_PUT), 10, "exactly 10 PUTs");
    assert_eq!(ledger.accepted_total(), 10);

    // the text says so, and how to continue
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--limit", "5", "--resume"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(o.stdout.contains("stopped at its limit"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("Stopped after 5 sends (--limit): run again with --resume to continue."),
        "{}",
        o.stdout
    );
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 15);

    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--resume"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["already_replayed"], 15);
    assert_eq!(s["counts"]["SUCCESS"], 25);
    assert_eq!(s["limit_reached"], false);
    let ledger = emu.ledger();
    assert_eq!(ledger.requests_on(ROUTE_PUT), 40);
    assert_eq!(ledger.accepted.len(), 40);
    assert!(ledger.accepted.values().all(|n| *n == 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_live_replay_without_yes_and_without_a_terminal_sends_nothing() {
    let emu = emulator(10).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--json"]); // stdin is not a terminal under `output()`
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "error: a live replay needs --yes when not run from a terminal",
            "  hint: pass --yes to send the events, or --dry-run to see what would be sent",
        ]
    );
    let ledger = emu.ledger();
    assert_eq!(ledger.requests_on(ROUTE_PUT), 0, "nothing sent");
    assert_eq!(ledger.requests_on(ROUTE_DLQ), 0, "not even read");
    assert_eq!(ledger.requests_on(ROUTE_TOKEN), 0, "not even logged in");
    assert!(!sb.file("replay_audit_log.jsonl").exists());

    // from a file too; a dry run needs no --yes
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "dlq.jsonl"]);
    run(c).await.expect_code(0);
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--from-file", "dlq.jsonl"]);
    run(c).await.expect_code(2);
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--dry-run", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["counts"]["DRY_RUN"], 10);
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 0);
    emu.shutdown().await;
}
