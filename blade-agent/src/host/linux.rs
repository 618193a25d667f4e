//! [`LinuxHost`]: the real blade, changed with iproute2.
//!
//! Setting a MAC is `ip link set dev IF down`, `… address MAC`, `… up`; the
//! interface is brought back up even when the address is refused. Before the
//! first change to an interface its own MAC is remembered (the kernel's
//! `permaddr` when it reports one, else the address it has), and release
//! puts it back.
//!
//! Commands are values ([`CommandSpec`], built by [`Ip`]) run through a
//! [`CommandRunner`] (the shared seam of [`san::runner`]), so the command
//! lines and the mapping of exit codes and stderr to [`HostError`] are tested
//! without running `ip`; the real runner is [`ProcessRunner`], limited to the
//! host's command timeout. [`LinuxHost::in_netns`] runs every command in a
//! network namespace (`ip -n NS`), which the tests use with real `ip`.

use super::{Host, HostError};
use crate::protocol::{HostFacts, InterfaceFacts, Mac, ServerIdentity};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use san::runner::{CommandOutput, CommandRunner, CommandSpec, ProcessRunner, RunError};

/// Where the kernel publishes the hostname.
const HOSTNAME_PATH: &str = "/proc/sys/kernel/hostname";
/// How long one `ip` invocation may take.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds iproute2 command lines, optionally inside a network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ip {
    program: String,
    netns: Option<String>,
}

impl Default for Ip {
    fn default() -> Self {
        Ip {
            program: "ip".to_string(),
            netns: None,
        }
    }
}

impl Ip {
    /// Runs every command in network namespace `netns` (`ip -n NETNS …`).
    pub fn in_netns(mut self, netns: impl Into<String>) -> Self {
        self.netns = Some(netns.into());
        self
    }

    fn command<'a>(&self, args: impl IntoIterator<Item = &'a str>) -> CommandSpec {
        let mut all: Vec<String> = Vec::new();
        if let Some(ns) = &self.netns {
            all.push("-n".to_string());
            all.push(ns.clone());
        }
        all.extend(args.into_iter().map(str::to_string));
        CommandSpec {
            program: self.program.clone(),
            args: all,
        }
    }

    /// `ip -j link show`: every interface, as JSON.
    pub fn link_show(&self) -> CommandSpec {
        self.command(["-j", "link", "show"])
    }

    /// `ip -j link show dev IF`.
    pub fn link_show_dev(&self, interface: &str) -> CommandSpec {
        self.command(["-j", "link", "show", "dev", interface])
    }

    /// The three commands that put `mac` on `interface`: down, address, up.
    pub fn set_mac(&self, interface: &str, mac: Mac) -> [CommandSpec; 3] {
        let mac = mac.to_string();
        [
            self.command(["link", "set", "dev", interface, "down"]),
            self.command(["link", "set", "dev", interface, "address", &mac]),
            self.command(["link", "set", "dev", interface, "up"]),
        ]
    }
}

/// One entry of `ip -j link show`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct Link {
    pub ifname: String,
    #[serde(default)]
    pub link_type: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// Present when the current address differs from the permanent one.
    #[serde(default)]
    pub permaddr: Option<String>,
}

/// Parses the JSON of `ip -j link show`.
pub(crate) fn parse_links(stdout: &[u8]) -> Result<Vec<Link>, String> {
    serde_json::from_slice(stdout).map_err(|e| format!("not the JSON of `ip -j link show` ({e})"))
}

/// Turns a failed command into the error an operator can act on.
pub(crate) fn classify(
    command: &CommandSpec,
    interface: &str,
    mac: Option<Mac>,
    output: &CommandOutput,
) -> HostError {
    let stderr = output.stderr.clone();
    let command_line = command.to_string();
    if stderr.contains("Cannot find device") || stderr.contains("does not exist") {
        HostError::NoSuchInterface {
            interface: interface.to_string(),
            command: command_line,
        }
    } else if stderr.contains("Operation not permitted") {
        HostError::PermissionDenied {
            command: command_line,
        }
    } else if let Some(mac) = mac
        && (stderr.contains("Cannot assign requested address")
            || stderr.contains("Invalid argument"))
    {
        HostError::AddressRejected {
            interface: interface.to_string(),
            mac,
            command: command_line,
            stderr,
        }
    } else {
        HostError::CommandFailed {
            command: command_line,
            code: output.code,
            stderr,
        }
    }
}

