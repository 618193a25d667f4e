//! Measures the cost of `State::apply` for `CreateServer` (development aid):
//! `cargo run --release -p fabric-manager --example apply_cost`.

use fabric_manager::state::{Command, Envelope, Qualification, State};
use std::time::Instant;

fn main() {
    let mut state = State::default();
    let env = |command| Envelope {
        principal: "bench".into(),
        at_ms: 1,
        command,
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
    let started = Instant::now();
    let copy = state.clone();
    println!("clone of the state: {:?}", started.elapsed());
    drop(copy);
    let started = Instant::now();
    let copy = state.snapshot_copy();
    println!("snapshot copy (no index): {:?}", started.elapsed());
    drop(copy);
}
