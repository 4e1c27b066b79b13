//! Container logs as a stream of lines tagged stdout or stderr (`logs [-f] [--tail N] [-t]`).
//!
//! The engine sends a container's logs multiplexed (8-byte frame headers naming the stream)
//! unless the container has a TTY, in which case it sends raw bytes that all count as stdout.
//! The container is inspected first so TTY output is never mistaken for stderr, and frames are
//! re-split into lines, since one frame may hold several lines or part of one.

use std::collections::VecDeque;
use std::pin::Pin;

use futures_util::stream::{BoxStream, Stream, StreamExt};
use serde::Serialize;

use crate::error::{engine_message, is_not_found};
use crate::lines::LineBuffer;
use crate::{Engine, EngineError};

/// Which stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line of a container's output, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub stream: LogStream,
    /// The engine's RFC 3339 timestamp, when timestamps were asked for.
    pub timestamp: Option<String>,
    pub text: String,
}

/// What to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new output until the container stops (`-f`).
    pub follow: bool,
    /// Only the last N lines (`--tail N`); everything when `None`.
    pub tail: Option<u64>,
    /// Ask the engine for a timestamp on every line (`-t`).
    pub timestamps: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("no container {container} on the engine at {engine} (see `hoist ps -a`)")]
    NoSuchContainer { container: String, engine: String },

    #[error("reading the logs of {container}: {message}")]
    Failed { container: String, message: String },

    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The stream [`Engine::logs`] returns.
pub type LogLines = BoxStream<'static, Result<LogLine, LogsError>>;

/// Turns raw chunks into tagged lines; one line buffer per stream so interleaved frames do not
/// mix partial lines.
#[derive(Debug, Default)]
struct Splitter {
    timestamps: bool,
    stdout: LineBuffer,
    stderr: LineBuffer,
}

impl Splitter {
    fn push(&mut self, stream: LogStream, chunk: &[u8], out: &mut VecDeque<LogLine>) {
        let timestamps = self.timestamps;
        let buffer = match stream {
            LogStream::Stdout => &mut self.stdout,
            LogStream::Stderr => &mut self.stderr,
        };
        buffer.push(chunk, |line| {
            out.push_back(to_line(stream, timestamps, line))
        });
    }

    fn finish(&mut self, out: &mut VecDeque<LogLine>) {
        let timestamps = self.timestamps;
        self.stdout
            .finish(|line| out.push_back(to_line(LogStream::Stdout, timestamps, line)));
        self.stderr
            .finish(|line| out.push_back(to_line(LogStream::Stderr, timestamps, line)));
    }
}

fn to_line(stream: LogStream, timestamps: bool, line: String) -> LogLine {
    if timestamps && let Some((ts, text)) = line.split_once(' ') {
        return LogLine {
            stream,
            timestamp: Some(ts.to_string()),
            text: text.to_string(),
        };
    }
    LogLine {
        stream,
        timestamp: None,
        text: line,
    }
}

type RawStream = Pin<
    Box<dyn Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>> + Send>,
>;

struct State {
    raw: RawStream,
    tty: bool,
    splitter: Splitter,
    ready: VecDeque<LogLine>,
    container: String,
    done: bool,
}

impl Engine {
    /// Streams the logs of `container` (name or id) as lines. With `follow`, the stream ends
    /// when the container stops.
    pub async fn logs(&self, container: &str, options: LogOptions) -> Result<LogLines, LogsError> {
        let container = crate::ids::container(container).map_err(EngineError::from)?;
        let inspect = self
            .client()
            .inspect_container(
                container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    LogsError::NoSuchContainer {
                        container: container.to_string(),
                        engine: self.address().to_string(),
                    }
                } else {
                    EngineError::new(format!("inspecting container {container}"), e).into()
                }
            })?;
        let tty = inspect.config.and_then(|c| c.tty).unwrap_or(false);
        let query = bollard::query_parameters::LogsOptionsBuilder::default()
            .follow(options.follow)
            .stdout(true)
            .stderr(true)
            .timestamps(options.timestamps)
            .tail(
                &options
                    .tail
                    .map_or_else(|| "all".to_string(), |n| n.to_string()),
            )
            .build();
        let raw: RawStream = Box::pin(self.client().logs(container, Some(query)));
        let state = State {
            raw,
            tty,
            splitter: Splitter {
                timestamps: options.timestamps,
                ..Default::default()
            },
            ready: VecDeque::new(),
            container: container.to_string(),
            done: false,
        };
        Ok(futures_util::stream::unfold(state, next_line).boxed())
    }
}

async fn next_line(mut state: State) -> Option<(Result<LogLine, LogsError>, State)> {
    use bollard::container::LogOutput;
    loop {
        if let Some(line) = state.ready.pop_front() {
            return Some((Ok(line), state));
        }
        if state.done {
            return None;
        }
        match state.raw.next().await {
            Some(Ok(output)) => {
                let stream = match (&output, state.tty) {
                    (_, true) => LogStream::Stdout,
                    (LogOutput::StdErr { .. }, false) => LogStream::Stderr,
                    _ => LogStream::Stdout,
                };
                state
                    .splitter
                    .push(stream, output.as_ref(), &mut state.ready);
            }
            Some(Err(e)) => {
                state.done = true;
                let error = LogsError::Failed {
                    container: state.container.clone(),
                    message: engine_message(&e).unwrap_or_else(|| e.to_string()),
                };
                return Some((Err(error), state));
            }
            None => {
                state.done = true;
                state.splitter.finish(&mut state.ready);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_lines_per_stream() {
        let mut s = Splitter::default();
        let mut out = VecDeque::new();
        s.push(LogStream::Stdout, b"one\ntw", &mut out);
        s.push(LogStream::Stderr, b"err\n", &mut out);
        s.push(LogStream::Stdout, b"o\n", &mut out);
        s.push(LogStream::Stdout, b"tail", &mut out);
        s.finish(&mut out);
        let got: Vec<_> = out.into_iter().map(|l| (l.stream, l.text)).collect();
        assert_eq!(
            got,
            [
                (LogStream::Stdout, "one".to_string()),
                (LogStream::Stderr, "err".to_string()),
                (LogStream::Stdout, "two".to_string()),
                (LogStream::Stdout, "tail".to_string()),
            ]
        );
    }

    #[test]
    fn timestamps_are_split_off() {
        let mut s = Splitter {
            timestamps: true,
            ..Default::default()
        };
        let mut out = VecDeque::new();
        s.push(
            LogStream::Stdout,
            b"2026-11-27T13:00:00.123456789Z hello world\n",
            &mut out,
        );
        let line = out.pop_front().unwrap();
        assert_eq!(
            line.timestamp.as_deref(),
            Some("2026-11-27T13:00:00.123456789Z")
        );
        assert_eq!(line.text, "hello world");
    }
}
