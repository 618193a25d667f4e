//! End-to-end test support for PAN: real `fabric-manager` processes on
//! loopback ports with their own temporary data directories, and `panctl`.
//!
//! One [`Cluster`] per test. Every process it starts is killed when the
//! cluster is dropped, and the data directories go with the temp dir. Waits
//! poll with a deadline; nothing sleeps to synchronize.
//!
//! The binaries are the ones built next to the test executable
//! (`target/<profile>/fabric-manager`, `target/<profile>/panctl`); the
//! README's test command builds them first.

use anyhow::{Context as _, Result, anyhow, bail};
use pan_api::v1::fabric_client::FabricClient;
use pan_api::v1::{ClusterStatusReply, ClusterStatusRequest};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// A gRPC client of the public API that sends a bearer token (if one is
/// known for its address) on every call.
pub type Client = FabricClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    pub fn new(token: Option<&str>) -> Result<Bearer> {
        Ok(Bearer(
            token
                .map(|t| format!("Bearer {t}").parse())
                .transpose()
                .map_err(|_| anyhow!("a token must be printable ASCII"))?,
        ))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// Tokens of the clusters this test process started, by member address.
static TOKENS: std::sync::Mutex<BTreeMap<String, String>> = std::sync::Mutex::new(BTreeMap::new());

/// Remembers the fabric-admin token for a member address: [`panctl`] and
/// [`client`] use it.
pub fn register_token(addr: &str, token: &str) {
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(addr.to_string(), token.to_string());
}

/// The token known for an address (the first of a comma-separated list).
pub fn token_for(addr: &str) -> Option<String> {
    known_for(&TOKENS, addr)
}

/// What `registry` holds for the first address of a comma-separated list.
fn known_for<T: Clone>(registry: &std::sync::Mutex<BTreeMap<String, T>>, addr: &str) -> Option<T> {
    let first = addr.split(',').next().unwrap_or(addr);
    registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(first)
        .cloned()
}

/// The agent key file of each member this test process started, by address.
static AGENT_KEYS: std::sync::Mutex<BTreeMap<String, PathBuf>> =
    std::sync::Mutex::new(BTreeMap::new());

/// The agent key file of the manager at `addr` (the first of a
/// comma-separated list), if this process started it: [`Hwsim::start`]
/// gives it to the rack, as a provisioning system would.
pub fn agent_key_for(addr: &str) -> Option<PathBuf> {
    known_for(&AGENT_KEYS, addr)
}

/// Where the workspace's binaries are: next to the running executable
/// (`target/<profile>/`), or one level up for test executables in `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the process knows its own path");
    let dir = exe.parent().expect("an executable lives in a directory");
    if dir.ends_with("deps") {
        dir.parent().expect("deps/ has a parent").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The path of a workspace binary, checked to exist.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, \
         which the README's test command does)",
        path.display()
    );
    path
}

/// A free loopback port (bound, then released for the process to take).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("local addr").port()
}

