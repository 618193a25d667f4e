//! Value parsers for arguments clap cannot check on its own: manager
//! addresses, MAC ranges, BMC address ranges, UUID prefixes, sizes, network
//! ids and their ranges, image file paths, principal roles and durations. Each error names what was
//! wrong and shows a valid example; clap adds the argument's name.

use crate::cli::Scheme;
use crate::units;

/// The `--manager` value: one or more cluster members, tried in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Members(pub Vec<String>);

/// An inclusive MAC range, normalised to lower-case colon form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacRange {
    pub first: String,
    pub last: String,
}

/// Parses `HOST:PORT[,HOST:PORT...]`.
pub fn parse_members(input: &str) -> Result<Members, String> {
    let members = input
        .split(',')
        .map(str::trim)
        .map(|member| parse_host_port(member).map(|()| member.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Members(members))
}

/// Parses a single `HOST:PORT` (used by `cluster add-member --addr`).
pub fn parse_address(input: &str) -> Result<String, String> {
    let input = input.trim();
    parse_host_port(input)?;
    Ok(input.to_string())
}

/// Checks `HOST:PORT` (an `http://` or `https://` prefix is allowed, and
/// IPv6 hosts go in brackets: `[::1]:7001`).
fn parse_host_port(input: &str) -> Result<(), String> {
    let example = "expected HOST:PORT, e.g. 127.0.0.1:7001";
    if input.is_empty() {
        return Err(format!("an empty address; {example}"));
    }
    let rest = input
        .strip_prefix("http://")
        .or_else(|| input.strip_prefix("https://"))
        .unwrap_or(input);
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(format!("{input:?} has no port; {example}"));
    };
    let bare_ipv6 = host.contains(':') && !(host.starts_with('[') && host.ends_with(']'));
    if host.is_empty() || host.contains(['/', ' ']) || bare_ipv6 {
        return Err(format!("{input:?} is not an address; {example}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{input:?} has an invalid port {port:?}; {example}")),
    }
}

/// Parses `FIRST-LAST`, e.g. `02:50:41:00:00:00-02:50:41:00:ff:ff`. MACs may
/// use `:` or `-` between octets; the range separator is the `-` that leaves
/// a valid MAC on both sides.
pub fn parse_mac_range(input: &str) -> Result<MacRange, String> {
    let example = "expected FIRST-LAST, e.g. 02:50:41:00:00:00-02:50:41:00:ff:ff";
    let input = input.trim();
    let mut ranges = input.match_indices('-').filter_map(|(at, _)| {
        let first = parse_mac(&input[..at])?;
        let last = parse_mac(&input[at + 1..])?;
        Some((first, last))
    });
    let Some((first, last)) = ranges.next() else {
        return Err(format!("{input:?} is not a MAC range; {example}"));
    };
    if first > last {
        return Err(format!(
            "{input:?} is backwards: the first MAC is above the last; {example}"
        ));
    }
    Ok(MacRange {
        first: format_mac(first),
        last: format_mac(last),
    })
}

/// A MAC as six two-digit hex octets separated by `:` or `-`, as a number.
fn parse_mac(text: &str) -> Option<u64> {
    let octets: Vec<&str> = text.split([':', '-']).collect();
    if octets.len() != 6 {
        return None;
    }
    octets.iter().try_fold(0u64, |acc, octet| {
        if octet.len() != 2 {
            return None;
        }
        let value = u8::from_str_radix(octet, 16).ok()?;
        Some((acc << 8) | u64::from(value))
    })
}

