//! The ground-truth log: what really happened on the simulated hardware,
//! independent of what the manager believes.
//!
//! Every power change (with cause), every boot, every boot that failed (an
//! NVMe/TCP boot the storage target refused, with the reason), every
//! identity an OS applied or cleared, health changes and fault changes are
//! appended as a
//! [`GroundTruthRecord`] — kept in memory (read it with
//! [`GroundTruth::records`] or the control API's `GET /ground-truth`) and,
//! with `--ground-truth FILE`, written as JSON lines:
//!
//! ```json
//! {"seq":3,"mono_us":301000,"wall_ms":1767225600301,"wall":"2026-01-01T00:00:00.301Z","kind":"power","blade":"blade-001","from":"PoweringOn","to":"On","cause":"boot"}
//! {"seq":5,"mono_us":402000,"wall_ms":1767225600402,"wall":"2026-01-01T00:00:00.402Z","kind":"identity","blade":"blade-001","uuid":"…","macs":["02:50:41:00:00:01"],"host_nqn":"nqn.…","generation":4,"term":2}
//! ```
//!
//! `mono_us` is microseconds on the rack's (tokio) monotonic clock since the
//! rack started; `wall` is the UTC wall clock. Per blade, records are in the
//! order things happened; [`invariants::find_violations`] checks a log.
//!
//! Records of one blade are appended while that blade's lock is held, so a
//! power-off and an identity report of the same blade never reorder.

pub mod invariants;

use crate::error::Error;
use crate::model::{BootSettings, FaultAction, Health, PowerCause, PowerState};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

pub use invariants::{Violation, find_violations};

/// One ground-truth entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruthRecord {
    /// Position in the log, from 0.
    pub seq: u64,
    /// Monotonic time since the rack started, in microseconds.
    pub mono_us: u64,
    /// Wall clock, milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Wall clock, RFC 3339 UTC with milliseconds.
    pub wall: String,
    #[serde(flatten)]
    pub event: GroundTruthEvent,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroundTruthEvent {
    /// The blade's power state changed.
    Power {
        blade: String,
        from: PowerState,
        to: PowerState,
        cause: PowerCause,
    },
    /// The blade finished booting; OS instance `epoch` started with `boot`.
    Boot {
        blade: String,
        epoch: u64,
        boot: BootSettings,
    },
    /// The blade's firmware could not boot what the override named; the
    /// blade stays On without an OS.
    BootFailed {
        blade: String,
        epoch: u64,
        boot: BootSettings,
        reason: String,
    },
    /// The blade's OS applied an identity (it now presents these values).
    Identity {
        blade: String,
        uuid: String,
        macs: Vec<String>,
        host_nqn: String,
        generation: u64,
        term: u64,
    },
    /// The blade's OS dropped its identity without losing power.
    IdentityCleared { blade: String },
    /// `Status.Health` changed.
    Health {
        blade: String,
        from: Health,
        to: Health,
    },
    /// A fault knob was turned.
    Fault { blade: String, fault: FaultAction },
}

impl GroundTruthEvent {
    /// The blade the event is about.
    pub fn blade(&self) -> &str {
        match self {
            GroundTruthEvent::Power { blade, .. }
            | GroundTruthEvent::Boot { blade, .. }
            | GroundTruthEvent::BootFailed { blade, .. }
            | GroundTruthEvent::Identity { blade, .. }
            | GroundTruthEvent::IdentityCleared { blade }
            | GroundTruthEvent::Health { blade, .. }
            | GroundTruthEvent::Fault { blade, .. } => blade,
        }
    }
}

struct Inner {
    records: Vec<GroundTruthRecord>,
    file: Option<(PathBuf, LineWriter<File>)>,
    file_failed: bool,
}

/// The rack's ground-truth log (in memory, optionally mirrored to a file).
pub struct GroundTruth {
    start: Instant,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for GroundTruth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroundTruth")
            .field("len", &self.len())
            .finish()
    }
}

impl GroundTruth {
    /// A log whose monotonic clock starts at `start`, writing JSON lines to
    /// `file` (created or truncated) when given.
    pub fn new(start: Instant, file: Option<&Path>) -> Result<GroundTruth, Error> {
        let file = match file {
            Some(path) => {
                let f = File::create(path).map_err(|source| Error::GroundTruthFile {
                    path: path.to_owned(),
                    source,
                })?;
                Some((path.to_owned(), LineWriter::new(f)))
            }
            None => None,
        };
        Ok(GroundTruth {
            start,
            inner: Mutex::new(Inner {
                records: Vec::new(),
                file,
                file_failed: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent Vec; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `event`, which happened at `at` on the tokio clock.
    pub(crate) fn record(&self, event: GroundTruthEvent, at: Instant) {
        let mono = at.saturating_duration_since(self.start);
        let ago = Instant::now().saturating_duration_since(at);
        let wall = SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(SystemTime::now())
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let wall_ms = wall.as_millis() as u64;
        let mut inner = self.lock();
        let record = GroundTruthRecord {
            seq: inner.records.len() as u64,
            mono_us: mono.as_micros() as u64,
            wall_ms,
            wall: rfc3339_millis(wall_ms),
            event,
        };
        if let Some((path, w)) = &mut inner.file {
            let line = serde_json::to_string(&record).unwrap_or_default();
            if let Err(e) = writeln!(w, "{line}") {
                let path = path.display().to_string();
                if !inner.file_failed {
                    tracing::error!(%path, error = %e, "cannot write the ground-truth log; records stay in memory");
                    inner.file_failed = true;
                }
            }
        }
        inner.records.push(record);
    }

    /// Every record so far.
    pub fn records(&self) -> Vec<GroundTruthRecord> {
        self.lock().records.clone()
    }

    /// Records with `seq >= since`.
    pub fn since(&self, since: u64) -> Vec<GroundTruthRecord> {
        let inner = self.lock();
        let from = usize::try_from(since)
            .unwrap_or(usize::MAX)
            .min(inner.records.len());
        inner.records[from..].to_vec()
    }

    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`find_violations`] over the whole log.
    pub fn violations(&self) -> Vec<Violation> {
        find_violations(&self.lock().records)
    }
}

/// `2026-01-01T00:00:00.301Z` for milliseconds since the Unix epoch.
pub fn rfc3339_millis(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResetType;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            rfc3339_millis(1_767_225_599_999),
            "2025-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn records_go_to_memory_and_the_file_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("hwsim-gt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gt.jsonl");
        let start = Instant::now();
        let gt = GroundTruth::new(start, Some(&path)).unwrap();
        gt.record(
            GroundTruthEvent::Power {
                blade: "blade-001".into(),
                from: PowerState::Off,
                to: PowerState::PoweringOn,
                cause: PowerCause::Reset(ResetType::On),
            },
            start + Duration::from_millis(5),
        );
        gt.record(
            GroundTruthEvent::IdentityCleared {
                blade: "blade-002".into(),
            },
            start,
        );
        let recs = gt.records();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].mono_us, 5000);
        assert_eq!(gt.since(1), recs[1..]);
        assert!(gt.since(99).is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<GroundTruthRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, recs);
        let json: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(json["kind"], "power");
        assert_eq!(json["cause"], "On");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_file_is_an_error_at_start() {
        let err = GroundTruth::new(Instant::now(), Some(Path::new("/nonexistent-dir/gt.jsonl")))
            .unwrap_err();
        assert!(matches!(err, Error::GroundTruthFile { .. }));
    }
}
