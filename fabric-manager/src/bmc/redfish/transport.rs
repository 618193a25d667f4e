//! HTTP to one BMC: the reqwest client with the endpoint's TLS setting,
//! the per-BMC and global concurrency limits, per-request timeouts,
//! retries with exponential backoff, capped response bodies, and the
//! classification of transport failures into [`ErrorKind`]s.
//!
//! It knows nothing of Redfish resources or sessions; it sends what it is
//! given (with the credentials or token it is given) and returns the
//! status, headers and body.
//!
//! Retries: a request is sent again after HTTP 409, 429 or 503 (the BMC
//! said it did nothing and is busy) and after a failure to connect (the
//! request never left). A timeout or a connection dropped after sending is
//! retried only for requests marked idempotent, because the BMC may have
//! carried them out. Attempts and total time are bounded by
//! [`RetryPolicy`](super::config::RetryPolicy); the wait doubles each time,
//! with ±25 % jitter so that many BMCs behind one failed switch are not
//! retried in lockstep, and honours `Retry-After` up to the policy's cap.

use super::config::{Credentials, Endpoint, Limits, Tls};
use crate::bmc::error::{ErrorKind, clean_text};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, IF_MATCH, RETRY_AFTER};
use reqwest::{Method, Url, redirect};
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Statuses that mean "busy, nothing done, try again".
const RETRY_STATUSES: [u16; 3] = [409, 429, 503];
/// Redirects followed per request (same host only).
const MAX_REDIRECTS: usize = 5;

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    Basic(&'a Credentials),
    Token(&'a HeaderValue),
}

/// One request to send (perhaps several times).
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: &'a Url,
    /// A JSON body.
    pub body: Option<&'a [u8]>,
    pub auth: Auth<'a>,
    pub if_match: Option<&'a HeaderValue>,
    /// May be repeated after a timeout or a dropped connection.
    pub idempotent: bool,
}

/// The BMC's answer (any status).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub attempts: u32,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request that got no answer.
#[derive(Debug)]
pub(crate) struct Failure {
    pub kind: ErrorKind,
    pub attempts: u32,
}

/// HTTP to one BMC. Cheap to clone (the client and semaphores are shared).
#[derive(Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    /// `scheme://host[:port]/`.
    origin: Url,
    per_bmc: Arc<Semaphore>,
    global: Arc<Semaphore>,
    limits: Limits,
}

