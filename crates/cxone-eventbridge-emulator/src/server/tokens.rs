//! Issued access tokens: their scopes, their expiry on the server clock, their use counts.

use crate::faults::mix;
use crate::server::state::lock;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// A scope of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `eventbridge:read`: the DLQ listing.
    Read,
    /// `eventbridge:write`: the replay PUT.
    Write,
}

impl Scope {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "eventbridge:read",
            Scope::Write => "eventbridge:write",
        }
    }
}

/// The scopes a token carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scopes {
    read: bool,
    write: bool,
}

impl Scopes {
    /// Both scopes: what a request without `scope` is granted.
    pub(crate) const ALL: Scopes = Scopes {
        read: true,
        write: true,
    };

    /// Parses a space-separated `scope` parameter; `Err` holds the first unknown scope.
    pub(crate) fn parse(text: &str) -> Result<Scopes, &str> {
        let mut scopes = Scopes::default();
        for s in text.split(' ').filter(|s| !s.is_empty()) {
            if s == Scope::Read.as_str() {
                scopes.read = true;
            } else if s == Scope::Write.as_str() {
                scopes.write = true;
            } else {
                return Err(s);
            }
        }
        Ok(scopes)
    }

    pub(crate) fn has(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
        }
    }
}

impl fmt::Display for Scopes {
    /// The granted scopes as a `scope` value (read first).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let granted: Vec<&str> = [Scope::Read, Scope::Write]
            .into_iter()
            .filter(|s| self.has(*s))
            .map(Scope::as_str)
            .collect();
        f.write_str(&granted.join(" "))
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// Unknown, expired, used up or expired on demand.
    Invalid,
    /// Valid, but without the scope the route needs.
    MissingScope(Scope),
}

struct TokenInfo {
    expires: Instant,
    scopes: Scopes,
    uses: u64,
}

/// The tokens issued so far.
pub(crate) struct TokenStore {
    seed: u64,
    /// Drawn once per emulator, so that two emulators with the same seed never issue the same
    /// token text (a token cached from one is unknown to the other).
    nonce: u64,
    ttl: Duration,
    max_uses: Option<u64>,
    seq: AtomicU64,
    tokens: Mutex<HashMap<String, TokenInfo>>,
}

impl TokenStore {
    pub(crate) fn new(seed: u64, nonce: u64, ttl: Duration, max_uses: Option<u64>) -> Self {
        TokenStore {
            seed,
            nonce,
            ttl,
            max_uses,
            seq: AtomicU64::new(0),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// How long a token lives.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token with `scopes`, valid until `now + ttl`.
    pub(crate) fn issue(&self, scopes: Scopes, now: Instant) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let token = format!(
            "emu.{}.{:016x}{:016x}",
            seq + 1,
            mix(self.seed ^ seq),
            mix(self.nonce ^ seq)
        );
        lock(&self.tokens).insert(
            token.clone(),
            TokenInfo {
                expires: now + self.ttl,
                scopes,
                uses: 0,
            },
        );
        token
    }

    /// Checks a bearer token for one API request at `now`, counting the use when it is valid
    /// (a token without the needed scope still used up one use).
    pub(crate) fn check(&self, token: &str, need: Scope, now: Instant) -> Result<(), TokenProblem> {
        let mut tokens = lock(&self.tokens);
        let Some(info) = tokens.get_mut(token) else {
            return Err(TokenProblem::Invalid);
        };
        let used_up = self.max_uses.is_some_and(|max| info.uses >= max);
        if now >= info.expires || used_up {
            tokens.remove(token);
            return Err(TokenProblem::Invalid);
        }
        info.uses += 1;
        if info.scopes.has(need) {
            Ok(())
        } else {
            Err(TokenProblem::MissingScope(need))
        }
    }

    /// Forgets every token issued so far.
    pub(crate) fn expire_all(&self) {
        lock(&self.tokens).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max_uses: Option<u64>) -> TokenStore {
        TokenStore::new(7, 99, Duration::from_secs(10), max_uses)
    }

    #[test]
    fn scopes_parse_and_render() {
        assert_eq!(Scopes::parse(""), Ok(Scopes::default()));
        assert_eq!(
            Scopes::parse("eventbridge:write  eventbridge:read"),
            Ok(Scopes::ALL)
        );
        assert_eq!(
            Scopes::parse("eventbridge:read admin:all"),
            Err("admin:all")
        );
        assert_eq!(
            Scopes::ALL.to_string(),
            "eventbridge:read eventbridge:write"
        );
        let write = Scopes::parse("eventbridge:write").expect("known scope");
        assert_eq!(write.to_string(), "eventbridge:write");
        assert!(write.has(Scope::Write) && !write.has(Scope::Read));
    }

    #[test]
    fn tokens_are_distinct_per_store_and_per_issue() {
        let now = Instant::now();
        let a = store(None);
        let b = TokenStore::new(7, 100, Duration::from_secs(10), None);
        let (a1, a2, b1) = (
            a.issue(Scopes::ALL, now),
            a.issue(Scopes::ALL, now),
            b.issue(Scopes::ALL, now),
        );
        assert!(
            a1.starts_with("emu.1.") && a2.starts_with("emu.2."),
            "{a1} {a2}"
        );
        assert_ne!(a1, b1, "the same seed in two emulators gives other tokens");
        assert_eq!(b.check(&a1, Scope::Read, now), Err(TokenProblem::Invalid));
    }

    #[test]
    fn a_token_expires_at_its_ttl_on_the_given_clock() {
        let s = store(None);
        let now = Instant::now();
        let t = s.issue(Scopes::ALL, now);
        let just_before = now + Duration::from_secs(10) - Duration::from_nanos(1);
        assert_eq!(s.check(&t, Scope::Read, just_before), Ok(()));
        assert_eq!(
            s.check(&t, Scope::Read, now + Duration::from_secs(10)),
            Err(TokenProblem::Invalid)
        );
        // Once expired it is forgotten, even if the clock were to read earlier.
        assert_eq!(s.check(&t, Scope::Read, now), Err(TokenProblem::Invalid));
    }

    #[test]
    fn max_uses_scopes_and_expire_all() {
        let s = store(Some(2));
        let now = Instant::now();
        let read_only = s.issue(Scopes::parse("eventbridge:read").expect("scope"), now);
        assert_eq!(
            s.check(&read_only, Scope::Write, now),
            Err(TokenProblem::MissingScope(Scope::Write))
        );
        assert_eq!(s.check(&read_only, Scope::Read, now), Ok(()));
        assert_eq!(
            s.check(&read_only, Scope::Read, now),
            Err(TokenProblem::Invalid),
            "the refused write used one of the two uses"
        );
        let t = s.issue(Scopes::ALL, now);
        assert_eq!(s.check(&t, Scope::Write, now), Ok(()));
        s.expire_all();
        assert_eq!(s.check(&t, Scope::Write, now), Err(TokenProblem::Invalid));
        assert_eq!(
            s.check("emu.nope", Scope::Read, now),
            Err(TokenProblem::Invalid)
        );
    }
}