fn format_mac(value: u64) -> String {
    let bytes = value.to_be_bytes();
    bytes[2..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A `--bmc-range` value: the range as the manager parses it, and the
/// scheme when the user typed it as a URL prefix (`http://...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcRange {
    pub scheme: Option<Scheme>,
    pub range: String,
}

/// Splits an optional `http://` or `https://` prefix off a BMC range and
/// checks its rough shape; the manager checks the hosts and ports.
pub fn parse_bmc_range(input: &str) -> Result<BmcRange, String> {
    let example = "expected HOST:FIRSTPORT-LASTPORT (e.g. 127.0.0.1:8401-8416) or FIRSTIP-LASTIP[:PORT] (e.g. 10.0.0.21-10.0.0.36)";
    let input = input.trim();
    let (scheme, rest) = match input.split_once("://") {
        None => (None, input),
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => (Some(Scheme::Http), rest),
            "https" => (Some(Scheme::Https), rest),
            _ => {
                return Err(format!(
                    "{input:?} has the scheme {scheme:?}; BMCs are reached over http or https; {example}"
                ));
            }
        },
    };
    let range = rest.strip_suffix('/').unwrap_or(rest);
    if range.is_empty() {
        return Err(format!("an empty BMC range; {example}"));
    }
    if range.contains(['/', ' ', '\t', ',']) || !range.contains('-') {
        return Err(format!("{input:?} is not a BMC range; {example}"));
    }
    Ok(BmcRange {
        scheme,
        range: range.to_string(),
    })
}

/// Checks a UUID prefix: 16 hex digits, dashes allowed
/// (`50414e00-0000-0001`). Returned as typed.
pub fn parse_uuid_prefix(input: &str) -> Result<String, String> {
    let input = input.trim();
    let digits: Vec<char> = input.chars().filter(|c| *c != '-').collect();
    if digits.len() != 16 || !digits.iter().all(char::is_ascii_hexdigit) {
        return Err(format!(
            "{input:?} is not a UUID prefix; expected 16 hex digits (the first 8 bytes of every UUID), e.g. 50414e00-0000-0001"
        ));
    }
    Ok(input.to_string())
}

/// Parses a size in bytes or with a binary unit (see [`units::parse_size`]).
pub fn parse_size(input: &str) -> Result<u64, String> {
    units::parse_size(input)
}

/// Lowest usable network id (VXLAN VNI 0 is not used).
pub const NETWORK_ID_MIN: u32 = 1;
/// Highest network id (24-bit VXLAN VNI).
pub const NETWORK_ID_MAX: u32 = 16_777_215;

/// An inclusive range of network ids, `first <= last`, both in
/// [`NETWORK_ID_MIN`]`..=`[`NETWORK_ID_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkIdRange {
    pub first: u32,
    pub last: u32,
}

impl std::fmt::Display for NetworkIdRange {
    /// The form the manager parses: `FIRST-LAST`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Parses one network id: a whole number from 1 to 16777215.
pub fn parse_network_id(input: &str) -> Result<u32, String> {
    let text = input.trim();
    let example = format!(
        "a network id is a whole number from {NETWORK_ID_MIN} to {NETWORK_ID_MAX} (a 24-bit VXLAN VNI), e.g. 10000"
    );
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{input:?} is not a network id; {example}"));
    }
    match text.parse::<u32>() {
        Ok(id) if (NETWORK_ID_MIN..=NETWORK_ID_MAX).contains(&id) => Ok(id),
        _ => Err(format!("{input:?} is out of range; {example}")),
    }
}

/// Parses `FIRST-LAST`, e.g. `10000-10999`: an inclusive range of network
/// ids, each from 1 to 16777215, the first not above the last.
pub fn parse_network_id_range(input: &str) -> Result<NetworkIdRange, String> {
    let example = format!(
        "expected FIRST-LAST, two network ids from {NETWORK_ID_MIN} to {NETWORK_ID_MAX}, e.g. 10000-10999"
    );
    let text = input.trim();
    let Some((first, last)) = text.split_once('-') else {
        return Err(format!("{input:?} is not a network id range; {example}"));
    };
    let id = |part: &str| -> Result<u32, String> {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{input:?} is not a network id range; {example}"));
        }
        match part.parse::<u32>() {
            Ok(id) if (NETWORK_ID_MIN..=NETWORK_ID_MAX).contains(&id) => Ok(id),
            _ => Err(format!(
                "{input:?} has the network id {part} out of range; {example}"
            )),
        }
    };
    let (first, last) = (id(first)?, id(last)?);
    if first > last {
        return Err(format!(
            "{input:?} is backwards: the first network id is above the last; {example}"
        ));
    }
    Ok(NetworkIdRange { first, last })
}

