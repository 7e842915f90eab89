//! The server's time: tokio's clock, anchored once to a wall-clock instant.
//!
//! Token expiry, latency and `processedAt` all read tokio's clock, which is the operating
//! system's monotonic clock in a normal runtime and a virtual one under
//! `tokio::time::pause()`, so a test moves them all with `tokio::time::advance` and never
//! waits. The only wall-clock read is the anchor, taken when the emulator starts.

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

/// Tokio's clock plus the wall-clock instant its origin stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerClock {
    wall_origin: DateTime<Utc>,
    origin: Instant,
}

impl ServerClock {
    /// A clock whose current tokio instant stands for `wall_origin`.
    pub(crate) fn anchored_at(wall_origin: DateTime<Utc>) -> Self {
        ServerClock {
            wall_origin,
            origin: Instant::now(),
        }
    }

    /// Tokio's now.
    pub(crate) fn now(&self) -> Instant {
        Instant::now()
    }

    /// The wall-clock time now: the anchor plus tokio's time elapsed since it.
    pub(crate) fn wall_now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(self.now().saturating_duration_since(self.origin))
            .unwrap_or(TimeDelta::MAX);
        self.wall_origin
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn wall_time_moves_with_tokios_clock_only() {
        let anchor = Utc
            .with_ymd_and_hms(2024, 5, 11, 9, 15, 22)
            .single()
            .expect("valid time");
        let clock = ServerClock::anchored_at(anchor);
        assert_eq!(clock.wall_now(), anchor);
        let before = clock.now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now() - before, Duration::from_millis(1500));
        assert_eq!(clock.wall_now(), anchor + TimeDelta::milliseconds(1500));
    }
}
