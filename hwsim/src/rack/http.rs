//! The HTTP face of a BMC (axum): converts an HTTP request into a
//! [`RedfishRequest`], lets the blade serve it, and converts the
//! [`RedfishResponse`] back, adding `OData-Version: 4.0` and
//! `Content-Type: application/json; charset=utf-8`. Nothing else.

use crate::rack::blade::BladeCell;
use crate::redfish::{RedfishRequest, RedfishResponse};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves one BMC on `listener` until `shutdown` turns true.
pub(crate) async fn serve_bmc(
    listener: TcpListener,
    cell: Arc<BladeCell>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new().fallback(handle).with_state(cell);
    let listener = listener.tap_io(|tcp| {
        // Latency matters more than throughput for BMC round trips.
        let _ = tcp.set_nodelay(true);
    });
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "BMC server stopped");
    }
}

async fn handle(
    State(cell): State<Arc<BladeCell>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let req = RedfishRequest {
        method,
        path: uri.path().to_owned(),
        auth_token: header("x-auth-token"),
        authorization: header("authorization"),
        if_match: header("if-match"),
        body: body.to_vec(),
    };
    into_http(cell.serve(req).await)
}

fn into_http(resp: RedfishResponse) -> Response {
    let mut builder = Response::builder()
        .status(resp.status)
        .header("OData-Version", "4.0")
        .header(header::CACHE_CONTROL, "no-cache");
    for (name, value) in &resp.headers {
        builder = builder.header(*name, value);
    }
    let built = match &resp.body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Body::from(serde_json::to_vec(body).unwrap_or_default())),
        None => builder.body(Body::empty()),
    };
    built.unwrap_or_else(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot build the BMC answer",
        )
            .into_response()
    })
}
