//! What a request must look like before any handler sees it.
//!
//! - Its `Host`: an open dashboard (loopback, no token) serves only its own loopback address,
//!   `localhost`, and the names the user allowed (`--allow-host`). A page of another site whose
//!   name was rebound to 127.0.0.1 (DNS rebinding) reaches the socket, but its requests carry
//!   that site's name and are refused (421).
//! - Its `Origin` (or, without one, its `Referer`) on a POST (any method but GET, HEAD, OPTIONS): the dashboard's own, or none at all
//!   (a script, not a browser), else 403. Browsers send one on every cross-site POST.
//! - Its path segments: only names of what the route names (a shown engine, a container,
//!   project or service name, a known action), decided here once for every route, so no
//!   traversal, `?`, `#` or encoded `/` reaches a handler (400, or 404 for an unknown engine or
//!   action).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Which `Host` values an open dashboard serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// The bound address; `None` (a router without a socket) accepts any loopback address and
    /// `localhost` on any port.
    pub bound: Option<SocketAddr>,
    /// Further names the user allowed (`--allow-host`), lowercase, on any port.
    pub extra: Vec<String>,
}

/// `host` and port of a `Host` header value (`[::1]:9000`, `localhost`, `Example.org.`),
/// lowercased, without a trailing dot; `None` when it is not a plain authority.
fn split_authority(value: &str) -> Option<(String, Option<u16>)> {
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() || value.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        (inner.to_string(), port)
    } else {
        match value.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (value.clone(), None),
        }
    };
    Some((host.trim_end_matches('.').to_string(), port))
}

impl HostPolicy {
    /// Whether an open dashboard serves a request with this `Host` header value.
    pub fn allows(&self, host_header: &str) -> bool {
        let Some((host, port)) = split_authority(host_header) else {
            return false;
        };
        if self.extra.contains(&host) {
            return true;
        }
        if let Some(bound) = self.bound
            && port != Some(bound.port())
        {
            return false;
        }
        if host == "localhost" {
            return true;
        }
        match (host.parse::<IpAddr>(), self.bound) {
            (Ok(ip), Some(bound)) => {
                ip == bound.ip() || (bound.ip().is_unspecified() && ip.is_loopback())
            }
            (Ok(ip), None) => ip.is_loopback(),
            (Err(_), _) => false,
        }
    }
}

/// The authority (`host[:port]`, lowercase, default port dropped) of an `Origin` or `Referer`
/// value; `None` for `null` or anything that is not an http(s) URL.
fn origin_authority(url: &str) -> Option<String> {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(
        authority
            .strip_suffix(default)
            .unwrap_or(authority)
            .to_string(),
    )
}

