//! The wire model of the CXone EventBridge contract: DLQ events and pages, the PUT response,
//! the token response.
//!
//! A DLQ page is read leniently, one event at a time: a malformed event does not spoil its
//! page, even one whose bytes are not UTF-8 or not JSON. It becomes a [`DlqEvent`] whose
//! [`defect`](DlqEvent::defect) names the bad field, so the engine can audit it as
//! `INVALID_EVENT` instead of losing it or the events after it.

use crate::error::DomainError;
use crate::split;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// How many bytes of an undecodable page element [`DlqEvent::from_element`] shows in its
/// defect (escaped: invalid bytes and control characters as `\xNN`).
pub const UNDECODABLE_EXCERPT: usize = 256;

/// One failed event out of the dead letter queue.
///
/// `payload` is kept byte-for-byte as received ([`RawValue`]): a replay never alters it, not the
/// precision of a number, not the order of keys, not an escape. Unknown fields are ignored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqEvent {
    /// `eventId`; empty if the event had none (see [`DlqEvent::defect`]).
    pub event_id: String,
    /// `topicId`, if the event carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// `payload`, exactly as received; `None` if missing or `null`.
    pub payload: Option<Box<RawValue>>,
    /// `failureReason`, e.g. `"HTTP 502 Bad Gateway"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// `retryCount`; `None` when absent (counts as 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
    /// `firstFailureTimestamp` as received (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure_timestamp: Option<String>,
    /// `lastFailureTimestamp` as received (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_timestamp: Option<String>,
    /// The first problem found while reading the event, if any.
    #[serde(skip)]
    pub defect: Option<EventDefect>,
}

/// What was wrong with a DLQ event as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDefect {
    /// The wire name of the field (`"eventId"`, `"retryCount"`, ...), or `"event"` when the
    /// element was not a JSON object.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl EventDefect {
    /// A defect of `field` (a wire name, or `"event"` for the whole element).
    #[must_use]
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        EventDefect {
            field,
            problem: problem.into(),
        }
    }
}

impl From<EventDefect> for DomainError {
    fn from(d: EventDefect) -> Self {
        DomainError::InvalidEvent {
            field: d.field,
            problem: d.problem,
        }
    }
}

/// The fields of an event, each kept raw until checked on its own.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(rename = "eventId", borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(rename = "topicId", borrow, default)]
    topic_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(rename = "failureReason", borrow, default)]
    failure_reason: Option<&'a RawValue>,
    #[serde(rename = "retryCount", borrow, default)]
    retry_count: Option<&'a RawValue>,
    #[serde(rename = "firstFailureTimestamp", borrow, default)]
    first_failure_timestamp: Option<&'a RawValue>,
    #[serde(rename = "lastFailureTimestamp", borrow, default)]
    last_failure_timestamp: Option<&'a RawValue>,
}

/// Reads an optional string field; records a defect if it has another type.
fn opt_string(
    raw: Option<&RawValue>,
    field: &'static str,
    defect: &mut Option<EventDefect>,
) -> Option<String> {
    let raw = raw?;
    match serde_json::from_str::<Option<String>>(raw.get()) {
        Ok(v) => v,
        Err(_) => {
            defect.get_or_insert_with(|| {
                EventDefect::new(field, format!("must be a string, got `{}`", snippet(raw)))
            });
            None
        }
    }
}

