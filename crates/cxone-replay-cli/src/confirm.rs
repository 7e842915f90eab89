//! Before a live replay: say what is about to happen and ask, on a terminal; refuse without
//! one unless `--yes`.

use crate::cli::{ReplayArgs, WebhookUrl};
use crate::error::CliError;
use cxone_dlq_replay::{Pace, Selection};
use cxone_replay_domain::{ReplayPolicy, scheme_and_host};
use std::io::{BufRead, IsTerminal, Write};

/// Whether the operator can be asked: stdin and stderr are terminals.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// A live replay without `--yes` needs someone to ask.
///
/// # Errors
/// Exit 2 with a one-line hint when the replay is live, `--yes` is not given and there is no
/// terminal to ask on.
pub fn check(a: &ReplayArgs, interactive: bool) -> Result<(), CliError> {
    if a.dry_run || a.yes || interactive {
        return Ok(());
    }
    Err(
        CliError::usage("a live replay needs --yes when not run from a terminal")
            .hint("pass --yes to send the events, or --dry-run to see what would be sent"),
    )
}

/// What the run is about to do, one item per line (for the question).
pub fn plan(
    a: &ReplayArgs,
    topics: &[String],
    selection: &Selection,
    policy: &ReplayPolicy,
    pace: Option<&Pace>,
) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let topics = topics.join(", ");
    rows.push((
        "source",
        match &a.from_file {
            Some(f) => format!("the file {} (topics {topics})", f.display()),
            None => format!("the DLQ of {topics}"),
        },
    ));
    let f = &a.filter;
    let mut filters: Vec<String> = Vec::new();
    if f.since.is_some() || f.until.is_some() {
        filters.push(format!(
            "last failure {}{}",
            f.since
                .map(|t| format!("since {}", show_time(t)))
                .unwrap_or_default(),
            f.until
                .map(|t| format!(" until {}", show_time(t)))
                .unwrap_or_default()
        ));
    }
    if let Some(r) = &f.reason {
        filters.push(format!("reason contains {r:?}"));
    }
    if !f.event_types.is_empty() {
        filters.push(format!("type {}", f.event_types.join(" or ")));
    }
    if !f.event_ids.is_empty() || f.event_ids_file.is_some() {
        filters.push(format!(
            "{} event id(s){}",
            f.event_ids.len(),
            f.event_ids_file
                .as_ref()
                .map(|p| format!(" and those in {}", p.display()))
                .unwrap_or_default()
        ));
    }
    if let (Some(log), Some(only)) = (&f.only_failed, &selection.only) {
        filters.push(format!(
            "only the {} event(s) that failed in {}{}",
            only.len(),
            log.display(),
            f.only_failed_class
                .map(|c| format!(" with {c}"))
                .unwrap_or_default()
        ));
    }
    rows.push((
        "filters",
        if filters.is_empty() {
            "none: every event within the retry window".into()
        } else {
            filters.join("; ")
        },
    ));
    rows.push((
        "limit",
        a.limit
            .map_or("none".into(), |n| format!("stop after {n} sends")),
    ));
    rows.push((
        "rate",
        match pace {
            None => "unpaced".into(),
            Some(Pace::Fixed(r)) => format!("at most {r} per second"),
            Some(Pace::Adaptive { min, max }) => {
                format!("auto: find the API's rate limit, between {min} and {max} per second")
            }
            Some(other) => format!("{other:?}"),
        },
    ));
    rows.push(("concurrency", a.concurrency.to_string()));
    rows.push((
        "destination",
        // scheme and host only: a path or query could carry a credential
        match policy.get_destination_override() {
            Some(d) => format!("override https://{}", d.host()),
            None => "each event's topic".into(),
        },
    ));
    if let Some(url) = a.monitoring_webhook.as_ref().and_then(WebhookUrl::expose) {
        // scheme and host only: the URL itself is a credential
        rows.push((
            "webhook",
            format!(
                "{}{}",
                scheme_and_host(url),
                if a.webhook_secret.is_some() {
                    " (signed)"
                } else {
                    ""
                }
            ),
        ));
    }
    rows.push((
        "audit log",
        format!(
            "{}{}",
            a.audit_log.display(),
            if a.resume {
                " (resume: skip what it says was delivered)"
            } else {
                ""
            }
        ),
    ));
    let mut out = String::from("About to replay for real (events will be sent):\n");
    for (k, v) in rows {
        out.push_str(&format!("  {k:<12} {v}\n"));
    }
    out
}

