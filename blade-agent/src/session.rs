//! One stream to one manager: Hello, then heartbeats and reports out,
//! desired states in, until the stream ends.
//!
//! Reports made while no stream was open are not replayed: the Hello that
//! opens the next stream carries the token the blade holds, which is the
//! resync. A desired state that cannot be used is answered with a failure
//! report and the stream goes on.

use crate::agent::{Agent, AgentConfig};
use crate::error::SessionError;
use crate::protocol::{
    DesiredIdentity, Failure, FailureKind, FencingToken, Hello, ProtocolError, Report,
};
use pan_api::v1 as pb;
use pan_api::v1::agent_client::AgentClient;
use pb::agent_message::Body as Out;
use pb::manager_message::Body as In;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;

/// Messages queued towards the manager before the stream counts as stalled.
const OUTBOUND_QUEUE: usize = 64;

/// How a stream ended.
pub(crate) enum SessionEnd {
    /// The link was cut (decided by the caller, which drops the stream).
    Cut,
    /// The manager sent the agent to another member.
    Redirected { leader: String },
    /// The stream could not be opened, or it broke. `established` when the
    /// manager had taken the Hello.
    Failed {
        error: SessionError,
        established: bool,
    },
}

fn failed(error: SessionError, established: bool) -> SessionEnd {
    SessionEnd::Failed { error, established }
}

/// The endpoint for manager `addr`, with the agent's timeouts and HTTP/2
/// keepalive (which notices a manager that vanished without closing).
pub(crate) fn endpoint(addr: &str, config: &AgentConfig) -> Result<Endpoint, SessionError> {
    let keepalive = (config.heartbeat * 5).max(Duration::from_secs(1));
    Endpoint::from_shared(format!("http://{addr}"))
        .map(|e| {
            e.connect_timeout(config.connect_timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(keepalive)
                .keep_alive_timeout(keepalive)
                .keep_alive_while_idle(true)
        })
        .map_err(|source| SessionError::BadAddress {
            addr: addr.to_string(),
            source,
        })
}

fn message(body: Out) -> pb::AgentMessage {
    pb::AgentMessage { body: Some(body) }
}

/// Serves one stream to `addr` until it ends.
pub(crate) async fn run(
    agent: &Agent,
    addr: &str,
    desired: &mpsc::Sender<DesiredIdentity>,
    reports: &mut mpsc::UnboundedReceiver<Report>,
) -> SessionEnd {
    let config = agent.config();
    while reports.try_recv().is_ok() {}
    let facts = match agent.host().facts().await {
        Ok(facts) => facts,
        Err(source) => return failed(SessionError::Facts { source }, false),
    };
    let hello = Hello {
        blade: config.blade.clone(),
        agent_version: config.agent_version.clone(),
        facts,
        applied: agent.status_sender().borrow().applied,
        heartbeat: config.heartbeat,
    };
    let endpoint = match endpoint(addr, config) {
        Ok(e) => e,
        Err(error) => return failed(error, false),
    };
    let timeout = config.connect_timeout;
    let timed_out = || SessionError::Timeout {
        addr: addr.to_string(),
        timeout,
    };
    let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
        Err(_) => return failed(timed_out(), false),
        Ok(Err(source)) => {
            let addr = addr.to_string();
            return failed(SessionError::Connect { addr, source }, false);
        }
        Ok(Ok(channel)) => channel,
    };
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    // The queue is empty: this cannot fail.
    let _ = tx.try_send(message(Out::Hello((&hello).into())));
    let mut client = AgentClient::new(channel);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    // A parsed token is lowercase hex: always a valid metadata value.
    if let Some(value) = config.token.as_ref().and_then(|t| t.expose().parse().ok()) {
        request
            .metadata_mut()
            .insert(crate::credential::TOKEN_HEADER, value);
    }
    let mut inbound = match tokio::time::timeout(timeout, client.session(request)).await {
        Err(_) => return failed(timed_out(), false),
        Ok(Err(status)) => {
            let addr = addr.to_string();
            return failed(SessionError::Refused { addr, status }, false);
        }
        Ok(Ok(response)) => response.into_inner(),
    };
    agent.status_sender().send_modify(|s| {
        s.manager = Some(addr.to_string());
        s.sessions += 1;
    });
    tracing::info!(blade = %config.blade, manager = %addr, applied = ?hello.applied, "agent stream open");

    let send = |body: Out| match tx.try_send(message(body)) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => Err(SessionError::Stalled {
            addr: addr.to_string(),
        }),
        Err(TrySendError::Closed(_)) => Err(SessionError::Closed {
            addr: addr.to_string(),
        }),
    };
    let mut ticker = tokio::time::interval_at(Instant::now() + config.heartbeat, config.heartbeat);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seq = 0u64;
    loop {
        let outcome = tokio::select! {
            biased;
            msg = inbound.message() => match msg {
                Ok(Some(pb::ManagerMessage { body: Some(In::Desired(wire)) })) => {
                    match accept(desired, wire) {
                        Ok(()) => Ok(()),
                        Err(failure) => send((&Report::Failed(failure)).into()),
                    }
                }
                Ok(Some(pb::ManagerMessage { body: Some(In::Redirect(r)) })) if !r.leader.is_empty() => {
                    return SessionEnd::Redirected { leader: r.leader };
                }
                // A message this build does not know: ignore it.
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(SessionError::Closed { addr: addr.to_string() }),
                Err(status) => Err(SessionError::Broken { addr: addr.to_string(), status }),
            },
            Some(report) = reports.recv() => send((&report).into()),
            _ = ticker.tick() => {
                seq += 1;
                let sent = send(Out::Heartbeat(pb::AgentHeartbeat { seq }));
                if sent.is_ok() {
                    agent.status_sender().send_modify(|s| s.heartbeats_sent += 1);
                }
                sent
            }
        };
        if let Err(error) = outcome {
            return failed(error, true);
        }
    }
}

/// Validates a desired state and queues it for the applier; the failure to
/// report when it cannot be.
fn accept(queue: &mpsc::Sender<DesiredIdentity>, wire: pb::DesiredIdentity) -> Result<(), Failure> {
    let token: FencingToken = wire.token.map(Into::into).unwrap_or_default();
    let refuse = |kind: FailureKind, reason: String| Failure {
        token,
        kind,
        reason,
        current: None,
    };
    let desired = DesiredIdentity::try_from(wire).map_err(|e: ProtocolError| {
        tracing::warn!(%token, error = %e, "refused a malformed desired state");
        refuse(FailureKind::Invalid, format!("refused {token}: {e}"))
    })?;
    queue.try_send(desired).map_err(|_| {
        refuse(
            FailureKind::Busy,
            format!(
                "refused {token}: {} desired states are already waiting to be applied",
                crate::agent::DESIRED_QUEUE
            ),
        )
    })
}
