//! `panctl server`: create, list, show, start, stop, move (planned, to
//! another blade), delete logical servers.
//!
//! JSON: `{"name", "partition", "id", "state", "last_error": "..."|null,
//! "blade": "..."|null, "generation", "identity": {"uuid", "macs": [...],
//! "host_nqn"} | null, "identity_pool": "..."|null, "boot_volume":
//! "..."|null, "requirements": {"model": "..."|null, "min_cores",
//! "min_memory_gib"}, "priority", "failover_pool": "..."|null, "created_at_ms", "nics": [{"mac", "network":
//! "..."|null, "network_id"}], "volumes": ["VOLUME", ...], "agent":
//! {"interfaces": [{"name", "mac"}], "volumes": [{"name", "subsystem_nqn",
//! "device"}], "token": {"term", "generation"}|null} | null}` (create, show,
//! start, stop and move print one, list an array); delete prints
//! `{"deleted": "server/PARTITION/NAME"}`.

use super::Ctx;
use super::pool::{QualificationView, qualification};
use crate::cli::{
    ServerCommand, ServerCreateArgs, ServerMoveArgs, ServerStartArgs, ServerStopArgs,
};
use crate::error::CliError;
use crate::output::{self, Detail, Row, Table, details, opt, or_dash};
use crate::units::format_time_ms;
use pan_api::v1::{
    AgentReport, AttachedVolume, CreateServerRequest, DeleteServerRequest, FencingToken,
    GetServerRequest, HostInterface, Identity, ListServersRequest, MoveServerRequest, Nic, Server,
    StartServerRequest, StopServerRequest,
};
use serde::Serialize;
use std::time::Duration;

/// How long `server start` and `server stop` wait for an answer without
/// `--timeout`: the manager's longest default wait (180 s) plus [`SLACK`].
pub const DEFAULT_WAIT_SECS: u64 = 180;
/// How long `server move` and `blade drain` wait for an answer without
/// `--timeout`: a graceful shutdown (120 s) and a boot (180 s), plus
/// [`SLACK`].
pub const MOVE_WAIT_SECS: u64 = 300;
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
    /// Failover priority: higher gets spares first.
    pub priority: u32,
    /// The blade pool failover spares come from; `null`: any qualifying
    /// available blade.
    pub failover_pool: Option<String>,
    /// May preempt a lower-priority server when no spare is free.
    pub preempt: bool,
    /// Failback maintenance window (cron, UTC); `null`: no failback.
    pub failback_window: Option<String>,
    /// The blade it failed over from, while it runs elsewhere.
    pub home_blade: Option<String>,
    pub created_at_ms: u64,
    /// One per vNIC, in vNIC order (the order of `identity.macs`).
    pub nics: Vec<NicView>,
    /// Data volumes attached besides the boot volume.
    pub volumes: Vec<String>,
    /// What the blade's agent last reported applying; `null` before it
    /// reported (or when a member other than the leader answered).
    pub agent: Option<AgentView>,
}

/// One vNIC of a server.
#[derive(Debug, Serialize)]
pub struct NicView {
    pub mac: String,
    /// `null` for a vNIC on no network.
    pub network: Option<String>,
    pub network_id: u32,
}

impl From<&Nic> for NicView {
    fn from(n: &Nic) -> Self {
        NicView {
            mac: n.mac.clone(),
            network: opt(&n.network),
            network_id: n.network_id,
        }
    }
}

/// What a server's blade agent reported applying.
#[derive(Debug, Serialize)]
pub struct AgentView {
    pub interfaces: Vec<InterfaceView>,
    pub volumes: Vec<AttachedVolumeView>,
    pub token: Option<TokenView>,
}

/// A blade interface as the agent sees it.
#[derive(Debug, Serialize)]
pub struct InterfaceView {
    pub name: String,
    pub mac: String,
}

