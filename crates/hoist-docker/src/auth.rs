//! Registry credentials from a Docker config file (`~/.docker/config.json`), found the way the
//! docker CLI finds them: a per-registry `credHelpers` entry first, then the `credsStore`, then
//! the file's own `auths` (base64 `auth`, or `username`/`password`, or `identitytoken`).
//!
//! The caller passes the file's path: only the binary reads `DOCKER_CONFIG` and `HOME`.
//!
//! Why not the `docker_credential` crate: it collapses every failure into a unit variant (a
//! malformed file and an absent one read the same), treats a helper's "credentials not found"
//! as a failure although docker then proceeds anonymously, and always looks helpers up on
//! `PATH`, which leaves the helper protocol untestable without touching the environment.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::json_error_without_input;
use crate::reference::{DOCKER_HUB, DOCKER_HUB_AUTH_KEY, registry_host};

/// Credentials for one registry. `Debug` does not print secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    /// The registry as docker keys it (`https://index.docker.io/v1/` for Docker Hub, else the
    /// host and port).
    pub server: String,
    pub credential: Credential,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    UsernamePassword {
        username: String,
        password: String,
    },
    /// An OAuth refresh token (`identitytoken`, or a helper answering with user `<token>`).
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::UsernamePassword { username, .. } => f
                .debug_struct("UsernamePassword")
                .field("username", username)
                .finish_non_exhaustive(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(..)"),
        }
    }
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = match &self.credential {
            Credential::UsernamePassword { username, .. } => username.as_str(),
            Credential::IdentityToken(_) => "<token>",
        };
        f.debug_struct("RegistryAuth")
            .field("server", &self.server)
            .field("user", &user)
            .finish_non_exhaustive()
    }
}

impl RegistryAuth {
    pub fn basic(server: &str, username: &str, password: &str) -> RegistryAuth {
        RegistryAuth {
            server: server.to_string(),
            credential: Credential::UsernamePassword {
                username: username.to_string(),
                password: password.to_string(),
            },
        }
    }

