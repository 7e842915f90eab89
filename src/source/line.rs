//! The DLQ file format: JSON Lines, one DLQ event per line with its topic.
//!
//! A line is the event's wire fields (`eventId`, `topicId`, `payload`, `failureReason`,
//! `retryCount`, `firstFailureTimestamp`, `lastFailureTimestamp`), with `topicId` set to the
//! topic whose DLQ held it and `payload` the exact bytes received. A malformed event keeps
//! what could be read of it plus `"defect": {"field", "problem"}`, so that reading the line
//! back gives the same verdict (`INVALID_EVENT`) as reading the DLQ did. Unknown members are
//! ignored when reading.

use cxone_replay_domain::{DlqEvent, EventDefect};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The wire names a defect may name (`field` is `&'static str` in the domain).
const FIELDS: [&str; 8] = [
    "event",
    "eventId",
    "topicId",
    "payload",
    "failureReason",
    "retryCount",
    "firstFailureTimestamp",
    "lastFailureTimestamp",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineOut<'a> {
    event_id: &'a str,
    topic_id: &'a str,
    payload: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_failure_timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_failure_timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    defect: Option<DefectOut<'a>>,
}

#[derive(Serialize)]
struct DefectOut<'a> {
    field: &'a str,
    problem: &'a str,
}

