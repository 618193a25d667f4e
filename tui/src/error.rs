//! Failures and the single `error: ...` line each one becomes, plus exit
//! codes: 1 for failures reported by or about the fabric manager, 2 for
//! usage errors (clap's convention), 3 when the manager did not accept the
//! credentials (`Unauthenticated`) or the principal may not do the request
//! (`PermissionDenied`), 0 when stdout was closed early.

use std::fmt;
use tonic::{Code, Status};

/// What `panctl` tells the operator to do when no manager can be reached.
const REACH_HINT: &str =
    "is fabric-manager running? Set --manager or PAN_MANAGER to a member's address";

/// What `panctl` tells the operator to do when the manager wants a token.
pub const TOKEN_HINT: &str = "pass --token-file FILE or set PAN_TOKEN (the first fabric-admin token is in <data-dir>/admin.token on the member that created the cluster)";

/// Exit code of usage errors.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the manager refused the credentials or the permission.
pub const EXIT_AUTH: u8 = 3;

/// What `panctl` says when a member reports `Unavailable` without a message.
const NO_LEADER: &str = "no leader is known; wait a few seconds for an election and retry, or check `panctl cluster status`";

/// A failure `panctl` knows how to explain.
#[derive(Debug)]
pub enum CliError {
    /// Input clap could not check (e.g. an unreadable password file).
    Usage(String),
    /// No member could serve the request: each was unreachable or said the
    /// cluster is unavailable.
    NoMember { attempts: Vec<Attempt> },
    /// A member answered with an error.
    Api { addr: String, status: Status },
    /// A member accepted the request but did not answer in time.
    Timeout { addr: String, secs: u64 },
    /// The event stream ended although the command was still following it.
    StreamEnded { addr: String },
    /// The discovery stream ended before every BMC in the range was reported.
    DiscoveryCut { addr: String, done: u32, total: u32 },
    /// Discovery finished, but some BMCs could not be enrolled.
    DiscoveryFailed { failed: u32, total: u32 },
    /// `coverage --fail-if-uncovered` found running servers without a spare.
    Uncovered { uncovered: u32, servers: u32 },
    /// The `--ca-cert` file cannot be read or holds no usable certificate.
    CaCert { path: String, reason: String },
    /// A member's TLS certificate did not verify against `--ca-cert`.
    CertNotVerified {
        addr: String,
        ca: String,
        reason: String,
    },
    /// A member speaks TLS but no `--ca-cert` was given.
    SpeaksTls { addr: String },
    /// `--ca-cert` was given but the member does not speak TLS.
    NotTls { addr: String, ca: String },
}

/// One member tried while looking for one that serves the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub addr: String,
    pub failure: Failure,
}

/// Why a member did not serve the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection (refused, timed out, DNS failure...): the reason.
    Unreachable(String),
    /// The member answered `Unavailable` (no leader...): its message.
    Unavailable(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Api { status, .. }
                if matches!(
                    status.code(),
                    Code::Unauthenticated | Code::PermissionDenied
                ) && not_grpc(status).is_none() =>
            {
                EXIT_AUTH
            }
            _ => 1,
        }
    }
}

impl std::error::Error for CliError {}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => f.write_str(message),
            CliError::NoMember { attempts } => f.write_str(&describe_attempts(attempts)),
            CliError::Api { addr, status } => f.write_str(&describe_status(addr, status)),
            CliError::Timeout { addr, secs } => write!(
                f,
                "the fabric manager at {addr} did not answer within {secs} s; it may be overloaded or cut off from its cluster: check `panctl cluster status` and retry"
            ),
            CliError::StreamEnded { addr } => write!(
                f,
                "the fabric manager at {addr} closed the event stream (it may have restarted); run `panctl events` again to keep following"
            ),
            CliError::DiscoveryCut { addr, done, total } => write!(
                f,
                "the fabric manager at {addr} closed the discovery stream after {done} of {total} BMCs (it may have restarted); run `panctl blade discover` again: blades already enrolled are skipped"
            ),
            CliError::DiscoveryFailed { failed, total } => write!(
                f,
                "{failed} of {total} BMCs could not be enrolled; fix what their errors say and run `panctl blade discover` again: blades already enrolled are skipped"
            ),
            CliError::Uncovered { uncovered, servers } => write!(
                f,
                "{uncovered} of {servers} running servers have no qualifying spare; add or repair blades their failover pools can use (see `panctl blade list`), or change the servers' failover pools"
            ),
            CliError::CaCert { path, reason } => write!(
                f,
                "cannot use --ca-cert {path}: {reason}; pass the PEM file of the CA that signed the fabric manager's certificate"
            ),
            CliError::CertNotVerified { addr, ca, reason } => write!(
                f,
                "the fabric manager at {addr} presented a certificate that does not verify against --ca-cert {ca} ({reason}); check the CA file or the address"
            ),
            CliError::SpeaksTls { addr } => write!(
                f,
                "the fabric manager at {addr} speaks TLS: pass --ca-cert FILE (or set PAN_CA_CERT) with the CA that signed its certificate"
            ),
            CliError::NotTls { addr, ca } => write!(
                f,
                "the fabric manager at {addr} does not speak TLS, but --ca-cert {ca} was given; drop --ca-cert (and PAN_CA_CERT) or check the address"
            ),
        }
    }
}

