//! The data path end to end: golden images and volumes made with the real
//! `qemu-img` on the manager's storage target and exported in the nvmet
//! configfs layout, networks with VXLAN ids, and servers that boot from
//! their volume on the simulated rack only where their identity may reach.

use anyhow::{Context as _, Result};
use pan_tests::{Cluster, ok, panctl, panctl_json};
use std::path::{Path, PathBuf};

/// The one-line error of a panctl call that must fail.
fn refused(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "expected a refusal, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Files (relative paths) under `dir`, sorted; hidden files included.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Entry names directly in `dir` (symlinks included), sorted; a missing
/// directory is empty.
fn entries(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_from_golden_images_snapshots_restore_and_refusals() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);
    let san = cluster.dir().join("m1").join("san");
    let nvmet = san.join("nvmet");

    // A golden image from a file on the manager's host.
    let source = cluster.dir().join("golden.raw");
    std::fs::write(&source, vec![0u8; 4 << 20])?;
    let image = panctl_json(
        &addr,
        &[
            "image",
            "add",
            "debian",
            "--file",
            source.to_str().context("utf-8")?,
        ],
    )?;
    assert_eq!(image["state"], "ready", "{image}");
    assert_eq!(image["size_bytes"], 4 << 20, "{image}");
    let image_id = image["id"].as_u64().context("image id")?;
    assert!(
        san.join("images")
            .join(format!("img-{image_id}.qcow2"))
            .is_file(),
        "{:?}",
        files(&san)
    );

    ok(&panctl(&addr, &["partition", "create", "acme"])?)?;

    // A thin clone of it, exported with no host allowed.
    let vol = panctl_json(
        &addr,
        &[
            "volume",
            "create",
            "web-1-boot",
            "--partition",
            "acme",
            "--image",
            "debian",
            "--size",
            "8M",
        ],
    )?;
    assert_eq!(vol["state"], "ready", "{vol}");
    assert_eq!(vol["image"], "debian");
    assert_eq!(vol["size_bytes"], 8 << 20);
    let vol_id = vol["id"].as_u64().context("volume id")?;
    let nqn = vol["nqn"].as_str().context("nqn")?.to_string();
    assert_eq!(nqn, format!("nqn.2026-11.io.pan:volume:{vol_id}"));
    let file = san.join("volumes").join(format!("vol-{vol_id}.qcow2"));
    let info = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(&file)
        .output()?;
    let info: serde_json::Value = serde_json::from_slice(&info.stdout)?;
    assert!(
        info["backing-filename"]
            .as_str()
            .is_some_and(|b| b.ends_with(&format!("img-{image_id}.qcow2"))),
        "a thin clone names its image as backing file: {info}"
    );
    let subsystem = nvmet.join("subsystems").join(&nqn);
    assert_eq!(read(subsystem.join("attr_allow_any_host")), "0");
    assert_eq!(read(subsystem.join("namespaces/1/enable")), "1");
    assert_eq!(
        read(subsystem.join("namespaces/1/device_path")),
        file.display().to_string()
    );
    assert!(entries(&subsystem.join("allowed_hosts")).is_empty());
    assert!(
        nvmet.join("ports/1/subsystems").join(&nqn).exists(),
        "the port links the subsystem"
    );

    // Restore points: snapshot, change, restore, delete.
    let v = panctl_json(
        &addr,
        &[
            "volume",
            "snapshot",
            "web-1-boot",
            "before-upgrade",
            "--partition",
            "acme",
        ],
    )?;
    assert_eq!(v["snapshots"][0]["name"], "before-upgrade", "{v}");
    let v = panctl_json(
        &addr,
        &[
            "volume",
            "resize",
            "web-1-boot",
            "--partition",
            "acme",
            "--size",
            "16M",
        ],
    )?;
    assert_eq!(v["size_bytes"], 16 << 20);
    let v = panctl_json(
        &addr,
        &[
            "volume",
            "restore",
            "web-1-boot",
            "before-upgrade",
            "--partition",
            "acme",
        ],
    )?;
    assert_eq!(v["state"], "ready");
    assert_eq!(v["last_error"], serde_json::Value::Null, "{v}");
    let err = refused(&panctl(
        &addr,
        &[
            "volume",
            "restore",
            "web-1-boot",
            "nope",
            "--partition",
            "acme",
        ],
    )?);
    assert!(
        err.contains("snapshot 'nope' of volume 'web-1-boot'"),
        "{err}"
    );
    let err = refused(&panctl(
        &addr,
        &[
            "volume",
            "resize",
            "web-1-boot",
            "--partition",
            "acme",
            "--size",
            "1M",
        ],
    )?);
    assert!(err.contains("volumes only grow"), "{err}");

    // Attached: no delete, and the image stays pinned.
    ok(&panctl(
        &addr,
        &[
            "server",
            "create",
            "web-1",
            "--partition",
            "acme",
            "--boot-volume",
            "web-1-boot",
        ],
    )?)?;
    let err = refused(&panctl(
        &addr,
        &["volume", "delete", "web-1-boot", "--partition", "acme"],
    )?);
    assert!(
        err.contains("in use by server acme/web-1 (boot volume"),
        "{err}"
    );
    let err = refused(&panctl(&addr, &["image", "delete", "debian"])?);
    assert!(err.contains("cloned from it (acme/web-1-boot)"), "{err}");
    assert!(file.is_file(), "a refused delete removes nothing");

    // Once free, the delete takes the file and the export with it.
    ok(&panctl(
        &addr,
        &["server", "delete", "web-1", "--partition", "acme"],
    )?)?;
    ok(&panctl(
        &addr,
        &["volume", "delete", "web-1-boot", "--partition", "acme"],
    )?)?;
    assert!(!file.exists());
    assert!(!subsystem.exists(), "{:?}", files(&nvmet));
    ok(&panctl(&addr, &["image", "delete", "debian"])?)?;
    assert!(files(&san.join("images")).is_empty());

    // Bad input: one clear line each, and nothing half-created.
    let before = files(&san);
    let missing = cluster.dir().join("no-such.qcow2");
    let err = refused(&panctl(
        &addr,
        &[
            "image",
            "add",
            "ghost",
            "--file",
            missing.to_str().context("utf-8")?,
        ],
    )?);
    assert!(err.contains("could not create image 'ghost'"), "{err}");
    assert!(err.contains("nothing was left behind"), "{err}");
    let err = refused(&panctl(
        &addr,
        &[
            "volume",
            "create",
            "v",
            "--partition",
            "acme",
            "--image",
            "nope",
        ],
    )?);
    assert!(err.contains("image 'nope' not found"), "{err}");
    let err = refused(&panctl(
        &addr,
        &[
            "volume",
            "create",
            "bad/name",
            "--partition",
            "acme",
            "--size",
            "1M",
        ],
    )?);
    assert!(err.contains("invalid volume name"), "{err}");
    let err = refused(&panctl(
        &addr,
        &[
            "volume",
            "create",
            "v",
            "--partition",
            "acme",
            "--size",
            "10Q",
        ],
    )?);
    assert!(err.contains("10Q"), "{err}");
    assert_eq!(files(&san), before, "refusals left files behind");
    let images = panctl_json(&addr, &["image", "list"])?;
    assert_eq!(images, serde_json::json!([]));
    let volumes = panctl_json(&addr, &["volume", "list"])?;
    assert_eq!(volumes, serde_json::json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_take_ids_from_their_partition_range() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);
    ok(&panctl(
        &addr,
        &["partition", "create", "acme", "--network-ids", "5000-5001"],
    )?)?;
    ok(&panctl(&addr, &["partition", "create", "globex"])?)?;
    let err = refused(&panctl(
        &addr,
        &[
            "partition",
            "create",
            "initech",
            "--network-ids",
            "4000-5000",
        ],
    )?);
    assert!(
        err.contains("overlaps range 5000-5001 of partition 'acme'"),
        "{err}"
    );

    let front = panctl_json(
        &addr,
        &["network", "create", "front", "--partition", "acme"],
    )?;
    assert_eq!(front["network_id"], 5000);
    let err = refused(&panctl(
        &addr,
        &[
            "network",
            "create",
            "x",
            "--partition",
            "acme",
            "--network-id",
            "7",
        ],
    )?);
    assert!(
        err.contains("outside partition 'acme''s range 5000-5001"),
        "{err}"
    );
    ok(&panctl(
        &addr,
        &["network", "create", "back", "--partition", "acme"],
    )?)?;
    let err = refused(&panctl(
        &addr,
        &["network", "create", "more", "--partition", "acme"],
    )?);
    assert!(err.contains("used all 2 network ids"), "{err}");

    // Servers get one vNIC per network, in order, with identity MACs.
    let server = panctl_json(
        &addr,
        &[
            "server",
            "create",
            "web",
            "--partition",
            "acme",
            "--network",
            "front",
            "--network",
            "back",
        ],
    )?;
    let nics = server["nics"].as_array().context("nics")?;
    assert_eq!(nics.len(), 2, "{server}");
    assert_eq!(nics[0]["network"], "front");
    assert_eq!(nics[1]["network_id"], 5001);
    assert_eq!(nics[0]["mac"], server["identity"]["macs"][0]);

    // Another partition's network does not exist for acme's servers.
    ok(&panctl(
        &addr,
        &["network", "create", "secret", "--partition", "globex"],
    )?)?;
    let err = refused(&panctl(
        &addr,
        &[
            "server",
            "create",
            "spy",
            "--partition",
            "acme",
            "--network",
            "secret",
        ],
    )?);
    assert!(
        err.contains("network 'secret' in partition 'acme' not found"),
        "{err}"
    );
    let err = refused(&panctl(
        &addr,
        &["network", "delete", "front", "--partition", "acme"],
    )?);
    assert!(err.contains("in use by 1 server(s) (acme/web)"), "{err}");
    let listed = panctl_json(&addr, &["network", "list", "--partition", "acme"])?;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    Ok(())
}

