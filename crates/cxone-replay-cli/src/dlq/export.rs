//! `dlq export`: the DLQ streamed to a JSON Lines file (or stdout), complete or not at all.

use crate::cli::DlqExportArgs;
use crate::config::api_error;
use crate::error::{CliError, chain};
use crate::output::{err, out, out_json, stdout_error};
use crate::partial::PartialFile;
use crate::progress::{Bar, Settings};
use cxone_dlq_replay::{DEFAULT_PAGE_SIZE, EngineError, ExportSummary, Selection, export};
use cxone_eventbridge::{Client, Error as ApiError};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Exports the DLQs of `topics` as `a` says, showing progress on a terminal, and prints the
/// counts: on stdout for a file, on stderr for `--out -` (stdout holds the events).
///
/// A file is written to a temporary file in its directory (`.NAME.XXXXXX.partial`), flushed to
/// disk, then renamed: FILE appears only complete. A crash leaves only the `.partial` file.
///
/// # Errors
/// Exit 2 if FILE exists (without `--force`) or `--json` goes with `--out -`; exit 1 if the
/// DLQ cannot be read or the file cannot be written (no FILE is left behind).
pub async fn run(
    a: &DlqExportArgs,
    client: &Client,
    topics: &[String],
    selection: &Selection,
    progress: Settings,
) -> Result<(), CliError> {
    let to_stdout = a.out.as_os_str() == "-";
    let bar = Bar::export(progress);
    let on_page = |s: &ExportSummary| {
        bar.exported(s);
    };
    let result = if to_stdout {
        let mut stdout = tokio::io::stdout();
        export(
            client,
            topics,
            DEFAULT_PAGE_SIZE,
            selection,
            &mut stdout,
            on_page,
        )
        .await
        .map_err(|e| export_error(&e, None))
    } else {
        to_file(&a.out, a.force, client, topics, selection, on_page).await
    };
    bar.finish();
    let summary = result?;
    if a.json {
        let mut v = serde_json::to_value(&summary).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("out".into(), a.out.display().to_string().into());
        }
        out_json(&v)?;
    } else {
        let line = format!(
            "exported {} event(s) of topic{} {} to {} ({} read)\n",
            summary.written,
            if topics.len() > 1 { "s" } else { "" },
            topics.join(", "),
            if to_stdout {
                "stdout".to_string()
            } else {
                a.out.display().to_string()
            },
            summary.read
        );
        if to_stdout {
            err(&line);
        } else {
            out(&line)?;
        }
    }
    Ok(())
}

/// Refuses what cannot work before anything is read.
///
/// # Errors
/// Exit 2 naming the conflict.
pub fn check(a: &DlqExportArgs) -> Result<(), CliError> {
    let to_stdout = a.out.as_os_str() == "-";
    if to_stdout && a.json {
        return Err(CliError::usage(
            "--json prints the counts on stdout, which --out - uses for the events: drop one",
        ));
    }
    if !to_stdout && !a.force && a.out.exists() {
        return Err(CliError::usage(format!(
            "{} exists: pass --force to replace it, or another --out",
            a.out.display()
        )));
    }
    Ok(())
}

async fn to_file(
    path: &Path,
    force: bool,
    client: &Client,
    topics: &[String],
    selection: &Selection,
    on_page: impl FnMut(&ExportSummary),
) -> Result<ExportSummary, CliError> {
    // Removed when dropped: an error leaves nothing behind.
    let partial = PartialFile::create(path)?;
    let handle = partial
        .file()
        .try_clone()
        .map_err(|e| partial.write_error(&e))?;
    let mut file =
        tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(handle));
    let summary = export(
        client,
        topics,
        DEFAULT_PAGE_SIZE,
        selection,
        &mut file,
        on_page,
    )
    .await
    .map_err(|e| export_error(&e, Some(path)))?;
    file.flush().await.map_err(|e| partial.write_error(&e))?;
    drop(file);
    // fsync and rename: blocking calls, off the async workers.
    tokio::task::spawn_blocking(move || partial.commit(force))
        .await
        .map_err(|e| CliError::failed(format!("cannot finish {}: {e}", path.display())))??;
    Ok(summary)
}

fn export_error(e: &EngineError, path: Option<&Path>) -> CliError {
    let what = match path {
        Some(p) => format!("{}; {} was not written", chain(e), p.display()),
        None => format!("{}; the output is incomplete", chain(e)),
    };
    // Refused credentials, an untrusted certificate or an unknown topic are configuration
    // errors with their hint, as for `dlq list`.
    match e {
        // `--out -` and its reader closed the pipe (`| head`): it has what it wanted.
        EngineError::ExportWrite { source, .. }
            if path.is_none() && stdout_error(source).is_quiet() =>
        {
            CliError::quiet()
        }
        EngineError::ExportRead { source, .. } => match source.downcast_ref::<ApiError>() {
            Some(api) => api_error("", api).reworded(what),
            None => CliError::failed(what),
        },
        _ => CliError::failed(what),
    }
}
