//! What servers say about their rate limits: the IETF `RateLimit-Policy` and `RateLimit` header
//! fields, and [`Throttling`], the tally a client keeps of 429s, `Retry-After` holds and quotas.
//!
//! The fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026): both are Structured
//! Field Lists (RFC 9651) of Items whose value names a policy, with parameters.
//!
//! ```text
//! RateLimit-Policy: "default";q=200;w=1        200 requests (quota units) per 1-second window
//! RateLimit: "default";r=57;t=1                57 left; the effective window is 1 s
//! ```
//!
//! Malformed fields are ignored, as the draft requires ([`Quota::from_fields`] returns `None`).
//!
//! ```
//! use cxone_replay_domain::Quota;
//! let q = Quota::from_fields(Some(r#""default";q=200;w=1"#), Some(r#""default";r=57;t=1"#)).unwrap();
//! assert_eq!((q.per_second, q.remaining, q.reset), (Some(200.0), Some(57), Some(1)));
//! assert!(Quota::from_fields(Some("q=200"), Some("garbage;;")).is_none());
//! ```

use chrono::{DateTime, Utc};
use std::time::Duration;

/// One quota policy of a `RateLimit-Policy` field.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaPolicy {
    /// The policy's name (the Item's String value).
    pub name: String,
    /// `q`: the quota, in quota units.
    pub quota: u64,
    /// `w`: the window in seconds, if given.
    pub window: Option<u64>,
    /// `qu`: the quota unit (`None` means the default, `requests`).
    pub unit: Option<String>,
}

/// One service limit of a `RateLimit` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLimit {
    /// The name of the policy it belongs to.
    pub name: String,
    /// `r`: the quota units available now.
    pub remaining: u64,
    /// `t`: the effective window in seconds (the time within which no more than `remaining`
    /// should be used), if given.
    pub reset: Option<u64>,
}

/// The quota one response reported, reduced to what a pacer needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// The sustained rate the most restrictive `requests` policy allows (`q / w`), if a policy
    /// with a window was given.
    pub per_second: Option<f64>,
    /// `r` of that policy's service limit (or of the first one), if given.
    pub remaining: Option<u64>,
    /// `t` of that service limit, if given.
    pub reset: Option<u64>,
}

