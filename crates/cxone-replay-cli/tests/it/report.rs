//! `audit report`: the page of a real run with injected faults, hostile values escaped, bad
//! logs refused, and a 1M-record log in bounded memory.

use crate::support::{Sandbox, emulator, run};
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn texts(doc: &Html, s: &str) -> Vec<String> {
    doc.select(&sel(s))
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// The event ids of the log's records with `status`.
fn ids_with_status(log: &Path, status: &str) -> BTreeSet<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["status"] == status)
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect()
}

/// What a page may not hold: scripts, anything fetched, links out of the page.
fn assert_self_contained(html: &str, doc: &Html) {
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "a script in the page"
    );
    let fetching: Vec<String> = doc
        .select(&sel("[src], link, iframe, object, embed, img"))
        .map(|e| format!("{:?}", e.value()))
        .collect();
    assert!(
        fetching.is_empty(),
        "the page fetches something: {fetching:?}"
    );
    for e in doc.select(&sel("[href]")) {
        let href = e.value().attr("href").unwrap_or_default();
        assert!(href.starts_with('#'), "a link out of the page: {href}");
    }
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("@import") && !lower.contains("url("),
        "CSS fetches something"
    );
    assert!(lower.contains("@media print"), "no print stylesheet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_of_a_run_with_injected_faults() {
    let emu = emulator(80).exhausted_fraction(0.1).start().await.unwrap();
    let sb = Sandbox::new();
    let replay = |extra: &[&str]| {
        let mut c = sb.cmd_for(&emu);
        c.args(["replay", "--yes", "--json", "--audit-log", "run.jsonl"])
            .args(extra);
        c
    };
    // Run 1 delivers 30 events, then stops (a canary).
    let o = run(replay(&["--limit", "30"])).await;
    o.expect_code(0);
    assert_eq!(o.json()["counts"]["SUCCESS"], 30);
    // Run 2 continues while the replay endpoint answers 503: the rest fail.
    emu.set_put_status(Some(503)).unwrap();
    let o = run(replay(&[
        "--resume",
        "--max-attempts",
        "1",
        "--stop-after-failures",
        "0",
    ]))
    .await;
    o.expect_code(1);
    let run2 = o.json();
    let failed_in_run2 = ids_with_status(&sb.file("run.jsonl"), "FAILED");
    assert!(failed_in_run2.len() >= 20, "{run2}");
    // Run 3 re-drives five of them once the endpoint is back: their final outcome is SUCCESS.
    emu.set_put_status(None).unwrap();
    let redriven: Vec<String> = failed_in_run2.iter().take(5).cloned().collect();
    let mut args = vec!["--resume"];
    for id in &redriven {
        args.extend(["--event-id", id.as_str()]);
    }
    run(replay(&args)).await.expect_code(0);
    let failed: BTreeSet<String> = failed_in_run2
        .iter()
        .filter(|id| !redriven.contains(id))
        .cloned()
        .collect();
    let mut c = sb.cmd();
    c.args(["audit", "summary", "run.jsonl", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let audit = o.json();
    assert_eq!(audit["final_counts"]["FAILED"], failed.len() as u64);
    assert_eq!(audit["final_counts"]["SUCCESS"], 35);
    let summary = serde_json::json!({
        "counts": audit["final_counts"],
        "failures": audit["failures"],
        "records": audit["records"],
    });

    let mut c = sb.cmd();
    c.args(["audit", "report", "run.jsonl", "--out", "report.html"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(o.stdout.contains("report.html"), "{}", o.stdout);
    let mut c = sb.cmd();
    c.args([
        "audit",
        "report",
        "run.jsonl",
        "--format",
        "json",
        "--out",
        "-",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let j = o.json();
    assert_eq!(j["path"], "run.jsonl");
    assert_eq!(j["summary"]["final_counts"], summary["counts"]);
    assert_eq!(j["summary"]["records"], summary["records"]);
    let runs = j["summary"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    // run 2 skipped again what run 1 skipped, and sent what run 1 had not reached
    assert_eq!(runs[1]["prior_events"], runs[0]["counts"]["SKIPPED"]);
    // run 3 sent again five of run 2's failures; the others it filtered out say nothing
    assert_eq!(runs[2]["prior_events"], 5, "{}", runs[2]);
    let json_failed: BTreeSet<String> = j["failed_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(json_failed, failed);
    let bins = j["timeline"]["bins"].as_array().unwrap().len();
    let buckets = j["latency_ms"]["histogram"].as_array().unwrap().len();
    assert!(bins >= 1 && buckets >= 1, "{j}");
    let binned: u64 = j["timeline"]["bins"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["counts"].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(binned, summary["records"], "every record in a bin");

    let html = std::fs::read_to_string(sb.file("report.html")).unwrap();
    let doc = Html::parse_document(&html);
    assert_self_contained(&html, &doc);
    // the totals by final outcome
    for status in ["SUCCESS", "DUPLICATE", "FAILED", "SKIPPED", "DRY_RUN"] {
        let n = texts(&doc, &format!(".total[data-status={status}] .n"));
        assert_eq!(n, [summary["counts"][status].to_string()], "{status}");
    }
    // one SVG per chart, a bar per bin and per bucket
    assert_eq!(doc.select(&sel("svg.chart")).count(), 2);
    assert_eq!(doc.select(&sel("svg#chart-timeline g.bar")).count(), bins);
    assert_eq!(doc.select(&sel("svg#chart-latency g.bar")).count(), buckets);
    // the failed events table lists exactly the failed ids
    let listed: Vec<String> = texts(&doc, "table.failed-events code.event-id");
    assert_eq!(listed.len(), failed.len(), "each once");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), failed);
    assert!(texts(&doc, ".omitted").is_empty());
    // failures by class: the class and its count, as in the run's summary
    let headings = texts(&doc, "#failures h3");
    for (class, n) in summary["failures"].as_object().unwrap() {
        let want = format!("{class}: {n} event");
        assert!(
            headings.iter().any(|h| h.starts_with(&want)),
            "{want} in {headings:?}"
        );
    }
    assert!(texts(&doc, "#skips h3")[0].starts_with("RETRY_WINDOW_EXCEEDED: "));
    // the re-drive command works as printed: the binary, the topic, the log
    let cmd = texts(&doc, "code.redrive");
    assert_eq!(cmd.len(), 1);
    assert!(cmd[0].contains(" replay --topic topic_cli_tests --only-failed run.jsonl"));
    assert!(
        cmd[0].starts_with(env!("CARGO_BIN_EXE_cxone-replay")),
        "{}",
        cmd[0]
    );

    // the resume chain
    let chain = texts(&doc, "table.runs tbody tr td:last-child");
    assert_eq!(chain.len(), 3);
    assert!(chain[2].contains("5 of its records"), "{chain:?}");

    // --run: run 2 alone, with its id in the title; a capped table counts the rest
    let run_id = run2["run_id"].as_str().unwrap();
    let mut c = sb.cmd();
    c.args([
        "audit",
        "report",
        "run.jsonl",
        "--run",
        run_id,
        "--failed-rows",
        "1",
        "--out",
        "one.html",
    ]);
    run(c).await.expect_code(0);
    let html = std::fs::read_to_string(sb.file("one.html")).unwrap();
    let doc = Html::parse_document(&html);
    assert!(texts(&doc, "title")[0].contains(run_id));
    assert_eq!(doc.select(&sel("table.failed-events tbody tr")).count(), 1);
    // in run 2 alone, the five re-driven events are still failed
    assert_eq!(
        texts(&doc, ".omitted .n"),
        [(failed_in_run2.len() - 1).to_string()]
    );
    assert!(
        texts(&doc, ".total[data-status=SUCCESS] .n") == ["0"],
        "run 2 delivered nothing"
    );
    emu.shutdown().await;
}

/// A record line with these values (JSON-escaped as any writer would).
fn record(event: &str, topic: &str, status: &str, message: &str, second: u32) -> String {
    let class = if status == "FAILED" {
        "\"SCHEMA_VIOLATION\""
    } else {
        "null"
    };
    format!(
        r#"{{"event_id":{},"action":"REPLAY_PUT","status":"{status}","error_classification":{class},"latency_ms":3.5,"timestamp":"2024-05-01T10:00:{second:02}.000Z","idempotency_key":null,"destination":{},"run_id":"run-<b>1</b>","topic_id":{},"attempt":1,"http_status":422,"http_attempts":1,"skip_reason":null,"message":{}}}"#,
        Value::from(event),
        Value::from(topic),
        Value::from(topic),
        Value::from(message)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_are_escaped() {
    let sb = Sandbox::new();
    let id = r#"<script>alert("id")</script>'&"#;
    let topic = r#"t"><script>alert('topic')</script>"#;
    let message = r#"</td></tr></table><script src="https://evil.example/x.js"></script>"'&<img src=x onerror=alert(1)>"#;
    let lines = [
        record(id, topic, "FAILED", message, 1),
        record("ok-1", topic, "SUCCESS", "fine", 2),
    ];
    std::fs::write(sb.file("hostile.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut c = sb.cmd();
    c.args(["audit", "report", "hostile.jsonl", "--out", "h.html"]);
    run(c).await.expect_code(0);
    let html = std::fs::read_to_string(sb.file("h.html")).unwrap();
    let doc = Html::parse_document(&html);
    assert_self_contained(&html, &doc);
    assert_eq!(
        doc.select(&sel("[onerror]")).count(),
        0,
        "an attribute slipped in"
    );
    // escaped, so they read back as the very text of the log
    assert_eq!(texts(&doc, "table.failed-events code.event-id"), [id]);
    let cells: Vec<String> = doc
        .select(&sel("table.failed-events tbody td"))
        .map(|e: ElementRef<'_>| e.text().collect())
        .collect();
    assert_eq!(cells[0], topic);
    assert_eq!(cells[4], message);
    for escaped in ["&#34;", "&#39;", "&#38;", "&#60;script&#62;"] {
        assert!(html.contains(escaped), "{escaped} not in the page");
    }
    // the re-drive command quotes the topic for the shell, and the page escapes it
    let cmd = texts(&doc, "code.redrive");
    assert!(
        cmd[0].contains(&format!("--topic '{}'", topic.replace('\'', r"'\''"))),
        "{}",
        cmd[0]
    );
    // the tooltips of the chart are text too
    assert!(texts(&doc, "svg#chart-timeline g.bar title")[0].contains("1 FAILED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_missing_and_foreign_files_are_refused() {
    let sb = Sandbox::new();
    std::fs::write(sb.file("empty.jsonl"), "").unwrap();
    std::fs::write(sb.file("notes.txt"), "hello\nworld\n").unwrap();
    std::fs::write(sb.file("blank.jsonl"), "\n\n").unwrap();
    std::fs::write(
        sb.file("one.jsonl"),
        record("e1", "t", "SUCCESS", "ok", 1) + "\n",
    )
    .unwrap();
    let cases: [(&[&str], i32, &str); 8] = [
        (&["empty.jsonl"], 1, "empty.jsonl is empty"),
        (&["notes.txt"], 1, "notes.txt is not an audit log"),
        (&["blank.jsonl"], 1, "holds no audit record"),
        (&["missing.jsonl"], 2, "no audit log at missing.jsonl"),
        (
            &["one.jsonl", "--run", "run-x"],
            1,
            "no run run-x in one.jsonl",
        ),
        (
            &["one.jsonl", "--failed-rows", "100001"],
            2,
            "--failed-rows",
        ),
        (&["one.jsonl", "--max-bins", "1"], 2, "--max-bins"),
        (&["one.jsonl", "--out-is-log"], 2, "is the audit log itself"),
    ];
    for (args, code, needle) in cases {
        let mut c = sb.cmd();
        c.args(["audit", "report"]);
        if args.last() == Some(&"--out-is-log") {
            c.args([args[0], "--out", "./one.jsonl"]);
        } else {
            c.args(args).args(["--out", "r.html"]);
        }
        let o = run(c).await;
        o.expect_code(code);
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.stdout);
        // nothing written, nothing half-written
        let left: Vec<String> = std::fs::read_dir(sb.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("r.html"))
            .collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
    assert_eq!(
        std::fs::read_to_string(sb.file("one.jsonl")).unwrap(),
        record("e1", "t", "SUCCESS", "ok", 1) + "\n",
        "the log is untouched"
    );
}

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_writes_its_report_when_asked() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args([
        "demo",
        "--events",
        "60",
        "--json",
        "--audit-log",
        "demo.jsonl",
        "--report",
        "demo.html",
    ]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["report"], "demo.html");
    let html = std::fs::read_to_string(sb.file("demo.html")).unwrap();
    let doc = Html::parse_document(&html);
    assert_self_contained(&html, &doc);
    assert_eq!(
        texts(&doc, ".total[data-status=SUCCESS] .n"),
        [s["counts"]["SUCCESS"].to_string()]
    );
    assert!(texts(&doc, "title")[0].contains("demo.jsonl"));
}

// ---- memory ------------------------------------------------------------------------------

const PROBE_NAME: &str = "report::a_1m_record_log_is_reported_in_bounded_memory";
const PROBE_ENV: &str = "CXONE_REPORT_RSS_PROBE_LOG";
const RECORDS: u64 = 1_000_000;
/// The bound at 1M distinct events: the per-event table of the final outcomes (about 50 bytes
/// an event at worst) and a few MiB besides. Holding the records would take over 300 MiB.
const BOUND_KIB: i64 = 96 * 1024;

/// A 1M-record log of one run, 1M distinct events: 1% failed, 2% skipped, the rest delivered,
/// 500 records a second; written directly, line by line.
fn write_big_log(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    for i in 0..RECORDS {
        let (status, class, reason, http) = match i % 100 {
            7 => ("FAILED", "\"MAX_RETRIES_EXCEEDED\"", "null", "503"),
            3 | 53 => ("SKIPPED", "null", "\"TOO_OLD\"", "null"),
            _ => ("SUCCESS", "null", "null", "201"),
        };
        let s = i / 500;
        writeln!(
            w,
            r#"{{"event_id":"evt_{i:07}","action":"REPLAY_PUT","status":"{status}","error_classification":{class},"latency_ms":{}.5,"timestamp":"2024-05-01T{:02}:{:02}:{:02}.{:03}Z","idempotency_key":"replay-evt_{i:07}-v1","destination":"topic_a","run_id":"run-1","topic_id":"topic_a","attempt":1,"http_status":{http},"http_attempts":1,"skip_reason":{reason},"message":"evt_{i:07}: 503 from upstream"}}"#,
            1 + i % 97,
            10 + s / 3600,
            s / 60 % 60,
            s % 60,
            i % 1000
        )
        .unwrap();
    }
    w.flush().unwrap();
}

/// The child: runs `audit report` on the log, waits for it, prints its exit code and peak
/// RSS (the largest of this process's children: it has no other).
fn probe(log: &str) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_cxone-replay"))
        .args(["audit", "report", log, "--out"])
        .arg(Path::new(log).with_extension("html"))
        .env_clear()
        .status()
        .expect("run cxone-replay");
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    println!("probe: {} {}", status.code().unwrap_or(-1), usage.max_rss());
}

#[test]
fn a_1m_record_log_is_reported_in_bounded_memory() {
    if let Ok(log) = std::env::var(PROBE_ENV) {
        return probe(&log);
    }
    if !cfg!(target_os = "linux") {
        return; // ru_maxrss is in KiB on Linux (bytes on macOS): measured there only
    }
    let sb = Sandbox::new();
    let log = sb.file("big.jsonl");
    write_big_log(&log);
    // The probe is this test binary run again for this one test: a process whose only child
    // is the report, so its children's peak RSS is the report's.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([PROBE_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(PROBE_ENV, &log)
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("probe: ").map(|(_, rest)| rest.to_string()))
        .unwrap_or_else(|| panic!("no probe line:\n{stdout}"));
    let (code, kib) = line.trim().split_once(' ').unwrap();
    let kib: i64 = kib.parse().unwrap();
    println!(
        "audit report of {RECORDS} records: peak RSS {:.1} MiB",
        kib as f64 / 1024.0
    );
    assert_eq!(code, "0", "the report failed");
    assert!(
        kib <= BOUND_KIB,
        "peak RSS {kib} KiB over the {BOUND_KIB} KiB bound"
    );
    // the report is complete: a capped table, and every record counted
    let html = std::fs::read_to_string(sb.file("big.html")).unwrap();
    let doc = Html::parse_document(&html);
    assert_eq!(
        texts(&doc, ".total[data-status=FAILED] .n"),
        [(RECORDS / 100).to_string()]
    );
    assert_eq!(
        doc.select(&sel("table.failed-events tbody tr")).count(),
        200
    );
    assert_eq!(
        texts(&doc, ".omitted .n"),
        [(RECORDS / 100 - 200).to_string()]
    );
    assert!(doc.select(&sel("svg#chart-timeline g.bar")).count() <= 240);
}
