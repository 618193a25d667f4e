//! The command-line grammar of `panctl` (clap derive): global flags, every
//! noun and verb, and the help text a new operator reads.

use crate::args::{self, BmcRange, MacRange, Members, NetworkIdRange, RoleArg};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `panctl`: operate a PAN fabric from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "panctl",
    version,
    about = "Operate a PAN fabric: cluster, partitions, networks, pools, identity pools, blades, servers, volumes and images",
    long_about = "Operate a PAN (Processing Area Network) fabric: manage the fabric-manager cluster, tenant partitions and their networks, blade pools, identity pools, blades, logical servers, SAN volumes and golden images, principals and their tokens, review failovers and N+1 spare coverage, and follow the audit log and events.\n\nEvery command talks to a fabric manager over gRPC; set --manager or PAN_MANAGER to one or more members' addresses. Every call carries a bearer token: pass --token-file FILE or set PAN_TOKEN (the first fabric-admin token is in <data-dir>/admin.token on the member that created the cluster).",
    after_help = "Exit status: 0 success; 1 the fabric manager failed the request or could not be reached; 2 usage error (bad arguments, unreadable token or password file); 3 not authenticated (no, unknown, revoked or expired token) or permission denied (your principal's roles do not allow the request)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command, before or after the verb.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Fabric manager address as HOST:PORT, or a comma-separated list of cluster members tried in order
    #[arg(
        long,
        global = true,
        env = "PAN_MANAGER",
        default_value = "127.0.0.1:7001",
        value_name = "HOST:PORT[,HOST:PORT...]",
        value_parser = args::parse_members
    )]
    pub manager: Members,

    /// Connect over TLS and verify the fabric manager's certificate against this CA (PEM)
    #[arg(long, global = true, env = "PAN_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// File holding your PAN bearer token (one trailing newline is ignored; "-" reads standard input); wins over PAN_TOKEN, which holds the token itself
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Output format: aligned tables for people, or JSON for scripts
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        default_value_t = Format::Table,
        value_name = "FORMAT"
    )]
    pub output: Format,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns with headers
    Table,
    /// JSON: an array for lists, one object otherwise, one object per line for events and blade discovery
    Json,
}

/// The nouns `panctl` manages.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show and change the fabric-manager cluster (members, leader, log)
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Manage partitions: tenant boundaries that own servers, volumes and networks
    #[command(subcommand)]
    Partition(PartitionCommand),
    /// Manage partition networks: isolated L2 segments servers' vNICs join
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage blade pools: sets of blades with qualification rules
    #[command(subcommand)]
    Pool(PoolCommand),
    /// Manage identity pools: the UUIDs and MACs servers are given
    #[command(subcommand)]
    IdentityPool(IdentityPoolCommand),
    /// Manage blades: physical diskless compute nodes behind a Redfish BMC
    #[command(subcommand)]
    Blade(BladeCommand),
    /// Manage logical servers: portable identities plus requirements
    #[command(subcommand)]
    Server(ServerCommand),
    /// Show failovers: servers moved off failed blades, phase by phase
    #[command(subcommand)]
    Failover(FailoverCommand),
    /// Show running servers that have no qualifying spare blade (N+1 coverage)
    #[command(
        long_about = "Show the running servers that have no qualifying spare blade right now: if their blade failed, no blade could take them over. A table of the uncovered servers and why, then a summary line.\n\nWith -o json: {\"servers\": M, \"uncovered\": [{\"server\", \"partition\", \"reason\"}]}, where M is the number of running servers checked.\n\nExit status: 0 whether or not servers are uncovered; with --fail-if-uncovered, 1 when any running server is uncovered (after everything was printed)."
    )]
    Coverage(CoverageArgs),
    /// Manage SAN volumes: servers' boot and data disks, their sizes and snapshots
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage golden images: the disks volumes are thinly cloned from
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage principals: who may call the fabric API, their roles and bearer tokens
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// Show the principal your token belongs to and its roles
    #[command(name = "whoami")]
    WhoAmI,
    /// Show the audit log, newest record first
    Audit(AuditArgs),
    /// Follow state-change events as they happen
    Events(EventsArgs),
}

/// `panctl cluster ...`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the leader, term, members and log progress of the member that answers
    Status,
    /// Add a fabric manager to the cluster (it joins as a learner, then becomes a voter)
    AddMember {
        /// Node id of the new member (unique in the cluster)
        #[arg(long, value_name = "N")]
        id: u64,
        /// Address other members and panctl reach the new member at
        #[arg(long, value_name = "HOST:PORT", value_parser = args::parse_address)]
        addr: String,
    },
    /// Remove a member from the cluster by node id
    RemoveMember {
        /// Node id of the member to remove
        #[arg(value_name = "ID")]
        id: u64,
    },
}

/// `panctl partition ...`
#[derive(Debug, Subcommand)]
pub enum PartitionCommand {
    /// Create a partition
    Create {
        /// Partition name (unique in the fabric)
        name: String,
        /// Free-text description shown in listings
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Network ids (VXLAN VNIs) its networks take, inclusive: FIRST-LAST, e.g. 10000-10999 (default: the next free block of 1024 ids)
        #[arg(long, value_name = "FIRST-LAST", value_parser = args::parse_network_id_range)]
        network_ids: Option<NetworkIdRange>,
    },
    /// List partitions with their network id ranges, quotas and usage
    List,
    /// Show one partition: its network ids, quota and usage
    Show {
        /// Partition name
        name: String,
    },
    /// Set a partition's quota (replaces it: limits not given become unlimited)
    #[command(
        long_about = "Set a partition's quota. The new quota replaces the old one: every limit not given is unlimited. Give at least one limit, or --unlimited to clear them all. The manager refuses creations that would go over a limit; lowering a limit below the current usage is allowed and only blocks new objects.",
        group(ArgGroup::new("limits").args(["max_servers", "max_volumes", "max_volume_bytes", "max_networks", "max_blades", "dedicated_pool", "unlimited"]).required(true).multiple(true))
    )]
    SetQuota(SetQuotaArgs),
    /// Delete an empty partition
    Delete {
        /// Partition name
        name: String,
    },
}

