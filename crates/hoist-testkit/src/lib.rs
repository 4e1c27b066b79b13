//! Test support for tests that talk to real engines of the dev environment (`scripts/dev-env`).
//!
//! - [`engine`] connects to one of the environment's engines by name (`cd`, `prod`, `prod-tls`).
//!   When it does not answer the test fails with the command that starts the environment; only
//!   outside CI, and only with `HOIST_SKIP_ENGINE_TESTS=1`, is the test skipped instead.
//! - [`TestProject`] gives each test a unique project name and, when dropped (also when the test
//!   panics), removes every container, network and volume carrying that project's label, and the
//!   image references it handed out, so real-engine tests run in parallel without stepping on
//!   each other.
//!
//! This crate is test-only support; like hoist-docker it may use bollard directly.

pub mod http;
pub mod load;

use std::path::PathBuf;
use std::sync::Mutex;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use hoist_docker::{Engine, EngineSpec, TlsFiles};

/// The label every compose-style resource carries; tests clean up by it.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";

/// Where `scripts/dev-env` keeps its state (certificates, logs, caches).
pub fn state_dir() -> PathBuf {
    std::env::var_os("HOIST_DEV_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/hoist-dev"))
}

/// Registry address as seen from the cd machine.
pub const REGISTRY_FROM_CD: &str = "localhost:5000";
/// Registry address as seen from the prod hosts (the book's `--insecure-registry`).
pub const REGISTRY_FROM_PROD: &str = "10.200.0.1:5000";

/// How to reach one of the environment's engines.
pub fn engine_spec(name: &str) -> EngineSpec {
    match name {
        "cd" => EngineSpec::local(),
        "prod" => EngineSpec {
            host: "tcp://10.200.0.2:2375".into(),
            tls: None,
            trusted_insecure_hosts: vec!["10.200.0.2".into()],
        },
        "prod-tls" => EngineSpec {
            host: "tcp://10.200.0.3:2376".into(),
            tls: Some(TlsFiles::in_dir(&state_dir().join("certs/client"))),
            trusted_insecure_hosts: Vec::new(),
        },
        // The fault tier's engine (live restore; the fault tests restart it).
        "fault" => EngineSpec {
            host: "unix:///run/hoist-dev/fault/docker.sock".into(),
            tls: None,
            trusted_insecure_hosts: Vec::new(),
        },
        // A third prod host, plain TCP as prod: with prod and prod-tls, a fleet of three.
        "prod3" => EngineSpec {
            host: "tcp://10.200.0.4:2375".into(),
            tls: None,
            trusted_insecure_hosts: vec!["10.200.0.4".into()],
        },
        // The three nodes of the dev environment's Swarm (all managers).
        "swarm1" | "swarm2" | "swarm3" => {
            let address = format!("10.200.0.1{}", &name[5..]);
            EngineSpec {
                host: format!("tcp://{address}:2375"),
                tls: None,
                trusted_insecure_hosts: vec![address],
            }
        }
        other => panic!(
            "unknown dev-env engine {other:?}: expected cd, prod, prod-tls, prod3, fault or swarm1-3"
        ),
    }
}

/// What to do when an engine does not answer: fail (always in CI), or skip when asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipPolicy {
    pub in_ci: bool,
    pub skip_requested: bool,
}

impl SkipPolicy {
    /// From `CI` and `HOIST_SKIP_ENGINE_TESTS`.
    pub fn from_env() -> SkipPolicy {
        SkipPolicy {
            in_ci: std::env::var_os("CI")
                .is_some_and(|v| !v.is_empty() && v != "false" && v != "0"),
            skip_requested: std::env::var("HOIST_SKIP_ENGINE_TESTS").as_deref() == Ok("1"),
        }
    }

    pub fn may_skip(self) -> bool {
        !self.in_ci && self.skip_requested
    }
}

/// Connects to a dev-env engine. Fails the test, naming the fix, when the engine does not answer;
/// returns `None` (skip) only outside CI with `HOIST_SKIP_ENGINE_TESTS=1`.
pub async fn engine(name: &str) -> Option<Engine> {
    connect_or_explain(name, &engine_spec(name), SkipPolicy::from_env()).await
}

