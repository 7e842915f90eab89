//! Running under a supervisor: signals, the file-size limit, closed or full streams, the lock
//! on the audit log, redaction of the webhook URL, and the spans of the logs.
#![cfg(unix)]

use crate::support::*;
use cxone_dlq_replay::AuditLog;
use cxone_eventbridge_emulator::EmulatorHandle;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for something it polls for before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A `replay --yes --json` of `emu` whose events take 20 ms each, two at a time: it runs
/// long enough to be caught in the middle.
fn slow_replay(sb: &Sandbox, emu: &EmulatorHandle, args: &[&str]) -> Command {
    let mut c = sb.cmd_for(emu);
    c.args(["replay", "--yes", "--json", "--concurrency", "2"])
        .args(args);
    c
}

async fn slow_emulator(events: usize) -> EmulatorHandle {
    emulator(events)
        .latency(Duration::from_millis(20), Duration::ZERO)
        .start()
        .await
        .unwrap()
}

/// Records in the audit log at `path` (0 while it does not exist).
fn records(path: &Path) -> usize {
    AuditLog::read(path).map_or(0, |r| r.records.len())
}

/// Waits (polling, at most [`PATIENCE`]) until the audit log at `path` holds `n` records,
/// which says the run is under way and holds the log.
fn wait_for_records(path: &Path, n: usize, child: &mut Child) {
    let start = Instant::now();
    while records(path) < n {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before {n} records");
        }
        assert!(start.elapsed() < PATIENCE, "no {n} records in {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

/// Waits for `child` to exit: a liveness check, killed and failed if it is still running
/// [`PATIENCE`] later (`when` says after what).
fn exited(child: &mut Child, when: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("still running {PATIENCE:?} {when}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `c`, sends it SIGTERM once `log` holds `n` records, and returns its output once it has
/// exited (within [`PATIENCE`]).
async fn sigterm_after_records(c: Command, log: &Path, n: usize) -> Output {
    let log = log.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut child = piped(c);
        wait_for_records(&log, n, &mut child);
        kill(&child, "-TERM");
        exited(&mut child, "after SIGTERM");
        output(child)
    })
    .await
    .unwrap()
}

fn output(child: Child) -> Output {
    let out = child.wait_with_output().expect("wait");
    let o = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_clean("stdout", &o.stdout);
    assert_clean("stderr", &o.stderr);
    o
}

fn piped(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_exits_143_and_resume_delivers_the_rest_once() {
    let emu = slow_emulator(400).await;
    let sb = Sandbox::new();
    let log = sb.file("replay_audit_log.jsonl");
    let c = slow_replay(&sb, &emu, &[]);
    let o = sigterm_after_records(c, &log, 10).await;
    o.expect_code(143);
    assert!(
        o.stderr
            .contains("terminated (SIGTERM): finishing the events in flight"),
        "{}",
        o.stderr
    );
    let first = o.json();
    assert_eq!(first["interrupted"], true, "{first}");
    assert_eq!(first["signal"], "SIGTERM", "{first}");
    let seen = first["seen"].as_u64().unwrap();
    assert!(seen < 400, "{first}");
    assert_eq!(counts_sum(&first), seen);
    // Every event seen has its record, and what the API accepted is exactly what the log
    // says was delivered: nothing in flight was lost.
    let read = AuditLog::read(&log).unwrap();
    assert_eq!(read.records.len() as u64, seen);
    let delivered: std::collections::BTreeSet<String> = read
        .records
        .iter()
        .filter(|r| r.status == cxone_replay_domain::ReplayStatus::Success)
        .map(|r| r.event_id.clone())
        .collect();
    let ledger = emu.ledger();
    let accepted: std::collections::BTreeSet<String> = ledger.accepted.keys().cloned().collect();
    assert_eq!(accepted, delivered);
    assert_eq!(first["counts"]["SUCCESS"], delivered.len() as u64);

    // --resume delivers the rest, each event exactly once.
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--resume"]);
    let o = run(c).await;
    o.expect_code(0);
    let second = o.json();
    assert_eq!(
        second["already_replayed"],
        delivered.len() as u64,
        "{second}"
    );
    let ledger = emu.ledger();
    assert!(ledger.accepted.values().all(|&n| n == 1), "exactly once");
    assert_eq!(ledger.duplicates, 0, "{ledger:?}");
    let skipped = first["counts"]["SKIPPED"].as_u64().unwrap()
        + second["counts"]["SKIPPED"].as_u64().unwrap();
    assert_eq!(ledger.accepted_total() + skipped, 400);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_with_the_first_ones_code() {
    // Every request takes 10 s, and the drain waits for the PUTs: the second signal cuts it
    // short.
    let emu = emulator(50)
        .latency(Duration::from_secs(10), Duration::ZERO)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = slow_replay(&sb, &emu, &[]);
    c.arg("-v");
    let mut child = piped(c);
    // The first signal must find PUTs in flight (a signal during the first page's read ends
    // the run at once, with nothing to drain): wait until the emulator holds one.
    let start = Instant::now();
    while emu.ledger().in_flight == 0 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before a PUT was in flight");
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no PUT in flight in {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let o = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader, Read};
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut stderr = String::new();
        let mut line = String::new();
        kill(&child, "-TERM");
        while !line.contains("finishing the events in flight") {
            line.clear();
            assert!(err.read_line(&mut line).expect("read") > 0, "{stderr}");
            stderr.push_str(&line);
        }
        kill(&child, "-INT");
        err.read_to_string(&mut stderr).expect("read");
        let mut o = output(child);
        o.stderr = stderr;
        o
    })
    .await
    .unwrap();
    o.expect_code(143);
    assert!(
        o.stderr
            .contains("error: stopped at once; events in flight have no audit record"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty(), "no summary: {}", o.stdout);
    // Not `shutdown`: that would wait for the PUTs the emulator is still sleeping on.
    drop(emu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_commands_stop_on_sigterm_with_143_and_leave_no_partial_file() {
    // Every page takes 2 s: the export is caught while it reads.
    let emu = emulator(300)
        .latency(Duration::from_secs(2), Duration::ZERO)
        .page_max(10)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "backup.jsonl"]);
    let dir = sb.path().to_path_buf();
    let o = tokio::task::spawn_blocking(move || {
        let child = piped(c);
        // The export's temporary file appears once it has logged in and started.
        let start = Instant::now();
        let partial = || {
            std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        };
        while !partial() {
            assert!(start.elapsed() < PATIENCE, "no partial file");
            std::thread::sleep(Duration::from_millis(10));
        }
        kill(&child, "-TERM");
        output(child)
    })
    .await
    .unwrap();
    o.expect_code(143);
    assert!(
        o.stderr
            .contains("stopped by SIGTERM before the command finished"),
        "{}",
        o.stderr
    );
    let left: Vec<String> = std::fs::read_dir(sb.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_audit_log_is_refused_while_a_run_holds_it() {
    let emu = slow_emulator(400).await;
    let sb = Sandbox::new();
    let log = sb.file("replay_audit_log.jsonl");
    std::fs::write(&log, b"").unwrap();
    std::os::unix::fs::symlink(&log, sb.file("sym.jsonl")).unwrap();
    std::fs::hard_link(&log, sb.file("hard.jsonl")).unwrap();
    let c = slow_replay(&sb, &emu, &[]);
    let log2 = log.clone();
    let child = tokio::task::spawn_blocking(move || {
        let mut child = piped(c);
        wait_for_records(&log2, 1, &mut child);
        child
    })
    .await
    .unwrap();
    for link in ["sym.jsonl", "hard.jsonl"] {
        let mut c = sb.cmd_for(&emu);
        c.args(["replay", "--yes", "--json", "--audit-log", link]);
        let o = run(c).await;
        o.expect_code(2);
        assert!(
            o.stderr.contains(&format!(
                "error: the audit log {link} is in use by another run"
            )),
            "{}",
            o.stderr
        );
        assert!(o.stdout.is_empty(), "{}", o.stdout);
    }
    // Readers are not blocked by the run.
    let mut c = sb.cmd();
    c.args(["audit", "summary", "hard.jsonl", "--json"]);
    run(c).await.expect_code(0);
    kill(&child, "-TERM");
    let o = tokio::task::spawn_blocking(move || output(child))
        .await
        .unwrap();
    o.expect_code(143);
    // No lock file, and the refused runs wrote nothing to the log.
    assert!(!sb.file("replay_audit_log.jsonl.lock").exists());
    assert_eq!(records(&log) as u64, o.json()["seen"].as_u64().unwrap());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_size_limit_ends_the_run_as_an_audit_write_failure() {
    let emu = emulator(200).start().await.unwrap();
    let sb = Sandbox::new();
    // 8 blocks of 512 bytes: room for about ten records.
    let mut c = Command::new("/bin/sh");
    c.env_clear()
        .current_dir(sb.path())
        .env("TMPDIR", sb.path())
        .env("CXONE_BASE_URL", emu.base_url())
        .env("CXONE_CLIENT_ID", CLIENT_ID)
        .env("CXONE_CLIENT_SECRET", SECRET)
        .env("CXONE_TOPIC_ID", TOPIC)
        .args([
            "-c",
            "ulimit -f 8 && exec \"$0\" replay --yes --json --concurrency 2",
            env!("CARGO_BIN_EXE_cxone-replay"),
        ]);
    let o = run(c).await;
    o.expect_code(1);
    assert!(
        o.stderr.contains("cannot append to replay_audit_log.jsonl"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains(
            "hint: the audit log replay_audit_log.jsonl reached the process's file-size limit"
        ),
        "{}",
        o.stderr
    );
    let s = o.json();
    let read = AuditLog::read(sb.file("replay_audit_log.jsonl")).unwrap();
    assert!(
        read.torn_tail.is_none() && read.malformed.is_empty(),
        "{read:?}"
    );
    let recorded = read.records.len() as u64;
    assert_eq!(s["seen"], recorded, "{s}");
    assert!(recorded > 0 && recorded < 200, "{s}");
    // Nothing was sent without a record, beyond the sends in flight when the log filled up.
    let accepted = emu.ledger().accepted_total();
    let successes = s["counts"]["SUCCESS"].as_u64().unwrap();
    assert!(
        accepted >= successes && accepted <= successes + 2,
        "{accepted} accepted, {successes} recorded (concurrency 2)"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_or_full_streams_never_panic() {
    let emu = emulator(20).start().await.unwrap();
    let sb = Sandbox::new();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };

    // stderr on a full device: logs and errors are lost, the exit code is not.
    let mut c = sb.cmd_for(&emu);
    c.args(["-vv", "replay", "--yes", "--json", "--audit-log", "a.jsonl"])
        .stderr(full());
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["counts"]["SUCCESS"], 20);
    let mut c = sb.cmd();
    c.args(["replay", "--yes"]).stderr(full());
    run(c).await.expect_code(2); // missing client id: the message is lost, not the code
    let mut c = sb.cmd();
    c.args(["audit", "summary", "nope.jsonl"]).stderr(full());
    let o = run(c).await;
    assert_ne!(o.code, 101, "no panic");
    assert_eq!(o.code, 2);

    // stdout on a full device: exit 1, said on stderr; the run's records are in the log.
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--audit-log", "b.jsonl"])
        .stdout(full());
    let o = run(c).await;
    o.expect_code(1);
    assert!(
        o.stderr
            .starts_with("error: cannot write the result to stdout:"),
        "{}",
        o.stderr
    );
    assert_eq!(records(&sb.file("b.jsonl")), 20);

    // stdout closed by its reader (`| head`): quiet, the command's own exit code.
    let mut c = sb.cmd();
    c.args(["audit", "summary", "a.jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = tokio::task::spawn_blocking(move || {
        let mut child = c.spawn().expect("spawn");
        drop(child.stdout.take()); // the reader is gone before anything is written
        output(child)
    })
    .await
    .unwrap();
    o.expect_code(0);
    assert!(o.stderr.is_empty(), "{}", o.stderr);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_never_shows_and_logs_say_which_run_and_event() {
    const HOOK_SECRET: &str = "T0BADC0DE/B0C0FFEE/wh-Path-Secret-42";
    // The webhook answers 503 (retried, then dropped); 5xx on the API make the client retry.
    let emu = emulator(30)
        .webhook_status(503)
        .fail_5xx(0.3)
        .start()
        .await
        .unwrap();
    let hooks = [
        // the emulator's webhook route, with the secret in the query (Teams-like)
        format!("{}?sig={HOOK_SECRET}", emu.webhook_url()),
        // nothing listens there: connection refused
        format!("http://127.0.0.1:{}/services/{HOOK_SECRET}", closed_port()),
    ];
    let sb = Sandbox::new();
    for (i, hook) in hooks.iter().enumerate() {
        let mut c = sb.cmd_for(&emu);
        c.env("MONITORING_WEBHOOK_URL", hook)
            .args(["-vvv", "replay", "--yes", "--json", "--max-attempts", "10"])
            .args(["--audit-log", &format!("w{i}.jsonl")]);
        let o = run(c).await;
        o.expect_code(0);
        for (name, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            assert!(
                !text.contains("wh-Path-Secret"),
                "{hook} in {name}:\n{text}"
            );
        }
        let log = std::fs::read_to_string(sb.file(&format!("w{i}.jsonl"))).unwrap();
        assert!(!log.contains("wh-Path-Secret"));
        assert!(
            o.stderr.contains("webhook"),
            "the webhook was tried:\n{}",
            o.stderr
        );
        // Every line of a send says which run and event it belongs to; the start is logged once.
        let run_id = o.json()["run_id"].as_str().unwrap().to_string();
        let retries: Vec<&str> = o
            .stderr
            .lines()
            .filter(|l| l.contains("retrying"))
            .collect();
        assert!(
            retries.iter().any(|l| l.contains("topic PUT")),
            "no PUT retried:\n{}",
            o.stderr
        );
        for line in retries {
            assert!(line.contains(&format!("run{{run_id={run_id}}}")), "{line}");
            if line.contains("topic PUT") {
                assert!(line.contains(&format!("topic{{topic={TOPIC}}}")), "{line}");
                assert!(line.contains("send{event_id=evt_"), "{line}");
                assert!(line.contains(" attempt="), "{line}");
            }
        }
        assert_eq!(
            o.stderr.matches("replay started").count(),
            1,
            "{}",
            o.stderr
        );
    }
    assert!(emu.ledger().webhooks > 0, "the first hook was posted to");

    // --help with the URL in the environment shows neither its value nor its secret.
    let mut c = sb.cmd();
    c.env("MONITORING_WEBHOOK_URL", &hooks[0])
        .args(["replay", "--help"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(o.stdout.contains("MONITORING_WEBHOOK_URL"), "{}", o.stdout);
    assert!(!o.stdout.contains(HOOK_SECRET), "{}", o.stdout);
    assert!(!o.stdout.contains(&emu.base_url()), "{}", o.stdout);
    emu.shutdown().await;
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_after_the_summary_ends_the_metrics_linger() {
    let emu = emulator(3).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json"]).args([
        "--metrics-addr",
        "127.0.0.1:0",
        "--metrics-linger",
        "1h",
    ]);
    let (code, summary, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = piped(c);
        // The summary (one JSON line): the run is over, the server lingers, nobody scrapes.
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut summary = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut summary).expect("the summary");
        kill(&child, "-TERM");
        let status = exited(&mut child, "after SIGTERM");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        (status.code(), summary, stderr)
    })
    .await
    .unwrap();
    assert_clean("stderr", &stderr);
    // The run had ended: its own exit code, not the signal's.
    assert_eq!(code, Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["counts"]["SUCCESS"], 3, "{summary}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_by_sigterm_does_not_linger_for_metrics() {
    // Kubernetes sends SIGTERM once, then kills the pod after its grace period: a run it
    // stopped drains, writes its summary and exits, without waiting for a scrape.
    let emu = slow_emulator(400).await;
    let sb = Sandbox::new();
    let log = sb.file("replay_audit_log.jsonl");
    let c = slow_replay(
        &sb,
        &emu,
        &["--metrics-addr", "127.0.0.1:0", "--metrics-linger", "1h"],
    );
    let o = sigterm_after_records(c, &log, 5).await;
    o.expect_code(143);
    let summary = o.json();
    assert_eq!(summary["signal"], "SIGTERM", "{summary}");
    assert_eq!(summary["seen"].as_u64().unwrap() as usize, records(&log));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_threads_sigterm_still_drains_and_exits_143() {
    // `--threads 2`: the run on a worker of a multi-thread runtime, the signal driver on
    // whichever worker parks (the default, one thread, is what the other signal tests run).
    let emu = slow_emulator(200).await;
    let sb = Sandbox::new();
    let log = sb.file("replay_audit_log.jsonl");
    let c = slow_replay(&sb, &emu, &["--threads", "2"]);
    let o = sigterm_after_records(c, &log, 5).await;
    o.expect_code(143);
    let summary = o.json();
    assert_eq!(summary["signal"], "SIGTERM", "{summary}");
    assert_eq!(
        records(&log),
        summary["seen"].as_u64().unwrap() as usize,
        "every event seen has its record"
    );
    emu.shutdown().await;
}
