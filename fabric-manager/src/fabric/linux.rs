//! The Linux fabric: a fabric network namespace with one bridge per network
//! and one veth pair per blade port.
//!
//! Layout: the fabric namespace (e.g. `pan-fabric-a`) holds bridge `pb<vni
//! hex>` per network (STP off, forward delay 0; isolation is by separate
//! bridges since `vlan_filtering` is not available) and the fabric end
//! `pv<blade id hex>p<port hex>` of each blade port's veth pair; the other end
//! is `eth<port>` in the blade's namespace (`<fabric ns>-blade-<blade name>`).
//! Attaching enslaves the fabric end to the network's bridge and sets it up;
//! detaching removes it from any bridge and sets it down. Each operation
//! reads the kernel first, changes only what differs, and reads the result
//! back. A blade's ports are found by listing the fabric namespace and
//! reading the names (`names::port_of_fabric_name`), so `detach` catches
//! every port, whoever asked for it.
//!
//! Operations are serialized by a lock (a handful of `ip` calls each), so
//! two callers never race on the same names. This driver must never decide
//! who may join a network, and never touches namespaces outside its prefix.

use super::error::{FabricError, Object, Result};
use super::names;
use super::parse::{self, Link};
use super::runner::{self, CommandOutput, CommandRunner, CommandSpec, RunError};
use super::{BladeRef, Fabric, PortInfo, PortState, Vni};
use crate::state::identity::Mac;
use async_trait::async_trait;
use std::sync::Arc;

/// Where the Linux fabric lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxFabricConfig {
    /// The fabric network namespace, e.g. `pan-fabric-rack1`; blade
    /// namespaces are named after it (`<namespace>-blade-<blade name>`).
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

/// The names of one blade port's objects.
struct PortNames {
    blade: BladeRef,
    port: u8,
    /// The blade's namespace.
    namespace: String,
    /// The blade-side interface, `eth<port>`.
    interface: String,
    /// The fabric-side end, `pv<id>p<port>`.
    fabric_port: String,
}

