//! Deterministic, seeded DLQ content.
//!
//! The same seed and settings give the same events, byte for byte, within one build (the
//! generator is rand's `StdRng` seeded with `seed_from_u64`). Nothing here reads the clock:
//! timestamps are spread over 14 days after a fixed epoch.

use crate::config::{BODY_LIMIT, EmulatorBuilder};
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use cxone_replay_domain::DlqEvent;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

/// The retry window the "exhausted" events are at the end of.
pub const WINDOW: u32 = 5;

/// One seeded event with its pre-rendered JSON text.
#[derive(Debug)]
pub struct Entry {
    pub event: DlqEvent,
    pub json: String,
}

/// The seeded events of one topic, in listing order.
#[derive(Debug, Default)]
pub struct TopicData {
    pub entries: Vec<Arc<Entry>>,
    pub by_id: HashMap<String, usize>,
}

/// All seeded events.
#[derive(Debug, Default)]
pub struct Dataset {
    pub topics: HashMap<String, TopicData>,
}

impl Dataset {
    /// Adds `event` at the end of `topic`'s listing, rendering its JSON text once.
    pub fn push(&mut self, topic: &str, event: DlqEvent) {
        let json = serde_json::to_string(&event).unwrap_or_default();
        let data = self.topics.entry(topic.to_string()).or_default();
        data.by_id
            .insert(event.event_id.clone(), data.entries.len());
        data.entries.push(Arc::new(Entry { event, json }));
    }
}

const REASONS: &[(&str, u32)] = &[
    ("HTTP 502 Bad Gateway", 30),
    ("HTTP 504 Gateway Timeout", 22),
    ("Connection timeout after 30000 ms", 15),
    ("HTTP 503 Service Unavailable", 8),
    ("HTTP 400 Bad Request from destination", 7),
    ("HTTP 404 Not Found from destination", 6),
    ("HTTP 410 Gone from destination", 3),
    ("HTTP 429 Too Many Requests from destination", 5),
    ("Connection reset by peer", 4),
];

const TYPES: &[&str] = &[
    "conversation:start",
    "conversation:end",
    "conversation:transfer",
    "message:created",
    "agent:assigned",
];

const NAMES: &[&str] = &[
    "Zoë Ångström",
    "山田 太郎",
    "José Ñúñez",
    "Олена Коваль",
    "Ahmed Al-Farsi",
    "Chloé O'Brien",
];

const TEXTS: &[&str] = &[
    // Each is a JSON string body (escapes included verbatim).
    r#"Hi, my order #4521 hasn't arrived yet."#,
    r#"Caf\u00e9 order \u2014 \"extra hot\" please"#,
    r#"Path is C:\\Users\\agent\\notes.txt and URL http:\/\/example.com\/a"#,
    "Line one\\nLine two\\tTabbed",
    r#"Emoji check 😀 and \ud83d\ude00 escaped"#,
    r#"Ich möchte mein Passwort zurücksetzen."#,
    r#"お問い合わせありがとうございます。"#,
    r#"Refund of 19.99 EUR confirmed"#,
];

fn pick_reason(rng: &mut StdRng) -> &'static str {
    let total: u32 = REASONS.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (r, w) in REASONS {
        if x < *w {
            return r;
        }
        x -= w;
    }
    REASONS[0].0
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    let mut s = String::with_capacity(n);
    for _ in 0..n {
        let d = rng.random_range(0..16u32);
        s.push(char::from_digit(d, 16).unwrap_or('0'));
    }
    s
}

/// Writes `"key":value` (with or without spaces) into `out`; `value` is raw JSON text.
fn member(out: &mut String, spaced: bool, first: bool, key: &str, value: &str) {
    if !first {
        out.push_str(if spaced { ", " } else { "," });
    }
    out.push('"');
    out.push_str(key);
    out.push_str(if spaced { "\": " } else { "\":" });
    out.push_str(value);
}

fn quoted(s: &str) -> String {
    // `s` is already a valid JSON string body.
    format!("\"{s}\"")
}