impl Quota {
    /// The quota of a response's `RateLimit-Policy` and `RateLimit` field values (several
    /// field lines already joined with `", "`). `None` when neither gives anything usable,
    /// including when a field is malformed (it is then ignored).
    #[must_use]
    pub fn from_fields(policy: Option<&str>, limit: Option<&str>) -> Option<Quota> {
        let policies = policy.and_then(parse_ratelimit_policy).unwrap_or_default();
        let limits = limit.and_then(parse_ratelimit).unwrap_or_default();
        let chosen = policies
            .iter()
            .filter(|p| p.unit.as_deref().is_none_or(|u| u == "requests"))
            .filter_map(|p| Some((p, p.quota as f64 / p.window.filter(|w| *w > 0)? as f64)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let limit = match chosen {
            Some((p, _)) => limits.iter().find(|l| l.name == p.name).or(limits.first()),
            None => limits.first(),
        };
        if chosen.is_none() && limit.is_none() {
            return None;
        }
        Some(Quota {
            per_second: chosen.map(|(_, r)| r),
            remaining: limit.map(|l| l.remaining),
            reset: limit.and_then(|l| l.reset),
        })
    }
}

/// Parses a `RateLimit-Policy` field value; `None` if it is malformed or has no valid policy.
#[must_use]
pub fn parse_ratelimit_policy(value: &str) -> Option<Vec<QuotaPolicy>> {
    let items = sf::parse_list(value)?;
    let mut out = Vec::new();
    for item in items {
        let sf::Bare::String(name) = &item.value else {
            return None;
        };
        let name = name.clone();
        let quota = item.integer("q")?;
        let window = match item.param("w") {
            None => None,
            Some(sf::Bare::Integer(w)) if *w > 0 => Some(*w as u64),
            Some(_) => return None,
        };
        let unit = match item.param("qu") {
            None => None,
            Some(sf::Bare::String(u)) => Some(u.clone()),
            Some(_) => return None,
        };
        out.push(QuotaPolicy {
            name,
            quota,
            window,
            unit,
        });
    }
    (!out.is_empty()).then_some(out)
}

/// Parses a `RateLimit` field value; `None` if it is malformed or has no valid service limit.
#[must_use]
pub fn parse_ratelimit(value: &str) -> Option<Vec<ServiceLimit>> {
    let items = sf::parse_list(value)?;
    let mut out = Vec::new();
    for item in items {
        let name = match &item.value {
            sf::Bare::String(s) | sf::Bare::Token(s) => s.clone(),
            _ => return None,
        };
        let remaining = item.integer("r")?;
        let reset = match item.param("t") {
            None => None,
            Some(sf::Bare::Integer(t)) if *t >= 0 => Some(*t as u64),
            Some(_) => return None,
        };
        out.push(ServiceLimit {
            name,
            remaining,
            reset,
        });
    }
    (!out.is_empty()).then_some(out)
}

/// What a client has been told about rate limits so far: counters since it started, the
/// client-wide `Retry-After` hold, and the latest quota. Time comes in as arguments.
///
/// ```
/// use cxone_replay_domain::Throttling;
/// use chrono::{TimeDelta, Utc, TimeZone};
/// let t0 = Utc.with_ymd_and_hms(2024, 5, 11, 9, 0, 0).unwrap();
/// let mut t = Throttling::default();
/// t.record_throttle();
/// t.hold(t0, t0 + TimeDelta::seconds(1));
/// // A second 429 half a second later extends the hold by half a second, not by a second.
/// t.record_throttle();
/// t.hold(t0 + TimeDelta::milliseconds(500), t0 + TimeDelta::milliseconds(1500));
/// assert_eq!((t.throttled, t.held.as_millis()), (2, 1500));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Throttling {
    /// `429 Too Many Requests` answers received.
    pub throttled: u64,
    /// `503 Service Unavailable` answers that carried a `Retry-After`.
    pub busy: u64,
    /// The total time covered by client-wide holds (overlapping holds counted once).
    pub held: Duration,
    /// Until when every request is held, if a hold was ever set (it may have passed).
    pub hold_until: Option<DateTime<Utc>>,
    /// The latest quota a response reported.
    pub quota: Option<Quota>,
    /// How many responses reported a quota (tells a new reading from the last one).
    pub quotas_seen: u64,
}

impl Throttling {
    /// Counts a `429`.
    pub fn record_throttle(&mut self) {
        self.throttled += 1;
    }

    /// Counts a `503` with `Retry-After`.
    pub fn record_busy(&mut self) {
        self.busy += 1;
    }

    /// Holds every request until `until` (never shortens a hold), adding the time not yet
    /// covered to [`held`](Self::held). Returns the hold's end.
    pub fn hold(&mut self, now: DateTime<Utc>, until: DateTime<Utc>) -> DateTime<Utc> {
        let covered = self.hold_until.map_or(now, |h| h.max(now));
        if until > covered {
            self.held += (until - covered).to_std().unwrap_or_default();
        }
        let end = self.hold_until.map_or(until, |h| h.max(until));
        self.hold_until = Some(end);
        end
    }

    /// Keeps the latest quota.
    pub fn record_quota(&mut self, quota: Quota) {
        self.quota = Some(quota);
        self.quotas_seen += 1;
    }

    /// Whether a hold is in force at `now`.
    #[must_use]
    pub fn is_held(&self, now: DateTime<Utc>) -> bool {
        self.hold_until.is_some_and(|h| h > now)
    }
}

/// The subset of Structured Field Values (RFC 9651) these fields use: a List of Items with
/// Parameters. Inner Lists are not valid in either field, so they are a parse error here.
mod sf {
    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Bare {
        Integer(i64),
        Decimal(f64),
        String(String),
        Token(String),
        Bytes(String),
        Boolean(bool),
    }

    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Item {
        pub(super) value: Bare,
        pub(super) params: Vec<(String, Bare)>,
    }

