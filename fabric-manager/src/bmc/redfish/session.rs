//! Authentication to one BMC: one Redfish session, reused by every request
//! and re-created once when the BMC answers 401 to its token; HTTP Basic
//! when the BMC has no session service.
//!
//! Login is single-flight: the auth state sits behind an async mutex, so
//! concurrent requests that find no session (or a rejected one) wait for
//! one login instead of opening one each. The password is sent only in the
//! session POST body or the Basic header, and the token is kept as a
//! sensitive header value; neither is logged or shown by `Debug`.

use super::RedfishBmc;
use super::parse::{self, ServiceRoot};
use super::transport::{Auth as SendAuth, Call};
use crate::bmc::BmcError;
use crate::bmc::error::Operation;
use reqwest::header::{HeaderValue, LOCATION};
use reqwest::{Method, Url};

/// How requests to this BMC authenticate.
#[derive(Clone, Default)]
pub(crate) enum AuthState {
    /// Not decided yet (no request made, or the session was closed).
    #[default]
    Unknown,
    /// HTTP Basic on every request: the BMC has no session service.
    Basic,
    /// A Redfish session.
    Session {
        token: HeaderValue,
        /// The session resource, deleted on close.
        uri: Option<Url>,
    },
}

impl AuthState {
    fn token(&self) -> Option<&HeaderValue> {
        match self {
            AuthState::Session { token, .. } => Some(token),
            _ => None,
        }
    }
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthState::Unknown => f.write_str("Unknown"),
            AuthState::Basic => f.write_str("Basic"),
            AuthState::Session { uri, .. } => f
                .debug_struct("Session")
                .field("token", &"<redacted>")
                .field("uri", &uri.as_ref().map(Url::as_str))
                .finish(),
        }
    }
}

impl RedfishBmc {
    /// The current way to authenticate, logging in first if undecided.
    pub(super) async fn current_auth(&self) -> Result<AuthState, BmcError> {
        let mut auth = self.auth.lock().await;
        if matches!(*auth, AuthState::Unknown) {
            *auth = self.login().await?;
        }
        Ok(auth.clone())
    }

    /// Called after a 401 to `rejected`: opens a new session unless another
    /// request already did, and returns the auth to retry with.
    pub(super) async fn relogin(&self, rejected: &HeaderValue) -> Result<AuthState, BmcError> {
        let mut auth = self.auth.lock().await;
        if auth.token() == Some(rejected) || matches!(*auth, AuthState::Unknown) {
            tracing::info!(bmc = %self.name, "the BMC rejected the session token; logging in again");
            *auth = AuthState::Unknown;
            *auth = self.login().await?;
        }
        Ok(auth.clone())
    }

