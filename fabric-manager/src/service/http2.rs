//! The member's HTTP/2 server: accepts connections (plain or TLS) and hands
//! each gRPC request to the service its path names.
//!
//! tonic's own `Server` puts five layers around every request (connection
//! info, a boxed clone service, error recovery, the gRPC timeout and axum's
//! router, which matches the path and boxes the future again). PAN's
//! services are infallible, so requests go straight from hyper's HTTP/2
//! connection to the generated service: one prefix comparison picks it.
//!
//! Shutdown stops accepting, sends every connection a GOAWAY and waits for
//! the calls under way, at most [`DRAIN_TIMEOUT`]: a connection still open
//! then (a client that never sent its preface, a peer gone silent) is
//! dropped. Long-lived streams end themselves on shutdown (agent sessions,
//! event watches).

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::transport::server::TcpConnectInfo;

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// After an accept error (other than a connection the peer aborted), how
/// long the listener waits before accepting again: out of file descriptors
/// or memory, an immediate retry fails again at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long shutdown waits for a connection's calls under way.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The three gRPC services a member serves, by path prefix, with the check
/// each call must pass before its service sees it (a refused call is
/// answered with the check's status).
#[derive(Clone)]
pub struct Routes<F, R, A> {
    pub fabric: F,
    pub fabric_check: Check,
    pub raft: R,
    pub raft_check: Check,
    pub agent: A,
}

/// Admits a call (reading its headers, adding what it learnt to its
/// extensions) or refuses it with a status.
pub type Check = Arc<dyn Fn(&mut Request<Body>) -> Result<(), tonic::Status> + Send + Sync>;

/// A member's TLS identity, checked: its certificate chain and private key.
/// Connections negotiate HTTP/2 (ALPN `h2`); clients are not asked for a
/// certificate (they present bearer tokens, members the cluster key).
#[derive(Clone)]
pub struct ServerTls(tokio_rustls::TlsAcceptor);

impl ServerTls {
    /// From PEM: `cert` holds the chain (leaf first), `key` one private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, crate::Error> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |reason: String| crate::Error::Tls { reason };
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("the certificate file is not PEM: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(
                "the certificate file holds no CERTIFICATE block".to_string(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| invalid(format!("the key file holds no usable private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => invalid(format!(
                    "the certificate and key do not go together (pass the key made with this \
                     certificate): {e}"
                )),
                e => invalid(format!(
                    "rustls cannot serve with this certificate and key: {e}"
                )),
            })?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }
}

/// HTTP/2 settings of every connection.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub connection_window: u32,
    pub stream_window: u32,
}

/// Serves `routes` on `listener` until `shutdown` completes, then stops
/// accepting, asks every connection to finish (GOAWAY) and returns once all
/// have closed.
pub async fn serve<F, R, A>(
    listener: TcpListener,
    tls: Option<ServerTls>,
    routes: Routes<F, R, A>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) where
    F: GrpcService,
    R: GrpcService,
    A: GrpcService,
{
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_connection_window_size(settings.connection_window)
        .initial_stream_window_size(settings.stream_window)
        // Clients multiplex many calls and raft pipelines: no stream cap
        // beyond h2's own bookkeeping (tonic's default too). Unlike tonic,
        // hyper's default cap of 1,024 streams reset for errors per
        // connection stays (a defence against reset floods).
        .max_concurrent_streams(None);
    let builder = Arc::new(builder);
    let (closing, closing_rx) = tokio::sync::watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            // The peer gave up before we took it: nothing to wait for.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection; retrying in 50 ms");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Small raft and API messages must not wait for delayed ACKs.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%remote, error = %e, "cannot turn Nagle's algorithm off");
        }
        let conn = Connection {
            routes: routes.clone(),
            info: TcpConnectInfo {
                local_addr: stream.local_addr().ok(),
                remote_addr: Some(remote),
            },
        };
        tokio::spawn(serve_connection(
            stream,
            remote,
            tls.clone(),
            conn,
            builder.clone(),
            closing_rx.clone(),
        ));
    }
    drop(listener);
    let _ = closing.send(());
    drop(closing_rx);
    closing.closed().await;
}

