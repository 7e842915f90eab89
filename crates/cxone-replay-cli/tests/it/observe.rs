//! Watching a run without a terminal: progress log lines at the interval (text and JSON), and
//! `/metrics` scraped during a run, whose final values equal the summary.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// The progress lines of a run's stderr.
fn progress_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("progress")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_progress_is_a_log_line_every_interval() {
    // 200 events, two at a time, each PUT at least 5 ms: the run lasts well over the 20 ms
    // interval.
    let emu = emulator(200)
        .latency(Duration::from_millis(5), Duration::ZERO)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--concurrency", "2"])
        .args(["--progress-interval", "20ms"]);
    let o = run(c).await;
    o.expect_code(0);
    let lines = progress_lines(&o.stderr);
    assert!(!lines.is_empty(), "no progress line:\n{}", o.stderr);
    for l in &lines {
        assert!(l.contains(" progress: seen "), "{l}");
        assert!(l.contains("/s (mean "), "{l}");
        assert!(
            !l.contains("ETA"),
            "no total without a file or a limit: {l}"
        );
    }

    // JSON, with a limit: the total, the percentage and the ETA, under the summary's names.
    // Not `--resume`: it would send nothing and could end within the interval; the 150 sends
    // (answered 409, `DUPLICATE`) take at least 75 × 5 ms.
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--concurrency", "2"])
        .args(["--progress-interval", "20ms", "--log-format", "json"])
        .args(["--limit", "150"]);
    let o = run(c).await;
    o.expect_code(0);
    let summary = o.json();
    let lines = progress_lines(&o.stderr);
    assert!(!lines.is_empty(), "no progress line:\n{}", o.stderr);
    let mut last_seen = 0;
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["message"], "progress", "{v}");
        for k in [
            "run_id",
            "seen",
            "counts",
            "events_per_second",
            "elapsed_ms",
        ] {
            assert!(summary.get(k).is_some(), "{k} is a summary name");
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        assert_eq!(v["run_id"], summary["run_id"]);
        for k in ["SUCCESS", "DUPLICATE", "FAILED", "SKIPPED", "DRY_RUN"] {
            assert!(v["counts"][k].is_u64(), "counts.{k}: {v}");
        }
        assert_eq!(v["total"], 150, "{v}");
        assert!(
            v["percent"]
                .as_f64()
                .is_some_and(|p| (0.0..=100.0).contains(&p)),
            "{v}"
        );
        let seen = v["seen"].as_u64().unwrap();
        assert!(seen >= last_seen && seen <= summary["seen"].as_u64().unwrap());
        last_seen = seen;
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_export_says_how_far_it_is() {
    // Each page at least 40 ms: the export lasts over the 10 ms interval.
    let emu = emulator(300)
        .latency(Duration::from_millis(40), Duration::ZERO)
        .page_max(50)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args([
        "dlq",
        "export",
        "--out",
        "dlq.jsonl",
        "--log-format",
        "json",
    ])
    .args(["--progress", "log", "--progress-interval", "10ms"]);
    let o = run(c).await;
    o.expect_code(0);
    let lines = progress_lines(&o.stderr);
    assert!(!lines.is_empty(), "no progress line:\n{}", o.stderr);
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        // The names of `dlq export --json`.
        for k in ["written", "read", "by_topic"] {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
    }
    // --progress off says nothing.
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "export", "--out", "dlq2.jsonl", "--progress", "off"])
        .args(["--progress-interval", "10ms"]);
    let o = run(c).await;
    o.expect_code(0);
    assert!(progress_lines(&o.stderr).is_empty(), "{}", o.stderr);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_zero_interval_is_refused_naming_the_flag() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["replay", "--topic", "t", "--progress-interval", "0s"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--progress-interval"), "{}", o.stderr);
    assert!(o.stderr.contains("more than zero"), "{}", o.stderr);
    // A linger without a server is a mistake, not a no-op.
    let mut c = sb.cmd();
    c.args(["replay", "--topic", "t", "--metrics-linger", "5s"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.contains("--metrics-linger needs --metrics-addr"),
        "{}",
        o.stderr
    );
}

/// `GET /metrics` on `addr`: the samples, by name and labels; `None` if nothing answers.
fn scrape(addr: SocketAddr) -> Option<BTreeMap<String, f64>> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    Some(
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect(),
    )
}

