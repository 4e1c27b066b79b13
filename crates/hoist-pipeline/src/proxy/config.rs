//! The proxy's routing table as plain data, and the nginx configuration it renders to.
//!
//! Everything here is pure: the table is edited in memory, checked, and rendered to text; the
//! engine part (`super`) only moves that text into the container. The table itself is stored in
//! the proxy container beside the configuration (the engine is the database), so any hoist that
//! reaches the target sees the same routes.
//!
//! A route points at an upstream by name, and upstreams are kept apart from routes so that a
//! blue-green release can hold two upstreams (`books-ms-blue`, `books-ms-green`) and switch the
//! route from one to the other with [`ProxyConfig::switch`], as the book's chapter 13 switches
//! its consul-template output while the location block never changes.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// What a route matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// A path prefix on the default server (`/api/v1/books`), as the book's
    /// `nginx-includes.conf` does.
    PathPrefix(String),
    /// Every path of requests for a host name (`books.example.com`).
    Host(String),
}

/// A route: requests matching `matcher` go to the upstream named `upstream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Unique in the table; usually the service's name.
    pub name: String,
    pub matcher: Match,
    pub upstream: String,
    /// Extra nginx directives inside the route's `location`, without the trailing `;`
    /// (`proxy_read_timeout 5s`). [`check_directive`] keeps each one a simple directive (no
    /// nginx syntax in its words); nginx checks the rest, so a wrong one is rejected by `nginx -t`.
    #[serde(default)]
    pub directives: Vec<String>,
    /// Host names a path route is also served for, in servers of their own (over HTTPS when
    /// the table has their certificate), besides the default server. Set by the integrate
    /// step; kept when a release switches the route ([`ProxyConfig::set_route`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// A named set of servers (`host:port`) that nginx balances over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    pub name: String,
    pub servers: Vec<String>,
    /// The servers are names the container network's DNS answers with the current set of
    /// addresses (a Swarm service with `endpoint_mode: dnsrr`): nginx asks again every second
    /// and balances over every address it gets, instead of resolving once at reload.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolve: bool,
}

impl Upstream {
    pub fn new<I, S>(name: impl Into<String>, servers: I) -> Upstream
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Upstream {
            name: name.into(),
            servers: servers.into_iter().map(Into::into).collect(),
            resolve: false,
        }
    }

    /// An upstream of one DNS name (`app:8080`) resolved while nginx runs (see `resolve`).
    pub fn resolved(name: impl Into<String>, server: impl Into<String>) -> Upstream {
        Upstream {
            name: name.into(),
            servers: vec![server.into()],
            resolve: true,
        }
    }
}

/// The whole routing table of one proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyConfig {
    pub routes: Vec<Route>,
    pub upstreams: Vec<Upstream>,
    /// The certificates installed for host routes: a host route with one is served over HTTPS,
    /// and its plain HTTP requests are redirected there (all but ACME's challenge path).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    /// Routes in maintenance: each answers 503 with its page (`MAINTENANCE_DIR/<route>.html`)
    /// instead of reaching its service. Releases switching the route leave it so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<String>,
}

/// Where the proxy keeps certificates, keys and the ACME account: the proxy's volume, so they
/// outlive the container and every machine that reaches the target finds them.
pub const TLS_DIR: &str = "/etc/nginx/hoist/tls";
/// Where the pages of routes in maintenance are (`<route>.html`).
pub const MAINTENANCE_DIR: &str = "/etc/nginx/hoist/maintenance";
/// The folder nginx serves `/.well-known/acme-challenge/` from (HTTP-01 answers).
pub const CHALLENGE_ROOT: &str = "/etc/nginx/hoist/tls/challenge";

/// How a certificate came to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertSource {
    /// Issued by an ACME server, and renewed by hoist.
    Acme,
    /// The user's own files (`tls: {cert, key}`).
    Own,
}

/// A certificate the proxy serves for a host name. Its files are
/// `TLS_DIR/<host>/<serial>.crt` and `.key`: a new certificate gets new files, so the files of
/// the configuration in force never change under nginx, and a rejected reload leaves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub host: String,
    /// The certificate's serial number, lower-case hex.
    pub serial: String,
    pub source: CertSource,
}

impl Certificate {
    /// The folder of the host's files: the host name, a wildcard's `*` spelled `_`.
    pub fn folder(host: &str) -> String {
        format!("{TLS_DIR}/{}", host.replace('*', "_"))
    }

    pub fn cert_path(&self) -> String {
        format!("{}/{}.crt", Self::folder(&self.host), self.serial)
    }

