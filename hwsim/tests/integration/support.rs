//! Shared helpers: HTTP clients with timeouts, Redfish calls with Basic
//! auth, polling with a deadline.

use hwsim::{Rack, RackConfig};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "password";

/// A plain-HTTP client whose every request gives up after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client")
}

/// A rack of `blades` on ephemeral ports with a fast boot.
pub async fn rack(blades: u32) -> Rack {
    let mut config = RackConfig::new(blades);
    config.timing.boot_delay = Duration::from_millis(50);
    config.timing.shutdown_delay = Duration::from_millis(20);
    Rack::start(config).await.expect("rack starts")
}

/// GET `url` with Basic auth; status, headers and JSON body.
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = client
        .get(url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// POST JSON with Basic auth; status and body (Null when empty).
pub async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let resp = client
        .post(url)
        .basic_auth(USER, Some(PASSWORD))
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Polls `check` until it yields a value or `timeout` passes.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
