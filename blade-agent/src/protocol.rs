//! The agent protocol's values: fencing tokens, MACs, the desired identity,
//! host facts and the agent's reports, with their conversions to and from
//! the `pan.v1.Agent` wire types.
//!
//! Both ends use these types (the fabric manager depends on this crate for
//! them), so a wire message is validated in exactly one place:
//! [`DesiredIdentity::try_from`] and [`Hello::try_from`] refuse malformed
//! input with a [`ProtocolError`] instead of guessing.

use pan_api::v1 as pb;
use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

/// The fencing token of a desired state: `(generation, term)`.
///
/// **Order: generation first, then term.** The generation is the version of
/// the blade's desired state in the replicated state and only ever grows; the
/// term of the pushing leader only breaks ties, so a deposed leader's late
/// re-push of the same generation loses against the new leader's. See
/// [`crate::staleness`] for the rule built on this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FencingToken {
    pub term: u64,
    pub generation: u64,
}

impl FencingToken {
    pub fn new(term: u64, generation: u64) -> Self {
        FencingToken { term, generation }
    }
}

impl Ord for FencingToken {
    fn cmp(&self, other: &Self) -> Ordering {
        self.generation
            .cmp(&other.generation)
            .then(self.term.cmp(&other.term))
    }
}

impl PartialOrd for FencingToken {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "generation {} (term {})", self.generation, self.term)
    }
}

impl From<FencingToken> for pb::FencingToken {
    fn from(t: FencingToken) -> Self {
        pb::FencingToken {
            term: t.term,
            generation: t.generation,
        }
    }
}

impl From<pb::FencingToken> for FencingToken {
    fn from(t: pb::FencingToken) -> Self {
        FencingToken {
            term: t.term,
            generation: t.generation,
        }
    }
}

/// A 48-bit MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The MAC held in the low 48 bits of `value` (the fabric manager's form).
    pub fn from_u64(value: u64) -> Mac {
        let b = value.to_be_bytes();
        Mac([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also `-` separated, any case).
    pub fn parse(s: &str) -> Result<Mac, ProtocolError> {
        let invalid = || ProtocolError::InvalidMac {
            value: s.to_string(),
        };
        let mut octets = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for octet in &mut octets {
            let part = parts.next().ok_or_else(invalid)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
        }
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(Mac(octets))
    }

    /// True for a group (multicast or broadcast) address: never a host's MAC.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// The identity a server carries onto a blade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerIdentity {
    /// Server name (unique within its partition).
    pub server: String,
    pub partition: String,
    pub uuid: String,
    /// One MAC per vNIC, in vNIC order.
    pub macs: Vec<Mac>,
    pub host_nqn: String,
    /// The boot volume's name; `None` when the server has none.
    pub boot_volume: Option<String>,
    /// Volumes to attach over NVMe/TCP with `host_nqn`, boot volume first.
    pub volumes: Vec<VolumeAttachment>,
}

/// One volume the agent attaches after applying the identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeAttachment {
    /// The volume's name in its partition.
    pub name: String,
    pub subsystem_nqn: String,
    /// The storage target's NVMe/TCP address.
    pub target: std::net::SocketAddr,
}

/// What the manager wants the blade to carry, with its fencing token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredIdentity {
    pub token: FencingToken,
    /// `None` is the explicit release: the blade must carry no identity.
    pub identity: Option<ServerIdentity>,
}

impl DesiredIdentity {
    pub fn assign(token: FencingToken, identity: ServerIdentity) -> Self {
        DesiredIdentity {
            token,
            identity: Some(identity),
        }
    }

    pub fn release(token: FencingToken) -> Self {
        DesiredIdentity {
            token,
            identity: None,
        }
    }
}

impl From<&DesiredIdentity> for pb::DesiredIdentity {
    fn from(d: &DesiredIdentity) -> Self {
        use pb::desired_identity::State;
        let state = match &d.identity {
            None => State::Release(pb::ReleaseIdentity {}),
            Some(id) => State::Assign(pb::AssignedIdentity {
                server: id.server.clone(),
                partition: id.partition.clone(),
                identity: Some(pb::Identity {
                    uuid: id.uuid.clone(),
                    macs: id.macs.iter().map(ToString::to_string).collect(),
                    host_nqn: id.host_nqn.clone(),
                }),
                boot_volume: id.boot_volume.clone().unwrap_or_default(),
                volumes: id
                    .volumes
                    .iter()
                    .map(|v| pb::VolumeAttachment {
                        name: v.name.clone(),
                        subsystem_nqn: v.subsystem_nqn.clone(),
                        traddr: v.target.ip().to_string(),
                        trsvcid: u32::from(v.target.port()),
                    })
                    .collect(),
            }),
        };
        pb::DesiredIdentity {
            token: Some(d.token.into()),
            state: Some(state),
        }
    }
}

