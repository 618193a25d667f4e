//! Principals (who may call the API) and partition quotas.
//!
//! A principal record holds only its token's salted hash; the API handler
//! issues the token from fresh randomness outside the state machine and
//! hands it to the caller once. The state keeps a key id → principal index
//! so authentication is one lookup and one constant-time digest compare
//! (`partitions::verify` decides). Revoking or deleting the last usable
//! fabric-admin is refused: it would lock every administrator out.
//!
//! Quotas are checked in the validation step of every command that grows a
//! partition (server, volume, volume bytes, network, blade), from usage the
//! index keeps. Still pure: no I/O, no clock, no randomness here.

use super::push_event as push;
use super::{
    Event, Executed, Made, PrincipalView, State, StateError, check_name, invalid, not_found,
};
use pan_api::{PartitionId, PoolId};
use partitions::{
    AuthnError, Principal, Quota, QuotaRequest, Role, TokenHash, Usage, check_quota, verify,
};
use std::collections::BTreeSet;

impl State {
    // ------------------------------------------------------------ quotas

    /// What partition `id` uses now, as its quotas count it.
    pub(super) fn usage(&self, id: PartitionId) -> Usage {
        let len = |n: Option<usize>| n.unwrap_or(0) as u64;
        Usage {
            servers: len(self.index.partition_servers.get(&id).map(BTreeSet::len)),
            volumes: len(self.index.partition_volumes.get(&id).map(BTreeSet::len)),
            volume_bytes: self
                .index
                .partition_volume_bytes
                .get(&id)
                .copied()
                .unwrap_or(0),
            networks: len(self.index.partition_networks.get(&id).map(BTreeSet::len)),
            blades: len(self.index.partition_placed.get(&id).map(BTreeSet::len)),
        }
    }

    /// The partition that pool `pool` is dedicated to, if any.
    pub(super) fn dedicated_to(&self, pool: PoolId) -> Option<PartitionId> {
        let name = &self.pools.get(&pool)?.name;
        self.partitions
            .values()
            .find(|p| p.quota.dedicated_pool.as_ref() == Some(name))
            .map(|p| p.id)
    }

    /// Why partition `partition`'s dedicated pool (its own, or another
    /// partition's) keeps its servers off `blade`, or `None`. Never names
    /// another partition: the reason may reach a tenant.
    pub(super) fn dedication_conflict(
        &self,
        blade: &super::model::Blade,
        partition: PartitionId,
    ) -> Option<String> {
        let own = self.partitions[&partition].quota.dedicated_pool.as_deref();
        let pool_name = blade
            .pool
            .and_then(|p| self.pools.get(&p))
            .map(|p| p.name.as_str());
        match (own, pool_name) {
            (Some(own), Some(pool)) if own == pool => None,
            (Some(own), _) => Some(format!(
                "not in partition '{}''s dedicated pool '{own}'",
                self.partitions[&partition].name
            )),
            (None, Some(pool)) => blade
                .pool
                .and_then(|p| self.dedicated_to(p))
                .map(|_| format!("its pool '{pool}' is dedicated to another partition")),
            (None, None) => None,
        }
    }

    /// Refuses `request` if it would take partition `id` over a quota.
    pub(super) fn check_quota(
        &self,
        id: PartitionId,
        request: &QuotaRequest,
    ) -> Result<(), StateError> {
        let p = &self.partitions[&id];
        check_quota(&p.name, &p.quota, &self.usage(id), request).map_err(|e| {
            StateError::Exhausted {
                detail: e.to_string(),
            }
        })
    }

    pub(super) fn set_quota(
        &mut self,
        partition: &str,
        quota: &Quota,
        events: &mut Vec<Event>,
    ) -> Executed {
        let id = self.partition_id(partition)?;
        quota
            .validate()
            .map_err(|e| invalid(format!("partition '{partition}'"), "quota", e.to_string()))?;
        if let Some(pool) = &quota.dedicated_pool {
            let pool_id = self.pool_id(pool)?;
            if let Some(other) = self.dedicated_to(pool_id).filter(|owner| *owner != id) {
                return Err(StateError::InUse {
                    object: format!("pool '{pool}'"),
                    users: format!(
                        "it is dedicated to partition '{}'",
                        self.partitions[&other].name
                    ),
                    remedy: "dedicate another pool, or clear that partition's dedicated pool \
                             first (`panctl partition set-quota`)"
                        .to_string(),
                });
            }
        }
        self.partitions.get_mut(&id).expect("looked up").quota = quota.clone();
        push(
            events,
            "partition.quota_set",
            format!("partition/{partition}"),
            Some(partition),
        );
        Ok(Made::Partition(id))
    }

