//! Tests of blade observations, power requests, placement and the server lifecycle.
//!
//! Refused commands go through [`refused`] (from `tests.rs`), which checks
//! that nothing but the audit log changed. The property test at the end runs
//! random lifecycle sequences against an independent model of who may be
//! placed where, and checks the placement invariants after every step.

use super::tests::{
    OPERATOR, PASSWORD, add_blade, assert_in_use, assert_not_found, at_ms, check_invariants,
    delete_server, facts, make_volume, next_index, normalized_index, ok, partition, refused,
    remove_blade, run, server_view, views, with_partitions, without_audit,
};
use super::*;
use pan_api::{BladeId, ServerId};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet, HashSet};

const ACME: &str = "acme";
const WEB: &str = "server 'web' in partition 'acme'";

// ------------------------------------------------------------ helpers

fn url(blade: &str) -> String {
    format!("https://bmc-{blade}.example")
}

/// A blade outside any pool, with its own BMC address.
fn blade(name: &str, facts: Option<BladeFacts>) -> Command {
    add_blade(name, &url(name), None, facts)
}

fn needs(model: Option<&str>, min_cores: u32, min_memory_gib: u64) -> Qualification {
    Qualification {
        model: model.map(str::to_string),
        min_cores,
        min_memory_gib,
    }
}

fn no_needs() -> Qualification {
    Qualification::default()
}

fn new_server(
    partition: &str,
    name: &str,
    requirements: Qualification,
    boot: Option<&str>,
) -> Command {
    Command::CreateServer {
        name: name.to_string(),
        partition: partition.to_string(),
        nics: 2,
        identity_pool: None,
        boot_volume: boot.map(str::to_string),
        networks: Vec::new(),
        volumes: Vec::new(),
        priority: 0,
        failover_pool: None,
        preempt: false,
        failback_window: None,
        requirements,
    }
}

fn start(partition: &str, name: &str, blade: Option<&str>) -> Command {
    Command::StartServer {
        name: name.to_string(),
        partition: partition.to_string(),
        blade: blade.map(str::to_string),
    }
}

fn running(partition: &str, name: &str, generation: u64) -> Command {
    Command::ServerRunning {
        name: name.to_string(),
        partition: partition.to_string(),
        generation,
    }
}

fn start_failed(partition: &str, name: &str, generation: u64, reason: &str) -> Command {
    Command::ServerStartFailed {
        name: name.to_string(),
        partition: partition.to_string(),
        generation,
        reason: reason.to_string(),
    }
}

fn stop(partition: &str, name: &str) -> Command {
    Command::StopServer {
        name: name.to_string(),
        partition: partition.to_string(),
    }
}

fn stopped(partition: &str, name: &str, generation: u64) -> Command {
    Command::ServerStopped {
        name: name.to_string(),
        partition: partition.to_string(),
        generation,
    }
}

fn observe(readings: &[(&str, PowerState, Health)]) -> Command {
    Command::ObserveBlades {
        observations: readings
            .iter()
            .map(|(blade, power, health)| BladeObservation {
                blade: blade.to_string(),
                power: *power,
                health: *health,
            })
            .collect(),
    }
}

fn power(blade: &str, action: PowerAction, force: bool) -> Command {
    Command::BladePower {
        blade: blade.to_string(),
        action,
        force,
    }
}

fn server_of(state: &State, partition: &str, name: &str) -> ServerView {
    state.server(partition, name).expect("server exists")
}

fn blade_of(state: &State, name: &str) -> BladeView {
    state.blade(name).expect("blade exists")
}

fn sid(state: &State, partition: &str, name: &str) -> ServerId {
    let pid = state.partition_id(partition).expect("partition exists");
    state
        .server_id(pid, partition, name)
        .expect("server exists")
}

fn bid(state: &State, name: &str) -> BladeId {
    state.blade_id(name).expect("blade exists")
}

/// Puts a blade in a state no command reaches yet (maintenance, retired).
fn set_blade_state(state: &mut State, name: &str, to: BladeState) {
    let id = bid(state, name);
    state.blades.get_mut(&id).unwrap().state = to;
}

/// Applies a command that must be accepted, whatever number of events it
/// emits; checks the events' stamps and the audit record.
#[track_caller]
fn accepted(state: &mut State, command: Command) -> (Outcome, Vec<Event>) {
    let text = command.to_string();
    let partition = command.partition().map(str::to_string);
    let index = next_index(state);
    let applied = run(state, command);
    let outcome = match applied.result {
        Ok(outcome) => outcome,
        Err(e) => panic!("`{text}` was refused: {e}"),
    };
    for e in &applied.events {
        assert_eq!((e.index, e.at_ms), (index, at_ms(index)), "{e:?}");
    }
    assert_eq!(
        state.audit(1).first(),
        Some(&AuditRecord {
            index,
            at_ms: at_ms(index),
            principal: OPERATOR.to_string(),
            command: text,
            error: None,
            partition,
        })
    );
    (outcome, applied.events)
}

/// The event the command applied as the previous log entry should have emitted.
fn event(state: &State, kind: &str, object: &str, partition: Option<&str>) -> Event {
    let index = state.audit(1)[0].index;
    Event {
        index,
        at_ms: at_ms(index),
        kind: kind.to_string(),
        object: object.to_string(),
        partition: partition.map(str::to_string),
    }
}

#[track_caller]
fn assert_invalid_transition(err: &StateError, object: &str, state: &str, remedy: &str) {
    assert_eq!(
        err,
        &StateError::InvalidTransition {
            object: object.to_string(),
            state: state.to_string(),
            remedy: remedy.to_string(),
        }
    );
    assert_eq!(err.to_string(), format!("{object} is {state}; {remedy}"));
}

#[track_caller]
fn assert_no_qualifying_blade(err: &StateError, server: &str, detail: &str) {
    assert_eq!(
        err,
        &StateError::NoQualifyingBlade {
            server: server.to_string(),
            detail: detail.to_string(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "no blade can run {server}: {detail}; add or repair blades (`panctl blade add`), \
             or relax the server's requirements"
        )
    );
}

fn stale(generation: u64, current: u64, expect: &str) -> (String, String) {
    (
        format!("{WEB} (generation {current})"),
        format!(
            "this report about generation {generation} while {expect} is stale; nothing changed"
        ),
    )
}

/// Partition `acme`, blade `b1` (X1, 32 cores, 256 GiB) and server `web`.
fn rack() -> State {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("b1", Some(facts("X1", 32, 256))));
    ok(&mut state, new_server(ACME, "web", no_needs(), None));
    state
}

/// [`rack`] with `web` starting on `b1` at generation 2.
fn started() -> State {
    let mut state = rack();
    ok(&mut state, start(ACME, "web", None));
    state
}

/// [`started`] with `web` running.
fn up() -> State {
    let mut state = started();
    ok(&mut state, running(ACME, "web", 2));
    state
}

/// [`up`] with `web` stopping.
fn stopping() -> State {
    let mut state = up();
    ok(&mut state, stop(ACME, "web"));
    state
}

// ------------------------------------------------------------ placement

#[test]
fn placement_prefers_the_fewest_cores_then_the_least_memory() {
    let mut state = with_partitions(&[ACME]);
    for (name, cores, memory) in [
        ("big", 64, 512),
        ("mid-fat", 16, 256),
        ("mid-thin", 16, 64),
        ("tiny", 8, 32),
        ("mid-fatter", 16, 1024),
    ] {
        ok(&mut state, blade(name, Some(facts("X1", cores, memory))));
    }
    ok(
        &mut state,
        new_server(ACME, "web", needs(None, 12, 0), None),
    );
    ok(
        &mut state,
        new_server(ACME, "web-2", needs(None, 12, 0), None),
    );
    ok(
        &mut state,
        new_server(ACME, "db", needs(None, 0, 128), None),
    );
    ok(&mut state, new_server(ACME, "any", no_needs(), None));
    let choose = |state: &State, name: &str| state.choose_blade(sid(state, ACME, name));

    assert_eq!(choose(&state, "web"), Ok(bid(&state, "mid-thin")));
    assert_eq!(choose(&state, "db"), Ok(bid(&state, "mid-fat")));
    assert_eq!(choose(&state, "any"), Ok(bid(&state, "tiny")));

    // Starting without --blade takes the planner's choice; the next server
    // then gets the next best fit.
    let web = server_view(ok(&mut state, start(ACME, "web", None)));
    assert_eq!(web.blade.as_deref(), Some("mid-thin"));
    assert_eq!(choose(&state, "web-2"), Ok(bid(&state, "mid-fat")));
    let any = server_view(ok(&mut state, start(ACME, "any", None)));
    assert_eq!(any.blade.as_deref(), Some("tiny"));
    let web2 = server_view(ok(&mut state, start(ACME, "web-2", None)));
    assert_eq!(web2.blade.as_deref(), Some("mid-fat"));
    assert_eq!(choose(&state, "db"), Ok(bid(&state, "mid-fatter")));
}