impl TryFrom<pb::DesiredIdentity> for DesiredIdentity {
    type Error = ProtocolError;

    fn try_from(d: pb::DesiredIdentity) -> Result<Self, ProtocolError> {
        use pb::desired_identity::State;
        let token: FencingToken = d
            .token
            .ok_or(ProtocolError::Missing {
                field: "DesiredIdentity.token",
            })?
            .into();
        if token.generation == 0 {
            return Err(ProtocolError::ZeroGeneration);
        }
        let identity = match d.state.ok_or(ProtocolError::Missing {
            field: "DesiredIdentity.state (assign or release)",
        })? {
            State::Release(_) => None,
            State::Assign(a) => {
                let id = a.identity.ok_or(ProtocolError::Missing {
                    field: "AssignedIdentity.identity",
                })?;
                for (field, value) in [
                    ("AssignedIdentity.server", &a.server),
                    ("AssignedIdentity.partition", &a.partition),
                    ("Identity.uuid", &id.uuid),
                    ("Identity.host_nqn", &id.host_nqn),
                ] {
                    if value.is_empty() {
                        return Err(ProtocolError::Missing { field });
                    }
                }
                let macs = id
                    .macs
                    .iter()
                    .map(|m| Mac::parse(m))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(m) = macs.iter().find(|m| m.is_multicast()) {
                    return Err(ProtocolError::InvalidMac {
                        value: m.to_string(),
                    });
                }
                Some(ServerIdentity {
                    server: a.server,
                    partition: a.partition,
                    uuid: id.uuid,
                    macs,
                    host_nqn: id.host_nqn,
                    boot_volume: Some(a.boot_volume).filter(|v| !v.is_empty()),
                    volumes: a
                        .volumes
                        .into_iter()
                        .map(VolumeAttachment::try_from)
                        .collect::<Result<_, _>>()?,
                })
            }
        };
        Ok(DesiredIdentity { token, identity })
    }
}

impl TryFrom<pb::VolumeAttachment> for VolumeAttachment {
    type Error = ProtocolError;

    fn try_from(v: pb::VolumeAttachment) -> Result<Self, ProtocolError> {
        if v.name.is_empty() {
            return Err(ProtocolError::Missing {
                field: "VolumeAttachment.name",
            });
        }
        if v.subsystem_nqn.is_empty() {
            return Err(ProtocolError::Missing {
                field: "VolumeAttachment.subsystem_nqn",
            });
        }
        let ip: std::net::IpAddr = v.traddr.parse().map_err(|_| ProtocolError::Missing {
            field: "VolumeAttachment.traddr (an IP address)",
        })?;
        let port =
            u16::try_from(v.trsvcid)
                .ok()
                .filter(|p| *p != 0)
                .ok_or(ProtocolError::Missing {
                    field: "VolumeAttachment.trsvcid (a TCP port)",
                })?;
        Ok(VolumeAttachment {
            name: v.name,
            subsystem_nqn: v.subsystem_nqn,
            target: std::net::SocketAddr::new(ip, port),
        })
    }
}

/// One network interface of the blade as the agent sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceFacts {
    pub name: String,
    pub mac: Mac,
}

/// What the agent tells the manager about its blade in every Hello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    pub interfaces: Vec<InterfaceFacts>,
}

impl From<&HostFacts> for pb::HostFacts {
    fn from(f: &HostFacts) -> Self {
        pb::HostFacts {
            hostname: f.hostname.clone(),
            interfaces: f
                .interfaces
                .iter()
                .map(|i| pb::HostInterface {
                    name: i.name.clone(),
                    mac: i.mac.to_string(),
                })
                .collect(),
        }
    }
}

impl TryFrom<pb::HostFacts> for HostFacts {
    type Error = ProtocolError;

