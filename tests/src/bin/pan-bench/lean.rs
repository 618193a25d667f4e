//! A lean unary gRPC client for the write benchmark.
//!
//! The load generator shares the machine's two cores with the cluster it
//! measures, so every microsecond it spends per call is taken from the
//! members. tonic's `Channel` routes each call through a buffer task, a
//! tower stack and hyper's client dispatcher (≈ 22 µs of CPU per call
//! here); this client speaks the same gRPC-over-HTTP/2 wire protocol
//! straight on the `h2` crate: one HEADERS and one DATA frame out, the
//! reply's message decoded and its `grpc-status` checked. The manager
//! cannot tell the two apart; `pan-bench writes --client tonic` measures
//! with tonic's client for comparison.
//!
//! Since session 8 the default client is `frames.rs` (its own HTTP/2
//! frames, cheaper still); this one is `--client lean`. The gRPC message
//! framing and status helpers here serve both.

use anyhow::{Context as _, Result};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use tokio::net::TcpStream;

/// One HTTP/2 connection to a member; clones share it.
#[derive(Clone)]
pub struct LeanClient {
    send: h2::client::SendRequest<Bytes>,
    authority: http::uri::Authority,
    authorization: HeaderValue,
}

/// A failed call: the gRPC status code and message, or a transport error.
#[derive(Debug)]
pub struct CallError(pub String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl LeanClient {
    /// Opens a connection to `addr` (HOST:PORT, plain HTTP/2) whose calls
    /// carry `token` as their bearer token.
    pub async fn connect(addr: &str, token: &str) -> Result<LeanClient> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        tcp.set_nodelay(true)?;
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(1024 * 1024)
            .initial_connection_window_size(4 * 1024 * 1024)
            .handshake::<_, Bytes>(tcp)
            .await
            .with_context(|| format!("HTTP/2 handshake with {addr}"))?;
        tokio::spawn(async move {
            // Ends when every clone is dropped or the member goes away;
            // calls in flight then fail with the reason.
            let _ = connection.await;
        });
        Ok(LeanClient {
            send,
            authority: addr
                .parse()
                .with_context(|| format!("{addr} is not HOST:PORT"))?,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))
                .context("a token must be printable ASCII")?,
        })
    }

    /// One unary call of `method` (e.g. `/pan.v1.Fabric/CreateServer`):
    /// the decoded reply, or the status the member answered.
    pub async fn unary<Req: prost::Message, Rep: prost::Message + Default>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<Rep, CallError> {
        let transport = |e: h2::Error| CallError(format!("transport: {e}"));
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(method)
            .build()
            .map_err(|e| CallError(format!("bad method path {method:?}: {e}")))?;
        let mut http = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(())
            .map_err(|e| CallError(e.to_string()))?;
        let headers = http.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("authorization", self.authorization.clone());

        let frame = grpc_message(request)?;

        let mut send = self.send.clone().ready().await.map_err(transport)?;
        let (reply, mut stream) = send.send_request(http, false).map_err(transport)?;
        stream.send_data(frame.freeze(), true).map_err(transport)?;
        let reply = reply.await.map_err(transport)?;
        if reply.status() != http::StatusCode::OK {
            return Err(CallError(format!("HTTP status {}", reply.status())));
        }
        // An error may come as a trailers-only reply: the status is in the
        // headers.
        if let Some(err) = grpc_error(reply.headers()) {
            return Err(err);
        }
        let mut body = reply.into_body();
        let mut message = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(transport)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            message.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(transport)?;
        trailer_status(&trailers.ok_or_else(|| CallError("reply without trailers".into()))?)?;
        decode(message.freeze())
    }
}

/// `request` as one gRPC message: an uncompressed flag, a 4-byte
/// big-endian length, the body.
pub(crate) fn grpc_message(request: &impl prost::Message) -> Result<BytesMut, CallError> {
    let len = request.encoded_len();
    let mut message = BytesMut::with_capacity(5 + len);
    message.put_u8(0);
    message.put_u32(u32::try_from(len).map_err(|_| CallError("request too large".into()))?);
    request
        .encode(&mut message)
        .map_err(|e| CallError(e.to_string()))?;
    Ok(message)
}

/// The error a gRPC status header carries (none for status 0 or no header).
fn grpc_error(headers: &HeaderMap) -> Option<CallError> {
    let code = headers.get("grpc-status")?.to_str().unwrap_or("?");
    if code == "0" {
        return None;
    }
    Some(header_status_error(headers, code))
}

/// The status of a reply's trailers: an error unless `grpc-status` is 0.
fn trailer_status(trailers: &HeaderMap) -> Result<(), CallError> {
    match trailers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or("?"))
    {
        Some("0") => Ok(()),
        Some(code) => Err(header_status_error(trailers, code)),
        None => Err(CallError("reply trailers without grpc-status".into())),
    }
}

fn header_status_error(headers: &HeaderMap, code: &str) -> CallError {
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or("");
    status_error(code, message)
}

/// The error a gRPC status `code` (its decimal text) and `grpc-message`
/// (percent-encoded on the wire) describe.
pub(crate) fn status_error(code: &str, message: &str) -> CallError {
    CallError(format!(
        "{}: {}",
        tonic::Code::from_bytes(code.as_bytes()),
        percent_decoded(message)
    ))
}

/// `text` with its `%XX` escapes decoded (gRPC's `grpc-message` encoding).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The one message of a unary reply.
pub(crate) fn decode<Rep: prost::Message + Default>(mut body: Bytes) -> Result<Rep, CallError> {
    if body.len() < 5 || body[0] != 0 {
        return Err(CallError(
            "reply is not one uncompressed gRPC message".into(),
        ));
    }
    body.advance(1);
    let len = body.get_u32() as usize;
    if body.len() != len {
        return Err(CallError(format!(
            "reply message announces {len} bytes, carries {}",
            body.len()
        )));
    }
    Rep::decode(body).map_err(|e| CallError(format!("undecodable reply: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(
            super::percent_decoded("server%20's7'%20exists;%2"),
            "server 's7' exists;%2"
        );
        assert_eq!(super::percent_decoded("%e2%9c%93 ok%zz"), "✓ ok%zz");
        assert_eq!(super::percent_decoded("%+f"), "%+f");
    }
}