#[test]
fn placement_breaks_ties_by_blade_name_not_by_the_order_blades_were_added() {
    let mut state = with_partitions(&[ACME]);
    // Same cores and memory; added in reverse name order (so id order differs).
    ok(&mut state, blade("zeta", Some(facts("X1", 16, 64))));
    ok(&mut state, blade("mike", Some(facts("X2", 16, 64))));
    ok(&mut state, blade("alpha", Some(facts("X1", 16, 64))));
    for name in ["s1", "s2", "s3"] {
        ok(&mut state, new_server(ACME, name, no_needs(), None));
    }
    let mut order = Vec::new();
    for name in ["s1", "s2", "s3"] {
        assert_eq!(
            state.choose_blade(sid(&state, ACME, name)),
            state.clone().choose_blade(sid(&state, ACME, name)),
            "the planner is a pure function"
        );
        order.push(
            server_view(ok(&mut state, start(ACME, name, None)))
                .blade
                .unwrap(),
        );
    }
    assert_eq!(order, ["alpha", "mike", "zeta"]);
}

#[test]
fn placement_respects_model_cores_and_memory_requirements() {
    let mut state = with_partitions(&[ACME]);
    for (name, model, cores, memory) in [
        ("a-x2", "X2", 64, 512),
        ("b-few-cores", "X1", 8, 512),
        ("c-thin", "X1", 32, 64),
        ("d-fit", "X1", 32, 256),
        ("e-bigger", "X1", 64, 1024),
    ] {
        ok(&mut state, blade(name, Some(facts(model, cores, memory))));
    }
    ok(
        &mut state,
        new_server(ACME, "web", needs(Some("X1"), 16, 128), None),
    );
    ok(
        &mut state,
        new_server(ACME, "huge", needs(Some("X1"), 16, 2048), None),
    );
    assert_eq!(
        state.choose_blade(sid(&state, ACME, "web")),
        Ok(bid(&state, "d-fit"))
    );

    // When nothing fits, every blade is listed with its reason, in id order.
    let err = state.choose_blade(sid(&state, ACME, "huge")).unwrap_err();
    let StateError::NoQualifyingBlade { server, detail } = &err else {
        panic!("expected NoQualifyingBlade, got {err:?}");
    };
    assert_eq!(server, "server 'huge' in partition 'acme'");
    let reasons: Vec<&str> = detail.split("; ").collect();
    assert_eq!(reasons.len(), 5, "{detail}");
    assert!(
        reasons[0].starts_with("a-x2: model is \"X2\", ") && reasons[0].ends_with("\"X1\""),
        "{detail}"
    );
    assert_eq!(
        reasons[1..],
        [
            "b-few-cores: 8 cores, at least 16 needed",
            "c-thin: 64 GiB memory, at least 2048 GiB needed",
            "d-fit: 256 GiB memory, at least 2048 GiB needed",
            "e-bigger: 1024 GiB memory, at least 2048 GiB needed",
        ]
    );
    // StartServer refuses with the same error and changes nothing.
    assert_eq!(refused(&mut state, start(ACME, "huge", None)), err);
    assert_eq!(server_of(&state, ACME, "huge").state, "defined");
}

#[test]
fn placement_skips_allocated_maintenance_discovered_uninventoried_and_critical_blades() {
    let mut state = with_partitions(&[ACME]);
    for (name, facts) in [
        ("a-alloc", Some(facts("X1", 16, 64))),
        ("b-maint", Some(facts("X1", 16, 64))),
        ("c-disc", None),
        ("d-crit", Some(facts("X1", 16, 64))),
        ("e-nofacts", Some(facts("X1", 16, 64))),
    ] {
        ok(&mut state, blade(name, facts));
    }
    // The only eligible blade is the biggest; a warning does not disqualify it.
    ok(&mut state, blade("f-warn", Some(facts("X1", 128, 2048))));
    ok(&mut state, new_server(ACME, "other", no_needs(), None));
    ok(&mut state, start(ACME, "other", Some("a-alloc")));
    set_blade_state(&mut state, "b-maint", BladeState::Maintenance);
    // No command leaves an available blade without facts; the planner copes.
    let id = bid(&state, "e-nofacts");
    state.blades.get_mut(&id).unwrap().facts = None;
    accepted(
        &mut state,
        observe(&[
            ("d-crit", PowerState::On, Health::Critical),
            ("f-warn", PowerState::On, Health::Warning),
        ]),
    );
    ok(&mut state, new_server(ACME, "web", no_needs(), None));
    let web = sid(&state, ACME, "web");
    assert_eq!(state.choose_blade(web), Ok(bid(&state, "f-warn")));

    ok(&mut state, remove_blade("f-warn"));
    let err = refused(&mut state, start(ACME, "web", None));
    assert_no_qualifying_blade(
        &err,
        WEB,
        "a-alloc: it is allocated; b-maint: it is maintenance; c-disc: it is discovered; \
         d-crit: its BMC reports health critical; e-nofacts: its inventory is unknown",
    );
    assert_eq!(state.choose_blade(web), Err(err));

    // Health recovers: the blade is eligible again.
    accepted(
        &mut state,
        observe(&[("d-crit", PowerState::On, Health::Ok)]),
    );
    let view = server_view(ok(&mut state, start(ACME, "web", None)));
    assert_eq!(view.blade.as_deref(), Some("d-crit"));
}

#[test]
fn placement_on_an_empty_fabric_says_there_are_no_blades() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, new_server(ACME, "web", no_needs(), None));
    let err = refused(&mut state, start(ACME, "web", None));
    assert_no_qualifying_blade(&err, WEB, "the fabric has no blades");
    assert_eq!(state.choose_blade(sid(&state, ACME, "web")), Err(err));
}

#[test]
fn placement_lists_at_most_five_reasons_and_counts_the_rest() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, new_server(ACME, "web", needs(None, 8, 0), None));
    ok(&mut state, blade("r0", Some(facts("X1", 64, 64))));
    set_blade_state(&mut state, "r0", BladeState::Retired);
    for i in 1..=6 {
        ok(
            &mut state,
            blade(&format!("b{i}"), Some(facts("X1", 4, 64))),
        );
    }
    let err = refused(&mut state, start(ACME, "web", None));
    assert_no_qualifying_blade(
        &err,
        WEB,
        "r0: it is retired; b1: 4 cores, at least 8 needed; b2: 4 cores, at least 8 needed; \
         b3: 4 cores, at least 8 needed; b4: 4 cores, at least 8 needed; and 2 more",
    );
    // One fewer blade: "and 1 more".
    ok(&mut state, remove_blade("b6"));
    let StateError::NoQualifyingBlade { detail, .. } =
        refused(&mut state, start(ACME, "web", None))
    else {
        panic!("expected NoQualifyingBlade");
    };
    assert!(
        detail.ends_with("b4: 4 cores, at least 8 needed; and 1 more"),
        "{detail}"
    );
}

#[test]
fn explicit_blade_that_does_not_fit_is_refused_naming_the_blade() {
    let mut state = with_partitions(&[ACME]);
    ok(&mut state, blade("small", Some(facts("X1", 8, 32))));
    ok(&mut state, blade("disc", None));
    for name in ["busy", "crit", "maint", "big", "bigger"] {
        ok(&mut state, blade(name, Some(facts("X1", 64, 512))));
    }
    ok(&mut state, new_server(ACME, "other", no_needs(), None));
    ok(&mut state, start(ACME, "other", Some("busy")));
    accepted(
        &mut state,
        observe(&[("crit", PowerState::On, Health::Critical)]),
    );
    set_blade_state(&mut state, "maint", BladeState::Maintenance);
    ok(
        &mut state,
        new_server(ACME, "web", needs(None, 16, 0), None),
    );

    for (blade, reason) in [
        ("small", "8 cores, at least 16 needed"),
        ("disc", "it is discovered"),
        ("busy", "it is allocated"),
        ("crit", "its BMC reports health critical"),
        ("maint", "it is maintenance"),
    ] {
        // The planner would find a blade; the operator's choice is not overridden.
        let err = refused(&mut state, start(ACME, "web", Some(blade)));
        assert_no_qualifying_blade(&err, WEB, &format!("{blade}: {reason}"));
    }
    // A blade that fits is taken even when it is not the best fit.
    let view = server_view(ok(&mut state, start(ACME, "web", Some("bigger"))));
    assert_eq!(view.blade.as_deref(), Some("bigger"));
    assert_eq!(
        state.audit(1)[0].command,
        "server start acme/web blade=bigger"
    );
}