/// Explains a failed search for a member that serves the request.
fn describe_attempts(attempts: &[Attempt]) -> String {
    let unavailable = attempts.iter().rev().find_map(|a| match &a.failure {
        Failure::Unavailable(message) => Some(message.as_str()),
        Failure::Unreachable(_) => None,
    });
    let tried = attempts
        .iter()
        .map(|a| match &a.failure {
            Failure::Unreachable(reason) => format!("{}: {reason}", a.addr),
            Failure::Unavailable(_) => format!("{}: unavailable", a.addr),
        })
        .collect::<Vec<_>>()
        .join("; ");
    match (unavailable, attempts) {
        (Some(message), [only]) => format!(
            "the fabric cluster is unavailable: {} (asked {})",
            sentence(message, NO_LEADER),
            only.addr
        ),
        (Some(message), _) => format!(
            "the fabric cluster is unavailable: {} (tried {tried})",
            sentence(message, NO_LEADER)
        ),
        (None, [only]) => {
            let reason = match &only.failure {
                Failure::Unreachable(reason) => reason.as_str(),
                Failure::Unavailable(_) => "unavailable",
            };
            format!(
                "cannot reach the fabric manager at {} ({reason}); {REACH_HINT}",
                only.addr
            )
        }
        (None, []) => format!("no fabric manager address was given; {REACH_HINT}"),
        (None, _) => format!("cannot reach any fabric manager member ({tried}); {REACH_HINT}"),
    }
}

/// Explains a status a member answered with, by code, keeping the server's
/// own sentence (which names the object and what to do).
pub fn describe_status(addr: &str, status: &Status) -> String {
    let raw = status.message();
    let msg = |fallback: &str| sentence(raw, fallback);
    if let Some(what) = not_grpc(status) {
        return format!(
            "{addr} {what}; set --manager or PAN_MANAGER to a fabric manager's gRPC address"
        );
    }
    match status.code() {
        Code::InvalidArgument => format!(
            "invalid request: {}",
            msg("the manager rejected an argument")
        ),
        Code::NotFound => format!(
            "not found: {}",
            msg("the object does not exist; list them to check the name")
        ),
        Code::AlreadyExists => format!(
            "already exists: {}",
            msg("an object with that name exists; pick another name")
        ),
        Code::FailedPrecondition => format!(
            "refused: {}",
            msg("the object is in use or the pool is exhausted")
        ),
        Code::Unavailable => format!(
            "the fabric cluster is unavailable: {} (asked {addr})",
            msg(NO_LEADER)
        ),
        Code::PermissionDenied => format!(
            "permission denied: {}",
            msg("your principal may not do this")
        ),
        Code::Unauthenticated => format!(
            "not authenticated: {}; {TOKEN_HINT}",
            msg("the manager did not accept your credentials")
        ),
        Code::ResourceExhausted => format!(
            "resources exhausted: {}",
            msg("the manager is out of capacity")
        ),
        Code::Aborted => format!(
            "aborted: {}; retry the command",
            msg("the change conflicted with another one")
        ),
        Code::OutOfRange => format!(
            "out of range: {}",
            msg("a value is outside what the manager accepts")
        ),
        Code::DeadlineExceeded => format!(
            "the fabric manager at {addr} gave up waiting: {}; check `panctl cluster status` and retry",
            msg("deadline exceeded")
        ),
        Code::Cancelled => format!(
            "the request to {addr} was cancelled: {}; retry the command",
            msg("cancelled")
        ),
        Code::Unimplemented => format!(
            "the fabric manager at {addr} does not support this request ({}); use a panctl of the same version as the manager",
            msg("unimplemented")
        ),
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Ok => format!(
            "the fabric manager at {addr} failed ({}): {}; check its log",
            code_name(status.code()),
            msg("no detail given")
        ),
    }
}

