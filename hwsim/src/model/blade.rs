//! The power and boot state machine of one blade.
//!
//! ```text
//!            On / ForceRestart / PowerCycle            boot delay
//!   Off ───────────────────────────────▶ PoweringOn ───────────────▶ On
//!    ▲  ◀── ForceOff / kill / GracefulShutdown ──┘    (cause "boot",  │
//!    │                                                 OS started)    │
//!    ├──────────── ForceOff / kill ◀──────────────────────────────────┤
//!    │                                                                │ GracefulShutdown
//!    └──────────── shutdown delay ◀──────── PoweringOff ◀─────────────┘
//! ```
//!
//! - A restart (`ForceRestart`, `PowerCycle`) of a powered blade is recorded
//!   as two changes, `→ Off` then `Off → PoweringOn`, so every OS instance
//!   (and any identity it held) visibly ends at an `Off`.
//! - `On` while `PoweringOff` completes the shutdown at once and powers on.
//! - Requests that would not change anything (`On` when powered, `ForceOff`
//!   when off, …) succeed without effect, so executors can retry them.
//! - Each power-on starts a new *epoch*; the OS instance booted in epoch `e`
//!   is current until the blade next reaches `Off`. Late timers of an old
//!   epoch are ignored.
//! - The boot override is captured when power comes on; a `Once` override is
//!   then reset to `Disabled`, like a real BMC.
//! - An NVMe/TCP boot (`UefiTarget`) is judged when the boot completes: the
//!   model asks the shell ([`Effect::CheckBoot`]) and takes its verdict
//!   ([`BladeModel::boot_checked`], see `nvme_boot`). Refused, the blade
//!   stays On without an OS, its health turns Critical and the reason goes
//!   to its system log; the next successful boot makes it OK again. Log
//!   entries persist.
//! - A killed blade stays `Off`: power-on requests are accepted and ignored
//!   until the fault is cleared.
//! - Open-loop power (fault): `reset` only schedules the request; it is
//!   applied at `now + delay` by [`BladeModel::advance`].
//!
//! Time is a parameter: scheduled events carry their due instant and are
//! applied at that instant, however late `advance` is called, so the model
//! behaves the same whether the shell wakes exactly on time or only when the
//! next request arrives.

use crate::model::nvme_boot::BootCheck;
use crate::model::{
    BootOverrideEnabled, BootSettings, BootTarget, ErrorFault, FaultAction, Faults, PowerCause,
    PowerState, ResetType, SessionTable,
};
use crate::redfish::RedfishError;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

redfish_enum!(
    /// `Status.Health`.
    Health {
        Ok => "OK",
        Warning => "Warning",
        Critical => "Critical",
    }
);

/// How long the simulated hardware takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// From power-on to the OS running (`PoweringOn` → `On`).
    pub boot_delay: Duration,
    /// From `GracefulShutdown` to `Off`.
    pub shutdown_delay: Duration,
    /// From `ForceOff` of a powered blade to `Off` (0: at once). The Reset
    /// is answered at once; the power reads as before until then. A second
    /// `ForceOff` meanwhile changes nothing.
    pub power_off_delay: Duration,
    /// For this long after the power reaches `Off` (any cause, a kill
    /// included), `ComputerSystem.Reset` is refused with 409 Conflict
    /// (`ResourceInUse`), as some BMCs do while the power sequencing
    /// settles (0: never). Reads are answered as usual.
    pub conflict_after_off: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            boot_delay: Duration::from_millis(300),
            shutdown_delay: Duration::from_millis(100),
            power_off_delay: Duration::ZERO,
            conflict_after_off: Duration::ZERO,
        }
    }
}

/// One power state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerChange {
    pub from: PowerState,
    pub to: PowerState,
    pub cause: PowerCause,
    /// When it happened (the event's due time, not when it was noticed).
    pub at: Instant,
}

/// Something the shell must do after a model step, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The blade finished booting: start an OS instance for `epoch` with the
    /// boot settings captured at power-on.
    StartOs { epoch: u64, boot: BootSettings },
    /// Stop the OS instance of `epoch` (if it is still the running one).
    StopOs { epoch: u64 },
    /// The firmware of `epoch` boots over NVMe/TCP: judge whether it may
    /// (`nvme_boot::check_boot` on the storage target's tree) and hand the
    /// verdict to [`BladeModel::boot_checked`].
    CheckBoot { epoch: u64, boot: BootSettings },
    /// Call [`BladeModel::advance`] at this instant.
    Wake(Instant),
}

