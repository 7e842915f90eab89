//! Issue 15 at the command line: `--key-scope`, `--stop-after-failures`, and the exit codes and
//! output of a run the circuit breaker stopped.

use crate::support::{Sandbox, emulator, run};
use cxone_eventbridge_emulator::ROUTE_PUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_scope_topic_delivers_a_fan_out_to_both_topics() {
    let emu = emulator(8)
        .topics(["t1", "t2"])
        .fan_out(true)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    // The tutorial's key: the emulator dedupes keys across topics, t2's replays are 409s.
    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay", "--yes", "--json", "--topic", "t1", "--topic", "t2",
    ])
    .args(["--audit-log", "event.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(
        (
            s["counts"]["SUCCESS"].as_u64(),
            s["counts"]["DUPLICATE"].as_u64()
        ),
        (Some(8), Some(8)),
        "{s}"
    );
    emu.shutdown().await;

    let emu = emulator(8)
        .topics(["t1", "t2"])
        .fan_out(true)
        .start()
        .await
        .unwrap();
    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay",
        "--yes",
        "--json",
        "--topic",
        "t1",
        "--topic",
        "t2",
        "--key-scope",
        "topic",
    ])
    .args(["--audit-log", "topic.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(
        (
            s["counts"]["SUCCESS"].as_u64(),
            s["counts"]["DUPLICATE"].as_u64()
        ),
        (Some(16), Some(0)),
        "{s}"
    );
    let ledger = emu.ledger();
    assert_eq!(ledger.accepted.len(), 8);
    assert!(ledger.accepted.values().all(|&n| n == 2), "once per topic");
    assert!(
        ledger
            .accepted_keys
            .keys()
            .all(|k| k.starts_with("replay-t1-") || k.starts_with("replay-t2-")),
        "{:?}",
        ledger.accepted_keys.keys().take(3).collect::<Vec<_>>()
    );
    let log = std::fs::read_to_string(sb.file("topic.jsonl")).unwrap();
    assert!(
        log.contains(r#""idempotency_key":"replay-t2-evt_"#),
        "{log}"
    );

    // A topic too long for a topic-scoped key is a usage error naming --topic.
    let long = "t".repeat(250);
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--topic", &long, "--key-scope", "topic"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.contains("error: invalid --topic: topic `ttt"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("topic-scoped idempotency key"),
        "{}",
        o.stderr
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_after_failures_stops_prints_why_and_a_resume_finishes() {
    let emu = emulator(20).put_status(503).start().await.unwrap();
    let sb = Sandbox::new();
    let replay = |extra: &[&str]| {
        let mut c = sb.cmd_for(&emu);
        c.args([
            "replay",
            "--yes",
            "--max-attempts",
            "1",
            "--concurrency",
            "1",
        ])
        .args(extra);
        c
    };
    let o = run(replay(&["--json", "--stop-after-failures", "3"])).await;
    o.expect_code(1);
    let s = o.json();
    assert_eq!(s["counts"]["FAILED"], 3, "{s}");
    assert_eq!(s["seen"], 3, "{s}");
    assert_eq!(s["interrupted"], false);
    let stopped = s["stopped"].as_str().expect("stopped is set");
    assert!(
        stopped.starts_with("3 events in a row failed with a transient error"),
        "{stopped}"
    );
    assert!(s["error"].as_str().unwrap().contains(stopped), "{s}");
    assert!(
        o.stderr
            .contains(&format!("error: the run stopped: {stopped}")),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("hint: run again with --resume"),
        "{}",
        o.stderr
    );
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 3);

    // As text: the state, the reason and the resume hint.
    let o = run(replay(&["--stop-after-failures", "2", "--resume"])).await;
    o.expect_code(1);
    assert!(o.stdout.contains(" stopped\n"), "{}", o.stdout);
    assert!(
        o.stdout.contains("  stopped     2 events in a row failed"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .ends_with("Not every event was handled: run again with --resume to finish.\n"),
        "{}",
        o.stdout
    );
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 5);

    // 0 never stops: every event is tried.
    let o = run(replay(&[
        "--json",
        "--stop-after-failures",
        "0",
        "--audit-log",
        "other.jsonl",
    ]))
    .await;
    o.expect_code(1);
    let s = o.json();
    assert_eq!(
        (s["counts"]["FAILED"].as_u64(), &s["stopped"]),
        (Some(20), &serde_json::Value::Null),
        "{s}"
    );

    // The endpoint is back: the resume delivers everything, exactly once.
    emu.set_put_status(None).unwrap();
    let o = run(replay(&["--json", "--resume"])).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["counts"]["SUCCESS"], 20, "{s}");
    assert_eq!(s["stopped"], serde_json::Value::Null);
    let ledger = emu.ledger();
    assert_eq!(ledger.accepted.len(), 20);
    assert!(ledger.accepted.values().all(|&n| n == 1));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_refused_for_permission_stops_the_run_with_exit_2() {
    for status in [403u16, 401] {
        let emu = emulator(20).put_status(status).start().await.unwrap();
        let sb = Sandbox::new();
        let mut c = sb.cmd_for(&emu);
        c.args(["replay", "--yes", "--json", "--concurrency", "1"]);
        let o = run(c).await;
        o.expect_code(2);
        let s = o.json();
        assert_eq!(s["counts"]["FAILED"], 1, "{s}");
        let class = if status == 403 {
            "FORBIDDEN"
        } else {
            "UNAUTHORIZED"
        };
        assert_eq!(s["failures"][class], 1, "{s}");
        assert!(
            s["stopped"]
                .as_str()
                .unwrap()
                .contains(&format!("HTTP {status}")),
            "{s}"
        );
        assert!(
            o.stderr
                .contains("error: the run stopped: a replay was refused"),
            "{}",
            o.stderr
        );
        assert!(
            o.stderr.contains("hint: check the credentials"),
            "{}",
            o.stderr
        );
        let puts = emu.ledger().requests_on(ROUTE_PUT);
        assert_eq!(puts, if status == 401 { 2 } else { 1 }, "{status}");
        emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_whose_replays_all_get_404_stops_the_run_with_exit_2_and_resume_finishes() {
    // The DLQ of a topic that was deleted since: every PUT is answered 404.
    let emu = emulator(20).put_status(404).start().await.unwrap();
    let sb = Sandbox::new();
    let replay = |extra: &[&str]| {
        let mut c = sb.cmd_for(&emu);
        c.args(["replay", "--yes", "--json", "--concurrency", "1"])
            .args(extra);
        c
    };
    let o = run(replay(&["--stop-after-failures", "3"])).await;
    o.expect_code(2);
    let s = o.json();
    assert_eq!(s["counts"]["FAILED"], 3, "{s}");
    assert_eq!(s["failures"]["NOT_FOUND"], 3, "{s}");
    let stopped = s["stopped"].as_str().expect("stopped is set");
    assert!(
        stopped.starts_with("3 replays in a row were answered 404"),
        "{stopped}"
    );
    assert!(
        o.stderr.contains("hint: the topic's PUT route answers 404"),
        "{}",
        o.stderr
    );
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 3);

    // Fixed: the resume sends the 3 that failed again (they were audited FAILED, a resume
    // retries failures) and the 17 never sent, each once.
    emu.set_put_status(None).unwrap();
    let o = run(replay(&["--resume"])).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["counts"]["SUCCESS"], 20, "{s}");
    let ledger = emu.ledger();
    assert_eq!(ledger.accepted.len(), 20);
    assert!(ledger.accepted.values().all(|&n| n == 1));
    emu.shutdown().await;
}
