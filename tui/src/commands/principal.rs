//! `panctl principal` and `panctl whoami`: who may call the fabric API,
//! their roles and bearer tokens.
//!
//! JSON: a principal is `{"name", "roles": [...], "revoked", "created_at_ms",
//! "expires_at_ms": N|null (null: never expires), "token_key_id": "..."|null}`;
//! `create` and `rotate` print `{"principal": {...}, "token": "pan_…"}` (the
//! token is shown only then); `delete` prints `{"deleted": "principal/NAME"}`.

use super::Ctx;
use crate::args;
use crate::cli::{PrincipalCommand, PrincipalCreateArgs};
use crate::error::CliError;
use crate::output::{self, Detail, Row, details, opt, or_dash};
use crate::units::format_time_ms;
use pan_api::v1::{
    CreatePrincipalRequest, DeletePrincipalRequest, ListPrincipalsRequest, Principal,
    PrincipalToken, RevokePrincipalRequest, RotatePrincipalRequest, WhoAmIRequest,
};
use serde::Serialize;

/// A principal as printed.
#[derive(Debug, Serialize)]
pub struct PrincipalView {
    pub name: String,
    pub roles: Vec<String>,
    pub revoked: bool,
    pub created_at_ms: u64,
    /// `None`: the token never expires.
    pub expires_at_ms: Option<u64>,
    pub token_key_id: Option<String>,
}

impl From<&Principal> for PrincipalView {
    fn from(p: &Principal) -> Self {
        PrincipalView {
            name: p.name.clone(),
            roles: p.roles.clone(),
            revoked: p.revoked,
            created_at_ms: p.created_at_ms,
            expires_at_ms: (p.expires_at_ms != 0).then_some(p.expires_at_ms),
            token_key_id: opt(&p.token_key_id),
        }
    }
}

impl PrincipalView {
    fn roles_cell(&self) -> String {
        if self.roles.is_empty() {
            "-".to_string()
        } else {
            self.roles.join(",")
        }
    }

    fn expires_cell(&self) -> String {
        self.expires_at_ms
            .map_or_else(|| "never".to_string(), format_time_ms)
    }

    fn revoked_cell(&self) -> String {
        if self.revoked { "yes" } else { "no" }.to_string()
    }
}

impl Row for PrincipalView {
    const HEADERS: &'static [&'static str] = &["NAME", "ROLES", "REVOKED", "EXPIRES", "KEY-ID"];
    const EMPTY: &'static str = "no principals";
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.roles_cell(),
            self.revoked_cell(),
            self.expires_cell(),
            or_dash(&self.token_key_id),
        ]
    }
}

impl Detail for PrincipalView {
    fn detail(&self) -> String {
        details(&[
            ("name", self.name.clone()),
            ("roles", self.roles_cell()),
            ("revoked", self.revoked_cell()),
            ("created", format_time_ms(self.created_at_ms)),
            ("expires", self.expires_cell()),
            ("key id", or_dash(&self.token_key_id)),
        ])
    }
}

/// A principal with its new token, as printed by `create` and `rotate`.
#[derive(Debug, Serialize)]
pub struct TokenView {
    pub principal: PrincipalView,
    pub token: String,
}

impl From<&PrincipalToken> for TokenView {
    fn from(reply: &PrincipalToken) -> Self {
        TokenView {
            principal: PrincipalView::from(&reply.principal.clone().unwrap_or_default()),
            token: reply.token.clone(),
        }
    }
}

impl Detail for TokenView {
    fn detail(&self) -> String {
        format!(
            "{}\ntoken: {}\n\nThe token is shown only this once: save it now in a file only you can read, then pass it with --token-file FILE (or set PAN_TOKEN to it).\n",
            self.principal.detail(),
            self.token
        )
    }
}

/// The `principal create` request; a usage error when the roles and
/// `--partition` do not fit together.
fn create_request(args: PrincipalCreateArgs) -> Result<CreatePrincipalRequest, CliError> {
    let roles =
        args::resolve_roles(&args.roles, args.partition.as_deref()).map_err(CliError::Usage)?;
    Ok(CreatePrincipalRequest {
        name: args.name,
        roles,
        expires_in_s: args.expires_in.unwrap_or(0),
    })
}

