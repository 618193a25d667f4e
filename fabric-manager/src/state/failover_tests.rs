//! The failover state machine: detection starts a failover, the fence is
//! recorded before any takeover, spares go to the highest priority first,
//! the ordinary start path finishes it, and every refusal changes nothing.

use super::principal_tests::dedicate;
use super::tests::{add_blade, facts, ok, refused, with_partitions};
use super::*;

const ACME: &str = "acme";

fn blade(name: &str, n: u8, pool: Option<&str>) -> Command {
    add_blade(
        name,
        &format!("https://10.0.0.{n}"),
        pool,
        Some(facts("X1", 16, 64)),
    )
}

fn server(name: &str, priority: u32, failover_pool: Option<&str>) -> Command {
    server_with(name, priority, failover_pool, false)
}

fn server_with(name: &str, priority: u32, failover_pool: Option<&str>, preempt: bool) -> Command {
    Command::CreateServer {
        name: name.into(),
        partition: ACME.into(),
        nics: 1,
        identity_pool: None,
        boot_volume: None,
        requirements: Qualification::default(),
        networks: Vec::new(),
        volumes: Vec::new(),
        priority,
        failover_pool: failover_pool.map(str::to_string),
        preempt,
        failback_window: None,
    }
}

/// Starts `server` on `blade` and reports it running.
fn run_on(state: &mut State, server: &str, blade: &str) {
    ok(
        state,
        Command::StartServer {
            name: server.into(),
            partition: ACME.into(),
            blade: Some(blade.into()),
        },
    );
    let g = state.server(ACME, server).unwrap().generation;
    ok(
        state,
        Command::ServerRunning {
            name: server.into(),
            partition: ACME.into(),
            generation: g,
        },
    );
}

fn suspect(blade: &str) -> Command {
    Command::BladeSuspect {
        blade: blade.into(),
        reason: "agent silent 1.0 s; BMC reports power Off".into(),
        silent_ms: 1000,
    }
}

fn fenced(blade: &str) -> Command {
    Command::BladeFenced {
        blade: blade.into(),
    }
}

fn placed_on(state: &State, server: &str) -> Option<String> {
    state.server(ACME, server).unwrap().blade
}

fn history(state: &State) -> Vec<FailoverView> {
    state.failover_history(100)
}

#[test]
fn a_failover_fences_then_takes_over_and_ends_when_the_identity_runs() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", 1, None));
    ok(&mut state, blade("b2", 2, None));
    ok(&mut state, server("web", 0, None));
    run_on(&mut state, "web", "b1");
    let before = state.server(ACME, "web").unwrap();

    ok(&mut state, suspect("b1"));
    let web = state.server(ACME, "web").unwrap();
    assert_eq!(web.state, "failed");
    assert_eq!(web.blade.as_deref(), Some("b1"), "still on b1 until fenced");
    assert_eq!(state.blade("b1").unwrap().state, "failed");
    assert_eq!(state.pending_fences().len(), 1);
    assert_eq!(state.pending_fences()[0].blade, "b1");
    // Nothing may move it meanwhile.
    assert!(!state.takeover_pending());
    refused(&mut state, suspect("b1"));
    refused(
        &mut state,
        Command::StartServer {
            name: "web".into(),
            partition: ACME.into(),
            blade: Some("b2".into()),
        },
    );
    refused(&mut state, tests::delete_server(ACME, "web"));
    refused(&mut state, Command::TakeOver);

    ok(&mut state, fenced("b1"));
    assert_eq!(state.blade("b1").unwrap().state, "fenced");
    assert_eq!(placed_on(&state, "web"), None, "off the old blade");
    assert!(state.pending_fences().is_empty());
    assert!(state.takeover_pending());

    ok(&mut state, Command::TakeOver);
    let web = state.server(ACME, "web").unwrap();
    assert_eq!(web.state, "starting");
    assert_eq!(web.blade.as_deref(), Some("b2"));
    assert!(web.generation > before.generation, "a new fencing token");
    assert_eq!(web.identity, before.identity, "the same identity");
    assert_eq!(history(&state)[0].phase, "booting");

    ok(
        &mut state,
        Command::ServerRunning {
            name: "web".into(),
            partition: ACME.into(),
            generation: web.generation,
        },
    );
    let h = &history(&state)[0];
    assert_eq!(h.phase, "done");
    assert_eq!(
        (h.from_blade.as_str(), h.to_blade.as_deref()),
        ("b1", Some("b2"))
    );
    assert_eq!(h.detect_ms, 1000);
    assert!(
        h.total_ms >= h.detect_ms + h.fence_ms + h.select_ms + h.boot_ms - 1,
        "{h:?}"
    );
    assert!(h.fence_ms > 0 && h.select_ms > 0 && h.boot_ms > 0, "{h:?}");
    // It is an ordinary running server again.
    ok(
        &mut state,
        Command::StopServer {
            name: "web".into(),
            partition: ACME.into(),
        },
    );
}

