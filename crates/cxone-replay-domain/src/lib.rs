//! The pure domain of CXone EventBridge dead-letter-queue replay.
//!
//! Everything that decides, nothing that does: the wire model of the API contract, the replay
//! payload and its idempotency key, the replay policy and event filter, the per-event
//! [`plan`], failure classes and retry decisions, and the audit record. No I/O, no async, no
//! clock reads, no randomness: the current time and the jitter fraction come in as arguments, so
//! every decision is a plain function and its tests are tables.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use cxone_replay_domain::{plan, Decision, DlqPage, EventFilter, ReplayPolicy, SkipReason};
//!
//! let page = DlqPage::from_slice(br#"{"events":[
//!     {"eventId":"e1","topicId":"t","payload":{"type":"conversation:start"},"retryCount":1},
//!     {"eventId":"e2","topicId":"t","payload":{"type":"conversation:end"},"retryCount":5}
//! ]}"#).unwrap();
//! let now = Utc.with_ymd_and_hms(2024, 5, 11, 9, 0, 0).unwrap();
//! let policy = ReplayPolicy::default(); // at most 5 attempts
//! let filter = EventFilter::default();
//!
//! let decisions: Vec<_> = page.events.iter().map(|e| plan(e, &policy, &filter, now)).collect();
//! assert!(matches!(&decisions[0], Decision::Replay(r) if r.idempotency_key().as_str() == "replay-e1-v2"));
//! assert!(matches!(&decisions[1], Decision::Skip(s) if s.reason == SkipReason::RetryWindowExceeded));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod endpoint;
mod error;
mod failure;
mod filter;
mod ids;
mod payload;
mod plan;
mod retry;
pub mod time;
mod wire;

pub use audit::{AuditAction, AuditContext, AuditRecord, ReplayStatus, SentOutcome};
pub use endpoint::{
    TransportError, check_credential_url, is_loopback_host, is_secure_transport, redact_userinfo,
};
pub use error::DomainError;
pub use failure::{Disposition, FailureClass, classify};
pub use filter::EventFilter;
pub use ids::{DestinationAllowList, DestinationOverride, IdempotencyKey, MAX_IDEMPOTENCY_KEY_LEN};
pub use payload::{CLIENT_VERSION, ReplayMetadata, ReplayPayload, RetryMatrix, RoutingDirective};
pub use plan::{DEFAULT_BODY_LIMIT, Decision, PlannedReplay, ReplayPolicy, Skip, SkipReason, plan};
pub use retry::{RetryBudget, RetryDecision, RetryPolicy, parse_retry_after};
pub use time::{Clock, Jitter, NoJitter, Sleeper};
pub use wire::{DlqEvent, DlqPage, EventDefect, PutEventResponse, TokenResponse};
