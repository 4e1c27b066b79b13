//! Releases of a target of several hosts (`hosts:` in `hoist.yml`): each host is a blue-green
//! [`Release`] of its own (its engine, its proxy); this module orders them.
//!
//! A deploy first pulls the image on every host, so that a registry or credential problem stops
//! it before anything changed. Then it goes batch by batch (`batch:` hosts at once): each host of
//! a batch starts its new colour, checks it, switches its proxy and retires the old colour. On
//! the first failure the failed host has already undone its own release; the hosts switched
//! before it (earlier batches, and the ones of its batch that succeeded) are switched back, last
//! switched first, and the hosts after it are left untouched. A rollback is the same walk over
//! the hosts in reverse order, each host going back to its stopped colour.

use std::fmt;

use futures_util::future::join_all;
use hoist_core::bluegreen::Color;
use hoist_core::events::{Event, EventSink};
use hoist_docker::execute::ExecOptions;
use hoist_docker::target_lock::{Holder, TargetLock};

use crate::bluegreen::{Outcome, Release, ReleaseError};
use crate::release::{ReleaseRunError, lock_target};

/// One host of a target with the release of the service there.
pub struct HostRelease<'e> {
    /// The host's name in the target (`name:`, else its address's host).
    pub host: String,
    pub release: Release<'e>,
}

/// What a fleet release did on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostResult {
    /// Its new colour is live.
    Released { color: Color },
    /// Its release failed (and undid itself); `color` is the colour it had started, if any.
    Failed { color: Option<Color>, cause: String },
    /// It was released, then switched back because a later host failed: `color` (the colour
    /// it released) is stopped again.
    SwitchedBack { color: Color },
    /// Switching it back failed: it serves `color`, the new release.
    NotSwitchedBack { color: Color, cause: String },
    /// Nothing was changed on it.
    Untouched,
}

