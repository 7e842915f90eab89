//! The replay payload: what is PUT back to the topic (the tutorial's Step 2).

use crate::error::DomainError;
use crate::ids::{DestinationOverride, IdempotencyKey, KeyScheme};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

/// This crate's version, sent as `replayMetadata.clientVersion`.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The body of a replay PUT, with the wire's camelCase names, in this field order:
///
/// ```json
/// {"eventId":"evt_…","idempotencyKey":"replay-evt_…-v4","originalPayload":{…},
///  "retryMatrix":{"currentAttempt":4,"maxAllowed":5,"firstFailure":"…","lastFailure":"…","failureReason":"…"},
///  "routingDirective":{"destinationOverride":null,"preserveOriginalTopic":true},
///  "replayMetadata":{"initiatedAt":"2024-05-11T09:15:22.103Z","clientVersion":"0.1.0"}}
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct ReplayPayload {
    /// The DLQ event's id.
    #[validate(length(min = 1, max = 1024))]
    pub event_id: String,
    /// `replay-{eventId}-v{currentAttempt}` (or its [topic-scoped](KeyScheme::TopicScoped)
    /// form); also sent as the `Idempotency-Key` header.
    pub idempotency_key: IdempotencyKey,
    /// The DLQ event's payload, byte-for-byte.
    #[validate(custom(function = "json_object"))]
    pub original_payload: Box<RawValue>,
    /// Where this replay stands in the event's retry window.
    #[validate(nested)]
    pub retry_matrix: RetryMatrix,
    /// Where the bus should route it.
    #[validate(nested)]
    pub routing_directive: RoutingDirective,
    /// Who made this replay, and when.
    #[validate(nested)]
    pub replay_metadata: ReplayMetadata,
}

/// `retryMatrix`: the event's place in its retry window and its failure history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
#[validate(schema(function = "attempt_within_window"))]
pub struct RetryMatrix {
    /// `retryCount + 1`.
    #[validate(range(min = 1))]
    pub current_attempt: u32,
    /// The window: the most attempts allowed.
    #[validate(range(min = 1))]
    pub max_allowed: u32,
    /// `firstFailureTimestamp` as received.
    pub first_failure: Option<String>,
    /// `lastFailureTimestamp` as received.
    pub last_failure: Option<String>,
    /// `failureReason` as received.
    pub failure_reason: Option<String>,
}

/// `routingDirective`: keep the original topic's subscribers, or send to an override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
#[validate(schema(function = "routing_consistent"))]
pub struct RoutingDirective {
    /// The override URL, or `null`.
    pub destination_override: Option<DestinationOverride>,
    /// `true` exactly when there is no override.
    pub preserve_original_topic: bool,
}

impl RoutingDirective {
    /// The directive for an optional override: `preserveOriginalTopic` is set exactly when there
    /// is none.
    #[must_use]
    pub fn new(destination_override: Option<DestinationOverride>) -> Self {
        RoutingDirective {
            preserve_original_topic: destination_override.is_none(),
            destination_override,
        }
    }
}

/// `replayMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct ReplayMetadata {
    /// When the replay run planned this event (passed in: the domain reads no clock).
    #[serde(serialize_with = "rfc3339_millis")]
    pub initiated_at: DateTime<Utc>,
    /// The version of the software that built the payload.
    #[validate(length(min = 1, max = 64))]
    pub client_version: String,
}

/// Serializes a UTC time as RFC 3339 with milliseconds and `Z`, e.g. `2024-05-11T09:15:22.103Z`.
pub(crate) fn rfc3339_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn json_object(v: &RawValue) -> Result<(), ValidationError> {
    if v.get().trim_start().starts_with('{') {
        Ok(())
    } else {
        Err(ValidationError::new("object").with_message("must be a JSON object".into()))
    }
}

fn attempt_within_window(m: &RetryMatrix) -> Result<(), ValidationError> {
    if m.current_attempt > m.max_allowed {
        Err(ValidationError::new("window").with_message(
            format!(
                "currentAttempt {} exceeds maxAllowed {}",
                m.current_attempt, m.max_allowed
            )
            .into(),
        ))
    } else {
        Ok(())
    }
}