fn sample(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_during_a_run_are_monotone_and_end_equal_to_the_summary() {
    let emu = emulator(300)
        .latency(Duration::from_millis(3), Duration::ZERO)
        .exhausted_fraction(0.1)
        .oversize_fraction(0.05)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--concurrency", "4"])
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-linger", "120s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn cxone-replay");
    // The address, from stderr; the rest of stderr kept for the secret check.
    let (addr_tx, addr_rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if let Some(rest) = line.strip_prefix("serving metrics at http://") {
                let addr: SocketAddr = rest.trim_end_matches("/metrics").parse().unwrap();
                let _ = addr_tx.send(addr);
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // stdout: the summary, once complete.
    let (out_tx, out_rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines() {
            text.push_str(&line.unwrap_or_default());
            text.push('\n');
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let _ = out_tx.send(v);
                return;
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the metrics address on stderr");
    let scraped = tokio::task::spawn_blocking(move || {
        let mut scrapes = Vec::new();
        let summary = loop {
            if let Ok(v) = out_rx.try_recv() {
                break v;
            }
            if let Some(m) = scrape(addr) {
                scrapes.push(m);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let during = scrapes.len();
        // After the summary: the final values (or, if a scrape of the loop already read them
        // and ended the linger, that one was the last answered).
        if let Some(m) = scrape(addr) {
            scrapes.push(m);
        }
        (summary, scrapes, during)
    })
    .await
    .unwrap();
    let (summary, scrapes, during) = scraped;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let stderr = errors.join().unwrap();
    assert_clean("stderr", &stderr);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(during >= 1, "no scrape during the run");

    // Monotone counters.
    let counters = |m: &BTreeMap<String, f64>| -> Vec<(String, f64)> {
        m.iter()
            .filter(|(k, _)| k.contains("_total") || k.contains("_count"))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    for pair in scrapes.windows(2) {
        for (k, v) in counters(&pair[0]) {
            assert!(sample(&pair[1], &k) >= v, "{k} went down");
        }
    }
    // The final values are the summary's.
    let last = scrapes.last().unwrap();
    let topic = TOPIC;
    for status in ["SUCCESS", "DUPLICATE", "FAILED", "SKIPPED", "DRY_RUN"] {
        let key = format!(r#"cxone_replay_events_total{{topic="{topic}",status="{status}"}}"#);
        assert_eq!(
            sample(last, &key),
            summary["counts"][status].as_f64().unwrap(),
            "{key}"
        );
    }
    let skips = summary["skips"].as_object().unwrap();
    assert!(skips.len() >= 2, "{summary}");
    for (reason, n) in skips {
        let key = format!(r#"cxone_replay_skips_total{{topic="{topic}",reason="{reason}"}}"#);
        assert_eq!(sample(last, &key), n.as_f64().unwrap(), "{key}");
    }
    for (class, n) in summary["failures"].as_object().unwrap() {
        let key = format!(r#"cxone_replay_failures_total{{topic="{topic}",class="{class}"}}"#);
        assert_eq!(sample(last, &key), n.as_f64().unwrap(), "{key}");
    }
    let sent = ["SUCCESS", "DUPLICATE", "FAILED"]
        .iter()
        .map(|k| summary["counts"][*k].as_f64().unwrap())
        .sum::<f64>();
    assert!(sent > 0.0);
    assert_eq!(sample(last, "cxone_replay_put_latency_seconds_count"), sent);
    let puts: f64 = last
        .iter()
        .filter(|(k, _)| k.starts_with(r#"cxone_replay_http_requests_total{op="put""#))
        .map(|(_, v)| v)
        .sum();
    let received: u64 = emu
        .ledger()
        .requests
        .iter()
        .filter(|(r, _)| r.starts_with("PUT"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(puts, received as f64);
    // (The token was fetched before the run, to check the credentials: not counted.)
    assert!(
        sample(
            last,
            r#"cxone_replay_http_requests_total{op="dlq_page",status="200"}"#
        ) >= 1.0
    );
    assert_eq!(sample(last, "cxone_replay_in_flight"), 0.0);
    assert_eq!(
        sample(last, "cxone_replay_rate_limited_seconds_total") * 1000.0,
        summary["held_ms"].as_f64().unwrap()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_non_loopback_address_needs_the_flag_and_a_taken_one_is_exit_2() {
    let emu = emulator(5).start().await.unwrap();
    let sb = Sandbox::new();
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_METRICS_ADDR", "0.0.0.0:0")
        .args(["replay", "--yes", "--json"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("CXONE_METRICS_ADDR"), "{}", o.stderr);
    assert!(o.stderr.contains("--metrics-addr"), "{}", o.stderr);
    assert!(emu.ledger().accepted.is_empty(), "nothing sent");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut c = sb.cmd_for(&emu);
    c.args(["replay", "--yes", "--json", "--metrics-addr", &addr]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--metrics-addr"), "{}", o.stderr);
    assert!(o.stderr.contains(&addr), "{}", o.stderr);
    assert!(emu.ledger().accepted.is_empty(), "nothing sent");
    emu.shutdown().await;
}
