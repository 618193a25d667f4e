//! `panctl blade`: add (with the BMC password read from a file), discover
//! (see [`super::discover`]), list, show, power and remove physical blades;
//! for failover: confirm a manual fence, repair, drain. The password is
//! sent once and never printed.
//!
//! JSON: `{"id", "name", "state", "power": "..."|null, "health": "..."|null,
//! "pool": "..."|null, "server": "..."|null, "bmc_url", "bmc_user",
//! "credential_ref": "..."|null, "facts": null | {"model", "cores",
//! "memory_gib", "macs": [...], "uuid": "..."|null}}` (add, show, power,
//! confirm-fenced, repair and drain print one, list an array); remove prints `{"deleted": "blade/NAME"}`.

use super::server::move_timeout;
use super::{Ctx, discover};
use crate::cli::{BladeAddArgs, BladeCommand, PowerAction};
use crate::error::CliError;
use crate::output::{self, Detail, Row, details, opt, or_dash};
use pan_api::v1::{
    AddBladeRequest, Blade, BladeFacts, BladePowerRequest, ConfirmFencedRequest, DrainBladeRequest,
    GetBladeRequest, ListBladesRequest, RemoveBladeRequest, RepairBladeRequest,
};
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// How long `blade power` waits for an answer: the manager waits up to
/// 120 s for the BMC to read the new power state back.
pub const POWER_TIMEOUT: Duration = Duration::from_secs(150);
/// How long `blade repair` waits for an answer: the manager checks the
/// blade's health through its BMC first, as slow as a power change.
pub const REPAIR_TIMEOUT: Duration = POWER_TIMEOUT;

/// A blade as printed.
#[derive(Debug, Serialize)]
pub struct BladeView {
    pub id: u64,
    pub name: String,
    pub state: String,
    /// Last observed power: on, off, powering_on, powering_off, unknown.
    pub power: Option<String>,
    /// Last observed health: ok, warning, critical, unknown.
    pub health: Option<String>,
    pub pool: Option<String>,
    /// `partition/server` running here.
    pub server: Option<String>,
    pub bmc_url: String,
    pub bmc_user: String,
    pub credential_ref: Option<String>,
    /// `null` until the blade's inventory is known.
    pub facts: Option<FactsView>,
}

/// A blade's inventory.
#[derive(Debug, Serialize)]
pub struct FactsView {
    pub model: String,
    pub cores: u32,
    pub memory_gib: u64,
    pub macs: Vec<String>,
    pub uuid: Option<String>,
}

impl From<&Blade> for BladeView {
    fn from(b: &Blade) -> Self {
        let facts = b.facts.as_ref().filter(|_| b.has_facts).map(|f| FactsView {
            model: f.model.clone(),
            cores: f.cores,
            memory_gib: f.memory_gib,
            macs: f.macs.clone(),
            uuid: opt(&f.uuid),
        });
        BladeView {
            id: b.id,
            name: b.name.clone(),
            state: b.state.clone(),
            power: opt(&b.power),
            health: opt(&b.health),
            pool: opt(&b.pool),
            server: opt(&b.server),
            bmc_url: b.bmc_url.clone(),
            bmc_user: b.bmc_user.clone(),
            credential_ref: opt(&b.credential_ref),
            facts,
        }
    }
}

