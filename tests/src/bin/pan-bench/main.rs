//! `pan-bench`: PAN's benchmarks, run against real processes on loopback.
//!
//! `pan-bench writes` starts a 3-member durable cluster (redb, fsync on every
//! log append) and measures committed writes per second and latency
//! percentiles at several client concurrencies. Each write is a real
//! `CreateServer` (identity allocation included); a write counts only when
//! the leader acknowledged it committed, i.e. durable on a quorum. Under
//! each level it prints the stalls of the disk holding the members' logs
//! (from `/proc/diskstats`, see `disk.rs`): all members share that disk, so
//! while it completes nothing, no write commits.
//!
//! `pan-bench failover` runs one manager and a simulated rack with servers
//! running and spares idle, then fails blades one after another (`hwsim
//! fault kill`, or `cut-link`), waits each time until the server runs on a
//! spare, repairs the dead blade (it becomes a spare again), and reports
//! the percentiles of the phases the manager recorded (`failover history`)
//! and of the wall-clock time from the fault to the server `running`.
//! `--profile realistic` gives every BMC a real one's latencies (power-off
//! 6 s, power-on 46 s, 409 for 10 s after a power-off).
//!
//! Build with `--release`; figures go to BENCHMARKS.md.

mod disk;
mod frames;
mod lean;

use anyhow::{Context as _, Result};

/// The load generator shares the cores with the cluster it measures: the
/// same allocator as the manager keeps its own cost down (glibc malloc was
/// ~16% of its CPU at 1,000 clients).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use pan_api::v1::fabric_client::FabricClient;
use pan_api::v1::{CreatePartitionRequest, CreateServerRequest};
use pan_tests::{Bearer, Cluster};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

#[derive(Parser)]
#[command(about = "PAN benchmarks")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Committed writes/s and latency on a 3-member cluster.
    Writes {
        /// Client concurrencies to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,64,1000")]
        clients: Vec<usize>,
        /// Seconds measured per concurrency (after a 2 s warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// gRPC connections the clients share.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Cluster members.
        #[arg(long, default_value_t = 3)]
        members: u64,
        /// The load generator's gRPC client: `frames` (writes its own
        /// HTTP/2 frames: the least CPU taken from the cluster it shares
        /// the cores with), `lean` (gRPC straight on the h2 crate) or
        /// `tonic` (tonic's `Channel`, as `panctl` uses).
        #[arg(long, value_enum, default_value_t = ClientKind::Frames)]
        client: ClientKind,
        /// Also print latency percentiles per 100 ms (to find stalls), and
        /// the wall clock at which each level's measurement starts (interval
        /// labels count from it), to line them up with outside samples.
        #[arg(long)]
        timeline: bool,
    },
    /// Time to enrol a simulated rack with `blade discover`, then the
    /// manager's CPU and memory while it polls every BMC.
    Discover {
        /// Blades in the simulated rack.
        #[arg(long, default_value_t = 1000)]
        blades: u16,
        /// The manager's BMC poll interval, milliseconds.
        #[arg(long, default_value_t = 5000)]
        poll_ms: u64,
        /// Seconds of polling to measure.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Successive blade failures on a simulated rack: per-phase failover
    /// durations and wall-clock from the fault to the server running again.
    Failover(FailoverArgs),
}

