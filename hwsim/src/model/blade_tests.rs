//! Pure tests of the blade state machine: reset transitions, boot timing,
//! boot override capture, kill, open-loop power, PATCH validation.

use super::*;
use crate::model::BootTarget;
use serde_json::json;

const BOOT: Duration = Duration::from_millis(300);
const SHUTDOWN: Duration = Duration::from_millis(100);
const MS: Duration = Duration::from_millis(1);

fn model() -> BladeModel {
    BladeModel::new(Timing {
        boot_delay: BOOT,
        shutdown_delay: SHUTDOWN,
    })
}

fn path(t: &Transition) -> Vec<(PowerState, PowerState, String)> {
    t.changes
        .iter()
        .map(|c| (c.from, c.to, c.cause.to_string()))
        .collect()
}

fn started(t: &Transition) -> Vec<u64> {
    t.effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartOs { epoch, .. } => Some(*epoch),
            _ => None,
        })
        .collect()
}

fn stopped(t: &Transition) -> Vec<u64> {
    t.effects
        .iter()
        .filter_map(|e| match e {
            Effect::StopOs { epoch } => Some(*epoch),
            _ => None,
        })
        .collect()
}

/// Powers on at `t0` and completes the boot.
fn booted(t0: Instant) -> BladeModel {
    let mut m = model();
    m.reset(ResetType::On, t0);
    m.advance(t0 + BOOT);
    assert_eq!(m.power(), PowerState::On);
    m
}

