//! The replay body's fields, checked one by one against the contract, then across fields.

use crate::json_eq::first_byte;
use crate::server::reject::Reject;
use cxone_replay_domain::{DestinationOverride, IdempotencyKey};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Deserializes a present field, `null` included, as `Some` (plain `Option` would turn `null`
/// into `None`, indistinguishable from a missing field).
fn present_raw<'de, D>(d: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawPayload<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    idempotency_key: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    original_payload: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    retry_matrix: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    routing_directive: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    replay_metadata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMatrix<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    current_attempt: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    max_allowed: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    first_failure: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    last_failure: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    failure_reason: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRouting<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    destination_override: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    preserve_original_topic: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    initiated_at: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    client_version: Option<&'a RawValue>,
}

fn present<'a>(field: &str, v: Option<&'a RawValue>) -> Result<&'a RawValue, Reject> {
    v.ok_or_else(|| Reject::schema(field, "is required"))
}

/// Parses a JSON object into `T`, or a 422 naming `field`.
pub(super) fn object<'a, T: Deserialize<'a>>(field: &str, v: &'a RawValue) -> Result<T, Reject> {
    if first_byte(v) != b'{' {
        return Err(Reject::schema(field, "must be a JSON object"));
    }
    serde_json::from_str(v.get()).map_err(|e| Reject::schema(field, format!("is malformed: {e}")))
}

fn string(field: &str, v: &RawValue) -> Result<String, Reject> {
    match serde_json::from_str::<String>(v.get()) {
        Ok(s) if !s.is_empty() => Ok(s),
        Ok(_) => Err(Reject::schema(field, "must not be empty")),
        Err(_) => Err(Reject::schema(field, "must be a string")),
    }
}

fn nullable_string(field: &str, v: &RawValue) -> Result<Option<String>, Reject> {
    serde_json::from_str::<Option<String>>(v.get())
        .map_err(|_| Reject::schema(field, "must be a string or null"))
}

fn timestamp(field: &str, s: &str) -> Result<(), Reject> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|_| ())
        .map_err(|_| Reject::schema(field, format!("`{s}` is not an RFC 3339 timestamp")))
}

fn nullable_timestamp(field: &str, v: &RawValue) -> Result<(), Reject> {
    match nullable_string(field, v)? {
        Some(s) => timestamp(field, &s),
        None => Ok(()),
    }
}

fn positive(field: &str, v: &RawValue) -> Result<u32, Reject> {
    match serde_json::from_str::<u32>(v.get()) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Reject::schema(field, "must be a whole number >= 1")),
    }
}

/// The checked parts of a replay body the route needs next.
#[derive(Debug)]
pub(super) struct Checked<'a> {
    pub(super) event_id: String,
    pub(super) key: String,
    pub(super) original: &'a RawValue,
}

/// Checks every field of the body and the rules across fields, in the README's order.
pub(super) fn check_payload<'a>(
    p: &RawPayload<'a>,
    key_header: &str,
) -> Result<Checked<'a>, Reject> {
    let event_id = string("eventId", present("eventId", p.event_id)?)?;
    let key = string(
        "idempotencyKey",
        present("idempotencyKey", p.idempotency_key)?,
    )?;
    IdempotencyKey::new(key.as_str())
        .map_err(|e| Reject::schema("idempotencyKey", e.to_string()))?;
    let original = present("originalPayload", p.original_payload)?;
    if first_byte(original) != b'{' {
        return Err(Reject::schema("originalPayload", "must be a JSON object"));
    }
    let (current, max) = check_matrix(present("retryMatrix", p.retry_matrix)?)?;
    let (preserve, has_override) =
        check_routing(present("routingDirective", p.routing_directive)?)?;
    check_metadata(present("replayMetadata", p.replay_metadata)?)?;
    // Rules across fields.
    if key != key_header {
        return Err(Reject::schema(
            "idempotencyKey",
            format!(
                "body idempotencyKey `{key}` differs from the Idempotency-Key header `{key_header}`"
            ),
        ));
    }
    if current > max {
        return Err(Reject::schema(
            "retryMatrix.currentAttempt",
            format!("currentAttempt {current} exceeds maxAllowed {max}"),
        ));
    }
    if preserve == has_override {
        return Err(Reject::schema(
            "routingDirective.preserveOriginalTopic",
            "must be true exactly when destinationOverride is null",
        ));
    }
    Ok(Checked {
        event_id,
        key,
        original,
    })
}

/// `retryMatrix`: returns `(currentAttempt, maxAllowed)`.
fn check_matrix(v: &RawValue) -> Result<(u32, u32), Reject> {
    let m: RawMatrix<'_> = object("retryMatrix", v)?;
    let current = positive(
        "retryMatrix.currentAttempt",
        present("retryMatrix.currentAttempt", m.current_attempt)?,
    )?;
    let max = positive(
        "retryMatrix.maxAllowed",
        present("retryMatrix.maxAllowed", m.max_allowed)?,
    )?;
    for (field, value) in [
        ("retryMatrix.firstFailure", m.first_failure),
        ("retryMatrix.lastFailure", m.last_failure),
    ] {
        nullable_timestamp(field, present(field, value)?)?;
    }
    nullable_string(
        "retryMatrix.failureReason",
        present("retryMatrix.failureReason", m.failure_reason)?,
    )?;
    Ok((current, max))
}

/// `routingDirective`: returns `(preserveOriginalTopic, destinationOverride is set)`.
fn check_routing(v: &RawValue) -> Result<(bool, bool), Reject> {
    const DEST: &str = "routingDirective.destinationOverride";
    const PRESERVE: &str = "routingDirective.preserveOriginalTopic";
    let r: RawRouting<'_> = object("routingDirective", v)?;
    let dest_raw = present(DEST, r.destination_override)?;
    let dest = nullable_string(DEST, dest_raw)?;
    if dest.is_some() {
        serde_json::from_str::<DestinationOverride>(dest_raw.get())
            .map_err(|e| Reject::schema(DEST, e.to_string()))?;
    }
    let preserve =
        serde_json::from_str::<bool>(present(PRESERVE, r.preserve_original_topic)?.get())
            .map_err(|_| Reject::schema(PRESERVE, "must be a boolean"))?;
    Ok((preserve, dest.is_some()))
}

/// `replayMetadata`.
fn check_metadata(v: &RawValue) -> Result<(), Reject> {
    let md: RawMetadata<'_> = object("replayMetadata", v)?;
    let initiated = string(
        "replayMetadata.initiatedAt",
        present("replayMetadata.initiatedAt", md.initiated_at)?,
    )?;
    timestamp("replayMetadata.initiatedAt", &initiated)?;
    string(
        "replayMetadata.clientVersion",
        present("replayMetadata.clientVersion", md.client_version)?,
    )?;
    Ok(())
}
