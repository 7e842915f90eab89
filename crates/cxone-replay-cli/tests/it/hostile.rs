//! Against a hostile server (`cxone-hostile-server`): TLS failures and a DLQ that refuses every
//! token exit 2 with what to do; a server that echoes our credentials gets its reason into the
//! audit log and the -vv log, never the token or the secret.

use crate::support::{CLIENT_ID, Output, SECRET, Sandbox, run};
use cxone_hostile_server::{
    HostileServer, Huge, Mode, Route, SERVER_REASON, ServerCert, TOPIC, TestCa, Validity,
    issued_token,
};
use std::process::Command;

fn cmd(sb: &Sandbox, server: &HostileServer) -> Command {
    let mut c = sb.cmd();
    c.env("CXONE_BASE_URL", server.base_url())
        .env("CXONE_CLIENT_ID", CLIENT_ID)
        .env("CXONE_CLIENT_SECRET", SECRET)
        .env("CXONE_TOPIC_ID", TOPIC);
    c
}

async fn tls_server(cert: ServerCert) -> HostileServer {
    HostileServer::builder().tls(cert).start().await.unwrap()
}

/// No raw log line of the TLS verifier at default verbosity, and no retry story.
fn no_verifier_noise(o: &Output) {
    assert!(!o.stderr.contains("rustls"), "{}", o.stderr);
    assert!(!o.stderr.contains(" ERROR "), "{}", o.stderr);
    assert!(!o.stderr.contains("NETWORK"), "{}", o.stderr);
    assert!(!o.stderr.contains("reachable"), "{}", o.stderr);
}

#[tokio::test]
async fn an_untrusted_certificate_exits_2_and_says_to_pass_the_ca() {
    let ca = TestCa::new("corporate proxy CA").unwrap();
    let server = tls_server(ca.issue(&["127.0.0.1"], Validity::Current).unwrap()).await;
    let sb = Sandbox::new();
    for args in [
        &["dlq", "list"][..],
        &["replay", "--yes", "--audit-log", "a.jsonl"][..],
    ] {
        let mut c = cmd(&sb, &server);
        c.args(args);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stderr.contains("unknown issuer"), "{}", o.stderr);
        assert!(
            o.stderr.contains("--ca-cert") && o.stderr.contains("CXONE_CA_CERT"),
            "{}",
            o.stderr
        );
        no_verifier_noise(&o);
    }
    assert_eq!(server.count(Route::Token), 0);

    // Trusting the CA for this client only makes it work, by flag (an option of each command
    // that connects) or by variable.
    std::fs::write(sb.file("ca.pem"), ca.pem()).unwrap();
    let mut c = cmd(&sb, &server);
    c.args(["dlq", "list", "--ca-cert", "ca.pem", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["count"], 3);
    let mut c = cmd(&sb, &server);
    c.env("CXONE_CA_CERT", "ca.pem").args(["dlq", "stats"]);
    run(c).await.expect_code(0);
    let mut c = cmd(&sb, &server);
    c.args(["replay", "--yes", "--ca-cert", "ca.pem", "--json"])
        .args(["--audit-log", "ok.jsonl"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["counts"]["SUCCESS"], 3);
    // Not an option of the program: it belongs to the commands that connect.
    let mut c = cmd(&sb, &server);
    c.args(["--ca-cert", "ca.pem", "dlq", "stats"]);
    run(c).await.expect_code(2);
}

#[tokio::test]
async fn expired_and_wrong_host_certificates_exit_2_with_their_reason() {
    let ca = TestCa::new("private CA").unwrap();
    let sb = Sandbox::new();
    std::fs::write(sb.file("ca.pem"), ca.pem()).unwrap();
    for (hosts, validity, reason, hint) in [
        (&["127.0.0.1"][..], Validity::Expired, "expired", "renew"),
        (
            &["wrong.example"][..],
            Validity::Current,
            "name mismatch",
            "--base-url",
        ),
    ] {
        let server = tls_server(ca.issue(hosts, validity).unwrap()).await;
        let mut c = cmd(&sb, &server);
        c.args(["dlq", "stats", "--ca-cert", "ca.pem"]);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stderr.contains(reason), "{}", o.stderr);
        assert!(o.stderr.contains(hint), "{}", o.stderr);
        no_verifier_noise(&o);
    }
}

