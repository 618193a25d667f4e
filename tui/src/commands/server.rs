//! `panctl server`: create, list, show, start, stop, delete logical servers.
//!
//! JSON: `{"name", "partition", "id", "state", "last_error": "..."|null,
//! "blade": "..."|null, "generation", "identity": {"uuid", "macs": [...],
//! "host_nqn"} | null, "identity_pool": "..."|null, "boot_volume":
//! "..."|null, "requirements": {"model": "..."|null, "min_cores",
//! "min_memory_gib"}, "created_at_ms"}` (create, show, start and stop print
//! one, list an array); delete prints `{"deleted": "server/PARTITION/NAME"}`.

use super::Ctx;
use super::pool::{QualificationView, qualification};
use crate::cli::{ServerCommand, ServerCreateArgs, ServerStartArgs, ServerStopArgs};
use crate::output::{self, Detail, Row, details, opt, or_dash};
use crate::units::format_time_ms;
use pan_api::v1::{
    CreateServerRequest, DeleteServerRequest, GetServerRequest, Identity, ListServersRequest,
    Server, StartServerRequest, StopServerRequest,
};
use serde::Serialize;
use std::time::Duration;

/// How long `server start` and `server stop` wait for an answer without
/// `--timeout`: the manager's longest default wait (180 s) plus [`SLACK`].
pub const DEFAULT_WAIT_SECS: u64 = 180;
/// What the manager may take beyond its own wait to answer.
pub const SLACK: Duration = Duration::from_secs(30);

/// A logical server as printed.
#[derive(Debug, Serialize)]
pub struct ServerView {
    pub name: String,
    pub partition: String,
    pub id: u64,
    pub state: String,
    /// Why the last start or stop failed, if it did.
    pub last_error: Option<String>,
    /// The blade the server runs on.
    pub blade: Option<String>,
    pub generation: u64,
    /// `null` only if the manager sent no identity.
    pub identity: Option<IdentityView>,
    pub identity_pool: Option<String>,
    pub boot_volume: Option<String>,
    pub requirements: QualificationView,
    pub created_at_ms: u64,
}

/// What moves with a server.
#[derive(Debug, Serialize)]
pub struct IdentityView {
    pub uuid: Option<String>,
    pub macs: Vec<String>,
    pub host_nqn: Option<String>,
}

impl From<&Identity> for IdentityView {
    fn from(i: &Identity) -> Self {
        IdentityView {
            uuid: opt(&i.uuid),
            macs: i.macs.clone(),
            host_nqn: opt(&i.host_nqn),
        }
    }
}

impl From<&Server> for ServerView {
    fn from(s: &Server) -> Self {
        ServerView {
            name: s.name.clone(),
            partition: s.partition.clone(),
            id: s.id,
            state: s.state.clone(),
            last_error: opt(&s.last_error),
            blade: opt(&s.blade),
            generation: s.generation,
            identity: s.identity.as_ref().map(IdentityView::from),
            identity_pool: opt(&s.identity_pool),
            boot_volume: opt(&s.boot_volume),
            requirements: QualificationView::from(s.requirements.as_ref()),
            created_at_ms: s.created_at_ms,
        }
    }
}

impl ServerView {
    fn uuid_cell(&self) -> String {
        or_dash(&self.identity.as_ref().and_then(|i| i.uuid.clone()))
    }

    fn macs_cell(&self, separator: &str) -> String {
        match &self.identity {
            Some(i) if !i.macs.is_empty() => i.macs.join(separator),
            _ => "-".to_string(),
        }
    }

    fn nqn_cell(&self) -> String {
        or_dash(&self.identity.as_ref().and_then(|i| i.host_nqn.clone()))
    }
}

impl Row for ServerView {
    const HEADERS: &'static [&'static str] = &[
        "NAME",
        "PARTITION",
        "STATE",
        "BLADE",
        "UUID",
        "MACS",
        "HOST-NQN",
    ];
    const EMPTY: &'static str = "no servers";
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.partition.clone(),
            self.state.clone(),
            or_dash(&self.blade),
            self.uuid_cell(),
            self.macs_cell(","),
            self.nqn_cell(),
        ]
    }
}

impl Detail for ServerView {
    fn detail(&self) -> String {
        details(&[
            ("name", self.name.clone()),
            ("partition", self.partition.clone()),
            ("id", self.id.to_string()),
            ("state", self.state.clone()),
            ("last error", or_dash(&self.last_error)),
            ("blade", or_dash(&self.blade)),
            ("generation", self.generation.to_string()),
            ("uuid", self.uuid_cell()),
            ("macs", self.macs_cell(", ")),
            ("host nqn", self.nqn_cell()),
            ("identity pool", or_dash(&self.identity_pool)),
            ("boot volume", or_dash(&self.boot_volume)),
            ("requirements", self.requirements.summary()),
            ("created", format_time_ms(self.created_at_ms)),
        ])
    }
}