    impl Item {
        pub(super) fn param(&self, key: &str) -> Option<&Bare> {
            // Later duplicates override earlier ones (RFC 9651 §4.2.3.2).
            self.params
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        }

        /// A required non-negative Integer parameter.
        pub(super) fn integer(&self, key: &str) -> Option<u64> {
            match self.param(key)? {
                Bare::Integer(n) if *n >= 0 => Some(*n as u64),
                _ => None,
            }
        }
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    /// Parses a List; `None` on any syntax error (the whole field is then ignored).
    pub(super) fn parse_list(input: &str) -> Option<Vec<Item>> {
        let mut p = Parser {
            s: input.as_bytes(),
            i: 0,
        };
        p.skip(|b| b == b' ');
        let mut items = Vec::new();
        while p.i < p.s.len() {
            items.push(p.item()?);
            p.skip(|b| b == b' ' || b == b'\t');
            if p.i == p.s.len() {
                return Some(items);
            }
            if p.next()? != b',' {
                return None;
            }
            p.skip(|b| b == b' ' || b == b'\t');
            if p.i == p.s.len() {
                return None; // trailing comma
            }
        }
        (!items.is_empty()).then_some(items)
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.i += 1;
            Some(b)
        }

        fn skip(&mut self, f: impl Fn(u8) -> bool) {
            while self.peek().is_some_and(&f) {
                self.i += 1;
            }
        }

        fn item(&mut self) -> Option<Item> {
            let value = self.bare()?;
            let mut params = Vec::new();
            while self.peek() == Some(b';') {
                self.i += 1;
                self.skip(|b| b == b' ');
                let key = self.key()?;
                let value = if self.peek() == Some(b'=') {
                    self.i += 1;
                    self.bare()?
                } else {
                    Bare::Boolean(true)
                };
                params.push((key, value));
            }
            Some(Item { value, params })
        }