#[test]
fn on_powers_on_then_boots_after_the_delay() {
    use PowerState::*;
    let t0 = Instant::now();
    let mut m = model();
    let t = m.reset(ResetType::On, t0);
    assert_eq!(path(&t), [(Off, PoweringOn, "On".to_owned())]);
    assert!(t.effects.contains(&Effect::Wake(t0 + BOOT)));
    assert_eq!(m.next_deadline(), Some(t0 + BOOT));

    assert!(m.advance(t0 + BOOT - MS).is_empty(), "not before the delay");
    let t = m.advance(t0 + BOOT);
    assert_eq!(path(&t), [(PoweringOn, On, "boot".to_owned())]);
    assert_eq!(t.changes[0].at, t0 + BOOT);
    assert_eq!(started(&t), [1]);
    assert!(m.os_running() && m.is_current_os(1));
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn late_advance_applies_events_at_their_due_time() {
    let t0 = Instant::now();
    let mut m = model();
    m.reset(ResetType::On, t0);
    let t = m.advance(t0 + Duration::from_secs(10));
    assert_eq!(t.changes[0].at, t0 + BOOT);
}

#[test]
fn on_is_idempotent_while_powered() {
    let t0 = Instant::now();
    let mut m = model();
    m.reset(ResetType::On, t0);
    assert!(m.reset(ResetType::On, t0 + MS).is_empty(), "PoweringOn");
    let mut m = booted(t0);
    assert!(m.reset(ResetType::On, t0 + BOOT).is_empty(), "On");
    assert_eq!(m.epoch(), 1);
}

#[test]
fn force_off_is_immediate_and_stops_the_os() {
    use PowerState::*;
    let t0 = Instant::now();
    let mut m = booted(t0);
    let t = m.reset(ResetType::ForceOff, t0 + BOOT + MS);
    assert_eq!(path(&t), [(On, Off, "ForceOff".to_owned())]);
    assert_eq!(stopped(&t), [1]);
    assert!(!m.os_running() && !m.is_current_os(1));
    assert!(
        m.reset(ResetType::ForceOff, t0 + BOOT + MS).is_empty(),
        "already off"
    );
}

#[test]
fn force_off_during_boot_cancels_the_boot() {
    let t0 = Instant::now();
    let mut m = model();
    m.reset(ResetType::On, t0);
    let t = m.reset(ResetType::ForceOff, t0 + MS);
    assert!(stopped(&t).is_empty(), "no OS was running yet");
    assert_eq!(m.next_deadline(), None);
    assert!(m.advance(t0 + BOOT).is_empty());
    assert_eq!(m.power(), PowerState::Off);
}

#[test]
fn graceful_shutdown_powers_off_after_the_delay() {
    use PowerState::*;
    let t0 = Instant::now();
    let mut m = booted(t0);
    let t1 = t0 + BOOT;
    let t = m.reset(ResetType::GracefulShutdown, t1);
    assert_eq!(path(&t), [(On, PoweringOff, "GracefulShutdown".to_owned())]);
    assert!(m.os_running(), "the OS runs until power is off");
    let t = m.advance(t1 + SHUTDOWN);
    assert_eq!(
        path(&t),
        [(PoweringOff, Off, "GracefulShutdown".to_owned())]
    );
    assert_eq!(stopped(&t), [1]);
}

#[test]
fn on_during_shutdown_completes_it_and_powers_on() {
    use PowerState::*;
    let t0 = Instant::now();
    let mut m = booted(t0);
    m.reset(ResetType::GracefulShutdown, t0 + BOOT);
    let t = m.reset(ResetType::On, t0 + BOOT + MS);
    assert_eq!(
        path(&t),
        [
            (PoweringOff, Off, "On".to_owned()),
            (Off, PoweringOn, "On".to_owned())
        ]
    );
    assert_eq!(stopped(&t), [1]);
    // The old shutdown timer must not power off the new boot.
    let t = m.advance(t0 + BOOT + SHUTDOWN);
    assert!(t.changes.is_empty());
    let t = m.advance(t0 + BOOT + MS + BOOT);
    assert_eq!(started(&t), [2]);
}

#[test]
fn restart_records_off_then_on_and_starts_a_new_epoch() {
    use PowerState::*;
    for reset in [ResetType::ForceRestart, ResetType::PowerCycle] {
        let t0 = Instant::now();
        let mut m = booted(t0);
        let t = m.reset(reset, t0 + BOOT);
        let r = reset.to_string();
        assert_eq!(
            path(&t),
            [(On, Off, r.clone()), (Off, PoweringOn, r.clone())]
        );
        assert_eq!(stopped(&t), [1]);
        let t = m.advance(t0 + BOOT + BOOT);
        assert_eq!(started(&t), [2]);
        assert!(!m.is_current_os(1) && m.is_current_os(2));
    }
    // From Off, a restart powers on.
    let mut m = model();
    let t = m.reset(ResetType::ForceRestart, Instant::now());
    assert_eq!(path(&t), [(Off, PoweringOn, "ForceRestart".to_owned())]);
}

#[test]
fn boot_override_is_captured_at_power_on_and_once_resets() {
    let t0 = Instant::now();
    let mut m = model();
    m.patch_system(
        &json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}),
    )
    .unwrap();
    m.reset(ResetType::On, t0);
    assert_eq!(
        m.boot().enabled,
        BootOverrideEnabled::Disabled,
        "Once is consumed"
    );
    // A PATCH during the boot does not change this boot.
    m.patch_system(&json!({"Boot": {"BootSourceOverrideTarget": "Hdd"}}))
        .unwrap();
    let t = m.advance(t0 + BOOT);
    match &t.effects[..] {
        [Effect::StartOs { boot, .. }] => {
            assert_eq!(boot.target, BootTarget::Pxe);
            assert_eq!(boot.enabled, BootOverrideEnabled::Once);
            assert_eq!(boot.effective_target(), BootTarget::Pxe);
        }
        other => panic!("expected one StartOs, got {other:?}"),
    }
}

#[test]
fn patch_validation_is_all_or_nothing() {
    let mut m = model();
    let before = m.clone();
    let err = m
        .patch_system(&json!({"Boot": {"BootSourceOverrideTarget": "Floppy"}, "PowerState": "On"}))
        .unwrap_err();
    assert_eq!(err.status, 400);
    let mut ids = err.message_ids();
    ids.sort();
    assert_eq!(
        ids,
        [
            "Base.1.8.PropertyNotWritable",
            "Base.1.8.PropertyValueNotInList"
        ]
    );
    assert_eq!(m, before);
    assert_eq!(
        m.patch_system(&json!({"Nope": 1})).unwrap_err().code(),
        "Base.1.8.PropertyUnknown"
    );
    assert_eq!(
        m.patch_system(&json!([1])).unwrap_err().code(),
        "Base.1.8.MalformedJSON"
    );
    assert_eq!(m.patch_system(&json!({})), Ok(false));
    assert_eq!(
        m.patch_system(&json!({"Boot": {"BootSourceOverrideMode": "UEFI"}})),
        Ok(false),
        "same value is not a change"
    );
}

