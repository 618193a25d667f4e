//! Multi-process tests of the replicated fabric manager: writes through any
//! member, leader loss, restart recovery, membership changes and snapshot
//! catch-up, concurrent allocation.

use anyhow::{Context as _, Result, bail};
use pan_api::v1::{CreatePartitionRequest, CreateServerRequest, ListServersRequest};
use pan_tests::{Cluster, poll};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Creates a partition as a careful client does: a write in flight during a
/// leader change may answer "outcome unknown" (it may or may not have
/// committed), so the client looks before it tries again — exactly what the
/// error message tells an operator to do.
async fn create_partition(cluster: &Cluster, via: u64, name: &str) -> Result<()> {
    for _ in 0..3 {
        let mut client = cluster.client(via).await?;
        let created = client
            .create_partition(CreatePartitionRequest {
                name: name.to_string(),
                description: String::new(),
                ..Default::default()
            })
            .await;
        match created {
            Ok(_) => return Ok(()),
            Err(status) if status.code() == tonic::Code::Unknown => {
                let listed = client
                    .list_partitions(pan_api::v1::ListPartitionsRequest {})
                    .await
                    .with_context(|| format!("list partitions via member {via}"))?;
                if listed
                    .into_inner()
                    .partitions
                    .iter()
                    .any(|p| p.name == name)
                {
                    return Ok(());
                }
            }
            Err(status) => {
                return Err(status)
                    .with_context(|| format!("create partition {name} via member {via}"));
            }
        }
    }
    bail!("create partition {name} via member {via}: outcome unknown three times")
}

