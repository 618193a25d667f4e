//! `panctl pool`: create, list, delete blade pools; also the qualification
//! view shared with servers' requirements.
//!
//! JSON: `{"id", "name", "qualification": {"model": "..."|null, "min_cores",
//! "min_memory_gib"}, "blades": ["NAME", ...]}`; delete prints
//! `{"deleted": "pool/NAME"}`. Zero minimums mean "no minimum".

use super::Ctx;
use crate::cli::PoolCommand;
use crate::output::{self, Detail, Row, details, opt};
use pan_api::v1::{CreatePoolRequest, DeletePoolRequest, ListPoolsRequest, Pool, Qualification};
use serde::Serialize;

/// Qualification rules (a pool's) or requirements (a server's).
#[derive(Debug, Default, Serialize)]
pub struct QualificationView {
    /// `null`: any model.
    pub model: Option<String>,
    pub min_cores: u32,
    pub min_memory_gib: u64,
}

impl From<Option<&Qualification>> for QualificationView {
    fn from(q: Option<&Qualification>) -> Self {
        q.map(|q| QualificationView {
            model: opt(&q.model),
            min_cores: q.min_cores,
            min_memory_gib: q.min_memory_gib,
        })
        .unwrap_or_default()
    }
}

impl QualificationView {
    /// Model for tables: `any` when unrestricted.
    pub fn model_cell(&self) -> String {
        self.model.clone().unwrap_or_else(|| "any".to_string())
    }

    /// A minimum for tables: `-` when zero.
    pub fn min_cell(value: u64, unit: &str) -> String {
        if value == 0 {
            "-".to_string()
        } else {
            format!("{value}{unit}")
        }
    }

    /// One-line summary, e.g. `model x, >= 32 cores, >= 256 GiB` or `any blade`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(model) = &self.model {
            parts.push(format!("model {model}"));
        }
        if self.min_cores > 0 {
            parts.push(format!(">= {} cores", self.min_cores));
        }
        if self.min_memory_gib > 0 {
            parts.push(format!(">= {} GiB", self.min_memory_gib));
        }
        if parts.is_empty() {
            "any blade".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// The qualification to send: absent flags mean no restriction.
pub fn qualification(
    model: Option<String>,
    min_cores: Option<u32>,
    min_memory_gib: Option<u64>,
) -> Qualification {
    Qualification {
        model: model.unwrap_or_default(),
        min_cores: min_cores.unwrap_or_default(),
        min_memory_gib: min_memory_gib.unwrap_or_default(),
    }
}

/// A blade pool as printed.
#[derive(Debug, Serialize)]
pub struct PoolView {
    pub id: u64,
    pub name: String,
    pub qualification: QualificationView,
    pub blades: Vec<String>,
}

impl From<&Pool> for PoolView {
    fn from(p: &Pool) -> Self {
        PoolView {
            id: p.id,
            name: p.name.clone(),
            qualification: QualificationView::from(p.qualification.as_ref()),
            blades: p.blades.clone(),
        }
    }
}

impl Row for PoolView {
    const HEADERS: &'static [&'static str] =
        &["NAME", "MODEL", "MIN-CORES", "MIN-MEMORY", "BLADES"];
    const EMPTY: &'static str = "no pools";
    fn cells(&self) -> Vec<String> {
        let q = &self.qualification;
        vec![
            self.name.clone(),
            q.model_cell(),
            QualificationView::min_cell(q.min_cores.into(), ""),
            QualificationView::min_cell(q.min_memory_gib, " GiB"),
            self.blades.len().to_string(),
        ]
    }
}

impl Detail for PoolView {
    fn detail(&self) -> String {
        let blades = if self.blades.is_empty() {
            "-".to_string()
        } else {
            self.blades.join(", ")
        };
        details(&[
            ("name", self.name.clone()),
            ("id", self.id.to_string()),
            ("qualification", self.qualification.summary()),
            ("blades", blades),
        ])
    }
}

/// Runs `panctl pool ...`.
pub async fn run(cmd: PoolCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        PoolCommand::Create {
            name,
            model,
            min_cores,
            min_memory_gib,
        } => {
            let request = CreatePoolRequest {
                name,
                qualification: Some(qualification(model, min_cores, min_memory_gib)),
            };
            let created = ctx
                .manager
                .call(request, |mut c, r| async move { c.create_pool(r).await })
                .await?;
            output::one(ctx.format, &PoolView::from(&created))?
        }
        PoolCommand::List => {
            let reply = ctx
                .manager
                .call(ListPoolsRequest {}, |mut c, r| async move {
                    c.list_pools(r).await
                })
                .await?;
            let views: Vec<_> = reply.pools.iter().map(PoolView::from).collect();
            output::list(ctx.format, &views)?
        }
        PoolCommand::Delete { name } => {
            ctx.manager
                .call(
                    DeletePoolRequest { name: name.clone() },
                    |mut c, r| async move { c.delete_pool(r).await },
                )
                .await?;
            output::deleted(
                ctx.format,
                &format!("pool/{name}"),
                &format!("deleted pool {name}"),
            )?
        }
    };
    ctx.print(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pool_json_shape() {
        let pool = Pool {
            id: 1,
            name: "spares".into(),
            qualification: Some(Qualification {
                model: String::new(),
                min_cores: 32,
                min_memory_gib: 0,
            }),
            blades: vec!["b1".into(), "b2".into()],
        };
        let view = PoolView::from(&pool);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "id": 1,
                "name": "spares",
                "qualification": {"model": null, "min_cores": 32, "min_memory_gib": 0},
                "blades": ["b1", "b2"]
            })
        );
        assert_eq!(view.cells(), ["spares", "any", "32", "-", "2"]);
        assert_eq!(view.qualification.summary(), ">= 32 cores");
    }

    #[test]
    fn a_missing_qualification_means_any_blade() {
        let pool = Pool {
            id: 2,
            name: "p".into(),
            qualification: None,
            blades: vec![],
        };
        let value = serde_json::to_value(PoolView::from(&pool)).unwrap();
        assert_eq!(
            value["qualification"],
            json!({"model": null, "min_cores": 0, "min_memory_gib": 0})
        );
        assert_eq!(PoolView::from(&pool).qualification.summary(), "any blade");
    }
}