#[test]
fn kill_cuts_power_and_keeps_the_blade_off_until_cleared() {
    use PowerState::*;
    let t0 = Instant::now();
    let mut m = booted(t0);
    let t1 = t0 + BOOT;
    let t = m.apply_fault(&FaultAction::Kill, t1);
    assert_eq!(path(&t), [(On, Off, "kill".to_owned())]);
    assert_eq!(stopped(&t), [1]);
    assert!(
        m.reset(ResetType::On, t1).is_empty(),
        "a dead blade does not power on"
    );
    assert!(m.reset(ResetType::PowerCycle, t1).is_empty());
    m.apply_fault(&FaultAction::Clear, t1);
    let t = m.reset(ResetType::On, t1);
    assert_eq!(path(&t), [(Off, PoweringOn, "On".to_owned())]);
}

#[test]
fn open_loop_reset_succeeds_first_and_changes_power_later() {
    use PowerState::*;
    let t0 = Instant::now();
    let mut m = booted(t0);
    let t1 = t0 + BOOT;
    let delay = Duration::from_millis(500);
    m.apply_fault(&FaultAction::OpenLoop { delay_ms: 500 }, t1);
    let t = m.reset(ResetType::ForceOff, t1);
    assert!(t.changes.is_empty());
    assert_eq!(t.effects, [Effect::Wake(t1 + delay)]);
    assert_eq!(m.power(), On, "still on right after the reset answered");
    assert!(m.advance(t1 + delay - MS).changes.is_empty());
    let t = m.advance(t1 + delay);
    assert_eq!(path(&t), [(On, Off, "ForceOff".to_owned())]);
    assert_eq!(t.changes[0].at, t1 + delay);

    // Deferred On then boot, all applied by one late advance.
    let t2 = t1 + delay;
    m.reset(ResetType::On, t2);
    let t = m.advance(t2 + delay + BOOT + Duration::from_secs(5));
    assert_eq!(
        path(&t),
        [
            (Off, PoweringOn, "On".to_owned()),
            (PoweringOn, On, "boot".to_owned())
        ]
    );
    assert_eq!(t.changes[1].at, t2 + delay + BOOT);

    // Closing the loop again makes resets immediate.
    m.apply_fault(&FaultAction::OpenLoop { delay_ms: 0 }, t2);
    assert_eq!(m.reset(ResetType::ForceOff, t2).changes.len(), 1);
}

#[test]
fn error_window_and_other_knobs() {
    let t0 = Instant::now();
    let mut m = model();
    m.apply_fault(
        &FaultAction::Error {
            status: 409,
            seconds: 2,
        },
        t0,
    );
    m.apply_fault(&FaultAction::Slow { ms: 250 }, t0);
    m.apply_fault(&FaultAction::Hang, t0);
    m.apply_fault(&FaultAction::CutLink, t0);
    let g = m.faults().gate(t0 + Duration::from_secs(1));
    assert!(g.hang);
    assert_eq!(g.delay, Some(Duration::from_millis(250)));
    assert_eq!(g.error.map(|e| e.status), Some(409));
    assert!(m.faults().link_cut);
    m.advance(t0 + Duration::from_secs(2));
    assert_eq!(m.faults().error, None, "the window ended");
    m.apply_fault(&FaultAction::Unhang, t0);
    m.apply_fault(&FaultAction::RestoreLink, t0);
    m.apply_fault(&FaultAction::Slow { ms: 0 }, t0);
    assert_eq!(*m.faults(), Faults::default());
}

#[test]
fn health_changes_are_reported_once() {
    let mut m = model();
    let t = m.apply_fault(
        &FaultAction::SetHealth {
            health: Health::Critical,
        },
        Instant::now(),
    );
    assert_eq!(t.health, Some((Health::Ok, Health::Critical)));
    assert!(m.set_health(Health::Critical).is_empty());
    // `clear` removes faults, not health.
    m.apply_fault(&FaultAction::Clear, Instant::now());
    assert_eq!(m.health(), Health::Critical);
}

#[test]
fn huge_fault_values_do_not_overflow_the_clock() {
    let t0 = Instant::now();
    let mut m = model();
    m.apply_fault(
        &FaultAction::Error {
            status: 503,
            seconds: u64::MAX,
        },
        t0,
    );
    assert!(
        m.faults()
            .gate(t0 + Duration::from_secs(86_400))
            .error
            .is_some()
    );
    m.apply_fault(&FaultAction::OpenLoop { delay_ms: u64::MAX }, t0);
    assert!(m.reset(ResetType::On, t0).changes.is_empty());
    assert_eq!(m.advance(t0 + Duration::from_secs(86_400)).changes, []);
}
