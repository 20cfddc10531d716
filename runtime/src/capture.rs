//! A plugin's stdout or stderr: captured in memory, drained into the log after every call.
//! Unlike wasmtime-wasi's `MemoryOutputPipe`, which traps the guest once its capacity is
//! used up over the instance's whole life, a capture holds one call's output at most and
//! drops (and counts) what exceeds it, so a long-lived stream instance that prints on
//! every message is not killed for it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Debug, Default)]
struct Inner {
    buf: BytesMut,
    /// Bytes dropped since the last drain because the buffer was full.
    dropped: usize,
}

/// Shared by the WASI context (writing) and the call state (draining).
#[derive(Debug, Clone)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
}

impl Capture {
    pub fn new(capacity: usize) -> Self {
        Capture {
            inner: Arc::default(),
            capacity,
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock();
        let room = self.capacity.saturating_sub(inner.buf.len());
        let kept = bytes.len().min(room);
        inner.buf.extend_from_slice(&bytes[..kept]);
        inner.dropped += bytes.len() - kept;
    }

    /// What was written since the last drain, and how many bytes did not fit.
    pub fn drain(&self) -> (Bytes, usize) {
        let mut inner = self.inner.lock();
        let dropped = std::mem::take(&mut inner.dropped);
        (inner.buf.split().freeze(), dropped)
    }

    /// What was written since the last drain, left in place.
    pub fn peek(&self) -> Bytes {
        Bytes::copy_from_slice(&self.inner.lock().buf)
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: what does not fit is dropped, never refused.
        Ok(self.capacity.max(1))
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_drain_worth_and_counts_the_rest() {
        let mut c = Capture::new(8);
        for _ in 0..3 {
            // Three rounds of more than the capacity: never an error, never more than 8 kept.
            OutputStream::write(&mut c, Bytes::from_static(b"0123456789")).unwrap();
            assert_eq!(c.peek(), Bytes::from_static(b"01234567"));
            assert_eq!(c.drain(), (Bytes::from_static(b"01234567"), 2));
            assert_eq!(c.drain(), (Bytes::new(), 0));
        }
    }
}
