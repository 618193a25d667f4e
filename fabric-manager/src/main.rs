//! `fabric-manager`: the PAN fabric manager daemon.
//!
//! One process is one cluster member. With no `--join` it bootstraps a
//! single-member cluster on first start; with `--join` it asks an existing
//! member to add it. Either way it recovers from `--data-dir` on restart.

use anyhow::Context as _;
use clap::Parser;
use fabric_manager::bmc::{Limits, Tls};
use fabric_manager::controller::bmcs::BmcPool;
use fabric_manager::controller::{Controller, ControllerConfig};
use fabric_manager::{Node, NodeConfig, service};
use std::path::PathBuf;
use std::time::Duration;

/// mimalloc: the write path allocates many small objects per request, and
/// glibc's allocator showed up as ~17% of the leader's CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One mimalloc option PAN sets differently from mimalloc's default, unless
/// the operator set it in the environment.
struct AllocatorOption {
    /// The option's number in mimalloc 3's `mimalloc.h` (libmimalloc-sys
    /// names no constants for them); the tests below check each one.
    option: libmimalloc_sys::mi_option_t,
    /// The environment variables mimalloc reads it from (its current name
    /// and any old one).
    env: &'static [&'static str],
    value: std::ffi::c_long,
}

/// Keeps memory mimalloc has freed instead of returning it to the OS a
/// second after a page empties. Under write load the request buffers churn
/// through pages fast enough that purged pages were faulted back in and
/// zeroed by the kernel over and over: ≈ 10% of the leader's CPU, 8% fewer
/// writes/s (BENCHMARKS.md). The manager's memory is mostly its state,
/// which only grows with the fabric, so holding on to freed pages costs
/// little. `MIMALLOC_PURGE_DELAY` (milliseconds) still overrides it.
const KEEP_FREED_MEMORY: AllocatorOption = AllocatorOption {
    option: 15, // mi_option_purge_delay
    env: &["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"],
    value: -1,
};

/// Grows the heap in 4 KiB pages rather than transparent huge pages. The
/// state grows with every server, and on a VM whose host takes back free
/// memory (free page reporting works in 2 MiB blocks) each fresh huge page
/// is faulted in from the host page by page while the kernel zeroes it:
/// that was 26% of a follower's CPU under write load, against 8% for the
/// same growth in 4 KiB pages (followers ≈ 14% and the leader ≈ 4% less CPU
/// per write, BENCHMARKS.md). The state is a few hundred MiB at most, so
/// huge pages buy it little. `MIMALLOC_ALLOW_THP=1` still overrides it.
const SMALL_PAGES: AllocatorOption = AllocatorOption {
    option: 43, // mi_option_allow_thp
    env: &["MIMALLOC_ALLOW_THP"],
    value: 0,
};

/// Sets PAN's mimalloc options, each unless the environment sets it.
fn tune_allocator() {
    if !in_environment(&KEEP_FREED_MEMORY) {
        set_option(&KEEP_FREED_MEMORY);
    }
    if !in_environment(&SMALL_PAGES) {
        // mimalloc turns huge pages off for the process itself only when
        // it starts, before `main`; after that the option only keeps it
        // from advising new mappings to use them. By now its first arena
        // is mapped and advised, so the process-wide flag (inherited by
        // the tools the manager runs, such as qemu-img and nvme) covers it.
        set_option(&SMALL_PAGES);
        disable_huge_pages();
    }
}