/// A fleet release that failed: which host, why, and what became of the others.
#[derive(Debug)]
pub struct FleetError {
    pub host: String,
    pub cause: String,
    pub results: Vec<(String, HostResult)>,
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "on host {}: {}", self.host, self.cause)?;
        let named = |want: fn(&HostResult) -> bool| -> Vec<&str> {
            self.results
                .iter()
                .filter(|(_, r)| want(r))
                .map(|(h, _)| h.as_str())
                .collect()
        };
        let back = named(|r| matches!(r, HostResult::SwitchedBack { .. }));
        let stuck = named(|r| matches!(r, HostResult::NotSwitchedBack { .. }));
        let untouched = named(|r| matches!(r, HostResult::Untouched));
        if !back.is_empty() {
            write!(f, "; switched back: {}", back.join(", "))?;
        }
        if !stuck.is_empty() {
            write!(
                f,
                "; NOT switched back (they serve the new release): {}",
                stuck.join(", ")
            )?;
        }
        if !untouched.is_empty() {
            write!(f, "; untouched: {}", untouched.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for FleetError {}

/// One line per host: what the release did there.
pub fn describe(results: &[(String, HostResult)], service: &str) -> String {
    results
        .iter()
        .map(|(host, r)| {
            let what = match r {
                HostResult::Released { color } => format!("{service} live on {color}"),
                HostResult::Failed { cause, .. } => format!("failed: {cause}"),
                HostResult::SwitchedBack { color } => {
                    format!("switched back ({color} stopped again)")
                }
                HostResult::NotSwitchedBack { color, cause } => {
                    format!("NOT switched back, {color} serves: {cause}")
                }
                HostResult::Untouched => "untouched".to_string(),
            };
            format!("{host}: {what}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which hosts go together, in order: `batch` at a time (at least one).
pub fn batches(hosts: usize, batch: usize) -> Vec<std::ops::Range<usize>> {
    let batch = batch.max(1);
    (0..hosts)
        .step_by(batch)
        .map(|start| start..(start + batch).min(hosts))
        .collect()
}

/// Events of one host's release, named with the host so that a batch's interleave reads.
struct OnHost<'a> {
    host: &'a str,
    inner: &'a dyn EventSink,
}

impl EventSink for OnHost<'_> {
    fn emit(&self, mut event: Event) {
        event.name = format!("{} on {}", event.name, self.host);
        self.inner.emit(event);
    }
}

/// Pulls `image` on every host that lacks it, all at once; the first host that cannot is the
/// error (nothing was changed anywhere).
pub async fn pull_everywhere(hosts: &[HostRelease<'_>], image: &str) -> Result<(), FleetError> {
    let pulled = join_all(hosts.iter().map(|h| h.release.ensure_image(image))).await;
    for (h, result) in hosts.iter().zip(pulled) {
        if let Err(cause) = result {
            return Err(FleetError {
                host: h.host.clone(),
                cause: format!("pulling {image}: {cause} (no host was changed)"),
                results: hosts
                    .iter()
                    .map(|h| (h.host.clone(), HostResult::Untouched))
                    .collect(),
            });
        }
    }
    Ok(())
}

/// Deploys `image` to every host, batch by batch, after pulling it everywhere. Returns each
/// host's result in host order, with the error when a host failed.
pub async fn deploy(
    hosts: &[HostRelease<'_>],
    batch: usize,
    image: &str,
    sink: &dyn EventSink,
) -> (Vec<(String, HostResult)>, Result<Vec<Outcome>, FleetError>) {
    if let Err(e) = pull_everywhere(hosts, image).await {
        return (e.results.clone(), Err(e));
    }
    let order: Vec<usize> = (0..hosts.len()).collect();
    walk(hosts, &order, batch, sink, Change::Deploy(image)).await
}

/// Rolls every host back to its stopped colour, batch by batch, the last host first.
pub async fn rollback(
    hosts: &[HostRelease<'_>],
    batch: usize,
    sink: &dyn EventSink,
) -> (Vec<(String, HostResult)>, Result<Vec<Outcome>, FleetError>) {
    let order: Vec<usize> = (0..hosts.len()).rev().collect();
    walk(hosts, &order, batch, sink, Change::Rollback).await
}

/// What a walk does to each host.
#[derive(Clone, Copy)]
enum Change<'a> {
    Deploy(&'a str),
    Rollback,
}

impl Change<'_> {
    /// Carries the change out on `h`: the colour it made live, or the one it had started when
    /// it failed.
    async fn on(
        self,
        h: &HostRelease<'_>,
        sink: &dyn EventSink,
    ) -> (Option<Color>, Result<Outcome, ReleaseError>) {
        match self {
            Change::Deploy(image) => h.release.deploy_color(image, sink).await,
            Change::Rollback => {
                let result = h.release.rollback(sink).await;
                (result.as_ref().ok().map(|o| o.live), result)
            }
        }
    }
}

/// Changes the hosts in `order`, `batch` at a time; on the first failure switches the changed
/// hosts back.
async fn walk(
    hosts: &[HostRelease<'_>],
    order: &[usize],
    batch: usize,
    sink: &dyn EventSink,
    change: Change<'_>,
) -> (Vec<(String, HostResult)>, Result<Vec<Outcome>, FleetError>) {
    let sinks: Vec<OnHost<'_>> = hosts
        .iter()
        .map(|h| OnHost {
            host: &h.host,
            inner: sink,
        })
        .collect();
    let mut results: Vec<HostResult> = vec![HostResult::Untouched; hosts.len()];
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut switched: Vec<usize> = Vec::new();
    let mut failure: Option<(usize, String)> = None;
    for range in batches(order.len(), batch) {
        let members = &order[range];
        let done = join_all(members.iter().map(|&i| change.on(&hosts[i], &sinks[i]))).await;
        for (&i, (color, result)) in members.iter().zip(done) {
            match result {
                Ok(outcome) => {
                    results[i] = HostResult::Released {
                        color: outcome.live,
                    };
                    switched.push(i);
                    outcomes.push(outcome);
                }
                Err(e) => {
                    let cause = e.to_string();
                    if failure.is_none() {
                        failure = Some((i, cause.clone()));
                    }
                    results[i] = HostResult::Failed { color, cause };
                }
            }
        }
        if failure.is_some() {
            break;
        }
    }
    let named = |results: Vec<HostResult>| -> Vec<(String, HostResult)> {
        hosts.iter().map(|h| h.host.clone()).zip(results).collect()
    };
    let Some((failed, cause)) = failure else {
        return (named(results), Ok(outcomes));
    };
    // Last switched first, a batch at a time.
    switched.reverse();
    for range in batches(switched.len(), batch) {
        let members = &switched[range];
        let back = join_all(
            members
                .iter()
                .map(|&i| hosts[i].release.rollback(&sinks[i] as &dyn EventSink)),
        )
        .await;
        for (&i, result) in members.iter().zip(back) {
            let HostResult::Released { color } = results[i] else {
                continue;
            };
            results[i] = match result {
                Ok(_) => HostResult::SwitchedBack { color },
                Err(e) => HostResult::NotSwitchedBack {
                    color,
                    cause: e.to_string(),
                },
            };
        }
    }
    let results = named(results);
    (
        results.clone(),
        Err(FleetError {
            host: hosts[failed].host.clone(),
            cause,
            results,
        }),
    )
}

/// What every host's lock and record needs: the project, service, the image lock containers
/// and records run, who holds the lock, and the user's registry credentials.
pub struct Ticket<'a> {
    pub project: &'a str,
    pub service: &'a str,
    pub lock_image: &'a str,
    pub holder: &'a Holder,
    pub wait: bool,
    pub exec: &'a ExecOptions,
    /// Who the target's journal names (the dashboard's signed-in user); this machine's
    /// `user@host` when `None`.
    pub actor: Option<&'a str>,
}

/// The target-wide deploy lock: the service's lock on every host's engine, all or none. Without
/// waiting, every host's is tried at once and the ones taken are given back when any is held
/// elsewhere. Waiting, they are taken one by one in the order of the engines' addresses, so that
/// two deploys of targets sharing hosts cannot each hold a part and wait for the other's.
pub async fn lock_all(
    hosts: &[HostRelease<'_>],
    t: &Ticket<'_>,
) -> Result<Vec<TargetLock>, ReleaseRunError> {
    let mut order: Vec<&HostRelease<'_>> = hosts.iter().collect();
    order.sort_by_key(|h| h.release.engine.address().to_string());
    let on_host = |h: &HostRelease<'_>, e: ReleaseRunError| ReleaseRunError::OnHost {
        host: h.host.clone(),
        cause: Box::new(e),
    };
    let mut held = Vec::with_capacity(order.len());
    if !t.wait {
        let mut refused = None;
        for (h, result) in order
            .iter()
            .zip(join_all(order.iter().map(|h| take(h, t))).await)
        {
            match result {
                Ok(lock) => held.push(lock),
                Err(e) if refused.is_none() => refused = Some(on_host(h, e)),
                Err(_) => {}
            }
        }
        return match refused {
            None => Ok(held),
            Some(e) => {
                unlock_all(held, t.service).await;
                Err(e)
            }
        };
    }
    for h in order {
        match take(h, t).await {
            Ok(lock) => held.push(lock),
            Err(e) => {
                unlock_all(held, t.service).await;
                return Err(on_host(h, e));
            }
        }
    }
    Ok(held)
}

/// Takes the service's lock on `h`'s engine.
async fn take(h: &HostRelease<'_>, t: &Ticket<'_>) -> Result<TargetLock, ReleaseRunError> {
    lock_target(
        h.release.engine,
        t.project,
        t.service,
        t.lock_image,
        t.holder,
        t.wait,
        t.exec,
    )
    .await
}

/// Removes the locks `lock_all` took; one that cannot be removed ends with its heartbeat.
pub async fn unlock_all(held: Vec<TargetLock>, service: &str) {
    for result in join_all(held.into_iter().map(|l| l.release())).await {
        if let Err(e) = result {
            tracing::warn!("a deploy lock of {service} stays until its heartbeat ends: {e}");
        }
    }
}

/// Writes each changed host's release record on its engine: `done` for a colour that serves,
/// `failed` for one whose release failed or was switched back (so that a rollback does not
/// start it again).
pub async fn record_all(
    hosts: &[HostRelease<'_>],
    results: &[(String, HostResult)],
    image: &str,
    t: &Ticket<'_>,
) {
    let writes = hosts.iter().zip(results).filter_map(|(h, (_, result))| {
        let (color, status) = match result {
            HostResult::Released { color } | HostResult::NotSwitchedBack { color, .. } => {
                (*color, "done")
            }
            HostResult::Failed {
                color: Some(color), ..
            }
            | HostResult::SwitchedBack { color } => (*color, "failed"),
            HostResult::Failed { color: None, .. } | HostResult::Untouched => return None,
        };
        Some(async move {
            let written = h
                .release
                .engine
                .write_release_record(
                    t.project,
                    t.service,
                    color.as_str(),
                    image,
                    status,
                    t.lock_image,
                )
                .await;
            if let Err(e) = written {
                tracing::warn!("the release record on {} was not written: {e}", h.host);
            }
        })
    });
    join_all(writes).await;
}

/// `hoist deploy` to a target of several hosts: the target-wide lock, the release, the
/// records on every host.
pub async fn deploy_locked(
    hosts: &[HostRelease<'_>],
    batch: usize,
    image: &str,
    t: &Ticket<'_>,
    sink: &dyn EventSink,
) -> Result<(Vec<(String, HostResult)>, Result<Vec<Outcome>, FleetError>), ReleaseRunError> {
    let held = lock_all(hosts, t).await?;
    let (results, outcome) = deploy(hosts, batch, image, sink).await;
    record_all(hosts, &results, image, t).await;
    unlock_all(held, t.service).await;
    Ok((results, outcome))
}

/// `hoist rollback` of a target of several hosts: under the target-wide lock, refused before
/// anything changes when a host's stopped colour holds a release whose deploy failed.
pub async fn rollback_locked(
    hosts: &[HostRelease<'_>],
    batch: usize,
    t: &Ticket<'_>,
    sink: &dyn EventSink,
) -> Result<(Vec<(String, HostResult)>, Result<Vec<Outcome>, FleetError>), ReleaseRunError> {
    let held = lock_all(hosts, t).await?;
    for h in hosts {
        if let Err(e) = refuse_failed_on(h, t).await {
            unlock_all(held, t.service).await;
            return Err(e);
        }
    }
    let (results, outcome) = rollback(hosts, batch, sink).await;
    unlock_all(held, t.service).await;
    Ok((results, outcome))
}

/// [`crate::release::refuse_failed_colour`] on one host, the error naming it.
async fn refuse_failed_on(h: &HostRelease<'_>, t: &Ticket<'_>) -> Result<(), ReleaseRunError> {
    crate::release::refuse_failed_colour(h.release.engine, t.project, &h.release, Vec::new)
        .await
        .map_err(|e| ReleaseRunError::OnHost {
            host: h.host.clone(),
            cause: Box::new(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_go_in_batches_of_the_size_asked_for_the_last_one_smaller() {
        assert_eq!(batches(3, 1), [0..1, 1..2, 2..3]);
        assert_eq!(batches(3, 2), [0..2, 2..3]);
        let whole = |b| {
            batches(3, b)
                .into_iter()
                .map(|r| (r.start, r.end))
                .collect::<Vec<_>>()
        };
        assert_eq!(whole(3), [(0, 3)]);
        assert_eq!(whole(10), [(0, 3)]);
        assert_eq!(batches(2, 0), [0..1, 1..2]);
        assert!(batches(0, 1).is_empty());
    }

    #[test]
    fn a_failed_fleet_release_names_the_host_and_what_became_of_the_others() {
        let e = FleetError {
            host: "web2".into(),
            cause: "wait until green is healthy failed".into(),
            results: vec![
                (
                    "web1".into(),
                    HostResult::SwitchedBack {
                        color: Color::Green,
                    },
                ),
                (
                    "web2".into(),
                    HostResult::Failed {
                        color: Some(Color::Green),
                        cause: "unhealthy".into(),
                    },
                ),
                ("web3".into(), HostResult::Untouched),
            ],
        };
        assert_eq!(
            e.to_string(),
            "on host web2: wait until green is healthy failed; switched back: web1; untouched: web3"
        );
    }
}
