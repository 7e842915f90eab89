//! The client's view of time and chance: a [`Clock`], a [`Sleeper`] and a [`Jitter`].
//!
//! The traits and their test doubles ([`testing`]) belong to the domain crate
//! (`cxone_replay_domain::time`) and are re-exported here unchanged, so one injected clock drives
//! the client, the engine and your code alike. This module adds the production implementations,
//! which need the system clock, tokio's timer and a random generator: [`SystemClock`],
//! [`TokioSleeper`] and [`RandomJitter`] (the defaults of [`ClientBuilder`](crate::ClientBuilder)).
//! Tests inject the doubles so that token expiry, `Retry-After` waits and backoff can be asserted
//! without wall time.

use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use cxone_replay_domain::time::testing;
pub use cxone_replay_domain::time::{Clock, Jitter, NoJitter, Sleeper};

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Uniformly random jitter from the thread-local generator of `rand`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn fraction(&self) -> f64 {
        rand::random::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_jitter_is_a_fraction() {
        for _ in 0..1000 {
            let f = RandomJitter.fraction();
            assert!((0.0..=1.0).contains(&f), "{f}");
        }
    }
}
