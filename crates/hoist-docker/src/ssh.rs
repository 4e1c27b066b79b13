//! Engines reached over SSH: `ssh://[user@]host[:port][/path/to/docker.sock]`.
//!
//! hoist runs the user's own OpenSSH client, once per destination and socket per hoist process:
//! `ssh -N -L LOCAL:REMOTE`, which forwards a private local unix socket to the engine's socket on
//! the remote host. Every request, event stream, log follow, exec and archive transfer is then a
//! connection to that local socket, which ssh carries as one more channel of its single SSH
//! session. Being the system `ssh`, it reads `~/.ssh/config` (aliases, HostName, User, Port,
//! IdentityFile, ProxyJump, Include, Match), uses the agent and checks `known_hosts` exactly as
//! `ssh` does for the user; hoist adds only what makes it safe unattended: no prompts
//! (`BatchMode`), no host key accepted unseen (`StrictHostKeyChecking=yes`), a connect timeout,
//! and an end to the forward when hoist ends.
//!
//! The decisions are pure ([`SshTarget::parse`], [`ssh_args`], [`classify`]); [`tunnel`] runs them.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The engine's socket on the remote host when the URL names none (as the docker CLI assumes).
pub const DEFAULT_REMOTE_SOCKET: &str = "/var/run/docker.sock";
/// Seconds ssh may take to reach the host (`HOIST_SSH_CONNECT_TIMEOUT` changes it).
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Seconds a shared connection stays after its last use, unless `HOIST_SSH_PERSIST` says.
pub const DEFAULT_PERSIST_SECS: u64 = 60;
/// Seconds the key exchange and authentication may take once the host answered.
const HANDSHAKE_GRACE_SECS: u64 = 20;

/// One `ssh://` destination and the engine socket there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    pub user: Option<String>,
    /// A host name, an address, or a `Host` alias of the user's ssh config.
    pub host: String,
    pub port: Option<u16>,
    /// The engine's unix socket on the remote host.
    pub socket: String,
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match self.host.contains(':') {
            true => write!(f, "[{}]", self.host)?,
            false => f.write_str(&self.host)?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if self.socket != DEFAULT_REMOTE_SOCKET {
            f.write_str(&self.socket)?;
        }
        Ok(())
    }
}

impl SshTarget {
    /// Parses what follows `ssh://`. Every part reaches the `ssh` command line, so each is held
    /// to the characters its kind can have: nothing can start with `-` (an option to ssh), and
    /// the socket path cannot hold `:` (the separator of `-L`), spaces or control characters.
    pub fn parse(rest: &str) -> Result<SshTarget, String> {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, authority),
        };
        if let Some(user) = user {
            let ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
            if user.is_empty() || user.starts_with('-') || !user.chars().all(ok) {
                return Err(format!("{user:?} is not a user name"));
            }
        }
        let (host, port) = split_host_port(hostport)?;
        let ok = |c: char| c.is_ascii_alphanumeric() || "._-:%".contains(c);
        if host.is_empty() {
            return Err("no host given".into());
        }
        if host.starts_with('-') || !host.chars().all(ok) {
            return Err(format!("{host:?} is not a host name or address"));
        }
        let socket = match path.trim_end_matches('/') {
            "" => DEFAULT_REMOTE_SOCKET.to_string(),
            p => {
                let ok = |c: char| !c.is_control() && !c.is_whitespace() && c != ':';
                if !p.chars().all(ok) || p.contains("/../") || p.ends_with("/..") {
                    return Err(format!(
                        "{p:?} is not a socket path (no spaces, ':' or '..' in it)"
                    ));
                }
                p.to_string()
            }
        };
        Ok(SshTarget {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
            socket,
        })
    }

    /// `user@host`, or the host alone, for messages.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{p:?} is not a port"))
    };
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed '['")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(port(p)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err("unexpected text after ']'".into()),
        };
    }
    match hostport.rsplit_once(':') {
        Some((host, p)) => Ok((host, Some(port(p)?))),
        None => Ok((hostport, None)),
    }
}

/// How long the connection lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// As long as this hoist process: ssh's messages come through a pipe.
    Process,
    /// Shared by this user's hoist processes, until `idle_secs` without use: ssh is its own
    /// master (`control`), runs in the background and writes its messages to `log`.
    Shared {
        control: PathBuf,
        log: PathBuf,
        idle_secs: u64,
    },
}

