//! Commands inside running containers (`exec`) and signals to their main process.
//!
//! The pipeline validates nginx's configuration with `nginx -t` and reloads it with SIGHUP this
//! way, without a shell on the host. Output is captured whole (these are short commands), and
//! the exit code is read back from the engine once the command's output has ended.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

use crate::error::{engine_message, is_not_found};
use crate::{Engine, EngineError};

/// A command to run in a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCommand {
    /// Program and arguments, run without a shell.
    pub argv: Vec<String>,
    /// `KEY=VALUE` pairs added to the container's environment.
    pub env: Vec<String>,
    /// `user`, `user:group` or numeric ids; the container's user when `None`.
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

impl ExecCommand {
    pub fn new<I, S>(argv: I) -> ExecCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecCommand {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

/// What a finished command wrote and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("no container {container} on the engine at {engine} (see `hoist ps -a`)")]
    NoSuchContainer { container: String, engine: String },

    #[error("container {container} is not running (start it first): {message}")]
    NotRunning { container: String, message: String },

    #[error("an exec needs a command")]
    EmptyCommand,

    #[error("unknown signal {signal:?} (use a name such as HUP or SIGTERM, or a number)")]
    BadSignal { signal: String },

    #[error("{operation} in {container}: {message}")]
    Failed {
        operation: String,
        container: String,
        message: String,
    },

    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Normalises a signal as docker accepts it: `HUP`, `SIGHUP`, `hup` and `1` all work.
pub fn normalize_signal(signal: &str) -> Result<String, ExecError> {
    let s = signal.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return Ok(s.to_string());
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-');
    if !valid {
        return Err(ExecError::BadSignal {
            signal: signal.to_string(),
        });
    }
    Ok(format!("SIG{name}"))
}

/// A command as errors name it: a script argument (several lines, or long) is shown by its size,
/// not its text, so that a failure reads as one line.
fn describe(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.contains('\n') || a.len() > 80 {
                format!("<script of {} lines>", a.lines().count())
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Engine {
    /// Runs `command` in the running container and waits for it to finish.
    pub async fn exec(
        &self,
        container: &str,
        command: &ExecCommand,
    ) -> Result<ExecOutput, ExecError> {
        use bollard::container::LogOutput;
        use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};

        let container = crate::ids::container(container).map_err(EngineError::from)?;
        if command.argv.is_empty() {
            return Err(ExecError::EmptyCommand);
        }
        let what = format!("running {:?}", describe(&command.argv));
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(false),
            tty: Some(false),
            cmd: Some(command.argv.clone()),
            env: (!command.env.is_empty()).then(|| command.env.clone()),
            user: command.user.clone(),
            working_dir: command.working_dir.clone(),
            ..Default::default()
        };
        let created = self
            .client()
            .create_exec(container, options)
            .await
            .map_err(|e| self.container_error(container, &what, e))?;
        // The exec id comes from the engine: checked like any other path parameter.
        let exec_id =
            crate::ids::object(crate::ids::Kind::Exec, &created.id).map_err(EngineError::from)?;
        let started = self
            .client()
            .start_exec(
                exec_id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| self.container_error(container, &what, e))?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| self.container_error(container, &what, e))? {
                    LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        stdout.extend_from_slice(&message)
                    }
                    LogOutput::StdIn { .. } => {}
                }
            }
        }
        // The output can end a moment before the engine records the exit code.
        let mut delay = Duration::from_millis(5);
        for _ in 0..40 {
            let inspect = self
                .client()
                .inspect_exec(exec_id)
                .await
                .map_err(|e| self.container_error(container, &what, e))?;
            if inspect.running != Some(true)
                && let Some(exit_code) = inspect.exit_code
            {
                return Ok(ExecOutput {
                    exit_code,
                    stdout,
                    stderr,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
        Err(ExecError::Failed {
            operation: what,
            container: container.to_string(),
            message: "the engine did not report an exit code".into(),
        })
    }

    /// Sends a signal (`HUP`, `SIGTERM`, `9`, ...) to the container's main process.
    pub async fn signal(&self, container: &str, signal: &str) -> Result<(), ExecError> {
        let container = crate::ids::container(container).map_err(EngineError::from)?;
        let signal = normalize_signal(signal)?;
        let options = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal(&signal)
            .build();
        self.client()
            .kill_container(container, Some(options))
            .await
            .map_err(|e| self.container_error(container, &format!("sending {signal}"), e))
    }

    fn container_error(
        &self,
        container: &str,
        operation: &str,
        err: bollard::errors::Error,
    ) -> ExecError {
        if is_not_found(&err) {
            return ExecError::NoSuchContainer {
                container: container.to_string(),
                engine: self.address().to_string(),
            };
        }
        match engine_message(&err) {
            Some(message)
                if message.contains("is not running") || message.contains("is paused") =>
            {
                ExecError::NotRunning {
                    container: container.to_string(),
                    message,
                }
            }
            Some(message) => ExecError::Failed {
                operation: operation.to_string(),
                container: container.to_string(),
                message,
            },
            None => EngineError::new(format!("{operation} in {container}"), err).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_accepted_in_docker_forms() {
        assert_eq!(normalize_signal("HUP").unwrap(), "SIGHUP");
        assert_eq!(normalize_signal("sighup").unwrap(), "SIGHUP");
        assert_eq!(normalize_signal("SIGRTMIN+3").unwrap(), "SIGRTMIN+3");
        assert_eq!(normalize_signal("9").unwrap(), "9");
        assert!(normalize_signal("").is_err());
        assert!(normalize_signal("SIG").is_err());
        assert!(normalize_signal("H UP").is_err());
    }

    #[test]
    fn errors_name_a_script_by_its_size() {
        let argv: Vec<String> = ["sh", "-c", "a\nb\nc", "hoist-apply", "/stage/1"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            describe(&argv),
            "sh -c <script of 3 lines> hoist-apply /stage/1"
        );
        assert_eq!(describe(&["nginx".into(), "-t".into()]), "nginx -t");
    }
}