    pub(crate) fn to_bollard(&self) -> bollard::auth::DockerCredentials {
        let mut creds = bollard::auth::DockerCredentials {
            serveraddress: Some(self.server.clone()),
            ..Default::default()
        };
        match &self.credential {
            Credential::UsernamePassword { username, password } => {
                creds.username = Some(username.clone());
                creds.password = Some(password.clone());
            }
            Credential::IdentityToken(token) => creds.identitytoken = Some(token.clone()),
        }
        creds
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the Docker config file {}: {cause}", path.display())]
    Unreadable { path: PathBuf, cause: String },

    #[error(
        "the Docker config file {} is not valid JSON: {cause} (fix or remove it, then run `docker login` again)",
        path.display()
    )]
    Malformed { path: PathBuf, cause: String },

    #[error(
        "the credentials for {server} in {} cannot be decoded: {why} (run `docker login {server}` again)",
        path.display()
    )]
    BadAuthEntry {
        path: PathBuf,
        server: String,
        why: String,
    },

    #[error(
        "cannot run the credential helper {program} for {server}: {cause} (install it, or remove \
         the credsStore/credHelpers entry from {})",
        path.display()
    )]
    HelperMissing {
        program: String,
        server: String,
        path: PathBuf,
        cause: String,
    },

    /// `message` is hoist's own words: a helper's output may hold the secret, so it is never
    /// quoted.
    #[error(
        "the credential helper {program} failed for {server}: {message} (its output is not \
         shown, as it may hold the secret; run `echo {server} | {program} get` to see it)"
    )]
    HelperFailed {
        program: String,
        server: String,
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// A loaded Docker config file.
#[derive(Debug)]
pub struct DockerConfig {
    path: PathBuf,
    raw: RawConfig,
    helper_dir: Option<PathBuf>,
}

impl DockerConfig {
    /// Reads the file. A missing file is an empty config (docker proceeds anonymously too).
    pub fn load(path: &Path) -> Result<DockerConfig, AuthError> {
        match std::fs::read_to_string(path) {
            Ok(text) => DockerConfig::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerConfig {
                path: path.to_path_buf(),
                raw: RawConfig::default(),
                helper_dir: None,
            }),
            Err(e) => Err(AuthError::Unreadable {
                path: path.to_path_buf(),
                cause: e.to_string(),
            }),
        }
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<DockerConfig, AuthError> {
        let raw = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_json::from_str(text).map_err(|e| AuthError::Malformed {
                path: path.to_path_buf(),
                cause: json_error_without_input(&e),
            })?
        };
        Ok(DockerConfig {
            path: path.to_path_buf(),
            raw,
            helper_dir: None,
        })
    }

    /// Looks `docker-credential-*` programs up in `dir` instead of on `PATH`.
    pub fn with_helper_dir(mut self, dir: &Path) -> DockerConfig {
        self.helper_dir = Some(dir.to_path_buf());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Credentials for the registry that holds `reference` (`None`: pull or push anonymously).
    pub fn credentials_for_image(
        &self,
        reference: &str,
    ) -> Result<Option<RegistryAuth>, AuthError> {
        self.credentials_for(&registry_host(reference))
    }

    /// Credentials for a registry host (`docker.io`, `localhost:5000`, ...).
    pub fn credentials_for(&self, registry: &str) -> Result<Option<RegistryAuth>, AuthError> {
        let registry = normalize_host(registry);
        let server = if registry == DOCKER_HUB {
            DOCKER_HUB_AUTH_KEY.to_string()
        } else {
            registry.to_string()
        };
        let helper = self
            .raw
            .cred_helpers
            .iter()
            .find(|(key, _)| normalize_host(key) == registry)
            .map(|(_, helper)| helper)
            .or(self.raw.creds_store.as_ref())
            .filter(|h| !h.is_empty());
        if let Some(helper) = helper {
            return self.ask_helper(helper, &server);
        }
        let Some(entry) = self.file_entry(registry) else {
            return Ok(None);
        };
        self.decode_entry(&server, entry)
    }

    /// Every credential the config knows, as the classic builder wants them for pulling the
    /// base images of a build (docker sends them all in `X-Registry-Config`).
    pub fn all_credentials(&self) -> Result<Vec<RegistryAuth>, AuthError> {
        let mut hosts: Vec<String> = self
            .raw
            .auths
            .keys()
            .chain(self.raw.cred_helpers.keys())
            .map(|k| normalize_host(k).to_string())
            .collect();
        hosts.sort();
        hosts.dedup();
        let mut all = Vec::new();
        for host in hosts {
            if let Some(auth) = self.credentials_for(&host)? {
                all.push(auth);
            }
        }
        Ok(all)
    }

    fn file_entry(&self, registry: &str) -> Option<&RawAuth> {
        self.raw
            .auths
            .iter()
            .find(|(key, _)| normalize_host(key) == registry)
            .map(|(_, entry)| entry)
    }

    fn decode_entry(
        &self,
        server: &str,
        entry: &RawAuth,
    ) -> Result<Option<RegistryAuth>, AuthError> {
        let bad = |why: &str| AuthError::BadAuthEntry {
            path: self.path.clone(),
            server: server.to_string(),
            why: why.to_string(),
        };
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(RegistryAuth {
                server: server.to_string(),
                credential: Credential::IdentityToken(token.clone()),
            }));
        }
        if let Some(encoded) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let (username, password) = decode_basic(encoded).map_err(|why| bad(&why))?;
            return Ok(Some(RegistryAuth::basic(server, &username, &password)));
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(RegistryAuth::basic(server, u, p))),
            // An empty entry is what `docker login` leaves when a store holds the secret.
            _ => Ok(None),
        }
    }

    fn ask_helper(&self, helper: &str, server: &str) -> Result<Option<RegistryAuth>, AuthError> {
        let program = format!("docker-credential-{helper}");
        let path = match &self.helper_dir {
            Some(dir) => dir.join(&program),
            None => PathBuf::from(&program),
        };
        let missing = |cause: String| AuthError::HelperMissing {
            program: program.clone(),
            server: server.to_string(),
            path: self.path.clone(),
            cause,
        };
        let mut child = Command::new(&path)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| missing(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // The helper may exit before reading; its answer below says what happened.
            let _ = stdin.write_all(server.as_bytes());
        }
        let output = child
            .wait_with_output()
            .map_err(|e| missing(e.to_string()))?;
        parse_helper_answer(
            &program,
            server,
            output.status.success(),
            &output.stdout,
            &output.stderr,
        )
    }
}

/// Interprets a `docker-credential-* get` answer.
fn parse_helper_answer(
    program: &str,
    server: &str,
    success: bool,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<Option<RegistryAuth>, AuthError> {
    let failed = |message: String| AuthError::HelperFailed {
        program: program.to_string(),
        server: server.to_string(),
        message,
    };
    let out = String::from_utf8_lossy(stdout);
    if !success {
        // The helper protocol's way of saying "nothing stored": docker then goes anonymous.
        if out.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(if out.trim().is_empty() && stderr.is_empty() {
            "it exited with an error and printed nothing".into()
        } else {
            "it exited with an error".into()
        }));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        username: String,
        secret: String,
    }
    let answer: Answer = serde_json::from_str(&out).map_err(|e| {
        failed(format!(
            "its answer is not the expected JSON ({})",
            json_error_without_input(&e)
        ))
    })?;
    let credential = if answer.username == "<token>" {
        Credential::IdentityToken(answer.secret)
    } else {
        Credential::UsernamePassword {
            username: answer.username,
            password: answer.secret,
        }
    };
    Ok(Some(RegistryAuth {
        server: server.to_string(),
        credential,
    }))
}