/// The `ssh` arguments that forward `local` to the target's engine socket.
pub fn ssh_args(
    target: &SshTarget,
    local: &Path,
    connect_timeout: u64,
    config: Option<&Path>,
    keep: &Keep,
) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if let Some(config) = config {
        args.extend(["-F".into(), config.display().to_string()]);
    }
    let control = match keep {
        // Our own connection: a user's ControlMaster would outlive hoist or carry it away.
        Keep::Process => vec![
            "ControlPath=none".to_string(),
            "ControlMaster=no".to_string(),
        ],
        Keep::Shared {
            control, idle_secs, ..
        } => vec![
            format!("ControlPath={}", control.display()),
            "ControlMaster=yes".to_string(),
            format!("ControlPersist={idle_secs}s"),
        ],
    };
    if let Keep::Shared { log, .. } = keep {
        args.extend(["-E".into(), log.display().to_string()]);
    }
    for option in control.into_iter().chain([
        // Never ask: no passwords, no "are you sure" about a host key.
        "BatchMode=yes".to_string(),
        // An unknown or changed host key ends the connection, whatever the config says.
        "StrictHostKeyChecking=yes".to_string(),
        format!("ConnectTimeout={connect_timeout}"),
        // No forward, no session: ssh exits instead of sitting there without one.
        "ExitOnForwardFailure=yes".to_string(),
        // Only this user may connect to the local end.
        "StreamLocalBindMask=0177".to_string(),
        "StreamLocalBindUnlink=yes".to_string(),
        // A peer that vanished is noticed within half a minute.
        "ServerAliveInterval=10".to_string(),
        "ServerAliveCountMax=3".to_string(),
    ]) {
        args.extend(["-o".into(), option]);
    }
    // -v: what ssh tells about keys and host keys, for the errors (kept in memory, never printed
    // whole).
    args.extend(["-N".into(), "-T".into(), "-v".into()]);
    args.extend([
        "-L".into(),
        format!("{}:{}", local.display(), target.socket),
    ]);
    if let Some(port) = target.port {
        args.extend(["-p".into(), port.to_string()]);
    }
    if let Some(user) = &target.user {
        args.extend(["-l".into(), user.clone()]);
    }
    args.extend(["--".into(), target.host.clone()]);
    args
}

/// Why an SSH connection did not come up, read from what ssh said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshFailure {
    /// The host's key is in no known_hosts file.
    UnknownHostKey { fingerprint: Option<String> },
    /// The host's key differs from the recorded one.
    ChangedHostKey {
        fingerprint: Option<String>,
        recorded_at: Option<String>,
    },
    /// The server refused every identity.
    AuthRefused { tried: Vec<String>, methods: String },
    /// The host did not answer, or refused the TCP connection.
    Unreachable { why: String },
    /// The name resolves to nothing.
    Unresolvable { why: String },
    /// sshd could not open the engine's socket.
    SocketUnavailable { why: String },
    /// Anything else: ssh's last words.
    Other { said: String },
}