/// Checks an image file path and makes a relative one absolute from the
/// current directory (the fabric manager, which reads the file, has its
/// own working directory). The file itself is not opened here: it lives on
/// the manager's host.
pub fn parse_image_file(input: &str) -> Result<String, String> {
    let example = "give the path of a raw or qcow2 disk image on the fabric manager's host, e.g. /var/lib/pan/images/debian-12.qcow2";
    if input.trim().is_empty() {
        return Err(format!("an empty path; {example}"));
    }
    let path = std::path::absolute(input)
        .map_err(|e| format!("cannot make {input:?} an absolute path ({e}); {example}"))?;
    path.into_os_string()
        .into_string()
        .map_err(|_| format!("{input:?} is not valid UTF-8; {example}"))
}

/// A `--role` value as typed: a fabric role, or a partition role with the
/// partition when written `partition-admin:P` (else `--partition` gives it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleArg {
    FabricAdmin,
    Operator,
    PartitionAdmin(Option<String>),
    PartitionViewer(Option<String>),
}

const ROLES_EXAMPLE: &str = "roles are fabric-admin, operator, partition-admin and partition-viewer (the last two with --partition P, or written partition-admin:P)";

/// Parses a role: `fabric-admin`, `operator`, `partition-admin`,
/// `partition-viewer`, `partition-admin:P` or `partition-viewer:P`.
pub fn parse_role(input: &str) -> Result<RoleArg, String> {
    let text = input.trim();
    let (role, partition) = match text.split_once(':') {
        Some((role, partition)) => (role, Some(partition.trim())),
        None => (text, None),
    };
    if partition.is_some_and(str::is_empty) {
        return Err(format!(
            "{input:?} names no partition after the colon; e.g. partition-admin:acme"
        ));
    }
    let partition = partition.map(str::to_string);
    match (role, partition) {
        ("fabric-admin", None) => Ok(RoleArg::FabricAdmin),
        ("operator", None) => Ok(RoleArg::Operator),
        ("fabric-admin" | "operator", Some(_)) => Err(format!(
            "{input:?}: {role} is a fabric-wide role and takes no partition; {ROLES_EXAMPLE}"
        )),
        ("partition-admin", partition) => Ok(RoleArg::PartitionAdmin(partition)),
        ("partition-viewer", partition) => Ok(RoleArg::PartitionViewer(partition)),
        _ => Err(format!("{input:?} is not a role; {ROLES_EXAMPLE}")),
    }
}

