//! Who may look and who may act. On a loopback bind the dashboard may run open (as DockerUI
//! did); anywhere else it needs a token of at least [`MIN_TOKEN`] characters. A successful login
//! gets a session cookie that scripts cannot read (HttpOnly), that other sites cannot make the
//! browser send (SameSite=Strict) and that travels only over HTTPS when the dashboard serves it
//! (Secure); every action additionally needs the session's CSRF token in the form. Sessions end
//! after [`IDLE`] without a request and [`ABSOLUTE`] after login.
//!
//! Wrong tokens (at the login form or as a bearer header) are answered 401, and a client address
//! that keeps guessing is locked out for a while (429). The lock is per client address (an IPv6
//! client by its /64, which one host controls), so a flood of wrong tokens from elsewhere never
//! refuses the right token to anyone else. Both maps are pruned as they are used and bounded, so
//! memory does not grow with the number of clients.
//!
//! Every decision takes the current time as an argument, so the tests move the clock.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "hoist_session";
/// Failed logins allowed per client address within [`WINDOW`] before it is locked out.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Shortest `HOIST_UI_TOKEN` accepted (a generated one has 64 characters).
pub const MIN_TOKEN: usize = 32;
/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// ...and this long after login, however busy.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// Most sessions kept; beyond it the least recently used one ends.
pub const MAX_SESSIONS: usize = 10_000;
/// Most client addresses whose failures are remembered; beyond it the oldest is forgotten.
pub const MAX_TRACKED: usize = 10_000;

/// Whether a bind address needs a token, and the token to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenDecision {
    /// Loopback and no token given: run without a login.
    Open,
    /// Log in with this token.
    Token(String),
    /// Not loopback and no token: refuse to start.
    Refuse,
    /// The configured token has fewer than [`MIN_TOKEN`] characters: refuse to start.
    TooShort(usize),
}

/// Decides the login policy for `bind` from a configured token (`HOIST_UI_TOKEN`) and whether the
/// user asked for one to be generated.
pub fn decide_token(
    bind: &SocketAddr,
    configured: Option<String>,
    generate: bool,
) -> TokenDecision {
    match configured.filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() < MIN_TOKEN => TokenDecision::TooShort(t.chars().count()),
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

/// The key failures are counted under: the address, an IPv6 one by its /64; requests without
/// an address (a router called in-process) share one.
fn client_key(peer: Option<IpAddr>) -> IpAddr {
    match peer {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
        Some(v4) => v4,
        None => IpAddr::from([0, 0, 0, 0]),
    }
}

/// The person (or script) behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Name given at login (or `local` on an open dashboard), with the client address.
    pub who: String,
    /// The token actions must carry.
    pub csrf: String,
}

/// Why a request is not identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No (or no current) session and no bearer token.
    Anonymous,
    /// A wrong bearer token.
    WrongToken,
    /// Too many wrong tokens from this client address; try again after the duration.
    Locked(Duration),
}

#[derive(Debug, Clone)]
struct Session {
    name: String,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) >= IDLE
            || now.saturating_duration_since(self.created) >= ABSOLUTE
    }
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

/// Failed attempts of one client key: since when, how many.
type Failures = HashMap<IpAddr, (Instant, u32)>;

/// Login state of one dashboard.
#[derive(Debug)]
pub struct Auth {
    token: Option<String>,
    /// CSRF token of the open (no-login) dashboard: one per process, unreadable by other sites.
    open_csrf: String,
    /// Cookies carry `Secure`: the dashboard is served over HTTPS.
    secure: AtomicBool,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<Failures>,
}