/// Reads ssh's `-v` output for the reason it ended.
pub fn classify(lines: &[String]) -> SshFailure {
    let fingerprint = lines.iter().find_map(|l| {
        l.strip_prefix("debug1: Server host key: ")
            .map(|k| k.trim().to_string())
    });
    let find = |needle: &str| lines.iter().find(|l| l.contains(needle));
    if find("REMOTE HOST IDENTIFICATION HAS CHANGED").is_some() {
        let recorded_at = lines.iter().find_map(|l| {
            let rest = l.strip_prefix("Offending ")?;
            rest.split_once(" key in ")
                .map(|(_, at)| at.trim().to_string())
        });
        return SshFailure::ChangedHostKey {
            fingerprint,
            recorded_at,
        };
    }
    if find("Host key verification failed").is_some()
        || lines
            .iter()
            .any(|l| l.starts_with("No ") && l.contains("host key is known for"))
    {
        return SshFailure::UnknownHostKey { fingerprint };
    }
    if let Some(line) = find("Permission denied (") {
        let methods = line
            .rsplit_once('(')
            .map(|(_, m)| m.trim_end_matches([')', '.']).to_string())
            .unwrap_or_default();
        let mut tried: Vec<String> = Vec::new();
        for l in lines {
            let key = l
                .strip_prefix("debug1: Offering public key: ")
                .or_else(|| l.strip_prefix("debug1: Trying private key: "));
            if let Some(key) = key {
                let key = key.trim().to_string();
                if !tried.contains(&key) {
                    tried.push(key);
                }
            }
        }
        return SshFailure::AuthRefused { tried, methods };
    }
    if let Some(line) = find("Could not resolve hostname") {
        return SshFailure::Unresolvable {
            why: line.trim_start_matches("ssh: ").trim().to_string(),
        };
    }
    if let Some(line) = lines.iter().find(|l| {
        (l.starts_with("ssh: connect to host") || l.contains("Connection timed out during banner"))
            && !l.starts_with("debug")
    }) {
        return SshFailure::Unreachable {
            why: line.trim_start_matches("ssh: ").trim().to_string(),
        };
    }
    if let Some(line) = lines
        .iter()
        .rev()
        .find(|l| !l.starts_with("debug") && l.contains(": open failed: "))
    {
        let why = line.split_once(": open failed: ").map_or("", |(_, w)| w);
        return SshFailure::SocketUnavailable {
            why: why.trim().to_string(),
        };
    }
    let said = lines
        .iter()
        .rev()
        .find(|l| !l.starts_with("debug") && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "ssh ended without a word".into());
    SshFailure::Other { said }
}

impl SshFailure {
    /// The message for the user: what happened and what to do.
    pub fn explain(&self, target: &SshTarget) -> String {
        let host = &target.host;
        let port = target.port.map(|p| format!(" -p {p}")).unwrap_or_default();
        let seen = |f: &Option<String>| match f {
            Some(f) => format!("the host presents {f}"),
            None => "ssh did not show the host's key".into(),
        };
        match self {
            SshFailure::UnknownHostKey { fingerprint } => format!(
                "the SSH host key of {host} is not known ({}); hoist accepts no host key unseen. \
                 Check that fingerprint with the host's administrator, then record it: \
                 `ssh-keyscan{port} {host} >> ~/.ssh/known_hosts` (or connect once with \
                 `ssh{port} {}` and answer yes)",
                seen(fingerprint),
                target.destination()
            ),
            SshFailure::ChangedHostKey {
                fingerprint,
                recorded_at,
            } => format!(
                "WARNING: the SSH host key of {host} HAS CHANGED ({}; the recorded one is at {}). \
                 Someone may be intercepting the connection, or the host was reinstalled. \
                 Nothing was sent. If the change is expected, remove the old key with \
                 `ssh-keygen -R {host}` and record the new one",
                seen(fingerprint),
                recorded_at.as_deref().unwrap_or("known_hosts")
            ),
            SshFailure::AuthRefused { tried, methods } => {
                let tried = match tried.is_empty() {
                    true => "no identity was offered (no key in ~/.ssh, the agent or IdentityFile)"
                        .to_string(),
                    false => format!("identities tried: {}", tried.join("; ")),
                };
                format!(
                    "{} refused the SSH login ({tried}; the server accepts: {methods}). \
                     Add one of these keys to the server's authorized_keys, or name the right \
                     one with IdentityFile in ~/.ssh/config",
                    target.destination()
                )
            }
            SshFailure::Unreachable { why } => format!("SSH: {why}"),
            SshFailure::Unresolvable { why } => format!("SSH: {why}"),
            SshFailure::SocketUnavailable { why } => format!(
                "sshd on {host} could not open the engine's socket {} ({why}): it is missing, \
                 or {} may not use it (root and members of the docker group can). A socket \
                 elsewhere goes in the address: ssh://{}/path/to/docker.sock",
                target.socket,
                target.user.as_deref().unwrap_or("that user"),
                target.destination()
            ),
            SshFailure::Other { said } => format!("ssh ended: {said}"),
        }
    }
}

/// What ssh printed, the most recent lines (a long session adds a few per connection).
#[derive(Default)]
struct Said {
    lines: VecDeque<String>,
}

const SAID_KEPT: usize = 400;

