//! The loader's errors. Each carries what its message needs: the file, line and column where
//! there is one, the service and the key concerned, and what was expected.

use std::fmt;
use std::path::PathBuf;

/// A place in a compose file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

fn at(loc: &Option<Location>) -> String {
    match loc {
        Some(l) => format!("{l}: "),
        None => String::new(),
    }
}

/// Why a compose project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// No compose file was given and none of the default names exists.
    #[error(
        "no configuration file provided: not found (looked for compose.yaml, compose.yml, \
         docker-compose.yml, docker-compose.yaml in {} and its parents)", dir.display()
    )]
    NoConfigFile { dir: PathBuf },

    /// The text is not valid YAML.
    #[error("{loc}: yaml: {message}")]
    Yaml { loc: Location, message: String },

    /// The file does not match the compose schema: an unknown key, a wrong type, a missing key.
    #[error("{}validating {}: {path}{sep}{message}", at(loc), file, sep = if path.is_empty() { "" } else { " " })]
    Schema {
        loc: Option<Location>,
        file: String,
        /// Dotted path of the offending value (`services.web.ports.0`).
        path: String,
        message: String,
    },

    /// A `${VAR...}` expression could not be substituted.
    #[error("{}error while interpolating {path}: {message}", at(loc))]
    Interpolation {
        loc: Option<Location>,
        path: String,
        message: String,
    },

    /// An `extends` chain loops.
    #[error("{}circular reference with extends: {}", at(loc), chain.join(" -> "))]
    ExtendsCycle {
        loc: Option<Location>,
        chain: Vec<String>,
    },

    /// Anything else compose rejects: a reference to an undefined service, network, volume...,
    /// a value that does not parse, conflicting keys.
    #[error("{}{message}", at(loc))]
    Invalid {
        loc: Option<Location>,
        message: String,
    },
}

impl ComposeError {
    pub(crate) fn invalid(message: impl Into<String>) -> ComposeError {
        ComposeError::Invalid {
            loc: None,
            message: message.into(),
        }
    }
    pub(crate) fn invalid_at(loc: Option<Location>, message: impl Into<String>) -> ComposeError {
        ComposeError::Invalid {
            loc,
            message: message.into(),
        }
    }
}
