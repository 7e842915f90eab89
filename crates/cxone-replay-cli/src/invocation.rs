//! How to run this program again from a shell, for the commands printed as hints.

use std::path::{Path, PathBuf};

/// The binary's name.
const BIN: &str = "cxone-replay";

/// A command that runs this binary from a shell: `cxone-replay` when that name on `PATH` is
/// this very binary, else the binary's own path (as after `cargo run`, which does not put it on
/// `PATH`), quoted for a POSIX shell when needed.
pub fn self_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return BIN.to_string();
    };
    let path = std::env::var_os("PATH");
    let dirs: Vec<PathBuf> = path
        .as_deref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    if on_path(&exe, &dirs) {
        BIN.to_string()
    } else {
        shell_quote(&exe.to_string_lossy())
    }
}

/// Whether `BIN` found in one of `dirs` (the first hit, as a shell finds it) is `exe`.
fn on_path(exe: &Path, dirs: &[PathBuf]) -> bool {
    let name = format!("{BIN}{}", std::env::consts::EXE_SUFFIX);
    let Ok(exe) = exe.canonicalize() else {
        return false;
    };
    dirs.iter()
        .map(|d| d.join(&name))
        .find(|c| c.is_file())
        .and_then(|c| c.canonicalize().ok())
        .is_some_and(|c| c == exe)
}

/// `s` as one word for a POSIX shell: unchanged when it has only safe characters, else in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=+@%,".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/tmp/a-b_c.jsonl"), "/tmp/a-b_c.jsonl");
        assert_eq!(shell_quote("/tmp/my log.jsonl"), "'/tmp/my log.jsonl'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn the_binary_on_path_is_called_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir
            .path()
            .join(format!("{BIN}{}", std::env::consts::EXE_SUFFIX));
        std::fs::write(&exe, b"").unwrap();
        let other = tempfile::tempdir().unwrap();
        assert!(on_path(&exe, &[other.path().into(), dir.path().into()]));
        assert!(!on_path(&exe, &[other.path().into()]));
        // another binary of that name earlier on PATH shadows it
        let shadow = other
            .path()
            .join(format!("{BIN}{}", std::env::consts::EXE_SUFFIX));
        std::fs::write(&shadow, b"").unwrap();
        assert!(!on_path(&exe, &[other.path().into(), dir.path().into()]));
        // not built from here: the path it runs from
        assert!(!self_command().is_empty());
    }
}