impl Auth {
    /// `None` runs open.
    pub fn new(token: Option<String>) -> Auth {
        Auth {
            token,
            open_csrf: random_token(),
            secure: AtomicBool::new(false),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_open(&self) -> bool {
        self.token.is_none()
    }

    /// Marks the dashboard as served over HTTPS: cookies get `Secure`.
    pub fn set_secure(&self) {
        self.secure.store(true, Ordering::SeqCst);
    }

    /// The `Set-Cookie` value for a new session.
    pub fn session_cookie(&self, id: &str) -> String {
        format!("{COOKIE}={id}; {}", self.cookie_attributes())
    }

    /// The `Set-Cookie` value that ends the session in the browser.
    pub fn expired_cookie(&self) -> String {
        format!("{COOKIE}=; {}; Max-Age=0", self.cookie_attributes())
    }

    fn cookie_attributes(&self) -> &'static str {
        if self.secure.load(Ordering::SeqCst) {
            "HttpOnly; SameSite=Strict; Secure; Path=/"
        } else {
            "HttpOnly; SameSite=Strict; Path=/"
        }
    }

    /// Who sends a request with this cookie header value (or bearer token), if anyone may.
    pub fn identify(
        &self,
        cookie_header: Option<&str>,
        bearer: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Identity, Refusal> {
        self.identify_at(cookie_header, bearer, peer, Instant::now())
    }

    /// [`Auth::identify`] at `now`.
    pub fn identify_at(
        &self,
        cookie_header: Option<&str>,
        bearer: Option<&str>,
        peer: Option<IpAddr>,
        now: Instant,
    ) -> Result<Identity, Refusal> {
        let from = peer
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown".into());
        let Some(token) = &self.token else {
            return Ok(Identity {
                who: format!("local@{from}"),
                csrf: self.open_csrf.clone(),
            });
        };
        if let Some(b) = bearer {
            // A bearer token is a login attempt like the form's: counted and locked alike.
            return match self.attempt(b, token, peer, now) {
                Login::Locked(wait) => Err(Refusal::Locked(wait)),
                Login::Wrong => Err(Refusal::WrongToken),
                // A browser never adds a bearer header on its own, so a script using the token
                // is not a CSRF vector; it still sends the CSRF value, read from any page.
                Login::Ok(_) => Ok(Identity {
                    who: format!("token@{from}"),
                    csrf: self.open_csrf.clone(),
                }),
            };
        }
        let id = cookie_header
            .and_then(|c| cookie_value(c, COOKIE))
            .ok_or(Refusal::Anonymous)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = sessions.get_mut(id) else {
            return Err(Refusal::Anonymous);
        };
        if s.expired(now) {
            sessions.remove(id);
            return Err(Refusal::Anonymous);
        }
        s.last_seen = now;
        Ok(Identity {
            who: format!("{}@{from}", s.name),
            csrf: s.csrf.clone(),
        })
    }

    /// Checks `given` against `token` for the client at `peer`, counting failures; `Ok` carries
    /// nothing (the caller makes the session).
    fn attempt(&self, given: &str, token: &str, peer: Option<IpAddr>, now: Instant) -> Login {
        let key = client_key(peer);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((since, count)) = failures.get(&key).copied() {
            let age = now.saturating_duration_since(since);
            if age >= WINDOW {
                failures.remove(&key);
            } else if count >= MAX_FAILURES {
                return Login::Locked(WINDOW - age);
            }
        }
        if same(given, token) {
            failures.remove(&key);
            return Login::Ok(String::new());
        }
        if !failures.contains_key(&key) {
            prune_failures(&mut failures, now);
        }
        failures.entry(key).or_insert((now, 0)).1 += 1;
        Login::Wrong
    }

    /// Checks a login; counts failures per client address.
    pub fn login(&self, name: &str, token: &str, peer: Option<IpAddr>) -> Login {
        self.login_at(name, token, peer, Instant::now())
    }

    /// [`Auth::login`] at `now`.
    pub fn login_at(&self, name: &str, given: &str, peer: Option<IpAddr>, now: Instant) -> Login {
        let Some(token) = &self.token else {
            return Login::Wrong;
        };
        match self.attempt(given, token, peer, now) {
            Login::Ok(_) => {}
            other => return other,
        }
        let id = random_token();
        let name: String = name
            .chars()
            .filter(|c| c.is_alphanumeric() || "._-".contains(*c))
            .take(40)
            .collect();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        prune_sessions(&mut sessions, now);
        sessions.insert(
            id.clone(),
            Session {
                name: if name.is_empty() { "user".into() } else { name },
                csrf: random_token(),
                created: now,
                last_seen: now,
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

    /// How many sessions and client addresses are remembered (for tests of the bounds).
    pub fn remembered(&self) -> (usize, usize) {
        (
            self.sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            self.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
        )
    }
}

/// Drops expired sessions and, when still full, the least recently used, leaving room for one.
fn prune_sessions(sessions: &mut HashMap<String, Session>, now: Instant) {
    sessions.retain(|_, s| !s.expired(now));
    while sessions.len() >= MAX_SESSIONS {
        let Some(oldest) = sessions
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(id, _)| id.clone())
        else {
            break;
        };
        sessions.remove(&oldest);
    }
}

/// Drops failures older than the window and, when still full, the oldest, leaving room for one.
fn prune_failures(failures: &mut Failures, now: Instant) {
    failures.retain(|_, (since, _)| now.saturating_duration_since(*since) < WINDOW);
    while failures.len() >= MAX_TRACKED {
        let Some(oldest) = failures
            .iter()
            .min_by_key(|(_, (since, _))| *since)
            .map(|(k, _)| *k)
        else {
            break;
        };
        failures.remove(&oldest);
    }
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

    const RIGHT: &str = "right-token-of-at-least-32-chars!";

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn only_loopback_may_run_without_a_token_and_short_tokens_are_refused() {
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
            decide_token(&addr("10.0.0.5:9000"), Some(RIGHT.into()), false),
            TokenDecision::Token(RIGHT.into())
        );
        assert_eq!(
            decide_token(&addr("127.0.0.1:9000"), Some("t0k".into()), false),
            TokenDecision::TooShort(3)
        );
        assert_eq!(
            decide_token(
                &addr("10.0.0.5:9000"),
                Some("x".repeat(MIN_TOKEN - 1)),
                false
            ),
            TokenDecision::TooShort(MIN_TOKEN - 1)
        );
        assert!(matches!(
            decide_token(&addr("0.0.0.0:9000"), None, true),
            TokenDecision::Token(t) if t.len() == 64
        ));
    }

    #[test]
    fn repeated_wrong_tokens_lock_only_that_address_out_for_the_window() {
        let auth = Auth::new(Some(RIGHT.into()));
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(auth.login_at("x", "wrong", ip(9), t0), Login::Wrong);
        }
        assert!(matches!(
            auth.login_at("x", RIGHT, ip(9), t0),
            Login::Locked(_)
        ));
        // Nobody else is refused the right token because of that flood.
        assert!(matches!(
            auth.login_at("ann", RIGHT, ip(8), t0),
            Login::Ok(_)
        ));
        // After the window the address may try again.
        assert!(matches!(
            auth.login_at("x", RIGHT, ip(9), t0 + WINDOW),
            Login::Ok(_)
        ));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_prefix() {
        let auth = Auth::new(Some(RIGHT.into()));
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            let a: IpAddr = format!("2001:db8:1:2::{}", i + 1).parse().unwrap();
            assert_eq!(auth.login_at("x", "wrong", Some(a), t0), Login::Wrong);
        }
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(matches!(
            auth.login_at("x", RIGHT, Some(same_net), t0),
            Login::Locked(_)
        ));
        assert!(matches!(
            auth.login_at("x", RIGHT, Some(other_net), t0),
            Login::Ok(_)
        ));
    }

    #[test]
    fn bearer_tokens_are_counted_and_locked_like_logins() {
        let auth = Auth::new(Some(RIGHT.into()));
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(
                auth.identify_at(None, Some("wrong"), ip(7), t0),
                Err(Refusal::WrongToken)
            );
        }
        assert!(matches!(
            auth.identify_at(None, Some(RIGHT), ip(7), t0),
            Err(Refusal::Locked(_))
        ));
        // The form is locked for that address too, and nobody else is.
        assert!(matches!(
            auth.login_at("x", RIGHT, ip(7), t0),
            Login::Locked(_)
        ));
        assert!(auth.identify_at(None, Some(RIGHT), ip(6), t0).is_ok());
    }

    #[test]
    fn sessions_end_when_idle_and_after_the_absolute_limit() {
        let auth = Auth::new(Some(RIGHT.into()));
        let t0 = Instant::now();
        let Login::Ok(id) = auth.login_at("ann", RIGHT, None, t0) else {
            panic!("login failed")
        };
        let cookie = format!("other=1; {COOKIE}={id}");
        let who = auth.identify_at(Some(&cookie), None, None, t0).unwrap();
        assert!(who.who.starts_with("ann@"));
        // Idle for just under the limit: still in, and the clock restarts.
        let t1 = t0 + IDLE - Duration::from_secs(1);
        assert!(auth.identify_at(Some(&cookie), None, None, t1).is_ok());
        assert!(
            auth.identify_at(Some(&cookie), None, None, t1 + IDLE)
                .is_err()
        );

        // Busy all the time, it still ends after the absolute limit.
        let Login::Ok(id) = auth.login_at("bob", RIGHT, None, t0) else {
            panic!("login failed")
        };
        let cookie = format!("{COOKIE}={id}");
        let mut t = t0;
        while t + IDLE / 2 < t0 + ABSOLUTE {
            t += IDLE / 2;
            assert!(auth.identify_at(Some(&cookie), None, None, t).is_ok());
        }
        assert_eq!(
            auth.identify_at(Some(&cookie), None, None, t0 + ABSOLUTE),
            Err(Refusal::Anonymous)
        );
    }

    #[test]
    fn the_session_and_failure_maps_are_pruned_and_bounded() {
        let auth = Auth::new(Some(RIGHT.into()));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(matches!(auth.login_at("a", RIGHT, None, t0), Login::Ok(_)));
            assert_eq!(auth.login_at("a", "wrong", ip(i), t0), Login::Wrong);
        }
        assert_eq!(auth.remembered(), (3, 3));
        // Later, a new login and a new failure drop what expired.
        let later = t0 + IDLE;
        assert!(matches!(
            auth.login_at("b", RIGHT, None, later),
            Login::Ok(_)
        ));
        assert_eq!(auth.login_at("b", "wrong", ip(100), later), Login::Wrong);
        assert_eq!(auth.remembered(), (1, 1));
        // A flood from ever new addresses stays within the bound.
        for i in 0..(MAX_TRACKED as u32 + 50) {
            let a = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            auth.login_at("x", "wrong", Some(a), later);
        }
        assert!(auth.remembered().1 <= MAX_TRACKED);
    }

    #[test]
    fn cookies_are_strict_and_http_only_and_secure_under_tls() {
        let auth = Auth::new(Some(RIGHT.into()));
        let plain = auth.session_cookie("abc");
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        auth.set_secure();
        assert!(auth.session_cookie("abc").contains("; Secure"));
        assert!(auth.expired_cookie().contains("; Secure"));
        assert!(auth.expired_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn a_session_cookie_identifies_its_owner_until_logout() {
        let auth = Auth::new(Some(RIGHT.into()));
        let Login::Ok(id) = auth.login("ann", RIGHT, None) else {
            panic!("login failed")
        };
        let cookie = format!("other=1; {COOKIE}={id}");
        assert!(auth.identify(Some(&cookie), None, None).is_ok());
        assert!(
            auth.identify(Some("hoist_session=nope"), None, None)
                .is_err()
        );
        assert!(auth.identify(None, Some(RIGHT), None).is_ok());
        auth.logout(Some(&cookie));
        assert!(auth.identify(Some(&cookie), None, None).is_err());
    }
}