/// `panctl partition set-quota ...`
#[derive(Debug, Args)]
pub struct SetQuotaArgs {
    /// Partition name
    pub name: String,
    /// At most this many servers
    #[arg(long, value_name = "N")]
    pub max_servers: Option<u64>,
    /// At most this many volumes
    #[arg(long, value_name = "N")]
    pub max_volumes: Option<u64>,
    /// At most this much volume space in all: bytes, or with a binary unit: 512M, 10G, 1T
    #[arg(long, value_name = "SIZE", value_parser = args::parse_size)]
    pub max_volume_bytes: Option<u64>,
    /// At most this many networks
    #[arg(long, value_name = "N")]
    pub max_networks: Option<u64>,
    /// At most this many blades running its servers at once
    #[arg(long, value_name = "N")]
    pub max_blades: Option<u64>,
    /// Dedicate a pool: its blades run only this partition's servers, and
    /// this partition's servers run only on its blades
    #[arg(long, value_name = "POOL")]
    pub dedicated_pool: Option<String>,
    /// Clear every limit and the dedicated pool
    #[arg(long, conflicts_with_all = ["max_servers", "max_volumes", "max_volume_bytes", "max_networks", "max_blades", "dedicated_pool"])]
    pub unlimited: bool,
}

/// `panctl principal ...`
#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal and print its bearer token (shown only once)
    #[command(
        long_about = "Create a principal with one or more roles and print its bearer token. The token is shown only this once: store it in a file only you can read and pass it with --token-file FILE, or set PAN_TOKEN.\n\nRoles: fabric-admin (everything), operator (the fabric's hardware and cluster), partition-admin and partition-viewer (one partition: give --partition P, or write partition-admin:P)."
    )]
    Create(PrincipalCreateArgs),
    /// List principals: roles, whether revoked, expiry and token key id
    List,
    /// Revoke a principal: its token stops working at once (the principal is kept)
    Revoke {
        /// Principal name
        name: String,
    },
    /// Give a principal a new token (the old one stops working) and print it once
    Rotate {
        /// Principal name
        name: String,
        /// The new token expires after this long: 90d, 12h, 30m, 3600s or seconds (default: never)
        #[arg(long, value_name = "DURATION", value_parser = args::parse_duration)]
        expires_in: Option<u64>,
    },
    /// Delete a principal and its token
    Delete {
        /// Principal name
        name: String,
    },
}

/// `panctl principal create ...`
#[derive(Debug, Args)]
pub struct PrincipalCreateArgs {
    /// Principal name (unique in the fabric)
    pub name: String,
    /// A role: fabric-admin, operator, partition-admin or partition-viewer (with --partition), or partition-admin:P; repeat for more
    #[arg(long = "role", value_name = "ROLE", required = true, value_parser = args::parse_role)]
    pub roles: Vec<RoleArg>,
    /// The partition that partition-admin and partition-viewer roles apply to
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: Option<String>,
    /// The token expires after this long: 90d, 12h, 30m, 3600s or seconds (default: never)
    #[arg(long, value_name = "DURATION", value_parser = args::parse_duration)]
    pub expires_in: Option<u64>,
}

/// `panctl network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network in a partition
    #[command(
        long_about = "Create a network in a partition: an isolated L2 segment with one VXLAN network id from the partition's range. Servers join it with `panctl server create --network NAME`."
    )]
    Create {
        /// Network name (unique in its partition)
        name: String,
        /// Partition that owns the network
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
        /// Network id (VXLAN VNI) from the partition's range (default: the lowest free one)
        #[arg(long, value_name = "N", value_parser = args::parse_network_id)]
        network_id: Option<u32>,
    },
    /// List networks and the servers on them
    List {
        /// Only networks in this partition (default: every partition)
        #[arg(short, long, value_name = "PARTITION")]
        partition: Option<String>,
    },
    /// Delete a network no server uses
    Delete {
        /// Network name
        name: String,
        /// Partition the network belongs to
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
    },
}

/// `panctl pool ...`
#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Create a blade pool with qualification rules
    Create {
        /// Pool name (unique in the fabric)
        name: String,
        /// Only blades of this model qualify (default: any model)
        #[arg(long, value_name = "MODEL")]
        model: Option<String>,
        /// Only blades with at least this many cores qualify
        #[arg(long, value_name = "N")]
        min_cores: Option<u32>,
        /// Only blades with at least this much memory (GiB) qualify
        #[arg(long, value_name = "GIB")]
        min_memory_gib: Option<u64>,
    },
    /// List blade pools
    List,
    /// Delete a blade pool
    Delete {
        /// Pool name
        name: String,
    },
}

/// `panctl identity-pool ...`
#[derive(Debug, Subcommand)]
pub enum IdentityPoolCommand {
    /// Create an identity pool from a MAC range and a UUID prefix
    Create {
        /// Identity pool name (unique in the fabric)
        name: String,
        /// Inclusive MAC range, FIRST-LAST (e.g. 02:50:41:00:00:00-02:50:41:00:ff:ff)
        #[arg(long, value_name = "FIRST-LAST", value_parser = args::parse_mac_range)]
        macs: MacRange,
        /// First 8 bytes of every UUID from this pool: 16 hex digits (e.g. 50414e00-0000-0001)
        #[arg(long, value_name = "HEX", value_parser = args::parse_uuid_prefix)]
        uuid_prefix: String,
    },
    /// List identity pools and their usage
    List,
    /// Delete an unused identity pool
    Delete {
        /// Identity pool name
        name: String,
    },
}