fn routing_consistent(r: &RoutingDirective) -> Result<(), ValidationError> {
    if r.preserve_original_topic == r.destination_override.is_none() {
        Ok(())
    } else {
        Err(ValidationError::new("consistent").with_message(
            "preserveOriginalTopic must be true exactly when destinationOverride is null".into(),
        ))
    }
}

impl ReplayPayload {
    /// Checks the payload against the bus constraints of the tutorial's Step 3: non-empty ids,
    /// an object as `originalPayload`, `currentAttempt <= maxAllowed`, a routing directive that
    /// agrees with itself. (The size limit is checked on the serialized body by
    /// [`plan`](crate::plan), which knows the exact bytes.)
    ///
    /// # Errors
    /// [`DomainError::InvalidPayload`] naming the first bad field by its wire path.
    pub fn check(&self) -> Result<(), DomainError> {
        match self.validate() {
            Ok(()) => {}
            Err(errors) => {
                let (field, problem) = first_error(&errors, "");
                return Err(DomainError::InvalidPayload { field, problem });
            }
        }
        if !KeyScheme::recognises(
            self.idempotency_key.as_str(),
            &self.event_id,
            self.retry_matrix.current_attempt,
        ) {
            return Err(DomainError::InvalidPayload {
                field: "idempotencyKey".into(),
                problem: format!(
                    "`{}` does not match eventId and currentAttempt",
                    self.idempotency_key
                ),
            });
        }
        Ok(())
    }

    /// Serializes the payload: the exact bytes of the PUT body.
    #[must_use]
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.body_size_hint());
        // Serializing these types cannot fail: every map key is a string and RawValue holds
        // valid JSON by construction.
        match serde_json::to_writer(&mut body, self) {
            Ok(()) => body,
            Err(_) => Vec::new(),
        }
    }

    /// About the length of the body: its variable parts plus the member names and fixed
    /// values, so that the body is written into one allocation (strings that need escaping
    /// may still grow it).
    fn body_size_hint(&self) -> usize {
        const FIXED: usize = 320;
        let m = &self.retry_matrix;
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        FIXED
            + self.event_id.len()
            + self.idempotency_key.as_str().len()
            + self.original_payload.get().len()
            + opt(&m.first_failure)
            + opt(&m.last_failure)
            + opt(&m.failure_reason)
            + self
                .routing_directive
                .destination_override
                .as_ref()
                .map_or(0, |d| d.as_str().len())
            + self.replay_metadata.client_version.len()
    }
}

/// Maps a Rust field name to the wire's camelCase name.
fn camel(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The first validation error, as `(wire path, message)`; deterministic (sorted by field).
fn first_error(errors: &ValidationErrors, prefix: &str) -> (String, String) {
    let mut fields: Vec<_> = errors.errors().iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    for (name, kind) in fields {
        let path = if *name == "__all__" {
            prefix.trim_end_matches('.').to_string()
        } else {
            format!("{prefix}{}", camel(name))
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                if let Some(e) = list.first() {
                    let msg = e.message.as_ref().map_or_else(
                        || match e.code.as_ref() {
                            "length" => "has a length out of range".to_string(),
                            "range" => "is out of range".to_string(),
                            other => format!("failed check `{other}`"),
                        },
                        ToString::to_string,
                    );
                    return (path, msg);
                }
            }
            ValidationErrorsKind::Struct(inner) => return first_error(inner, &format!("{path}.")),
            ValidationErrorsKind::List(map) => {
                if let Some((_, inner)) = map.iter().next() {
                    return first_error(inner, &format!("{path}."));
                }
            }
        }
    }
    (
        prefix.trim_end_matches('.').to_string(),
        "is invalid".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_names_map_to_wire_names() {
        assert_eq!(camel("current_attempt"), "currentAttempt");
        assert_eq!(camel("event_id"), "eventId");
        assert_eq!(camel("x"), "x");
    }

    #[test]
    fn initiated_at_has_millisecond_precision_and_z() {
        let t = DateTime::parse_from_rfc3339("2024-05-11T09:15:22.103456Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = ReplayMetadata {
            initiated_at: t,
            client_version: CLIENT_VERSION.into(),
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["initiatedAt"], "2024-05-11T09:15:22.103Z");
    }
}
