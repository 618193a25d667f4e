//! `panctl identity-pool`: create, list, delete pools of identities (a MAC
//! range and a UUID prefix; host NQNs derive from the UUIDs).
//!
//! JSON: `{"id", "name", "mac_first", "mac_last", "uuid_prefix",
//! "macs_total", "macs_used", "uuids_used"}`; delete prints
//! `{"deleted": "identity-pool/NAME"}`.

use super::Ctx;
use crate::cli::IdentityPoolCommand;
use crate::output::{self, Detail, Row, details};
use pan_api::v1::{
    CreateIdentityPoolRequest, DeleteIdentityPoolRequest, IdentityPool, ListIdentityPoolsRequest,
};
use serde::Serialize;

/// An identity pool as printed.
#[derive(Debug, Serialize)]
pub struct IdentityPoolView {
    pub id: u64,
    pub name: String,
    pub mac_first: String,
    pub mac_last: String,
    pub uuid_prefix: String,
    pub macs_total: u64,
    pub macs_used: u64,
    pub uuids_used: u64,
}

impl From<&IdentityPool> for IdentityPoolView {
    fn from(p: &IdentityPool) -> Self {
        IdentityPoolView {
            id: p.id,
            name: p.name.clone(),
            mac_first: p.mac_first.clone(),
            mac_last: p.mac_last.clone(),
            uuid_prefix: p.uuid_prefix.clone(),
            macs_total: p.macs_total,
            macs_used: p.macs_used,
            uuids_used: p.uuids_used,
        }
    }
}

impl Row for IdentityPoolView {
    const HEADERS: &'static [&'static str] =
        &["NAME", "MACS", "MACS-USED", "UUID-PREFIX", "UUIDS-USED"];
    const EMPTY: &'static str = "no identity pools";
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            format!("{}-{}", self.mac_first, self.mac_last),
            format!("{}/{}", self.macs_used, self.macs_total),
            self.uuid_prefix.clone(),
            self.uuids_used.to_string(),
        ]
    }
}

impl Detail for IdentityPoolView {
    fn detail(&self) -> String {
        details(&[
            ("name", self.name.clone()),
            ("id", self.id.to_string()),
            ("macs", format!("{} - {}", self.mac_first, self.mac_last)),
            (
                "macs used",
                format!("{} of {}", self.macs_used, self.macs_total),
            ),
            ("uuid prefix", self.uuid_prefix.clone()),
            ("uuids used", self.uuids_used.to_string()),
        ])
    }
}

/// Runs `panctl identity-pool ...`.
pub async fn run(cmd: IdentityPoolCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        IdentityPoolCommand::Create {
            name,
            macs,
            uuid_prefix,
        } => {
            let request = CreateIdentityPoolRequest {
                name,
                mac_first: macs.first,
                mac_last: macs.last,
                uuid_prefix,
            };
            let created = ctx
                .manager
                .call(request, |mut c, r| async move {
                    c.create_identity_pool(r).await
                })
                .await?;
            output::one(ctx.format, &IdentityPoolView::from(&created))?
        }
        IdentityPoolCommand::List => {
            let reply = ctx
                .manager
                .call(ListIdentityPoolsRequest {}, |mut c, r| async move {
                    c.list_identity_pools(r).await
                })
                .await?;
            let views: Vec<_> = reply.pools.iter().map(IdentityPoolView::from).collect();
            output::list(ctx.format, &views)?
        }
        IdentityPoolCommand::Delete { name } => {
            ctx.manager
                .call(
                    DeleteIdentityPoolRequest { name: name.clone() },
                    |mut c, r| async move { c.delete_identity_pool(r).await },
                )
                .await?;
            output::deleted(
                ctx.format,
                &format!("identity-pool/{name}"),
                &format!("deleted identity pool {name}"),
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
    fn identity_pool_json_shape() {
        let pool = IdentityPool {
            id: 1,
            name: "default".into(),
            mac_first: "02:50:41:00:00:00".into(),
            mac_last: "02:50:41:00:ff:ff".into(),
            uuid_prefix: "50414e00-0000-0000".into(),
            macs_total: 65_536,
            macs_used: 3,
            uuids_used: 2,
        };
        let view = IdentityPoolView::from(&pool);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "id": 1,
                "name": "default",
                "mac_first": "02:50:41:00:00:00",
                "mac_last": "02:50:41:00:ff:ff",
                "uuid_prefix": "50414e00-0000-0000",
                "macs_total": 65_536,
                "macs_used": 3,
                "uuids_used": 2
            })
        );
        assert_eq!(
            view.cells(),
            [
                "default",
                "02:50:41:00:00:00-02:50:41:00:ff:ff",
                "3/65536",
                "50414e00-0000-0000",
                "2"
            ]
        );
    }
}