    // ------------------------------------------------------------ principals

    fn principal_record(&self, name: &str) -> Result<&Principal, StateError> {
        self.principals
            .get(name)
            .ok_or_else(|| not_found(format!("principal '{name}'"), "principal list"))
    }

    /// Refuses a token whose key id another principal's token already has:
    /// authentication finds principals by key id.
    fn check_key_id_free(&self, name: &str, token: &TokenHash) -> Result<(), StateError> {
        match self.index.principal_by_key.get(&token.key_id) {
            Some(holder) if holder != name => Err(invalid(
                format!("principal '{name}'"),
                "token",
                format!(
                    "its key id {} is already used by another principal's token; issue a new \
                     token (retry the request)",
                    token.key_id
                ),
            )),
            _ => Ok(()),
        }
    }

    fn check_expiry(name: &str, expires_at_ms: Option<u64>, at_ms: u64) -> Result<(), StateError> {
        match expires_at_ms {
            Some(at) if at <= at_ms => Err(invalid(
                format!("principal '{name}'"),
                "expiry",
                format!(
                    "the token would expire at {at} ms, not after now ({at_ms} ms); give an \
                     expiry in the future or none"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Whether `p` can act as fabric-admin at `at_ms`.
    fn usable_admin(p: &Principal, at_ms: u64) -> bool {
        p.has_role(&Role::FabricAdmin) && !p.revoked && !p.is_expired(at_ms)
    }

    /// Refuses to take principal `name` out of use if it is the last usable
    /// fabric-admin.
    fn check_not_last_admin(&self, name: &str, what: &str, at_ms: u64) -> Result<(), StateError> {
        let target = &self.principals[name];
        if !Self::usable_admin(target, at_ms) {
            return Ok(());
        }
        let others = self
            .principals
            .values()
            .any(|p| p.name != name && Self::usable_admin(p, at_ms));
        if others {
            return Ok(());
        }
        Err(StateError::InvalidTransition {
            object: format!("principal '{name}'"),
            state: "the last usable fabric-admin".to_string(),
            remedy: format!(
                "{what} it would lock every administrator out; create or rotate another \
                 fabric-admin first"
            ),
        })
    }

    pub(super) fn create_principal(
        &mut self,
        principal: &Principal,
        bootstrap: bool,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let name = &principal.name;
        let object = format!("principal '{name}'");
        if bootstrap && !self.principals.is_empty() {
            return Err(StateError::InvalidTransition {
                object: "the fabric".to_string(),
                state: "already bootstrapped".to_string(),
                remedy: "principals already exist; bootstrap only creates the first \
                         fabric-admin, so nothing was changed (create more with \
                         `panctl principal create`)"
                    .to_string(),
            });
        }
        check_name("principal", name)?;
        if self.principals.contains_key(name) {
            return Err(StateError::AlreadyExists { object });
        }
        if principal.roles.is_empty() {
            return Err(invalid(
                object,
                "roles",
                "it has none; give at least one (fabric-admin, operator, \
                 partition-admin:<partition> or partition-viewer:<partition>)"
                    .to_string(),
            ));
        }
        for role in &principal.roles {
            role.validate()
                .map_err(|e| invalid(object.clone(), "roles", e.to_string()))?;
            if let Some(p) = role.partition() {
                self.partition_id(p)?;
            }
        }
        Self::check_expiry(name, principal.expires_at_ms, at_ms)?;
        if bootstrap && !Self::usable_admin(principal, at_ms) {
            return Err(invalid(
                object,
                "roles",
                "the bootstrap principal must be a fabric-admin that is not revoked".to_string(),
            ));
        }
        self.check_key_id_free(name, &principal.token)?;
        let mut record = principal.clone();
        record.roles.sort();
        record.roles.dedup();
        self.index
            .principal_by_key
            .insert(record.token.key_id, name.clone());
        self.principals.insert(name.clone(), record);
        let kind = if bootstrap {
            "principal.bootstrapped"
        } else {
            "principal.created"
        };
        push(events, kind, format!("principal/{name}"), None);
        Ok(Made::Principal(name.to_string()))
    }

    pub(super) fn rotate_principal(
        &mut self,
        name: &str,
        token: &TokenHash,
        expires_at_ms: Option<u64>,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let old_key = self.principal_record(name)?.token.key_id;
        Self::check_expiry(name, expires_at_ms, at_ms)?;
        self.check_key_id_free(name, token)?;
        self.index.principal_by_key.remove(&old_key);
        self.index
            .principal_by_key
            .insert(token.key_id, name.to_string());
        let p = self.principals.get_mut(name).expect("looked up");
        p.token = token.clone();
        p.expires_at_ms = expires_at_ms;
        p.revoked = false;
        push(
            events,
            "principal.rotated",
            format!("principal/{name}"),
            None,
        );
        Ok(Made::Principal(name.to_string()))
    }

    pub(super) fn revoke_principal(
        &mut self,
        name: &str,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        self.principal_record(name)?;
        self.check_not_last_admin(name, "revoking", at_ms)?;
        self.principals.get_mut(name).expect("looked up").revoke();
        push(
            events,
            "principal.revoked",
            format!("principal/{name}"),
            None,
        );
        Ok(Made::Principal(name.to_string()))
    }

    pub(super) fn delete_principal(
        &mut self,
        name: &str,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        self.principal_record(name)?;
        self.check_not_last_admin(name, "deleting", at_ms)?;
        let p = self.principals.remove(name).expect("looked up");
        self.index.principal_by_key.remove(&p.token.key_id);
        push(
            events,
            "principal.deleted",
            format!("principal/{name}"),
            None,
        );
        Ok(Made::Deleted)
    }

    /// Refuses to delete partition `partition` while principals hold roles
    /// on it: a recreated partition of the same name would inherit them.
    pub(super) fn check_no_principal_roles_on(&self, partition: &str) -> Result<(), StateError> {
        let holders: Vec<&str> = self
            .principals
            .values()
            .filter(|p| p.roles.iter().any(|r| r.partition() == Some(partition)))
            .map(|p| p.name.as_str())
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = holders.iter().take(5).copied().collect();
        let more = holders.len() - shown.len();
        Err(StateError::InUse {
            object: format!("partition '{partition}'"),
            users: format!(
                "{} principal(s) with roles on it ({}{})",
                holders.len(),
                shown.join(", "),
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            ),
            remedy: "delete those principals first (`panctl principal delete`)".to_string(),
        })
    }

    pub(super) fn principal_view(&self, name: &str) -> PrincipalView {
        let p = &self.principals[name];
        PrincipalView {
            name: p.name.clone(),
            roles: p.roles.iter().map(ToString::to_string).collect(),
            revoked: p.revoked,
            created_at_ms: p.created_at_ms,
            expires_at_ms: p.expires_at_ms,
            token_key_id: p.token.key_id.to_string(),
        }
    }

    // ------------------------------------------------------------ queries

    /// The principal whose current token is `presented`, if it may still be
    /// used at `now_ms`. Found by key id through the index; the secret is
    /// compared in constant time and revoked/expired are decided by
    /// [`partitions::verify`].
    pub fn authenticate(&self, presented: &str, now_ms: u64) -> Result<&Principal, AuthnError> {
        let token = partitions::parse(presented)?;
        let principal = self
            .index
            .principal_by_key
            .get(&token.key_id)
            .and_then(|name| self.principals.get(name))
            .ok_or(AuthnError::Unknown {
                key_id: token.key_id,
            })?;
        verify(presented, std::slice::from_ref(principal), now_ms)
    }

    /// Every principal, in name order, without token hashes.
    pub fn principals(&self) -> Vec<PrincipalView> {
        self.principals
            .keys()
            .map(|name| self.principal_view(name))
            .collect()
    }

    /// One principal by name.
    pub fn principal(&self, name: &str) -> Result<PrincipalView, StateError> {
        self.principal_record(name)?;
        Ok(self.principal_view(name))
    }

    /// Whether any principal exists (the fabric has been bootstrapped).
    pub fn has_principals(&self) -> bool {
        !self.principals.is_empty()
    }
}
