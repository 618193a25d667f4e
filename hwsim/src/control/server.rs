//! The control API server (axum). Thin: every route is a lookup plus one
//! call on the rack; bodies are parsed here so a bad body is a 400 with a
//! message, never a panic.

use crate::control::RackInfo;
use crate::model::FaultAction;
use crate::rack::RackInner;
use crate::redfish::parse_reset;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use std::sync::Arc;

/// A JSON answer.
fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the answer: {e}"),
        ),
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn no_blade(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("no blade named {name}; GET /blades lists them"),
    )
}

/// The control API router over a running rack.
pub(crate) fn router(rack: Arc<RackInner>) -> Router {
    Router::new()
        .route("/", get(info))
        .route("/blades", get(blades))
        .route("/blades/{name}", get(blade))
        .route("/blades/{name}/fault", post(fault))
        .route("/blades/{name}/reset", post(reset))
        .route("/ground-truth", get(ground_truth))
        .route("/violations", get(violations))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such control API path; see `hwsim --help`",
            )
        })
        .with_state(rack)
}

async fn info(State(rack): State<Arc<RackInner>>) -> Response {
    let info: RackInfo = rack.info();
    json(StatusCode::OK, &info)
}

async fn blades(State(rack): State<Arc<RackInner>>) -> Response {
    json(StatusCode::OK, &rack.status())
}

async fn blade(State(rack): State<Arc<RackInner>>, Path(name): Path<String>) -> Response {
    match rack.blade(&name) {
        Some(b) => json(StatusCode::OK, &b.status()),
        None => no_blade(&name),
    }
}

async fn fault(
    State(rack): State<Arc<RackInner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(b) = rack.blade(&name) else {
        return no_blade(&name);
    };
    let action: FaultAction = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("bad fault body: {e}; expected e.g. {{\"action\":\"slow\",\"ms\":200}}"),
            );
        }
    };
    match b.fault(action) {
        Ok(status) => json(StatusCode::OK, &status),
        Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn reset(
    State(rack): State<Arc<RackInner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(b) = rack.blade(&name) else {
        return no_blade(&name);
    };
    match parse_reset(&body) {
        Ok(rt) => {
            b.reset(rt);
            json(StatusCode::OK, &b.status())
        }
        Err(e) => json(StatusCode::BAD_REQUEST, &e.body()),
    }
}

async fn ground_truth(State(rack): State<Arc<RackInner>>, RawQuery(query): RawQuery) -> Response {
    let mut since = 0;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("since", v)) => match v.parse() {
                Ok(n) => since = n,
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("since={v} is not a record number"),
                    );
                }
            },
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown query parameter {pair:?}; only since=N"),
                );
            }
        }
    }
    json(StatusCode::OK, &rack.ground_truth.since(since))
}

async fn violations(State(rack): State<Arc<RackInner>>) -> Response {
    json(StatusCode::OK, &rack.ground_truth.violations())
}
