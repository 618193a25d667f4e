//! One module per noun: each sends its requests through the [`Manager`]
//! and prints the replies. Here: the shared context and the dispatch.

pub mod audit;
pub mod blade;
pub mod cluster;
pub mod coverage;
pub mod discover;
pub mod events;
pub mod failover;
pub mod identity_pool;
pub mod image;
pub mod network;
pub mod partition;
pub mod pool;
pub mod principal;
pub mod server;
pub mod volume;

use crate::auth;
use crate::cli::{Cli, Command, Format};
use crate::client::{Manager, Principal};
use anyhow::Context as _;
use std::io::Write;

/// What every command needs: the manager and the output format.
pub struct Ctx {
    pub manager: Manager,
    pub format: Format,
}

impl Ctx {
    /// Prints `text` to stdout, ending it with a newline, and flushes.
    pub fn print(&self, text: &str) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| {
                if text.ends_with('\n') {
                    Ok(())
                } else {
                    stdout.write_all(b"\n")
                }
            })
            .and_then(|()| stdout.flush())
            .context("cannot write to standard output")
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let token = auth::resolve(
        cli.global.token_file.as_deref(),
        std::env::var(auth::TOKEN_ENV).ok(),
    )?;
    let principal = Principal::from_env().with_token(token.as_ref());
    let mut ctx = Ctx {
        manager: Manager::new(cli.global.manager.0, principal).with_ca_cert(cli.global.ca_cert),
        format: cli.global.output,
    };
    match cli.command {
        Command::Cluster(cmd) => cluster::run(cmd, &mut ctx).await,
        Command::Partition(cmd) => partition::run(cmd, &mut ctx).await,
        Command::Network(cmd) => network::run(cmd, &mut ctx).await,
        Command::Pool(cmd) => pool::run(cmd, &mut ctx).await,
        Command::IdentityPool(cmd) => identity_pool::run(cmd, &mut ctx).await,
        Command::Blade(cmd) => blade::run(cmd, &mut ctx).await,
        Command::Server(cmd) => server::run(cmd, &mut ctx).await,
        Command::Failover(cmd) => failover::run(cmd, &mut ctx).await,
        Command::Coverage(args) => coverage::run(args, &mut ctx).await,
        Command::Volume(cmd) => volume::run(cmd, &mut ctx).await,
        Command::Image(cmd) => image::run(cmd, &mut ctx).await,
        Command::Principal(cmd) => principal::run(cmd, &mut ctx).await,
        Command::WhoAmI => principal::whoami(&mut ctx).await,
        Command::Audit(args) => audit::run(args, &mut ctx).await,
        Command::Events(args) => events::run(args, &mut ctx).await,
    }
}