/// `panctl blade ...`
#[derive(Debug, Subcommand)]
pub enum BladeCommand {
    /// Register a blade by its Redfish BMC
    #[command(
        long_about = "Register a blade by its Redfish BMC.\n\nGive --model, --cores and --memory-gib together to record the blade's inventory up front; without them the manager reads the inventory from the BMC."
    )]
    Add(BladeAddArgs),
    /// Enrol every BMC in an address range as a blade, showing progress
    #[command(
        long_about = "Enrol every Redfish BMC in an address range as a blade. The manager reads each BMC's inventory, names the blade, and streams one progress record per BMC.\n\nWhen standard error is a terminal a progress bar is drawn there; otherwise (table output) one line per BMC is printed: its outcome, the blade and the BMC URL, or the error. A summary of enrolled, already enrolled and failed BMCs, with each failure's error, follows. With -o json, each progress record is printed as one JSON object per line and nothing else.\n\nExit status: 0 when no BMC failed, 1 when any BMC failed (after everything was printed)."
    )]
    Discover(BladeDiscoverArgs),
    /// List blades
    List {
        /// Only blades in this pool
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
    },
    /// Show one blade in detail
    Show {
        /// Blade name
        name: String,
    },
    /// Power a blade on, off or through a cycle, and show it afterwards
    #[command(
        long_about = "Power a blade on, off (forced) or through a power cycle through its BMC, wait until the BMC reads the new power state back, and show the blade.\n\nA blade that runs a server is only powered off or cycled with --force."
    )]
    Power {
        /// What to do
        #[arg(value_enum)]
        action: PowerAction,
        /// Blade name
        name: String,
        /// Power off or cycle a blade even though it runs a server
        #[arg(long)]
        force: bool,
    },
    /// Remove a blade from the fabric
    Remove {
        /// Blade name
        name: String,
    },
    /// State that a blade is powered off and cut off, so a stalled takeover proceeds
    #[command(
        name = "confirm-fenced",
        long_about = "State, as the operator, that a blade is powered off and cut off from the fabric (for example: you pulled its power or its cables), when the manager could not fence it itself (its BMC hung or is unreachable). Your statement is recorded in the audit log under your principal's name, and the takeover of the blade's server proceeds after it: its identity is moved to a spare blade and booted there.\n\nOnly confirm what you have checked with your own eyes: if the blade is in fact still running, two blades would use the same identity and volumes. Show the blade afterwards."
    )]
    ConfirmFenced {
        /// Blade name
        name: String,
    },
    /// Return a failed or fenced blade to service after a health check
    #[command(
        long_about = "Return a failed or fenced blade to service: the manager checks the blade's health through its BMC and, if it passes, makes the blade available again (as a spare, too). Show the blade afterwards."
    )]
    Repair {
        /// Blade name
        name: String,
    },
    /// Move a blade's server to another blade (planned), then put the blade in maintenance
    #[command(
        long_about = "Drain a blade for maintenance: move the server it runs to another qualifying blade (a planned move: graceful shutdown, the identity moved, booted on the other blade), then put the blade in maintenance so nothing is placed on it. Wait until that is done and show the blade.\n\npanctl waits for the manager's answer for --timeout plus 30 s (330 s without --timeout). Bring the blade back with `panctl blade repair`."
    )]
    Drain {
        /// Blade name
        name: String,
        /// How long the manager waits for the server to run elsewhere, in seconds (default: the manager's)
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
        timeout: Option<u32>,
    },
}

/// A `blade power` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PowerAction {
    /// Power the blade on
    On,
    /// Power the blade off (forced)
    Off,
    /// Power the blade off and on again
    Cycle,
}

impl PowerAction {
    /// The action as the manager names it.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "cycle",
        }
    }
}

/// `panctl blade add ...`
#[derive(Debug, Args)]
pub struct BladeAddArgs {
    /// Blade name (unique in the fabric)
    pub name: String,
    /// Redfish BMC URL (e.g. https://10.0.0.21)
    #[arg(long, value_name = "URL")]
    pub bmc: String,
    /// BMC user name
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// File holding the BMC password (one trailing newline is ignored; "-" reads standard input)
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,
    /// Put the blade in this pool
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    /// Known hardware model (give --model, --cores and --memory-gib together; without them the manager reads the inventory from the BMC)
    #[arg(long, value_name = "MODEL", requires_all = ["cores", "memory_gib"])]
    pub model: Option<String>,
    /// Known CPU core count (give --model, --cores and --memory-gib together)
    #[arg(long, value_name = "N", requires_all = ["model", "memory_gib"])]
    pub cores: Option<u32>,
    /// Known memory in GiB (give --model, --cores and --memory-gib together)
    #[arg(long, value_name = "GIB", requires_all = ["model", "cores"])]
    pub memory_gib: Option<u64>,
    /// Accept a BMC certificate that does not verify (self-signed BMCs on a trusted network)
    #[arg(long)]
    pub insecure_tls: bool,
}

/// `panctl blade discover ...`
#[derive(Debug, Args)]
pub struct BladeDiscoverArgs {
    /// BMC addresses: HOST:FIRSTPORT-LASTPORT (e.g. 127.0.0.1:8401-8416) or FIRSTIP-LASTIP[:PORT] (e.g. 10.0.0.21-10.0.0.36); an http:// or https:// prefix sets --scheme
    #[arg(long, value_name = "RANGE", value_parser = args::parse_bmc_range)]
    pub bmc_range: BmcRange,
    /// BMC user name (the same on every BMC)
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// File holding the BMC password (one trailing newline is ignored; "-" reads standard input)
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,
    /// Put the enrolled blades in this pool
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    /// How to reach the BMCs [default: https]
    #[arg(long, value_enum, value_name = "SCHEME")]
    pub scheme: Option<Scheme>,
    /// Accept BMC certificates that do not verify (self-signed BMCs on a trusted network)
    #[arg(long)]
    pub insecure_tls: bool,
}

/// How BMCs are reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scheme {
    /// Plain HTTP (simulators, lab networks)
    Http,
    /// HTTPS
    Https,
}

