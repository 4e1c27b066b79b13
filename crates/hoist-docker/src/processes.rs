//! A running container's processes: paused and resumed (`pause`, `unpause`), listed (`top`).

use crate::{Engine, EngineError};

/// What `top` shows of one container: the engine's column titles and one row per process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processes {
    pub titles: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Engine {
    /// Freezes every process of the running container `name`.
    pub async fn pause_container(&self, name: &str) -> Result<(), EngineError> {
        let name = crate::ids::container(name)?;
        self.client()
            .pause_container(name)
            .await
            .map_err(|e| EngineError::new(format!("pausing container {name}"), e))
    }

    /// Resumes the paused container `name`.
    pub async fn unpause_container(&self, name: &str) -> Result<(), EngineError> {
        let name = crate::ids::container(name)?;
        self.client()
            .unpause_container(name)
            .await
            .map_err(|e| EngineError::new(format!("unpausing container {name}"), e))
    }

    /// The processes of the running container `name`, as `ps -ef` shows them on its host.
    pub async fn top(&self, name: &str) -> Result<Processes, EngineError> {
        let name = crate::ids::container(name)?;
        let top = self
            .client()
            .top_processes(name, None::<bollard::query_parameters::TopOptions>)
            .await
            .map_err(|e| EngineError::new(format!("listing the processes of {name}"), e))?;
        Ok(Processes {
            titles: top.titles.unwrap_or_default(),
            rows: top.processes.unwrap_or_default(),
        })
    }
}
