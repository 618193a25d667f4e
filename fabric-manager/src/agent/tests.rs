//! In-process tests of the agent stream: the manager's `Agent` service with
//! an [`AgentRegistry`] on a loopback listener (no raft), and the real
//! `blade_agent::Agent` on a `RecordingHost`.
//!
//! Waits are on watch channels with deadlines; the only timed pause is the
//! one that observes an absence (no heartbeats while the link is cut).

use super::*;
use blade_agent::{
    Agent, AgentConfig, AgentHandle, AgentStatus, Backoff, DesiredIdentity, FailureKind,
    FencingToken, HostEvent, HostFacts, InterfaceFacts, Mac, RecordingHost, ServerIdentity,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

/// Generous: CI machines are slow; a passing test never waits this long.
const DEADLINE: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_millis(50);
const BLADE: &str = "blade-1";

/// The agent key of these tests' fabric.
fn agent_key() -> blade_agent::AgentKey {
    blade_agent::AgentKey::derive(b"agent tests")
}

/// A manager process reduced to its Agent service.
struct Manager {
    registry: AgentRegistry,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Manager {
    async fn start(registry: AgentRegistry, addr: SocketAddr) -> Manager {
        let listener = TcpListener::bind(addr).await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let service = server(registry.clone(), agent_key(), stopping);
        let shutdown = async move {
            let _ = stopped.await;
            stopping_tx.send_replace(true);
        };
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown),
        );
        Manager {
            registry,
            addr,
            stop,
            task,
        }
    }

    async fn any_port() -> Manager {
        Manager::start(AgentRegistry::new(), "127.0.0.1:0".parse().unwrap()).await
    }

    /// Stops the server; it must finish although agent streams were open.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the server did not stop: an agent stream held its graceful shutdown")
            .expect("server task")
            .expect("server");
    }

    /// Waits until `check` holds for the registry.
    async fn until(&self, what: &str, check: impl Fn(&AgentRegistry) -> bool) {
        let mut changes = self.registry.subscribe();
        let wait = async {
            while !check(&self.registry) {
                let _ = changes.changed().await;
            }
        };
        if tokio::time::timeout(DEADLINE, wait).await.is_err() {
            panic!(
                "timed out waiting for {what}; registry: {:?}",
                self.registry.snapshot()
            );
        }
    }

    async fn until_connected(&self) {
        self.until("the agent to connect", |r| {
            r.connected_blades() == [BLADE.to_string()]
        })
        .await;
    }

    fn view(&self) -> AgentView {
        self.registry.get(BLADE).expect("the blade is known")
    }
}

fn facts() -> HostFacts {
    HostFacts {
        hostname: "blade-1.rack".into(),
        interfaces: vec![InterfaceFacts {
            name: "eth0".into(),
            mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
        }],
    }
}

fn spawn_agent(managers: &[SocketAddr], host: Arc<RecordingHost>) -> AgentHandle {
    spawn_agent_with(managers, host, None)
}

fn spawn_agent_with(
    managers: &[SocketAddr],
    host: Arc<RecordingHost>,
    nvme: Option<Arc<dyn san::nvme::NvmeHost>>,
) -> AgentHandle {
    let mut config = AgentConfig::new(BLADE, managers.iter().map(|a| a.to_string()).collect());
    config.nvme = nvme;
    config.heartbeat = HEARTBEAT;
    config.backoff = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    config.connect_timeout = Duration::from_secs(2);
    config.jitter_seed = Some(7);
    config.token = Some(agent_key().token_for(BLADE));
    Agent::new(config, host).expect("valid config").spawn()
}

async fn until_status(
    agent: &AgentHandle,
    what: &str,
    check: impl FnMut(&AgentStatus) -> bool,
) -> AgentStatus {
    let mut status = agent.status();
    match tokio::time::timeout(DEADLINE, status.wait_for(check)).await {
        Ok(Ok(s)) => s.clone(),
        _ => panic!(
            "timed out waiting for {what}; agent: {:?}",
            agent.status().borrow()
        ),
    }
}

fn identity(server: &str, last_octet: u8) -> ServerIdentity {
    ServerIdentity {
        server: server.into(),
        partition: "acme".into(),
        uuid: format!("50414e00-0000-0000-0000-0000000000{last_octet:02x}"),
        macs: vec![Mac([0x02, 0x50, 0x41, 0, 0, last_octet])],
        host_nqn: format!(
            "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-0000000000{last_octet:02x}"
        ),
        boot_volume: None,
        volumes: Vec::new(),
    }
}

fn t(term: u64, generation: u64) -> FencingToken {
    FencingToken::new(term, generation)
}

