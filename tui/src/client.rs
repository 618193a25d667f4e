//! The connection to the fabric manager: tries the given members in order
//! (moving on when one cannot be reached or answers `Unavailable`), sends
//! the `x-pan-principal` metadata and the bearer token (if any) on every call, bounds connecting (3 s) and
//! waiting for an answer (30 s, or longer per call for requests that wait
//! for hardware), and turns failures into [`CliError`]s.

use crate::error::{Attempt, CliError, Failure, not_grpc, one_line};
use pan_api::v1::fabric_client::FabricClient;
use std::error::Error as StdError;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status};

/// Metadata key naming who is acting; the manager records it in the audit log.
pub const PRINCIPAL_KEY: &str = "x-pan-principal";
/// Metadata key of the bearer token.
pub const AUTHORIZATION_KEY: &str = "authorization";
/// Principal used when `USER` is unset or not plain ASCII.
pub const DEFAULT_PRINCIPAL: &str = "operator";
/// How long connecting to one member may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a member may take to answer a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The generated client with the credentials attached to every call.
pub type Fabric = FabricClient<InterceptedService<Channel, Principal>>;

/// Adds `x-pan-principal` and, when a token was given, `authorization:
/// Bearer <token>` to every request. Its `Debug` never shows the token.
#[derive(Clone)]
pub struct Principal {
    name: AsciiMetadataValue,
    bearer: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("name", &self.name)
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Principal {
    /// The principal from `USER`, or `operator`.
    pub fn from_env() -> Self {
        Self::named(std::env::var("USER").ok().as_deref())
    }

    /// The given principal if it is usable as metadata, else `operator`.
    pub fn named(name: Option<&str>) -> Self {
        let value = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .and_then(|n| MetadataValue::try_from(n).ok())
            .unwrap_or_else(|| MetadataValue::from_static(DEFAULT_PRINCIPAL));
        Principal {
            name: value,
            bearer: None,
        }
    }

    /// Sends `token` as `authorization: Bearer <token>` on every call.
    pub fn with_token(mut self, token: Option<&Token>) -> Self {
        self.bearer = token.map(Token::bearer);
        self
    }
}

impl Interceptor for Principal {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert(PRINCIPAL_KEY, self.name.clone());
        if let Some(bearer) = &self.bearer {
            let mut bearer = bearer.clone();
            bearer.set_sensitive(true);
            request.metadata_mut().insert(AUTHORIZATION_KEY, bearer);
        }
        Ok(request)
    }
}

/// A bearer token (`pan_…`): checked to be usable as metadata, never shown
/// by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The token if it can travel as `authorization` metadata: visible
    /// ASCII without spaces, not empty. `None` otherwise.
    pub fn new(text: &str) -> Option<Token> {
        let ok = !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Token(text.to_string()))
    }

    /// The token itself, for tests.
    #[cfg(test)]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `Bearer <token>` as a metadata value.
    fn bearer(&self) -> AsciiMetadataValue {
        let mut value = MetadataValue::try_from(format!("Bearer {}", self.0))
            .expect("Token::new checked the characters");
        value.set_sensitive(true);
        value
    }
}

/// The fabric manager cluster as seen from `panctl`.
pub struct Manager {
    members: Vec<String>,
    principal: Principal,
    connected: Option<(usize, Fabric)>,
    /// `--ca-cert`: connect over TLS and verify members against this CA.
    ca_cert: Option<PathBuf>,
}

/// Why a channel to one member could not be opened.
enum ConnectFailure {
    /// Try the next member: the reason.
    Unreachable(String),
    /// Stop: a TLS mismatch or an unusable CA file, which every member shares.
    Final(CliError),
}

impl Manager {
    /// A manager reached through `members`, tried in order.
    pub fn new(members: Vec<String>, principal: Principal) -> Self {
        Manager {
            members,
            principal,
            connected: None,
            ca_cert: None,
        }
    }

    /// Connects over TLS, verifying members against the CA in `path`, when set.
    pub fn with_ca_cert(mut self, path: Option<PathBuf>) -> Self {
        self.ca_cert = path;
        self
    }

    /// `--ca-cert` as given, for messages.
    fn ca_name(&self) -> Option<String> {
        self.ca_cert.as_ref().map(|p| p.display().to_string())
    }

