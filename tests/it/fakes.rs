//! In-memory doubles of the engine's ports.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cxone_dlq_replay::domain::{AuditRecord, DlqEvent, DlqPage, IdempotencyKey, Throttling};
use cxone_dlq_replay::{
    AuditSink, BoxError, DeliveredKeys, DlqSource, MonitorEvent, MonitorSink, PageStream,
    ReplayTarget, SendOutcome,
};
use cxone_dlq_replay::{Clock, Sleeper};
use futures::StreamExt;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub fn t0() -> DateTime<Utc> {
    "2024-05-11T09:00:00Z".parse().unwrap()
}

/// A clock driven by Tokio's (paused, in tests) time.
#[derive(Debug, Clone)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        TokioClock {
            base: t0(),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::TimeDelta::from_std(self.start.elapsed()).unwrap()
    }
}

/// A sleeper that never wakes (for a drain that must not time out).
#[derive(Debug)]
pub struct Never;
impl Sleeper for Never {
    fn sleep(&self, _: Duration) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(std::future::pending())
    }
}

/// The kinds of generated event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    Exhausted,
    Invalid,
    Oversize,
}

pub fn event(i: usize, kind: Kind) -> DlqEvent {
    let id = format!("evt-{i:07}");
    let json = match kind {
        Kind::Ok => format!(
            r#"{{"eventId":"{id}","topicId":"t","payload":{{"n":{i},"type":"conversation:start"}},"retryCount":{},"failureReason":"HTTP 502","firstFailureTimestamp":"2024-05-10T14:30:05Z","lastFailureTimestamp":"2024-05-10T14:35:00Z"}}"#,
            i % 4
        ),
        Kind::Exhausted => format!(r#"{{"eventId":"{id}","payload":{{"n":{i}}},"retryCount":5}}"#),
        Kind::Invalid => {
            format!(r#"{{"eventId":"{id}","payload":{{"n":{i}}},"retryCount":"three"}}"#)
        }
        Kind::Oversize => format!(
            r#"{{"eventId":"{id}","payload":{{"blob":"{}"}},"retryCount":1}}"#,
            "x".repeat(262_144)
        ),
    };
    DlqEvent::from_raw(&RawValue::from_string(json).unwrap())
}

/// A flag that can be awaited: set once, seen by every waiter, before or after.
#[derive(Clone, Default)]
pub struct Latch {
    set: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Latch {
    pub fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }
    pub async fn wait(&self) {
        loop {
            // Registered before the check, so a `set` in between is not missed.
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// A DLQ of `n` generated events per topic, produced lazily page by page.
#[derive(Clone)]
pub struct FakeSource {
    pub n: usize,
    pub kind: Arc<dyn Fn(usize) -> Kind + Send + Sync>,
    pub pages_fetched: Arc<AtomicU64>,
    pub fail_at_page: Option<u64>,
    /// Set when a page stream has ended (after its last page).
    pub exhausted: Latch,
}

impl FakeSource {
    pub fn new(n: usize) -> Self {
        FakeSource {
            n,
            kind: Arc::new(|_| Kind::Ok),
            pages_fetched: Arc::default(),
            fail_at_page: None,
            exhausted: Latch::default(),
        }
    }
    pub fn kinds(mut self, f: impl Fn(usize) -> Kind + Send + Sync + 'static) -> Self {
        self.kind = Arc::new(f);
        self
    }
    pub fn fail_at_page(mut self, p: u64) -> Self {
        self.fail_at_page = Some(p);
        self
    }
}

impl DlqSource for FakeSource {
    fn pages(&self, _topic: &str, page_size: u32, start_token: Option<String>) -> PageStream {
        let start: usize = start_token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let me = self.clone();
        futures::stream::unfold(Some(start), move |pos| {
            let me = me.clone();
            async move {
                let Some(pos) = pos else {
                    me.exhausted.set();
                    return None;
                };
                let fetched = me.pages_fetched.fetch_add(1, Ordering::SeqCst) + 1;
                if me.fail_at_page == Some(fetched) {
                    let e: BoxError = "DLQ unavailable (injected)".into();
                    return Some((Err(e), None));
                }
                if pos >= me.n {
                    me.exhausted.set();
                    return None;
                }
                let end = (pos + page_size as usize).min(me.n);
                let events = (pos..end).map(|i| event(i, (me.kind)(i))).collect();
                let next = (end < me.n).then(|| end.to_string());
                Some((
                    Ok(DlqPage {
                        events,
                        next_page_token: next.clone(),
                    }),
                    next.map(|_| end),
                ))
            }
        })
        .boxed()
    }
}

/// A DLQ whose pages are given, per topic (a topic not given has an empty DLQ).
#[derive(Clone, Default)]
pub struct ScriptedSource {
    pub pages: HashMap<String, Vec<Vec<DlqEvent>>>,
}

impl ScriptedSource {
    pub fn topic(mut self, topic: &str, pages: Vec<Vec<DlqEvent>>) -> Self {
        self.pages.insert(topic.to_string(), pages);
        self
    }
}

impl DlqSource for ScriptedSource {
    fn pages(&self, topic: &str, _page_size: u32, _start_token: Option<String>) -> PageStream {
        let pages = self.pages.get(topic).cloned().unwrap_or_default();
        let n = pages.len();
        futures::stream::iter(pages.into_iter().enumerate().map(move |(i, events)| {
            Ok(DlqPage {
                events,
                next_page_token: (i + 1 < n).then(|| (i + 1).to_string()),
            })
        }))
        .boxed()
    }
}

/// A DLQ event with this id, retry count and payload number.
pub fn event_with(id: &str, retry_count: u32, n: usize) -> DlqEvent {
    let json = format!(
        r#"{{"eventId":"{id}","payload":{{"n":{n}}},"retryCount":{retry_count},"lastFailureTimestamp":"2024-05-10T14:35:00Z"}}"#
    );
    DlqEvent::from_raw(&RawValue::from_string(json).unwrap())
}

/// A replay target that counts what it is sent. Unless scripted, it answers as a server that
/// dedupes keys across topics: `201` for a key's first send, `409` after.
#[derive(Clone, Default)]
pub struct FakeTarget {
    pub in_flight: Arc<AtomicUsize>,
    /// Notified whenever a send starts.
    pub started: Arc<Notify>,
    pub max_in_flight: Arc<AtomicUsize>,
    pub sends: Arc<Mutex<HashMap<String, u32>>>,
    /// Every send as `(topic, key)`, in order.
    pub sent: Arc<Mutex<Vec<(String, String)>>>,
    pub accepted: Arc<Mutex<HashMap<String, u32>>>,
    pub send_times: Arc<Mutex<Vec<DateTime<Utc>>>>,
    pub delay: Option<Duration>,
    pub hold: Option<Arc<tokio::sync::Semaphore>>,
    pub clock: Option<Arc<dyn Clock>>,
    #[allow(clippy::type_complexity)]
    pub script: Option<Arc<dyn Fn(&str) -> Option<SendOutcome> + Send + Sync>>,
    /// What the target reports as its server's rate-limit feedback (none when `None`).
    pub throttling: Option<Arc<Mutex<Throttling>>>,
}

impl FakeTarget {
    /// Waits until at least `n` sends are in flight at once.
    pub async fn wait_in_flight(&self, n: usize) {
        loop {
            // Registered before the check, so a send starting in between is not missed.
            let started = self.started.notified();
            if self.in_flight.load(Ordering::SeqCst) >= n {
                return;
            }
            started.await;
        }
    }
    pub fn total_sends(&self) -> u64 {
        self.sends
            .lock()
            .unwrap()
            .values()
            .map(|&v| u64::from(v))
            .sum()
    }
    pub fn max_sends_per_key(&self) -> u32 {
        self.sends
            .lock()
            .unwrap()
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

#[async_trait]
impl ReplayTarget for FakeTarget {
    async fn send(&self, topic: &str, key: &IdempotencyKey, _body: Vec<u8>) -> SendOutcome {
        self.sent
            .lock()
            .unwrap()
            .push((topic.to_string(), key.as_str().to_string()));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.started.notify_waiters();
        if let Some(c) = &self.clock {
            self.send_times.lock().unwrap().push(c.now());
        }
        *self
            .sends
            .lock()
            .unwrap()
            .entry(key.as_str().to_string())
            .or_default() += 1;
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        if let Some(h) = &self.hold {
            h.acquire().await.unwrap().forget();
        }
        let out = match self.script.as_ref().and_then(|s| s(key.as_str())) {
            Some(o) => o,
            None => {
                let mut acc = self.accepted.lock().unwrap();
                let n = acc.entry(key.as_str().to_string()).or_default();
                *n += 1;
                if *n > 1 {
                    SendOutcome::duplicate(1)
                } else {
                    SendOutcome::accepted(201, 1)
                }
            }
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }

    fn throttling(&self) -> Option<Throttling> {
        self.throttling.as_ref().map(|t| t.lock().unwrap().clone())
    }
}

/// An audit sink in memory, resumable, that can be told to fail.
#[derive(Clone, Default)]
pub struct MemoryAudit {
    pub records: Arc<Mutex<Vec<AuditRecord>>>,
    /// Refuse every record after this many were accepted.
    pub fail_after: Option<usize>,
    pub flushes: Arc<AtomicU64>,
    /// Calls of `record`, accepted or refused.
    pub attempts: Arc<AtomicU64>,
}

impl MemoryAudit {
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().unwrap().clone()
    }
}

#[async_trait]
impl AuditSink for MemoryAudit {
    async fn record(&self, record: &AuditRecord) -> Result<(), BoxError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let mut r = self.records.lock().unwrap();
        if self.fail_after.is_some_and(|n| r.len() >= n) {
            return Err("disk full (injected)".into());
        }
        r.push(record.clone());
        Ok(())
    }
    async fn flush(&self) -> Result<(), BoxError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn delivered_keys(&self) -> Result<Option<DeliveredKeys>, BoxError> {
        let r = self.records.lock().unwrap();
        Ok(Some(r.iter().collect()))
    }
    fn can_resume(&self) -> bool {
        true
    }
}

/// A monitor that keeps what it is told: `(kind, event id or seen count)`.
#[derive(Clone, Default)]
pub struct MemoryMonitor {
    pub events: Arc<Mutex<Vec<(&'static str, String)>>>,
}

impl MemoryMonitor {
    pub fn records(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k == "replay_status_update")
            .map(|(_, id)| id.clone())
            .collect()
    }
}

#[async_trait]
impl MonitorSink for MemoryMonitor {
    fn notify(&self, event: MonitorEvent<'_>) {
        let detail = match event {
            MonitorEvent::Started(s) => s.run_id.clone(),
            MonitorEvent::Record(r) => r.event_id.clone(),
            MonitorEvent::Completed(s) => s.seen.to_string(),
        };
        self.events.lock().unwrap().push((event.kind(), detail));
    }
    async fn close(&self) -> u64 {
        0
    }
}

/// Asserts that `records` hold exactly one record per event id.
pub fn assert_one_record_per_event(records: &[AuditRecord]) -> usize {
    let mut by_event: HashMap<&str, u32> = HashMap::new();
    for r in records {
        *by_event.entry(&r.event_id).or_default() += 1;
    }
    let dups: Vec<_> = by_event.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dups.is_empty(),
        "events with more than one record: {dups:?}"
    );
    by_event.len()
}
