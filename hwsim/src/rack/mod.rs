//! A running rack: one BMC listener per blade, the control API, timers and
//! OS instances, all on the caller's tokio runtime.
//!
//! BMC ports: with `bmc_listen = 127.0.0.1:8400`, blade `i` (1-based)
//! listens on `127.0.0.1:(8400 + i)`; with port 0 every BMC gets an
//! ephemeral port (read them from [`BladeHandle::bmc_addr`] or the control
//! API). All listeners are bound before [`Rack::start`] returns.

pub(crate) mod blade;
pub(crate) mod http;

use crate::control::{BladeStatus, RackInfo, server};
use crate::error::Error;
use crate::ground_truth::GroundTruth;
use crate::model::{
    BladeInfo, BladeModel, BmcState, Credentials, FaultAction, HardwareProfile, SessionTable,
    Timing, hardware::MAX_BLADES,
};
use crate::os::{BladeOs, IdleOs};
use blade::{BladeCell, RackShared};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use blade::BladeHandle;

/// How to build a rack.
#[derive(Clone)]
pub struct RackConfig {
    /// Number of blades, `blade-001` … (1 ..= 32768).
    pub blades: u32,
    /// Distinguishes racks in one test: part of burned-in MACs, UUIDs and
    /// serial numbers.
    pub rack_id: u8,
    /// Base address: blade `i` listens on port `base + i`; port 0 gives
    /// every BMC an ephemeral port.
    pub bmc_listen: SocketAddr,
    /// Where to serve the control API (`None`: not served).
    pub control_listen: Option<SocketAddr>,
    /// The fabric manager address handed to blade OSes (`--manager`).
    pub manager: Option<String>,
    /// The account of every BMC.
    pub account: Credentials,
    pub timing: Timing,
    /// Concurrent Redfish sessions per BMC; more are refused with 503.
    pub session_limit: usize,
    /// Idle Redfish sessions are closed after this long.
    pub session_timeout: Duration,
    /// What every blade is made of…
    pub hardware: HardwareProfile,
    /// …except these blades (by 1-based index), e.g. a small blade in a pool
    /// qualification test.
    pub hardware_overrides: BTreeMap<u32, HardwareProfile>,
    /// Mirror the ground truth to this file as JSON lines.
    pub ground_truth_file: Option<PathBuf>,
    /// What runs on a blade once it has booted.
    pub os: Arc<dyn BladeOs>,
    /// The storage target's nvmet configfs root (`san::nvmet` layout) that
    /// NVMe/TCP boots (`UefiTarget`) are checked against; `None`: every
    /// such boot fails.
    pub nvmet_root: Option<PathBuf>,
}

impl std::fmt::Debug for RackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RackConfig")
            .field("blades", &self.blades)
            .field("rack_id", &self.rack_id)
            .field("bmc_listen", &self.bmc_listen)
            .field("control_listen", &self.control_listen)
            .field("manager", &self.manager)
            .field("account", &self.account)
            .field("timing", &self.timing)
            .field("session_limit", &self.session_limit)
            .field("session_timeout", &self.session_timeout)
            .field("ground_truth_file", &self.ground_truth_file)
            .field("nvmet_root", &self.nvmet_root)
            .finish_non_exhaustive()
    }
}

impl RackConfig {
    /// `blades` blades for in-process use: every BMC and the control API on
    /// ephemeral loopback ports, `admin`/`password`, 300 ms boot, 100 ms
    /// graceful shutdown, 16 sessions per BMC (30 min idle timeout), the
    /// default hardware, [`IdleOs`], no ground-truth file.
    pub fn new(blades: u32) -> RackConfig {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        RackConfig {
            blades,
            rack_id: 0,
            bmc_listen: loopback,
            control_listen: Some(loopback),
            manager: None,
            account: Credentials::default(),
            timing: Timing::default(),
            session_limit: 16,
            session_timeout: Duration::from_secs(1800),
            hardware: HardwareProfile::default(),
            hardware_overrides: BTreeMap::new(),
            ground_truth_file: None,
            os: Arc::new(IdleOs),
            nvmet_root: None,
        }
    }

    /// Runs `os` on booted blades.
    pub fn with_os(mut self, os: impl BladeOs) -> RackConfig {
        self.os = Arc::new(os);
        self
    }
}

/// What the control API and the [`Rack`] share.
pub(crate) struct RackInner {
    blades: Vec<BladeHandle>,
    by_name: HashMap<String, usize>,
    pub(crate) ground_truth: Arc<GroundTruth>,
    shared: Arc<RackShared>,
    rack_id: u8,
    bmc_base: SocketAddr,
    manager: Option<String>,
    control: Option<SocketAddr>,
}

impl RackInner {
    pub(crate) fn blade(&self, name: &str) -> Option<&BladeHandle> {
        self.by_name.get(name).map(|&i| &self.blades[i])
    }

    pub(crate) fn status(&self) -> Vec<BladeStatus> {
        self.blades.iter().map(BladeHandle::status).collect()
    }

    pub(crate) fn info(&self) -> RackInfo {
        RackInfo {
            blades: self.blades.len() as u32,
            rack_id: self.rack_id,
            bmc_base: self.bmc_base,
            first_bmc: self
                .blades
                .first()
                .map_or(self.bmc_base, BladeHandle::bmc_addr),
            last_bmc: self
                .blades
                .last()
                .map_or(self.bmc_base, BladeHandle::bmc_addr),
            manager: self.manager.clone(),
            control: self.control,
            ground_truth_records: self.ground_truth.len(),
        }
    }
}

