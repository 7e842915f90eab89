//! The loop itself, on the injected sleeper and jitter: every wait is recorded, none is real.

use super::*;
use cxone_replay_domain::Disposition;
use cxone_replay_domain::time::testing::{FixedJitter, RecordingSleeper};
use proptest::prelude::*;
use std::future::{Ready, ready};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// One scripted attempt: fail with a class (and maybe a `Retry-After`), or succeed.
#[derive(Debug, Clone, Copy)]
enum Step {
    Fail(FailureClass, Option<Duration>),
    Held(FailureClass, Duration),
    Ok,
}
use Step::*;

/// A run of the loop over `steps` (the last step repeats); the error is the attempt number.
struct Run {
    result: Result<&'static str, Stopped<u32>>,
    calls: Vec<u32>,
    sleeps: Vec<Duration>,
}

async fn run<H: RetryHooks<u32>>(
    policy: RetryPolicy,
    jitter: f64,
    steps: &[Step],
    hooks: &mut H,
) -> Run {
    let sleeper = RecordingSleeper::new();
    let mut calls = Vec::new();
    let result = retry_loop(
        |attempt: u32| -> Ready<Attempt<&'static str, u32>> {
            calls.push(attempt);
            let i = usize::try_from(attempt - 1).unwrap().min(steps.len() - 1);
            ready(match steps[i] {
                Fail(class, after) => {
                    Attempt::Failed(Failure::new(class, attempt).with_retry_after(after))
                }
                Held(class, after) => Attempt::Failed(
                    Failure::new(class, attempt)
                        .with_retry_after(Some(after))
                        .caller_waits(),
                ),
                Ok => Attempt::Done("done"),
            })
        },
        &sleeper,
        &FixedJitter(jitter),
        &policy,
        hooks,
    )
    .await;
    Run {
        result,
        calls,
        sleeps: sleeper.sleeps(),
    }
}

fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts, MS(200), Duration::from_secs(20)).unwrap()
}

/// Hooks that answer 401s from a script and may refuse retries; they record every question.
#[derive(Default)]
struct Scripted {
    refreshes: Vec<AuthRefresh>,
    refresh_asked_for: Vec<u32>,
    refuse_retries: bool,
    retry_asked: Vec<(FailureClass, u32, Duration)>,
}

impl RetryHooks<u32> for Scripted {
    fn refresh_auth(&mut self, failed: &u32) -> AuthRefresh {
        self.refresh_asked_for.push(*failed);
        if self.refreshes.is_empty() {
            AuthRefresh::Unavailable
        } else {
            self.refreshes.remove(0)
        }
    }

    fn allow_retry(&mut self, class: FailureClass, attempt: u32, delay: Duration) -> bool {
        self.retry_asked.push((class, attempt, delay));
        !self.refuse_retries
    }
}

#[tokio::test]
async fn backoff_sleeps_follow_the_policy_with_the_injected_jitter() {
    let steps = [
        Fail(FailureClass::ServerTransient, None),
        Fail(FailureClass::Network, None),
        Fail(FailureClass::Timeout, None),
        Ok,
    ];
    let r = run(policy(5), 0.5, &steps, &mut NoHooks).await;
    assert_eq!(r.result.unwrap(), "done");
    assert_eq!(r.calls, [1, 2, 3, 4]);
    // Full jitter at 0.5 of 200 ms, 400 ms, 800 ms.
    assert_eq!(r.sleeps, [MS(100), MS(200), MS(400)]);
    // Another fraction, other sleeps: the jitter is the injected one.
    let r = run(policy(5), 0.25, &steps, &mut NoHooks).await;
    assert_eq!(r.sleeps, [MS(50), MS(100), MS(200)]);
}

#[tokio::test]
async fn stops_at_max_attempts_with_the_last_class() {
    let r = run(
        policy(3),
        1.0,
        &[Fail(FailureClass::Network, None)],
        &mut NoHooks,
    )
    .await;
    let stopped = r.result.unwrap_err();
    assert_eq!(stopped.reason, StopReason::AttemptsExhausted);
    assert_eq!(stopped.class, FailureClass::Network);
    assert_eq!(stopped.attempts, 3);
    assert_eq!(stopped.error, 3, "the last attempt's failure is returned");
    assert_eq!(r.calls, [1, 2, 3]);
    assert_eq!(
        r.sleeps,
        [MS(200), MS(400)],
        "no sleep after the last attempt"
    );
}

