//! The BMC's request handling as a pure function: route, authenticate,
//! dispatch, render. [`handle`] takes the locked [`BmcState`] and a plain
//! [`RedfishRequest`] and returns the [`RedfishResponse`] plus the model
//! [`Transition`] the shell must carry out. No sockets, no clock.
//!
//! Authentication: `GET /redfish`, `GET /redfish/v1/` and
//! `POST /redfish/v1/SessionService/Sessions` are open; everything else
//! needs `X-Auth-Token` (a session) or HTTP Basic with the BMC account, and
//! answers 401 (with `WWW-Authenticate: Basic`) otherwise — before any 404,
//! so an unauthenticated client learns nothing about paths.

use crate::model::{BladeInfo, BmcState, Credentials, ResetType, Transition};
use crate::redfish::{RedfishError, etag, paths, render};
use base64::Engine as _;
use http::Method;
use serde_json::Value;
use tokio::time::Instant;

/// A BMC request, reduced to what the BMC looks at.
#[derive(Clone, Debug, Default)]
pub struct RedfishRequest {
    pub method: Method,
    /// The path without the query string.
    pub path: String,
    /// `X-Auth-Token`.
    pub auth_token: Option<String>,
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `If-Match`.
    pub if_match: Option<String>,
    pub body: Vec<u8>,
}

impl RedfishRequest {
    /// A request without credentials or body.
    pub fn new(method: Method, path: impl Into<String>) -> RedfishRequest {
        RedfishRequest {
            method,
            path: path.into(),
            ..RedfishRequest::default()
        }
    }

    /// Adds HTTP Basic credentials.
    pub fn basic(mut self, account: &Credentials) -> RedfishRequest {
        let raw = format!("{}:{}", account.user, account.password);
        self.authorization = Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ));
        self
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: &Value) -> RedfishRequest {
        self.body = body.to_string().into_bytes();
        self
    }
}

/// A BMC answer. The shell adds `Content-Type` and `OData-Version`.
#[derive(Clone, Debug, PartialEq)]
pub struct RedfishResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl RedfishResponse {
    fn ok(body: Value) -> RedfishResponse {
        RedfishResponse {
            status: 200,
            headers: vec![("ETag", etag::etag(&body))],
            body: Some(body),
        }
    }

    fn no_content() -> RedfishResponse {
        RedfishResponse {
            status: 204,
            headers: vec![],
            body: None,
        }
    }

    /// The answer for a Redfish error, with the headers its status calls for.
    pub fn error(e: &RedfishError) -> RedfishResponse {
        let mut headers = Vec::new();
        match e.status {
            401 => headers.push(("WWW-Authenticate", "Basic realm=\"hwsim BMC\"".to_owned())),
            503 => {
                let secs = e
                    .messages
                    .first()
                    .and_then(|m| m.args.first())
                    .and_then(|a| a.parse::<u64>().ok())
                    .unwrap_or(1);
                headers.push(("Retry-After", secs.to_string()));
            }
            _ => {}
        }
        RedfishResponse {
            status: e.status,
            headers,
            body: Some(e.body()),
        }
    }

    /// The value of header `name` (case-insensitive), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The resources of one BMC.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Versions,
    Root,
    Systems,
    System,
    Reset,
    Nics,
    Nic(usize),
    LogServices,
    LogService,
    LogEntries,
    LogEntry(u64),
    ChassisCollection,
    Chassis,
    Managers,
    Manager,
    SessionService,
    Sessions,
    Session(String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let trimmed = path.trim_end_matches('/');
        let route = match trimmed {
            paths::VERSIONS => Route::Versions,
            "/redfish/v1" => Route::Root,
            paths::SYSTEMS => Route::Systems,
            paths::SYSTEM => Route::System,
            paths::RESET => Route::Reset,
            paths::ETHERNET_INTERFACES => Route::Nics,
            paths::LOG_SERVICES => Route::LogServices,
            paths::LOG_SERVICE => Route::LogService,
            paths::LOG_ENTRIES => Route::LogEntries,
            paths::CHASSIS_COLLECTION => Route::ChassisCollection,
            paths::CHASSIS => Route::Chassis,
            paths::MANAGERS => Route::Managers,
            paths::MANAGER => Route::Manager,
            paths::SESSION_SERVICE => Route::SessionService,
            paths::SESSIONS => Route::Sessions,
            other => {
                if let Some(member) = strip_member(other, paths::ETHERNET_INTERFACES) {
                    // Canonical numbers only: `01` is not NIC 1.
                    let n = member
                        .parse::<usize>()
                        .ok()
                        .filter(|n| n.to_string() == member)?;
                    Route::Nic(n)
                } else if let Some(member) = strip_member(other, paths::LOG_ENTRIES) {
                    let id = member
                        .parse::<u64>()
                        .ok()
                        .filter(|n| n.to_string() == member)?;
                    Route::LogEntry(id)
                } else if let Some(id) = strip_member(other, paths::SESSIONS) {
                    Route::Session(id.to_owned())
                } else {
                    return None;
                }
            }
        };
        Some(route)
    }