/// Polls `f` until it returns `Some`, or fails after `timeout` with `what`.
pub async fn poll<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One `fabric-manager` process.
pub struct Member {
    pub id: u64,
    pub addr: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Member {
    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The member's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A cluster of `fabric-manager` processes for one test.
pub struct Cluster {
    pub members: BTreeMap<u64, Member>,
    extra_args: Vec<String>,
    dir: tempfile::TempDir,
    /// With TLS: the CA that clients and `panctl --ca-cert` verify against.
    ca_cert: Option<PathBuf>,
}

impl Cluster {
    /// A cluster with no members yet; `extra_args` go to every member.
    pub fn new(extra_args: &[&str]) -> Result<Cluster> {
        Ok(Cluster {
            members: BTreeMap::new(),
            extra_args: extra_args.iter().map(ToString::to_string).collect(),
            dir: tempfile::tempdir().context("create the cluster's temp dir")?,
            ca_cert: None,
        })
    }

    /// A cluster with no members yet whose members serve TLS with a fresh
    /// development CA and certificate (`pan-certs`, for 127.0.0.1 and
    /// localhost) in `<dir>/certs`; clients verify against that CA.
    pub fn new_tls(extra_args: &[&str]) -> Result<Cluster> {
        let mut cluster = Cluster::new(extra_args)?;
        let certs = cluster.dir().join("certs");
        make_certs(&certs)?;
        for (flag, file) in [
            ("--tls-cert", "server.pem"),
            ("--tls-key", "server.key"),
            ("--tls-ca", "ca.pem"),
        ] {
            cluster.extra_args.push(flag.to_string());
            cluster
                .extra_args
                .push(certs.join(file).display().to_string());
        }
        cluster.ca_cert = Some(certs.join("ca.pem"));
        Ok(cluster)
    }

    /// [`Cluster::start`] with TLS (see [`Cluster::new_tls`]).
    pub async fn start_tls(n: u64, extra_args: &[&str]) -> Result<Cluster> {
        let cluster = Cluster::new_tls(extra_args)?;
        cluster.start_members(n).await
    }

    /// The CA members' certificates verify against, with TLS.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// Starts `n` members: node 1 bootstraps, the others join through it,
    /// and waits until all are voters.
    pub async fn start(n: u64, extra_args: &[&str]) -> Result<Cluster> {
        Cluster::new(extra_args)?.start_members(n).await
    }

    async fn start_members(mut self, n: u64) -> Result<Cluster> {
        let cluster = &mut self;
        cluster.spawn(1, None)?;
        cluster.wait_ready(1).await?;
        for id in 2..=n {
            let via = cluster.members[&1].addr.clone();
            cluster.spawn(id, Some(&via))?;
        }
        cluster.wait_voters(n as usize).await?;
        Ok(self)
    }

    /// The temp dir holding data dirs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (or restarts, keeping its data dir and port) member `id`.
    pub fn spawn(&mut self, id: u64, join: Option<&str>) -> Result<()> {
        let (addr, data_dir) = match self.members.get(&id) {
            Some(m) => (m.addr.clone(), m.data_dir.clone()),
            None => (
                format!("127.0.0.1:{}", free_port()),
                self.dir.path().join(format!("m{id}")),
            ),
        };
        let log = self.dir.path().join(format!("m{id}.log"));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .context("open member log")?;
        let mut cmd = Command::new(binary("fabric-manager"));
        cmd.arg("--node-id")
            .arg(id.to_string())
            .arg("--listen")
            .arg(&addr)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&self.extra_args)
            .env("PAN_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        if let Some(via) = join {
            // The key member 1 made when it created the cluster.
            cmd.arg("--join")
                .arg(via)
                .arg("--cluster-key-file")
                .arg(self.cluster_key_file());
        }
        let child = cmd.spawn().context("spawn fabric-manager")?;
        AGENT_KEYS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr.clone(), data_dir.join("agent.key"));
        self.members.insert(
            id,
            Member {
                id,
                addr,
                data_dir,
                child: Some(child),
                log,
            },
        );
        Ok(())
    }

    /// `kill -9` of member `id`.
    pub fn kill(&mut self, id: u64) -> Result<()> {
        let m = self
            .members
            .get_mut(&id)
            .ok_or_else(|| anyhow!("no member {id}"))?;
        if let Some(mut child) = m.child.take() {
            child.kill().context("kill member")?;
            child.wait().context("reap member")?;
        }
        Ok(())
    }