/// Decodes an `auth` value: base64 of `user:password` (padding optional, as docker accepts).
pub fn decode_basic(encoded: &str) -> Result<(String, String), String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(encoded.trim())
        // Not the decoder's message: it names a byte of the secret and where it is.
        .map_err(|_| "`auth` is not base64".to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "`auth` is not UTF-8 text".to_string())?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| "`auth` must encode user:password".to_string())?;
    if user.is_empty() {
        return Err("`auth` has an empty user name".into());
    }
    Ok((user.to_string(), password.to_string()))
}

/// A config key or registry name reduced to the host docker compares: scheme and path dropped,
/// Docker Hub's aliases folded into `docker.io`.
fn normalize_host(key: &str) -> &str {
    let stripped = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = stripped.split('/').next().unwrap_or(stripped);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        DockerConfig::parse(json, Path::new("/home/u/.docker/config.json")).unwrap()
    }

    fn user_pass(auth: Option<RegistryAuth>) -> (String, String, String) {
        let auth = auth.expect("credentials");
        match auth.credential {
            Credential::UsernamePassword { username, password } => {
                (auth.server, username, password)
            }
            Credential::IdentityToken(t) => panic!("unexpected token {t}"),
        }
    }

    #[test]
    fn decodes_base64_auth_with_and_without_padding() {
        // "ci:s3cr:et" — the password may contain ':'.
        assert_eq!(
            decode_basic("Y2k6czNjcjpldA==").unwrap(),
            ("ci".into(), "s3cr:et".into())
        );
        assert_eq!(
            decode_basic("Y2k6czNjcjpldA").unwrap(),
            ("ci".into(), "s3cr:et".into())
        );
        assert!(decode_basic("not base64!").unwrap_err().contains("base64"));
        // "nocolon"
        assert!(
            decode_basic("bm9jb2xvbg==")
                .unwrap_err()
                .contains("user:password")
        );
    }

    #[test]
    fn finds_file_credentials_by_registry_host() {
        let c = config(
            r#"{"auths": {
                "localhost:5000": {"auth": "Y2k6cHc="},
                "https://index.docker.io/v1/": {"username": "hub", "password": "hp"},
                "https://ghcr.io/v2/": {"identitytoken": "tok"}
            }}"#,
        );
        assert_eq!(
            user_pass(c.credentials_for_image("localhost:5000/app:v1").unwrap()),
            ("localhost:5000".into(), "ci".into(), "pw".into())
        );
        assert_eq!(
            user_pass(c.credentials_for_image("nginx").unwrap()),
            (DOCKER_HUB_AUTH_KEY.into(), "hub".into(), "hp".into())
        );
        let ghcr = c.credentials_for_image("ghcr.io/org/app").unwrap().unwrap();
        assert_eq!(ghcr.credential, Credential::IdentityToken("tok".into()));
        assert_eq!(
            c.credentials_for_image("10.200.0.1:5000/app").unwrap(),
            None
        );
    }

    #[test]
    fn a_missing_file_means_anonymous_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = DockerConfig::load(&dir.path().join("config.json")).unwrap();
        assert_eq!(missing.credentials_for("docker.io").unwrap(), None);
        let err = DockerConfig::parse("{nope", Path::new("/x/config.json")).unwrap_err();
        assert!(err.to_string().contains("/x/config.json"), "{err}");
        let c = config(r#"{"auths": {"localhost:5000": {"auth": "%%%"}}}"#);
        let err = c.credentials_for("localhost:5000").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("docker login localhost:5000"), "{msg}");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let auth = RegistryAuth::basic("localhost:5000", "ci", "hunter2");
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn helper_answers_are_interpreted_as_docker_does() {
        let ok = br#"{"ServerURL":"r","Username":"bot","Secret":"s"}"#;
        assert_eq!(
            user_pass(parse_helper_answer("h", "r", true, ok, b"").unwrap()),
            ("r".into(), "bot".into(), "s".into())
        );
        let token = br#"{"ServerURL":"r","Username":"<token>","Secret":"t"}"#;
        assert_eq!(
            parse_helper_answer("h", "r", true, token, b"")
                .unwrap()
                .unwrap()
                .credential,
            Credential::IdentityToken("t".into())
        );
        assert_eq!(
            parse_helper_answer(
                "h",
                "r",
                false,
                b"credentials not found in native keychain\n",
                b""
            )
            .unwrap(),
            None
        );
        let err =
            parse_helper_answer("docker-credential-x", "r", false, b"", b"locked").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("docker-credential-x failed for r"), "{msg}");
        assert!(!msg.contains("locked"), "{msg}");
    }

    #[test]
    fn a_helpers_output_never_reaches_the_error() {
        const SECRET: &str = "s3cr3t-hunter2";
        let answers: [(bool, String); 5] = [
            // A bare JSON string: serde_json's own message would quote it.
            (true, format!("\"{SECRET}\"")),
            (
                true,
                format!("{{\"Username\":\"bot\",\"Secret\":\"{SECRET}\""),
            ),
            (
                true,
                format!("{{\"Username\":[\"{SECRET}\"],\"Secret\":\"x\"}}"),
            ),
            (true, format!("Secret: {SECRET}")),
            (false, format!("{{\"Secret\":\"{SECRET}\"}}")),
        ];
        for (success, out) in answers {
            let err = parse_helper_answer(
                "docker-credential-evil",
                "localhost:5000",
                success,
                out.as_bytes(),
                SECRET.as_bytes(),
            )
            .unwrap_err();
            let msg = err.to_string();
            assert!(!msg.contains(SECRET), "{out}: {msg}");
            assert!(
                msg.contains("docker-credential-evil failed for localhost:5000"),
                "{msg}"
            );
        }
    }

    #[test]
    fn config_file_errors_never_quote_its_values() {
        const SECRET: &str = "c2VjcmV0LXBhc3N3b3Jk";
        for text in [
            format!(r#"{{"auths": "{SECRET}"}}"#),
            format!(r#"{{"auths": {{"r": {{"auth": ["{SECRET}"]}}}}, "credsStore": 1}}"#),
            format!(r#"{{"credHelpers": {{"r": {{"x": "{SECRET}"}}}}}}"#),
        ] {
            let err = DockerConfig::parse(&text, Path::new("/x/config.json")).unwrap_err();
            let msg = err.to_string();
            assert!(!msg.contains(SECRET), "{msg}");
            assert!(msg.contains("/x/config.json"), "{msg}");
            assert!(msg.contains("line 1, column"), "{msg}");
        }
        // A byte of a malformed `auth` and its offset would narrow the secret down.
        let c = config(r#"{"auths": {"r": {"auth": "c2Vj%mV0"}}}"#);
        let msg = c.credentials_for("r").unwrap_err().to_string();
        assert!(!msg.contains("37") && !msg.contains("offset"), "{msg}");
    }

    #[cfg(unix)]
    fn fake_helper(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn cred_helpers_win_over_the_store_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // Echoes the server it was asked about, so the test sees what docker would send.
        fake_helper(
            dir.path(),
            "pass",
            "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"from-pass\",\"Secret\":\"%s\"}' \"$server\" \"$server\"\n",
        );
        fake_helper(
            dir.path(),
            "store",
            "#!/bin/sh\nread server\necho 'credentials not found in native keychain'\nexit 1\n",
        );
        let c = config(
            r#"{"auths": {"localhost:5000": {"auth": "Y2k6cHc="}, "ghcr.io": {}},
                "credsStore": "store",
                "credHelpers": {"10.200.0.1:5000": "pass", "docker.io": "pass"}}"#,
        )
        .with_helper_dir(dir.path());
        assert_eq!(
            user_pass(c.credentials_for("10.200.0.1:5000").unwrap()),
            (
                "10.200.0.1:5000".into(),
                "from-pass".into(),
                "10.200.0.1:5000".into()
            )
        );
        // Docker Hub's helper is asked about docker's Hub key.
        assert_eq!(
            user_pass(c.credentials_for_image("nginx").unwrap()).2,
            DOCKER_HUB_AUTH_KEY
        );
        // With a store configured, docker asks the store, not the file; "not found" = anonymous.
        assert_eq!(c.credentials_for("localhost:5000").unwrap(), None);
        let missing = config(r#"{"credsStore": "nonexistent"}"#).with_helper_dir(dir.path());
        let err = missing.credentials_for("ghcr.io").unwrap_err();
        assert!(
            err.to_string().contains("docker-credential-nonexistent"),
            "{err}"
        );
    }
}