fn show_time(t: crate::cli::TimeArg) -> String {
    match t {
        crate::cli::TimeArg::At(t) => t.to_rfc3339(),
        crate::cli::TimeArg::Ago(d) => format!("{} ago", humantime::format_duration(d)),
    }
}

/// `y`/`yes`, any case; anything else is no.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints `plan` and `Proceed? [y/N]` on stderr and reads the answer on stdin.
///
/// # Errors
/// Exit 1 ("nothing was sent") unless the answer is yes.
pub async fn ask(plan: String) -> Result<(), CliError> {
    let answer = tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{plan}Proceed? [y/N] ");
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| CliError::failed(format!("cannot ask for confirmation: {e}")))?
    .map_err(|e| CliError::failed(format!("cannot read the answer: {e}")))?;
    if is_yes(&answer) {
        Ok(())
    } else {
        Err(CliError::failed("not confirmed: nothing was sent"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn replay(args: &[&str]) -> ReplayArgs {
        let cli = Cli::try_parse_from(["cxone-replay", "replay"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Replay(r) => *r,
            _ => panic!("not replay"),
        }
    }

    #[test]
    fn without_a_terminal_a_live_replay_needs_yes() {
        let e = check(&replay(&[]), false).unwrap_err();
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        assert!(e.to_string().contains("--yes"), "{e}");
        assert!(check(&replay(&["--yes"]), false).is_ok());
        assert!(check(&replay(&["-y"]), false).is_ok());
        assert!(check(&replay(&["--dry-run"]), false).is_ok());
        assert!(check(&replay(&[]), true).is_ok(), "a terminal: ask instead");
    }

    #[test]
    fn the_plan_says_what_will_happen() {
        let a = replay(&[
            "--since",
            "2h",
            "--reason",
            "502",
            "--limit",
            "10",
            "--rate",
            "5",
            "--concurrency",
            "3",
            "--destination-override",
            "https://hooks.example.com/in?token=s3cret",
            "--monitoring-webhook",
            "https://hooks.slack.com/services/T0/B0/w3bh00k-s3cret",
            "--resume",
        ]);
        let (policy, _) = crate::replay::policy_and_filter(&a, chrono::Utc::now()).unwrap();
        let pace = crate::replay::pace(&a).unwrap();
        let text = plan(
            &a,
            &["t1".into(), "t2".into()],
            &Selection::default(),
            &policy,
            pace.as_ref(),
        );
        for needle in [
            "  source       the DLQ of t1, t2\n",
            "last failure since 2h ago; reason contains \"502\"",
            "  limit        stop after 10 sends\n",
            "  rate         at most 5 per second\n",
            "  concurrency  3\n",
            "  destination  override https://hooks.example.com\n",
            "  webhook      https://hooks.slack.com\n",
            "replay_audit_log.jsonl (resume: skip what it says was delivered)",
        ] {
            assert!(text.contains(needle), "{needle}:\n{text}");
        }
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("services"), "{text}");
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("w3bh00k"), "{dbg}");
        assert!(
            dbg.contains("WebhookUrl(\"https://hooks.slack.com\")"),
            "{dbg}"
        );
        let text = plan(
            &replay(&[]),
            &["t".into()],
            &Selection::default(),
            &ReplayPolicy::default(),
            None,
        );
        assert!(text.contains("filters      none"), "{text}");
        assert!(text.contains("destination  each event's topic"), "{text}");
        assert!(text.contains("  rate         unpaced\n"), "{text}");
    }

    #[test]
    fn the_plan_shows_an_auto_pace_with_its_bounds() {
        let text_of = |args: &[&str]| {
            let a = replay(args);
            let pace = crate::replay::pace(&a).unwrap();
            plan(
                &a,
                &["t".into()],
                &Selection::default(),
                &ReplayPolicy::default(),
                pace.as_ref(),
            )
        };
        let text = text_of(&["--rate", "auto", "--rate-min", "2", "--rate-max", "40"]);
        assert!(
            text.contains(
                "  rate         auto: find the API's rate limit, between 2 and 40 per second\n"
            ),
            "{text}"
        );
        // the defaults are shown, not left implicit
        let text = text_of(&["--rate", "auto"]);
        let bounds = format!(
            "between {} and {} per second",
            cxone_dlq_replay::DEFAULT_PACE_MIN,
            cxone_dlq_replay::DEFAULT_PACE_MAX
        );
        assert!(text.contains(&bounds), "{text}");
    }

    #[test]
    fn only_yes_is_yes() {
        for yes in ["y", "Y", "yes", " YES\n"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "proceed"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