    /// The TLS configuration from `--ca-cert`, if given.
    fn tls(&self) -> Result<Option<ClientTlsConfig>, CliError> {
        let Some(path) = &self.ca_cert else {
            return Ok(None);
        };
        let bad = |reason: String| CliError::CaCert {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(strip_os_error(&e.to_string())))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(bad("it holds no PEM certificate".into()));
        }
        Ok(Some(
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
        ))
    }

    /// The address of the member last used, for messages.
    pub fn current_addr(&self) -> &str {
        let index = self.connected.as_ref().map_or(0, |(i, _)| *i);
        self.members.get(index).map_or("", String::as_str)
    }

    /// Sends `request` with `rpc`, failing over to the next member when one
    /// cannot be reached or answers `Unavailable`. Other errors are final.
    /// Each member may take [`REQUEST_TIMEOUT`] to answer.
    pub async fn call<M, T, F, Fut>(&mut self, request: M, rpc: F) -> Result<T, CliError>
    where
        M: Clone,
        F: Fn(Fabric, M) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.call_with_timeout(request, REQUEST_TIMEOUT, rpc).await
    }

    /// [`Manager::call`] for requests the manager may take longer than
    /// [`REQUEST_TIMEOUT`] to answer (it waits for hardware): each member
    /// may take `timeout`.
    pub async fn call_with_timeout<M, T, F, Fut>(
        &mut self,
        request: M,
        timeout: Duration,
        rpc: F,
    ) -> Result<T, CliError>
    where
        M: Clone,
        F: Fn(Fabric, M) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let count = self.members.len();
        let start = self.connected.as_ref().map_or(0, |(i, _)| *i);
        let mut attempts = Vec::new();
        for offset in 0..count {
            let index = (start + offset) % count;
            let addr = self.members[index].clone();
            let client = match self.client(index).await {
                Ok(client) => client,
                Err(ConnectFailure::Final(err)) => return Err(err),
                Err(ConnectFailure::Unreachable(reason)) => {
                    attempts.push(Attempt {
                        addr,
                        failure: Failure::Unreachable(reason),
                    });
                    continue;
                }
            };
            match tokio::time::timeout(timeout, rpc(client, request.clone())).await {
                Err(_elapsed) => {
                    return Err(CliError::Timeout {
                        addr,
                        secs: timeout.as_secs(),
                    });
                }
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => {
                    if let Some(err) = self.tls_mismatch(&addr, &status).await {
                        return Err(err);
                    }
                    let Some(failure) = failover_reason(&status) else {
                        return Err(CliError::Api { addr, status });
                    };
                    self.connected = None;
                    attempts.push(Attempt { addr, failure });
                }
            }
        }
        Err(CliError::NoMember { attempts })
    }

    /// When a call failed because one side speaks TLS and the other does
    /// not, or the member's certificate does not verify: the error to stop with.
    async fn tls_mismatch(&self, addr: &str, status: &Status) -> Option<CliError> {
        let source = status.source()?;
        if let Some(err) = tls_failure(addr, source, self.ca_name()) {
            return Some(err);
        }
        // Plain HTTP/2 to a TLS listener fails as a broken HTTP/2 stream:
        // ask the member whether it answers with a TLS alert.
        if self.ca_cert.is_none()
            && matches!(
                status.code(),
                Code::Internal | Code::Unknown | Code::Unavailable
            )
            && speaks_tls(addr).await
        {
            return Some(CliError::SpeaksTls {
                addr: addr.to_string(),
            });
        }
        None
    }

    /// The client for member `index`, connecting if needed.
    async fn client(&mut self, index: usize) -> Result<Fabric, ConnectFailure> {
        if let Some((i, client)) = &self.connected
            && *i == index
        {
            return Ok(client.clone());
        }
        let addr = &self.members[index];
        let tls = self.tls().map_err(ConnectFailure::Final)?;
        if tls.is_none() && addr.starts_with("https://") {
            return Err(ConnectFailure::Final(CliError::SpeaksTls {
                addr: addr.clone(),
            }));
        }
        let channel = match open(addr, tls).await {
            Ok(channel) => channel,
            Err(Opened::Tls(e)) => {
                return Err(ConnectFailure::Final(CliError::CaCert {
                    path: self.ca_name().unwrap_or_default(),
                    reason: describe_connect_error(&e),
                }));
            }
            Err(Opened::Address(e)) => {
                return Err(ConnectFailure::Unreachable(format!(
                    "not a usable address: {}",
                    describe_connect_error(&e)
                )));
            }
            Err(Opened::Timeout) => return Err(ConnectFailure::Unreachable(timed_out())),
            Err(Opened::Connect(e)) => {
                if let Some(err) = tls_failure(addr, &e, self.ca_name()) {
                    return Err(ConnectFailure::Final(err));
                }
                return Err(ConnectFailure::Unreachable(describe_connect_error(&e)));
            }
        };
        let client = FabricClient::with_interceptor(channel, self.principal.clone());
        self.connected = Some((index, client.clone()));
        Ok(client)
    }
}

