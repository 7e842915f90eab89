//! DLQ pages split element by element (issue 15, item 4): one undecodable event must not spoil
//! its page, and what cannot be delimited is a typed page error.

use cxone_replay_domain::{DlqPage, DomainError};
use proptest::prelude::*;

fn good(id: &str, n: u32) -> Vec<u8> {
    format!(r#"{{"eventId":"{id}","topicId":"t","payload":{{"n":{n},"s":"caf\u00e9 [x] {{y}}, \"q\""}},"retryCount":1}}"#)
        .into_bytes()
}

fn page(elements: &[Vec<u8>], token: Option<&str>) -> Vec<u8> {
    let mut out = b"{\"events\":[".to_vec();
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.push(b']');
    if let Some(t) = token {
        out.extend_from_slice(format!(",\"nextPageToken\":\"{t}\"").as_bytes());
    }
    out.push(b'}');
    out
}

#[test]
fn an_element_with_invalid_utf8_is_one_defective_event_between_two_good_ones() {
    let mut broken = br#"{"eventId":"evt_bad","payload":{"text":""#.to_vec();
    broken.extend_from_slice(&[0xff, 0xfe, b'o', b'k', 0xc3]);
    broken.extend_from_slice(br#""},"retryCount":0}"#);
    let body = page(&[good("evt_1", 1), broken, good("evt_2", 2)], Some("p2"));
    let p = DlqPage::from_slice(&body).expect("the page is readable");
    assert_eq!(
        p.next_page_token.as_deref(),
        Some("p2"),
        "the token is still read"
    );
    let ids: Vec<&str> = p.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["evt_1", "evt_bad", "evt_2"]);
    assert!(p.events[0].defect.is_none() && p.events[2].defect.is_none());
    assert_eq!(
        p.events[2].payload.as_ref().unwrap().get(),
        r#"{"n":2,"s":"caf\u00e9 [x] {y}, \"q\""}"#
    );
    let d = p.events[1].defect.as_ref().expect("a defect");
    assert_eq!(d.field, "event");
    assert!(
        d.problem.contains("invalid UTF-8 at byte 40"),
        "{}",
        d.problem
    );
    // The excerpt is escaped: no raw control or invalid bytes, the bad bytes shown as \xNN.
    assert!(
        d.problem.contains(r#""text":"\xff\xfeok\xc3""#),
        "{}",
        d.problem
    );
    assert!(p.events[1].check().is_err());
}

#[test]
fn undecodable_elements_table() {
    // (element, recovered event id, part of the problem)
    let long_id = "i".repeat(1025);
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            br#"{"eventId":"e1","payload":{"a":tru}}"#.to_vec(),
            "e1",
            "not valid JSON",
        ),
        (
            br#"{"eventId":"e2","payload":{"a":"\q"}}"#.to_vec(),
            "e2",
            "not valid JSON",
        ),
        (
            br#"{"payload":{"eventId":"inner"},"eventId" : "e3","x":01}"#.to_vec(),
            "e3",
            "not valid JSON",
        ),
        // The id itself is broken: not recovered.
        (
            [&br#"{"eventId":"e"#[..], &[0xff], br#"","payload":{}}"#].concat(),
            "",
            "invalid UTF-8",
        ),
        (
            br#"{"eventId":42,"payload":{"a":tru}}"#.to_vec(),
            "",
            "not valid JSON",
        ),
        (br#"garbage here"#.to_vec(), "", "not valid JSON"),
        (
            br#"{"eventId":"e4"} trailing"#.to_vec(),
            "e4",
            "not valid JSON",
        ),
        (
            format!(r#"{{"eventId":"{long_id}","payload":{{"a":tru}}}}"#).into_bytes(),
            "",
            "not valid JSON",
        ),
        // A stray closer at the element's top level is part of the element.
        (br#"{"eventId":"e5"}}"#.to_vec(), "e5", "not valid JSON"),
    ];
    for (element, id, problem) in cases {
        let body = page(&[good("a", 1), element.clone(), good("b", 2)], None);
        let p = DlqPage::from_slice(&body)
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&element)));
        assert_eq!(p.events.len(), 3, "{}", String::from_utf8_lossy(&element));
        assert_eq!(
            (p.events[0].event_id.as_str(), p.events[2].event_id.as_str()),
            ("a", "b")
        );
        assert!(p.events[0].defect.is_none() && p.events[2].defect.is_none());
        let e = &p.events[1];
        assert_eq!(e.event_id, id, "{}", String::from_utf8_lossy(&element));
        let d = e.defect.as_ref().unwrap();
        assert_eq!(d.field, "event");
        assert!(d.problem.contains(problem), "{}", d.problem);
    }
}

#[test]
fn the_excerpt_is_bounded_and_escaped() {
    let mut broken = br#"{"eventId":"big","payload":{"s":""#.to_vec();
    broken.extend(std::iter::repeat_n(0xffu8, 10_000));
    broken.extend_from_slice(b"\n\t\x1b\"}}");
    let p = DlqPage::from_slice(&page(&[broken], None)).unwrap();
    let problem = &p.events[0].defect.as_ref().unwrap().problem;
    assert_eq!(p.events[0].event_id, "big");
    assert!(problem.len() < 1200, "{} bytes", problem.len());
    assert!(problem.contains("10039 bytes in all"), "{problem}");
    assert!(!problem.chars().any(char::is_control), "{problem:?}");
    // Control characters inside the first 256 bytes are escaped too.
    let p = DlqPage::from_slice(&page(&[b"{\"eventId\":\"c\",\x01\n}".to_vec()], None)).unwrap();
    let problem = &p.events[0].defect.as_ref().unwrap().problem;
    assert!(problem.contains(r#""c",\x01\x0a}"#), "{problem}");
}

#[test]
fn a_broken_envelope_is_a_typed_page_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"<html>maintenance</html>", "not a JSON object"),
        (b"", "not a JSON object"),
        (b"[]", "not a JSON object"),
        (br#"{"events":{}}"#, "`events` is not an array"),
        (br#"{"events":"x"}"#, "`events` is not an array"),
        (br#"{"events":[{"eventId":"a"}"#, "not terminated"),
        (br#"{"events":[{"eventId":"a"},"#, "not terminated"),
        (br#"{"events":[{"eventId":"a}]}"#, "not terminated"),
        (br#"{"events":[]"#, "not terminated"),
        (br#"{"events":[]} x"#, "after the page object"),
        (br#"{"events":[],"events":[]}"#, "twice"),
        (
            br#"{"events":[] "nextPageToken":"a"}"#,
            "expected `,` or `}`",
        ),
        (br#"{"events" []}"#, "expected `:`"),
        (br#"{events:[]}"#, "expected a member name"),
        (br#"{"other":}"#, "expected a value"),
        (br#"{"other":[1,2}"#, "not terminated"),
    ];
    for (body, part) in cases {
        match DlqPage::from_slice(body) {
            Err(e @ DomainError::InvalidPage { .. }) => {
                assert!(
                    e.to_string().contains(part),
                    "{}: {e}",
                    String::from_utf8_lossy(body)
                );
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
    // The token must be a string (or null): a typed error with serde's reason as the source.
    let e = DlqPage::from_slice(br#"{"events":[],"nextPageToken":5}"#).unwrap_err();
    assert!(
        matches!(
            e,
            DomainError::Json {
                what: "DLQ page nextPageToken",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn envelopes_that_are_fine() {
    // Missing or null `events`: an empty page (as the tutorial reads it); members in any order,
    // unknown ones skipped whatever they hold, escaped member names, whitespace anywhere.
    let cases: &[(&[u8], usize, Option<&str>)] = &[
        (b"{}", 0, None),
        (b" {\n} ", 0, None),
        (br#"{"events":null,"nextPageToken":null}"#, 0, None),
        (br#"{"nextPageToken":"t9","events":[]}"#, 0, Some("t9")),
        (br#"{"meta":{"a":["]",{"}":"\"["}]},"events":[ {"eventId":"a","payload":{}} ] ,"count":1}"#, 1, None),
        (br#"{"\u0065vents":[{"eventId":"a","payload":{}},],"nextPageToken":""}"#, 1, None),
        (b"{\"events\":[\n\t{\"eventId\":\"a\",\"payload\":{}}\r\n,\n{\"eventId\":\"b\",\"payload\":{}}\n]}", 2, None),
    ];
    for (body, n, token) in cases {
        let p = DlqPage::from_slice(body)
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(body)));
        assert_eq!(p.events.len(), *n, "{}", String::from_utf8_lossy(body));
        assert!(p.events.iter().all(|e| e.defect.is_none()));
        assert_eq!(p.next_page_token.as_deref(), *token);
    }
}

/// An element that is broken but can still be delimited: balanced brackets, closed strings.
fn broken_element() -> impl Strategy<Value = (Vec<u8>, Option<String>)> {
    let id = "[a-z0-9_-]{1,12}";
    prop_oneof![
        // invalid UTF-8 inside a payload string
        // (continuation bytes without a lead byte: never UTF-8)
        (id, prop::collection::vec(0x80u8..=0xbf, 1..8)).prop_map(|(id, bad)| {
            let mut e = format!(r#"{{"eventId":"{id}","payload":{{"s":""#).into_bytes();
            e.extend_from_slice(&bad);
            e.extend_from_slice(br#""}}"#);
            (e, Some(id))
        }),
        // a bad token
        id.prop_map(|id| (
            format!(r#"{{"eventId":"{id}","payload":{{"a":nul}}}}"#).into_bytes(),
            Some(id)
        )),
        // a bad escape
        id.prop_map(|id| (
            format!(r#"{{"eventId":"{id}","payload":{{"a":"\x"}}}}"#).into_bytes(),
            Some(id)
        )),
        // bytes without structure, not blank
        prop::collection::vec(
            any::<u8>().prop_filter("no structure", |b| !b"\"\\,[]{} \t\r\n".contains(b)),
            1..40
        )
        .prop_map(|b| (b, None)),
        // a string of arbitrary bytes (no quote or backslash) where an object should be
        prop::collection::vec(
            any::<u8>().prop_filter("no quote", |b| !b"\"\\".contains(b)),
            0..40
        )
        .prop_map(|b| ([&b"\""[..], &b, &b"\""[..]].concat(), None)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn splitting_arbitrary_bytes_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        prefix in prop_oneof![Just(&b""[..]), Just(&b"{\"events\":["[..]), Just(&b"{\"events\":[{\"eventId\":\""[..])],
    ) {
        let body = [prefix, &bytes].concat();
        if let Ok(p) = DlqPage::from_slice(&body) {
            for e in &p.events {
                let _ = e.check();
            }
        }
    }

    #[test]
    fn no_well_formed_element_next_to_a_broken_one_is_lost(
        slots in prop::collection::vec(prop::option::of(broken_element()), 1..12),
        token in prop::option::of("[a-zA-Z0-9]{1,16}"),
    ) {
        // `None` slots are good events with unique ids.
        let elements: Vec<Vec<u8>> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Some((bytes, _)) => bytes.clone(),
                None => good(&format!("good-{i}"), i as u32),
            })
            .collect();
        let p = DlqPage::from_slice(&page(&elements, token.as_deref())).unwrap();
        prop_assert_eq!(p.events.len(), slots.len());
        prop_assert_eq!(p.next_page_token.as_deref(), token.as_deref());
        for (i, (slot, e)) in slots.iter().zip(&p.events).enumerate() {
            match slot {
                None => {
                    prop_assert!(e.defect.is_none(), "{:?}", e.defect);
                    let want = format!("good-{i}");
                    prop_assert_eq!(e.event_id.as_str(), want.as_str());
                    prop_assert!(e.payload.is_some());
                }
                Some((_, id)) => {
                    prop_assert!(e.defect.is_some());
                    if let Some(id) = id {
                        prop_assert_eq!(&e.event_id, id);
                    }
                }
            }
        }
    }
}