/// A real blade, changed with `ip link`.
pub struct LinuxHost {
    /// Fabric interfaces, vNIC 0 first.
    interfaces: Vec<String>,
    ip: Ip,
    /// `None`: child processes, limited to `timeout` ([`Self::process_runner`]).
    runner: Option<Arc<dyn CommandRunner>>,
    timeout: Duration,
    /// Each interface's own MAC, remembered before its first change.
    originals: Mutex<BTreeMap<String, Mac>>,
}

impl LinuxHost {
    /// Manages `interfaces` (vNIC 0 on the first) with `ip` from `PATH`.
    pub fn new(interfaces: Vec<String>) -> Self {
        LinuxHost {
            interfaces,
            ip: Ip::default(),
            runner: None,
            timeout: DEFAULT_COMMAND_TIMEOUT,
            originals: Mutex::new(BTreeMap::new()),
        }
    }

    /// Runs commands through `runner` instead of child processes.
    pub fn with_runner(mut self, runner: Arc<dyn CommandRunner>) -> Self {
        self.runner = Some(runner);
        self
    }

    /// Works inside network namespace `netns`.
    pub fn in_netns(mut self, netns: impl Into<String>) -> Self {
        self.ip = self.ip.in_netns(netns);
        self
    }

    /// Limits each command to `timeout`.
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The default runner: child processes, each limited to the command
    /// timeout.
    fn process_runner(&self) -> ProcessRunner {
        ProcessRunner {
            timeout: self.timeout,
            ..ProcessRunner::default()
        }
    }

    /// Runs `command`; `Ok` with its stdout when it exits 0.
    async fn run(
        &self,
        command: &CommandSpec,
        interface: &str,
        mac: Option<Mac>,
    ) -> Result<String, HostError> {
        let process;
        let runner: &dyn CommandRunner = match &self.runner {
            Some(runner) => runner.as_ref(),
            None => {
                process = self.process_runner();
                &process
            }
        };
        let output = match tokio::time::timeout(self.timeout, runner.run(command)).await {
            Err(_) => {
                return Err(HostError::Timeout {
                    command: command.to_string(),
                    timeout: self.timeout,
                });
            }
            Ok(Err(RunError::Timeout { after, .. })) => {
                return Err(HostError::Timeout {
                    command: command.to_string(),
                    timeout: after,
                });
            }
            Ok(Err(RunError::NotInstalled { .. })) => {
                return Err(HostError::Spawn {
                    command: command.to_string(),
                    // What spawning a missing program reports (ENOENT).
                    source: std::io::Error::from_raw_os_error(2),
                });
            }
            Ok(Err(RunError::Spawn { source, .. })) => {
                return Err(HostError::Spawn {
                    command: command.to_string(),
                    source,
                });
            }
            Ok(Ok(output)) => output,
        };
        if output.success() {
            Ok(output.stdout)
        } else {
            Err(classify(command, interface, mac, &output))
        }
    }

    async fn links(&self, command: CommandSpec, interface: &str) -> Result<Vec<Link>, HostError> {
        let stdout = self.run(&command, interface, None).await?;
        parse_links(stdout.as_bytes()).map_err(|detail| HostError::UnexpectedOutput {
            command: command.to_string(),
            detail,
        })
    }

    /// The interface's current MAC and its own (permanent) one.
    async fn macs_of(&self, interface: &str) -> Result<(Mac, Mac), HostError> {
        let command = self.ip.link_show_dev(interface);
        let links = self.links(command.clone(), interface).await?;
        let unexpected = |detail: String| HostError::UnexpectedOutput {
            command: command.to_string(),
            detail,
        };
        let link = links
            .into_iter()
            .find(|l| l.ifname == interface)
            .ok_or_else(|| unexpected(format!("no entry for {interface}")))?;
        let current = link
            .address
            .as_deref()
            .ok_or_else(|| unexpected(format!("{interface} has no link-layer address")))
            .and_then(|a| Mac::parse(a).map_err(|e| unexpected(e.to_string())))?;
        let own = match link.permaddr.as_deref() {
            Some(p) => Mac::parse(p).map_err(|e| unexpected(e.to_string()))?,
            None => current,
        };
        Ok((current, own))
    }

    fn original(&self, interface: &str) -> Option<Mac> {
        self.originals
            .lock()
            .ok()
            .and_then(|m| m.get(interface).copied())
    }