    pub fn key_path(&self) -> String {
        format!("{}/{}.key", Self::folder(&self.host), self.serial)
    }
}

/// A table that cannot be rendered: named in terms of the table, before nginx sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{what} {value:?} is not valid: {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    /// A route's path, host or directive would carry nginx syntax into the file.
    #[error("route {route}: {key} {value:?} is not valid: {why}")]
    RouteValue {
        route: String,
        /// `path`, `host` or `directives`.
        key: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("route {route} points at upstream {upstream}, which does not exist")]
    MissingUpstream { route: String, upstream: String },
    #[error("upstream {0} has no server to send requests to")]
    EmptyUpstream(String),
    #[error("routes {first} and {second} both match {what}")]
    Duplicate {
        first: String,
        second: String,
        what: String,
    },
    #[error("no route named {0}")]
    NoSuchRoute(String),
}

impl ProxyConfig {
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }

    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name)
    }

    /// Adds the upstream, or replaces the servers of the one with its name.
    pub fn set_upstream(&mut self, upstream: Upstream) -> &mut Self {
        match self.upstreams.iter_mut().find(|u| u.name == upstream.name) {
            Some(existing) => *existing = upstream,
            None => self.upstreams.push(upstream),
        }
        self
    }

    /// Adds the route, or replaces the one with its name. A route given without `hosts`
    /// keeps the host names the one it replaces had: a release switches colours, the
    /// integrate step says which names a route answers ([`ProxyConfig::set_route_hosts`]).
    pub fn set_route(&mut self, mut route: Route) -> &mut Self {
        match self.routes.iter_mut().find(|r| r.name == route.name) {
            Some(existing) => {
                if route.hosts.is_empty() {
                    route.hosts = std::mem::take(&mut existing.hosts);
                }
                *existing = route
            }
            None => self.routes.push(route),
        }
        self
    }

    /// Sets the host names a route is also served for (none: the default server only).
    pub fn set_route_hosts(
        &mut self,
        route: &str,
        hosts: Vec<String>,
    ) -> Result<&mut Self, ConfigError> {
        let found = self
            .routes
            .iter_mut()
            .find(|r| r.name == route)
            .ok_or_else(|| ConfigError::NoSuchRoute(route.to_string()))?;
        found.hosts = hosts;
        Ok(self)
    }

    /// Points an existing route at another upstream (blue-green's switch).
    pub fn switch(&mut self, route: &str, upstream: &str) -> Result<&mut Self, ConfigError> {
        let found = self
            .routes
            .iter_mut()
            .find(|r| r.name == route)
            .ok_or_else(|| ConfigError::NoSuchRoute(route.to_string()))?;
        found.upstream = upstream.to_string();
        Ok(self)
    }

    /// Removes a route; its upstream stays until [`ProxyConfig::remove_upstream`].
    pub fn remove_route(&mut self, name: &str) -> bool {
        let before = self.routes.len();
        self.routes.retain(|r| r.name != name);
        before != self.routes.len()
    }

    /// The certificate served for `host`, if any.
    pub fn certificate(&self, host: &str) -> Option<&Certificate> {
        self.certificates
            .iter()
            .find(|c| c.host.eq_ignore_ascii_case(host))
    }

    /// Whether the route answers with its maintenance page.
    pub fn in_maintenance(&self, route: &str) -> bool {
        self.maintenance.iter().any(|r| r == route)
    }

    /// Puts a route in maintenance (`on`) or back to its service.
    pub fn set_maintenance(&mut self, route: &str, on: bool) -> Result<&mut Self, ConfigError> {
        if self.route(route).is_none() {
            return Err(ConfigError::NoSuchRoute(route.to_string()));
        }
        self.maintenance.retain(|r| r != route);
        if on {
            self.maintenance.push(route.to_string());
        }
        Ok(self)
    }

    /// Installs a certificate for its host, replacing the one it had.
    pub fn set_certificate(&mut self, certificate: Certificate) -> &mut Self {
        self.certificates
            .retain(|c| !c.host.eq_ignore_ascii_case(&certificate.host));
        self.certificates.push(certificate);
        self
    }

    pub fn remove_upstream(&mut self, name: &str) -> bool {
        let before = self.upstreams.len();
        self.upstreams.retain(|u| u.name != name);
        before != self.upstreams.len()
    }

    /// Checks what hoist can check itself, so that what reaches nginx is well-formed text: names,
    /// paths and addresses carry no nginx syntax, routes point at upstreams with servers, and
    /// no two routes match the same thing. nginx still checks the rest (`nginx -t`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for upstream in &self.upstreams {
            check_name("upstream name", &upstream.name)?;
            for server in &upstream.servers {
                check_server(server)?;
            }
            // Written into a `set`, where `$` would be a variable: a DNS name and a port only.
            if upstream.resolve {
                let one = match upstream.servers.as_slice() {
                    [one] => one,
                    _ => {
                        return Err(invalid(
                            "upstream",
                            &upstream.name,
                            "a resolved upstream is one name:port",
                        ));
                    }
                };
                let host = one.rsplit_once(':').map_or("", |(h, _)| h);
                if !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                {
                    return Err(invalid(
                        "server",
                        one,
                        "a resolved server is a DNS name and a port",
                    ));
                }
            }
        }
        for certificate in &self.certificates {
            check_host(&certificate.host)
                .map_err(|why| invalid("certificate host", &certificate.host, why))?;
            if certificate.serial.is_empty()
                || !certificate
                    .serial
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            {
                return Err(invalid(
                    "certificate serial",
                    &certificate.serial,
                    "lower-case hex digits",
                ));
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            check_name("route name", &route.name)?;
            let in_route =
                |key: &'static str, value: &str, why: &'static str| ConfigError::RouteValue {
                    route: route.name.clone(),
                    key,
                    value: value.to_string(),
                    why,
                };
            match &route.matcher {
                Match::PathPrefix(path) => {
                    check_path(path).map_err(|why| in_route("path", path, why))?
                }
                Match::Host(host) => check_host(host).map_err(|why| in_route("host", host, why))?,
            }
            for directive in &route.directives {
                check_directive(directive).map_err(|why| in_route("directives", directive, why))?;
            }
            for host in &route.hosts {
                check_host(host).map_err(|why| in_route("hosts", host, why))?;
                let claimed = self
                    .routes
                    .iter()
                    .find(|r| matches!(&r.matcher, Match::Host(h) if h.eq_ignore_ascii_case(host)));
                if let Some(other) = claimed {
                    return Err(ConfigError::Duplicate {
                        first: other.name.clone(),
                        second: route.name.clone(),
                        what: format!("host {host}"),
                    });
                }
            }
            let upstream =
                self.upstream(&route.upstream)
                    .ok_or_else(|| ConfigError::MissingUpstream {
                        route: route.name.clone(),
                        upstream: route.upstream.clone(),
                    })?;
            if upstream.servers.is_empty() {
                return Err(ConfigError::EmptyUpstream(upstream.name.clone()));
            }
            for earlier in &self.routes[..i] {
                let what = match (&earlier.matcher, &route.matcher) {
                    _ if earlier.name == route.name => format!("the name {}", route.name),
                    (Match::PathPrefix(a), Match::PathPrefix(b)) if a == b => format!("path {a}"),
                    (Match::Host(a), Match::Host(b)) if a.eq_ignore_ascii_case(b) => {
                        format!("host {a}")
                    }
                    _ => continue,
                };
                return Err(ConfigError::Duplicate {
                    first: earlier.name.clone(),
                    second: route.name.clone(),
                    what,
                });
            }
        }
        Ok(())
    }

    /// nginx's configuration for this table (a `conf.d` file, included at `http` level).
    ///
    /// One default server answers every path no route claims with 404, as the book's proxy does
    /// before integration; path routes are its `location` blocks (a route on `/` claims every
    /// path no longer prefix does, which is what `hoist deploy` without a route flag asks for),
    /// host routes get a server each.
    /// Only upstreams that a route uses are written: nginx refuses an upstream without servers,
    /// and an idle colour may have none.
    /// nginx's text for this table, its servers listening on `port` (the proxy shares the host's
    /// network, so this is the port clients reach).
    pub fn render(&self, port: u16) -> Result<String, ConfigError> {
        self.render_tls(port, 443)
    }

    /// [`ProxyConfig::render`], with host routes that have a certificate served on `https_port`.
    pub fn render_tls(&self, port: u16, https_port: u16) -> Result<String, ConfigError> {
        self.validate()?;
        let mut out = String::new();
        out.push_str(
            "# Written by hoist: the integration proxy's routes. Changed with hoist (the table is\n\
             # /etc/nginx/hoist/routes.json); edits by hand are overwritten.\n",
        );
        let mut used: Vec<&Upstream> = Vec::new();
        for route in &self.routes {
            let upstream = self.upstream(&route.upstream).expect("validated");
            if !used.iter().any(|u| u.name == upstream.name) {
                used.push(upstream);
            }
        }
        for upstream in used.iter().filter(|u| !u.resolve) {
            let _ = writeln!(out, "\nupstream {} {{", upstream.name);
            for server in &upstream.servers {
                // A server that stops answering is skipped for a while, and the request retried
                // on another (`proxy_next_upstream`), as the book relies on in chapter 9.
                let _ = writeln!(out, "    server {server} max_fails=1 fail_timeout=5s;");
            }
            // Idle connections kept open to the servers spare a TCP handshake per request.
            out.push_str("    keepalive 16;\n}\n");
        }
        let _ = write!(
            out,
            "\nserver {{\n    listen {port} default_server;\n    server_name _;\n"
        );
        if used.iter().any(|u| u.resolve) {
            // The container network's DNS (Docker's embedded server); answers kept a second.
            out.push_str("    resolver 127.0.0.11 valid=1s ipv6=off;\n    resolver_timeout 2s;\n");
        }
        render_challenge(&mut out);
        for route in &self.routes {
            if let Match::PathPrefix(path) = &route.matcher {
                render_location(
                    &mut out,
                    path,
                    route,
                    self.upstream(&route.upstream),
                    self.in_maintenance(&route.name),
                );
            }
        }
        // A route on `/` takes every path no longer route claims (nginx picks the longest
        // prefix); without one, those paths answer 404.
        if !self.claims_root() {
            out.push_str("\n    location / {\n        return 404;\n    }\n");
        }
        out.push_str("}\n");
        for route in &self.routes {
            if let Match::Host(host) = &route.matcher {
                let certificate = self.certificate(host);
                let _ = write!(
                    out,
                    "\nserver {{\n    listen {port};\n    server_name {host};\n"
                );
                if certificate.is_some() {
                    // Plain HTTP only answers ACME's challenges and sends the rest to HTTPS.
                    render_challenge(&mut out);
                    render_redirect(&mut out, https_port);
                    let _ = write!(
                        out,
                        "\nserver {{\n    listen {https_port} ssl;\n    server_name {host};\n"
                    );
                }
                if let Some(c) = certificate {
                    let _ = writeln!(out, "    ssl_certificate {};", c.cert_path());
                    let _ = writeln!(out, "    ssl_certificate_key {};", c.key_path());
                    out.push_str("    ssl_protocols TLSv1.2 TLSv1.3;\n");
                }
                let upstream = self.upstream(&route.upstream);
                if upstream.is_some_and(|u| u.resolve) {
                    out.push_str(
                        "    resolver 127.0.0.11 valid=1s ipv6=off;\n    resolver_timeout 2s;\n",
                    );
                }
                if certificate.is_none() {
                    render_challenge(&mut out);
                }
                render_location(
                    &mut out,
                    "/",
                    route,
                    upstream,
                    self.in_maintenance(&route.name),
                );
                out.push_str("}\n");
            }
        }
        self.render_added_hosts(&mut out, port, https_port);
        Ok(out)
    }
}

