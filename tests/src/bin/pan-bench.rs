//! `pan-bench`: PAN's benchmarks, run against real processes on loopback.
//!
//! `pan-bench writes` starts a 3-member durable cluster (redb, fsync on every
//! log append) and measures committed writes per second and latency
//! percentiles at several client concurrencies. Each write is a real
//! `CreateServer` (identity allocation included); a write counts only when
//! the leader acknowledged it committed, i.e. durable on a quorum.
//!
//! Build with `--release`; figures go to BENCHMARKS.md.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use pan_api::v1::fabric_client::FabricClient;
use pan_api::v1::{CreatePartitionRequest, CreateServerRequest};
use pan_tests::Cluster;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
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
}

#[tokio::main]
async fn main() -> Result<()> {
    match Args::parse().bench {
        Bench::Writes {
            clients,
            seconds,
            connections,
            members,
        } => writes(&clients, seconds, connections, members).await,
        Bench::Discover {
            blades,
            poll_ms,
            seconds,
        } => discover(blades, poll_ms, seconds).await,
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

async fn writes(levels: &[usize], seconds: u64, connections: usize, members: u64) -> Result<()> {
    let cluster = Cluster::start(members, &[]).await?;
    let leader = cluster.leader().await?;
    let addr = cluster.addr(leader);
    println!(
        "cluster: {members} members on loopback, leader node {leader} at {addr}; durable redb store"
    );
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
    FabricClient::new(channels[0].clone())
        .create_partition(CreatePartitionRequest {
            name: "bench".to_string(),
            description: "pan-bench writes".to_string(),
            ..Default::default()
        })
        .await?;

    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "clients", "writes/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for (level_no, &clients) in levels.iter().enumerate() {
        let r = run_level(&channels, level_no, clients, seconds).await?;
        println!(
            "{:>8} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>10}",
            clients, r.rate, r.p50_ms, r.p99_ms, r.max_ms, r.errors
        );
    }
    Ok(())
}

struct LevelResult {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
}

async fn run_level(
    channels: &[Channel],
    level_no: usize,
    clients: usize,
    seconds: u64,
) -> Result<LevelResult> {
    let warmup = Duration::from_secs(2);
    let measure = Duration::from_secs(seconds);
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let mut client = FabricClient::new(channels[c % channels.len()].clone());
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("valid histogram precision");
            let (mut ok, mut errors) = (0u64, 0u64);
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
                if sent >= start + warmup && done <= start + warmup + measure {
                    match res {
                        Ok(_) => {
                            ok += 1;
                            let us = u64::try_from(done.duration_since(sent).as_micros())
                                .unwrap_or(u64::MAX);
                            let _ = hist.record(us);
                        }
                        Err(_) => errors += 1,
                    }
                }
            }
            (hist, ok, errors)
        }));
    }
    tokio::time::sleep(warmup + measure).await;
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new(3).expect("valid histogram precision");
    let (mut ok, mut errors) = (0u64, 0u64);
    for t in tasks {
        let (h, o, e) = t.await?;
        hist.add(h).context("merge histograms")?;
        ok += o;
        errors += e;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(LevelResult {
        rate: ok as f64 / measure.as_secs_f64(),
        p50_ms: ms(hist.value_at_quantile(0.50)),
        p99_ms: ms(hist.value_at_quantile(0.99)),
        max_ms: ms(hist.max()),
        errors,
    })
}
