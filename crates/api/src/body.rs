//! The response body: a whole buffer, or a stream fed from a channel (logs, events, wait,
//! stats, pull progress) whose sender sees the receiver dropped when the client goes away.

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    pub fn empty() -> Body {
        Body::Full(None)
    }
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }
    /// A streamed body and the sender that feeds it (from a blocking thread: `blocking_send`).
    pub fn channel() -> (mpsc::Sender<Bytes>, Body) {
        let (tx, rx) = mpsc::channel(64);
        (tx, Body::Stream(rx))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// A blocking `Write` into a streamed body; with `stream` set each write is one frame of
/// Docker's multiplexed format (8-byte header `[stream, 0, 0, 0, len:u32 BE]`).
pub struct ChanWriter {
    tx: mpsc::Sender<Bytes>,
    stream: Option<u8>,
}

impl ChanWriter {
    pub fn raw(tx: mpsc::Sender<Bytes>) -> ChanWriter {
        ChanWriter { tx, stream: None }
    }
    pub fn muxed(tx: mpsc::Sender<Bytes>, stream: u8) -> ChanWriter {
        ChanWriter {
            tx,
            stream: Some(stream),
        }
    }
}

impl std::io::Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let data = match self.stream {
            Some(s) => mux_frame(s, buf),
            None => Bytes::copy_from_slice(buf),
        };
        self.tx
            .blocking_send(data)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One frame of Docker's multiplexed stream (stdcopy).
pub fn mux_frame(stream: u8, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

/// A blocking `Read` of a request body streamed over a channel (archive PUT, image load).
pub struct ChanReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl ChanReader {
    pub fn new(rx: mpsc::Receiver<Bytes>) -> ChanReader {
        ChanReader {
            rx,
            cur: Bytes::new(),
        }
    }
}

impl std::io::Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}
