//! Errors of the BMC seam.
//!
//! A [`BmcError`] says which BMC (its URL, never its credentials), which
//! operation, what failed ([`ErrorKind`]), after how many attempts, and what
//! the operator can do about it ([`ErrorKind::hint`]). Text that comes from
//! the BMC (Redfish messages, HTML titles, headers) is cleaned of control
//! characters and shortened before it lands in an error, because a BMC is
//! not trusted to write to an operator's terminal.
//!
//! Nothing here ever holds a password or a session token.

use super::types::ResetType;
use std::fmt;
use std::time::Duration;

/// Which BMC operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Reading the service root and finding the system.
    Discover,
    /// Opening a Redfish session.
    Login,
    /// Deleting the Redfish session.
    Logout,
    /// Reading the system resource (power, health, boot override).
    ReadSystem,
    /// Reading the system and its interfaces and processors.
    ReadInventory,
    /// `ComputerSystem.Reset` with this reset type.
    Reset(ResetType),
    /// PATCHing the system's `Boot` object.
    SetBootOverride,
    /// Reading the system's log entries.
    ReadLog,
    /// Building the HTTP client for an endpoint.
    Configure,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Discover => f.write_str("discovering the Redfish service"),
            Operation::Login => f.write_str("opening a Redfish session"),
            Operation::Logout => f.write_str("closing the Redfish session"),
            Operation::ReadSystem => f.write_str("reading the system"),
            Operation::ReadInventory => f.write_str("reading the inventory"),
            Operation::Reset(t) => write!(f, "reset {t}"),
            Operation::SetBootOverride => f.write_str("setting the boot override"),
            Operation::ReadLog => f.write_str("reading the system log"),
            Operation::Configure => f.write_str("configuring the BMC endpoint"),
        }
    }
}

/// A failed BMC operation, with its context.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("BMC {bmc}: {operation} failed{}: {kind}; {}", AttemptsNote(*.attempts), .kind.hint())]
pub struct BmcError {
    /// The BMC's base URL (scheme, host, port).
    pub bmc: String,
    pub operation: Operation,
    pub kind: ErrorKind,
    /// How many HTTP attempts were made for the failing request (0 when
    /// none was sent).
    pub attempts: u32,
}

impl BmcError {
    /// True when trying again later may succeed (timeouts, connection
    /// failures, a busy BMC); false for answers that will not change by
    /// themselves (bad credentials, 4xx, malformed responses).
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }

    /// The HTTP status the BMC answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        self.kind.status()
    }
}

struct AttemptsNote(u32);

impl fmt::Display for AttemptsNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(f, " after {} attempts", self.0)
        } else {
            Ok(())
        }
    }
}

/// What failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("invalid endpoint configuration: {detail}")]
    Config { detail: String },

    #[error("no answer within {after:?}{}", if *.connecting { " while connecting" } else { "" })]
    Timeout { after: Duration, connecting: bool },

    #[error("connection refused")]
    ConnectionRefused,

    #[error("cannot connect: {detail}")]
    Connect { detail: String },

    #[error("TLS failure: {detail}")]
    Tls { detail: String },

    #[error("the connection failed after the request was sent: {detail}")]
    Transport { detail: String },

    #[error("HTTP {status}: the BMC refused the credentials{}", Detail(.message))]
    Auth {
        status: u16,
        message: Option<String>,
    },

    #[error("HTTP 403: the BMC user may not do this{}", Detail(.message))]
    Forbidden { message: Option<String> },

    #[error("HTTP {status}{}{}", Detail(.message), Resolution(.resolution))]
    Http {
        status: u16,
        /// `@Message.ExtendedInfo[0].Message`, else `error.message`.
        message: Option<String>,
        /// `@Message.ExtendedInfo[0].Resolution`.
        resolution: Option<String>,
    },

    #[error("HTTP {status}: redirected to {}", .location.as_deref().unwrap_or("an unnamed location"))]
    Redirected {
        status: u16,
        location: Option<String>,
    },

    #[error("HTTP {status}: an HTML page{} instead of Redfish JSON", .title.as_ref().map(|t| format!(" ({t:?})")).unwrap_or_default())]
    HtmlPage { status: u16, title: Option<String> },

    #[error("HTTP {status}: content type {content_type:?} instead of JSON")]
    WrongContentType { status: u16, content_type: String },

    #[error("HTTP {status}: malformed response: {error}")]
    Malformed { status: u16, error: ParseError },

    #[error("the response body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },

    #[error("{what}")]
    Missing { what: String },

    #[error("the BMC links to {link:?}, which is not a path on this BMC")]
    UnsafeLink { link: String },

    #[error("the BMC does not allow {value} (it allows {})", .allowed.join(", "))]
    NotAllowed { value: String, allowed: Vec<String> },
}