/// A running rack. Dropping it stops every BMC, the control API and every
/// blade OS.
pub struct Rack {
    inner: Arc<RackInner>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for Rack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rack")
            .field("info", &self.inner.info())
            .finish()
    }
}

impl Rack {
    /// Binds every BMC (and the control API), then serves them on the
    /// current tokio runtime. Blades start powered off.
    pub async fn start(config: RackConfig) -> Result<Rack, Error> {
        if config.blades == 0 {
            return Err(Error::NoBlades);
        }
        if config.blades > MAX_BLADES {
            return Err(Error::TooManyBlades {
                blades: config.blades,
                max: MAX_BLADES,
            });
        }
        let start = Instant::now();
        let ground_truth = Arc::new(GroundTruth::new(
            start,
            config.ground_truth_file.as_deref(),
        )?);
        let shared = Arc::new(RackShared {
            account: config.account.clone(),
            ground_truth: Arc::clone(&ground_truth),
            os: Arc::clone(&config.os),
            shutdown: watch::Sender::new(false),
            runtime: tokio::runtime::Handle::current(),
            nvmet_root: config.nvmet_root.clone(),
        });
        let hardware = Arc::new(config.hardware.clone());
        let base = config.bmc_listen;

        let mut listeners = Vec::with_capacity(config.blades as usize);
        let mut blades = Vec::with_capacity(config.blades as usize);
        for index in 1..=config.blades {
            let addr = if base.port() == 0 {
                base
            } else {
                let port = u32::from(base.port()) + index;
                let port = u16::try_from(port).map_err(|_| Error::PortRange { index, port })?;
                SocketAddr::new(base.ip(), port)
            };
            let name = BladeInfo::name_for(index);
            let bind_err = |source| Error::BindBmc {
                blade: name.clone(),
                addr,
                source,
            };
            let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
            let local = listener.local_addr().map_err(bind_err)?;
            let blade_hardware = match config.hardware_overrides.get(&index) {
                Some(h) => Arc::new(h.clone()),
                None => Arc::clone(&hardware),
            };
            let info = BladeInfo::new(
                config.rack_id,
                index,
                blade_hardware,
                config.manager.clone(),
                local,
            );
            let state = BmcState {
                model: BladeModel::new(config.timing),
                sessions: SessionTable::new(config.session_limit, config.session_timeout),
            };
            let cell = Arc::new(BladeCell::new(info, state, Arc::clone(&shared)));
            listeners.push((listener, Arc::clone(&cell)));
            blades.push(BladeHandle { cell });
        }
        let control = match config.control_listen {
            Some(addr) => {
                let bind_err = |source| Error::BindControl { addr, source };
                let l = TcpListener::bind(addr).await.map_err(bind_err)?;
                let local = l.local_addr().map_err(bind_err)?;
                Some((l, local))
            }
            None => None,
        };

        let by_name = blades
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name().to_owned(), i))
            .collect();
        let inner = Arc::new(RackInner {
            blades,
            by_name,
            ground_truth,
            shared: Arc::clone(&shared),
            rack_id: config.rack_id,
            bmc_base: base,
            manager: config.manager.clone(),
            control: control.as_ref().map(|(_, a)| *a),
        });

        let mut tasks = JoinSet::new();
        for (listener, cell) in listeners {
            tasks.spawn(http::serve_bmc(listener, cell, shared.shutdown.subscribe()));
        }
        if let Some((listener, addr)) = control {
            let app = server::router(Arc::clone(&inner));
            let mut stop = shared.shutdown.subscribe();
            tasks.spawn(async move {
                let stop = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(%addr, error = %e, "control API stopped");
                }
            });
        }
        tracing::info!(
            blades = config.blades,
            first_bmc = %inner.info().first_bmc,
            control = ?inner.control,
            "rack started"
        );
        Ok(Rack { inner, tasks })
    }

    /// Every blade, in slot order (`blades()[0]` is `blade-001`).
    pub fn blades(&self) -> &[BladeHandle] {
        &self.inner.blades
    }

    /// The blade named `name` (`blade-003`).
    pub fn blade(&self, name: &str) -> Option<&BladeHandle> {
        self.inner.blade(name)
    }

    /// Where the control API listens, if it is served.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.inner.control
    }

    /// The ground-truth log.
    pub fn ground_truth(&self) -> &GroundTruth {
        &self.inner.ground_truth
    }

    /// Every blade's status.
    pub fn status(&self) -> Vec<BladeStatus> {
        self.inner.status()
    }

    pub fn info(&self) -> RackInfo {
        self.inner.info()
    }

    /// Turns a fault knob on blade `name`.
    pub fn fault(&self, name: &str, action: FaultAction) -> Result<BladeStatus, Error> {
        self.blade(name)
            .ok_or_else(|| Error::UnknownBlade {
                name: name.to_owned(),
            })?
            .fault(action)
    }

    /// Stops serving and waits for the servers to end; stops every OS.
    pub async fn shutdown(mut self) {
        self.inner.shared.shutdown.send_replace(true);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        for b in &self.inner.blades {
            b.cell.stop_os();
        }
    }
}

impl Drop for Rack {
    fn drop(&mut self) {
        self.inner.shared.shutdown.send_replace(true);
        self.tasks.abort_all();
        for b in &self.inner.blades {
            b.cell.stop_os();
        }
    }
}

#[cfg(test)]
mod tests;
