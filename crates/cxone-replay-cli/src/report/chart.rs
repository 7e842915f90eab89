//! The geometry of the report's two charts, as numbers and labels for the SVG template:
//! outcomes over time (a stacked bar per time bin) and the latency histogram (a bar per
//! bucket). Nothing here is markup; the template escapes every label.

use chrono::{DateTime, Utc};
use cxone_dlq_replay::{LatencyBucket, LatencySummary, StatusCounts, Timeline};
use cxone_replay_domain::ReplayStatus;

/// The SVG's size (its `viewBox`; the page scales it to its width).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
/// The plot area inside it: room for the y labels on the left, the x labels below.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 40.0;
/// The most x labels.
const X_LABELS: usize = 7;
/// The least height of a bar segment with a count: one failure among thousands stays visible.
const MIN_SEGMENT: f64 = 0.75;

/// One chart: a bar per bin or bucket, and its axes.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `viewBox` width and height.
    pub width: String,
    pub height: String,
    /// The plot area: left, top, right, bottom edges.
    pub left: String,
    pub top: String,
    pub right: String,
    pub bottom: String,
    /// Where the x-axis caption goes.
    pub caption_x: String,
    pub caption_y: String,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
    /// Labelled values on the y axis (bottom up) and the x axis (left to right).
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    /// Vertical markers (percentiles).
    pub marks: Vec<Mark>,
    /// The axes' captions.
    pub x_caption: String,
    pub y_caption: String,
    /// What the chart says when it has no bar, in its middle.
    pub empty: &'static str,
    pub middle: String,
}

/// A bar: its horizontal place, a tooltip, and its segments bottom up.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: String,
    pub w: String,
    pub title: String,
    pub segments: Vec<Segment>,
}

/// A part of a bar, in its status's colour.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The CSS class: `s-success`, `s-failed`, ...
    pub class: &'static str,
    pub y: String,
    pub h: String,
}

/// A label at a position along an axis.
#[derive(Debug, Clone)]
pub struct Tick {
    pub pos: String,
    pub label: String,
}

/// A vertical marker, its label `dy` below the top (marks close together stay legible).
#[derive(Debug, Clone)]
pub struct Mark {
    pub pos: String,
    pub label: String,
    pub dy: String,
}

/// The CSS class of a status's colour.
pub fn status_class(s: ReplayStatus) -> &'static str {
    match s {
        ReplayStatus::Success => "s-success",
        ReplayStatus::Duplicate => "s-duplicate",
        ReplayStatus::Failed => "s-failed",
        ReplayStatus::Skipped => "s-skipped",
        _ => "s-dry-run",
    }
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// A number for a label: an integer as such, else up to two decimals.
pub fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// An axis from 0 to at least `max`, in 1, 2 or 5 times a power of ten: (top, step).
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.25);
    }
    let rough = max / 4.0;
    let mag = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil().max(1.0) * step, step)
}

struct Frame {
    plot_w: f64,
    plot_h: f64,
    top_value: f64,
}

impl Frame {
    fn new(max: f64) -> (Frame, Vec<Tick>) {
        let (top_value, step) = nice_axis(max);
        let frame = Frame {
            plot_w: WIDTH - LEFT - RIGHT,
            plot_h: HEIGHT - TOP - BOTTOM,
            top_value,
        };
        let n = (top_value / step).round() as usize;
        let ticks = (0..=n)
            .map(|i| {
                let v = step * i as f64;
                Tick {
                    pos: px(frame.y(v)),
                    label: number(v),
                }
            })
            .collect();
        (frame, ticks)
    }

    /// The y of value `v`.
    fn y(&self, v: f64) -> f64 {
        TOP + self.plot_h * (1.0 - v / self.top_value)
    }

    /// The height of value `v`.
    fn h(&self, v: f64) -> f64 {
        self.plot_h * v / self.top_value
    }

    fn chart(&self, bars: Vec<Bar>, x_ticks: Vec<Tick>, y_ticks: Vec<Tick>) -> Chart {
        Chart {
            width: px(WIDTH),
            height: px(HEIGHT),
            left: px(LEFT),
            top: px(TOP),
            right: px(LEFT + self.plot_w),
            bottom: px(TOP + self.plot_h),
            caption_x: px(LEFT + self.plot_w / 2.0),
            caption_y: px(HEIGHT - 6.0),
            bars,
            y_ticks,
            x_ticks,
            marks: Vec::new(),
            x_caption: String::new(),
            y_caption: String::new(),
            empty: "",
            middle: px(TOP + self.plot_h / 2.0),
        }
    }
}

/// Every `k`-th index of `n`, so that at most `X_LABELS` are labelled.
fn label_every(n: usize) -> usize {
    n.div_ceil(X_LABELS).max(1)
}