/// An `ssh -N -L` carrying one engine's socket: this process's own, or the one this user's
/// hoist processes share.
pub struct Tunnel {
    /// The local end: connect here to reach the remote engine.
    pub local: PathBuf,
    kind: TunnelKind,
}

enum TunnelKind {
    Own {
        dir: PathBuf,
        child: Mutex<Child>,
        said: Arc<Mutex<Said>>,
    },
    Shared {
        log: PathBuf,
    },
}

impl Tunnel {
    fn alive(&self) -> bool {
        match &self.kind {
            TunnelKind::Own { child, .. } => {
                let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
                matches!(child.try_wait(), Ok(None))
            }
            TunnelKind::Shared { .. } => {
                std::os::unix::net::UnixStream::connect(&self.local).is_ok()
            }
        }
    }

    /// What ssh said lately, oldest first.
    pub fn said(&self) -> Vec<String> {
        match &self.kind {
            TunnelKind::Own { said, .. } => {
                let said = said.lock().unwrap_or_else(|e| e.into_inner());
                said.lines.iter().cloned().collect()
            }
            TunnelKind::Shared { log } => {
                let text = std::fs::read(log).unwrap_or_default();
                let text = String::from_utf8_lossy(&text);
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(SAID_KEPT);
                lines[from..]
                    .iter()
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .collect()
            }
        }
    }

    /// Ends this process's own ssh; a shared one is left to its idle timeout.
    fn close(&self) {
        if let TunnelKind::Own { dir, child, .. } = &self.kind {
            let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The tunnels of this process, one per target.
fn tunnels() -> &'static Mutex<HashMap<SshTarget, Arc<Tunnel>>> {
    static TUNNELS: OnceLock<Mutex<HashMap<SshTarget, Arc<Tunnel>>>> = OnceLock::new();
    TUNNELS.get_or_init(Default::default)
}

/// The process's tunnel to `target`, opened on first use. Blocking: it waits for the SSH
/// session (up to the connect timeout plus the handshake's grace).
pub fn tunnel(target: &SshTarget) -> Result<Arc<Tunnel>, String> {
    let mut all = tunnels().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(tunnel) = all.get(target) {
        if tunnel.alive() {
            return Ok(tunnel.clone());
        }
        tunnel.close();
        all.remove(target);
    }
    let tunnel = Arc::new(open(target)?);
    all.insert(target.clone(), tunnel.clone());
    Ok(tunnel)
}

/// Ends every tunnel of this process (its `ssh` exits, its socket folder goes).
pub fn close_all() {
    let mut all = tunnels().lock().unwrap_or_else(|e| e.into_inner());
    for (_, tunnel) in all.drain() {
        tunnel.close();
    }
}

/// The real name of the target's host, as ssh resolves it (`HostName` of a config alias), from
/// `ssh -G`; the name as written when ssh cannot say.
pub fn host_name(target: &SshTarget) -> String {
    static NAMES: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let names = NAMES.get_or_init(Default::default);
    if let Some(name) = names
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&target.host)
    {
        return name.clone();
    }
    let mut command = Command::new("ssh");
    if let Some(config) = config_file() {
        command.arg("-F").arg(config);
    }
    let resolved = command
        .args(["-G", "--", &target.host])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
                l.strip_prefix("hostname ")
                    .map(|h| h.trim().to_string())
                    .filter(|h| SshTarget::parse(h).is_ok())
            })
        })
        .unwrap_or_else(|| target.host.clone());
    names
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(target.host.clone(), resolved.clone());
    resolved
}

