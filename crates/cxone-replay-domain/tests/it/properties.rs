//! Properties that must hold for every input.

use chrono::{DateTime, TimeZone, Utc};
use cxone_replay_domain::{
    DEFAULT_BODY_LIMIT, Decision, DlqEvent, DlqPage, EventFilter, ReplayPolicy, RetryPolicy,
    SkipReason, parse_retry_after, plan,
};
use proptest::prelude::*;
use std::time::Duration;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 11, 9, 15, 22).unwrap()
}

/// JSON text with hostile-but-valid content: long and precise numbers, unicode, escapes,
/// odd whitespace, keys in any order (duplicates included).
fn json_text() -> impl Strategy<Value = String> {
    let ws = prop_oneof![Just(""), Just(" "), Just("\n  "), Just("\t")];
    let number = "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,40})?([eE][+-]?[0-9]{1,3})?";
    let plain_string = any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap());
    let escaped_string = "[a-z\\\\/\"\u{e9}\u{1F600}]{0,12}".prop_map(|s| {
        // Escape by hand with \u sequences and the short escapes, as other encoders do.
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c if !c.is_ascii() && (c as u32) < 0x10000 => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    });
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number.prop_map(String::from),
        plain_string,
        escaped_string,
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let ws = ws.clone();
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), ws.clone())
                .prop_map(|(items, w)| format!("[{w}{}{w}]", items.join(&format!(",{w}")))),
            (
                prop::collection::vec((any::<String>(), inner), 0..6),
                ws.clone()
            )
                .prop_map(|(members, w)| {
                    let body: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("{}{w}:{w}{v}", serde_json::to_string(&k).unwrap()))
                        .collect();
                    format!("{{{w}{}{w}}}", body.join(","))
                }),
        ]
    })
}

fn object_text() -> impl Strategy<Value = String> {
    (json_text(), json_text()).prop_map(|(a, b)| {
        format!("{{\"a\": {a}, \"nested\" :{{\"b\":{b}}}, \"z\":1.000000000000000000001}}")
    })
}