#[test]
fn explicit_unknown_blade_and_unknown_servers_are_not_found() {
    let mut state = rack();
    let err = refused(&mut state, start(ACME, "web", Some("nope")));
    assert_not_found(&err, "blade 'nope'", "blade list");
    let err = refused(&mut state, start(ACME, "ghost", None));
    assert_not_found(
        &err,
        "server 'ghost' in partition 'acme'",
        "server list --partition acme",
    );
    let err = refused(&mut state, start("nope", "web", None));
    assert_not_found(&err, "partition 'nope'", "partition list");
    for command in [
        running(ACME, "ghost", 1),
        start_failed(ACME, "ghost", 1, "x"),
        stop(ACME, "ghost"),
        stopped(ACME, "ghost", 1),
    ] {
        let err = refused(&mut state, command);
        assert_not_found(
            &err,
            "server 'ghost' in partition 'acme'",
            "server list --partition acme",
        );
    }
}

// ------------------------------------------------------------ start

#[test]
fn start_places_a_defined_server_and_updates_records_views_and_events() {
    let mut state = rack();
    let blade_before = blade_of(&state, "b1");
    let server_before = server_of(&state, ACME, "web");
    assert_eq!(server_before.generation, 1);

    let (outcome, events) = accepted(&mut state, start(ACME, "web", None));
    assert_eq!(
        events,
        [event(
            &state,
            "server.starting",
            "server/acme/web",
            Some(ACME)
        )]
    );
    assert_eq!(
        state.audit(1)[0].command,
        "server start acme/web blade=auto"
    );
    let view = server_view(outcome);
    assert_eq!(
        view,
        ServerView {
            state: "starting".to_string(),
            blade: Some("b1".to_string()),
            generation: 2,
            ..server_before
        }
    );
    assert_eq!(server_of(&state, ACME, "web"), view);
    assert_eq!(
        blade_of(&state, "b1"),
        BladeView {
            state: "allocated".to_string(),
            server: Some("acme/web".to_string()),
            ..blade_before
        }
    );
    // The records point at each other.
    let (s, b) = (sid(&state, ACME, "web"), bid(&state, "b1"));
    assert_eq!(state.servers[&s].blade, Some(b));
    assert_eq!(state.blades[&b].server, Some(s));
    assert_eq!(state.servers[&s].state, ServerState::Starting);
    assert_eq!(state.blades[&b].state, BladeState::Allocated);
}

#[test]
fn starting_a_starting_or_running_server_is_an_invalid_transition() {
    for (mut state, now) in [(started(), "starting"), (up(), "running")] {
        for blade in [None, Some("b1")] {
            let err = refused(&mut state, start(ACME, "web", blade));
            assert_invalid_transition(
                &err,
                WEB,
                now,
                "it is already placed; stop it first to move it",
            );
        }
        assert_eq!(server_of(&state, ACME, "web").generation, 2);
    }
}

#[test]
fn starting_a_stopping_server_says_to_wait() {
    let mut state = stopping();
    let err = refused(&mut state, start(ACME, "web", None));
    assert_invalid_transition(
        &err,
        WEB,
        "stopping",
        "wait until it has stopped, then start it",
    );
    assert!(err.to_string().contains("wait"));
}

// ------------------------------------------------------------ running

#[test]
fn running_is_accepted_only_for_the_current_generation_while_starting() {
    let mut state = started();
    for generation in [0, 1, 3, u64::MAX] {
        let err = refused(&mut state, running(ACME, "web", generation));
        let (object, remedy) = stale(generation, 2, "starting");
        assert_invalid_transition(&err, &object, "starting", &remedy);
    }
    let (outcome, events) = accepted(&mut state, running(ACME, "web", 2));
    assert_eq!(
        events,
        [event(
            &state,
            "server.running",
            "server/acme/web",
            Some(ACME)
        )]
    );
    assert_eq!(
        state.audit(1)[0].command,
        "server running acme/web generation=2"
    );
    let view = server_view(outcome);
    assert_eq!((view.state.as_str(), view.generation), ("running", 2));
    assert_eq!(view.blade.as_deref(), Some("b1"));
    assert_eq!(blade_of(&state, "b1").state, "allocated");

    // A repeated report is stale now: the server is no longer starting.
    let err = refused(&mut state, running(ACME, "web", 2));
    let (object, remedy) = stale(2, 2, "starting");
    assert_invalid_transition(&err, &object, "running", &remedy);
}

#[test]
fn running_for_a_defined_or_stopping_server_is_refused() {
    let mut state = rack();
    let err = refused(&mut state, running(ACME, "web", 1));
    let (object, remedy) = stale(1, 1, "starting");
    assert_invalid_transition(&err, &object, "defined", &remedy);

    let mut state = stopping();
    let err = refused(&mut state, running(ACME, "web", 2));
    let (object, remedy) = stale(2, 2, "starting");
    assert_invalid_transition(&err, &object, "stopping", &remedy);
}

// ------------------------------------------------------------ start failed

#[test]
fn start_failure_marks_the_server_failed_and_frees_its_blade() {
    let mut state = started();
    let blade_free = {
        let mut view = blade_of(&state, "b1");
        view.state = "available".to_string();
        view.server = None;
        view
    };
    let err = refused(&mut state, start_failed(ACME, "web", 1, "PXE timeout"));
    let (object, remedy) = stale(1, 2, "starting");
    assert_invalid_transition(&err, &object, "starting", &remedy);

    let (outcome, events) = accepted(&mut state, start_failed(ACME, "web", 2, "PXE timeout"));
    assert_eq!(
        events,
        [event(
            &state,
            "server.start_failed",
            "server/acme/web",
            Some(ACME)
        )]
    );
    assert_eq!(
        state.audit(1)[0].command,
        "server start-failed acme/web generation=2 reason=\"PXE timeout\""
    );
    let view = server_view(outcome);
    assert_eq!(view.state, "failed");
    assert_eq!(view.last_error.as_deref(), Some("PXE timeout"));
    assert_eq!(view.blade, None);
    assert_eq!(view.generation, 2);
    assert_eq!(blade_of(&state, "b1"), blade_free);
    assert_eq!(state.blades[&bid(&state, "b1")].server, None);

    // A failed server is not running: a running report or a second failure is stale.
    let err = refused(&mut state, running(ACME, "web", 2));
    let (object, remedy) = stale(2, 2, "starting");
    assert_invalid_transition(&err, &object, "failed", &remedy);
    refused(&mut state, start_failed(ACME, "web", 2, "again"));
    // Nor can it be stopped, but it can be deleted.
    let err = refused(&mut state, stop(ACME, "web"));
    assert_invalid_transition(&err, WEB, "failed", "it is not running; nothing to stop");
}

#[test]
fn a_failed_server_starts_again_with_a_new_generation_and_no_error() {
    let mut state = started();
    ok(&mut state, start_failed(ACME, "web", 2, "PXE timeout"));
    let view = server_view(ok(&mut state, start(ACME, "web", None)));
    assert_eq!(view.state, "starting");
    assert_eq!(view.generation, 3);
    assert_eq!(view.last_error, None);
    assert_eq!(view.blade.as_deref(), Some("b1"));
    assert_eq!(blade_of(&state, "b1").server.as_deref(), Some("acme/web"));

    // Late reports about the failed placement change nothing.
    for command in [
        running(ACME, "web", 2),
        start_failed(ACME, "web", 2, "late"),
        stopped(ACME, "web", 2),
    ] {
        refused(&mut state, command);
    }
    let view = server_view(ok(&mut state, running(ACME, "web", 3)));
    assert_eq!((view.state.as_str(), view.generation), ("running", 3));
}

// ------------------------------------------------------------ stop

#[test]
fn stop_moves_a_running_server_to_stopping_and_repeating_it_is_a_no_op() {
    let mut state = up();
    let (outcome, events) = accepted(&mut state, stop(ACME, "web"));
    assert_eq!(
        events,
        [event(
            &state,
            "server.stopping",
            "server/acme/web",
            Some(ACME)
        )]
    );
    assert_eq!(state.audit(1)[0].command, "server stop acme/web");
    let view = server_view(outcome);
    assert_eq!(
        (view.state.as_str(), view.generation, view.blade.as_deref()),
        ("stopping", 2, Some("b1"))
    );
    assert_eq!(blade_of(&state, "b1").state, "allocated");

    // Again: accepted, no event, nothing but the audit changes.
    let before = without_audit(&state);
    let before_views = views(&state);
    let (outcome, events) = accepted(&mut state, stop(ACME, "web"));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(server_view(outcome), view);
    assert_eq!(without_audit(&state), before);
    assert_eq!(views(&state), before_views);
}

