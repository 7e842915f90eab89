//! Time for the engine: the [`Clock`] (audit timestamps, `initiatedAt`, latency, pacing) and the
//! [`Sleeper`] (pacing waits, monitor backoff). The traits are the domain's
//! (`cxone_replay_domain::time`), the same ones the client takes, so one injected clock drives
//! both the client and the engine; [`SystemClock`] and [`TokioSleeper`] come from the client's
//! `runtime` module. [`testing`] has the doubles (a manual clock and a sleeper that advances it).

pub use cxone_eventbridge::runtime::{SystemClock, TokioSleeper};
pub use cxone_replay_domain::time::testing;
pub use cxone_replay_domain::time::{Clock, Sleeper};