/// Whether a failed call should move on to the next member, and why.
fn failover_reason(status: &Status) -> Option<Failure> {
    if status.code() != Code::Unavailable {
        return None;
    }
    if let Some(http) = not_grpc(status) {
        return Some(Failure::Unreachable(http));
    }
    // A status with a source was made on this side from a transport error
    // (the connection broke); one without came from the member itself.
    Some(match status.source() {
        Some(source) => Failure::Unreachable(describe_connect_error(source)),
        None => Failure::Unavailable(status.message().to_string()),
    })
}

/// Why [`open`] failed.
enum Opened {
    Address(tonic::transport::Error),
    Tls(tonic::transport::Error),
    Timeout,
    Connect(tonic::transport::Error),
}

/// Opens a channel to `member`: `https://` with `tls`, `http://` without
/// (an explicit scheme in `member` wins).
async fn open(member: &str, tls: Option<ClientTlsConfig>) -> Result<Channel, Opened> {
    let uri = if member.contains("://") {
        member.to_string()
    } else if tls.is_some() {
        format!("https://{member}")
    } else {
        format!("http://{member}")
    };
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(Opened::Address)?
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(Opened::Tls)?;
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect()).await {
        Err(_elapsed) => Err(Opened::Timeout),
        Ok(Err(e)) => Err(Opened::Connect(e)),
        Ok(Ok(channel)) => Ok(channel),
    }
}

/// A TLS failure in `err`'s chain, as the error `panctl` stops with: the
/// certificate did not verify (or TLS without `--ca-cert`), or TLS to a
/// member that does not speak it. `ca` is `--ca-cert`, if given.
fn tls_failure(addr: &str, err: &(dyn StdError + 'static), ca: Option<String>) -> Option<CliError> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        let text = e.to_string();
        if let Some(at) = text.find("invalid peer certificate") {
            let reason = text[at + "invalid peer certificate".len()..]
                .trim_start_matches(':')
                .trim();
            return Some(match ca {
                Some(ca) => CliError::CertNotVerified {
                    addr: addr.to_string(),
                    ca,
                    reason: certificate_reason(reason),
                },
                None => CliError::SpeaksTls {
                    addr: addr.to_string(),
                },
            });
        }
        if let Some(ca) = &ca
            && (text.contains("corrupt message") || text.contains("InvalidContentType"))
        {
            return Some(CliError::NotTls {
                addr: addr.to_string(),
                ca: ca.clone(),
            });
        }
        cause = e.source();
    }
    None
}

/// rustls' certificate error names in words.
fn certificate_reason(raw: &str) -> String {
    if raw.contains("UnknownIssuer") || raw.contains("BadSignature") {
        "signed by an unknown CA".to_string()
    } else if raw.contains("NotValidForName") || raw.contains("not valid for name") {
        format!("not valid for this address: {raw}")
    } else if raw.contains("Expired") {
        format!("expired: {raw}")
    } else if raw.is_empty() {
        "invalid certificate".to_string()
    } else {
        one_line(raw)
    }
}

/// Whether the member at `addr` answers the HTTP/2 preface with a TLS alert
/// (it speaks TLS). Best effort: one short connection, 1 s at most.
async fn speaks_tls(addr: &str) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host_port = addr.strip_prefix("http://").unwrap_or(addr);
    let probe = async {
        let mut conn = tokio::net::TcpStream::connect(host_port).await.ok()?;
        conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .ok()?;
        let mut buf = [0u8; 2];
        conn.read_exact(&mut buf).await.ok()?;
        // A TLS record header: content type alert (21), version 3.x.
        Some(buf == [0x15, 0x03])
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Some(true))
    )
}

fn timed_out() -> String {
    format!("timed out after {} s", CONNECT_TIMEOUT.as_secs())
}