#[tokio::test]
async fn hello_registers_and_heartbeats_advance() {
    let manager = Manager::any_port().await;
    let agent = spawn_agent(&[manager.addr], Arc::new(RecordingHost::new(facts())));
    manager.until_connected().await;
    let view = manager.view();
    assert!(view.connected);
    assert_eq!(view.facts, facts());
    assert_eq!(view.agent_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(view.applied, None);
    assert_eq!(view.sessions, 1);

    let first = manager
        .registry
        .last_heartbeat(BLADE)
        .expect("Hello counts");
    manager
        .until("a later heartbeat", |r| {
            r.last_heartbeat(BLADE).is_some_and(|at| at > first)
        })
        .await;
    let now = tokio::time::Instant::now();
    assert!(matches!(
        manager
            .registry
            .liveness(BLADE, now, Duration::from_secs(1)),
        Liveness::Alive { .. }
    ));
    assert_eq!(
        manager
            .registry
            .liveness("blade-9", now, Duration::from_secs(1)),
        Liveness::NeverHeard
    );
    drop(agent);
    manager
        .until("the stream to end", |r| r.connected_blades().is_empty())
        .await;
    manager.stop().await;
}

#[tokio::test]
async fn pushes_are_applied_and_stale_ones_refused() {
    let manager = Manager::any_port().await;
    let host = Arc::new(RecordingHost::new(facts()));
    let _agent = spawn_agent(&[manager.addr], host.clone());
    let registry = &manager.registry;

    let err = registry
        .push_desired("blade-9", DesiredIdentity::release(t(1, 1)))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AgentError::NotConnected {
            blade: "blade-9".into()
        }
    );

    manager.until_connected().await;
    registry
        .push_desired(
            BLADE,
            DesiredIdentity::assign(t(2, 2), identity("web-1", 1)),
        )
        .await
        .unwrap();
    assert_eq!(registry.wait_applied(BLADE, 2, DEADLINE).await, Ok(t(2, 2)));
    assert_eq!(host.carrying(), Some(identity("web-1", 1)));
    assert_eq!(
        host.current_facts().interfaces[0].mac,
        identity("web-1", 1).macs[0]
    );
    // The report as the agent sent it: interfaces after applying, no volume.
    let report = registry.applied_report(BLADE).expect("an applied report");
    assert_eq!(report.token, t(2, 2));
    assert_eq!(
        report.interfaces,
        [InterfaceFacts {
            name: "eth0".into(),
            mac: identity("web-1", 1).macs[0],
        }]
    );
    assert!(report.volumes.is_empty());
    let events = host.events();

    // A lower generation, and the same generation from a lower term (a
    // deposed leader's late push): both refused and reported, host untouched.
    for stale in [t(5, 1), t(1, 2)] {
        registry
            .push_desired(BLADE, DesiredIdentity::assign(stale, identity("db-1", 2)))
            .await
            .unwrap();
        manager
            .until("the stale report", |r| {
                r.get(BLADE)
                    .and_then(|v| v.last_failure)
                    .is_some_and(|f| f.failure.token == stale)
            })
            .await;
        let failure = manager.view().last_failure.expect("reported").failure;
        assert_eq!(failure.kind, FailureKind::Stale);
        assert_eq!(failure.current, Some(t(2, 2)));
    }
    // What a waiter on those generations learns: 1 was superseded by the
    // applied 2; generation 2 is applied (under term 2, not the pusher's 1).
    assert!(matches!(
        registry.wait_applied(BLADE, 1, DEADLINE).await,
        Err(AgentError::Superseded { applied, .. }) if applied == t(2, 2)
    ));
    assert_eq!(registry.wait_applied(BLADE, 2, DEADLINE).await, Ok(t(2, 2)));
    assert_eq!(host.events(), events, "a stale push touched the host");
    assert_eq!(manager.view().applied, Some(t(2, 2)));

    // The explicit release.
    registry
        .push_desired(BLADE, DesiredIdentity::release(t(2, 3)))
        .await
        .unwrap();
    assert_eq!(registry.wait_applied(BLADE, 3, DEADLINE).await, Ok(t(2, 3)));
    assert_eq!(host.carrying(), None);
    assert_eq!(host.events().last(), Some(&HostEvent::Released));
    let report = registry.applied_report(BLADE).expect("an applied report");
    assert_eq!(report.token, t(2, 3));
    assert_eq!(report.interfaces, facts().interfaces, "own MACs are back");
    manager.stop().await;
}

