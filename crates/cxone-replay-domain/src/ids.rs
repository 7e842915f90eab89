//! Newtypes that are checked once, when made: idempotency keys and destination overrides.

use crate::endpoint::{TransportError, check_credential_url, redact_userinfo};
use crate::error::DomainError;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use url::Url;

/// The longest idempotency key we send (and accept back).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// An idempotency key: non-empty, at most 255 characters, visible ASCII only (`!` to `~`), so it
/// is always a valid HTTP header value.
///
/// A replay's key is `replay-{eventId}-v{retryCount + 1}` ([`IdempotencyKey::for_replay`]), or
/// with [`KeyScheme::TopicScoped`] `replay-{topicId}-{eventId}-v{retryCount + 1}`: the same DLQ
/// event at the same retry count always gets the same key, so a re-run (or a retry of a PUT
/// whose response was lost) is recognised by the server as a duplicate instead of being
/// delivered twice.
///
/// ```
/// use cxone_replay_domain::IdempotencyKey;
/// let key = IdempotencyKey::for_replay("evt_1", 4).unwrap();
/// assert_eq!(key.as_str(), "replay-evt_1-v4");
/// assert!(IdempotencyKey::new("has space").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks and wraps a key.
    ///
    /// # Errors
    /// [`DomainError::InvalidIdempotencyKey`] if it is empty, longer than 255 characters or
    /// holds a character outside visible ASCII.
    pub fn new(key: impl Into<String>) -> Result<Self, DomainError> {
        let key = key.into();
        if key.is_empty() {
            return Err(DomainError::InvalidIdempotencyKey {
                problem: "is empty".into(),
            });
        }
        if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(DomainError::InvalidIdempotencyKey {
                problem: format!(
                    "is {} bytes long, the limit is {MAX_IDEMPOTENCY_KEY_LEN}",
                    key.len()
                ),
            });
        }
        if let Some((at, c)) = key.char_indices().find(|(_, c)| !matches!(c, '!'..='~')) {
            return Err(DomainError::InvalidIdempotencyKey {
                problem: format!(
                    "character {c:?} at byte {at} is not allowed (visible ASCII only)"
                ),
            });
        }
        Ok(IdempotencyKey(key))
    }

    /// The key of replay attempt `attempt` of event `event_id`: `replay-{event_id}-v{attempt}`
    /// (the default [`KeyScheme::EventScoped`]; see [`KeyScheme::key`] for the others).
    ///
    /// # Errors
    /// As [`IdempotencyKey::new`]: an event id with spaces or non-ASCII characters, or one so
    /// long that the key would pass 255 characters, cannot make a key.
    pub fn for_replay(event_id: &str, attempt: u32) -> Result<Self, DomainError> {
        KeyScheme::EventScoped.key("", event_id, attempt)
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the key.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdempotencyKey").field(&self.0).finish()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for IdempotencyKey {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdempotencyKey::new(s)
    }
}

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IdempotencyKey::new(s).map_err(serde::de::Error::custom)
    }
}

/// How a replay's idempotency key is made from the event.
///
/// | scheme | key | for servers that |
/// |---|---|---|
/// | [`EventScoped`](Self::EventScoped) (default) | `replay-{eventId}-v{attempt}` (the tutorial's) | dedupe keys per topic |
/// | [`TopicScoped`](Self::TopicScoped) | `replay-{topicId}-{eventId}-v{attempt}` | dedupe keys across topics |
///
/// The same eventId may sit in the DLQ of several topics (a fan-out). Under the event-scoped
/// key the replays of those events to different topics share a key, so a server that dedupes
/// keys across topics answers `409` for every topic after the first; the topic-scoped key keeps
/// them apart. Either way a key is checked like any [`IdempotencyKey`]: at most 255 visible
/// ASCII characters, so a long topic id leaves less room for the event id.
///
/// ```
/// use cxone_replay_domain::KeyScheme;
/// let key = KeyScheme::TopicScoped.key("t1", "evt_1", 4).unwrap();
/// assert_eq!(key.as_str(), "replay-t1-evt_1-v4");
/// assert_eq!(KeyScheme::default().key("t1", "evt_1", 4).unwrap().as_str(), "replay-evt_1-v4");
/// assert!(KeyScheme::TopicScoped.key(&"t".repeat(250), "evt_1", 4).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyScheme {
    /// `replay-{eventId}-v{attempt}`: the tutorial's key.
    #[default]
    EventScoped,
    /// `replay-{topicId}-{eventId}-v{attempt}`.
    TopicScoped,
}