/// A volume the agent attached over NVMe/TCP.
#[derive(Debug, Serialize)]
pub struct AttachedVolumeView {
    pub name: String,
    pub subsystem_nqn: Option<String>,
    /// Host device, e.g. `/dev/nvme0n1`.
    pub device: Option<String>,
}

/// The fencing token (raft term, generation) the agent applied.
#[derive(Debug, Serialize)]
pub struct TokenView {
    pub term: u64,
    pub generation: u64,
}

impl From<&HostInterface> for InterfaceView {
    fn from(i: &HostInterface) -> Self {
        InterfaceView {
            name: i.name.clone(),
            mac: i.mac.clone(),
        }
    }
}

impl From<&AttachedVolume> for AttachedVolumeView {
    fn from(v: &AttachedVolume) -> Self {
        AttachedVolumeView {
            name: v.name.clone(),
            subsystem_nqn: opt(&v.subsystem_nqn),
            device: opt(&v.device),
        }
    }
}

impl From<&FencingToken> for TokenView {
    fn from(t: &FencingToken) -> Self {
        TokenView {
            term: t.term,
            generation: t.generation,
        }
    }
}

impl From<&AgentReport> for AgentView {
    fn from(a: &AgentReport) -> Self {
        AgentView {
            interfaces: a.interfaces.iter().map(InterfaceView::from).collect(),
            volumes: a.volumes.iter().map(AttachedVolumeView::from).collect(),
            token: a.token.as_ref().map(TokenView::from),
        }
    }
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
            priority: s.priority,
            failover_pool: opt(&s.failover_pool),
            preempt: s.preempt,
            failback_window: opt(&s.failback_window),
            home_blade: opt(&s.home_blade),
            created_at_ms: s.created_at_ms,
            nics: s.nics.iter().map(NicView::from).collect(),
            volumes: s.volumes.clone(),
            agent: s.agent.as_ref().map(AgentView::from),
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

    fn volumes_cell(&self) -> String {
        if self.volumes.is_empty() {
            "-".to_string()
        } else {
            self.volumes.join(", ")
        }
    }

    /// The agent line: its token, or why there is no report.
    fn agent_cell(&self) -> String {
        match &self.agent {
            None => "no report".to_string(),
            Some(AgentView { token: None, .. }) => "reported".to_string(),
            Some(AgentView {
                token: Some(token), ..
            }) => format!(
                "reported (term {}, generation {})",
                token.term, token.generation
            ),
        }
    }

    /// The vNIC, agent interface and attached volume tables, each after a
    /// blank line, for those that have rows.
    fn sections(&self) -> String {
        let mut text = String::new();
        let mut section = |table: Table| {
            text.push('\n');
            text.push_str(&table.render());
        };
        if !self.nics.is_empty() {
            let mut table = Table::new(&["VNIC", "MAC", "NETWORK", "NETWORK-ID"]);
            for (index, nic) in self.nics.iter().enumerate() {
                let network_id = if nic.network_id == 0 {
                    "-".to_string()
                } else {
                    nic.network_id.to_string()
                };
                table.push(vec![
                    index.to_string(),
                    nic.mac.clone(),
                    or_dash(&nic.network),
                    network_id,
                ]);
            }
            section(table);
        }
        if let Some(agent) = &self.agent {
            if !agent.interfaces.is_empty() {
                let mut table = Table::new(&["AGENT INTERFACE", "MAC"]);
                for interface in &agent.interfaces {
                    table.push(vec![interface.name.clone(), interface.mac.clone()]);
                }
                section(table);
            }
            if !agent.volumes.is_empty() {
                let mut table = Table::new(&["ATTACHED VOLUME", "DEVICE", "SUBSYSTEM-NQN"]);
                for volume in &agent.volumes {
                    table.push(vec![
                        volume.name.clone(),
                        or_dash(&volume.device),
                        or_dash(&volume.subsystem_nqn),
                    ]);
                }
                section(table);
            }
        }
        text
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
            ("data volumes", self.volumes_cell()),
            ("requirements", self.requirements.summary()),
            ("priority", self.priority.to_string()),
            (
                "failover pool",
                self.failover_pool
                    .clone()
                    .unwrap_or_else(|| "any qualifying blade".to_string()),
            ),
            (
                "failback",
                match (&self.failback_window, &self.home_blade) {
                    (Some(w), Some(home)) => format!("to {home} in window {w:?} (UTC)"),
                    (Some(w), None) => format!("in window {w:?} (UTC)"),
                    (None, _) => "-".to_string(),
                },
            ),
            ("created", format_time_ms(self.created_at_ms)),
            ("agent", self.agent_cell()),
        ]) + &self.sections()
    }
}