#[test]
fn without_a_spare_it_alerts_once_and_retries_when_a_blade_comes_back() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", 1, None));
    ok(&mut state, server("web", 0, None));
    run_on(&mut state, "web", "b1");
    ok(&mut state, suspect("b1"));
    ok(&mut state, fenced("b1"));
    let applied = tests::run(&mut state, Command::TakeOver);
    assert_eq!(applied.result, Ok(Outcome::Done));
    assert_eq!(applied.events[0].kind, "alert.no_spare");
    assert!(
        history(&state)[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no qualifying spare")
    );
    // Told once per spare epoch: nothing to do until a blade appears.
    assert!(!state.takeover_pending());
    // The repaired old blade is a spare again.
    ok(&mut state, Command::RepairBlade { blade: "b1".into() });
    assert!(state.takeover_pending());
    ok(&mut state, Command::TakeOver);
    assert_eq!(placed_on(&state, "web").as_deref(), Some("b1"));
}

#[test]
fn the_higher_priority_server_wins_the_one_spare() {
    let mut state = with_partitions(&[ACME]);
    for (b, n) in [("b1", 1), ("b2", 2), ("spare", 3)] {
        ok(&mut state, blade(b, n, None));
    }
    ok(&mut state, server("low", 1, None));
    ok(&mut state, server("high", 9, None));
    run_on(&mut state, "low", "b1");
    run_on(&mut state, "high", "b2");
    // The low-priority one fails and is fenced first, but waits while the
    // higher-priority one is still fencing.
    ok(&mut state, suspect("b1"));
    ok(&mut state, suspect("b2"));
    ok(&mut state, fenced("b1"));
    assert!(
        !state.takeover_pending(),
        "held back by a higher priority fence"
    );
    ok(&mut state, fenced("b2"));
    ok(&mut state, Command::TakeOver);
    assert_eq!(placed_on(&state, "high").as_deref(), Some("spare"));
    assert!(state.takeover_pending(), "the other is still waiting");
    let applied = tests::run(&mut state, Command::TakeOver);
    assert_eq!(applied.events[0].kind, "alert.no_spare");
    assert_eq!(applied.events[0].object, "server/acme/low");
    assert!(!state.takeover_pending());
}

#[test]
fn a_failover_pool_limits_the_spares() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, tests::pool("spares", None, 0, 0));
    ok(&mut state, blade("b1", 1, None));
    ok(&mut state, blade("a-free", 2, None));
    ok(&mut state, blade("z-spare", 3, Some("spares")));
    ok(&mut state, server("web", 0, Some("spares")));
    run_on(&mut state, "web", "b1");
    ok(&mut state, suspect("b1"));
    ok(&mut state, fenced("b1"));
    ok(&mut state, Command::TakeOver);
    assert_eq!(placed_on(&state, "web").as_deref(), Some("z-spare"));
}

#[test]
fn an_unconfirmed_fence_blocks_the_takeover_until_an_operator_confirms() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", 1, None));
    ok(&mut state, blade("b2", 2, None));
    ok(&mut state, server("web", 0, None));
    run_on(&mut state, "web", "b1");
    ok(&mut state, suspect("b1"));
    let applied = tests::run(
        &mut state,
        Command::FenceFailed {
            blade: "b1".into(),
            reason: "BMC https://10.0.0.1 did not answer within 10 s".into(),
        },
    );
    assert_eq!(applied.events[0].kind, "alert.fence_failed");
    assert_eq!(history(&state)[0].phase, "fence_failed");
    assert!(!state.takeover_pending());
    assert!(state.pending_fences().is_empty(), "no automatic retry");
    refused(
        &mut state,
        Command::FenceFailed {
            blade: "b1".into(),
            reason: "again".into(),
        },
    );
    // The operator's word, recorded under their name.
    let envelope = Envelope {
        principal: "alice".into(),
        at_ms: 99_000,
        command: Command::ConfirmFenced { blade: "b1".into() }.into(),
    };
    let index = tests::next_index(&state);
    assert!(state.apply(index, &envelope).result.is_ok());
    assert_eq!(history(&state)[0].confirmed_by.as_deref(), Some("alice"));
    assert_eq!(state.audit(1)[0].principal, "alice");
    ok(&mut state, Command::TakeOver);
    assert_eq!(placed_on(&state, "web").as_deref(), Some("b2"));
}