/// [`engine`] with the spec and policy given.
pub async fn connect_or_explain(
    name: &str,
    spec: &EngineSpec,
    policy: SkipPolicy,
) -> Option<Engine> {
    match Engine::connect(spec).await {
        Ok(engine) => Some(engine),
        Err(err) => {
            let msg = format!(
                "dev-env engine {name} ({}) is not available: {err}\n\
                 Start the test environment with `./scripts/dev-env up` (as root), \
                 or run everything with `./scripts/test`.",
                spec.host
            );
            if policy.may_skip() {
                eprintln!("skipping: {msg}");
                None
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// The Docker Compose v2 binary to compare against (`scripts/peers` installs it): the Go binary
/// itself, not the Python wrapper, so that timings are fair.
pub fn compose_v2() -> PathBuf {
    std::env::var_os("HOIST_COMPOSE_V2")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                "/opt/hoist-peers/compose-v2/lib/python3.11/site-packages/compose/docker-compose",
            )
        })
}

/// A unique project for one test, cleaned up on drop.
pub struct TestProject {
    pub name: String,
    engines: Vec<Engine>,
    images: Mutex<Vec<(usize, String)>>,
}

impl TestProject {
    /// A project named `<prefix>-<8 hex>` (lower-case, valid for compose), cleaned on `engines`.
    pub fn new(prefix: &str, engines: &[&Engine]) -> TestProject {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        TestProject {
            name: format!("{prefix}-{}", &id[..8]),
            engines: engines.iter().map(|e| (*e).clone()).collect(),
            images: Mutex::new(Vec::new()),
        }
    }

    /// Labels to put on anything the test creates by hand.
    pub fn labels(&self) -> std::collections::HashMap<String, String> {
        [(PROJECT_LABEL.to_string(), self.name.clone())].into()
    }

    /// Remembers an image reference on engine number `engine_index` (as given to `new`) to remove
    /// at cleanup.
    pub fn track_image(&self, engine_index: usize, reference: &str) {
        self.images
            .lock()
            .unwrap()
            .push((engine_index, reference.to_string()));
    }

    async fn cleanup(name: String, engines: Vec<Engine>, images: Vec<(usize, String)>) {
        for engine in &engines {
            remove_project(engine.docker(), &name).await;
        }
        for (index, reference) in images {
            if let Some(engine) = engines.get(index) {
                let _ = engine
                    .docker()
                    .remove_image(
                        &reference,
                        Some(RemoveImageOptionsBuilder::default().force(true).build()),
                        None,
                    )
                    .await;
            }
        }
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let name = self.name.clone();
        let engines = std::mem::take(&mut self.engines);
        let images = std::mem::take(&mut *self.images.lock().unwrap());
        // Drop may run inside the test's runtime (which must not block) or after it: cleanup
        // gets a thread and a runtime of its own either way.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(TestProject::cleanup(name, engines, images));
        });
        let _ = handle.join();
    }
}

/// Builds a books-ms release image on `cd` from `localhost:5000/books-ms:latest` (built by
/// `examples/books-ms/scripts/build-images`) with `BOOKS_MS_VERSION=version` and `extra`
/// Dockerfile lines, tags it `localhost:5000/hoist-test/<project>/books-ms:<version>`, pushes it,
/// tracks it for cleanup (engine 0 of the project), and returns the name prod pulls it by.
pub async fn books_ms_release(
    cd: &Engine,
    project: &TestProject,
    version: &str,
    extra: &str,
) -> String {
    let dir = std::env::temp_dir().join(format!("hoist-release-{}-{version}", project.name));
    std::fs::create_dir_all(&dir).expect("context dir");
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM localhost:5000/books-ms:latest\nENV BOOKS_MS_VERSION={version}\n{extra}\n"),
    )
    .expect("Dockerfile");
    let local = format!(
        "{REGISTRY_FROM_CD}/hoist-test/{}/books-ms:{version}",
        project.name
    );
    cd.build(
        &hoist_docker::BuildSpec {
            context: dir.clone(),
            tags: vec![local.clone()],
            ..Default::default()
        },
        &[],
        |_| {},
    )
    .await
    .expect("build the release image (are the books-ms images built?)");
    project.track_image(0, &local);
    cd.push(&local, None, |_| {})
        .await
        .expect("push the release image");
    let _ = std::fs::remove_dir_all(&dir);
    local.replace(REGISTRY_FROM_CD, REGISTRY_FROM_PROD)
}

/// A port for a test's proxy on an engine, derived from its unique name: proxies share the
/// engine host's network, so each test's needs a port of its own. Below the engines' range for
/// published ports (32768 and up), so that no service's published port takes it.
pub fn proxy_port(name: &str) -> u16 {
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    20_000 + (hash % 12_000) as u16
}

/// Whether the engine has a network of that name.
pub async fn network_exists(engine: &Engine, name: &str) -> bool {
    engine
        .docker()
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .is_ok()
}

