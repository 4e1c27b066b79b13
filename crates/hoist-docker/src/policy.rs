//! The remote-API policy, as pure decisions: which plain-TCP connections hoist makes, and to
//! which engines it hands registry credentials.
//!
//! The book warns that the remote API "must be restricted in a real production environment": a
//! plain `tcp://` endpoint gives whoever reaches the port root on the host, and whoever can read
//! the traffic the `X-Registry-Auth` header. So plain TCP is for loopback, decided on the
//! addresses a name resolved to (never on the name: `/etc/hosts` or DNS can send `*.localhost`
//! anywhere), and for hosts the person running hoist names as trusted. A file (`hoist.yml`)
//! cannot give that trust: only the binary's flag and environment feed `trusted`.

use std::net::IpAddr;

/// How hoist reaches an engine, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A unix socket: the local engine, guarded by the socket's file permissions.
    Unix,
    /// TLS, with the engine's certificate verified and a client certificate presented.
    Tls,
    /// SSH to `host` (the user's ssh, its host key checked against known_hosts), forwarding to
    /// the engine's unix socket there.
    Ssh { host: String },
    /// Plain TCP to `host` (as the user wrote it), connecting only to `addrs`.
    PlainTcp { host: String, addrs: Vec<IpAddr> },
}

/// The decision on one plain-TCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlainTcp {
    /// Every address is a loopback address.
    Loopback,
    /// The user named the host, or each address that is not loopback, as trusted.
    Trusted,
    /// Refused: these addresses are neither loopback nor trusted (empty when nothing resolved).
    Refused { untrusted: Vec<IpAddr> },
}

/// Decides a plain-TCP connection to `host`, which resolved to `addrs`. `trusted` holds what the
/// user gave with `--trust-insecure-host` / `HOIST_TRUST_INSECURE_HOST`: host names or addresses,
/// or `*` for every host.
pub fn plain_tcp(host: &str, addrs: &[IpAddr], trusted: &[String]) -> PlainTcp {
    let trusted_name = |name: &str| {
        trusted
            .iter()
            .map(|t| t.trim())
            .any(|t| t == "*" || t.eq_ignore_ascii_case(name))
    };
    if trusted_name(host) {
        return PlainTcp::Trusted;
    }
    if addrs.is_empty() {
        return PlainTcp::Refused {
            untrusted: Vec::new(),
        };
    }
    let remote: Vec<IpAddr> = addrs
        .iter()
        .copied()
        .filter(|ip| !is_loopback(*ip))
        .collect();
    if remote.is_empty() {
        return PlainTcp::Loopback;
    }
    let untrusted: Vec<IpAddr> = remote
        .into_iter()
        .filter(|ip| !trusted_name(&ip.to_string()))
        .collect();
    if untrusted.is_empty() {
        PlainTcp::Trusted
    } else {
        PlainTcp::Refused { untrusted }
    }
}

/// Whether registry credentials (`X-Registry-Auth`, `X-Registry-Config`) may go to an engine
/// reached over `channel`: over a socket or TLS, yes; over plain TCP only where the connection
/// itself is allowed, to loopback or to a host the user trusted.
pub fn send_credentials(channel: &Channel, trusted: &[String]) -> bool {
    match channel {
        Channel::Unix | Channel::Tls | Channel::Ssh { .. } => true,
        Channel::PlainTcp { host, addrs } => {
            !matches!(plain_tcp(host, addrs, trusted), PlainTcp::Refused { .. })
        }
    }
}

/// Loopback, including IPv4-mapped IPv6 loopback (`::ffff:127.0.0.1`), which `is_loopback`
/// alone does not count.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn trusted(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_tcp_goes_to_loopback_addresses_whatever_the_name() {
        let none = trusted(&[]);
        for addrs in [
            &["127.0.0.1"][..],
            &["127.0.0.7", "::1"],
            &["::ffff:127.0.0.1"],
        ] {
            assert_eq!(
                plain_tcp("prod.localhost", &ips(addrs), &none),
                PlainTcp::Loopback
            );
        }
        // The name promises loopback; the address decides.
        assert_eq!(
            plain_tcp("prod.localhost", &ips(&["10.200.0.2"]), &none),
            PlainTcp::Refused {
                untrusted: ips(&["10.200.0.2"])
            }
        );
        assert_eq!(
            plain_tcp("split", &ips(&["127.0.0.1", "10.0.0.9"]), &none),
            PlainTcp::Refused {
                untrusted: ips(&["10.0.0.9"])
            }
        );
        assert_eq!(
            plain_tcp("nowhere", &[], &none),
            PlainTcp::Refused { untrusted: vec![] }
        );
    }

    #[test]
    fn the_user_trusts_a_host_by_name_by_address_or_all() {
        let prod = ips(&["10.200.0.2"]);
        assert_eq!(
            plain_tcp("PROD", &prod, &trusted(&["prod"])),
            PlainTcp::Trusted
        );
        assert_eq!(
            plain_tcp("prod", &prod, &trusted(&[" 10.200.0.2 "])),
            PlainTcp::Trusted
        );
        assert_eq!(
            plain_tcp("prod", &prod, &trusted(&["*"])),
            PlainTcp::Trusted
        );
        assert_eq!(
            plain_tcp("prod", &prod, &trusted(&["staging", "10.200.0.3"])),
            PlainTcp::Refused { untrusted: prod }
        );
    }

    #[test]
    fn credentials_go_only_where_plain_tcp_is_allowed() {
        let none = trusted(&[]);
        let plain = |host: &str, addrs: &[&str]| Channel::PlainTcp {
            host: host.into(),
            addrs: ips(addrs),
        };
        assert!(send_credentials(&Channel::Unix, &none));
        assert!(send_credentials(&Channel::Tls, &none));
        assert!(send_credentials(
            &plain("localhost", &["127.0.0.1", "::1"]),
            &none
        ));
        assert!(!send_credentials(
            &plain("10.200.0.2", &["10.200.0.2"]),
            &none
        ));
        assert!(!send_credentials(
            &plain("prod.localhost", &["10.200.0.2"]),
            &none
        ));
        assert!(!send_credentials(
            &plain("mixed", &["127.0.0.1", "10.200.0.2"]),
            &none
        ));
        assert!(send_credentials(
            &plain("10.200.0.2", &["10.200.0.2"]),
            &trusted(&["10.200.0.2"])
        ));
        assert!(send_credentials(
            &plain("prod", &["10.200.0.2"]),
            &trusted(&["prod"])
        ));
        assert!(!send_credentials(
            &plain("prod", &["10.200.0.2"]),
            &trusted(&["staging"])
        ));
    }
}
