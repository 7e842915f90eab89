use super::line::render;
use super::*;
use indicatif::TermLike;
use std::sync::Mutex;

fn progress() -> Progress {
    let mut p = Progress::default();
    p.seen = 1_234_567;
    p.counts.success = 1_200_000;
    p.counts.failed = 12_345;
    p.counts.skipped = 20_000;
    p.counts.duplicate = 2_222;
    p.current_rate = 2_400.4;
    p.mean_rate = 2_310.0;
    p.pace = Some(2_500.0);
    p.elapsed = Duration::from_secs(500);
    p
}

/// A terminal `width` columns wide that keeps what is written on it, one entry per write
/// (indicatif writes each line of a frame in one write, then pads it to the width).
#[derive(Debug)]
struct Screen {
    width: u16,
    writes: Mutex<Vec<String>>,
}

impl TermLike for Screen {
    fn width(&self) -> u16 {
        self.width
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.writes.lock().unwrap().push(s.to_string());
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.writes.lock().unwrap().push(s.to_string());
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines the bar drew last, on a screen `width` columns wide, after one update with
/// [`progress`].
fn drawn(width: u16, total: Option<Total>) -> Vec<String> {
    drawn_after(width, total, |bar| bar.update(&progress()))
}

/// The lines the bar drew last, on a screen `width` columns wide, after `show`.
fn drawn_after(width: u16, total: Option<Total>, show: impl FnOnce(&Bar)) -> Vec<String> {
    let screen = Arc::new(Screen {
        width,
        writes: Mutex::new(Vec::new()),
    });
    #[derive(Debug)]
    struct Shared(Arc<Screen>);
    impl TermLike for Shared {
        fn width(&self) -> u16 {
            self.0.width()
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_up(n)
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_down(n)
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_right(n)
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_left(n)
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.write_line(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.write_str(s)
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.0.clear_line()
        }
        fn flush(&self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    let target = ProgressDrawTarget::term_like(Box::new(Shared(Arc::clone(&screen))));
    let bar = Bar::drawn(target, Width(Arc::new(move || width)), total);
    show(&bar);
    if let Display::Bar { pb, .. } = &bar.display {
        // Drawn at once, whatever the refresh rate.
        pb.abandon();
    }
    let writes = screen.writes.lock().unwrap().clone();
    let lines: Vec<String> = writes
        .iter()
        .map(|l| console::strip_ansi_codes(l).trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    // The last frame: the last two lines with a total, the last line without.
    let n = if total.is_some() { 2 } else { 1 };
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[test]
fn the_bar_fits_80_and_40_columns_and_never_cuts_a_number() {
    for width in [80u16, 40] {
        for total in [None, Some(Total::Events(2_000_000))] {
            let lines = drawn(width, total);
            assert!(!lines.is_empty(), "{width} {total:?}");
            for l in &lines {
                assert!(
                    l.chars().count() <= usize::from(width),
                    "{width} columns: {l:?} is {} wide",
                    l.chars().count()
                );
            }
            let all = lines.join("\n");
            assert!(all.contains("seen 1234567"), "{width}: {all}");
            // Every part shown is whole: the message is made of whole parts only.
            let msg = lines.last().unwrap();
            let msg = msg.split("] ").nth(1).unwrap_or(msg);
            for part in msg.split(line::SEP) {
                assert!(
                    counts_parts(&progress()).iter().any(|p| p == part),
                    "{width}: cut part {part:?} in {msg:?}"
                );
            }
            if total.is_some() {
                assert!(all.contains("1234567/2000000"), "{width}: {all}");
                assert!(all.contains("62%"), "{width}: {all}");
                assert!(all.contains("ETA"), "{width}: {all}");
            }
            if width == 80 {
                assert!(all.contains("failed 12345"), "{all}");
            }
        }
    }
}

#[test]
fn the_bar_draws_the_latest_counts_whenever_it_is_drawn() {
    // Before any count: what it is doing.
    let lines = drawn_after(80, None, |_| {});
    assert!(lines.last().unwrap().ends_with(WAITING), "{lines:?}");
    // Many updates between two draws: the frame shows the last one (the text is made when
    // the bar is drawn, not for every update).
    let lines = drawn_after(80, None, |bar| {
        let mut p = progress();
        for seen in 1..=10_000 {
            p.seen = seen;
            bar.update(&p);
        }
    });
    assert!(lines.last().unwrap().contains("seen 10000 "), "{lines:?}");
    // An export's counts, the same way.
    let lines = drawn_after(80, None, |bar| {
        let mut s = ExportSummary::default();
        s.written = 7;
        s.read = 9;
        bar.exported(&s);
    });
    assert!(
        lines.last().unwrap().contains("exported 7 · read 9"),
        "{lines:?}"
    );
}

#[test]
fn fit_keeps_whole_leading_parts() {
    let parts = [
        "seen 10".to_string(),
        "replayed 9".into(),
        "failed 1".into(),
    ];
    assert_eq!(fit(&parts, 100), "seen 10 · replayed 9 · failed 1");
    assert_eq!(fit(&parts, 20), "seen 10 · replayed 9");
    assert_eq!(fit(&parts, 19), "seen 10");
    assert_eq!(fit(&parts, 3), "");
}

#[test]
fn a_json_line_has_the_summarys_field_names_and_the_total() {
    let now = chrono::DateTime::<chrono::Utc>::from_timestamp(1_700_000_000, 0).unwrap();
    let p = progress();
    let line = render(
        &Snapshot::Run(p.clone()),
        Some(Total::Events(2_469_134)),
        Some("run-1"),
        Duration::ZERO,
        now,
        true,
    );
    assert!(line.ends_with('\n') && line.trim_end().lines().count() == 1);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let summary = serde_json::to_value(cxone_dlq_replay::RunSummary::default()).unwrap();
    for k in [
        "run_id",
        "seen",
        "counts",
        "already_replayed",
        "events_per_second",
        "pace_per_second",
        "elapsed_ms",
    ] {
        assert!(summary.get(k).is_some(), "{k} is a summary name");
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    assert_eq!(v["counts"], serde_json::to_value(p.counts).unwrap());
    assert_eq!(v["counts"]["FAILED"], 12_345);
    assert_eq!(v["run_id"], "run-1");
    assert_eq!(v["total"], 2_469_134);
    assert_eq!(v["percent"], 50.0);
    // Half done in 500 s: 500 s to go.
    assert_eq!(v["eta_ms"], 500_000);
    assert_eq!(v["message"], "progress");

    let text = render(&Snapshot::Run(p), None, None, Duration::ZERO, now, false);
    assert!(text.contains("progress: seen 1234567 · replayed 1200000 · failed 12345"));
    assert!(!text.contains("ETA"), "no total, no ETA: {text}");
}

#[test]
fn a_limit_counts_sends_and_a_file_counts_events() {
    let mut p = progress();
    p.counts.dry_run = 0;
    assert_eq!(Total::Sends(10).done(&p), 10, "never above the total");
    assert_eq!(Total::Sends(5_000_000).done(&p), 1_214_567);
    assert_eq!(Total::Events(5_000_000).done(&p), 1_234_567);
}