    /// Puts `mac` on `interface` unless it is there already.
    async fn ensure_mac(&self, interface: &str, mac: Mac) -> Result<(), HostError> {
        let (current, own) = self.macs_of(interface).await?;
        if let Ok(mut originals) = self.originals.lock() {
            originals.entry(interface.to_string()).or_insert(own);
        }
        if current == mac {
            return Ok(());
        }
        let [down, address, up] = self.ip.set_mac(interface, mac);
        self.run(&down, interface, None).await?;
        let set = self.run(&address, interface, Some(mac)).await;
        // Bring the interface back up even when the address was refused.
        let raised = self.run(&up, interface, None).await;
        set?;
        raised?;
        Ok(())
    }
}

#[async_trait]
impl Host for LinuxHost {
    async fn facts(&self) -> Result<HostFacts, HostError> {
        let hostname = tokio::fs::read_to_string(HOSTNAME_PATH)
            .await
            .map_err(|source| HostError::Hostname {
                path: HOSTNAME_PATH.to_string(),
                source,
            })?
            .trim()
            .to_string();
        let links = self.links(self.ip.link_show(), "(all)").await?;
        let interfaces = links
            .into_iter()
            .filter(|l| l.link_type.as_deref() == Some("ether"))
            .filter_map(|l| {
                let mac = Mac::parse(l.address.as_deref()?).ok()?;
                Some(InterfaceFacts {
                    name: l.ifname,
                    mac,
                })
            })
            .collect();
        Ok(HostFacts {
            hostname,
            interfaces,
        })
    }

