//! Who may use the desk: a login with the desk password, in-memory sessions behind a cookie
//! (`HttpOnly`, `SameSite=Strict`), a CSRF token per session on every form, and the
//! security headers of every answer.
//!
//! The password is a [`Secret`] read from `password_file`; it is compared by digest in
//! constant time and never logged, stored or echoed. A person gives a name at login: the
//! audit trail records changes as `desk:NAME` (one shared password cannot tell people
//! apart, so the name is what they say they are). Sessions live in this process: a
//! restart asks everyone to log in again.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::header::{HeaderMap, HeaderValue, COOKIE};
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// The session cookie's name.
pub(super) const SESSION_COOKIE: &str = "desk_session";

/// The cookie of the login form's CSRF token (before there is a session).
pub(super) const LOGIN_COOKIE: &str = "desk_login";

/// A session unused for this long ends.
const IDLE: Duration = Duration::from_secs(12 * 3600);

/// The Content-Security-Policy of every page: nothing but this origin's own files, no inline
/// script or style, no framing, forms only to this origin.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One logged-in person.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// The name given at login.
    pub(super) name: String,
    /// The token every form of this session carries.
    pub(super) csrf: String,
    last_seen: Instant,
}

impl Session {
    /// The audit trail's name for this person.
    pub(super) fn actor(&self) -> String {
        format!("desk:{}", self.name)
    }
}

/// The password and the sessions.
pub(super) struct Gate {
    password_digest: [u8; 32],
    sessions: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Gate {
    pub(super) fn new(password: &Secret) -> Self {
        Self {
            password_digest: digest(password.expose()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `given` is the desk password (constant time over the digests).
    pub(super) fn password_matches(&self, given: &str) -> bool {
        same(&digest(given), &self.password_digest)
    }

    /// Starts a session for `name`; returns its id (the cookie's value).
    pub(super) fn open(&self, name: &str) -> String {
        let id = token();
        let session = Session {
            name: name.to_owned(),
            csrf: token(),
            last_seen: Instant::now(),
        };
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.last_seen.elapsed() < IDLE);
        sessions.insert(id.clone(), session);
        id
    }

    /// The session the request's cookie names, if it is live.
    pub(super) fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = self.lock();
        let session = sessions.get_mut(&id)?;
        if session.last_seen.elapsed() >= IDLE {
            sessions.remove(&id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    /// Ends the request's session.
    pub(super) fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            self.lock().remove(&id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a form's token is the expected one (constant time).
pub(super) fn csrf_matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| same(&digest(g), &digest(expected)))
}

/// A cookie's value from the request.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, for the whole desk.
pub(super) fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// 32 random bytes from the operating system, as hex.
pub(super) fn token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator failing is not something to carry on from.
    assert!(
        getrandom::fill(&mut bytes).is_ok(),
        "the operating system's random number generator failed"
    );
    bytes.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Equal, looking at every byte whatever the first difference.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_checked_and_never_printed() {
        let gate = Gate::new(&Secret::new("correct horse"));
        assert!(gate.password_matches("correct horse"));
        assert!(!gate.password_matches("correct hors"));
        assert!(!format!("{gate:?}").contains("horse"));
    }

    #[test]
    fn sessions_come_from_their_cookie() {
        let gate = Gate::new(&Secret::new("pw"));
        let id = gate.open("Ann");
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("other=1; {SESSION_COOKIE}={id}")).unwrap(),
        );
        let s = gate.session(&headers).unwrap();
        assert_eq!(s.actor(), "desk:Ann");
        assert!(csrf_matches(&s.csrf, Some(&s.csrf)));
        assert!(!csrf_matches(&s.csrf, None));
        gate.close(&headers);
        assert!(gate.session(&headers).is_none());
        assert_eq!(token().len(), 64);
    }
}
