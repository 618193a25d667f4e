//! Heartbeat-age evaluation for failure detection: a pure function of the
//! last heartbeat, the current instant and the detection window.
//!
//! The registry only records heartbeats; the controller decides what a
//! silent blade means (cross-checked with its BMC). A new leader has heard
//! no heartbeat yet: it must wait one detection window before it judges any
//! blade, and [`Liveness::NeverHeard`] is what it sees until then.

use std::time::Duration;
use tokio::time::Instant;

/// How recently a blade's agent was heard from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// No heartbeat reached this manager since it started.
    NeverHeard,
    /// The last heartbeat is at most `window` old.
    Alive { age: Duration },
    /// The last heartbeat is older than `window`.
    Silent { age: Duration },
}

/// Judges the age of `last_heartbeat` at `now` against `window`. An age of
/// exactly `window` is still alive; a heartbeat stamped after `now` (clock
/// read earlier than the heartbeat landed) counts as age zero.
pub fn liveness(last_heartbeat: Option<Instant>, now: Instant, window: Duration) -> Liveness {
    match last_heartbeat {
        None => Liveness::NeverHeard,
        Some(at) => {
            let age = now.saturating_duration_since(at);
            if age <= window {
                Liveness::Alive { age }
            } else {
                Liveness::Silent { age }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(1000);

    #[test]
    fn never_heard_until_a_heartbeat() {
        assert_eq!(liveness(None, Instant::now(), WINDOW), Liveness::NeverHeard);
    }

    #[test]
    fn alive_up_to_the_window_then_silent() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(
            liveness(Some(t0), t0 + ms(200), WINDOW),
            Liveness::Alive { age: ms(200) }
        );
        assert_eq!(
            liveness(Some(t0), t0 + WINDOW, WINDOW),
            Liveness::Alive { age: WINDOW }
        );
        assert_eq!(
            liveness(Some(t0), t0 + ms(1001), WINDOW),
            Liveness::Silent { age: ms(1001) }
        );
    }

    #[test]
    fn a_heartbeat_after_now_is_age_zero() {
        let t0 = Instant::now();
        assert_eq!(
            liveness(Some(t0 + WINDOW), t0, WINDOW),
            Liveness::Alive {
                age: Duration::ZERO
            }
        );
    }
}
