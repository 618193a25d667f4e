//! The command-line grammar of `panctl` (clap derive): global flags, every
//! noun and verb, and the help text a new operator reads.

use crate::args::{self, MacRange, Members};
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
    /// JSON: an array for lists, one object otherwise, one object per line for events
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
    Add(BladeAddArgs),
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
    /// Remove a blade from the fabric
    Remove {
        /// Blade name
        name: String,
    },
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
    /// Known hardware model (give --model, --cores and --memory-gib together)
    #[arg(long, value_name = "MODEL", requires_all = ["cores", "memory_gib"])]
    pub model: Option<String>,
    /// Known CPU core count (give --model, --cores and --memory-gib together)
    #[arg(long, value_name = "N", requires_all = ["model", "memory_gib"])]
    pub cores: Option<u32>,
    /// Known memory in GiB (give --model, --cores and --memory-gib together)
    #[arg(long, value_name = "GIB", requires_all = ["model", "cores"])]
    pub memory_gib: Option<u64>,
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
}