        fn key(&mut self) -> Option<String> {
            let start = self.i;
            match self.peek()? {
                b'a'..=b'z' | b'*' => self.i += 1,
                _ => return None,
            }
            self.skip(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'));
            Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
        }

        fn bare(&mut self) -> Option<Bare> {
            match self.peek()? {
                b'-' | b'0'..=b'9' => self.number(),
                b'"' => self.string(),
                b':' => {
                    self.i += 1;
                    let start = self.i;
                    self.skip(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                    let body = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                    (self.next()? == b':').then_some(Bare::Bytes(body))
                }
                b'?' => {
                    self.i += 1;
                    match self.next()? {
                        b'0' => Some(Bare::Boolean(false)),
                        b'1' => Some(Bare::Boolean(true)),
                        _ => None,
                    }
                }
                b if b.is_ascii_alphabetic() || b == b'*' => {
                    let start = self.i;
                    self.i += 1;
                    self.skip(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b));
                    Some(Bare::Token(
                        String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                    ))
                }
                _ => None,
            }
        }

        fn number(&mut self) -> Option<Bare> {
            let start = self.i;
            if self.peek() == Some(b'-') {
                self.i += 1;
            }
            let int_start = self.i;
            self.skip(|b| b.is_ascii_digit());
            let int_len = self.i - int_start;
            if int_len == 0 {
                return None;
            }
            if self.peek() != Some(b'.') {
                if int_len > 15 {
                    return None;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                return text.parse().ok().map(Bare::Integer);
            }
            self.i += 1;
            let frac_start = self.i;
            self.skip(|b| b.is_ascii_digit());
            let frac_len = self.i - frac_start;
            if int_len > 12 || frac_len == 0 || frac_len > 3 {
                return None;
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
            text.parse().ok().map(Bare::Decimal)
        }

        fn string(&mut self) -> Option<Bare> {
            self.i += 1; // the opening quote
            let mut out = String::new();
            loop {
                match self.next()? {
                    b'"' => return Some(Bare::String(out)),
                    b'\\' => match self.next()? {
                        c @ (b'"' | b'\\') => out.push(char::from(c)),
                        _ => return None,
                    },
                    c @ 0x20..=0x7e => out.push(char::from(c)),
                    _ => return None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    #[test]
    fn the_drafts_examples_parse() {
        let p = parse_ratelimit_policy(r#""burst";q=100;w=60,"daily";q=1000;w=86400"#).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[1].name.as_str(), p[1].quota, p[1].window),
            ("daily", 1000, Some(86400))
        );
        let p = parse_ratelimit_policy(
            r#""peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:"#,
        )
        .unwrap();
        assert_eq!(p[0].unit.as_deref(), Some("content-bytes"));
        let l = parse_ratelimit(r#""default";r=999;pk=:dHJpYWwxMjEzMjM=:"#).unwrap();
        assert_eq!((l[0].remaining, l[0].reset), (999, None));
        let l = parse_ratelimit(r#""default";r=50;t=30"#).unwrap();
        assert_eq!(
            (l[0].name.as_str(), l[0].remaining, l[0].reset),
            ("default", 50, Some(30))
        );
    }

    #[test]
    fn malformed_fields_are_ignored() {
        for bad in [
            "",
            "  ",
            r#""default";q=-1;w=1"#,
            r#""default";w=1"#,
            r#""default";q=1.5;w=1"#,
            r#""default";q=10;w=0"#,
            r#"default;q=10;w=1"#, // a Token, not a String
            r#""default";q=10;w=1,"#,
            r#"("a" "b");q=1"#,
            r#""unterminated;q=1"#,
            r#""default";Q=10"#,
            "\"default\";q=1234567890123456",
        ] {
            assert_eq!(parse_ratelimit_policy(bad), None, "{bad:?}");
        }
        for bad in [
            r#""default";t=1"#,
            r#""default";r=-3"#,
            r#""default";r=1;t=x"#,
        ] {
            assert_eq!(parse_ratelimit(bad), None, "{bad:?}");
        }
        assert_eq!(Quota::from_fields(Some("nonsense,"), Some("r=")), None);
        assert_eq!(Quota::from_fields(None, None), None);
    }

    #[test]
    fn the_most_restrictive_request_policy_sets_the_rate() {
        let q = Quota::from_fields(
            Some(r#""permin";q=600;w=60, "persec";q=20;w=1, "bytes";q=1;qu="content-bytes";w=1"#),
            Some(r#""permin";r=500;t=40, "persec";r=3;t=1"#),
        )
        .unwrap();
        assert_eq!(q.per_second, Some(10.0));
        assert_eq!((q.remaining, q.reset), (Some(500), Some(40)));
        // A limit without a policy still reports the level.
        let q = Quota::from_fields(None, Some(r#""x";r=7"#)).unwrap();
        assert_eq!((q.per_second, q.remaining, q.reset), (None, Some(7), None));
        // Whitespace and parameter order do not matter; later duplicates win.
        let q = Quota::from_fields(Some(r#" "d"; w=2;q=100;q=300 "#), None).unwrap();
        assert_eq!(q.per_second, Some(150.0));
    }

    #[test]
    fn holds_add_up_the_time_they_cover_once() {
        let t0 = Utc.with_ymd_and_hms(2024, 5, 11, 9, 0, 0).unwrap();
        let ms = TimeDelta::milliseconds;
        let mut t = Throttling::default();
        assert!(!t.is_held(t0));
        assert_eq!(t.hold(t0, t0 + ms(1000)), t0 + ms(1000));
        assert!(t.is_held(t0 + ms(999)) && !t.is_held(t0 + ms(1000)));
        // A shorter hold neither shortens the hold nor adds time.
        assert_eq!(t.hold(t0 + ms(100), t0 + ms(600)), t0 + ms(1000));
        assert_eq!(t.held, Duration::from_millis(1000));
        // A later, separate hold adds its full length.
        t.hold(t0 + ms(3000), t0 + ms(4000));
        assert_eq!(t.held, Duration::from_millis(2000));
        t.record_busy();
        t.record_quota(Quota {
            per_second: Some(1.0),
            remaining: None,
            reset: None,
        });
        assert_eq!((t.busy, t.quotas_seen), (1, 1));
    }
}
