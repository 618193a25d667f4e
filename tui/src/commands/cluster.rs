//! `panctl cluster`: status, add-member, remove-member. All three print the
//! cluster status the manager answers with.
//!
//! JSON: `{"leader": 1|null, "term", "members": [{"id", "addr", "role"}],
//! "answered_by", "last_log_index", "last_applied", "snapshot_index",
//! "snapshots_installed", "state_digest": "..."|null}`; `leader` is `null`
//! while no leader is known.

use super::Ctx;
use crate::cli::ClusterCommand;
use crate::output::{self, Detail, Table, details, opt, or_dash};
use pan_api::v1::{
    AddMemberRequest, ClusterStatusReply, ClusterStatusRequest, Member, RemoveMemberRequest,
};
use serde::Serialize;

/// The cluster as one member sees it.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    pub leader: Option<u64>,
    pub term: u64,
    pub members: Vec<MemberView>,
    pub answered_by: u64,
    pub last_log_index: u64,
    pub last_applied: u64,
    pub snapshot_index: u64,
    pub snapshots_installed: u64,
    pub state_digest: Option<String>,
}

/// One cluster member.
#[derive(Debug, Serialize)]
pub struct MemberView {
    pub id: u64,
    pub addr: String,
    /// `voter` or `learner`.
    pub role: String,
}

impl From<&ClusterStatusReply> for ClusterView {
    fn from(reply: &ClusterStatusReply) -> Self {
        ClusterView {
            leader: (reply.leader != 0).then_some(reply.leader),
            term: reply.term,
            members: reply.members.iter().map(MemberView::from).collect(),
            answered_by: reply.answered_by,
            last_log_index: reply.last_log_index,
            last_applied: reply.last_applied,
            snapshot_index: reply.snapshot_index,
            snapshots_installed: reply.snapshots_installed,
            state_digest: opt(&reply.state_digest),
        }
    }
}

impl From<&Member> for MemberView {
    fn from(member: &Member) -> Self {
        MemberView {
            id: member.id,
            addr: member.addr.clone(),
            role: member.role.clone(),
        }
    }
}

impl Detail for ClusterView {
    fn detail(&self) -> String {
        let leader = self.leader.map_or_else(
            || "none (no leader is known)".to_string(),
            |l| l.to_string(),
        );
        let mut text = details(&[
            ("leader", leader),
            ("term", self.term.to_string()),
            ("answered by", self.answered_by.to_string()),
            ("last log index", self.last_log_index.to_string()),
            ("last applied", self.last_applied.to_string()),
            ("snapshot index", self.snapshot_index.to_string()),
            ("snapshots installed", self.snapshots_installed.to_string()),
            ("state digest", or_dash(&self.state_digest)),
        ]);
        text.push('\n');
        let mut members = Table::new(&["ID", "ADDR", "ROLE", "LEADER"]);
        for member in &self.members {
            let leader = if self.leader == Some(member.id) {
                "*"
            } else {
                ""
            };
            members.push(vec![
                member.id.to_string(),
                member.addr.clone(),
                member.role.clone(),
                leader.to_string(),
            ]);
        }
        text.push_str(&members.render());
        text
    }
}

/// Runs `panctl cluster ...`.
pub async fn run(cmd: ClusterCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let reply = match cmd {
        ClusterCommand::Status => {
            ctx.manager
                .call(ClusterStatusRequest {}, |mut c, r| async move {
                    c.cluster_status(r).await
                })
                .await?
        }
        ClusterCommand::AddMember { id, addr } => {
            ctx.manager
                .call(AddMemberRequest { id, addr }, |mut c, r| async move {
                    c.add_member(r).await
                })
                .await?
        }
        ClusterCommand::RemoveMember { id } => {
            ctx.manager
                .call(RemoveMemberRequest { id }, |mut c, r| async move {
                    c.remove_member(r).await
                })
                .await?
        }
    };
    ctx.print(&output::one(ctx.format, &ClusterView::from(&reply))?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A three-member cluster led by member 1, as member 2 reports it.
    pub(crate) fn sample() -> ClusterStatusReply {
        ClusterStatusReply {
            leader: 1,
            term: 4,
            members: vec![
                Member {
                    id: 1,
                    addr: "10.0.0.1:7001".into(),
                    role: "voter".into(),
                },
                Member {
                    id: 2,
                    addr: "10.0.0.2:7001".into(),
                    role: "voter".into(),
                },
                Member {
                    id: 3,
                    addr: "10.0.0.3:7001".into(),
                    role: "learner".into(),
                },
            ],
            answered_by: 2,
            last_log_index: 120,
            last_applied: 119,
            snapshot_index: 100,
            snapshots_installed: 1,
            state_digest: "9f1c2e".into(),
        }
    }

    #[test]
    fn status_json_shape() {
        let value = serde_json::to_value(ClusterView::from(&sample())).unwrap();
        assert_eq!(
            value,
            json!({
                "leader": 1,
                "term": 4,
                "members": [
                    {"id": 1, "addr": "10.0.0.1:7001", "role": "voter"},
                    {"id": 2, "addr": "10.0.0.2:7001", "role": "voter"},
                    {"id": 3, "addr": "10.0.0.3:7001", "role": "learner"}
                ],
                "answered_by": 2,
                "last_log_index": 120,
                "last_applied": 119,
                "snapshot_index": 100,
                "snapshots_installed": 1,
                "state_digest": "9f1c2e"
            })
        );
    }

    #[test]
    fn no_leader_and_no_digest_are_null() {
        let reply = ClusterStatusReply {
            leader: 0,
            ..sample()
        };
        let reply = ClusterStatusReply {
            state_digest: String::new(),
            ..reply
        };
        let value = serde_json::to_value(ClusterView::from(&reply)).unwrap();
        assert_eq!(value["leader"], json!(null));
        assert_eq!(value["state_digest"], json!(null));
        let text = ClusterView::from(&reply).detail();
        assert!(
            text.starts_with("leader               none (no leader is known)\n"),
            "{text}"
        );
        assert!(!text.contains('*'), "{text}");
    }
}
