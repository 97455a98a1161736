//! Serving the router over HTTP/1.1 on a TCP listener (`herald serve` and the black-box tests),
//! so that *every* answer the server emits carries the error envelope and `X-Correlation-ID`.
//!
//! hyper answers a request head it cannot parse by itself, before any handler runs: `400` for
//! a malformed head, `414` for a request target over 65,534 bytes, `431` for headers over its
//! buffer or count limits — each a bare head with `content-length: 0`. Each connection's
//! stream is wrapped in [`Enveloped`], which recognises exactly those heads when hyper writes
//! them (a status line of one of those three, `content-length: 0`, no `x-correlation-id`, and
//! nothing else in the write; the router's own answers always carry the header) and writes the
//! envelope in their place. hyper closes the connection after such an answer, so nothing
//! follows it. On AWS the API Gateway answers these before the function is called.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::middleware::CORRELATION_HEADER;

/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits for
/// the connections' requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: wait a moment rather than spin.
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let router = router.clone();
                async move { router.oneshot(request.map(Body::new)).await }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(Enveloped::new(stream)), service);
            let mut connection = std::pin::pin!(connection);
            let finished = tokio::select! {
                result = connection.as_mut() => Some(result),
                _ = stopping.wait_for(|stop| *stop) => None,
            };
            let result = match finished {
                Some(result) => result,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result
                && !error.is_incomplete_message()
            {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
        // Reap finished connections so the set does not grow with the server's lifetime.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// A connection's stream whose bare parse-error answers from hyper become envelopes.
struct Enveloped<S> {
    inner: S,
    /// An envelope being written in place of hyper's answer: the bytes, how many are written,
    /// and how many of hyper's bytes it stands for.
    replacing: Option<(Bytes, usize, usize)>,
}

impl<S> Enveloped<S> {
    fn new(inner: S) -> Self {
        Self { inner, replacing: None }
    }
}

impl<S: AsyncWrite + Unpin> Enveloped<S> {
    /// Writes the pending envelope; `Ready(n)` once it is all out, `n` being the length of
    /// hyper's answer it replaced.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, claimed)) = &mut self.replacing {
            if *written == bytes.len() {
                let claimed = *claimed;
                self.replacing = None;
                return Poll::Ready(Ok(claimed));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Enveloped<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Enveloped<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.replacing.is_none()
            && let Some(envelope) = envelope_for(buf)
        {
            self.replacing = Some((envelope, 0, buf.len()));
        }
        if self.replacing.is_some() {
            return self.poll_replacement(cx);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if self.replacing.is_none()
            && let (Some(only), None) = (filled.next(), filled.next())
            && let Some(envelope) = envelope_for(only)
        {
            self.replacing = Some((envelope, 0, only.len()));
        }
        if self.replacing.is_some() {
            return self.poll_replacement(cx);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The envelope answer for `written` when it is exactly one of hyper's bare parse-error heads.
fn envelope_for(written: &[u8]) -> Option<Bytes> {
    let head = std::str::from_utf8(written).ok()?;
    let rest = head.strip_prefix("HTTP/1.1 ").or_else(|| head.strip_prefix("HTTP/1.0 "))?;
    let (status, message) = match rest.get(..4)? {
        "400 " => (400, "The request is not valid HTTP/1.1"),
        "414 " => (414, "The request's URI is too long (at most 65,534 bytes)"),
        "431 " => (431, "The request's headers are too large or too many"),
        _ => return None,
    };
    let end = head.find("\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let lines: Vec<String> = head[..end].lines().skip(1).map(str::to_ascii_lowercase).collect();
    let bare = lines.iter().any(|l| l.replace(' ', "") == "content-length:0")
        && !lines.iter().any(|l| l.starts_with(CORRELATION_HEADER));
    if !bare {
        return None;
    }
    let id = ulid::Ulid::from_parts(chrono::Utc::now().timestamp_millis() as u64, rand::random()).to_string();
    let body = serde_json::json!({
        "error": {"code": "validation_error", "message": message, "details": {"status": status}},
        "request_id": id,
    })
    .to_string();
    let reason = head.lines().next().unwrap_or_default().get(13..).unwrap_or_default();
    tracing::info!(request_id = %id, status, "refused a request head");
    Some(Bytes::from(format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         {CORRELATION_HEADER}: {id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_parse_error_heads_become_envelopes() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 01:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(envelope_for(bare).unwrap().to_vec()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{answer}");
        assert!(answer.contains("\r\nx-correlation-id: "), "{answer}");
        let (_, body) = answer.split_once("\r\n\r\n").unwrap();
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(body["error"]["details"]["status"], 414);
        assert!(body["request_id"].is_string());
    }

    #[test]
    fn the_routers_own_answers_and_bodies_pass_untouched() {
        let routed = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-correlation-id: abc\r\n\r\n";
        assert!(envelope_for(routed).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert!(envelope_for(with_body).is_none());
        let other_status = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert!(envelope_for(other_status).is_none());
        assert!(envelope_for(b"a,b,c\r\n1,2,3\r\n").is_none());
    }
}
