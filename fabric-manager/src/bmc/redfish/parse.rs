//! Redfish response bodies → typed values: pure functions on bytes, no I/O.
//!
//! The models follow the DMTF schemas' property names (`ServiceRoot`,
//! `ComputerSystem`, `EthernetInterface`, `Processor`, `Session`, `Task`,
//! `LogService`, `LogEntry`, the error body) but hold only what PAN reads. They are tolerant by
//! design, because real BMCs are not schema-perfect:
//! - a body must be a JSON object, nothing else is required;
//! - a missing, `null` or wrongly typed property becomes `None` (or is
//!   dropped from a list) instead of failing the resource;
//! - unknown properties (OEM blocks, annotations) are ignored;
//! - enumerations are matched case-insensitively and unknown values are
//!   kept as `Other(String)`;
//! - numbers out of range become `None`; quoted numbers are accepted;
//! - known vendor misspellings are read too (`HealthRollUp`).
//!
//! Every function returns a value or a [`ParseError`] for any input; none
//! may panic (a proptest in `tests.rs` holds them to it). Deciding whether
//! a missing property matters is the caller's job.

use super::super::error::{ParseError, clean_text};
use super::super::types::{
    BootEnabled, BootMode, BootTarget, Health, HealthStatus, PowerState, ResetType, ResourceState,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A navigation link (`{"@odata.id": "/redfish/v1/..."}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Link {
    #[serde(rename = "@odata.id")]
    pub odata_id: String,
}

/// `ServiceRoot`: where the collections and services are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceRoot {
    #[serde(default, deserialize_with = "lenient")]
    pub redfish_version: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub vendor: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub product: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub systems: Option<Link>,
    #[serde(default, deserialize_with = "lenient")]
    pub session_service: Option<Link>,
    #[serde(default, deserialize_with = "lenient")]
    pub links: Option<ServiceRootLinks>,
}

/// `ServiceRoot.Links`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceRootLinks {
    #[serde(default, deserialize_with = "lenient")]
    pub sessions: Option<Link>,
}

/// `SessionService`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionService {
    #[serde(default, deserialize_with = "lenient")]
    pub service_enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub sessions: Option<Link>,
}

/// A resource collection (`Members` and the paging link).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Collection {
    #[serde(rename = "Members", default, deserialize_with = "lenient_vec")]
    pub members: Vec<Link>,
    #[serde(
        rename = "Members@odata.count",
        default,
        deserialize_with = "lenient_u64"
    )]
    pub count: Option<u64>,
    #[serde(
        rename = "Members@odata.nextLink",
        default,
        deserialize_with = "lenient"
    )]
    pub next_link: Option<String>,
}

/// A resource's `Status` as sent (see [`HealthStatus`] for the domain form).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    #[serde(default, deserialize_with = "lenient")]
    pub state: Option<ResourceState>,
    #[serde(default, deserialize_with = "lenient")]
    pub health: Option<Health>,
    #[serde(default, deserialize_with = "lenient")]
    pub health_rollup: Option<Health>,
    /// The misspelling some BMCs (and sushy-tools) send.
    #[serde(rename = "HealthRollUp", default, deserialize_with = "lenient")]
    pub health_roll_up: Option<Health>,
}

impl Status {
    /// The domain form.
    pub fn to_health(&self) -> HealthStatus {
        HealthStatus {
            state: self.state.clone(),
            health: self.health.clone(),
            rollup: self
                .health_rollup
                .clone()
                .or_else(|| self.health_roll_up.clone()),
        }
    }
}

/// `ComputerSystem`: the blade as its BMC sees it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComputerSystem {
    #[serde(rename = "@odata.id", default, deserialize_with = "lenient")]
    pub odata_id: Option<String>,
    #[serde(rename = "@odata.etag", default, deserialize_with = "lenient")]
    pub odata_etag: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub host_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub manufacturer: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub serial_number: Option<String>,
    #[serde(rename = "UUID", default, deserialize_with = "lenient")]
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub power_state: Option<PowerState>,
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<Status>,
    #[serde(default, deserialize_with = "lenient")]
    pub processor_summary: Option<ProcessorSummary>,
    #[serde(default, deserialize_with = "lenient")]
    pub memory_summary: Option<MemorySummary>,
    #[serde(default, deserialize_with = "lenient")]
    pub boot: Option<Boot>,
    #[serde(default, deserialize_with = "lenient")]
    pub ethernet_interfaces: Option<Link>,
    #[serde(default, deserialize_with = "lenient")]
    pub processors: Option<Link>,
    #[serde(default, deserialize_with = "lenient")]
    pub log_services: Option<Link>,
    #[serde(default, deserialize_with = "lenient")]
    pub actions: Option<SystemActions>,
}

/// `LogService`: one log of a resource; its entries are behind `Entries`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogService {
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub entries: Option<Link>,
}

/// `LogEntry`: one record of a log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogEntryModel {
    #[serde(rename = "@odata.id", default, deserialize_with = "lenient")]
    pub odata_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub created: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub severity: Option<Health>,
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub message_id: Option<String>,
}

impl LogEntryModel {
    /// Only a link (`{"@odata.id": …}`): the entry must be read on its own.
    pub fn is_link_only(&self) -> bool {
        self.id.is_none() && self.message.is_none() && self.odata_id.is_some()
    }

    /// The domain form; `None` without an `Id`. Texts are cleaned for
    /// display.
    pub fn to_entry(&self) -> Option<super::super::types::LogEntry> {
        Some(super::super::types::LogEntry {
            id: self.id.as_deref().and_then(clean_text)?,
            created: self.created.as_deref().and_then(clean_text),
            severity: self.severity.clone(),
            message: self
                .message
                .as_deref()
                .and_then(clean_text)
                .unwrap_or_default(),
            message_id: self.message_id.as_deref().and_then(clean_text),
        })
    }
}

/// `LogEntryCollection`: BMCs put whole entries in `Members` (some only
/// links).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct LogEntryCollection {
    #[serde(rename = "Members", default, deserialize_with = "lenient_vec")]
    pub members: Vec<LogEntryModel>,
    #[serde(
        rename = "Members@odata.nextLink",
        default,
        deserialize_with = "lenient"
    )]
    pub next_link: Option<String>,
}

/// `ComputerSystem.ProcessorSummary`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessorSummary {
    #[serde(default, deserialize_with = "lenient_u32")]
    pub count: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub core_count: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub logical_processor_count: Option<u32>,
    #[serde(default, deserialize_with = "lenient")]
    pub model: Option<String>,
}

/// `ComputerSystem.MemorySummary`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct MemorySummary {
    #[serde(
        rename = "TotalSystemMemoryGiB",
        default,
        deserialize_with = "lenient_gib"
    )]
    pub total_system_memory_gib: Option<f64>,
}

/// `ComputerSystem.Boot`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Boot {
    #[serde(default, deserialize_with = "lenient")]
    pub boot_source_override_target: Option<BootTarget>,
    #[serde(default, deserialize_with = "lenient")]
    pub boot_source_override_enabled: Option<BootEnabled>,
    #[serde(default, deserialize_with = "lenient")]
    pub boot_source_override_mode: Option<BootMode>,
    #[serde(default, deserialize_with = "lenient")]
    pub uefi_target_boot_source_override: Option<String>,
    #[serde(
        rename = "BootSourceOverrideTarget@Redfish.AllowableValues",
        default,
        deserialize_with = "lenient_vec"
    )]
    pub allowed_targets: Vec<BootTarget>,
}

/// `ComputerSystem.Actions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SystemActions {
    #[serde(
        rename = "#ComputerSystem.Reset",
        default,
        deserialize_with = "lenient"
    )]
    pub reset: Option<ResetAction>,
}