#[test]
fn a_spare_that_does_not_boot_is_taken_out_and_another_is_tried() {
    let mut state = with_partitions(&[ACME]);
    for (b, n) in [("b1", 1), ("b2", 2), ("b3", 3)] {
        ok(&mut state, blade(b, n, None));
    }
    ok(&mut state, server("web", 0, None));
    run_on(&mut state, "web", "b1");
    ok(&mut state, suspect("b1"));
    ok(&mut state, fenced("b1"));
    ok(&mut state, Command::TakeOver);
    let first = placed_on(&state, "web").unwrap();
    let g = state.server(ACME, "web").unwrap().generation;
    ok(
        &mut state,
        Command::ServerStartFailed {
            name: "web".into(),
            partition: ACME.into(),
            generation: g,
            reason: "agent never reported".into(),
        },
    );
    assert_eq!(state.blade(&first).unwrap().state, "failed");
    assert_eq!(history(&state)[0].phase, "awaiting_spare");
    ok(&mut state, Command::TakeOver);
    let second = placed_on(&state, "web").unwrap();
    assert_ne!(first, second);
}

#[test]
fn coverage_names_running_servers_without_a_spare() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", 1, None));
    ok(&mut state, server("web", 0, None));
    run_on(&mut state, "web", "b1");
    let (running, uncovered) = state.coverage();
    assert_eq!(running, 1);
    assert_eq!(uncovered.len(), 1);
    assert_eq!(uncovered[0].server, "web");
    ok(&mut state, blade("b2", 2, None));
    assert!(state.coverage().1.is_empty());
}

#[test]
fn an_idle_blade_that_fails_is_only_taken_out_of_service() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", 1, None));
    let applied = tests::run(&mut state, suspect("b1"));
    assert_eq!(applied.events[0].kind, "blade.failed");
    assert!(state.pending_fences().is_empty());
    // Out of service already: no maintenance, but a repair brings it back.
    refused(&mut state, Command::SetMaintenance { blade: "b1".into() });
    ok(&mut state, Command::RepairBlade { blade: "b1".into() });
    ok(&mut state, Command::SetMaintenance { blade: "b1".into() });
    assert_eq!(state.blade("b1").unwrap().state, "maintenance");
}

#[test]
fn a_preempting_server_stops_a_lower_priority_one_and_takes_its_blade() {
    let mut state = with_partitions(&[ACME]);
    for (b, n) in [("b1", 1), ("b2", 2), ("b3", 3)] {
        ok(&mut state, blade(b, n, None));
    }
    ok(&mut state, server_with("db", 9, None, true));
    ok(&mut state, server("batch", 1, None));
    ok(&mut state, server("web", 5, None));
    run_on(&mut state, "db", "b1");
    run_on(&mut state, "batch", "b2");
    run_on(&mut state, "web", "b3");
    ok(&mut state, suspect("b1"));
    ok(&mut state, fenced("b1"));
    // No free spare: the lowest-priority server is stopped with its own fence.
    let applied = tests::run(&mut state, Command::TakeOver);
    assert_eq!(applied.events[0].kind, "failover.preempting");
    let batch = state.server(ACME, "batch").unwrap();
    assert_eq!(batch.state, "failed");
    assert!(batch.last_error.unwrap().contains("preempted for acme/db"));
    assert_eq!(state.pending_fences()[0].blade, "b2");
    assert!(
        !state.takeover_pending(),
        "db waits for the preemption's fence"
    );
    assert_eq!(
        state.server(ACME, "web").unwrap().state,
        "running",
        "a higher priority is left alone"
    );
    ok(&mut state, fenced("b2"));
    assert_eq!(
        state.blade("b2").unwrap().state,
        "available",
        "a healthy blade: a spare"
    );
    ok(&mut state, Command::TakeOver);
    assert_eq!(placed_on(&state, "db").as_deref(), Some("b2"));
    // The preempted server waits for a spare, with an alert.
    let applied = tests::run(&mut state, Command::TakeOver);
    assert_eq!(applied.events[0].kind, "alert.no_spare");
    assert_eq!(applied.events[0].object, "server/acme/batch");
    // Without the policy nobody is preempted.
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", 1, None));
    ok(&mut state, blade("b2", 2, None));
    ok(&mut state, server("db", 9, None));
    ok(&mut state, server("batch", 1, None));
    run_on(&mut state, "db", "b1");
    run_on(&mut state, "batch", "b2");
    ok(&mut state, suspect("b1"));
    ok(&mut state, fenced("b1"));
    let applied = tests::run(&mut state, Command::TakeOver);
    assert_eq!(applied.events[0].kind, "alert.no_spare");
    assert_eq!(state.server(ACME, "batch").unwrap().state, "running");
}