fn event_json(event_id: &str, retry_count: u64, payload: &str) -> String {
    format!(
        r#"{{"eventId":{},"topicId":"t","payload":{payload},"retryCount":{retry_count},"failureReason":"HTTP 502 Bad Gateway"}}"#,
        serde_json::to_string(event_id).unwrap()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn attempt_is_retry_count_plus_one_and_never_beyond_the_window(
        retry_count in 0u64..20,
        max_retries in 1u32..12,
        id in "[A-Za-z0-9_-]{1,40}",
    ) {
        let e = DlqEvent::from_slice(event_json(&id, retry_count, "{}").as_bytes()).unwrap();
        let policy = ReplayPolicy::default().max_retries(max_retries).unwrap();
        let attempt = retry_count + 1;
        match plan(&e, "t", &policy, &EventFilter::default(), now()) {
            Decision::Replay(r) => {
                prop_assert!(attempt <= u64::from(max_retries));
                prop_assert_eq!(u64::from(r.payload.retry_matrix.current_attempt), attempt);
                prop_assert_eq!(r.payload.retry_matrix.max_allowed, max_retries);
                let expected_key = format!("replay-{id}-v{attempt}");
                prop_assert_eq!(r.idempotency_key().as_str(), expected_key.as_str());
            }
            Decision::Skip(s) => {
                prop_assert!(attempt > u64::from(max_retries));
                prop_assert_eq!(s.reason, SkipReason::RetryWindowExceeded);
                prop_assert_eq!(s.attempt.map(u64::from), Some(attempt));
            }
        }
    }

    #[test]
    fn original_payload_bytes_appear_unchanged_in_the_body(payload in object_text()) {
        // Only valid JSON is a valid event; the generator makes valid JSON by construction.
        prop_assume!(serde_json::from_str::<serde::de::IgnoredAny>(&payload).is_ok());
        let e = DlqEvent::from_slice(event_json("evt", 0, &payload).as_bytes()).unwrap();
        prop_assert!(e.defect.is_none(), "{:?}", e.defect);
        match plan(&e, "t", &ReplayPolicy::default(), &EventFilter::default(), now()) {
            Decision::Replay(r) => {
                let body = String::from_utf8(r.body.clone()).unwrap();
                let needle = format!("\"originalPayload\":{payload},\"retryMatrix\"");
                prop_assert!(body.contains(&needle), "payload altered:\n{payload}\nbody:\n{body}");
                // And the body is valid JSON whose payload re-reads to the same bytes.
                let back: cxone_replay_domain::ReplayPayload = serde_json::from_slice(&r.body).unwrap();
                prop_assert_eq!(back.original_payload.get(), payload.as_str());
            }
            Decision::Skip(s) => prop_assert!(false, "skipped: {}", s.detail),
        }
    }

    #[test]
    fn the_body_is_byte_for_byte_what_serde_json_to_vec_made(
        payload in object_text(),
        id in any::<String>(),
        reason in any::<String>(),
        first in prop::option::of(Just("2024-05-10T08:00:00Z")),
        retry_count in 0u64..4,
    ) {
        // The body is written into one pre-sized buffer since issue 13; before, it was
        // `serde_json::to_vec(&payload)`. Same bytes, whatever the strings hold.
        prop_assume!(serde_json::from_str::<serde::de::IgnoredAny>(&payload).is_ok());
        prop_assume!(!id.is_empty());
        let s = |v: &str| serde_json::to_string(v).unwrap();
        let stamps = first.map_or(String::new(), |f| {
            format!(r#","firstFailureTimestamp":"{f}","lastFailureTimestamp":"{f}""#)
        });
        let text = format!(
            r#"{{"eventId":{},"topicId":"t","retryCount":{retry_count},"failureReason":{},"payload":{payload}{stamps}}}"#,
            s(&id),
            s(&reason)
        );
        let e = DlqEvent::from_slice(text.as_bytes()).unwrap();
        if let Decision::Replay(r) = plan(&e, "t", &ReplayPolicy::default(), &EventFilter::default(), now()) {
            prop_assert_eq!(&r.body, &serde_json::to_vec(&r.payload).unwrap());
            prop_assert_eq!(r.body, r.payload.to_body());
        }
    }

    #[test]
    fn dlq_parsing_of_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = DlqPage::from_slice(&bytes);
        if let Ok(e) = DlqEvent::from_slice(&bytes) {
            let _ = plan(&e, "t", &ReplayPolicy::default(), &EventFilter::default(), now());
        }
    }

    #[test]
    fn dlq_parsing_of_hostile_json_never_panics(doc in json_text()) {
        let page = format!("{{\"events\":[{doc},{doc}],\"nextPageToken\":null}}");
        if let Ok(p) = DlqPage::from_slice(page.as_bytes()) {
            for e in &p.events {
                let _ = e.check();
                let _ = plan(e, "t", &ReplayPolicy::default(), &EventFilter::new().event_type("x"), now());
            }
        }
        if let Ok(e) = DlqEvent::from_slice(doc.as_bytes()) {
            let _ = plan(&e, "t", &ReplayPolicy::default(), &EventFilter::default(), now());
        }
    }

    #[test]
    fn backoff_never_exceeds_the_cap_and_never_overflows(
        attempt in 0u32..=u32::MAX,
        jitter in any::<f64>(),
        base_ms in 0u64..10_000,
        extra_ms in 0u64..100_000,
    ) {
        let cap = Duration::from_millis(base_ms + extra_ms);
        let p = RetryPolicy::new(5, Duration::from_millis(base_ms), cap).unwrap();
        prop_assert!(p.backoff(attempt, jitter) <= cap);
        prop_assert!(p.backoff(1_000, jitter) <= cap);
        // Full jitter at a late attempt is the cap itself; a zero base never grows.
        let full = if base_ms == 0 { Duration::ZERO } else { cap };
        prop_assert_eq!(p.backoff(1_000, 1.0), full);
    }

    #[test]
    fn retry_after_never_exceeds_the_cap(value in ".{0,40}", secs in 0u64..1_000_000) {
        let cap = Duration::from_secs(60);
        if let Some(d) = parse_retry_after(&value, now(), cap) {
            prop_assert!(d <= cap);
        }
        prop_assert_eq!(
            parse_retry_after(&secs.to_string(), now(), cap),
            Some(Duration::from_secs(secs).min(cap))
        );
    }

    #[test]
    fn size_boundary_is_exact(id in "[a-z0-9]{1,30}", delta in -3i64..=3) {
        // Find the pad length that makes the body exactly the limit, then move by delta.
        let body_len = |pad: usize| {
            let payload = format!("{{\"pad\":\"{}\"}}", "x".repeat(pad));
            let e = DlqEvent::from_slice(event_json(&id, 0, &payload).as_bytes()).unwrap();
            let big = ReplayPolicy::default().body_limit(usize::MAX).unwrap();
            match plan(&e, "t", &big, &EventFilter::default(), now()) {
                Decision::Replay(r) => (r.body.len(), e),
                Decision::Skip(s) => panic!("{}", s.detail),
            }
        };
        let (base, _) = body_len(0);
        let pad = usize::try_from(DEFAULT_BODY_LIMIT as i64 - base as i64 + delta).unwrap();
        let (len, event) = body_len(pad);
        prop_assert_eq!(len as i64, DEFAULT_BODY_LIMIT as i64 + delta);
        let decision = plan(&event, "t", &ReplayPolicy::default(), &EventFilter::default(), now());
        match decision {
            Decision::Replay(r) => prop_assert!(r.body.len() <= DEFAULT_BODY_LIMIT),
            Decision::Skip(s) => {
                prop_assert!(len > DEFAULT_BODY_LIMIT);
                prop_assert_eq!(s.reason, SkipReason::PayloadTooLarge);
            }
        }
        prop_assert_eq!(
            matches!(plan(&event, "t", &ReplayPolicy::default(), &EventFilter::default(), now()), Decision::Replay(_)),
            delta <= 0
        );
    }
}

#[test]
fn the_exact_limit_is_accepted_and_one_more_byte_is_not() {
    let base = {
        let e = DlqEvent::from_slice(event_json("e", 0, r#"{"pad":""}"#).as_bytes()).unwrap();
        match plan(
            &e,
            "t",
            &ReplayPolicy::default(),
            &EventFilter::default(),
            now(),
        ) {
            Decision::Replay(r) => r.body.len(),
            Decision::Skip(s) => panic!("{}", s.detail),
        }
    };
    for (extra, replay) in [(0usize, true), (1, false)] {
        let pad = "x".repeat(262_144 - base + extra);
        let e =
            DlqEvent::from_slice(event_json("e", 0, &format!(r#"{{"pad":"{pad}"}}"#)).as_bytes())
                .unwrap();
        match plan(
            &e,
            "t",
            &ReplayPolicy::default(),
            &EventFilter::default(),
            now(),
        ) {
            Decision::Replay(r) => {
                assert!(replay);
                assert_eq!(r.body.len(), 262_144);
            }
            Decision::Skip(s) => {
                assert!(!replay);
                assert_eq!(s.reason, SkipReason::PayloadTooLarge);
                assert!(s.detail.contains("262145 bytes"), "{}", s.detail);
            }
        }
    }
}