/// The `#ComputerSystem.Reset` action: where to POST, and which types.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ResetAction {
    #[serde(default, deserialize_with = "lenient")]
    pub target: Option<String>,
    #[serde(
        rename = "ResetType@Redfish.AllowableValues",
        default,
        deserialize_with = "lenient_vec"
    )]
    pub allowed: Vec<ResetType>,
}

/// `EthernetInterface`: the MACs PAN reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EthernetInterface {
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(rename = "MACAddress", default, deserialize_with = "lenient")]
    pub mac_address: Option<String>,
    #[serde(rename = "PermanentMACAddress", default, deserialize_with = "lenient")]
    pub permanent_mac_address: Option<String>,
}

impl EthernetInterface {
    /// The burned-in MAC when the BMC gives it, else the current one.
    pub fn burned_in_mac(&self) -> Option<&str> {
        self.permanent_mac_address
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .or(self.mac_address.as_deref())
    }
}

/// `Processor`: type and cores, to count cores on older BMCs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Processor {
    #[serde(default, deserialize_with = "lenient")]
    pub processor_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub total_cores: Option<u32>,
}

impl Processor {
    /// True unless the BMC says it is something other than a CPU (GPU,
    /// FPGA, accelerator …).
    pub fn is_cpu(&self) -> bool {
        self.processor_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("CPU"))
    }
}

/// `Session` (the token itself comes in the `X-Auth-Token` header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Session {
    #[serde(rename = "@odata.id", default, deserialize_with = "lenient")]
    pub odata_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
}

/// `Task`, as a 202 answer may carry it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    #[serde(rename = "@odata.id", default, deserialize_with = "lenient")]
    pub odata_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub task_state: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub task_status: Option<Health>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub percent_complete: Option<u32>,
}

/// The useful part of a Redfish error body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedfishMessage {
    /// `error.code`, e.g. `Base.1.0.GeneralError`.
    pub code: Option<String>,
    /// `@Message.ExtendedInfo[0].Message` when present (it is the specific
    /// one), else `error.message`; cleaned for display.
    pub message: Option<String>,
    /// `@Message.ExtendedInfo[0].MessageId`.
    pub message_id: Option<String>,
    /// `@Message.ExtendedInfo[0].Resolution`, cleaned for display.
    pub resolution: Option<String>,
}