/// Turns transparent huge pages off for this process and its children.
/// A kernel before 3.15 or a sandbox may refuse; the heap then keeps
/// huge pages, which costs CPU, not correctness.
#[cfg(target_os = "linux")]
fn disable_huge_pages() {
    let off: libc::c_ulong = 1;
    // SAFETY: PR_SET_THP_DISABLE reads its integer arguments and touches no
    // memory; arguments 3 to 5 must be 0.
    #[allow(unsafe_code)]
    let refused = unsafe {
        libc::prctl(
            libc::PR_SET_THP_DISABLE,
            off,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    } != 0;
    if refused {
        eprintln!(
            "fabric-manager: warning: cannot turn transparent huge pages off ({}); the heap \
             may grow in huge pages, which is slower on some VMs",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_huge_pages() {}

/// Whether the operator set `setting` in the environment (mimalloc reads
/// its options from there itself).
fn in_environment(setting: &AllocatorOption) -> bool {
    std::env::vars_os().any(|(name, _)| {
        name.to_str()
            .is_some_and(|n| setting.env.iter().any(|e| n.eq_ignore_ascii_case(e)))
    })
}

fn set_option(setting: &AllocatorOption) {
    // SAFETY: `mi_option_set` stores one option value and has no
    // preconditions; `main` calls this before starting any other thread, so
    // no allocating thread reads the value while it changes. (The unit test
    // calls it with other tests running: a racy read there sees the old or
    // the new value of a plain integer.)
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(setting.option, setting.value);
    }
}

/// PAN fabric manager: one member of the replicated control plane.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// This member's id (1 or higher; fixed for the life of its data directory).
    #[arg(long, default_value_t = 1)]
    node_id: u64,
    /// Address to listen on for the API and member traffic.
    #[arg(long, default_value = "127.0.0.1:7001")]
    listen: String,
    /// Address other members and clients use to reach this one (default: --listen).
    #[arg(long)]
    advertise: Option<String>,
    /// Directory of the durable store (log, vote, snapshots).
    #[arg(long, default_value = "./data/m1")]
    data_dir: PathBuf,
    /// A copy of the cluster key (the file cluster.key in a member's data
    /// directory); needed the first time a member joins, kept in its own
    /// data directory from then on.
    #[arg(long, value_name = "FILE")]
    cluster_key_file: Option<PathBuf>,
    /// Join the cluster that this member (HOST:PORT) belongs to.
    #[arg(long)]
    join: Option<String>,
    /// Raft heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 100)]
    heartbeat_ms: u64,
    /// Minimum raft election timeout in milliseconds (the maximum is twice this).
    #[arg(long, default_value_t = 400)]
    election_timeout_ms: u64,
    /// Build a snapshot after this many log entries.
    #[arg(long, default_value_t = 10_000)]
    snapshot_logs: u64,
    /// Log entries kept behind a snapshot for lagging followers.
    #[arg(long, default_value_t = 1_000)]
    keep_logs: u64,
    /// How often the leader reads every blade's BMC (milliseconds).
    #[arg(long, default_value_t = 5_000)]
    poll_ms: u64,
    /// Seconds from power-on until a blade's agent must report its identity.
    #[arg(long, default_value_t = 120)]
    boot_timeout_s: u64,
    /// Milliseconds a running blade's agent may be silent before the blade
    /// is judged failed (cross-checked with its BMC) and failed over; a new
    /// leader waits this long before judging any blade.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    detect_window_ms: u64,
    /// Seconds a fence (power Off read back, fabric ports detached, storage
    /// access revoked) may take; past that the failover stops with an alert
    /// until an operator runs `panctl blade confirm-fenced`.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    fence_timeout_s: u64,
    /// BMC requests in flight at once, over all blades.
    #[arg(long, default_value_t = 64)]
    bmc_parallel: usize,
    /// Accept BMC certificates that do not verify (self-signed BMCs on a
    /// trusted management network).
    #[arg(long)]
    bmc_insecure_tls: bool,
    /// Serve gRPC over TLS with this certificate chain (PEM); needs
    /// --tls-key and --tls-ca. Members then reach each other over TLS too.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA (PEM) other members' certificates are verified against.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Directory of the storage target's volumes and golden images
    /// (default: `san` in the data directory). Every member must see the
    /// same directory: the leader does the storage work.
    #[arg(long, value_name = "DIR")]
    storage_root: Option<PathBuf>,
    /// Root of the nvmet configfs tree volumes are exported in. Production:
    /// /sys/kernel/config/nvmet (default: `nvmet` under --storage-root, for
    /// simulation).
    #[arg(long, value_name = "DIR")]
    nvmet_root: Option<PathBuf>,
    /// NVMe/TCP address hosts reach the storage target at (the nvmet port).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:4420")]
    nvme_address: std::net::SocketAddr,
    /// The fabric driver: `sim` (in memory) or `linux` (bridges and veth
    /// pairs in network namespaces; needs root).
    #[arg(long, value_name = "KIND", default_value = "sim", value_parser = ["sim", "linux"])]
    fabric: String,
    /// Network namespace of the Linux fabric (blade namespaces are
    /// `<namespace>-blade-<blade name>`).
    #[arg(long, value_name = "NAME", default_value = "pan-fabric")]
    fabric_namespace: String,
}

/// Name of the first fabric-admin principal.
const BOOTSTRAP_ADMIN: &str = "admin";
/// File (in the data directory) the first fabric-admin token is written to.
const ADMIN_TOKEN_FILE: &str = "admin.token";

/// On the first start of a cluster (no principal exists yet), the leader
/// creates the fabric-admin principal `admin` and writes its token, once,
/// to `admin.token` (mode 0600) in its data directory, and says where. The
/// file is written before the principal is recorded, so an accepted token
/// is never lost; a failed or refused proposal removes the file again.
async fn bootstrap_admin(node: Node, data_dir: PathBuf) {
    let mut metrics = node.raft().metrics();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if metrics.borrow_and_update().state == openraft::ServerState::Leader {
            break;
        }
        if tokio::time::timeout_at(deadline, metrics.changed())
            .await
            .is_err()
        {
            return;
        }
    }
    if let Err(e) = node.linearize().await {
        tracing::warn!(error = %e, "cannot check for principals; no bootstrap token written");
        return;
    }
    if node.state_machine().read(|s| s.has_principals()) {
        return;
    }
    let now = fabric_manager::service::principals::now_ms();
    let (principal, token) = match partitions::Principal::new(
        BOOTSTRAP_ADMIN,
        vec![partitions::Role::FabricAdmin],
        &fabric_manager::service::principals::fresh_seed(),
        now,
        None,
    ) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the first fabric-admin principal");
            return;
        }
    };
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Err(e) = fabric_manager::secret_file::write(&path, token.expose_secret()) {
        tracing::error!(path = %path.display(), error = %e, "cannot write the first fabric-admin token");
        return;
    }
    match node
        .propose(
            "bootstrap",
            fabric_manager::state::Command::BootstrapPrincipal { principal },
        )
        .await
    {
        Ok(_) => eprintln!(
            "fabric-manager: the first fabric-admin token (principal '{BOOTSTRAP_ADMIN}') is in {} \
             (mode 0600; shown nowhere else): use it with `panctl --token-file {}`, create \
             principals for people, then delete or keep the file safe",
            path.display(),
            path.display()
        ),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            tracing::info!(error = %e, "no bootstrap principal recorded");
        }
    }
}