/// The smallest part of a topic-scoped key that is not the topic: `replay-`, `-`, a one-byte
/// event id, `-v` and a one-digit attempt.
const TOPIC_SCOPED_OVERHEAD: usize = "replay-".len() + "-".len() + 1 + "-v".len() + 1;

impl KeyScheme {
    /// Every scheme, in declaration order.
    pub const ALL: [KeyScheme; 2] = [KeyScheme::EventScoped, KeyScheme::TopicScoped];

    /// The scheme's short name: `"event"` or `"topic"` (as the CLI's `--key-scope` takes it).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyScheme::EventScoped => "event",
            KeyScheme::TopicScoped => "topic",
        }
    }

    /// The key of replay attempt `attempt` of event `event_id` read from `topic`.
    ///
    /// # Errors
    /// [`DomainError::InvalidIdempotencyKey`] when the key would not be a valid key: an id with
    /// characters outside visible ASCII, or ids so long that the key passes 255 characters.
    pub fn key(
        self,
        topic: &str,
        event_id: &str,
        attempt: u32,
    ) -> Result<IdempotencyKey, DomainError> {
        match self {
            KeyScheme::EventScoped => IdempotencyKey::new(format!("replay-{event_id}-v{attempt}")),
            KeyScheme::TopicScoped => {
                IdempotencyKey::new(format!("replay-{topic}-{event_id}-v{attempt}"))
            }
        }
    }

    /// Whether `topic` can be part of this scheme's keys at all (checked once per run, so that a
    /// bad topic is a configuration error rather than every event skipped): always for
    /// [`EventScoped`](Self::EventScoped); for [`TopicScoped`](Self::TopicScoped), a topic id of
    /// visible ASCII that leaves room for an event id.
    ///
    /// # Errors
    /// [`DomainError::InvalidSetting`] (setting `key_scheme`) naming the topic and the problem.
    pub fn check_topic(self, topic: &str) -> Result<(), DomainError> {
        if self == KeyScheme::EventScoped {
            return Ok(());
        }
        let bad = |problem: String| DomainError::InvalidSetting {
            setting: "key_scheme",
            problem: format!(
                "topic `{topic}` cannot be part of a topic-scoped idempotency key: {problem}"
            ),
        };
        if let Some(c) = topic.chars().find(|c| !matches!(c, '!'..='~')) {
            return Err(bad(format!("character {c:?} is not visible ASCII")));
        }
        let room = MAX_IDEMPOTENCY_KEY_LEN - TOPIC_SCOPED_OVERHEAD;
        if topic.len() > room {
            return Err(bad(format!(
                "it is {} bytes long, at most {room} leave room for an event id",
                topic.len()
            )));
        }
        Ok(())
    }

    /// Whether `key` is the key of attempt `attempt` of `event_id` under some scheme (the
    /// topic-scoped form with any non-empty topic).
    #[must_use]
    pub fn recognises(key: &str, event_id: &str, attempt: u32) -> bool {
        let Some(rest) = key.strip_prefix("replay-") else {
            return false;
        };
        let tail = format!("{event_id}-v{attempt}");
        rest == tail
            || rest
                .strip_suffix(tail.as_str())
                .and_then(|topic| topic.strip_suffix('-'))
                .is_some_and(|topic| !topic.is_empty())
    }
}