#[test]
fn stop_of_a_starting_server_makes_the_late_running_report_stale() {
    let mut state = started();
    let view = server_view(ok(&mut state, stop(ACME, "web")));
    assert_eq!((view.state.as_str(), view.generation), ("stopping", 2));
    let err = refused(&mut state, running(ACME, "web", 2));
    let (object, remedy) = stale(2, 2, "starting");
    assert_invalid_transition(&err, &object, "stopping", &remedy);
    refused(&mut state, start_failed(ACME, "web", 2, "late"));
    ok(&mut state, stopped(ACME, "web", 2));
}

#[test]
fn stop_of_a_defined_or_failed_server_has_nothing_to_stop() {
    let mut state = rack();
    let err = refused(&mut state, stop(ACME, "web"));
    assert_invalid_transition(&err, WEB, "defined", "it is not running; nothing to stop");

    let mut state = started();
    ok(&mut state, start_failed(ACME, "web", 2, "boom"));
    let err = refused(&mut state, stop(ACME, "web"));
    assert_invalid_transition(&err, WEB, "failed", "it is not running; nothing to stop");
}

#[test]
fn stopped_report_returns_the_server_to_defined_and_frees_its_blade() {
    let mut state = up();
    // Not stopping yet.
    let err = refused(&mut state, stopped(ACME, "web", 2));
    let (object, remedy) = stale(2, 2, "stopping");
    assert_invalid_transition(&err, &object, "running", &remedy);

    ok(&mut state, stop(ACME, "web"));
    for generation in [1, 3] {
        let err = refused(&mut state, stopped(ACME, "web", generation));
        let (object, remedy) = stale(generation, 2, "stopping");
        assert_invalid_transition(&err, &object, "stopping", &remedy);
    }
    let (outcome, events) = accepted(&mut state, stopped(ACME, "web", 2));
    assert_eq!(
        events,
        [event(
            &state,
            "server.stopped",
            "server/acme/web",
            Some(ACME)
        )]
    );
    assert_eq!(
        state.audit(1)[0].command,
        "server stopped acme/web generation=2"
    );
    let view = server_view(outcome);
    assert_eq!(
        (
            view.state.as_str(),
            view.generation,
            view.blade,
            view.last_error
        ),
        ("defined", 2, None, None)
    );
    let b1 = blade_of(&state, "b1");
    assert_eq!((b1.state.as_str(), b1.server), ("available", None));
    assert!(state.pending_server_work().is_empty());

    // Repeating the report is stale; starting again takes a new generation.
    refused(&mut state, stopped(ACME, "web", 2));
    let view = server_view(ok(&mut state, start(ACME, "web", None)));
    assert_eq!((view.state.as_str(), view.generation), ("starting", 3));
}

// ------------------------------------------------------------ delete and remove

#[test]
fn a_placed_server_cannot_be_deleted_until_it_has_stopped() {
    for (mut state, now) in [
        (started(), "starting"),
        (up(), "running"),
        (stopping(), "stopping"),
    ] {
        let err = refused(&mut state, delete_server(ACME, "web"));
        assert_in_use(
            &err,
            WEB,
            &format!("blade 'b1' (it is {now})"),
            "stop the server first",
        );
    }
    let mut state = stopping();
    ok(&mut state, stopped(ACME, "web", 2));
    ok(&mut state, delete_server(ACME, "web"));
    assert_eq!(blade_of(&state, "b1").server, None);

    // A failed server holds no blade and may be deleted.
    let mut state = started();
    ok(&mut state, start_failed(ACME, "web", 2, "boom"));
    ok(&mut state, delete_server(ACME, "web"));
}

#[test]
fn a_blade_hosting_a_server_cannot_be_removed() {
    for mut state in [started(), up(), stopping()] {
        let err = refused(&mut state, remove_blade("b1"));
        assert_in_use(
            &err,
            "blade 'b1'",
            "server acme/web",
            "stop or move the server first",
        );
    }
    let mut state = stopping();
    ok(&mut state, stopped(ACME, "web", 2));
    ok(&mut state, remove_blade("b1"));
    // The server stays defined and startable once a blade is back.
    let err = refused(&mut state, start(ACME, "web", None));
    assert_no_qualifying_blade(&err, WEB, "the fabric has no blades");
}

// ------------------------------------------------------------ blade power

#[test]
fn power_request_for_an_unknown_blade_is_not_found() {
    let mut state = rack();
    for action in [PowerAction::On, PowerAction::Off, PowerAction::Cycle] {
        for force in [false, true] {
            let err = refused(&mut state, power("nope", action, force));
            assert_not_found(&err, "blade 'nope'", "blade list");
        }
    }
}

#[test]
fn power_off_or_cycle_of_a_blade_hosting_a_server_needs_force() {
    for action in [PowerAction::Off, PowerAction::Cycle] {
        for mut state in [started(), up(), stopping()] {
            let err = refused(&mut state, power("b1", action, false));
            assert_in_use(
                &err,
                "blade 'b1'",
                "server acme/web",
                "stop the server first (`panctl server stop`), or pass --force",
            );
            assert!(err.to_string().contains("--force"));

            let servers = state.servers.clone();
            let (outcome, events) = accepted(&mut state, power("b1", action, true));
            assert_eq!(
                events,
                [event(
                    &state,
                    &format!("blade.power_{action}"),
                    "blade/b1",
                    None
                )]
            );
            assert_eq!(
                state.audit(1)[0].command,
                format!("blade power {action} b1 --force")
            );
            assert_eq!(outcome, Outcome::Blade(blade_of(&state, "b1")));
            // The request changes no placement: the controller reports back.
            assert_eq!(state.servers, servers);
            assert_eq!(blade_of(&state, "b1").server.as_deref(), Some("acme/web"));
        }
    }
}

#[test]
fn power_on_is_always_allowed_and_power_requests_change_no_records() {
    let mut state = up();
    for force in [false, true] {
        let before = without_audit(&state);
        let (_, events) = accepted(&mut state, power("b1", PowerAction::On, force));
        assert_eq!(events, [event(&state, "blade.power_on", "blade/b1", None)]);
        assert_eq!(without_audit(&state), before);
    }
    assert_eq!(state.audit(1)[0].command, "blade power on b1 --force");

    // A free blade takes every action without --force.
    ok(&mut state, blade("b2", None));
    for action in [PowerAction::Off, PowerAction::Cycle, PowerAction::On] {
        let before = without_audit(&state);
        let (outcome, events) = accepted(&mut state, power("b2", action, false));
        assert_eq!(
            events,
            [event(
                &state,
                &format!("blade.power_{action}"),
                "blade/b2",
                None
            )]
        );
        assert_eq!(
            state.audit(1)[0].command,
            format!("blade power {action} b2")
        );
        assert_eq!(outcome, Outcome::Blade(blade_of(&state, "b2")));
        assert_eq!(without_audit(&state), before);
    }
}

#[test]
fn power_request_for_a_retired_blade_is_refused() {
    let mut state = rack();
    set_blade_state(&mut state, "b1", BladeState::Retired);
    for action in [PowerAction::On, PowerAction::Off, PowerAction::Cycle] {
        let err = refused(&mut state, power("b1", action, true));
        assert_invalid_transition(
            &err,
            "blade 'b1'",
            "retired",
            "a retired blade is not powered; add it again to use it",
        );
    }
}

// ------------------------------------------------------------ observations

#[test]
fn observation_batch_naming_an_unknown_blade_is_refused_whole() {
    let mut state = rack();
    ok(&mut state, blade("b2", None));
    let err = refused(
        &mut state,
        observe(&[
            ("b1", PowerState::On, Health::Ok),
            ("nope", PowerState::Off, Health::Ok),
            ("b2", PowerState::On, Health::Critical),
        ]),
    );
    assert_not_found(&err, "blade 'nope'", "blade list");
    for name in ["b1", "b2"] {
        let view = blade_of(&state, name);
        assert_eq!(
            (view.power.as_str(), view.health.as_str()),
            ("unknown", "unknown")
        );
    }
}