/// hwsim's fake nvme-cli, which obeys an nvmet configfs tree.
fn fake_nvme() -> String {
    pan_tests::binary("hwsim-fake-nvme").display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_boots_from_its_volume_only_where_its_identity_may_reach() -> Result<()> {
    use pan_tests::{Hwsim, bmc_password_file, discover, poll};
    use std::time::Duration;
    let cluster = Cluster::start(1, &["--poll-ms", "300", "--boot-timeout-s", "20"]).await?;
    let addr = cluster.addr(1);
    let nvmet = cluster.dir().join("m1").join("san").join("nvmet");
    let nvmet_arg = nvmet.display().to_string();
    let fake = fake_nvme();
    let rack = Hwsim::start(
        2,
        Some(&addr),
        &[
            "--boot-delay-ms",
            "100",
            "--nvmet-root",
            &nvmet_arg,
            "--fake-nvme",
            &fake,
        ],
    )?;
    let pw = bmc_password_file(cluster.dir())?;
    ok(&discover(&addr, &rack, &pw, false, &[])?)?;

    ok(&panctl(
        &addr,
        &["image", "add", "debian", "--size", "64M"],
    )?)?;
    ok(&panctl(&addr, &["partition", "create", "acme"])?)?;
    ok(&panctl(
        &addr,
        &["network", "create", "front", "--partition", "acme"],
    )?)?;
    for v in ["web-1-boot", "web-2-boot"] {
        ok(&panctl(
            &addr,
            &[
                "volume",
                "create",
                v,
                "--partition",
                "acme",
                "--image",
                "debian",
            ],
        )?)?;
    }
    ok(&panctl(
        &addr,
        &[
            "server",
            "create",
            "web-1",
            "--partition",
            "acme",
            "--network",
            "front",
            "--boot-volume",
            "web-1-boot",
        ],
    )?)?;

    // Start: the blade boots from the volume over NVMe/TCP and its agent
    // carries the identity's MAC and the attached volume.
    let started = panctl_json(
        &addr,
        &[
            "server",
            "start",
            "web-1",
            "--partition",
            "acme",
            "--timeout",
            "30",
        ],
    )?;
    assert_eq!(started["state"], "running", "{started}");
    let host_nqn = started["identity"]["host_nqn"]
        .as_str()
        .context("nqn")?
        .to_string();
    let mac = started["identity"]["macs"][0]
        .as_str()
        .context("mac")?
        .to_string();
    let vol = panctl_json(
        &addr,
        &["volume", "show", "web-1-boot", "--partition", "acme"],
    )?;
    let subnqn = vol["nqn"].as_str().context("volume nqn")?.to_string();
    let allowed = nvmet.join("subsystems").join(&subnqn).join("allowed_hosts");
    assert_eq!(
        entries(&allowed),
        std::slice::from_ref(&host_nqn),
        "exactly the identity may connect"
    );

    let shown = panctl_json(&addr, &["server", "show", "web-1", "--partition", "acme"])?;
    let agent = &shown["agent"];
    assert!(
        agent["interfaces"]
            .as_array()
            .is_some_and(|i| i.iter().any(|i| i["mac"] == mac.as_str())),
        "the agent shows the identity's MAC: {shown}"
    );
    assert_eq!(agent["volumes"][0]["name"], "web-1-boot", "{shown}");
    assert_eq!(
        agent["volumes"][0]["subsystem_nqn"],
        subnqn.as_str(),
        "{shown}"
    );
    assert!(
        agent["volumes"][0]["device"]
            .as_str()
            .is_some_and(|d| d.starts_with("/dev/nvme")),
        "{shown}"
    );

    // Stop: the blade is off and the host may no longer connect.
    let stopped = panctl_json(
        &addr,
        &[
            "server",
            "stop",
            "web-1",
            "--partition",
            "acme",
            "--timeout",
            "30",
        ],
    )?;
    assert_eq!(stopped["state"], "defined", "{stopped}");
    assert!(entries(&allowed).is_empty(), "revoked on stop");

    // A blade whose storage target does not let the identity in: a second
    // rack whose firmware sees a target exporting the volume to nobody.
    let rogue_tree = cluster.dir().join("rogue-nvmet");
    {
        use san::nvmet::{ConfigfsTarget, Nqn, PortConfig, StorageTarget as _};
        let target = ConfigfsTarget::new(&rogue_tree, PortConfig::tcp(1, "127.0.0.1".parse()?))?;
        let w2 = panctl_json(
            &addr,
            &["volume", "show", "web-2-boot", "--partition", "acme"],
        )?;
        target.export(
            &Nqn::parse(w2["nqn"].as_str().context("nqn")?)?,
            Path::new("/dev/null"),
        )?;
    }
    let rogue_arg = rogue_tree.display().to_string();
    let rogue = Hwsim::start(
        1,
        Some(&addr),
        &[
            "--rack-id",
            "7",
            "--boot-delay-ms",
            "100",
            "--nvmet-root",
            &rogue_arg,
            "--fake-nvme",
            &fake,
        ],
    )?;
    ok(&panctl(
        &addr,
        &[
            "blade",
            "add",
            "rogue",
            "--bmc",
            &rogue.bmc_url(1),
            "--user",
            "admin",
            "--password-file",
            &pw,
        ],
    )?)?;
    ok(&panctl(
        &addr,
        &[
            "server",
            "create",
            "web-2",
            "--partition",
            "acme",
            "--boot-volume",
            "web-2-boot",
        ],
    )?)?;
    let out = panctl(
        &addr,
        &[
            "server",
            "start",
            "web-2",
            "--partition",
            "acme",
            "--blade",
            "rogue",
            "--timeout",
            "30",
        ],
    )?;
    let err = refused(&out);
    assert!(err.contains("failed to boot"), "{err}");
    assert!(err.contains("is not allowed"), "{err}");
    let web2 = panctl_json(&addr, &["server", "show", "web-2", "--partition", "acme"])?;
    assert_eq!(web2["state"], "failed", "{web2}");
    assert!(
        web2["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("is not allowed")),
        "{web2}"
    );
    // The failed start released everything: blade off, no host allowed.
    let w2nqn = panctl_json(
        &addr,
        &["volume", "show", "web-2-boot", "--partition", "acme"],
    )?;
    let w2allowed = nvmet
        .join("subsystems")
        .join(w2nqn["nqn"].as_str().context("nqn")?)
        .join("allowed_hosts");
    assert!(
        entries(&w2allowed).is_empty(),
        "revoked after the failed start"
    );
    poll(
        Duration::from_secs(10),
        "the rogue blade powered off",
        || async {
            let b = panctl_json(&addr, &["blade", "show", "rogue"]).ok()?;
            (b["power"] == "off").then_some(())
        },
    )
    .await?;
    drop(rogue);
    drop(rack);
    Ok(())
}

/// Why the real-fabric test cannot run here, if it cannot.
fn not_root() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_owned);
    match euid.as_deref() {
        Some("0") => None,
        other => Some(format!(
            "not root (effective uid {}): the Linux fabric creates network namespaces, bridges and veth pairs, which needs CAP_NET_ADMIN; CI runs this test as root",
            other.unwrap_or("unknown")
        )),
    }
}

