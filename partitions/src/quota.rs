//! Per-partition quotas: limits, current use, and the check a create must pass.
//!
//! Each limit is optional (`None` = unlimited). A request asks for more of
//! some resources; [`check`] refuses it if any resource would go over its
//! limit, naming the quota, its limit, the current use and the request, and
//! saying how to get more. Usage above a limit (the limit was lowered) is
//! kept, and only further growth is refused.
//!
//! Pure functions over values; this module must never do I/O. The state
//! machine computes [`Usage`] from its records and calls [`check`] in the
//! validation step of the command, before it mutates anything.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A partition's limits; each `None` means unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quota {
    /// Logical servers.
    pub max_servers: Option<u64>,
    /// Volumes.
    pub max_volumes: Option<u64>,
    /// Sum of volume sizes, in bytes.
    pub max_volume_bytes: Option<u64>,
    /// Networks (each takes a network id from the partition's range).
    pub max_networks: Option<u64>,
    /// Blades the partition's servers may run on at once.
    pub max_blades: Option<u64>,
    /// A pool whose blades only this partition's servers may use, and the
    /// only pool its servers are placed on (instead of, or besides, a blade
    /// count). The manager's placement honours it (its one `unfit` check
    /// serves starts, spares, moves and failbacks); [`check`] does not
    /// look at it.
    pub dedicated_pool: Option<String>,
}

impl Quota {
    /// Checks the quota's own fields (the dedicated pool's name).
    pub fn validate(&self) -> Result<(), crate::input::InvalidInput> {
        match &self.dedicated_pool {
            Some(pool) => crate::input::check_name("pool", pool),
            None => Ok(()),
        }
    }
}

/// What a partition uses now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// Logical servers.
    pub servers: u64,
    /// Volumes.
    pub volumes: u64,
    /// Sum of volume sizes, in bytes.
    pub volume_bytes: u64,
    /// Networks.
    pub networks: u64,
    /// Blades running the partition's servers.
    pub blades: u64,
}

/// How much more a request wants (a create asks for one server, or one
/// volume of some bytes, …). Zero fields ask for nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct QuotaRequest {
    /// More servers.
    pub servers: u64,
    /// More volumes.
    pub volumes: u64,
    /// More volume bytes.
    pub volume_bytes: u64,
    /// More networks.
    pub networks: u64,
    /// More blades (a server starting).
    pub blades: u64,
}

impl QuotaRequest {
    /// One more server (`CreateServer`).
    pub fn server() -> QuotaRequest {
        QuotaRequest {
            servers: 1,
            ..QuotaRequest::default()
        }
    }

    /// One more volume of `bytes` (`CreateVolume`).
    pub fn volume(bytes: u64) -> QuotaRequest {
        QuotaRequest {
            volumes: 1,
            volume_bytes: bytes,
            ..QuotaRequest::default()
        }
    }

    /// One more network.
    pub fn network() -> QuotaRequest {
        QuotaRequest {
            networks: 1,
            ..QuotaRequest::default()
        }
    }

    /// One more blade in use (`StartServer`).
    pub fn blade() -> QuotaRequest {
        QuotaRequest {
            blades: 1,
            ..QuotaRequest::default()
        }
    }
}

/// One of the quotas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaKind {
    /// `max_servers`.
    Servers,
    /// `max_volumes`.
    Volumes,
    /// `max_volume_bytes`.
    VolumeBytes,
    /// `max_networks`.
    Networks,
    /// `max_blades`.
    Blades,
}

impl QuotaKind {
    /// Every quota, in the order [`check`] tests them.
    pub const ALL: [QuotaKind; 5] = [
        QuotaKind::Servers,
        QuotaKind::Volumes,
        QuotaKind::VolumeBytes,
        QuotaKind::Networks,
        QuotaKind::Blades,
    ];