/// The storage target from the flags.
fn storage_from(args: &Args) -> anyhow::Result<fabric_manager::controller::storage::Storage> {
    use san::nvmet::{ConfigfsTarget, PortConfig};
    let root = args
        .storage_root
        .clone()
        .unwrap_or_else(|| args.data_dir.join("san"));
    let nvmet_root = args
        .nvmet_root
        .clone()
        .unwrap_or_else(|| root.join("nvmet"));
    let volumes = san::volume::VolumeStore::new(&root);
    volumes
        .init()
        .with_context(|| format!("cannot prepare the storage root {}", root.display()))?;
    std::fs::create_dir_all(&nvmet_root)
        .with_context(|| format!("cannot create the nvmet root {}", nvmet_root.display()))?;
    let port = PortConfig {
        id: 1,
        traddr: args.nvme_address.ip(),
        trsvcid: args.nvme_address.port(),
    };
    let target = ConfigfsTarget::new(&nvmet_root, port).with_context(|| {
        format!(
            "--nvme-address {} is not a usable NVMe/TCP port",
            args.nvme_address
        )
    })?;
    Ok(fabric_manager::controller::storage::Storage {
        volumes,
        target: std::sync::Arc::new(target),
        address: args.nvme_address,
    })
}

/// The fabric driver from the flags.
fn fabric_from(args: &Args) -> anyhow::Result<std::sync::Arc<dyn fabric_manager::fabric::Fabric>> {
    use fabric_manager::fabric::{LinuxFabric, LinuxFabricConfig, SimFabric};
    Ok(match args.fabric.as_str() {
        "linux" => std::sync::Arc::new(
            LinuxFabric::new(LinuxFabricConfig::new(args.fabric_namespace.clone()))
                .with_context(|| format!("--fabric-namespace {:?}", args.fabric_namespace))?,
        ),
        _ => std::sync::Arc::new(SimFabric::new()),
    })
}

/// The server and member-client TLS configuration from the flags, checked.
fn tls_configs(
    args: &Args,
) -> anyhow::Result<
    Option<(
        fabric_manager::service::ServerTls,
        tonic::transport::ClientTlsConfig,
    )>,
> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
    let (cert, key) = match (&args.tls_cert, &args.tls_key, &args.tls_ca) {
        (None, None, None) => return Ok(None),
        (None, _, Some(_)) => anyhow::bail!(
            "--tls-ca is given without --tls-cert: pass --tls-cert and --tls-key to serve TLS, or drop --tls-ca"
        ),
        (Some(_), _, None) => anyhow::bail!(
            "--tls-cert needs --tls-ca: members verify each other's certificates against that CA (a certificate's own chain is not trusted); pass the CA that signed the members' certificates"
        ),
        (Some(cert), Some(key), Some(_)) => (cert, key),
        _ => anyhow::bail!("--tls-cert and --tls-key go together; pass both"),
    };
    let read = |flag: &str, path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))
    };
    let ca_path = args.tls_ca.as_ref().expect("checked above");
    let server = fabric_manager::service::ServerTls::from_pem(
        &read("--tls-cert", cert)?,
        &read("--tls-key", key)?,
    )
    .with_context(|| {
        format!(
            "--tls-cert {} with --tls-key {} is not a usable certificate and key (PEM)",
            cert.display(),
            key.display()
        )
    })?;
    let client =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("--tls-ca", ca_path)?));
    Endpoint::from_static("https://127.0.0.1:1")
        .tls_config(client.clone())
        .with_context(|| {
            format!(
                "--tls-ca {} is not a usable CA certificate (PEM)",
                ca_path.display()
            )
        })?;
    Ok(Some((server, client)))
}

fn main() {
    // Before any other thread exists (mimalloc's options are plain values
    // its allocating threads read).
    tune_allocator();
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fabric-manager: error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(serve());
}

/// The manager's multi-threaded runtime.
///
/// When built with `tokio_unstable` (.cargo/config.toml), its LIFO slot is
/// off; without the flag the slot stays on. The slot runs a task woken by
/// the running one next, on the same thread: under write load each gRPC
/// reply a per-stream task queued woke the HTTP/2 connection task, which
/// then wrote one or two replies to the socket (≈ 13,700 writev/s on the
/// leader at ≈ 25k writes/s). Without it the connection task takes its turn
/// after the replies the committed batch released and writes them together
/// (≈ 1,700 writev/s): 4–11 %, about 7 %, less of the leader's CPU per
/// write. The price: every woken task, raft's channel hand-offs included,
/// now queues behind the tasks already runnable; latency was measured
/// no worse (BENCHMARKS.md, session 6).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder.build()
}