fn time_label(t: DateTime<Utc>, bin_seconds: u64, span_secs: i64) -> String {
    let fmt = if span_secs > 86_400 {
        "%m-%d %H:%M"
    } else if bin_seconds >= 60 {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    t.format(fmt).to_string()
}

/// Outcomes over time: a bar per bin, its height the bin's records per second, stacked by
/// status (in [`ReplayStatus::ALL`]'s order, bottom up).
pub fn timeline(t: &Timeline) -> Chart {
    let width_s = t.bin_seconds.max(1) as f64;
    let rate = |c: &StatusCounts, s: ReplayStatus| c.get(s) as f64 / width_s;
    let max = t
        .bins
        .iter()
        .map(|b| b.counts.total() as f64 / width_s)
        .fold(0.0, f64::max);
    let (frame, y_ticks) = Frame::new(max);
    let n = t.bins.len().max(1);
    let slot = frame.plot_w / n as f64;
    let bar_w = (slot * 0.85).max(0.5);
    let span = match (t.bins.first(), t.bins.last()) {
        (Some(a), Some(b)) => (b.start - a.start).num_seconds(),
        _ => 0,
    };
    let every = label_every(t.bins.len());
    let mut x_ticks = Vec::new();
    let bars = t
        .bins
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
            if i % every == 0 {
                x_ticks.push(Tick {
                    pos: px(LEFT + slot * i as f64 + slot / 2.0),
                    label: time_label(b.start, t.bin_seconds, span),
                });
            }
            let mut base = 0.0;
            let mut segments = Vec::new();
            let mut parts = Vec::new();
            for s in ReplayStatus::ALL {
                let v = rate(&b.counts, s);
                if v <= 0.0 {
                    continue;
                }
                let h = frame.h(v).max(MIN_SEGMENT);
                segments.push(Segment {
                    class: status_class(s),
                    y: px(frame.y(0.0) - base - h),
                    h: px(h),
                });
                base += h;
                parts.push(format!("{} {s}", b.counts.get(s)));
            }
            let end = b.start + chrono::Duration::seconds(t.bin_seconds as i64);
            let title = format!(
                "{} – {} UTC: {} ({}/s)",
                b.start.format("%Y-%m-%d %H:%M:%S"),
                end.format("%H:%M:%S"),
                if parts.is_empty() {
                    "no records".to_string()
                } else {
                    parts.join(", ")
                },
                number(b.counts.total() as f64 / width_s)
            );
            Bar {
                x: px(x),
                w: px(bar_w),
                title,
                segments,
            }
        })
        .collect();
    let mut c = frame.chart(bars, x_ticks, y_ticks);
    c.x_caption = format!("time (UTC), bins of {}", seconds(t.bin_seconds));
    c.y_caption = "records / s".into();
    c.empty = "no records";
    c
}

/// `1 s`, `4 s`, `2 min 8 s`, ...
pub fn seconds(s: u64) -> String {
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, 0) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// The latency histogram: a bar per bucket (their widths equal: the axis is logarithmic),
/// with the percentiles marked.
pub fn latency(buckets: &[LatencyBucket], p: &LatencySummary) -> Chart {
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0) as f64;
    let (frame, y_ticks) = Frame::new(max);
    let n = buckets.len().max(1);
    let slot = frame.plot_w / n as f64;
    let bar_w = (slot * 0.9).max(0.5);
    let every = label_every(buckets.len());
    let mut x_ticks = Vec::new();
    let bars = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i % every == 0 {
                x_ticks.push(Tick {
                    pos: px(LEFT + slot * i as f64),
                    label: number(b.from_ms),
                });
            }
            let h = if b.count > 0 {
                frame.h(b.count as f64).max(MIN_SEGMENT)
            } else {
                0.0
            };
            Bar {
                x: px(LEFT + slot * i as f64 + (slot - bar_w) / 2.0),
                w: px(bar_w),
                title: format!(
                    "{} – {} ms: {} send{}",
                    number(b.from_ms),
                    number(b.to_ms),
                    b.count,
                    if b.count == 1 { "" } else { "s" }
                ),
                segments: vec![Segment {
                    class: status_class(ReplayStatus::Success),
                    y: px(frame.y(0.0) - h),
                    h: px(h),
                }],
            }
        })
        .collect();
    let mut c = frame.chart(bars, x_ticks, y_ticks);
    // A percentile's place: its bucket, and the fraction of the way through it on a log scale.
    let place = |v: f64| -> Option<f64> {
        let i = buckets.iter().position(|b| v >= b.from_ms && v < b.to_ms)?;
        let b = &buckets[i];
        let f = (v.ln() - b.from_ms.ln()) / (b.to_ms.ln() - b.from_ms.ln());
        Some(LEFT + slot * (i as f64 + f.clamp(0.0, 1.0)))
    };
    if !buckets.is_empty() {
        for (name, v) in [("p50", p.p50), ("p95", p.p95), ("p99", p.p99)] {
            if let Some(x) = place(v) {
                c.marks.push(Mark {
                    pos: px(x),
                    label: name.into(),
                    dy: px(10.0 + 12.0 * c.marks.len() as f64),
                });
            }
        }
    }
    c.x_caption = "latency (ms, logarithmic)".into();
    c.y_caption = "sends".into();
    c.empty = "no successful sends";
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(0.0), (1.0, 0.25));
        assert_eq!(nice_axis(7.0), (8.0, 2.0));
        assert_eq!(nice_axis(100.0), (100.0, 50.0));
        let (top, step) = nice_axis(1234.0);
        assert!(top >= 1234.0 && top / step <= 5.0, "{top} {step}");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(seconds(1), "1 s");
        assert_eq!(seconds(128), "2 min 8 s");
        assert_eq!(seconds(7200), "2 h");
        assert_eq!(seconds(4096), "1 h 8 min");
    }
}