/// Deletes every network namespace whose name starts with the prefix, on
/// drop (also when an assertion failed).
struct Namespaces(String);

impl Drop for Namespaces {
    fn drop(&mut self) {
        let Ok(list) = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
        else {
            return;
        };
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with(&self.0) {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "delete", name])
                    .status();
            }
        }
    }
}

fn ip_netns(ns: &str, args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "ip"])
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "ip netns exec {ns} ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Whether a TCP probe from namespace `ns` reaches `addr` (bounded).
fn reaches(ns: &str, addr: &str) -> Result<bool> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(pan_tests::binary("pan-probe"))
        .args(["connect", addr, "--timeout-ms", "700"])
        .output()?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => anyhow::bail!(
            "pan-probe in {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A probe listener inside namespace `ns`, killed on drop.
struct Listener(std::process::Child);

impl Listener {
    fn start(ns: &str, addr: &str) -> Result<Listener> {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(pan_tests::binary("pan-probe"))
            .args(["listen", addr, "--lifetime", "120"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("probe stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        anyhow::ensure!(
            line.starts_with("listening"),
            "probe listener in {ns}: {line:?}"
        );
        Ok(Listener(child))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_networks_isolate_servers_on_the_real_linux_fabric() -> Result<()> {
    use pan_tests::{Hwsim, bmc_password_file, discover, poll};
    use std::time::Duration;
    if let Some(why) = not_root() {
        eprintln!("SKIPPED partition_networks_isolate_servers_on_the_real_linux_fabric: {why}");
        return Ok(());
    }
    let fabric_ns = format!("pane2e{}", std::process::id());
    let _cleanup = Namespaces(fabric_ns.clone());
    let cluster = Cluster::start(
        1,
        &[
            "--poll-ms",
            "300",
            "--boot-timeout-s",
            "20",
            "--fabric",
            "linux",
            "--fabric-namespace",
            &fabric_ns,
        ],
    )
    .await?;
    let addr = cluster.addr(1);
    let prefix = format!("{fabric_ns}-blade-");
    let rack = Hwsim::start(
        4,
        Some(&addr),
        &["--boot-delay-ms", "100", "--blade-netns-prefix", &prefix],
    )?;
    let pw = bmc_password_file(cluster.dir())?;
    ok(&discover(&addr, &rack, &pw, false, &[])?)?;
    for p in ["acme", "globex"] {
        ok(&panctl(&addr, &["partition", "create", p])?)?;
        ok(&panctl(
            &addr,
            &["network", "create", "front", "--partition", p],
        )?)?;
    }
    let blade_ns = |i: u16| format!("{prefix}blade-{i:03}");
    let mut macs = std::collections::BTreeMap::new();
    for (server, partition, blade) in [("a1", "acme", 1), ("a2", "acme", 2), ("g1", "globex", 3)] {
        ok(&panctl(
            &addr,
            &[
                "server",
                "create",
                server,
                "--partition",
                partition,
                "--network",
                "front",
            ],
        )?)?;
        let s = panctl_json(
            &addr,
            &[
                "server",
                "start",
                server,
                "--partition",
                partition,
                "--blade",
                &format!("blade-{blade:03}"),
                "--timeout",
                "30",
            ],
        )?;
        assert_eq!(s["state"], "running", "{s}");
        macs.insert(
            server,
            s["identity"]["macs"][0]
                .as_str()
                .context("mac")?
                .to_string(),
        );
        // The tenant's OS would configure its address; all in one subnet,
        // so only the fabric's segments keep partitions apart.
        ip_netns(
            &blade_ns(blade),
            &["addr", "add", &format!("10.77.0.{blade}/24"), "dev", "eth0"],
        )?;
    }
    // The agent put the identity's MAC on the blade's interface.
    let link = std::process::Command::new("ip")
        .args(["-n", &blade_ns(1), "-j", "link", "show", "eth0"])
        .output()?;
    let link: serde_json::Value = serde_json::from_slice(&link.stdout)?;
    assert_eq!(link[0]["address"], macs["a1"].as_str(), "{link}");

    let _listener = Listener::start(&blade_ns(1), "10.77.0.1:7777")?;
    poll(
        Duration::from_secs(10),
        "a2 reaches a1 on acme's network",
        || async { reaches(&blade_ns(2), "10.77.0.1:7777").ok()?.then_some(()) },
    )
    .await?;
    assert!(
        !reaches(&blade_ns(3), "10.77.0.1:7777")?,
        "globex's server reached acme's"
    );

    // Move a2 to blade 4: the identity (and its MAC) goes along, the old
    // port is detached.
    ok(&panctl(
        &addr,
        &[
            "server",
            "stop",
            "a2",
            "--partition",
            "acme",
            "--timeout",
            "30",
        ],
    )?)?;
    let s = panctl_json(
        &addr,
        &[
            "server",
            "start",
            "a2",
            "--partition",
            "acme",
            "--blade",
            "blade-004",
            "--timeout",
            "30",
        ],
    )?;
    assert_eq!(s["state"], "running", "{s}");
    ip_netns(
        &blade_ns(4),
        &["addr", "add", "10.77.0.4/24", "dev", "eth0"],
    )?;
    poll(
        Duration::from_secs(10),
        "a2 on blade 4 reaches a1",
        || async { reaches(&blade_ns(4), "10.77.0.1:7777").ok()?.then_some(()) },
    )
    .await?;
    assert!(
        !reaches(&blade_ns(2), "10.77.0.1:7777")?,
        "the old port still reaches the network"
    );
    drop(rack);
    Ok(())
}
