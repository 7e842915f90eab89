//! What the emulator saw: the ledger.

use crate::config::{VIOLATIONS_KEEP, WEBHOOK_KEEP};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// A snapshot of everything the emulator counted, as served by `GET /__emulator/ledger`.
///
/// Counts are exact under concurrency: every update happens under one lock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Ledger {
    /// 201s sent, per `eventId`.
    pub accepted: BTreeMap<String, u64>,
    /// 201s sent, per idempotency key (each key is accepted at most once).
    pub accepted_keys: BTreeMap<String, u64>,
    /// 409s sent: a PUT whose idempotency key was accepted before.
    pub duplicates: u64,
    /// Error statuses sent by `/oauth2/token` and the API routes, injected faults included;
    /// 409s are counted in `duplicates`, not here.
    pub rejections: BTreeMap<u16, u64>,
    /// Requests received per route, e.g. `"PUT /api/v2/eventbridge/topics/{topicId}/events"`
    /// (`GET /__emulator/ledger` is not counted).
    pub requests: BTreeMap<String, u64>,
    /// Contract violations by clients (bad headers, schema problems, a payload that differs
    /// from the DLQ's, an unknown event, an oversize body...), oldest first; the first 10,000
    /// are kept, `violations_total` counts all.
    pub violations: Vec<String>,
    /// How many violations were seen in all.
    #[serde(default)]
    pub violations_total: u64,
    /// PUTs (answered 201 or 409) whose `originalPayload` was equal as JSON to the DLQ payload
    /// but not the same bytes: whitespace, member order, string escapes or, unless
    /// `strict_payload` is set, numbers written differently. A client that keeps the payload's
    /// bytes, as the goal is, leaves this at 0. (Read from older snapshots' field
    /// `non_byte_identical_payloads`.)
    #[serde(default, alias = "non_byte_identical_payloads")]
    pub altered_payloads: u64,
    /// Monitoring callbacks received at `POST /__emulator/webhook`.
    pub webhooks: u64,
    /// The last 1,000 webhook bodies (as JSON; a body that is not JSON is kept as a string).
    pub webhook_bodies: Vec<serde_json::Value>,
    /// The last 1,000 webhook callbacks with the headers needed to verify a Standard Webhooks
    /// signature and the exact body text.
    #[serde(default)]
    pub webhook_deliveries: Vec<WebhookDelivery>,
    /// Token requests received (good or bad).
    pub token_requests: u64,
    /// Tokens issued.
    #[serde(default)]
    pub tokens_issued: u64,
    /// API requests whose connection was closed without a response (injected).
    #[serde(default)]
    pub dropped: u64,
    /// `429`s sent because the rate limit's bucket was empty (also counted in `rejections`;
    /// the injected `rate_limit_every` 429s are not counted here).
    #[serde(default)]
    pub rate_limited: u64,
    /// The highest number of PUTs in progress at once.
    pub max_in_flight: u64,
    /// PUTs in progress when the snapshot was taken.
    #[serde(default)]
    pub in_flight: u64,
}

/// One monitoring callback as received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// The `webhook-id` header, if any.
    pub webhook_id: Option<String>,
    /// The `webhook-timestamp` header, if any.
    pub webhook_timestamp: Option<String>,
    /// The `webhook-signature` header, if any.
    pub webhook_signature: Option<String>,
    /// The `content-type` header, if any.
    pub content_type: Option<String>,
    /// The body exactly as received (lossy UTF-8).
    pub body: String,
}

impl Ledger {
    /// Total 201s.
    #[must_use]
    pub fn accepted_total(&self) -> u64 {
        self.accepted.values().sum()
    }

    /// Total error statuses (409s excluded, see [`Ledger::rejections`]).
    #[must_use]
    pub fn rejections_total(&self) -> u64 {
        self.rejections.values().sum()
    }

    /// Requests received on one route (0 if none).
    #[must_use]
    pub fn requests_on(&self, route: &str) -> u64 {
        self.requests.get(route).copied().unwrap_or(0)
    }
}

/// The mutable state behind the ledger.
#[derive(Debug, Default)]
pub(crate) struct LedgerState {
    pub ledger: Ledger,
    pub in_flight: u64,
    pub webhook_bodies: VecDeque<serde_json::Value>,
    pub webhook_deliveries: VecDeque<WebhookDelivery>,
}

impl LedgerState {
    pub fn snapshot(&self) -> Ledger {
        let mut l = self.ledger.clone();
        l.webhook_bodies = self.webhook_bodies.iter().cloned().collect();
        l.webhook_deliveries = self.webhook_deliveries.iter().cloned().collect();
        l.in_flight = self.in_flight;
        l
    }

    pub fn request(&mut self, route: &str) {
        *self.ledger.requests.entry(route.to_string()).or_default() += 1;
    }

    pub fn reject(&mut self, status: u16) {
        *self.ledger.rejections.entry(status).or_default() += 1;
    }

    pub fn violation(&mut self, what: String) {
        self.ledger.violations_total += 1;
        if self.ledger.violations.len() < VIOLATIONS_KEEP {
            self.ledger.violations.push(what);
        }
    }

    pub fn webhook(&mut self, body: serde_json::Value, delivery: WebhookDelivery) {
        self.ledger.webhooks += 1;
        if self.webhook_bodies.len() == WEBHOOK_KEEP {
            self.webhook_bodies.pop_front();
        }
        self.webhook_bodies.push_back(body);
        if self.webhook_deliveries.len() == WEBHOOK_KEEP {
            self.webhook_deliveries.pop_front();
        }
        self.webhook_deliveries.push_back(delivery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_with_numeric_status_keys() {
        let mut s = LedgerState::default();
        s.reject(401);
        s.reject(401);
        s.request("GET /x");
        s.violation("bad".into());
        s.webhook(serde_json::json!({"a":1}), WebhookDelivery::default());
        let l = s.snapshot();
        let text = serde_json::to_string(&l).expect("serializes");
        assert!(text.contains("\"401\":2"), "{text}");
        let back: Ledger = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, l);
        assert_eq!(back.rejections_total(), 2);
        assert_eq!(back.requests_on("GET /x"), 1);
    }

    #[test]
    fn webhooks_are_bounded_but_counted() {
        let mut s = LedgerState::default();
        for i in 0..(WEBHOOK_KEEP + 5) {
            s.webhook(serde_json::json!(i), WebhookDelivery::default());
        }
        let l = s.snapshot();
        assert_eq!(l.webhooks, (WEBHOOK_KEEP + 5) as u64);
        assert_eq!(l.webhook_bodies.len(), WEBHOOK_KEEP);
        assert_eq!(l.webhook_bodies[0], serde_json::json!(5));
        assert_eq!(l.webhook_deliveries.len(), WEBHOOK_KEEP);
    }
}