impl ProxyConfig {
    /// The servers of host names path routes are also served for (`Route::hosts`): each name
    /// answers the paths of the routes that name it, and 404 for the rest.
    fn render_added_hosts(&self, out: &mut String, port: u16, https_port: u16) {
        let mut hosts: Vec<&str> = Vec::new();
        for route in &self.routes {
            for host in &route.hosts {
                if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                    hosts.push(host);
                }
            }
        }
        for host in hosts {
            let routes: Vec<&Route> = self
                .routes
                .iter()
                .filter(|r| r.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
                .collect();
            let certificate = self.certificate(host);
            let _ = write!(
                out,
                "\nserver {{\n    listen {port};\n    server_name {host};\n"
            );
            render_challenge(out);
            if certificate.is_some() {
                render_redirect(out, https_port);
            }
            if let Some(c) = certificate {
                let _ = write!(
                    out,
                    "\nserver {{\n    listen {https_port} ssl;\n    server_name {host};\n"
                );
                let _ = writeln!(out, "    ssl_certificate {};", c.cert_path());
                let _ = writeln!(out, "    ssl_certificate_key {};", c.key_path());
                out.push_str("    ssl_protocols TLSv1.2 TLSv1.3;\n");
            }
            if routes
                .iter()
                .any(|r| self.upstream(&r.upstream).is_some_and(|u| u.resolve))
            {
                out.push_str(
                    "    resolver 127.0.0.11 valid=1s ipv6=off;\n    resolver_timeout 2s;\n",
                );
            }
            let mut root = false;
            for route in &routes {
                if let Match::PathPrefix(path) = &route.matcher {
                    root |= path == "/";
                    render_location(
                        out,
                        path,
                        route,
                        self.upstream(&route.upstream),
                        self.in_maintenance(&route.name),
                    );
                }
            }
            if !root {
                out.push_str("\n    location / {\n        return 404;\n    }\n");
            }
            out.push_str("}\n");
        }
    }