    /// The `panctl partition set-quota` flag that sets it.
    pub fn flag(&self) -> &'static str {
        match self {
            QuotaKind::Servers => "--max-servers",
            QuotaKind::Volumes => "--max-volumes",
            QuotaKind::VolumeBytes => "--max-volume-bytes",
            QuotaKind::Networks => "--max-networks",
            QuotaKind::Blades => "--max-blades",
        }
    }

    fn limit(&self, q: &Quota) -> Option<u64> {
        match self {
            QuotaKind::Servers => q.max_servers,
            QuotaKind::Volumes => q.max_volumes,
            QuotaKind::VolumeBytes => q.max_volume_bytes,
            QuotaKind::Networks => q.max_networks,
            QuotaKind::Blades => q.max_blades,
        }
    }

    fn current(&self, u: &Usage) -> u64 {
        match self {
            QuotaKind::Servers => u.servers,
            QuotaKind::Volumes => u.volumes,
            QuotaKind::VolumeBytes => u.volume_bytes,
            QuotaKind::Networks => u.networks,
            QuotaKind::Blades => u.blades,
        }
    }

    fn requested(&self, r: &QuotaRequest) -> u64 {
        match self {
            QuotaKind::Servers => r.servers,
            QuotaKind::Volumes => r.volumes,
            QuotaKind::VolumeBytes => r.volume_bytes,
            QuotaKind::Networks => r.networks,
            QuotaKind::Blades => r.blades,
        }
    }
}

impl fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaKind::Servers => "servers",
            QuotaKind::Volumes => "volumes",
            QuotaKind::VolumeBytes => "volume bytes",
            QuotaKind::Networks => "networks",
            QuotaKind::Blades => "blades",
        })
    }
}

/// A request that would take a partition over one of its quotas
/// (gRPC `ResourceExhausted`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "partition '{partition}' is at its {which} quota: limit {limit}, in use {current}, \
     requested {requested} more; free some up or ask a fabric admin to raise it with \
     `panctl partition set-quota {partition} {flag} <n>`",
    flag = .which.flag()
)]
pub struct QuotaExceeded {
    /// The partition.
    pub partition: String,
    /// Which quota.
    pub which: QuotaKind,
    /// Its limit.
    pub limit: u64,
    /// Current use.
    pub current: u64,
    /// What the request wanted on top.
    pub requested: u64,
}

