//! [`Timeline`]: records over time in a bounded number of bins, whatever the log's length.
//!
//! Bins start one second wide. They are aligned on multiples of their width since the Unix
//! epoch, so when a record would need more than the cap of bins, pairs of neighbours (bins
//! `2k` and `2k + 1`) merge into one bin twice as wide, until the span fits: the counts are
//! kept whole, and the bins stay between half the cap and the cap once the log is longer than
//! the cap in seconds. Memory is the cap's, whatever the number of records; a record far away
//! in time (a clock that jumped) widens the bins at once rather than allocating the gap.

use crate::summary::StatusCounts;
use chrono::{DateTime, Utc};
use cxone_replay_domain::ReplayStatus;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The records of one bin, by status. The JSON names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TimeBin {
    /// The bin's start (it ends where the next starts: `start + bin_seconds`).
    pub start: DateTime<Utc>,
    /// Records with a timestamp in `[start, start + bin_seconds)`, by status.
    pub counts: StatusCounts,
}

/// Records over time: consecutive bins of `bin_seconds` each, from the bin of the first record
/// to that of the last (empty bins between them included). The JSON names are stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Timeline {
    /// The width of every bin, in seconds: 1, or a power of two when the log was too long for
    /// one-second bins.
    pub bin_seconds: u64,
    /// The bins, oldest first.
    pub bins: Vec<TimeBin>,
}

/// Builds a [`Timeline`] one record at a time.
#[derive(Debug, Clone)]
pub(super) struct Bins {
    cap: usize,
    /// Bin width in seconds (a power of two).
    width: i64,
    /// Index of `bins[0]`: its start is `first * width` seconds since the epoch.
    first: i64,
    bins: VecDeque<StatusCounts>,
}

impl Bins {
    /// No bins yet, at most `cap` of them (`cap >= 2`, which the caller checks).
    pub(super) fn new(cap: usize) -> Self {
        Bins {
            cap: cap.max(2),
            width: 1,
            first: 0,
            bins: VecDeque::new(),
        }
    }

    /// Counts a record of `status` at `at`.
    pub(super) fn add(&mut self, at: DateTime<Utc>, status: ReplayStatus) {
        let secs = at.timestamp();
        if self.bins.is_empty() {
            self.first = secs.div_euclid(self.width);
            self.bins.push_back(StatusCounts::default());
        }
        let last = self.first + self.len() - 1;
        // the span in seconds to cover, then as few merges as make it fit
        let lo = (self.first * self.width).min(secs);
        let hi = (last * self.width).max(secs);
        while hi.div_euclid(self.width) - lo.div_euclid(self.width) + 1 > self.cap_i64() {
            self.merge();
        }
        let i = secs.div_euclid(self.width);
        while i < self.first {
            self.bins.push_front(StatusCounts::default());
            self.first -= 1;
        }
        while i >= self.first + self.len() {
            self.bins.push_back(StatusCounts::default());
        }
        let k = usize::try_from(i - self.first).unwrap_or(0);
        self.bins[k].add(status);
    }

    fn len(&self) -> i64 {
        i64::try_from(self.bins.len()).unwrap_or(i64::MAX)
    }

    fn cap_i64(&self) -> i64 {
        i64::try_from(self.cap).unwrap_or(i64::MAX)
    }

    /// Doubles the width: bins `2k` and `2k + 1` become bin `k`.
    fn merge(&mut self) {
        let first = self.first.div_euclid(2);
        let mut merged: VecDeque<StatusCounts> = VecDeque::with_capacity(self.bins.len() / 2 + 1);
        for (j, c) in self.bins.drain(..).enumerate() {
            let k = (self.first + j as i64).div_euclid(2) - first;
            if usize::try_from(k).is_ok_and(|k| k < merged.len()) {
                if let Some(m) = merged.back_mut() {
                    m.merge(&c);
                }
            } else {
                merged.push_back(c);
            }
        }
        self.bins = merged;
        self.first = first;
        self.width = self.width.saturating_mul(2);
    }