    fn try_from(f: pb::HostFacts) -> Result<Self, ProtocolError> {
        Ok(HostFacts {
            hostname: f.hostname,
            interfaces: f
                .interfaces
                .into_iter()
                .map(|i| {
                    Ok(InterfaceFacts {
                        mac: Mac::parse(&i.mac)?,
                        name: i.name,
                    })
                })
                .collect::<Result<_, ProtocolError>>()?,
        })
    }
}

/// The first message of every agent stream, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub blade: String,
    pub agent_version: String,
    pub facts: HostFacts,
    /// The token of the desired state the blade carries now, if known.
    pub applied: Option<FencingToken>,
    /// The agent's heartbeat interval; zero when the agent did not say.
    pub heartbeat: Duration,
}

impl From<&Hello> for pb::AgentHello {
    fn from(h: &Hello) -> Self {
        pb::AgentHello {
            blade: h.blade.clone(),
            agent_version: h.agent_version.clone(),
            facts: Some((&h.facts).into()),
            applied: h.applied.map(Into::into),
            heartbeat_ms: u32::try_from(h.heartbeat.as_millis()).unwrap_or(u32::MAX),
        }
    }
}

impl TryFrom<pb::AgentHello> for Hello {
    type Error = ProtocolError;

    fn try_from(h: pb::AgentHello) -> Result<Self, ProtocolError> {
        if h.blade.is_empty() {
            return Err(ProtocolError::Missing {
                field: "AgentHello.blade",
            });
        }
        Ok(Hello {
            blade: h.blade,
            agent_version: h.agent_version,
            facts: h
                .facts
                .map(HostFacts::try_from)
                .transpose()?
                .unwrap_or_default(),
            applied: h.applied.map(Into::into),
            heartbeat: Duration::from_millis(h.heartbeat_ms.into()),
        })
    }
}

/// Why the agent did not apply a desired state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Refused: older than a desired state the agent already accepted.
    Stale,
    /// Refused: the desired state was malformed.
    Invalid,
    /// Accepted, but applying it on the host failed.
    Host,
    /// Refused: too many desired states were queued on the agent.
    Busy,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Stale => "stale",
            FailureKind::Invalid => "invalid",
            FailureKind::Host => "host",
            FailureKind::Busy => "busy",
        })
    }
}

impl From<FailureKind> for pb::FailureKind {
    fn from(k: FailureKind) -> Self {
        match k {
            FailureKind::Stale => pb::FailureKind::Stale,
            FailureKind::Invalid => pb::FailureKind::Invalid,
            FailureKind::Host => pb::FailureKind::Host,
            FailureKind::Busy => pb::FailureKind::Busy,
        }
    }
}

/// A desired state the agent did not apply, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub token: FencingToken,
    pub kind: FailureKind,
    /// What went wrong, for people (the full error chain).
    pub reason: String,
    /// For [`FailureKind::Stale`]: the newest token the agent has accepted.
    pub current: Option<FencingToken>,
}

/// A volume the agent attached for the identity it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedVolume {
    /// The volume's name, as the manager named it.
    pub name: String,
    pub subsystem_nqn: String,
    /// The host's block device, e.g. `/dev/nvme0n1`; empty when the volume
    /// was already connected and nvme-cli did not say which device it is.
    pub device: String,
}

/// A desired state the agent applied: its token and what the blade looks
/// like afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub token: FencingToken,
    /// The interfaces after applying (name, MAC), as the host reads them.
    pub interfaces: Vec<InterfaceFacts>,
    /// The volumes attached, in the order they were asked for (boot volume
    /// first); empty after a release.
    pub volumes: Vec<AttachedVolume>,
}

impl Applied {
    /// An applied state with nothing to show but its token.
    pub fn token_only(token: FencingToken) -> Self {
        Applied {
            token,
            interfaces: Vec::new(),
            volumes: Vec::new(),
        }
    }
}

/// What the agent reports about a desired state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    Applied(Applied),
    Failed(Failure),
}

impl Report {
    /// The token of the desired state the report is about.
    pub fn token(&self) -> FencingToken {
        match self {
            Report::Applied(a) => a.token,
            Report::Failed(f) => f.token,
        }
    }
}

