//! Tenant partitions end to end: bearer tokens on every call, one
//! authorization decision per RPC, lists, audit and events filtered to what
//! the caller may see, quotas, and revocation in effect on every member.

use anyhow::{Context as _, Result};
use pan_api::v1 as pb;
use pan_tests::{Cluster, client_as, ok, panctl, panctl_as, panctl_json};
use std::time::Duration;
use tonic::Code;

/// The stderr of a panctl call that must fail with `code`.
fn fails(out: &std::process::Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    err
}

fn json(out: &std::process::Output) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&ok(out)?)?)
}

/// Creates a principal as the admin and returns its token.
fn principal(addr: &str, name: &str, role: &str, partition: Option<&str>) -> Result<String> {
    let mut args = vec!["-o", "json", "principal", "create", name, "--role", role];
    if let Some(p) = partition {
        args.extend(["--partition", p]);
    }
    let created = json(&panctl(addr, &args)?)?;
    let token = created["token"].as_str().context("token")?.to_string();
    assert!(token.starts_with("pan_"), "{created}");
    Ok(token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_admin_sees_and_changes_only_its_partition_within_quota() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);
    // The first start wrote the admin token, private to its owner.
    let token_file = cluster.dir().join("m1").join("admin.token");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&token_file)?.permissions());
    assert_eq!(mode & 0o777, 0o600, "admin.token mode {mode:o}");
    let me = json(&panctl(&addr, &["-o", "json", "whoami"])?)?;
    assert_eq!(me["name"], "admin");
    assert_eq!(me["roles"], serde_json::json!(["fabric-admin"]));

    for p in ["acme", "globex"] {
        ok(&panctl(&addr, &["partition", "create", p])?)?;
    }
    ok(&panctl(
        &addr,
        &[
            "volume",
            "create",
            "secret-db",
            "--partition",
            "globex",
            "--size",
            "1M",
        ],
    )?)?;
    ok(&panctl(
        &addr,
        &["server", "create", "db-1", "--partition", "globex"],
    )?)?;
    ok(&panctl(
        &addr,
        &[
            "partition",
            "set-quota",
            "acme",
            "--max-servers",
            "1",
            "--max-volume-bytes",
            "32M",
        ],
    )?)?;
    let alice = principal(&addr, "alice", "partition-admin", Some("acme"))?;
    let as_alice = |args: &[&str]| panctl_as(&addr, Some(&alice), args);

    // The tenant's event stream, opened before anything happens.
    let mut events = client_as(&addr, Some(&alice))
        .await?
        .watch_events(pb::WatchEventsRequest {})
        .await?
        .into_inner();

    // Inside the quota.
    ok(&as_alice(&[
        "volume",
        "create",
        "data",
        "--partition",
        "acme",
        "--size",
        "16M",
    ])?)?;
    ok(&as_alice(&[
        "server",
        "create",
        "web-1",
        "--partition",
        "acme",
        "--volume",
        "data",
    ])?)?;
    // Over it: one clear line naming the quota and its use.
    let err = fails(
        &as_alice(&["server", "create", "web-2", "--partition", "acme"])?,
        1,
    );
    assert!(err.contains("server"), "{err}");
    assert!(err.contains("1"), "{err}");
    let err = fails(
        &as_alice(&[
            "volume",
            "create",
            "big",
            "--partition",
            "acme",
            "--size",
            "32M",
        ])?,
        1,
    );
    assert!(err.contains("bytes") || err.contains("volume"), "{err}");
    let acme = json(&panctl(
        &addr,
        &["-o", "json", "partition", "show", "acme"],
    )?)?;
    assert_eq!(acme["usage"]["servers"], 1, "{acme}");
    assert_eq!(acme["usage"]["volume_bytes"], 16 << 20, "{acme}");

    // Lists show only acme's objects.
    let servers = json(&as_alice(&["-o", "json", "server", "list"])?)?;
    let names: Vec<&str> = servers
        .as_array()
        .context("array")?
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["web-1"]);
    let volumes = json(&as_alice(&["-o", "json", "volume", "list"])?)?;
    assert_eq!(volumes.as_array().map(Vec::len), Some(1), "{volumes}");
    let partitions = json(&as_alice(&["-o", "json", "partition", "list"])?)?;
    assert_eq!(partitions.as_array().map(Vec::len), Some(1), "{partitions}");
    assert_eq!(partitions[0]["name"], "acme");

    // Another partition's objects do not exist for alice, and the answer
    // names nothing of theirs.
    for args in [
        &["server", "show", "db-1", "--partition", "globex"][..],
        &["volume", "show", "secret-db", "--partition", "globex"][..],
        &["server", "delete", "db-1", "--partition", "globex"][..],
        &["server", "list", "--partition", "globex"][..],
    ] {
        let err = fails(&as_alice(args)?, 1);
        assert!(err.contains("not found"), "{args:?}: {err}");
        assert!(
            !err.contains("db-1") && !err.contains("secret-db"),
            "{args:?}: {err}"
        );
    }
    // The image catalog is readable by tenants (they clone from it).
    ok(&as_alice(&["image", "list"])?)?;
    // Hardware is not hers: permission denied, nothing changes.
    let err = fails(&as_alice(&["blade", "power", "on", "blade-001"])?, 3);
    assert!(err.contains("permission denied"), "{err}");
    pan_tests::poll(
        Duration::from_secs(10),
        "the denial in the audit log",
        || async {
            let audit = panctl_json(&addr, &["audit", "--limit", "20"]).ok()?;
            audit
                .as_array()?
                .iter()
                .any(|r| r["principal"] == "alice" && r["command"] == "denied BladePower")
                .then_some(())
        },
    )
    .await?;
    let err = fails(&as_alice(&["partition", "create", "mine"])?, 3);
    assert!(err.contains("permission denied"), "{err}");
    // Bad names are refused by the manager, with the object named.
    let err = fails(
        &as_alice(&["network", "create", "a/b", "--partition", "acme"])?,
        1,
    );
    assert!(err.contains("a/b"), "{err}");
    ok(&as_alice(&[
        "network",
        "create",
        "front",
        "--partition",
        "acme",
    ])?)?;

    // The audit log she sees is acme's; the admin sees everything.
    let audit = json(&as_alice(&["-o", "json", "audit", "--limit", "100"])?)?;
    let commands: Vec<&str> = audit
        .as_array()
        .context("array")?
        .iter()
        .filter_map(|r| r["command"].as_str())
        .collect();
    assert!(!commands.is_empty());
    assert!(
        commands.iter().all(|c| !c.contains("globex")),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.contains("server create acme/web-2")),
        "refusals are audited: {commands:?}"
    );
    let all = json(&panctl(&addr, &["-o", "json", "audit", "--limit", "100"])?)?;
    assert!(all.to_string().contains("globex"));

    // Her event stream carried her events only, up to her network.
    ok(&panctl(
        &addr,
        &["server", "create", "db-2", "--partition", "globex"],
    )?)?;
    ok(&as_alice(&[
        "network",
        "create",
        "back",
        "--partition",
        "acme",
    ])?)?;
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.message())
            .await
            .context("an event within 10 s")??
            .context("the stream ended")?;
        seen.push(event.object.clone());
        assert_eq!(event.partition, "acme", "{seen:?}");
        if event.object == "network/acme/back" {
            break;
        }
    }
    assert!(seen.contains(&"server/acme/web-1".to_string()), "{seen:?}");

    // Without a token nothing works, with a clear line.
    let err = fails(&panctl_as(&addr, None, &["server", "list"])?, 3);
    assert!(err.contains("not authenticated"), "{err}");
    let err = fails(
        &panctl_as(&addr, Some("pan_garbage"), &["server", "list"])?,
        3,
    );
    assert!(err.contains("malformed"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_at_once_by_every_member() -> Result<()> {
    let cluster = Cluster::start(3, &[]).await?;
    let addrs: Vec<String> = (1..=3).map(|id| cluster.addr(id)).collect();
    ok(&panctl(&addrs[0], &["partition", "create", "acme"])?)?;
    let bob = principal(&addrs[1], "bob", "partition-viewer", Some("acme"))?;
    for addr in &addrs {
        ok(&panctl_as(addr, Some(&bob), &["whoami"])?)?;
    }
    // Revoked through a follower; when the call returns, every member refuses.
    ok(&panctl(&addrs[2], &["principal", "revoke", "bob"])?)?;
    for addr in &addrs {
        let err = fails(&panctl_as(addr, Some(&bob), &["whoami"])?, 3);
        assert!(err.contains("revoked"), "{addr}: {err}");
    }
    // A rotation gives a new token; the old one stays dead.
    let rotated = json(&panctl(
        &addrs[0],
        &["-o", "json", "principal", "rotate", "bob"],
    )?)?;
    let new = rotated["token"].as_str().context("token")?;
    for addr in &addrs {
        ok(&panctl_as(addr, Some(new), &["whoami"])?)?;
        fails(&panctl_as(addr, Some(&bob), &["whoami"])?, 3);
    }
    // The last fabric-admin cannot lock everyone out.
    let err = fails(&panctl(&addrs[0], &["principal", "revoke", "admin"])?, 1);
    assert!(err.contains("lock"), "{err}");
    Ok(())
}

/// Calls one RPC with a request aimed at `partition` (or fabric-wide) and
/// returns the status code; `Ok` is `Code::Ok`.
macro_rules! rpcs {
    ($client:ident, $p:ident, $($name:ident => $call:expr;)*) => {{
        let mut codes: Vec<(&'static str, Code)> = Vec::new();
        $(
            let code = match $call.await {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            };
            codes.push((stringify!($name), code));
        )*
        codes
    }};
}

/// Every RPC, called by a principal with no rights on `partition` (or on
/// anything fabric-wide); each answer's code.
async fn call_every_rpc(client: &mut pan_tests::Client, p: &str) -> Vec<(&'static str, Code)> {
    let s = || p.to_string();
    let c = client;
    rpcs! { c, p,
        ClusterStatus => c.cluster_status(pb::ClusterStatusRequest {});
        AddMember => c.add_member(pb::AddMemberRequest { id: 9, addr: "127.0.0.1:1".into() });
        RemoveMember => c.remove_member(pb::RemoveMemberRequest { id: 9 });
        CreatePartition => c.create_partition(pb::CreatePartitionRequest { name: "x".into(), ..Default::default() });
        ListPartitions => c.list_partitions(pb::ListPartitionsRequest {});
        DeletePartition => c.delete_partition(pb::DeletePartitionRequest { name: s() });
        CreatePool => c.create_pool(pb::CreatePoolRequest { name: "x".into(), qualification: None });
        ListPools => c.list_pools(pb::ListPoolsRequest {});
        DeletePool => c.delete_pool(pb::DeletePoolRequest { name: "x".into() });
        CreateIdentityPool => c.create_identity_pool(pb::CreateIdentityPoolRequest { name: "x".into(), ..Default::default() });
        ListIdentityPools => c.list_identity_pools(pb::ListIdentityPoolsRequest {});
        DeleteIdentityPool => c.delete_identity_pool(pb::DeleteIdentityPoolRequest { name: "x".into() });
        AddBlade => c.add_blade(pb::AddBladeRequest { name: "x".into(), ..Default::default() });
        ListBlades => c.list_blades(pb::ListBladesRequest::default());
        GetBlade => c.get_blade(pb::GetBladeRequest { name: "x".into() });
        RemoveBlade => c.remove_blade(pb::RemoveBladeRequest { name: "x".into() });
        DiscoverBlades => c.discover_blades(pb::DiscoverBladesRequest { bmc_range: "127.0.0.1:1-2".into(), ..Default::default() });
        BladePower => c.blade_power(pb::BladePowerRequest { name: "x".into(), action: "on".into(), force: false });
        CreateServer => c.create_server(pb::CreateServerRequest { name: "x".into(), partition: s(), ..Default::default() });
        ListServers => c.list_servers(pb::ListServersRequest { partition: s() });
        GetServer => c.get_server(pb::GetServerRequest { name: "x".into(), partition: s() });
        DeleteServer => c.delete_server(pb::DeleteServerRequest { name: "x".into(), partition: s() });
        StartServer => c.start_server(pb::StartServerRequest { name: "x".into(), partition: s(), ..Default::default() });
        StopServer => c.stop_server(pb::StopServerRequest { name: "x".into(), partition: s(), ..Default::default() });
        AddImage => c.add_image(pb::AddImageRequest { name: "x".into(), size_bytes: 1 << 20, ..Default::default() });
        ListImages => c.list_images(pb::ListImagesRequest {});
        DeleteImage => c.delete_image(pb::DeleteImageRequest { name: "x".into(), timeout_s: 0 });
        CreateVolume => c.create_volume(pb::CreateVolumeRequest { name: "x".into(), partition: s(), size_bytes: 1 << 20, ..Default::default() });
        ListVolumes => c.list_volumes(pb::ListVolumesRequest { partition: s() });
        GetVolume => c.get_volume(pb::GetVolumeRequest { name: "x".into(), partition: s() });
        DeleteVolume => c.delete_volume(pb::DeleteVolumeRequest { name: "x".into(), partition: s(), timeout_s: 0 });
        ResizeVolume => c.resize_volume(pb::ResizeVolumeRequest { name: "x".into(), partition: s(), size_bytes: 1 << 21, timeout_s: 0 });
        SnapshotVolume => c.snapshot_volume(pb::SnapshotVolumeRequest { name: "x".into(), partition: s(), snapshot: "s".into(), timeout_s: 0 });
        RestoreVolume => c.restore_volume(pb::RestoreVolumeRequest { name: "x".into(), partition: s(), snapshot: "s".into(), timeout_s: 0 });
        DeleteSnapshot => c.delete_snapshot(pb::DeleteSnapshotRequest { name: "x".into(), partition: s(), snapshot: "s".into(), timeout_s: 0 });
        CreateNetwork => c.create_network(pb::CreateNetworkRequest { name: "x".into(), partition: s(), network_id: 0 });
        ListNetworks => c.list_networks(pb::ListNetworksRequest { partition: s() });
        DeleteNetwork => c.delete_network(pb::DeleteNetworkRequest { name: "x".into(), partition: s() });
        ListAudit => c.list_audit(pb::ListAuditRequest { limit: 1 });
        WatchEvents => c.watch_events(pb::WatchEventsRequest {});
        CreatePrincipal => c.create_principal(pb::CreatePrincipalRequest { name: "x".into(), roles: vec!["fabric-admin".into()], expires_in_s: 0 });
        ListPrincipals => c.list_principals(pb::ListPrincipalsRequest {});
        RevokePrincipal => c.revoke_principal(pb::RevokePrincipalRequest { name: "admin".into() });
        RotatePrincipal => c.rotate_principal(pb::RotatePrincipalRequest { name: "admin".into(), expires_in_s: 0 });
        DeletePrincipal => c.delete_principal(pb::DeletePrincipalRequest { name: "admin".into() });
        WhoAmI => c.who_am_i(pb::WhoAmIRequest {});
        SetQuota => c.set_quota(pb::SetQuotaRequest { partition: s(), quota: None });
        ConfirmFenced => c.confirm_fenced(pb::ConfirmFencedRequest { blade: "x".into() });
        RepairBlade => c.repair_blade(pb::RepairBladeRequest { blade: "x".into() });
        DrainBlade => c.drain_blade(pb::DrainBladeRequest { blade: "x".into(), timeout_s: 0 });
        MoveServer => c.move_server(pb::MoveServerRequest { name: "x".into(), partition: s(), ..Default::default() });
        ListFailovers => c.list_failovers(pb::ListFailoversRequest { limit: 1 });
        Coverage => c.coverage(pb::CoverageRequest {});
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_is_authenticated_and_authorized_before_it_acts() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);
    for p in ["acme", "globex"] {
        ok(&panctl(&addr, &["partition", "create", p])?)?;
    }
    let viewer = principal(&addr, "viewer", "partition-viewer", Some("acme"))?;
    let before = panctl_json(&addr, &["audit", "--limit", "1"])?;

    // No token: every RPC is Unauthenticated.
    let mut anonymous = client_as(&addr, None).await?;
    let codes = call_every_rpc(&mut anonymous, "acme").await;
    let all: Vec<&str> = partitions::Action::ALL
        .iter()
        .map(|a| a.rpc_name())
        .collect();
    let covered: Vec<&str> = codes.iter().map(|(n, _)| *n).collect();
    assert_eq!(covered, all, "this test must call every RPC");
    for (rpc, code) in &codes {
        assert_eq!(*code, Code::Unauthenticated, "{rpc} without a token");
    }

    // A viewer of acme, aimed at globex: every RPC is refused before it
    // acts — NotFound for globex's objects, PermissionDenied for the rest —
    // except the calls any principal may make about itself or its lists.
    let mut client = client_as(&addr, Some(&viewer)).await?;
    let readable = [
        "ListPartitions",
        "ListAudit",
        "WatchEvents",
        "WhoAmI",
        "ListFailovers",
        "Coverage",
        "ListImages",
    ];
    for (rpc, code) in call_every_rpc(&mut client, "globex").await {
        if readable.contains(&rpc) {
            assert_eq!(code, Code::Ok, "{rpc}");
            continue;
        }
        let action = partitions::Action::from_rpc_name(rpc).context("an action")?;
        // Aimed at a partition: its objects, and the partition itself.
        let scoped = action.domain() == partitions::Domain::Workload
            || matches!(rpc, "DeletePartition" | "SetQuota");
        let want = if scoped {
            Code::NotFound
        } else {
            Code::PermissionDenied
        };
        assert_eq!(code, want, "{rpc} as a viewer of acme on globex");
    }
    // Nothing changed; the refusals are in the audit log (rate-limited),
    // each a denial by the viewer.
    let before_index = before[0]["index"].as_u64().context("index")?;
    let denials = pan_tests::poll(Duration::from_secs(10), "denials audited", || async {
        let records = panctl_json(&addr, &["audit", "--limit", "200"]).ok()?;
        let newer: Vec<serde_json::Value> = records
            .as_array()?
            .iter()
            .filter(|r| r["index"].as_u64().is_some_and(|i| i > before_index))
            .cloned()
            .collect();
        (!newer.is_empty()).then_some(newer)
    })
    .await?;
    for r in &denials {
        assert_eq!(r["principal"], "viewer", "{r}");
        assert!(
            r["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("denied ")),
            "{r}"
        );
        assert_eq!(r["outcome"], "error", "{r}");
    }
    let partitions = panctl_json(&addr, &["partition", "list"])?;
    assert_eq!(partitions.as_array().map(Vec::len), Some(2));
    let principals = panctl_json(&addr, &["principal", "list"])?;
    assert_eq!(principals.as_array().map(Vec::len), Some(2));
    Ok(())
}

/// Sends `signal` (STOP or CONT) to a process.
fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_works_at_once_on_a_member_that_has_not_applied_it_yet() -> Result<()> {
    let cluster = Cluster::start(3, &[]).await?;
    let leader = cluster.leader().await?;
    let lagging = (1..=3).find(|id| *id != leader).context("a follower")?;
    let pid = cluster.pid(lagging).context("follower pid")?;
    ok(&panctl(
        &cluster.addr(leader),
        &["partition", "create", "acme"],
    )?)?;

    // The follower is frozen while the principal is created, so when it
    // wakes it has not applied the write that issued the token. The client
    // connects (the token is only sent with a request) before the freeze.
    let mut client = client_as(&cluster.addr(lagging), None).await?;
    signal(pid, "STOP")?;
    let created = principal(
        &cluster.addr(leader),
        "carol",
        "partition-viewer",
        Some("acme"),
    );
    signal(pid, "CONT")?;
    let carol = created?;
    let mut ask = tonic::Request::new(pb::WhoAmIRequest {});
    ask.metadata_mut()
        .insert("authorization", format!("Bearer {carol}").parse()?);
    let me = client
        .who_am_i(ask)
        .await
        .context("a fresh token on a lagging member")?
        .into_inner();
    assert_eq!(me.name, "carol");
    // A token nobody issued is still refused there, after the same check.
    let made_up = format!("pan_{}_{}", "0".repeat(16), "0".repeat(64));
    let mut stranger = client_as(&cluster.addr(lagging), Some(&made_up)).await?;
    let refused = stranger
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect_err("a made-up token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedicated_pool_is_set_shown_and_kept_to_one_partition() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);
    for p in ["acme", "globex"] {
        ok(&panctl(&addr, &["partition", "create", p])?)?;
    }
    ok(&panctl(&addr, &["pool", "create", "gold"])?)?;
    ok(&panctl(
        &addr,
        &["partition", "set-quota", "acme", "--dedicated-pool", "gold"],
    )?)?;
    let shown = json(&panctl(
        &addr,
        &["-o", "json", "partition", "show", "acme"],
    )?)?;
    assert_eq!(shown["quota"]["dedicated_pool"], "gold", "{shown}");
    let table = ok(&panctl(&addr, &["partition", "show", "acme"])?)?;
    assert!(table.contains("gold (dedicated)"), "{table}");

    let err = fails(
        &panctl(
            &addr,
            &[
                "partition",
                "set-quota",
                "globex",
                "--dedicated-pool",
                "gold",
            ],
        )?,
        1,
    );
    assert!(err.contains("dedicated to partition 'acme'"), "{err}");
    let err = fails(&panctl(&addr, &["pool", "delete", "gold"])?, 1);
    assert!(err.contains("dedicated pool"), "{err}");
    // --unlimited clears it; then the pool may go.
    ok(&panctl(
        &addr,
        &["partition", "set-quota", "acme", "--unlimited"],
    )?)?;
    ok(&panctl(&addr, &["pool", "delete", "gold"])?)?;
    Ok(())
}