/// A short, safe excerpt of a raw JSON value for messages.
fn snippet(raw: &RawValue) -> String {
    let s = raw.get();
    if s.len() <= 40 {
        s.to_string()
    } else {
        let mut end = 40;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

impl DlqEvent {
    /// Reads one event from its JSON text.
    ///
    /// Only text that is not JSON at all, or not a JSON object, is an error. Missing or ill-typed
    /// fields are recorded in [`DlqEvent::defect`] (the first one found), so that the event can
    /// still be audited.
    ///
    /// # Errors
    /// [`DomainError::Json`] if the text is not JSON; [`DomainError::InvalidEvent`] with field
    /// `event` if it is not an object.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DomainError> {
        let raw: &RawValue = serde_json::from_slice(bytes).map_err(|source| DomainError::Json {
            what: "DLQ event",
            source,
        })?;
        let event = DlqEvent::from_raw(raw);
        match &event.defect {
            Some(d) if d.field == "event" => Err(d.clone().into()),
            _ => Ok(event),
        }
    }

    /// Reads one event out of a raw JSON value, never failing: problems go to `defect`.
    #[must_use]
    pub fn from_raw(raw: &RawValue) -> Self {
        // serde would also read a struct from an array: insist on an object.
        let parsed = if raw.get().trim_start().starts_with('{') {
            serde_json::from_str(raw.get()).ok()
        } else {
            None
        };
        match parsed {
            Some(fields) => DlqEvent::from_fields(fields),
            None => DlqEvent::defective(EventDefect::new(
                "event",
                format!("must be a JSON object, got `{}`", snippet(raw)),
            )),
        }
    }

    /// The event of its top-level fields, each still raw: problems go to `defect`.
    fn from_fields(fields: RawEvent<'_>) -> Self {
        let mut defect = None;
        let event_id = match fields.event_id {
            None => {
                defect = Some(EventDefect::new("eventId", "is missing"));
                String::new()
            }
            Some(raw_id) => match serde_json::from_str::<Option<String>>(raw_id.get()) {
                Ok(Some(id)) if !id.is_empty() => id,
                Ok(Some(_)) => {
                    defect = Some(EventDefect::new("eventId", "is empty"));
                    String::new()
                }
                Ok(None) => {
                    defect = Some(EventDefect::new("eventId", "is null"));
                    String::new()
                }
                Err(_) => {
                    defect = Some(EventDefect::new(
                        "eventId",
                        format!("must be a string, got `{}`", snippet(raw_id)),
                    ));
                    String::new()
                }
            },
        };
        let topic_id = opt_string(fields.topic_id, "topicId", &mut defect);
        let payload = match fields.payload {
            Some(p) if p.get() == "null" => {
                defect.get_or_insert_with(|| EventDefect::new("payload", "is null"));
                None
            }
            Some(p) => {
                if !p.get().starts_with('{') {
                    defect.get_or_insert_with(|| {
                        EventDefect::new(
                            "payload",
                            format!("must be a JSON object, got `{}`", snippet(p)),
                        )
                    });
                }
                Some(p.to_owned())
            }
            None => {
                defect.get_or_insert_with(|| EventDefect::new("payload", "is missing"));
                None
            }
        };
        let failure_reason = opt_string(fields.failure_reason, "failureReason", &mut defect);
        let retry_count = fields.retry_count.and_then(|raw_count| {
            match serde_json::from_str::<Option<u32>>(raw_count.get()) {
                Ok(v) => v,
                Err(_) => {
                    defect.get_or_insert_with(|| {
                        EventDefect::new(
                            "retryCount",
                            format!(
                                "must be a whole number from 0 to {}, got `{}`",
                                u32::MAX,
                                snippet(raw_count)
                            ),
                        )
                    });
                    None
                }
            }
        });
        let mut timestamp = |raw: Option<&RawValue>, field: &'static str| {
            let s = opt_string(raw, field, &mut defect)?;
            if DateTime::parse_from_rfc3339(&s).is_err() {
                defect.get_or_insert_with(|| {
                    EventDefect::new(field, format!("is not an RFC 3339 timestamp: `{s}`"))
                });
            }
            Some(s)
        };
        let first_failure_timestamp =
            timestamp(fields.first_failure_timestamp, "firstFailureTimestamp");
        let last_failure_timestamp =
            timestamp(fields.last_failure_timestamp, "lastFailureTimestamp");
        DlqEvent {
            event_id,
            topic_id,
            payload,
            failure_reason,
            retry_count,
            first_failure_timestamp,
            last_failure_timestamp,
            defect,
        }
    }

    /// Reads one element of a page's `events` array from its bytes, never failing: bytes that
    /// are not UTF-8 or not JSON make a defective event (field `event`) whose `eventId` is
    /// recovered when the element has a readable top-level `"eventId": "..."`, and whose
    /// problem holds an escaped excerpt of the element's first
    /// [`UNDECODABLE_EXCERPT`] bytes.
    #[must_use]
    pub fn from_element(bytes: &[u8]) -> Self {
        let text = std::str::from_utf8(bytes);
        // The common case in one pass over the text: an object whose members read (which also
        // proves the text is JSON, so `from_raw` would read the same fields). Anything else
        // takes the path that tells what is wrong.
        if let Ok(text) = text
            && text.trim_start().starts_with('{')
            && let Ok(fields) = serde_json::from_str::<RawEvent<'_>>(text)
        {
            return DlqEvent::from_fields(fields);
        }
        let reason = match text {
            Err(e) => format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            Ok(text) => match serde_json::from_str::<&RawValue>(text) {
                Ok(raw) => return DlqEvent::from_raw(raw),
                Err(e) => format!("not valid JSON: {e}"),
            },
        };
        DlqEvent {
            event_id: split::recover_event_id(bytes).unwrap_or_default(),
            ..DlqEvent::defective(EventDefect::new(
                "event",
                format!(
                    "cannot be decoded ({reason}): {}",
                    split::excerpt(bytes, UNDECODABLE_EXCERPT)
                ),
            ))
        }
    }

    /// An event that is only its defect: no field could be read (the engine audits it
    /// `INVALID_EVENT`, the defect in the message). For a source of its own that meets
    /// something that is not an event, so that it is audited rather than lost.
    #[must_use]
    pub fn defective(defect: EventDefect) -> Self {
        DlqEvent {
            event_id: String::new(),
            topic_id: None,
            payload: None,
            failure_reason: None,
            retry_count: None,
            first_failure_timestamp: None,
            last_failure_timestamp: None,
            defect: Some(defect),
        }
    }

    /// Checks that the event is complete and well-typed.
    ///
    /// # Errors
    /// [`DomainError::InvalidEvent`] naming the first bad field.
    pub fn check(&self) -> Result<(), DomainError> {
        match &self.defect {
            Some(d) => Err(d.clone().into()),
            None if self.event_id.is_empty() => Err(DomainError::InvalidEvent {
                field: "eventId",
                problem: "is empty".into(),
            }),
            None if self.payload.is_none() => Err(DomainError::InvalidEvent {
                field: "payload",
                problem: "is missing".into(),
            }),
            None => Ok(()),
        }
    }

    /// `retryCount`, 0 when absent.
    #[must_use]
    pub fn retry_count(&self) -> u32 {
        self.retry_count.unwrap_or(0)
    }

    /// `firstFailureTimestamp`, parsed; `None` if absent or malformed.
    #[must_use]
    pub fn first_failure_at(&self) -> Option<DateTime<Utc>> {
        parse_ts(self.first_failure_timestamp.as_deref())
    }

    /// `lastFailureTimestamp`, parsed; `None` if absent or malformed.
    #[must_use]
    pub fn last_failure_at(&self) -> Option<DateTime<Utc>> {
        parse_ts(self.last_failure_timestamp.as_deref())
    }

    /// The payload's `type` field, if the payload is an object with a string `type`.
    #[must_use]
    pub fn event_type(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Typed {
            #[serde(rename = "type", default)]
            ty: Option<serde_json::Value>,
        }
        let payload = self.payload.as_ref()?;
        match serde_json::from_str::<Typed>(payload.get()).ok()?.ty? {
            serde_json::Value::String(s) => Some(s),
            _ => None,
        }
    }
}

