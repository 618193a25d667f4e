//! How to reach one BMC ([`Endpoint`], [`Credentials`]) and the limits
//! shared by all of them ([`Limits`], [`RetryPolicy`]).

use crate::state::Secret;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Where a BMC is and how to trust it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The BMC's base URL, `https://host[:port]` (or `http://` for
    /// simulators). A path, if any, is ignored: Redfish lives at
    /// `/redfish/v1/`. Credentials in the URL are refused.
    pub url: String,
    pub tls: Tls,
}

impl Endpoint {
    /// An endpoint that verifies TLS against the system's trust store.
    pub fn new(url: impl Into<String>) -> Endpoint {
        Endpoint {
            url: url.into(),
            tls: Tls::Verify,
        }
    }

    /// The same endpoint with another TLS setting.
    pub fn with_tls(mut self, tls: Tls) -> Endpoint {
        self.tls = tls;
        self
    }
}

/// How to check a BMC's TLS certificate. BMCs commonly ship self-signed
/// certificates, hence the two ways out; verification is the default.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Tls {
    /// Verify the certificate and host name against the system's trust
    /// store.
    #[default]
    Verify,
    /// Verify the certificate and host name against these CA certificates
    /// (PEM, one or more) only.
    CustomCa { pem: Vec<u8> },
    /// Accept any certificate. Only for trusted management networks: a man
    /// in the middle would see the BMC password.
    Insecure,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tls::Verify => f.write_str("Verify"),
            Tls::CustomCa { pem } => write!(f, "CustomCa({} bytes of PEM)", pem.len()),
            Tls::Insecure => f.write_str("Insecure"),
        }
    }
}

/// A BMC account. `Debug` shows the user only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            user: user.into(),
            password: Secret(password.into()),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// When to give up on a request that failed in a way worth repeating
/// (HTTP 409, 429 and 503, connection failures, and — for requests that may
/// be repeated safely — timeouts and dropped connections).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles each time.
    pub initial_backoff: Duration,
    /// The longest single wait (a `Retry-After` header is capped to it).
    pub max_backoff: Duration,
    /// No new attempt starts once this much time has passed since the
    /// first one.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_total: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based), before
    /// jitter: `initial_backoff · 2^(attempt-1)`, at most `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Limits shared by every BMC the manager talks to. Make one per manager
/// and clone it into each [`RedfishBmc`](super::RedfishBmc): clones share
/// the global semaphore.
#[derive(Clone, Debug)]
pub struct Limits {
    global: Arc<Semaphore>,
    /// Requests in flight to one BMC (BMCs are small computers; most
    /// handle two or three concurrent requests well, and fail beyond).
    pub per_bmc: usize,
    /// The whole request, connecting through reading the body.
    pub request_timeout: Duration,
    /// Establishing the TCP and TLS connection.
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Larger response bodies are refused (and not read further).
    pub max_body_bytes: usize,
    /// Ethernet interfaces and processors read per inventory, at most.
    pub max_members: usize,
}

impl Limits {
    /// Default limits with at most `global` requests in flight to all BMCs.
    pub fn new(global: usize) -> Limits {
        Limits {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_bmc: 2,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            max_body_bytes: 4 * 1024 * 1024,
            max_members: 32,
        }
    }

    /// The semaphore all BMCs share.
    pub(crate) fn global(&self) -> Arc<Semaphore> {
        self.global.clone()
    }
}

impl Default for Limits {
    /// 64 requests in flight to all BMCs, 2 per BMC, 10 s per request.
    fn default() -> Self {
        Limits::new(64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            max_total: Duration::from_secs(10),
        };
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(p.backoff(4), Duration::from_millis(700));
        assert_eq!(p.backoff(200), Duration::from_millis(700));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Credentials::new("admin", "hunter2-secret");
        let shown = format!("{c:?}");
        assert!(shown.contains("admin"));
        assert!(!shown.contains("hunter2"));
    }
}
