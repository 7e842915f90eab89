//! The JSON Lines audit log: [`JsonlAuditLog`] writes it, [`AuditLog`] reads it back.
//!
//! # Durability
//! Each record is serialized to one line and written with a single `write` call as soon as the
//! event's outcome is known, so once [`AuditSink::record`] returns the line is in the operating
//! system's hands: a crash or `SIGKILL` of the process loses nothing that was recorded. Lines are
//! made durable on disk (`fsync` via [`File::sync_data`]) in batches, by a background thread:
//! after every [`JsonlOptions::sync_every`] records (default 256) or every
//! [`JsonlOptions::sync_interval`] (default 200 ms) when records are pending, whichever comes
//! first, and always at the end of a run ([`AuditSink::flush`]) and when the log is dropped. A
//! power loss may thus lose at most the last batch; a re-run with resume then re-sends those
//! events, which the idempotency key makes harmless (the API answers `409`, audited
//! `DUPLICATE`).
//!
//! # Locking
//! Opening a log for writing takes an exclusive advisory lock on the open log file itself
//! ([`File::try_lock`]: `flock` on Unix), released when the log is dropped or the process dies,
//! even by `SIGKILL`. The lock belongs to the file, not to its name: a second concurrent run on
//! the same log fails with [`EngineError::LogLocked`] whatever path it opens it by (a symlink,
//! a hard link, another spelling of the path). No lock file is created. Readers
//! ([`AuditLog::read`], [`AuditLog::scan`], summaries, reports, resume) take no lock and are
//! never blocked by a run (on Unix; on Windows the lock is mandatory and blocks them). A
//! `<log>.lock` file left by version 0.1 is ignored.
//!
//! # Torn lines
//! A crash in the middle of a `write` can leave a last line without its newline. Opening such a
//! log for append first terminates that line, so new records start on a line of their own; the
//! reader reports the torn line (as [`LogReport::torn_tail`] when it is last, as a
//! [`LogReport::malformed`] line once later records follow it).
//!
//! # Reading back
//! [`AuditLog::read`] and [`AuditLog::scan`] read the lines; [`AuditLog::summary`] and
//! [`AuditLog::failed`] aggregate them by event without holding the records (`summary`,
//! `failed`): each event's final outcome is its last record, except that a delivered outcome
//! (`SUCCESS`, `DUPLICATE`) is never overridden by a later one that is not, and a dry run or a
//! `FILTERED` skip (records that say nothing about the event's delivery) never overrides an
//! earlier outcome.

mod failed;
mod report;
mod summary;
mod timeline;

pub use failed::{FailedEvent, FailedReport};
pub use report::{
    ClassBreakdown, ExampleEvent, LatencyReport, MAX_TOPICS, ReasonBreakdown, ReportOptions,
    RunReport, TopicCount,
};
pub use summary::{LogSummary, RunRow};
pub use timeline::{TimeBin, Timeline};

use crate::error::{EngineError, Setting};
use crate::ports::{AuditSink, BoxError, Unrecorded};
use crate::resume::DeliveredKeys;
use async_trait::async_trait;
use cxone_replay_domain::AuditRecord;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a [`JsonlAuditLog`] batches its `fsync`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonlOptions {
    /// `fsync` after this many records (default 256).
    pub sync_every: u64,
    /// `fsync` at least this often while records are pending (default 200 ms).
    pub sync_interval: Duration,
}

impl Default for JsonlOptions {
    fn default() -> Self {
        JsonlOptions {
            sync_every: 256,
            sync_interval: Duration::from_millis(200),
        }
    }
}

/// The log file and the buffer its lines are serialized into (reused: no allocation per
/// record once it has grown to the longest line).
#[derive(Debug)]
struct Writer {
    file: File,
    line: Vec<u8>,
}

#[derive(Debug)]
struct Shared {
    file: Mutex<Writer>,
    /// A second handle on the same file, for `fsync` without blocking writers.
    sync_file: File,
    unsynced: AtomicU64,
    written: AtomicU64,
    sync_error: Mutex<Option<std::io::Error>>,
}

