#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod breaker;
mod endpoint;
mod error;
mod excerpt;
mod failure;
mod filter;
mod ids;
mod payload;
mod plan;
mod ratelimit;
mod retry;
mod split;
pub mod time;
mod wire;

pub use audit::{AuditAction, AuditContext, AuditRecord, ReplayStatus, SentOutcome};
pub use breaker::{CircuitBreaker, DEFAULT_STOP_AFTER_FAILURES, StopReason};
pub use endpoint::{
    TransportError, check_credential_url, is_loopback_host, is_secure_transport, redact_userinfo,
    scheme_and_host,
};
pub use error::{DomainError, error_chain};
pub use excerpt::{MAX_MESSAGE_EXCERPT, excerpt};
pub use failure::{Disposition, FailureClass, classify};
pub use filter::EventFilter;
pub use ids::{
    DestinationAllowList, DestinationOverride, IdempotencyKey, KeyScheme, MAX_IDEMPOTENCY_KEY_LEN,
};
pub use payload::{CLIENT_VERSION, ReplayMetadata, ReplayPayload, RetryMatrix, RoutingDirective};
pub use plan::{DEFAULT_BODY_LIMIT, Decision, PlannedReplay, ReplayPolicy, Skip, SkipReason, plan};
pub use ratelimit::{
    Quota, QuotaPolicy, ServiceLimit, Throttling, parse_ratelimit, parse_ratelimit_policy,
};
pub use retry::{RetryBudget, RetryDecision, RetryPolicy, parse_retry_after};
pub use time::{Clock, Jitter, NoJitter, Sleeper};
pub use wire::{
    DlqEvent, DlqPage, EventDefect, PutEventResponse, TokenResponse, UNDECODABLE_EXCERPT,
};
