//! The `pan.v1.Agent` gRPC service: takes an agent's stream, registers it on
//! Hello, records heartbeats and reports, and serves the desired states that
//! [`AgentRegistry::push_desired`] queues.
//!
//! One reader task per stream feeds the registry; the response stream is the
//! registry's queue for that blade. Agent streams never end on their own, so
//! the server's shutdown must end them, or a graceful shutdown would wait
//! forever: [`server`] wraps the shutdown future to do that.

use super::registry::{Admitted, AgentRegistry, SessionId};
use blade_agent::{AgentKey, Hello, Report};
use pan_api::v1 as pb;
use pan_api::v1::agent_server::{Agent, AgentServer};
use pb::agent_message::Body;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// How long a new stream may take to send its Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Silence that ends a stream whose agent did not state its heartbeat.
const DEFAULT_SILENCE_LIMIT: Duration = Duration::from_secs(5);
/// The shortest silence that ends a stream, whatever the heartbeat.
const MIN_SILENCE_LIMIT: Duration = Duration::from_secs(1);

/// How long a stream may stay silent before the manager ends it: ten
/// heartbeat intervals (at least a second). A blade that lost power leaves
/// a half-open TCP connection; this keeps "connected" truthful. Failure
/// *detection* is not this: the controller judges heartbeat age itself.
fn silence_limit(heartbeat: Duration) -> Duration {
    if heartbeat.is_zero() {
        DEFAULT_SILENCE_LIMIT
    } else {
        heartbeat.saturating_mul(10).max(MIN_SILENCE_LIMIT)
    }
}

/// The `pan.v1.Agent` service of one server.
pub struct AgentService {
    registry: AgentRegistry,
    /// Checks that an agent holds the token of the blade its Hello names.
    key: AgentKey,
    /// True once the server is shutting down.
    stopping: watch::Receiver<bool>,
}

/// The service for `registry`; every agent stream of it ends once
/// `stopping` becomes true (the server shutting down).
pub fn server(
    registry: AgentRegistry,
    key: AgentKey,
    stopping: watch::Receiver<bool>,
) -> AgentServer<AgentService> {
    AgentServer::new(AgentService {
        registry,
        key,
        stopping,
    })
}

#[tonic::async_trait]
impl Agent for AgentService {
    type SessionStream = ReceiverStream<Result<pb::ManagerMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        if *self.stopping.borrow() {
            return Err(Status::unavailable(
                "this fabric manager is shutting down; connect to another member",
            ));
        }
        let peer = request.remote_addr();
        let token = request
            .metadata()
            .get(blade_agent::credential::TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut inbound = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Err(_) => {
                return Err(Status::deadline_exceeded(format!(
                    "no Hello within {HELLO_TIMEOUT:?}; an agent stream must open with Hello"
                )));
            }
            Ok(Err(status)) => return Err(status),
            Ok(Ok(None)) => {
                return Err(Status::cancelled(
                    "the agent closed its stream before Hello",
                ));
            }
            Ok(Ok(Some(pb::AgentMessage {
                body: Some(Body::Hello(hello)),
            }))) => hello,
            Ok(Ok(Some(_))) => {
                return Err(Status::invalid_argument(
                    "an agent stream must open with Hello",
                ));
            }
        };
        let hello = Hello::try_from(hello)
            .map_err(|e| Status::invalid_argument(format!("invalid Hello: {e}")))?;
        let blade = hello.blade.clone();
        if !token
            .as_deref()
            .is_some_and(|t| self.key.verifies(&blade, t))
        {
            tracing::warn!(%blade, ?peer, presented = token.is_some(), "agent refused: no valid agent token for the blade it names");
            return Err(Status::unauthenticated(format!(
                "an agent for blade '{blade}' must present that blade's agent token \
                 ({}; mint it with `blade-agent token --agent-key-file AGENT_KEY --blade {blade}` \
                 and pass it with --token-file)",
                if token.is_some() {
                    "the one presented is not it"
                } else {
                    "none was presented"
                }
            )));
        }
        let silence = silence_limit(hello.heartbeat);
        match self.registry.admit(hello, peer) {
            Admitted::Redirect { leader } => {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                let redirect = pb::ManagerMessage {
                    body: Some(pb::manager_message::Body::Redirect(pb::AgentRedirect {
                        leader,
                    })),
                };
                // Room for one: cannot fail. The stream ends after it.
                let _ = tx.try_send(Ok(redirect));
                Ok(Response::new(ReceiverStream::new(rx)))
            }
            Admitted::Session {
                id,
                outbound,
                kicked,
            } => {
                tokio::spawn(read_stream(
                    self.registry.clone(),
                    blade,
                    id,
                    inbound,
                    silence,
                    kicked,
                    self.stopping.clone(),
                ));
                Ok(Response::new(ReceiverStream::new(outbound)))
            }
        }
    }
}

/// Feeds one stream's heartbeats and reports to the registry until the
/// agent ends it, the registry ends it, or the server stops.
async fn read_stream(
    registry: AgentRegistry,
    blade: String,
    id: SessionId,
    mut inbound: Streaming<pb::AgentMessage>,
    silence: Duration,
    mut kicked: oneshot::Receiver<()>,
    mut stopping: watch::Receiver<bool>,
) {
    let why = loop {
        tokio::select! {
            _ = &mut kicked => break "replaced or redirected",
            _ = stopping.wait_for(|s| *s) => break "this manager is shutting down",
            msg = tokio::time::timeout(silence, inbound.message()) => {
                let Ok(msg) = msg else {
                    break "the agent was silent for ten heartbeat intervals";
                };
                let accepted = match msg {
                    Ok(Some(pb::AgentMessage { body: Some(body) })) => match body {
                        Body::Heartbeat(_) => registry.heartbeat(&blade, id),
                        Body::Applied(a) => match Report::try_from(a) {
                            Ok(r) => registry.report(&blade, id, r),
                            Err(e) => { tracing::warn!(%blade, error = %e, "ignored a malformed report"); true }
                        },
                        Body::Failed(f) => match Report::try_from(f) {
                            Ok(r) => registry.report(&blade, id, r),
                            Err(e) => { tracing::warn!(%blade, error = %e, "ignored a malformed report"); true }
                        },
                        Body::Hello(_) => break "a second Hello on one stream",
                    },
                    // A message this build does not know: ignore it.
                    Ok(Some(_)) => true,
                    Ok(None) => break "the agent closed the stream",
                    Err(_) => break "the stream broke",
                };
                if !accepted {
                    break "replaced";
                }
            }
        }
    };
    registry.disconnect(&blade, id, why);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_limit_is_ten_heartbeats_but_at_least_a_second() {
        let ms = Duration::from_millis;
        assert_eq!(silence_limit(ms(200)), Duration::from_secs(2));
        assert_eq!(silence_limit(ms(20)), Duration::from_secs(1));
        assert_eq!(silence_limit(Duration::ZERO), DEFAULT_SILENCE_LIMIT);
        assert_eq!(silence_limit(Duration::MAX), Duration::MAX);
    }
}