/// A conversation-like payload of about `target` bytes.
fn payload(rng: &mut StdRng, event_no: usize, at: DateTime<Utc>, target: usize) -> String {
    let spaced = rng.random_bool(0.25);
    let mut o = String::with_capacity(target + 512);
    o.push('{');
    let conv = format!("conv_{}", hex(rng, 12));
    member(&mut o, spaced, true, "conversationId", &quoted(&conv));
    let ty = TYPES[rng.random_range(0..TYPES.len())];
    member(&mut o, spaced, false, "type", &quoted(ty));
    member(&mut o, spaced, false, "timestamp", &quoted(&ts(at)));
    member(&mut o, spaced, false, "sequence", &event_no.to_string());
    // Beyond 2^53: exact only if the integer text is kept.
    let contact: u64 = 9_007_199_254_740_993 + rng.random_range(0..1_000_000u64) * 2;
    member(&mut o, spaced, false, "contactId", &contact.to_string());
    // More digits than an f64 holds.
    let amount = format!(
        "{}.{:09}{:09}",
        rng.random_range(0..100_000u32),
        rng.random_range(0..1_000_000_000u32),
        rng.random_range(0..1_000_000_000u32)
    );
    member(&mut o, spaced, false, "amount", &amount);
    // Numbers whose text a float round trip would change.
    let odd = ["1e3", "0.10", "1E+2", "-0.0", "2.50", "1.0e-7"][rng.random_range(0..6)];
    member(&mut o, spaced, false, "score", odd);
    member(
        &mut o,
        spaced,
        false,
        "priority",
        &rng.random_range(1..=5u8).to_string(),
    );
    member(
        &mut o,
        spaced,
        false,
        "vip",
        if rng.random_bool(0.2) {
            "true"
        } else {
            "false"
        },
    );
    member(&mut o, spaced, false, "queueId", "null");
    let agent = NAMES[rng.random_range(0..NAMES.len())];
    let customer = NAMES[rng.random_range(0..NAMES.len())];
    let agent_obj = format!(
        "{{\"id\":\"agent_{}\",\"name\":\"{agent}\",\"skills\":[\"billing\",\"t\\u00e9l\\u00e9phone\"]}}",
        rng.random_range(1000..9999u32)
    );
    member(&mut o, spaced, false, "agent", &agent_obj);
    let cust_obj = format!(
        "{{\"name\":\"{customer}\",\"locale\":\"{}\",\"note\":\"VIP \\\"gold\\\" tier\\u0021\"}}",
        ["en-US", "de-DE", "ja-JP", "fr-FR", "uk-UA"][rng.random_range(0..5)]
    );
    member(&mut o, spaced, false, "customer", &cust_obj);
    member(&mut o, spaced, false, "messages", "[");
    let mut seq = 0u32;
    loop {
        let text = TEXTS[rng.random_range(0..TEXTS.len())];
        let from = if seq.is_multiple_of(2) {
            "customer"
        } else {
            "agent"
        };
        let msg = format!(
            "{}{{\"seq\":{seq},\"from\":\"{from}\",\"sentAt\":\"{}\",\"text\":\"{text}\"}}",
            if seq == 0 { "" } else { "," },
            ts(at + ChronoDuration::seconds(i64::from(seq) * 7))
        );
        // Always at least one message; then stop before overshooting much.
        if seq > 0 && o.len() + msg.len() + 2 > target {
            break;
        }
        o.push_str(&msg);
        seq += 1;
    }
    o.push_str("]}");
    o
}

