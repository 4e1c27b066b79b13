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

/// A command as `hoist exec` runs it: the user's flags over an [`ExecCommand`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: ExecCommand,
    pub privileged: bool,
    /// A pseudo-terminal: output comes back as one raw stream, and the size can be set.
    pub tty: bool,
    /// The command's stdin is open and fed from hoist's.
    pub stdin: bool,
}

/// An exec started attached: its id (to resize it and read its exit code) and its streams.
pub struct StartedExec {
    pub id: String,
    pub streams: crate::attach::Attachment,
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
    /// Runs `command` in the running container and waits for it to finish, its output captured.
    pub async fn exec(
        &self,
        container: &str,
        command: &ExecCommand,
    ) -> Result<ExecOutput, ExecError> {
        use bollard::container::LogOutput;
        let request = ExecRequest {
            command: command.clone(),
            ..Default::default()
        };
        let started = self.exec_attached(container, &request).await?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut output = started.streams.into_output();
        let what = format!("running {:?}", describe(&command.argv));
        while let Some(chunk) = output.next().await {
            match chunk.map_err(|e| self.container_error(container, &what, e))? {
                LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    stdout.extend_from_slice(&message)
                }
                LogOutput::StdIn { .. } => {}
            }
        }
        let exit_code = self.exec_exit_code(container, &started.id).await?;
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// Creates the exec of `request` in `container`, its streams attached unless `detach`.
    async fn create_exec_of(
        &self,
        container: &str,
        request: &ExecRequest,
        detach: bool,
    ) -> Result<(String, String), ExecError> {
        use bollard::exec::CreateExecOptions;
        let container = crate::ids::container(container).map_err(EngineError::from)?;
        let command = &request.command;
        if command.argv.is_empty() {
            return Err(ExecError::EmptyCommand);
        }
        let what = format!("running {:?}", describe(&command.argv));
        let options = CreateExecOptions {
            attach_stdout: Some(!detach),
            attach_stderr: Some(!detach),
            attach_stdin: Some(request.stdin && !detach),
            tty: Some(request.tty),
            cmd: Some(command.argv.clone()),
            env: (!command.env.is_empty()).then(|| command.env.clone()),
            user: command.user.clone(),
            working_dir: command.working_dir.clone(),
            privileged: Some(request.privileged),
            ..Default::default()
        };
        let created = self
            .client()
            .create_exec(container, options)
            .await
            .map_err(|e| self.container_error(container, &what, e))?;
        let id = crate::ids::object(crate::ids::Kind::Exec, &created.id)
            .map_err(EngineError::from)?
            .to_string();
        Ok((id, what))
    }

    /// Starts `request` in `container` in the background, as `exec -d` does.
    pub async fn exec_detached(
        &self,
        container: &str,
        request: &ExecRequest,
    ) -> Result<(), ExecError> {
        use bollard::exec::StartExecOptions;
        let (id, what) = self.create_exec_of(container, request, true).await?;
        self.client()
            .start_exec(
                &id,
                Some(StartExecOptions {
                    detach: true,
                    tty: request.tty,
                    output_capacity: None,
                }),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.container_error(container, &what, e))
    }

    /// Starts `request` in `container` with its streams attached: the engine takes the
    /// connection over, as for `attach`; [`crate::attach::Attachment::pump`] then moves the
    /// bytes and [`Engine::exec_exit_code`] reads how it ended.
    pub async fn exec_attached(
        &self,
        container: &str,
        request: &ExecRequest,
    ) -> Result<StartedExec, ExecError> {
        use bollard::exec::{StartExecOptions, StartExecResults};
        let (id, what) = self.create_exec_of(container, request, false).await?;
        let started = self
            .client()
            .start_exec(
                &id,
                Some(StartExecOptions {
                    detach: false,
                    tty: request.tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| self.container_error(container, &what, e))?;
        match started {
            StartExecResults::Attached { output, input } => Ok(StartedExec {
                id,
                streams: crate::attach::Attachment::new(container, output, input),
            }),
            StartExecResults::Detached => Err(ExecError::Failed {
                operation: what,
                container: container.to_string(),
                message: "the engine did not attach the command's streams".into(),
            }),
        }
    }

    /// Sets the pseudo-terminal size of exec `exec_id` (rows, columns).
    pub async fn resize_exec(&self, exec_id: &str, rows: u16, cols: u16) -> Result<(), ExecError> {
        let exec_id =
            crate::ids::object(crate::ids::Kind::Exec, exec_id).map_err(EngineError::from)?;
        self.client()
            .resize_exec(
                exec_id,
                bollard::exec::ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
            .await
            .map_err(|e| EngineError::new(format!("resizing exec {exec_id}"), e).into())
    }

    /// The exit code of exec `exec_id` in `container`, once the engine has it (the output can
    /// end a moment before the engine records it).
    pub async fn exec_exit_code(&self, container: &str, exec_id: &str) -> Result<i64, ExecError> {
        let exec_id =
            crate::ids::object(crate::ids::Kind::Exec, exec_id).map_err(EngineError::from)?;
        let what = "reading the command's exit code";
        let mut delay = Duration::from_millis(5);
        for _ in 0..40 {
            let inspect = self
                .client()
                .inspect_exec(exec_id)
                .await
                .map_err(|e| self.container_error(container, what, e))?;
            if inspect.running != Some(true)
                && let Some(exit_code) = inspect.exit_code
            {
                return Ok(exit_code);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
        Err(ExecError::Failed {
            operation: what.into(),
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
