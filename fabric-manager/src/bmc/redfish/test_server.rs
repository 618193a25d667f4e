//! A scripted Redfish BMC on a loopback port, for the client's unit tests.
//!
//! [`MockBmc`] serves a small, correct Redfish tree (service root, session
//! service, one system with two interfaces and two CPUs) and lets a test
//! queue faults (statuses, raw bodies, hangs, redirects) and read back every
//! request it received. HTTP/1.1, one request per connection
//! (`Connection: close`), so it needs no keep-alive handling.

use serde_json::json;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const USER: &str = "admin";
pub const PASSWORD: &str = "pw-Secret-4711";
pub const SYSTEM: &str = "/redfish/v1/Systems/1";
pub const RESET: &str = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";
pub const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub enum Answer {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Never answer (the client times out).
    Hang,
    /// Close the connection without answering.
    Close,
}

impl Answer {
    pub fn json(status: u16, body: serde_json::Value) -> Answer {
        Answer::Respond {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        Answer::Respond {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn empty(status: u16) -> Answer {
        Answer::Respond {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Answer {
        if let Answer::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    pub fn redfish_error(status: u16, message: &str) -> Answer {
        Answer::json(
            status,
            json!({"error": {"code": "Base.1.8.GeneralError", "message": "general",
                "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.X", "Message": message,
                "Resolution": "Do the right thing."}]}}),
        )
    }
}

/// The state behind the mock's answers; tests change it directly.
pub struct MockState {
    /// The root names a session service.
    pub sessions_enabled: bool,
    pub password: String,
    pub next_token: u64,
    pub tokens: Vec<String>,
    pub power: String,
    pub boot_target: String,
    pub boot_enabled: String,
    pub etag: u64,
    /// Send ETags and check If-Match.
    pub etags: bool,
    /// Answer resets with 202 and a task.
    pub reset_202: bool,
    pub allowed_resets: Vec<&'static str>,
    /// Replace the system's body.
    pub system_body: Option<Answer>,
    /// Replace the Systems collection's members.
    pub system_members: Option<Vec<String>>,
    /// (method, path prefix, answer): the first match answers instead of
    /// the tree, once.
    pub faults: VecDeque<(String, String, Answer)>,
    /// Delay before every answer.
    pub delay: Duration,
    pub seen: Vec<Seen>,
}

/// A running mock BMC.
pub struct MockBmc {
    pub url: String,
    state: Arc<Mutex<MockState>>,
    max_in_flight: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockBmc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockBmc {
    pub async fn start() -> MockBmc {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(MockState {
            sessions_enabled: true,
            password: PASSWORD.into(),
            next_token: 1,
            tokens: vec![],
            power: "Off".into(),
            boot_target: "None".into(),
            boot_enabled: "Disabled".into(),
            etag: 1,
            etags: true,
            reset_202: false,
            allowed_resets: vec!["On", "ForceOff", "ForceRestart"],
            system_body: None,
            system_members: None,
            faults: VecDeque::new(),
            delay: Duration::ZERO,
            seen: vec![],
        }));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let st = state.clone();
        let (inf, maxf) = (in_flight.clone(), max_in_flight.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (st, inf, maxf) = (st.clone(), inf.clone(), maxf.clone());
                tokio::spawn(async move {
                    let now = inf.fetch_add(1, Ordering::SeqCst) + 1;
                    maxf.fetch_max(now, Ordering::SeqCst);
                    serve(stream, st).await;
                    inf.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        MockBmc {
            url,
            state,
            max_in_flight,
            task,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, MockState> {
        self.state.lock().expect("mock state")
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count()
    }

    pub fn fault(&self, method: &str, path: &str, answer: Answer) {
        self.state()
            .faults
            .push_back((method.into(), path.into(), answer));
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<MockState>>) {
    let Some(seen) = read_request(&mut stream).await else {
        let _ = stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            )
            .await;
        return;
    };
    let (answer, delay) = {
        let mut s = state.lock().expect("mock state");
        s.seen.push(seen.clone());
        (route(&mut s, &seen), s.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match answer {
        Answer::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
        Answer::Close => {}
        Answer::Respond {
            status,
            headers,
            body,
        } => {
            let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
            for (n, v) in headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            let _ = stream.write_all(&bytes).await;
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 || buf.first().is_some_and(|b| !b.is_ascii_alphabetic()) {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

fn authorized(s: &MockState, req: &Seen) -> bool {
    if let Some(token) = req.header("x-auth-token") {
        return s.tokens.iter().any(|t| t == token);
    }
    let expected = format!(
        "Basic {}",
        base64_encode(format!("{USER}:{}", s.password).as_bytes())
    );
    req.header("authorization") == Some(expected.as_str())
}

fn route(s: &mut MockState, req: &Seen) -> Answer {
    if let Some(i) = s
        .faults
        .iter()
        .position(|(m, p, _)| *m == req.method && req.path.starts_with(p.as_str()))
        && let Some((_, _, answer)) = s.faults.remove(i)
    {
        return answer;
    }
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/redfish/v1") => {
            let mut root = json!({
                "@odata.id": "/redfish/v1/", "Id": "RootService", "RedfishVersion": "1.15.0",
                "Systems": {"@odata.id": "/redfish/v1/Systems"},
            });
            if s.sessions_enabled {
                root["SessionService"] = json!({"@odata.id": "/redfish/v1/SessionService"});
                root["Links"] = json!({"Sessions": {"@odata.id": SESSIONS}});
            }
            return Answer::json(200, root);
        }
        ("POST", SESSIONS) if s.sessions_enabled => {
            let body: serde_json::Value =
                serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
            if body["UserName"] != USER || body["Password"] != s.password.as_str() {
                return Answer::redfish_error(401, "Invalid username or password.");
            }
            let token = format!("token-{}", s.next_token);
            let uri = format!("{SESSIONS}/{}", s.next_token);
            s.next_token += 1;
            s.tokens.push(token.clone());
            return Answer::json(201, json!({"@odata.id": uri, "Id": "1", "UserName": USER}))
                .with_header("X-Auth-Token", &token)
                .with_header("Location", &uri);
        }
        _ => {}
    }
    if !authorized(s, req) {
        return Answer::redfish_error(401, "Authentication required.");
    }
    match (req.method.as_str(), path) {
        ("DELETE", p) if p.starts_with(SESSIONS) => {
            if let Some(token) = req.header("x-auth-token") {
                s.tokens.retain(|t| t != token);
            }
            Answer::empty(204)
        }
        ("GET", "/redfish/v1/Systems") => {
            let members: Vec<_> = s
                .system_members
                .clone()
                .unwrap_or_else(|| vec![SYSTEM.to_string()])
                .into_iter()
                .map(|m| json!({"@odata.id": m}))
                .collect();
            Answer::json(
                200,
                json!({"Members@odata.count": members.len(), "Members": members}),
            )
        }
        ("GET", SYSTEM) => {
            if let Some(answer) = s.system_body.clone() {
                return answer;
            }
            let answer = Answer::json(
                200,
                json!({
                    "@odata.id": SYSTEM, "Id": "1", "Model": "PAN-Blade", "Manufacturer": "hwsim",
                    "SerialNumber": "SN1", "UUID": "00000000-0000-0000-0000-000000000001",
                    "PowerState": s.power,
                    "Status": {"State": "Enabled", "Health": "OK", "HealthRollup": "Warning"},
                    "ProcessorSummary": {"Count": 2},
                    "MemorySummary": {"TotalSystemMemoryGiB": 256},
                    "Boot": {"BootSourceOverrideTarget": s.boot_target,
                             "BootSourceOverrideEnabled": s.boot_enabled,
                             "BootSourceOverrideMode": "UEFI"},
                    "EthernetInterfaces": {"@odata.id": "/redfish/v1/Systems/1/EthernetInterfaces"},
                    "Processors": {"@odata.id": "/redfish/v1/Systems/1/Processors"},
                    "Actions": {"#ComputerSystem.Reset": {"target": RESET,
                        "ResetType@Redfish.AllowableValues": s.allowed_resets}},
                }),
            );
            if s.etags {
                answer.with_header("ETag", &format!("W/\"{}\"", s.etag))
            } else {
                answer
            }
        }
        ("PATCH", SYSTEM) => {
            if s.etags {
                let current = format!("W/\"{}\"", s.etag);
                match req.header("if-match") {
                    Some(m) if m == current => {}
                    Some(_) => return Answer::redfish_error(412, "ETag mismatch."),
                    None => return Answer::redfish_error(428, "If-Match required."),
                }
            }
            let body: serde_json::Value =
                serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
            let Some(boot) = body.get("Boot") else {
                return Answer::redfish_error(400, "Boot missing.");
            };
            if let Some(t) = boot["BootSourceOverrideTarget"].as_str() {
                s.boot_target = t.into();
            }
            if let Some(e) = boot["BootSourceOverrideEnabled"].as_str() {
                s.boot_enabled = e.into();
            }
            s.etag += 1;
            Answer::empty(204)
        }
        ("POST", RESET) => {
            let body: serde_json::Value =
                serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
            match body["ResetType"].as_str() {
                Some("On") | Some("ForceRestart") => s.power = "On".into(),
                Some("ForceOff") => s.power = "Off".into(),
                _ => return Answer::redfish_error(400, "Unsupported ResetType."),
            }
            s.etag += 1;
            if s.reset_202 {
                Answer::json(202, json!({"@odata.id": "/redfish/v1/TaskService/Tasks/7"}))
                    .with_header("Location", "/redfish/v1/TaskService/Tasks/7/Monitor")
            } else {
                Answer::empty(204)
            }
        }
        ("GET", "/redfish/v1/Systems/1/EthernetInterfaces") => Answer::json(
            200,
            json!({"Members": [
                {"@odata.id": "/redfish/v1/Systems/1/EthernetInterfaces/1"},
                {"@odata.id": "/redfish/v1/Systems/1/EthernetInterfaces/2"}]}),
        ),
        ("GET", "/redfish/v1/Systems/1/EthernetInterfaces/1") => Answer::json(
            200,
            json!({"Id": "1", "MACAddress": "02:00:00:00:00:99",
                   "PermanentMACAddress": "00:25:90:aa:bb:01"}),
        ),
        ("GET", "/redfish/v1/Systems/1/EthernetInterfaces/2") => {
            Answer::json(200, json!({"Id": "2", "MACAddress": "00:25:90:AA:BB:02"}))
        }
        ("GET", "/redfish/v1/Systems/1/Processors") => Answer::json(
            200,
            json!({"Members": [
                {"@odata.id": "/redfish/v1/Systems/1/Processors/CPU1"},
                {"@odata.id": "/redfish/v1/Systems/1/Processors/CPU2"},
                {"@odata.id": "/redfish/v1/Systems/1/Processors/GPU1"}]}),
        ),
        ("GET", p) if p.starts_with("/redfish/v1/Systems/1/Processors/CPU") => {
            Answer::json(200, json!({"ProcessorType": "CPU", "TotalCores": 16}))
        }
        ("GET", "/redfish/v1/Systems/1/Processors/GPU1") => {
            Answer::json(200, json!({"ProcessorType": "GPU", "TotalCores": 6912}))
        }
        _ => Answer::redfish_error(404, "Not found."),
    }
}

fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_known_values() {
    assert_eq!(base64_encode(b"admin:password"), "YWRtaW46cGFzc3dvcmQ=");
    assert_eq!(base64_encode(b"ab"), "YWI=");
    assert_eq!(base64_encode(b"abc"), "YWJj");
}