fn parse_ts(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One page of the DLQ: `{"events": [...], "nextPageToken": "..."}`.
#[derive(Debug, Clone, Default)]
pub struct DlqPage {
    /// The page's events, in order; malformed ones carry a [`DlqEvent::defect`].
    pub events: Vec<DlqEvent>,
    /// The token of the next page; `None` when absent, `null` or empty: this was the last page.
    pub next_page_token: Option<String>,
}

impl DlqPage {
    /// Reads a DLQ page, one element of `events` at a time.
    ///
    /// A page that is JSON throughout, each element an object whose members read, is read in
    /// one pass. Any other body is split by a byte-level scan that knows strings, escapes and
    /// nesting and does not need valid UTF-8; each element of `events` is then decoded on its
    /// own (see [`DlqEvent::from_element`]). Both ways give the same page. An element that
    /// cannot be decoded (invalid UTF-8, a bad token or escape) becomes a defective event, so
    /// the rest of the page, and `nextPageToken`, are still read. A missing or `null` `events` reads as an empty page;
    /// members other than `events` and `nextPageToken` are skipped.
    ///
    /// ```
    /// use cxone_replay_domain::DlqPage;
    /// let page = DlqPage::from_slice(b"{\"events\":[{\"eventId\":\"e1\",\"payload\":{\"a\":1}},\
    ///     {\"eventId\":\"e2\",\"payload\":{\"a\":\"\xff\"}},42],\"nextPageToken\":\"t2\"}").unwrap();
    /// assert_eq!(page.events.len(), 3);
    /// assert!(page.events[0].defect.is_none());
    /// assert_eq!(page.events[1].event_id, "e2"); // recovered from the undecodable element
    /// assert!(page.events[1].defect.as_ref().unwrap().problem.contains("invalid UTF-8"));
    /// assert_eq!(page.events[2].defect.as_ref().unwrap().field, "event");
    /// assert_eq!(page.next_page_token.as_deref(), Some("t2"));
    /// ```
    ///
    /// # Errors
    /// [`DomainError::InvalidPage`] if the envelope is broken (not a JSON object, `events` not
    /// an array, the array or the object not terminated, trailing data);
    /// [`DomainError::Json`] if `nextPageToken` is not a string or `null`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DomainError> {
        // The common case in one pass: a page that is JSON throughout, every element an object
        // whose members read. Anything else takes the split, element by element, which reads
        // what can be read and tells what cannot; both give the same page for a page that
        // reads whole (a proptest holds them to it).
        Self::whole(bytes).unwrap_or_else(|| Self::split(bytes))
    }

    /// The page read element by element (see [`DlqPage::from_slice`]).
    fn split(bytes: &[u8]) -> Result<Self, DomainError> {
        let parts = split::split_page(bytes)?;
        Ok(DlqPage {
            next_page_token: next_page_token(parts.next_page_token)?,
            events: parts
                .events
                .into_iter()
                .map(DlqEvent::from_element)
                .collect(),
        })
    }

    /// The page read in one pass, if it is a JSON object throughout whose `events` are all
    /// objects with readable members (else `None`: the split reads it).
    fn whole(bytes: &[u8]) -> Option<Result<Self, DomainError>> {
        // An array would read as the envelope's fields in order: only an object may.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first != b'{' {
            return None;
        }
        let page = serde_json::from_slice::<WholePage<'_>>(bytes).ok()?;
        Some(
            next_page_token(page.next_page_token.map(|raw| raw.get().as_bytes())).map(|token| {
                DlqPage {
                    next_page_token: token,
                    events: page
                        .events
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| DlqEvent::from_fields(e.0))
                        .collect(),
                }
            }),
        )
    }
}