#[derive(clap::Args, Clone, Debug)]
struct FailoverArgs {
    /// Successive blade failures.
    #[arg(long, default_value_t = 100)]
    failures: usize,
    /// Servers running (one per blade, blade-001 …).
    #[arg(long, default_value_t = 8)]
    servers: u16,
    /// Idle blades beyond the servers' (spares).
    #[arg(long, default_value_t = 2)]
    spares: u16,
    /// BMC latency profile: `zero` (power changes at once, boot in 0 ms) or
    /// `realistic` (power-off 6 s, power-on 46 s, Reset refused with 409
    /// for 10 s after a power-off).
    #[arg(long, value_enum, default_value_t = Profile::Zero)]
    profile: Profile,
    /// How a blade fails: `kill` (power lost) or `cut-link` (the blade
    /// stays powered, its agent's link is cut: the fence must power it off).
    #[arg(long, value_enum, default_value_t = FaultKind::Kill)]
    fault: FaultKind,
    /// The manager's detection window (--detect-window-ms).
    #[arg(long, default_value_t = 1000)]
    detect_window_ms: u64,
    /// The manager's fence timeout (--fence-timeout-s).
    #[arg(long, default_value_t = 10)]
    fence_timeout_s: u64,
    /// The manager's BMC poll interval (--poll-ms).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Longest wait for one failover (seconds); the run fails past it.
    #[arg(long, default_value_t = 180)]
    timeout_s: u64,
    /// Print every failover's figures.
    #[arg(long)]
    verbose: bool,
    /// Copy the manager's and hwsim's logs here at the end (the temp dirs
    /// they lived in are removed).
    #[arg(long)]
    log_dir: Option<std::path::PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ClientKind {
    Frames,
    Lean,
    Tonic,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    Zero,
    Realistic,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    Kill,
    CutLink,
}

fn main() -> Result<()> {
    let args = Args::parse();
    // The write load generator runs on one thread: it needs less than a
    // core, and every thread it adds competes with the members' for the
    // two cores it shares with them (and wakes cross threads cost more).
    let mut runtime = match args.bench {
        Bench::Writes { .. } => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    runtime.enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    match args.bench {
        Bench::Writes {
            clients,
            seconds,
            connections,
            members,
            client,
            timeline,
        } => writes(&clients, seconds, connections, members, client, timeline).await,
        Bench::Discover {
            blades,
            poll_ms,
            seconds,
        } => discover(blades, poll_ms, seconds).await,
        Bench::Failover(args) => {
            // On Ctrl-C the run is dropped, and with it the processes and
            // temp dirs it made.
            tokio::select! {
                r = failover(args) => r,
                r = tokio::signal::ctrl_c() => {
                    r?;
                    anyhow::bail!("interrupted");
                }
            }
        }
    }
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')').context("malformed /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// Resident memory of a process in MiB, from /proc.
fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb / 1024.0)
}

async fn discover(blades: u16, poll_ms: u64, seconds: u64) -> Result<()> {
    use pan_api::v1::DiscoverBladesRequest;
    use tokio_stream::StreamExt as _;
    let poll = poll_ms.to_string();
    let cluster = Cluster::start(1, &["--poll-ms", &poll]).await?;
    let addr = cluster.addr(1);
    let pid = cluster.pid(1).context("manager pid")?;
    let rack = pan_tests::Hwsim::start(blades, Some(&addr), &[])?;
    println!("rack: {blades} simulated BMCs (one hwsim process), manager polls every {poll_ms} ms");
    let mut client = cluster.client(1).await?;
    let started = Instant::now();
    let mut stream = client
        .discover_blades(DiscoverBladesRequest {
            bmc_range: rack.bmc_range(),
            bmc_user: "admin".into(),
            bmc_password: "password".into(),
            pool: String::new(),
            scheme: "http".into(),
            insecure_tls: false,
        })
        .await?
        .into_inner();
    let (mut enrolled, mut failed) = (0u32, 0u32);
    while let Some(p) = stream.next().await {
        match p?.outcome.as_str() {
            "enrolled" => enrolled += 1,
            _ => failed += 1,
        }
    }
    let took = started.elapsed();
    println!(
        "discover: {enrolled} enrolled, {failed} failed in {:.2} s ({:.0} blades/s)",
        took.as_secs_f64(),
        f64::from(enrolled) / took.as_secs_f64()
    );
    // Let the first full poll pass record every blade, then measure.
    tokio::time::sleep(Duration::from_millis(2 * poll_ms)).await;
    let (cpu0, t0) = (cpu_seconds(pid)?, Instant::now());
    let mut peak_rss = 0.0f64;
    while t0.elapsed() < Duration::from_secs(seconds) {
        peak_rss = peak_rss.max(rss_mib(pid)?);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu = (cpu_seconds(pid)? - cpu0) / t0.elapsed().as_secs_f64();
    let status = cluster.status(1).await?;
    let listed = client
        .list_blades(pan_api::v1::ListBladesRequest::default())
        .await?
        .into_inner()
        .blades;
    let observed = listed.iter().filter(|b| b.power != "unknown").count();
    println!(
        "blades with an observed power state: {observed} of {}",
        listed.len()
    );
    println!(
        "polling {blades} BMCs every {poll_ms} ms for {seconds} s: manager CPU {:.1}% of one core, RSS {:.1} MiB (peak), log index {}",
        cpu * 100.0,
        peak_rss,
        status.last_log_index
    );
    Ok(())
}

/// One connection of the load generator.
#[derive(Clone)]
enum Caller {
    Frames(frames::FramesClient),
    Lean(lean::LeanClient),
    Tonic(FabricClient<InterceptedService<Channel, Bearer>>),
}

impl Caller {
    /// Creates one server; the error is the status the member answered.
    async fn create_server(&mut self, request: CreateServerRequest) -> Result<(), String> {
        const METHOD: &str = "/pan.v1.Fabric/CreateServer";
        let server: pan_api::v1::Server = match self {
            Caller::Frames(c) => c.unary(METHOD, &request).await,
            Caller::Lean(c) => c.unary(METHOD, &request).await,
            Caller::Tonic(c) => {
                return c
                    .create_server(request)
                    .await
                    .map(drop)
                    .map_err(|s| format!("{}: {}", s.code(), s.message()));
            }
        }
        .map_err(|e| e.0)?;
        described(&request, &server)
    }
}

/// Whether a CreateServer reply describes the server asked for.
fn described(request: &CreateServerRequest, reply: &pan_api::v1::Server) -> Result<(), String> {
    if reply.name != request.name {
        return Err(format!(
            "asked to create {}, the reply describes {}",
            request.name, reply.name
        ));
    }
    Ok(())
}

async fn writes(
    levels: &[usize],
    seconds: u64,
    connections: usize,
    members: u64,
    client: ClientKind,
    timeline: bool,
) -> Result<()> {
    let cluster = Cluster::start(members, &[]).await?;
    let leader = cluster.leader().await?;
    let addr = cluster.addr(leader);
    println!(
        "cluster: {members} members on loopback, leader node {leader} at {addr}; durable redb store"
    );
    let disk = cluster
        .members
        .values()
        .next()
        .and_then(|m| disk::DiskWatch::start(&m.data_dir));
    match &disk {
        Some(d) => println!(
            "disk: {} holds the members' logs; stalls of 20 ms or more (writes in flight, none completing) are shown under each level",
            d.device
        ),
        None => println!("disk: not found in /proc/diskstats; stalls are not watched"),
    }
    let token = cluster
        .admin_token()
        .context("member 1 wrote no admin token")?;
    let bearer = Bearer::new(Some(&token))?;
    let mut channels = Vec::new();
    for _ in 0..connections.max(1) {
        channels.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .initial_connection_window_size(Some(4 * 1024 * 1024))
                .initial_stream_window_size(Some(1024 * 1024))
                .connect()
                .await
                .context("connect to the leader")?,
        );
    }
    FabricClient::with_interceptor(channels[0].clone(), bearer.clone())
        .create_partition(CreatePartitionRequest {
            name: "bench".to_string(),
            description: "pan-bench writes".to_string(),
            ..Default::default()
        })
        .await?;
    let mut callers = Vec::new();
    for channel in &channels {
        callers.push(match client {
            ClientKind::Frames => {
                Caller::Frames(frames::FramesClient::connect(&addr, &token).await?)
            }
            ClientKind::Lean => Caller::Lean(lean::LeanClient::connect(&addr, &token).await?),
            ClientKind::Tonic => Caller::Tonic(FabricClient::with_interceptor(
                channel.clone(),
                bearer.clone(),
            )),
        });
    }
    println!("load generator: {connections} connections, {client:?} gRPC client");

    println!(
        "{:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}   CPU µs per write",
        "clients", "writes/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
    );
    // Who spends the shared CPU: each member (the leader first) and this
    // load generator.
    let mut pids: Vec<(String, u32)> = std::iter::once(leader)
        .chain(cluster.members.keys().copied().filter(|&id| id != leader))
        .filter_map(|id| {
            let role = if id == leader { "leader" } else { "follower" };
            Some((format!("{role} {id}"), cluster.pid(id)?))
        })
        .collect();
    pids.push(("load generator".to_string(), std::process::id()));
    for (level_no, &clients) in levels.iter().enumerate() {
        let r = run_level(&callers, level_no, clients, seconds, &pids, timeline).await?;
        println!(
            "{:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}   {}",
            clients, r.rate, r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms, r.errors, r.cpu
        );
        if let Some(disk) = &disk {
            let s = disk.within(r.measured.start, r.measured.end);
            println!(
                "{:>8} disk stalls during the measurement: {} (longest {} ms, {} ms in all)",
                "",
                s.count,
                s.longest.as_millis(),
                s.total.as_millis()
            );
        }
    }
    Ok(())
}

struct LevelResult {
    /// When the measured writes were sent.
    measured: std::ops::Range<Instant>,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    errors: u64,
    /// CPU time per committed write of each process, e.g. "leader 1 35.2".
    cpu: String,
}

async fn run_level(
    callers: &[Caller],
    level_no: usize,
    clients: usize,
    seconds: u64,
    pids: &[(String, u32)],
    timeline: bool,
) -> Result<LevelResult> {
    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(seconds);
    let start = Instant::now();
    if timeline {
        // Wall clock of the level's start, to line its stalls up with
        // samples taken outside (perf, /proc).
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        eprintln!(
            "{clients} clients: measuring from unix {} ms",
            unix_ms + warmup.as_millis()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let mut client = callers[c % callers.len()].clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            // Each measured write as (completion ms since the start, latency
            // µs). One histogram per client grew its buckets when latencies
            // first crossed a power of two — 1,000 of them at once when the
            // warm-up ended, stalling this process (and the figures).
            let mut samples: Vec<(u32, u32)> = Vec::with_capacity(1024);
            let mut errors = 0u64;
            let mut first_error = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let res = client
                    .create_server(CreateServerRequest {
                        name: format!("l{level_no}-c{c}-s{i}"),
                        partition: "bench".to_string(),
                        nics: 1,
                        ..Default::default()
                    })
                    .await;
                i += 1;
                let done = Instant::now();
                if res.is_err() {
                    // A closed connection fails calls without waiting;
                    // let the level's timer (on this one thread) run.
                    tokio::task::yield_now().await;
                }
                if sent >= start + warmup && done <= start + warmup + measure {
                    match res {
                        Ok(()) => {
                            let at = u32::try_from((done - start).as_millis()).unwrap_or(u32::MAX);
                            let us = u32::try_from(done.duration_since(sent).as_micros())
                                .unwrap_or(u32::MAX);
                            samples.push((at, us));
                        }
                        Err(error) => {
                            errors += 1;
                            first_error.get_or_insert(error);
                        }
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let cpu = |pids: &[(String, u32)]| -> Result<Vec<f64>> {
        pids.iter().map(|(_, pid)| cpu_seconds(*pid)).collect()
    };
    // The CPU window is the write window: deadlines from the same start.
    let start_at = tokio::time::Instant::from_std(start);
    tokio::time::sleep_until(start_at + warmup).await;
    let cpu_before = cpu(pids)?;
    tokio::time::sleep_until(start_at + warmup + measure).await;
    let cpu_after = cpu(pids)?;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    let mut errors = 0u64;
    let mut first_error = None;
    for t in tasks {
        let (s, e, first) = t.await?;
        samples.extend(s);
        errors += e;
        first_error = first_error.or(first);
    }
    if let Some(error) = first_error {
        eprintln!("{clients} clients: {errors} writes failed; the first: {error}");
    }
    anyhow::ensure!(
        !samples.is_empty(),
        "no write succeeded at {clients} clients"
    );
    let ok = samples.len() as u64;
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).context("histogram bounds")?;
    for &(_, us) in &samples {
        hist.record(u64::from(us)).context("record a latency")?;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    if timeline {
        print_timeline(&mut samples, warmup);
    }
    let cpu = pids
        .iter()
        .zip(cpu_before.iter().zip(&cpu_after))
        .map(|((name, _), (b, a))| format!("{name} {:.1}", (a - b) * 1e6 / ok as f64))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(LevelResult {
        measured: start + warmup..start + warmup + measure,
        cpu,
        rate: ok as f64 / measure.as_secs_f64(),
        p50_ms: ms(hist.value_at_quantile(0.50)),
        p99_ms: ms(hist.value_at_quantile(0.99)),
        p999_ms: ms(hist.value_at_quantile(0.999)),
        max_ms: ms(hist.max()),
        errors,
    })
}

/// Prints latency percentiles per 100 ms of completions (stalls show up as
/// intervals with few completions and a high p99).
fn print_timeline(samples: &mut [(u32, u32)], warmup: Duration) {
    samples.sort_unstable();
    let warmup_ms = u32::try_from(warmup.as_millis()).unwrap_or(0);
    for interval in samples.chunk_by_mut(|a, b| a.0 / 100 == b.0 / 100) {
        let from = interval[0].0 / 100 * 100 - warmup_ms;
        let mut us: Vec<u32> = interval.iter().map(|&(_, us)| us).collect();
        us.sort_unstable();
        let at = |q: usize| f64::from(us[(us.len() - 1) * q / 100]) / 1000.0;
        eprintln!(
            "  {from:>6} ms  {:>5} writes  p50 {:>6.1}  p99 {:>6.1}  max {:>6.1} ms",
            us.len(),
            at(50),
            at(99),
            at(100)
        );
    }
}

/// Realistic BMC latencies (from the issue): power-off 6 s, power-on 46 s,
/// Reset refused with 409 for 10 s after a power-off.
const REAL_POWER_OFF_MS: u64 = 6_000;
const REAL_POWER_ON_MS: u64 = 46_000;
const REAL_CONFLICT_S: u64 = 10;

/// One failover's figures: the manager's phases and the bench's wall clock.
#[derive(Clone, Copy, Debug, Default)]
struct FailoverSample {
    detect_ms: f64,
    fence_ms: f64,
    select_ms: f64,
    boot_ms: f64,
    total_ms: f64,
    /// From just before the fault command to the server seen `running` on
    /// the spare (polled every 10 ms).
    wall_ms: f64,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn hwsim_ok(rack: &pan_tests::Hwsim, args: &[&str]) -> Result<()> {
    let out = rack.client(args)?;
    anyhow::ensure!(
        out.status.success(),
        "hwsim {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn failover(a: FailoverArgs) -> Result<()> {
    use pan_api::v1::{
        GetServerRequest, ListFailoversRequest, RepairBladeRequest, StartServerRequest,
    };
    anyhow::ensure!(a.servers >= 1 && a.spares >= 1, "need a server and a spare");
    let (window, fence, poll) = (
        a.detect_window_ms.to_string(),
        a.fence_timeout_s.to_string(),
        a.poll_ms.to_string(),
    );
    let cluster = Cluster::start(
        1,
        &[
            "--detect-window-ms",
            &window,
            "--fence-timeout-s",
            &fence,
            "--poll-ms",
            &poll,
            "--boot-timeout-s",
            "120",
        ],
    )
    .await?;
    let addr = cluster.addr(1);
    let (power_off, power_on, conflict) = match a.profile {
        Profile::Zero => (0, 0, 0),
        Profile::Realistic => (REAL_POWER_OFF_MS, REAL_POWER_ON_MS, REAL_CONFLICT_S),
    };
    let hw_args = [
        "--boot-delay-ms".to_string(),
        power_on.to_string(),
        "--shutdown-delay-ms".to_string(),
        power_off.to_string(),
        "--power-off-ms".to_string(),
        power_off.to_string(),
        "--conflict-after-off-s".to_string(),
        conflict.to_string(),
    ];
    let hw_args: Vec<&str> = hw_args.iter().map(String::as_str).collect();
    let blades = a.servers + a.spares;
    let rack = pan_tests::Hwsim::start(blades, Some(&addr), &hw_args)?;
    println!(
        "rack: {blades} blades ({} servers, {} spares), profile {:?} (power-off {power_off} ms, \
         power-on {power_on} ms, 409 for {conflict} s after off), fault {:?}; manager: \
         --detect-window-ms {window} --fence-timeout-s {fence} --poll-ms {poll}",
        a.servers, a.spares, a.profile, a.fault
    );
    let pw = pan_tests::bmc_password_file(cluster.dir())?;
    let out = pan_tests::discover(&addr, &rack, &pw, false, &[])?;
    anyhow::ensure!(
        out.status.success(),
        "blade discover: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut client = cluster.client(1).await?;
    client
        .create_partition(CreatePartitionRequest {
            name: "bench".into(),
            description: "pan-bench failover".into(),
            ..Default::default()
        })
        .await?;
    let names: Vec<String> = (1..=a.servers).map(|i| format!("s{i:03}")).collect();
    for (i, name) in names.iter().enumerate() {
        client
            .create_server(CreateServerRequest {
                name: name.clone(),
                partition: "bench".into(),
                nics: 1,
                ..Default::default()
            })
            .await?;
        client
            .start_server(StartServerRequest {
                name: name.clone(),
                partition: "bench".into(),
                blade: format!("blade-{:03}", i + 1),
                no_wait: true,
                timeout_s: 0,
            })
            .await?;
    }
    let get = |name: &str| GetServerRequest {
        name: name.to_string(),
        partition: "bench".into(),
    };
    let boot_deadline = Instant::now() + Duration::from_secs(a.timeout_s);
    for name in &names {
        loop {
            let s = client.get_server(get(name)).await?.into_inner();
            if s.state == "running" {
                break;
            }
            anyhow::ensure!(
                Instant::now() < boot_deadline,
                "{name} did not start: {} {}",
                s.state,
                s.last_error
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "{} servers running; failing blades one after another",
        names.len()
    );

    let fault_word = match a.fault {
        FaultKind::Kill => "kill",
        FaultKind::CutLink => "cut-link",
    };
    let mut samples = Vec::with_capacity(a.failures);
    let mut last_id = 0u64;
    let run_started = Instant::now();
    for k in 0..a.failures {
        let name = &names[k % names.len()];
        let before = client.get_server(get(name)).await?.into_inner();
        anyhow::ensure!(before.state == "running", "{name}: {}", before.state);
        let from = before.blade.clone();
        let t0 = Instant::now();
        hwsim_ok(&rack, &["fault", fault_word, &from])?;
        let deadline = t0 + Duration::from_secs(a.timeout_s);
        let (to, wall) = loop {
            let s = client.get_server(get(name)).await?.into_inner();
            if s.state == "running" && s.blade != from {
                break (s.blade, t0.elapsed());
            }
            if Instant::now() >= deadline {
                let h = client
                    .list_failovers(ListFailoversRequest { limit: 3 })
                    .await?
                    .into_inner();
                anyhow::bail!(
                    "failure {}: {name} not running elsewhere than {from} after {} s: {s:?}; \
                     recent failovers: {:?}",
                    k + 1,
                    a.timeout_s,
                    h.failovers
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let f = client
            .list_failovers(ListFailoversRequest { limit: 10 })
            .await?
            .into_inner()
            .failovers
            .into_iter()
            .filter(|f| f.id > last_id && f.server == *name && f.from_blade == from)
            .max_by_key(|f| f.id)
            .with_context(|| format!("no failover recorded for {name} from {from}"))?;
        anyhow::ensure!(
            f.phase == "done" && f.to_blade == to,
            "failover {}: {f:?}",
            f.id
        );
        last_id = f.id;
        let sample = FailoverSample {
            detect_ms: f.detect_ms as f64,
            fence_ms: f.fence_ms as f64,
            select_ms: f.select_ms as f64,
            boot_ms: f.boot_ms as f64,
            total_ms: f.total_ms as f64,
            wall_ms: wall.as_secs_f64() * 1000.0,
        };
        if a.verbose {
            println!(
                "#{:<3} {name} {from} -> {to}: detect {} fence {} select {} boot {} total {} ms; \
                 wall {:.0} ms",
                k + 1,
                f.detect_ms,
                f.fence_ms,
                f.select_ms,
                f.boot_ms,
                f.total_ms,
                sample.wall_ms
            );
        }
        samples.push(sample);
        // Repaired, the dead blade is a spare again.
        hwsim_ok(&rack, &["fault", "clear", &from])?;
        let b = client
            .repair_blade(RepairBladeRequest {
                blade: from.clone(),
            })
            .await?
            .into_inner();
        anyhow::ensure!(b.state == "available", "{from} after repair: {}", b.state);
    }
    if let Some(dir) = &a.log_dir {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("manager.log"), cluster.members[&1].log())?;
        std::fs::write(dir.join("hwsim.log"), rack.log())?;
    }
    let violations = rack.client(&["violations"])?;
    let violations = String::from_utf8_lossy(&violations.stdout)
        .trim()
        .to_string();

    println!(
        "{} failovers in {:.0} s; ground-truth violations (one identity on two powered blades): {}",
        samples.len(),
        run_started.elapsed().as_secs_f64(),
        if violations.is_empty() {
            "none"
        } else {
            &violations
        }
    );
    let injected = match (a.profile, a.fault) {
        (Profile::Zero, _) => 0.0,
        (Profile::Realistic, FaultKind::Kill) => power_on as f64,
        (Profile::Realistic, FaultKind::CutLink) => (power_on + power_off) as f64,
    };
    let column = |pick: &dyn Fn(&FailoverSample) -> f64| -> Vec<f64> {
        let mut v: Vec<f64> = samples.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let mut rows = vec![
        ("detect_ms", column(&|s| s.detect_ms)),
        ("fence_ms", column(&|s| s.fence_ms)),
        ("select_ms", column(&|s| s.select_ms)),
        ("boot_ms", column(&|s| s.boot_ms)),
        ("total_ms", column(&|s| s.total_ms)),
        ("wall: fault -> running", column(&|s| s.wall_ms)),
    ];
    if injected > 0.0 {
        rows.push(("total - injected", column(&|s| s.total_ms - injected)));
        rows.push((
            "total - injected - detect",
            column(&|s| s.total_ms - injected - s.detect_ms),
        ));
    }
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "phase (ms)", "p50", "p99", "max", "min", "mean"
    );
    for (label, v) in &rows {
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!(
            "{label:<26} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0}",
            percentile(v, 0.50),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN),
            v.first().copied().unwrap_or(f64::NAN),
            mean
        );
    }
    if injected > 0.0 {
        println!("injected hardware delay per failover: {injected:.0} ms");
    }
    anyhow::ensure!(violations.is_empty(), "the rack's invariants were broken");
    Ok(())
}
