//! Settings of the service, resolved once from the environment.
//!
//! The names follow the original service so the book's compose files work unchanged: a legacy
//! link `db:db` injects `DB_PORT_5432_TCP_ADDR` (and `DB_PORT=tcp://ADDR:5432`), which wins over
//! `DB_HOST`, which wins over `localhost`. [`Config::from_lookup`] takes the lookup as a function
//! so tests can resolve settings without touching the process environment.

use std::net::SocketAddr;
use std::time::Duration;

/// The version reported in `X-Books-Ms-Version` when neither the environment nor the build set
/// one. The images pass their build argument as the environment variable `BOOKS_MS_VERSION`.
pub const BUILT_VERSION: &str = match option_env!("BOOKS_MS_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub db_host: String,
    pub db_port: u16,
    pub db_name: String,
    pub db_user: String,
    pub db_password: Option<String>,
    /// The table holding the books (the original's `DB_COLLECTION`).
    pub table: String,
    /// How long to wait for the database at start before giving up.
    pub db_wait: Duration,
    pub pool_size: usize,
    /// Keep the rendered list between changes (`BOOKS_MS_LIST_CACHE=off` turns it off).
    pub list_cache: bool,
    pub version: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}={value:?}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub problem: &'static str,
}

impl Config {
    /// Resolves the settings from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Resolves the settings from `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let error = |name: &'static str, value: String, problem: &'static str| ConfigError {
            name,
            value,
            problem,
        };

        let listen = match get("BOOKS_MS_LISTEN") {
            Some(v) => v
                .parse()
                .map_err(|_| error("BOOKS_MS_LISTEN", v, "expected ADDRESS:PORT"))?,
            None => SocketAddr::from(([0, 0, 0, 0], 8080)),
        };
        let db_host = get("DB_PORT_5432_TCP_ADDR")
            .or_else(|| get("DB_HOST"))
            .unwrap_or_else(|| "localhost".to_string());
        let db_port = match (get("DB_PORT_5432_TCP_PORT"), get("DB_PORT")) {
            (Some(v), _) => v
                .parse()
                .map_err(|_| error("DB_PORT_5432_TCP_PORT", v, "expected a port number"))?,
            (None, Some(v)) => parse_db_port(&v)
                .ok_or_else(|| error("DB_PORT", v, "expected a port or tcp://HOST:PORT"))?,
            (None, None) => 5432,
        };
        let table = get("DB_COLLECTION").unwrap_or_else(|| "books".to_string());
        if !is_identifier(&table) {
            return Err(error(
                "DB_COLLECTION",
                table,
                "expected a table name of letters, digits and _",
            ));
        }
        let db_wait = match get("DB_WAIT_SECONDS") {
            Some(v) => Duration::from_secs_f64(
                v.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| error("DB_WAIT_SECONDS", v, "expected seconds"))?,
            ),
            None => Duration::from_secs(30),
        };
        let pool_size = match get("DB_POOL_SIZE") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| error("DB_POOL_SIZE", v, "expected a positive number"))?,
            None => 8,
        };
        let list_cache = match get("BOOKS_MS_LIST_CACHE").as_deref() {
            None | Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                return Err(error(
                    "BOOKS_MS_LIST_CACHE",
                    other.to_string(),
                    "expected on or off",
                ));
            }
        };
        Ok(Config {
            listen,
            list_cache,
            db_host,
            db_port,
            db_name: get("DB_DBNAME").unwrap_or_else(|| "books".to_string()),
            db_user: get("DB_USER").unwrap_or_else(|| "postgres".to_string()),
            db_password: get("DB_PASSWORD"),
            table,
            db_wait,
            pool_size,
            version: get("BOOKS_MS_VERSION").unwrap_or_else(|| BUILT_VERSION.to_string()),
        })
    }
}

/// `DB_PORT` is either a plain port or, when a legacy link set it, `tcp://ADDR:PORT`.
fn parse_db_port(value: &str) -> Option<u16> {
    match value.strip_prefix("tcp://") {
        Some(address) => address.rsplit_once(':')?.1.parse().ok(),
        None => value.parse().ok(),
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_original_service() {
        let config = resolve(&[]).unwrap();
        assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 8080)));
        assert_eq!(config.db_host, "localhost");
        assert_eq!(config.db_port, 5432);
        assert_eq!(config.db_name, "books");
        assert_eq!(config.table, "books");
        assert_eq!(config.version, BUILT_VERSION);
    }

    #[test]
    fn the_link_variable_wins_over_db_host() {
        let config = resolve(&[
            ("DB_HOST", "books-ms-db"),
            ("DB_PORT_5432_TCP_ADDR", "172.17.0.5"),
        ])
        .unwrap();
        assert_eq!(config.db_host, "172.17.0.5");
        let config = resolve(&[("DB_HOST", "books-ms-db"), ("DB_PORT_5432_TCP_ADDR", "")]).unwrap();
        assert_eq!(config.db_host, "books-ms-db");
    }

    #[test]
    fn the_port_comes_from_the_link_or_db_port() {
        // What a legacy link injects.
        let linked = resolve(&[
            ("DB_PORT", "tcp://172.17.0.5:5432"),
            ("DB_PORT_5432_TCP_PORT", "5432"),
        ])
        .unwrap();
        assert_eq!(linked.db_port, 5432);
        assert_eq!(
            resolve(&[("DB_PORT", "tcp://10.0.0.1:6543")])
                .unwrap()
                .db_port,
            6543
        );
        assert_eq!(resolve(&[("DB_PORT", "15432")]).unwrap().db_port, 15432);
        assert_eq!(resolve(&[("DB_PORT", "x")]).unwrap_err().name, "DB_PORT");
    }

    #[test]
    fn names_and_version_are_overridable() {
        let config = resolve(&[
            ("DB_DBNAME", "shelf"),
            ("DB_COLLECTION", "novels"),
            ("BOOKS_MS_VERSION", "blue-7"),
            ("BOOKS_MS_LISTEN", "127.0.0.1:9000"),
            ("DB_WAIT_SECONDS", "0.5"),
        ])
        .unwrap();
        assert_eq!(config.db_name, "shelf");
        assert_eq!(config.table, "novels");
        assert_eq!(config.version, "blue-7");
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.db_wait, Duration::from_millis(500));
    }

    #[test]
    fn a_table_name_that_is_not_an_identifier_is_refused() {
        let err = resolve(&[("DB_COLLECTION", "books; drop")]).unwrap_err();
        assert_eq!(err.name, "DB_COLLECTION");
    }
}