impl Shared {
    fn take_sync_error(&self) -> Option<std::io::Error> {
        self.sync_error.lock().ok().and_then(|mut e| e.take())
    }

    fn sync(&self) -> Result<(), std::io::Error> {
        if let Some(e) = self.take_sync_error() {
            return Err(e);
        }
        self.unsynced.store(0, Ordering::Release);
        self.sync_file.sync_data()
    }
}

enum SyncMsg {
    Kick,
    Stop,
}

/// An append-only JSON Lines audit log on disk: one line per [`AuditRecord`], written as outcomes
/// happen. See the [module documentation](self) for durability, locking and torn lines.
///
/// ```
/// use cxone_dlq_replay::{AuditLog, JsonlAuditLog};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit.jsonl");
/// let log = JsonlAuditLog::open(&path)?;
/// // a second run on the same log is refused while `log` is alive
/// assert!(matches!(
///     JsonlAuditLog::open(&path),
///     Err(cxone_dlq_replay::EngineError::LogLocked { .. })
/// ));
/// drop(log);
/// assert!(AuditLog::read(&path)?.records.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonlAuditLog {
    path: PathBuf,
    shared: Arc<Shared>,
    kick: SyncSender<SyncMsg>,
    syncer: Option<JoinHandle<()>>,
    repaired_torn_tail: bool,
    options: JsonlOptions,
}

