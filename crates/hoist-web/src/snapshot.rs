//! What the pages read an engine's containers from: one in-memory picture per engine that the
//! engine's event stream keeps current. The engine is listed in full only when its stream is
//! (re)connected; after that each event re-reads only the container it names. Listing 500
//! containers costs the engine a few hundred milliseconds, re-reading one a few, so no page
//! request waits on a full listing.
//!
//! A reload still shows the truth: a page first waits until every event received so far has
//! been applied (a matter of milliseconds), and while the stream is down or not yet listed the
//! snapshot is unavailable and pages list the engine themselves. Events reach open pages only
//! after they were applied, so the re-render they trigger sees the change.
//!
//! Images, networks and volumes (the rest of an inventory) are cheap to list and change rarely:
//! they are re-listed on the first request after an event of theirs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hoist_docker::{ContainerSummary, Engine, EngineError, EngineEvent, Inventory};
use tokio::sync::watch;

/// Longest a page waits for events to be applied before listing the engine itself.
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// Longest the rest of an inventory is served without an event: a backstop for the rare change
/// that sends no event.
const BASE_MAX_AGE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Pictures {
    /// Every container, newest first as the engine lists them; `None` while unavailable.
    containers: Option<Arc<Vec<ContainerSummary>>>,
    /// Bumped on every change of `containers`.
    version: u64,
    /// The inventory without containers, with the base generation and time it was read at.
    base: Option<(u64, Instant, Arc<Inventory>)>,
    /// The last assembled inventory, from containers at `version` and that base.
    inventory: Option<(u64, Arc<Inventory>, Arc<Inventory>)>,
}

pub(crate) struct Snapshot {
    pictures: Mutex<Pictures>,
    /// Events received from the engine, counted as they arrive.
    received: AtomicU64,
    /// Events applied; pages wait until it reaches what was received when they asked.
    applied: watch::Sender<u64>,
    /// Bumped by image, network and volume events: a base read before is stale.
    base_generation: AtomicU64,
    /// One re-read at a time, so that a later read is never overwritten by an earlier one.
    refreshing: tokio::sync::Mutex<()>,
    /// Full listings so far.
    relists: AtomicU64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            pictures: Mutex::default(),
            received: AtomicU64::new(0),
            applied: watch::Sender::new(0),
            base_generation: AtomicU64::new(0),
            refreshing: tokio::sync::Mutex::new(()),
            relists: AtomicU64::new(0),
        }
    }
}

fn newest_first(list: &mut [ContainerSummary]) {
    list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
}

impl Snapshot {
    fn pictures(&self) -> std::sync::MutexGuard<'_, Pictures> {
        self.pictures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pages list the engine themselves until [`Snapshot::relist`] succeeds again.
    pub(crate) fn unavailable(&self) {
        let mut p = self.pictures();
        p.containers = None;
        p.version += 1;
    }