/// The `server create` request.
fn create_request(args: ServerCreateArgs) -> CreateServerRequest {
    CreateServerRequest {
        name: args.name,
        partition: args.partition,
        nics: args.nics,
        identity_pool: args.identity_pool.unwrap_or_default(),
        boot_volume: args.boot_volume.unwrap_or_default(),
        requirements: Some(qualification(
            args.model,
            args.min_cores,
            args.min_memory_gib,
        )),
        ..Default::default()
    }
}

/// The `server start` request.
fn start_request(args: ServerStartArgs) -> StartServerRequest {
    StartServerRequest {
        name: args.name,
        partition: args.partition,
        blade: args.blade.unwrap_or_default(),
        no_wait: args.no_wait,
        timeout_s: args.timeout.unwrap_or(0),
    }
}

/// The `server stop` request.
fn stop_request(args: ServerStopArgs) -> StopServerRequest {
    StopServerRequest {
        name: args.name,
        partition: args.partition,
        no_wait: args.no_wait,
        timeout_s: args.timeout.unwrap_or(0),
    }
}

/// How long to wait for the manager's answer to a start or stop that waits
/// `timeout` seconds (default: the manager's): that wait plus [`SLACK`].
pub fn wait_timeout(timeout: Option<u32>) -> Duration {
    let wait = timeout.map_or(DEFAULT_WAIT_SECS, u64::from);
    Duration::from_secs(wait) + SLACK
}

