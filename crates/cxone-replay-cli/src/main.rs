//! `cxone-replay`: replay failed NICE CXone EventBridge events out of the dead letter queue.
//!
//! A thin command line over the `cxone-dlq-replay` engine, the `cxone-eventbridge` client and
//! (with the `demo` feature) the `cxone-eventbridge-emulator`: it turns flags and environment variables into their
//! configuration, shows progress on stderr, and prints results on stdout (`--json` for scripts).
//! Exit codes: 0 all eligible events delivered, 1 some failed (or an I/O failure), 2
//! usage/configuration/authentication error, 130 interrupted (SIGINT), 143 terminated
//! (SIGTERM); see the README's "Running in production".
#![forbid(unsafe_code)]

mod audit;
mod cli;
mod config;
mod confirm;
#[cfg(feature = "demo")]
mod demo;
mod dlq;
mod error;
mod invocation;
mod logging;
mod metrics;
mod output;
mod partial;
mod pretty;
mod progress;
mod replay;
mod report;
mod signals;
mod table;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command, Sources};
use error::CliError;
use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before clap reads the environment, and while the process has a single thread:
    // `.env` never overrides a variable that is already set.
    load_dotenv();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => e.exit(), // usage errors exit 2, --help/--version exit 0
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let Some(c) = cli.command.connection_mut() {
        c.sources = Sources::from_matches(&matches);
    }
    logging::init(&cli.global);
    let rt = match runtime(cli.global.threads) {
        Ok(rt) => rt,
        Err(e) => return CliError::failed(format!("cannot start the async runtime: {e}")).report(),
    };
    // From here on, a file-size limit (`ulimit -f`) makes a write fail (EFBIG) instead of
    // killing the process.
    let _file_size_limit = {
        let _in_runtime = rt.enter();
        signals::ignore_file_size_signal()
    };
    // Spawned: with several workers the command runs on one of them, not on this thread (where
    // `block_on` would poll it), so the run's tasks wake the dispatcher on the thread they run
    // on instead of unparking this one; with one thread it runs here either way.
    let joined = rt.block_on(rt.spawn(run(cli)));
    // Don't wait for stray blocking tasks (e.g. a stdin read) at exit, also not after a panic.
    rt.shutdown_background();
    match joined {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => e.report(),
        // The panic's message was printed when it happened; exit as a panic does (101).
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => CliError::failed(format!("the run was cancelled: {e}")).report(),
        },
    }
}

/// The async runtime: on the main thread for `--threads 1` (the default), else a multi-thread
/// runtime with `--threads N` workers.
fn runtime(threads: u16) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(n))
            .enable_all()
            .build(),
    }
}

fn load_dotenv() {
    match dotenvy::from_path(".env") {
        Ok(()) => {}
        Err(e) if e.not_found() => {}
        // Never print the offending line: it may hold a secret.
        Err(dotenvy::Error::LineParse(_, index)) => output::err_line(&format!(
            "warning: .env: cannot parse it at byte {index}; variables after it are ignored"
        )),
        Err(_) => output::err_line("warning: .env cannot be read; it is ignored"),
    }
}

/// After a run's result was `written` to stdout (or not): reports the error that stopped the
/// run, if any, and gives the exit code: the run's `code`, kept when stdout was closed by its
/// reader (`| head`), or exit 1 when the result could not be written (the run's work is
/// audited all the same).
pub(crate) fn finish(
    written: Result<(), CliError>,
    error: Option<CliError>,
    code: u8,
) -> Result<u8, CliError> {
    if let Some(e) = error {
        let _ = e.report();
    }
    match written {
        Err(e) if !e.is_quiet() => Err(e),
        _ => Ok(code),
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    let progress = cli.global.quiet == 0;
    let ui = progress::Ui {
        quiet: !progress,
        json_logs: cli.global.log_format == cli::LogFormat::Json,
    };
    // The command's one "now": relative times (`--since 2h`) and ages are taken against it.
    let now = chrono::Utc::now();
    match cli.command {
        // Read-only: SIGINT/SIGTERM stop them at once (exit 130/143), removing a partial file.
        Command::Dlq(cmd) => signals::stoppable(dlq::run(cmd, ui, now)).await,
        Command::Audit(cmd) => audit::run(cmd),
        Command::Replay(a) => replay::run(*a, ui, now).await,
        #[cfg(feature = "demo")]
        Command::Demo(a) => demo::run_command(&a, progress).await,
    }
}

#[cfg(test)]
mod tests {
    use super::runtime;
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn one_thread_is_a_current_thread_runtime_and_more_a_multi_thread_one() {
        let flavor = |t| runtime(t).unwrap().handle().runtime_flavor();
        assert_eq!(flavor(1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(2), RuntimeFlavor::MultiThread);
        assert_eq!(flavor(3), RuntimeFlavor::MultiThread);
    }
}
