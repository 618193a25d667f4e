//! The manager against a simulated rack over the real protocols: discovery
//! over Redfish, server start through BMC boot override and power-on, the
//! real blade agent applying the identity, polling, and stop.

use anyhow::{Context as _, Result};
use pan_tests::{Cluster, Hwsim, ok, panctl, panctl_json, poll};
use std::time::Duration;

fn password_file(cluster: &Cluster) -> Result<String> {
    pan_tests::bmc_password_file(cluster.dir())
}

fn discover(
    addr: &str,
    rack: &Hwsim,
    password_file: &str,
    json: bool,
    extra: &[&str],
) -> Result<std::process::Output> {
    pan_tests::discover(addr, rack, password_file, json, extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_start_and_stop_a_server_on_the_simulated_rack() -> Result<()> {
    let cluster = Cluster::start(1, &["--poll-ms", "300", "--boot-timeout-s", "30"]).await?;
    let addr = cluster.addr(1);
    // The blades' firmware checks boots against the manager's storage target.
    let nvmet = cluster.dir().join("m1/san/nvmet").display().to_string();
    let fake_nvme = pan_tests::binary("hwsim-fake-nvme").display().to_string();
    let rack = Hwsim::start(
        4,
        Some(&addr),
        &[
            "--boot-delay-ms",
            "200",
            "--nvmet-root",
            &nvmet,
            "--fake-nvme",
            &fake_nvme,
        ],
    )?;
    let pw = password_file(&cluster)?;
    let pw = pw.as_str();

    // Zero-touch: every BMC in the range is enrolled with its inventory.
    ok(&panctl(
        &addr,
        &["pool", "create", "compute", "--min-cores", "1"],
    )?)?;
    let records: Vec<serde_json::Value> =
        ok(&discover(&addr, &rack, pw, true, &["--pool", "compute"])?)?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(
        records.iter().all(|r| r["outcome"] == "enrolled"),
        "{records:?}"
    );
    let blades = panctl_json(&addr, &["blade", "list"])?;
    let blades = blades.as_array().context("array")?;
    assert_eq!(blades.len(), 4);
    for b in blades {
        assert!(
            b["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("blade-00")),
            "{b}"
        );
        assert_eq!(b["pool"], "compute");
        assert!(b["facts"]["cores"].as_u64().is_some_and(|c| c > 0), "{b}");
        assert_eq!(b["facts"]["macs"].as_array().map(Vec::len), Some(2), "{b}");
    }
    // Discovering again enrols nothing twice.
    let again = ok(&discover(&addr, &rack, pw, true, &[])?)?;
    assert_eq!(again.matches("already_enrolled").count(), 4, "{again}");

    // The poller records power without being asked.
    poll(Duration::from_secs(10), "blades observed off", || async {
        let blades = panctl_json(&addr, &["blade", "list"]).ok()?;
        blades
            .as_array()?
            .iter()
            .all(|b| b["power"] == "off")
            .then_some(())
    })
    .await?;

    ok(&panctl(&addr, &["partition", "create", "acme"])?)?;
    ok(&panctl(
        &addr,
        &[
            "volume",
            "create",
            "web-1-boot",
            "--partition",
            "acme",
            "--size",
            "10G",
        ],
    )?)?;
    ok(&panctl(
        &addr,
        &[
            "server",
            "create",
            "web-1",
            "--partition",
            "acme",
            "--nics",
            "2",
            "--boot-volume",
            "web-1-boot",
        ],
    )?)?;
    let server = panctl_json(&addr, &["server", "start", "web-1", "--partition", "acme"])?;
    assert_eq!(server["state"], "running", "{server}");
    let blade = server["blade"]
        .as_str()
        .context("placed on a blade")?
        .to_string();
    let generation = server["generation"].as_u64().context("generation")?;

    // The ground truth shows the blade powered on and carrying the identity
    // with the generation the manager sent.
    let identity = &server["identity"];
    let truth = rack.ground_truth()?;
    let applied = truth
        .iter()
        .find(|r| r["kind"] == "identity" && r["blade"] == blade.as_str())
        .with_context(|| format!("no identity applied on {blade}: {truth:?}"))?;
    assert_eq!(applied["uuid"], identity["uuid"], "{applied}");
    assert_eq!(applied["host_nqn"], identity["host_nqn"]);
    let macs: Vec<String> = applied["macs"]
        .as_array()
        .context("macs")?
        .iter()
        .map(|m| m.as_str().unwrap_or_default().to_lowercase())
        .collect();
    let want: Vec<String> = identity["macs"]
        .as_array()
        .context("macs")?
        .iter()
        .map(|m| m.as_str().unwrap_or_default().to_lowercase())
        .collect();
    assert_eq!(macs, want);
    assert_eq!(applied["generation"], generation);
    // It booted the server's volume (the boot override the manager set).
    let boot = truth
        .iter()
        .rfind(|r| r["kind"] == "boot" && r["blade"] == blade.as_str())
        .with_context(|| format!("no boot on {blade}"))?;
    let volume = panctl_json(
        &addr,
        &["volume", "show", "web-1-boot", "--partition", "acme"],
    )?;
    let nqn = volume["nqn"].as_str().context("volume nqn")?;
    assert!(
        boot.to_string()
            .contains(&format!("nvme+tcp://127.0.0.1:4420/{nqn}?hostnqn=")),
        "{boot}"
    );

    let shown = panctl_json(&addr, &["blade", "show", &blade])?;
    assert_eq!(shown["state"], "allocated");
    assert_eq!(shown["server"], "acme/web-1");

    // Stop: graceful shutdown, the blade is free again and off.
    let stopped = panctl_json(&addr, &["server", "stop", "web-1", "--partition", "acme"])?;
    assert_eq!(stopped["state"], "defined", "{stopped}");
    assert_eq!(stopped["blade"], serde_json::Value::Null);
    let truth = rack.ground_truth()?;
    let last_power = truth
        .iter()
        .rfind(|r| r["kind"] == "power" && r["blade"] == blade.as_str())
        .context("power records")?;
    assert_eq!(last_power["to"], "Off", "{last_power}");
    let violations = rack.client(&["violations"])?;
    assert!(
        violations.status.success(),
        "{}",
        String::from_utf8_lossy(&violations.stdout)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blade_whose_agent_never_reports_fails_the_start_with_the_reason() -> Result<()> {
    let cluster = Cluster::start(1, &["--boot-timeout-s", "2"]).await?;
    let addr = cluster.addr(1);
    // No --manager: blades boot an OS without an agent.
    let rack = Hwsim::start(1, None, &["--boot-delay-ms", "100"])?;
    let pw = password_file(&cluster)?;
    ok(&panctl(
        &addr,
        &[
            "blade",
            "add",
            "b1",
            "--bmc",
            &rack.bmc_url(1),
            "--user",
            "admin",
            "--password-file",
            &pw,
        ],
    )?)?;
    ok(&panctl(&addr, &["partition", "create", "acme"])?)?;
    ok(&panctl(
        &addr,
        &["server", "create", "s1", "--partition", "acme"],
    )?)?;
    let out = panctl(&addr, &["server", "start", "s1", "--partition", "acme"])?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not connect") && err.contains("b1"),
        "{err}"
    );
    let server = panctl_json(&addr, &["server", "show", "s1", "--partition", "acme"])?;
    assert_eq!(server["state"], "failed");
    assert!(
        server["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("agent")),
        "{server}"
    );
    // The failed start powered the blade off again and freed it.
    let blade = panctl_json(&addr, &["blade", "show", "b1"])?;
    assert_eq!(blade["state"], "available");
    let truth = rack.ground_truth()?;
    let last_power = truth
        .iter()
        .rfind(|r| r["kind"] == "power")
        .context("power records")?;
    assert_eq!(last_power["to"], "Off", "{last_power}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blade_power_goes_through_redfish_and_is_guarded_while_a_server_runs() -> Result<()> {
    let cluster = Cluster::start(1, &["--boot-timeout-s", "30"]).await?;
    let addr = cluster.addr(1);
    let rack = Hwsim::start(1, Some(&addr), &["--boot-delay-ms", "100"])?;
    let pw = password_file(&cluster)?;
    let pw = pw.as_str();
    ok(&panctl(
        &addr,
        &[
            "blade",
            "add",
            "b1",
            "--bmc",
            &rack.bmc_url(1),
            "--user",
            "admin",
            "--password-file",
            pw,
        ],
    )?)?;

    let on = panctl_json(&addr, &["blade", "power", "on", "b1"])?;
    assert_eq!(on["power"], "on", "{on}");
    let off = panctl_json(&addr, &["blade", "power", "off", "b1"])?;
    assert_eq!(off["power"], "off", "{off}");
    let truth = rack.ground_truth()?;
    let causes: Vec<&str> = truth
        .iter()
        .filter(|r| r["kind"] == "power")
        .filter_map(|r| r["cause"].as_str())
        .collect();
    assert!(
        causes.contains(&"On") && causes.contains(&"ForceOff"),
        "{causes:?}"
    );

    // While a server runs on it, powering it off needs --force.
    ok(&panctl(&addr, &["partition", "create", "acme"])?)?;
    ok(&panctl(
        &addr,
        &["server", "create", "s1", "--partition", "acme"],
    )?)?;
    ok(&panctl(
        &addr,
        &["server", "start", "s1", "--partition", "acme"],
    )?)?;
    let out = panctl(&addr, &["blade", "power", "off", "b1"])?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("acme/s1") && err.contains("--force"), "{err}");
    let still = panctl_json(&addr, &["blade", "show", "b1"])?;
    assert_eq!(still["server"], "acme/s1");

    // Bad input is one clear line and changes nothing.
    let out = panctl(&addr, &["blade", "power", "on", "ghost"])?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("blade 'ghost' not found"));
    Ok(())
}

/// Total Redfish requests the rack's BMCs have received.
fn bmc_requests(rack: &Hwsim) -> Result<u64> {
    let out = rack.client(&["status", "--json"])?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blades: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(blades
        .as_array()
        .context("status --json prints an array")?
        .iter()
        .filter_map(|b| b["requests"].as_u64())
        .sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_a_quiet_rack_writes_nothing_to_the_log() -> Result<()> {
    let cluster = Cluster::start(1, &["--poll-ms", "100"]).await?;
    let addr = cluster.addr(1);
    let rack = Hwsim::start(3, Some(&addr), &[])?;
    let pw = password_file(&cluster)?;
    ok(&discover(&addr, &rack, &pw, false, &[])?)?;
    // First passes record the blades' power (a change).
    poll(Duration::from_secs(10), "blades observed off", || async {
        let blades = panctl_json(&addr, &["blade", "list"]).ok()?;
        blades
            .as_array()?
            .iter()
            .all(|b| b["power"] == "off")
            .then_some(())
    })
    .await?;
    // Let an in-flight pass finish, then measure over at least five more
    // passes of reads over every BMC.
    let settle = bmc_requests(&rack)?;
    poll(Duration::from_secs(10), "one more poll pass", || async {
        (bmc_requests(&rack).ok()? >= settle + 3).then_some(())
    })
    .await?;
    let index_before = cluster.status(1).await?.last_log_index;
    let reads_before = bmc_requests(&rack)?;
    poll(Duration::from_secs(20), "five poll passes", || async {
        (bmc_requests(&rack).ok()? >= reads_before + 5 * 3).then_some(())
    })
    .await?;
    let index_after = cluster.status(1).await?.last_log_index;
    assert_eq!(
        index_after, index_before,
        "polls that change nothing must not write to the raft log"
    );

    // A change is recorded: power a blade on behind the manager's back.
    let out = rack.client(&["power", "On", "blade-002"])?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    poll(Duration::from_secs(10), "blade-002 observed on", || async {
        let b = panctl_json(&addr, &["blade", "show", "blade-002"]).ok()?;
        (b["power"] == "on").then_some(())
    })
    .await?;
    assert!(cluster.status(1).await?.last_log_index > index_after);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_the_controller_and_the_agents() -> Result<()> {
    let mut cluster = Cluster::start(3, &["--poll-ms", "200", "--boot-timeout-s", "30"]).await?;
    let managers = (1..=3)
        .map(|id| cluster.addr(id))
        .collect::<Vec<_>>()
        .join(",");
    // Blades' agents know every member; followers redirect them to the leader.
    let rack = Hwsim::start(2, Some(&managers), &["--boot-delay-ms", "100"])?;
    let pw = password_file(&cluster)?;
    let leader = cluster.leader().await?;
    let addr = cluster.addr(leader);
    ok(&discover(&addr, &rack, &pw, false, &[])?)?;
    ok(&panctl(&addr, &["partition", "create", "acme"])?)?;
    ok(&panctl(
        &addr,
        &["server", "create", "web-1", "--partition", "acme"],
    )?)?;
    let server = panctl_json(&addr, &["server", "start", "web-1", "--partition", "acme"])?;
    assert_eq!(server["state"], "running", "{server}");
    let blade = server["blade"].as_str().context("placed")?.to_string();

    // The leader dies; a survivor is elected and runs the controller.
    cluster.kill(leader)?;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let new_leader = poll(Duration::from_secs(10), "a new leader", || async {
        for id in &survivors {
            if let Ok(s) = cluster.status(*id).await
                && s.leader != 0
                && s.leader != leader
                && s.leader == s.answered_by
            {
                return Some(s.leader);
            }
        }
        None
    })
    .await?;
    let addr = cluster.addr(new_leader);

    // Its poller sees hardware changes made behind its back...
    let other = if blade == "blade-001" {
        "blade-002"
    } else {
        "blade-001"
    };
    let out = rack.client(&["power", "On", other])?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    poll(
        Duration::from_secs(10),
        "the new leader observes the power change",
        || async {
            let b = panctl_json(&addr, &["blade", "show", other]).ok()?;
            (b["power"] == "on").then_some(())
        },
    )
    .await?;
    // ...and its executors drive servers: stop, then start again, which
    // needs the blade's agent to have found the new leader.
    let stopped = panctl_json(&addr, &["server", "stop", "web-1", "--partition", "acme"])?;
    assert_eq!(stopped["state"], "defined", "{stopped}");
    let again = panctl_json(&addr, &["server", "start", "web-1", "--partition", "acme"])?;
    assert_eq!(again["state"], "running", "{again}");
    let generation = again["generation"].as_u64().context("generation")?;
    let truth = rack.ground_truth()?;
    let identities: Vec<&serde_json::Value> =
        truth.iter().filter(|r| r["kind"] == "identity").collect();
    let (first, last) = (
        identities.first().context("an identity applied")?,
        identities.last().context("an identity applied")?,
    );
    assert_eq!(last["generation"], generation);
    // The fencing token of the new leader's push carries its higher term.
    assert!(
        last["term"].as_u64() > first["term"].as_u64(),
        "first {first}, last {last}"
    );
    let violations = rack.client(&["violations"])?;
    assert!(
        violations.status.success(),
        "{}",
        String::from_utf8_lossy(&violations.stdout)
    );
    Ok(())
}

/// Opens an agent stream to `addr` speaking for `blade` with `token`, and
/// returns the manager's answer.
async fn open_agent_stream(
    addr: &str,
    blade: &str,
    token: Option<&str>,
) -> Result<Result<(), tonic::Status>> {
    use pan_api::v1 as pb;
    let mut client = pb::agent_client::AgentClient::connect(format!("http://{addr}")).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(pb::AgentMessage {
        body: Some(pb::agent_message::Body::Hello(pb::AgentHello {
            blade: blade.to_string(),
            agent_version: "impostor".to_string(),
            heartbeat_ms: 200,
            ..Default::default()
        })),
    })
    .await?;
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    if let Some(t) = token {
        request
            .metadata_mut()
            .insert("x-pan-agent-token", t.parse()?);
    }
    Ok(client.session(request).await.map(|_| ()))
}

/// `blade-agent token`: the token the provisioning system installs.
fn mint_agent_token(cluster: &Cluster, blade: &str) -> Result<String> {
    let key = cluster.dir().join("m1").join("agent.key");
    let out = std::process::Command::new(pan_tests::binary("blade-agent"))
        .arg("token")
        .arg("--agent-key-file")
        .arg(&key)
        .args(["--blade", blade])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "blade-agent token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_blades_own_token_opens_an_agent_stream_for_it() -> Result<()> {
    let cluster = Cluster::start(1, &["--boot-timeout-s", "30"]).await?;
    let addr = cluster.addr(1);
    let rack = Hwsim::start(1, Some(&addr), &["--boot-delay-ms", "100"])?;
    let pw = password_file(&cluster)?;
    ok(&discover(&addr, &rack, &pw, false, &[])?)?;
    ok(&panctl(&addr, &["partition", "create", "acme"])?)?;
    ok(&panctl(
        &addr,
        &["server", "create", "s1", "--partition", "acme"],
    )?)?;
    // Running means the rack's agent, holding its blade's token, applied
    // the identity.
    let started = panctl_json(
        &addr,
        &[
            "server",
            "start",
            "s1",
            "--partition",
            "acme",
            "--timeout",
            "30",
        ],
    )?;
    assert_eq!(started["state"], "running", "{started}");
    let blade = started["blade"].as_str().context("blade")?.to_string();

    // Anyone else speaking for that blade is refused, and changes nothing.
    let other = mint_agent_token(&cluster, "blade-999")?;
    for token in [None, Some(other.as_str())] {
        let refused = open_agent_stream(&addr, &blade, token)
            .await?
            .expect_err("an impostor agent");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
        assert!(refused.message().contains(&blade), "{refused:?}");
    }
    let after = panctl_json(&addr, &["server", "show", "s1", "--partition", "acme"])?;
    assert_eq!(after["state"], "running", "{after}");
    assert!(!after["agent"].is_null(), "{after}");

    // The token minted for the blade is the one its agent holds.
    let own = mint_agent_token(&cluster, &blade)?;
    assert!(own.starts_with("pana_"), "{own}");
    open_agent_stream(&addr, &blade, Some(&own))
        .await?
        .map_err(|s| anyhow::anyhow!("the blade's own token was refused: {s:?}"))?;
    Ok(())
}
