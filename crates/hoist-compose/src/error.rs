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

    /// A file the project names is not one the loader reads: a device, a FIFO, a directory, or
    /// larger than [`crate::read::MAX_FILE_BYTES`]. `key` is where the name was given
    /// (`services.web.env_file`, `include`, ...).
    #[error("{}{key}: cannot read {}: {source}", at(loc), path.display())]
    Read {
        loc: Option<Location>,
        key: String,
        path: PathBuf,
        #[source]
        source: crate::read::ReadError,
    },

    /// A nesting limit was reached (`include` depth, `extends` chain length): named so that the
    /// loader answers instead of exhausting its stack.
    #[error("{}{key}: {message}", at(loc))]
    TooDeep {
        loc: Option<Location>,
        key: String,
        message: String,
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
    /// The error for a file that could not be read. A missing file and text that is not UTF-8
    /// keep the messages compose prints; anything else names where the file was named.
    pub(crate) fn read(
        path: &std::path::Path,
        key: impl Into<String>,
        loc: Option<Location>,
        e: crate::read::ReadError,
    ) -> ComposeError {
        use crate::read::ReadError;
        match e {
            ReadError::Io(source) => ComposeError::Io {
                path: path.to_path_buf(),
                source,
            },
            ReadError::NotUtf8 => ComposeError::Yaml {
                loc: Location {
                    file: path.display().to_string(),
                    line: 0,
                    col: 0,
                },
                message: "file is not valid UTF-8".into(),
            },
            source => ComposeError::Read {
                loc,
                key: key.into(),
                path: path.to_path_buf(),
                source,
            },
        }
    }
    pub(crate) fn invalid_at(loc: Option<Location>, message: impl Into<String>) -> ComposeError {
        ComposeError::Invalid {
            loc,
            message: message.into(),
        }
    }
}
