//! Table tests: classification, dispositions, retry decisions, Retry-After, filters,
//! destination overrides, skip reasons, event parsing.

use chrono::{DateTime, TimeZone, Utc};
use cxone_replay_domain::{
    Decision, DestinationAllowList, DestinationOverride, Disposition, DlqEvent, DlqPage,
    DomainError, EventFilter, FailureClass, IdempotencyKey, KeyScheme, ReplayPolicy, ReplayStatus,
    RetryBudget, RetryDecision, RetryPolicy, SkipReason, classify, parse_retry_after, plan,
};
use std::time::Duration;

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn classify_table() {
    use FailureClass::*;
    let table: &[(u16, Option<FailureClass>)] = &[
        (200, None),
        (201, None),
        (204, None),
        (299, None),
        (0, Some(UnknownFailure)),
        (100, Some(UnknownFailure)),
        (301, Some(UnknownFailure)),
        (302, Some(UnknownFailure)),
        (400, Some(SchemaViolation)),
        (401, Some(Unauthorized)),
        (403, Some(Forbidden)),
        (404, Some(NotFound)),
        (408, Some(Timeout)),
        (409, Some(DuplicateDetected)),
        (410, Some(UnknownFailure)),
        (413, Some(PayloadTooLarge)),
        (418, Some(UnknownFailure)),
        (422, Some(SchemaViolation)),
        (429, Some(RateLimited)),
        (500, Some(ServerTransient)),
        (502, Some(ServerTransient)),
        (503, Some(ServerTransient)),
        (504, Some(ServerTransient)),
        (599, Some(ServerTransient)),
        (600, Some(UnknownFailure)),
        (u16::MAX, Some(UnknownFailure)),
    ];
    for &(status, want) in table {
        assert_eq!(classify(status), want, "status {status}");
    }
    // Total: every u16 gets an answer without panicking, and only 2xx is success.
    for status in 0..=u16::MAX {
        assert_eq!(classify(status).is_none(), (200..300).contains(&status));
    }
}

#[test]
fn disposition_table() {
    use Disposition::*;
    use FailureClass::*;
    let table = [
        (SchemaViolation, Permanent),
        (DuplicateDetected, AlreadyDelivered),
        (PayloadTooLarge, Permanent),
        (Unauthorized, RefreshAuthThenRetryOnce),
        (Forbidden, Permanent),
        (NotFound, Permanent),
        (RateLimited, Retry),
        (ServerTransient, Retry),
        (Network, Retry),
        (Timeout, Retry),
        (BodyTooLarge, Permanent),
        (Tls, Permanent),
        (MaxRetriesExceeded, Permanent),
        (UnknownFailure, Permanent),
    ];
    assert_eq!(table.len(), FailureClass::ALL.len());
    for (class, want) in table {
        assert_eq!(class.disposition(), want, "{class}");
        assert_eq!(class.is_retryable(), want == Retry, "{class}");
    }
}

#[test]
fn audit_names_are_stable() {
    let names: Vec<String> = FailureClass::ALL
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "\"SCHEMA_VIOLATION\"",
            "\"DUPLICATE_DETECTED\"",
            "\"PAYLOAD_TOO_LARGE\"",
            "\"UNAUTHORIZED\"",
            "\"FORBIDDEN\"",
            "\"NOT_FOUND\"",
            "\"RATE_LIMITED\"",
            "\"SERVER_TRANSIENT\"",
            "\"NETWORK\"",
            "\"TIMEOUT\"",
            "\"BODY_TOO_LARGE\"",
            "\"TLS\"",
            "\"MAX_RETRIES_EXCEEDED\"",
            "\"UNKNOWN_FAILURE\""
        ]
    );
    for c in FailureClass::ALL {
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            format!("\"{}\"", c.as_str())
        );
    }
    for s in ReplayStatus::ALL {
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
    }
    for r in SkipReason::ALL {
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            format!("\"{}\"", r.as_str())
        );
    }
    let statuses: Vec<&str> = ReplayStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["SUCCESS", "DUPLICATE", "FAILED", "SKIPPED", "DRY_RUN"]
    );
}

/// class, attempt, Retry-After, token already refreshed, jitter, decision.
type Row = (
    FailureClass,
    u32,
    Option<Duration>,
    bool,
    f64,
    RetryDecision,
);