impl Row for BladeView {
    const HEADERS: &'static [&'static str] = &[
        "NAME", "STATE", "POWER", "HEALTH", "POOL", "SERVER", "MODEL", "CORES", "MEMORY", "BMC",
    ];
    const EMPTY: &'static str = "no blades";
    fn cells(&self) -> Vec<String> {
        let (model, cores, memory) = match &self.facts {
            Some(f) => (
                f.model.clone(),
                f.cores.to_string(),
                format!("{} GiB", f.memory_gib),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        vec![
            self.name.clone(),
            self.state.clone(),
            or_dash(&self.power),
            or_dash(&self.health),
            or_dash(&self.pool),
            or_dash(&self.server),
            model,
            cores,
            memory,
            self.bmc_url.clone(),
        ]
    }
}

impl Detail for BladeView {
    fn detail(&self) -> String {
        let mut fields = vec![
            ("name", self.name.clone()),
            ("id", self.id.to_string()),
            ("state", self.state.clone()),
            ("power", or_dash(&self.power)),
            ("health", or_dash(&self.health)),
            ("pool", or_dash(&self.pool)),
            ("server", or_dash(&self.server)),
            ("bmc url", self.bmc_url.clone()),
            ("bmc user", self.bmc_user.clone()),
            ("credential", or_dash(&self.credential_ref)),
        ];
        match &self.facts {
            Some(f) => fields.extend([
                ("model", f.model.clone()),
                ("cores", f.cores.to_string()),
                ("memory", format!("{} GiB", f.memory_gib)),
                (
                    "macs",
                    if f.macs.is_empty() {
                        "-".into()
                    } else {
                        f.macs.join(", ")
                    },
                ),
                ("uuid", or_dash(&f.uuid)),
            ]),
            None => fields.push(("facts", "not known yet".into())),
        }
        details(&fields)
    }
}

/// Reads the BMC password from `path` (`-`: standard input), dropping
/// trailing newlines. The password itself never appears in an error.
pub fn read_password(path: &Path) -> Result<String, CliError> {
    let shown = path.display();
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
            _ => crate::error::one_line(&e.to_string()),
        };
        CliError::Usage(format!(
            "cannot read the BMC password file {shown} ({reason}); write the password into a file only you can read and pass it with --password-file"
        ))
    })?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(CliError::Usage(format!(
            "the BMC password file {shown} is empty; write the BMC password into it"
        )));
    }
    Ok(password.to_string())
}

/// The `blade add` request.
fn add_request(args: BladeAddArgs, password: String) -> AddBladeRequest {
    let facts = match (args.model, args.cores, args.memory_gib) {
        (Some(model), Some(cores), Some(memory_gib)) => Some(BladeFacts {
            model,
            cores,
            memory_gib,
            macs: Vec::new(),
            uuid: String::new(),
        }),
        _ => None,
    };
    AddBladeRequest {
        name: args.name,
        bmc_url: args.bmc,
        bmc_user: args.user,
        bmc_password: password,
        facts,
        pool: args.pool.unwrap_or_default(),
        insecure_tls: args.insecure_tls,
    }
}

/// The `blade power` request.
fn power_request(action: PowerAction, name: String, force: bool) -> BladePowerRequest {
    BladePowerRequest {
        name,
        action: action.as_str().to_string(),
        force,
    }
}

/// The `blade drain` request.
fn drain_request(name: String, timeout: Option<u32>) -> DrainBladeRequest {
    DrainBladeRequest {
        blade: name,
        timeout_s: timeout.unwrap_or(0),
    }
}

