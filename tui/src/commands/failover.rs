//! `panctl failover history`: failovers, newest first, with how long each
//! phase took (detect, fence, select a spare, boot, total).
//!
//! JSON: an array of `{"id", "server", "partition", "from_blade",
//! "to_blade": "..."|null, "phase", "reason": "..."|null, "error":
//! "..."|null, "confirmed_by": "..."|null, "started_at_ms", "detect_ms",
//! "fence_ms", "select_ms", "boot_ms", "total_ms"}` (durations in
//! milliseconds, 0 while the phase is not reached).

use super::Ctx;
use crate::cli::{FailoverCommand, FailoverHistoryArgs};
use crate::output::{self, Row, opt, or_dash};
use crate::units::format_duration_ms;
use pan_api::v1::{Failover, ListFailoversRequest};
use serde::Serialize;

/// One failover as printed.
#[derive(Debug, Serialize)]
pub struct FailoverView {
    pub id: u64,
    pub server: String,
    pub partition: String,
    /// The blade judged failed.
    pub from_blade: String,
    /// The spare; `null` until one is chosen.
    pub to_blade: Option<String>,
    /// fencing, fence_failed, awaiting_spare, booting, done.
    pub phase: String,
    /// Why the blade was judged failed.
    pub reason: Option<String>,
    /// Why the last step failed, if one did.
    pub error: Option<String>,
    /// The operator who confirmed a manual fence, if one did.
    pub confirmed_by: Option<String>,
    pub started_at_ms: u64,
    pub detect_ms: u64,
    pub fence_ms: u64,
    pub select_ms: u64,
    pub boot_ms: u64,
    pub total_ms: u64,
}

impl From<&Failover> for FailoverView {
    fn from(f: &Failover) -> Self {
        FailoverView {
            id: f.id,
            server: f.server.clone(),
            partition: f.partition.clone(),
            from_blade: f.from_blade.clone(),
            to_blade: opt(&f.to_blade),
            phase: f.phase.clone(),
            reason: opt(&f.reason),
            error: opt(&f.error),
            confirmed_by: opt(&f.confirmed_by),
            started_at_ms: f.started_at_ms,
            detect_ms: f.detect_ms,
            fence_ms: f.fence_ms,
            select_ms: f.select_ms,
            boot_ms: f.boot_ms,
            total_ms: f.total_ms,
        }
    }
}

impl Row for FailoverView {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "SERVER",
        "FROM",
        "TO",
        "PHASE",
        "DETECT",
        "FENCE",
        "SELECT",
        "BOOT",
        "TOTAL",
        "CONFIRMED-BY",
        "ERROR",
    ];
    const EMPTY: &'static str = "no failovers";
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            format!("{}/{}", self.partition, self.server),
            or_dash(&opt(&self.from_blade)),
            or_dash(&self.to_blade),
            self.phase.clone(),
            format_duration_ms(self.detect_ms),
            format_duration_ms(self.fence_ms),
            format_duration_ms(self.select_ms),
            format_duration_ms(self.boot_ms),
            format_duration_ms(self.total_ms),
            or_dash(&self.confirmed_by),
            or_dash(&self.error),
        ]
    }
}

/// The `failover history` request.
fn history_request(args: &FailoverHistoryArgs) -> ListFailoversRequest {
    ListFailoversRequest {
        limit: args.limit.unwrap_or(0),
    }
}

/// Runs `panctl failover ...`.
pub async fn run(cmd: FailoverCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        FailoverCommand::History(args) => {
            let reply = ctx
                .manager
                .call(history_request(&args), |mut c, r| async move {
                    c.list_failovers(r).await
                })
                .await?;
            let views: Vec<_> = reply.failovers.iter().map(FailoverView::from).collect();
            output::list(ctx.format, &views)?
        }
    };
    ctx.print(&text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Three failovers, newest first: one still waiting for a spare after
    /// a manual fence, one whose fence failed, one done.
    pub(crate) fn sample() -> Vec<Failover> {
        vec![
            Failover {
                id: 3,
                server: "db-1".into(),
                partition: "acme".into(),
                from_blade: "b4".into(),
                to_blade: String::new(),
                phase: "awaiting_spare".into(),
                reason: "agent silent for 15 s, BMC unreachable".into(),
                error: "no available blade qualifies (>= 32 cores) in pool spares".into(),
                confirmed_by: "alice".into(),
                started_at_ms: 1_748_779_500_000,
                detect_ms: 15_400,
                fence_ms: 312_000,
                select_ms: 0,
                boot_ms: 0,
                total_ms: 0,
            },
            Failover {
                id: 2,
                server: "batch".into(),
                partition: "globex".into(),
                from_blade: "b6".into(),
                to_blade: String::new(),
                phase: "fence_failed".into(),
                reason: "BMC reports health critical".into(),
                error: "BMC of b6 did not answer the power-off within 60 s".into(),
                confirmed_by: String::new(),
                started_at_ms: 1_748_779_400_000,
                detect_ms: 2_050,
                fence_ms: 0,
                select_ms: 0,
                boot_ms: 0,
                total_ms: 0,
            },
            Failover {
                id: 1,
                server: "web-1".into(),
                partition: "acme".into(),
                from_blade: "b3".into(),
                to_blade: "b8".into(),
                phase: "done".into(),
                reason: "agent silent for 15 s".into(),
                error: String::new(),
                confirmed_by: String::new(),
                started_at_ms: 1_748_779_200_000,
                detect_ms: 840,
                fence_ms: 3_210,
                select_ms: 12,
                boot_ms: 46_200,
                total_ms: 50_262,
            },
        ]
    }

    #[test]
    fn failover_json_keeps_the_proto_fields_with_null_for_absent_strings() {
        let views: Vec<_> = sample().iter().map(FailoverView::from).collect();
        let value: serde_json::Value =
            serde_json::from_str(&output::list(crate::cli::Format::Json, &views).unwrap()).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 3);
        assert_eq!(
            value[2],
            json!({
                "id": 1,
                "server": "web-1",
                "partition": "acme",
                "from_blade": "b3",
                "to_blade": "b8",
                "phase": "done",
                "reason": "agent silent for 15 s",
                "error": null,
                "confirmed_by": null,
                "started_at_ms": 1_748_779_200_000u64,
                "detect_ms": 840,
                "fence_ms": 3_210,
                "select_ms": 12,
                "boot_ms": 46_200,
                "total_ms": 50_262
            })
        );
        assert_eq!(value[0]["to_blade"], json!(null));
        assert_eq!(value[0]["confirmed_by"], "alice");
        assert_eq!(value[0]["select_ms"], 0);
    }

    #[test]
    fn cells_show_durations_for_people_and_dashes() {
        let views: Vec<_> = sample().iter().map(FailoverView::from).collect();
        assert_eq!(
            views[2].cells(),
            [
                "1",
                "acme/web-1",
                "b3",
                "b8",
                "done",
                "0.84s",
                "3.21s",
                "0.01s",
                "46.2s",
                "50.3s",
                "-",
                "-"
            ]
        );
        assert_eq!(
            views[1].cells()[3..10],
            ["-", "fence_failed", "2.05s", "-", "-", "-", "-"]
        );
    }

    #[test]
    fn history_sends_the_limit_or_zero() {
        assert_eq!(
            history_request(&FailoverHistoryArgs { limit: Some(5) }).limit,
            5
        );
        assert_eq!(
            history_request(&FailoverHistoryArgs { limit: None }).limit,
            0
        );
    }
}
