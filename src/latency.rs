//! Send latencies: the one histogram behind a run's [`LatencySummary`] and an audit report's
//! latency chart ([`LatencyBucket`]s).

use crate::summary::LatencySummary;
use cxone_replay_domain::{AuditAction, AuditRecord};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Whether `rec` is a send whose latency counts: a PUT that made at least one request (not
/// one abandoned at cancellation before its first request).
pub(crate) fn is_measured_send(rec: &AuditRecord) -> bool {
    matches!(rec.action, AuditAction::ReplayPut) && rec.http_attempts > 0
}

/// Buckets per decade of the latency histogram: edges at `10^(k/10)` microseconds, so each
/// bucket is about 26% wider than the one before.
const BUCKETS_PER_DECADE: f64 = 10.0;

/// One bar of a latency histogram: the sends whose latency `l` is `from_ms <= l < to_ms`
/// (to the histogram's precision: 3 significant figures). The JSON names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyBucket {
    /// The bucket's lower edge, in milliseconds.
    pub from_ms: f64,
    /// The bucket's upper edge (excluded), in milliseconds.
    pub to_ms: f64,
    /// Sends in the bucket.
    pub count: u64,
}

/// Latencies in microseconds, from 1 µs to 1 h at 3 significant figures (a fixed 10 KiB or
/// so, whatever the number of sends); longer ones count as 1 h.
#[derive(Debug, Clone)]
pub(crate) struct Latency {
    hist: Option<Histogram<u64>>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            // `new_with_bounds` only fails on bad bounds.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).ok(),
        }
    }
}

impl Latency {
    /// Records one latency.
    pub(crate) fn record_ms(&mut self, ms: f64) {
        if let Some(h) = self.hist.as_mut() {
            let us = (ms * 1000.0).round().max(1.0) as u64;
            h.saturating_record(us);
        }
    }

    /// How many latencies were recorded.
    pub(crate) fn len(&self) -> u64 {
        self.hist.as_ref().map_or(0, Histogram::len)
    }

    /// p50, p95, p99 and the maximum, in milliseconds (all 0 when none was recorded).
    pub(crate) fn summary(&self) -> LatencySummary {
        let Some(h) = self.hist.as_ref().filter(|h| !h.is_empty()) else {
            return LatencySummary::default();
        };
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }

    /// The histogram in logarithmic buckets (ten per decade), from the lowest bucket with a
    /// latency to the highest, empty buckets between them included; none when nothing was
    /// recorded.
    pub(crate) fn buckets(&self) -> Vec<LatencyBucket> {
        let Some(h) = self.hist.as_ref().filter(|h| !h.is_empty()) else {
            return Vec::new();
        };
        // k of the bucket holding `us`: floor(10 * log10(us)), nudged so that an exact edge
        // (1000 µs) lands in the bucket it starts.
        let index = |us: u64| (BUCKETS_PER_DECADE * (us.max(1) as f64).log10() + 1e-9).floor();
        let mut counts: Vec<(i64, u64)> = Vec::new();
        for v in h.iter_recorded() {
            let k = index(h.median_equivalent(v.value_iterated_to())) as i64;
            match counts.last_mut() {
                Some((last, n)) if *last == k => *n += v.count_at_value(),
                _ => counts.push((k, v.count_at_value())),
            }
        }
        let (Some(&(lo, _)), Some(&(hi, _))) = (counts.first(), counts.last()) else {
            return Vec::new();
        };
        let edge_ms = |k: i64| round3(10f64.powf(k as f64 / BUCKETS_PER_DECADE) / 1000.0);
        let mut out: Vec<LatencyBucket> = (lo..=hi)
            .map(|k| LatencyBucket {
                from_ms: edge_ms(k),
                to_ms: edge_ms(k + 1),
                count: 0,
            })
            .collect();
        for (k, n) in counts {
            if let Ok(i) = usize::try_from(k - lo) {
                out[i].count += n;
            }
        }
        out
    }
}

/// `x` to 3 significant figures (edges print as 1.26 ms, not 1.2589254117941673 ms).
fn round3(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(2 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_buckets() {
        let mut l = Latency::default();
        assert_eq!(l.summary(), LatencySummary::default());
        assert!(l.buckets().is_empty());
        for i in 1..=100 {
            l.record_ms(f64::from(i));
        }
        assert_eq!(l.len(), 100);
        let s = l.summary();
        assert!((s.p50 - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99 - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max - 100.0).abs() < 0.1, "{s:?}");
        let b = l.buckets();
        // 1 ms .. 100 ms is two decades: buckets k = 30 ..= 50
        assert_eq!(b.len(), 21, "{b:?}");
        assert_eq!(b[0].from_ms, 1.0);
        assert_eq!(b[0].to_ms, 1.26);
        assert_eq!(b[20].from_ms, 100.0);
        assert_eq!(
            b.iter().map(|b| b.count).sum::<u64>(),
            100,
            "every send counted"
        );
        // [1, 1.26): 1 ms only; [100, 126): 100 ms only; edges are contiguous
        assert_eq!((b[0].count, b[20].count), (1, 1));
        assert!(b.windows(2).all(|w| w[0].to_ms == w[1].from_ms));
        // [10, 12.6) ms holds 10, 11 and 12
        let ten = b.iter().find(|b| b.from_ms == 10.0).unwrap();
        assert_eq!(ten.count, 3);
    }

    #[test]
    fn gaps_are_empty_buckets_and_huge_values_saturate() {
        let mut l = Latency::default();
        l.record_ms(1.0);
        l.record_ms(1000.0);
        l.record_ms(1e12);
        let b = l.buckets();
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 3);
        assert_eq!(b[0].from_ms, 1.0);
        // 1 h is the last bucket (3.6e6 ms lies in [3.16e6, 3.98e6))
        assert!(b.last().unwrap().from_ms <= 3.6e6 && b.last().unwrap().to_ms > 3.6e6);
        assert!(b.iter().filter(|b| b.count == 0).count() > 50);
    }

    #[test]
    fn rounding() {
        assert_eq!(round3(1.258_925), 1.26);
        assert_eq!(round3(0.012_589), 0.0126);
        assert_eq!(round3(3_162_277.66), 3_160_000.0);
    }
}