/// One container of a service, as tests look at it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceContainer {
    /// The `io.hoist.color` label (empty without one).
    pub color: String,
    pub running: bool,
}

/// Every container (running or not) of `service` in `project`.
pub async fn service_containers(
    engine: &Engine,
    project: &str,
    service: &str,
) -> Vec<ServiceContainer> {
    let filter: std::collections::HashMap<String, Vec<String>> = [(
        "label".to_string(),
        vec![
            format!("{PROJECT_LABEL}={project}"),
            format!("com.docker.compose.service={service}"),
        ],
    )]
    .into();
    let list = engine
        .docker()
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .expect("list the service's containers");
    let mut out: Vec<ServiceContainer> = list
        .into_iter()
        .map(|c| ServiceContainer {
            color: c
                .labels
                .unwrap_or_default()
                .get("io.hoist.color")
                .cloned()
                .unwrap_or_default(),
            running: c.state.map(|s| s.to_string()).as_deref() == Some("running"),
        })
        .collect();
    out.sort();
    out
}

/// Removes an image reference from the engine (forced), ignoring a missing one.
pub async fn remove_image(engine: &Engine, reference: &str) {
    let _ = engine
        .docker()
        .remove_image(
            reference,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await;
}

/// Removes every container, network and volume labelled with `project`.
pub async fn remove_project(docker: &Docker, project: &str) {
    let filter: std::collections::HashMap<String, Vec<String>> = [(
        "label".to_string(),
        vec![format!("{PROJECT_LABEL}={project}")],
    )]
    .into();
    // The project's containers, and hoist's deploy lock and release records for it.
    for key in [
        PROJECT_LABEL,
        "io.hoist.lock.project",
        "io.hoist.release.project",
        "io.hoist.journal.project",
        "io.hoist.project-release.project",
    ] {
        let filter: std::collections::HashMap<String, Vec<String>> =
            [("label".to_string(), vec![format!("{key}={project}")])].into();
        remove_containers(docker, &filter).await;
    }
    if let Ok(networks) = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filter)
                .build(),
        ))
        .await
    {
        for id in networks.into_iter().filter_map(|n| n.id) {
            let _ = docker.remove_network(&id).await;
        }
    }
    if let Ok(volumes) = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filter)
                .build(),
        ))
        .await
    {
        for volume in volumes.volumes.unwrap_or_default() {
            let _ = docker
                .remove_volume(
                    &volume.name,
                    Some(RemoveVolumeOptionsBuilder::default().force(true).build()),
                )
                .await;
        }
    }
}

async fn remove_containers(
    docker: &Docker,
    filter: &std::collections::HashMap<String, Vec<String>>,
) {
    if let Ok(containers) = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(filter)
                .build(),
        ))
        .await
    {
        let removals = containers
            .into_iter()
            .filter_map(|c| c.id)
            .map(|id| async move {
                let _ = docker
                    .remove_container(
                        &id,
                        Some(
                            RemoveContainerOptionsBuilder::default()
                                .force(true)
                                .v(true)
                                .build(),
                        ),
                    )
                    .await;
            });
        futures_util::future::join_all(removals).await;
    }
}

/// The processes whose parent is `parent` and whose command name is `comm`, from `/proc`.
pub fn children_of(parent: u32, comm: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, n)| n);
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if name == comm && ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere() -> EngineSpec {
        EngineSpec {
            host: "unix:///nonexistent/hoist-test/docker.sock".into(),
            tls: None,
            trusted_insecure_hosts: Vec::new(),
        }
    }

    #[tokio::test]
    #[should_panic(expected = "Start the test environment with `./scripts/dev-env up`")]
    async fn a_missing_engine_in_ci_fails_with_the_fix() {
        let policy = SkipPolicy {
            in_ci: true,
            skip_requested: true,
        };
        connect_or_explain("prod", &nowhere(), policy).await;
    }

    #[tokio::test]
    async fn a_missing_engine_outside_ci_is_skipped_only_on_request() {
        let policy = SkipPolicy {
            in_ci: false,
            skip_requested: true,
        };
        assert!(
            connect_or_explain("prod", &nowhere(), policy)
                .await
                .is_none()
        );
    }

    #[test]
    fn project_names_are_unique_and_valid_for_compose() {
        let a = TestProject::new("Up Twice", &[]);
        let b = TestProject::new("Up Twice", &[]);
        assert_ne!(a.name, b.name);
        assert!(a.name.starts_with("up-twice-"), "{}", a.name);
        assert!(
            a.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