#[tokio::test]
async fn the_verifiers_own_lines_show_at_v() {
    let ca = TestCa::new("private CA").unwrap();
    let server = tls_server(ca.issue(&["127.0.0.1"], Validity::Current).unwrap()).await;
    let sb = Sandbox::new();
    let mut c = cmd(&sb, &server);
    c.args(["-v", "dlq", "stats"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.contains("rustls_platform_verifier"),
        "{}",
        o.stderr
    );
    // RUST_LOG is the user's choice, taken as it is (without -v/-q).
    let mut c = cmd(&sb, &server);
    c.env("RUST_LOG", "warn").args(["dlq", "stats"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.contains("ERROR rustls_platform_verifier"),
        "{}",
        o.stderr
    );
}

#[tokio::test]
async fn a_ca_cert_that_cannot_be_used_is_a_usage_error_naming_flag_and_variable() {
    let server = HostileServer::builder().start().await.unwrap();
    let sb = Sandbox::new();
    std::fs::write(sb.file("not.pem"), "hello").unwrap();
    for file in ["missing.pem", "not.pem"] {
        let mut c = cmd(&sb, &server);
        c.args(["dlq", "stats", "--ca-cert", file]);
        let o = run(c).await;
        o.expect_code(2);
        assert!(
            o.stderr.contains("--ca-cert") && o.stderr.contains("CXONE_CA_CERT"),
            "{}",
            o.stderr
        );
        let what = if file == "missing.pem" { file } else { "PEM" };
        assert!(o.stderr.contains(what), "{}", o.stderr);
    }
    assert_eq!(server.count(Route::Token), 0);
}

#[tokio::test]
async fn a_dlq_that_refuses_every_token_exits_2() {
    let server = HostileServer::builder()
        .mode(Mode::DlqUnauthorized)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    for args in [
        &["dlq", "list"][..],
        &["dlq", "stats"][..],
        &["replay", "--yes", "--audit-log", "a.jsonl"][..],
    ] {
        let mut c = cmd(&sb, &server);
        c.args(args);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stderr.contains("401"), "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains("hint:"), "{args:?}: {}", o.stderr);
    }
}

#[tokio::test]
async fn the_servers_reason_reaches_the_audit_log_and_the_vv_log_but_no_credential() {
    let server = HostileServer::builder()
        .mode(Mode::EchoCredentials {
            route: Route::Put,
            status: 422,
        })
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = cmd(&sb, &server);
    c.args([
        "-vv",
        "replay",
        "--yes",
        "--audit-log",
        "audit.jsonl",
        "--json",
    ]);
    let o = run(c).await;
    o.expect_code(1);
    assert_eq!(o.json()["counts"]["FAILED"], 3);
    let log = std::fs::read_to_string(sb.file("audit.jsonl")).unwrap();
    let tokens = server.issued_tokens();
    assert!(!tokens.is_empty());
    for (name, text) in [("audit log", &log), ("stderr", &o.stderr)] {
        assert!(text.contains(SERVER_REASON), "{name}:\n{text}");
        assert!(text.contains("[redacted]"), "{name}:\n{text}");
        assert!(!text.contains(SECRET), "{name}:\n{text}");
        for t in &tokens {
            assert!(!text.contains(t.as_str()), "{name}:\n{text}");
        }
    }
    assert_eq!(tokens[0], issued_token(1));
    for line in log.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let m = r["message"].as_str().unwrap();
        assert!(
            m.starts_with(
                "topic PUT: HTTP 422 (SCHEMA_VIOLATION) after 1 attempt(s): server said: "
            ),
            "{m}"
        );
    }
}

#[tokio::test]
async fn an_oversized_dlq_page_exits_1_and_says_to_lower_the_page_size() {
    let server = HostileServer::builder()
        .mode(Mode::HugeBody(Huge {
            route: Route::Dlq,
            status: 200,
            len: Some(64 * 1024 * 1024),
            declare_length: true,
        }))
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let mut c = cmd(&sb, &server);
    c.args(["replay", "--yes", "--audit-log", "a.jsonl"]);
    let o = run(c).await;
    o.expect_code(1);
    assert!(o.stderr.contains("max_page_body"), "{}", o.stderr);
    assert!(o.stderr.contains("--page-size"), "{}", o.stderr);
    assert_eq!(server.count(Route::Dlq), 1, "not retried");
}

#[tokio::test]
async fn a_dlq_that_answers_404_is_a_configuration_error_for_every_command() {
    let server = HostileServer::builder()
        .mode(Mode::EchoCredentials {
            route: Route::Dlq,
            status: 404,
        })
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    for args in [
        &["dlq", "list"][..],
        &["replay", "--yes", "--audit-log", "a.jsonl"][..],
    ] {
        let mut c = cmd(&sb, &server);
        c.args(args);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stderr.contains("404"), "{args:?}: {}", o.stderr);
        assert!(!o.stderr.contains(SECRET), "{}", o.stderr);
    }
    assert_eq!(server.count(Route::Put), 0);
}