    /// Whether a path route on `/` takes the default server's catch-all.
    fn claims_root(&self) -> bool {
        self.routes
            .iter()
            .any(|r| r.matcher == Match::PathPrefix("/".into()))
    }
}

/// Plain HTTP's catch-all for a name served over HTTPS: a permanent redirect that keeps the
/// method, to the HTTPS port (named when it is not 443). Ends the server block.
fn render_redirect(out: &mut String, https_port: u16) {
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let _ = write!(
        out,
        "    location / {{\n        return 308 https://$host{port}$request_uri;\n    }}\n}}\n"
    );
}

/// ACME's HTTP-01 answers, served from the proxy's volume on every plain HTTP server, so a
/// certificate can be issued for any name that reaches the proxy, before its route has one.
fn render_challenge(out: &mut String) {
    let _ = write!(
        out,
        "\n    location ^~ /.well-known/acme-challenge/ {{\n        root {CHALLENGE_ROOT};\n        default_type text/plain;\n    }}\n"
    );
}

fn render_location(
    out: &mut String,
    path: &str,
    route: &Route,
    upstream: Option<&Upstream>,
    maintenance: bool,
) {
    let _ = writeln!(out, "\n    # route {}", route.name);
    if maintenance {
        // Every request of the route answers 503 with the route's page (an internal
        // redirect keeps the status); nothing reaches the service.
        let page = format!("/.hoist-maintenance/{}.html", route.name);
        let _ = write!(
            out,
            "    location {path} {{\n        error_page 503 {page};\n        return 503;\n    }}\n    location = {page} {{\n        internal;\n        alias {MAINTENANCE_DIR}/{}.html;\n        default_type text/html;\n        add_header Retry-After 60 always;\n        add_header Cache-Control no-store always;\n    }}\n",
            route.name
        );
        return;
    }
    let _ = writeln!(out, "    location {path} {{");
    // No URI after the upstream: the request's own URI is passed on unchanged, which is what
    // the book's `proxy_pass http://books-ms/api/v1/books;` amounts to for its location.
    match upstream.filter(|u| u.resolve) {
        // A variable makes nginx resolve the name per request (through `resolver`), and use
        // every address it answers with, round-robin, retrying the next on an error.
        Some(u) => {
            let var = u.name.replace(['-', '.'], "_");
            let _ = writeln!(out, "        set $hoist_{var} {};", u.servers[0]);
            let _ = writeln!(out, "        proxy_pass http://$hoist_{var};");
            // A task whose node died still has its address in DNS until Swarm notices: a
            // short connect timeout moves the request on to the next address.
            out.push_str("        proxy_connect_timeout 2s;\n");
        }
        None => {
            let _ = writeln!(out, "        proxy_pass http://{};", route.upstream);
        }
    }
    out.push_str(
        "        proxy_http_version 1.1;\n\
         \x20       proxy_set_header Connection \"\";\n\
         \x20       proxy_set_header Host $host;\n\
         \x20       proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         \x20       proxy_next_upstream error timeout invalid_header http_500;\n",
    );
    for directive in &route.directives {
        let d = directive.strip_suffix(';').unwrap_or(directive);
        let _ = writeln!(out, "        {d};");
    }
    out.push_str("    }\n");
}

