//! The loopback HTTP/1 server Ferry's tools share: the Bedrock emulator, the local
//! Lambda Runtime API and the bench's S3 endpoint each answer requests with one
//! handler; this crate binds the port, accepts connections and serves each one on its
//! own task until the [`Server`] is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server does when accepting a connection fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAcceptError {
    /// Accepts the next connection (the server keeps serving).
    Skip,
    /// Stops accepting; connections already open are served to their end.
    Stop,
}

/// A server on 127.0.0.1; dropping it stops accepting connections.
pub struct Server {
    address: SocketAddr,
    accepting: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Server {
    /// Binds 127.0.0.1:`port` (0: any free port) and answers every request with
    /// `handler`, each connection on its own task.
    pub async fn start<H, F>(
        port: u16,
        on_accept_error: OnAcceptError,
        handler: H,
    ) -> io::Result<Server>
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let address = listener.local_addr()?;
        let accepting = tokio::spawn(accept(listener, on_accept_error, Arc::new(handler)));
        Ok(Server { address, accepting })
    }

    /// The address it listens on: `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

async fn accept<H, F>(listener: TcpListener, on_accept_error: OnAcceptError, handler: Arc<H>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, handler.clone()));
            }
            Err(_) if on_accept_error == OnAcceptError::Skip => continue,
            Err(_) => return,
        }
    }
}

async fn serve_connection<H, F>(stream: TcpStream, handler: Arc<H>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let answer = handler(request);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    // A client that hangs up mid-request is its own problem.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn each_request_is_answered_by_the_handler_on_loopback() {
        let server = Server::start(0, OnAcceptError::Skip, |request| async move {
            Response::new(Full::new(Bytes::from(format!(
                "you asked {}",
                request.uri()
            ))))
        })
        .await
        .unwrap();
        assert!(server.address().ip().is_loopback());
        let mut stream = TcpStream::connect(server.address()).await.unwrap();
        stream
            .write_all(b"GET /thing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("you asked /thing"), "{answer}");
    }
}