#[tokio::test]
async fn retry_after_replaces_the_backoff_and_is_capped() {
    let p = policy(5).with_retry_after_cap(Duration::from_secs(5));
    let steps = [
        Fail(FailureClass::RateLimited, Some(Duration::from_secs(2))),
        Fail(FailureClass::RateLimited, Some(Duration::from_secs(600))),
        Fail(FailureClass::ServerTransient, Some(Duration::from_secs(3))),
        Fail(FailureClass::RateLimited, None),
        Ok,
    ];
    let r = run(p, 0.5, &steps, &mut NoHooks).await;
    assert_eq!(r.result.unwrap(), "done");
    assert_eq!(
        r.sleeps,
        [
            Duration::from_secs(2),
            Duration::from_secs(5),
            Duration::from_secs(3),
            MS(800), // no Retry-After: 0.5 × 200 ms × 2³
        ]
    );
}

#[tokio::test]
async fn a_wait_the_caller_does_itself_is_not_slept_again() {
    let steps = [
        Held(FailureClass::RateLimited, Duration::from_secs(7)),
        Fail(FailureClass::ServerTransient, None),
        Ok,
    ];
    let mut hooks = Scripted::default();
    let r = run(policy(5), 1.0, &steps, &mut hooks).await;
    assert_eq!(r.result.unwrap(), "done");
    assert_eq!(r.calls, [1, 2, 3]);
    assert_eq!(
        r.sleeps,
        [MS(400)],
        "only the backoff of attempt 2 is slept"
    );
    // The held retry still counted as a retry (a budget sees it).
    assert_eq!(
        hooks.retry_asked,
        [
            (FailureClass::RateLimited, 1, Duration::from_secs(7)),
            (FailureClass::ServerTransient, 2, MS(400)),
        ]
    );
}

#[tokio::test]
async fn a_failure_that_is_not_retryable_stops_at_once() {
    for class in FailureClass::ALL {
        if class.disposition() != Disposition::Permanent {
            continue;
        }
        let mut hooks = Scripted::default();
        let r = run(policy(5), 1.0, &[Fail(class, Some(MS(5))), Ok], &mut hooks).await;
        let stopped = r.result.unwrap_err();
        assert_eq!(stopped.reason, StopReason::Permanent, "{class}");
        assert_eq!(stopped.class, class);
        assert_eq!(stopped.attempts, 1, "{class}");
        assert_eq!(r.calls, [1], "{class}");
        assert!(r.sleeps.is_empty(), "{class}: {:?}", r.sleeps);
        assert!(hooks.retry_asked.is_empty() && hooks.refresh_asked_for.is_empty());
    }
}

#[tokio::test]
async fn a_409_stops_as_already_delivered() {
    let r = run(
        policy(5),
        1.0,
        &[Fail(FailureClass::DuplicateDetected, None), Ok],
        &mut NoHooks,
    )
    .await;
    let stopped = r.result.unwrap_err();
    assert_eq!(stopped.reason, StopReason::AlreadyDelivered);
    assert_eq!(stopped.attempts, 1);
    assert!(r.sleeps.is_empty());
}

#[tokio::test]
async fn a_401_without_credentials_to_refresh_is_final() {
    let r = run(
        policy(5),
        1.0,
        &[Fail(FailureClass::Unauthorized, None), Ok],
        &mut NoHooks,
    )
    .await;
    let stopped = r.result.unwrap_err();
    assert_eq!(stopped.reason, StopReason::Permanent);
    assert_eq!(stopped.class, FailureClass::Unauthorized);
    assert_eq!(r.calls, [1]);
}

#[tokio::test]
async fn a_401_refreshes_once_at_once_then_stops() {
    // Refreshed, then the retry succeeds.
    let mut hooks = Scripted {
        refreshes: vec![AuthRefresh::Refreshed],
        ..Scripted::default()
    };
    let steps = [Fail(FailureClass::Unauthorized, None), Ok];
    let r = run(policy(5), 1.0, &steps, &mut hooks).await;
    assert_eq!(r.result.unwrap(), "done");
    assert_eq!(hooks.refresh_asked_for, [1]);
    assert!(r.sleeps.is_empty(), "a refresh retries without waiting");
    // Refreshed, and the fresh credentials are refused too: stop, no second refresh.
    let mut hooks = Scripted {
        refreshes: vec![AuthRefresh::Refreshed, AuthRefresh::Refreshed],
        ..Scripted::default()
    };
    let r = run(
        policy(5),
        1.0,
        &[Fail(FailureClass::Unauthorized, None)],
        &mut hooks,
    )
    .await;
    let stopped = r.result.unwrap_err();
    assert_eq!(stopped.reason, StopReason::Permanent);
    assert_eq!((stopped.attempts, stopped.error), (2, 2));
    assert_eq!(hooks.refresh_asked_for, [1]);
}

