//! [`FileSource`]: a [`DlqSource`] over a DLQ file (JSON Lines, as `dlq export` writes it).
//!
//! The file is read as a stream, one page per poll: a page holds up to `page_size` consecutive
//! lines of one topic (a page ends early where the next line belongs to another topic), and
//! nothing is read ahead of the page being built. Memory is one page of events plus one line
//! (at most [`FileSource::max_line_bytes`]; a longer line is skipped without being held, and
//! audited `INVALID_EVENT`), whatever the size of the file. See the crate README ("Replaying
//! from a file") for how the engine runs several topics out of one file.

use super::line::read_line;
use crate::error::EngineError;
use crate::ports::{BoxError, DlqSource, PageStream, TopicPageStream};
use cxone_replay_domain::{DlqEvent, DlqPage, EventDefect};
use futures::{StreamExt, stream};
use serde::Deserialize;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

/// The default longest line: 16 MiB (a DLQ payload is far smaller; the PUT body limit is
/// 256 KiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The read buffer of a file source.
const READ_BUFFER: usize = 64 * 1024;

/// A [`DlqSource`] that reads a DLQ file instead of the API. Each line's topic comes from its
/// `topicId`; lines of topics the run does not ask for are passed over (as the API path never
/// reads other topics' DLQs), and lines whose topic cannot be read are handed to the run under
/// the empty topic `""`, as malformed events, so that they are audited (`INVALID_EVENT`, with
/// the line number in the message) rather than lost.
///
/// ```no_run
/// use cxone_dlq_replay::{FileSource, JsonlAuditLog, Replayer};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let file = FileSource::new("dlq-backup.jsonl");
/// let topics = file.topics().await?.topics; // or a subset of them
/// let summary = Replayer::builder()
///     .topics(topics)
///     .source(file)
///     .dry_run(true)
///     .audit(JsonlAuditLog::open("replay_audit_log.jsonl")?)
///     .build()?
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    max_line_bytes: usize,
}

/// What [`FileSource::topics`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileTopics {
    /// The topics named by the lines, in order of first appearance.
    pub topics: Vec<String>,
    /// Lines that are not blank.
    pub lines: u64,
    /// Lines whose topic cannot be read (not JSON, no string `topicId`, or too long).
    pub unattributed: u64,
}

impl FileSource {
    /// A source over the file at `path` (opened when a stream is first polled).
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// The longest line accepted (default [`DEFAULT_MAX_LINE_BYTES`]); a longer line is
    /// skipped as it is read (never held whole) and becomes an `INVALID_EVENT`.
    #[must_use]
    pub fn max_line_bytes(mut self, n: NonZeroUsize) -> Self {
        self.max_line_bytes = n.get();
        self
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file once and lists the topics its lines name, holding one line at a time.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the file cannot be opened or read.
    pub async fn topics(&self) -> Result<FileTopics, EngineError> {
        #[derive(Deserialize)]
        struct TopicOnly {
            #[serde(rename = "topicId", default)]
            topic_id: Option<serde_json::Value>,
        }
        let mut lines = self.open().await?;
        let mut found = FileTopics::default();
        while let Some(line) = lines.next().await.map_err(|e| self.read_error(e))? {
            if line == LineKind::Blank {
                continue;
            }
            found.lines += 1;
            let topic = match line {
                LineKind::Text => serde_json::from_slice::<TopicOnly>(&lines.buf)
                    .ok()
                    .and_then(|t| match t.topic_id {
                        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
                        _ => None,
                    }),
                _ => None,
            };
            match topic {
                Some(t) if !found.topics.contains(&t) => found.topics.push(t),
                Some(_) => {}
                None => found.unattributed += 1,
            }
        }
        Ok(found)
    }

    async fn open(&self) -> Result<Lines<BufReader<tokio::fs::File>>, EngineError> {
        let file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| EngineError::io("open", &self.path, e))?;
        Ok(Lines::new(
            BufReader::with_capacity(READ_BUFFER, file),
            self.max_line_bytes,
        ))
    }

    fn read_error(&self, e: std::io::Error) -> EngineError {
        EngineError::io("read", &self.path, e)
    }

    /// The pages of the lines of `wanted` topics (and of lines without a readable topic).
    fn stream(
        &self,
        wanted: Vec<Arc<str>>,
        page_size: u32,
        start_token: Option<String>,
    ) -> TopicPageStream {
        let first: Arc<str> = wanted.first().cloned().unwrap_or_else(|| Arc::from(""));
        if let Some(token) = start_token {
            let e: BoxError = Box::new(EngineError::invalid(
                crate::Setting::StartToken,
                format!("a DLQ file has no page tokens (got `{token}`)"),
            ));
            return stream::iter([Err((first, e))]).boxed();
        }
        let source = self.clone();
        let page_size = usize::try_from(page_size).unwrap_or(usize::MAX).max(1);
        stream::once(async move {
            match source.open().await {
                Ok(lines) => pages(lines, wanted, page_size, source.path),
                Err(e) => stream::iter([Err((first, Box::new(e) as BoxError))]).boxed(),
            }
        })
        .flatten()
        .boxed()
    }
}