/// Parses `ServiceRoot`.
pub fn parse_service_root(body: &[u8]) -> Result<ServiceRoot, ParseError> {
    parse_object("service root", body)
}

/// Parses `SessionService`.
pub fn parse_session_service(body: &[u8]) -> Result<SessionService, ParseError> {
    parse_object("session service", body)
}

/// Parses any resource collection.
pub fn parse_collection(body: &[u8]) -> Result<Collection, ParseError> {
    parse_object("collection", body)
}

/// Parses `ComputerSystem`.
pub fn parse_system(body: &[u8]) -> Result<ComputerSystem, ParseError> {
    parse_object("computer system", body)
}

/// Parses `EthernetInterface`.
pub fn parse_ethernet_interface(body: &[u8]) -> Result<EthernetInterface, ParseError> {
    parse_object("Ethernet interface", body)
}

/// Parses `Processor`.
pub fn parse_processor(body: &[u8]) -> Result<Processor, ParseError> {
    parse_object("processor", body)
}

/// Parses the `Session` a session POST returns.
pub fn parse_session(body: &[u8]) -> Result<Session, ParseError> {
    parse_object("session", body)
}

/// Parses `LogService`.
pub fn parse_log_service(body: &[u8]) -> Result<LogService, ParseError> {
    parse_object("log service", body)
}

/// Parses a `LogEntryCollection` (the `Entries` of a log service).
pub fn parse_log_entries(body: &[u8]) -> Result<LogEntryCollection, ParseError> {
    parse_object("log entry collection", body)
}

/// Parses one `LogEntry`.
pub fn parse_log_entry(body: &[u8]) -> Result<LogEntryModel, ParseError> {
    parse_object("log entry", body)
}

/// Parses `Task`.
pub fn parse_task(body: &[u8]) -> Result<Task, ParseError> {
    parse_object("task", body)
}

/// Reads a Redfish error body (`{"error": {...}}`); `None` when the body is
/// not one. `@Message.ExtendedInfo` may be a list or, on some BMCs, a
/// single object.
pub fn parse_error_body(body: &[u8]) -> Option<RedfishMessage> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?.as_object()?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).and_then(clean_text);
    let first = match error.get("@Message.ExtendedInfo") {
        Some(Value::Array(items)) => items.first(),
        Some(obj @ Value::Object(_)) => Some(obj),
        _ => None,
    };
    let first_message = first.and_then(|f| text(f.get("Message")));
    let message = first_message.or_else(|| text(error.get("message")));
    let out = RedfishMessage {
        code: text(error.get("code")),
        message,
        message_id: first.and_then(|f| text(f.get("MessageId"))),
        resolution: first.and_then(|f| text(f.get("Resolution"))),
    };
    Some(out)
}

/// The `<title>` of an HTML page, cleaned for display.
pub fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    // ASCII lowercasing keeps byte offsets, so they index `text` too.
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower.get(open..)?.find('>')? + 1;
    let end = start + lower.get(start..)?.find("</title")?;
    clean_text(text.get(start..end)?)
}

/// True when the body looks like markup rather than JSON.
pub fn looks_like_html(body: &[u8]) -> bool {
    let trimmed = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &body[i..]);
    trimmed.first() == Some(&b'<')
}

/// Parses `body` as a JSON object, then into `T` (whose fields are all
/// lenient, so only the first two steps can fail).
fn parse_object<T: DeserializeOwned + Default>(
    resource: &'static str,
    body: &[u8],
) -> Result<T, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError::NotJson {
        resource,
        detail: clean_text(&e.to_string())
            // serde_json appends " at line L column C"; keep the cause only.
            .map(|s| s.split(" at line ").next().unwrap_or_default().to_string())
            .unwrap_or_default(),
        line: e.line(),
        column: e.column(),
    })?;
    if !value.is_object() {
        return Err(ParseError::NotAnObject {
            resource,
            found: json_kind(&value),
        });
    }
    // Every field is lenient, so this cannot fail on an object; should a
    // future field be strict, a mismatch degrades to the empty model
    // rather than a panic.
    Ok(serde_json::from_value(value).unwrap_or_default())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `Some(T)` when the value has T's shape, `None` otherwise (including null).
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// The elements that have T's shape; anything but an array is empty.
fn lenient_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// A non-negative integer, also when quoted; `None` when out of range.
fn number_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(number_u64(&Value::deserialize(d)?))
}

fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(number_u64(&Value::deserialize(d)?).and_then(|n| u32::try_from(n).ok()))
}

/// A finite, non-negative size in GiB (fractions allowed), also when quoted.
fn lenient_gib<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let value = Value::deserialize(d)?;
    let f = match &value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(f.filter(|f| f.is_finite() && *f >= 0.0))
}