/// Runs `panctl principal ...`.
pub async fn run(cmd: PrincipalCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        PrincipalCommand::Create(args) => {
            let request = create_request(args)?;
            let reply = ctx
                .manager
                .call(
                    request,
                    |mut c, r| async move { c.create_principal(r).await },
                )
                .await?;
            output::one(ctx.format, &TokenView::from(&reply))?
        }
        PrincipalCommand::List => {
            let reply = ctx
                .manager
                .call(ListPrincipalsRequest {}, |mut c, r| async move {
                    c.list_principals(r).await
                })
                .await?;
            let views: Vec<_> = reply.principals.iter().map(PrincipalView::from).collect();
            output::list(ctx.format, &views)?
        }
        PrincipalCommand::Revoke { name } => {
            let revoked = ctx
                .manager
                .call(RevokePrincipalRequest { name }, |mut c, r| async move {
                    c.revoke_principal(r).await
                })
                .await?;
            output::one(ctx.format, &PrincipalView::from(&revoked))?
        }
        PrincipalCommand::Rotate { name, expires_in } => {
            let request = RotatePrincipalRequest {
                name,
                expires_in_s: expires_in.unwrap_or(0),
            };
            let reply = ctx
                .manager
                .call(
                    request,
                    |mut c, r| async move { c.rotate_principal(r).await },
                )
                .await?;
            output::one(ctx.format, &TokenView::from(&reply))?
        }
        PrincipalCommand::Delete { name } => {
            ctx.manager
                .call(
                    DeletePrincipalRequest { name: name.clone() },
                    |mut c, r| async move { c.delete_principal(r).await },
                )
                .await?;
            output::deleted(
                ctx.format,
                &format!("principal/{name}"),
                &format!("deleted principal {name}"),
            )?
        }
    };
    ctx.print(&text)
}

/// Runs `panctl whoami`.
pub async fn whoami(ctx: &mut Ctx) -> anyhow::Result<()> {
    let me = ctx
        .manager
        .call(
            WhoAmIRequest {},
            |mut c, r| async move { c.who_am_i(r).await },
        )
        .await?;
    let text = output::one(ctx.format, &PrincipalView::from(&me))?;
    ctx.print(&text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::args::RoleArg;
    use crate::cli::Format;
    use serde_json::json;

    /// An admin that never expires, a revoked tenant with an expiry.
    pub(crate) fn sample() -> Vec<Principal> {
        vec![
            Principal {
                name: "admin".into(),
                roles: vec!["fabric-admin".into()],
                revoked: false,
                created_at_ms: 1_748_779_200_000,
                expires_at_ms: 0,
                token_key_id: "k7f3a9c2".into(),
            },
            Principal {
                name: "acme-ci".into(),
                roles: vec![
                    "partition-admin:acme".into(),
                    "partition-viewer:globex".into(),
                ],
                revoked: true,
                created_at_ms: 1_748_779_260_000,
                expires_at_ms: 1_756_555_200_000,
                token_key_id: "k0d41e88".into(),
            },
        ]
    }

    pub(crate) fn token_reply() -> PrincipalToken {
        PrincipalToken {
            principal: Some(Principal {
                revoked: false,
                ..sample()[1].clone()
            }),
            token: "pan_k0d41e88_Zm9vYmFyYmF6cXV4".into(),
        }
    }

    #[test]
    fn principal_json_shape() {
        let views: Vec<_> = sample().iter().map(PrincipalView::from).collect();
        assert_eq!(
            serde_json::to_value(&views).unwrap(),
            json!([
                {
                    "name": "admin",
                    "roles": ["fabric-admin"],
                    "revoked": false,
                    "created_at_ms": 1_748_779_200_000u64,
                    "expires_at_ms": null,
                    "token_key_id": "k7f3a9c2"
                },
                {
                    "name": "acme-ci",
                    "roles": ["partition-admin:acme", "partition-viewer:globex"],
                    "revoked": true,
                    "created_at_ms": 1_748_779_260_000u64,
                    "expires_at_ms": 1_756_555_200_000u64,
                    "token_key_id": "k0d41e88"
                }
            ])
        );
    }

    #[test]
    fn token_json_shape() {
        let text = output::one(Format::Json, &TokenView::from(&token_reply())).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["token"], "pan_k0d41e88_Zm9vYmFyYmF6cXV4");
        assert_eq!(value["principal"]["name"], "acme-ci");
        assert_eq!(
            value.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["principal", "token"]
        );
    }

    #[test]
    fn create_resolves_roles_and_expiry() {
        let request = create_request(PrincipalCreateArgs {
            name: "ci".into(),
            roles: vec![RoleArg::PartitionViewer(None), RoleArg::Operator],
            partition: Some("acme".into()),
            expires_in: Some(3_600),
        })
        .unwrap();
        assert_eq!(
            request,
            CreatePrincipalRequest {
                name: "ci".into(),
                roles: vec!["partition-viewer:acme".into(), "operator".into()],
                expires_in_s: 3_600,
            }
        );
        let err = create_request(PrincipalCreateArgs {
            name: "ci".into(),
            roles: vec![RoleArg::PartitionAdmin(None)],
            partition: None,
            expires_in: None,
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
