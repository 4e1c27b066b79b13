//! Who may look and who may act. On a loopback bind the dashboard may run open (as DockerUI
//! did); anywhere else it needs a token. A successful login gets a session cookie that scripts
//! cannot read (HttpOnly) and that other sites cannot make the browser send (SameSite=Strict);
//! every action additionally needs the session's CSRF token in the form. Wrong tokens are
//! answered 401, and a client that keeps guessing is locked out for a while (429).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "hoist_session";
/// Failed logins allowed per client address within [`WINDOW`] before it is locked out.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);

/// Whether a bind address needs a token, and the token to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenDecision {
    /// Loopback and no token given: run without a login.
    Open,
    /// Log in with this token.
    Token(String),
    /// Not loopback and no token: refuse to start.
    Refuse,
}

/// Decides the login policy for `bind` from a configured token (`HOIST_UI_TOKEN`) and whether the
/// user asked for one to be generated.
pub fn decide_token(
    bind: &SocketAddr,
    configured: Option<String>,
    generate: bool,
) -> TokenDecision {
    match configured.filter(|t| !t.is_empty()) {
        Some(t) => TokenDecision::Token(t),
        None if generate => TokenDecision::Token(random_token()),
        None if bind.ip().is_loopback() => TokenDecision::Open,
        None => TokenDecision::Refuse,
    }
}

/// 256 random bits, hex-encoded.
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Compares without stopping at the first difference, so timing tells nothing about the token.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The person (or script) behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Name given at login (or `local` on an open dashboard), with the client address.
    pub who: String,
    /// The token actions must carry.
    pub csrf: String,
}

#[derive(Debug, Clone)]
struct Session {
    name: String,
    csrf: String,
}

/// The outcome of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Set this session id as the cookie.
    Ok(String),
    Wrong,
    /// Too many failures from this address; try again after the duration.
    Locked(Duration),
}

/// Login state of one dashboard.
#[derive(Debug)]
pub struct Auth {
    token: Option<String>,
    /// CSRF token of the open (no-login) dashboard: one per process, unreadable by other sites.
    open_csrf: String,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Auth {
    /// `None` runs open.
    pub fn new(token: Option<String>) -> Auth {
        Auth {
            token,
            open_csrf: random_token(),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_open(&self) -> bool {
        self.token.is_none()
    }

    /// Who sends a request with this cookie header value (or bearer token), if anyone may.
    pub fn identify(
        &self,
        cookie_header: Option<&str>,
        bearer: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Option<Identity> {
        let from = peer
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into());
        let Some(token) = &self.token else {
            return Some(Identity {
                who: format!("local@{from}"),
                csrf: self.open_csrf.clone(),
            });
        };
        if let Some(b) = bearer
            && same(b, token)
        {
            // A browser never adds a bearer header on its own, so a script using the token is
            // not a CSRF vector; it still sends the CSRF value, read from any page, like a form.
            return Some(Identity {
                who: format!("token@{from}"),
                csrf: self.open_csrf.clone(),
            });
        }
        let id = cookie_value(cookie_header?, COOKIE)?;
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let s = sessions.get(id)?;
        Some(Identity {
            who: format!("{}@{from}", s.name),
            csrf: s.csrf.clone(),
        })
    }

    /// Checks a login; counts failures per client address.
    pub fn login(&self, name: &str, token: &str, peer: Option<IpAddr>) -> Login {
        let key = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((since, count)) = failures.get(&key).copied() {
            if now.duration_since(since) >= WINDOW {
                failures.remove(&key);
            } else if count >= MAX_FAILURES {
                return Login::Locked(WINDOW - now.duration_since(since));
            }
        }
        let ok = self.token.as_deref().is_some_and(|t| same(token, t));
        if !ok {
            let entry = failures.entry(key).or_insert((now, 0));
            entry.1 += 1;
            return Login::Wrong;
        }
        failures.remove(&key);
        let id = random_token();
        let name: String = name
            .chars()
            .filter(|c| c.is_alphanumeric() || "._-".contains(*c))
            .take(40)
            .collect();
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                Session {
                    name: if name.is_empty() { "user".into() } else { name },
                    csrf: random_token(),
                },
            );
        Login::Ok(id)
    }

    pub fn logout(&self, cookie_header: Option<&str>) {
        if let Some(id) = cookie_header.and_then(|c| cookie_value(c, COOKIE)) {
            self.sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
        }
    }
}

/// The cookie header for a new session.
pub fn session_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/")
}

fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_loopback_may_run_without_a_token() {
        assert_eq!(
            decide_token(&addr("127.0.0.1:9000"), None, false),
            TokenDecision::Open
        );
        assert_eq!(
            decide_token(&addr("[::1]:9000"), None, false),
            TokenDecision::Open
        );
        assert_eq!(
            decide_token(&addr("0.0.0.0:9000"), None, false),
            TokenDecision::Refuse
        );
        assert_eq!(
            decide_token(&addr("10.0.0.5:9000"), Some("t0k".into()), false),
            TokenDecision::Token("t0k".into())
        );
        assert!(matches!(
            decide_token(&addr("0.0.0.0:9000"), None, true),
            TokenDecision::Token(t) if t.len() == 64
        ));
    }

    #[test]
    fn repeated_wrong_tokens_lock_the_address_out() {
        let auth = Auth::new(Some("right".into()));
        let peer = Some(IpAddr::from([10, 0, 0, 9]));
        for _ in 0..MAX_FAILURES {
            assert_eq!(auth.login("x", "wrong", peer), Login::Wrong);
        }
        assert!(matches!(auth.login("x", "right", peer), Login::Locked(_)));
        // Another address is not affected.
        assert!(matches!(
            auth.login("ann", "right", Some(IpAddr::from([10, 0, 0, 8]))),
            Login::Ok(_)
        ));
    }

    #[test]
    fn a_session_cookie_identifies_its_owner() {
        let auth = Auth::new(Some("right".into()));
        let Login::Ok(id) = auth.login("ann", "right", None) else {
            panic!("login failed")
        };
        let cookie = format!("other=1; {COOKIE}={id}");
        let who = auth.identify(Some(&cookie), None, None).unwrap();
        assert!(who.who.starts_with("ann@"));
        assert!(
            auth.identify(Some("hoist_session=nope"), None, None)
                .is_none()
        );
        assert!(auth.identify(None, Some("right"), None).is_some());
        auth.logout(Some(&cookie));
        assert!(auth.identify(Some(&cookie), None, None).is_none());
    }
}
