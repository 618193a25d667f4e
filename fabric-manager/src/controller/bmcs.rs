//! One Redfish client per blade BMC, kept so sessions are reused, and
//! rebuilt when the blade's address or credentials change.

use crate::bmc::{Bmc, BmcError, Credentials, Endpoint, Limits, RedfishBmc, Tls};
use crate::state::BmcTarget;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Blade name -> (address and credentials it was made for, client).
type Clients = HashMap<String, (String, Arc<RedfishBmc>)>;

/// The shared BMC clients of one manager process.
#[derive(Clone)]
pub struct BmcPool {
    limits: Limits,
    tls: Tls,
    clients: Arc<Mutex<Clients>>,
}

impl BmcPool {
    /// A pool whose clients share `limits` (the global request limit).
    pub fn new(limits: Limits, tls: Tls) -> Self {
        BmcPool {
            limits,
            tls,
            clients: Arc::default(),
        }
    }

    /// The client for `target`'s BMC.
    pub fn get(&self, target: &BmcTarget) -> Result<Arc<RedfishBmc>, BmcError> {
        // Any change of address or credentials gives a new client (and session).
        let key = client_key(target);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((k, client)) = clients.get(&target.blade)
            && *k == key
        {
            return Ok(client.clone());
        }
        let client = Arc::new(self.connect(&target.url, &target.user, &target.password.0)?);
        if let Some((_, old)) = clients.insert(target.blade.clone(), (key, client.clone())) {
            tokio::spawn(async move {
                let _ = old.close().await;
            });
        }
        Ok(client)
    }

    /// A one-off client (enrolment, discovery) sharing the pool's limits.
    pub fn connect(&self, url: &str, user: &str, password: &str) -> Result<RedfishBmc, BmcError> {
        RedfishBmc::new(
            Endpoint::new(url).with_tls(self.tls.clone()),
            Credentials::new(user, password),
            &self.limits,
        )
    }

    /// Forgets the clients of blades not in `keep`.
    pub fn retain(&self, keep: &[String]) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|blade, _| keep.contains(blade));
    }
}

/// What a client was made for: address, user and a digest of the password
/// (the password itself is not kept twice in memory).
fn client_key(target: &BmcTarget) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(target.password.0.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}\n{}\n{hex}", target.url, target.user)
}