impl fmt::Display for KeyScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Hosts a destination override may point at. Empty means any host.
///
/// Entries are host names compared case-insensitively; an entry starting with `*.` also admits
/// every sub-domain (`*.example.com` admits `a.example.com`, not `example.com`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationAllowList {
    hosts: Vec<String>,
}

impl DestinationAllowList {
    /// Any host is allowed.
    #[must_use]
    pub fn any() -> Self {
        DestinationAllowList::default()
    }

    /// Only these hosts (and, for `*.` entries, their sub-domains).
    #[must_use]
    pub fn only<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        DestinationAllowList {
            hosts: hosts
                .into_iter()
                .map(|h| h.as_ref().trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// Whether the list admits every host.
    #[must_use]
    pub fn is_any(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Whether `host` is admitted.
    #[must_use]
    pub fn allows(&self, host: &str) -> bool {
        if self.hosts.is_empty() {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts
            .iter()
            .any(|entry| match entry.strip_prefix("*.") {
                Some(parent) => host
                    .strip_suffix(parent)
                    .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
                None => *entry == host,
            })
    }
}

/// A destination override: an absolute `https` URL with a host and no user-info.
///
/// It is sent to the bus as `routingDirective.destinationOverride`. Checked once, when made.
///
/// ```
/// use cxone_replay_domain::{DestinationAllowList, DestinationOverride};
/// let ok = DestinationOverride::parse("https://hooks.example.com/replay", &DestinationAllowList::any());
/// assert!(ok.is_ok());
/// let http = DestinationOverride::parse("http://hooks.example.com/", &DestinationAllowList::any());
/// assert!(http.unwrap_err().to_string().contains("https"));
/// let listed = DestinationAllowList::only(["hooks.example.com"]);
/// assert!(DestinationOverride::parse("https://evil.example.net/", &listed).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DestinationOverride(String);

impl DestinationOverride {
    /// Parses and checks a destination override URL against an allow-list.
    ///
    /// # Errors
    /// [`DomainError::InvalidDestination`] if the URL is relative or malformed, is not `https`,
    /// has no host, carries a user name or password, or its host is not on the allow-list.
    pub fn parse(input: &str, allow: &DestinationAllowList) -> Result<Self, DomainError> {
        let fail = |problem: String| DomainError::InvalidDestination {
            url: redact_userinfo(input),
            problem,
        };
        let url = Url::parse(input.trim()).map_err(|e| {
            fail(match e {
                url::ParseError::RelativeUrlWithoutBase => {
                    "is not an absolute URL (expected https://host/path)".to_string()
                }
                other => format!("is not a valid URL: {other}"),
            })
        })?;
        if url.scheme() != "https" {
            return Err(fail(format!(
                "scheme `{}` is not allowed; use https",
                url.scheme()
            )));
        }
        // https only (checked above), so of the credential rule this leaves user-info and host.
        check_credential_url(&url).map_err(|e| fail(e.to_string()))?;
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => return Err(fail(TransportError::NoHost.to_string())),
        };
        if !allow.allows(&host) {
            return Err(fail(format!(
                "host `{host}` is not on the destination allow-list"
            )));
        }
        Ok(DestinationOverride(url.into()))
    }

    /// The URL as text (normalised by the URL parser).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL's host.
    #[must_use]
    pub fn host(&self) -> &str {
        // Checked at construction: the URL is absolute and has a host.
        let rest = self.0.strip_prefix("https://").unwrap_or(&self.0);
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.starts_with('[') {
            authority.find(']').map_or(authority, |i| &authority[..=i])
        } else {
            authority.rsplit_once(':').map_or(authority, |(h, _)| h)
        }
    }
}

impl fmt::Debug for DestinationOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DestinationOverride").field(&self.0).finish()
    }
}

impl fmt::Display for DestinationOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DestinationOverride {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DestinationOverride::parse(&s, &DestinationAllowList::any())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_in_messages() {
        let err =
            DestinationOverride::parse("http://u:hunter2@h.example/", &DestinationAllowList::any())
                .unwrap_err()
                .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn key_schemes_make_and_recognise_their_keys() {
        /// (scheme, topic, event id, attempt, the key or a part of the error)
        type Case<'a> = (KeyScheme, &'a str, &'a str, u32, Result<&'a str, &'a str>);
        let cases: &[Case<'_>] = &[
            (
                KeyScheme::EventScoped,
                "t1",
                "evt_1",
                4,
                Ok("replay-evt_1-v4"),
            ),
            (
                KeyScheme::TopicScoped,
                "t1",
                "evt_1",
                4,
                Ok("replay-t1-evt_1-v4"),
            ),
            (KeyScheme::TopicScoped, "a-b", "c", 1, Ok("replay-a-b-c-v1")),
            (KeyScheme::EventScoped, "t", "has space", 1, Err("' '")),
            (KeyScheme::TopicScoped, "té", "e", 1, Err("'é'")),
            (
                KeyScheme::TopicScoped,
                "t",
                &"e".repeat(246),
                1,
                Err("258 bytes long"),
            ),
        ];
        for (scheme, topic, id, attempt, want) in cases {
            let got = scheme.key(topic, id, *attempt);
            match (want, got) {
                (Ok(k), Ok(got)) => {
                    assert_eq!(got.as_str(), *k);
                    assert!(KeyScheme::recognises(got.as_str(), id, *attempt), "{k}");
                    assert!(!KeyScheme::recognises(got.as_str(), id, attempt + 1), "{k}");
                    assert!(
                        !KeyScheme::recognises(got.as_str(), "other", *attempt),
                        "{k}"
                    );
                }
                (Err(part), Err(e)) => assert!(e.to_string().contains(part), "{e}"),
                (want, got) => panic!("{scheme} {topic} {id}: want {want:?}, got {got:?}"),
            }
        }
        // The longest topic check_topic admits still makes a key with a one-byte event id.
        let room = MAX_IDEMPOTENCY_KEY_LEN - TOPIC_SCOPED_OVERHEAD;
        let topic = "t".repeat(room);
        assert!(KeyScheme::TopicScoped.check_topic(&topic).is_ok());
        assert!(KeyScheme::TopicScoped.key(&topic, "e", 9).is_ok());
        let e = KeyScheme::TopicScoped
            .check_topic(&format!("{topic}t"))
            .unwrap_err();
        assert!(e.to_string().contains("leave room"), "{e}");
        let e = KeyScheme::TopicScoped.check_topic("a b").unwrap_err();
        assert!(e.to_string().contains("topic `a b`"), "{e}");
        assert!(KeyScheme::EventScoped.check_topic("a b").is_ok());
        assert!(
            !KeyScheme::recognises("replay--e-v1", "e", 1),
            "an empty topic"
        );
        assert!(!KeyScheme::recognises("other-e-v1", "e", 1));
        assert_eq!(KeyScheme::ALL.map(KeyScheme::as_str), ["event", "topic"]);
    }

    #[test]
    fn allow_list_wildcards_admit_subdomains_only() {
        let l = DestinationAllowList::only(["*.Example.com.", " exact.net "]);
        assert!(l.allows("a.example.com"));
        assert!(l.allows("a.b.example.com."));
        assert!(!l.allows("example.com"));
        assert!(!l.allows("badexample.com"));
        assert!(l.allows("EXACT.net"));
        assert!(!l.allows("sub.exact.net"));
        assert!(!l.is_any());
        assert!(DestinationAllowList::only([" "]).is_any());
    }

    #[test]
    fn host_handles_ports_and_ipv6() {
        let any = DestinationAllowList::any();
        let h = |u: &str| {
            DestinationOverride::parse(u, &any)
                .unwrap()
                .host()
                .to_string()
        };
        assert_eq!(h("https://a.example:8443/p"), "a.example");
        assert_eq!(h("https://[2001:db8::1]:8443/p"), "[2001:db8::1]");
        assert_eq!(h("https://a.example?q=1"), "a.example");
    }
}