    fn allowed(&self) -> &'static [Method] {
        match self {
            Route::System => &[Method::GET, Method::PATCH],
            Route::Reset => &[Method::POST],
            Route::Sessions => &[Method::GET, Method::POST],
            Route::Session(_) => &[Method::GET, Method::DELETE],
            _ => &[Method::GET],
        }
    }
}

/// `{collection}/{member}` with a single, non-empty member segment.
fn strip_member<'a>(path: &'a str, collection: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(collection)?.strip_prefix('/')?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// Handles one request against the locked BMC state at `now`.
pub fn handle(
    state: &mut BmcState,
    info: &BladeInfo,
    account: &Credentials,
    req: &RedfishRequest,
    now: Instant,
) -> (RedfishResponse, Transition) {
    match dispatch(state, info, account, req, now) {
        Ok(ok) => ok,
        Err(e) => (RedfishResponse::error(&e), Transition::default()),
    }
}

fn dispatch(
    state: &mut BmcState,
    info: &BladeInfo,
    account: &Credentials,
    req: &RedfishRequest,
    now: Instant,
) -> Result<(RedfishResponse, Transition), RedfishError> {
    let route = Route::parse(&req.path);
    let open = matches!(
        (&route, &req.method),
        (Some(Route::Versions | Route::Root), &Method::GET)
            | (Some(Route::Sessions), &Method::POST)
    );
    if !open {
        authenticate(state, account, req, now)?;
    }
    let route = route.ok_or_else(|| RedfishError::resource_missing(&req.path))?;
    if !route.allowed().contains(&req.method) {
        let mut resp = RedfishResponse::error(&RedfishError::method_not_allowed(
            req.method.as_str(),
            &req.path,
        ));
        let allow: Vec<&str> = route.allowed().iter().map(Method::as_str).collect();
        resp.headers.push(("Allow", allow.join(", ")));
        return Ok((resp, Transition::default()));
    }
    let none = Transition::default();
    let model = &mut state.model;
    let resp = match (route, req.method.clone()) {
        (Route::Versions, _) => RedfishResponse::ok(render::render_versions()),
        (Route::Root, _) => RedfishResponse::ok(render::render_service_root(info)),
        (Route::Systems, _) => RedfishResponse::ok(render::render_systems()),
        (Route::System, Method::PATCH) => {
            let body = parse_json(&req.body)?;
            if let Some(if_match) = &req.if_match {
                let current = etag::etag(&render::render_system(info, model));
                if !etag::if_match_admits(if_match, &current) {
                    return Err(RedfishError::precondition_failed(&req.path));
                }
            }
            let changed = model.patch_system(&body)?;
            let t = Transition {
                settings_changed: changed,
                ..Transition::default()
            };
            return Ok((RedfishResponse::ok(render::render_system(info, model)), t));
        }
        (Route::System, _) => RedfishResponse::ok(render::render_system(info, model)),
        (Route::Reset, _) => {
            let reset = parse_reset(&req.body)?;
            if let Some(refused) = model.reset_refusal(now) {
                return Err(refused);
            }
            return Ok((RedfishResponse::no_content(), model.reset(reset, now)));
        }
        (Route::Nics, _) => RedfishResponse::ok(render::render_ethernet_interfaces(info)),
        (Route::Nic(n), _) => RedfishResponse::ok(
            render::render_ethernet_interface(info, model, n)
                .ok_or_else(|| RedfishError::resource_missing(&req.path))?,
        ),
        (Route::LogServices, _) => RedfishResponse::ok(render::render_log_services()),
        (Route::LogService, _) => RedfishResponse::ok(render::render_log_service(model)),
        (Route::LogEntries, _) => RedfishResponse::ok(render::render_log_entries(model)),
        (Route::LogEntry(id), _) => RedfishResponse::ok(render::render_log_entry(
            model
                .log()
                .iter()
                .find(|e| e.id == id)
                .ok_or_else(|| RedfishError::resource_missing(&req.path))?,
        )),
        (Route::ChassisCollection, _) => RedfishResponse::ok(render::render_chassis_collection()),
        (Route::Chassis, _) => RedfishResponse::ok(render::render_chassis(info, model)),
        (Route::Managers, _) => RedfishResponse::ok(render::render_managers()),
        (Route::Manager, _) => RedfishResponse::ok(render::render_manager(info)),
        (Route::SessionService, _) => {
            RedfishResponse::ok(render::render_session_service(&state.sessions))
        }
        (Route::Sessions, Method::POST) => login(state, account, req, now)?,
        (Route::Sessions, _) => RedfishResponse::ok(render::render_sessions(&state.sessions)),
        (Route::Session(id), Method::DELETE) => {
            if !state.sessions.delete(&id) {
                return Err(RedfishError::resource_missing(&req.path));
            }
            RedfishResponse::no_content()
        }
        (Route::Session(id), _) => RedfishResponse::ok(render::render_session(
            state
                .sessions
                .get(&id)
                .ok_or_else(|| RedfishError::resource_missing(&req.path))?,
        )),
    };
    Ok((resp, none))
}