/// Serves one accepted connection until it closes or the server shuts down.
async fn serve_connection<F, R, A>(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<ServerTls>,
    conn: Connection<F, R, A>,
    builder: Arc<hyper::server::conn::http2::Builder<TokioExecutor>>,
    mut closing: tokio::sync::watch::Receiver<()>,
) where
    F: GrpcService,
    R: GrpcService,
    A: GrpcService,
{
    match tls {
        None => {
            drive(
                builder.serve_connection(TokioIo::new(stream), conn),
                &mut closing,
            )
            .await
        }
        Some(ServerTls(acceptor)) => {
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let stream = tokio::select! {
                _ = closing.changed() => return,
                done = handshake => match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%remote, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        return;
                    }
                },
            };
            drive(
                builder.serve_connection(TokioIo::new(stream), conn),
                &mut closing,
            )
            .await
        }
    }
}

/// Runs an HTTP/2 connection; when the server shuts down, it stops taking
/// new calls and ends once the calls under way have finished.
async fn drive<I, F, R, A>(
    conn: hyper::server::conn::http2::Connection<TokioIo<I>, Connection<F, R, A>, TokioExecutor>,
    closing: &mut tokio::sync::watch::Receiver<()>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: GrpcService,
    R: GrpcService,
    A: GrpcService,
{
    let mut conn = pin!(conn);
    let done = tokio::select! {
        done = conn.as_mut() => done,
        _ = closing.changed() => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(DRAIN_TIMEOUT, conn.as_mut()).await {
                Ok(done) => done,
                Err(_) => {
                    tracing::info!("a connection still open {DRAIN_TIMEOUT:?} after shutdown began was dropped");
                    return;
                }
            }
        }
    };
    if let Err(e) = done {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// A generated tonic service, as PAN serves it.
pub trait GrpcService:
    Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future: Unpin + Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future: Unpin + Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// One connection's view of the routes.
#[derive(Clone)]
struct Connection<F, R, A> {
    routes: Routes<F, R, A>,
    info: TcpConnectInfo,
}

impl<F, R, A> hyper::service::Service<Request<Incoming>> for Connection<F, R, A>
where
    F: GrpcService,
    R: GrpcService,
    A: GrpcService,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Route<F::Future, R::Future, A::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(Body::new);
        // `tonic::Request::remote_addr` reads it (the agent service logs
        // where a blade connects from).
        req.extensions_mut().insert(self.info.clone());
        let path = req.uri().path();
        let routes = &self.routes;
        if path.starts_with("/pan.v1.Fabric/") {
            match (routes.fabric_check)(&mut req) {
                Ok(()) => Route::Fabric(routes.fabric.clone().call(req)),
                Err(status) => Route::Ready(Some(status.into_http())),
            }
        } else if path.starts_with("/pan.v1.Raft/") {
            match (routes.raft_check)(&mut req) {
                Ok(()) => Route::Raft(routes.raft.clone().call(req)),
                Err(status) => Route::Ready(Some(status.into_http())),
            }
        } else if path.starts_with("/pan.v1.Agent/") {
            // The agent service checks each blade's token itself.
            Route::Agent(routes.agent.clone().call(req))
        } else {
            let status = tonic::Status::unimplemented(format!(
                "{path} is not a PAN service; check the client's PAN version"
            ));
            Route::Ready(Some(status.into_http()))
        }
    }
}

/// The response future of whichever service took the request.
pub enum Route<F, R, A> {
    Fabric(F),
    Raft(R),
    Agent(A),
    /// Answered without a service: refused, or no such service.
    Ready(Option<Response<Body>>),
}

impl<F, R, A> Future for Route<F, R, A>
where
    F: Future<Output = Result<Response<Body>, Infallible>> + Unpin,
    R: Future<Output = Result<Response<Body>, Infallible>> + Unpin,
    A: Future<Output = Result<Response<Body>, Infallible>> + Unpin,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Route::Fabric(f) => Pin::new(f).poll(cx),
            Route::Raft(f) => Pin::new(f).poll(cx),
            Route::Agent(f) => Pin::new(f).poll(cx),
            Route::Ready(reply) => Poll::Ready(Ok(reply.take().unwrap_or_default())),
        }
    }
}