/// Runs `panctl server ...`.
pub async fn run(cmd: ServerCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        ServerCommand::Create(args) => {
            let created = ctx
                .manager
                .call(create_request(args), |mut c, r| async move {
                    c.create_server(r).await
                })
                .await?;
            output::one(ctx.format, &ServerView::from(&created))?
        }
        ServerCommand::List { partition } => {
            let request = ListServersRequest {
                partition: partition.unwrap_or_default(),
            };
            let reply = ctx
                .manager
                .call(request, |mut c, r| async move { c.list_servers(r).await })
                .await?;
            let views: Vec<_> = reply.servers.iter().map(ServerView::from).collect();
            output::list(ctx.format, &views)?
        }
        ServerCommand::Show { name, partition } => {
            let server = ctx
                .manager
                .call(
                    GetServerRequest { name, partition },
                    |mut c, r| async move { c.get_server(r).await },
                )
                .await?;
            output::one(ctx.format, &ServerView::from(&server))?
        }
        ServerCommand::Start(args) => {
            let timeout = wait_timeout(args.timeout);
            let server = ctx
                .manager
                .call_with_timeout(start_request(args), timeout, |mut c, r| async move {
                    c.start_server(r).await
                })
                .await?;
            output::one(ctx.format, &ServerView::from(&server))?
        }
        ServerCommand::Stop(args) => {
            let timeout = wait_timeout(args.timeout);
            let server = ctx
                .manager
                .call_with_timeout(stop_request(args), timeout, |mut c, r| async move {
                    c.stop_server(r).await
                })
                .await?;
            output::one(ctx.format, &ServerView::from(&server))?
        }
        ServerCommand::Delete { name, partition } => {
            let request = DeleteServerRequest {
                name: name.clone(),
                partition: partition.clone(),
            };
            ctx.manager
                .call(request, |mut c, r| async move { c.delete_server(r).await })
                .await?;
            output::deleted(
                ctx.format,
                &format!("server/{partition}/{name}"),
                &format!("deleted server {name} from partition {partition}"),
            )?
        }
    };
    ctx.print(&text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pan_api::v1::Qualification;
    use serde_json::json;

    /// Three servers: running, failed over, and just defined.
    pub(crate) fn sample() -> Vec<Server> {
        let identity = |n: u8, macs: &[&str]| Identity {
            uuid: format!("50414e00-0000-0000-0000-00000000000{n}"),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            host_nqn: format!(
                "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-00000000000{n}"
            ),
        };
        vec![
            Server {
                id: 1,
                name: "web-1".into(),
                partition: "acme".into(),
                identity: Some(identity(1, &["02:50:41:00:00:01"])),
                identity_pool: "default".into(),
                boot_volume: "web-1-boot".into(),
                requirements: Some(Qualification {
                    model: String::new(),
                    min_cores: 16,
                    min_memory_gib: 64,
                }),
                state: "running".into(),
                blade: "b3".into(),
                generation: 2,
                created_at_ms: 1_748_779_200_000,
                last_error: String::new(),
            },
            Server {
                id: 2,
                name: "db-1".into(),
                partition: "acme".into(),
                identity: Some(identity(2, &["02:50:41:00:00:02", "02:50:41:00:00:03"])),
                identity_pool: "default".into(),
                boot_volume: String::new(),
                requirements: None,
                state: "failed".into(),
                blade: String::new(),
                generation: 5,
                created_at_ms: 1_748_779_260_000,
                last_error: "blade b4 did not report the identity applied within 180 s".into(),
            },
            Server {
                id: 3,
                name: "batch".into(),
                partition: "globex".into(),
                identity: Some(identity(3, &["02:50:41:00:00:04"])),
                identity_pool: "lab".into(),
                boot_volume: String::new(),
                requirements: None,
                state: "defined".into(),
                blade: String::new(),
                generation: 0,
                created_at_ms: 0,
                last_error: String::new(),
            },
        ]
    }

    #[test]
    fn server_list_json_is_an_array_of_objects_with_identity() {
        let views: Vec<_> = sample().iter().map(ServerView::from).collect();
        let value: serde_json::Value =
            serde_json::from_str(&output::list(crate::cli::Format::Json, &views).unwrap()).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 3);
        assert_eq!(
            value[0],
            json!({
                "name": "web-1",
                "partition": "acme",
                "id": 1,
                "state": "running",
                "last_error": null,
                "blade": "b3",
                "generation": 2,
                "identity": {
                    "uuid": "50414e00-0000-0000-0000-000000000001",
                    "macs": ["02:50:41:00:00:01"],
                    "host_nqn": "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001"
                },
                "identity_pool": "default",
                "boot_volume": "web-1-boot",
                "requirements": {"model": null, "min_cores": 16, "min_memory_gib": 64},
                "created_at_ms": 1_748_779_200_000u64
            })
        );
        assert_eq!(value[1]["blade"], json!(null));
        assert_eq!(
            value[1]["last_error"],
            "blade b4 did not report the identity applied within 180 s"
        );
        assert_eq!(value[1]["boot_volume"], json!(null));
        assert_eq!(
            value[1]["identity"]["macs"],
            json!(["02:50:41:00:00:02", "02:50:41:00:00:03"])
        );
    }

    #[test]
    fn a_server_without_identity_prints_null_and_dashes() {
        let server = Server {
            identity: None,
            ..sample().remove(2)
        };
        let view = ServerView::from(&server);
        assert_eq!(
            serde_json::to_value(&view).unwrap()["identity"],
            json!(null)
        );
        assert_eq!(
            view.cells(),
            ["batch", "globex", "defined", "-", "-", "-", "-"]
        );
    }

    #[test]
    fn create_sends_defaults_for_absent_flags() {
        let request = create_request(ServerCreateArgs {
            name: "web-1".into(),
            partition: "acme".into(),
            nics: 1,
            identity_pool: None,
            boot_volume: None,
            min_cores: Some(8),
            min_memory_gib: None,
            model: None,
        });
        assert_eq!(request.nics, 1);
        assert_eq!(request.identity_pool, "");
        assert_eq!(
            request.requirements,
            Some(Qualification {
                model: String::new(),
                min_cores: 8,
                min_memory_gib: 0
            })
        );
    }

    #[test]
    fn start_and_stop_send_the_flags_and_wait_longer() {
        let request = start_request(ServerStartArgs {
            name: "web-1".into(),
            partition: "acme".into(),
            blade: Some("b3".into()),
            no_wait: true,
            timeout: Some(60),
        });
        assert_eq!(
            request,
            StartServerRequest {
                name: "web-1".into(),
                partition: "acme".into(),
                blade: "b3".into(),
                no_wait: true,
                timeout_s: 60,
            }
        );
        let request = stop_request(ServerStopArgs {
            name: "web-1".into(),
            partition: "acme".into(),
            no_wait: false,
            timeout: None,
        });
        assert_eq!((request.no_wait, request.timeout_s), (false, 0));
        assert_eq!(wait_timeout(None), Duration::from_secs(210));
        assert_eq!(wait_timeout(Some(60)), Duration::from_secs(90));
        assert_eq!(
            wait_timeout(Some(u32::MAX)),
            Duration::from_secs(u64::from(u32::MAX) + 30)
        );
    }
}
