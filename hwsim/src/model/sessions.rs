//! The BMC's Redfish session table: login with user name and password, a
//! bounded number of concurrent sessions (a full table refuses new logins
//! with 503 `SessionLimitExceeded`, as real BMCs do), idle timeout, logout.
//!
//! Tokens are random (UUID v4); everything else is deterministic.

use crate::redfish::RedfishError;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// The BMC account. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    /// Whether `user`/`password` are this account.
    pub fn matches(&self, user: &str, password: &str) -> bool {
        self.user == user && self.password == password
    }
}

impl Default for Credentials {
    /// `admin` / `password`.
    fn default() -> Self {
        Credentials::new("admin", "password")
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

/// One open session.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The member id in `/redfish/v1/SessionService/Sessions/{id}`.
    pub id: String,
    /// The `X-Auth-Token`.
    pub token: String,
    pub user: String,
    pub last_used: Instant,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The sessions of one BMC.
#[derive(Clone, Debug)]
pub struct SessionTable {
    sessions: Vec<Session>,
    next_id: u64,
    /// Concurrent sessions allowed.
    pub limit: usize,
    /// A session unused this long is closed (`SessionTimeout`).
    pub timeout: Duration,
}

impl SessionTable {
    pub fn new(limit: usize, timeout: Duration) -> SessionTable {
        SessionTable {
            sessions: Vec::new(),
            next_id: 1,
            limit,
            timeout,
        }
    }

    /// Closes sessions idle for `timeout` or longer.
    pub fn expire(&mut self, now: Instant) {
        let timeout = self.timeout;
        self.sessions
            .retain(|s| now.saturating_duration_since(s.last_used) < timeout);
    }

    /// Logs in. 401 on wrong credentials, 503 when every slot is taken.
    pub fn create(
        &mut self,
        account: &Credentials,
        user: &str,
        password: &str,
        uri: &str,
        now: Instant,
    ) -> Result<Session, RedfishError> {
        if !account.matches(user, password) {
            return Err(RedfishError::login_failed(uri));
        }
        self.expire(now);
        if self.sessions.len() >= self.limit {
            return Err(RedfishError::session_limit_exceeded());
        }
        let session = Session {
            id: self.next_id.to_string(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            user: user.to_owned(),
            last_used: now,
        };
        self.next_id += 1;
        self.sessions.push(session.clone());
        Ok(session)
    }

    /// The session holding `token`, if it is open; marks it used.
    pub fn authenticate(&mut self, token: &str, now: Instant) -> Option<&Session> {
        self.expire(now);
        let s = self.sessions.iter_mut().find(|s| s.token == token)?;
        s.last_used = now;
        Some(s)
    }

    /// Logs out session `id`; false when there is none.
    pub fn delete(&mut self, id: &str) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|s| s.id != id);
        self.sessions.len() != before
    }

    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.id == id)
    }

    pub fn list(&self) -> &[Session] {
        &self.sessions
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "/redfish/v1/SessionService/Sessions";

    #[test]
    fn login_checks_credentials_and_tokens_authenticate() {
        let acct = Credentials::default();
        let now = Instant::now();
        let mut t = SessionTable::new(2, Duration::from_secs(60));
        let err = t.create(&acct, "admin", "wrong", URI, now).unwrap_err();
        assert_eq!(err.status, 401);
        let s = t.create(&acct, "admin", "password", URI, now).unwrap();
        assert_eq!(
            t.authenticate(&s.token, now).map(|s| s.id.clone()),
            Some(s.id.clone())
        );
        assert!(t.authenticate("nope", now).is_none());
        assert!(t.delete(&s.id));
        assert!(!t.delete(&s.id));
        assert!(t.authenticate(&s.token, now).is_none());
    }

    #[test]
    fn a_full_table_refuses_with_503_until_a_session_ends() {
        let acct = Credentials::default();
        let now = Instant::now();
        let mut t = SessionTable::new(2, Duration::from_secs(60));
        let a = t.create(&acct, "admin", "password", URI, now).unwrap();
        t.create(&acct, "admin", "password", URI, now).unwrap();
        let err = t.create(&acct, "admin", "password", URI, now).unwrap_err();
        assert_eq!(err.status, 503);
        assert_eq!(err.code(), "Base.1.8.SessionLimitExceeded");
        t.delete(&a.id);
        let c = t.create(&acct, "admin", "password", URI, now).unwrap();
        assert_ne!(c.id, a.id, "ids are not reused");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn idle_sessions_expire_and_use_keeps_them_open() {
        let acct = Credentials::default();
        let t0 = Instant::now();
        let mut t = SessionTable::new(1, Duration::from_secs(30));
        let s = t.create(&acct, "admin", "password", URI, t0).unwrap();
        assert!(
            t.authenticate(&s.token, t0 + Duration::from_secs(20))
                .is_some()
        );
        assert!(
            t.authenticate(&s.token, t0 + Duration::from_secs(49))
                .is_some()
        );
        assert!(
            t.authenticate(&s.token, t0 + Duration::from_secs(79))
                .is_none()
        );
        assert!(t.is_empty());
        t.create(
            &acct,
            "admin",
            "password",
            URI,
            t0 + Duration::from_secs(80),
        )
        .unwrap();
    }

    #[test]
    fn debug_hides_secrets() {
        let acct = Credentials::new("root", "hunter2");
        assert!(!format!("{acct:?}").contains("hunter2"));
        let mut t = SessionTable::new(1, Duration::from_secs(30));
        let s = t
            .create(&acct, "root", "hunter2", URI, Instant::now())
            .unwrap();
        assert!(!format!("{s:?}").contains(&s.token));
    }
}