/// Runs `panctl blade ...`.
pub async fn run(cmd: BladeCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        BladeCommand::Add(args) => {
            let password = read_password(&args.password_file)?;
            let request = add_request(args, password);
            let added = ctx
                .manager
                .call(request, |mut c, r| async move { c.add_blade(r).await })
                .await?;
            output::one(ctx.format, &BladeView::from(&added))?
        }
        BladeCommand::Discover(args) => return discover::run(args, ctx).await,
        BladeCommand::List { pool } => {
            let request = ListBladesRequest {
                pool: pool.unwrap_or_default(),
            };
            let reply = ctx
                .manager
                .call(request, |mut c, r| async move { c.list_blades(r).await })
                .await?;
            let views: Vec<_> = reply.blades.iter().map(BladeView::from).collect();
            output::list(ctx.format, &views)?
        }
        BladeCommand::Show { name } => {
            let blade = ctx
                .manager
                .call(GetBladeRequest { name }, |mut c, r| async move {
                    c.get_blade(r).await
                })
                .await?;
            output::one(ctx.format, &BladeView::from(&blade))?
        }
        BladeCommand::Power {
            action,
            name,
            force,
        } => {
            let blade = ctx
                .manager
                .call_with_timeout(
                    power_request(action, name, force),
                    POWER_TIMEOUT,
                    |mut c, r| async move { c.blade_power(r).await },
                )
                .await?;
            output::one(ctx.format, &BladeView::from(&blade))?
        }
        BladeCommand::Remove { name } => {
            ctx.manager
                .call(
                    RemoveBladeRequest { name: name.clone() },
                    |mut c, r| async move { c.remove_blade(r).await },
                )
                .await?;
            output::deleted(
                ctx.format,
                &format!("blade/{name}"),
                &format!("removed blade {name}"),
            )?
        }
        BladeCommand::ConfirmFenced { name } => {
            let blade = ctx
                .manager
                .call(
                    ConfirmFencedRequest { blade: name },
                    |mut c, r| async move { c.confirm_fenced(r).await },
                )
                .await?;
            output::one(ctx.format, &BladeView::from(&blade))?
        }
        BladeCommand::Repair { name } => {
            let blade = ctx
                .manager
                .call_with_timeout(
                    RepairBladeRequest { blade: name },
                    REPAIR_TIMEOUT,
                    |mut c, r| async move { c.repair_blade(r).await },
                )
                .await?;
            output::one(ctx.format, &BladeView::from(&blade))?
        }
        BladeCommand::Drain { name, timeout } => {
            let blade = ctx
                .manager
                .call_with_timeout(
                    drain_request(name, timeout),
                    move_timeout(timeout),
                    |mut c, r| async move { c.drain_blade(r).await },
                )
                .await?;
            output::one(ctx.format, &BladeView::from(&blade))?
        }
    };
    ctx.print(&text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_files::temp_file;
    use serde_json::json;
    use std::path::PathBuf;

    /// Three blades: allocated and healthy, an available spare with a
    /// warning, and one just discovered with no inventory or power reading.
    pub(crate) fn sample() -> Vec<Blade> {
        vec![
            blade(true),
            Blade {
                id: 8,
                name: "b8".into(),
                bmc_url: "https://10.0.0.28".into(),
                credential_ref: "cred-8".into(),
                state: "available".into(),
                power: "off".into(),
                health: "warning".into(),
                facts: Some(BladeFacts {
                    model: "PAN-X2".into(),
                    cores: 128,
                    memory_gib: 1024,
                    macs: vec!["00:25:90:00:00:08".into(), "00:25:90:00:00:18".into()],
                    uuid: "4c4c4544-0038-3010-8048-b8c04f333232".into(),
                }),
                server: String::new(),
                ..blade(true)
            },
            Blade {
                id: 9,
                name: "b9".into(),
                bmc_url: "http://127.0.0.1:8409".into(),
                credential_ref: String::new(),
                state: "discovered".into(),
                power: String::new(),
                health: String::new(),
                pool: String::new(),
                server: String::new(),
                ..blade(false)
            },
        ]
    }

    fn blade(has_facts: bool) -> Blade {
        Blade {
            id: 7,
            name: "b7".into(),
            bmc_url: "https://10.0.0.27".into(),
            bmc_user: "root".into(),
            credential_ref: "cred-7".into(),
            state: "allocated".into(),
            facts: Some(BladeFacts {
                model: "PAN-X1".into(),
                cores: 64,
                memory_gib: 512,
                macs: vec!["00:25:90:00:00:07".into()],
                uuid: String::new(),
            }),
            has_facts,
            pool: "spares".into(),
            server: "acme/web-1".into(),
            power: "on".into(),
            health: "ok".into(),
        }
    }

    #[test]
    fn blade_json_shape() {
        assert_eq!(
            serde_json::to_value(BladeView::from(&blade(true))).unwrap(),
            json!({
                "id": 7,
                "name": "b7",
                "state": "allocated",
                "power": "on",
                "health": "ok",
                "pool": "spares",
                "server": "acme/web-1",
                "bmc_url": "https://10.0.0.27",
                "bmc_user": "root",
                "credential_ref": "cred-7",
                "facts": {
                    "model": "PAN-X1",
                    "cores": 64,
                    "memory_gib": 512,
                    "macs": ["00:25:90:00:00:07"],
                    "uuid": null
                }
            })
        );
    }

    #[test]
    fn unknown_facts_are_null_and_dashes() {
        let view = BladeView::from(&Blade {
            pool: String::new(),
            server: String::new(),
            power: String::new(),
            health: String::new(),
            ..blade(false)
        });
        let value = serde_json::to_value(&view).unwrap();
        assert_eq!(value["facts"], json!(null));
        assert_eq!(value["pool"], json!(null));
        assert_eq!(value["power"], json!(null));
        assert_eq!(value["health"], json!(null));
        assert_eq!(
            view.cells(),
            [
                "b7",
                "allocated",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                "https://10.0.0.27"
            ]
        );
    }

    #[test]
    fn passwords_lose_only_trailing_newlines() {
        let path = temp_file("pw-newline", b" s3cret \r\n");
        assert_eq!(read_password(&path).unwrap(), " s3cret ");
        let path = temp_file("pw-plain", b"s3cret");
        assert_eq!(read_password(&path).unwrap(), "s3cret");
    }

    #[test]
    fn empty_missing_or_unreadable_password_files_are_usage_errors() {
        let empty = temp_file("pw-empty", b"\n");
        let err = read_password(&empty).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("is empty"), "{err}");

        let missing = PathBuf::from("/nonexistent/panctl/pw");
        let err = read_password(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read the BMC password file /nonexistent/panctl/pw (no such file); write the password into a file only you can read and pass it with --password-file"
        );

        let binary = temp_file("pw-binary", &[0xff, 0xfe, 0x00]);
        let err = read_password(&binary).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");

        let dir = std::env::temp_dir();
        assert_eq!(read_password(&dir).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn facts_are_sent_only_when_given() {
        let args = |model: Option<&str>, insecure_tls: bool| BladeAddArgs {
            name: "b1".into(),
            bmc: "https://10.0.0.21".into(),
            user: "root".into(),
            password_file: "pw".into(),
            pool: None,
            model: model.map(String::from),
            cores: model.map(|_| 32),
            memory_gib: model.map(|_| 256),
            insecure_tls,
        };
        let request = add_request(args(None, true), "pw".into());
        assert_eq!(request.facts, None);
        assert_eq!(request.pool, "");
        assert!(request.insecure_tls);
        let request = add_request(args(Some("PAN-X1"), false), "pw".into());
        assert!(!request.insecure_tls);
        let facts = request.facts.unwrap();
        assert_eq!(
            (facts.model.as_str(), facts.cores, facts.memory_gib),
            ("PAN-X1", 32, 256)
        );
    }

    #[test]
    fn drain_sends_the_timeout_or_zero() {
        assert_eq!(
            drain_request("b7".into(), Some(60)),
            DrainBladeRequest {
                blade: "b7".into(),
                timeout_s: 60
            }
        );
        assert_eq!(drain_request("b7".into(), None).timeout_s, 0);
    }

    #[test]
    fn power_sends_the_action_as_the_manager_names_it() {
        for (action, text) in [
            (PowerAction::On, "on"),
            (PowerAction::Off, "off"),
            (PowerAction::Cycle, "cycle"),
        ] {
            let request = power_request(action, "b7".into(), true);
            assert_eq!(request.action, text);
            assert_eq!(request.name, "b7");
            assert!(request.force);
        }
    }
}
