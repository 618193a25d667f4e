//! [`RedfishBmc`]: the [`Bmc`] trait over DMTF Redfish (HTTP + JSON).
//!
//! How it finds things: it follows `@odata.id` links from the service root
//! (`/redfish/v1/`) to `Systems` and takes the collection's first member,
//! and remembers the links (and the system's reset action and ETag) until
//! a 404 says they moved. Links must be paths on the BMC itself; a link to
//! another host is refused, so credentials never leave for it, and
//! redirects are followed only on the same host and never from HTTPS to
//! HTTP.
//!
//! What it sends:
//! - reads: `GET` of the system (one read gives power, health and boot
//!   override), plus its `EthernetInterfaces` and, on BMCs without
//!   `ProcessorSummary.CoreCount`, its `Processors` for the inventory;
//! - reset: `POST {"ResetType": …}` to the system's
//!   `#ComputerSystem.Reset` target (the conventional
//!   `…/Actions/ComputerSystem.Reset` if the BMC names none), refused
//!   locally when the BMC lists allowable values without this one. 200 and
//!   204 are [`ResetOutcome::Completed`]; 202 is
//!   [`ResetOutcome::Accepted`] with the task's URI — the task is not
//!   polled: callers read the power state back, as fencing must anyway;
//! - log: the system's `LogServices`, the first service with `Entries`,
//!   and that collection's first page (entries inline, or read one by one
//!   when the BMC lists only links, at most `max_members` of them);
//! - boot override: `PATCH {"Boot": {…}}` to the system with `If-Match`
//!   carrying the last ETag the BMC sent (header or `@odata.etag`); on 412
//!   (or 428, "If-Match required") it re-reads the system and tries once
//!   more with the fresh ETag.
//!
//! Authentication, retries and limits: see `session.rs` and
//! `transport.rs`. Errors: 4xx answers other than 409/429 are returned at
//! once as typed errors, with the BMC's Redfish message when it sent one.

mod config;
pub mod parse;
mod session;
mod transport;

#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

pub use config::{Credentials, Endpoint, Limits, RetryPolicy, Tls};

use self::parse::{ComputerSystem, ServiceRoot};
use self::session::AuthState;
use self::transport::{Auth as SendAuth, Call, Reply, Transport};
use super::Bmc;
use super::error::{BmcError, ErrorKind, Operation, ParseError, clean_text};
use super::types::{
    BootEnabled, BootOverride, BootTarget, LogEntry, ResetOutcome, ResetType, SystemInventory,
    SystemStatus,
};
use crate::state::identity::Mac;
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderValue, LOCATION};
use reqwest::{Method, Url};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A BMC spoken to over Redfish. One per blade; cheap to share behind an
/// `Arc`. Call [`Bmc::close`] when done to delete the session; dropping it
/// inside a tokio runtime deletes the session in the background, best
/// effort (the BMC expires it otherwise).
pub struct RedfishBmc {
    name: String,
    transport: Transport,
    credentials: Credentials,
    auth: tokio::sync::Mutex<AuthState>,
    cache: Mutex<Cache>,
}

/// What discovery found, until a 404 says it moved.
#[derive(Default)]
struct Cache {
    root: Option<Arc<ServiceRoot>>,
    system: Option<Url>,
    etag: Option<HeaderValue>,
    reset: Option<ResetInfo>,
    boot_targets: Vec<BootTarget>,
}

#[derive(Clone)]
struct ResetInfo {
    target: Url,
    allowed: Vec<ResetType>,
}

