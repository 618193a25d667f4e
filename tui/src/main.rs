//! `panctl`: PAN's operator command line. It drives a fabric manager over
//! the public `pan.v1.Fabric` gRPC API: cluster membership, partitions and
//! their networks, blade pools, identity pools, blades, logical servers,
//! volumes, golden images, the audit log and live events, printed as
//! aligned tables or JSON.
//!
//! This crate will also host PAN's terminal UI (`panctl tui`, ratatui over
//! the same API and the same [`client`] module).
//!
//! Here: parse the command line, run the command, and turn any failure into
//! exactly one `error: ...` line on stderr with exit code 1 (failures from
//! or about the manager), 2 (usage errors) or 3 (not authenticated or
//! permission denied).

mod args;
mod auth;
mod cli;
mod client;
mod commands;
mod error;
mod output;
mod units;

#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod test_files;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!(
                "error: cannot start the async runtime: {}",
                error::one_line(&err.to_string())
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if error::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", error::error_line(&err));
            ExitCode::from(error::exit_code(&err))
        }
    }
}

/// Prints help or version as clap would, and any other parse failure as
/// one `error:` line (exit 2).
fn usage_error(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Nothing useful to do if printing help fails (closed stdout).
            let _ = err.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let (path, command) = typed_command();
            let verbs: Vec<&str> = command
                .get_subcommands()
                .map(clap::Command::get_name)
                .filter(|name| *name != "help")
                .collect();
            eprintln!(
                "error: '{path}' needs a command ({}); run '{path} --help' for usage",
                verbs.join(", ")
            );
            ExitCode::from(2)
        }
        _ => {
            let rendered = err.render().to_string();
            eprintln!("{}", error::clap_error_line(&rendered, &typed_command().0));
            ExitCode::from(2)
        }
    }
}

/// The subcommand the user was typing and its path, e.g. `panctl server
/// create`, found by following subcommand names in the arguments.
fn typed_command() -> (String, clap::Command) {
    let mut command = cli::Cli::command();
    let mut path = vec![command.get_name().to_string()];
    for arg in std::env::args().skip(1) {
        let Some(sub) = command.find_subcommand(&arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    (path.join(" "), command)
}
