//! Pure tests of the blade state machine: reset transitions, boot timing,
//! boot override capture, kill, open-loop power, PATCH validation.

use super::*;
use crate::model::BootTarget;
use crate::model::nvme_boot::BootCheck;
use serde_json::json;

const BOOT: Duration = Duration::from_millis(300);
const SHUTDOWN: Duration = Duration::from_millis(100);
const MS: Duration = Duration::from_millis(1);

fn model() -> BladeModel {
    BladeModel::new(Timing {
        boot_delay: BOOT,
        shutdown_delay: SHUTDOWN,
        ..Timing::default()
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

fn uefi_boot() -> BootSettings {
    BootSettings {
        target: BootTarget::UefiTarget,
        enabled: BootOverrideEnabled::Continuous,
        uefi_target: Some("nvme+tcp://127.0.0.1:4420/nqn.2026-11.io.pan:volume:1?hostnqn=nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001".into()),
        ..BootSettings::default()
    }
}

/// Powers on with `boot` configured and completes the firmware's part;
/// returns the boot-complete transition.
fn firmware_done(m: &mut BladeModel, boot: BootSettings, t0: Instant) -> Transition {
    m.patch_system(&json!({ "Boot": {
        "BootSourceOverrideTarget": boot.target.as_str(),
        "BootSourceOverrideEnabled": boot.enabled.as_str(),
        "UefiTargetBootSourceOverride": boot.uefi_target,
    }}))
    .unwrap();
    m.reset(ResetType::On, t0);
    m.advance(t0 + BOOT)
}

fn check_of(t: &Transition) -> (u64, BootSettings) {
    match t.effects.as_slice() {
        [Effect::CheckBoot { epoch, boot }] => (*epoch, boot.clone()),
        other => panic!("expected one CheckBoot, got {other:?}"),
    }
}

#[test]
fn an_nvme_boot_waits_for_its_verdict_and_an_allowed_one_starts_the_os() {
    let t0 = Instant::now();
    let mut m = model();
    let t = firmware_done(&mut m, uefi_boot(), t0);
    assert_eq!(m.power(), PowerState::On);
    assert!(!m.os_running(), "no OS before the verdict");
    assert!(started(&t).is_empty());
    let (epoch, boot) = check_of(&t);
    let target = boot.uefi_target.clone().unwrap();
    let t = m.boot_checked(
        epoch,
        boot,
        Some(BootCheck::Allowed {
            target: target.clone(),
        }),
        "2026-01-01T00:00:00.000Z".into(),
    );
    assert_eq!(started(&t), [epoch]);
    assert!(m.os_running());
    assert_eq!(m.booted_target(), Some(target.as_str()));
    assert_eq!(m.health(), Health::Ok);
    assert!(m.log().is_empty());
}

#[test]
fn a_refused_nvme_boot_stays_on_without_os_critical_and_logged_until_a_good_boot() {
    let t0 = Instant::now();
    let mut m = model();
    let t = firmware_done(&mut m, uefi_boot(), t0);
    let (epoch, boot) = check_of(&t);
    let reason = "NVMe-oF boot failed: no subsystem nqn.2026-11.io.pan:volume:1 at 127.0.0.1:4420";
    let t = m.boot_checked(
        epoch,
        boot.clone(),
        Some(BootCheck::Refused {
            reason: reason.into(),
        }),
        "2026-01-01T00:00:00.000Z".into(),
    );
    assert!(started(&t).is_empty());
    assert_eq!(t.health, Some((Health::Ok, Health::Critical)));
    assert_eq!(m.power(), PowerState::On);
    assert!(!m.os_running());
    assert_eq!(m.boot_progress(), "OSBootStarted");
    assert_eq!(m.boot_failure(), Some(reason));
    assert_eq!(m.log().len(), 1);
    assert_eq!(m.log()[0].severity, Health::Critical);
    assert_eq!(m.log()[0].message, reason);
    assert_eq!(m.log()[0].message_id, BOOT_FAILED_MESSAGE_ID);
    // A late verdict for the same boot changes nothing.
    assert!(m.boot_checked(epoch, boot, None, String::new()).is_empty());

    // Restart: allowed this time. Health is OK again, the entry stays.
    let t1 = t0 + BOOT * 2;
    m.reset(ResetType::ForceRestart, t1);
    let t = m.advance(t1 + BOOT);
    let (epoch2, boot) = check_of(&t);
    assert_eq!(epoch2, epoch + 1);
    let t = m.boot_checked(
        epoch2,
        boot,
        Some(BootCheck::Allowed { target: "x".into() }),
        String::new(),
    );
    assert_eq!(t.health, Some((Health::Critical, Health::Ok)));
    assert!(m.os_running());
    assert_eq!(m.boot_failure(), None);
    assert_eq!(m.log().len(), 1, "log entries persist");
}

#[test]
fn a_verdict_after_power_off_is_ignored_and_pxe_boots_without_one() {
    let t0 = Instant::now();
    let mut m = model();
    let t = firmware_done(&mut m, uefi_boot(), t0);
    let (epoch, boot) = check_of(&t);
    m.reset(ResetType::ForceOff, t0 + BOOT);
    let t = m.boot_checked(
        epoch,
        boot,
        Some(BootCheck::Refused {
            reason: "late".into(),
        }),
        String::new(),
    );
    assert!(t.is_empty());
    assert!(m.log().is_empty());

    let pxe = BootSettings {
        target: BootTarget::Pxe,
        enabled: BootOverrideEnabled::Continuous,
        ..BootSettings::default()
    };
    let t1 = t0 + BOOT * 2;
    let t = firmware_done(&mut m, pxe, t1);
    assert_eq!(started(&t).len(), 1, "Pxe boots as it always did");
    assert!(m.os_running());
}

#[test]
fn a_slow_force_off_answers_first_and_powers_off_after_the_delay() {
    use PowerState::*;
    let t0 = Instant::now();
    let off_delay = Duration::from_secs(6);
    let mut m = BladeModel::new(Timing {
        boot_delay: BOOT,
        shutdown_delay: SHUTDOWN,
        power_off_delay: off_delay,
        ..Timing::default()
    });
    m.reset(ResetType::On, t0);
    m.advance(t0 + BOOT);
    let t1 = t0 + BOOT;
    let t = m.reset(ResetType::ForceOff, t1);
    assert!(t.changes.is_empty());
    assert_eq!(t.effects, [Effect::Wake(t1 + off_delay)]);
    assert_eq!(m.power(), On, "still on right after the reset answered");
    // A second ForceOff meanwhile does not move the deadline.
    let again = m.reset(ResetType::ForceOff, t1 + Duration::from_secs(2));
    assert!(again.changes.is_empty() && again.effects.is_empty());
    assert!(m.advance(t1 + off_delay - MS).changes.is_empty());
    let t = m.advance(t1 + off_delay);
    assert_eq!(path(&t), [(On, Off, "ForceOff".to_owned())]);
    assert_eq!(stopped(&t), [1]);
    // Off already: nothing to do, nothing scheduled.
    assert!(m.reset(ResetType::ForceOff, t1 + off_delay).is_empty());
}

#[test]
fn a_slow_force_off_is_dropped_when_the_power_goes_off_otherwise() {
    let t0 = Instant::now();
    let mut m = BladeModel::new(Timing {
        boot_delay: BOOT,
        power_off_delay: Duration::from_secs(6),
        ..Timing::default()
    });
    m.reset(ResetType::On, t0);
    m.advance(t0 + BOOT);
    m.reset(ResetType::ForceOff, t0 + BOOT);
    m.apply_fault(&FaultAction::Kill, t0 + BOOT + MS);
    m.apply_fault(&FaultAction::Clear, t0 + BOOT + 2 * MS);
    m.reset(ResetType::On, t0 + BOOT + 2 * MS);
    // The old ForceOff's deadline passes: the new power-on is not cut.
    let t = m.advance(t0 + BOOT + Duration::from_secs(7));
    assert_eq!(m.power(), PowerState::On);
    assert!(t.changes.iter().all(|c| c.to != PowerState::Off), "{t:?}");
}

#[test]
fn resets_are_refused_with_409_for_a_while_after_power_off() {
    let t0 = Instant::now();
    let mut m = BladeModel::new(Timing {
        boot_delay: BOOT,
        conflict_after_off: Duration::from_secs(10),
        ..Timing::default()
    });
    assert!(m.reset_refusal(t0).is_none(), "never off yet");
    m.reset(ResetType::On, t0);
    m.advance(t0 + BOOT);
    assert!(m.reset_refusal(t0 + BOOT).is_none(), "powered");
    let off = t0 + BOOT + MS;
    m.apply_fault(&FaultAction::Kill, off);
    let e = m.reset_refusal(off + Duration::from_secs(9)).unwrap();
    assert_eq!(e.status, 409);
    assert_eq!(e.code(), "Base.1.8.ResourceInUse");
    assert!(m.reset_refusal(off + Duration::from_secs(10)).is_none());
    // Off by ForceOff counts too.
    m.apply_fault(&FaultAction::Clear, off + Duration::from_secs(10));
    m.reset(ResetType::On, off + Duration::from_secs(10));
    let off2 = off + Duration::from_secs(11);
    m.reset(ResetType::ForceOff, off2);
    assert!(m.reset_refusal(off2 + Duration::from_secs(1)).is_some());
}
