//! Files that appear complete or not at all: written to a temporary file beside them
//! (`.NAME.XXXXXX.partial`), flushed to disk, then renamed over them (`dlq export`,
//! `audit report`).

use crate::error::CliError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A file being written: dropped without [`PartialFile::commit`], it leaves nothing behind.
pub struct PartialFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl PartialFile {
    /// A temporary file in the directory of `path`.
    ///
    /// # Errors
    /// Exit 1 if it cannot be created (a missing directory, no permission, no space).
    pub fn create(path: &Path) -> Result<Self, CliError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|e| io_error(path, "create a temporary file beside", &e))?;
        Ok(PartialFile {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// The temporary file, to write to.
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// An error of writing it, naming the destination.
    pub fn write_error(&self, e: &std::io::Error) -> CliError {
        io_error(&self.path, "write", e)
    }

    /// Flushes the file to disk and renames it to its destination: over an existing file
    /// with `replace`, else only if there is none.
    ///
    /// # Errors
    /// Exit 1 if it cannot be synced or renamed (the temporary file is removed).
    pub fn commit(self, replace: bool) -> Result<(), CliError> {
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| io_error(&self.path, "sync", &e))?;
        let persisted = if replace {
            self.tmp.persist(&self.path)
        } else {
            self.tmp.persist_noclobber(&self.path)
        };
        persisted.map_err(|e| io_error(&self.path, "rename the finished file to", &e.error))?;
        Ok(())
    }
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> CliError {
    CliError::failed(format!("cannot {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn appears_complete_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.html");
        let p = PartialFile::create(&out).unwrap();
        p.file().write_all(b"half").unwrap();
        let names = entries(dir.path());
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(".r.html.") && names[0].ends_with(".partial"));
        drop(p);
        assert!(entries(dir.path()).is_empty(), "dropped: nothing left");

        let p = PartialFile::create(&out).unwrap();
        p.file().write_all(b"one").unwrap();
        p.commit(false).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "one");
        let p = PartialFile::create(&out).unwrap();
        p.file().write_all(b"two").unwrap();
        let e = p.commit(false).unwrap_err();
        assert!(e.to_string().contains("rename the finished file"), "{e}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "one");
        assert_eq!(entries(dir.path()), ["r.html"]);
        let p = PartialFile::create(&out).unwrap();
        p.file().write_all(b"three").unwrap();
        p.commit(true).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "three");

        let e = PartialFile::create(&dir.path().join("no/such/dir/r.html"))
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("create a temporary file beside"),
            "{e}"
        );
    }
}