/// Builds the dataset for the given settings.
pub fn generate(cfg: &EmulatorBuilder) -> Dataset {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let n = cfg.events;
    let count = |f: f64| ((n as f64) * f).round() as usize;
    let n_exhausted = count(cfg.exhausted_fraction).min(n);
    let n_oversize = count(cfg.oversize_fraction).min(n - n_exhausted);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut kind = vec![0u8; n]; // 0 ordinary, 1 exhausted, 2 oversize
    for &i in &order[..n_exhausted] {
        kind[i] = 1;
    }
    for &i in &order[n_exhausted..n_exhausted + n_oversize] {
        kind[i] = 2;
    }

    let mut dataset = Dataset::default();
    for t in &cfg.topics {
        dataset.topics.insert(t.clone(), TopicData::default());
    }
    let mut seen = HashSet::new();
    let span_ms: i64 = 14 * 86_400 * 1000;
    for (i, k) in kind.iter().enumerate() {
        let topic = &cfg.topics[i % cfg.topics.len()];
        let event_id = loop {
            let id = format!(
                "evt_{}-{}-{}-{}-{}",
                hex(&mut rng, 8),
                hex(&mut rng, 4),
                hex(&mut rng, 4),
                hex(&mut rng, 4),
                hex(&mut rng, 12)
            );
            if seen.insert(id.clone()) {
                break id;
            }
        };
        let retry_count = match k {
            1 => rng.random_range(WINDOW..=WINDOW + 2),
            _ => rng.random_range(0..WINDOW),
        };
        let first = cfg.epoch + ChronoDuration::milliseconds(rng.random_range(0..span_ms));
        let gap = ChronoDuration::seconds(rng.random_range(30..1800));
        let last = first + gap * i32::try_from(retry_count).unwrap_or(i32::MAX);
        let born = first - ChronoDuration::milliseconds(rng.random_range(100..120_000));
        let target = if *k == 2 {
            BODY_LIMIT + 4096 + rng.random_range(0..16_384)
        } else {
            cfg.payload_bytes
        };
        let text = payload(&mut rng, i, born, target);
        let raw = RawValue::from_string(text).ok();
        let event = DlqEvent {
            event_id,
            topic_id: Some(topic.clone()),
            payload: raw,
            failure_reason: Some(pick_reason(&mut rng).to_string()),
            retry_count: Some(retry_count),
            first_failure_timestamp: Some(ts(first)),
            last_failure_timestamp: Some(ts(last)),
            defect: None,
        };
        if cfg.fan_out {
            for t in &cfg.topics {
                let mut copy = event.clone();
                copy.topic_id = Some(t.clone());
                dataset.push(t, copy);
            }
        } else {
            dataset.push(topic, event);
        }
    }
    dataset
}