impl Scheme {
    /// The scheme as the manager names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// `panctl server ...`
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Create a logical server and allocate its identity
    Create(ServerCreateArgs),
    /// List logical servers
    List {
        /// Only servers in this partition (default: every partition)
        #[arg(short, long, value_name = "PARTITION")]
        partition: Option<String>,
    },
    /// Show one logical server in detail
    Show {
        /// Server name
        name: String,
        /// Partition the server belongs to
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
    },
    /// Place a server on a blade, boot it and wait until it runs
    #[command(
        long_about = "Place a server on a blade, power the blade on and wait until its agent reports the server's identity applied, then show the server.\n\nWithout --blade the manager's placement planner picks a qualifying blade. With --no-wait the command returns once the server is placed. panctl waits for the manager's answer for --timeout plus 30 s (210 s without --timeout)."
    )]
    Start(ServerStartArgs),
    /// Shut a server's blade down and free it
    #[command(
        long_about = "Shut a server's blade down (gracefully, then forced), free the blade and wait until the server is stopped, then show the server.\n\nWith --no-wait the command returns once the stop is recorded. panctl waits for the manager's answer for --timeout plus 30 s (210 s without --timeout)."
    )]
    Stop(ServerStopArgs),
    /// Move a running server to another blade (planned) and wait until it runs there
    #[command(
        long_about = "Move a running server to another blade (a planned move): shut it down gracefully, move its identity (UUID, MACs, host NQN, volumes) to the other blade, boot it there and wait until its agent reports the identity applied, then show the server.\n\nWithout --to-blade the manager's placement planner picks a qualifying blade (never the current one). panctl waits for the manager's answer for --timeout plus 30 s (330 s without --timeout)."
    )]
    Move(ServerMoveArgs),
    /// Delete a logical server and release its identity
    Delete {
        /// Server name
        name: String,
        /// Partition the server belongs to
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
    },
}

/// `panctl server create ...`
#[derive(Debug, Args)]
pub struct ServerCreateArgs {
    /// Server name (unique in its partition)
    pub name: String,
    /// Partition that owns the server
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: String,
    /// Number of virtual NICs, one MAC each (default: one per --network, at least 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub nics: Option<u32>,
    /// Put a vNIC on this network of the partition; repeat for more, in vNIC order
    #[arg(long = "network", value_name = "NETWORK")]
    pub networks: Vec<String>,
    /// Identity pool to allocate from (default: the "default" pool)
    #[arg(long, value_name = "POOL")]
    pub identity_pool: Option<String>,
    /// Volume the server boots from (in the same partition)
    #[arg(long, value_name = "VOLUME")]
    pub boot_volume: Option<String>,
    /// Attach this data volume of the partition; repeat for more
    #[arg(long = "volume", value_name = "VOLUME")]
    pub volumes: Vec<String>,
    /// Only place the server on blades with at least this many cores
    #[arg(long, value_name = "N")]
    pub min_cores: Option<u32>,
    /// Only place the server on blades with at least this much memory (GiB)
    #[arg(long, value_name = "GIB")]
    pub min_memory_gib: Option<u64>,
    /// Only place the server on blades of this model
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Failover priority: when spares are short, servers with a higher priority get them first (default: 0)
    #[arg(long, value_name = "N")]
    pub priority: Option<u32>,
    /// Take failover spares from this blade pool (default: any qualifying available blade)
    #[arg(long, value_name = "POOL")]
    pub failover_pool: Option<String>,
    /// On failover with no free spare, stop a lower-priority server (fenced like a failed blade) and take its blade
    #[arg(long)]
    pub preempt: bool,
    /// Fail back to the home blade (the one it failed over from) once repaired, inside this maintenance window: a cron schedule, 5 fields, UTC, open an hour from each firing (e.g. "0 2 * * *")
    #[arg(long, value_name = "CRON")]
    pub failback_window: Option<String>,
}

/// `panctl server start ...`
#[derive(Debug, Args)]
pub struct ServerStartArgs {
    /// Server name
    pub name: String,
    /// Partition the server belongs to
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: String,
    /// Start the server on this blade (default: the placement planner picks one)
    #[arg(long, value_name = "BLADE")]
    pub blade: Option<String>,
    /// Return once the server is placed instead of waiting until it runs
    #[arg(long)]
    pub no_wait: bool,
    /// How long the manager waits for the server to run, in seconds (default: the manager's, 180 s)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout: Option<u32>,
}

/// `panctl server stop ...`
#[derive(Debug, Args)]
pub struct ServerStopArgs {
    /// Server name
    pub name: String,
    /// Partition the server belongs to
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: String,
    /// Return once the stop is recorded instead of waiting until the server is stopped
    #[arg(long)]
    pub no_wait: bool,
    /// How long the manager waits for the server to stop, in seconds (default: the manager's, 120 s)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout: Option<u32>,
}

/// `panctl server move ...`
#[derive(Debug, Args)]
pub struct ServerMoveArgs {
    /// Server name
    pub name: String,
    /// Partition the server belongs to
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: String,
    /// Move the server to this blade (default: the placement planner picks one, never the current blade)
    #[arg(long, value_name = "BLADE")]
    pub to_blade: Option<String>,
    /// How long the manager waits for the server to run on the other blade, in seconds (default: the manager's)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout: Option<u32>,
}

/// `panctl failover ...`
#[derive(Debug, Subcommand)]
pub enum FailoverCommand {
    /// List failovers, newest first, with how long each phase took
    #[command(
        long_about = "List failovers, newest first: the server, the failed blade it left and the spare it moved to, the phase it reached (fencing, fence_failed, awaiting_spare, booting, done) and how long each phase took: detecting the failure, fencing the failed blade, selecting a spare, booting the server on it, and in total (- while a phase is not reached). CONFIRMED-BY names the operator who confirmed a manual fence (`panctl blade confirm-fenced`); ERROR says why the last step failed.\n\nWith -o json: an array of failover objects with the proto's fields (durations in milliseconds, 0 while not reached)."
    )]
    History(FailoverHistoryArgs),
}

/// `panctl failover history`
#[derive(Debug, Args)]
pub struct FailoverHistoryArgs {
    /// Show at most this many failovers (default: the manager's default)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

/// `panctl coverage`
#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Exit with status 1 when any running server has no qualifying spare (for scripts and monitoring)
    #[arg(long)]
    pub fail_if_uncovered: bool,
}

