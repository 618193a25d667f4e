//! `panctl coverage`: the running servers that have no qualifying spare
//! blade right now (N+1 coverage), and a summary line.
//!
//! JSON: `{"servers": M, "uncovered": [{"server", "partition", "reason"}]}`,
//! where M is the number of running servers checked.

use super::Ctx;
use crate::cli::CoverageArgs;
use crate::error::CliError;
use crate::output::{self, Detail, Table};
use pan_api::v1::{CoverageReply, CoverageRequest, UncoveredServer};
use serde::Serialize;

/// The coverage report as printed.
#[derive(Debug, Serialize)]
pub struct CoverageView {
    /// Running servers checked.
    pub servers: u32,
    /// Those without a qualifying spare.
    pub uncovered: Vec<UncoveredView>,
}

/// A running server without a qualifying spare.
#[derive(Debug, Serialize)]
pub struct UncoveredView {
    pub server: String,
    pub partition: String,
    /// Why no spare qualifies.
    pub reason: String,
}

impl From<&UncoveredServer> for UncoveredView {
    fn from(u: &UncoveredServer) -> Self {
        UncoveredView {
            server: u.server.clone(),
            partition: u.partition.clone(),
            reason: u.reason.clone(),
        }
    }
}

impl From<&CoverageReply> for CoverageView {
    fn from(r: &CoverageReply) -> Self {
        CoverageView {
            servers: r.servers,
            uncovered: r.uncovered.iter().map(UncoveredView::from).collect(),
        }
    }
}

impl CoverageView {
    /// The summary line: how many running servers have a spare.
    pub fn summary(&self) -> String {
        if self.uncovered.is_empty() {
            return "every running server has a qualifying spare".to_string();
        }
        let uncovered = u32::try_from(self.uncovered.len()).unwrap_or(u32::MAX);
        // A manager never reports more uncovered than checked; if one did,
        // count the uncovered as checked too.
        let servers = self.servers.max(uncovered);
        format!(
            "{} of {servers} running servers have a qualifying spare",
            servers - uncovered
        )
    }
}

impl Detail for CoverageView {
    /// The uncovered servers (if any) and, after a blank line, the summary.
    fn detail(&self) -> String {
        if self.uncovered.is_empty() {
            return self.summary() + "\n";
        }
        let mut table = Table::new(&["SERVER", "REASON"]);
        for u in &self.uncovered {
            table.push(vec![
                format!("{}/{}", u.partition, u.server),
                u.reason.clone(),
            ]);
        }
        format!("{}\n{}\n", table.render(), self.summary())
    }
}

/// Runs `panctl coverage`: exit 1 with `--fail-if-uncovered` when any
/// running server is uncovered, after printing the report.
pub async fn run(args: CoverageArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let reply = ctx
        .manager
        .call(
            CoverageRequest {},
            |mut c, r| async move { c.coverage(r).await },
        )
        .await?;
    let view = CoverageView::from(&reply);
    ctx.print(&output::one(ctx.format, &view)?)?;
    if args.fail_if_uncovered && !view.uncovered.is_empty() {
        let uncovered = u32::try_from(view.uncovered.len()).unwrap_or(u32::MAX);
        return Err(CliError::Uncovered {
            uncovered,
            servers: view.servers.max(uncovered),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Five running servers, two of them without a spare.
    pub(crate) fn sample() -> CoverageReply {
        CoverageReply {
            servers: 5,
            uncovered: vec![
                UncoveredServer {
                    server: "db-1".into(),
                    partition: "acme".into(),
                    reason: "no available blade in pool spares has >= 32 cores".into(),
                },
                UncoveredServer {
                    server: "batch".into(),
                    partition: "globex".into(),
                    reason: "failover pool big-iron has no available blades".into(),
                },
            ],
        }
    }

    #[test]
    fn coverage_json_shape() {
        let view = CoverageView::from(&sample());
        let value: serde_json::Value =
            serde_json::from_str(&output::one(crate::cli::Format::Json, &view).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({
                "servers": 5,
                "uncovered": [
                    {
                        "server": "db-1",
                        "partition": "acme",
                        "reason": "no available blade in pool spares has >= 32 cores"
                    },
                    {
                        "server": "batch",
                        "partition": "globex",
                        "reason": "failover pool big-iron has no available blades"
                    }
                ]
            })
        );
        let all = CoverageView::from(&CoverageReply {
            servers: 3,
            uncovered: vec![],
        });
        assert_eq!(
            serde_json::to_value(&all).unwrap(),
            json!({"servers": 3, "uncovered": []})
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(
            CoverageView::from(&sample()).summary(),
            "3 of 5 running servers have a qualifying spare"
        );
        for servers in [0, 4] {
            let view = CoverageView::from(&CoverageReply {
                servers,
                uncovered: vec![],
            });
            assert_eq!(
                view.detail(),
                "every running server has a qualifying spare\n"
            );
        }
        let odd = CoverageView::from(&CoverageReply {
            servers: 1,
            ..sample()
        });
        assert_eq!(
            odd.summary(),
            "0 of 2 running servers have a qualifying spare"
        );
    }
}