#[test]
fn observations_update_views_and_emit_events_only_for_changed_blades() {
    let mut state = up();
    ok(&mut state, blade("b2", None));
    ok(&mut state, blade("b3", None));

    let (outcome, events) = accepted(
        &mut state,
        observe(&[
            ("b1", PowerState::On, Health::Ok),
            ("b2", PowerState::Off, Health::Warning),
            ("b3", PowerState::Unknown, Health::Unknown),
        ]),
    );
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(
        events,
        [
            event(&state, "blade.observed", "blade/b1", None),
            event(&state, "blade.observed", "blade/b2", None),
        ]
    );
    assert_eq!(
        state.audit(1)[0].command,
        "observe b1:on/ok b2:off/warning b3:unknown/unknown"
    );
    let reading = |state: &State, name: &str| {
        let view = blade_of(state, name);
        (view.power, view.health)
    };
    assert_eq!(reading(&state, "b1"), ("on".to_string(), "ok".to_string()));
    assert_eq!(
        reading(&state, "b2"),
        ("off".to_string(), "warning".to_string())
    );
    let b1 = bid(&state, "b1");
    assert_eq!(
        (state.blades[&b1].power, state.blades[&b1].health),
        (PowerState::On, Health::Ok)
    );

    // Only power changed on b1, only health on b2; b3 is the same.
    let (_, events) = accepted(
        &mut state,
        observe(&[
            ("b1", PowerState::PoweringOff, Health::Ok),
            ("b2", PowerState::Off, Health::Critical),
            ("b3", PowerState::Unknown, Health::Unknown),
        ]),
    );
    assert_eq!(
        events,
        [
            event(&state, "blade.observed", "blade/b1", None),
            event(&state, "blade.observed", "blade/b2", None),
        ]
    );
    assert_eq!(
        reading(&state, "b1"),
        ("powering_off".to_string(), "ok".to_string())
    );
    assert_eq!(
        reading(&state, "b2"),
        ("off".to_string(), "critical".to_string())
    );

    // The same readings again: accepted, no events, nothing but the audit changes.
    let before = without_audit(&state);
    let (_, events) = accepted(
        &mut state,
        observe(&[
            ("b1", PowerState::PoweringOff, Health::Ok),
            ("b2", PowerState::Off, Health::Critical),
        ]),
    );
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(without_audit(&state), before);
    // An empty batch too.
    let (outcome, events) = accepted(&mut state, observe(&[]));
    assert_eq!((outcome, events), (Outcome::Done, vec![]));
    assert_eq!(without_audit(&state), before);

    // Observations never move servers: web still runs on b1.
    assert_eq!(server_of(&state, ACME, "web").state, "running");
    assert_eq!(blade_of(&state, "b1").server.as_deref(), Some("acme/web"));
}

// ------------------------------------------------------------ controller queries

#[test]
fn pending_server_work_lists_exactly_the_starting_and_stopping_servers() {
    let mut state = with_partitions(&[ACME, "globex"]);
    for i in 1..=5 {
        ok(
            &mut state,
            blade(&format!("b{i}"), Some(facts("X1", 8 * i, 64))),
        );
    }
    make_volume(&mut state, "globex", "boot-b", 1 << 30);
    ok(&mut state, new_server(ACME, "a-defined", no_needs(), None));
    ok(
        &mut state,
        new_server("globex", "b-starting", no_needs(), Some("boot-b")),
    );
    ok(&mut state, new_server(ACME, "c-running", no_needs(), None));
    ok(&mut state, new_server(ACME, "d-stopping", no_needs(), None));
    ok(&mut state, new_server(ACME, "e-failed", no_needs(), None));
    ok(&mut state, start("globex", "b-starting", Some("b2")));
    ok(&mut state, start(ACME, "c-running", Some("b3")));
    let generation =
        |state: &State, name: &str| state.server(ACME, name).expect("created above").generation;
    let g = generation(&state, "c-running");
    ok(&mut state, running(ACME, "c-running", g));
    ok(&mut state, start(ACME, "d-stopping", Some("b4")));
    let g = generation(&state, "d-stopping");
    ok(&mut state, running(ACME, "d-stopping", g));
    ok(&mut state, stop(ACME, "d-stopping"));
    ok(&mut state, start(ACME, "e-failed", Some("b5")));
    let g = generation(&state, "e-failed");
    ok(&mut state, start_failed(ACME, "e-failed", g, "boom"));
    ok(&mut state, start(ACME, "e-failed", Some("b5")));
    let g = generation(&state, "e-failed");
    ok(&mut state, start_failed(ACME, "e-failed", g, "boom"));

    let work = |partition: &str, name: &str, state_: ServerState, blade: &str| {
        let view = server_of(&state, partition, name);
        ServerWork {
            partition: partition.to_string(),
            name: name.to_string(),
            state: state_,
            generation: view.generation,
            blade: blade.to_string(),
            blade_macs: state
                .blade(blade)
                .ok()
                .and_then(|b| b.facts)
                .map(|f| f.macs)
                .unwrap_or_default(),
            blade_id: BladeId(state.blade(blade).unwrap().id),
            volumes: volume_work(&state, partition, view.boot_volume.as_deref()),
            nics: nic_work(&view),
            identity: view.identity,
            boot_volume: view.boot_volume,
        }
    };
    let starting = work("globex", "b-starting", ServerState::Starting, "b2");
    assert_eq!(starting.boot_volume.as_deref(), Some("boot-b"));
    // Generation 2 went to the volume's create.
    assert_eq!(starting.generation, 3);
    assert_eq!(starting.identity.macs.len(), 2);
    let running_work = work(ACME, "c-running", ServerState::Running, "b3");
    let stopping_work = work(ACME, "d-stopping", ServerState::Stopping, "b4");
    assert_eq!(
        state.pending_server_work(),
        [starting.clone(), stopping_work.clone()]
    );

    // server_work is any placed server; placed_on looks it up by blade.
    assert_eq!(
        state.server_work(sid(&state, ACME, "c-running")),
        Some(running_work.clone())
    );
    assert_eq!(state.server_work(sid(&state, ACME, "a-defined")), None);
    assert_eq!(state.server_work(sid(&state, ACME, "e-failed")), None);
    assert_eq!(state.server_work(ServerId(9_999)), None);
    assert_eq!(state.placed_on("b2"), Some(starting));
    assert_eq!(state.placed_on("b3"), Some(running_work));
    assert_eq!(state.placed_on("b4"), Some(stopping_work));
    assert_eq!(state.placed_on("b1"), None);
    assert_eq!(state.placed_on("b5"), None);
    assert_eq!(state.placed_on("nope"), None);

    // Finishing the work empties the list.
    let g = state
        .server("globex", "b-starting")
        .expect("exists")
        .generation;
    ok(&mut state, running("globex", "b-starting", g));
    let g = generation(&state, "d-stopping");
    ok(&mut state, stopped(ACME, "d-stopping", g));
    assert!(state.pending_server_work().is_empty());
}

#[test]
fn bmc_targets_carry_the_password_and_skip_retired_blades() {
    let mut state = rack();
    ok(
        &mut state,
        Command::AddBlade {
            name: "b2".to_string(),
            bmc_url: url("b2"),
            bmc_user: "root".to_string(),
            bmc_password: Secret("other-Secret-42".to_string()),
            facts: None,
            pool: None,
        },
    );
    ok(&mut state, blade("b3", None));
    accepted(
        &mut state,
        observe(&[("b1", PowerState::On, Health::Warning)]),
    );
    let b1 = BmcTarget {
        blade: "b1".to_string(),
        url: url("b1"),
        user: "admin".to_string(),
        password: Secret(PASSWORD.to_string()),
        power: PowerState::On,
        health: Health::Warning,
    };
    let b2 = BmcTarget {
        blade: "b2".to_string(),
        url: url("b2"),
        user: "root".to_string(),
        password: Secret("other-Secret-42".to_string()),
        power: PowerState::Unknown,
        health: Health::Unknown,
    };
    let b3 = BmcTarget {
        blade: "b3".to_string(),
        url: url("b3"),
        user: "admin".to_string(),
        password: Secret(PASSWORD.to_string()),
        power: PowerState::Unknown,
        health: Health::Unknown,
    };
    assert_eq!(state.bmc_targets(), [b1.clone(), b2.clone(), b3.clone()]);
    assert_eq!(state.bmc_target("b2"), Ok(b2.clone()));
    assert!(!format!("{:?}", state.bmc_targets()).contains("other-Secret-42"));
    assert!(!format!("{:?}", state.bmc_targets()).contains(PASSWORD));

    set_blade_state(&mut state, "b2", BladeState::Retired);
    assert_eq!(state.bmc_targets(), [b1.clone(), b3]);
    ok(&mut state, remove_blade("b3"));
    assert_eq!(state.bmc_targets(), std::slice::from_ref(&b1));
    assert_not_found(
        &state.bmc_target("b3").unwrap_err(),
        "blade 'b3'",
        "blade list",
    );
    assert_not_found(
        &state.bmc_target("nope").unwrap_err(),
        "blade 'nope'",
        "blade list",
    );
    assert_eq!(state.bmc_target("b1"), Ok(b1));
}

