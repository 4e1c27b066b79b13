//! Attaching to a container's standard streams, as `docker compose run` does: the Engine API's
//! attach call takes over the connection, the container's output comes back multiplexed on it
//! and what hoist writes to it becomes the container's stdin. Attached before the container
//! starts, so no output is lost.

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::query_parameters::AttachContainerOptionsBuilder;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::connect::Engine;
use crate::error::EngineError;
use crate::logs::LogStream;

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A container's output as bytes, stdout and stderr merged (what a terminal shows).
pub type Bytes = Pin<Box<dyn Stream<Item = Result<Vec<u8>, EngineError>> + Send>>;

/// The writer that is a container's (or an exec's) stdin.
pub type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// A container's standard streams, taken over by [`Engine::attach`].
pub struct Attachment {
    container: String,
    output: Output,
    input: Pin<Box<dyn AsyncWrite + Send>>,
}

/// Chunks of hoist's stdin, read on a thread of their own: a blocking read of a terminal
/// cannot be cancelled, and must not hold up the end of the command once the container ended.
pub fn stdin_chunks() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

impl Engine {
    /// Attaches to `container`'s stdout and stderr, and its stdin when `stdin`.
    pub async fn attach(&self, container: &str, stdin: bool) -> Result<Attachment, EngineError> {
        self.attach_with(container, stdin, None).await
    }

    /// [`Engine::attach`], the engine ending the attachment (not the container) when the input
    /// carries `detach_keys` (docker's `ctrl-p,ctrl-q` form).
    pub async fn attach_with(
        &self,
        container: &str,
        stdin: bool,
        detach_keys: Option<&str>,
    ) -> Result<Attachment, EngineError> {
        let name = crate::ids::container(container)?;
        let mut options = AttachContainerOptionsBuilder::default()
            .stdin(stdin)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false);
        if let Some(keys) = detach_keys {
            options = options.detach_keys(keys);
        }
        let options = options.build();
        let attached = self
            .client()
            .attach_container(name, Some(options))
            .await
            .map_err(|e| EngineError::new(format!("attaching to container {name}"), e))?;
        Ok(Attachment {
            container: name.to_string(),
            output: attached.output,
            input: attached.input,
        })
    }
}

impl Attachment {
    /// The streams of `container` (or of an exec in it) the engine handed over.
    pub(crate) fn new(
        container: &str,
        output: Output,
        input: Pin<Box<dyn AsyncWrite + Send>>,
    ) -> Attachment {
        Attachment {
            container: container.to_string(),
            output,
            input,
        }
    }

    /// The output alone (the input is dropped, closing nothing the engine waits on: a command
    /// started without stdin).
    pub(crate) fn into_output(self) -> Output {
        self.output
    }

    /// The two halves, for a caller that moves the bytes itself (the dashboard's console): the
    /// output as it comes (stdout and stderr merged, as a terminal shows them) and the writer
    /// that is the command's stdin.
    pub fn split(self) -> (Bytes, Input) {
        let Attachment {
            container,
            output,
            input,
        } = self;
        let output = output.filter_map(move |chunk| {
            let item = match chunk {
                Ok(LogOutput::StdOut { message })
                | Ok(LogOutput::StdErr { message })
                | Ok(LogOutput::Console { message }) => Some(Ok(message.to_vec())),
                Ok(LogOutput::StdIn { .. }) => None,
                Err(e) => Some(Err(EngineError::new(
                    format!("reading the output of container {container}"),
                    e,
                ))),
            };
            std::future::ready(item)
        });
        (Box::pin(output), input)
    }

    /// Feeds `stdin` (when given) to the container until it ends, then closes the container's
    /// stdin, as the docker CLI does; hands the container's output to `output` as it comes,
    /// until the container closes it (it exited).
    pub async fn pump(
        self,
        stdin: Option<mpsc::Receiver<Vec<u8>>>,
        mut output: impl FnMut(LogStream, &[u8]) + Send,
    ) -> Result<(), EngineError> {
        let Attachment {
            container,
            output: mut stream,
            mut input,
        } = self;
        let feed = async move {
            if let Some(mut chunks) = stdin {
                while let Some(chunk) = chunks.recv().await {
                    if input.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                // End of input: the container sees its stdin close.
                let _ = input.shutdown().await;
            }
            // Without stdin the write half stays open until the output ends.
            std::future::pending::<()>().await;
        };
        let drain = async {
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        output(LogStream::Stdout, &message)
                    }
                    Ok(LogOutput::StdErr { message }) => output(LogStream::Stderr, &message),
                    Ok(LogOutput::StdIn { .. }) => {}
                    Err(e) => {
                        return Err(EngineError::new(
                            format!("reading the output of container {container}"),
                            e,
                        ));
                    }
                }
            }
            Ok(())
        };
        tokio::select! {
            result = drain => result,
            () = feed => Ok(()),
        }
    }
}
