//! `panctl audit`: the audit log, newest record first.
//!
//! JSON: an array of `{"index", "at_ms", "principal", "command", "outcome",
//! "error": "..."|null}`.

use super::Ctx;
use crate::cli::AuditArgs;
use crate::output::{self, Row, opt, or_dash};
use crate::units::format_time_ms;
use pan_api::v1::{AuditRecord, ListAuditRequest};
use serde::Serialize;

/// One audit record as printed.
#[derive(Debug, Serialize)]
pub struct AuditView {
    pub index: u64,
    pub at_ms: u64,
    pub principal: String,
    pub command: String,
    /// `ok` or `error`.
    pub outcome: String,
    pub error: Option<String>,
}

impl From<&AuditRecord> for AuditView {
    fn from(r: &AuditRecord) -> Self {
        AuditView {
            index: r.index,
            at_ms: r.at_ms,
            principal: r.principal.clone(),
            command: r.command.clone(),
            outcome: r.outcome.clone(),
            error: opt(&r.error),
        }
    }
}

impl Row for AuditView {
    const HEADERS: &'static [&'static str] =
        &["INDEX", "TIME", "PRINCIPAL", "OUTCOME", "COMMAND", "ERROR"];
    const EMPTY: &'static str = "no audit records";
    fn cells(&self) -> Vec<String> {
        vec![
            self.index.to_string(),
            format_time_ms(self.at_ms),
            self.principal.clone(),
            self.outcome.clone(),
            self.command.clone(),
            or_dash(&self.error),
        ]
    }
}

/// Runs `panctl audit`.
pub async fn run(args: AuditArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let request = ListAuditRequest {
        limit: args.limit.unwrap_or(0),
    };
    let reply = ctx
        .manager
        .call(request, |mut c, r| async move { c.list_audit(r).await })
        .await?;
    let views: Vec<_> = reply.records.iter().map(AuditView::from).collect();
    ctx.print(&output::list(ctx.format, &views)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audit_json_shape() {
        let record = AuditRecord {
            index: 42,
            at_ms: 1_748_779_200_000,
            principal: "alice".into(),
            command: "partition create acme".into(),
            outcome: "error".into(),
            error: "partition acme already exists".into(),
        };
        let view = AuditView::from(&record);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "index": 42,
                "at_ms": 1_748_779_200_000u64,
                "principal": "alice",
                "command": "partition create acme",
                "outcome": "error",
                "error": "partition acme already exists"
            })
        );
        let ok = AuditView::from(&AuditRecord {
            error: String::new(),
            outcome: "ok".into(),
            ..record
        });
        assert_eq!(serde_json::to_value(&ok).unwrap()["error"], json!(null));
        assert_eq!(
            ok.cells(),
            [
                "42",
                "2025-06-01T12:00:00Z",
                "alice",
                "ok",
                "partition create acme",
                "-"
            ]
        );
    }
}
