//! Capturing a guest's stdout and stderr, bounded.
//!
//! wasmtime-wasi's `MemoryOutputPipe` traps the guest once full, which would fail a
//! correct but chatty transform. This sink keeps the first `cap` bytes, drops the rest,
//! remembers that it did, and never fails a write. Written by hand because no crate
//! offers a truncating WASI output stream.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    truncated: bool,
}

/// A bounded, shareable log sink; clones write to the same buffer.
#[derive(Clone)]
pub struct BoundedLog {
    cap: usize,
    inner: Arc<Mutex<Buffer>>,
}

impl BoundedLog {
    /// A sink keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        BoundedLog {
            cap,
            inner: Arc::new(Mutex::new(Buffer::default())),
        }
    }

    /// What was captured (lossy UTF-8) and whether bytes were dropped.
    pub fn contents(&self) -> (String, bool) {
        let inner = self.inner.lock().expect("the log mutex is never poisoned");
        (
            String::from_utf8_lossy(&inner.bytes).into_owned(),
            inner.truncated,
        )
    }

    fn append(&self, buf: &[u8]) {
        let mut inner = self.inner.lock().expect("the log mutex is never poisoned");
        let room = self.cap.saturating_sub(inner.bytes.len());
        if buf.len() > room {
            inner.truncated = true;
        }
        let take = buf.len().min(room);
        inner.bytes.extend_from_slice(&buf[..take]);
    }
}

impl IsTerminal for BoundedLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedLog {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for BoundedLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_flags_the_rest() {
        let log = BoundedLog::new(5);
        log.append(b"abc");
        log.append(b"defgh");
        assert_eq!(log.contents(), ("abcde".to_string(), true));
    }
}
