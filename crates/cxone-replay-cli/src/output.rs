//! Results on stdout; writing them never panics.

use crate::error::CliError;
use std::io::Write;

/// Prints to stdout; a closed pipe (`| head`) is not an error.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

/// Prints `v` as one line of JSON on stdout.
///
/// # Errors
/// Exit 1 if `v` cannot be serialized.
pub fn out_json(v: &impl serde::Serialize) -> Result<(), CliError> {
    let s = serde_json::to_string(v)
        .map_err(|e| CliError::failed(format!("cannot serialize the output: {e}")))?;
    out(&s);
    out("\n");
    Ok(())
}