    /// The process id of member `id`, while it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.members.get(&id)?.child.as_ref().map(Child::id)
    }

    /// The address of member `id`.
    pub fn addr(&self, id: u64) -> String {
        self.members[&id].addr.clone()
    }

    /// A gRPC client to member `id` (with the cluster's admin token).
    pub async fn client(&self, id: u64) -> Result<Client> {
        self.load_token();
        match &self.ca_cert {
            None => client(&self.addr(id)).await,
            Some(ca) => tls_client(&self.addr(id), ca).await,
        }
    }

    /// The cluster key file member 1 wrote when it created the cluster.
    pub fn cluster_key_file(&self) -> PathBuf {
        self.dir.path().join("m1").join("cluster.key")
    }

    /// The first fabric-admin token, which member 1 wrote when it created
    /// the cluster; `None` until it has.
    pub fn admin_token(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.path().join("m1").join("admin.token")).ok()?;
        let token = text.trim().to_string();
        (!token.is_empty()).then_some(token)
    }

    /// Registers the admin token for every member's address once it exists.
    fn load_token(&self) {
        if let Some(token) = self.admin_token() {
            for m in self.members.values() {
                register_token(&m.addr, &token);
            }
        }
    }

    /// Cluster status as member `id` sees it.
    pub async fn status(&self, id: u64) -> Result<ClusterStatusReply> {
        let mut c = self.client(id).await?;
        Ok(c.cluster_status(ClusterStatusRequest {})
            .await?
            .into_inner())
    }

    /// Waits until member `id` answers and knows a leader.
    pub async fn wait_ready(&self, id: u64) -> Result<ClusterStatusReply> {
        poll(
            Duration::from_secs(20),
            &format!("member {id} to serve"),
            || async { self.status(id).await.ok().filter(|s| s.leader != 0) },
        )
        .await
        .with_context(|| format!("member {id} log:\n{}", self.members[&id].log()))
    }

    /// Waits until the leader reports `n` voters.
    pub async fn wait_voters(&self, n: usize) -> Result<()> {
        poll(Duration::from_secs(30), &format!("{n} voters"), || async {
            for id in self.members.keys() {
                if let Ok(s) = self.status(*id).await {
                    let voters = s.members.iter().filter(|m| m.role == "voter").count();
                    if s.leader == s.answered_by && voters == n {
                        return Some(());
                    }
                }
            }
            None
        })
        .await
    }

    /// The current leader's id, as the running members agree.
    pub async fn leader(&self) -> Result<u64> {
        poll(Duration::from_secs(10), "a leader", || async {
            for id in self.members.keys() {
                if let Ok(s) = self.status(*id).await
                    && s.leader != 0
                    && s.leader == s.answered_by
                {
                    return Some(s.leader);
                }
            }
            None
        })
        .await
    }

    /// Runs `panctl --manager <member id> ARGS` and returns its output.
    pub fn panctl(&self, id: u64, args: &[&str]) -> Result<Output> {
        match &self.ca_cert {
            None => panctl(&self.addr(id), args),
            Some(ca) => {
                let ca = ca.display().to_string();
                let mut full = vec!["--ca-cert", ca.as_str()];
                full.extend_from_slice(args);
                panctl(&self.addr(id), &full)
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in self.members.values_mut() {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A gRPC client to `addr`.
pub async fn client(addr: &str) -> Result<Client> {
    client_as(addr, token_for(addr).as_deref()).await
}

/// A gRPC client to `addr` that sends `token` (or none).
pub async fn client_as(addr: &str, token: Option<&str>) -> Result<Client> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .with_context(|| format!("connect to {addr}"))?;
    Ok(FabricClient::with_interceptor(channel, Bearer::new(token)?))
}

/// A gRPC client to `addr` over TLS, verifying it against the CA in `ca`.
pub async fn tls_client(addr: &str, ca: &Path) -> Result<Client> {
    let pem = std::fs::read(ca).with_context(|| format!("read {}", ca.display()))?;
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(pem));
    let channel = Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .with_context(|| format!("connect to {addr} over TLS"))?;
    Ok(FabricClient::with_interceptor(
        channel,
        Bearer::new(token_for(addr).as_deref())?,
    ))
}

/// Writes a development CA and a server certificate for 127.0.0.1 and
/// localhost into `dir` with the `pan-certs` binary.
pub fn make_certs(dir: &Path) -> Result<()> {
    let out = Command::new(binary("pan-certs"))
        .arg("--out")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .context("run pan-certs")?;
    if !out.status.success() {
        bail!("pan-certs failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Runs `panctl --manager ADDR ARGS` with the cluster's admin token (in
/// `PAN_TOKEN`), if one is known for `ADDR`.
pub fn panctl(addr: &str, args: &[&str]) -> Result<Output> {
    panctl_as(addr, token_for(addr).as_deref(), args)
}

/// Runs `panctl --manager ADDR ARGS` with `token` in `PAN_TOKEN` (or none).
pub fn panctl_as(addr: &str, token: Option<&str>, args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new(binary("panctl"));
    cmd.arg("--manager")
        .arg(addr)
        .args(args)
        .env_remove("PAN_MANAGER")
        .env_remove("PAN_CA_CERT")
        .env_remove("PAN_TOKEN")
        .stdin(Stdio::null());
    if let Some(token) = token {
        cmd.env("PAN_TOKEN", token);
    }
    cmd.output().context("run panctl")
}

/// The stdout of a panctl call that must succeed; otherwise an error with
/// everything it printed.
pub fn ok(out: &Output) -> Result<String> {
    anyhow::ensure!(
        out.status.success(),
        "panctl failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs panctl and parses its stdout as JSON, failing with its stderr.
pub fn panctl_json(addr: &str, args: &[&str]) -> Result<serde_json::Value> {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    let out = panctl(addr, &full)?;
    if !out.status.success() {
        bail!(
            "panctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "panctl {} printed no JSON: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `n` consecutive free loopback ports after a base: returns the base
/// (hwsim puts blade i on base + i). Searched below the kernel's ephemeral
/// range (32768 and up), where outgoing connections take their ports.
pub fn free_port_block(n: u16) -> u16 {
    const LOW: u32 = 10_000;
    const HIGH: u32 = 32_000;
    let span = u32::from(n) + 1;
    let slots = (HIGH - LOW) / span;
    assert!(slots > 0, "a block of {n} ports does not fit below 32000");
    // Start at a different slot per process so parallel tests rarely collide.
    let start = std::process::id() % slots;
    for k in 0..slots {
        let base = LOW + ((start + k) % slots) * span;
        let base = u16::try_from(base).expect("below 32000");
        let held: Vec<TcpListener> = (1..=n)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no block of {n} free loopback ports found below 32000");
}

/// The simulated BMCs' password (`password`) in a file under `dir`.
pub fn bmc_password_file(dir: &Path) -> Result<String> {
    let path = dir.join("bmc.pw");
    std::fs::write(&path, "password\n")?;
    Ok(path.to_str().context("utf-8 temp path")?.to_string())
}

/// `panctl blade discover` over the whole simulated rack (plain HTTP,
/// user `admin`).
pub fn discover(
    addr: &str,
    rack: &Hwsim,
    password_file: &str,
    json: bool,
    extra: &[&str],
) -> Result<Output> {
    let range = rack.bmc_range();
    let mut args = Vec::new();
    if json {
        args.extend(["-o", "json"]);
    }
    args.extend([
        "blade",
        "discover",
        "--bmc-range",
        &range,
        "--scheme",
        "http",
        "--user",
        "admin",
        "--password-file",
        password_file,
    ]);
    args.extend_from_slice(extra);
    panctl(addr, &args)
}

/// A running `hwsim` process (a simulated rack); killed on drop.
pub struct Hwsim {
    child: Child,
    /// Blade i's BMC is at `http://127.0.0.1:{base + i}`.
    pub base: u16,
    pub blades: u16,
    /// The control API address.
    pub control: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Hwsim {
    /// Starts `blades` blades whose agents talk to `manager` (if given).
    pub fn start(blades: u16, manager: Option<&str>, extra: &[&str]) -> Result<Hwsim> {
        use std::io::BufRead as _;
        let dir = tempfile::tempdir()?;
        let base = free_port_block(blades);
        let control = format!("127.0.0.1:{}", free_port());
        let log = dir.path().join("hwsim.log");
        let mut cmd = Command::new(binary("hwsim"));
        cmd.args(["--blades", &blades.to_string()])
            .args(["--bmc-listen", &format!("127.0.0.1:{base}")])
            .args(["--control-listen", &control])
            .args([
                "--ground-truth",
                &dir.path().join("truth.jsonl").display().to_string(),
            ])
            // Inside the directory this handle removes, even when hwsim
            // itself is killed.
            .args([
                "--state-dir",
                &dir.path().join("state").display().to_string(),
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?);
        if let Some(m) = manager {
            cmd.args(["--manager", m]);
            // Written by the manager before it serves.
            if let Some(key) = agent_key_for(m) {
                anyhow::ensure!(
                    key.exists(),
                    "the manager at {m} has not written its agent key {} yet; start hwsim once it serves",
                    key.display()
                );
                cmd.arg("--agent-key-file").arg(key);
            }
        }
        let mut child = cmd.spawn().context("spawn hwsim")?;
        let stdout = child.stdout.take().context("hwsim stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        match lines.next() {
            Some(Ok(line)) if line.starts_with("hwsim ready") => {}
            other => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "hwsim did not get ready ({other:?}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
        // Keep draining stdout so hwsim never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Hwsim {
            child,
            base,
            blades,
            control,
            log,
            _dir: dir,
        })
    }

    /// `HOST:FIRST-LAST` for `panctl blade discover`.
    pub fn bmc_range(&self) -> String {
        format!("127.0.0.1:{}-{}", self.base + 1, self.base + self.blades)
    }

    /// Blade `i`'s BMC URL (1-based).
    pub fn bmc_url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}", self.base + i)
    }

    /// Runs an `hwsim` client subcommand against this rack.
    pub fn client(&self, args: &[&str]) -> Result<Output> {
        Command::new(binary("hwsim"))
            .args(args)
            .args(["--control", &self.control])
            .stdin(Stdio::null())
            .output()
            .context("run an hwsim client command")
    }

    /// The ground-truth records so far.
    pub fn ground_truth(&self) -> Result<Vec<serde_json::Value>> {
        let out = self.client(&["ground-truth"])?;
        if !out.status.success() {
            bail!(
                "hwsim ground-truth: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).with_context(|| format!("ground truth line {l:?}")))
            .collect()
    }

    /// hwsim's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Hwsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
