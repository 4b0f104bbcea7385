//! A listener for personalities that close the connection after every answer without saying
//! so (no `Connection: close`), as snac 2.94 does (docs/servers.md "Measured on real servers").
//!
//! On a real snac the socket closes right after the answer, and a client that reuses the
//! pooled connection loses a race: its next request is written before it has read the close,
//! and fails with "connection reset". Here the race is made deterministic: after the first
//! answer the connection stays open but deaf for a short grace time; a request arriving in it
//! is read and dropped without an answer byte (the connection closes), and when nothing
//! arrives the connection closes at the end of the grace time.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// How long a connection stays open, deaf, after its one answer.
const GRACE: Duration = Duration::from_millis(200);

/// Accepts TCP connections that each carry one answer.
#[derive(Debug)]
pub struct OneAnswerListener(pub TcpListener);

impl axum::serve::Listener for OneAnswerListener {
    type Io = OneAnswer;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((stream, addr)) = self.0.accept().await {
                return (
                    OneAnswer {
                        stream,
                        answered: None,
                    },
                    addr,
                );
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection that answers once. See the module docs.
#[derive(Debug)]
pub struct OneAnswer {
    stream: TcpStream,
    /// Set at the first write: the grace time before the connection closes.
    answered: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for OneAnswer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(grace) = this.answered.as_mut() else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        // A second request: read it, drop it, close without answering.
        let mut scratch = [0u8; 4096];
        let mut sink = ReadBuf::new(&mut scratch);
        match Pin::new(&mut this.stream).poll_read(cx, &mut sink) {
            Poll::Ready(Ok(())) if !sink.filled().is_empty() => {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            Poll::Ready(result) => return Poll::Ready(result),
            Poll::Pending => {}
        }
        // Nothing came: close (end of stream) once the grace time is over.
        match grace.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for OneAnswer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.answered.is_none() {
            this.answered = Some(Box::pin(tokio::time::sleep(GRACE)));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
