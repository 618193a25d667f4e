//! Waiting for storage work: images and volumes change in two steps (the
//! intent is recorded, then the leader's storage executor reports the
//! result), and the API answers after the second.

use crate::node::Node;
use crate::state::{ImageView, State, VolumeView};
use std::time::Duration;
use tonic::Status;

/// How long storage calls wait by default (a clone or copy of a large image
/// takes a while on a busy target).
pub const STORAGE_WAIT: Duration = Duration::from_secs(300);

/// The wait a request asked for (seconds; 0 means the default).
pub fn wait_for(timeout_s: u32) -> Duration {
    match timeout_s {
        0 => STORAGE_WAIT,
        s => Duration::from_secs(u64::from(s)),
    }
}

/// Where a record stands after its pending work.
pub enum Settled<T> {
    /// The work finished; the record as it is now.
    Done(T),
    /// The record is gone (deleted, or its create failed).
    Gone,
}

/// Re-reads the state after every applied change until `check` settles, or
/// the deadline passes (then the work goes on in the background and the
/// error says how to follow it).
pub async fn wait_settled<T>(
    node: &Node,
    timeout: Duration,
    what: &str,
    follow: &str,
    check: impl Fn(&State) -> Option<Settled<T>>,
) -> Result<Settled<T>, Status> {
    let mut events = node.state_machine().subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    node.linearize().await?;
    loop {
        if let Some(settled) = node.state_machine().read(&check) {
            return Ok(settled);
        }
        // A lagged subscriber only means "something changed": re-read.
        if tokio::time::timeout_at(deadline, events.recv())
            .await
            .is_err()
        {
            return Err(Status::deadline_exceeded(format!(
                "{what} is still in progress after {timeout:?}; it keeps going in the background: \
                 follow it with `panctl {follow}`"
            )));
        }
    }
}

/// Waits until volume `id` has no pending work. A failed operation is an
/// error with its reason; a volume that vanished is `Ok(None)` (deleted) or,
/// if its create failed, an error with why.
pub async fn wait_volume(
    node: &Node,
    partition: &str,
    name: &str,
    id: u64,
    timeout: Duration,
) -> Result<Option<VolumeView>, Status> {
    let what = format!("volume '{name}' in partition '{partition}'");
    let follow = format!("volume show {name} --partition {partition}");
    let settled = wait_settled(node, timeout, &what, &follow, |s| {
        match s.volume(partition, name) {
            Ok(v) if v.id == id && v.state == "ready" => Some(Settled::Done(v)),
            Ok(v) if v.id == id => None,
            _ => Some(Settled::Gone),
        }
    })
    .await?;
    match settled {
        Settled::Done(v) => match &v.last_error {
            Some(reason) => Err(Status::failed_precondition(format!("{what}: {reason}"))),
            None => Ok(Some(v)),
        },
        Settled::Gone => match node
            .state_machine()
            .read(|s| s.create_failure(id).map(str::to_string))
        {
            Some(reason) => Err(Status::failed_precondition(format!(
                "could not create {what}: {reason}; nothing was left behind"
            ))),
            _ => Ok(None),
        },
    }
}

/// Waits until image `id` has no pending work; like [`wait_volume`].
pub async fn wait_image(
    node: &Node,
    name: &str,
    id: u64,
    timeout: Duration,
) -> Result<Option<ImageView>, Status> {
    let what = format!("image '{name}'");
    let settled = wait_settled(node, timeout, &what, "image list", |s| {
        match s.image(name) {
            Ok(i) if i.id == id && i.state == "ready" => Some(Settled::Done(i)),
            Ok(i) if i.id == id => None,
            _ => Some(Settled::Gone),
        }
    })
    .await?;
    match settled {
        Settled::Done(i) => match &i.last_error {
            Some(reason) => Err(Status::failed_precondition(format!("{what}: {reason}"))),
            None => Ok(Some(i)),
        },
        Settled::Gone => match node
            .state_machine()
            .read(|s| s.create_failure(id).map(str::to_string))
        {
            Some(reason) => Err(Status::failed_precondition(format!(
                "could not add {what}: {reason}; nothing was left behind"
            ))),
            _ => Ok(None),
        },
    }
}
