//! The deploy lock on the target: a container named `hoist-lock.PROJECT.SERVICE` on the engine
//! itself, so every machine that deploys there sees the same lock.
//!
//! - **Taking it** is creating that container: the engine gives a name to one container only, so
//!   of two hoist processes on two machines exactly one succeeds; the other reads the holder from
//!   the container's labels (user, machine, pid, hoist version, since, message).
//! - **Heartbeat**: a deploy's lock container runs `sh` reading its stdin, and hoist stays
//!   attached to that stdin (`StdinOnce`). When the holder ends in any way (finished, crashed,
//!   SIGKILLed, its machine or network gone), the engine sees the attach connection close, the
//!   container's stdin ends and it exits. An exited lock container is a **dead holder's**: the
//!   next run removes it and takes the lock, saying whose it was.
//! - A **maintenance** lock (`hoist lock acquire -m`) is created and never started: no process
//!   keeps it, it holds until `hoist lock release`.
//!
//! The decisions ([`judge`]) are pure; [`Engine::take_target_lock`] runs them.

use std::collections::HashMap;

use serde_json::json;

use crate::attach::Attachment;
use crate::connect::Engine;
use crate::error::{EngineError, is_conflict, is_not_found};

/// Labels of a lock container.
pub const LABEL: &str = "io.hoist.lock";
const LABEL_PREFIX: &str = "io.hoist.lock.";

/// Seconds a deploy's lock container may sit created but unstarted before it counts as a dead
/// holder's (its holder died between creating and starting it).
pub const UNSTARTED_GRACE_SECS: i64 = 60;

/// What a lock is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Held by a running hoist process, with a heartbeat.
    Run,
    /// A maintenance window: held until released.
    Manual,
}

impl LockKind {
    fn as_str(self) -> &'static str {
        match self {
            LockKind::Run => "run",
            LockKind::Manual => "manual",
        }
    }
}

/// Who holds a lock, as its container's labels say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub machine: String,
    pub pid: u32,
    pub version: String,
    /// RFC 3339, UTC.
    pub since: String,
    pub message: String,
    pub kind: LockKind,
}

impl Holder {
    /// This process, now.
    pub fn me(kind: LockKind, message: &str) -> Holder {
        Holder {
            user: user_name(),
            machine: machine_name(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            since: now_rfc3339(),
            message: message.to_string(),
            kind,
        }
    }

    fn labels(&self, project: &str, service: &str) -> HashMap<String, String> {
        let mut labels = HashMap::new();
        labels.insert(LABEL.to_string(), "1".to_string());
        for (key, value) in [
            ("project", project.to_string()),
            ("service", service.to_string()),
            ("user", self.user.clone()),
            ("machine", self.machine.clone()),
            ("pid", self.pid.to_string()),
            ("version", self.version.clone()),
            ("since", self.since.clone()),
            ("message", self.message.clone()),
            ("kind", self.kind.as_str().to_string()),
        ] {
            labels.insert(format!("{LABEL_PREFIX}{key}"), value);
        }
        labels
    }

    /// Read back from labels (hostile: control characters are dropped, lengths bounded).
    fn from_labels(labels: &HashMap<String, String>) -> Holder {
        let get = |key: &str| {
            let raw = labels
                .get(&format!("{LABEL_PREFIX}{key}"))
                .map(String::as_str)
                .unwrap_or("?");
            raw.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        };
        Holder {
            user: get("user"),
            machine: get("machine"),
            pid: get("pid").parse().unwrap_or(0),
            version: get("version"),
            since: get("since"),
            message: get("message"),
            kind: match get("kind").as_str() {
                "manual" => LockKind::Manual,
                _ => LockKind::Run,
            },
        }
    }

    /// "alice on ci-7 (pid 4242, hoist 0.1.0) since 2026-12-06T21:00:00Z: deploying"
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} on {} (pid {}, hoist {}) since {}",
            self.user, self.machine, self.pid, self.version, self.since
        );
        if !self.message.is_empty() {
            text.push_str(&format!(": {}", self.message));
        }
        if self.kind == LockKind::Manual {
            text.push_str(" [maintenance lock, held until `hoist lock release`]");
        }
        text
    }
}

