//! The audit log as the state keeps it.
//!
//! Every member records every command, and the newest 50,000 are kept. A
//! record made by `apply` shares the command and principal of its log entry
//! (two reference counts; a command carrying a secret is rendered at once)
//! and is rendered as text only when it is read or written into a snapshot: rendering it at apply time (the command's text,
//! its partition, the principal's copy) was about 8 % of a follower's CPU
//! per write. Records restored from a snapshot keep the text they were
//! stored as. Either way a record reads, compares and serializes as the
//! same [`AuditRecord`].

use super::command::Command;
use super::model::AuditRecord;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// One audit record; see the module doc.
#[derive(Clone, Debug)]
pub(crate) struct Audited {
    index: u64,
    at_ms: u64,
    principal: Arc<str>,
    what: What,
    error: Option<String>,
}

#[derive(Clone, Debug)]
enum What {
    /// Made by `apply`: the command itself.
    Command(Arc<Command>),
    /// Restored from a snapshot: as it was rendered then.
    Text {
        command: String,
        partition: Option<String>,
    },
}

impl Audited {
    pub(crate) fn new(
        index: u64,
        at_ms: u64,
        principal: Arc<str>,
        command: Arc<Command>,
        error: Option<String>,
    ) -> Self {
        // A command carrying a secret is rendered (redacted) at once: the
        // audit log must not keep the secret alive after its blade or
        // credential is gone.
        let what = if command.holds_secret() {
            What::Text {
                command: command.to_string(),
                partition: command.partition().map(str::to_string),
            }
        } else {
            What::Command(command)
        };
        Self {
            index,
            at_ms,
            principal,
            what,
            error,
        }
    }

    /// The partition the command concerned; `None` for fabric-wide ones.
    pub(crate) fn partition(&self) -> Option<&str> {
        match &self.what {
            What::Command(command) => command.partition(),
            What::Text { partition, .. } => partition.as_deref(),
        }
    }

    /// The record as the API shows it (secrets redacted by the command's
    /// `Display`).
    pub(crate) fn record(&self) -> AuditRecord {
        let (command, partition) = match &self.what {
            What::Command(command) => {
                (command.to_string(), command.partition().map(str::to_string))
            }
            What::Text { command, partition } => (command.clone(), partition.clone()),
        };
        AuditRecord {
            index: self.index,
            at_ms: self.at_ms,
            principal: self.principal.to_string(),
            command,
            error: self.error.clone(),
            partition,
        }
    }
}

impl From<AuditRecord> for Audited {
    fn from(r: AuditRecord) -> Self {
        Self {
            index: r.index,
            at_ms: r.at_ms,
            principal: r.principal.into(),
            what: What::Text {
                command: r.command,
                partition: r.partition,
            },
            error: r.error,
        }
    }
}

/// Equal when they read the same, however each is kept.
impl PartialEq for Audited {
    fn eq(&self, other: &Self) -> bool {
        self.record() == other.record()
    }
}

impl Eq for Audited {}

impl Serialize for Audited {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.record().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Audited {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AuditRecord::deserialize(deserializer).map(Audited::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::model::Secret;

    fn enroll() -> Arc<Command> {
        Arc::new(crate::state::tests::server_with(
            "acme", "web-1", 2, None, None,
        ))
    }

    #[test]
    fn a_live_record_reads_serializes_and_restores_as_its_rendered_text() {
        let live = Audited::new(7, 99, "ops".into(), enroll(), Some("no".into()));
        let record = live.record();
        assert_eq!(record.index, 7);
        assert_eq!(record.at_ms, 99);
        assert_eq!(record.principal, "ops");
        assert_eq!(record.command, enroll().to_string());
        assert_eq!(record.partition.as_deref(), Some("acme"));
        assert_eq!(record.error.as_deref(), Some("no"));
        assert_eq!(live.partition(), Some("acme"));

        // The snapshot form is the record's own; restored, it is equal.
        let json = serde_json::to_string(&live).unwrap();
        assert_eq!(json, serde_json::to_string(&record).unwrap());
        let restored: Audited = serde_json::from_str(&json).unwrap();
        assert!(matches!(restored.what, What::Text { .. }));
        assert_eq!(restored, live);
        assert_eq!(restored.partition(), Some("acme"));
        assert_ne!(
            restored,
            Audited::new(8, 99, "ops".into(), enroll(), Some("no".into()))
        );
    }

    #[test]
    fn a_record_never_shows_a_secret() {
        let command = Arc::new(Command::AddBlade {
            name: "blade-001".into(),
            bmc_url: "https://10.0.0.1".into(),
            bmc_user: "admin".into(),
            bmc_password: Secret("hunter2pw".into()),
            facts: None,
            pool: None,
        });
        let live = Audited::new(1, 1, "ops".into(), command, None);
        assert!(
            matches!(live.what, What::Text { .. }),
            "not kept: {:?}",
            live.what
        );
        assert!(!live.record().command.contains("hunter2pw"));
        assert!(!serde_json::to_string(&live).unwrap().contains("hunter2pw"));
    }
}
