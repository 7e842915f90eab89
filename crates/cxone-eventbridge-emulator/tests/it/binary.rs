//! The `cxone-eventbridge-emulator` binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_cxone-eventbridge-emulator");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    (Killed(child), line)
}

#[tokio::test]
async fn prints_the_listening_line_and_serves() {
    let (child, line) = spawn(&[
        "--port",
        "0",
        "--events",
        "6",
        "--topics",
        "a,b",
        "--seed",
        "7",
        "--client-id",
        "cid",
        "--client-secret",
        "csecret",
        "--token-ttl",
        "60",
        "--latency-ms",
        "0",
        "--fail-5xx",
        "0",
        "--rate-limit-every",
        "0",
        "--drop-fraction",
        "0",
        "--page-max",
        "10",
        "--exhausted-fraction",
        "0.5",
        "--oversize-fraction",
        "0",
        "--payload-bytes",
        "800",
    ]);
    let url = line
        .trim_end()
        .strip_prefix("listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(
        url.rsplit(':')
            .next()
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
    );
    let client = crate::common::http();
    let resp = client
        .post(format!("{url}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cid"),
            ("client_secret", "csecret"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(v["expires_in"], 60);
    let tok = v["access_token"].as_str().expect("token").to_string();
    let page: serde_json::Value = client
        .get(format!("{url}/api/v2/eventbridge/dlq/events?topicId=b"))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("page")
        .json()
        .await
        .expect("JSON");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(3));
    drop(child);
}

#[tokio::test]
async fn strict_payload_flag_holds_numbers_to_their_text() {
    let (child, line) = spawn(&["--events", "1", "--seed", "3", "--strict-payload"]);
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let client = crate::common::http();
    let v: serde_json::Value = client
        .post(format!("{url}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo"),
            ("client_secret", "demo-secret"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let tok = v["access_token"].as_str().expect("token").to_string();
    let bytes = client
        .get(format!(
            "{url}/api/v2/eventbridge/dlq/events?topicId=topic_pub_conversations"
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("page")
        .bytes()
        .await
        .expect("body");
    let page = cxone_replay_domain::DlqPage::from_slice(&bytes).expect("a page");
    let event = &page.events[0];
    let put = |body: &crate::common::Body| {
        client
            .put(format!(
                "{url}/api/v2/eventbridge/topics/topic_pub_conversations/events"
            ))
            .bearer_auth(&tok)
            .header("content-type", "application/json")
            .header("idempotency-key", body.key())
            .body(body.render())
            .send()
    };
    let mut body = crate::common::Body::for_event(event);
    let text = body.original.clone().expect("payload");
    body.original = Some(
        serde_json::from_str::<serde_json::Value>(&text)
            .expect("JSON")
            .to_string(),
    );
    let resp = put(&body).await.expect("PUT");
    crate::common::expect_error(resp, 422, Some("originalPayload")).await;
    body.original = Some(text);
    assert_eq!(put(&body).await.expect("PUT").status(), 201);
    drop(child);
}

#[cfg(unix)]
#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for sig in ["-TERM", "-INT"] {
        let (mut child, line) = spawn(&["--events", "1"]);
        assert!(
            line.starts_with("listening on http://127.0.0.1:"),
            "{line:?}"
        );
        let status = Command::new("kill")
            .args([sig, &child.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = child.0.wait().expect("exits");
        assert!(exit.success(), "{sig}: {exit:?}");
    }
}

#[test]
fn bad_flags_exit_with_an_error_naming_the_setting() {
    let out = Command::new(BIN)
        .args(["--fail-5xx", "2"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fail_5xx"), "{err}");
}

#[tokio::test]
async fn the_rate_limit_flags_limit_the_api_and_send_the_fields() {
    let (child, line) = spawn(&[
        "--events",
        "2",
        "--rate-limit",
        "1",
        "--rate-limit-burst",
        "2",
        "--rate-limit-headers",
    ]);
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let client = crate::common::http();
    let tok: serde_json::Value = client
        .post(format!("{url}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo"),
            ("client_secret", "demo-secret"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let tok = tok["access_token"].as_str().expect("token").to_string();
    let page = format!("{url}/api/v2/eventbridge/dlq/events?topicId=topic_pub_conversations");
    // A burst of 2 at 1 per second: requests in a row are refused soon (the bucket itself is
    // tested on tokio's paused clock; here, that the flags reach it).
    let mut refused = None;
    for _ in 0..10 {
        let resp = client
            .get(&page)
            .bearer_auth(&tok)
            .send()
            .await
            .expect("page");
        assert_eq!(
            resp.headers()
                .get("ratelimit-policy")
                .and_then(|v| v.to_str().ok()),
            Some("\"default\";q=1;w=1")
        );
        if resp.status() == 429 {
            refused = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let refused = refused.expect("ten requests in a row at 1 per second: some refused");
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    drop(child);
}

#[test]
fn rate_limit_flags_are_checked() {
    for (args, needle) in [
        (&["--rate-limit", "0"][..], "rate_limit"),
        (
            &["--rate-limit", "10", "--rate-limit-burst", "0"][..],
            "rate_limit_burst",
        ),
        (&["--rate-limit-burst", "5"][..], "--rate-limit"),
        (&["--rate-limit-headers"][..], "--rate-limit"),
        (&["--rate-limit", "many"][..], "--rate-limit"),
    ] {
        let out = Command::new(BIN).args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
