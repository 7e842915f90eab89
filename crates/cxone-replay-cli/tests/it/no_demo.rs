//! Built without the `demo` feature: there is no `demo` command, and the help does not offer it.

use crate::support::{Sandbox, run};

#[tokio::test]
async fn demo_is_absent() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["demo", "--events", "5"]);
    let o = run(c).await;
    o.expect_code(2);
    assert!(
        o.stderr.contains("unrecognized subcommand 'demo'"),
        "{}",
        o.stderr
    );

    let mut c = sb.cmd();
    c.arg("--help");
    let o = run(c).await;
    o.expect_code(0);
    assert!(o.stdout.contains("Usage: cxone-replay"), "{}", o.stdout);
    assert!(!o.stdout.contains("demo"), "{}", o.stdout);
}
