//! Progress on stderr: a bar on a terminal (sized to its width), or a log line every
//! `--progress-interval` (text, or one JSON object with the summary's field names).

mod line;

use crate::cli::{ProgressArgs, ProgressMode};
use crate::logging::set_active_bar;
use cxone_dlq_replay::{ExportSummary, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use line::{LogLines, counts_parts, export_parts, fit};
pub use line::{Snapshot, Total};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the global options say about stderr: `-q`, and `--log-format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// `-q` (or `-qq`): no progress.
    pub quiet: bool,
    /// `--log-format json`: progress log lines are JSON.
    pub json_logs: bool,
}

/// How a command shows progress: resolved from `--progress`, `-q` and `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    shown: Shown,
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Bar,
    /// A line every this long.
    Log(Duration),
    Off,
}

impl Settings {
    /// `--progress` resolved: `auto` is a bar when stderr is a terminal, log lines otherwise;
    /// `quiet` (`-q`) shows nothing; `json` (`--log-format json`) makes log lines JSON.
    pub fn new(args: &ProgressArgs, quiet: bool, json: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let shown = match args.progress {
            _ if quiet => Shown::Off,
            ProgressMode::Off => Shown::Off,
            ProgressMode::Bar if terminal => Shown::Bar,
            ProgressMode::Bar => Shown::Off,
            ProgressMode::Log => Shown::Log(args.progress_interval),
            ProgressMode::Auto if terminal => Shown::Bar,
            ProgressMode::Auto => Shown::Log(args.progress_interval),
        };
        Settings { shown, json }
    }

    /// A bar on a terminal, nothing otherwise (`demo`).
    #[cfg(feature = "demo")]
    pub fn bar_only(quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Settings {
            shown: if terminal && !quiet {
                Shown::Bar
            } else {
                Shown::Off
            },
            json: false,
        }
    }
}

/// A progress display; does nothing when off. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Bar {
    display: Display,
}

#[derive(Debug, Clone)]
enum Display {
    Off,
    Bar {
        pb: ProgressBar,
        total: Option<Total>,
        /// The counts to show: set for every record, made into text only when the bar is
        /// drawn (a few times a second), not for every record.
        counts: Arc<Mutex<Option<Snapshot>>>,
    },
    Log(Arc<LogLines>),
}

/// The width of the terminal the bar is drawn on.
#[derive(Clone)]
struct Width(Arc<dyn Fn() -> u16 + Send + Sync>);

impl std::fmt::Debug for Width {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Width({})", (self.0)())
    }
}

/// The bar's templates: the bar line with the total, percent and ETA when the total is known,
/// then the counts (fitted to the width by [`fit`]).
const WITH_TOTAL: &str = "{spinner:.green} {wide_bar:.cyan/blue} {pos}/{len} {percent:>3}% ETA {eta}\n[{elapsed_precise}] {counts}";
const WITHOUT_TOTAL: &str = "{spinner:.green} [{elapsed_precise}] {counts}";
/// What `{counts}` says before the first counts come.
const WAITING: &str = "reading the DLQ...";
/// The columns of the templates' text before `{counts}` (`[00:00:00] `, or the spinner too).
const BEFORE_MSG_WITH_TOTAL: usize = 11;
const BEFORE_MSG_WITHOUT_TOTAL: usize = 13;

impl Bar {
    /// The display of a replay that `settings` ask for; `total` events (or sends) if known.
    /// Log lines need a Tokio runtime (a task writes them).
    pub fn new(settings: Settings, total: Option<Total>) -> Self {
        Bar::shown(settings, total, Snapshot::Run(Progress::default()))
    }

    /// The display of an export that `settings` ask for.
    pub fn export(settings: Settings) -> Self {
        Bar::shown(settings, None, Snapshot::Export(ExportSummary::default()))
    }

    fn shown(settings: Settings, total: Option<Total>, initial: Snapshot) -> Self {
        match settings.shown {
            Shown::Off => Bar {
                display: Display::Off,
            },
            Shown::Log(interval) => Bar {
                display: Display::Log(LogLines::start(interval, settings.json, total, initial)),
            },
            Shown::Bar => {
                let term = console::Term::stderr();
                let width = Width(Arc::new(move || term.size().1));
                let bar = Bar::drawn(ProgressDrawTarget::stderr(), width, total);
                if let Display::Bar { pb, .. } = &bar.display {
                    pb.enable_steady_tick(Duration::from_millis(120));
                    set_active_bar(Some(pb.clone()));
                }
                bar
            }
        }
    }

    /// A bar on `target`, `width` columns wide.
    fn drawn(target: ProgressDrawTarget, width: Width, total: Option<Total>) -> Self {
        let template = if total.is_some() {
            WITH_TOTAL
        } else {
            WITHOUT_TOTAL
        };
        let counts: Arc<Mutex<Option<Snapshot>>> = Arc::default();
        let shown = Arc::clone(&counts);
        let with_total = total.is_some();
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
            .with_key(
                "counts",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let snapshot = shown.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    let room = msg_width(&width, with_total);
                    let text = match &snapshot {
                        None => WAITING.to_string(),
                        Some(Snapshot::Run(p)) => fit(&counts_parts(p), room),
                        Some(Snapshot::Export(s)) => fit(&export_parts(s), room),
                    };
                    let _ = w.write_str(&text);
                },
            );
        let pb = ProgressBar::with_draw_target(total.map(|t| t.of()), target).with_style(style);
        Bar {
            display: Display::Bar { pb, total, counts },
        }
    }

    /// Whether progress is shown (a bar or log lines).
    pub fn is_shown(&self) -> bool {
        !matches!(self.display, Display::Off)
    }

    /// Tells this run's id (log lines carry it).
    pub fn run_id(&self, id: &str) {
        if let Display::Log(l) = &self.display {
            l.set_run_id(id);
        }
    }

    /// Shows the counts so far.
    pub fn update(&self, p: &Progress) {
        match &self.display {
            Display::Off => {}
            Display::Bar { pb, total, counts } => {
                *counts.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Snapshot::Run(p.clone()));
                pb.set_position(total.map_or(p.seen + p.already_replayed, |t| t.done(p)));
            }
            Display::Log(l) => l.set(Snapshot::Run(p.clone())),
        }
    }

    /// Shows an export's counts so far.
    pub fn exported(&self, s: &ExportSummary) {
        match &self.display {
            Display::Off => {}
            Display::Bar { pb, counts, .. } => {
                *counts.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Snapshot::Export(s.clone()));
                pb.tick();
            }
            Display::Log(l) => l.set(Snapshot::Export(s.clone())),
        }
    }

    /// A line above the bar (or just a line).
    pub fn note(&self, line: &str) {
        match &self.display {
            Display::Bar { pb, .. } => pb.println(line),
            _ => crate::output::err_line(line),
        }
    }

    /// Removes the bar, or stops the log lines.
    pub fn finish(&self) {
        match &self.display {
            Display::Off => {}
            Display::Bar { pb, .. } => {
                set_active_bar(None);
                pb.finish_and_clear();
            }
            Display::Log(l) => l.stop(),
        }
    }
}

/// The columns left for the message.
fn msg_width(width: &Width, with_total: bool) -> usize {
    let before = if with_total {
        BEFORE_MSG_WITH_TOTAL
    } else {
        BEFORE_MSG_WITHOUT_TOTAL
    };
    usize::from((width.0)()).saturating_sub(before)
}

#[cfg(test)]
mod tests;