fn invalid(what: &'static str, value: &str, why: &'static str) -> ConfigError {
    ConfigError::Invalid {
        what,
        value: value.to_string(),
        why,
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            what,
            name,
            "use letters, digits, '-', '_' and '.' only",
        ));
    }
    Ok(())
}

fn no_syntax(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | '{' | '}' | '"' | '\''))
}

/// A character that means something to nginx's parser inside a word: a comment, an escape, a
/// quote, a variable, the end of a directive, a block, a word break. A path or a directive's
/// word holding one could end the directive or the block it was written into.
fn nginx_syntax(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '#' | '\\' | '"' | '\'' | '$' | ';' | '{' | '}')
}

/// Checks a route's path prefix; the error says why it is refused. Used by the routing table and
/// by `hoist.yml`'s `integrate.path`, so that a bad path is named where it was written.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("it must start with '/'");
    }
    if path.chars().any(nginx_syntax) || path.starts_with("/=") || path.contains('~') {
        return Err(
            "no whitespace, control characters, quotes, '#', '\', '$', ';', '{', '}' or '~'",
        );
    }
    Ok(())
}

/// Checks a route's host name (`books.example.com`, `*.example.com`).
pub fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty()
        || host == "_"
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*'))
    {
        return Err("use a DNS name (letters, digits, '-', '.', a leading '*.')");
    }
    Ok(())
}

