//! A TCP listener whose connections a handler can kill: closed without any response byte.
//!
//! Each accepted connection gets a [`ConnTag`], handed to handlers as `ConnectInfo`. A handler
//! that wants the client to see a transport error instead of a status calls [`ConnTag::kill`];
//! from then on every read and write of that socket fails, so hyper drops the connection
//! before writing the response.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Marks one connection; see the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnTag {
    kill: Arc<AtomicBool>,
}

impl ConnTag {
    /// Makes the connection fail before any byte of the response is written.
    pub(crate) fn kill(&self) {
        self.kill.store(true, Ordering::Release);
    }

    /// Whether [`ConnTag::kill`] was called.
    pub(crate) fn is_killed(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }
}

impl Connected<IncomingStream<'_, DropListener>> for ConnTag {
    fn connect_info(stream: IncomingStream<'_, DropListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The listener: accepts TCP connections and tags each.
pub(crate) struct DropListener {
    inner: TcpListener,
}

impl DropListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        DropListener { inner }
    }
}

impl Listener for DropListener {
    type Io = KillIo;
    type Addr = ConnTag;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let tag = ConnTag::default();
                    let io = KillIo {
                        inner: stream,
                        tag: tag.clone(),
                    };
                    return (io, tag);
                }
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) {
                        // Out of file descriptors or similar: back off briefly.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnTag::default())
    }
}

/// A TCP stream that fails every read and write once its tag is killed.
pub(crate) struct KillIo {
    inner: TcpStream,
    tag: ConnTag,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.tag.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.tag.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.tag.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.tag.is_killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn a_killed_connection_fails_reads_and_writes_and_the_peer_sees_it_close() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let mut listener = DropListener::new(tcp);
        let mut peer = TcpStream::connect(addr).await.expect("connect");
        let (mut io, tag) = listener.accept().await;
        peer.write_all(b"ping").await.expect("peer writes");
        let mut buf = [0u8; 4];
        io.read_exact(&mut buf).await.expect("read before the kill");
        assert_eq!(&buf, b"ping");
        assert!(!tag.is_killed());
        tag.kill();
        assert!(tag.is_killed());
        let err = io
            .write_all(b"pong")
            .await
            .expect_err("write after the kill");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        let err = io.read(&mut buf).await.expect_err("read after the kill");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        drop(io);
        // Nothing was written: the peer reads end of stream, not "pong".
        let mut rest = Vec::new();
        let _ = peer.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "{rest:?}");
    }
}