#[test]
fn retry_decision_table() {
    use FailureClass::*;
    let p = RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(1)).unwrap();
    let ra = Some(Duration::from_secs(2));
    let table: &[Row] = &[
        (
            ServerTransient,
            1,
            None,
            false,
            1.0,
            RetryDecision::RetryAfter(Duration::from_millis(100)),
        ),
        (
            ServerTransient,
            2,
            None,
            false,
            0.5,
            RetryDecision::RetryAfter(Duration::from_millis(100)),
        ),
        (
            ServerTransient,
            3,
            None,
            false,
            1.0,
            RetryDecision::GiveUp(MaxRetriesExceeded),
        ),
        (
            Network,
            1,
            None,
            false,
            0.0,
            RetryDecision::RetryAfter(Duration::ZERO),
        ),
        (
            Timeout,
            2,
            None,
            false,
            1.0,
            RetryDecision::RetryAfter(Duration::from_millis(200)),
        ),
        (
            RateLimited,
            1,
            ra,
            false,
            0.1,
            RetryDecision::RetryAfter(Duration::from_secs(2)),
        ),
        (
            RateLimited,
            1,
            None,
            false,
            1.0,
            RetryDecision::RetryAfter(Duration::from_millis(100)),
        ),
        (
            RateLimited,
            3,
            ra,
            false,
            1.0,
            RetryDecision::GiveUp(MaxRetriesExceeded),
        ),
        (
            Unauthorized,
            1,
            None,
            false,
            1.0,
            RetryDecision::RefreshAuthAndRetry,
        ),
        (
            Unauthorized,
            2,
            None,
            true,
            1.0,
            RetryDecision::GiveUp(Unauthorized),
        ),
        (
            DuplicateDetected,
            1,
            None,
            false,
            1.0,
            RetryDecision::AlreadyDelivered,
        ),
        (
            SchemaViolation,
            1,
            None,
            false,
            1.0,
            RetryDecision::GiveUp(SchemaViolation),
        ),
        (
            PayloadTooLarge,
            1,
            None,
            false,
            1.0,
            RetryDecision::GiveUp(PayloadTooLarge),
        ),
        (
            Forbidden,
            1,
            None,
            false,
            1.0,
            RetryDecision::GiveUp(Forbidden),
        ),
        (
            NotFound,
            1,
            None,
            false,
            1.0,
            RetryDecision::GiveUp(NotFound),
        ),
        (
            UnknownFailure,
            1,
            None,
            false,
            1.0,
            RetryDecision::GiveUp(UnknownFailure),
        ),
    ];
    for &(class, attempt, retry_after, refreshed, jitter, want) in table {
        assert_eq!(
            p.decide(class, attempt, retry_after, refreshed, jitter),
            want,
            "{class} attempt {attempt}"
        );
    }
    // Retry-After is capped by the policy's cap.
    let capped = p.with_retry_after_cap(Duration::from_secs(1));
    assert_eq!(
        capped.decide(RateLimited, 1, Some(Duration::from_secs(30)), false, 1.0),
        RetryDecision::RetryAfter(Duration::from_secs(1))
    );
    // A single-attempt policy still allows the one token refresh.
    let one = RetryPolicy::new(1, Duration::ZERO, Duration::ZERO).unwrap();
    assert_eq!(
        one.decide(Unauthorized, 1, None, false, 1.0),
        RetryDecision::RefreshAuthAndRetry
    );
}

#[test]
fn retry_policy_rejects_nonsense() {
    assert!(matches!(
        RetryPolicy::new(0, Duration::ZERO, Duration::ZERO),
        Err(DomainError::InvalidSetting {
            setting: "max_attempts",
            ..
        })
    ));
    assert!(matches!(
        RetryPolicy::new(3, Duration::from_secs(2), Duration::from_secs(1)),
        Err(DomainError::InvalidSetting {
            setting: "base_delay",
            ..
        })
    ));
    let d = RetryPolicy::default();
    assert_eq!(d.max_attempts(), 5);
    assert_eq!(d.base_delay(), Duration::from_millis(200));
    assert_eq!(d.max_delay(), Duration::from_secs(20));
}

#[test]
fn backoff_table() {
    let p = RetryPolicy::new(10, Duration::from_millis(200), Duration::from_secs(20)).unwrap();
    let table = [
        (1, 1.0, 200),
        (2, 1.0, 400),
        (3, 1.0, 800),
        (7, 1.0, 12_800),
        (8, 1.0, 20_000),
        (40, 1.0, 20_000),
        (3, 0.25, 200),
        (3, 0.0, 0),
        (3, -1.0, 0),
        (3, 7.0, 800),
        (3, f64::NAN, 0),
        (0, 1.0, 200),
    ];
    for (attempt, jitter, ms) in table {
        assert_eq!(
            p.backoff(attempt, jitter),
            Duration::from_millis(ms),
            "attempt {attempt} jitter {jitter}"
        );
    }
}