impl PortNames {
    fn object(&self) -> Object {
        Object::Port {
            blade: self.blade.clone(),
            port: self.port,
            namespace: self.namespace.clone(),
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

    /// The network namespace of a blade (whether or not it exists yet):
    /// `<fabric namespace>-blade-<blade name>`; an error for a name that
    /// cannot name a namespace.
    pub fn blade_namespace(&self, blade: &BladeRef) -> Result<String> {
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

    fn blade_object(&self, blade: &BladeRef) -> Result<Object> {
        Ok(Object::Blade {
            blade: blade.clone(),
            namespace: self.blade_namespace(blade)?,
        })
    }

    fn port_names(&self, blade: &BladeRef, port: u8) -> Result<PortNames> {
        names::check_port(blade, port)?;
        Ok(PortNames {
            blade: blade.clone(),
            port,
            namespace: self.blade_namespace(blade)?,
            interface: names::blade_interface(port),
            fabric_port: names::fabric_port_name(blade.id, port)?,
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

    /// The fabric-side ports of a blade, in port order, read from one
    /// listing of the fabric namespace; empty when the namespace is absent.
    async fn blade_ports(&self, object: &Object, blade: &BladeRef) -> Result<Vec<(u8, Link)>> {
        let args = ["-n", self.config.namespace.as_str(), "-j", "link", "show"];
        let (spec, output) = self.ip_output(object, &args).await?;
        if !output.success() {
            if parse::is_absent(&output.stderr) {
                return Ok(Vec::new());
            }
            return Err(failed(object, &spec, output));
        }
        let links =
            parse::links(&output.stdout).map_err(|detail| unexpected(object, &spec, detail))?;
        let mut ports: Vec<(u8, Link)> = links
            .into_iter()
            .filter_map(|link| match names::port_of_fabric_name(&link.name) {
                Some((id, port)) if id == blade.id => Some((port, link)),
                _ => None,
            })
            .collect();
        ports.sort_by_key(|(port, _)| *port);
        Ok(ports)
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

    /// The port's fabric-side end, or [`FabricError::PortNotFound`].
    async fn require_port(&self, names: &PortNames) -> Result<Link> {
        self.show(&names.object(), &self.config.namespace, &names.fabric_port)
            .await?
            .ok_or_else(|| FabricError::PortNotFound {
                blade: names.blade.clone(),
                port: names.port,
                namespace: self.config.namespace.clone(),
            })
    }

    /// The port's blade-side interface, which must exist.
    async fn blade_interface(&self, names: &PortNames) -> Result<Link> {
        let object = names.object();
        self.show(&object, &names.namespace, &names.interface)
            .await?
            .ok_or_else(|| FabricError::ReadBack {
                object,
                expected: format!("{} in namespace {}", names.interface, names.namespace),
                found: format!(
                    "no such interface (if the blade was renamed, its port's peer is in the namespace of its old name: detach the blade and delete fabric port {})",
                    names.fabric_port
                ),
            })
    }

    /// The network's bridge, created and up; the lock is held and the
    /// fabric namespace exists.
    async fn ensure_bridge(&self, vni: Vni) -> Result<()> {
        let ns = self.config.namespace.as_str();
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

    /// The port's veth pair, created, with its blade side up; the lock is
    /// held and both namespaces exist. Returns the port and its fabric-side
    /// end as read.
    async fn ensure_veth(&self, names: &PortNames) -> Result<(PortInfo, Link)> {
        let object = names.object();
        let ns = self.config.namespace.as_str();
        let fabric_end = match self.show(&object, ns, &names.fabric_port).await? {
            None => {
                // An interface already called eth<port> in the blade
                // namespace would make the veth creation fail obscurely.
                if let Some(existing) = self
                    .show(&object, &names.namespace, &names.interface)
                    .await?
                {
                    return Err(FabricError::InterfaceInTheWay {
                        object,
                        namespace: names.namespace.clone(),
                        interface: existing.name,
                    });
                }
                self.ip(
                    &object,
                    &[
                        "-n",
                        ns,
                        "link",
                        "add",
                        &names.fabric_port,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        &names.interface,
                        "netns",
                        &names.namespace,
                    ],
                )
                .await?;
                self.require_port(names).await?
            }
            Some(link) => link,
        };
        if fabric_end.kind.as_deref() != Some("veth") {
            return Err(FabricError::ReadBack {
                object,
                expected: "a veth fabric port".to_owned(),
                found: format!("a link of kind {:?}", fabric_end.kind),
            });
        }
        let mut inner = self.blade_interface(names).await?;
        if !inner.admin_up {
            self.ip(
                &object,
                &[
                    "-n",
                    &names.namespace,
                    "link",
                    "set",
                    "dev",
                    &names.interface,
                    "up",
                ],
            )
            .await?;
            inner = self.blade_interface(names).await?;
            if !inner.admin_up {
                return Err(FabricError::ReadBack {
                    object,
                    expected: format!("{} up", names.interface),
                    found: describe(&inner),
                });
            }
        }
        let mac = parse_mac(&object, &inner)?;
        let info = PortInfo {
            blade: names.blade.id,
            port: names.port,
            blade_namespace: names.namespace.clone(),
            interface: names.interface.clone(),
            fabric_namespace: self.config.namespace.clone(),
            fabric_port: names.fabric_port.clone(),
            mac,
        };
        Ok((info, fabric_end))
    }
}

/// The network a port's `master` denotes.
fn network_of(object: &Object, link: &Link) -> Result<Option<Vni>> {
    match &link.master {
        None => Ok(None),
        Some(master) => match names::vni_of_bridge(master) {
            Some(vni) => Ok(Some(vni)),
            None => Err(FabricError::ForeignMaster {
                object: object.clone(),
                master: master.clone(),
            }),
        },
    }
}

fn port_state(object: &Object, link: &Link) -> Result<PortState> {
    Ok(PortState {
        network: network_of(object, link)?,
        up: link.admin_up,
    })
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
        self.ensure_bridge(vni).await
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

    async fn ensure_port(&self, blade: &BladeRef, port: u8) -> Result<PortInfo> {
        let _guard = self.lock.lock().await;
        let names = self.port_names(blade, port)?;
        let ns = self.config.namespace.as_str();
        self.ensure_namespaces(&names.object(), &[ns, &names.namespace])
            .await?;
        Ok(self.ensure_veth(&names).await?.0)
    }

    async fn attach(&self, blade: &BladeRef, port: u8, vni: Vni) -> Result<()> {
        let _guard = self.lock.lock().await;
        let names = self.port_names(blade, port)?;
        let object = names.object();
        let ns = self.config.namespace.as_str();
        self.ensure_namespaces(&object, &[ns, &names.namespace])
            .await?;
        self.ensure_bridge(vni).await?;
        let (_, link) = self.ensure_veth(&names).await?;
        let bridge = names::bridge_name(vni);
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
                    &names.fabric_port,
                    "master",
                    &bridge,
                ],
            )
            .await?;
        }
        if !link.admin_up {
            self.ip(
                &object,
                &["-n", ns, "link", "set", "dev", &names.fabric_port, "up"],
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

    async fn detach(&self, blade: &BladeRef) -> Result<()> {
        let _guard = self.lock.lock().await;
        let object = self.blade_object(blade)?;
        let ns = self.config.namespace.as_str();
        let ports = self.blade_ports(&object, blade).await?;
        let mut changed = false;
        for (port, link) in &ports {
            if link.master.is_none() && !link.admin_up {
                continue;
            }
            changed = true;
            let port_object = self.port_names(blade, *port)?.object();
            // Down first: traffic stops before the bridge membership changes.
            if link.admin_up {
                self.ip(
                    &port_object,
                    &["-n", ns, "link", "set", "dev", &link.name, "down"],
                )
                .await?;
            }
            if link.master.is_some() {
                self.ip(
                    &port_object,
                    &["-n", ns, "link", "set", "dev", &link.name, "nomaster"],
                )
                .await?;
            }
        }
        if !changed {
            // The listing was the read-back: nothing attached or up.
            return Ok(());
        }
        let live: Vec<String> = self
            .blade_ports(&object, blade)
            .await?
            .iter()
            .filter(|(_, l)| l.master.is_some() || l.admin_up)
            .map(|(_, l)| format!("{}: {}", l.name, describe(l)))
            .collect();
        if !live.is_empty() {
            return Err(FabricError::ReadBack {
                object,
                expected: "every port master none, down".to_owned(),
                found: live.join("; "),
            });
        }
        Ok(())
    }

    async fn port_state(&self, blade: &BladeRef, port: u8) -> Result<PortState> {
        let _guard = self.lock.lock().await;
        let names = self.port_names(blade, port)?;
        let link = self.require_port(&names).await?;
        port_state(&names.object(), &link)
    }

    async fn ports(&self, blade: &BladeRef) -> Result<Vec<(u8, PortState)>> {
        let _guard = self.lock.lock().await;
        let object = self.blade_object(blade)?;
        self.blade_ports(&object, blade)
            .await?
            .iter()
            .map(|(port, link)| Ok((*port, port_state(&object, link)?)))
            .collect()
    }

    async fn set_blade_mac(&self, blade: &BladeRef, port: u8, mac: Mac) -> Result<()> {
        let _guard = self.lock.lock().await;
        let names = self.port_names(blade, port)?;
        let object = names.object();
        let Some(inner) = self
            .show(&object, &names.namespace, &names.interface)
            .await?
        else {
            return Err(FabricError::PortNotFound {
                blade: blade.clone(),
                port,
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
                &names.interface,
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