    /// Decides how to authenticate: a session when the service root names
    /// a session collection and the BMC creates one, Basic when there is no
    /// session service (or it answers 404/405/501 to the POST).
    async fn login(&self) -> Result<AuthState, BmcError> {
        let root = self.service_root().await?;
        let Some(sessions) = sessions_link(&root) else {
            tracing::debug!(bmc = %self.name, "no session service; using HTTP Basic");
            return Ok(AuthState::Basic);
        };
        let op = Operation::Login;
        let url = self.resolve(&op, &sessions)?;
        let body = serde_json::json!({
            "UserName": self.credentials.user,
            "Password": self.credentials.password.0,
        })
        .to_string();
        let call = Call {
            method: Method::POST,
            url: &url,
            body: Some(body.as_bytes()),
            auth: SendAuth::None,
            if_match: None,
            idempotent: false,
        };
        let reply = self
            .transport
            .send(&call)
            .await
            .map_err(|f| self.error(&op, f.kind, f.attempts))?;
        match reply.status {
            404 | 405 | 501 => {
                tracing::debug!(
                    bmc = %self.name,
                    status = reply.status,
                    "the BMC does not create sessions; using HTTP Basic"
                );
                return Ok(AuthState::Basic);
            }
            s if !(200..300).contains(&s) => return Err(self.status_error(&op, &reply)),
            _ => {}
        }
        let Some(mut token) = reply
            .headers
            .get("X-Auth-Token")
            .filter(|t| !t.is_empty())
            .cloned()
        else {
            tracing::warn!(
                bmc = %self.name,
                "the BMC created a session without an X-Auth-Token; using HTTP Basic"
            );
            return Ok(AuthState::Basic);
        };
        token.set_sensitive(true);
        // The session's URI: the Location header, else the body's @odata.id.
        let location = reply
            .header(LOCATION.as_str())
            .map(str::to_string)
            .or_else(|| {
                parse::parse_session(&reply.body)
                    .ok()
                    .and_then(|s| s.odata_id)
            });
        let uri = location.and_then(|l| match self.resolve(&op, &l) {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::warn!(bmc = %self.name, error = %e, "ignoring the session's location");
                None
            }
        });
        tracing::debug!(bmc = %self.name, "opened a Redfish session");
        Ok(AuthState::Session { token, uri })
    }

    /// Deletes the session, if there is one; later calls log in again.
    pub(super) async fn logout(&self) -> Result<(), BmcError> {
        let mut auth = self.auth.lock().await;
        let previous = std::mem::take(&mut *auth);
        let AuthState::Session {
            token,
            uri: Some(uri),
        } = previous
        else {
            return Ok(());
        };
        let op = Operation::Logout;
        let call = Call {
            method: Method::DELETE,
            url: &uri,
            body: None,
            auth: SendAuth::Token(&token),
            if_match: None,
            idempotent: true,
        };
        let reply = self
            .transport
            .send(&call)
            .await
            .map_err(|f| self.error(&op, f.kind, f.attempts))?;
        // Gone already (expired, or the BMC restarted) is fine.
        if reply.is_success() || matches!(reply.status, 401 | 404) {
            Ok(())
        } else {
            Err(self.status_error(&op, &reply))
        }
    }

    /// The auth to send with: maps the state to the transport's form.
    pub(super) fn send_auth<'a>(&'a self, state: &'a AuthState) -> SendAuth<'a> {
        match state {
            AuthState::Unknown => SendAuth::None,
            AuthState::Basic => SendAuth::Basic(&self.credentials),
            AuthState::Session { token, .. } => SendAuth::Token(token),
        }
    }
}

/// Where to POST a session: `Links.Sessions`, else the session service's
/// conventional `Sessions` member.
fn sessions_link(root: &ServiceRoot) -> Option<String> {
    if let Some(link) = root.links.as_ref().and_then(|l| l.sessions.as_ref()) {
        return Some(link.odata_id.clone());
    }
    root.session_service
        .as_ref()
        .map(|s| format!("{}/Sessions", s.odata_id.trim_end_matches('/')))
}

/// Exposed for the drop path, which cannot borrow `self` across a spawn.
pub(super) fn take_session(state: &mut AuthState) -> Option<(HeaderValue, Url)> {
    match std::mem::take(state) {
        AuthState::Session {
            token,
            uri: Some(uri),
        } => Some((token, uri)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmc::redfish::parse::{Link, ServiceRootLinks};

    #[test]
    fn sessions_link_prefers_links_then_the_service() {
        let mut root = ServiceRoot::default();
        assert_eq!(sessions_link(&root), None);
        root.session_service = Some(Link {
            odata_id: "/redfish/v1/SessionService/".into(),
        });
        assert_eq!(
            sessions_link(&root).as_deref(),
            Some("/redfish/v1/SessionService/Sessions")
        );
        root.links = Some(ServiceRootLinks {
            sessions: Some(Link {
                odata_id: "/redfish/v1/Sess".into(),
            }),
        });
        assert_eq!(sessions_link(&root).as_deref(), Some("/redfish/v1/Sess"));
    }

    #[test]
    fn debug_hides_the_token() {
        let mut token = HeaderValue::from_static("tok-secret-123");
        token.set_sensitive(true);
        let s = AuthState::Session { token, uri: None };
        assert!(!format!("{s:?}").contains("secret"));
    }
}