    async fn apply_network(&self, identity: &ServerIdentity) -> Result<(), HostError> {
        if identity.macs.len() > self.interfaces.len() {
            return Err(HostError::NotEnoughInterfaces {
                server: identity.server.clone(),
                macs: identity.macs.len(),
                interfaces: self.interfaces.len(),
            });
        }
        for (i, interface) in self.interfaces.iter().enumerate() {
            match identity.macs.get(i) {
                Some(mac) => self.ensure_mac(interface, *mac).await?,
                // An interface without a vNIC keeps (or gets back) its own MAC.
                None => {
                    if let Some(own) = self.original(interface) {
                        self.ensure_mac(interface, own).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn release(&self) -> Result<(), HostError> {
        for interface in &self.interfaces {
            if let Some(own) = self.original(interface) {
                self.ensure_mac(interface, own).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Answers commands from a script and records the command lines.
    #[derive(Default)]
    struct FakeRunner {
        answers: Mutex<VecDeque<CommandOutput>>,
        seen: Mutex<Vec<String>>,
    }

    impl FakeRunner {
        fn answering(answers: impl IntoIterator<Item = CommandOutput>) -> Arc<Self> {
            Arc::new(FakeRunner {
                answers: Mutex::new(answers.into_iter().collect()),
                seen: Mutex::default(),
            })
        }

        fn seen(&self) -> Vec<String> {
            self.seen.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl CommandRunner for FakeRunner {
        async fn run(&self, command: &CommandSpec) -> Result<CommandOutput, RunError> {
            self.seen.lock().unwrap().push(command.to_string());
            Ok(self.answers.lock().unwrap().pop_front().unwrap_or(ok("")))
        }
    }

    fn ok(stdout: &str) -> CommandOutput {
        CommandOutput::ok(stdout)
    }

    fn fail(code: i32, stderr: &str) -> CommandOutput {
        CommandOutput::failed(code, stderr)
    }

    fn show(ifname: &str, address: &str) -> CommandOutput {
        ok(&format!(
            r#"[{{"ifindex":3,"ifname":"{ifname}","flags":["BROADCAST"],"link_type":"ether","address":"{address}"}}]"#
        ))
    }

    fn identity(macs: &[&str]) -> ServerIdentity {
        ServerIdentity {
            server: "web-1".into(),
            partition: "acme".into(),
            uuid: "50414e00-0000-0000-0000-000000000001".into(),
            macs: macs.iter().map(|m| Mac::parse(m).unwrap()).collect(),
            host_nqn: "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001".into(),
            boot_volume: None,
            volumes: Vec::new(),
        }
    }

    #[test]
    fn command_lines() {
        let mac = Mac::parse("02:50:41:00:00:01").unwrap();
        let lines: Vec<String> = Ip::default()
            .set_mac("eth0", mac)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "ip link set dev eth0 down",
                "ip link set dev eth0 address 02:50:41:00:00:01",
                "ip link set dev eth0 up",
            ]
        );
        let ns = Ip::default().in_netns("pan-x");
        assert_eq!(
            ns.link_show_dev("eth1").to_string(),
            "ip -n pan-x -j link show dev eth1"
        );
        assert_eq!(ns.link_show().args, ["-n", "pan-x", "-j", "link", "show"]);
    }

    #[test]
    fn failures_map_to_typed_errors() {
        let mac = Mac::parse("02:50:41:00:00:01").unwrap();
        let cmd = &Ip::default().set_mac("eth0", mac)[1];
        assert!(matches!(
            classify(cmd, "eth0", Some(mac), &fail(1, "Cannot find device \"eth0\"")),
            HostError::NoSuchInterface { interface, .. } if interface == "eth0"
        ));
        assert!(matches!(
            classify(
                cmd,
                "eth0",
                Some(mac),
                &fail(2, "RTNETLINK answers: Operation not permitted")
            ),
            HostError::PermissionDenied { .. }
        ));
        assert!(matches!(
            classify(
                cmd,
                "eth0",
                Some(mac),
                &fail(2, "RTNETLINK answers: Cannot assign requested address")
            ),
            HostError::AddressRejected { mac: m, .. } if m == mac
        ));
        let other = classify(cmd, "eth0", Some(mac), &fail(255, "Something odd"));
        assert!(matches!(
            &other,
            HostError::CommandFailed {
                code: Some(255),
                ..
            }
        ));
        assert_eq!(
            other.to_string(),
            "`ip link set dev eth0 address 02:50:41:00:00:01` failed (exit code 255): Something odd"
        );
        let signal = CommandOutput {
            code: None,
            ..fail(0, "")
        };
        assert!(
            classify(cmd, "eth0", None, &signal)
                .to_string()
                .contains("killed by a signal")
        );
    }

    #[tokio::test]
    async fn runner_failures_map_to_typed_errors() {
        struct Failing(fn() -> RunError);
        #[async_trait]
        impl CommandRunner for Failing {
            async fn run(&self, _: &CommandSpec) -> Result<CommandOutput, RunError> {
                Err((self.0)())
            }
        }
        let host = |f: fn() -> RunError| {
            LinuxHost::new(vec!["eth0".into()]).with_runner(Arc::new(Failing(f)))
        };
        let err = host(|| RunError::NotInstalled {
            program: "ip".into(),
        })
        .facts()
        .await
        .unwrap_err();
        assert!(
            matches!(&err, HostError::Spawn { command, source }
                if command == "ip -j link show" && source.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
        let err = host(|| RunError::Timeout {
            program: "ip".into(),
            after: Duration::from_secs(3),
        })
        .facts()
        .await
        .unwrap_err();
        assert!(
            matches!(&err, HostError::Timeout { timeout, .. } if *timeout == Duration::from_secs(3)),
            "{err:?}"
        );

        // The default runner: a missing `ip` cannot be spawned.
        let mut host = LinuxHost::new(vec!["eth0".into()]);
        host.ip.program = "/nonexistent/pan-ip".into();
        let err = host.facts().await.unwrap_err();
        assert!(matches!(err, HostError::Spawn { .. }), "{err:?}");
        assert!(err.to_string().contains("is iproute2 installed?"), "{err}");
    }

    #[test]
    fn parses_ip_link_json() {
        let links = parse_links(
            br#"[{"ifindex":1,"ifname":"lo","link_type":"loopback","address":"00:00:00:00:00:00"},
                 {"ifindex":2,"ifname":"eth0","link_type":"ether","address":"02:50:41:00:00:01","permaddr":"52:54:00:12:34:56"}]"#,
        )
        .unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].permaddr.as_deref(), Some("52:54:00:12:34:56"));
        assert!(parse_links(b"Device \"x\" does not exist.").is_err());
    }

    #[tokio::test]
    async fn apply_sets_the_mac_and_release_restores_it() {
        let runner = FakeRunner::answering([
            show("eth0", "52:54:00:12:34:56"),
            ok(""),
            ok(""),
            ok(""),
            show("eth0", "02:50:41:00:00:01"),
            ok(""),
            ok(""),
            ok(""),
        ]);
        let host = LinuxHost::new(vec!["eth0".into()]).with_runner(runner.clone());
        host.apply_network(&identity(&["02:50:41:00:00:01"]))
            .await
            .unwrap();
        host.release().await.unwrap();
        assert_eq!(
            runner.seen(),
            [
                "ip -j link show dev eth0",
                "ip link set dev eth0 down",
                "ip link set dev eth0 address 02:50:41:00:00:01",
                "ip link set dev eth0 up",
                "ip -j link show dev eth0",
                "ip link set dev eth0 down",
                "ip link set dev eth0 address 52:54:00:12:34:56",
                "ip link set dev eth0 up",
            ]
        );
    }

    #[tokio::test]
    async fn a_mac_already_in_place_is_not_set_again() {
        let runner = FakeRunner::answering([show("eth0", "02:50:41:00:00:01")]);
        let host = LinuxHost::new(vec!["eth0".into()]).with_runner(runner.clone());
        host.apply_network(&identity(&["02:50:41:00:00:01"]))
            .await
            .unwrap();
        assert_eq!(runner.seen(), ["ip -j link show dev eth0"]);
    }

    #[tokio::test]
    async fn a_refused_address_still_brings_the_link_up() {
        let runner = FakeRunner::answering([
            show("eth0", "52:54:00:12:34:56"),
            ok(""),
            fail(2, "RTNETLINK answers: Cannot assign requested address"),
            ok(""),
        ]);
        let host = LinuxHost::new(vec!["eth0".into()]).with_runner(runner.clone());
        let err = host
            .apply_network(&identity(&["02:50:41:00:00:01"]))
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::AddressRejected { .. }), "{err:?}");
        assert_eq!(
            runner.seen().last().map(String::as_str),
            Some("ip link set dev eth0 up")
        );
    }

    #[tokio::test]
    async fn more_vnics_than_interfaces_is_refused_before_any_command() {
        let runner = FakeRunner::answering([]);
        let host = LinuxHost::new(vec!["eth0".into()]).with_runner(runner.clone());
        let err = host
            .apply_network(&identity(&["02:50:41:00:00:01", "02:50:41:00:00:02"]))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            HostError::NotEnoughInterfaces {
                macs: 2,
                interfaces: 1,
                ..
            }
        ));
        assert!(runner.seen().is_empty());
    }

    /// Effective uid from /proc (no libc: the workspace forbids unsafe code).
    fn effective_uid() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    }

    fn ip(args: &[&str]) -> Result<String, String> {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "ip {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A network namespace deleted on drop, also when the test fails.
    struct Netns(String);

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = ip(&["netns", "del", &self.0]);
        }
    }

    fn address_in(ns: &str, dev: &str) -> (String, bool) {
        let links = parse_links(
            ip(&["-n", ns, "-j", "link", "show", "dev", dev])
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let raw: serde_json::Value =
            serde_json::from_str(&ip(&["-n", ns, "-j", "link", "show", "dev", dev]).unwrap())
                .unwrap();
        let up = raw[0]["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"));
        (links[0].address.clone().unwrap(), up)
    }

    #[tokio::test]
    async fn really_sets_a_mac_in_a_network_namespace() {
        if effective_uid() != Some(0) {
            eprintln!(
                "SKIPPED really_sets_a_mac_in_a_network_namespace: creating a network namespace \
                 needs root (CI runs as root)"
            );
            return;
        }
        let name = format!("pan-agent-test-{}", std::process::id());
        ip(&["netns", "add", &name]).unwrap();
        let ns = Netns(name);
        ip(&[
            "-n", &ns.0, "link", "add", "pan0", "type", "veth", "peer", "name", "pan1",
        ])
        .unwrap();
        let (own, _) = address_in(&ns.0, "pan0");

        let host = LinuxHost::new(vec!["pan0".into()]).in_netns(ns.0.clone());
        let facts = host.facts().await.unwrap();
        assert!(
            facts
                .interfaces
                .iter()
                .any(|i| i.name == "pan0" && i.mac.to_string() == own),
            "{facts:?}"
        );

        host.apply_network(&identity(&["02:50:41:00:00:42"]))
            .await
            .unwrap();
        assert_eq!(
            address_in(&ns.0, "pan0"),
            ("02:50:41:00:00:42".to_string(), true)
        );

        host.release().await.unwrap();
        assert_eq!(address_in(&ns.0, "pan0").0, own);

        // The kernel refuses a group address: a typed error, link left up.
        let err = host
            .apply_network(&ServerIdentity {
                macs: vec![Mac([0x01, 0, 0x5e, 0, 0, 1])],
                ..identity(&[])
            })
            .await
            .unwrap_err();
        assert!(matches!(err, HostError::AddressRejected { .. }), "{err:?}");
        assert!(address_in(&ns.0, "pan0").1, "pan0 was left down");

        let missing = LinuxHost::new(vec!["nope0".into()]).in_netns(ns.0.clone());
        let err = missing
            .apply_network(&identity(&["02:50:41:00:00:43"]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, HostError::NoSuchInterface { interface, .. } if interface == "nope0"),
            "{err:?}"
        );
    }
}
