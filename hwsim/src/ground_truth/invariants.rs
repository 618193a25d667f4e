//! Invariant checks over a ground-truth log: a pure function from records
//! to the violations found.
//!
//! Replay rules: a blade *holds* an identity from its `identity` record until
//! it reaches power `Off` (any cause), reports `identity_cleared`, or applies
//! another identity. Two identities overlap when they share the UUID, any
//! MAC (case and separator insensitive) or the host NQN.
//!
//! - **duplicate identity**: a blade applies an identity overlapping one held
//!   by another blade that is still powered (design invariant: an identity is
//!   active on at most one blade, ever).
//! - **stale generation**: an identity (by UUID) is applied with a lower
//!   generation than one already applied for it (receivers must refuse stale
//!   desired state).

use crate::ground_truth::{GroundTruthEvent, GroundTruthRecord};
use crate::model::PowerState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A broken invariant, pointing at the record that broke it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// `blade` applied an identity overlapping the one `other_blade` held
    /// while powered. `shared` lists the overlapping values
    /// (`uuid:…`, `mac:…`, `nqn:…`).
    DuplicateIdentity {
        seq: u64,
        blade: String,
        other_blade: String,
        shared: Vec<String>,
    },
    /// Identity `uuid` was applied on `blade` with `generation` after
    /// generation `newest` had already been applied somewhere.
    StaleGeneration {
        seq: u64,
        blade: String,
        uuid: String,
        generation: u64,
        newest: u64,
    },
}

/// The overlap keys of an identity.
fn keys(uuid: &str, macs: &[String], host_nqn: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !uuid.is_empty() {
        out.push(format!("uuid:{}", uuid.to_ascii_lowercase()));
    }
    for mac in macs.iter().filter(|m| !m.is_empty()) {
        out.push(format!(
            "mac:{}",
            mac.to_ascii_lowercase().replace('-', ":")
        ));
    }
    if !host_nqn.is_empty() {
        out.push(format!("nqn:{host_nqn}"));
    }
    out
}

