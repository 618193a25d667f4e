//! Failback: a server that failed over may go back to its home blade (the
//! one it failed from) once that blade is repaired, but only inside its
//! maintenance window — a cron schedule (UTC) opening a window of
//! [`FAILBACK_WINDOW_MINUTES`]. The move is a planned one, recorded as
//! intent: `Failback` stops the server with its home blade as the move
//! target, and the stop's report places it there, so a new leader finishes
//! an interrupted failback instead of leaving the server down. Pure: the
//! time is a value (the controller's clock, or the envelope's).

use super::push_event as push;
use super::{BladeState, Event, Executed, Made, ServerState, State, StateError};

/// How long a failback window stays open after its schedule fires.
pub const FAILBACK_WINDOW_MINUTES: i64 = 60;

/// Checks a failback window's cron schedule (5 fields, UTC).
pub fn parse_window(cron: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(cron).parse().map_err(|e| {
        format!("{cron:?} is not a cron schedule ({e}); e.g. \"0 2 * * *\" for 02:00 UTC daily")
    })
}

/// Whether the window of `cron` is open at `now_ms` (Unix ms, UTC): it
/// fired at most [`FAILBACK_WINDOW_MINUTES`] ago.
pub fn window_open(cron: &str, now_ms: u64) -> bool {
    let Ok(schedule) = parse_window(cron) else {
        return false;
    };
    let Some(now) = i64::try_from(now_ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
    else {
        return false;
    };
    let from = now - chrono::Duration::minutes(FAILBACK_WINDOW_MINUTES);
    schedule
        .find_next_occurrence(&from, true)
        .is_ok_and(|fired| fired <= now)
}

impl State {
    /// Servers whose failback may start at `now_ms`: running away from a
    /// home blade that is available again, inside their window.
    pub fn failback_due(&self, now_ms: u64) -> Vec<(String, String)> {
        let mut due: Vec<(String, String)> = self
            .placed_servers()
            .filter(|s| s.state == ServerState::Running && s.blade != s.home_blade)
            .filter(|s| {
                let Some(home) = s.home_blade.and_then(|b| self.blades.get(&b)) else {
                    return false;
                };
                home.state == BladeState::Available
                    && home.server.is_none()
                    && self.unfit(home, s.id).is_none()
                    && s.failback_window
                        .as_deref()
                        .is_some_and(|w| window_open(w, now_ms))
            })
            .map(|s| (self.partitions[&s.partition].name.clone(), s.name.clone()))
            .collect();
        due.sort();
        due
    }

    pub(super) fn failback(
        &mut self,
        partition: &str,
        name: &str,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let pid = self.partition_id(partition)?;
        let sid = self.server_id(pid, partition, name)?;
        let due = self
            .failback_due(at_ms)
            .iter()
            .any(|(p, n)| p == partition && n == name);
        if !due {
            return Err(StateError::InvalidTransition {
                object: format!("server '{name}' in partition '{partition}'"),
                state: self.servers[&sid].state.to_string(),
                remedy: "no failback is due (home blade not available, or outside its window)"
                    .to_string(),
            });
        }
        let server = self.servers.get_mut(&sid).expect("looked up");
        server.move_to = server.home_blade;
        server.state = ServerState::Stopping;
        self.index.transitioning.insert(sid);
        push(
            events,
            "server.failing_back",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Server(sid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> u64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis() as u64
    }

    #[test]
    fn a_window_is_open_for_an_hour_after_its_schedule_fires() {
        let daily_2am = "0 2 * * *";
        assert!(!window_open(daily_2am, at("2026-11-21T01:59:00Z")));
        assert!(window_open(daily_2am, at("2026-11-21T02:00:00Z")));
        assert!(window_open(daily_2am, at("2026-11-21T02:59:00Z")));
        assert!(!window_open(daily_2am, at("2026-11-21T03:01:00Z")));
        assert!(window_open("* * * * *", at("2026-11-21T12:34:56Z")));
    }

    #[test]
    fn bad_schedules_say_how_to_write_one() {
        let e = parse_window("every night").unwrap_err();
        assert!(e.contains("0 2 * * *"), "{e}");
        assert!(!window_open("every night", at("2026-11-21T02:00:00Z")));
    }
}