/// Checks that `request` fits partition `partition`'s `quota` given its
/// `usage`. Reports the first quota (in [`QuotaKind::ALL`] order) it would
/// exceed. A request for zero of a resource never fails on it.
pub fn check(
    partition: &str,
    quota: &Quota,
    usage: &Usage,
    request: &QuotaRequest,
) -> Result<(), QuotaExceeded> {
    for which in QuotaKind::ALL {
        let (Some(limit), requested) = (which.limit(quota), which.requested(request)) else {
            continue;
        };
        if requested == 0 {
            continue;
        }
        let current = which.current(usage);
        let fits = current
            .checked_add(requested)
            .is_some_and(|total| total <= limit);
        if !fits {
            return Err(QuotaExceeded {
                partition: partition.to_string(),
                which,
                limit,
                current,
                requested,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn quota() -> Quota {
        Quota {
            max_servers: Some(2),
            max_volumes: Some(3),
            max_volume_bytes: Some(100 * GIB),
            max_networks: Some(1),
            max_blades: Some(2),
            dedicated_pool: None,
        }
    }

    #[test]
    fn the_dedicated_pool_name_is_validated() {
        Quota::default().validate().unwrap();
        let q = Quota {
            dedicated_pool: Some("acme-blades".into()),
            ..Quota::default()
        };
        q.validate().unwrap();
        let q = Quota {
            dedicated_pool: Some("../x".into()),
            ..Quota::default()
        };
        assert!(
            q.validate()
                .unwrap_err()
                .to_string()
                .starts_with("invalid pool name")
        );
    }

    #[test]
    fn unlimited_quota_allows_anything() {
        let usage = Usage {
            servers: u64::MAX,
            volumes: u64::MAX,
            volume_bytes: u64::MAX,
            networks: u64::MAX,
            blades: u64::MAX,
        };
        let huge = QuotaRequest {
            servers: u64::MAX,
            volumes: 1,
            volume_bytes: u64::MAX,
            networks: 1,
            blades: 1,
        };
        check("acme", &Quota::default(), &usage, &huge).unwrap();
    }

    #[test]
    fn requests_up_to_the_limit_fit_and_one_more_does_not() {
        let q = quota();
        let mut usage = Usage::default();
        check("acme", &q, &usage, &QuotaRequest::server()).unwrap();
        usage.servers = 1;
        check("acme", &q, &usage, &QuotaRequest::server()).unwrap();
        usage.servers = 2;
        let err = check("acme", &q, &usage, &QuotaRequest::server()).unwrap_err();
        assert_eq!(
            err,
            QuotaExceeded {
                partition: "acme".into(),
                which: QuotaKind::Servers,
                limit: 2,
                current: 2,
                requested: 1,
            }
        );
        assert_eq!(
            err.to_string(),
            "partition 'acme' is at its servers quota: limit 2, in use 2, requested 1 more; \
             free some up or ask a fabric admin to raise it with \
             `panctl partition set-quota acme --max-servers <n>`"
        );
        // Other resources are unaffected by a full server quota.
        check("acme", &q, &usage, &QuotaRequest::volume(GIB)).unwrap();
    }

    #[test]
    fn each_quota_is_checked() {
        let q = quota();
        let full = Usage {
            servers: 2,
            volumes: 3,
            volume_bytes: 100 * GIB,
            networks: 1,
            blades: 2,
        };
        for (request, which, flag) in [
            (QuotaRequest::server(), QuotaKind::Servers, "--max-servers"),
            (QuotaRequest::volume(0), QuotaKind::Volumes, "--max-volumes"),
            (
                QuotaRequest::network(),
                QuotaKind::Networks,
                "--max-networks",
            ),
            (QuotaRequest::blade(), QuotaKind::Blades, "--max-blades"),
        ] {
            let err = check("acme", &q, &full, &request).unwrap_err();
            assert_eq!(err.which, which);
            assert!(err.to_string().contains(flag), "{err}");
        }
        let roomy = Usage {
            volume_bytes: 99 * GIB,
            ..Usage::default()
        };
        check("acme", &q, &roomy, &QuotaRequest::volume(GIB)).unwrap();
        let err = check("acme", &q, &roomy, &QuotaRequest::volume(GIB + 1)).unwrap_err();
        assert_eq!(
            (err.which, err.limit, err.current, err.requested),
            (QuotaKind::VolumeBytes, 100 * GIB, 99 * GIB, GIB + 1)
        );
        assert!(err.to_string().contains("volume bytes quota"), "{err}");
    }

    #[test]
    fn the_first_exceeded_quota_is_reported() {
        let q = quota();
        let full = Usage {
            servers: 2,
            volumes: 3,
            ..Usage::default()
        };
        let both = QuotaRequest {
            servers: 1,
            volumes: 1,
            ..QuotaRequest::default()
        };
        assert_eq!(
            check("acme", &q, &full, &both).unwrap_err().which,
            QuotaKind::Servers
        );
    }

    #[test]
    fn usage_over_a_lowered_limit_blocks_growth_only() {
        let q = Quota {
            max_servers: Some(1),
            ..Quota::default()
        };
        let over = Usage {
            servers: 5,
            ..Usage::default()
        };
        check("acme", &q, &over, &QuotaRequest::volume(1)).unwrap();
        check("acme", &q, &over, &QuotaRequest::default()).unwrap();
        assert!(check("acme", &q, &over, &QuotaRequest::server()).is_err());
    }

    #[test]
    fn overflow_counts_as_exceeding() {
        let q = Quota {
            max_volume_bytes: Some(u64::MAX),
            ..Quota::default()
        };
        let usage = Usage {
            volume_bytes: u64::MAX - 1,
            ..Usage::default()
        };
        check("acme", &q, &usage, &QuotaRequest::volume(1)).unwrap();
        let err = check("acme", &q, &usage, &QuotaRequest::volume(2)).unwrap_err();
        assert_eq!(err.which, QuotaKind::VolumeBytes);
    }

    #[test]
    fn a_zero_limit_refuses_everything_of_that_kind() {
        let q = Quota {
            max_networks: Some(0),
            ..Quota::default()
        };
        let err = check("acme", &q, &Usage::default(), &QuotaRequest::network()).unwrap_err();
        assert_eq!((err.limit, err.current, err.requested), (0, 0, 1));
    }
}