fn config_file() -> Option<PathBuf> {
    std::env::var_os("HOIST_SSH_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn connect_timeout() -> u64 {
    std::env::var("HOIST_SSH_CONNECT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS)
}

/// Seconds a shared connection outlives its last use (`HOIST_SSH_PERSIST`; 0: none is shared,
/// each hoist process makes its own).
fn persist_secs() -> u64 {
    std::env::var("HOIST_SSH_PERSIST")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_PERSIST_SECS)
}

fn open(target: &SshTarget) -> Result<Tunnel, String> {
    match persist_secs() {
        0 => open_own(target),
        idle => open_shared(target, idle),
    }
}

/// The connection this user's hoist processes share for `target`: taken when its socket
/// answers, else started (it then goes to the background and ends after `idle` seconds unused).
fn open_shared(target: &SshTarget, idle: u64) -> Result<Tunnel, String> {
    let dir = shared_dir()?;
    let config = config_file();
    let key = shared_key(target, config.as_deref());
    let local = dir.join(format!("{key}.sock"));
    let log = dir.join(format!("{key}.log"));
    let tunnel = Tunnel {
        local: local.clone(),
        kind: TunnelKind::Shared { log: log.clone() },
    };
    if tunnel.alive() {
        return Ok(tunnel);
    }
    // A master that died left its sockets: a new one could not take the control socket's name
    // (ssh would then run without persisting).
    let control = dir.join(format!("{key}.ctl"));
    let _ = std::fs::remove_file(&local);
    let _ = std::fs::remove_file(&control);
    let _ = std::fs::write(&log, b"");
    prune(&dir);
    let keep = Keep::Shared {
        control,
        log,
        idle_secs: idle,
    };
    let timeout = connect_timeout();
    let mut child = spawn(ssh_args(target, &local, timeout, config.as_deref(), &keep))?;
    let deadline = Instant::now() + Duration::from_secs(timeout + HANDSHAKE_GRACE_SECS);
    loop {
        if tunnel.alive() {
            // The foreground ssh exits once its master is in the background.
            std::thread::spawn(move || child.wait());
            return Ok(tunnel);
        }
        // A zero exit is the foreground ssh leaving its master in the background: keep waiting
        // for the socket. Anything else ended the connection.
        if matches!(child.try_wait(), Ok(Some(status)) if !status.success()) {
            return Err(classify(&tunnel.said()).explain(target));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(no_session(target, timeout));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Removes what ended connections left in the shared folder (a master ends after
/// `HOIST_SSH_PERSIST` seconds idle; its files stay): sockets nothing answers on, and logs a day
/// old whose connection is gone. A live master's files are never touched.
fn prune(dir: &Path) {
    let day = Duration::from_secs(86_400);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let answers = |p: &Path| std::os::unix::net::UnixStream::connect(p).is_ok();
    for entry in entries.flatten() {
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let gone = match ext {
            "sock" | "ctl" => !answers(&path),
            "log" => {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > day);
                old && !answers(&path.with_extension("sock"))
            }
            _ => false,
        };
        if gone {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn no_session(target: &SshTarget, timeout: u64) -> String {
    format!(
        "SSH: no session with {} within {} s (the host answered but the login did not finish)",
        target.destination(),
        timeout + HANDSHAKE_GRACE_SECS
    )
}

/// A stable name for a target and the ssh config it is read with (FNV-1a, 64 bits).
fn shared_key(target: &SshTarget, config: Option<&Path>) -> String {
    let text = format!(
        "{}\0{}\0{}",
        target,
        target.user.as_deref().unwrap_or(""),
        config.map(|c| c.display().to_string()).unwrap_or_default()
    );
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// This user's folder for shared connections: made 0700, and refused when it is anyone else's
/// or open to others (in a shared /tmp, someone could have made it first).
fn shared_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot tell this user's id: {e}"))?;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("hoist-ssh-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot make {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is not a folder of this user's alone (owner {}, mode {:o}); remove it",
            dir.display(),
            meta.uid(),
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(dir)
}

fn open_own(target: &SshTarget) -> Result<Tunnel, String> {
    let dir = private_dir()?;
    let local = dir.join("docker.sock");
    let timeout = connect_timeout();
    let args = ssh_args(
        target,
        &local,
        timeout,
        config_file().as_deref(),
        &Keep::Process,
    );
    let mut child = spawn(args).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    })?;
    let said = Arc::new(Mutex::new(Said::default()));
    if let Some(stderr) = child.stderr.take() {
        let said = said.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut said = said.lock().unwrap_or_else(|e| e.into_inner());
                if said.lines.len() == SAID_KEPT {
                    said.lines.pop_front();
                }
                said.lines
                    .push_back(line.trim_end_matches('\r').to_string());
            }
        });
    }
    let tunnel = Tunnel {
        local,
        kind: TunnelKind::Own {
            dir,
            child: Mutex::new(child),
            said,
        },
    };
    let deadline = Instant::now() + Duration::from_secs(timeout + HANDSHAKE_GRACE_SECS);
    loop {
        if !tunnel.alive() {
            // ssh has exited: let the reader take its last words.
            std::thread::sleep(Duration::from_millis(50));
            let failure = classify(&tunnel.said());
            tunnel.close();
            return Err(failure.explain(target));
        }
        if std::os::unix::net::UnixStream::connect(&tunnel.local).is_ok() {
            return Ok(tunnel);
        }
        if Instant::now() > deadline {
            tunnel.close();
            return Err(no_session(target, timeout));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A folder only this user can enter, for the local end of a forward.
fn private_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = base.join(format!("hoist-ssh-{}-{n}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Starts ssh from a thread that lives as long as the process, under `setpriv --pdeathsig`
/// when the system has it: the kernel then ends ssh when hoist ends, however it ends (the
/// parent-death signal follows the thread that started the child, hence the long-lived thread).
fn spawn(args: Vec<String>) -> Result<Child, String> {
    type Request = (Vec<String>, mpsc::Sender<Result<Child, String>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("hoist-ssh".into())
            .spawn(move || {
                let setpriv = which("setpriv");
                for (args, reply) in rx {
                    let _ = reply.send(start(setpriv.as_deref(), &args));
                }
            })
            .expect("a thread for ssh");
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((args, reply))
        .map_err(|_| "the ssh starter has stopped".to_string())?;
    answer
        .recv()
        .map_err(|_| "the ssh starter has stopped".to_string())?
}

fn start(setpriv: Option<&Path>, args: &[String]) -> Result<Child, String> {
    let ssh = which("ssh").ok_or(
        "ssh:// needs the OpenSSH client: no `ssh` on PATH (Debian: apt-get install \
         openssh-client)",
    )?;
    let mut command = match setpriv {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "TERM", "--"]).arg(&ssh);
            c
        }
        None => Command::new(&ssh),
    };
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", ssh.display()))
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn targets_parse_with_user_port_and_socket() {
        let t = SshTarget::parse("root@10.200.0.2").unwrap();
        assert_eq!(t.user.as_deref(), Some("root"));
        assert_eq!(t.host, "10.200.0.2");
        assert_eq!(t.port, None);
        assert_eq!(t.socket, DEFAULT_REMOTE_SOCKET);
        assert_eq!(t.to_string(), "ssh://root@10.200.0.2");

        let t = SshTarget::parse("deploy@prod:2222/run/user/1000/docker.sock").unwrap();
        assert_eq!(t.port, Some(2222));
        assert_eq!(t.socket, "/run/user/1000/docker.sock");
        assert_eq!(
            t.to_string(),
            "ssh://deploy@prod:2222/run/user/1000/docker.sock"
        );

        let t = SshTarget::parse("[::1]:22").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(22)));
        assert_eq!(t.to_string(), "ssh://[::1]:22");
        assert_eq!(SshTarget::parse("prod-alias").unwrap().user, None);
    }

    #[test]
    fn targets_that_would_become_ssh_options_or_break_the_forward_are_refused() {
        for bad in [
            "",
            "-oProxyCommand=sh",
            "root@-oProxyCommand=x",
            "-l@host",
            "host:0",
            "host:99999",
            "host:x",
            "ho st",
            "host/run/docker.sock:/etc",
            "host/run/a b.sock",
            "host/run/../etc/shadow",
            "[::1",
            "@host",
        ] {
            assert!(SshTarget::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_command_line_forwards_the_socket_and_never_prompts() {
        let t = SshTarget::parse("deploy@prod:2222/run/d.sock").unwrap();
        let args = ssh_args(&t, Path::new("/tmp/x/docker.sock"), 7, None, &Keep::Process);
        let joined = args.join(" ");
        for want in [
            "-o BatchMode=yes",
            "-o StrictHostKeyChecking=yes",
            "-o ConnectTimeout=7",
            "-o ExitOnForwardFailure=yes",
            "-L /tmp/x/docker.sock:/run/d.sock",
            "-p 2222",
            "-l deploy",
        ] {
            assert!(joined.contains(want), "{want} missing from {joined}");
        }
        // the host comes last, after the end of options
        assert_eq!(&args[args.len() - 2..], ["--", "prod"]);
        let with_config = ssh_args(
            &t,
            Path::new("/s"),
            7,
            Some(Path::new("/etc/c")),
            &Keep::Process,
        );
        assert_eq!(&with_config[..2], ["-F", "/etc/c"]);
        assert!(with_config.join(" ").contains("-o ControlPath=none"));
        let shared = ssh_args(
            &t,
            Path::new("/s"),
            7,
            None,
            &Keep::Shared {
                control: "/d/k.ctl".into(),
                log: "/d/k.log".into(),
                idle_secs: 60,
            },
        )
        .join(" ");
        for want in [
            "-E /d/k.log",
            "-o ControlPath=/d/k.ctl",
            "-o ControlMaster=yes",
            "-o ControlPersist=60s",
        ] {
            assert!(shared.contains(want), "{want} missing from {shared}");
        }
    }

    #[test]
    fn an_unknown_host_key_is_named_with_its_fingerprint() {
        let said = lines(
            "debug1: Connecting to 10.200.0.2 [10.200.0.2] port 22.\n\
             debug1: Server host key: ssh-ed25519 SHA256:abcDEF123\n\
             No ED25519 host key is known for 10.200.0.2 and you have requested strict checking.\n\
             Host key verification failed.",
        );
        let failure = classify(&said);
        assert_eq!(
            failure,
            SshFailure::UnknownHostKey {
                fingerprint: Some("ssh-ed25519 SHA256:abcDEF123".into())
            }
        );
        let text = failure.explain(&SshTarget::parse("root@10.200.0.2").unwrap());
        assert!(text.contains("SHA256:abcDEF123"), "{text}");
        assert!(
            text.contains("ssh-keyscan 10.200.0.2 >> ~/.ssh/known_hosts"),
            "{text}"
        );
    }

    #[test]
    fn a_changed_host_key_is_refused_loudly_with_where_the_old_one_is() {
        let said = lines(
            "debug1: Server host key: ssh-ed25519 SHA256:new\n\
             @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
             @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
             Offending ED25519 key in /root/.ssh/known_hosts:3\n\
             Host key verification failed.",
        );
        let failure = classify(&said);
        let text = failure.explain(&SshTarget::parse("prod").unwrap());
        assert!(text.contains("HAS CHANGED"), "{text}");
        assert!(text.contains("/root/.ssh/known_hosts:3"), "{text}");
        assert!(text.contains("ssh-keygen -R prod"), "{text}");
    }

    #[test]
    fn a_refused_login_lists_the_identities_tried() {
        let said = lines(
            "debug1: Will attempt key: /root/.ssh/id_rsa\n\
             debug1: Offering public key: /k/id_ed25519 ED25519 SHA256:one explicit\n\
             debug1: Trying private key: /root/.ssh/id_rsa\n\
             debug1: Offering public key: /k/id_ed25519 ED25519 SHA256:one explicit\n\
             root@10.200.0.2: Permission denied (publickey).",
        );
        let SshFailure::AuthRefused { tried, methods } = classify(&said) else {
            panic!("not an auth failure");
        };
        assert_eq!(
            tried,
            [
                "/k/id_ed25519 ED25519 SHA256:one explicit",
                "/root/.ssh/id_rsa"
            ]
        );
        assert_eq!(methods, "publickey");
    }

    #[test]
    fn unreachable_unresolvable_and_socket_failures_are_told_apart() {
        let unreachable = classify(&lines(
            "debug1: connect to address 10.200.0.77 port 22: Connection timed out\n\
             ssh: connect to host 10.200.0.77 port 22: Connection timed out",
        ));
        assert_eq!(
            unreachable,
            SshFailure::Unreachable {
                why: "connect to host 10.200.0.77 port 22: Connection timed out".into()
            }
        );
        assert!(matches!(
            classify(&lines(
                "ssh: Could not resolve hostname nope.invalid: Name or service not known"
            )),
            SshFailure::Unresolvable { .. }
        ));
        assert_eq!(
            classify(&lines(
                "debug1: channel 1: new direct-streamlocal@openssh.com\n\
                 channel 1: open failed: connect failed: open failed"
            )),
            SshFailure::SocketUnavailable {
                why: "connect failed: open failed".into()
            }
        );
        assert_eq!(
            classify(&lines("debug1: x\nsomething odd\n")),
            SshFailure::Other {
                said: "something odd".into()
            }
        );
    }
}