impl From<&Applied> for pb::IdentityApplied {
    fn from(a: &Applied) -> Self {
        pb::IdentityApplied {
            token: Some(a.token.into()),
            interfaces: a
                .interfaces
                .iter()
                .map(|i| pb::HostInterface {
                    name: i.name.clone(),
                    mac: i.mac.to_string(),
                })
                .collect(),
            volumes: a
                .volumes
                .iter()
                .map(|v| pb::AttachedVolume {
                    name: v.name.clone(),
                    subsystem_nqn: v.subsystem_nqn.clone(),
                    device: v.device.clone(),
                })
                .collect(),
        }
    }
}

impl From<&Report> for pb::agent_message::Body {
    fn from(r: &Report) -> Self {
        match r {
            Report::Applied(applied) => pb::agent_message::Body::Applied(applied.into()),
            Report::Failed(f) => pb::agent_message::Body::Failed(pb::IdentityFailed {
                token: Some(f.token.into()),
                kind: pb::FailureKind::from(f.kind).into(),
                reason: f.reason.clone(),
                current: f.current.map(Into::into),
            }),
        }
    }
}

impl TryFrom<pb::IdentityApplied> for Applied {
    type Error = ProtocolError;

    fn try_from(a: pb::IdentityApplied) -> Result<Self, ProtocolError> {
        let token = a
            .token
            .ok_or(ProtocolError::Missing {
                field: "IdentityApplied.token",
            })?
            .into();
        let interfaces = a
            .interfaces
            .into_iter()
            .map(|i| {
                Ok(InterfaceFacts {
                    mac: Mac::parse(&i.mac)?,
                    name: i.name,
                })
            })
            .collect::<Result<_, ProtocolError>>()?;
        let volumes = a
            .volumes
            .into_iter()
            .map(|v| {
                if v.name.is_empty() {
                    return Err(ProtocolError::Missing {
                        field: "AttachedVolume.name",
                    });
                }
                if v.subsystem_nqn.is_empty() {
                    return Err(ProtocolError::Missing {
                        field: "AttachedVolume.subsystem_nqn",
                    });
                }
                Ok(AttachedVolume {
                    name: v.name,
                    subsystem_nqn: v.subsystem_nqn,
                    device: v.device,
                })
            })
            .collect::<Result<_, ProtocolError>>()?;
        Ok(Applied {
            token,
            interfaces,
            volumes,
        })
    }
}

impl TryFrom<pb::IdentityApplied> for Report {
    type Error = ProtocolError;

    fn try_from(a: pb::IdentityApplied) -> Result<Self, ProtocolError> {
        Applied::try_from(a).map(Report::Applied)
    }
}

impl TryFrom<pb::IdentityFailed> for Report {
    type Error = ProtocolError;

    fn try_from(f: pb::IdentityFailed) -> Result<Self, ProtocolError> {
        let kind = match pb::FailureKind::try_from(f.kind) {
            Ok(pb::FailureKind::Stale) => FailureKind::Stale,
            Ok(pb::FailureKind::Invalid) => FailureKind::Invalid,
            Ok(pb::FailureKind::Host) => FailureKind::Host,
            Ok(pb::FailureKind::Busy) => FailureKind::Busy,
            Ok(pb::FailureKind::Unspecified) | Err(_) => {
                return Err(ProtocolError::UnknownFailureKind { value: f.kind });
            }
        };
        Ok(Report::Failed(Failure {
            token: f
                .token
                .ok_or(ProtocolError::Missing {
                    field: "IdentityFailed.token",
                })?
                .into(),
            kind,
            reason: f.reason,
            current: f.current.map(Into::into),
        }))
    }
}