/// When the peer answered plain HTTP instead of gRPC (a proxy, a web
/// server, the wrong port), a short description of what it said.
pub fn not_grpc(status: &Status) -> Option<String> {
    let message = status.message();
    if !message.contains("grpc-status header missing") {
        return None;
    }
    let http = message
        .rsplit_once("HTTP status code ")
        .map_or("a non-gRPC answer".to_string(), |(_, code)| {
            format!("HTTP {}", code.trim())
        });
    Some(format!("answered {http}, not gRPC: not a fabric manager"))
}

/// A short lower-case name for a status code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Unknown => "unknown error",
        Code::Internal => "internal error",
        Code::DataLoss => "data loss",
        _ => "error",
    }
}

/// The server's message as one line without a final period, or `fallback`.
fn sentence(message: &str, fallback: &str) -> String {
    let line = one_line(message);
    let line = line.trim_end_matches('.').trim_end();
    if line.is_empty() {
        fallback.to_string()
    } else {
        line.to_string()
    }
}

/// Collapses every run of whitespace (newlines included) to one space and
/// drops other control characters, so a message fits on one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace()
        .map(|word| word.chars().filter(|c| !c.is_control()).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line printed for any failure of a command.
pub fn error_line(err: &anyhow::Error) -> String {
    let text = match err.downcast_ref::<CliError>() {
        Some(cli) => cli.to_string(),
        None => format!("{err:#}"),
    };
    format!("error: {}", one_line(&text))
}

/// The exit code for any failure of a command.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<CliError>()
        .map_or(1, CliError::exit_code)
}