impl JsonlAuditLog {
    /// Opens (creating if needed) the log at `path` for append, with default [`JsonlOptions`].
    ///
    /// # Errors
    /// [`EngineError::LogLocked`] if another run holds the lock on the file at `path` (by any
    /// path to it); [`EngineError::Io`] if the file cannot be opened, locked or repaired.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EngineError> {
        Self::open_with(path, JsonlOptions::default())
    }

    /// Opens the log with explicit `fsync` batching.
    ///
    /// # Errors
    /// As [`JsonlAuditLog::open`], and [`EngineError::Setting`] for `sync_every == 0`.
    pub fn open_with(path: impl AsRef<Path>, options: JsonlOptions) -> Result<Self, EngineError> {
        if options.sync_every == 0 {
            return Err(EngineError::invalid(
                Setting::SyncEvery,
                "must be at least 1",
            ));
        }
        let path = path.as_ref().to_path_buf();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| EngineError::io("open", &path, e))?;
        // The lock is the open file's (its inode's), not its name's: every path to this file
        // meets it. It is held as long as `file` (and its clone below) are open.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(EngineError::LogLocked { path }),
            Err(std::fs::TryLockError::Error(e)) => return Err(EngineError::io("lock", &path, e)),
        }
        let len = file
            .metadata()
            .map_err(|e| EngineError::io("stat", &path, e))?
            .len();
        let mut repaired_torn_tail = false;
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| EngineError::io("read", &path, e))?;
            if last[0] != b'\n' {
                file.write_all(b"\n")
                    .and_then(|()| file.sync_data())
                    .map_err(|e| EngineError::io("repair", &path, e))?;
                repaired_torn_tail = true;
            }
        }
        let sync_file = file
            .try_clone()
            .map_err(|e| EngineError::io("open", &path, e))?;
        let shared = Arc::new(Shared {
            file: Mutex::new(Writer {
                file,
                line: Vec::with_capacity(1024),
            }),
            sync_file,
            unsynced: AtomicU64::new(0),
            written: AtomicU64::new(0),
            sync_error: Mutex::new(None),
        });
        let (kick, rx) = std::sync::mpsc::sync_channel::<SyncMsg>(1);
        let sh = Arc::clone(&shared);
        let interval = options.sync_interval;
        let syncer = std::thread::Builder::new()
            .name("audit-fsync".into())
            .spawn(move || {
                let sync = |sh: &Shared| {
                    if sh.unsynced.swap(0, Ordering::AcqRel) > 0
                        && let Err(e) = sh.sync_file.sync_data()
                        && let Ok(mut slot) = sh.sync_error.lock()
                    {
                        slot.get_or_insert(e);
                    }
                };
                loop {
                    match rx.recv_timeout(interval) {
                        Ok(SyncMsg::Kick) | Err(RecvTimeoutError::Timeout) => sync(&sh),
                        Ok(SyncMsg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                            sync(&sh);
                            break;
                        }
                    }
                }
            })
            .map_err(|e| EngineError::io("start the fsync thread for", &path, e))?;
        Ok(JsonlAuditLog {
            path,
            shared,
            kick,
            syncer: Some(syncer),
            repaired_torn_tail,
            options,
        })
    }

    /// The log's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether opening found a torn last line (from a crash) and terminated it.
    #[must_use]
    pub fn repaired_torn_tail(&self) -> bool {
        self.repaired_torn_tail
    }

    /// Records written through this handle.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// The `fsync` batching in use.
    #[must_use]
    pub fn options(&self) -> JsonlOptions {
        self.options
    }

    fn take_sync_error(&self) -> Option<std::io::Error> {
        self.shared
            .sync_error
            .lock()
            .ok()
            .and_then(|mut e| e.take())
    }

    /// Writes one record (see [`AuditSink::record`]); synchronous.
    ///
    /// # Errors
    /// The I/O error of the write, or of an earlier background `fsync`.
    pub fn append(&self, record: &AuditRecord) -> Result<(), std::io::Error> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Writes `records` as consecutive lines with one `write` (see [`AuditSink::record_all`]):
    /// all of them or, when the write fails, none (the part written is cut off again);
    /// synchronous.
    ///
    /// # Errors
    /// The I/O error of the write, or of an earlier background `fsync`.
    pub fn append_all(&self, records: &[AuditRecord]) -> Result<(), std::io::Error> {
        if let Some(e) = self.take_sync_error() {
            return Err(e);
        }
        if records.is_empty() {
            return Ok(());
        }
        {
            let mut w = self
                .shared
                .file
                .lock()
                .map_err(|_| std::io::Error::other("audit log writer poisoned"))?;
            let Writer { file, line } = &mut *w;
            line.clear();
            for record in records {
                serde_json::to_writer(&mut *line, record).map_err(std::io::Error::other)?;
                line.push(b'\n');
            }
            write_line(file, line)?;
        }
        let n = records.len() as u64;
        self.shared.written.fetch_add(n, Ordering::Relaxed);
        if self.shared.unsynced.fetch_add(n, Ordering::AcqRel) + n >= self.options.sync_every {
            match self.kick.try_send(SyncMsg::Kick) {
                Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
            }
        }
        Ok(())
    }

    /// `fsync`s everything written so far.
    ///
    /// # Errors
    /// The I/O error of this or an earlier `fsync`.
    pub fn sync(&self) -> Result<(), std::io::Error> {
        self.shared.sync()
    }
}