#[tokio::test]
async fn a_401_for_replaced_credentials_does_not_use_up_the_refresh() {
    let mut hooks = Scripted {
        refreshes: vec![AuthRefresh::AlreadyReplaced, AuthRefresh::Refreshed],
        ..Scripted::default()
    };
    let r = run(
        policy(5),
        1.0,
        &[Fail(FailureClass::Unauthorized, None)],
        &mut hooks,
    )
    .await;
    let stopped = r.result.unwrap_err();
    assert_eq!(stopped.attempts, 3, "replaced, refreshed, refused again");
    assert_eq!(hooks.refresh_asked_for, [1, 2]);
    // Always "replaced": bounded by the policy's attempts all the same.
    let mut hooks = Scripted {
        refreshes: vec![AuthRefresh::AlreadyReplaced; 100],
        ..Scripted::default()
    };
    let r = run(
        policy(4),
        1.0,
        &[Fail(FailureClass::Unauthorized, None)],
        &mut hooks,
    )
    .await;
    assert_eq!(r.result.unwrap_err().attempts, 4);
    assert!(r.sleeps.is_empty());
}

#[tokio::test]
async fn a_refused_retry_stops_with_budget_exhausted() {
    let mut hooks = Scripted {
        refuse_retries: true,
        ..Scripted::default()
    };
    let r = run(
        policy(5),
        0.5,
        &[Fail(FailureClass::ServerTransient, None), Ok],
        &mut hooks,
    )
    .await;
    let stopped = r.result.unwrap_err();
    assert_eq!(stopped.reason, StopReason::BudgetExhausted);
    assert_eq!(stopped.class, FailureClass::ServerTransient);
    assert_eq!(stopped.attempts, 1);
    assert!(r.sleeps.is_empty(), "a refused retry does not wait");
    assert_eq!(
        hooks.retry_asked,
        [(FailureClass::ServerTransient, 1, MS(100))]
    );
}

const RETRYABLE: [FailureClass; 4] = [
    FailureClass::RateLimited,
    FailureClass::ServerTransient,
    FailureClass::Network,
    FailureClass::Timeout,
];

proptest! {
    /// Any run of retryable failures: at most `max_attempts` attempts, one sleep between two
    /// attempts, each exactly what the policy decides for that attempt.
    #[test]
    fn retryable_runs_obey_the_policy(
        max_attempts in 1u32..8,
        failures in proptest::collection::vec(
            (0usize..4, proptest::option::of(0u64..300_000)),
            0..10,
        ),
        jitter in 0.0f64..=1.0,
    ) {
        let p = policy(max_attempts).with_retry_after_cap(Duration::from_secs(60));
        let mut steps: Vec<Step> = failures
            .iter()
            .map(|&(c, after)| Fail(RETRYABLE[c], after.map(MS)))
            .collect();
        steps.push(Ok);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let r = rt.block_on(run(p, jitter, &steps, &mut NoHooks));
        let n = u32::try_from(failures.len()).unwrap();
        if n < max_attempts {
            prop_assert_eq!(r.result.unwrap(), "done");
            prop_assert_eq!(r.calls.len(), failures.len() + 1);
        } else {
            let stopped = r.result.unwrap_err();
            prop_assert_eq!(stopped.reason, StopReason::AttemptsExhausted);
            prop_assert_eq!(stopped.attempts, max_attempts);
        }
        let attempts = u32::try_from(r.calls.len()).unwrap();
        prop_assert!(attempts <= max_attempts);
        prop_assert_eq!(r.sleeps.len(), r.calls.len() - 1);
        for (i, slept) in r.sleeps.iter().enumerate() {
            let (c, after) = failures[i];
            let attempt = u32::try_from(i + 1).unwrap();
            let want = p.decide(RETRYABLE[c], attempt, after.map(MS), false, jitter);
            prop_assert_eq!(RetryDecision::RetryAfter(*slept), want);
            prop_assert!(*slept <= Duration::from_secs(60));
        }
    }
}
