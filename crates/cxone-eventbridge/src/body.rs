//! Reading a response body without trusting the server about its size: success bodies up to
//! their cap (checked against `Content-Length` first, then as the chunks arrive), error bodies
//! only as far as an error keeps them. Whatever is not read is never drained: dropping the
//! response closes the connection.

use crate::error::ERROR_SCAN;
use crate::setting::Setting;
use bytes::Bytes;

/// The default cap of a DLQ page body: 32 MiB.
pub const DEFAULT_MAX_PAGE_BODY: usize = 32 * 1024 * 1024;
/// The default cap of a token (or OIDC discovery) response body: 64 KiB.
pub const DEFAULT_MAX_TOKEN_BODY: usize = 64 * 1024;
/// The default cap of any other response body (a PUT's answer): 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// The cap of one call's success body, and the setting that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit {
    pub(crate) bytes: usize,
    pub(crate) setting: Setting,
}

/// Why a success body was not read.
pub(crate) enum Unread {
    /// Over the cap (by its `Content-Length`, or as it arrived).
    TooLarge { declared: Option<u64> },
    /// The body broke off.
    Transport(reqwest::Error),
}

/// Reads a success body of at most `limit` bytes. The buffer never grows past the limit.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, Unread> {
    let declared = response.content_length();
    if let Some(len) = declared.filter(|&l| usize::try_from(l).map_or(true, |l| l > limit)) {
        return Err(Unread::TooLarge {
            declared: Some(len),
        });
    }
    let expected = declared.and_then(|l| usize::try_from(l).ok()).unwrap_or(0);
    let mut buf: Vec<u8> = Vec::with_capacity(expected);
    while let Some(chunk) = response.chunk().await.map_err(Unread::Transport)? {
        let needed = buf.len() + chunk.len();
        if needed > limit {
            return Err(Unread::TooLarge { declared: None });
        }
        if needed > buf.capacity() {
            // Double as a Vec would, but never past the limit.
            let target = (buf.capacity() * 2).max(needed).min(limit);
            buf.reserve_exact(target - buf.len());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// Reads the start of an error body: at most a few KiB, then stops (the rest is never read;
/// the connection is dropped with the response). A body that breaks off keeps what arrived.
pub(crate) async fn read_error_start(mut response: reqwest::Response) -> Bytes {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = ERROR_SCAN - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= ERROR_SCAN {
            break;
        }
    }
    Bytes::from(buf)
}
