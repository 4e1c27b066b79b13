//! A target's environment in `hoist.yml`: plain values (`env:`) and secrets (`secrets:`) whose
//! values come from a file, a variable of the person running hoist, or a command (`pass show x`,
//! `op read ...`, any secret manager's CLI). Resolved when a run or a release starts, before
//! anything on the target changes; the values then join the environment the deploy files are
//! interpolated with (so a compose `environment:` secret or `${NAME}` reaches the services) and
//! the steps' host commands, and every secret value is masked wherever the run's output goes.
//!
//! ```yaml
//! targets:
//!   prod:
//!     host: tcp://10.200.0.2:2375
//!     env:
//!       LOG_LEVEL: info
//!     secrets:
//!       DB_PASSWORD: { command: pass show books/db }
//!       API_TOKEN: { env: BOOKS_API_TOKEN }
//!       TLS_KEY: { file: secrets/key.pem }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// What a target adds to its runs' environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetEnv {
    /// `env:`: plain values, shown like any other.
    pub plain: BTreeMap<String, String>,
    /// `secrets:`, in the file's order.
    pub secrets: Vec<Secret>,
}

/// One secret: its variable name and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub name: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, relative to `hoist.yml`'s folder.
    File(PathBuf),
    /// A variable of the environment hoist runs in.
    Env(String),
    /// A shell command (`sh -c`), run in `hoist.yml`'s folder; its standard output is the value.
    Command(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::Command(command) => write!(f, "command `{command}`"),
        }
    }
}

/// A secret that could not be resolved: its name, its source and why, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {name} of target {target} ({source_text}): {reason}")]
pub struct ResolveError {
    pub target: String,
    pub name: String,
    pub source_text: String,
    pub reason: String,
}

/// The resolved environment: every variable a target adds, and the secret values among them
/// (for the masker).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub vars: BTreeMap<String, String>,
    pub secret_values: Vec<String>,
}

/// The longest value a secret's file or command may give.
pub const MAX_SECRET_BYTES: usize = 1 << 20;
/// How long a secret's command may take (a secret manager that waits for a login fails then).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `name` can be an environment variable's name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Resolves `env` for target `target`: file paths against `dir`, variables from `process_env`.
/// Every secret is resolved before any is used, so one that fails fails the whole, first.
pub async fn resolve(
    target: &str,
    env: &TargetEnv,
    dir: &Path,
    process_env: &BTreeMap<String, String>,
) -> Result<Resolved, ResolveError> {
    let mut resolved = Resolved {
        vars: env.plain.clone(),
        secret_values: Vec::new(),
    };
    for secret in &env.secrets {
        let value = value_of(&secret.source, dir, process_env)
            .await
            .map_err(|reason| ResolveError {
                target: target.to_string(),
                name: secret.name.clone(),
                source_text: secret.source.to_string(),
                reason,
            })?;
        resolved.secret_values.push(value.clone());
        resolved.vars.insert(secret.name.clone(), value);
    }
    Ok(resolved)
}

/// One source's value; the error says why without quoting what was read.
async fn value_of(
    source: &Source,
    dir: &Path,
    process_env: &BTreeMap<String, String>,
) -> Result<String, String> {
    match source {
        Source::Env(var) => process_env
            .get(var)
            .cloned()
            .ok_or_else(|| "the variable is not set".to_string()),
        Source::File(path) => {
            let path = dir.join(path);
            let bytes = hoist_compose::read::read_bytes(&path).map_err(|e| e.to_string())?;
            text_value(bytes)
        }
        Source::Command(command) => text_value(run_command(command, dir).await?),
    }
}

/// A file's or command's output as a value: UTF-8, at most [`MAX_SECRET_BYTES`], its trailing
/// newlines dropped as the shell's `$(...)` drops them.
fn text_value(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(format!("longer than {} KiB", MAX_SECRET_BYTES >> 10));
    }
    let mut text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let kept = text.trim_end_matches(['\n', '\r']).len();
    text.truncate(kept);
    Ok(text)
}