impl ErrorKind {
    /// What the operator can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            ErrorKind::Config { .. } => "fix the blade's BMC URL or TLS settings",
            ErrorKind::Timeout { .. } => {
                "check that the BMC is reachable and not overloaded (a BMC reset often helps), \
                 or raise the request timeout"
            }
            ErrorKind::ConnectionRefused => {
                "nothing listens there: check the BMC URL and port and that the BMC's Redfish \
                 service is enabled"
            }
            ErrorKind::Connect { .. } => {
                "check the BMC's address and the management network between the manager and \
                 the BMC"
            }
            ErrorKind::Tls { .. } => {
                "the BMC's certificate was not accepted: give the BMC's CA certificate for this \
                 endpoint, or mark the endpoint insecure on a trusted management network \
                 (check that the URL's scheme matches the BMC, too)"
            }
            ErrorKind::Transport { .. } => {
                "the BMC dropped the connection; read the system state before repeating the \
                 request, it may have been carried out"
            }
            ErrorKind::Auth { .. } => {
                "check the BMC user and password stored for this blade, and that the account \
                 is not locked out on the BMC"
            }
            ErrorKind::Forbidden { .. } => {
                "give the BMC user a role that may do this (Operator or Administrator)"
            }
            ErrorKind::Http { status, .. } => match status {
                404 => {
                    "the BMC has no such resource: its firmware may not support it, or the \
                     system was renumbered (it is rediscovered on the next call)"
                }
                409 | 429 | 503 => "the BMC stayed busy; try again later",
                412 => "someone else changed the system at the same time; try again",
                400 | 405 | 501 => "the BMC does not accept this request; check its firmware level",
                _ if *status >= 500 => "the BMC failed internally; try again, or reset the BMC",
                _ => "see the BMC's message",
            },
            ErrorKind::Redirected { .. } => {
                "the BMC sent PAN to another host or to plain HTTP; configure the final URL as \
                 the blade's BMC URL"
            }
            ErrorKind::HtmlPage { .. } => {
                "the URL reaches a web page (the BMC's web UI or a proxy), not its Redfish \
                 service; check the BMC URL"
            }
            ErrorKind::WrongContentType { .. } | ErrorKind::Malformed { .. } => {
                "the BMC's Redfish service answered with something PAN cannot read; check the \
                 BMC URL and firmware, and report the BMC model"
            }
            ErrorKind::BodyTooLarge { .. } => {
                "the BMC sent an unexpectedly large answer; check that the URL points at a \
                 Redfish service"
            }
            ErrorKind::Missing { .. } | ErrorKind::NotAllowed { .. } => {
                "this BMC's Redfish service lacks what PAN needs; check its firmware level"
            }
            ErrorKind::UnsafeLink { .. } => {
                "PAN follows links only on the BMC itself; check the BMC's firmware"
            }
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ErrorKind::Timeout { .. }
            | ErrorKind::ConnectionRefused
            | ErrorKind::Connect { .. }
            | ErrorKind::Transport { .. } => true,
            ErrorKind::Http { status, .. } => matches!(status, 409 | 429 | 503 | 502 | 504),
            _ => false,
        }
    }

    /// The HTTP status the BMC answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ErrorKind::Auth { status, .. }
            | ErrorKind::Http { status, .. }
            | ErrorKind::Redirected { status, .. }
            | ErrorKind::HtmlPage { status, .. }
            | ErrorKind::WrongContentType { status, .. }
            | ErrorKind::Malformed { status, .. } => Some(*status),
            ErrorKind::Forbidden { .. } => Some(403),
            _ => None,
        }
    }
}

/// Why a response body could not be read as the expected Redfish resource.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the {resource} is not JSON ({detail} at line {line} column {column})")]
    NotJson {
        resource: &'static str,
        detail: String,
        line: usize,
        column: usize,
    },

    #[error("the {resource} is a JSON {found}, not an object")]
    NotAnObject {
        resource: &'static str,
        found: &'static str,
    },
}

struct Detail<'a>(&'a Option<String>);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, " ({m})"),
            None => Ok(()),
        }
    }
}

struct Resolution<'a>(&'a Option<String>);

impl fmt::Display for Resolution<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, " (the BMC suggests: {m})"),
            None => Ok(()),
        }
    }
}

/// BMC-supplied text made safe for an error message: control characters
/// become spaces, runs of whitespace collapse, and it is cut to 300
/// characters. Empty text becomes `None`.
pub fn clean_text(s: &str) -> Option<String> {
    const MAX_CHARS: usize = 300;
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if count >= MAX_CHARS {
            out.push('…');
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    if out.is_empty() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_bmc_operation_failure_and_hint() {
        let e = BmcError {
            bmc: "https://10.0.0.21".into(),
            operation: Operation::Reset(ResetType::ForceOff),
            kind: ErrorKind::Http {
                status: 503,
                message: Some("busy".into()),
                resolution: None,
            },
            attempts: 4,
        };
        assert_eq!(
            e.to_string(),
            "BMC https://10.0.0.21: reset ForceOff failed after 4 attempts: HTTP 503 (busy); \
             the BMC stayed busy; try again later"
        );
        assert!(e.is_transient());
        assert_eq!(e.status(), Some(503));
    }

    #[test]
    fn clean_text_strips_control_characters_and_caps_length() {
        assert_eq!(
            clean_text("a\x1b[31mred\n\tline  two").as_deref(),
            Some("a [31mred line two")
        );
        assert_eq!(clean_text(" \n\t "), None);
        let long = "x".repeat(1000);
        assert_eq!(clean_text(&long).map(|s| s.chars().count()), Some(301));
    }
}
