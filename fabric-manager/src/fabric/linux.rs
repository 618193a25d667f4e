//! The Linux fabric: a fabric network namespace with one bridge per network
//! and one veth pair per blade.
//!
//! Layout: the fabric namespace (e.g. `pan-fabric-a`) holds bridge `pb<vni
//! hex>` per network (STP off, forward delay 0; isolation is by separate
//! bridges since `vlan_filtering` is not available) and the fabric end
//! `pv<blade hex>` of each blade's veth pair; the other end is `eth0` in the
//! blade's namespace (`<fabric ns>-blade-<id>`). Attaching enslaves the
//! fabric end to the network's bridge and sets it up; detaching removes it
//! from any bridge and sets it down. Each operation reads the kernel first,
//! changes only what differs, and reads the result back.
//!
//! Operations are serialized by a lock (a handful of `ip` calls each), so
//! two callers never race on the same names. This driver must never decide
//! who may join a network, and never touches namespaces outside its prefix.

use super::error::{FabricError, Object, Result};
use super::names::{self, BLADE_INTERFACE};
use super::parse::{self, Link};
use super::runner::{self, CommandOutput, CommandRunner, CommandSpec, RunError};
use super::{Fabric, PortInfo, PortState, Vni};
use crate::state::identity::Mac;
use async_trait::async_trait;
use pan_api::ids::BladeId;
use std::sync::Arc;

/// Where the Linux fabric lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxFabricConfig {
    /// The fabric network namespace, e.g. `pan-fabric-rack1`; blade
    /// namespaces are named after it.
    pub namespace: String,
    /// The `ip` program (iproute2 with JSON output).
    pub ip: String,
}

impl LinuxFabricConfig {
    pub fn new(namespace: impl Into<String>) -> Self {
        LinuxFabricConfig {
            namespace: namespace.into(),
            ip: "ip".to_owned(),
        }
    }
}

/// The [`Fabric`] on Linux bridges and veth pairs in network namespaces.
pub struct LinuxFabric {
    config: LinuxFabricConfig,
    runner: Arc<dyn CommandRunner>,
    lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for LinuxFabric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxFabric")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The names of one blade's objects.
struct BladeNames {
    blade: BladeId,
    namespace: String,
    port: String,
}

impl BladeNames {
    fn object(&self) -> Object {
        Object::Blade {
            blade: self.blade,
            namespace: self.namespace.clone(),
            port: self.port.clone(),
        }
    }
}

impl LinuxFabric {
    /// A fabric running `ip` as child processes.
    pub fn new(config: LinuxFabricConfig) -> Result<Self> {
        Self::with_runner(config, Arc::new(runner::process_runner()))
    }

