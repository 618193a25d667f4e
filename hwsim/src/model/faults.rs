//! Fault knobs of one blade and what they do to a BMC request.
//!
//! [`FaultAction`] is the small public action enum of the control API (its
//! JSON form is `{"action": "slow", "ms": 200}`); [`Faults`] is the state
//! they leave; [`Faults::gate`] says what the HTTP shell must do to a
//! request before the BMC handles it (hang, delay, or answer an error).

use crate::model::Health;
use crate::redfish::RedfishError;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// One fault change, as sent to the control API and recorded in the ground
/// truth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum FaultAction {
    /// Power lost: the blade goes Off now, its OS is gone, and it stays Off
    /// (power-on requests are accepted but have no effect) until `clear`.
    /// The BMC keeps answering.
    Kill,
    /// The BMC accepts connections but never answers until `unhang`.
    Hang,
    /// Undo `hang`; held requests are then answered.
    Unhang,
    /// Add `ms` of latency to every BMC request (0 removes it).
    Slow { ms: u64 },
    /// Answer every BMC request with `status` (e.g. 409 or 503) and a Redfish
    /// error body for `seconds`.
    Error { status: u16, seconds: u64 },
    /// Open-loop power: Reset answers success at once and the power change
    /// happens `delay_ms` later (0 closes the loop again).
    OpenLoop { delay_ms: u64 },
    /// Cut the blade OS's link to the manager (the blade stays powered).
    CutLink,
    /// Restore the link cut by `cut-link`.
    RestoreLink,
    /// Set the blade's `Status.Health` (not a fault: `clear` leaves it).
    SetHealth { health: Health },
    /// Remove every fault: unkill, unhang, no latency, no error answers,
    /// closed-loop power, link restored.
    Clear,
}

impl FaultAction {
    /// Checks values a request could get wrong.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            FaultAction::Error { status, .. } if !(400..=599).contains(status) => Err(format!(
                "error status {status} is not an HTTP error; use 400..=599 (typically 409 or 503)"
            )),
            _ => Ok(()),
        }
    }
}

/// An active injected-error window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorFault {
    pub status: u16,
    pub until: Instant,
}

/// The fault state of one blade.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    pub killed: bool,
    pub hung: bool,
    pub slow: Option<Duration>,
    pub error: Option<ErrorFault>,
    pub open_loop: Option<Duration>,
    pub link_cut: bool,
}

/// What the shell must do with a BMC request, in this order: hold it while
/// hung, sleep `delay`, then answer `error` instead of handling it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    pub hang: bool,
    pub delay: Option<Duration>,
    pub error: Option<RedfishError>,
}

impl Faults {
    /// The treatment of a request arriving at `now`.
    pub fn gate(&self, now: Instant) -> Gate {
        Gate {
            hang: self.hung,
            delay: self.slow,
            error: self.error.filter(|e| now < e.until).map(|e| {
                RedfishError::injected(
                    e.status,
                    e.until.saturating_duration_since(now).as_secs().max(1),
                )
            }),
        }
    }

    /// Forgets an error window that has ended.
    pub fn expire(&mut self, now: Instant) {
        if self.error.is_some_and(|e| now >= e.until) {
            self.error = None;
        }
    }

    /// The serializable view at `now`.
    pub fn view(&self, now: Instant) -> FaultsView {
        FaultsView {
            killed: self.killed,
            hung: self.hung,
            slow_ms: self.slow.map(|d| d.as_millis() as u64),
            error: self.error.filter(|e| now < e.until).map(|e| ErrorView {
                status: e.status,
                remaining_ms: e.until.saturating_duration_since(now).as_millis() as u64,
            }),
            open_loop_delay_ms: self.open_loop.map(|d| d.as_millis() as u64),
            link_cut: self.link_cut,
        }
    }
}

/// The faults of a blade as the control API shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultsView {
    pub killed: bool,
    pub hung: bool,
    pub slow_ms: Option<u64>,
    pub error: Option<ErrorView>,
    pub open_loop_delay_ms: Option<u64>,
    pub link_cut: bool,
}

/// An active injected-error window as the control API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    pub status: u16,
    pub remaining_ms: u64,
}

impl FaultsView {
    /// Short words for a status table: `killed`, `hung`, `slow 200ms`, …
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.killed {
            out.push("killed".to_owned());
        }
        if self.hung {
            out.push("hung".to_owned());
        }
        if let Some(ms) = self.slow_ms {
            out.push(format!("slow {ms}ms"));
        }
        if let Some(e) = &self.error {
            out.push(format!("error {} ({}ms left)", e.status, e.remaining_ms));
        }
        if let Some(ms) = self.open_loop_delay_ms {
            out.push(format!("open-loop {ms}ms"));
        }
        if self.link_cut {
            out.push("link-cut".to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_have_a_small_json_form() {
        let a: FaultAction =
            serde_json::from_value(json!({"action": "error", "status": 409, "seconds": 5}))
                .unwrap();
        assert_eq!(
            a,
            FaultAction::Error {
                status: 409,
                seconds: 5
            }
        );
        let a: FaultAction =
            serde_json::from_value(json!({"action": "open-loop", "delay_ms": 50})).unwrap();
        assert_eq!(a, FaultAction::OpenLoop { delay_ms: 50 });
        assert_eq!(
            serde_json::to_value(FaultAction::CutLink).unwrap(),
            json!({"action": "cut-link"})
        );
        assert_eq!(
            serde_json::to_value(FaultAction::SetHealth {
                health: Health::Critical
            })
            .unwrap(),
            json!({"action": "set-health", "health": "Critical"})
        );
        assert!(serde_json::from_value::<FaultAction>(json!({"action": "melt"})).is_err());
        assert!(
            FaultAction::Error {
                status: 200,
                seconds: 1
            }
            .validate()
            .is_err()
        );
        assert!(
            FaultAction::Error {
                status: 503,
                seconds: 1
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn error_window_gates_requests_until_it_ends() {
        let t0 = Instant::now();
        let mut f = Faults {
            error: Some(ErrorFault {
                status: 503,
                until: t0 + Duration::from_secs(3),
            }),
            ..Faults::default()
        };
        let g = f.gate(t0 + Duration::from_secs(1));
        let e = g.error.unwrap();
        assert_eq!(e.status, 503);
        assert_eq!(e.code(), "Base.1.8.ServiceTemporarilyUnavailable");
        assert!(f.gate(t0 + Duration::from_secs(3)).error.is_none());
        f.expire(t0 + Duration::from_secs(3));
        assert_eq!(f, Faults::default());
    }
}