/// The `server create` request. Without `--nics`, one vNIC per
/// `--network` (at least one); with it, at least as many as networks.
fn create_request(args: ServerCreateArgs) -> Result<CreateServerRequest, CliError> {
    let networks = u32::try_from(args.networks.len()).unwrap_or(u32::MAX);
    let nics = match args.nics {
        None => networks.max(1),
        Some(nics) if nics < networks => {
            return Err(CliError::Usage(format!(
                "--nics {nics} is fewer than the {networks} networks given with --network: each network takes one vNIC; raise --nics to at least {networks} or leave it out"
            )));
        }
        Some(nics) => nics,
    };
    Ok(CreateServerRequest {
        name: args.name,
        partition: args.partition,
        nics,
        identity_pool: args.identity_pool.unwrap_or_default(),
        boot_volume: args.boot_volume.unwrap_or_default(),
        requirements: Some(qualification(
            args.model,
            args.min_cores,
            args.min_memory_gib,
        )),
        networks: args.networks,
        volumes: args.volumes,
        priority: args.priority.unwrap_or(0),
        failover_pool: args.failover_pool.unwrap_or_default(),
        preempt: args.preempt,
        failback_window: args.failback_window.unwrap_or_default(),
    })
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

/// The `server move` request.
fn move_request(args: ServerMoveArgs) -> MoveServerRequest {
    MoveServerRequest {
        name: args.name,
        partition: args.partition,
        to_blade: args.to_blade.unwrap_or_default(),
        timeout_s: args.timeout.unwrap_or(0),
    }
}

/// How long to wait for the manager's answer to a start or stop that waits
/// `timeout` seconds (default: the manager's): that wait plus [`SLACK`].
pub fn wait_timeout(timeout: Option<u32>) -> Duration {
    let wait = timeout.map_or(DEFAULT_WAIT_SECS, u64::from);
    Duration::from_secs(wait) + SLACK
}

/// How long to wait for the manager's answer to a move (or a drain) that
/// waits `timeout` seconds (default: [`MOVE_WAIT_SECS`]), plus [`SLACK`].
pub fn move_timeout(timeout: Option<u32>) -> Duration {
    let wait = timeout.map_or(MOVE_WAIT_SECS, u64::from);
    Duration::from_secs(wait) + SLACK
}

/// Runs `panctl server ...`.
pub async fn run(cmd: ServerCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        ServerCommand::Create(args) => {
            let request = create_request(args)?;
            let created = ctx
                .manager
                .call(request, |mut c, r| async move { c.create_server(r).await })
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
        ServerCommand::Move(args) => {
            let timeout = move_timeout(args.timeout);
            let server = ctx
                .manager
                .call_with_timeout(move_request(args), timeout, |mut c, r| async move {
                    c.move_server(r).await
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
                nics: vec![Nic {
                    mac: "02:50:41:00:00:01".into(),
                    network: "front".into(),
                    network_id: 10_000,
                }],
                volumes: vec!["web-1-data".into()],
                priority: 10,
                failover_pool: "spares".into(),
                preempt: false,
                failback_window: String::new(),
                home_blade: String::new(),
                agent: Some(AgentReport {
                    interfaces: vec![
                        HostInterface {
                            name: "lo".into(),
                            mac: "00:00:00:00:00:00".into(),
                        },
                        HostInterface {
                            name: "eth0".into(),
                            mac: "02:50:41:00:00:01".into(),
                        },
                    ],
                    volumes: vec![
                        AttachedVolume {
                            name: "web-1-boot".into(),
                            subsystem_nqn: "nqn.2024-01.net.pan:volume:acme:web-1-boot".into(),
                            device: "/dev/nvme0n1".into(),
                        },
                        AttachedVolume {
                            name: "web-1-data".into(),
                            subsystem_nqn: "nqn.2024-01.net.pan:volume:acme:web-1-data".into(),
                            device: "/dev/nvme1n1".into(),
                        },
                    ],
                    token: Some(FencingToken {
                        term: 3,
                        generation: 2,
                    }),
                }),
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
                nics: vec![
                    Nic {
                        mac: "02:50:41:00:00:02".into(),
                        network: "back".into(),
                        network_id: 10_001,
                    },
                    Nic {
                        mac: "02:50:41:00:00:03".into(),
                        network: String::new(),
                        network_id: 0,
                    },
                ],
                volumes: vec![],
                priority: 0,
                failover_pool: String::new(),
                preempt: false,
                failback_window: String::new(),
                home_blade: String::new(),
                agent: None,
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
                nics: vec![],
                volumes: vec![],
                priority: 0,
                failover_pool: String::new(),
                preempt: false,
                failback_window: String::new(),
                home_blade: String::new(),
                agent: None,
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
                "priority": 10,
                "failover_pool": "spares",
                "preempt": false,
                "failback_window": null,
                "home_blade": null,
                "created_at_ms": 1_748_779_200_000u64,
                "nics": [
                    {"mac": "02:50:41:00:00:01", "network": "front", "network_id": 10_000}
                ],
                "volumes": ["web-1-data"],
                "agent": {
                    "interfaces": [
                        {"name": "lo", "mac": "00:00:00:00:00:00"},
                        {"name": "eth0", "mac": "02:50:41:00:00:01"}
                    ],
                    "volumes": [
                        {
                            "name": "web-1-boot",
                            "subsystem_nqn": "nqn.2024-01.net.pan:volume:acme:web-1-boot",
                            "device": "/dev/nvme0n1"
                        },
                        {
                            "name": "web-1-data",
                            "subsystem_nqn": "nqn.2024-01.net.pan:volume:acme:web-1-data",
                            "device": "/dev/nvme1n1"
                        }
                    ],
                    "token": {"term": 3, "generation": 2}
                }
            })
        );
        assert_eq!(
            value[1]["nics"][1],
            json!({"mac": "02:50:41:00:00:03", "network": null, "network_id": 0})
        );
        assert_eq!(value[1]["volumes"], json!([]));
        assert_eq!(value[1]["agent"], json!(null));
        assert_eq!(value[1]["blade"], json!(null));
        assert_eq!(
            value[1]["last_error"],
            "blade b4 did not report the identity applied within 180 s"
        );
        assert_eq!(value[1]["boot_volume"], json!(null));
        assert_eq!(value[1]["priority"], 0);
        assert_eq!(value[1]["failover_pool"], json!(null));
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

    fn create_args() -> ServerCreateArgs {
        ServerCreateArgs {
            name: "web-1".into(),
            partition: "acme".into(),
            nics: None,
            networks: vec![],
            identity_pool: None,
            boot_volume: None,
            volumes: vec![],
            min_cores: None,
            min_memory_gib: None,
            model: None,
            priority: None,
            failover_pool: None,
            preempt: false,
            failback_window: None,
        }
    }

    #[test]
    fn create_sends_defaults_for_absent_flags() {
        let request = create_request(ServerCreateArgs {
            min_cores: Some(8),
            ..create_args()
        })
        .unwrap();
        assert_eq!(request.nics, 1);
        assert_eq!(request.identity_pool, "");
        assert_eq!(request.boot_volume, "");
        assert_eq!((request.priority, request.failover_pool.as_str()), (0, ""));
        assert!(request.networks.is_empty() && request.volumes.is_empty());
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
    fn create_sends_networks_and_volumes_in_order_with_one_nic_each() {
        let request = create_request(ServerCreateArgs {
            networks: vec!["front".into(), "back".into()],
            volumes: vec!["data-1".into(), "data-2".into()],
            boot_volume: Some("web-1-boot".into()),
            ..create_args()
        })
        .unwrap();
        assert_eq!(request.nics, 2);
        assert_eq!(request.networks, ["front", "back"]);
        assert_eq!(request.volumes, ["data-1", "data-2"]);
        assert_eq!(request.boot_volume, "web-1-boot");

        // More vNICs than networks: the rest are on no network.
        let request = create_request(ServerCreateArgs {
            nics: Some(3),
            networks: vec!["front".into()],
            ..create_args()
        })
        .unwrap();
        assert_eq!(request.nics, 3);
    }

    #[test]
    fn create_sends_priority_and_failover_pool() {
        let request = create_request(ServerCreateArgs {
            priority: Some(100),
            failover_pool: Some("spares".into()),
            ..create_args()
        })
        .unwrap();
        assert_eq!(request.priority, 100);
        assert_eq!(request.failover_pool, "spares");
    }

    #[test]
    fn show_prints_priority_and_failover_pool() {
        let text = ServerView::from(&sample()[0]).detail();
        assert!(
            text.contains("\npriority       10\nfailover pool  spares\n"),
            "{text}"
        );
        let text = ServerView::from(&sample()[1]).detail();
        assert!(
            text.contains("\npriority       0\nfailover pool  any qualifying blade\n"),
            "{text}"
        );
    }

    #[test]
    fn move_sends_the_blade_and_timeout_and_waits_longer() {
        let request = move_request(ServerMoveArgs {
            name: "web-1".into(),
            partition: "acme".into(),
            to_blade: Some("b4".into()),
            timeout: Some(90),
        });
        assert_eq!(
            request,
            MoveServerRequest {
                name: "web-1".into(),
                partition: "acme".into(),
                to_blade: "b4".into(),
                timeout_s: 90,
            }
        );
        let request = move_request(ServerMoveArgs {
            name: "web-1".into(),
            partition: "acme".into(),
            to_blade: None,
            timeout: None,
        });
        assert_eq!((request.to_blade.as_str(), request.timeout_s), ("", 0));
        assert_eq!(move_timeout(None), Duration::from_secs(330));
        assert_eq!(move_timeout(Some(90)), Duration::from_secs(120));
    }

    #[test]
    fn create_refuses_fewer_nics_than_networks() {
        let err = create_request(ServerCreateArgs {
            nics: Some(1),
            networks: vec!["front".into(), "back".into()],
            ..create_args()
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "--nics 1 is fewer than the 2 networks given with --network: each network takes one vNIC; raise --nics to at least 2 or leave it out"
        );
    }

    #[test]
    fn show_prints_nics_volumes_and_the_agent_report() {
        let view = ServerView::from(&sample()[1]);
        let text = view.detail();
        assert!(text.contains("\ndata volumes   -\n"), "{text}");
        assert!(text.contains("\nagent          no report\n"), "{text}");
        assert!(
            text.ends_with(
                "\nVNIC  MAC                NETWORK  NETWORK-ID\n\
                 0     02:50:41:00:00:02  back     10001\n\
                 1     02:50:41:00:00:03  -        -\n"
            ),
            "{text}"
        );
        assert!(!text.contains("AGENT"), "{text}");
        let text = ServerView::from(&sample()[2]).detail();
        assert!(text.ends_with("\nagent          no report\n"), "{text}");
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
