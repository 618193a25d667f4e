//! Measures the cost of `State::apply` for `CreateServer` (development aid):
//! `cargo run --release -p fabric-manager --example apply_cost`.

use fabric_manager::state::{Command, Envelope, Qualification, State};
use std::time::Instant;

fn main() {
    let mut state = State::default();
    let env = |command: Command| Envelope {
        principal: "bench".into(),
        at_ms: 1,
        command: command.into(),
    };
    let created = state.apply(
        1,
        &env(Command::CreatePartition {
            name: "p".into(),
            description: String::new(),
            network_ids: None,
        }),
    );
    assert!(created.result.is_ok(), "{:?}", created.result);
    let n: u32 = 200_000;
    let rss_before = rss_bytes();
    let started = Instant::now();
    for i in 0..n {
        let applied = state.apply(
            u64::from(i) + 2,
            &env(Command::CreateServer {
                name: format!("s{i}"),
                partition: "p".into(),
                nics: 1,
                identity_pool: None,
                boot_volume: None,
                requirements: Qualification::default(),
                networks: Vec::new(),
                volumes: Vec::new(),
                priority: 0,
                failover_pool: None,
                preempt: false,
                failback_window: None,
            }),
        );
        assert!(applied.result.is_ok(), "{:?}", applied.result);
    }
    println!(
        "apply CreateServer: {:?} per command over {n}",
        started.elapsed() / n
    );
    if let (Some(before), Some(after)) = (rss_before, rss_bytes()) {
        println!(
            "resident memory: {} bytes per server",
            after.saturating_sub(before) / u64::from(n)
        );
    }
    let started = Instant::now();
    let copy = state.clone();
    println!("clone of the state: {:?}", started.elapsed());
    drop(copy);
    let started = Instant::now();
    let copy = state.snapshot_copy();
    println!("snapshot copy (no index): {:?}", started.elapsed());
    drop(copy);
}

/// Resident set size of this process (Linux), if readable.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