impl Transport {
    /// Validates the endpoint and builds its client. The error is a
    /// [`ErrorKind::Config`] whose text never repeats the URL's userinfo.
    pub fn new(endpoint: &Endpoint, limits: &Limits) -> Result<Transport, ErrorKind> {
        let origin = origin_of(&endpoint.url)?;
        let same_host = origin.clone();
        let policy = redirect::Policy::custom(move |attempt| {
            let next = attempt.url();
            let downgrade = same_host.scheme() == "https" && next.scheme() != "https";
            if attempt.previous().len() > MAX_REDIRECTS
                || next.host_str() != same_host.host_str()
                || downgrade
            {
                // Stopping hands the 3xx to the caller, which reports it.
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .redirect(policy)
            .connect_timeout(limits.connect_timeout)
            .pool_max_idle_per_host(limits.per_bmc.max(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("pan-fabric-manager/", env!("CARGO_PKG_VERSION")));
        match &endpoint.tls {
            Tls::Verify => {}
            Tls::CustomCa { pem } => {
                let certs =
                    reqwest::Certificate::from_pem_bundle(pem).map_err(|e| ErrorKind::Config {
                        detail: format!("the CA certificate is not PEM: {}", chain(&e)),
                    })?;
                if certs.is_empty() {
                    return Err(ErrorKind::Config {
                        detail: "the CA bundle holds no certificate".to_string(),
                    });
                }
                builder = builder.tls_built_in_root_certs(false);
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            Tls::Insecure => builder = builder.danger_accept_invalid_certs(true),
        }
        let client = builder.build().map_err(|e| ErrorKind::Config {
            detail: format!("cannot build the HTTP client: {}", chain(&e)),
        })?;
        Ok(Transport {
            client,
            origin,
            per_bmc: Arc::new(Semaphore::new(limits.per_bmc.max(1))),
            global: limits.global(),
            limits: limits.clone(),
        })
    }

    /// `scheme://host[:port]/`, the base of every link.
    pub fn origin(&self) -> &Url {
        &self.origin
    }

    /// The BMC's name in errors: its origin without the trailing slash.
    pub fn name(&self) -> String {
        self.origin.as_str().trim_end_matches('/').to_string()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sends `call`, retrying as the module docs say. Any HTTP status is
    /// an answer (`Ok`), including the last busy one when retries run out.
    pub async fn send(&self, call: &Call<'_>) -> Result<Reply, Failure> {
        let policy = &self.limits.retry;
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = self.send_once(call).await;
            let (retry, retry_after) = match &result {
                Ok(reply) => (
                    RETRY_STATUSES.contains(&reply.status),
                    reply
                        .header(RETRY_AFTER.as_str())
                        .and_then(parse_retry_after),
                ),
                Err(kind) => (worth_retrying(kind, call.idempotent), None),
            };
            // Cap before jitter: a BMC's Retry-After may be absurdly large.
            let base = policy
                .backoff(attempts)
                .max(retry_after.unwrap_or_default())
                .min(policy.max_backoff);
            let delay = jitter(base).min(policy.max_backoff);
            if !retry
                || attempts >= policy.max_attempts.max(1)
                || start.elapsed() + delay > policy.max_total
            {
                return match result {
                    Ok(mut reply) => {
                        reply.attempts = attempts;
                        Ok(reply)
                    }
                    Err(kind) => Err(Failure { kind, attempts }),
                };
            }
            tracing::debug!(
                bmc = %self.name(),
                method = %call.method,
                path = call.url.path(),
                attempt = attempts,
                ?delay,
                outcome = %match &result {
                    Ok(reply) => format!("HTTP {}", reply.status),
                    Err(kind) => kind.to_string(),
                },
                "retrying BMC request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<Reply, ErrorKind> {
        // Per BMC first, so a queue for one slow BMC holds no global permit.
        let closed = |_| ErrorKind::Transport {
            detail: "the request limiter was closed".to_string(),
        };
        let _bmc = self.per_bmc.acquire().await.map_err(closed)?;
        let _all = self.global.acquire().await.map_err(closed)?;

        let mut request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .timeout(self.limits.request_timeout)
            .header(ACCEPT, "application/json")
            .header("OData-Version", "4.0");
        request = match call.auth {
            Auth::None => request,
            Auth::Basic(c) => request.basic_auth(&c.user, Some(&c.password.0)),
            Auth::Token(t) => request.header("X-Auth-Token", t.clone()),
        };
        if let Some(body) = call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        if let Some(etag) = call.if_match {
            request = request.header(IF_MATCH, etag.clone());
        }

        let mut response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = self.limits.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(ErrorKind::BodyTooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(ErrorKind::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
            attempts: 1,
        })
    }

    /// Sorts a reqwest failure into an [`ErrorKind`].
    fn classify(&self, e: &reqwest::Error) -> ErrorKind {
        if let Some(detail) = tls_failure(e) {
            return ErrorKind::Tls { detail };
        }
        if e.is_timeout() {
            let connecting = e.is_connect();
            let after = if connecting {
                self.limits.connect_timeout
            } else {
                self.limits.request_timeout
            };
            return ErrorKind::Timeout { after, connecting };
        }
        if e.is_connect() {
            if io_kind(e) == Some(std::io::ErrorKind::ConnectionRefused) {
                return ErrorKind::ConnectionRefused;
            }
            return ErrorKind::Connect { detail: chain(e) };
        }
        ErrorKind::Transport { detail: chain(e) }
    }
}

/// Whether a failure without an answer is worth another attempt.
fn worth_retrying(kind: &ErrorKind, idempotent: bool) -> bool {
    match kind {
        // The request never reached the BMC.
        ErrorKind::ConnectionRefused | ErrorKind::Connect { .. } => true,
        ErrorKind::Timeout {
            connecting: true, ..
        } => true,
        // It may have: only if doing it twice is harmless.
        ErrorKind::Timeout { .. } | ErrorKind::Transport { .. } => idempotent,
        _ => false,
    }
}

/// Validates a BMC URL and reduces it to `scheme://host[:port]/`.
pub(crate) fn origin_of(url: &str) -> Result<Url, ErrorKind> {
    let parsed = Url::parse(url.trim()).map_err(|e| ErrorKind::Config {
        detail: format!("the BMC URL is not a URL ({e})"),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Never echo the URL: it holds a secret.
        return Err(ErrorKind::Config {
            detail: "the BMC URL carries credentials; give them separately".to_string(),
        });
    }
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ErrorKind::Config {
            detail: format!(
                "{:?} is not an http:// or https:// URL with a host",
                parsed.as_str()
            ),
        });
    }
    let origin = parsed.origin().ascii_serialization();
    Url::parse(&format!("{origin}/")).map_err(|e| ErrorKind::Config {
        detail: format!("the BMC URL's origin {origin:?} is not a URL ({e})"),
    })
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// ±25 % of `d` (`d` itself should the product not be a duration).
fn jitter(d: Duration) -> Duration {
    let factor = 0.75 + rand::random::<f64>() * 0.5;
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(d)
}

/// The sources of an error joined with ": ", cleaned for display. The
/// top-level reqwest message (which repeats the URL) is left out when
/// there is a more specific cause.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = next_cause(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = next_cause(err);
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    clean_text(&parts.join(": ")).unwrap_or_else(|| "unknown error".to_string())
}

/// The next error down the chain. An `io::Error` wrapping another error
/// hides it from `source()` (which skips to the wrapped error's source), so
/// step into it explicitly: TLS errors arrive as an `io::Error` wrapping an
/// `io::Error` wrapping the `rustls::Error`.
fn next_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return Some(inner);
    }
    err.source()
}

/// The TLS error in the chain, if there is one.
fn tls_failure(e: &(dyn StdError + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return clean_text(&t.to_string());
        }
        cur = next_cause(err);
    }
    None
}

/// The kind of the innermost I/O error in the chain.
fn io_kind(e: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    let mut kind = None;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        cur = next_cause(err);
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_drops_paths_and_refuses_credentials() {
        assert_eq!(
            origin_of("https://10.0.0.21/redfish/v1/").unwrap().as_str(),
            "https://10.0.0.21/"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8000").unwrap().as_str(),
            "http://127.0.0.1:8000/"
        );
        let err = origin_of("https://root:hunter2@10.0.0.21").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(matches!(
            origin_of("ftp://10.0.0.21"),
            Err(ErrorKind::Config { .. })
        ));
        assert!(matches!(
            origin_of("not a url"),
            Err(ErrorKind::Config { .. })
        ));
    }

    #[test]
    fn only_unsent_or_idempotent_requests_are_retried() {
        assert!(worth_retrying(&ErrorKind::ConnectionRefused, false));
        let read_timeout = ErrorKind::Timeout {
            after: Duration::from_secs(1),
            connecting: false,
        };
        assert!(worth_retrying(&read_timeout, true));
        assert!(!worth_retrying(&read_timeout, false));
        assert!(!worth_retrying(
            &ErrorKind::Tls {
                detail: String::new()
            },
            true
        ));
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(750) && d <= Duration::from_millis(1250));
        }
        // No overflow panic at the extremes.
        let _ = jitter(Duration::MAX);
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