async fn serve() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PAN_LOG")
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(err) = run(Args::parse()).await {
        let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
        eprintln!("fabric-manager: error: {}", chain.join(": "));
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let tls = tls_configs(&args)?;
    let fabric = fabric_from(&args)?;
    let advertise = args
        .advertise
        .clone()
        .unwrap_or_else(|| args.listen.clone());
    let mut config = NodeConfig::new(args.node_id, advertise, args.data_dir.clone());
    config.heartbeat = Duration::from_millis(args.heartbeat_ms);
    config.election_timeout_min = Duration::from_millis(args.election_timeout_ms);
    config.election_timeout_max = Duration::from_millis(args.election_timeout_ms * 2);
    config.snapshot_after_logs = args.snapshot_logs;
    config.logs_kept_after_snapshot = args.keep_logs;
    config.cluster_key_file = args.cluster_key_file.clone();
    config.joining = args.join.is_some();
    let server_tls = tls.map(|(server, client)| {
        config.peer_tls = Some(client);
        server
    });

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another fabric-manager running there? pick another --listen",
                args.listen
            )
        })?;
    let node = Node::start(config).await.with_context(|| {
        format!(
            "cannot start node {} from {}",
            args.node_id,
            args.data_dir.display()
        )
    })?;

    // After the node: it creates the data directory with its mode.
    let storage = storage_from(&args)?;
    tokio::spawn(bootstrap_admin(node.clone(), args.data_dir.clone()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Blade agents' streams; the leader's controller pushes through them.
    let agents = fabric_manager::agent::AgentRegistry::new();
    let tls = if args.bmc_insecure_tls {
        Tls::Insecure
    } else {
        Tls::Verify
    };
    let bmcs = BmcPool::new(Limits::new(args.bmc_parallel), tls);
    let controller = Controller::new(
        node.clone(),
        agents.clone(),
        bmcs.clone(),
        ControllerConfig {
            poll_interval: Duration::from_millis(args.poll_ms),
            boot_timeout: Duration::from_secs(args.boot_timeout_s),
            detect_window: Duration::from_millis(args.detect_window_ms),
            fence_timeout: Duration::from_secs(args.fence_timeout_s),
            ..ControllerConfig::default()
        },
    )
    .with_storage(storage)
    .with_fabric(fabric);
    let (ctl_stop_tx, ctl_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller_task = tokio::spawn(controller.run(async {
        let _ = ctl_stop_rx.await;
    }));
    let server = tokio::spawn(service::serve(
        node.clone(),
        agents,
        bmcs,
        listener,
        server_tls,
        async {
            let _ = stop_rx.await;
        },
    ));

    // A join the cluster refuses for good ends this process, with the reason.
    let (refused_tx, refused_rx) = tokio::sync::oneshot::channel::<fabric_manager::Error>();
    match &args.join {
        None => node
            .bootstrap()
            .await
            .context("cannot bootstrap the cluster")?,
        Some(via) => {
            let node = node.clone();
            let via = via.clone();
            tokio::spawn(async move {
                if let Err(e) = node.join(via).await {
                    let _ = refused_tx.send(e);
                }
            });
        }
    }
    tracing::info!(node = args.node_id, listen = %args.listen, tls = args.tls_cert.is_some(), data_dir = %args.data_dir.display(), "fabric-manager serving");

    let refused = tokio::select! {
        () = shutdown_signal() => None,
        Ok(e) = refused_rx => Some(e),
    };
    tracing::info!("shutting down");
    let _ = ctl_stop_tx.send(());
    let _ = controller_task.await;
    let _ = stop_tx.send(());
    node.shutdown().await;
    if let Err(e) = server.await {
        anyhow::bail!("the gRPC server task failed: {e}");
    }
    match refused {
        Some(e) => Err(anyhow::Error::new(e).context("cannot join the cluster")),
        None => Ok(()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[allow(clippy::assertions_on_constants)]
    fn the_workspace_builds_with_tokio_unstable() {
        // Without it the runtime keeps its LIFO slot and the leader spends
        // about 7 % more CPU per write (see `runtime`); .cargo/config.toml sets
        // it, and a RUSTFLAGS variable would silently replace it. A failing
        // test says so; a const assertion would stop the whole build.
        assert!(
            cfg!(tokio_unstable),
            "built without --cfg tokio_unstable: keep .cargo/config.toml's \
             rustflags, or add the flag to RUSTFLAGS"
        );
        let runtime = super::runtime().expect("the runtime starts");
        assert_eq!(
            runtime.block_on(async { tokio::spawn(async { 7 }).await.expect("runs") }),
            7
        );
    }

    /// Reads one mimalloc option.
    fn option(option: libmimalloc_sys::mi_option_t) -> std::ffi::c_long {
        #[allow(unsafe_code)]
        // SAFETY: reading an option has no preconditions.
        unsafe {
            libmimalloc_sys::mi_option_get(option)
        }
    }

    #[test]
    fn the_allocator_options_are_mimallocs_and_get_set() {
        use super::{AllocatorOption, KEEP_FREED_MEMORY, SMALL_PAGES};
        let untouched = |o: &AllocatorOption| !super::in_environment(o);
        // Neighbours, unless set in the environment too.
        const NUMA_NODES: AllocatorOption = AllocatorOption {
            option: 16,
            env: &["MIMALLOC_USE_NUMA_NODES"],
            value: 0,
        };
        const CROSS_THREAD_RECLAIM: AllocatorOption = AllocatorOption {
            option: 42,
            env: &["MIMALLOC_PAGE_CROSS_THREAD_MAX_RECLAIM"],
            value: 32,
        };
        // The options' defaults, and their neighbours' in mimalloc 3, show
        // the numbers name the intended options: the purge delay is 1,000
        // ms next to NUMA nodes (0); THP is allowed (1) next to the cross-
        // thread reclaim limit (32).
        if untouched(&KEEP_FREED_MEMORY) {
            assert_eq!(
                option(KEEP_FREED_MEMORY.option),
                1000,
                "not the purge delay"
            );
        }
        if untouched(&SMALL_PAGES) {
            assert_eq!(option(SMALL_PAGES.option), 1, "not allow_thp");
        }
        for neighbour in [NUMA_NODES, CROSS_THREAD_RECLAIM] {
            if untouched(&neighbour) {
                assert_eq!(option(neighbour.option), neighbour.value);
            }
        }
        assert_eq!(KEEP_FREED_MEMORY.option + 1, NUMA_NODES.option);
        assert_eq!(SMALL_PAGES.option - 1, CROSS_THREAD_RECLAIM.option);
        super::tune_allocator();
        for o in [KEEP_FREED_MEMORY, SMALL_PAGES] {
            if untouched(&o) {
                assert_eq!(option(o.option), o.value);
            }
        }
        #[cfg(target_os = "linux")]
        if untouched(&SMALL_PAGES) {
            let none: libc::c_ulong = 0;
            // SAFETY: PR_GET_THP_DISABLE reads one flag; its arguments must be 0.
            #[allow(unsafe_code)]
            let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, none, none, none, none) };
            // -1: a sandbox that refuses the call (and refused the set).
            assert!(
                disabled == 1 || disabled == -1,
                "huge pages still allowed ({disabled})"
            );
        }
    }
}