fn check_server(server: &str) -> Result<(), ConfigError> {
    let port_ok = server
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok || !no_syntax(server) {
        return Err(invalid("server", server, "expected host:port"));
    }
    Ok(())
}

/// Checks one extra directive of a route (`proxy_read_timeout 5s`, a trailing `;` allowed):
/// words separated by single spaces, none holding nginx syntax, so it stays one simple
/// directive inside its `location`.
pub fn check_directive(directive: &str) -> Result<(), &'static str> {
    let d = directive.strip_suffix(';').unwrap_or(directive);
    if d.is_empty()
        || d.split(' ')
            .any(|w| w.is_empty() || w.chars().any(nginx_syntax))
    {
        return Err(
            "one simple directive: words separated by single spaces, without quotes, '#', \
             '\\', '$', ';', '{', '}', tabs, line breaks or control characters",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(servers: &[&str]) -> ProxyConfig {
        let mut config = ProxyConfig::default();
        config
            .set_upstream(Upstream::new("books-ms", servers.iter().copied()))
            .set_route(Route {
                name: "books-ms".into(),
                matcher: Match::PathPrefix("/api/v1/books".into()),
                upstream: "books-ms".into(),
                directives: vec![],
                hosts: Vec::new(),
            });
        config
    }

    #[test]
    fn an_empty_table_answers_404_for_every_path() {
        let text = ProxyConfig::default().render(80).unwrap();
        assert!(text.contains("listen 80 default_server;"), "{text}");
        assert!(text.contains("location / {\n        return 404;"), "{text}");
        assert!(!text.contains("upstream"), "{text}");
    }

    #[test]
    fn a_path_route_renders_the_books_location_and_its_upstream() {
        let text = books(&["10.200.0.2:32768", "10.200.0.2:32769"])
            .render(80)
            .unwrap();
        let expected_upstream = "upstream books-ms {\n    server 10.200.0.2:32768 max_fails=1 fail_timeout=5s;\n    server 10.200.0.2:32769 max_fails=1 fail_timeout=5s;\n    keepalive 16;\n}";
        assert!(text.contains(expected_upstream), "{text}");
        assert!(
            text.contains("    location /api/v1/books {\n        proxy_pass http://books-ms;\n"),
            "{text}"
        );
        assert!(
            text.contains("proxy_next_upstream error timeout invalid_header http_500;"),
            "{text}"
        );
        // The route's location comes before the catch-all.
        assert!(text.find("location /api/v1/books").unwrap() < text.find("location / {").unwrap());
    }

    #[test]
    fn a_host_route_gets_its_own_server() {
        let mut config = ProxyConfig::default();
        config
            .set_upstream(Upstream::new("shop", ["10.0.0.5:8080"]))
            .set_route(Route {
                name: "shop".into(),
                matcher: Match::Host("shop.example.com".into()),
                upstream: "shop".into(),
                directives: vec!["proxy_read_timeout 5s".into()],
                hosts: Vec::new(),
            });
        let text = config.render(80).unwrap();
        assert!(
            text.contains("server {\n    listen 80;\n    server_name shop.example.com;\n"),
            "{text}"
        );
        assert!(
            text.contains("    location / {\n        proxy_pass http://shop;"),
            "{text}"
        );
        assert!(text.contains("        proxy_read_timeout 5s;\n"), "{text}");
    }

    #[test]
    fn switching_moves_the_route_between_two_upstream_sets() {
        let mut config = books(&["10.200.0.2:32768"]);
        config.set_upstream(Upstream::new("books-ms-green", ["10.200.0.2:32790"]));
        let blue = config.render(80).unwrap();
        assert!(
            !blue.contains("32790"),
            "an unused upstream is not written: {blue}"
        );
        config.switch("books-ms", "books-ms-green").unwrap();
        let green = config.render(80).unwrap();
        assert!(
            green.contains("proxy_pass http://books-ms-green;"),
            "{green}"
        );
        assert!(green.contains("server 10.200.0.2:32790"), "{green}");
        assert!(!green.contains("32768"), "{green}");
        assert!(matches!(
            config.switch("nope", "books-ms"),
            Err(ConfigError::NoSuchRoute(_))
        ));
    }

    #[test]
    fn set_route_and_set_upstream_replace_by_name() {
        let mut config = books(&["a:1"]);
        config.set_upstream(Upstream::new("books-ms", ["b:2"]));
        assert_eq!(config.upstreams.len(), 1);
        assert_eq!(config.upstream("books-ms").unwrap().servers, ["b:2"]);
        assert!(config.remove_route("books-ms"));
        assert!(!config.remove_route("books-ms"));
        assert!(config.render(80).unwrap().contains("return 404"));
    }

    #[test]
    fn what_would_break_nginx_syntax_is_refused_before_nginx() {
        let bad_server = books(&["10.0.0.1:8080; evil"]);
        assert!(matches!(
            bad_server.validate(),
            Err(ConfigError::Invalid { what: "server", .. })
        ));
        assert!(matches!(
            books(&["10.0.0.1"]).validate(),
            Err(ConfigError::Invalid { what: "server", .. })
        ));
        assert_eq!(
            books(&[]).validate(),
            Err(ConfigError::EmptyUpstream("books-ms".into()))
        );
        let mut missing = books(&["a:1"]);
        missing.switch("books-ms", "other").unwrap();
        assert!(matches!(
            missing.validate(),
            Err(ConfigError::MissingUpstream { .. })
        ));
        let mut path = books(&["a:1"]);
        path.routes[0].matcher = Match::PathPrefix("api".into());
        assert!(path.validate().is_err());
        path.routes[0].matcher = Match::PathPrefix("/a { }".into());
        assert!(path.validate().is_err());
        let mut block = books(&["a:1"]);
        block.routes[0].directives = vec!["if ($x) { return 500; }".into()];
        assert!(block.validate().is_err());
    }

    /// Each character nginx would read as syntax is refused in a path and in a directive, by an
    /// error that names the route and the key.
    #[test]
    fn nginx_syntax_in_paths_and_directives_is_refused_naming_route_and_key() {
        let bad = [
            "#", "\\", "\"", "'", "$", ";", "{", "}", " ", "\t", "\n", "\r", "\u{0}", "\u{7f}",
            "\u{a0}",
        ];
        for c in bad {
            let mut path = books(&["a:1"]);
            path.routes[0].matcher = Match::PathPrefix(format!("/api{c}x"));
            let err = path.validate().unwrap_err();
            assert!(
                matches!(&err, ConfigError::RouteValue { route, key: "path", .. } if route == "books-ms"),
                "{c:?}: {err:?}"
            );
            assert!(
                err.to_string().starts_with("route books-ms: path "),
                "{err}"
            );

            if c == " " {
                // A single space separates a directive's words (two make an empty word: below).
                continue;
            }
            let mut directive = books(&["a:1"]);
            directive.routes[0].directives = vec![format!("proxy_read_timeout 5s{c}x")];
            let err = directive.validate().unwrap_err();
            assert!(
                matches!(&err, ConfigError::RouteValue { route, key: "directives", .. } if route == "books-ms"),
                "{c:?}: {err:?}"
            );
        }
        let mut fine = books(&["a:1"]);
        fine.routes[0].matcher = Match::PathPrefix("/api/v1/books-2_x.y".into());
        fine.routes[0].directives = vec![
            "proxy_read_timeout 5s".into(),
            "client_max_body_size 1m;".into(),
        ];
        let text = fine.render(80).unwrap();
        assert!(
            text.contains("        client_max_body_size 1m;\n"),
            "{text}"
        );
        fine.routes[0].directives = vec!["proxy_read_timeout  5s".into()];
        assert!(fine.validate().is_err(), "two spaces make an empty word");
    }

    #[test]
    fn a_route_on_the_root_path_takes_the_catch_all_and_longer_prefixes_keep_theirs() {
        let mut config = books(&["a:1"]);
        config.set_upstream(Upstream::new("site", ["b:2"]));
        config.set_route(Route {
            name: "site".into(),
            matcher: Match::PathPrefix("/".into()),
            upstream: "site".into(),
            directives: vec![],
            hosts: Vec::new(),
        });
        let text = config.render(80).unwrap();
        assert!(
            text.contains("    location / {\n        proxy_pass http://site;"),
            "{text}"
        );
        assert!(!text.contains("return 404"), "{text}");
        assert!(
            text.contains("    location /api/v1/books {\n        proxy_pass http://books-ms;"),
            "{text}"
        );
        // A second route on `/` is a duplicate like any other path.
        config.set_route(Route {
            name: "other".into(),
            matcher: Match::PathPrefix("/".into()),
            upstream: "site".into(),
            directives: vec![],
            hosts: Vec::new(),
        });
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Duplicate { .. })
        ));
    }

    #[test]
    fn two_routes_on_one_path_are_refused() {
        let mut config = books(&["a:1"]);
        config.set_route(Route {
            name: "other".into(),
            matcher: Match::PathPrefix("/api/v1/books".into()),
            upstream: "books-ms".into(),
            directives: vec![],
            hosts: Vec::new(),
        });
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Duplicate { .. })
        ));
    }

    #[test]
    fn the_table_round_trips_through_json() {
        let config = books(&["a:1"]);
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<ProxyConfig>(&text).unwrap(), config);
    }

    #[test]
    fn a_resolved_upstream_is_asked_of_the_network_dns_per_request() {
        let mut table = ProxyConfig::default();
        table.set_upstream(Upstream::resolved("books-ms", "app:8080"));
        table.set_route(Route {
            name: "books-ms".into(),
            matcher: Match::PathPrefix("/api/v1/books".into()),
            upstream: "books-ms".into(),
            directives: vec![],
            hosts: Vec::new(),
        });
        let text = table.render(8080).unwrap();
        assert!(!text.contains("upstream books-ms"), "{text}");
        assert!(
            text.contains("    resolver 127.0.0.11 valid=1s ipv6=off;\n"),
            "{text}"
        );
        assert!(text.contains("        set $hoist_books_ms app:8080;\n        proxy_pass http://$hoist_books_ms;\n        proxy_connect_timeout 2s;\n"), "{text}");
        // A name that would be read as a variable (or more) is refused before nginx sees it.
        table.set_upstream(Upstream::resolved("books-ms", "$host:8080"));
        assert!(table.render(8080).is_err());
        let mut two = Upstream::resolved("books-ms", "a:1");
        two.servers.push("b:2".into());
        table.set_upstream(two);
        assert!(table.render(8080).is_err());
    }

    #[test]
    fn a_certificate_serves_its_host_over_https_and_plain_http_redirects_but_for_challenges() {
        let mut config = books(&["10.200.0.2:32768"]);
        config
            .set_route_hosts("books-ms", vec!["books.test".into()])
            .unwrap();
        let text = config.render_tls(80, 443).unwrap();
        assert!(text.contains("server_name books.test;"), "{text}");
        assert!(
            !text.contains("ssl"),
            "no certificate yet: plain HTTP: {text}"
        );
        assert_eq!(
            text.matches("location ^~ /.well-known/acme-challenge/")
                .count(),
            2,
            "the default server and the host's answer challenges: {text}"
        );

        config.set_certificate(Certificate {
            host: "books.test".into(),
            serial: "1fa0".into(),
            source: CertSource::Acme,
        });
        let text = config.render_tls(8080, 8443).unwrap();
        assert!(text.contains("listen 8443 ssl;"), "{text}");
        assert!(
            text.contains("ssl_certificate /etc/nginx/hoist/tls/books.test/1fa0.crt;"),
            "{text}"
        );
        assert!(text.contains("ssl_certificate_key /etc/nginx/hoist/tls/books.test/1fa0.key;"));
        assert!(
            text.contains("return 308 https://$host:8443$request_uri;"),
            "{text}"
        );
        // The HTTPS server routes the path and 404s the rest.
        let https = &text[text.find("listen 8443 ssl;").unwrap()..];
        assert!(https.contains("location /api/v1/books {"), "{https}");
        assert!(https.contains("return 404;"), "{https}");
        // The default server keeps the path for plain HTTP on the address.
        let default = &text
            [text.find("default_server").unwrap()..text.find("server_name books.test").unwrap()];
        assert!(default.contains("location /api/v1/books {"), "{default}");

        // A switch keeps the route's host names; the integrate step sets them.
        config.set_route(Route {
            name: "books-ms".into(),
            matcher: Match::PathPrefix("/api/v1/books".into()),
            upstream: "books-ms".into(),
            directives: vec![],
            hosts: Vec::new(),
        });
        assert_eq!(config.route("books-ms").unwrap().hosts, ["books.test"]);

        let mut bad = config.clone();
        bad.certificates[0].serial = "../../x".into();
        assert!(matches!(
            bad.render(80),
            Err(ConfigError::Invalid {
                what: "certificate serial",
                ..
            })
        ));
        let mut bad = config.clone();
        bad.set_route_hosts("books-ms", vec!["books.test;".into()])
            .unwrap();
        assert!(matches!(
            bad.render(80),
            Err(ConfigError::RouteValue { key: "hosts", .. })
        ));
    }
}