/// Writes all of `line` at the end of `f`, or none of it: a write that fails part-way (a full
/// disk, a file-size limit: `EFBIG`) has the part it wrote cut off again, so that the log never
/// holds a torn line while the process lives on. (A crash in the middle still can, which is
/// why a torn last line is repaired on open.)
fn write_line(f: &mut File, line: &[u8]) -> Result<(), std::io::Error> {
    let mut written = 0;
    while written < line.len() {
        match f.write(&line[written..]) {
            Ok(0) => {
                return Err(undo(f, written, std::io::ErrorKind::WriteZero.into()));
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(undo(f, written, e)),
        }
    }
    Ok(())
}

/// Cuts the last `written` bytes off `f` (the part of a line a failed write left), and gives
/// back the write's error.
fn undo(f: &File, written: usize, e: std::io::Error) -> std::io::Error {
    if written > 0
        && let Ok(m) = f.metadata()
    {
        // Best effort: if even this fails, the torn line is repaired when the log is opened.
        let _ = f.set_len(m.len().saturating_sub(written as u64));
    }
    e
}

impl Drop for JsonlAuditLog {
    fn drop(&mut self) {
        let _ = self.kick.send(SyncMsg::Stop);
        if let Some(h) = self.syncer.take() {
            let _ = h.join();
        }
    }
}

#[async_trait]
impl AuditSink for JsonlAuditLog {
    async fn record(&self, record: &AuditRecord) -> Result<(), BoxError> {
        self.append(record)
            .map_err(|e| Box::new(EngineError::io("append to", &self.path, e)) as BoxError)
    }

    async fn record_all(&self, records: &[AuditRecord]) -> Result<(), Unrecorded> {
        // All or none: a failed write is cut off again.
        self.append_all(records).map_err(|e| Unrecorded {
            recorded: 0,
            source: Box::new(EngineError::io("append to", &self.path, e)),
        })
    }

    async fn flush(&self) -> Result<(), BoxError> {
        // fsync may take milliseconds: keep it off the async worker threads.
        let shared = Arc::clone(&self.shared);
        let synced = match tokio::runtime::Handle::try_current() {
            Ok(h) => h
                .spawn_blocking(move || shared.sync())
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => shared.sync(),
        };
        synced.map_err(|e| Box::new(EngineError::io("fsync", &self.path, e)) as BoxError)
    }

    async fn delivered_keys(&self) -> Result<Option<DeliveredKeys>, BoxError> {
        let mut keys = DeliveredKeys::new();
        AuditLog::scan(&self.path, |rec| {
            keys.insert_record(&rec);
        })
        .map_err(|e| Box::new(e) as BoxError)?;
        Ok(Some(keys))
    }

    fn can_resume(&self) -> bool {
        true
    }
}

/// Whether a file with `records` records and these unreadable lines is an audit log: some line
/// is a record, or no line is anything else (an empty log, only blank lines).
fn is_audit_log(records: u64, torn_tail: Option<&BadLine>, malformed: &[BadLine]) -> bool {
    let torn = torn_tail.is_some_and(|t| t.error.as_deref().is_some_and(|e| e != "blank"));
    records > 0 || (malformed.is_empty() && !torn)
}

/// A line of an audit log that is not a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's start.
    pub offset: u64,
    /// Length in bytes (without the newline).
    pub len: usize,
    /// Why it is not a record (`None` for a torn last line that still parsed).
    pub error: Option<String>,
}

/// An audit log read back.
#[derive(Debug, Clone, Default)]
pub struct LogReport {
    /// The records, in order.
    pub records: Vec<AuditRecord>,
    /// Lines read (blank lines included).
    pub lines: u64,
    /// A last line without its newline (a write cut short by a crash). Tolerated: if it still
    /// parses, its record is in `records`.
    pub torn_tail: Option<BadLine>,
    /// Other lines that are not records (in the middle of the log).
    pub malformed: Vec<BadLine>,
}

/// Reads audit logs back.
#[derive(Debug, Clone, Copy)]
pub struct AuditLog;

impl AuditLog {
    /// Reads every record of the log at `path`, tolerating and reporting a torn last line and
    /// malformed lines.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the file cannot be opened or read.
    pub fn read(path: impl AsRef<Path>) -> Result<LogReport, EngineError> {
        let mut records = Vec::new();
        let mut report = Self::scan(path, |r| records.push(r))?;
        report.records = records;
        Ok(report)
    }

    /// Streams the records of the log at `path` to `f`; the returned report has no `records`.
    ///
    /// # Errors
    /// As [`AuditLog::read`].
    pub fn scan(
        path: impl AsRef<Path>,
        mut f: impl FnMut(AuditRecord),
    ) -> Result<LogReport, EngineError> {
        Self::scan_at(path.as_ref(), |_, r| f(r))
    }