/// A short reason for a connection failure, from the innermost error that
/// says something useful (`connection refused`, `timed out after 3 s`, ...).
pub fn describe_connect_error(err: &(dyn StdError + 'static)) -> String {
    let mut innermost = err.to_string();
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => timed_out(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_string(),
                _ => strip_os_error(&io.to_string()),
            };
        }
        if e.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return timed_out();
        }
        let text = e.to_string();
        if !text.is_empty() {
            innermost = text;
        }
        cause = e.source();
    }
    innermost
}

/// `Connection refused (os error 111)` -> `connection refused`.
fn strip_os_error(text: &str) -> String {
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pan_api::v1::ClusterStatusRequest;

    /// The principal the interceptor attaches.
    fn sent(mut principal: Principal) -> String {
        let request = principal.call(Request::new(())).unwrap();
        let value = request.metadata().get(PRINCIPAL_KEY).unwrap();
        value.to_str().unwrap().to_string()
    }

    #[test]
    fn the_token_goes_as_a_bearer_authorization_and_is_never_shown() {
        let token = Token::new("pan_k1_s3cret").unwrap();
        let mut principal = Principal::named(Some("alice")).with_token(Some(&token));
        let request = principal.call(Request::new(())).unwrap();
        let value = request.metadata().get(AUTHORIZATION_KEY).unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer pan_k1_s3cret");
        assert!(value.is_sensitive());
        assert!(!format!("{principal:?}").contains("s3cret"));
        assert!(!format!("{token:?}").contains("s3cret"));

        let mut anonymous = Principal::named(Some("alice")).with_token(None);
        let request = anonymous.call(Request::new(())).unwrap();
        assert!(request.metadata().get(AUTHORIZATION_KEY).is_none());
    }

    #[test]
    fn tokens_must_be_usable_as_metadata() {
        assert!(Token::new("pan_abc_def").is_some());
        for bad in ["", "pan abc", "pan_\n", "pan_é"] {
            assert!(Token::new(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn principal_comes_from_user_or_defaults_to_operator() {
        assert_eq!(sent(Principal::named(Some("alice"))), "alice");
        assert_eq!(sent(Principal::named(None)), "operator");
        assert_eq!(sent(Principal::named(Some(""))), "operator");
        assert_eq!(sent(Principal::named(Some("bad\nname"))), "operator");
    }

    #[test]
    fn only_unavailable_fails_over() {
        assert_eq!(
            failover_reason(&Status::unavailable("no leader")),
            Some(Failure::Unavailable("no leader".into()))
        );
        assert_eq!(failover_reason(&Status::not_found("x")), None);
        assert_eq!(failover_reason(&Status::failed_precondition("x")), None);
        let proxy =
            Status::unavailable("grpc-status header missing, mapped from HTTP status code 503");
        assert_eq!(
            failover_reason(&proxy),
            Some(Failure::Unreachable(
                "answered HTTP 503, not gRPC: not a fabric manager".into()
            ))
        );
    }

    #[test]
    fn io_errors_become_short_reasons() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(describe_connect_error(&refused), "connection refused");
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(describe_connect_error(&timeout), "timed out after 3 s");
        let dns = std::io::Error::other(
            "Failed to lookup address information: Name or service not known",
        );
        assert_eq!(
            describe_connect_error(&dns),
            "failed to lookup address information: Name or service not known"
        );
        assert_eq!(
            strip_os_error("Connection refused (os error 111)"),
            "connection refused"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported_per_member() {
        // Port 1 on loopback: nothing listens there.
        let mut manager = Manager::new(
            vec!["127.0.0.1:1".into(), "127.0.0.1:1".into()],
            Principal::named(None),
        );
        let err = manager
            .call(ClusterStatusRequest {}, |mut c, r| async move {
                c.cluster_status(r).await
            })
            .await
            .unwrap_err();
        let CliError::NoMember { attempts } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(attempts.len(), 2);
        for attempt in attempts {
            assert_eq!(attempt.addr, "127.0.0.1:1");
            assert_eq!(
                attempt.failure,
                Failure::Unreachable("connection refused".into())
            );
        }
        assert_eq!(
            err.to_string(),
            "cannot reach any fabric manager member (127.0.0.1:1: connection refused; 127.0.0.1:1: connection refused); is fabric-manager running? Set --manager or PAN_MANAGER to a member's address"
        );
    }
}
