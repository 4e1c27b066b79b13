//! Engine identity: version, API version, counts. Used by `status`-style views.

use serde::Serialize;

use crate::{Engine, EngineError};

/// What an engine says about itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EngineIdentity {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

impl Engine {
    /// `GET /version`.
    pub async fn identity(&self) -> Result<EngineIdentity, EngineError> {
        let v = self
            .client()
            .version()
            .await
            .map_err(|e| EngineError::new("reading the engine version", e))?;
        Ok(EngineIdentity {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }
}
