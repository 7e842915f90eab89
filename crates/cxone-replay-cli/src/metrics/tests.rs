use super::*;
use cxone_dlq_replay::domain::{AuditContext, SentOutcome, SkipReason};

#[test]
fn the_flag_may_name_any_address_the_environment_only_loopback() {
    let lo = |p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
    assert_eq!(address(None, None).unwrap(), None);
    assert_eq!(address(None, Some("  ")).unwrap(), None);
    assert_eq!(address(Some("9898"), None).unwrap(), Some(lo(9898)));
    assert_eq!(address(Some("localhost:0"), None).unwrap(), Some(lo(0)));
    assert_eq!(
        address(Some("0.0.0.0:9898"), Some("127.0.0.1:1")).unwrap(),
        Some("0.0.0.0:9898".parse().unwrap()),
        "the flag wins, and may name any address"
    );
    assert_eq!(
        address(None, Some("[::1]:9898")).unwrap(),
        Some("[::1]:9898".parse().unwrap())
    );
    let e = address(None, Some("0.0.0.0:9898")).unwrap_err();
    assert_eq!(e.code, crate::error::EXIT_USAGE);
    let text = format!("{e:?}");
    assert!(text.contains("CXONE_METRICS_ADDR"), "{text}");
    assert!(text.contains("--metrics-addr"), "{text}");
    let e = address(Some("example.com:80"), None).unwrap_err();
    assert!(format!("{e:?}").contains("--metrics-addr"));
    assert!(address(Some("127.0.0.1:99999"), None).is_err());
}

#[test]
fn the_text_has_the_issues_names_and_labels() {
    let m = Metrics::default();
    let ctx = AuditContext {
        run_id: "r",
        topic_id: "t1",
        event_id: "e",
        destination: "t1",
    };
    let now = chrono::Utc::now();
    let sent = |class, status| {
        AuditRecord::sent(
            &ctx,
            &SentOutcome {
                class,
                idempotency_key: "k".into(),
                attempt: 1,
                http_status: Some(status),
                http_attempts: 1,
                latency_ms: 12.0,
                message: None,
            },
            now,
        )
    };
    m.outcome(&sent(None, 201));
    m.outcome(&sent(Some(FailureClass::ServerTransient), 503));
    let mut skipped = sent(None, 201);
    skipped.status = ReplayStatus::Skipped;
    skipped.skip_reason = Some(SkipReason::TooOld);
    m.outcome(&skipped);
    m.http_exchange(Op::Put, Exchange::Status(201));
    m.http_exchange(Op::Token, Exchange::Failed(FailureClass::Network));
    m.put_latency(Duration::from_millis(12));
    m.in_flight(3);
    m.rate_limited(Duration::from_millis(1500));
    let text = m.render();
    for line in [
        r#"cxone_replay_events_total{topic="t1",status="SUCCESS"} 1"#,
        r#"cxone_replay_events_total{topic="t1",status="FAILED"} 1"#,
        r#"cxone_replay_events_total{topic="t1",status="SKIPPED"} 1"#,
        r#"cxone_replay_failures_total{topic="t1",class="SERVER_TRANSIENT"} 1"#,
        r#"cxone_replay_skips_total{topic="t1",reason="TOO_OLD"} 1"#,
        r#"cxone_replay_http_requests_total{op="put",status="201"} 1"#,
        r#"cxone_replay_http_requests_total{op="token",status="NETWORK"} 1"#,
        "cxone_replay_put_latency_seconds_count 1",
        "cxone_replay_in_flight 3",
        "cxone_replay_rate_limited_seconds_total 1.5",
        "# TYPE cxone_replay_put_latency_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
}