/// Renders the JSON text of an event for a listing (kept for callers that build pages).
pub fn page_json(entries: &[Arc<Entry>], next: Option<&str>) -> String {
    let cap = entries.iter().map(|e| e.json.len() + 1).sum::<usize>() + 64;
    let mut out = String::with_capacity(cap);
    out.push_str("{\"events\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.json);
    }
    out.push(']');
    if let Some(token) = next {
        let _ = write!(out, ",\"nextPageToken\":\"{token}\"");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;

    fn all(d: &Dataset) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = d
            .topics
            .values()
            .flat_map(|t| t.entries.iter().map(|e| &**e))
            .collect();
        v.sort_by(|a, b| a.event.event_id.cmp(&b.event.event_id));
        v
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let cfg = Emulator::builder().events(50).topics(["a", "b"]).seed(7);
        let a: Vec<String> = all(&generate(&cfg))
            .iter()
            .map(|e| e.json.clone())
            .collect();
        let b: Vec<String> = all(&generate(&cfg))
            .iter()
            .map(|e| e.json.clone())
            .collect();
        let c: Vec<String> = all(&generate(&cfg.clone().seed(8)))
            .iter()
            .map(|e| e.json.clone())
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn counts_fractions_and_sizes() {
        let cfg = Emulator::builder()
            .events(100)
            .topics(["a", "b", "c"])
            .exhausted_fraction(0.1)
            .oversize_fraction(0.05)
            .payload_bytes(2048)
            .seed(3);
        let d = generate(&cfg);
        assert_eq!(d.topics["a"].entries.len(), 34);
        assert_eq!(d.topics["b"].entries.len(), 33);
        assert_eq!(d.topics["c"].entries.len(), 33);
        let events = all(&d);
        let exhausted = events
            .iter()
            .filter(|e| e.event.retry_count() >= WINDOW)
            .count();
        assert_eq!(exhausted, 10);
        let sizes: Vec<usize> = events
            .iter()
            .map(|e| e.event.payload.as_ref().map_or(0, |p| p.get().len()))
            .collect();
        assert_eq!(sizes.iter().filter(|s| **s > BODY_LIMIT).count(), 5);
        for s in sizes.iter().filter(|s| **s <= BODY_LIMIT) {
            assert!((1200..=2300).contains(s), "ordinary payload of {s} bytes");
        }
    }

    #[test]
    fn fan_out_puts_every_event_in_every_topic() {
        let cfg = Emulator::builder().events(20).topics(["a", "b"]).seed(5);
        let spread = generate(&cfg);
        let fanned = generate(&cfg.fan_out(true));
        let ids = |d: &Dataset, t: &str| -> Vec<String> {
            d.topics[t]
                .entries
                .iter()
                .map(|e| e.event.event_id.clone())
                .collect()
        };
        assert_eq!(ids(&fanned, "a").len(), 20);
        assert_eq!(ids(&fanned, "a"), ids(&fanned, "b"));
        let mut all_spread = [ids(&spread, "a"), ids(&spread, "b")].concat();
        all_spread.sort();
        let mut a = ids(&fanned, "a");
        a.sort();
        assert_eq!(a, all_spread, "the same events as without fan-out");
        for t in ["a", "b"] {
            for e in &fanned.topics[t].entries {
                assert_eq!(e.event.topic_id.as_deref(), Some(t));
                assert!(e.json.contains(&format!("\"topicId\":\"{t}\"")));
            }
        }
        let pa = &fanned.topics["a"].entries[3].event.payload;
        let pb = &fanned.topics["b"].entries[3].event.payload;
        assert_eq!(pa.as_ref().map(|p| p.get()), pb.as_ref().map(|p| p.get()));
    }

    #[test]
    fn every_event_is_valid_and_realistic() {
        let cfg = Emulator::builder()
            .events(60)
            .seed(11)
            .exhausted_fraction(0.2);
        let d = generate(&cfg);
        let mut reasons = HashSet::new();
        for e in all(&d) {
            // Payload is valid JSON and the rendered event parses back through the domain.
            let payload = e.event.payload.as_ref().expect("payload");
            let v: serde_json::Value = serde_json::from_str(payload.get()).expect("valid JSON");
            assert!(v.is_object());
            let back = DlqEvent::from_slice(e.json.as_bytes()).expect("domain parses it");
            assert!(back.check().is_ok());
            assert_eq!(back.payload.as_ref().map(|p| p.get()), Some(payload.get()));
            assert!(e.event.first_failure_at() <= e.event.last_failure_at());
            reasons.insert(e.event.failure_reason.clone().unwrap_or_default());
        }
        assert!(reasons.iter().any(|r| r.contains("502")));
        assert!(reasons.iter().any(|r| r.contains("504")));
        assert!(reasons.iter().any(|r| r.contains("timeout")));
        // Timestamps spread over days.
        let times: Vec<_> = all(&d)
            .iter()
            .filter_map(|e| e.event.first_failure_at())
            .collect();
        let (min, max) = (times.iter().min().copied(), times.iter().max().copied());
        let spread = max.zip(min).map(|(a, b)| a - b).unwrap_or_default();
        assert!(spread > ChronoDuration::days(3), "spread {spread}");
    }

    #[test]
    fn payloads_exercise_byte_exactness() {
        let d = generate(&Emulator::builder().events(40).seed(1));
        let texts: Vec<&str> = all(&d)
            .iter()
            .filter_map(|e| e.event.payload.as_ref().map(|p| p.get()))
            .collect();
        assert!(texts.iter().any(|t| t.contains("\\u00e9")));
        assert!(
            texts.iter().any(|t| t.contains(": ")),
            "some payloads are spaced"
        );
        // A float round trip changes the text.
        let reserialized: Vec<String> = texts
            .iter()
            .map(|t| {
                serde_json::from_str::<serde_json::Value>(t)
                    .expect("valid")
                    .to_string()
            })
            .collect();
        assert!(
            texts
                .iter()
                .zip(&reserialized)
                .all(|(a, b)| *a != b.as_str())
        );
    }
}