/// The roles as the manager names them (`partition-admin:acme`), with
/// `--partition` given to partition roles written without one; duplicates
/// dropped. Errors: a partition role without a partition, or a `--partition`
/// no role takes.
pub fn resolve_roles(roles: &[RoleArg], partition: Option<&str>) -> Result<Vec<String>, String> {
    let mut used = false;
    let mut named = |kind: &str, own: &Option<String>| -> Result<String, String> {
        match (own, partition) {
            (Some(p), _) => Ok(format!("{kind}:{p}")),
            (None, Some(p)) => {
                used = true;
                Ok(format!("{kind}:{p}"))
            }
            (None, None) => Err(format!(
                "--role {kind} needs a partition: add --partition P, or write --role {kind}:P"
            )),
        }
    };
    let mut out: Vec<String> = Vec::new();
    for role in roles {
        let name = match role {
            RoleArg::FabricAdmin => "fabric-admin".to_string(),
            RoleArg::Operator => "operator".to_string(),
            RoleArg::PartitionAdmin(p) => named("partition-admin", p)?,
            RoleArg::PartitionViewer(p) => named("partition-viewer", p)?,
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if let Some(p) = partition
        && !used
    {
        let only_fabric = roles
            .iter()
            .all(|r| matches!(r, RoleArg::FabricAdmin | RoleArg::Operator));
        return Err(if only_fabric {
            format!(
                "--partition {p} applies only to partition roles, but only fabric-wide roles were given; drop --partition, or add --role partition-admin or --role partition-viewer"
            )
        } else {
            format!(
                "--partition {p} is not used: every partition role already names its partition; drop --partition or write the role without \":PARTITION\""
            )
        });
    }
    Ok(out)
}

/// Parses a duration into seconds: `90d`, `12h`, `30m`, `3600s` or plain
/// seconds; at least one second.
pub fn parse_duration(input: &str) -> Result<u64, String> {
    let example = "use a whole number with d, h, m or s (days, hours, minutes, seconds), or plain seconds, e.g. 90d, 12h, 30m or 3600";
    let text = input.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!("{input:?} is not a duration; {example}"));
    }
    let multiplier: u64 = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "{input:?} has an unknown unit {other:?}; {example}"
            ));
        }
    };
    let seconds = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{input:?} is too long a duration"))?;
    if seconds == 0 {
        return Err(format!(
            "{input:?} is zero; leave the option out for a token that never expires"
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_accept_one_or_many_addresses() {
        assert_eq!(
            parse_members("127.0.0.1:7001"),
            Ok(Members(vec!["127.0.0.1:7001".into()]))
        );
        assert_eq!(
            parse_members("a:7001, b:7002,[::1]:7003,http://c:7004"),
            Ok(Members(vec![
                "a:7001".into(),
                "b:7002".into(),
                "[::1]:7003".into(),
                "http://c:7004".into()
            ]))
        );
    }

    #[test]
    fn members_reject_what_is_not_host_port() {
        for bad in [
            "",
            "localhost",
            "a:7001,",
            ":7001",
            "a:0",
            "a:port",
            "a:70000",
            "::1:7001",
        ] {
            let err = parse_members(bad).unwrap_err();
            assert!(err.contains("HOST:PORT"), "{bad}: {err}");
        }
        assert!(parse_address("10.0.0.2").unwrap_err().contains("no port"));
        assert_eq!(parse_address(" 10.0.0.2:7001 "), Ok("10.0.0.2:7001".into()));
    }

    #[test]
    fn mac_ranges_parse_with_colons_or_dashes() {
        let expected = MacRange {
            first: "02:50:41:00:00:00".into(),
            last: "02:50:41:00:ff:ff".into(),
        };
        assert_eq!(
            parse_mac_range("02:50:41:00:00:00-02:50:41:00:FF:FF"),
            Ok(expected.clone())
        );
        assert_eq!(
            parse_mac_range("02-50-41-00-00-00-02-50-41-00-ff-ff"),
            Ok(expected)
        );
        let single = parse_mac_range("02:50:41:00:00:07-02:50:41:00:00:07").unwrap();
        assert_eq!(single.first, single.last);
    }

    #[test]
    fn mac_ranges_reject_bad_input() {
        for bad in [
            "",
            "02:50:41:00:00:00",
            "02:50:41:00:00:00-",
            "02:50:41:00:00-02:50:41:00:00:ff",
            "02:50:41:00:00:0g-02:50:41:00:00:ff",
            "2:50:41:00:00:00-02:50:41:00:00:ff",
        ] {
            let err = parse_mac_range(bad).unwrap_err();
            assert!(err.contains("is not a MAC range"), "{bad}: {err}");
            assert!(err.contains("FIRST-LAST"), "{bad}: {err}");
        }
        let err = parse_mac_range("02:50:41:00:00:ff-02:50:41:00:00:00").unwrap_err();
        assert!(err.contains("backwards"), "{err}");
    }

    #[test]
    fn bmc_ranges_keep_the_range_and_split_off_a_scheme() {
        assert_eq!(
            parse_bmc_range("127.0.0.1:8401-8416"),
            Ok(BmcRange {
                scheme: None,
                range: "127.0.0.1:8401-8416".into()
            })
        );
        assert_eq!(
            parse_bmc_range(" 10.0.0.21-10.0.0.36:443 "),
            Ok(BmcRange {
                scheme: None,
                range: "10.0.0.21-10.0.0.36:443".into()
            })
        );
        assert_eq!(
            parse_bmc_range("http://127.0.0.1:8401-8416/"),
            Ok(BmcRange {
                scheme: Some(Scheme::Http),
                range: "127.0.0.1:8401-8416".into()
            })
        );
        assert_eq!(
            parse_bmc_range("HTTPS://10.0.0.21-10.0.0.36")
                .unwrap()
                .scheme,
            Some(Scheme::Https)
        );
    }

    #[test]
    fn bmc_ranges_reject_what_is_not_a_range() {
        for bad in [
            "",
            "http://",
            "127.0.0.1:8401",
            "http://10.0.0.21/redfish/v1-2",
            "10.0.0.21 - 10.0.0.36",
            "a-b,c-d",
        ] {
            let err = parse_bmc_range(bad).unwrap_err();
            assert!(err.contains("HOST:FIRSTPORT-LASTPORT"), "{bad}: {err}");
        }
        let err = parse_bmc_range("ftp://10.0.0.21-10.0.0.36").unwrap_err();
        assert!(err.contains("http or https"), "{err}");
    }

    #[test]
    fn network_ids_are_24_bit_and_not_zero() {
        assert_eq!(parse_network_id("1"), Ok(1));
        assert_eq!(parse_network_id(" 10000 "), Ok(10_000));
        assert_eq!(parse_network_id("16777215"), Ok(NETWORK_ID_MAX));
        for bad in ["", "x", "-1", "+5", "1.5", "0x10"] {
            let err = parse_network_id(bad).unwrap_err();
            assert!(err.contains("is not a network id"), "{bad}: {err}");
            assert!(err.contains("from 1 to 16777215"), "{bad}: {err}");
        }
        for bad in ["0", "16777216", "99999999999"] {
            let err = parse_network_id(bad).unwrap_err();
            assert!(err.contains("out of range"), "{bad}: {err}");
        }
    }

    #[test]
    fn network_id_ranges_parse_first_and_last() {
        assert_eq!(
            parse_network_id_range("10000-10999"),
            Ok(NetworkIdRange {
                first: 10_000,
                last: 10_999
            })
        );
        assert_eq!(
            parse_network_id_range(" 7 - 7 "),
            Ok(NetworkIdRange { first: 7, last: 7 })
        );
        assert_eq!(
            parse_network_id_range("1-16777215").unwrap().to_string(),
            "1-16777215"
        );
    }

    #[test]
    fn network_id_ranges_reject_bad_input() {
        for bad in [
            "", "10000", "10000-", "-10999", "a-b", "1-2-3", "1..5", "-1-5",
        ] {
            let err = parse_network_id_range(bad).unwrap_err();
            assert!(err.contains("is not a network id range"), "{bad}: {err}");
            assert!(err.contains("FIRST-LAST"), "{bad}: {err}");
        }
        let err = parse_network_id_range("0-100").unwrap_err();
        assert!(err.contains("network id 0 out of range"), "{err}");
        let err = parse_network_id_range("1-16777216").unwrap_err();
        assert!(err.contains("network id 16777216 out of range"), "{err}");
        let err = parse_network_id_range("200-100").unwrap_err();
        assert!(err.contains("backwards"), "{err}");
    }

    #[test]
    fn image_files_become_absolute_paths() {
        assert_eq!(
            parse_image_file("/srv/images/debian.qcow2"),
            Ok("/srv/images/debian.qcow2".into())
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            parse_image_file("debian.qcow2"),
            Ok(cwd.join("debian.qcow2").to_str().unwrap().to_string())
        );
        for bad in ["", "  "] {
            let err = parse_image_file(bad).unwrap_err();
            assert!(err.contains("an empty path"), "{err}");
            assert!(err.contains("raw or qcow2"), "{err}");
        }
    }

    #[test]
    fn uuid_prefixes_need_sixteen_hex_digits() {
        assert_eq!(
            parse_uuid_prefix("50414e00-0000-0001"),
            Ok("50414e00-0000-0001".into())
        );
        assert_eq!(
            parse_uuid_prefix("50414E0000000001"),
            Ok("50414E0000000001".into())
        );
        for bad in ["", "50414e00", "50414e00-0000-000g", "50414e00-0000-00012"] {
            assert!(
                parse_uuid_prefix(bad)
                    .unwrap_err()
                    .contains("16 hex digits"),
                "{bad}"
            );
        }
    }

    #[test]
    fn roles_parse_with_or_without_a_partition() {
        assert_eq!(parse_role("fabric-admin"), Ok(RoleArg::FabricAdmin));
        assert_eq!(parse_role(" operator "), Ok(RoleArg::Operator));
        assert_eq!(
            parse_role("partition-admin"),
            Ok(RoleArg::PartitionAdmin(None))
        );
        assert_eq!(
            parse_role("partition-viewer:acme"),
            Ok(RoleArg::PartitionViewer(Some("acme".into())))
        );
        for bad in ["", "admin", "Fabric-Admin", "partition-owner:acme"] {
            let err = parse_role(bad).unwrap_err();
            assert!(err.contains("is not a role"), "{bad}: {err}");
        }
        assert!(
            parse_role("operator:acme")
                .unwrap_err()
                .contains("fabric-wide")
        );
        assert!(
            parse_role("partition-admin:")
                .unwrap_err()
                .contains("no partition")
        );
    }

    #[test]
    fn partition_roles_take_the_partition_flag() {
        use RoleArg::*;
        let admin = PartitionAdmin(None);
        let viewer = PartitionViewer(None);
        assert_eq!(
            resolve_roles(&[admin.clone(), Operator], Some("acme")),
            Ok(vec!["partition-admin:acme".to_string(), "operator".into()])
        );
        assert_eq!(
            resolve_roles(
                &[PartitionViewer(Some("globex".into())), admin.clone()],
                Some("acme")
            ),
            Ok(vec![
                "partition-viewer:globex".to_string(),
                "partition-admin:acme".into()
            ])
        );
        assert_eq!(
            resolve_roles(
                &[PartitionAdmin(Some("acme".into())), admin.clone()],
                Some("acme")
            ),
            Ok(vec!["partition-admin:acme".to_string()])
        );
        assert_eq!(
            resolve_roles(&[FabricAdmin, Operator, FabricAdmin], None),
            Ok(vec!["fabric-admin".to_string(), "operator".into()])
        );
        let err = resolve_roles(&[viewer], None).unwrap_err();
        assert_eq!(
            err,
            "--role partition-viewer needs a partition: add --partition P, or write --role partition-viewer:P"
        );
        let err = resolve_roles(&[FabricAdmin], Some("acme")).unwrap_err();
        assert!(err.contains("only fabric-wide roles"), "{err}");
        let err = resolve_roles(&[PartitionAdmin(Some("x".into()))], Some("acme")).unwrap_err();
        assert!(err.contains("is not used"), "{err}");
    }

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("3600s"), Ok(3_600));
        assert_eq!(parse_duration(" 3600 "), Ok(3_600));
        for bad in ["", "d", "-1h", "1.5h"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("90d"), "{bad}: {err}");
        }
        assert!(
            parse_duration("2y")
                .unwrap_err()
                .contains("unknown unit \"y\"")
        );
        assert!(parse_duration("0").unwrap_err().contains("never expires"));
        assert!(parse_duration("0h").unwrap_err().contains("zero"));
        assert!(
            parse_duration("999999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
    }
}
