//! The connection to the fabric manager: tries the given members in order
//! (moving on when one cannot be reached or answers `Unavailable`), sends
//! the `x-pan-principal` metadata on every call, bounds connecting (3 s) and
//! waiting for an answer (30 s, or longer per call for requests that wait
//! for hardware), and turns failures into [`CliError`]s.

use crate::error::{Attempt, CliError, Failure, not_grpc};
use pan_api::v1::fabric_client::FabricClient;
use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

/// Metadata key naming who is acting; the manager records it in the audit log.
pub const PRINCIPAL_KEY: &str = "x-pan-principal";
/// Principal used when `USER` is unset or not plain ASCII.
pub const DEFAULT_PRINCIPAL: &str = "operator";
/// How long connecting to one member may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a member may take to answer a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The generated client with the principal attached to every call.
pub type Fabric = FabricClient<InterceptedService<Channel, Principal>>;

/// Adds `x-pan-principal` to every request.
#[derive(Clone, Debug)]
pub struct Principal(AsciiMetadataValue);

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
        Principal(value)
    }
}

impl Interceptor for Principal {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert(PRINCIPAL_KEY, self.0.clone());
        Ok(request)
    }
}

/// The fabric manager cluster as seen from `panctl`.
pub struct Manager {
    members: Vec<String>,
    principal: Principal,
    connected: Option<(usize, Fabric)>,
}

impl Manager {
    /// A manager reached through `members`, tried in order.
    pub fn new(members: Vec<String>, principal: Principal) -> Self {
        Manager {
            members,
            principal,
            connected: None,
        }
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
                Err(reason) => {
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

    /// The client for member `index`, connecting if needed.
    async fn client(&mut self, index: usize) -> Result<Fabric, String> {
        if let Some((i, client)) = &self.connected
            && *i == index
        {
            return Ok(client.clone());
        }
        let channel = connect(&self.members[index]).await?;
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

/// Opens a channel to `member` (`HOST:PORT` or a URL), or says why not.
pub async fn connect(member: &str) -> Result<Channel, String> {
    let uri = if member.contains("://") {
        member.to_string()
    } else {
        format!("http://{member}")
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| format!("not a usable address: {}", describe_connect_error(&e)))?
        .connect_timeout(CONNECT_TIMEOUT);
    match tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect()).await {
        Err(_elapsed) => Err(timed_out()),
        Ok(Err(e)) => Err(describe_connect_error(&e)),
        Ok(Ok(channel)) => Ok(channel),
    }
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