    /// The timeline so far.
    pub(super) fn timeline(&self) -> Timeline {
        let start = |i: i64| {
            DateTime::<Utc>::from_timestamp(i.saturating_mul(self.width), 0).unwrap_or_default()
        };
        Timeline {
            bin_seconds: self.width.unsigned_abs(),
            bins: self
                .bins
                .iter()
                .enumerate()
                .map(|(j, c)| TimeBin {
                    start: start(self.first + j as i64),
                    counts: *c,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_700_000_000; // an even second: bins of 2, 4, 8 s start on it

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(secs, 500_000_000).unwrap()
    }

    fn total(t: &Timeline) -> u64 {
        t.bins.iter().map(|b| b.counts.total()).sum()
    }

    #[test]
    fn one_second_bins_until_the_cap_then_pairs_merge() {
        let mut b = Bins::new(4);
        for s in 0..4 {
            b.add(at(T0 + s), ReplayStatus::Success);
        }
        b.add(at(T0 + 3), ReplayStatus::Failed);
        let t = b.timeline();
        assert_eq!(t.bin_seconds, 1);
        assert_eq!(t.bins.len(), 4);
        assert_eq!(
            t.bins[0].start,
            at(T0) - chrono::Duration::milliseconds(500)
        );
        assert_eq!(t.bins[3].counts.failed, 1);
        // a fifth second: 2-second bins [0,1] [2,3] [4,5]
        b.add(at(T0 + 4), ReplayStatus::Skipped);
        let t = b.timeline();
        assert_eq!(t.bin_seconds, 2);
        assert_eq!(t.bins.len(), 3);
        assert_eq!(
            t.bins.iter().map(|b| b.counts.total()).collect::<Vec<_>>(),
            [2, 3, 1]
        );
        assert_eq!((t.bins[1].counts.success, t.bins[1].counts.failed), (2, 1));
        assert_eq!(t.bins[2].start.timestamp(), T0 + 4);
        assert_eq!(total(&t), 6);
    }

    #[test]
    fn earlier_records_extend_the_front_and_gaps_are_empty_bins() {
        let mut b = Bins::new(100);
        b.add(at(T0 + 10), ReplayStatus::Success);
        b.add(at(T0 + 5), ReplayStatus::DryRun);
        let t = b.timeline();
        assert_eq!(t.bins.len(), 6);
        assert_eq!(t.bins[0].start.timestamp(), T0 + 5);
        assert_eq!(t.bins[0].counts.dry_run, 1);
        assert!(t.bins[1..5].iter().all(|b| b.counts.total() == 0));
    }

    #[test]
    fn a_far_record_widens_the_bins_without_allocating_the_gap() {
        let mut b = Bins::new(8);
        b.add(at(T0), ReplayStatus::Success);
        // ten years later
        b.add(at(T0 + 315_360_000), ReplayStatus::Failed);
        let t = b.timeline();
        assert!(t.bins.len() <= 8, "{}", t.bins.len());
        assert!(t.bin_seconds.is_power_of_two());
        assert!(t.bin_seconds >= 315_360_000 / 8);
        assert_eq!(total(&t), 2);
        assert_eq!(t.bins[0].counts.success, 1);
        assert_eq!(t.bins.last().unwrap().counts.failed, 1);
        // a timestamp before the epoch, too
        b.add(at(-5), ReplayStatus::Skipped);
        let t = b.timeline();
        assert!(t.bins.len() <= 8);
        assert_eq!(total(&t), 3);
        assert_eq!(t.bins[0].counts.skipped, 1);
    }

    proptest! {
        /// Whatever the timestamps and their order: at most `cap` contiguous bins of one
        /// power-of-two width, aligned on it, each record in the bin that holds its time.
        #[test]
        fn bins_stay_bounded_and_keep_every_record(
            cap in 2usize..40,
            times in proptest::collection::vec(-100_000i64..100_000, 1..300),
        ) {
            let mut b = Bins::new(cap);
            for s in &times {
                b.add(at(T0 + s), ReplayStatus::Success);
            }
            let t = b.timeline();
            prop_assert!(t.bins.len() <= cap);
            prop_assert!(t.bin_seconds.is_power_of_two());
            prop_assert_eq!(total(&t), times.len() as u64);
            let w = i64::try_from(t.bin_seconds).unwrap();
            for pair in t.bins.windows(2) {
                prop_assert_eq!(pair[1].start.timestamp() - pair[0].start.timestamp(), w);
            }
            prop_assert_eq!(t.bins[0].start.timestamp().rem_euclid(w), 0);
            let first = t.bins[0].start.timestamp();
            for s in &times {
                let k = (T0 + s - first).div_euclid(w);
                prop_assert!(k >= 0 && (k as usize) < t.bins.len());
                prop_assert!(t.bins[k as usize].counts.success > 0);
            }
            // no coarser than needed: one width less would not have fitted
            if w > 1 {
                let (lo, hi) = (times.iter().min().unwrap() + T0, times.iter().max().unwrap() + T0);
                let half = w / 2;
                prop_assert!(hi.div_euclid(half) - lo.div_euclid(half) + 1 > cap as i64);
            }
        }
    }
}