#[tokio::test]
async fn the_applied_report_carries_the_attached_volumes() {
    use san::runner::{CommandOutput, ScriptedRunner};
    let manager = Manager::any_port().await;
    let host = Arc::new(RecordingHost::new(facts()));
    let runner = ScriptedRunner::new();
    runner.push(CommandOutput::ok(r#"{"device":"nvme0"}"#));
    let nvme = san::nvme::NvmeCli::with_runner(Arc::new(runner.clone()));
    let _agent = spawn_agent_with(&[manager.addr], host, Some(Arc::new(nvme)));
    manager.until_connected().await;
    let registry = &manager.registry;
    assert_eq!(registry.applied_report(BLADE), None);

    let subsystem = "nqn.2026-11.io.pan:volume:7";
    let server = ServerIdentity {
        boot_volume: Some("web-1-boot".into()),
        volumes: vec![blade_agent::VolumeAttachment {
            name: "web-1-boot".into(),
            subsystem_nqn: subsystem.into(),
            target: "127.0.0.1:4420".parse().unwrap(),
        }],
        ..identity("web-1", 1)
    };
    registry
        .push_desired(BLADE, DesiredIdentity::assign(t(1, 4), server))
        .await
        .unwrap();
    assert_eq!(registry.wait_applied(BLADE, 4, DEADLINE).await, Ok(t(1, 4)));
    let report = registry.applied_report(BLADE).expect("an applied report");
    assert_eq!(
        report.volumes,
        [blade_agent::AttachedVolume {
            name: "web-1-boot".into(),
            subsystem_nqn: subsystem.into(),
            device: "/dev/nvme0n1".into(),
        }]
    );
    assert!(runner.commands()[0].starts_with("nvme connect -t tcp -a 127.0.0.1 -s 4420"));
    manager.stop().await;
}

#[tokio::test]
async fn host_failures_and_silence_end_the_wait_with_typed_errors() {
    let manager = Manager::any_port().await;
    let host = Arc::new(RecordingHost::new(facts()));
    let _agent = spawn_agent(&[manager.addr], host.clone());
    manager.until_connected().await;
    let registry = &manager.registry;

    host.fail_next("the SAN refused the connection");
    registry
        .push_desired(
            BLADE,
            DesiredIdentity::assign(t(1, 1), identity("web-1", 1)),
        )
        .await
        .unwrap();
    match registry.wait_applied(BLADE, 1, DEADLINE).await {
        Err(AgentError::NotApplied {
            kind: FailureKind::Host,
            reason,
            generation: 1,
            ..
        }) => assert!(reason.contains("the SAN refused"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }

    // Retrying the same generation: the old failure does not answer the
    // new wait; the retry succeeds.
    registry
        .push_desired(
            BLADE,
            DesiredIdentity::assign(t(1, 1), identity("web-1", 1)),
        )
        .await
        .unwrap();
    assert_eq!(registry.wait_applied(BLADE, 1, DEADLINE).await, Ok(t(1, 1)));

    // Nothing pushed for generation 7: the wait times out, typed.
    let err = registry
        .wait_applied(BLADE, 7, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::Timeout {
                generation: 7,
                connected: true,
                applied: Some(a),
                ..
            } if a == t(1, 1)
        ),
        "{err:?}"
    );
    manager.stop().await;
}

#[tokio::test]
async fn the_agent_reconnects_to_a_restarted_manager_and_resends_its_token() {
    let manager = Manager::any_port().await;
    let addr = manager.addr;
    let host = Arc::new(RecordingHost::new(facts()));
    let agent = spawn_agent(&[addr], host.clone());
    manager.until_connected().await;
    manager
        .registry
        .push_desired(
            BLADE,
            DesiredIdentity::assign(t(3, 4), identity("web-1", 1)),
        )
        .await
        .unwrap();
    assert_eq!(
        manager.registry.wait_applied(BLADE, 4, DEADLINE).await,
        Ok(t(3, 4))
    );

    manager.stop().await;
    until_status(&agent, "the agent to notice", |s| s.manager.is_none()).await;

    // A new manager process on the same port knows nothing until the Hello.
    let restarted = Manager::start(AgentRegistry::new(), addr).await;
    restarted.until_connected().await;
    let view = restarted.view();
    assert_eq!(
        view.applied,
        Some(t(3, 4)),
        "Hello carries the applied token"
    );
    assert_eq!(
        view.facts.interfaces[0].mac,
        identity("web-1", 1).macs[0],
        "facts show the identity's MAC"
    );
    let status = until_status(&agent, "the second stream", |s| s.sessions == 2).await;
    assert!(status.last_error.is_some());
    // The resynced manager's wait resolves at once.
    assert_eq!(
        restarted
            .registry
            .wait_applied(BLADE, 4, Duration::from_millis(1))
            .await,
        Ok(t(3, 4))
    );
    restarted.stop().await;
}

#[tokio::test]
async fn a_cut_link_stops_heartbeats_until_restored() {
    let manager = Manager::any_port().await;
    let agent = spawn_agent(&[manager.addr], Arc::new(RecordingHost::new(facts())));
    manager.until_connected().await;
    until_status(&agent, "the agent's side of the stream", |s| {
        s.sessions == 1
    })
    .await;

    agent.link().cut();
    manager
        .until("the stream to drop", |r| r.connected_blades().is_empty())
        .await;
    let cut = until_status(&agent, "the agent to see the cut", |s| {
        s.link_cut && s.manager.is_none()
    })
    .await;
    let last = manager.registry.last_heartbeat(BLADE);
    // Observing an absence takes time: five heartbeat intervals.
    tokio::time::sleep(HEARTBEAT * 5).await;
    assert_eq!(manager.registry.last_heartbeat(BLADE), last);
    let still = agent.status().borrow().clone();
    assert_eq!(still.heartbeats_sent, cut.heartbeats_sent, "sent while cut");
    assert_eq!(still.sessions, 1, "reconnected while cut");
    assert_eq!(
        manager
            .registry
            .push_desired(BLADE, DesiredIdentity::release(t(1, 1)))
            .await,
        Err(AgentError::NotConnected {
            blade: BLADE.into()
        })
    );

    agent.link().restore();
    manager.until_connected().await;
    manager
        .until("heartbeats again", |r| r.last_heartbeat(BLADE) > last)
        .await;
    assert_eq!(manager.view().sessions, 2);
    manager.stop().await;
}

#[tokio::test]
async fn followers_redirect_agents_to_the_leader() {
    let leader = Manager::any_port().await;
    let follower = Manager::any_port().await;
    follower.registry.set_admission(Admission::Redirect {
        leader: leader.addr.to_string(),
    });
    // The agent knows only the follower.
    let agent = spawn_agent(&[follower.addr], Arc::new(RecordingHost::new(facts())));
    leader.until_connected().await;
    assert!(follower.registry.connected_blades().is_empty());
    until_status(&agent, "the agent on the leader", |s| {
        s.manager.as_deref() == Some(leader.addr.to_string().as_str())
    })
    .await;

    // Leadership moves: the old leader sends its connected agent over.
    follower.registry.set_admission(Admission::Accept);
    leader.registry.set_admission(Admission::Redirect {
        leader: follower.addr.to_string(),
    });
    follower.until_connected().await;
    assert!(!leader.view().connected);
    leader.stop().await;
    follower.stop().await;
}

#[tokio::test]
async fn streams_must_open_with_hello_and_silent_ones_are_ended() {
    use pan_api::v1 as pb;
    use pan_api::v1::agent_client::AgentClient;
    use tokio_stream::wrappers::ReceiverStream;

    let manager = Manager::any_port().await;
    let mut client = AgentClient::connect(format!("http://{}", manager.addr))
        .await
        .expect("connect");
    let message = |body| pb::AgentMessage { body: Some(body) };
    let with_token = |rx, token: Option<&str>| {
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        if let Some(t) = token {
            request.metadata_mut().insert(
                blade_agent::credential::TOKEN_HEADER,
                t.parse().expect("ascii"),
            );
        }
        request
    };
    let token = agent_key().token_for(BLADE);

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(message(pb::agent_message::Body::Heartbeat(
        pb::AgentHeartbeat { seq: 1 },
    )))
    .await
    .unwrap();
    let status = client
        .session(with_token(rx, Some(token.expose())))
        .await
        .expect_err("a stream without Hello is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // Hello, then silence: the manager ends the stream after ten heartbeat
    // intervals (here the one-second floor).
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let hello = blade_agent::Hello {
        blade: BLADE.into(),
        agent_version: "test".into(),
        facts: facts(),
        applied: None,
        heartbeat: Duration::from_millis(20),
    };
    // Without the blade's token, or with another blade's, nothing opens.
    let other = agent_key().token_for("blade-2");
    for presented in [None, Some(other.expose()), Some("pana_garbage")] {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(message(pb::agent_message::Body::Hello((&hello).into())))
            .await
            .unwrap();
        let status = client
            .session(with_token(rx, presented))
            .await
            .expect_err("an agent without its blade's token");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
        assert!(status.message().contains("blade-1"), "{status:?}");
        assert!(manager.registry.get(BLADE).is_none());
    }
    tx.send(message(pb::agent_message::Body::Hello((&hello).into())))
        .await
        .unwrap();
    let mut inbound = client
        .session(with_token(rx, Some(token.expose())))
        .await
        .expect("Hello accepted")
        .into_inner();
    manager.until_connected().await;
    let ended = tokio::time::timeout(DEADLINE, inbound.message())
        .await
        .expect("the silent stream was not ended");
    assert!(matches!(ended, Ok(None)), "{ended:?}");
    assert!(manager.registry.connected_blades().is_empty());
    drop(tx);
    manager.stop().await;
}
