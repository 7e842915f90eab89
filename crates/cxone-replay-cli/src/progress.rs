//! The progress bar on stderr (only when stderr is a terminal).

use crate::logging::set_active_bar;
use cxone_dlq_replay::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A progress display; does nothing when hidden.
#[derive(Debug, Clone)]
pub struct Bar {
    pb: Option<ProgressBar>,
}

impl Bar {
    /// A bar on stderr if `enabled` and stderr is a terminal; `total` events if known.
    pub fn new(enabled: bool, total: Option<u64>) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Bar { pb: None };
        }
        let pb = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{spinner:.green} [{elapsed_precise}] {bar:24.cyan/blue} {pos}/{len} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        pb.enable_steady_tick(Duration::from_millis(120));
        pb.set_message("reading the DLQ...");
        set_active_bar(Some(pb.clone()));
        Bar { pb: Some(pb) }
    }

    /// Whether the bar is shown.
    pub fn is_shown(&self) -> bool {
        self.pb.is_some()
    }

    /// Shows the counts so far.
    pub fn update(&self, p: &Progress) {
        if let Some(pb) = &self.pb {
            pb.set_position(p.seen + p.already_replayed);
            pb.set_message(message(p));
        }
    }

    /// Replaces the bar's message.
    pub fn message(&self, msg: String) {
        if let Some(pb) = &self.pb {
            pb.set_message(msg);
        }
    }

    /// A line above the bar.
    pub fn note(&self, line: &str) {
        match &self.pb {
            Some(pb) => pb.println(line),
            None => crate::output::err_line(line),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(pb) = &self.pb {
            set_active_bar(None);
            pb.finish_and_clear();
        }
    }
}

/// `seen 120 · replayed 100 · duplicate 2 · skipped 15 · failed 3 · 240/s (mean 231/s) · pace 250/s`.
pub fn message(p: &Progress) -> String {
    let c = &p.counts;
    let mut s = format!(
        "seen {} · replayed {} · duplicate {} · skipped {} · failed {}",
        p.seen, c.success, c.duplicate, c.skipped, c.failed
    );
    if c.dry_run > 0 {
        s.push_str(&format!(" · dry-run {}", c.dry_run));
    }
    if p.already_replayed > 0 {
        s.push_str(&format!(" · already replayed {}", p.already_replayed));
    }
    s.push_str(&format!(
        " · {:.0}/s (mean {:.0}/s)",
        p.current_rate, p.mean_rate
    ));
    if let Some(pace) = p.pace {
        s.push_str(&format!(" · pace {pace:.0}/s"));
    }
    s
}