#[test]
fn retry_after_table() {
    let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 50).unwrap();
    let cap = Duration::from_secs(60);
    let table: &[(&str, Option<u64>)] = &[
        ("2", Some(2)),
        ("0", Some(0)),
        (" 5 ", Some(5)),
        ("120", Some(60)),
        ("99999999999999999999999", Some(60)),
        ("Wed, 21 Oct 2015 07:28:00 GMT", Some(10)),
        ("Wed, 21 Oct 2015 07:27:00 GMT", Some(0)),
        ("Wed, 21 Oct 2015 09:00:00 GMT", Some(60)),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", Some(10)),
        ("Wed Oct 21 07:28:00 2015", Some(10)),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("1.5", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
    ];
    for &(value, want) in table {
        assert_eq!(
            parse_retry_after(value, now, cap),
            want.map(Duration::from_secs),
            "{value:?}"
        );
    }
}

#[test]
fn retry_budget_drains_and_refills() {
    let mut b = RetryBudget::new(12, 5, 10, 1);
    assert_eq!(b.try_withdraw(FailureClass::ServerTransient), Some(5));
    assert_eq!(b.try_withdraw(FailureClass::RateLimited), Some(0));
    assert_eq!(b.available(), 7);
    assert_eq!(b.try_withdraw(FailureClass::Timeout), None, "10 > 7");
    assert_eq!(b.try_withdraw(FailureClass::Network), Some(5));
    assert_eq!(b.try_withdraw(FailureClass::Network), None);
    b.refund(5);
    assert_eq!(b.available(), 7);
    b.refund(0);
    assert_eq!(b.available(), 8);
    b.refund(100);
    assert_eq!(b.available(), 12, "never above capacity");
}

fn event(json: &str) -> DlqEvent {
    DlqEvent::from_slice(json.as_bytes()).unwrap()
}

#[test]
fn filter_table() {
    let e = event(
        r#"{"eventId":"e1","payload":{"type":"conversation:start"},"failureReason":"HTTP 502 Bad Gateway",
            "lastFailureTimestamp":"2024-05-10T14:35:00Z"}"#,
    );
    let bare = event(r#"{"eventId":"e2","payload":{"x":1}}"#);
    let t = ts("2024-05-10T14:35:00Z");
    let hour = chrono::Duration::hours(1);
    let table: Vec<(&str, EventFilter, bool, bool)> = vec![
        ("empty", EventFilter::default(), true, true),
        ("since equal", EventFilter::new().since(t), true, false),
        (
            "since after",
            EventFilter::new().since(t + hour),
            false,
            false,
        ),
        (
            "until equal (exclusive)",
            EventFilter::new().until(t),
            false,
            false,
        ),
        (
            "until after",
            EventFilter::new().until(t + hour),
            true,
            false,
        ),
        (
            "window",
            EventFilter::new().since(t - hour).until(t + hour),
            true,
            false,
        ),
        (
            "reason case-insensitive",
            EventFilter::new().reason_contains("BAD gateway"),
            true,
            false,
        ),
        (
            "reason miss",
            EventFilter::new().reason_contains("504"),
            false,
            false,
        ),
        (
            "type",
            EventFilter::new().event_type("conversation:start"),
            true,
            false,
        ),
        (
            "type any-of",
            EventFilter::new()
                .event_type("a")
                .event_type("conversation:start"),
            true,
            false,
        ),
        (
            "type miss",
            EventFilter::new().event_type("conversation:end"),
            false,
            false,
        ),
        (
            "ids",
            EventFilter::new().event_ids(["e1", "e2"]),
            true,
            true,
        ),
        (
            "ids miss",
            EventFilter::new().event_ids(["e3"]),
            false,
            false,
        ),
        (
            "AND of all",
            EventFilter::new()
                .since(t - hour)
                .reason_contains("502")
                .event_type("conversation:start")
                .event_ids(["e1"]),
            true,
            false,
        ),
        (
            "AND, one fails",
            EventFilter::new().reason_contains("502").event_ids(["e2"]),
            false,
            false,
        ),
    ];
    for (name, f, want_e, want_bare) in table {
        assert_eq!(f.matches(&e), want_e, "{name} on e1");
        assert_eq!(f.matches(&bare), want_bare, "{name} on bare event");
    }
    assert!(EventFilter::new().since(t).until(t).check().is_err());
    assert!(EventFilter::new().since(t).until(t + hour).check().is_ok());
    assert!(EventFilter::new().is_empty());
    assert!(!EventFilter::new().reason_contains("x").is_empty());
}