/// `nextPageToken` from its raw JSON value: a string, or `null`; empty is none.
fn next_page_token(raw: Option<&[u8]>) -> Result<Option<String>, DomainError> {
    let Some(raw) = raw else { return Ok(None) };
    serde_json::from_slice::<Option<String>>(raw)
        .map(|t| t.filter(|t| !t.is_empty()))
        .map_err(|source| DomainError::Json {
            what: "DLQ page nextPageToken",
            source,
        })
}

/// A DLQ page read in one pass (see [`DlqPage::whole`]).
#[derive(Deserialize)]
struct WholePage<'a> {
    #[serde(borrow, default)]
    events: Option<Vec<ObjectEvent<'a>>>,
    #[serde(rename = "nextPageToken", borrow, default)]
    next_page_token: Option<&'a RawValue>,
}

/// The members of an element that is a JSON object (a derived struct would also read an array,
/// field by field in order: this one refuses it).
struct ObjectEvent<'a>(RawEvent<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for ObjectEvent<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Members<'a> {
            type Value = ObjectEvent<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a DLQ event object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RawEvent::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ObjectEvent)
            }
        }
        d.deserialize_map(Members(std::marker::PhantomData))
    }
}

/// The body of a `201` answer to a replay PUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutEventResponse {
    /// The replayed event's id.
    pub event_id: String,
    /// E.g. `"queued"`.
    pub status: String,
    /// E.g. `"delivered"`.
    #[serde(default)]
    pub routing_status: Option<String>,
    /// When the bus processed it, as sent.
    #[serde(default)]
    pub processed_at: Option<String>,
}

/// The body of a `200` answer from the token endpoint.
///
/// The access token is a plain `String` here because this crate does no I/O and logs nothing;
/// the client wraps it in a secret type at once. `Debug` redacts it all the same.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// `"Bearer"`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: Option<String>,
}

