//! The command-line grammar of `panctl` (clap derive): global flags, every
//! noun and verb, and the help text a new operator reads.

use crate::args::{self, BmcRange, MacRange, Members};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `panctl`: operate a PAN fabric from the command line.
#[derive(Debug, Parser)]
#[command(
    name = "panctl",
    version,
    about = "Operate a PAN fabric: cluster, partitions, pools, identity pools, blades, servers and volumes",
    long_about = "Operate a PAN (Processing Area Network) fabric: manage the fabric-manager cluster, tenant partitions, blade pools, identity pools, blades, logical servers and volumes, and follow the audit log and events.\n\nEvery command talks to a fabric manager over gRPC; set --manager or PAN_MANAGER to one or more members' addresses."
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
    /// Manage partitions: tenant boundaries that own servers and volumes
    #[command(subcommand)]
    Partition(PartitionCommand),
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
    /// Manage SAN volume records
    #[command(subcommand)]
    Volume(VolumeCommand),
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
    },
    /// List partitions
    List,
    /// Delete an empty partition
    Delete {
        /// Partition name
        name: String,
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
    /// Number of virtual NICs (one MAC each)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub nics: u32,
    /// Identity pool to allocate from (default: the "default" pool)
    #[arg(long, value_name = "POOL")]
    pub identity_pool: Option<String>,
    /// Volume the server boots from (in the same partition)
    #[arg(long, value_name = "VOLUME")]
    pub boot_volume: Option<String>,
    /// Only place the server on blades with at least this many cores
    #[arg(long, value_name = "N")]
    pub min_cores: Option<u32>,
    /// Only place the server on blades with at least this much memory (GiB)
    #[arg(long, value_name = "GIB")]
    pub min_memory_gib: Option<u64>,
    /// Only place the server on blades of this model
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
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

/// `panctl volume ...`
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume record
    Create {
        /// Volume name (unique in its partition)
        name: String,
        /// Partition that owns the volume
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
        /// Size in bytes, or with a binary unit: 512M, 10G, 1T (MiB, GiB, TiB)
        #[arg(long, value_name = "SIZE", value_parser = args::parse_size)]
        size: u64,
    },
    /// List volumes
    List {
        /// Only volumes in this partition (default: every partition)
        #[arg(short, long, value_name = "PARTITION")]
        partition: Option<String>,
    },
    /// Delete a volume record
    Delete {
        /// Volume name
        name: String,
        /// Partition the volume belongs to
        #[arg(short, long, value_name = "PARTITION")]
        partition: String,
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
    fn server_create_defaults_to_one_nic() {
        let cli = parse(&["server", "create", "web-1", "--partition", "acme"]).unwrap();
        let Command::Server(ServerCommand::Create(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.nics, 1);
        assert_eq!(args.partition, "acme");
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
}