/// Waits until every running member has applied the same state.
async fn wait_converged(cluster: &Cluster, ids: &[u64]) -> Result<String> {
    poll(Duration::from_secs(30), "members to converge", || async {
        let mut digests = HashSet::new();
        let mut applied = HashSet::new();
        for id in ids {
            let s = cluster.status(*id).await.ok()?;
            digests.insert(s.state_digest);
            applied.insert(s.last_applied);
        }
        (digests.len() == 1 && applied.len() == 1).then(|| digests.into_iter().next())?
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_member_and_leader_kill_recovers_within_two_seconds() -> Result<()> {
    let mut cluster = Cluster::start(3, &[]).await?;

    // Writes through every member, leader or not.
    for id in 1..=3 {
        create_partition(&cluster, id, &format!("via-{id}")).await?;
    }
    let digest = wait_converged(&cluster, &[1, 2, 3]).await?;
    assert!(!digest.is_empty());

    let leader = cluster.leader().await?;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    cluster.kill(leader)?;
    let killed_at = Instant::now();

    // Keep trying through the survivors until a write commits.
    let mut attempt = 0u32;
    let recovered_after = loop {
        let via = survivors[attempt as usize % survivors.len()];
        attempt += 1;
        if create_partition(&cluster, via, "after-kill").await.is_ok() {
            break killed_at.elapsed();
        }
        if killed_at.elapsed() > Duration::from_secs(10) {
            bail!("no write succeeded within 10 s of killing leader {leader}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        recovered_after <= Duration::from_secs(2),
        "writes recovered {recovered_after:?} after the leader was killed; the bound is 2 s"
    );

    // More writes while the old leader is down, then bring it back.
    for i in 0..20 {
        create_partition(&cluster, survivors[i % 2], &format!("while-down-{i}")).await?;
    }
    cluster.spawn(leader, None)?;
    cluster.wait_ready(leader).await?;
    create_partition(&cluster, leader, "after-restart").await?;
    wait_converged(&cluster, &[1, 2, 3]).await?;

    let names: Vec<String> = cluster
        .client(leader)
        .await?
        .list_partitions(pan_api::v1::ListPartitionsRequest {})
        .await?
        .into_inner()
        .partitions
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), 3 + 1 + 20 + 1, "partitions: {names:?}");
    assert!(names.contains(&"after-kill".to_string()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_member_readded_catches_up_by_snapshot() -> Result<()> {
    // Snapshot often and keep few logs, so a returning member cannot be
    // served from the log.
    let mut cluster = Cluster::start(3, &["--snapshot-logs", "40", "--keep-logs", "5"]).await?;
    create_partition(&cluster, 1, "before").await?;

    let leader = cluster.leader().await?;
    let gone = if leader == 3 { 2 } else { 3 };
    let stay = (1..=3)
        .find(|id| *id != leader && *id != gone)
        .unwrap_or(leader);
    let out = cluster.panctl(leader, &["cluster", "remove-member", &gone.to_string()])?;
    assert!(
        out.status.success(),
        "remove-member failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.kill(gone)?;
    let status = cluster.status(leader).await?;
    assert!(
        status.members.iter().all(|m| m.id != gone),
        "member {gone} still listed: {:?}",
        status.members
    );

    // Enough separate log entries to snapshot and purge past the old member.
    for i in 0..120 {
        create_partition(
            &cluster,
            if i % 2 == 0 { leader } else { stay },
            &format!("p{i}"),
        )
        .await?;
    }
    let snap = poll(
        Duration::from_secs(20),
        "a snapshot on the leader",
        || async {
            cluster
                .status(leader)
                .await
                .ok()
                .filter(|s| s.snapshot_index > 40)
        },
    )
    .await?;
    assert!(snap.snapshot_index > 40);

    // Re-add it with its old data directory.
    let via = cluster.addr(leader);
    cluster.spawn(gone, Some(&via))?;
    cluster.wait_voters(3).await?;
    let digest = wait_converged(&cluster, &[1, 2, 3]).await?;
    let back = cluster.status(gone).await?;
    assert_eq!(back.state_digest, digest);
    assert!(
        back.snapshots_installed >= 1,
        "member {gone} caught up without installing a snapshot: {back:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_never_get_duplicate_identities() -> Result<()> {
    let cluster = Cluster::start(3, &[]).await?;
    create_partition(&cluster, 1, "acme").await?;

    let mut tasks = Vec::new();
    for client_no in 1..=3u64 {
        let mut client = cluster.client(client_no).await?;
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                client
                    .create_server(CreateServerRequest {
                        name: format!("c{client_no}-s{i}"),
                        partition: "acme".to_string(),
                        nics: 2,
                        ..Default::default()
                    })
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }

    let servers = cluster
        .client(2)
        .await?
        .list_servers(ListServersRequest {
            partition: "acme".to_string(),
        })
        .await?
        .into_inner()
        .servers;
    assert_eq!(servers.len(), 300);
    let mut macs = HashSet::new();
    let mut uuids = HashSet::new();
    let mut nqns = HashSet::new();
    for s in &servers {
        let id = s.identity.as_ref().context("server without identity")?;
        assert_eq!(id.macs.len(), 2);
        for mac in &id.macs {
            assert!(macs.insert(mac.clone()), "duplicate MAC {mac}");
        }
        assert!(uuids.insert(id.uuid.clone()), "duplicate UUID {}", id.uuid);
        assert!(
            nqns.insert(id.host_nqn.clone()),
            "duplicate NQN {}",
            id.host_nqn
        );
    }
    assert_eq!(macs.len(), 600);
    wait_converged(&cluster, &[1, 2, 3]).await?;
    Ok(())
}

/// Waits (bounded) for a process to exit and returns its output.
fn wait_exit(mut child: std::process::Child, limit: Duration) -> Result<std::process::Output> {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a fabric-manager that joins `via` with the given extra flags.
fn start_joiner(dir: &std::path::Path, via: &str, extra: &[&str]) -> Result<std::process::Child> {
    Ok(
        std::process::Command::new(pan_tests::binary("fabric-manager"))
            .args(["--node-id", "2", "--listen"])
            .arg(format!("127.0.0.1:{}", pan_tests::free_port()))
            .arg("--data-dir")
            .arg(dir)
            .args(["--join", via])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_processes_holding_the_cluster_key_are_members() -> Result<()> {
    use pan_api::v1::raft_client::RaftClient;
    use pan_api::v1::{AddMemberRequest, RaftPayload};
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);

    // The internal service refuses callers without the key, before it
    // looks at what they sent.
    let mut raw = RaftClient::connect(format!("http://{addr}")).await?;
    let stranger = AddMemberRequest {
        id: 9,
        addr: "127.0.0.1:1".to_string(),
    };
    let refused = raw
        .join(stranger.clone())
        .await
        .expect_err("a join without the key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let refused = raw
        .propose(RaftPayload {
            data: vec![1, 2, 3],
        })
        .await
        .expect_err("a forwarded write without the key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let mut wrong = tonic::Request::new(stranger);
    wrong.metadata_mut().insert(
        "x-pan-cluster-key",
        format!("pank_{}", "ab".repeat(32)).parse()?,
    );
    let refused = raw.join(wrong).await.expect_err("a join with another key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert!(
        refused.message().contains("not this cluster's"),
        "{refused:?}"
    );

    // A member told to join without the key stops at once and says what to pass.
    let out = wait_exit(
        start_joiner(&cluster.dir().join("no-key"), &addr, &[])?,
        Duration::from_secs(20),
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--cluster-key-file"), "{err}");

    // With another cluster's key the cluster refuses it, and it says so.
    let other = cluster.dir().join("other.key");
    std::fs::write(&other, format!("pank_{}\n", "cd".repeat(32)))?;
    let other_arg = other.to_string_lossy().into_owned();
    let out = wait_exit(
        start_joiner(
            &cluster.dir().join("wrong-key"),
            &addr,
            &["--cluster-key-file", &other_arg],
        )?,
        Duration::from_secs(30),
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("refused to let this one join"), "{err}");

    let status = cluster.status(1).await?;
    assert_eq!(status.members.len(), 1, "{status:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_service_the_member_does_not_serve_is_unimplemented() -> Result<()> {
    use pan_api::v1::{ClusterStatusReply, ClusterStatusRequest};
    let cluster = Cluster::start(1, &[]).await?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.addr(1)))?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    for path in [
        "/pan.v2.Fabric/ClusterStatus",
        "/grpc.health.v1.Health/Check",
    ] {
        grpc.ready().await?;
        let refused = grpc
            .unary::<ClusterStatusRequest, ClusterStatusReply, _>(
                tonic::Request::new(ClusterStatusRequest::default()),
                http::uri::PathAndQuery::from_static(path),
                pan_api::codec::PanCodec::default(),
            )
            .await
            .expect_err("no such service");
        assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");
        assert!(refused.message().contains(path), "{refused:?}");
    }
    // The connection still serves the real API afterwards.
    assert_eq!(cluster.status(1).await?.members.len(), 1);
    Ok(())
}

/// Sends SIGTERM to member `id` and returns how long it took to exit.
async fn terminate(cluster: &mut Cluster, id: u64, limit: Duration) -> Result<Duration> {
    let pid = cluster.pid(id).context("the member runs")?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
    let started = Instant::now();
    let member = cluster.members.get_mut(&id).context("the member")?;
    while member.is_running() {
        if started.elapsed() > limit {
            bail!(
                "member {id} still runs {limit:?} after SIGTERM:\n{}",
                member.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_member_ends_its_event_watches_and_exits() -> Result<()> {
    let mut cluster = Cluster::start(1, &[]).await?;
    let mut client = cluster.client(1).await?;
    let mut events = client
        .watch_events(pan_api::v1::WatchEventsRequest {})
        .await?
        .into_inner();
    let took = terminate(&mut cluster, 1, Duration::from_secs(8)).await?;
    // Well inside the 10 s drain: the open watch did not hold it.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let end = loop {
        match events.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    let end = end.context("the watch ends with a status, not silently")?;
    assert_eq!(end.code(), tonic::Code::Unavailable, "{end:?}");
    assert!(end.message().contains("shutting down"), "{end:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_speaks_does_not_keep_a_stopping_member_alive() -> Result<()> {
    let mut cluster = Cluster::start(1, &[]).await?;
    // TCP connected, no HTTP/2 preface ever: hyper waits for one, so only
    // the drain bound (10 s) ends it.
    let _silent = tokio::net::TcpStream::connect(cluster.addr(1)).await?;
    terminate(&mut cluster, 1, Duration::from_secs(20)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_whose_id_is_taken_stops_and_says_why() -> Result<()> {
    let cluster = Cluster::start(2, &[]).await?;
    let key = cluster.cluster_key_file().to_string_lossy().into_owned();
    // Node id 2 is already a member, at another address.
    let out = wait_exit(
        start_joiner(
            &cluster.dir().join("impostor"),
            &cluster.addr(1),
            &["--cluster-key-file", &key],
        )?,
        Duration::from_secs(30),
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("member 2 is already in the cluster at"),
        "{err}"
    );
    let status = cluster.status(1).await?;
    assert_eq!(status.members.len(), 2, "{status:?}");
    Ok(())
}