/// Runs `command` with `sh -c` in `dir`, no input; its standard output, or why it failed (its
/// exit status and the last line it wrote to standard error).
async fn run_command(command: &str, dir: &Path) -> Result<Vec<u8>, String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start sh: {e}"))?;
    let mut stdout = child
        .stdout
        .take()
        .expect("piped")
        .take(MAX_SECRET_BYTES as u64 + 1);
    let mut stderr = child.stderr.take().expect("piped").take(64 << 10);
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (read_out, read_err) =
            tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err),);
        read_out.map_err(|e| format!("reading its output: {e}"))?;
        let _ = read_err;
        let status = child
            .wait()
            .await
            .map_err(|e| format!("waiting for it: {e}"))?;
        Ok::<_, String>((status, out, err))
    };
    let (status, out, err) = tokio::time::timeout(COMMAND_TIMEOUT, work)
        .await
        .map_err(|_| format!("did not finish within {}s", COMMAND_TIMEOUT.as_secs()))??;
    if status.success() {
        return Ok(out);
    }
    let said = String::from_utf8_lossy(&err)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().chars().take(200).collect::<String>());
    let status = match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "was killed by a signal".to_string(),
    };
    Err(match said {
        Some(line) => format!("{status}: {line}"),
        None => status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(secrets: &[(&str, Source)]) -> TargetEnv {
        TargetEnv {
            plain: BTreeMap::from([("LEVEL".to_string(), "info".to_string())]),
            secrets: secrets
                .iter()
                .map(|(name, source)| Secret {
                    name: name.to_string(),
                    source: source.clone(),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn each_source_gives_its_value_without_trailing_newlines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "from-file\n\n").unwrap();
        let process = BTreeMap::from([("TOKEN_VAR".to_string(), "from-env\n".to_string())]);
        let env = env_of(&[
            ("A", Source::File("key".into())),
            ("B", Source::Env("TOKEN_VAR".into())),
            ("C", Source::Command("printf 'from-%s\\n' command".into())),
        ]);
        let got = resolve("prod", &env, dir.path(), &process).await.unwrap();
        assert_eq!(got.vars["A"], "from-file");
        assert_eq!(got.vars["B"], "from-env\n", "a variable is taken as it is");
        assert_eq!(got.vars["C"], "from-command");
        assert_eq!(got.vars["LEVEL"], "info");
        assert_eq!(
            got.secret_values,
            ["from-file", "from-env\n", "from-command"]
        );
    }

    #[tokio::test]
    async fn a_source_that_fails_names_the_secret_the_target_and_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                Source::File("missing.pem".into()),
                "missing.pem",
                "No such file",
            ),
            (Source::Env("UNSET_VAR".into()), "UNSET_VAR", "not set"),
            (
                Source::Command(
                    "printf '%s-%s' part out; echo 'vault is sealed' >&2; exit 3".into(),
                ),
                "vault is sealed",
                "exited with status 3",
            ),
            (
                Source::Command("printf '\\377'".into()),
                "printf",
                "not UTF-8",
            ),
        ];
        for (source, names, why) in cases {
            let env = env_of(&[("DB_PASSWORD", source)]);
            let e = resolve("prod", &env, dir.path(), &BTreeMap::new())
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("DB_PASSWORD") && e.contains("prod") && e.contains(names),
                "{e}"
            );
            assert!(e.contains(why), "{e}");
            assert!(
                !e.contains("part-out"),
                "what a failing command printed: {e}"
            );
        }
    }

    #[test]
    fn variable_names_follow_the_shells_grammar() {
        for ok in ["A", "_x", "DB_PASSWORD2"] {
            assert!(is_variable_name(ok), "{ok}");
        }
        for bad in ["", "2A", "A-B", "A B", "A=B", "é"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
