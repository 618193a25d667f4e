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

/// A record whose storage work the API waits for.
trait Pending {
    fn id(&self) -> u64;
    fn ready(&self) -> bool;
    fn last_error(&self) -> Option<&str>;
}

impl Pending for VolumeView {
    fn id(&self) -> u64 {
        self.id
    }
    fn ready(&self) -> bool {
        self.state == "ready"
    }
    fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

impl Pending for ImageView {
    fn id(&self) -> u64 {
        self.id
    }
    fn ready(&self) -> bool {
        self.state == "ready"
    }
    fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

/// Re-reads the state after every applied change until record `id` (as
/// `lookup` finds it) has no pending work. A failed operation is an error
/// with its reason; a record that vanished is `Ok(None)` (deleted) or, if
/// its create failed, an error with why. Past the deadline the work goes on
/// in the background and the error says how to follow it.
async fn wait_record<T: Pending>(
    node: &Node,
    id: u64,
    timeout: Duration,
    what: &str,
    follow: &str,
    lookup: impl Fn(&State) -> Option<T>,
) -> Result<Option<T>, Status> {
    let mut events = node.state_machine().subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    node.linearize().await?;
    loop {
        let found = node
            .state_machine()
            .read(|s| lookup(s).filter(|r| r.id() == id));
        match found {
            Some(r) if !r.ready() => {}
            Some(r) => {
                return match r.last_error() {
                    Some(reason) => Err(Status::failed_precondition(format!("{what}: {reason}"))),
                    None => Ok(Some(r)),
                };
            }
            None => {
                let failure = node
                    .state_machine()
                    .read(|s| s.create_failure(id).map(str::to_string));
                return match failure {
                    Some(reason) => Err(Status::failed_precondition(format!(
                        "could not create {what}: {reason}; nothing was left behind"
                    ))),
                    None => Ok(None),
                };
            }
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

/// Waits until volume `id` has no pending work (see [`wait_record`]).
pub async fn wait_volume(
    node: &Node,
    partition: &str,
    name: &str,
    id: u64,
    timeout: Duration,
) -> Result<Option<VolumeView>, Status> {
    let what = format!("volume '{name}' in partition '{partition}'");
    let follow = format!("volume show {name} --partition {partition}");
    wait_record(node, id, timeout, &what, &follow, |s| {
        s.volume(partition, name).ok()
    })
    .await
}

/// Waits until image `id` has no pending work (see [`wait_record`]).
pub async fn wait_image(
    node: &Node,
    name: &str,
    id: u64,
    timeout: Duration,
) -> Result<Option<ImageView>, Status> {
    let what = format!("image '{name}'");
    wait_record(node, id, timeout, &what, "image list", |s| {
        s.image(name).ok()
    })
    .await
}