#[test]
fn a_failed_over_server_goes_home_inside_its_window_once_home_is_repaired() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", 1, None));
    ok(&mut state, blade("b2", 2, None));
    let mut create = server("web", 0, None);
    if let Command::CreateServer {
        failback_window, ..
    } = &mut create
    {
        *failback_window = Some("* * * * *".into());
    }
    ok(&mut state, create);
    run_on(&mut state, "web", "b1");
    ok(&mut state, suspect("b1"));
    ok(&mut state, fenced("b1"));
    ok(&mut state, Command::TakeOver);
    let g = state.server(ACME, "web").unwrap().generation;
    ok(
        &mut state,
        Command::ServerRunning {
            name: "web".into(),
            partition: ACME.into(),
            generation: g,
        },
    );
    let web = state.server(ACME, "web").unwrap();
    assert_eq!(
        (web.blade.as_deref(), web.home_blade.as_deref()),
        (Some("b2"), Some("b1"))
    );
    let now = 1_800_000_000_000;
    // Home is still fenced: nothing due.
    assert!(state.failback_due(now).is_empty());
    refused(
        &mut state,
        Command::Failback {
            name: "web".into(),
            partition: ACME.into(),
        },
    );
    ok(&mut state, Command::RepairBlade { blade: "b1".into() });
    assert_eq!(
        state.failback_due(now),
        [(ACME.to_string(), "web".to_string())]
    );
    ok(
        &mut state,
        Command::Failback {
            name: "web".into(),
            partition: ACME.into(),
        },
    );
    assert_eq!(state.server(ACME, "web").unwrap().state, "stopping");
    let g = state.server(ACME, "web").unwrap().generation;
    let applied = tests::run(
        &mut state,
        Command::ServerStopped {
            name: "web".into(),
            partition: ACME.into(),
            generation: g,
        },
    );
    assert_eq!(applied.events[0].kind, "server.moving");
    let web = state.server(ACME, "web").unwrap();
    assert_eq!(
        (web.state.as_str(), web.blade.as_deref()),
        ("starting", Some("b1"))
    );
    ok(
        &mut state,
        Command::ServerRunning {
            name: "web".into(),
            partition: ACME.into(),
            generation: web.generation,
        },
    );
    let web = state.server(ACME, "web").unwrap();
    assert_eq!(web.home_blade, None, "home again");
    assert!(state.failback_due(now).is_empty());
}

#[test]
fn a_bad_failback_window_is_refused_with_an_example() {
    let mut state = with_partitions(&[ACME]);
    let mut create = server("web", 0, None);
    if let Command::CreateServer {
        failback_window, ..
    } = &mut create
    {
        *failback_window = Some("nightly".into());
    }
    let err = refused(&mut state, create);
    assert!(err.to_string().contains("0 2 * * *"), "{err}");
}

#[test]
fn preemption_never_frees_a_dedicated_blade_for_another_partition() {
    let mut state = with_partitions(&[ACME, "other"]);
    ok(
        &mut state,
        Command::CreatePool {
            name: "gold".into(),
            qualification: Qualification::default(),
        },
    );
    ok(&mut state, blade("g1", 1, Some("gold")));
    ok(&mut state, blade("s1", 2, None));
    ok(&mut state, dedicate(ACME, "gold"));
    ok(&mut state, server("batch", 1, None));
    run_on(&mut state, "batch", "g1");
    ok(
        &mut state,
        Command::CreateServer {
            name: "db".into(),
            partition: "other".into(),
            nics: 1,
            identity_pool: None,
            boot_volume: None,
            requirements: Qualification::default(),
            networks: Vec::new(),
            volumes: Vec::new(),
            priority: 9,
            failover_pool: None,
            preempt: true,
            failback_window: None,
        },
    );
    ok(
        &mut state,
        Command::StartServer {
            name: "db".into(),
            partition: "other".into(),
            blade: None,
        },
    );
    assert_eq!(
        state.server("other", "db").unwrap().blade.as_deref(),
        Some("s1")
    );
    let g = state.server("other", "db").unwrap().generation;
    ok(
        &mut state,
        Command::ServerRunning {
            name: "db".into(),
            partition: "other".into(),
            generation: g,
        },
    );
    ok(&mut state, suspect("s1"));
    ok(&mut state, fenced("s1"));
    // acme's lower-priority server on its own pool is not a victim.
    let applied = tests::run(&mut state, Command::TakeOver);
    assert_eq!(applied.events[0].kind, "alert.no_spare");
    assert_eq!(state.server(ACME, "batch").unwrap().state, "running");
    assert_eq!(placed_on(&state, "batch").as_deref(), Some("g1"));
}