/// The outcome of one model step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    pub changes: Vec<PowerChange>,
    pub effects: Vec<Effect>,
    /// `(from, to)` when `Status.Health` changed.
    pub health: Option<(Health, Health)>,
    /// Other visible state changed (boot settings, faults).
    pub settings_changed: bool,
}

impl Transition {
    /// Appends another step's outcome.
    pub fn extend(&mut self, other: Transition) {
        self.changes.extend(other.changes);
        self.effects.extend(other.effects);
        self.settings_changed |= other.settings_changed;
        if let Some((from, to)) = other.health {
            let from = self.health.map_or(from, |(first, _)| first);
            self.health = Some((from, to));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.effects.is_empty()
            && self.health.is_none()
            && !self.settings_changed
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PendingKind {
    BootComplete {
        epoch: u64,
    },
    ShutdownComplete {
        epoch: u64,
    },
    /// An open-loop reset accepted earlier.
    DeferredReset(ResetType),
    /// A `ForceOff` in progress ([`Timing::power_off_delay`]).
    PowerOffComplete {
        epoch: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    at: Instant,
    seq: u64,
    kind: PendingKind,
}

/// How many entries the system log keeps (the oldest go first).
pub const MAX_LOG_ENTRIES: usize = 256;

/// One entry of the system's log (`LogServices/Log/Entries/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SystemLogEntry {
    pub id: u64,
    /// Wall clock, RFC 3339 (given by the shell; the model reads no clock).
    pub created: String,
    pub severity: Health,
    pub message: String,
    pub message_id: String,
}

/// The `MessageId` of a refused NVMe/TCP boot.
pub const BOOT_FAILED_MESSAGE_ID: &str = "PAN.1.0.NvmeBootFailed";

/// A blade's mutable state: power, health, boot override, faults and the
/// events scheduled for later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BladeModel {
    power: PowerState,
    health: Health,
    boot: BootSettings,
    booting_with: Option<BootSettings>,
    epoch: u64,
    os_running: bool,
    faults: Faults,
    pending: Vec<Pending>,
    next_seq: u64,
    timing: Timing,
    /// When the power last reached `Off` ([`Timing::conflict_after_off`]).
    off_at: Option<Instant>,
    /// The epoch whose NVMe/TCP boot waits for its verdict.
    awaiting_check: Option<u64>,
    /// Why the last boot failed; cleared by the next successful boot.
    boot_failure: Option<String>,
    /// The NVMe/TCP boot target the running OS booted from.
    booted_target: Option<String>,
    /// Health was set Critical by a failed boot (a successful boot undoes
    /// only that, not a health fault).
    health_from_boot: bool,
    log: Vec<SystemLogEntry>,
    next_log_id: u64,
}

/// Top-level ComputerSystem properties a client may not PATCH.
const READ_ONLY_SYSTEM_PROPERTIES: &[&str] = &[
    "Id",
    "Name",
    "SystemType",
    "Manufacturer",
    "Model",
    "SerialNumber",
    "UUID",
    "Status",
    "PowerState",
    "BiosVersion",
    "BootProgress",
    "ProcessorSummary",
    "MemorySummary",
    "EthernetInterfaces",
    "LogServices",
    "Links",
    "Actions",
];

impl BladeModel {
    /// A blade that is off, healthy, without boot override or faults.
    pub fn new(timing: Timing) -> BladeModel {
        BladeModel {
            power: PowerState::Off,
            health: Health::Ok,
            boot: BootSettings::default(),
            booting_with: None,
            epoch: 0,
            os_running: false,
            faults: Faults::default(),
            pending: Vec::new(),
            next_seq: 0,
            timing,
            off_at: None,
            awaiting_check: None,
            boot_failure: None,
            booted_target: None,
            health_from_boot: false,
            log: Vec::new(),
            next_log_id: 1,
        }
    }

    /// Why the last boot failed (the blade is On without an OS), until the
    /// next successful boot.
    pub fn boot_failure(&self) -> Option<&str> {
        self.boot_failure.as_deref()
    }

    /// The NVMe/TCP boot target the running OS booted from.
    pub fn booted_target(&self) -> Option<&str> {
        self.booted_target.as_deref()
    }

    /// The system log, oldest first.
    pub fn log(&self) -> &[SystemLogEntry] {
        &self.log
    }

    /// Appends an entry to the system log.
    fn log_entry(&mut self, severity: Health, message: String, created: String) {
        let id = self.next_log_id;
        self.next_log_id += 1;
        self.log.push(SystemLogEntry {
            id,
            created,
            severity,
            message,
            message_id: BOOT_FAILED_MESSAGE_ID.to_string(),
        });
        if self.log.len() > MAX_LOG_ENTRIES {
            let excess = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..excess);
        }
    }

    /// The verdict on epoch `epoch`'s NVMe/TCP boot ([`Effect::CheckBoot`]):
    /// `None` or allowed starts the OS; refused leaves the blade On without
    /// an OS, Critical, with `reason` logged (stamped `created`). Ignored
    /// when that boot is no longer waiting (power went off meanwhile).
    pub fn boot_checked(
        &mut self,
        epoch: u64,
        boot: BootSettings,
        check: Option<BootCheck>,
        created: String,
    ) -> Transition {
        let mut t = Transition::default();
        if self.awaiting_check != Some(epoch)
            || self.epoch != epoch
            || self.power == PowerState::Off
        {
            return t;
        }
        self.awaiting_check = None;
        match check {
            None => self.start_os(&mut t, epoch, boot, None),
            Some(BootCheck::Allowed { target }) => self.start_os(&mut t, epoch, boot, Some(target)),
            Some(BootCheck::Refused { reason }) => {
                self.log_entry(Health::Critical, reason.clone(), created);
                self.boot_failure = Some(reason);
                t.extend(self.set_health(Health::Critical));
                self.health_from_boot = true;
                t.settings_changed = true;
            }
        }
        t
    }

    /// The OS of `epoch` starts: a successful boot.
    fn start_os(
        &mut self,
        t: &mut Transition,
        epoch: u64,
        boot: BootSettings,
        target: Option<String>,
    ) {
        self.os_running = true;
        self.booted_target = target;
        self.boot_failure = None;
        if std::mem::take(&mut self.health_from_boot) {
            t.extend(self.set_health(Health::Ok));
        }
        t.effects.push(Effect::StartOs { epoch, boot });
    }

    pub fn power(&self) -> PowerState {
        self.power
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// The boot override as configured now.
    pub fn boot(&self) -> &BootSettings {
        &self.boot
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The number of power-ons so far; the current OS instance's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether an OS instance runs (booted and not yet powered off).
    pub fn os_running(&self) -> bool {
        self.os_running
    }

    /// Whether the OS instance of `epoch` is the one running now.
    pub fn is_current_os(&self, epoch: u64) -> bool {
        self.os_running && self.epoch == epoch
    }

    /// `Status.State` of the system.
    pub fn status_state(&self) -> &'static str {
        match self.power {
            PowerState::On | PowerState::PoweringOff => "Enabled",
            PowerState::PoweringOn => "Starting",
            PowerState::Off => "StandbyOffline",
        }
    }

    /// `BootProgress.LastState`.
    pub fn boot_progress(&self) -> &'static str {
        match self.power {
            PowerState::Off => "None",
            PowerState::PoweringOn => "SystemHardwareInitializationComplete",
            PowerState::On | PowerState::PoweringOff if self.os_running => "OSRunning",
            // Booting from a target it could not reach, or waiting for the
            // verdict on it.
            PowerState::On | PowerState::PoweringOff => "OSBootStarted",
        }
    }

    /// The earliest scheduled event, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.at).min()
    }

