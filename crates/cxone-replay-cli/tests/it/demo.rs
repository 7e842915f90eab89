//! `demo`: the README's first command.

use crate::support::{Sandbox, counts_sum, run};
use cxone_dlq_replay::AuditLog;
use std::path::PathBuf;

#[tokio::test]
async fn demo_json_adds_up() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["demo", "--json", "--events", "300"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["seen"], 300);
    assert_eq!(counts_sum(&s), 300);
    assert_eq!(s["counts"]["FAILED"], 0);
    assert_eq!(s["counts"]["DRY_RUN"], 0);
    assert!(
        s["counts"]["SKIPPED"].as_u64().unwrap() > 0,
        "the demo seeds some skips"
    );
    let skips: u64 = s["skips"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(skips, s["counts"]["SKIPPED"].as_u64().unwrap());
    let delivered =
        s["counts"]["SUCCESS"].as_u64().unwrap() + s["counts"]["DUPLICATE"].as_u64().unwrap();
    let emu = &s["emulator"];
    assert_eq!(emu["accepted_events"].as_u64().unwrap(), delivered);
    assert_eq!(emu["violations"], 0);
    assert!(
        emu["put_requests"].as_u64().unwrap() > delivered,
        "the default faults made some PUTs fail and be retried"
    );
    // the default audit log is a new file in the temp directory (TMPDIR = the sandbox)
    let log = PathBuf::from(s["audit_log"].as_str().unwrap());
    assert!(log.starts_with(sb.path()), "{}", log.display());
    assert_eq!(AuditLog::read(&log).unwrap().records.len(), 300);
}

#[tokio::test]
async fn demo_text_without_faults() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args([
        "demo",
        "--events",
        "50",
        "--faults",
        "none",
        "--audit-log",
        "demo.jsonl",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(
        o.stdout.starts_with("Demo: 50 failed events"),
        "{}",
        o.stdout
    );
    for needle in [
        "SUCCESS",
        "total seen",
        "throughput",
        "audit log   demo.jsonl",
        "injected 0 5xx",
    ] {
        assert!(o.stdout.contains(needle), "{needle}:\n{}", o.stdout);
    }
    assert_eq!(
        AuditLog::read(sb.file("demo.jsonl")).unwrap().records.len(),
        50
    );
    // The "Next:" hint is a command that works as printed (here: no PATH, so the binary's
    // own path, as after `cargo run`).
    let next = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Next: "))
        .unwrap_or_else(|| panic!("no Next: line\n{}", o.stdout));
    assert!(next.ends_with(" audit summary demo.jsonl"), "{next}");
    #[cfg(unix)]
    {
        let mut c = std::process::Command::new("/bin/sh");
        c.env_clear().current_dir(sb.path()).args(["-c", next]);
        let o = run(c).await;
        o.expect_code(0);
        assert!(o.stdout.starts_with("Audit log demo.jsonl"), "{}", o.stdout);
    }
}
