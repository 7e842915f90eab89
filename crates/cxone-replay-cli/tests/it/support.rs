//! Runs the binary in isolation (empty environment, temp working directory) and checks that
//! the client secret never shows up in what it prints.

use cxone_eventbridge_emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A distinctive client secret: it must never appear in any output.
pub const SECRET: &str = "Sx-9f1d-NEVER-PRINT-ME-c0ffee";
/// The client id of the test emulators.
pub const CLIENT_ID: &str = "cli-test-client";
/// The access key id of the test emulators in access-key mode.
pub const KEY_ID: &str = "cli-test-access-key";
/// The access key secret: like the client secret, it must never appear in any output.
pub const KEY_SECRET: &str = "AK-7e57-NEVER-PRINT-ME-beef";
/// The topic of the test emulators.
pub const TOPIC: &str = "topic_cli_tests";

/// An emulator with the test credentials and topic, holding payload numbers to their exact
/// text (our client sends the payload's bytes as it got them).
pub fn emulator(events: usize) -> EmulatorBuilder {
    Emulator::builder()
        .events(events)
        .topics([TOPIC])
        .seed(11)
        .credentials(CLIENT_ID, SECRET)
        .strict_payload(true)
}

/// What a run of the binary printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout as one JSON object.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing the output if it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A temp working directory (so no stray `.env` is read) and the command in it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with an empty environment (only TMPDIR, inside the sandbox) and the sandbox
    /// as working directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cxone-replay"));
        c.env_clear()
            .env("TMPDIR", self.path())
            .current_dir(self.path());
        c
    }

    /// The binary configured for `emu` through the environment (as the tutorial does).
    pub fn cmd_for(&self, emu: &EmulatorHandle) -> Command {
        let mut c = self.cmd();
        c.env("CXONE_BASE_URL", emu.base_url())
            .env("CXONE_CLIENT_ID", CLIENT_ID)
            .env("CXONE_CLIENT_SECRET", SECRET)
            .env("CXONE_TOPIC_ID", TOPIC);
        c
    }
}

/// Runs the command off the async runtime (the emulator keeps serving) and checks that neither
/// stream contains the secret.
pub async fn run(mut cmd: Command) -> Output {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("spawn cxone-replay");
    let o = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_clean("stdout", &o.stdout);
    assert_clean("stderr", &o.stderr);
    o
}

/// Asserts that `text` has neither secret nor a panic.
pub fn assert_clean(name: &str, text: &str) {
    assert!(
        !text.contains(SECRET),
        "the client secret leaked to {name}:\n{text}"
    );
    assert!(
        !text.contains(KEY_SECRET),
        "the access key secret leaked to {name}:\n{text}"
    );
    assert!(
        !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
        "a panic on {name}:\n{text}"
    );
}

/// Sum of the five status counts of a summary.
pub fn counts_sum(summary: &Value) -> u64 {
    ["SUCCESS", "DUPLICATE", "FAILED", "SKIPPED", "DRY_RUN"]
        .iter()
        .map(|k| summary["counts"][*k].as_u64().expect("count"))
        .sum()
}

/// An [`emulator`] behind a rate limit of 5,000 requests per second (far above what a test
/// sends: the point is the wiring, not the timing) that sends the `RateLimit` fields.
pub async fn emulator_with_ratelimit_fields(events: usize) -> EmulatorHandle {
    emulator(events)
        .rate_limit(cxone_eventbridge_emulator::RateLimit::new(5_000))
        .rate_limit_headers(true)
        .start()
        .await
        .unwrap()
}

/// Runs `replay --yes --json --rate auto --rate-max 3000` with `args` against an
/// [`emulator_with_ratelimit_fields`] and checks that its `events` were delivered at the max:
/// the fields' policy (5,000/s) is above it, and slow start alone would still be near 10/s
/// after a few dozen sends. Returns the summary.
pub async fn replay_paced_by_the_fields(
    sb: &Sandbox,
    emu: &EmulatorHandle,
    args: &[&str],
    events: u64,
) -> Value {
    let mut c = sb.cmd_for(emu);
    c.args(["replay", "--yes", "--json", "--rate", "auto"])
        .args(["--rate-max", "3000"])
        .args(args);
    let o = run(c).await;
    o.expect_code(0);
    let v = o.json();
    assert_eq!(v["counts"]["SUCCESS"], events, "{v}");
    assert_eq!(v["pace_per_second"], 3000.0, "{v}");
    assert_eq!(v["rate_limited"], 0, "{v}");
    assert_eq!(v["held_ms"], 0, "{v}");
    v
}