/// A lock container as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub holder: Holder,
    /// The engine's `State.Status`: created, running, exited, dead, ...
    pub status: String,
    /// When its process ended (`State.FinishedAt`), for an exited one.
    pub finished_at: Option<String>,
    /// Seconds since the holder took it (from `since`), when known.
    pub age_secs: Option<i64>,
    /// The holder ran on this machine and its process is gone (checked in `/proc`): its lock
    /// is dead even in the moment before the engine notices the connection closed.
    pub holder_gone_here: bool,
}

/// What the lock's state means for someone who wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Held by a live holder (or a maintenance window).
    Held,
    /// Its holder is gone: the container may be removed and the lock taken.
    Dead,
}

/// The rule, in one place (and shown by `hoist lock status`): a deploy's lock whose container has
/// stopped, or that was never started within [`UNSTARTED_GRACE_SECS`], belongs to a holder that
/// is gone; anything else is held. A maintenance lock is held until released.
pub fn judge(observed: &Observed) -> Verdict {
    match (observed.holder.kind, observed.status.as_str()) {
        (LockKind::Manual, _) => Verdict::Held,
        (LockKind::Run, _) if observed.holder_gone_here => Verdict::Dead,
        (LockKind::Run, "running" | "restarting" | "paused") => Verdict::Held,
        (LockKind::Run, "created") => match observed.age_secs {
            Some(age) if age > UNSTARTED_GRACE_SECS => Verdict::Dead,
            _ => Verdict::Held,
        },
        (LockKind::Run, _) => Verdict::Dead,
    }
}

/// The rule in words, for `hoist lock status`.
pub const RULE: &str = "a deploy's lock is alive while its holder's hoist process stays attached \
     to the lock container; when the process ends in any way the container stops, and the next \
     deploy removes it and takes the lock (at once when the holder ran on the same machine and \
     its process is gone). A maintenance lock (hoist lock acquire) holds until hoist lock \
     release.";

/// The lock container's name for `service` of `project`. Project names hold no `.`, so the
/// name is unambiguous.
pub fn container_name(project: &str, service: &str) -> String {
    format!("hoist-lock.{project}.{service}")
}

/// A lock this process holds. Dropping it ends the heartbeat (the container stops, and the
/// next run takes over); [`TargetLock::release`] removes it at once.
pub struct TargetLock {
    engine: Engine,
    name: String,
    _heartbeat: Option<Attachment>,
}

impl std::fmt::Debug for TargetLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetLock")
            .field("name", &self.name)
            .finish()
    }
}