    /// A fabric running its commands through `runner`.
    pub fn with_runner(config: LinuxFabricConfig, runner: Arc<dyn CommandRunner>) -> Result<Self> {
        names::check_namespace(&config.namespace)?;
        Ok(LinuxFabric {
            config,
            runner,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The fabric namespace.
    pub fn namespace(&self) -> &str {
        &self.config.namespace
    }

    /// The network namespace of a blade (whether or not it exists yet).
    pub fn blade_namespace(&self, blade: BladeId) -> String {
        names::blade_namespace(&self.config.namespace, blade)
    }

    fn fabric_object(&self) -> Object {
        Object::Fabric {
            namespace: self.config.namespace.clone(),
        }
    }

    fn network_object(&self, vni: Vni) -> Object {
        Object::Network {
            vni,
            bridge: names::bridge_name(vni),
        }
    }

    fn blade_names(&self, blade: BladeId) -> Result<BladeNames> {
        Ok(BladeNames {
            blade,
            namespace: self.blade_namespace(blade),
            port: names::fabric_port_name(blade)?,
        })
    }

    /// Runs `ip <args>`; returns its output whatever its exit code.
    async fn ip_output(
        &self,
        object: &Object,
        args: &[&str],
    ) -> Result<(CommandSpec, CommandOutput)> {
        let spec = CommandSpec::new(&self.config.ip, args.iter().copied());
        match self.runner.run(&spec).await {
            Ok(output) => Ok((spec, output)),
            Err(RunError::NotInstalled { .. }) => Err(FabricError::NotInstalled {
                object: object.clone(),
                program: self.config.ip.clone(),
            }),
            Err(RunError::Spawn { source, .. }) => Err(FabricError::Spawn {
                object: object.clone(),
                command: spec.to_string(),
                source,
            }),
            Err(RunError::Timeout { after, .. }) => Err(FabricError::Timeout {
                object: object.clone(),
                command: spec.to_string(),
                after,
            }),
        }
    }

    /// Runs `ip <args>` and requires exit code 0.
    async fn ip(&self, object: &Object, args: &[&str]) -> Result<String> {
        let (spec, output) = self.ip_output(object, args).await?;
        if output.success() {
            Ok(output.stdout)
        } else {
            Err(failed(object, &spec, output))
        }
    }

    /// One link in a namespace, `None` when it (or the namespace) is absent.
    async fn show(&self, object: &Object, namespace: &str, dev: &str) -> Result<Option<Link>> {
        let args = ["-n", namespace, "-j", "-d", "link", "show", "dev", dev];
        let (spec, output) = self.ip_output(object, &args).await?;
        if !output.success() {
            if parse::is_absent(&output.stderr) {
                return Ok(None);
            }
            return Err(failed(object, &spec, output));
        }
        let links =
            parse::links(&output.stdout).map_err(|detail| unexpected(object, &spec, detail))?;
        match links.as_slice() {
            [link] if link.name == dev => Ok(Some(link.clone())),
            _ => Err(unexpected(
                object,
                &spec,
                format!("expected exactly the link {dev}, got {} links", links.len()),
            )),
        }
    }

    async fn netns_list(&self, object: &Object) -> Result<Vec<String>> {
        let args = ["-j", "netns", "list"];
        let (spec, output) = self.ip_output(object, &args).await?;
        if !output.success() {
            return Err(failed(object, &spec, output));
        }
        parse::netns_names(&output.stdout).map_err(|detail| unexpected(object, &spec, detail))
    }

    /// Creates the namespaces in `wanted` that do not exist.
    async fn ensure_namespaces(&self, object: &Object, wanted: &[&str]) -> Result<()> {
        let existing = self.netns_list(object).await?;
        for ns in wanted {
            if !existing.iter().any(|e| e == ns) {
                self.ip(object, &["netns", "add", ns]).await?;
            }
        }
        Ok(())
    }

    /// The blade's fabric-side port, or [`FabricError::PortNotFound`].
    async fn require_port(&self, names: &BladeNames) -> Result<Link> {
        self.show(&names.object(), &self.config.namespace, &names.port)
            .await?
            .ok_or_else(|| FabricError::PortNotFound {
                blade: names.blade,
                namespace: self.config.namespace.clone(),
            })
    }

    /// The network a port's `master` denotes.
    fn network_of(&self, names: &BladeNames, link: &Link) -> Result<Option<Vni>> {
        match &link.master {
            None => Ok(None),
            Some(master) => match names::vni_of_bridge(master) {
                Some(vni) => Ok(Some(vni)),
                None => Err(FabricError::ForeignMaster {
                    object: names.object(),
                    master: master.clone(),
                }),
            },
        }
    }

    async fn blade_interface(&self, names: &BladeNames) -> Result<Link> {
        let object = names.object();
        self.show(&object, &names.namespace, BLADE_INTERFACE)
            .await?
            .ok_or_else(|| FabricError::ReadBack {
                object,
                expected: format!("{BLADE_INTERFACE} in namespace {}", names.namespace),
                found: "no such interface".to_owned(),
            })
    }
}

fn failed(object: &Object, spec: &CommandSpec, output: CommandOutput) -> FabricError {
    FabricError::CommandFailed {
        object: object.clone(),
        command: spec.to_string(),
        code: output.code,
        stderr: output.stderr,
    }
}

fn unexpected(object: &Object, spec: &CommandSpec, detail: String) -> FabricError {
    FabricError::UnexpectedOutput {
        object: object.clone(),
        command: spec.to_string(),
        detail,
    }
}

fn describe(link: &Link) -> String {
    format!(
        "master {}, {}",
        link.master.as_deref().unwrap_or("none"),
        if link.admin_up { "up" } else { "down" }
    )
}

fn parse_mac(object: &Object, link: &Link) -> Result<Mac> {
    let address = link.address.as_deref().unwrap_or_default();
    Mac::parse(address).map_err(|detail| FabricError::UnexpectedOutput {
        object: object.clone(),
        command: format!("ip -j link show dev {}", link.name),
        detail,
    })
}

#[async_trait]
impl Fabric for LinuxFabric {
    async fn ensure_network(&self, vni: Vni) -> Result<()> {
        let _guard = self.lock.lock().await;
        let ns = self.config.namespace.as_str();
        self.ensure_namespaces(&self.fabric_object(), &[ns]).await?;
        let object = self.network_object(vni);
        let bridge = names::bridge_name(vni);
        let mut link = self.show(&object, ns, &bridge).await?;
        if link.is_none() {
            self.ip(
                &object,
                &[
                    "-n",
                    ns,
                    "link",
                    "add",
                    &bridge,
                    "type",
                    "bridge",
                    "forward_delay",
                    "0",
                    "stp_state",
                    "0",
                ],
            )
            .await?;
            link = self.show(&object, ns, &bridge).await?;
        }
        let Some(current) = link else {
            return Err(FabricError::ReadBack {
                object,
                expected: "a bridge".to_owned(),
                found: "no such link".to_owned(),
            });
        };
        if current.kind.as_deref() != Some("bridge") {
            return Err(FabricError::ReadBack {
                object,
                expected: "a bridge".to_owned(),
                found: format!("a link of kind {:?}", current.kind),
            });
        }
        if !current.admin_up {
            self.ip(&object, &["-n", ns, "link", "set", "dev", &bridge, "up"])
                .await?;
            let back = self.show(&object, ns, &bridge).await?;
            if !back.as_ref().is_some_and(|l| l.admin_up) {
                return Err(FabricError::ReadBack {
                    object,
                    expected: "bridge up".to_owned(),
                    found: back.map_or("no such link".to_owned(), |l| describe(&l)),
                });
            }
        }
        Ok(())
    }

    async fn remove_network(&self, vni: Vni) -> Result<()> {
        let _guard = self.lock.lock().await;
        let ns = self.config.namespace.as_str();
        let object = self.network_object(vni);
        let bridge = names::bridge_name(vni);
        if self.show(&object, ns, &bridge).await?.is_none() {
            return Ok(());
        }
        let args = ["-n", ns, "-j", "link", "show", "master", bridge.as_str()];
        let (spec, output) = self.ip_output(&object, &args).await?;
        if !output.success() {
            return Err(failed(&object, &spec, output));
        }
        let ports =
            parse::links(&output.stdout).map_err(|detail| unexpected(&object, &spec, detail))?;
        if !ports.is_empty() {
            return Err(FabricError::NetworkInUse {
                vni,
                ports: ports.into_iter().map(|l| l.name).collect(),
            });
        }
        self.ip(&object, &["-n", ns, "link", "del", "dev", &bridge])
            .await?;
        if let Some(left) = self.show(&object, ns, &bridge).await? {
            return Err(FabricError::ReadBack {
                object,
                expected: "no bridge".to_owned(),
                found: format!("link {} still present", left.name),
            });
        }
        Ok(())
    }

    async fn ensure_blade_port(&self, blade: BladeId) -> Result<PortInfo> {
        let _guard = self.lock.lock().await;
        let names = self.blade_names(blade)?;
        let object = names.object();
        let ns = self.config.namespace.as_str();
        self.ensure_namespaces(&object, &[ns, &names.namespace])
            .await?;
        match self.show(&object, ns, &names.port).await? {
            None => {
                self.ip(
                    &object,
                    &[
                        "-n",
                        ns,
                        "link",
                        "add",
                        &names.port,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        BLADE_INTERFACE,
                        "netns",
                        &names.namespace,
                    ],
                )
                .await?;
            }
            Some(link) if link.kind.as_deref() != Some("veth") => {
                return Err(FabricError::ReadBack {
                    object,
                    expected: "a veth fabric port".to_owned(),
                    found: format!("a link of kind {:?}", link.kind),
                });
            }
            Some(_) => {}
        }
        let mut inner = self.blade_interface(&names).await?;
        if !inner.admin_up {
            self.ip(
                &object,
                &[
                    "-n",
                    &names.namespace,
                    "link",
                    "set",
                    "dev",
                    BLADE_INTERFACE,
                    "up",
                ],
            )
            .await?;
            inner = self.blade_interface(&names).await?;
            if !inner.admin_up {
                return Err(FabricError::ReadBack {
                    object,
                    expected: format!("{BLADE_INTERFACE} up"),
                    found: describe(&inner),
                });
            }
        }
        let mac = parse_mac(&object, &inner)?;
        Ok(PortInfo {
            blade,
            blade_namespace: names.namespace,
            interface: BLADE_INTERFACE.to_owned(),
            fabric_namespace: self.config.namespace.clone(),
            fabric_port: names.port,
            mac,
        })
    }

    async fn attach(&self, blade: BladeId, vni: Vni) -> Result<()> {
        let _guard = self.lock.lock().await;
        let names = self.blade_names(blade)?;
        let ns = self.config.namespace.as_str();
        let bridge = names::bridge_name(vni);
        if self
            .show(&self.network_object(vni), ns, &bridge)
            .await?
            .is_none()
        {
            return Err(FabricError::NetworkNotFound {
                vni,
                namespace: self.config.namespace.clone(),
            });
        }
        let link = self.require_port(&names).await?;
        let object = names.object();
        if link.master.as_deref() == Some(bridge.as_str()) && link.admin_up {
            return Ok(());
        }
        if link.master.as_deref() != Some(bridge.as_str()) {
            self.ip(
                &object,
                &[
                    "-n",
                    ns,
                    "link",
                    "set",
                    "dev",
                    &names.port,
                    "master",
                    &bridge,
                ],
            )
            .await?;
        }
        if !link.admin_up {
            self.ip(
                &object,
                &["-n", ns, "link", "set", "dev", &names.port, "up"],
            )
            .await?;
        }
        let back = self.require_port(&names).await?;
        if back.master.as_deref() != Some(bridge.as_str()) || !back.admin_up {
            return Err(FabricError::ReadBack {
                object,
                expected: format!("master {bridge}, up"),
                found: describe(&back),
            });
        }
        Ok(())
    }

    async fn detach(&self, blade: BladeId) -> Result<()> {
        let _guard = self.lock.lock().await;
        let names = self.blade_names(blade)?;
        let object = names.object();
        let ns = self.config.namespace.as_str();
        let Some(link) = self.show(&object, ns, &names.port).await? else {
            return Ok(());
        };
        if link.master.is_none() && !link.admin_up {
            return Ok(());
        }
        // Down first: traffic stops before the bridge membership changes.
        if link.admin_up {
            self.ip(
                &object,
                &["-n", ns, "link", "set", "dev", &names.port, "down"],
            )
            .await?;
        }
        if link.master.is_some() {
            self.ip(
                &object,
                &["-n", ns, "link", "set", "dev", &names.port, "nomaster"],
            )
            .await?;
        }
        match self.show(&object, ns, &names.port).await? {
            Some(back) if back.master.is_some() || back.admin_up => Err(FabricError::ReadBack {
                object,
                expected: "master none, down".to_owned(),
                found: describe(&back),
            }),
            _ => Ok(()),
        }
    }

    async fn port_state(&self, blade: BladeId) -> Result<PortState> {
        let _guard = self.lock.lock().await;
        let names = self.blade_names(blade)?;
        let link = self.require_port(&names).await?;
        Ok(PortState {
            network: self.network_of(&names, &link)?,
            up: link.admin_up,
        })
    }

    async fn set_blade_mac(&self, blade: BladeId, mac: Mac) -> Result<()> {
        let _guard = self.lock.lock().await;
        let names = self.blade_names(blade)?;
        let object = names.object();
        let Some(inner) = self
            .show(&object, &names.namespace, BLADE_INTERFACE)
            .await?
        else {
            return Err(FabricError::PortNotFound {
                blade,
                namespace: names.namespace,
            });
        };
        if parse_mac(&object, &inner)? == mac {
            return Ok(());
        }
        let text = mac.to_string();
        self.ip(
            &object,
            &[
                "-n",
                &names.namespace,
                "link",
                "set",
                "dev",
                BLADE_INTERFACE,
                "address",
                &text,
            ],
        )
        .await?;
        let back = self.blade_interface(&names).await?;
        let found = parse_mac(&object, &back)?;
        if found != mac {
            return Err(FabricError::ReadBack {
                object,
                expected: format!("address {mac}"),
                found: format!("address {found}"),
            });
        }
        Ok(())
    }

    async fn teardown(&self) -> Result<()> {
        let _guard = self.lock.lock().await;
        let object = self.fabric_object();
        let fabric = self.config.namespace.as_str();
        let blade_prefix = format!("{fabric}{}", names::BLADE_NS_INFIX);
        let ours = |name: &str| name == fabric || name.starts_with(&blade_prefix);
        let existing = self.netns_list(&object).await?;
        // Blade namespaces first, the fabric namespace last.
        let mut doomed: Vec<&String> = existing.iter().filter(|n| ours(n)).collect();
        doomed.sort_by_key(|n| n.as_str() == fabric);
        for ns in doomed {
            self.ip(&object, &["netns", "del", ns]).await?;
        }
        let left: Vec<String> = self
            .netns_list(&object)
            .await?
            .into_iter()
            .filter(|n| ours(n))
            .collect();
        if !left.is_empty() {
            return Err(FabricError::ReadBack {
                object,
                expected: "no fabric or blade namespaces".to_owned(),
                found: format!("{left:?}"),
            });
        }
        Ok(())
    }
}
