//! The hardware-facing parts of the public API: enrolment from a BMC's
//! inventory, discovery over an address range, blade power, and waiting for
//! a server to reach a state. Handlers here do BMC I/O before or after
//! proposing a command; what may happen is still decided by the state
//! machine.

use crate::bmc::{self, Bmc as _, SystemInventory};
use crate::controller::bmcs::BmcPool;
use crate::error::chain;
use crate::node::Node;
use crate::state::{BladeFacts, ServerView, StateError};
use std::time::Duration;
use tonic::Status;

/// The facts the state keeps, from a BMC's inventory. Missing counts are
/// an error: a blade whose size is unknown cannot be qualified.
pub fn facts_from_inventory(bmc: &str, inv: &SystemInventory) -> Result<BladeFacts, Status> {
    let missing = |what: &str| {
        Status::failed_precondition(format!(
            "BMC {bmc} does not report the system's {what}; give the facts by hand \
             (--model, --cores, --memory-gib)"
        ))
    };
    let cores = inv.cores.ok_or_else(|| missing("core count"))?;
    let memory = inv.memory_gib.ok_or_else(|| missing("memory size"))?;
    if !memory.is_finite() || memory < 0.0 {
        return Err(missing(
            "memory size (it reported a negative or invalid one)",
        ));
    }
    Ok(BladeFacts {
        model: inv.model.clone().unwrap_or_default().trim().to_string(),
        cores,
        // Whole GiB; BMCs report e.g. 255.9 for 256 GiB of DIMMs.
        memory_gib: memory.round() as u64,
        macs: inv.macs.clone(),
        uuid: inv.uuid.clone().unwrap_or_default(),
    })
}

/// Reads a BMC's inventory with one-off credentials.
pub async fn read_inventory(
    bmcs: &BmcPool,
    url: &str,
    user: &str,
    password: &str,
) -> Result<SystemInventory, bmc::BmcError> {
    let client = bmcs.connect(url, user, password)?;
    let result = client.inventory().await;
    let _ = client.close().await;
    result
}

/// The BMC URLs of a discovery range: `HOST:PORT-PORT`, or
/// `A.B.C.D-A.B.C.E[:PORT]`, with `scheme` in front. At most 4096 addresses.
pub fn expand_range(range: &str, scheme: &str) -> Result<Vec<String>, String> {
    const MAX: u64 = 4096;
    let bad = |why: &str| {
        format!(
            "BMC range {range:?} {why}; write HOST:FIRSTPORT-LASTPORT (e.g. 127.0.0.1:8401-8416) \
             or FIRSTIP-LASTIP[:PORT] (e.g. 10.0.0.21-10.0.0.36)"
        )
    };
    let scheme = match scheme {
        "" | "https" => "https",
        "http" => "http",
        other => return Err(format!("scheme {other:?} is not http or https")),
    };
    if let Some((first, last)) = range.split_once('-') {
        // Port range: the host part comes before the last ':' of `first`.
        if let Some((host, p1)) = first.rsplit_once(':')
            && let (Ok(p1), Ok(p2)) = (p1.parse::<u16>(), last.parse::<u16>())
        {
            if host.is_empty() || p2 < p1 {
                return Err(bad("is empty or runs backwards"));
            }
            if u64::from(p2 - p1) + 1 > MAX {
                return Err(bad("holds more than 4096 addresses"));
            }
            return Ok((p1..=p2)
                .map(|p| format!("{scheme}://{host}:{p}"))
                .collect());
        }
        // IPv4 range with an optional port.
        let (last_ip, port) = match last.split_once(':') {
            Some((ip, port)) => (
                ip,
                Some(port.parse::<u16>().map_err(|_| bad("has a bad port"))?),
            ),
            None => (last, None),
        };
        let a: std::net::Ipv4Addr = first.parse().map_err(|_| bad("has a bad first address"))?;
        let b: std::net::Ipv4Addr = last_ip.parse().map_err(|_| bad("has a bad last address"))?;
        let (a, b) = (u32::from(a), u32::from(b));
        if b < a {
            return Err(bad("runs backwards"));
        }
        if u64::from(b - a) + 1 > MAX {
            return Err(bad("holds more than 4096 addresses"));
        }
        return Ok((a..=b)
            .map(|ip| {
                let ip = std::net::Ipv4Addr::from(ip);
                match port {
                    Some(p) => format!("{scheme}://{ip}:{p}"),
                    None => format!("{scheme}://{ip}"),
                }
            })
            .collect());
    }
    Err(bad("is not a range"))
}