    /// Sets `Status.Health`.
    pub fn set_health(&mut self, health: Health) -> Transition {
        let mut t = Transition::default();
        if self.health != health {
            t.health = Some((self.health, health));
            self.health = health;
        }
        t
    }

    /// Whether a `ComputerSystem.Reset` arriving at `now` is refused: 409
    /// Conflict within [`Timing::conflict_after_off`] of the power reaching
    /// `Off`.
    pub fn reset_refusal(&self, now: Instant) -> Option<RedfishError> {
        let until = later(self.off_at?, self.timing.conflict_after_off);
        (now < until).then(|| {
            RedfishError::injected(409, until.saturating_duration_since(now).as_secs().max(1))
        })
    }

    /// `ComputerSystem.Reset` at `now`. Closed loop: applied now. Open loop
    /// (fault): scheduled for `now + delay`, nothing changes yet.
    pub fn reset(&mut self, reset: ResetType, now: Instant) -> Transition {
        let mut t = Transition::default();
        match self.faults.open_loop {
            Some(delay) => {
                self.schedule(&mut t, later(now, delay), PendingKind::DeferredReset(reset))
            }
            None => self.apply_reset(&mut t, reset, now),
        }
        t
    }

    /// Applies every scheduled event due at or before `now`, each at its own
    /// due time, in order; ends injected-error windows that are over.
    pub fn advance(&mut self, now: Instant) -> Transition {
        let mut t = Transition::default();
        self.faults.expire(now);
        while let Some(i) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.at <= now)
            .min_by_key(|(_, p)| (p.at, p.seq))
            .map(|(i, _)| i)
        {
            let Pending { at, kind, .. } = self.pending.swap_remove(i);
            match kind {
                PendingKind::BootComplete { epoch } => {
                    if self.power == PowerState::PoweringOn && epoch == self.epoch {
                        self.change(&mut t, PowerState::On, PowerCause::Boot, at);
                        let boot = self.booting_with.clone().unwrap_or_default();
                        if boot.effective_target() == BootTarget::UefiTarget {
                            self.awaiting_check = Some(epoch);
                            t.effects.push(Effect::CheckBoot { epoch, boot });
                        } else {
                            self.start_os(&mut t, epoch, boot, None);
                        }
                    }
                }
                PendingKind::ShutdownComplete { epoch } => {
                    if self.power == PowerState::PoweringOff && epoch == self.epoch {
                        self.change(
                            &mut t,
                            PowerState::Off,
                            PowerCause::Reset(ResetType::GracefulShutdown),
                            at,
                        );
                    }
                }
                PendingKind::DeferredReset(reset) => self.apply_reset(&mut t, reset, at),
                PendingKind::PowerOffComplete { epoch } => {
                    if self.power.is_powered() && epoch == self.epoch {
                        self.change(
                            &mut t,
                            PowerState::Off,
                            PowerCause::Reset(ResetType::ForceOff),
                            at,
                        );
                    }
                }
            }
        }
        t
    }

    /// Validates and applies a PATCH of the ComputerSystem. Only `Boot` is
    /// writable. All-or-nothing; returns whether anything changed.
    pub fn patch_system(&mut self, body: &Value) -> Result<bool, RedfishError> {
        let Some(obj) = body.as_object() else {
            return Err(RedfishError::malformed_json());
        };
        let mut errors = Vec::new();
        let mut boot = None;
        for (key, value) in obj {
            match key.as_str() {
                "Boot" => match self.boot.patched(value, "Boot") {
                    Ok(b) => boot = Some(b),
                    Err(e) => errors.push(e),
                },
                k if k.contains('@') || READ_ONLY_SYSTEM_PROPERTIES.contains(&k) => {
                    errors.push(RedfishError::property_not_writable(k))
                }
                k => errors.push(RedfishError::property_unknown(k)),
            }
        }
        if let Some(e) = RedfishError::merge(errors) {
            return Err(e);
        }
        match boot {
            Some(b) if b != self.boot => {
                self.boot = b;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Applies a fault change at `now` (validate it first with
    /// [`FaultAction::validate`]).
    pub fn apply_fault(&mut self, action: &FaultAction, now: Instant) -> Transition {
        let mut t = Transition {
            settings_changed: true,
            ..Transition::default()
        };
        let f = &mut self.faults;
        match action {
            FaultAction::Kill => {
                f.killed = true;
                self.change(&mut t, PowerState::Off, PowerCause::Kill, now);
            }
            FaultAction::SetHealth { health } => t.extend(self.set_health(*health)),
            FaultAction::Hang => f.hung = true,
            FaultAction::Unhang => f.hung = false,
            FaultAction::Slow { ms } => f.slow = (*ms > 0).then(|| Duration::from_millis(*ms)),
            FaultAction::Error { status, seconds } => {
                f.error = (*seconds > 0).then(|| ErrorFault {
                    status: *status,
                    until: later(now, Duration::from_secs(*seconds)),
                })
            }
            FaultAction::OpenLoop { delay_ms } => {
                f.open_loop = (*delay_ms > 0).then(|| Duration::from_millis(*delay_ms))
            }
            FaultAction::CutLink => f.link_cut = true,
            FaultAction::RestoreLink => f.link_cut = false,
            FaultAction::Clear => *f = Faults::default(),
        }
        t
    }

    fn apply_reset(&mut self, t: &mut Transition, reset: ResetType, at: Instant) {
        let cause = PowerCause::Reset(reset);
        match reset {
            ResetType::On => match self.power {
                PowerState::Off => self.power_on(t, cause, at),
                PowerState::PoweringOff => {
                    self.change(t, PowerState::Off, cause, at);
                    self.power_on(t, cause, at);
                }
                PowerState::On | PowerState::PoweringOn => {}
            },
            ResetType::ForceOff if self.timing.power_off_delay.is_zero() => {
                self.change(t, PowerState::Off, cause, at)
            }
            ResetType::ForceOff => {
                let epoch = self.epoch;
                let in_progress = self
                    .pending
                    .iter()
                    .any(|p| p.kind == PendingKind::PowerOffComplete { epoch });
                if self.power.is_powered() && !in_progress {
                    self.schedule(
                        t,
                        later(at, self.timing.power_off_delay),
                        PendingKind::PowerOffComplete { epoch },
                    );
                }
            }
            ResetType::GracefulShutdown => match self.power {
                PowerState::On => {
                    self.change(t, PowerState::PoweringOff, cause, at);
                    let epoch = self.epoch;
                    self.schedule(
                        t,
                        later(at, self.timing.shutdown_delay),
                        PendingKind::ShutdownComplete { epoch },
                    );
                }
                PowerState::PoweringOn => self.change(t, PowerState::Off, cause, at),
                PowerState::Off | PowerState::PoweringOff => {}
            },
            ResetType::ForceRestart | ResetType::PowerCycle => {
                self.change(t, PowerState::Off, cause, at);
                self.power_on(t, cause, at);
            }
        }
    }

    /// `Off → PoweringOn` and schedule the boot; nothing when killed.
    fn power_on(&mut self, t: &mut Transition, cause: PowerCause, at: Instant) {
        if self.faults.killed || self.power != PowerState::Off {
            return;
        }
        self.epoch += 1;
        self.booting_with = Some(self.boot.clone());
        if self.boot.enabled == BootOverrideEnabled::Once {
            self.boot.enabled = BootOverrideEnabled::Disabled;
        }
        self.change(t, PowerState::PoweringOn, cause, at);
        let epoch = self.epoch;
        self.schedule(
            t,
            later(at, self.timing.boot_delay),
            PendingKind::BootComplete { epoch },
        );
    }

    /// Moves to `to` (no-op when already there); reaching `Off` stops the OS
    /// and cancels the boot or shutdown in progress.
    fn change(&mut self, t: &mut Transition, to: PowerState, cause: PowerCause, at: Instant) {
        if self.power == to {
            return;
        }
        t.changes.push(PowerChange {
            from: self.power,
            to,
            cause,
            at,
        });
        self.power = to;
        if to == PowerState::Off {
            self.off_at = Some(at);
            if self.os_running {
                self.os_running = false;
                t.effects.push(Effect::StopOs { epoch: self.epoch });
            }
            self.booting_with = None;
            self.awaiting_check = None;
            self.booted_target = None;
            self.pending
                .retain(|p| matches!(p.kind, PendingKind::DeferredReset(_)));
        }
    }

    fn schedule(&mut self, t: &mut Transition, at: Instant, kind: PendingKind) {
        self.pending.push(Pending {
            at,
            seq: self.next_seq,
            kind,
        });
        self.next_seq += 1;
        t.effects.push(Effect::Wake(at));
    }
}

/// `at + d`, capped at a century so huge fault or timing values cannot
/// overflow the clock.
fn later(at: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(d.min(CENTURY)).unwrap_or(at)
}

/// Everything one BMC holds under its lock: the blade and the sessions.
#[derive(Clone, Debug)]
pub struct BmcState {
    pub model: BladeModel,
    pub sessions: SessionTable,
}

#[cfg(test)]
#[path = "blade_tests.rs"]
mod tests;