impl DlqSource for FileSource {
    /// The lines of `topic`, and the lines whose topic cannot be read, in file order.
    fn pages(&self, topic: &str, page_size: u32, start_token: Option<String>) -> PageStream {
        self.stream(vec![Arc::from(topic)], page_size, start_token)
            .map(|r| r.map(|(_, page)| page).map_err(|(_, e)| e))
            .boxed()
    }

    /// One pass over the file for all of `topics`: pages of consecutive lines of one topic.
    fn topic_pages(
        &self,
        topics: &[Arc<str>],
        page_size: u32,
        start_token: Option<String>,
    ) -> TopicPageStream {
        self.stream(topics.to_vec(), page_size, start_token)
    }
}

/// What [`Lines::next`] read into its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// A line, in the buffer (without its newline).
    Text,
    /// Only whitespace.
    Blank,
    /// Longer than the limit: skipped, not held; its length in bytes.
    TooLong(u64),
}

/// A line reader that never holds more than `max` bytes of a line.
struct Lines<R> {
    reader: R,
    max: usize,
    number: u64,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    fn new(reader: R, max: usize) -> Self {
        Lines {
            reader,
            max,
            number: 0,
            buf: Vec::new(),
        }
    }

    /// The next line (its 1-based number in `self.number`), or `None` at the end.
    async fn next(&mut self) -> std::io::Result<Option<LineKind>> {
        self.buf.clear();
        let mut len: u64 = 0;
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = self.reader.fill_buf().await?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let newline = chunk.iter().position(|b| *b == b'\n');
            let take = newline.unwrap_or(chunk.len());
            len += take as u64;
            if !too_long {
                if self.buf.len() + take > self.max {
                    too_long = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.reader.consume(take + usize::from(newline.is_some()));
            if newline.is_some() {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        if too_long {
            return Ok(Some(LineKind::TooLong(len)));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(LineKind::Blank));
        }
        Ok(Some(LineKind::Text))
    }
}

/// The state of a page stream.
struct Pages<R> {
    lines: Lines<R>,
    wanted: Vec<Arc<str>>,
    unknown: Arc<str>,
    page_size: usize,
    /// The first event of the next page, read when it ended the previous one.
    carry: Option<(Arc<str>, DlqEvent)>,
    path: PathBuf,
}

/// The pages of `lines`, as a stream that reads only when polled.
fn pages<R: AsyncBufRead + Unpin + Send + 'static>(
    lines: Lines<R>,
    wanted: Vec<Arc<str>>,
    page_size: usize,
    path: PathBuf,
) -> TopicPageStream {
    let state = Pages {
        lines,
        wanted,
        unknown: Arc::from(""),
        page_size,
        carry: None,
        path,
    };
    stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        match st.next_page().await {
            Ok(Some(page)) => Some((Ok(page), Some(st))),
            Ok(None) => None,
            // the stream ends after its error
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

impl<R: AsyncBufRead + Unpin> Pages<R> {
    async fn next_page(&mut self) -> Result<Option<(Arc<str>, DlqPage)>, (Arc<str>, BoxError)> {
        let mut topic: Option<Arc<str>> = None;
        let mut events = Vec::new();
        if let Some((t, e)) = self.carry.take() {
            topic = Some(t);
            events.push(e);
        }
        while events.len() < self.page_size {
            let kind = match self.lines.next().await {
                Ok(Some(k)) => k,
                Ok(None) => break,
                Err(e) => {
                    let t = topic.unwrap_or_else(|| Arc::clone(&self.unknown));
                    return Err((t, Box::new(EngineError::io("read", &self.path, e))));
                }
            };
            let number = self.lines.number;
            let (name, event) = match kind {
                LineKind::Blank => continue,
                LineKind::Text => read_line(&self.lines.buf, number),
                LineKind::TooLong(len) => (
                    None,
                    DlqEvent::defective(EventDefect::new(
                        "event",
                        format!(
                            "is {len} bytes long, over the limit of {} (line {number})",
                            self.lines.max
                        ),
                    )),
                ),
            };
            let t = match name {
                None => Arc::clone(&self.unknown),
                Some(name) => match self.wanted.iter().find(|w| ***w == *name) {
                    Some(w) => Arc::clone(w),
                    None => continue, // a topic the run does not ask for
                },
            };
            match &topic {
                None => topic = Some(t),
                Some(cur) if *cur == t => {}
                Some(_) => {
                    self.carry = Some((t, event));
                    break;
                }
            }
            events.push(event);
        }
        Ok(topic.map(|t| {
            (
                t,
                DlqPage {
                    events,
                    next_page_token: None,
                },
            )
        }))
    }
}

#[cfg(test)]
mod tests;
