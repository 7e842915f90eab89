//! `--auth access-key`: a real tenant's login (password grant, HTTP Basic client
//! authentication, OpenID discovery) against the emulator's access-key mode.

use crate::support::{KEY_ID, KEY_SECRET, Sandbox, TOPIC, emulator, run};
use cxone_eventbridge_emulator::{EmulatorHandle, ROUTE_DISCOVERY, ROUTE_TOKEN};
use std::process::Command;

/// The binary configured for `emu` in access-key mode, the token endpoint discovered from the
/// issuer.
fn access_key_cmd(sb: &Sandbox, emu: &EmulatorHandle, key_secret: &str) -> Command {
    let mut c = sb.cmd_for(emu);
    c.env("CXONE_AUTH", "access-key")
        .env("CXONE_ACCESS_KEY_ID", KEY_ID)
        .env("CXONE_ACCESS_KEY_SECRET", key_secret)
        .env("CXONE_ISSUER", emu.base_url());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_key_login_works_for_dlq_and_replay() {
    let emu = emulator(12)
        .access_key(KEY_ID, KEY_SECRET)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();

    let mut c = access_key_cmd(&sb, &emu, KEY_SECRET);
    c.args(["-vv", "dlq", "stats", "--json"]);
    let o = run(c).await; // checks that neither secret is printed, debug logs included
    o.expect_code(0);
    assert_eq!(o.json()["total"], 12);
    let l = emu.ledger();
    assert_eq!(
        l.requests_on(ROUTE_DISCOVERY),
        1,
        "the token endpoint was discovered"
    );
    assert_eq!(l.tokens_issued, 1, "the password grant issued the token");

    let mut c = access_key_cmd(&sb, &emu, KEY_SECRET);
    c.args(["-vv", "replay", "--yes", "--json"]);
    let o = run(c).await;
    o.expect_code(0);
    let s = o.json();
    assert_eq!(s["counts"]["SUCCESS"], 12, "{s}");
    assert_eq!(emu.ledger().accepted_total(), 12);

    // the secret on the command line is not echoed either; --token-url wins over --issuer
    let mut c = sb.cmd_for(&emu);
    c.args(["dlq", "list", "--json", "--auth", "access-key"])
        .args(["--access-key-id", KEY_ID, "--access-key-secret", KEY_SECRET])
        .args(["--issuer", "http://127.0.0.1:9/never-asked"])
        .args(["--token-url", &emu.token_url()]);
    let o = run(c).await;
    o.expect_code(0);
    assert_eq!(o.json()["count"], 12);
    assert_eq!(
        emu.ledger().requests_on(ROUTE_DISCOVERY),
        2,
        "no new discovery"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_wrong_access_key_secret_exits_2_and_is_never_echoed() {
    let emu = emulator(3)
        .access_key(KEY_ID, KEY_SECRET)
        .start()
        .await
        .unwrap();
    let sb = Sandbox::new();
    let wrong = "AK-wr0ng-SECRET-31337-do-not-echo";
    for args in [
        vec!["-vv", "replay", "--yes", "--topic", TOPIC, "--json"],
        vec!["-vv", "dlq", "list"],
    ] {
        let mut c = access_key_cmd(&sb, &emu, wrong);
        c.args(&args);
        let o = run(c).await;
        o.expect_code(2);
        assert!(o.stdout.is_empty(), "{}", o.stdout);
        assert!(
            o.stderr.contains("authentication failed (HTTP 400)")
                && o.stderr.contains("the access key"),
            "{}",
            o.stderr
        );
        assert!(o.stderr.contains("--access-key-secret"), "{}", o.stderr);
        assert!(
            !o.stderr.contains(wrong) && !o.stdout.contains(wrong),
            "the wrong secret was echoed:\n{}",
            o.stderr
        );
    }
    let l = emu.ledger();
    assert_eq!(l.tokens_issued, 0);
    assert!(l.requests_on(ROUTE_TOKEN) >= 2);
    assert_eq!(l.accepted_total(), 0, "nothing was replayed");
    emu.shutdown().await;
}

#[tokio::test]
async fn missing_access_key_options_name_flag_and_variable() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.env("CXONE_CLIENT_ID", "id")
        .env("CXONE_CLIENT_SECRET", "s")
        .args(["dlq", "stats", "--topic", TOPIC, "--auth", "access-key"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.contains("--access-key-id") && o.stderr.contains("CXONE_ACCESS_KEY_ID"),
        "{}",
        o.stderr
    );
    // an access-key option without --auth access-key is refused, not ignored
    let mut c = sb.cmd();
    c.env("CXONE_CLIENT_ID", "id")
        .env("CXONE_CLIENT_SECRET", "s")
        .env("CXONE_ACCESS_KEY_SECRET", KEY_SECRET)
        .args(["dlq", "stats", "--topic", TOPIC]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.contains(
            "--access-key-secret (CXONE_ACCESS_KEY_SECRET) is an option of --auth access-key"
        ),
        "{}",
        o.stderr
    );
}
