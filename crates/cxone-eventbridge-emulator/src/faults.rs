//! Deterministic fault decisions.
//!
//! Every API request takes the next number `n` of a per-emulator counter; what happens to it is a
//! pure function of `(seed, n)` (a splitmix64 hash), so the same seed and the same sequence of
//! requests give the same faults. Under concurrency which request gets which number depends on
//! arrival order, but the schedule itself does not change.

use crate::config::EmulatorBuilder;
use std::time::Duration;

/// What the emulator does to one API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve it normally.
    None,
    /// Answer 429 with `Retry-After` in seconds.
    RateLimited {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// Close the connection without any response.
    Drop,
    /// Answer this 5xx status.
    ServerError(u16),
}

/// The fault settings, copied out of the builder.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    seed: u64,
    latency_fixed: Duration,
    latency_jitter: Duration,
    fail_5xx: f64,
    rate_limit_every: u64,
    retry_after_secs: u64,
    drop_fraction: f64,
}

/// splitmix64 finaliser.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform fraction in `[0, 1)` for request `n`, stream `lane`.
fn unit(seed: u64, n: u64, lane: u64) -> f64 {
    let h = mix(mix(seed ^ lane.wrapping_mul(0xD6E8_FEB8_6659_FD93)) ^ n);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl FaultPlan {
    pub(crate) fn from_config(cfg: &EmulatorBuilder) -> Self {
        FaultPlan {
            seed: cfg.seed,
            latency_fixed: cfg.latency_fixed,
            latency_jitter: cfg.latency_jitter,
            fail_5xx: cfg.fail_5xx,
            rate_limit_every: cfg.rate_limit_every,
            retry_after_secs: cfg.retry_after_secs,
            drop_fraction: cfg.drop_fraction,
        }
    }

    /// Whether any delay or fault can happen at all.
    pub fn is_quiet(&self) -> bool {
        self.latency_fixed.is_zero()
            && self.latency_jitter.is_zero()
            && self.fail_5xx == 0.0
            && self.rate_limit_every == 0
            && self.drop_fraction == 0.0
    }

    /// The latency added to request `n`.
    pub fn latency(&self, n: u64) -> Duration {
        self.latency_fixed + self.latency_jitter.mul_f64(unit(self.seed, n, 1))
    }

    /// The fault of request `n` (numbered from 0): a 429 every `k`-th request first, then a
    /// dropped connection, then a 5xx, each from its own seeded draw.
    pub fn fault(&self, n: u64) -> Fault {
        if self.rate_limit_every > 0 && (n + 1).is_multiple_of(self.rate_limit_every) {
            return Fault::RateLimited {
                retry_after_secs: self.retry_after_secs,
            };
        }
        if unit(self.seed, n, 2) < self.drop_fraction {
            return Fault::Drop;
        }
        if unit(self.seed, n, 3) < self.fail_5xx {
            let statuses = [500, 502, 503, 504];
            let i = (mix(self.seed ^ n ^ 0xA5A5) % 4) as usize;
            return Fault::ServerError(statuses[i]);
        }
        Fault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;

    #[test]
    fn same_seed_same_schedule() {
        let cfg = Emulator::builder()
            .fail_5xx(0.3)
            .drop_fraction(0.1)
            .rate_limit_every(7, 2);
        let a = FaultPlan::from_config(&cfg.clone().seed(1));
        let b = FaultPlan::from_config(&cfg.clone().seed(1));
        let c = FaultPlan::from_config(&cfg.seed(2));
        let run = |p: &FaultPlan| (0..500).map(|n| p.fault(n)).collect::<Vec<_>>();
        assert_eq!(run(&a), run(&b));
        assert_ne!(run(&a), run(&c));
    }

    #[test]
    fn fractions_are_roughly_respected() {
        let p = FaultPlan::from_config(&Emulator::builder().fail_5xx(0.2).seed(9));
        let n = 10_000;
        let errors = (0..n)
            .filter(|i| matches!(p.fault(*i), Fault::ServerError(_)))
            .count();
        assert!((1700..2300).contains(&errors), "{errors}");
        let statuses: std::collections::BTreeSet<_> = (0..n)
            .filter_map(|i| match p.fault(i) {
                Fault::ServerError(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(
            statuses.into_iter().collect::<Vec<_>>(),
            vec![500, 502, 503, 504]
        );
    }

    #[test]
    fn rate_limit_hits_every_kth_request() {
        let p = FaultPlan::from_config(&Emulator::builder().rate_limit_every(4, 3));
        let hits: Vec<u64> = (0..12)
            .filter(|n| {
                p.fault(*n)
                    == Fault::RateLimited {
                        retry_after_secs: 3,
                    }
            })
            .collect();
        assert_eq!(hits, vec![3, 7, 11]);
    }

    #[test]
    fn latency_stays_within_fixed_plus_jitter() {
        let p = FaultPlan::from_config(
            &Emulator::builder().latency(Duration::from_millis(10), Duration::from_millis(5)),
        );
        for n in 0..1000 {
            let l = p.latency(n);
            assert!(l >= Duration::from_millis(10) && l < Duration::from_millis(15));
        }
        assert!(!p.is_quiet());
        assert!(FaultPlan::from_config(&Emulator::builder()).is_quiet());
    }
}