/// Appends `event` of `topic` to `out` as one line of the DLQ file format, newline included.
///
/// ```
/// use cxone_dlq_replay::source::write_line;
/// use cxone_dlq_replay::domain::DlqEvent;
/// let e = DlqEvent::from_slice(br#"{"eventId":"e1","payload":{"n":1.10},"retryCount":2}"#)?;
/// let mut line = Vec::new();
/// write_line(&mut line, "topic_a", &e)?;
/// assert_eq!(line, b"{\"eventId\":\"e1\",\"topicId\":\"topic_a\",\"payload\":{\"n\":1.10},\"retryCount\":2}\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Only if serialization fails, which the field types rule out.
pub fn write_line(
    out: &mut Vec<u8>,
    topic: &str,
    event: &DlqEvent,
) -> Result<(), serde_json::Error> {
    let line = LineOut {
        event_id: &event.event_id,
        topic_id: topic,
        payload: event.payload.as_deref(),
        failure_reason: event.failure_reason.as_deref(),
        retry_count: event.retry_count,
        first_failure_timestamp: event.first_failure_timestamp.as_deref(),
        last_failure_timestamp: event.last_failure_timestamp.as_deref(),
        defect: event.defect.as_ref().map(|d| DefectOut {
            field: d.field,
            problem: &d.problem,
        }),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.push(b'\n');
    Ok(())
}

#[derive(Deserialize)]
struct DefectIn {
    field: String,
    problem: String,
}

#[derive(Deserialize)]
struct WithDefect {
    #[serde(default)]
    defect: Option<DefectIn>,
}

/// Reads line `number` (1-based) of a DLQ file: the topic, if the line names one, and the
/// event. Never fails: a line that is not a usable event becomes an event whose
/// [`defect`](DlqEvent::defect) says why, with the line number, so that the engine audits it
/// `INVALID_EVENT`.
pub(crate) fn read_line(line: &[u8], number: u64) -> (Option<String>, DlqEvent) {
    let at = |problem: &str| format!("{problem} (line {number})");
    let mut event = match DlqEvent::from_slice(line) {
        Ok(e) => e,
        Err(e) => {
            let problem = match &e {
                cxone_replay_domain::DomainError::Json { source, .. } => {
                    format!("is not JSON: {source}")
                }
                cxone_replay_domain::DomainError::InvalidEvent { problem, .. } => problem.clone(),
                other => other.to_string(),
            };
            return (
                None,
                DlqEvent::defective(EventDefect::new("event", at(&problem))),
            );
        }
    };
    // A defect recorded by the export (the event was malformed in the DLQ).
    if line.windows(8).any(|w| w == b"\"defect\"")
        && let Ok(WithDefect { defect: Some(d) }) = serde_json::from_slice::<WithDefect>(line)
    {
        let field = FIELDS
            .iter()
            .find(|f| **f == d.field)
            .copied()
            .unwrap_or("event");
        event.defect = Some(EventDefect {
            field,
            problem: d.problem,
        });
    }
    let topic = event.topic_id.clone().filter(|t| !t.is_empty());
    match &mut event.defect {
        Some(d) => d.problem = at(&d.problem),
        None if topic.is_none() => {
            event.defect = Some(EventDefect {
                field: "topicId",
                problem: at("is missing: the line does not say which topic it belongs to"),
            });
        }
        None => {}
    }
    (topic, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(json: &str, topic: &str) -> (String, Option<String>, DlqEvent) {
        let e = DlqEvent::from_slice(json.as_bytes()).unwrap();
        let mut line = Vec::new();
        write_line(&mut line, topic, &e).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        let text = String::from_utf8(line.clone()).unwrap();
        let (t, back) = read_line(&line[..line.len() - 1], 7);
        (text, t, back)
    }

    #[test]
    fn events_round_trip_with_their_payload_bytes() {
        let json = r#"{"eventId":"e1","topicId":"elsewhere","payload":{ "b" : 1.0000000000000000000001, "a":"\u00e9\n" },
            "failureReason":"HTTP 502","retryCount":3,"firstFailureTimestamp":"2024-05-01T00:00:00Z",
            "lastFailureTimestamp":"2024-05-02T00:00:00Z","unknown":1}"#;
        let (text, topic, back) = roundtrip(json, "topic_a");
        // the topic is the one whose DLQ held it
        assert_eq!(topic.as_deref(), Some("topic_a"));
        assert!(
            text.contains(r#""payload":{ "b" : 1.0000000000000000000001, "a":"\u00e9\n" }"#),
            "{text}"
        );
        let orig = DlqEvent::from_slice(json.as_bytes()).unwrap();
        assert_eq!(
            back.payload.as_ref().unwrap().get(),
            orig.payload.as_ref().unwrap().get()
        );
        assert_eq!(back.event_id, "e1");
        assert_eq!(back.retry_count, Some(3));
        assert_eq!(back.failure_reason.as_deref(), Some("HTTP 502"));
        assert_eq!(back.last_failure_timestamp, orig.last_failure_timestamp);
        assert!(back.defect.is_none());
    }

    #[test]
    fn a_malformed_event_keeps_its_verdict_and_gets_the_line_number() {
        // retryCount of the wrong type: read back, the event must still be INVALID_EVENT
        let (_, topic, back) =
            roundtrip(r#"{"eventId":"e2","payload":{},"retryCount":"three"}"#, "t");
        assert_eq!(topic.as_deref(), Some("t"));
        let d = back.defect.expect("still malformed");
        assert_eq!(d.field, "retryCount");
        assert!(
            d.problem.starts_with("must be a whole number"),
            "{}",
            d.problem
        );
        assert!(d.problem.ends_with("(line 7)"), "{}", d.problem);
    }

    #[test]
    fn unreadable_lines_are_defects_with_their_line_number() {
        let cases: [(&[u8], &str, &str); 4] = [
            (b"not json", "event", "is not JSON"),
            (b"[1,2]", "event", "must be a JSON object"),
            (br#"{"eventId":"e","payload":{}}"#, "topicId", "is missing"),
            (
                br#"{"eventId":"e","topicId":"","payload":{}}"#,
                "topicId",
                "is missing",
            ),
        ];
        for (line, field, start) in cases {
            let (topic, e) = read_line(line, 42);
            assert_eq!(topic, None);
            let d = e.defect.expect("a defect");
            assert_eq!(d.field, field);
            assert!(d.problem.starts_with(start), "{}", d.problem);
            assert!(d.problem.ends_with("(line 42)"), "{}", d.problem);
        }
        // an unknown defect field falls back to `event`
        let (_, e) = read_line(
            br#"{"eventId":"e","topicId":"t","payload":{},"defect":{"field":"zzz","problem":"odd"}}"#,
            1,
        );
        let d = e.defect.unwrap();
        assert_eq!((d.field, d.problem.as_str()), ("event", "odd (line 1)"));
    }
}