/// True when the failure is only that stdout was closed (`panctl ... | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Turns clap's multi-line usage error into one line that points at the
/// right `--help`. `command_path` is e.g. `panctl server create`.
pub fn clap_error_line(rendered: &str, command_path: &str) -> String {
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let message = message.trim().strip_prefix("error:").unwrap_or(message);
    format!(
        "error: {}; run '{command_path} --help' for usage",
        one_line(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "127.0.0.1:7001";

    fn line(status: Status) -> String {
        error_line(&anyhow::Error::new(CliError::Api {
            addr: ADDR.into(),
            status,
        }))
    }

    #[test]
    fn every_status_code_becomes_one_friendly_line() {
        let m = "partition \"acme\" does not exist; create it with `panctl partition create acme`.";
        let cases = [
            (
                Code::InvalidArgument,
                "error: invalid request: partition \"acme\" does not exist; create it with `panctl partition create acme`",
            ),
            (
                Code::NotFound,
                "error: not found: partition \"acme\" does not exist; create it with `panctl partition create acme`",
            ),
            (
                Code::AlreadyExists,
                "error: already exists: partition \"acme\" does not exist; create it with `panctl partition create acme`",
            ),
            (
                Code::FailedPrecondition,
                "error: refused: partition \"acme\" does not exist; create it with `panctl partition create acme`",
            ),
            (
                Code::Unavailable,
                "error: the fabric cluster is unavailable: partition \"acme\" does not exist; create it with `panctl partition create acme` (asked 127.0.0.1:7001)",
            ),
            (
                Code::PermissionDenied,
                "error: permission denied: partition \"acme\" does not exist; create it with `panctl partition create acme`",
            ),
            (
                Code::Unauthenticated,
                "error: not authenticated: partition \"acme\" does not exist; create it with `panctl partition create acme`; pass --token-file FILE or set PAN_TOKEN (the first fabric-admin token is in <data-dir>/admin.token on the member that created the cluster)",
            ),
            (
                Code::ResourceExhausted,
                "error: resources exhausted: partition \"acme\" does not exist; create it with `panctl partition create acme`",
            ),
            (
                Code::Aborted,
                "error: aborted: partition \"acme\" does not exist; create it with `panctl partition create acme`; retry the command",
            ),
            (
                Code::OutOfRange,
                "error: out of range: partition \"acme\" does not exist; create it with `panctl partition create acme`",
            ),
            (
                Code::DeadlineExceeded,
                "error: the fabric manager at 127.0.0.1:7001 gave up waiting: partition \"acme\" does not exist; create it with `panctl partition create acme`; check `panctl cluster status` and retry",
            ),
            (
                Code::Cancelled,
                "error: the request to 127.0.0.1:7001 was cancelled: partition \"acme\" does not exist; create it with `panctl partition create acme`; retry the command",
            ),
            (
                Code::Unimplemented,
                "error: the fabric manager at 127.0.0.1:7001 does not support this request (partition \"acme\" does not exist; create it with `panctl partition create acme`); use a panctl of the same version as the manager",
            ),
            (
                Code::Internal,
                "error: the fabric manager at 127.0.0.1:7001 failed (internal error): partition \"acme\" does not exist; create it with `panctl partition create acme`; check its log",
            ),
            (
                Code::Unknown,
                "error: the fabric manager at 127.0.0.1:7001 failed (unknown error): partition \"acme\" does not exist; create it with `panctl partition create acme`; check its log",
            ),
            (
                Code::DataLoss,
                "error: the fabric manager at 127.0.0.1:7001 failed (data loss): partition \"acme\" does not exist; create it with `panctl partition create acme`; check its log",
            ),
            (
                Code::Ok,
                "error: the fabric manager at 127.0.0.1:7001 failed (ok): partition \"acme\" does not exist; create it with `panctl partition create acme`; check its log",
            ),
        ];
        for (code, expected) in cases {
            assert_eq!(line(Status::new(code, m)), expected, "{code:?}");
        }
    }

    #[test]
    fn empty_or_multiline_messages_still_give_one_useful_line() {
        assert_eq!(
            line(Status::not_found("")),
            "error: not found: the object does not exist; list them to check the name"
        );
        assert_eq!(
            line(Status::unavailable("")),
            "error: the fabric cluster is unavailable: no leader is known; wait a few seconds for an election and retry, or check `panctl cluster status` (asked 127.0.0.1:7001)"
        );
        assert_eq!(
            line(Status::internal("panicked at\nsrc/x.rs:1\n\tbacktrace")),
            "error: the fabric manager at 127.0.0.1:7001 failed (internal error): panicked at src/x.rs:1 backtrace; check its log"
        );
    }

    #[test]
    fn plain_http_answers_are_explained() {
        assert_eq!(
            line(Status::unimplemented(
                "grpc-status header missing, mapped from HTTP status code 404"
            )),
            "error: 127.0.0.1:7001 answered HTTP 404, not gRPC: not a fabric manager; set --manager or PAN_MANAGER to a fabric manager's gRPC address"
        );
    }

    #[test]
    fn unreachable_managers_are_explained() {
        let one = CliError::NoMember {
            attempts: vec![Attempt {
                addr: ADDR.into(),
                failure: Failure::Unreachable("connection refused".into()),
            }],
        };
        assert_eq!(
            error_line(&anyhow::Error::new(one)),
            "error: cannot reach the fabric manager at 127.0.0.1:7001 (connection refused); is fabric-manager running? Set --manager or PAN_MANAGER to a member's address"
        );
        let two = CliError::NoMember {
            attempts: vec![
                Attempt {
                    addr: "a:7001".into(),
                    failure: Failure::Unreachable("connection refused".into()),
                },
                Attempt {
                    addr: "b:7001".into(),
                    failure: Failure::Unreachable("timed out after 3 s".into()),
                },
            ],
        };
        assert_eq!(
            two.to_string(),
            "cannot reach any fabric manager member (a:7001: connection refused; b:7001: timed out after 3 s); is fabric-manager running? Set --manager or PAN_MANAGER to a member's address"
        );
        assert_eq!(two.exit_code(), 1);
    }

    #[test]
    fn an_unavailable_cluster_quotes_the_member_that_said_so() {
        let err = CliError::NoMember {
            attempts: vec![
                Attempt {
                    addr: "a:7001".into(),
                    failure: Failure::Unreachable("connection refused".into()),
                },
                Attempt {
                    addr: "b:7001".into(),
                    failure: Failure::Unavailable(
                        "No leader is elected; retry in a few seconds.".into(),
                    ),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "the fabric cluster is unavailable: No leader is elected; retry in a few seconds (tried a:7001: connection refused; b:7001: unavailable)"
        );
        let single = CliError::NoMember {
            attempts: vec![Attempt {
                addr: "b:7001".into(),
                failure: Failure::Unavailable("No leader is elected.".into()),
            }],
        };
        assert_eq!(
            single.to_string(),
            "the fabric cluster is unavailable: No leader is elected (asked b:7001)"
        );
    }

    #[test]
    fn other_failures_and_exit_codes() {
        let usage = anyhow::Error::new(CliError::Usage(
            "the password file pw is empty; write the BMC password into it".into(),
        ));
        assert_eq!(exit_code(&usage), 2);
        assert_eq!(
            error_line(&usage),
            "error: the password file pw is empty; write the BMC password into it"
        );
        let timeout = anyhow::Error::new(CliError::Timeout {
            addr: ADDR.into(),
            secs: 30,
        });
        assert_eq!(exit_code(&timeout), 1);
        assert!(error_line(&timeout).starts_with(
            "error: the fabric manager at 127.0.0.1:7001 did not answer within 30 s;"
        ));
        let failed = anyhow::Error::new(CliError::DiscoveryFailed {
            failed: 2,
            total: 64,
        });
        assert_eq!(exit_code(&failed), 1);
        assert!(
            error_line(&failed).starts_with("error: 2 of 64 BMCs could not be enrolled;"),
            "{}",
            error_line(&failed)
        );
        let uncovered = anyhow::Error::new(CliError::Uncovered {
            uncovered: 2,
            servers: 5,
        });
        assert_eq!(exit_code(&uncovered), 1);
        assert!(
            error_line(&uncovered)
                .starts_with("error: 2 of 5 running servers have no qualifying spare;"),
            "{}",
            error_line(&uncovered)
        );
        let cut = anyhow::Error::new(CliError::DiscoveryCut {
            addr: ADDR.into(),
            done: 3,
            total: 16,
        });
        assert_eq!(exit_code(&cut), 1);
        assert!(error_line(&cut).starts_with(
            "error: the fabric manager at 127.0.0.1:7001 closed the discovery stream after 3 of 16 BMCs"
        ));
        let plain = anyhow::anyhow!("inner\nproblem").context("outer");
        assert_eq!(error_line(&plain), "error: outer: inner problem");
        assert_eq!(exit_code(&plain), 1);
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("cannot write the output");
        assert!(is_broken_pipe(&pipe));
        assert!(!is_broken_pipe(&plain));
    }

    #[test]
    fn auth_failures_have_their_own_exit_code_and_say_what_to_do() {
        let api = |status| {
            anyhow::Error::new(CliError::Api {
                addr: ADDR.into(),
                status,
            })
        };
        let unauthenticated = api(Status::unauthenticated(
            "no bearer token in the authorization metadata.",
        ));
        assert_eq!(exit_code(&unauthenticated), 3);
        assert_eq!(
            error_line(&unauthenticated),
            "error: not authenticated: no bearer token in the authorization metadata; pass --token-file FILE or set PAN_TOKEN (the first fabric-admin token is in <data-dir>/admin.token on the member that created the cluster)"
        );
        let denied = api(Status::permission_denied(
            "role partition-viewer:acme may not create servers",
        ));
        assert_eq!(exit_code(&denied), 3);
        assert_eq!(
            error_line(&denied),
            "error: permission denied: role partition-viewer:acme may not create servers"
        );
        assert_eq!(exit_code(&api(Status::not_found("x"))), 1);
    }

    #[test]
    fn clap_errors_shrink_to_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  --partition <PARTITION>\n\nUsage: panctl server create --partition <PARTITION> <NAME>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_error_line(rendered, "panctl server create"),
            "error: the following required arguments were not provided: --partition <PARTITION>; run 'panctl server create --help' for usage"
        );
        let rendered = "error: invalid value 'abc' for '--nics <N>': invalid digit found in string\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_error_line(rendered, "panctl server create"),
            "error: invalid value 'abc' for '--nics <N>': invalid digit found in string; run 'panctl server create --help' for usage"
        );
    }
}
