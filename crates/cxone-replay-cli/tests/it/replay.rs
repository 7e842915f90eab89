//! `replay` against an emulator: faults, dry run, resume, failures.

use crate::support::{
    Output, Sandbox, TOPIC, assert_clean, counts_sum, emulator, emulator_with_ratelimit_fields,
    replay_paced_by_the_fields, run,
};
use cxone_dlq_replay::AuditLog;
use cxone_eventbridge_emulator::{EmulatorHandle, ROUTE_PUT};
use cxone_replay_domain::{Decision, EventFilter, ReplayPolicy, ReplayStatus, plan};
use std::collections::BTreeSet;
use std::time::Duration;

/// The ids of the seeded events the default policy replays.
fn eligible(emu: &EmulatorHandle) -> BTreeSet<String> {
    let now = chrono::Utc::now();
    emu.events(TOPIC)
        .iter()
        .filter(|e| {
            matches!(
                plan(
                    e,
                    TOPIC,
                    &ReplayPolicy::default(),
                    &EventFilter::default(),
                    now
                ),
                Decision::Replay(_)
            )
        })
        .map(|e| e.event_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_with_faults_delivers_every_eligible_event() {
    let emu = emulator(80)
        .exhausted_fraction(0.1)
        .oversize_fraction(0.05)
        .fail_5xx(0.08)
        .drop_fraction(0.04)
        .rate_limit_every(60, 1)
        .token_max_uses(25)
        .start()
        .await
        .unwrap();
    let want = eligible(&emu);
    assert!(want.len() >= 60 && want.len() < 80, "{}", want.len());
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    // -vv: debug logs on, and still no secret anywhere (checked by `run`)
    c.args([
        "-vv",
        "replay",
        "--yes",
        "--json",
        "--max-attempts",
        "10",
        "--concurrency",
        "4",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 80);
    assert_eq!(counts_sum(&s), 80);
    assert_eq!(s["counts"]["FAILED"], 0);
    assert_eq!(s["interrupted"], false);
    let delivered =
        s["counts"]["SUCCESS"].as_u64().unwrap() + s["counts"]["DUPLICATE"].as_u64().unwrap();
    assert_eq!(delivered, want.len() as u64);
    assert_eq!(
        s["counts"]["SKIPPED"].as_u64().unwrap(),
        80 - want.len() as u64
    );
    let ledger = emu.ledger();
    let accepted: BTreeSet<String> = ledger.accepted.keys().cloned().collect();
    assert_eq!(
        accepted, want,
        "the emulator accepted exactly the eligible events"
    );
    assert!(
        ledger.accepted.values().all(|n| *n == 1),
        "never accepted twice"
    );
    assert!(ledger.violations.is_empty(), "{:?}", ledger.violations);
    assert_eq!(ledger.altered_payloads, 0, "payloads sent byte for byte");
    assert!(ledger.rejections_total() > 0, "faults were injected");
    assert!(ledger.tokens_issued > 1, "the token was refreshed mid-run");
    // the audit log has one record per event, in the default place
    let log = AuditLog::read(sb.file("replay_audit_log.jsonl")).unwrap();
    assert_eq!(log.records.len(), 80);
    assert_eq!(s["audit_log"], "replay_audit_log.jsonl");
    assert!(
        o.stderr.contains("DEBUG"),
        "debug logging was on:\n{}",
        o.stderr
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_nothing() {
    let emu = emulator(25).exhausted_fraction(0.2).start().await.unwrap();
    let want = eligible(&emu);
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--dry-run", "--json", "--audit-log", "dry.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["dry_run"], true);
    assert_eq!(s["counts"]["DRY_RUN"], want.len() as u64);
    assert_eq!(s["counts"]["SUCCESS"], 0);
    assert_eq!(counts_sum(&s), 25);
    let ledger = emu.ledger();
    assert_eq!(ledger.requests_on(ROUTE_PUT), 0, "no PUT in a dry run");
    assert_eq!(ledger.accepted_total(), 0);
    let log = AuditLog::read(sb.file("dry.jsonl")).unwrap();
    assert_eq!(
        log.records
            .iter()
            .filter(|r| r.status == ReplayStatus::DryRun)
            .count(),
        want.len()
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_skips_what_a_previous_run_delivered() {
    let emu = emulator(30).exhausted_fraction(0.1).start().await.unwrap();
    let want = eligible(&emu);
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json"]);
    let first = run(c).await;
    first.expect_code(0);
    assert_eq!(first.json()["counts"]["SUCCESS"], want.len() as u64);
    let after_first = emu.ledger();
    assert_eq!(after_first.accepted_total(), want.len() as u64);

    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--resume", "--json"]);
    let second = run(c).await;
    second.expect_code(0);
    let s = second.json();
    assert_eq!(s["already_replayed"], want.len() as u64);
    assert_eq!(s["counts"]["SUCCESS"], 0);
    assert_eq!(s["counts"]["DUPLICATE"], 0);
    let after_second = emu.ledger();
    assert_eq!(
        after_second.accepted_total(),
        after_first.accepted_total(),
        "zero new accepted"
    );
    assert_eq!(
        after_second.requests_on(ROUTE_PUT),
        after_first.requests_on(ROUTE_PUT),
        "zero new PUTs"
    );
    // text mode says so too
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--resume"]);
    let third = run(c).await;
    third.expect_code(0);
    assert!(
        third.stdout.contains("already replayed (resume)"),
        "{}",
        third.stdout
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_1_and_are_counted() {
    // One attempt per request, 40% of requests answered 5xx, one event at a time: the fault
    // schedule is a pure function of the seed and the request order, so this run always has
    // failed PUTs after a successful DLQ read.
    let emu = emulator(6).seed(0).fail_5xx(0.4).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay",
        "--yes",
        "--json",
        "--max-attempts",
        "1",
        "--concurrency",
        "1",
    ]);
    let o = run(c).await;
    o.expect_code(1);
    let s = o.json();
    let failed = s["counts"]["FAILED"].as_u64().unwrap();
    let success = s["counts"]["SUCCESS"].as_u64().unwrap();
    assert!(failed >= 1, "{s}");
    assert_eq!(failed + success, 6, "{s}");
    assert_eq!(s["failures"]["MAX_RETRIES_EXCEEDED"], failed, "{s}");
    assert_eq!(emu.ledger().accepted_total(), success);
    // What the summary says to do: re-run with --resume. With enough attempts to outlast the
    // 40% of 5xx, that sends exactly the failed events again and delivers them: exit 0.
    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay",
        "--yes",
        "--json",
        "--resume",
        "--max-attempts",
        "100",
        "--concurrency",
        "1",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["already_replayed"], success, "{s}");
    assert_eq!(s["counts"]["SUCCESS"], failed, "{s}");
    assert_eq!(s["counts"]["FAILED"], 0, "{s}");
    let ledger = emu.ledger();
    assert_eq!(ledger.accepted_total(), 6);
    assert!(
        ledger.accepted.values().all(|n| *n == 1),
        "never accepted twice"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dlq_read_still_prints_the_partial_summary() {
    // With this seed the first DLQ page request gets a 5xx and there is a single attempt.
    let emu = emulator(6).seed(4).fail_5xx(0.4).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args([
        "replay",
        "--yes",
        "--json",
        "--max-attempts",
        "1",
        "--concurrency",
        "1",
    ]);
    let o = run(c).await;
    o.expect_code(1);
    let s = o.json();
    // the first page never came: nothing was seen, and the summary still adds up
    assert_eq!(s["seen"], 0, "{s}");
    assert_eq!(counts_sum(&s), 0);
    assert_eq!(s["interrupted"], false);
    assert!(o.stderr.contains("error: fetching the DLQ"), "{}", o.stderr);
    assert_eq!(emu.ledger().requests_on(ROUTE_PUT), 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_summary_is_a_table() {
    let emu = emulator(12)
        .exhausted_fraction(0.25)
        .latency(Duration::from_millis(1), Duration::ZERO)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--rate", "1000"]);
    let o = run(c).await;
    o.expect_code(0);
    for needle in [
        "STATUS",
        "SUCCESS",
        "SKIPPED BY REASON",
        "RETRY_WINDOW_EXCEEDED",
        "PUT LATENCY (ms)",
        "throughput",
        "paced at 1000.0/s at the end",
        "audit log   replay_audit_log.jsonl",
    ] {
        assert!(o.stdout.contains(needle), "{needle}:\n{}", o.stdout);
    }
    assert!(
        o.stderr.is_empty(),
        "no progress bar or logs off a terminal:\n{}",
        o.stderr
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_auto_follows_the_ratelimit_fields_and_reports_the_pace() {
    let emu = emulator_with_ratelimit_fields(30).await;
    let sb = Sandbox::new();
    let v = replay_paced_by_the_fields(&sb, &emu, &[], 30).await;
    assert!(
        v["sends_per_second"].as_f64().is_some_and(|r| r > 0.0),
        "{v}"
    );
    emu.shutdown().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_in_flight_events_and_exits_130() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    // 20 ms per request, two at a time: far longer than it takes to interrupt it.
    let emu = emulator(2000)
        .latency(Duration::from_millis(20), Duration::ZERO)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["-v", "replay", "--yes", "--json", "--concurrency", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = tokio::task::spawn_blocking(move || {
        let mut child = c.spawn().expect("spawn");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut stderr = String::new();
        // The Ctrl-C handler is installed before this line is logged.
        loop {
            let mut line = String::new();
            if err.read_line(&mut line).expect("read stderr") == 0 {
                break;
            }
            stderr.push_str(&line);
            if line.contains("replay started") {
                break;
            }
        }
        let killed = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        err.read_to_string(&mut stderr).expect("read stderr");
        let out = child.wait_with_output().expect("wait");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        }
    })
    .await
    .unwrap();
    assert_clean("stdout", &o.stdout);
    assert_clean("stderr", &o.stderr);
    o.expect_code(130);
    assert!(
        o.stderr
            .contains("interrupted: finishing the events in flight"),
        "{}",
        o.stderr
    );
    let s = o.json();
    assert_eq!(s["interrupted"], true);
    let seen = s["seen"].as_u64().unwrap();
    assert!(seen < 2000, "{s}");
    assert_eq!(counts_sum(&s), seen);
    // every event seen has its record: nothing in flight was lost
    let log = AuditLog::read(sb.file("replay_audit_log.jsonl")).unwrap();
    assert_eq!(log.records.len() as u64, seen);
    assert_eq!(
        emu.ledger().accepted_total(),
        s["counts"]["SUCCESS"].as_u64().unwrap()
    );
    emu.shutdown().await;
}
