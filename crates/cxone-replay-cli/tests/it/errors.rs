//! Usage, configuration and authentication errors: exit 2, plain one/two-line messages.

use crate::support::{CLIENT_ID, SECRET, Sandbox, TOPIC, emulator, run};

fn plain(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        (1..=2).contains(&lines.len()),
        "one or two lines expected:\n{stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for debugish in [
        "Error {",
        "BuildError",
        "InsecureUrl {",
        "Status {",
        "backtrace",
    ] {
        assert!(!stderr.contains(debugish), "a Debug dump:\n{stderr}");
    }
}

#[tokio::test]
async fn missing_client_id_names_flag_and_variable() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.env("CXONE_CLIENT_SECRET", SECRET)
        .args(["replay", "--topic", TOPIC]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    assert!(o.stderr.contains("--client-id"), "{}", o.stderr);
    assert!(o.stderr.contains("CXONE_CLIENT_ID"), "{}", o.stderr);
    plain(&o.stderr);
}

#[tokio::test]
async fn missing_client_secret_names_flag_and_variable() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["dlq", "stats", "--client-id", CLIENT_ID, "--topic", TOPIC]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--client-secret"), "{}", o.stderr);
    assert!(o.stderr.contains("CXONE_CLIENT_SECRET"), "{}", o.stderr);
    plain(&o.stderr);
}

#[tokio::test]
async fn missing_topic_is_a_usage_error() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.env("CXONE_CLIENT_ID", CLIENT_ID)
        .env("CXONE_CLIENT_SECRET", SECRET)
        .args(["dlq", "list"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("--topic"), "{}", o.stderr);
    assert!(o.stderr.contains("CXONE_TOPIC_ID"), "{}", o.stderr);
}

#[tokio::test]
async fn plain_http_to_a_non_loopback_host_is_refused() {
    let sb = Sandbox::new();
    for args in [
        vec![
            "dlq",
            "list",
            "--base-url",
            "http://api.example.com",
            "--topic",
            TOPIC,
        ],
        vec![
            "replay",
            "--base-url",
            "https://api.example.com",
            "--token-url",
            "http://10.1.2.3/oauth2/token",
            "--topic",
            TOPIC,
        ],
    ] {
        let mut c = sb.cmd();
        c.env("CXONE_CLIENT_ID", CLIENT_ID)
            .env("CXONE_CLIENT_SECRET", SECRET)
            .args(&args);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stderr.contains("plain http"), "{}", o.stderr);
        assert!(o.stderr.contains("https"), "{}", o.stderr);
        plain(&o.stderr);
    }
}

#[tokio::test]
async fn wrong_secret_is_an_authentication_error() {
    let emu = emulator(5).start().await.unwrap();
    let sb = Sandbox::new();
    let wrong = "Wr0ng-s3cret-XYZZY-also-never-printed";
    let mut c = sb.cmd_for(&emu);
    c.env("CXONE_CLIENT_SECRET", wrong)
        .args(["replay", "--yes", "--json"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    assert!(o.stderr.contains("HTTP 401"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("the client id, the client secret or the scopes are wrong"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains(wrong) && !o.stdout.contains(wrong));
    plain(&o.stderr);
    // nothing was replayed
    assert_eq!(emu.ledger().accepted_total(), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn help_never_shows_secret_values() {
    let sb = Sandbox::new();
    let mut commands = vec![
        vec!["--help"],
        vec!["replay", "--help"],
        vec!["dlq", "list", "--help"],
    ];
    if cfg!(feature = "demo") {
        commands.push(vec!["demo", "--help"]);
    }
    for args in commands {
        let mut c = sb.cmd();
        c.env("CXONE_CLIENT_SECRET", SECRET)
            .env("CXONE_ACCESS_KEY_SECRET", crate::support::KEY_SECRET)
            .env("MONITORING_WEBHOOK_SECRET", SECRET)
            .args(&args);
        let o = run(c).await; // asserts the secret is absent
        o.expect_code(0);
        assert!(o.stdout.contains("Usage: cxone-replay"), "{}", o.stdout);
    }
    let mut c = sb.cmd();
    c.arg("no-such-command");
    run(c).await.expect_code(2);
}

#[tokio::test]
async fn dotenv_is_read_and_the_environment_wins() {
    let emu = emulator(8).start().await.unwrap();
    let sb = Sandbox::new();
    // .env has the right id and a wrong secret; the environment has the right secret.
    std::fs::write(
        sb.file(".env"),
        format!(
            "CXONE_BASE_URL={}\nCXONE_CLIENT_ID={CLIENT_ID}\nCXONE_CLIENT_SECRET=from-dotenv-wrong\nCXONE_TOPIC_ID={TOPIC}\n",
            emu.base_url()
        ),
    )
    .unwrap();
    let mut c = sb.cmd();
    c.env("CXONE_CLIENT_SECRET", SECRET)
        .args(["dlq", "stats", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["total"], 8);
    // without the environment variable, .env's wrong secret is used and refused
    let mut c = sb.cmd();
    c.args(["dlq", "stats", "--json"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(o.stderr.contains("HTTP 401"), "{}", o.stderr);
    emu.shutdown().await;
}

#[tokio::test]
async fn connection_options_belong_to_the_commands_that_connect() {
    let sb = Sandbox::new();
    // before the subcommand, or on a command that does not connect: refused, not ignored
    let mut refused = vec![
        vec!["--client-id", CLIENT_ID, "dlq", "list"],
        vec![
            "audit",
            "summary",
            "log.jsonl",
            "--region",
            "eu.example.com",
        ],
    ];
    if cfg!(feature = "demo") {
        refused.push(vec!["demo", "--base-url", "http://127.0.0.1:9"]);
    }
    for args in refused {
        let mut c = sb.cmd();
        c.args(&args);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stderr.contains("unexpected argument"), "{}", o.stderr);
    }
    // and --help lists them only where they apply
    let help = |args: &'static [&'static str]| {
        let mut c = sb.cmd();
        c.args(args);
        c
    };
    for args in [&["replay", "--help"][..], &["dlq", "list", "--help"][..]] {
        let o = run(help(args)).await;
        o.expect_code(0);
        assert!(o.stdout.contains("--client-id"), "{}", o.stdout);
        assert!(o.stdout.contains("CXONE_BASE_URL"), "{}", o.stdout);
    }
    let mut no_connection: Vec<&'static [&'static str]> =
        vec![&["--help"], &["audit", "summary", "--help"]];
    if cfg!(feature = "demo") {
        no_connection.push(&["demo", "--help"]);
    }
    for args in no_connection {
        let o = run(help(args)).await;
        o.expect_code(0);
        for flag in [
            "--client-id",
            "--client-secret",
            "--region",
            "--base-url",
            "--token-url",
        ] {
            assert!(
                !o.stdout.contains(flag),
                "{args:?} lists {flag}:\n{}",
                o.stdout
            );
        }
    }
}