impl fmt::Debug for RedfishBmc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedfishBmc")
            .field("endpoint", &self.name)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl RedfishBmc {
    /// A client for the BMC at `endpoint`. Makes no request yet; fails only
    /// on a bad URL or TLS setting. Clone one `limits` into every BMC so
    /// they share its global limit.
    pub fn new(
        endpoint: Endpoint,
        credentials: Credentials,
        limits: &Limits,
    ) -> Result<RedfishBmc, BmcError> {
        let transport = Transport::new(&endpoint, limits).map_err(|kind| BmcError {
            // Never echo a URL that may hold credentials.
            bmc: transport::origin_of(&endpoint.url)
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .unwrap_or_else(|_| "(invalid URL)".to_string()),
            operation: Operation::Configure,
            kind,
            attempts: 0,
        })?;
        Ok(RedfishBmc {
            name: transport.name(),
            transport,
            credentials,
            auth: tokio::sync::Mutex::new(AuthState::Unknown),
            cache: Mutex::new(Cache::default()),
        })
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets discovered links, so the next call discovers again.
    fn forget(&self) {
        let mut c = self.cache();
        c.system = None;
        c.reset = None;
        c.etag = None;
    }

    fn error(&self, operation: &Operation, kind: ErrorKind, attempts: u32) -> BmcError {
        BmcError {
            bmc: self.name.clone(),
            operation: operation.clone(),
            kind,
            attempts,
        }
    }

    /// The error for a non-2xx answer.
    fn status_error(&self, op: &Operation, reply: &Reply) -> BmcError {
        let status = reply.status;
        let message = parse::parse_error_body(&reply.body);
        let text = message.as_ref().and_then(|m| m.message.clone());
        let kind = match status {
            300..=399 => ErrorKind::Redirected {
                status,
                location: reply.header(LOCATION.as_str()).and_then(clean_text),
            },
            401 => ErrorKind::Auth {
                status,
                message: text,
            },
            403 => ErrorKind::Forbidden { message: text },
            _ if message.is_none() && parse::looks_like_html(&reply.body) => ErrorKind::HtmlPage {
                status,
                title: parse::html_title(&reply.body),
            },
            _ => ErrorKind::Http {
                status,
                message: text,
                resolution: message.and_then(|m| m.resolution),
            },
        };
        self.error(op, kind, reply.attempts)
    }

    /// Decodes a 2xx body, telling HTML pages, wrong content types and
    /// malformed JSON apart.
    fn decode<T>(
        &self,
        op: &Operation,
        reply: &Reply,
        parse: fn(&[u8]) -> Result<T, ParseError>,
    ) -> Result<T, BmcError> {
        parse(&reply.body).map_err(|error| {
            let status = reply.status;
            let content_type = reply.header(CONTENT_TYPE.as_str()).unwrap_or("");
            let kind = if parse::looks_like_html(&reply.body) {
                ErrorKind::HtmlPage {
                    status,
                    title: parse::html_title(&reply.body),
                }
            } else if !content_type.is_empty()
                && !content_type.to_ascii_lowercase().contains("json")
            {
                ErrorKind::WrongContentType {
                    status,
                    content_type: clean_text(content_type).unwrap_or_default(),
                }
            } else {
                ErrorKind::Malformed { status, error }
            };
            self.error(op, kind, reply.attempts)
        })
    }

    /// Turns an `@odata.id` (or `Location`) into a URL on this BMC.
    fn resolve(&self, op: &Operation, link: &str) -> Result<Url, BmcError> {
        let unsafe_link = || {
            self.error(
                op,
                ErrorKind::UnsafeLink {
                    link: clean_text(link).unwrap_or_default(),
                },
                0,
            )
        };
        let origin = self.transport.origin();
        let url = if link.starts_with('/') && !link.starts_with("//") {
            origin.join(link).map_err(|_| unsafe_link())?
        } else {
            let url = Url::parse(link).map_err(|_| unsafe_link())?;
            let same = url.scheme() == origin.scheme()
                && url.host_str() == origin.host_str()
                && url.port_or_known_default() == origin.port_or_known_default();
            if !same {
                return Err(unsafe_link());
            }
            url
        };
        Ok(url)
    }

    /// Sends one request with the given auth.
    async fn send(
        &self,
        op: &Operation,
        call: &RequestSpec<'_>,
        auth: &AuthState,
    ) -> Result<Reply, BmcError> {
        let call = Call {
            method: call.method.clone(),
            url: call.url,
            body: call.body,
            auth: self.send_auth(auth),
            if_match: call.if_match,
            idempotent: call.idempotent,
        };
        self.transport
            .send(&call)
            .await
            .map_err(|f| self.error(op, f.kind, f.attempts))
    }

    /// Sends an authenticated request and returns its 2xx answer. A 401 to
    /// a session token logs in again once and resends (a 401 means the BMC
    /// did nothing, so this is safe for any request).
    async fn request(&self, op: &Operation, spec: RequestSpec<'_>) -> Result<Reply, BmcError> {
        let auth = self.current_auth().await?;
        let reply = self.send(op, &spec, &auth).await?;
        let reply = match (&auth, reply.status) {
            (AuthState::Session { token, .. }, 401) => {
                let fresh = self.relogin(token).await?;
                self.send(op, &spec, &fresh).await?
            }
            _ => reply,
        };
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(self.status_error(op, &reply))
        }
    }

    async fn get(&self, op: &Operation, url: &Url) -> Result<Reply, BmcError> {
        self.request(
            op,
            RequestSpec {
                method: Method::GET,
                url,
                body: None,
                if_match: None,
                idempotent: true,
            },
        )
        .await
    }

    /// The service root (cached). Read without credentials, as the spec
    /// allows; with Basic if the BMC insists.
    async fn service_root(&self) -> Result<Arc<ServiceRoot>, BmcError> {
        if let Some(root) = self.cache().root.clone() {
            return Ok(root);
        }
        let op = Operation::Discover;
        let url = self.transport.origin().join("redfish/v1/").map_err(|_| {
            self.error(
                &op,
                ErrorKind::Config {
                    detail: "cannot form the service root URL".to_string(),
                },
                0,
            )
        })?;
        let spec = RequestSpec {
            method: Method::GET,
            url: &url,
            body: None,
            if_match: None,
            idempotent: true,
        };
        let mut reply = self.send(&op, &spec, &AuthState::Unknown).await?;
        if reply.status == 401 {
            reply = self.send(&op, &spec, &AuthState::Basic).await?;
        }
        if !reply.is_success() {
            return Err(self.status_error(&op, &reply));
        }
        let root = Arc::new(self.decode(&op, &reply, parse::parse_service_root)?);
        self.cache().root = Some(root.clone());
        Ok(root)
    }

    /// The system's URL: the first member of the root's `Systems` (cached).
    async fn system_url(&self) -> Result<Url, BmcError> {
        if let Some(url) = self.cache().system.clone() {
            return Ok(url);
        }
        let op = Operation::Discover;
        let root = self.service_root().await?;
        let Some(systems) = root.systems.as_ref() else {
            return Err(self.error(
                &op,
                ErrorKind::Missing {
                    what: "the service root names no Systems collection".to_string(),
                },
                0,
            ));
        };
        let systems_url = self.resolve(&op, &systems.odata_id)?;
        let reply = self.get(&op, &systems_url).await?;
        let collection = self.decode(&op, &reply, parse::parse_collection)?;
        let Some(first) = collection.members.first() else {
            return Err(self.error(
                &op,
                ErrorKind::Missing {
                    what: "the Systems collection is empty".to_string(),
                },
                reply.attempts,
            ));
        };
        if collection.members.len() > 1 {
            tracing::debug!(
                bmc = %self.name,
                systems = collection.members.len(),
                "the BMC manages several systems; using the first"
            );
        }
        let url = self.resolve(&op, &first.odata_id)?;
        self.cache().system = Some(url.clone());
        Ok(url)
    }

    /// The `@odata.id`s of the systems this BMC manages, in its order
    /// (this client works on the first).
    pub async fn systems(&self) -> Result<Vec<String>, BmcError> {
        let op = Operation::Discover;
        let root = self.service_root().await?;
        let Some(systems) = root.systems.as_ref() else {
            return Ok(Vec::new());
        };
        let url = self.resolve(&op, &systems.odata_id)?;
        let reply = self.get(&op, &url).await?;
        let collection = self.decode(&op, &reply, parse::parse_collection)?;
        Ok(collection.members.into_iter().map(|m| m.odata_id).collect())
    }

    /// Reads the system, rediscovering once if its cached URL is gone, and
    /// remembers its ETag, reset action and boot targets.
    async fn read_system(&self, op: &Operation) -> Result<(ComputerSystem, Url), BmcError> {
        let was_cached = self.cache().system.is_some();
        let mut url = self.system_url().await?;
        let reply = match self.get(op, &url).await {
            Err(e) if was_cached && e.status() == Some(404) => {
                self.forget();
                url = self.system_url().await?;
                self.get(op, &url).await?
            }
            other => other?,
        };
        let system = self.decode(op, &reply, parse::parse_system)?;
        let etag = reply.headers.get(ETAG).cloned().or_else(|| {
            system
                .odata_etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
        });
        let reset = system.actions.as_ref().and_then(|a| a.reset.as_ref());
        let target = match reset.and_then(|r| r.target.as_deref()) {
            Some(t) => self.resolve(op, t)?,
            None => {
                // The conventional URI, for BMCs that leave Actions out.
                let conventional = format!(
                    "{}/Actions/ComputerSystem.Reset",
                    url.path().trim_end_matches('/')
                );
                self.resolve(op, &conventional)?
            }
        };
        let mut c = self.cache();
        c.etag = etag;
        c.reset = Some(ResetInfo {
            target,
            allowed: reset.map(|r| r.allowed.clone()).unwrap_or_default(),
        });
        c.boot_targets = system
            .boot
            .as_ref()
            .map(|b| b.allowed_targets.clone())
            .unwrap_or_default();
        drop(c);
        Ok((system, url))
    }

    /// Members of the collection at `link`, at most `max_members`; a
    /// missing collection (404) is empty.
    async fn members(&self, op: &Operation, link: &str) -> Result<Vec<Url>, BmcError> {
        let url = self.resolve(op, link)?;
        let reply = match self.get(op, &url).await {
            Err(e) if e.status() == Some(404) => return Ok(Vec::new()),
            other => other?,
        };
        let collection = self.decode(op, &reply, parse::parse_collection)?;
        collection
            .members
            .iter()
            .take(self.transport.limits().max_members)
            .map(|m| self.resolve(op, &m.odata_id))
            .collect()
    }

    /// Reads every member and parses it; members that vanished (404) are
    /// skipped. Requests run concurrently, within the per-BMC limit.
    async fn read_members<T>(
        &self,
        op: &Operation,
        link: &str,
        parse: fn(&[u8]) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, BmcError> {
        let urls = self.members(op, link).await?;
        let reads = urls.iter().map(|url| async move {
            match self.get(op, url).await {
                Ok(reply) => self.decode(op, &reply, parse).map(Some),
                Err(e) if e.status() == Some(404) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let results = futures::future::join_all(reads).await;
        let mut out = Vec::new();
        for r in results {
            if let Some(v) = r? {
                out.push(v);
            }
        }
        Ok(out)
    }

    async fn macs(&self, op: &Operation, link: &str) -> Result<Vec<Mac>, BmcError> {
        let interfaces = self
            .read_members(op, link, parse::parse_ethernet_interface)
            .await?;
        let mut macs = Vec::new();
        for iface in &interfaces {
            match iface.burned_in_mac().map(Mac::parse) {
                Some(Ok(mac)) => macs.push(mac),
                Some(Err(reason)) => tracing::debug!(
                    bmc = %self.name,
                    interface = iface.id.as_deref().unwrap_or("?"),
                    %reason,
                    "skipping an interface MAC"
                ),
                None => {}
            }
        }
        Ok(macs)
    }

    /// Cores summed over the CPUs' `TotalCores`; `None` if none says.
    async fn cores_from_processors(
        &self,
        op: &Operation,
        link: &str,
    ) -> Result<Option<u32>, BmcError> {
        let processors = self.read_members(op, link, parse::parse_processor).await?;
        Ok(processors
            .iter()
            .filter(|p| p.is_cpu())
            .filter_map(|p| p.total_cores)
            .fold(None, |sum: Option<u32>, c| {
                Some(sum.unwrap_or(0).saturating_add(c))
            }))
    }

    /// The entries of the system's first log that has `Entries`, newest
    /// first (see [`Bmc::log_entries`]).
    async fn read_log(&self, max: usize) -> Result<Vec<LogEntry>, BmcError> {
        let op = Operation::ReadLog;
        let (system, _) = self.read_system(&op).await?;
        let Some(services) = &system.log_services else {
            return Ok(Vec::new());
        };
        let services = self
            .read_members(&op, &services.odata_id, parse::parse_log_service)
            .await?;
        let Some(entries) = services.iter().find_map(|s| s.entries.clone()) else {
            return Ok(Vec::new());
        };
        let url = self.resolve(&op, &entries.odata_id)?;
        let reply = match self.get(&op, &url).await {
            Err(e) if e.status() == Some(404) => return Ok(Vec::new()),
            other => other?,
        };
        let collection = self.decode(&op, &reply, parse::parse_log_entries)?;
        let mut models = Vec::new();
        let mut fetched = 0;
        for member in collection.members {
            if !member.is_link_only() {
                models.push(member);
                continue;
            }
            if fetched >= self.transport.limits().max_members {
                continue;
            }
            fetched += 1;
            let link = member.odata_id.as_deref().unwrap_or_default();
            let member_url = self.resolve(&op, link)?;
            match self.get(&op, &member_url).await {
                Ok(reply) => models.push(self.decode(&op, &reply, parse::parse_log_entry)?),
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(newest_first(
            models.iter().filter_map(|m| m.to_entry()).collect(),
            max,
        ))
    }

    /// The reset action, reading the system if it is not known yet.
    async fn reset_info(&self, op: &Operation) -> Result<ResetInfo, BmcError> {
        if let Some(info) = self.cache().reset.clone() {
            return Ok(info);
        }
        self.read_system(op).await?;
        self.cache().reset.clone().ok_or_else(|| {
            self.error(
                op,
                ErrorKind::Missing {
                    what: "the system has no reset action".to_string(),
                },
                0,
            )
        })
    }

    async fn patch_boot(
        &self,
        op: &Operation,
        url: &Url,
        body: &[u8],
        etag: Option<&HeaderValue>,
    ) -> Result<Reply, BmcError> {
        self.request(
            op,
            RequestSpec {
                method: Method::PATCH,
                url,
                body: Some(body),
                if_match: etag,
                idempotent: true,
            },
        )
        .await
    }
}

/// A request before auth is attached.
struct RequestSpec<'a> {
    method: Method,
    url: &'a Url,
    body: Option<&'a [u8]>,
    if_match: Option<&'a HeaderValue>,
    idempotent: bool,
}

/// Log entries newest first, at most `max`: collections list the oldest
/// first, so the order is reversed, then sorted by `Created` (ISO 8601 text
/// sorts by time; entries without it go last, in reversed order).
fn newest_first(mut entries: Vec<LogEntry>, max: usize) -> Vec<LogEntry> {
    entries.reverse();
    entries.sort_by(|a, b| match (&a.created, &b.created) {
        (Some(a), Some(b)) => b.cmp(a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    entries.truncate(max);
    entries
}

fn boot_of(system: &ComputerSystem) -> Option<BootOverride> {
    let boot = system.boot.as_ref()?;
    Some(BootOverride {
        target: boot
            .boot_source_override_target
            .clone()
            .unwrap_or(BootTarget::None),
        enabled: boot
            .boot_source_override_enabled
            .clone()
            .unwrap_or(BootEnabled::Disabled),
        mode: boot.boot_source_override_mode.clone(),
        uefi_target: boot.uefi_target_boot_source_override.clone(),
    })
}

/// The PATCH body for a boot override.
fn boot_body(boot: &BootOverride) -> Vec<u8> {
    let mut b = serde_json::Map::new();
    b.insert(
        "BootSourceOverrideTarget".into(),
        boot.target.as_str().into(),
    );
    b.insert(
        "BootSourceOverrideEnabled".into(),
        boot.enabled.as_str().into(),
    );
    if let Some(mode) = &boot.mode {
        b.insert("BootSourceOverrideMode".into(), mode.as_str().into());
    }
    if let Some(path) = &boot.uefi_target {
        b.insert("UefiTargetBootSourceOverride".into(), path.as_str().into());
    }
    serde_json::json!({ "Boot": b }).to_string().into_bytes()
}

#[async_trait::async_trait]
impl Bmc for RedfishBmc {
    fn endpoint(&self) -> &str {
        &self.name
    }

    async fn inventory(&self) -> Result<SystemInventory, BmcError> {
        let op = Operation::ReadInventory;
        let (system, _) = self.read_system(&op).await?;
        let macs = match &system.ethernet_interfaces {
            Some(link) => self.macs(&op, &link.odata_id).await?,
            None => Vec::new(),
        };
        let summary = system.processor_summary.clone().unwrap_or_default();
        let cores = match (summary.core_count, &system.processors) {
            (Some(c), _) => Some(c),
            (None, Some(link)) => self.cores_from_processors(&op, &link.odata_id).await?,
            (None, None) => None,
        };
        let reset_types = self
            .cache()
            .reset
            .as_ref()
            .map(|r| r.allowed.clone())
            .unwrap_or_default();
        Ok(SystemInventory {
            id: system.id.clone().unwrap_or_default(),
            host_name: system
                .host_name
                .clone()
                .filter(|h| !h.trim().is_empty())
                .or_else(|| system.name.clone()),
            model: system.model.clone(),
            manufacturer: system.manufacturer.clone(),
            serial: system.serial_number.clone(),
            uuid: system.uuid.clone(),
            cpu_sockets: summary.count,
            cores,
            memory_gib: system
                .memory_summary
                .as_ref()
                .and_then(|m| m.total_system_memory_gib),
            macs,
            power: system.power_state.clone(),
            health: system
                .status
                .as_ref()
                .map(|s| s.to_health())
                .unwrap_or_default(),
            boot: boot_of(&system),
            reset_types,
        })
    }

    async fn status(&self) -> Result<SystemStatus, BmcError> {
        let op = Operation::ReadSystem;
        let (system, _) = self.read_system(&op).await?;
        let Some(power) = system.power_state.clone() else {
            return Err(self.error(
                &op,
                ErrorKind::Missing {
                    what: "the system reports no PowerState".to_string(),
                },
                0,
            ));
        };
        Ok(SystemStatus {
            power,
            health: system
                .status
                .as_ref()
                .map(|s| s.to_health())
                .unwrap_or_default(),
        })
    }

    async fn log_entries(&self, max: usize) -> Result<Vec<LogEntry>, BmcError> {
        self.read_log(max).await
    }

    async fn reset(&self, reset: ResetType) -> Result<ResetOutcome, BmcError> {
        let op = Operation::Reset(reset.clone());
        let info = self.reset_info(&op).await?;
        if !info.allowed.is_empty() && !info.allowed.contains(&reset) {
            return Err(self.error(
                &op,
                ErrorKind::NotAllowed {
                    value: reset.to_string(),
                    allowed: info.allowed.iter().map(ToString::to_string).collect(),
                },
                0,
            ));
        }
        let body = serde_json::json!({ "ResetType": reset.as_str() }).to_string();
        let result = self
            .request(
                &op,
                RequestSpec {
                    method: Method::POST,
                    url: &info.target,
                    body: Some(body.as_bytes()),
                    if_match: None,
                    idempotent: reset.is_idempotent(),
                },
            )
            .await;
        let reply = match result {
            Err(e) if e.status() == Some(404) => {
                self.forget();
                return Err(e);
            }
            other => other?,
        };
        if reply.status == 202 {
            let task = reply
                .header(LOCATION.as_str())
                .map(str::to_string)
                .or_else(|| parse::parse_task(&reply.body).ok().and_then(|t| t.odata_id))
                .and_then(|t| clean_text(&t));
            return Ok(ResetOutcome::Accepted { task });
        }
        Ok(ResetOutcome::Completed)
    }

    async fn boot_override(&self) -> Result<BootOverride, BmcError> {
        let op = Operation::ReadSystem;
        let (system, _) = self.read_system(&op).await?;
        boot_of(&system).ok_or_else(|| {
            self.error(
                &op,
                ErrorKind::Missing {
                    what: "the system has no Boot object".to_string(),
                },
                0,
            )
        })
    }

    async fn set_boot_override(&self, boot: &BootOverride) -> Result<(), BmcError> {
        let op = Operation::SetBootOverride;
        let url = self.system_url().await?;
        let allowed = self.cache().boot_targets.clone();
        if !allowed.is_empty() && !allowed.contains(&boot.target) {
            return Err(self.error(
                &op,
                ErrorKind::NotAllowed {
                    value: format!("boot target {}", boot.target),
                    allowed: allowed.iter().map(ToString::to_string).collect(),
                },
                0,
            ));
        }
        let body = boot_body(boot);
        let etag = self.cache().etag.clone();
        let reply = match self.patch_boot(&op, &url, &body, etag.as_ref()).await {
            Err(e) if matches!(e.status(), Some(412 | 428)) => {
                // Someone changed the system since we read it (or the BMC
                // wants If-Match): read it again for a fresh ETag, once.
                tracing::debug!(bmc = %self.name, status = ?e.status(), "re-reading the system for its ETag");
                self.read_system(&op).await?;
                let etag = self.cache().etag.clone();
                self.patch_boot(&op, &url, &body, etag.as_ref()).await?
            }
            Err(e) if e.status() == Some(404) => {
                self.forget();
                return Err(e);
            }
            other => other?,
        };
        if let Some(etag) = reply.headers.get(ETAG) {
            self.cache().etag = Some(etag.clone());
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), BmcError> {
        self.logout().await
    }
}

impl Drop for RedfishBmc {
    fn drop(&mut self) {
        let Ok(mut auth) = self.auth.try_lock() else {
            return;
        };
        let Some((token, uri)) = session::take_session(&mut auth) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let transport = self.transport.clone();
        runtime.spawn(async move {
            let call = Call {
                method: Method::DELETE,
                url: &uri,
                body: None,
                auth: SendAuth::Token(&token),
                if_match: None,
                idempotent: true,
            };
            if let Err(f) = transport.send(&call).await {
                tracing::debug!(bmc = %transport.name(), error = %f.kind, "could not delete the session");
            }
        });
    }
}
