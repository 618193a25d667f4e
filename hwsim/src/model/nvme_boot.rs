//! Whether a blade may boot what its boot override names: the firmware's
//! NVMe/TCP boot, judged against the storage target's export tree.
//!
//! Pure: the shell reads the nvmet configfs tree (`san::nvmet::read_tree`)
//! and passes it in as a value; [`check_boot`] says whether the host NQN in
//! the `UefiTarget` text may connect to the subsystem at that address, and
//! if not, exactly why (the text becomes the log entry a real BMC would
//! record). Only a `UefiTarget` boot is judged; every other target boots as
//! it always did.

use crate::model::{BootSettings, BootTarget};
use san::nvmet::TargetTree;

/// The verdict on an NVMe/TCP boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootCheck {
    /// The firmware reaches the boot volume: the OS starts. `target` is the
    /// boot target text it booted.
    Allowed { target: String },
    /// It does not: the blade stays On without an OS, Critical, and
    /// `reason` goes to its system log.
    Refused { reason: String },
}

/// The prefix of every refusal, as the log entry's message starts.
pub const BOOT_FAILED: &str = "NVMe-oF boot failed";

/// Judges the boot `boot` asks for against the export tree (`None`: the
/// rack has no storage target configured). `None` when the boot is not an
/// NVMe/TCP boot (`UefiTarget`) and needs no check.
pub fn check_boot(boot: &BootSettings, tree: Option<&TargetTree>) -> Option<BootCheck> {
    if boot.effective_target() != BootTarget::UefiTarget {
        return None;
    }
    let refuse = |why: String| {
        Some(BootCheck::Refused {
            reason: format!("{BOOT_FAILED}: {why}"),
        })
    };
    let Some(text) = boot.uefi_target.as_deref().filter(|t| !t.trim().is_empty()) else {
        return refuse(
            "the boot override is UefiTarget but names no UefiTargetBootSourceOverride".into(),
        );
    };
    let target = match san::boot::BootTarget::parse(text) {
        Ok(t) => t,
        Err(e) => return refuse(e.to_string()),
    };
    let Some(tree) = tree else {
        return refuse(format!(
            "no storage target is configured for this rack (hwsim --nvmet-root), so {} cannot be reached",
            target.target
        ));
    };
    let (traddr, trsvcid) = (
        target.target.ip().to_string(),
        target.target.port().to_string(),
    );
    let (subsystem, host) = (target.subsystem.as_str(), target.host.as_str());
    let Some(port) = tree.port_at(&traddr, &trsvcid) else {
        return refuse(format!("no NVMe/TCP port listens at {}", target.target));
    };
    if !port.subsystems.iter().any(|s| s.as_str() == subsystem) {
        return refuse(format!("no subsystem {subsystem} at {}", target.target));
    }
    if !tree.may_connect(port, subsystem, host) {
        let enabled = tree
            .subsystem(subsystem)
            .is_some_and(|s| s.namespaces.iter().any(|n| n.enabled));
        if !enabled {
            return refuse(format!(
                "subsystem {subsystem} at {} has no enabled namespace",
                target.target
            ));
        }
        return refuse(format!(
            "host {host} is not allowed on subsystem {subsystem} at {}",
            target.target
        ));
    }
    Some(BootCheck::Allowed {
        target: target.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BootOverrideEnabled;
    use san::nvmet::{NamespaceView, Nqn, PortView, SubsystemView};

    const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001";
    const OTHER: &str = "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000002";
    const SUB: &str = "nqn.2026-11.io.pan:volume:7";

    fn tree(allowed: &[&str], enabled: bool) -> TargetTree {
        TargetTree {
            ports: vec![PortView {
                id: 1,
                trtype: "tcp".into(),
                adrfam: "ipv4".into(),
                traddr: "127.0.0.1".into(),
                trsvcid: "4420".into(),
                subsystems: vec![Nqn::parse(SUB).unwrap()],
            }],
            subsystems: vec![SubsystemView {
                nqn: Nqn::parse(SUB).unwrap(),
                allow_any_host: false,
                allowed_hosts: allowed.iter().map(|h| Nqn::parse(*h).unwrap()).collect(),
                namespaces: vec![NamespaceView {
                    nsid: 1,
                    device_path: "/srv/v7.img".into(),
                    enabled,
                }],
            }],
        }
    }

    pub(crate) fn uefi(text: Option<&str>) -> BootSettings {
        BootSettings {
            target: BootTarget::UefiTarget,
            enabled: BootOverrideEnabled::Continuous,
            uefi_target: text.map(str::to_string),
            ..BootSettings::default()
        }
    }

    fn text(host: &str, sub: &str, at: &str) -> String {
        format!("nvme+tcp://{at}/{sub}?hostnqn={host}")
    }

    fn refused(check: Option<BootCheck>) -> String {
        match check {
            Some(BootCheck::Refused { reason }) => reason,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_granted_host_boots() {
        let t = text(HOST, SUB, "127.0.0.1:4420");
        assert_eq!(
            check_boot(&uefi(Some(&t)), Some(&tree(&[HOST], true))),
            Some(BootCheck::Allowed { target: t })
        );
    }

    #[test]
    fn refusals_say_exactly_why() {
        let granted = tree(&[HOST], true);
        assert_eq!(
            refused(check_boot(
                &uefi(Some(&text(OTHER, SUB, "127.0.0.1:4420"))),
                Some(&granted)
            )),
            format!(
                "NVMe-oF boot failed: host {OTHER} is not allowed on subsystem {SUB} at 127.0.0.1:4420"
            )
        );
        let missing = "nqn.2026-11.io.pan:volume:8";
        assert_eq!(
            refused(check_boot(
                &uefi(Some(&text(HOST, missing, "127.0.0.1:4420"))),
                Some(&granted)
            )),
            format!("NVMe-oF boot failed: no subsystem {missing} at 127.0.0.1:4420")
        );
        assert!(
            refused(check_boot(
                &uefi(Some(&text(HOST, SUB, "127.0.0.1:4421"))),
                Some(&granted)
            ))
            .contains("no NVMe/TCP port listens at 127.0.0.1:4421")
        );
        assert!(
            refused(check_boot(
                &uefi(Some(&text(HOST, SUB, "127.0.0.1:4420"))),
                Some(&tree(&[HOST], false))
            ))
            .contains("has no enabled namespace")
        );
    }

    #[test]
    fn unparseable_missing_text_and_no_root_are_refused() {
        let reason = refused(check_boot(
            &uefi(Some("/NVMe(0x1)")),
            Some(&tree(&[HOST], true)),
        ));
        assert!(
            reason.starts_with(BOOT_FAILED) && reason.contains("nvme+tcp://"),
            "{reason}"
        );
        assert!(refused(check_boot(&uefi(None), Some(&tree(&[HOST], true)))).contains("names no"));
        let reason = refused(check_boot(
            &uefi(Some(&text(HOST, SUB, "127.0.0.1:4420"))),
            None,
        ));
        assert!(reason.contains("--nvmet-root"), "{reason}");
    }

    #[test]
    fn other_targets_need_no_check() {
        assert_eq!(check_boot(&BootSettings::default(), None), None);
        let pxe = BootSettings {
            target: BootTarget::Pxe,
            enabled: BootOverrideEnabled::Once,
            ..BootSettings::default()
        };
        assert_eq!(check_boot(&pxe, None), None);
        // An override that is not enabled boots the default order.
        let disabled = BootSettings {
            enabled: BootOverrideEnabled::Disabled,
            ..uefi(Some("x"))
        };
        assert_eq!(check_boot(&disabled, None), None);
    }
}