/// A wire message that cannot be used as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{field} is missing or empty")]
    Missing { field: &'static str },

    #[error("{value:?} is not a host MAC address (expected six hex octets like 02:50:41:00:00:01)")]
    InvalidMac { value: String },

    #[error("generation 0 is never issued; a desired state starts at generation 1")]
    ZeroGeneration,

    #[error("failure kind {value} is unknown to this build")]
    UnknownFailureKind { value: i32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ServerIdentity {
        ServerIdentity {
            server: "web-1".into(),
            partition: "acme".into(),
            uuid: "50414e00-0000-0000-0000-000000000001".into(),
            macs: vec![Mac([0x02, 0x50, 0x41, 0, 0, 1])],
            host_nqn: "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001".into(),
            boot_volume: Some("web-1-boot".into()),
            volumes: vec![VolumeAttachment {
                name: "web-1-boot".into(),
                subsystem_nqn: "nqn.2026-11.io.pan:volume:7".into(),
                target: "10.0.0.5:4420".parse().unwrap(),
            }],
        }
    }

    #[test]
    fn tokens_order_by_generation_then_term() {
        let t = FencingToken::new;
        assert!(t(9, 1) < t(1, 2), "a higher generation wins over any term");
        assert!(t(1, 2) < t(2, 2), "same generation: the higher term wins");
        assert_eq!(t(3, 4).cmp(&t(3, 4)), Ordering::Equal);
    }

    #[test]
    fn macs_parse_and_format() {
        let mac = Mac::parse("02-50-41-00-00-0A").unwrap();
        assert_eq!(mac.to_string(), "02:50:41:00:00:0a");
        assert_eq!(Mac::from_u64(0x0250_4100_000a), mac);
        for bad in [
            "",
            "02:50:41:00:00",
            "02:50:41:00:00:01:02",
            "02:50:41:00:00:+f",
            "0250.4100.0001",
        ] {
            assert!(Mac::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn desired_identity_round_trips() {
        let token = FencingToken::new(3, 7);
        for desired in [
            DesiredIdentity::assign(token, identity()),
            DesiredIdentity::release(token),
            DesiredIdentity::assign(
                token,
                ServerIdentity {
                    boot_volume: None,
                    ..identity()
                },
            ),
        ] {
            let wire = pb::DesiredIdentity::from(&desired);
            assert_eq!(DesiredIdentity::try_from(wire).unwrap(), desired);
        }
    }

    #[test]
    fn malformed_desired_identities_are_refused() {
        let good = pb::DesiredIdentity::from(&DesiredIdentity::assign(
            FencingToken::new(1, 1),
            identity(),
        ));
        let mut no_state = good.clone();
        no_state.state = None;
        assert!(matches!(
            DesiredIdentity::try_from(no_state),
            Err(ProtocolError::Missing { .. })
        ));
        let mut zero = good.clone();
        zero.token = Some(pb::FencingToken {
            term: 1,
            generation: 0,
        });
        assert_eq!(
            DesiredIdentity::try_from(zero),
            Err(ProtocolError::ZeroGeneration)
        );
        let mut multicast = good;
        if let Some(pb::desired_identity::State::Assign(a)) = &mut multicast.state {
            a.identity.as_mut().unwrap().macs = vec!["01:00:5e:00:00:01".into()];
        }
        assert!(matches!(
            DesiredIdentity::try_from(multicast),
            Err(ProtocolError::InvalidMac { .. })
        ));
    }

    #[test]
    fn reports_round_trip() {
        let failed = Report::Failed(Failure {
            token: FencingToken::new(2, 3),
            kind: FailureKind::Stale,
            reason: "older".into(),
            current: Some(FencingToken::new(2, 4)),
        });
        match pb::agent_message::Body::from(&failed) {
            pb::agent_message::Body::Failed(f) => assert_eq!(Report::try_from(f).unwrap(), failed),
            other => panic!("unexpected {other:?}"),
        }
        let applied = Report::Applied(Applied {
            token: FencingToken::new(2, 4),
            interfaces: vec![InterfaceFacts {
                name: "eth0".into(),
                mac: Mac([0x02, 0x50, 0x41, 0, 0, 1]),
            }],
            volumes: vec![AttachedVolume {
                name: "web-1-boot".into(),
                subsystem_nqn: "nqn.2026-11.io.pan:volume:7".into(),
                device: "/dev/nvme0n1".into(),
            }],
        });
        match pb::agent_message::Body::from(&applied) {
            pb::agent_message::Body::Applied(a) => {
                assert_eq!(a.volumes[0].device, "/dev/nvme0n1");
                assert_eq!(a.interfaces[0].mac, "02:50:41:00:00:01");
                assert_eq!(Report::try_from(a).unwrap(), applied)
            }
            other => panic!("unexpected {other:?}"),
        }
        let bad = pb::IdentityApplied {
            token: Some(FencingToken::new(2, 4).into()),
            interfaces: vec![pb::HostInterface {
                name: "eth0".into(),
                mac: "nope".into(),
            }],
            volumes: vec![],
        };
        assert!(matches!(
            Report::try_from(bad),
            Err(ProtocolError::InvalidMac { .. })
        ));
    }
}