fn bearer() -> String {
    "Bearer".into()
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// How `from_element` read an element before its one-pass fast path (issue 13): the
    /// whole text as a raw value first, then its fields.
    fn from_element_two_pass(bytes: &[u8]) -> DlqEvent {
        match std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| serde_json::from_str::<&RawValue>(t).ok())
        {
            Some(raw) => DlqEvent::from_raw(raw),
            None => DlqEvent::from_element(bytes), // the error path is unchanged
        }
    }

    fn same(a: &DlqEvent, b: &DlqEvent) -> bool {
        a.event_id == b.event_id
            && a.topic_id == b.topic_id
            && a.payload.as_ref().map(|p| p.get()) == b.payload.as_ref().map(|p| p.get())
            && a.failure_reason == b.failure_reason
            && a.retry_count == b.retry_count
            && a.first_failure_timestamp == b.first_failure_timestamp
            && a.last_failure_timestamp == b.last_failure_timestamp
            && a.defect == b.defect
    }

    /// A JSON value of any type, sometimes not quite JSON.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            Just("{}".to_string()),
            Just(r#"{"a":[1,2,{"b":"é"}]}"#.to_string()),
            Just("[1,2]".to_string()),
            Just("tru".to_string()),
            Just(r#""2024-05-11T09:15:22Z""#.to_string()),
            "-?[0-9]{1,12}(\\.[0-9]{1,3})?",
            "\"[a-z_ \\\\\"é\\u0001]{0,12}\"",
        ]
    }

    /// An element: members with known and unknown names (repeats included), in any order,
    /// with whitespace, sometimes not an object or not JSON at all.
    fn element() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("eventId"),
            Just("topicId"),
            Just("payload"),
            Just("failureReason"),
            Just("retryCount"),
            Just("firstFailureTimestamp"),
            Just("lastFailureTimestamp"),
            Just("other"),
        ];
        let object =
            proptest::collection::vec((name, value(), " {0,2}"), 0..9).prop_map(|members| {
                let body: Vec<String> = members
                    .iter()
                    .map(|(n, v, ws)| format!("{ws}\"{n}\":{ws}{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            });
        prop_oneof![
            8 => object,
            1 => value(),
            1 => "[ {}\\[\\]\",:a-z0-9]{0,30}",
        ]
    }

    /// A JSON value of any type (always JSON).
    fn json_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            Just("{}".to_string()),
            Just(r#"{"a":[1,2,{"b":"é"}],"c":1.50}"#.to_string()),
            Just("[1,2]".to_string()),
            Just(r#""2024-05-11T09:15:22Z""#.to_string()),
            Just(r#""a \"b\" \u00e9\n""#.to_string()),
            "-?(0|[1-9][0-9]{0,11})(\\.[0-9]{1,3})?",
            "\"[a-z_ é]{0,12}\"",
        ]
    }

    /// A page of generated elements: with or without `events` (or `null`), a token of any
    /// type, an unknown member, whitespace; sometimes with a member twice, sometimes not an
    /// object.
    fn page() -> impl Strategy<Value = String> {
        // Mostly elements that read (each member once, values that are JSON), as DLQ pages are.
        let good = proptest::sample::subsequence(
            vec![
                "eventId",
                "topicId",
                "payload",
                "failureReason",
                "retryCount",
                "firstFailureTimestamp",
                "lastFailureTimestamp",
                "other",
            ],
            0..8,
        )
        .prop_flat_map(|names| {
            let n = names.len();
            (Just(names), proptest::collection::vec(json_value(), n))
        })
        .prop_map(|(names, values)| {
            let members: Vec<String> = names
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("\"{n}\": {v}"))
                .collect();
            format!("{{{}}}", members.join(","))
        });
        let any = prop_oneof![4 => good, 1 => element()];
        let events = prop_oneof![
            6 => proptest::collection::vec(any, 0..6)
                .prop_map(|es| format!("\"events\" : [{}]", es.join(" ,"))),
            1 => Just("\"events\":null".to_string()),
            1 => Just(String::new()),
        ];
        let token = prop_oneof![
            Just(String::new()),
            Just(",\"nextPageToken\":\"t-2\"".to_string()),
            Just(",\"nextPageToken\":\"\"".to_string()),
            Just(",\"nextPageToken\":null".to_string()),
            json_value().prop_map(|v| format!(",\"nextPageToken\":{v}")),
            Just(",\"nextPageToken\":\"a\",\"nextPageToken\":\"b\"".to_string()),
        ];
        let other = prop_oneof![
            Just(String::new()),
            json_value().prop_map(|v| format!(",\"other\":{v}")),
            Just(",\"events\":[]".to_string()),
        ];
        let object = (events, token, other).prop_map(|(e, t, o)| {
            let body = format!("{e}{t}{o}");
            format!("{{{}}}", body.trim_start_matches(','))
        });
        prop_oneof![
            8 => object,
            1 => element().prop_map(|e| format!("[{e}]")),
            1 => value(),
        ]
    }

    fn same_page(a: &Result<DlqPage, DomainError>, b: &Result<DlqPage, DomainError>) -> bool {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                a.next_page_token == b.next_page_token
                    && a.events.len() == b.events.len()
                    && a.events.iter().zip(&b.events).all(|(x, y)| same(x, y))
            }
            (Err(a), Err(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }

    #[test]
    fn a_page_read_whole_is_the_page_read_element_by_element() {
        let page = r#" {"events":[{"eventId":"e1","payload":{"a":[1,2.50]},"retryCount":2},
            {"eventId":"e2","payload":"x","failureReason":"timeout"}],"nextPageToken":"t2"} "#;
        let whole = DlqPage::whole(page.as_bytes()).expect("read whole");
        assert!(same_page(&whole, &DlqPage::split(page.as_bytes())));
        assert_eq!(
            whole.unwrap().events[0].payload.as_ref().unwrap().get(),
            r#"{"a":[1,2.50]}"#
        );
        // Not read whole: an element that is not an object, an array envelope, a member twice.
        for not_whole in [
            r#"{"events":[42]}"#,
            r#"{"events":[["e1",null,{"a":1}]]}"#,
            r#"[[{"eventId":"e1","payload":{}}],"t"]"#,
            r#"{"events":[{"eventId":"e1","eventId":"e2","payload":{}}]}"#,
            r#"{"events":[],"events":[]}"#,
        ] {
            assert!(
                DlqPage::whole(not_whole.as_bytes()).is_none(),
                "{not_whole}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_one_pass_page_reader_reads_what_the_split_does(
            text in page(),
            lead in "[ \n]{0,2}",
        ) {
            let bytes = format!("{lead}{text}");
            let whole = DlqPage::from_slice(bytes.as_bytes());
            let split = DlqPage::split(bytes.as_bytes());
            prop_assert!(same_page(&whole, &split), "{bytes}\nwhole {whole:?}\nsplit {split:?}");
        }

        #[test]
        fn the_one_pass_element_reader_reads_what_the_two_pass_one_did(
            text in element(),
            lead in " {0,2}",
            trail in " {0,2}",
        ) {
            let bytes = format!("{lead}{text}{trail}");
            let new = DlqEvent::from_element(bytes.as_bytes());
            let old = from_element_two_pass(bytes.as_bytes());
            prop_assert!(same(&new, &old), "{bytes}\nnew {new:?}\nold {old:?}");
        }
    }

    #[test]
    fn snippets_are_short_and_cut_on_char_boundaries() {
        let raw = RawValue::from_string(format!("\"{}\"", "é".repeat(40))).unwrap();
        let s = snippet(&raw);
        assert!(s.ends_with('…'));
        assert!(s.len() <= 44);
        let short = RawValue::from_string("12".into()).unwrap();
        assert_eq!(snippet(&short), "12");
    }

    #[test]
    fn payload_bytes_are_kept_verbatim() {
        let text =
            r#"{"eventId":"e","payload":{ "b" : 1.0000000000000000000001, "a":"\u00e9\/" }}"#;
        let e = DlqEvent::from_slice(text.as_bytes()).unwrap();
        assert_eq!(
            e.payload.unwrap().get(),
            r#"{ "b" : 1.0000000000000000000001, "a":"\u00e9\/" }"#
        );
    }

    #[test]
    fn token_response_debug_hides_the_token() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"tok-SECRET-123","expires_in":60}"#).unwrap();
        assert!(!format!("{t:?}").contains("tok-SECRET-123"));
        assert_eq!(t.token_type, "Bearer");
    }
}