/// `panctl volume ...`
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume, empty or cloned from a golden image, and wait until it is ready
    #[command(
        long_about = "Create a SAN volume and wait until the storage target has it ready: an empty volume of --size, or a thin clone of the golden image --image (as large as the image, or grown to --size).",
        group(ArgGroup::new("source").args(["size", "image"]).required(true).multiple(true))
    )]
    Create {
        /// Volume name (unique in its partition)
        name: String,
        /// Partition that owns the volume
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
        /// Size in bytes, or with a binary unit: 512M, 10G, 1T (MiB, GiB, TiB); with --image, grow the clone to this size (default: the image's size)
        #[arg(long, value_name = "SIZE", value_parser = args::parse_size)]
        size: Option<u64>,
        /// Golden image to clone (see `panctl image list`)
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
        /// How long the manager waits for the storage target, in seconds (default: the manager's)
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
        timeout: Option<u32>,
    },
    /// List volumes
    List {
        /// Only volumes in this partition (default: every partition)
        #[arg(short, long, value_name = "PARTITION")]
        partition: Option<String>,
    },
    /// Show one volume: its NVMe NQN, snapshots and last error
    Show {
        /// Volume name
        name: String,
        /// Partition the volume belongs to
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
    },
    /// Grow a volume (volumes only grow)
    Resize {
        /// Volume name
        name: String,
        /// Partition the volume belongs to
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
        /// New size in bytes, or with a binary unit: 512M, 10G, 1T; larger than the current size
        #[arg(long, value_name = "SIZE", value_parser = args::parse_size)]
        size: u64,
        /// How long the manager waits for the storage target, in seconds (default: the manager's)
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
        timeout: Option<u32>,
    },
    /// Take a named snapshot (a restore point) of a volume
    Snapshot(VolumeSnapshotArgs),
    /// Roll a volume back to one of its snapshots
    #[command(
        long_about = "Roll a volume back to one of its snapshots: everything written after the snapshot is lost. The snapshot is kept."
    )]
    Restore(VolumeSnapshotArgs),
    /// Delete one snapshot of a volume
    DeleteSnapshot(VolumeSnapshotArgs),
    /// Delete a volume no server uses, with its snapshots
    Delete {
        /// Volume name
        name: String,
        /// Partition the volume belongs to
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
        /// How long the manager waits for the storage target, in seconds (default: the manager's)
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
        timeout: Option<u32>,
    },
}

/// `panctl volume snapshot|restore|delete-snapshot ...`
#[derive(Debug, Args)]
pub struct VolumeSnapshotArgs {
    /// Volume name
    pub name: String,
    /// Snapshot name (unique per volume)
    pub snapshot: String,
    /// Partition the volume belongs to
    #[arg(short, long, value_name = "PARTITION")]
    pub partition: String,
    /// How long the manager waits for the storage target, in seconds (default: the manager's)
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout: Option<u32>,
}

/// `panctl image ...`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Register a golden image from a disk image file, or create an empty one
    #[command(
        long_about = "Register a golden image and wait until the storage target has it: copied from --file (a raw or qcow2 disk image the fabric manager can read, on its own host), or created empty with --size. Volumes are thin clones of it: `panctl volume create NAME --partition P --image IMAGE`.",
        group(ArgGroup::new("source").args(["file", "size"]).required(true))
    )]
    Add {
        /// Image name (unique in the fabric)
        name: String,
        /// Disk image file (raw or qcow2) on the fabric manager's host; a relative path is made absolute from the current directory
        #[arg(long, value_name = "PATH", value_parser = args::parse_image_file)]
        file: Option<String>,
        /// Create an empty image of this size: bytes, or with a binary unit: 512M, 10G, 1T
        #[arg(long, value_name = "SIZE", value_parser = args::parse_size)]
        size: Option<u64>,
        /// How long the manager waits for the copy, in seconds (default: the manager's)
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
        timeout: Option<u32>,
    },
    /// List golden images
    List,
    /// Delete a golden image no volume was cloned from
    Delete {
        /// Image name
        name: String,
        /// How long the manager waits for the storage target, in seconds (default: the manager's)
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
        timeout: Option<u32>,
    },
}

/// `panctl audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Show at most this many records (default: the manager's default, 100)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