/// Checks `X-Auth-Token` (when present) or else HTTP Basic.
fn authenticate(
    state: &mut BmcState,
    account: &Credentials,
    req: &RedfishRequest,
    now: Instant,
) -> Result<(), RedfishError> {
    if let Some(token) = &req.auth_token {
        return state
            .sessions
            .authenticate(token, now)
            .map(|_| ())
            .ok_or_else(RedfishError::no_valid_session);
    }
    let basic = req
        .authorization
        .as_deref()
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    match basic.as_deref().and_then(|s| s.split_once(':')) {
        Some((user, password)) if account.matches(user, password) => Ok(()),
        _ => Err(RedfishError::no_valid_session()),
    }
}

/// `POST /redfish/v1/SessionService/Sessions`.
fn login(
    state: &mut BmcState,
    account: &Credentials,
    req: &RedfishRequest,
    now: Instant,
) -> Result<RedfishResponse, RedfishError> {
    let body = parse_json(&req.body)?;
    let field = |name: &str| -> Result<String, RedfishError> {
        match body.get(name) {
            None | Some(Value::Null) => Err(RedfishError::property_missing(name)),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(RedfishError::property_value_type_error(
                &other.to_string(),
                name,
            )),
        }
    };
    let user = field("UserName")?;
    let password = field("Password")?;
    let session = state
        .sessions
        .create(account, &user, &password, paths::SESSIONS, now)?;
    let location = paths::session(&session.id);
    Ok(RedfishResponse {
        status: 201,
        headers: vec![
            ("X-Auth-Token", session.token.clone()),
            ("Location", location),
        ],
        body: Some(render::render_session(&session)),
    })
}

/// A JSON object body; an empty body counts as `{}`.
fn parse_json(body: &[u8]) -> Result<Value, RedfishError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(RedfishError::malformed_json()),
    }
}

/// The `ResetType` of a `ComputerSystem.Reset` body.
pub fn parse_reset(body: &[u8]) -> Result<ResetType, RedfishError> {
    const ACTION: &str = "ComputerSystem.Reset";
    match parse_json(body)?.get("ResetType") {
        None | Some(Value::Null) => {
            Err(RedfishError::action_parameter_missing(ACTION, "ResetType"))
        }
        Some(Value::String(s)) => s
            .parse()
            .map_err(|()| RedfishError::action_parameter_value_not_in_list(s, "ResetType", ACTION)),
        Some(other) => Err(RedfishError::action_parameter_value_type_error(
            &other.to_string(),
            "ResetType",
            ACTION,
        )),
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
