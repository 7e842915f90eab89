//! `cxone-replay`: replay failed NICE CXone EventBridge events out of the dead letter queue.
//!
//! A thin command line over the `cxone-dlq-replay` engine, the `cxone-eventbridge` client and
//! (with the `demo` feature) the `cxone-eventbridge-emulator`: it turns flags and environment variables into their
//! configuration, shows progress on stderr, and prints results on stdout (`--json` for scripts).
//! Exit codes: 0 all eligible events delivered, 1 some failed, 2 usage/configuration/
//! authentication error, 130 interrupted.
#![forbid(unsafe_code)]

mod audit;
mod cli;
mod config;
#[cfg(feature = "demo")]
mod demo;
mod dlq;
mod error;
mod logging;
mod progress;
mod replay;
mod table;

use clap::{CommandFactory, FromArgMatches};
use cli::{AuditCommand, Cli, Command, DlqCommand, Global};
use config::Sources;
use error::{CliError, EXIT_OK};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before clap reads the environment, and while the process has a single thread:
    // `.env` never overrides a variable that is already set.
    load_dotenv();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => e.exit(), // usage errors exit 2, --help/--version exit 0
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let sources = Sources::from_matches(&matches);
    logging::init(&cli.global);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return CliError::failed(format!("cannot start the async runtime: {e}")).report(),
    };
    let code = match rt.block_on(run(cli, sources)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => e.report(),
    };
    // Don't wait for stray blocking tasks (e.g. a stdin read) at exit.
    rt.shutdown_background();
    code
}

fn load_dotenv() {
    match dotenvy::from_path(".env") {
        Ok(()) => {}
        Err(e) if e.not_found() => {}
        // Never print the offending line: it may hold a secret.
        Err(dotenvy::Error::LineParse(_, index)) => {
            eprintln!(
                "warning: .env: cannot parse it at byte {index}; variables after it are ignored"
            );
        }
        Err(_) => eprintln!("warning: .env cannot be read; it is ignored"),
    }
}

/// Prints to stdout; a closed pipe (`| head`) is not an error.
fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

fn out_json(v: &impl serde::Serialize) -> Result<(), CliError> {
    let s = serde_json::to_string(v)
        .map_err(|e| CliError::failed(format!("cannot serialize the output: {e}")))?;
    out(&s);
    out("\n");
    Ok(())
}

fn topic_or_usage(topic: Option<String>) -> Result<String, CliError> {
    let topic = topic
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CliError::usage("missing topic: pass --topic or set CXONE_TOPIC_ID"))?;
    if topic.contains(',') {
        return Err(CliError::usage(format!(
            "`{topic}` names several topics; dlq commands read one: pass --topic ID"
        )));
    }
    Ok(topic)
}

async fn client(g: &Global, sources: Sources) -> Result<cxone_eventbridge::Client, CliError> {
    let client = config::build(config::client_builder(g, sources)?)?;
    config::authenticate(&client).await?;
    Ok(client)
}

/// After the results are printed: report the error that stopped the run, if any.
fn finish(error: Option<CliError>, code: u8) -> Result<u8, CliError> {
    if let Some(e) = error {
        let _ = e.report();
    }
    Ok(code)
}

async fn run(cli: Cli, sources: Sources) -> Result<u8, CliError> {
    let g = &cli.global;
    let progress = g.quiet == 0;
    match cli.command {
        Command::Dlq(DlqCommand::List(a)) => {
            let topic = topic_or_usage(a.topic)?;
            let client = client(g, sources).await?;
            let listing = dlq::list(&client, &topic, a.limit, chrono::Utc::now()).await?;
            if a.json {
                out_json(&listing)?;
            } else {
                out(&dlq::render_list(&listing));
            }
            Ok(EXIT_OK)
        }
        Command::Dlq(DlqCommand::Stats(a)) => {
            let topic = topic_or_usage(a.topic)?;
            let client = client(g, sources).await?;
            let stats = dlq::stats(&client, &topic).await?;
            if a.json {
                out_json(&stats)?;
            } else {
                out(&dlq::render_stats(&stats));
            }
            Ok(EXIT_OK)
        }
        Command::Audit(AuditCommand::Summary(a)) => {
            let s = audit::summarize(&a.path)?;
            if a.json {
                out_json(&audit::to_json(&a.path, &s))?;
            } else {
                out(&audit::render(&a.path, &s));
            }
            Ok(EXIT_OK)
        }
        Command::Replay(a) => {
            let topics: Vec<String> = a
                .topics
                .iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            if topics.is_empty() {
                return Err(CliError::usage(
                    "missing topic: pass --topic (repeatable) or set CXONE_TOPIC_ID",
                ));
            }
            let (policy, filter) = replay::policy_and_filter(&a)?;
            let pace = replay::pace(&a)?;
            let concurrency = a.concurrency;
            let builder = config::client_builder(g, sources)?
                .retry_policy(config::retry_policy(a.max_attempts)?)
                .max_connections(concurrency);
            let client = config::build(builder)?;
            let monitor = replay::monitor(&a)?;
            config::authenticate(&client).await?;
            let spec = replay::RunSpec {
                client,
                topics,
                policy,
                filter,
                concurrency,
                pace,
                page_size: a.page_size,
                dry_run: a.dry_run,
                audit_log: a.audit_log.clone(),
                resume: a.resume,
                stop_after_failures: a.stop_after_failures,
                monitor,
                expected_total: None,
                progress,
            };
            let run = replay::execute(spec).await?;
            if a.json {
                out_json(&run.json(&a.audit_log))?;
            } else {
                out(&run.text(&a.audit_log));
            }
            let code = run.exit_code();
            finish(run.error, code)
        }
        #[cfg(feature = "demo")]
        Command::Demo(a) => {
            let outcome = demo::run(&a, progress).await?;
            if a.json {
                out_json(&demo::to_json(&outcome))?;
            } else {
                out(&demo::render(&a, &outcome));
            }
            let code = outcome.run.exit_code();
            finish(outcome.run.error, code)
        }
    }
}
