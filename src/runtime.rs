//! Time for the engine: the client's [`Clock`] (audit timestamps, `initiatedAt`, latency,
//! pacing) and [`Sleeper`] (pacing waits, monitor backoff), re-exported so one injected clock
//! drives both the client and the engine. [`testing`] has the doubles (a manual clock and a
//! sleeper that advances it).

pub use cxone_eventbridge::runtime::testing;
pub use cxone_eventbridge::runtime::{Clock, Sleeper, SystemClock, TokioSleeper};