#[test]
fn destination_override_table() {
    let any = DestinationAllowList::any();
    let listed = DestinationAllowList::only(["hooks.example.com", "*.replay.example.net"]);
    let table: &[(&str, &DestinationAllowList, Result<&str, &str>)] = &[
        (
            "https://hooks.example.com/replay",
            &any,
            Ok("hooks.example.com"),
        ),
        (
            "https://hooks.example.com:8443/x?y=1",
            &any,
            Ok("hooks.example.com"),
        ),
        ("https://[::1]/x", &any, Ok("[::1]")),
        (
            "http://hooks.example.com/replay",
            &any,
            Err("scheme `http`"),
        ),
        ("ftp://hooks.example.com/", &any, Err("scheme `ftp`")),
        ("https://user:pw@hooks.example.com/", &any, Err("user-info")),
        ("https://user@hooks.example.com/", &any, Err("user-info")),
        ("/relative/path", &any, Err("not an absolute URL")),
        ("hooks.example.com/replay", &any, Err("not an absolute URL")),
        ("https://", &any, Err("not a valid URL")),
        (
            "https://hooks.example.com/",
            &listed,
            Ok("hooks.example.com"),
        ),
        (
            "https://HOOKS.example.com/",
            &listed,
            Ok("hooks.example.com"),
        ),
        (
            "https://a.replay.example.net/",
            &listed,
            Ok("a.replay.example.net"),
        ),
        ("https://replay.example.net/", &listed, Err("allow-list")),
        ("https://evil.example.com/", &listed, Err("allow-list")),
        (
            "https://hooks.example.com.evil.net/",
            &listed,
            Err("allow-list"),
        ),
    ];
    for &(input, allow, want) in table {
        match (DestinationOverride::parse(input, allow), want) {
            (Ok(d), Ok(host)) => assert_eq!(d.host(), host, "{input}"),
            (Err(e), Err(needle)) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{input}: {msg}");
                assert!(!msg.contains("pw@"), "password echoed: {msg}");
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn idempotency_key_table() {
    let long = "x".repeat(255);
    let too_long = "x".repeat(256);
    let table: &[(&str, bool)] = &[
        ("replay-evt_1-v1", true),
        ("a", true),
        (long.as_str(), true),
        (too_long.as_str(), false),
        ("", false),
        ("has space", false),
        ("tab\there", false),
        ("new\nline", false),
        ("caf\u{e9}", false),
        ("!~", true),
    ];
    for &(key, ok) in table {
        assert_eq!(IdempotencyKey::new(key).is_ok(), ok, "{key:?}");
    }
    assert_eq!(
        IdempotencyKey::for_replay("evt_8f3a", 4).unwrap().as_str(),
        "replay-evt_8f3a-v4"
    );
    let bad: Result<IdempotencyKey, _> = serde_json::from_str("\"a b\"");
    assert!(bad.is_err());
}

fn now() -> DateTime<Utc> {
    ts("2024-05-20T00:00:00Z")
}

fn skip_reason(json: &str, policy: &ReplayPolicy, filter: &EventFilter) -> Option<SkipReason> {
    match plan(&event(json), "t", policy, filter, now()) {
        Decision::Replay(_) => None,
        Decision::Skip(s) => Some(s.reason),
    }
}

#[test]
fn plan_skip_table() {
    let week = Duration::from_secs(7 * 86_400);
    let aged = ReplayPolicy::default().max_age(week);
    let small = ReplayPolicy::default().body_limit(300).unwrap();
    let any = EventFilter::default();
    let only_e9 = EventFilter::new().event_ids(["e9"]);
    use SkipReason::*;
    let table: &[(&str, &ReplayPolicy, &EventFilter, Option<SkipReason>)] = &[
        (
            r#"{"eventId":"e1","payload":{}}"#,
            &ReplayPolicy::default(),
            &any,
            None,
        ),
        (
            r#"{"eventId":"e1","payload":{},"retryCount":4}"#,
            &ReplayPolicy::default(),
            &any,
            None,
        ),
        (
            r#"{"eventId":"e1","payload":{},"retryCount":5}"#,
            &ReplayPolicy::default(),
            &any,
            Some(RetryWindowExceeded),
        ),
        (
            r#"{"eventId":"e1","payload":{},"retryCount":4294967295}"#,
            &ReplayPolicy::default(),
            &any,
            Some(RetryWindowExceeded),
        ),
        (
            r#"{"eventId":"e1","payload":{},"firstFailureTimestamp":"2024-05-14T00:00:00Z"}"#,
            &aged,
            &any,
            None,
        ),
        (
            r#"{"eventId":"e1","payload":{},"firstFailureTimestamp":"2024-05-01T00:00:00Z"}"#,
            &aged,
            &any,
            Some(TooOld),
        ),
        (
            r#"{"eventId":"e1","payload":{},"lastFailureTimestamp":"2024-05-01T00:00:00Z"}"#,
            &aged,
            &any,
            Some(TooOld),
        ),
        (
            r#"{"eventId":"e1","payload":{}}"#,
            &aged,
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1","payload":{"big":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#,
            &small,
            &any,
            Some(PayloadTooLarge),
        ),
        (
            r#"{"eventId":"e1","payload":{}}"#,
            &ReplayPolicy::default(),
            &only_e9,
            Some(Filtered),
        ),
        (
            r#"{"payload":{}}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"","payload":{}}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":7,"payload":{}}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1"}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1","payload":null}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1","payload":[1,2]}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1","payload":{},"retryCount":-1}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1","payload":{},"retryCount":"3"}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1","payload":{},"retryCount":1.5}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e1","payload":{},"firstFailureTimestamp":"yesterday"}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        (
            r#"{"eventId":"e 1","payload":{}}"#,
            &ReplayPolicy::default(),
            &any,
            Some(InvalidEvent),
        ),
        // Invalid beats filtered: an event we cannot read is audited as such.
        (
            r#"{"eventId":"e1","payload":[]}"#,
            &ReplayPolicy::default(),
            &only_e9,
            Some(InvalidEvent),
        ),
        // Filtered beats exhausted: the operator excluded it.
        (
            r#"{"eventId":"e1","payload":{},"retryCount":9}"#,
            &ReplayPolicy::default(),
            &only_e9,
            Some(Filtered),
        ),
        // Unknown fields are tolerated.
        (
            r#"{"eventId":"e1","payload":{},"newField":{"x":[1]}}"#,
            &ReplayPolicy::default(),
            &any,
            None,
        ),
    ];
    for &(json, policy, filter, want) in table {
        assert_eq!(skip_reason(json, policy, filter), want, "{json}");
    }
}

#[test]
fn skips_carry_key_and_detail() {
    let e = event(r#"{"eventId":"e1","payload":{},"retryCount":5}"#);
    let Decision::Skip(s) = plan(
        &e,
        "t",
        &ReplayPolicy::default(),
        &EventFilter::default(),
        now(),
    ) else {
        panic!("must skip");
    };
    assert_eq!(s.idempotency_key.unwrap().as_str(), "replay-e1-v6");
    assert_eq!(s.attempt, Some(6));
    assert!(s.detail.contains("retry window of 5"), "{}", s.detail);
}

#[test]
fn malformed_events_name_the_field() {
    let table: &[(&str, &str)] = &[
        (r#"{"payload":{}}"#, "eventId"),
        (r#"{"eventId":null,"payload":{}}"#, "eventId"),
        (r#"{"eventId":["x"],"payload":{}}"#, "eventId"),
        (r#"{"eventId":"e","topicId":5,"payload":{}}"#, "topicId"),
        (r#"{"eventId":"e"}"#, "payload"),
        (
            r#"{"eventId":"e","payload":{},"failureReason":{}}"#,
            "failureReason",
        ),
        (
            r#"{"eventId":"e","payload":{},"retryCount":true}"#,
            "retryCount",
        ),
        (
            r#"{"eventId":"e","payload":{},"lastFailureTimestamp":"2024-13-01"}"#,
            "lastFailureTimestamp",
        ),
        (
            r#"{"eventId":"e","payload":{},"firstFailureTimestamp":12}"#,
            "firstFailureTimestamp",
        ),
    ];
    for &(json, field) in table {
        let e = event(json);
        match e.check() {
            Err(DomainError::InvalidEvent { field: f, .. }) => assert_eq!(f, field, "{json}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    assert!(matches!(
        DlqEvent::from_slice(b"[1]"),
        Err(DomainError::InvalidEvent { field: "event", .. })
    ));
    assert!(matches!(
        DlqEvent::from_slice(b"{"),
        Err(DomainError::Json { .. })
    ));
}

#[test]
fn page_parsing_is_lenient_per_event() {
    let page = DlqPage::from_slice(
        br#"{"events":[{"eventId":"a","payload":{}}, "junk", {"eventId":"b"}, {"eventId":"c","payload":{"k":1}}],"nextPageToken":""}"#,
    )
    .unwrap();
    assert_eq!(page.events.len(), 4);
    assert!(page.events[0].defect.is_none());
    assert_eq!(page.events[1].defect.as_ref().unwrap().field, "event");
    assert_eq!(page.events[2].defect.as_ref().unwrap().field, "payload");
    assert_eq!(page.events[2].event_id, "b");
    assert!(page.events[3].defect.is_none());
    assert_eq!(page.next_page_token, None, "an empty token ends the stream");

    assert!(DlqPage::from_slice(b"{}").unwrap().events.is_empty());
    assert!(DlqPage::from_slice(br#"{"events":{}}"#).is_err());
    assert!(DlqPage::from_slice(br#"{"events":[],"nextPageToken":5}"#).is_err());
    assert!(DlqPage::from_slice(b"<html>").is_err());
}

#[test]
fn payload_check_names_the_field() {
    let e = event(r#"{"eventId":"e1","payload":{"a":1}}"#);
    let Decision::Replay(r) = plan(
        &e,
        "t",
        &ReplayPolicy::default(),
        &EventFilter::default(),
        now(),
    ) else {
        panic!()
    };
    let mut p = r.payload.clone();
    p.retry_matrix.current_attempt = 9;
    let err = p.check().unwrap_err().to_string();
    assert!(
        err.contains("retryMatrix") && err.contains("exceeds maxAllowed"),
        "{err}"
    );

    let mut p = r.payload.clone();
    p.routing_directive.preserve_original_topic = false;
    let err = p.check().unwrap_err().to_string();
    assert!(err.contains("routingDirective"), "{err}");

    let mut p = r.payload.clone();
    p.original_payload = serde_json::value::RawValue::from_string("[1]".into()).unwrap();
    let err = p.check().unwrap_err().to_string();
    assert!(err.contains("originalPayload"), "{err}");

    let mut p = r.payload.clone();
    p.idempotency_key = IdempotencyKey::new("replay-other-v1").unwrap();
    let err = p.check().unwrap_err().to_string();
    assert!(err.contains("idempotencyKey"), "{err}");

    assert!(ReplayPolicy::default().max_retries(0).is_err());
    assert!(ReplayPolicy::default().body_limit(0).is_err());
    assert!(ReplayPolicy::default().client_version("").is_err());
}

#[test]
fn plan_makes_the_key_of_the_policys_scheme() {
    let e = event(r#"{"eventId":"evt_1","payload":{"a":1},"retryCount":2}"#);
    let any = EventFilter::default();
    let table: &[(KeyScheme, &str, Result<&str, &str>)] = &[
        (KeyScheme::EventScoped, "t1", Ok("replay-evt_1-v3")),
        (KeyScheme::EventScoped, "t2", Ok("replay-evt_1-v3")),
        (KeyScheme::TopicScoped, "t1", Ok("replay-t1-evt_1-v3")),
        (KeyScheme::TopicScoped, "t2", Ok("replay-t2-evt_1-v3")),
        // Too long for a key: the event is skipped, never sent with a cut key.
        (
            KeyScheme::TopicScoped,
            &"t".repeat(250),
            Err("topic-scoped idempotency key"),
        ),
    ];
    for (scheme, topic, want) in table {
        let policy = ReplayPolicy::default().key_scheme(*scheme);
        assert_eq!(policy.get_key_scheme(), *scheme);
        match (plan(&e, topic, &policy, &any, now()), want) {
            (Decision::Replay(r), Ok(key)) => {
                assert_eq!(r.idempotency_key().as_str(), *key);
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(body["idempotencyKey"], *key);
                assert!(
                    r.payload.check().is_ok(),
                    "the payload check knows the scheme"
                );
            }
            (Decision::Skip(s), Err(part)) => {
                assert_eq!(s.reason, SkipReason::InvalidEvent);
                assert!(s.detail.contains(part), "{}", s.detail);
                assert!(s.detail.contains("bytes long"), "{}", s.detail);
                assert_eq!(s.idempotency_key, None);
            }
            (d, want) => panic!("{scheme} {topic}: want {want:?}, got {d:?}"),
        }
    }
    assert_eq!(
        ReplayPolicy::default().get_key_scheme(),
        KeyScheme::EventScoped
    );
}
