//! Client of the control API over plain HTTP/1.1 (hyper), one connection
//! per call, every call bounded by a timeout.

use crate::control::{BladeStatus, RackInfo};
use crate::error::Error;
use crate::ground_truth::{GroundTruthRecord, Violation};
use crate::model::{FaultAction, ResetType};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;
use tokio::net::TcpStream;

/// A control API client for the rack at `addr` (`127.0.0.1:8399`).
#[derive(Clone, Debug)]
pub struct ControlClient {
    addr: String,
    timeout: Duration,
}

impl ControlClient {
    /// A client with a 10 s timeout per call.
    pub fn new(addr: impl Into<String>) -> ControlClient {
        ControlClient {
            addr: addr.into(),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> ControlClient {
        self.timeout = timeout;
        self
    }

    pub async fn info(&self) -> Result<RackInfo, Error> {
        self.call(Method::GET, "/", None).await
    }

    pub async fn blades(&self) -> Result<Vec<BladeStatus>, Error> {
        self.call(Method::GET, "/blades", None).await
    }

    pub async fn blade(&self, name: &str) -> Result<BladeStatus, Error> {
        self.call(Method::GET, &format!("/blades/{name}"), None)
            .await
    }

    pub async fn fault(&self, name: &str, action: &FaultAction) -> Result<BladeStatus, Error> {
        let body = serde_json::to_vec(action).unwrap_or_default();
        self.call(Method::POST, &format!("/blades/{name}/fault"), Some(body))
            .await
    }

    pub async fn reset(&self, name: &str, reset: ResetType) -> Result<BladeStatus, Error> {
        let body = json!({ "ResetType": reset.as_str() })
            .to_string()
            .into_bytes();
        self.call(Method::POST, &format!("/blades/{name}/reset"), Some(body))
            .await
    }

    /// Ground-truth records with `seq >= since`.
    pub async fn ground_truth(&self, since: u64) -> Result<Vec<GroundTruthRecord>, Error> {
        self.call(Method::GET, &format!("/ground-truth?since={since}"), None)
            .await
    }

    pub async fn violations(&self) -> Result<Vec<Violation>, Error> {
        self.call(Method::GET, "/violations", None).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        let exchange = self.exchange(method.clone(), path, body);
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::ControlTimeout {
                addr: self.addr.clone(),
                method: method.to_string(),
                path: path.to_owned(),
                timeout: self.timeout,
            })??;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").cloned())
                .map(|e| match e {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(Error::ControlStatus {
                method: method.to_string(),
                path: path.to_owned(),
                status,
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::ControlDecode {
            method: method.to_string(),
            path: path.to_owned(),
            source,
        })
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), Error> {
        let http_err = |source| Error::ControlHttp {
            addr: self.addr.clone(),
            method: method.to_string(),
            path: path.to_owned(),
            source,
        };
        let stream =
            TcpStream::connect(&self.addr)
                .await
                .map_err(|source| Error::ControlConnect {
                    addr: self.addr.clone(),
                    source,
                })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http_err)?;
        let conn = tokio::spawn(conn);
        let req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, &self.addr)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())));
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                conn.abort();
                return Err(Error::ControlStatus {
                    method: method.to_string(),
                    path: path.to_owned(),
                    status: 0,
                    message: format!("invalid request: {e}"),
                });
            }
        };
        let result = async {
            let resp = sender.send_request(req).await.map_err(http_err)?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(http_err)?
                .to_bytes();
            Ok((status, bytes))
        }
        .await;
        conn.abort();
        result
    }
}