    /// [`AuditLog::scan`], giving `f` each record's byte offset in the file too (for
    /// [`AuditLog::record_at`]).
    pub(crate) fn scan_at(
        path: &Path,
        mut f: impl FnMut(u64, AuditRecord),
    ) -> Result<LogReport, EngineError> {
        let file = File::open(path).map_err(|e| EngineError::io("open", path, e))?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut report = LogReport::default();
        let mut buf = Vec::with_capacity(1024);
        let mut offset = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| EngineError::io("read", path, e))?;
            if n == 0 {
                break;
            }
            report.lines += 1;
            let complete = buf.last() == Some(&b'\n');
            let body = if complete { &buf[..n - 1] } else { &buf[..] };
            let blank = body.iter().all(u8::is_ascii_whitespace);
            let parsed = if blank {
                None
            } else {
                Some(serde_json::from_slice::<AuditRecord>(body))
            };
            let bad = |error: Option<String>| BadLine {
                line: report.lines,
                offset,
                len: body.len(),
                error,
            };
            match (complete, parsed) {
                (true, None) => {}
                (true, Some(Ok(r))) => f(offset, r),
                (true, Some(Err(e))) => report.malformed.push(bad(Some(e.to_string()))),
                (false, None) => report.torn_tail = Some(bad(Some("blank".into()))),
                (false, Some(Ok(r))) => {
                    report.torn_tail = Some(bad(None));
                    f(offset, r);
                }
                (false, Some(Err(e))) => report.torn_tail = Some(bad(Some(e.to_string()))),
            }
            offset += n as u64;
        }
        Ok(report)
    }

    /// The records of the log at `path` that start at `offsets`, as
    /// [`AuditLog::scan_at`] gave them, in the order of `offsets`. The log is append-only: a
    /// line read again is the line read before.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the file cannot be read, or (`InvalidData`) if a line at one of
    /// the offsets is no longer a record: the file was replaced or rewritten meanwhile.
    pub(crate) fn records_at(
        path: &Path,
        offsets: &[u64],
    ) -> Result<Vec<AuditRecord>, EngineError> {
        let file = File::open(path).map_err(|e| EngineError::io("open", path, e))?;
        let mut reader = BufReader::with_capacity(8 * 1024, file);
        let mut buf = Vec::with_capacity(1024);
        let mut out = Vec::with_capacity(offsets.len());
        for &offset in offsets {
            buf.clear();
            reader
                .seek(SeekFrom::Start(offset))
                .and_then(|_| reader.read_until(b'\n', &mut buf))
                .map_err(|e| EngineError::io("read", path, e))?;
            let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let record = serde_json::from_slice::<AuditRecord>(body).map_err(|e| {
                let changed = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the line at byte {offset} is no longer a record ({e}): the file changed while it was read"),
                );
                EngineError::io("read again", path, changed)
            })?;
            out.push(record);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use cxone_replay_domain::{AuditContext, FailureClass, SentOutcome};

    fn rec(event: &str, class: Option<FailureClass>) -> AuditRecord {
        let ctx = AuditContext {
            run_id: "run-1",
            topic_id: "t",
            event_id: event,
            destination: "t",
        };
        AuditRecord::sent(
            &ctx,
            &SentOutcome {
                class,
                idempotency_key: format!("replay-{event}-v1"),
                attempt: 1,
                http_status: Some(201),
                http_attempts: 1,
                latency_ms: 3.0,
                message: None,
            },
            DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        )
    }

    #[test]
    fn writes_one_line_per_record_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = JsonlAuditLog::open_with(
            &p,
            JsonlOptions {
                sync_every: 2,
                sync_interval: Duration::from_millis(10),
            },
        )
        .unwrap();
        for i in 0..5 {
            log.append(&rec(&format!("e{i}"), None)).unwrap();
        }
        log.sync().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert!(text.ends_with('\n'));
        let r = AuditLog::read(&p).unwrap();
        assert_eq!(r.records.len(), 5);
        assert!(r.torn_tail.is_none() && r.malformed.is_empty());
        assert_eq!(r.records[0], rec("e0", None));
    }

    #[test]
    fn append_all_writes_the_records_as_consecutive_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = JsonlAuditLog::open(&p).unwrap();
        log.append(&rec("e0", None)).unwrap();
        let batch: Vec<_> = (1..4).map(|i| rec(&format!("e{i}"), None)).collect();
        log.append_all(&batch).unwrap();
        log.append_all(&[]).unwrap();
        log.append(&rec("e4", None)).unwrap();
        drop(log);
        let r = AuditLog::read(&p).unwrap();
        assert!(r.torn_tail.is_none() && r.malformed.is_empty());
        let ids: Vec<_> = r.records.iter().map(|r| r.event_id.as_str()).collect();
        assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4"]);
        assert_eq!(r.records[2], batch[1]);
    }

    #[test]
    fn torn_tail_is_reported_then_repaired_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let good = serde_json::to_string(&rec("e1", None)).unwrap();
        std::fs::write(&p, format!("{good}\n{}", &good[..20])).unwrap();
        let r = AuditLog::read(&p).unwrap();
        assert_eq!(r.records.len(), 1);
        let torn = r.torn_tail.expect("torn tail reported");
        assert_eq!(torn.line, 2);
        assert_eq!(torn.offset, good.len() as u64 + 1);
        assert!(torn.error.is_some());

        let log = JsonlAuditLog::open(&p).unwrap();
        assert!(log.repaired_torn_tail());
        log.append(&rec("e2", None)).unwrap();
        drop(log);
        let r = AuditLog::read(&p).unwrap();
        assert_eq!(r.records.len(), 2, "the new record is on its own line");
        assert!(r.torn_tail.is_none());
        assert_eq!(r.malformed.len(), 1);
        assert_eq!(r.malformed[0].line, 2);
    }

    #[test]
    fn summary_takes_the_final_outcome_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = JsonlAuditLog::open(&p).unwrap();
        log.append(&rec("e1", Some(FailureClass::ServerTransient)))
            .unwrap();
        log.append(&rec("e1", None)).unwrap();
        log.append(&rec("e2", Some(FailureClass::Forbidden)))
            .unwrap();
        log.append(&rec("e3", Some(FailureClass::DuplicateDetected)))
            .unwrap();
        drop(log);
        let s = AuditLog::summary(&p).unwrap();
        assert_eq!(s.records, 4);
        assert_eq!(s.events, 3);
        assert_eq!(s.final_counts.success, 1);
        assert_eq!(s.final_counts.failed, 1);
        assert_eq!(s.final_counts.duplicate, 1);
        assert_eq!(s.failures.get(&FailureClass::Forbidden), Some(&1));
        assert_eq!(s.events_with_several_records, 1);
        assert_eq!(s.runs.len(), 1);
        assert_eq!(s.runs[0].run_id, "run-1");
        assert_eq!(s, AuditLog::read(&p).unwrap().summary());
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let first = JsonlAuditLog::open(&p).unwrap();
        let err = JsonlAuditLog::open(&p).unwrap_err();
        assert!(matches!(err, EngineError::LogLocked { .. }), "{err:?}");
        assert!(err.to_string().contains("in use by another run"));
        drop(first);
        assert!(JsonlAuditLog::open(&p).is_ok());
        assert!(
            !dir.path().join("a.jsonl.lock").exists(),
            "no lock file is made"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_is_the_files_not_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let first = JsonlAuditLog::open(&p).unwrap();
        let sym = dir.path().join("sym.jsonl");
        std::os::unix::fs::symlink(&p, &sym).unwrap();
        let hard = dir.path().join("hard.jsonl");
        std::fs::hard_link(&p, &hard).unwrap();
        let dotted = dir.path().join(".").join("a.jsonl");
        for other in [&sym, &hard, &dotted] {
            match JsonlAuditLog::open(other) {
                Err(EngineError::LogLocked { path }) => assert_eq!(&path, other),
                r => panic!("{} was not refused: {r:?}", other.display()),
            }
        }
        // readers are not blocked
        first.append(&rec("e1", None)).unwrap();
        assert_eq!(AuditLog::read(&hard).unwrap().records.len(), 1);
        // a 0.1 lock file left behind changes nothing
        std::fs::write(dir.path().join("other.jsonl.lock"), b"").unwrap();
        assert!(JsonlAuditLog::open(dir.path().join("other.jsonl")).is_ok());
        drop(first);
        assert!(JsonlAuditLog::open(&sym).is_ok());
    }
}