/// Replays `records` in order and returns every violation, in log order.
pub fn find_violations(records: &[GroundTruthRecord]) -> Vec<Violation> {
    let mut violations = Vec::new();
    // key → blades holding it; blade → its keys.
    let mut holders: HashMap<String, BTreeSet<&str>> = HashMap::new();
    let mut held: HashMap<&str, Vec<String>> = HashMap::new();
    let mut newest: HashMap<String, u64> = HashMap::new();

    fn release<'a>(
        blade: &'a str,
        held: &mut HashMap<&'a str, Vec<String>>,
        holders: &mut HashMap<String, BTreeSet<&'a str>>,
    ) {
        for key in held.remove(blade).unwrap_or_default() {
            if let Some(set) = holders.get_mut(&key) {
                set.remove(blade);
                if set.is_empty() {
                    holders.remove(&key);
                }
            }
        }
    }

    for rec in records {
        match &rec.event {
            GroundTruthEvent::Power { blade, to, .. } if *to == PowerState::Off => {
                release(blade, &mut held, &mut holders);
            }
            GroundTruthEvent::IdentityCleared { blade } => {
                release(blade, &mut held, &mut holders);
            }
            GroundTruthEvent::Identity {
                blade,
                uuid,
                macs,
                host_nqn,
                generation,
                ..
            } => {
                let uuid_key = uuid.to_ascii_lowercase();
                let seen = newest.entry(uuid_key).or_insert(*generation);
                if *generation < *seen {
                    violations.push(Violation::StaleGeneration {
                        seq: rec.seq,
                        blade: blade.clone(),
                        uuid: uuid.clone(),
                        generation: *generation,
                        newest: *seen,
                    });
                }
                *seen = (*seen).max(*generation);

                release(blade, &mut held, &mut holders);
                let ks = keys(uuid, macs, host_nqn);
                let mut shared: BTreeMap<&str, Vec<String>> = BTreeMap::new();
                for k in &ks {
                    for other in holders.get(k).into_iter().flatten() {
                        shared.entry(other).or_default().push(k.clone());
                    }
                }
                for (other, shared) in shared {
                    violations.push(Violation::DuplicateIdentity {
                        seq: rec.seq,
                        blade: blade.clone(),
                        other_blade: other.to_owned(),
                        shared,
                    });
                }
                for k in &ks {
                    holders.entry(k.clone()).or_default().insert(blade);
                }
                held.insert(blade, ks);
            }
            _ => {}
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PowerCause, ResetType};

    /// Builds a log from events, numbering them.
    fn log(events: Vec<GroundTruthEvent>) -> Vec<GroundTruthRecord> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| GroundTruthRecord {
                seq: i as u64,
                mono_us: i as u64 * 1000,
                wall_ms: 0,
                wall: String::new(),
                event,
            })
            .collect()
    }

    fn power(blade: &str, from: PowerState, to: PowerState, cause: PowerCause) -> GroundTruthEvent {
        GroundTruthEvent::Power {
            blade: blade.into(),
            from,
            to,
            cause,
        }
    }

    fn on(blade: &str) -> Vec<GroundTruthEvent> {
        vec![
            power(
                blade,
                PowerState::Off,
                PowerState::PoweringOn,
                PowerCause::Reset(ResetType::On),
            ),
            power(
                blade,
                PowerState::PoweringOn,
                PowerState::On,
                PowerCause::Boot,
            ),
        ]
    }

    fn off(blade: &str, cause: PowerCause) -> GroundTruthEvent {
        power(blade, PowerState::On, PowerState::Off, cause)
    }

    fn identity(blade: &str, n: u32, generation: u64) -> GroundTruthEvent {
        GroundTruthEvent::Identity {
            blade: blade.into(),
            uuid: format!("00000000-0000-4000-8000-{n:012}"),
            macs: vec![format!("02:50:41:00:00:{n:02x}")],
            host_nqn: format!("nqn.2014-08.org.nvmexpress:uuid:{n}"),
            generation,
            term: 1,
        }
    }

    #[test]
    fn an_empty_log_is_clean() {
        assert!(find_violations(&[]).is_empty());
    }

    #[test]
    fn failover_after_the_old_blade_is_off_is_clean() {
        let mut ev = on("blade-001");
        ev.push(identity("blade-001", 1, 1));
        ev.extend(on("blade-002"));
        ev.push(off("blade-001", PowerCause::Reset(ResetType::ForceOff)));
        ev.push(identity("blade-002", 1, 2));
        assert_eq!(find_violations(&log(ev)), []);
    }

    #[test]
    fn taking_over_while_the_old_blade_runs_is_a_duplicate() {
        let mut ev = on("blade-001");
        ev.push(identity("blade-001", 1, 1));
        ev.extend(on("blade-002"));
        ev.push(identity("blade-002", 1, 2));
        let v = find_violations(&log(ev));
        assert_eq!(
            v,
            [Violation::DuplicateIdentity {
                seq: 5,
                blade: "blade-002".into(),
                other_blade: "blade-001".into(),
                shared: vec![
                    "uuid:00000000-0000-4000-8000-000000000001".into(),
                    "mac:02:50:41:00:00:01".into(),
                    "nqn:nqn.2014-08.org.nvmexpress:uuid:1".into(),
                ],
            }]
        );
    }

    #[test]
    fn a_shared_mac_alone_is_a_duplicate_whatever_its_spelling() {
        let mut ev = on("blade-001");
        ev.push(identity("blade-001", 1, 1));
        ev.extend(on("blade-002"));
        let mut other = identity("blade-002", 2, 1);
        if let GroundTruthEvent::Identity { macs, .. } = &mut other {
            *macs = vec!["02-50-41-00-00-01".into()];
        }
        ev.push(other);
        let v = find_violations(&log(ev));
        assert!(
            matches!(&v[..], [Violation::DuplicateIdentity { shared, .. }] if shared == &["mac:02:50:41:00:00:01"])
        );
    }

    #[test]
    fn kill_clear_and_reapply_release_the_identity() {
        for release in [
            off("blade-001", PowerCause::Kill),
            GroundTruthEvent::IdentityCleared {
                blade: "blade-001".into(),
            },
            identity("blade-001", 7, 1),
        ] {
            let mut ev = on("blade-001");
            ev.push(identity("blade-001", 1, 1));
            ev.extend(on("blade-002"));
            ev.push(release);
            ev.push(identity("blade-002", 1, 2));
            assert_eq!(find_violations(&log(ev)), [], "released");
        }
    }

    #[test]
    fn a_restart_ends_the_old_instance() {
        let mut ev = on("blade-001");
        ev.push(identity("blade-001", 1, 1));
        // ForceRestart is recorded as On → Off, Off → PoweringOn.
        ev.push(off("blade-001", PowerCause::Reset(ResetType::ForceRestart)));
        ev.push(power(
            "blade-001",
            PowerState::Off,
            PowerState::PoweringOn,
            PowerCause::Reset(ResetType::ForceRestart),
        ));
        ev.extend(on("blade-002"));
        ev.push(identity("blade-002", 1, 2));
        assert_eq!(find_violations(&log(ev)), []);
    }

    #[test]
    fn reapplying_on_the_same_blade_is_not_a_duplicate() {
        let mut ev = on("blade-001");
        ev.push(identity("blade-001", 1, 1));
        ev.push(identity("blade-001", 1, 1));
        ev.push(identity("blade-001", 1, 2));
        assert_eq!(find_violations(&log(ev)), []);
    }

    #[test]
    fn an_older_generation_applied_later_is_stale() {
        let mut ev = on("blade-001");
        ev.push(identity("blade-001", 1, 5));
        ev.push(off("blade-001", PowerCause::Kill));
        ev.extend(on("blade-002"));
        ev.push(identity("blade-002", 1, 4));
        let v = find_violations(&log(ev));
        assert_eq!(
            v,
            [Violation::StaleGeneration {
                seq: 6,
                blade: "blade-002".into(),
                uuid: "00000000-0000-4000-8000-000000000001".into(),
                generation: 4,
                newest: 5,
            }]
        );
    }

    #[test]
    fn violations_serialize_with_a_kind() {
        let v = Violation::StaleGeneration {
            seq: 1,
            blade: "b".into(),
            uuid: "u".into(),
            generation: 1,
            newest: 2,
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["kind"], "stale_generation");
    }
}