/// A blade name for a discovered BMC: the system's host name when it is a
/// valid PAN name, else one derived from the BMC address.
pub fn blade_name(host_name: Option<&str>, url: &str) -> String {
    if let Some(h) = host_name {
        let h = h.trim();
        let valid = !h.is_empty()
            && h.len() <= 63
            && h.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            return h.to_string();
        }
    }
    let rest = url.split("://").nth(1).unwrap_or(url);
    let mut name: String = rest
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').to_string();
    name.truncate(59);
    format!("bmc-{name}")
}

/// Waits until the server satisfies `done`, or fails with what it is.
pub async fn wait_server(
    node: &Node,
    partition: &str,
    name: &str,
    timeout: Duration,
    done: impl Fn(&ServerView) -> Option<Result<(), String>>,
) -> Result<ServerView, Status> {
    let mut events = node.state_machine().subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    // A follower first catches up with what the leader has applied.
    node.linearize().await?;
    loop {
        let view = node
            .state_machine()
            .read(|s| s.server(partition, name))
            .map_err(|e: StateError| Status::from(crate::Error::Refused(e)))?;
        match done(&view) {
            Some(Ok(())) => return Ok(view),
            Some(Err(why)) => return Err(Status::failed_precondition(why)),
            None => {}
        }
        if tokio::time::timeout_at(deadline, events.recv())
            .await
            .is_err()
        {
            return Err(Status::deadline_exceeded(format!(
                "server '{name}' in partition '{partition}' is still {} after {timeout:?}; \
                 it keeps going in the background: watch it with `panctl server show {name} --partition {partition}`",
                view.state
            )));
        }
    }
}

/// One line for an operator from a BMC error. Not `Unavailable`: that code
/// tells clients to ask another manager, which would not help.
pub fn bmc_status(e: &bmc::BmcError) -> Status {
    Status::failed_precondition(chain(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_expand() {
        let urls = expand_range("127.0.0.1:8401-8403", "http").unwrap();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8401",
                "http://127.0.0.1:8402",
                "http://127.0.0.1:8403"
            ]
        );
    }

    #[test]
    fn address_ranges_expand_with_an_optional_port() {
        let urls = expand_range("10.0.0.254-10.0.1.1", "").unwrap();
        assert_eq!(urls.len(), 4);
        assert_eq!(urls[0], "https://10.0.0.254");
        assert_eq!(urls[3], "https://10.0.1.1");
        let urls = expand_range("10.0.0.1-10.0.0.2:8443", "https").unwrap();
        assert_eq!(urls[1], "https://10.0.0.2:8443");
    }

    #[test]
    fn bad_ranges_say_how_to_write_one() {
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:9-1",
            "10.0.0.9-10.0.0.1",
            "a-b",
            "1.2.3.4-1.2.3.5:x",
        ] {
            let err = expand_range(bad, "http").unwrap_err();
            assert!(err.contains("HOST:FIRSTPORT-LASTPORT"), "{bad}: {err}");
        }
        assert!(
            expand_range("127.0.0.1:1-9000", "http")
                .unwrap_err()
                .contains("4096")
        );
        assert!(
            expand_range("127.0.0.1:1-2", "ftp")
                .unwrap_err()
                .contains("ftp")
        );
    }

    #[test]
    fn names_come_from_the_host_name_or_the_address() {
        assert_eq!(blade_name(Some("blade-007"), "http://x:1"), "blade-007");
        assert_eq!(
            blade_name(Some("bad name"), "http://127.0.0.1:8401"),
            "bmc-127-0-0-1-8401"
        );
        assert_eq!(blade_name(None, "https://10.0.0.21"), "bmc-10-0-0-21");
    }

    #[test]
    fn inventory_without_sizes_is_refused_with_what_to_do() {
        let inv = SystemInventory {
            id: "1".into(),
            host_name: None,
            model: Some("X".into()),
            manufacturer: None,
            serial: None,
            uuid: None,
            cpu_sockets: None,
            cores: None,
            memory_gib: Some(1.0),
            macs: vec![],
            power: None,
            health: Default::default(),
            boot: None,
            reset_types: vec![],
        };
        let err = facts_from_inventory("http://b", &inv).unwrap_err();
        assert!(err.message().contains("core count") && err.message().contains("--cores"));
        let inv = SystemInventory {
            cores: Some(32),
            memory_gib: Some(255.9),
            ..inv
        };
        let facts = facts_from_inventory("http://b", &inv).unwrap();
        assert_eq!(
            (facts.cores, facts.memory_gib, facts.model.as_str()),
            (32, 256, "X")
        );
    }
}