    /// Lists every container (on start and after a reconnect).
    pub(crate) async fn relist(&self, engine: &Engine) -> Result<(), EngineError> {
        let _one = self.refreshing.lock().await;
        let list = engine.list_all_containers().await?;
        self.relists.fetch_add(1, Ordering::SeqCst);
        let mut p = self.pictures();
        p.containers = Some(Arc::new(list));
        p.version += 1;
        drop(p);
        self.base_generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Counts an event as received: pages asking from now on wait until it is applied.
    pub(crate) fn received(&self) -> u64 {
        self.received.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Marks events up to `n` applied.
    pub(crate) fn applied(&self, n: u64) {
        self.applied.send_if_modified(|a| {
            let newer = n > *a;
            if newer {
                *a = n;
            }
            newer
        });
    }

    /// Applies one event: re-reads the container it names, or marks the rest of the inventory
    /// stale.
    pub(crate) async fn apply(
        &self,
        engine: &Engine,
        event: &EngineEvent,
    ) -> Result<(), EngineError> {
        match event.kind.as_str() {
            "container" => self.refresh(engine, &event.id).await,
            "network" => {
                self.base_generation.fetch_add(1, Ordering::SeqCst);
                if event.container.is_empty() {
                    Ok(())
                } else {
                    // A container joined or left a network: its list of networks changed.
                    self.refresh(engine, &event.container).await
                }
            }
            _ => {
                self.base_generation.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    /// Re-reads one container (also after an action of the dashboard, which should show before
    /// the engine's event arrives).
    pub(crate) async fn refresh(
        &self,
        engine: &Engine,
        name_or_id: &str,
    ) -> Result<(), EngineError> {
        let _one = self.refreshing.lock().await;
        // The dashboard's routes name containers; the engine's filter wants the id.
        let id = self
            .pictures()
            .containers
            .as_ref()
            .and_then(|l| {
                l.iter()
                    .find(|c| c.name == name_or_id)
                    .map(|c| c.id.clone())
            })
            .unwrap_or_else(|| name_or_id.to_string());
        let id = id.as_str();
        let found = engine.container_summary(id).await?;
        let mut p = self.pictures();
        let Some(list) = p.containers.as_mut() else {
            return Ok(());
        };
        let list = Arc::make_mut(list);
        let at = list
            .iter()
            .position(|c| c.id == id || (!id.is_empty() && c.id.starts_with(id)));
        match (at, found) {
            (Some(i), Some(c)) => list[i] = c,
            (None, Some(c)) => {
                list.push(c);
                newest_first(list);
            }
            (Some(i), None) => {
                list.remove(i);
            }
            (None, None) => return Ok(()),
        }
        p.version += 1;
        Ok(())
    }

    /// The containers, once every event received so far is applied; `None` when unavailable
    /// (the caller lists the engine).
    pub(crate) async fn containers(&self) -> Option<Arc<Vec<ContainerSummary>>> {
        self.current().await.map(|(_, c)| c)
    }

    /// The containers with their version.
    async fn current(&self) -> Option<(u64, Arc<Vec<ContainerSummary>>)> {
        let wanted = self.received.load(Ordering::SeqCst);
        let mut applied = self.applied.subscribe();
        if *applied.borrow() < wanted {
            let caught_up = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|a| *a >= wanted));
            if !matches!(caught_up.await, Ok(Ok(_))) {
                return None;
            }
        }
        let p = self.pictures();
        p.containers.clone().map(|c| (p.version, c))
    }

    /// The whole inventory from the containers' snapshot and the rest, re-listing the rest when
    /// an event made it stale. `None` when the containers' snapshot is unavailable.
    pub(crate) async fn inventory(
        &self,
        engine: &Engine,
    ) -> Option<Result<Arc<Inventory>, EngineError>> {
        let (version, containers) = self.current().await?;
        let generation = self.base_generation.load(Ordering::SeqCst);
        let cached = {
            let p = self.pictures();
            match &p.base {
                Some((g, at, base)) if *g == generation && at.elapsed() < BASE_MAX_AGE => {
                    Some(base.clone())
                }
                _ => None,
            }
        };
        let base = match cached {
            Some(b) => b,
            None => match engine.inventory_without_containers().await {
                Ok(b) => {
                    let b = Arc::new(b);
                    self.pictures().base = Some((generation, Instant::now(), b.clone()));
                    b
                }
                Err(e) => return Some(Err(e)),
            },
        };
        if let Some((v, b, inv)) = &self.pictures().inventory
            && *v == version
            && Arc::ptr_eq(b, &base)
        {
            return Some(Ok(inv.clone()));
        }
        let inv = Arc::new(Inventory::clone(&base).with_containers(Vec::clone(&containers)));
        self.pictures().inventory = Some((version, base, inv.clone()));
        Some(Ok(inv))
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn docker(args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("docker CLI");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn event(id: &str, action: &str) -> EngineEvent {
        EngineEvent {
            kind: "container".into(),
            action: action.into(),
            id: id.into(),
            name: String::new(),
            project: String::new(),
            service: String::new(),
            container: String::new(),
            time_nano: 0,
        }
    }

    #[tokio::test]
    async fn events_re_read_only_their_container_and_pages_wait_for_them() {
        let Some(engine) = hoist_testkit::engine("cd").await else {
            return;
        };
        let project = hoist_testkit::TestProject::new("ui-snapshot", &[&engine]);
        let snap = Snapshot::default();
        assert!(
            snap.containers().await.is_none(),
            "unavailable before the listing"
        );
        snap.relist(&engine).await.unwrap();
        let name = format!("{}-one-1", project.name);
        let label = format!("com.docker.compose.project={}", project.name);
        let id = docker(&[
            "create",
            "--name",
            &name,
            "--label",
            &label,
            "debian:bookworm-slim",
            "sleep",
            "300",
        ]);
        let find = |list: &[ContainerSummary]| list.iter().find(|c| c.id == id).cloned();
        assert!(
            find(&snap.containers().await.unwrap()).is_none(),
            "not listed yet"
        );

        // An event received but not applied holds pages back (here: until the wait gives up and
        // the caller lists the engine itself).
        let n = snap.received();
        let started = Instant::now();
        assert!(snap.containers().await.is_none());
        assert!(started.elapsed() >= APPLY_WAIT);
        snap.apply(&engine, &event(&id, "create")).await.unwrap();
        snap.applied(n);
        let c = find(&snap.containers().await.unwrap()).expect("the created container");
        assert_eq!(c.state, hoist_core::observed::RunState::Created);
        assert_eq!(c.name, name);

        docker(&["start", &id]);
        snap.apply(&engine, &event(&id, "start")).await.unwrap();
        let c = find(&snap.containers().await.unwrap()).unwrap();
        assert!(c.state.is_running(), "{c:?}");
        // The inventory counts it from the snapshot too.
        let inv = snap.inventory(&engine).await.unwrap().unwrap();
        assert!(
            inv.containers
                .iter()
                .any(|c| c.id == id && c.state.is_running())
        );

        // The dashboard's own actions re-read by name.
        docker(&["stop", "-t", "0", &id]);
        snap.refresh(&engine, &name).await.unwrap();
        let c = find(&snap.containers().await.unwrap()).unwrap();
        assert!(!c.state.is_running(), "{c:?}");

        docker(&["rm", "-f", &id]);
        snap.apply(&engine, &event(&id, "destroy")).await.unwrap();
        assert!(find(&snap.containers().await.unwrap()).is_none());
        assert_eq!(
            snap.relists.load(Ordering::SeqCst),
            1,
            "one full listing in all"
        );
    }
}
