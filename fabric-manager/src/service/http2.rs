//! The member's HTTP/2 server: accepts connections (plain or TLS) and hands
//! each gRPC request to the service its path names.
//!
//! tonic's own `Server` puts five layers around every request (connection
//! info, a boxed clone service, error recovery, the gRPC timeout and axum's
//! router, which matches the path and boxes the future again) and detects
//! HTTP/1 on every connection. PAN speaks gRPC only and its services are
//! infallible, so requests go straight from hyper's HTTP/2 connection to the
//! generated service: one prefix comparison picks it.

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

/// After an accept error caused by a lack of resources (file descriptors,
/// memory), how long the listener waits before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

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
            .map_err(|e| {
                invalid(format!(
                    "the certificate and key do not go together (pass the key made with this certificate): {e}"
                ))
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
        // beyond h2's own bookkeeping (tonic's default too).
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
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                if is_resource_error(&e) {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
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
    let mut asked = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = closing.changed(), if !asked => {
                let _ = changed;
                asked = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

fn is_resource_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// The errno values of resource exhaustion on accept (Linux).
mod libc_errno {
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOBUFS: i32 = 105;
}

/// A generated tonic service (possibly intercepted), as PAN serves it.
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
            // The agent service checks each blade's token itself, and logs
            // where the blade connects from.
            req.extensions_mut().insert(self.info.clone());
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