// ------------------------------------------------------------ property tests

const P_PARTITIONS: [&str; 2] = ["p0", "p1"];
const P_SERVERS: [&str; 4] = ["s0", "s1", "s2", "s3"];
/// The blades of the random rack; `a4` ties with `b0` but sorts first by
/// name and comes later by id. `ghost` is never added.
const P_BLADES: [&str; 6] = ["b0", "b1", "b2", "b3", "a4", "ghost"];

fn rack_facts(blade: &str) -> Option<BladeFacts> {
    match blade {
        "b0" | "a4" => Some(facts("X1", 16, 64)),
        "b1" => Some(facts("X1", 32, 256)),
        "b2" => Some(facts("X2", 8, 32)),
        _ => None,
    }
}

fn requirement(i: usize) -> Qualification {
    match i {
        0 => no_needs(),
        1 => needs(Some("X1"), 0, 0),
        2 => needs(None, 16, 0),
        3 => needs(None, 0, 128),
        _ => needs(None, 1_000, 0),
    }
}

/// Which generation a report names, relative to the server's current one.
#[derive(Clone, Copy, Debug)]
enum Gen {
    Current,
    Stale,
    Next,
}

/// A random step; reports are resolved against the state when applied.
#[derive(Clone, Debug)]
enum Op {
    Create(usize, usize, usize),
    Delete(usize, usize),
    Start(usize, usize, Option<usize>),
    Running(usize, usize, Gen),
    StartFailed(usize, usize, Gen),
    Stop(usize, usize),
    Stopped(usize, usize, Gen),
    Observe(Vec<(usize, PowerState, Health)>),
    Power(usize, PowerAction, bool),
    AddBlade(usize),
    RemoveBlade(usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    let server = (0..P_SERVERS.len(), 0..P_PARTITIONS.len());
    let blade = 0..P_BLADES.len();
    let generation =
        prop_oneof![6 => Just(Gen::Current), 1 => Just(Gen::Stale), 1 => Just(Gen::Next)];
    let power_state = prop::sample::select(vec![
        PowerState::On,
        PowerState::Off,
        PowerState::PoweringOn,
        PowerState::Unknown,
    ]);
    let health = prop::sample::select(vec![
        Health::Ok,
        Health::Ok,
        Health::Warning,
        Health::Critical,
    ]);
    let action = prop::sample::select(vec![PowerAction::On, PowerAction::Off, PowerAction::Cycle]);
    prop_oneof![
        4 => (server.clone(), 0..5usize).prop_map(|((s, p), q)| Op::Create(s, p, q)),
        1 => server.clone().prop_map(|(s, p)| Op::Delete(s, p)),
        6 => (server.clone(), prop::option::weighted(0.3, blade.clone()))
            .prop_map(|((s, p), b)| Op::Start(s, p, b)),
        4 => (server.clone(), generation.clone()).prop_map(|((s, p), g)| Op::Running(s, p, g)),
        2 => (server.clone(), generation.clone()).prop_map(|((s, p), g)| Op::StartFailed(s, p, g)),
        3 => server.clone().prop_map(|(s, p)| Op::Stop(s, p)),
        3 => (server, generation).prop_map(|((s, p), g)| Op::Stopped(s, p, g)),
        2 => prop::collection::vec((blade.clone(), power_state, health), 0..4).prop_map(Op::Observe),
        2 => (blade.clone(), action, any::<bool>()).prop_map(|(b, a, f)| Op::Power(b, a, f)),
        1 => blade.clone().prop_map(Op::AddBlade),
        1 => blade.prop_map(Op::RemoveBlade),
    ]
}

fn lifecycle_setup() -> Vec<Command> {
    let mut commands = vec![partition("p0"), partition("p1")];
    for name in &P_BLADES[..5] {
        commands.push(blade(name, rack_facts(name)));
    }
    commands
}

/// The command `op` stands for in `state`.
fn resolve(state: &State, op: &Op) -> Command {
    let name = |s: usize, p: usize| (P_PARTITIONS[p], P_SERVERS[s]);
    let generation = |s: usize, p: usize, g: Gen| {
        let (partition, name) = name(s, p);
        let current = state.server(partition, name).map_or(1, |v| v.generation);
        match g {
            Gen::Current => current,
            Gen::Stale => current - 1,
            Gen::Next => current + 1,
        }
    };
    match op {
        Op::Create(s, p, q) => new_server(P_PARTITIONS[*p], P_SERVERS[*s], requirement(*q), None),
        Op::Delete(s, p) => delete_server(P_PARTITIONS[*p], P_SERVERS[*s]),
        Op::Start(s, p, b) => start(P_PARTITIONS[*p], P_SERVERS[*s], b.map(|b| P_BLADES[b])),
        Op::Running(s, p, g) => running(P_PARTITIONS[*p], P_SERVERS[*s], generation(*s, *p, *g)),
        Op::StartFailed(s, p, g) => start_failed(
            P_PARTITIONS[*p],
            P_SERVERS[*s],
            generation(*s, *p, *g),
            "no agent report",
        ),
        Op::Stop(s, p) => stop(P_PARTITIONS[*p], P_SERVERS[*s]),
        Op::Stopped(s, p, g) => stopped(P_PARTITIONS[*p], P_SERVERS[*s], generation(*s, *p, *g)),
        Op::Observe(readings) => Command::ObserveBlades {
            observations: readings
                .iter()
                .map(|(b, power, health)| BladeObservation {
                    blade: P_BLADES[*b].to_string(),
                    power: *power,
                    health: *health,
                })
                .collect(),
        },
        Op::Power(b, action, force) => power(P_BLADES[*b], *action, *force),
        Op::AddBlade(b) => blade(P_BLADES[*b], rack_facts(P_BLADES[*b])),
        Op::RemoveBlade(b) => remove_blade(P_BLADES[*b]),
    }
}

// ------------------------------------------------------------ the model

/// Whether `blade` may run `server` now, decided independently of `unfit`.
fn model_fits(state: &State, blade: BladeId, server: ServerId) -> bool {
    let b = &state.blades[&blade];
    let q = &state.servers[&server].requirements;
    b.state == BladeState::Available
        && b.server.is_none()
        && b.health != Health::Critical
        && b.facts.as_ref().is_some_and(|f| {
            q.model.as_ref().is_none_or(|m| *m == f.model)
                && f.cores >= q.min_cores
                && f.memory_gib >= q.min_memory_gib
        })
}

/// The best fit: fewest cores, then least memory, then name.
fn model_best(state: &State, server: ServerId) -> Option<BladeId> {
    state
        .blades
        .values()
        .filter(|b| model_fits(state, b.id, server))
        .min_by_key(|b| {
            let f = b.facts.as_ref().unwrap();
            (f.cores, f.memory_gib, b.name.clone())
        })
        .map(|b| b.id)
}

fn lookup_server(state: &State, partition: &str, name: &str) -> Option<ServerId> {
    let pid = state.partition_id(partition).ok()?;
    state.server_id(pid, partition, name).ok()
}

/// Whether the model accepts `command` in `state`; `None` for commands the
/// model does not judge (creations).
fn model_accepts(state: &State, command: &Command) -> Option<bool> {
    let server = |partition: &str, name: &str| {
        lookup_server(state, partition, name).map(|id| &state.servers[&id])
    };
    let report = |partition: &str, name: &str, generation: u64, expect: ServerState| {
        server(partition, name).is_some_and(|s| s.generation == generation && s.state == expect)
    };
    Some(match command {
        Command::StartServer {
            name,
            partition,
            blade,
        } => match server(partition, name) {
            Some(s) if matches!(s.state, ServerState::Defined | ServerState::Failed) => match blade
            {
                None => model_best(state, s.id).is_some(),
                Some(b) => state
                    .index
                    .blade_by_name
                    .get(b)
                    .is_some_and(|b| model_fits(state, *b, s.id)),
            },
            _ => false,
        },
        Command::ServerRunning {
            name,
            partition,
            generation,
        } => report(partition, name, *generation, ServerState::Starting),
        Command::ServerStartFailed {
            name,
            partition,
            generation,
            ..
        } => report(partition, name, *generation, ServerState::Starting),
        Command::ServerStopped {
            name,
            partition,
            generation,
        } => report(partition, name, *generation, ServerState::Stopping),
        Command::StopServer { name, partition } => server(partition, name).is_some_and(|s| {
            matches!(
                s.state,
                ServerState::Starting | ServerState::Running | ServerState::Stopping
            )
        }),
        Command::DeleteServer { name, partition } => {
            server(partition, name).is_some_and(|s| s.blade.is_none())
        }
        Command::RemoveBlade { name } => state
            .index
            .blade_by_name
            .get(name)
            .is_some_and(|b| state.blades[b].server.is_none()),
        Command::BladePower {
            blade,
            action,
            force,
        } => state.index.blade_by_name.get(blade).is_some_and(|b| {
            let b = &state.blades[b];
            b.state != BladeState::Retired
                && (b.server.is_none() || *action == PowerAction::On || *force)
        }),
        Command::ObserveBlades { observations } => observations
            .iter()
            .all(|o| state.index.blade_by_name.contains_key(&o.blade)),
        _ => return None,
    })
}

/// The (kind, object, partition) of the events an accepted `command` emits.
fn model_events(state: &State, command: &Command) -> Vec<(String, String, Option<String>)> {
    let on_server = |kind: &str, partition: &str, name: &str| {
        vec![(
            kind.to_string(),
            format!("server/{partition}/{name}"),
            Some(partition.to_string()),
        )]
    };
    let on_blade = |kind: String, blade: &str| vec![(kind, format!("blade/{blade}"), None)];
    match command {
        Command::CreatePartition { name, .. } => vec![(
            "partition.created".to_string(),
            format!("partition/{name}"),
            Some(name.clone()),
        )],
        Command::CreateServer {
            name, partition, ..
        } => on_server("server.created", partition, name),
        Command::DeleteServer { name, partition } => on_server("server.deleted", partition, name),
        Command::StartServer {
            name, partition, ..
        } => on_server("server.starting", partition, name),
        Command::ServerRunning {
            name, partition, ..
        } => on_server("server.running", partition, name),
        Command::ServerStartFailed {
            name, partition, ..
        } => on_server("server.start_failed", partition, name),
        Command::StopServer { name, partition } => {
            let id = lookup_server(state, partition, name).expect("accepted");
            if state.servers[&id].state == ServerState::Stopping {
                vec![]
            } else {
                on_server("server.stopping", partition, name)
            }
        }
        Command::ServerStopped {
            name, partition, ..
        } => on_server("server.stopped", partition, name),
        Command::AddBlade { name, .. } => on_blade("blade.added".to_string(), name),
        Command::RemoveBlade { name } => on_blade("blade.removed".to_string(), name),
        Command::BladePower { blade, action, .. } => {
            on_blade(format!("blade.power_{action}"), blade)
        }
        Command::ObserveBlades { observations } => {
            let mut last: BTreeMap<&str, (PowerState, Health)> = BTreeMap::new();
            let mut events = Vec::new();
            for o in observations {
                let id = state.index.blade_by_name[&o.blade];
                let b = &state.blades[&id];
                let now = last
                    .get(o.blade.as_str())
                    .copied()
                    .unwrap_or((b.power, b.health));
                if now != (o.power, o.health) {
                    events.extend(on_blade("blade.observed".to_string(), &o.blade));
                }
                last.insert(o.blade.as_str(), (o.power, o.health));
            }
            events
        }
        other => panic!("the random sequences do not issue {other}"),
    }
}

/// What an accepted lifecycle command must have done to its server.
fn check_transition(before: &State, after: &State, command: &Command) -> Result<(), TestCaseError> {
    let server = |partition: &str, name: &str| {
        let id = lookup_server(before, partition, name).expect("accepted");
        (before.servers[&id].clone(), after.servers[&id].clone())
    };
    let freed = |blade: Option<BladeId>| -> Result<(), TestCaseError> {
        let b = &after.blades[&blade.expect("was placed")];
        prop_assert_eq!((b.state, b.server), (BladeState::Available, None));
        Ok(())
    };
    match command {
        Command::StartServer {
            name,
            partition,
            blade,
        } => {
            let (old, new) = server(partition, name);
            let want = match blade {
                Some(b) => before.index.blade_by_name[b],
                None => model_best(before, old.id).expect("accepted"),
            };
            prop_assert_eq!(new.state, ServerState::Starting);
            // Generations are global: above every earlier placement's.
            prop_assert_eq!(
                new.generation,
                before.next_generation.max(old.generation + 1)
            );
            prop_assert_eq!(new.blade, Some(want));
            prop_assert_eq!(&new.last_error, &None);
            prop_assert_eq!(before.choose_blade(old.id).ok(), model_best(before, old.id));
        }
        Command::ServerRunning {
            name, partition, ..
        } => {
            let (old, new) = server(partition, name);
            prop_assert_eq!(new.state, ServerState::Running);
            prop_assert_eq!((new.generation, new.blade), (old.generation, old.blade));
        }
        Command::ServerStartFailed {
            name,
            partition,
            reason,
            ..
        } => {
            let (old, new) = server(partition, name);
            prop_assert_eq!(new.state, ServerState::Failed);
            prop_assert_eq!((new.generation, new.blade), (old.generation, None));
            prop_assert_eq!(new.last_error.as_ref(), Some(reason));
            freed(old.blade)?;
        }
        Command::StopServer { name, partition } => {
            let (old, new) = server(partition, name);
            prop_assert_eq!(new.state, ServerState::Stopping);
            prop_assert_eq!((new.generation, new.blade), (old.generation, old.blade));
        }
        Command::ServerStopped {
            name, partition, ..
        } => {
            let (old, new) = server(partition, name);
            prop_assert_eq!(new.state, ServerState::Defined);
            prop_assert_eq!((new.generation, new.blade), (old.generation, None));
            freed(old.blade)?;
        }
        Command::BladePower { .. } => {
            prop_assert_eq!(&without_audit(after), &without_audit(before));
        }
        Command::ObserveBlades { observations } => {
            prop_assert_eq!(&after.servers, &before.servers);
            for o in observations {
                // The last reading of each blade in the batch wins.
                let last = observations
                    .iter()
                    .rev()
                    .find(|x| x.blade == o.blade)
                    .unwrap();
                let b = &after.blades[&after.index.blade_by_name[&o.blade]];
                prop_assert_eq!((b.power, b.health), (last.power, last.health));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The placement invariants, on records, views and controller queries.
fn check_placement(
    state: &State,
    generations: &mut BTreeMap<ServerId, u64>,
) -> Result<(), TestCaseError> {
    for s in state.servers.values() {
        let placed = matches!(
            s.state,
            ServerState::Starting | ServerState::Running | ServerState::Stopping
        );
        prop_assert_eq!(
            s.blade.is_some(),
            placed,
            "server {} is {}",
            &s.name,
            s.state
        );
        if let Some(b) = s.blade {
            let blade = state.blades.get(&b);
            prop_assert!(blade.is_some(), "server {} is on a removed blade", &s.name);
            prop_assert_eq!(blade.unwrap().server, Some(s.id));
        }
        prop_assert_eq!(s.last_error.is_some(), s.state == ServerState::Failed);
        prop_assert!(s.generation >= 1);
        if let Some(previous) = generations.insert(s.id, s.generation) {
            prop_assert!(
                previous <= s.generation,
                "generation of {} went from {} to {}",
                &s.name,
                previous,
                s.generation
            );
        }
    }
    for b in state.blades.values() {
        if let Some(s) = b.server {
            let server = state.servers.get(&s);
            prop_assert!(server.is_some(), "blade {} hosts a deleted server", &b.name);
            prop_assert_eq!(server.unwrap().blade, Some(b.id));
        }
        prop_assert_eq!(
            b.state == BladeState::Allocated,
            b.server.is_some(),
            "blade {}",
            &b.name
        );
    }

    // The same through the views: ServerView.blade ⇔ BladeView.server.
    let servers = state.servers(None).unwrap();
    let blades = state.blades(None).unwrap();
    let by_path: BTreeMap<String, &ServerView> = servers
        .iter()
        .map(|s| (format!("{}/{}", s.partition, s.name), s))
        .collect();
    let mut on_blades = BTreeSet::new();
    let mut uuids = HashSet::new();
    let mut macs = HashSet::new();
    for b in &blades {
        prop_assert_eq!(b.state == "allocated", b.server.is_some());
        if let Some(path) = &b.server {
            prop_assert!(on_blades.insert(path.clone()), "{} on two blades", path);
            let s = by_path.get(path);
            prop_assert!(s.is_some(), "blade {} hosts unknown {}", &b.name, path);
            let s = s.unwrap();
            prop_assert_eq!(s.blade.as_ref(), Some(&b.name));
            prop_assert!(
                uuids.insert(s.identity.uuid.clone()),
                "identity on two blades"
            );
            for mac in &s.identity.macs {
                prop_assert!(macs.insert(mac.clone()), "MAC {} on two blades", mac);
            }
        }
    }
    for s in &servers {
        let path = format!("{}/{}", s.partition, s.name);
        prop_assert_eq!(s.blade.is_some(), on_blades.contains(&path), "{}", &path);
        prop_assert_eq!(
            s.blade.is_some(),
            matches!(s.state.as_str(), "starting" | "running" | "stopping")
        );
    }

    // Controller queries agree with the views.
    let work = |s: &ServerView, state_: ServerState| ServerWork {
        partition: s.partition.clone(),
        name: s.name.clone(),
        state: state_,
        generation: s.generation,
        blade: s.blade.clone().unwrap(),
        blade_macs: state
            .blade(s.blade.as_deref().unwrap())
            .ok()
            .and_then(|b| b.facts)
            .map(|f| f.macs)
            .unwrap_or_default(),
        identity: s.identity.clone(),
        boot_volume: s.boot_volume.clone(),
        blade_id: BladeId(state.blade(s.blade.as_deref().unwrap()).unwrap().id),
        volumes: volume_work(state, &s.partition, s.boot_volume.as_deref()),
        nics: nic_work(s),
    };
    let pending: Vec<ServerWork> = state
        .servers
        .values()
        .zip(&servers)
        .filter(|(s, _)| matches!(s.state, ServerState::Starting | ServerState::Stopping))
        .map(|(s, view)| work(view, s.state))
        .collect();
    prop_assert_eq!(state.pending_server_work(), pending);
    for b in &blades {
        let expected = b.server.as_ref().map(|path| {
            let view = by_path[path];
            let id = ServerId(view.id);
            work(view, state.servers[&id].state)
        });
        prop_assert_eq!(state.placed_on(&b.name), expected);
    }
    // The planner agrees with the model for every server.
    for id in state.servers.keys() {
        prop_assert_eq!(state.choose_blade(*id).ok(), model_best(state, *id));
    }
    let targets = state.bmc_targets();
    prop_assert_eq!(targets.len(), state.blades.len());
    for (t, b) in targets.iter().zip(state.blades.values()) {
        prop_assert_eq!(&t.blade, &b.name);
        prop_assert_eq!(&t.password, &state.credentials[&b.bmc.credential]);
        prop_assert_eq!((t.power, t.health), (b.power, b.health));
        prop_assert_eq!(Ok(t.clone()), state.bmc_target(&b.name));
    }
    Ok(())
}

/// A snapshot restores to an equal state that answers every query the same.
fn check_snapshot(state: &State) -> Result<(), TestCaseError> {
    let bytes = serde_json::to_vec(state).unwrap();
    let mut restored: State = serde_json::from_slice(&bytes).unwrap();
    restored.reindex();
    prop_assert_eq!(&restored, state);
    prop_assert_eq!(normalized_index(&restored), normalized_index(state));
    prop_assert_eq!(views(&restored), views(state));
    prop_assert_eq!(restored.pending_server_work(), state.pending_server_work());
    prop_assert_eq!(restored.bmc_targets(), state.bmc_targets());
    for id in state.servers.keys() {
        prop_assert_eq!(restored.choose_blade(*id), state.choose_blade(*id));
    }
    Ok(())
}

/// What a sequence reached, for the generator guard.
#[derive(Default)]
struct Reached {
    events: BTreeSet<String>,
    errors: BTreeSet<String>,
}

/// Applies `ops` after the setup to a fresh state and its twin, checking
/// every step against the model and the invariants.
fn run_lifecycle(ops: &[Op]) -> Result<Reached, TestCaseError> {
    let mut state = State::default();
    let mut twin = State::default();
    let mut generations = BTreeMap::new();
    let mut reached = Reached::default();
    let setup = lifecycle_setup();
    let steps = setup.len() + ops.len();
    for i in 0..steps {
        let command = match i.checked_sub(setup.len()) {
            None => setup[i].clone(),
            Some(j) => resolve(&state, &ops[j]),
        };
        let index = i as u64 + 1;
        let envelope = Envelope {
            principal: OPERATOR.into(),
            at_ms: at_ms(index),
            command: command.into(),
        };
        let command = &envelope.command;
        let before = state.clone();
        let applied = state.apply(index, &envelope);
        let applied_twin = twin.apply(index, &envelope);
        prop_assert_eq!(&applied.result, &applied_twin.result);
        prop_assert_eq!(&applied.events, &applied_twin.events);

        let record = &state.audit(1)[0];
        prop_assert_eq!(
            record,
            &AuditRecord {
                index,
                at_ms: at_ms(index),
                principal: OPERATOR.to_string(),
                command: command.to_string(),
                error: applied.result.as_ref().err().map(ToString::to_string),
                partition: command.partition().map(str::to_string),
            }
        );
        if let Some(expected) = model_accepts(&before, command) {
            prop_assert_eq!(
                applied.result.is_ok(),
                expected,
                "`{}` gave {:?}",
                command,
                &applied.result
            );
        }
        match &applied.result {
            Ok(_) => {
                let events: Vec<_> = applied
                    .events
                    .iter()
                    .map(|e| {
                        prop_assert_eq!((e.index, e.at_ms), (index, at_ms(index)));
                        Ok((e.kind.clone(), e.object.clone(), e.partition.clone()))
                    })
                    .collect::<Result<_, TestCaseError>>()?;
                prop_assert_eq!(&events, &model_events(&before, command), "`{}`", command);
                check_transition(&before, &state, command)?;
                reached.events.extend(events.into_iter().map(|e| e.0));
            }
            Err(e) => {
                prop_assert!(applied.events.is_empty());
                prop_assert_eq!(
                    &without_audit(&state),
                    &without_audit(&before),
                    "refused `{}` changed the state",
                    command
                );
                prop_assert_eq!(normalized_index(&state), normalized_index(&before));
                prop_assert_eq!(views(&state), views(&before));
                let kind = format!("{e:?}");
                reached
                    .errors
                    .insert(kind.split([' ', '{']).next().unwrap().to_string());
            }
        }
        check_invariants(&state)?;
        check_placement(&state, &mut generations)?;
        check_snapshot(&state)?;
    }
    prop_assert_eq!(&state, &twin);
    prop_assert_eq!(
        serde_json::to_vec(&state).unwrap(),
        serde_json::to_vec(&twin).unwrap()
    );
    Ok(reached)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_lifecycles_keep_placement_invariants_and_are_deterministic(
        ops in prop::collection::vec(arb_op(), 1..150),
    ) {
        run_lifecycle(&ops)?;
    }
}

#[test]
fn random_lifecycles_do_reach_the_interesting_cases() {
    // Guards the generator: a fixed-seed sample must drive servers through
    // every transition and hit every kind of refusal.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut events = BTreeSet::new();
    let mut errors = BTreeSet::new();
    for _ in 0..16 {
        let ops = prop::collection::vec(arb_op(), 100..150)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let reached = run_lifecycle(&ops).unwrap_or_else(|e| panic!("{e}"));
        events.extend(reached.events);
        errors.extend(reached.errors);
    }
    for kind in [
        "server.starting",
        "server.running",
        "server.start_failed",
        "server.stopping",
        "server.stopped",
        "server.deleted",
        "blade.observed",
        "blade.power_on",
        "blade.power_off",
        "blade.power_cycle",
        "blade.removed",
    ] {
        assert!(events.contains(kind), "{kind} never happened: {events:?}");
    }
    for kind in [
        "InvalidTransition",
        "NoQualifyingBlade",
        "InUse",
        "NotFound",
    ] {
        assert!(errors.contains(kind), "{kind} never happened: {errors:?}");
    }
}

/// The volumes of a server's work record, built from views.
fn volume_work(state: &State, partition: &str, boot: Option<&str>) -> Vec<VolumeWork> {
    boot.map(|name| VolumeWork {
        id: pan_api::VolumeId(state.volume(partition, name).unwrap().id),
        name: name.to_string(),
    })
    .into_iter()
    .collect()
}

/// The vNICs of a server's work record, built from its view.
fn nic_work(view: &ServerView) -> Vec<NicWork> {
    view.nics
        .iter()
        .map(|n| NicWork {
            mac: n.mac.clone(),
            vni: n.network_id,
        })
        .collect()
}
