//! The BMC poller: reads every blade's power and health at an interval and
//! records only what changed (one `ObserveBlades` command per pass, none
//! when nothing changed), so a quiet rack costs no raft writes.

use super::{CONTROLLER, bmcs::BmcPool};
use crate::bmc::{self, Bmc as _, SystemStatus};
use crate::node::Node;
use crate::state::{BladeObservation, BmcTarget, Command, Health, PowerState};
use futures::StreamExt as _;
use std::time::Duration;

/// BMC reads one pass keeps in flight (the BMC client adds its own limits).
const PARALLEL_READS: usize = 256;

/// The state's words for a BMC's power reading.
pub fn power_of(p: &bmc::PowerState) -> PowerState {
    match p {
        bmc::PowerState::On => PowerState::On,
        bmc::PowerState::Off => PowerState::Off,
        bmc::PowerState::PoweringOn => PowerState::PoweringOn,
        bmc::PowerState::PoweringOff => PowerState::PoweringOff,
        bmc::PowerState::Paused | bmc::PowerState::Other(_) => PowerState::Unknown,
    }
}

/// The state's words for a BMC's health reading (the worst it reports).
pub fn health_of(status: &SystemStatus) -> Health {
    match status.health.worst() {
        Some(bmc::Health::Ok) => Health::Ok,
        Some(bmc::Health::Warning) => Health::Warning,
        Some(bmc::Health::Critical) => Health::Critical,
        Some(bmc::Health::Other(_)) | None => Health::Unknown,
    }
}

/// What to record for one blade after a read: `None` when nothing changed.
/// A BMC that did not answer is recorded as unknown power and health.
pub fn observation(target: &BmcTarget, read: Option<&SystemStatus>) -> Option<BladeObservation> {
    let (power, health) = match read {
        Some(status) => (power_of(&status.power), health_of(status)),
        None => (PowerState::Unknown, Health::Unknown),
    };
    (power != target.power || health != target.health).then(|| BladeObservation {
        blade: target.blade.clone(),
        power,
        health,
    })
}

/// Polls forever at `interval`.
pub async fn run(node: Node, bmcs: BmcPool, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = poll_once(&node, &bmcs).await {
            tracing::warn!(error = %e, "recording BMC observations failed; retrying next pass");
        }
    }
}

/// One pass over every blade; returns how many changes it recorded.
pub async fn poll_once(node: &Node, bmcs: &BmcPool) -> Result<usize, crate::Error> {
    let targets = node.state_machine().read(|s| s.bmc_targets());
    bmcs.retain(&targets.iter().map(|t| t.blade.clone()).collect::<Vec<_>>());
    let changed: Vec<BladeObservation> = futures::stream::iter(targets)
        .map(|target| async move {
            let read = match bmcs.get(&target) {
                Ok(client) => client.status().await,
                Err(e) => Err(e),
            };
            if let Err(e) = &read {
                tracing::debug!(blade = %target.blade, error = %e, "BMC read failed");
            }
            observation(&target, read.as_ref().ok())
        })
        .buffer_unordered(PARALLEL_READS)
        .filter_map(|o| async move { o })
        .collect()
        .await;
    let n = changed.len();
    if n > 0 {
        node.propose(
            CONTROLLER,
            Command::ObserveBlades {
                observations: changed,
            },
        )
        .await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmc::HealthStatus;
    use crate::state::Secret;

    fn target(power: PowerState, health: Health) -> BmcTarget {
        BmcTarget {
            blade: "b1".into(),
            url: "http://127.0.0.1:1".into(),
            user: "admin".into(),
            password: Secret("pw".into()),
            power,
            health,
        }
    }

    fn status(power: bmc::PowerState, health: Option<bmc::Health>) -> SystemStatus {
        SystemStatus {
            power,
            health: HealthStatus {
                state: None,
                health,
                rollup: None,
            },
        }
    }

    #[test]
    fn unchanged_readings_record_nothing() {
        let t = target(PowerState::On, Health::Ok);
        let s = status(bmc::PowerState::On, Some(bmc::Health::Ok));
        assert_eq!(observation(&t, Some(&s)), None);
    }

    #[test]
    fn changes_are_recorded_in_the_states_words() {
        let t = target(PowerState::Unknown, Health::Unknown);
        let s = status(bmc::PowerState::Off, Some(bmc::Health::Critical));
        assert_eq!(
            observation(&t, Some(&s)),
            Some(BladeObservation {
                blade: "b1".into(),
                power: PowerState::Off,
                health: Health::Critical,
            })
        );
    }

    #[test]
    fn a_silent_bmc_becomes_unknown_once() {
        let t = target(PowerState::On, Health::Ok);
        let o = observation(&t, None).expect("a change");
        assert_eq!((o.power, o.health), (PowerState::Unknown, Health::Unknown));
        let t = target(PowerState::Unknown, Health::Unknown);
        assert_eq!(observation(&t, None), None);
    }

    #[test]
    fn vendor_values_map_to_unknown() {
        let t = target(PowerState::On, Health::Ok);
        let s = status(
            bmc::PowerState::Other("Standby".into()),
            Some(bmc::Health::Other("Meh".into())),
        );
        let o = observation(&t, Some(&s)).expect("a change");
        assert_eq!((o.power, o.health), (PowerState::Unknown, Health::Unknown));
    }
}
