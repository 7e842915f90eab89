//! The state every route shares.

use crate::config::EmulatorBuilder;
use crate::data::Dataset;
use crate::faults::FaultPlan;
use crate::json_eq::Numbers;
use crate::ledger::LedgerState;
use crate::limit::{Bucket, RateLimit, Verdict};
use crate::server::clock::ServerClock;
use crate::server::tokens::TokenStore;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, keeping on after a panic in another holder.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated in a way that matters
    // more than losing the emulator; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Settings, seeded data, fault plan, clock, tokens and ledger of one emulator.
pub(crate) struct AppState {
    pub(crate) cfg: EmulatorBuilder,
    pub(crate) data: Dataset,
    pub(crate) faults: FaultPlan,
    pub(crate) clock: ServerClock,
    pub(crate) tokens: TokenStore,
    api_seq: AtomicU64,
    request_seq: AtomicU64,
    /// The status every PUT is answered with after the gate; 0: none.
    put_status: AtomicU16,
    ledger: Mutex<LedgerState>,
    limit: Mutex<Option<Bucket>>,
}

impl AppState {
    /// The state of an emulator serving `data` with the settings `cfg`; `token_nonce` makes its
    /// token texts unlike those of any other emulator.
    pub(crate) fn new(
        cfg: EmulatorBuilder,
        data: Dataset,
        clock: ServerClock,
        token_nonce: u64,
    ) -> Self {
        let limit = cfg.rate_limit.map(|l| Bucket::new(l, clock.now()));
        AppState {
            faults: FaultPlan::from_config(&cfg),
            limit: Mutex::new(limit),
            tokens: TokenStore::new(cfg.seed, token_nonce, cfg.token_ttl, cfg.token_max_uses),
            put_status: AtomicU16::new(cfg.put_status.unwrap_or(0)),
            cfg,
            data,
            clock,
            api_seq: AtomicU64::new(0),
            request_seq: AtomicU64::new(0),
            ledger: Mutex::new(LedgerState::default()),
        }
    }

    /// The ledger, locked.
    pub(crate) fn ledger(&self) -> MutexGuard<'_, LedgerState> {
        lock(&self.ledger)
    }

    /// The next `x-request-id`: `emu-1`, `emu-2`, ...
    pub(crate) fn request_id(&self) -> String {
        format!(
            "emu-{}",
            self.request_seq.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// The number of the next API request, from 0: its key into the fault schedule.
    pub(crate) fn next_api_request(&self) -> u64 {
        self.api_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The rate limit's verdict on an API request arriving now (`None` without a limit).
    pub(crate) fn take_token(&self) -> Option<Verdict> {
        let now = self.clock.now();
        lock(&self.limit).as_mut().map(|b| b.take(now))
    }

    /// Sets (or lifts, with `None`) the rate limit from now on.
    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let now = self.clock.now();
        let mut bucket = lock(&self.limit);
        match (bucket.as_mut(), limit) {
            (Some(b), Some(l)) => b.set(l, now),
            (None, Some(l)) => *bucket = Some(Bucket::new(l, now)),
            (_, None) => *bucket = None,
        }
    }

    /// The status every PUT is answered with after the gate, if one is set.
    pub(crate) fn put_status(&self) -> Option<u16> {
        Some(self.put_status.load(Ordering::Relaxed)).filter(|s| *s != 0)
    }

    /// Sets (or, with `None`, clears) the status every PUT is answered with.
    pub(crate) fn set_put_status(&self, status: Option<u16>) {
        self.put_status
            .store(status.unwrap_or(0), Ordering::Relaxed);
    }

    /// How `originalPayload` numbers are compared with the DLQ payload's.
    pub(crate) fn payload_numbers(&self) -> Numbers {
        if self.cfg.strict_payload {
            Numbers::ByText
        } else {
            Numbers::ByValue
        }
    }
}