/// `panctl events`
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Stop after this many events (default: follow until interrupted)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("panctl").chain(args.iter().copied()))
    }

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_before_and_after_the_verb() {
        let cli = parse(&["--manager", "a:1,b:2", "-o", "json", "cluster", "status"]).unwrap();
        assert_eq!(
            cli.global.manager,
            Members(vec!["a:1".into(), "b:2".into()])
        );
        assert_eq!(cli.global.output, Format::Json);
        let cli = parse(&["server", "list", "--output", "json"]).unwrap();
        assert_eq!(cli.global.output, Format::Json);
        assert!(matches!(
            cli.command,
            Command::Server(ServerCommand::List { partition: None })
        ));
    }

    #[test]
    fn server_create_leaves_nics_to_the_networks() {
        let cli = parse(&["server", "create", "web-1", "--partition", "acme"]).unwrap();
        let Command::Server(ServerCommand::Create(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.nics, None);
        assert_eq!(args.partition, "acme");
        assert!(args.networks.is_empty() && args.volumes.is_empty());
    }

    #[test]
    fn server_create_takes_repeated_networks_and_volumes() {
        let cli = parse(&[
            "server",
            "create",
            "web-1",
            "-p",
            "acme",
            "--network",
            "front",
            "--volume",
            "data-1",
            "--network",
            "back",
            "--volume",
            "data-2",
            "--boot-volume",
            "web-1-boot",
            "--nics",
            "3",
        ])
        .unwrap();
        let Command::Server(ServerCommand::Create(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.networks, ["front", "back"]);
        assert_eq!(args.volumes, ["data-1", "data-2"]);
        assert_eq!(args.boot_volume.as_deref(), Some("web-1-boot"));
        assert_eq!(args.nics, Some(3));
        let err = parse(&["server", "create", "w", "-p", "p", "--nics", "0"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let err = parse(&["server", "create", "w", "-p", "p", "--network"]).unwrap_err();
        assert!(err.to_string().contains("--network"), "{err}");
    }

    #[test]
    fn partition_create_takes_a_network_id_range() {
        let cli = parse(&[
            "partition",
            "create",
            "acme",
            "--network-ids",
            "10000-10999",
        ])
        .unwrap();
        let Command::Partition(PartitionCommand::Create { network_ids, .. }) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            network_ids,
            Some(NetworkIdRange {
                first: 10_000,
                last: 10_999
            })
        );
        let cli = parse(&["partition", "create", "acme"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Partition(PartitionCommand::Create {
                network_ids: None,
                description: None,
                ..
            })
        ));
        let err = parse(&[
            "partition",
            "create",
            "acme",
            "--network-ids",
            "10999-10000",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let text = err.to_string();
        assert!(
            text.contains("--network-ids") && text.contains("backwards"),
            "{text}"
        );
    }

    #[test]
    fn network_grammar() {
        let cli = parse(&[
            "network",
            "create",
            "front",
            "-p",
            "acme",
            "--network-id",
            "10005",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Network(NetworkCommand::Create {
                ref name,
                ref partition,
                network_id: Some(10_005),
            }) if name == "front" && partition == "acme"
        ));
        let cli = parse(&["network", "list"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Network(NetworkCommand::List { partition: None })
        ));
        let cli = parse(&["network", "delete", "front", "--partition", "acme"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Network(NetworkCommand::Delete { .. })
        ));
        let err = parse(&["network", "create", "front"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--partition"), "{err}");
        for bad in ["0", "16777216", "x"] {
            let err =
                parse(&["network", "create", "n", "-p", "acme", "--network-id", bad]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{bad}");
            assert!(err.to_string().contains("--network-id"), "{err}");
        }
    }

    #[test]
    fn volume_create_needs_a_size_or_an_image() {
        let err = parse(&["volume", "create", "v", "-p", "acme"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let text = err.to_string();
        assert!(
            text.contains("--size") && text.contains("--image"),
            "{text}"
        );

        let cli = parse(&["volume", "create", "v", "-p", "acme", "--size", "10G"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Create {
                size: Some(10_737_418_240),
                image: None,
                timeout: None,
                ..
            })
        ));
        let cli = parse(&[
            "volume",
            "create",
            "v",
            "-p",
            "acme",
            "--image",
            "debian-12",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Create {
                size: None,
                image: Some(ref image),
                ..
            }) if image == "debian-12"
        ));
        let cli = parse(&[
            "volume",
            "create",
            "v",
            "-p",
            "acme",
            "--image",
            "debian-12",
            "--size",
            "512M",
            "--timeout",
            "120",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Create {
                size: Some(536_870_912),
                image: Some(_),
                timeout: Some(120),
                ..
            })
        ));
        // Plain bytes still work, as before.
        let cli = parse(&["volume", "create", "v", "-p", "acme", "--size", "1048576"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Create {
                size: Some(1_048_576),
                ..
            })
        ));
    }

    #[test]
    fn volume_verbs_grammar() {
        let cli = parse(&["volume", "show", "v", "-p", "acme"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Show { .. })
        ));
        let cli = parse(&["volume", "resize", "v", "-p", "acme", "--size", "1T"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Resize {
                size: 1_099_511_627_776,
                timeout: None,
                ..
            })
        ));
        let err = parse(&["volume", "resize", "v", "-p", "acme"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--size"), "{err}");
        let err = parse(&["volume", "resize", "v", "-p", "acme", "--size", "10Q"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let text = err.to_string();
        assert!(
            text.contains("--size") && text.contains("unknown unit \"Q\""),
            "{text}"
        );

        for (verb, expect) in [
            ("snapshot", "snapshot"),
            ("restore", "restore"),
            ("delete-snapshot", "delete-snapshot"),
        ] {
            let cli = parse(&["volume", verb, "v", "s1", "-p", "acme", "--timeout", "5"]).unwrap();
            let (args, got) = match cli.command {
                Command::Volume(VolumeCommand::Snapshot(args)) => (args, "snapshot"),
                Command::Volume(VolumeCommand::Restore(args)) => (args, "restore"),
                Command::Volume(VolumeCommand::DeleteSnapshot(args)) => (args, "delete-snapshot"),
                other => panic!("parsed as {other:?}"),
            };
            assert_eq!(got, expect);
            assert_eq!(
                (
                    args.name.as_str(),
                    args.snapshot.as_str(),
                    args.partition.as_str(),
                    args.timeout
                ),
                ("v", "s1", "acme", Some(5))
            );
            let err = parse(&["volume", verb, "v", "-p", "acme"]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{verb}");
            assert!(err.to_string().contains("<SNAPSHOT>"), "{err}");
        }
        let cli = parse(&["volume", "delete", "v", "-p", "acme"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Delete { timeout: None, .. })
        ));
    }

    #[test]
    fn image_add_needs_a_file_or_a_size_not_both() {
        let err = parse(&["image", "add", "debian-12"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let text = err.to_string();
        assert!(text.contains("--file") && text.contains("--size"), "{text}");

        let err = parse(&["image", "add", "x", "--file", "/i.qcow2", "--size", "1G"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);

        let cli = parse(&[
            "image",
            "add",
            "debian-12",
            "--file",
            "/srv/debian-12.qcow2",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Image(ImageCommand::Add {
                file: Some(ref file),
                size: None,
                timeout: None,
                ..
            }) if file == "/srv/debian-12.qcow2"
        ));
        let cli = parse(&["image", "add", "blank", "--size", "4G", "--timeout", "600"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Image(ImageCommand::Add {
                file: None,
                size: Some(4_294_967_296),
                timeout: Some(600),
                ..
            })
        ));
        let err = parse(&["image", "add", "x", "--file", ""]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(parse(&["image", "list"]).is_ok());
        assert!(matches!(
            parse(&["image", "delete", "debian-12"]).unwrap().command,
            Command::Image(ImageCommand::Delete { .. })
        ));
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_argument() {
        let err =
            parse(&["server", "create", "w", "--partition", "p", "--nics", "abc"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--nics"), "{err}");
        let err = parse(&["volume", "create", "v", "-p", "p", "--size", "12Q"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--size"), "{err}");
        let err = parse(&[
            "identity-pool",
            "create",
            "i",
            "--macs",
            "x",
            "--uuid-prefix",
            "0",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--macs"), "{err}");
        let err = parse(&["--manager", "nowhere", "cluster", "status"]).unwrap_err();
        assert!(err.to_string().contains("--manager"), "{err}");
    }

    #[test]
    fn blade_facts_go_together() {
        let base = [
            "blade",
            "add",
            "b1",
            "--bmc",
            "https://10.0.0.21",
            "--user",
            "root",
            "--password-file",
            "pw",
        ];
        assert!(parse(&base).is_ok());
        let mut partial = base.to_vec();
        partial.extend(["--model", "x"]);
        let err = parse(&partial).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let mut full = partial.clone();
        full.extend(["--cores", "32", "--memory-gib", "256"]);
        assert!(parse(&full).is_ok());
    }

    #[test]
    fn blade_add_takes_insecure_tls() {
        let cli = parse(&[
            "blade",
            "add",
            "b1",
            "--bmc",
            "https://10.0.0.21",
            "--user",
            "root",
            "--password-file",
            "pw",
            "--insecure-tls",
        ])
        .unwrap();
        let Command::Blade(BladeCommand::Add(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert!(args.insecure_tls);
        assert_eq!(args.model, None);
    }

    #[test]
    fn blade_discover_grammar() {
        let cli = parse(&[
            "blade",
            "discover",
            "--bmc-range",
            "127.0.0.1:8401-8416",
            "--user",
            "root",
            "--password-file",
            "pw",
        ])
        .unwrap();
        let Command::Blade(BladeCommand::Discover(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            args.bmc_range,
            BmcRange {
                scheme: None,
                range: "127.0.0.1:8401-8416".into()
            }
        );
        assert_eq!(
            (args.scheme, args.pool, args.insecure_tls),
            (None, None, false)
        );

        let cli = parse(&[
            "blade",
            "discover",
            "--bmc-range",
            "http://10.0.0.21-10.0.0.36:8000",
            "--user",
            "root",
            "--password-file",
            "pw",
            "--pool",
            "spares",
            "--scheme",
            "http",
            "--insecure-tls",
        ])
        .unwrap();
        let Command::Blade(BladeCommand::Discover(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.bmc_range.scheme, Some(Scheme::Http));
        assert_eq!(args.bmc_range.range, "10.0.0.21-10.0.0.36:8000");
        assert_eq!(args.scheme, Some(Scheme::Http));
        assert_eq!(args.pool.as_deref(), Some("spares"));
        assert!(args.insecure_tls);
    }

    #[test]
    fn blade_discover_needs_a_range_user_and_password_file() {
        let err = parse(&[
            "blade",
            "discover",
            "--user",
            "root",
            "--password-file",
            "pw",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--bmc-range"), "{err}");
        let err = parse(&[
            "blade",
            "discover",
            "--bmc-range",
            "h:1-2",
            "--password-file",
            "pw",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--user"), "{err}");
        let err = parse(&[
            "blade",
            "discover",
            "--bmc-range",
            "nothing",
            "--user",
            "root",
            "--password-file",
            "pw",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--bmc-range"), "{err}");
        let err = parse(&[
            "blade",
            "discover",
            "--bmc-range",
            "h:1-2",
            "--user",
            "root",
            "--password-file",
            "pw",
            "--scheme",
            "ftp",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
    }

    #[test]
    fn blade_power_grammar() {
        let cli = parse(&["blade", "power", "cycle", "b7", "--force"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Blade(BladeCommand::Power {
                action: PowerAction::Cycle,
                ref name,
                force: true,
            }) if name == "b7"
        ));
        let cli = parse(&["blade", "power", "on", "b7"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Blade(BladeCommand::Power {
                action: PowerAction::On,
                force: false,
                ..
            })
        ));
        let err = parse(&["blade", "power", "reboot", "b7"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
        let err = parse(&["blade", "power", "off"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn token_file_is_global() {
        let cli = parse(&["server", "list", "--token-file", "/t"]).unwrap();
        assert_eq!(cli.global.token_file, Some(PathBuf::from("/t")));
        let cli = parse(&["--token-file", "-", "whoami"]).unwrap();
        assert_eq!(cli.global.token_file, Some(PathBuf::from("-")));
        assert!(matches!(cli.command, Command::WhoAmI));
        assert_eq!(parse(&["whoami"]).unwrap().global.token_file, None);
    }

    #[test]
    fn principal_grammar() {
        let cli = parse(&[
            "principal",
            "create",
            "alice",
            "--role",
            "partition-admin",
            "--role",
            "operator",
            "-p",
            "acme",
            "--expires-in",
            "90d",
        ])
        .unwrap();
        let Command::Principal(PrincipalCommand::Create(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            args.roles,
            [RoleArg::PartitionAdmin(None), RoleArg::Operator]
        );
        assert_eq!(args.partition.as_deref(), Some("acme"));
        assert_eq!(args.expires_in, Some(90 * 86_400));

        let err = parse(&["principal", "create", "alice"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--role"), "{err}");
        let err = parse(&["principal", "create", "a", "--role", "root"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("fabric-admin"), "{err}");
        let err = parse(&[
            "principal",
            "create",
            "a",
            "--role",
            "operator",
            "--expires-in",
            "2y",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--expires-in"), "{err}");

        let cli = parse(&["principal", "rotate", "alice", "--expires-in", "12h"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Principal(PrincipalCommand::Rotate {
                expires_in: Some(43_200),
                ..
            })
        ));
        assert!(parse(&["principal", "list"]).is_ok());
        for verb in ["revoke", "delete", "rotate"] {
            assert!(parse(&["principal", verb, "alice"]).is_ok(), "{verb}");
            let err = parse(&["principal", verb]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{verb}");
        }
    }

    #[test]
    fn set_quota_needs_a_limit_or_unlimited() {
        let cli = parse(&[
            "partition",
            "set-quota",
            "acme",
            "--max-servers",
            "10",
            "--max-volume-bytes",
            "100G",
        ])
        .unwrap();
        let Command::Partition(PartitionCommand::SetQuota(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.max_servers, Some(10));
        assert_eq!(args.max_volume_bytes, Some(100 << 30));
        assert_eq!(
            (
                args.max_volumes,
                args.max_networks,
                args.max_blades,
                args.unlimited
            ),
            (None, None, None, false)
        );
        let cli = parse(&["partition", "set-quota", "acme", "--unlimited"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Partition(PartitionCommand::SetQuota(SetQuotaArgs {
                unlimited: true,
                ..
            }))
        ));
        let err = parse(&["partition", "set-quota", "acme"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--max-servers"), "{err}");
        let err = parse(&[
            "partition",
            "set-quota",
            "acme",
            "--unlimited",
            "--max-blades",
            "2",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        let err =
            parse(&["partition", "set-quota", "acme", "--max-volume-bytes", "9Q"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let err = parse(&["partition", "set-quota", "acme", "--max-servers", "-1"]).unwrap_err();
        assert!(err.to_string().contains("--max-servers"), "{err}");
        assert!(matches!(
            parse(&["partition", "show", "acme"]).unwrap().command,
            Command::Partition(PartitionCommand::Show { .. })
        ));
    }

    #[test]
    fn server_start_and_stop_grammar() {
        let cli = parse(&[
            "server",
            "start",
            "web-1",
            "-p",
            "acme",
            "--blade",
            "b3",
            "--no-wait",
            "--timeout",
            "60",
        ])
        .unwrap();
        let Command::Server(ServerCommand::Start(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            (
                args.name.as_str(),
                args.partition.as_str(),
                args.blade.as_deref(),
                args.no_wait,
                args.timeout
            ),
            ("web-1", "acme", Some("b3"), true, Some(60))
        );
        let cli = parse(&["server", "stop", "web-1", "--partition", "acme"]).unwrap();
        let Command::Server(ServerCommand::Stop(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!((args.no_wait, args.timeout), (false, None));

        let err = parse(&["server", "start", "web-1"]).unwrap_err();
        assert!(err.to_string().contains("--partition"), "{err}");
        let err = parse(&["server", "stop", "web-1", "-p", "acme", "--timeout", "0"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--timeout"), "{err}");
        let err = parse(&["server", "stop", "web-1", "-p", "acme", "--blade", "b3"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
    }

    #[test]
    fn blade_failover_verbs_grammar() {
        let cli = parse(&["blade", "confirm-fenced", "b4"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Blade(BladeCommand::ConfirmFenced { ref name }) if name == "b4"
        ));
        let cli = parse(&["blade", "repair", "b4"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Blade(BladeCommand::Repair { ref name }) if name == "b4"
        ));
        let cli = parse(&["blade", "drain", "b4", "--timeout", "600"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Blade(BladeCommand::Drain { ref name, timeout: Some(600) }) if name == "b4"
        ));
        assert!(matches!(
            parse(&["blade", "drain", "b4"]).unwrap().command,
            Command::Blade(BladeCommand::Drain { timeout: None, .. })
        ));
        for verb in ["confirm-fenced", "repair", "drain"] {
            let err = parse(&["blade", verb]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{verb}");
        }
        let err = parse(&["blade", "drain", "b4", "--timeout", "0"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--timeout"), "{err}");
        let err = parse(&["blade", "confirm-fenced", "b4", "--force"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
    }

    #[test]
    fn confirm_fenced_help_says_what_the_operator_states() {
        let mut command = Cli::command();
        let help = command
            .find_subcommand_mut("blade")
            .unwrap()
            .find_subcommand_mut("confirm-fenced")
            .unwrap()
            .render_long_help()
            .to_string();
        for words in [
            "powered off and cut off",
            "pulled its power",
            "audit log under your principal's name",
            "takeover of the blade's server proceeds after it",
        ] {
            assert!(help.contains(words), "{words}: {help}");
        }
    }

    #[test]
    fn server_move_grammar() {
        let cli = parse(&[
            "server",
            "move",
            "web-1",
            "-p",
            "acme",
            "--to-blade",
            "b4",
            "--timeout",
            "90",
        ])
        .unwrap();
        let Command::Server(ServerCommand::Move(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            (
                args.name.as_str(),
                args.partition.as_str(),
                args.to_blade.as_deref(),
                args.timeout
            ),
            ("web-1", "acme", Some("b4"), Some(90))
        );
        let cli = parse(&["server", "move", "web-1", "--partition", "acme"]).unwrap();
        let Command::Server(ServerCommand::Move(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!((args.to_blade, args.timeout), (None, None));
        let err = parse(&["server", "move", "web-1"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--partition"), "{err}");
        let err = parse(&["server", "move", "web-1", "-p", "a", "--timeout", "0"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
    }

    #[test]
    fn server_create_takes_priority_and_failover_pool() {
        let cli = parse(&[
            "server",
            "create",
            "web-1",
            "-p",
            "acme",
            "--priority",
            "100",
            "--failover-pool",
            "spares",
        ])
        .unwrap();
        let Command::Server(ServerCommand::Create(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.priority, Some(100));
        assert_eq!(args.failover_pool.as_deref(), Some("spares"));
        let err = parse(&["server", "create", "w", "-p", "a", "--priority", "high"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--priority"), "{err}");
    }

    #[test]
    fn failover_history_and_coverage_grammar() {
        let cli = parse(&["failover", "history", "--limit", "5"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Failover(FailoverCommand::History(FailoverHistoryArgs {
                limit: Some(5)
            }))
        ));
        assert!(matches!(
            parse(&["failover", "history"]).unwrap().command,
            Command::Failover(FailoverCommand::History(FailoverHistoryArgs {
                limit: None
            }))
        ));
        let err = parse(&["failover", "history", "--limit", "0"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let err = parse(&["failover"]).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );

        assert!(matches!(
            parse(&["coverage"]).unwrap().command,
            Command::Coverage(CoverageArgs {
                fail_if_uncovered: false
            })
        ));
        assert!(matches!(
            parse(&["-o", "json", "coverage", "--fail-if-uncovered"])
                .unwrap()
                .command,
            Command::Coverage(CoverageArgs {
                fail_if_uncovered: true
            })
        ));
    }
}