impl TargetLock {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Removes the lock container.
    pub async fn release(self) -> Result<(), EngineError> {
        self.engine
            .remove_container_for_down(&self.name, false)
            .await
    }
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TargetLockError {
    #[error(
        "{service} of project {project} is locked on this engine by {}; wait for it with \
         --wait-lock{}",
        holder.describe(),
        match holder.kind {
            LockKind::Manual => ", or end the window with `hoist lock release`",
            LockKind::Run => "",
        }
    )]
    Held {
        project: String,
        service: String,
        holder: Box<Holder>,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Whether the engine's answer behind `e` passes `check` (`is_not_found`, `is_conflict`).
fn is_engine(e: &EngineError, check: fn(&bollard::errors::Error) -> bool) -> bool {
    e.source.as_ref().is_some_and(check)
}

/// What taking the lock did beside taking it.
#[derive(Debug, Clone, Default)]
pub struct Taken {
    /// The dead holder whose lock was removed first, if any.
    pub took_over: Option<Holder>,
}

impl Engine {
    /// The lock on `service` of `project`, when one exists.
    pub async fn target_lock(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Option<Observed>, EngineError> {
        let name = container_name(project, service);
        let value = match self.inspect_container_json(&name).await {
            Ok(v) => v,
            Err(e) if is_engine(&e, is_not_found) => return Ok(None),
            Err(e) => return Err(e),
        };
        let labels: HashMap<String, String> = value["Config"]["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        if !labels.contains_key(LABEL) {
            return Err(EngineError::message(format!(
                "container {name} is in the way of the deploy lock: it is not one of hoist's \
                 (no {LABEL} label); rename or remove it"
            )));
        }
        let holder = Holder::from_labels(&labels);
        let state = &value["State"];
        let status = state["Status"].as_str().unwrap_or("").to_string();
        let finished_at = state["FinishedAt"]
            .as_str()
            .filter(|t| !t.starts_with("0001-"))
            .map(str::to_string);
        let age_secs = seconds_since(&holder.since);
        let holder_gone_here = holder.machine == machine_name()
            && holder.pid != 0
            && holder.pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{}", holder.pid)).exists();
        Ok(Some(Observed {
            holder,
            status,
            finished_at,
            age_secs,
            holder_gone_here,
        }))
    }

    /// Takes the lock on `service` of `project` for `holder`, using `image` (which must have
    /// `sh`) for the lock container; pulls it when missing. A dead holder's lock is removed
    /// first. When the lock is held: waits when `wait`, else fails naming the holder.
    pub async fn take_target_lock(
        &self,
        project: &str,
        service: &str,
        holder: &Holder,
        image: &str,
        auth: Option<&crate::auth::RegistryAuth>,
        wait: bool,
    ) -> Result<(TargetLock, Taken), TargetLockError> {
        let name = container_name(project, service);
        let mut taken = Taken::default();
        let mut pulled = false;
        loop {
            match self
                .create_lock_container(&name, project, service, holder, image)
                .await
            {
                Ok(()) => break,
                Err(e) if is_engine(&e, is_conflict) => {}
                Err(e) if is_engine(&e, is_not_found) && !pulled => {
                    pulled = true;
                    self.pull(image, auth, |_| {}).await.map_err(|e| {
                        EngineError::message(format!("pulling {image} for the deploy lock: {e}"))
                    })?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            // Someone's lock is there.
            let Some(observed) = self.target_lock(project, service).await? else {
                continue; // released meanwhile
            };
            match judge(&observed) {
                Verdict::Dead => {
                    self.remove_container_for_down(&name, false).await?;
                    taken.took_over = Some(observed.holder);
                }
                Verdict::Held if wait => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Verdict::Held => {
                    return Err(TargetLockError::Held {
                        project: project.to_string(),
                        service: service.to_string(),
                        holder: Box::new(observed.holder),
                    });
                }
            }
        }
        let heartbeat = match holder.kind {
            LockKind::Manual => None,
            LockKind::Run => {
                let started = async {
                    // Attached before the start: the container's stdin is this connection.
                    let attachment = self.attach(&name, true).await?;
                    self.start_container(&name).await?;
                    Ok::<_, EngineError>(attachment)
                };
                match started.await {
                    Ok(attachment) => Some(attachment),
                    Err(e) => {
                        let _ = self.remove_container_for_down(&name, false).await;
                        return Err(e.into());
                    }
                }
            }
        };
        Ok((
            TargetLock {
                engine: self.clone(),
                name,
                _heartbeat: heartbeat,
            },
            taken,
        ))
    }

    /// Removes the lock on `service` of `project`: a maintenance lock, a dead holder's, or, with
    /// `force`, a live one. Returns the holder it removed.
    pub async fn release_target_lock(
        &self,
        project: &str,
        service: &str,
        force: bool,
    ) -> Result<Option<Holder>, TargetLockError> {
        let Some(observed) = self.target_lock(project, service).await? else {
            return Ok(None);
        };
        let live_run = observed.holder.kind == LockKind::Run && judge(&observed) == Verdict::Held;
        if live_run && !force {
            return Err(TargetLockError::Held {
                project: project.to_string(),
                service: service.to_string(),
                holder: Box::new(observed.holder),
            });
        }
        self.remove_container_for_down(&container_name(project, service), false)
            .await?;
        Ok(Some(observed.holder))
    }

    async fn create_lock_container(
        &self,
        name: &str,
        project: &str,
        service: &str,
        holder: &Holder,
        image: &str,
    ) -> Result<(), EngineError> {
        crate::ids::image(image)?;
        let body = json!({
            "Image": image,
            // Reads its stdin until it ends: the holder's attach connection.
            "Cmd": ["sh", "-c", "while read -r _; do :; done"],
            "Entrypoint": [],
            "Labels": holder.labels(project, service),
            "OpenStdin": true,
            "StdinOnce": true,
            "AttachStdin": true,
            // No network namespace to set up: the engine skips its network hook, the most
            // expensive part of starting a container.
            "NetworkDisabled": true,
            "HostConfig": {
                "NetworkMode": "none",
                "ReadonlyRootfs": true,
                "LogConfig": {"Type": "none"},
            },
        });
        self.create_container_raw(name, &body, &format!("creating the deploy lock {name}"))
            .await
            .map(|_| ())
    }
}

/// This machine's host name, as holders and records name it.
pub fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// `USER` or `LOGNAME`, else this process's uid looked up in `/etc/passwd`, else `uid N`.
pub fn user_name() -> String {
    use std::os::unix::fs::MetadataExt;
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    {
        return name;
    }
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "?".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds from an `rfc3339` time this module wrote until now.
fn seconds_since(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    let then = days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some(now - then)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(kind: LockKind, status: &str, age: Option<i64>) -> Observed {
        Observed {
            holder: Holder {
                kind,
                ..Holder::me(kind, "m")
            },
            status: status.into(),
            finished_at: None,
            age_secs: age,
            holder_gone_here: false,
        }
    }

    #[test]
    fn a_running_or_fresh_lock_is_held_and_a_stopped_one_is_its_dead_holders() {
        assert_eq!(
            judge(&observed(LockKind::Run, "running", Some(5))),
            Verdict::Held
        );
        assert_eq!(
            judge(&observed(LockKind::Run, "created", Some(5))),
            Verdict::Held
        );
        assert_eq!(
            judge(&observed(LockKind::Run, "created", Some(61))),
            Verdict::Dead
        );
        assert_eq!(
            judge(&observed(LockKind::Run, "created", None)),
            Verdict::Held
        );
        assert_eq!(
            judge(&observed(LockKind::Run, "exited", Some(5))),
            Verdict::Dead
        );
        assert_eq!(judge(&observed(LockKind::Run, "dead", None)), Verdict::Dead);
        // Its holder ran here and its process is gone: dead before the engine notices.
        let mut gone = observed(LockKind::Run, "running", Some(1));
        gone.holder_gone_here = true;
        assert_eq!(judge(&gone), Verdict::Dead);
        // A maintenance window holds whatever its container does.
        assert_eq!(
            judge(&observed(LockKind::Manual, "created", Some(99_999))),
            Verdict::Held
        );
        assert_eq!(
            judge(&observed(LockKind::Manual, "exited", None)),
            Verdict::Held
        );
    }

    #[test]
    fn holders_round_trip_through_labels_and_hostile_labels_are_tamed() {
        let me = Holder::me(LockKind::Manual, "db migration");
        let back = Holder::from_labels(&me.labels("books", "app"));
        assert_eq!(back, me);
        let mut labels = me.labels("books", "app");
        labels.insert(
            format!("{LABEL_PREFIX}message"),
            "\u{1b}[2Jcleared\nnext".into(),
        );
        let tamed = Holder::from_labels(&labels);
        assert_eq!(tamed.message, "[2Jclearednext");
        assert!(me.describe().contains("maintenance lock"));
    }

    #[test]
    fn times_are_written_and_read_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_589_614), "2026-12-06T20:40:14Z");
        let age = seconds_since(&now_rfc3339()).unwrap();
        assert!((0..=2).contains(&age), "{age}");
        assert_eq!(seconds_since("yesterday"), None);
        assert_eq!(container_name("books", "app"), "hoist-lock.books.app");
    }
}