/// Whether a POST may go ahead: its `Origin` (or, absent, its `Referer`) names the `Host` it was
/// sent to. With neither it is not a browser's cross-site request and goes ahead.
pub fn same_origin(host: Option<&str>, origin: Option<&str>, referer: Option<&str>) -> bool {
    let Some(claimed) = origin.or(referer) else {
        return true;
    };
    let (Some(claimed), Some(host)) = (origin_authority(claimed), host) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let host = host
        .strip_suffix(":80")
        .or_else(|| host.strip_suffix(":443"))
        .unwrap_or(&host);
    claimed == host
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `Host` and `Origin` checks, for every route.
pub(crate) async fn check_request(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    let host = header(headers, header::HOST);
    // Without a Host header the request is not a browser's (they always send one), so it cannot
    // be a rebinding page.
    if state.auth.is_open()
        && let Some(host) = host
        && !state.host_policy().allows(host)
    {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard is not served under that host name (hoist ui --allow-host NAME \
             allows one)\n",
        )
            .into_response();
    }
    // Every method that may change something (only POST has routes today).
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS].contains(req.method());
    if !safe
        && !same_origin(
            host,
            header(headers, header::ORIGIN),
            header(headers, header::REFERER),
        )
    {
        return (
            StatusCode::FORBIDDEN,
            "cross-site request refused: the Origin is not this dashboard\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// What a path segment must be, by its name in the route.
#[derive(Debug, PartialEq, Eq)]
pub enum Segment {
    Ok,
    /// 400: not a name of what the route names.
    Bad,
    /// 404: a well-formed name that names nothing here.
    Unknown,
}

/// Decides one path segment. `engines` are the shown engines' names.
pub fn check_segment(param: &str, value: &str, engines: &[&str]) -> Segment {
    let name = hoist_docker::ids::is_object_name(value);
    match param {
        "engine" if engines.contains(&value) => Segment::Ok,
        "engine" => Segment::Unknown,
        "action" if ["start", "stop", "restart", "remove"].contains(&value) => Segment::Ok,
        "action" => Segment::Unknown,
        // Containers by name or id, projects, services, runs: Docker's name grammar.
        "id" | "name" | "service" if name => Segment::Ok,
        // A route whose segment has no rule here is refused rather than let through.
        _ => Segment::Bad,
    }
}

/// Checks every path segment of the matched route (see [`check_segment`]).
pub(crate) async fn check_path(
    State(state): State<AppState>,
    params: RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let engines: Vec<&str> = state.engines.iter().map(|e| e.name.as_str()).collect();
    for (param, value) in &params {
        match check_segment(param, value, &engines) {
            Segment::Ok => {}
            Segment::Bad => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("invalid {param} in the path\n"),
                )
                    .into_response();
            }
            Segment::Unknown => {
                return (StatusCode::NOT_FOUND, format!("no such {param}\n")).into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(bound: &str, extra: &[&str]) -> HostPolicy {
        HostPolicy {
            bound: Some(bound.parse().unwrap()),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn an_open_dashboard_serves_only_its_own_host_names() {
        let p = policy("127.0.0.1:9000", &["dash.lan"]);
        for ok in [
            "127.0.0.1:9000",
            "localhost:9000",
            "LOCALHOST:9000",
            "dash.lan",
            "dash.lan:80",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:9000",
            "127.0.0.1:9001",
            "localhost",
            "127.0.0.2:9000",
            "[::1]:9000",
            "127.0.0.1:9000@evil",
            "",
            "localhost.evil.example:9000",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
        let v6 = policy("[::1]:9000", &[]);
        assert!(v6.allows("[::1]:9000"));
        assert!(!v6.allows("127.0.0.1:9000"));
        let any = HostPolicy::default();
        assert!(any.allows("127.0.0.1:1234") && any.allows("localhost"));
        assert!(!any.allows("rebound.example"));
    }

    #[test]
    fn a_post_must_come_from_the_dashboards_own_origin() {
        let h = Some("127.0.0.1:9000");
        assert!(same_origin(h, Some("http://127.0.0.1:9000"), None));
        assert!(same_origin(
            h,
            None,
            Some("http://127.0.0.1:9000/e/cd/containers/x")
        ));
        assert!(same_origin(h, None, None), "a script sends neither");
        assert!(!same_origin(h, Some("http://evil.example"), None));
        assert!(!same_origin(h, Some("null"), None));
        assert!(!same_origin(h, Some("http://127.0.0.1:9001"), None));
        assert!(!same_origin(
            h,
            None,
            Some("https://evil.example/127.0.0.1:9000")
        ));
        // Origin wins over a Referer that would pass.
        assert!(!same_origin(
            h,
            Some("http://evil.example"),
            Some("http://127.0.0.1:9000/")
        ));
        assert!(!same_origin(None, Some("http://127.0.0.1:9000"), None));
        assert!(same_origin(
            Some("dash.lan"),
            Some("https://dash.lan:443"),
            None
        ));
    }

    #[test]
    fn path_segments_are_names_of_what_the_route_names() {
        let engines = ["cd", "prod"];
        assert_eq!(check_segment("engine", "cd", &engines), Segment::Ok);
        assert_eq!(
            check_segment("engine", "staging", &engines),
            Segment::Unknown
        );
        assert_eq!(check_segment("engine", "../cd", &engines), Segment::Unknown);
        assert_eq!(check_segment("action", "stop", &engines), Segment::Ok);
        assert_eq!(
            check_segment("action", "commit", &engines),
            Segment::Unknown
        );
        for param in ["id", "name", "service"] {
            assert_eq!(
                check_segment(param, "books-ms_app.1", &engines),
                Segment::Ok
            );
            for bad in ["../volumes/v", "a?b", "a#", "a%2Fb", "a%252Fb", "", ".."] {
                assert_eq!(check_segment(param, bad, &engines), Segment::Bad, "{bad}");
            }
        }
        assert_eq!(check_segment("other", "x", &engines), Segment::Bad);
    }
}
