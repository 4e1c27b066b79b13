//! A project rebuilt from what the engine holds, for verbs run without a compose file: Docker
//! Compose v2 does the same (`projectFromName`) when it is given only a project name. Services
//! come from the containers' `com.docker.compose.service` labels, networks and volumes from the
//! project label on them; everything labelled with the project is part of it.

use std::collections::BTreeMap;

use crate::observed::{Observed, ObservedContainer};
use crate::spec::{
    Condition, ContainerSpec, Dependency, NetworkSpec, ProjectSpec, PullPolicy, ServiceSpec,
    VolumeSpec, labels,
};

/// The project named `name` as its labelled containers, networks and volumes describe it.
/// Services are in name order; a service's replica count is its number of `up` containers.
pub fn project_from_labels(name: &str, observed: &Observed) -> ProjectSpec {
    let mut by_service: BTreeMap<&str, Vec<&ObservedContainer>> = BTreeMap::new();
    for c in &observed.containers {
        if c.service.is_empty() {
            continue;
        }
        by_service.entry(c.service.as_str()).or_default().push(c);
    }
    let services = by_service
        .iter()
        .map(|(service, containers)| {
            let first = containers
                .iter()
                .find(|c| !c.oneoff)
                .unwrap_or(&containers[0]);
            // The label holds the image id (as Compose writes it) or, from older hoist, the
            // reference; the container's own reference is the better name either way.
            let image = Some(first.image.clone())
                .filter(|i| !i.is_empty())
                .or_else(|| first.labels.get(labels::IMAGE).cloned())
                .unwrap_or_default();
            let depends_on = first
                .labels
                .get(labels::DEPENDS_ON)
                .map(|deps| parse_depends_on(deps))
                .unwrap_or_default()
                .into_iter()
                .filter(|d| by_service.contains_key(d.service.as_str()))
                .collect();
            ServiceSpec {
                name: service.to_string(),
                image: image.clone(),
                pull_policy: PullPolicy::Missing,
                build: None,
                replicas: observed.service_containers(service).count() as u32,
                container_name: None,
                depends_on,
                links: Vec::new(),
                networks: Vec::new(),
                container: ContainerSpec {
                    image,
                    labels: first.labels.clone(),
                    ..Default::default()
                },
                healthcheck_disabled: false,
                stop_timeout_secs: None,
                post_start: Vec::new(),
                pre_stop: Vec::new(),
                shares: vec![],
            }
        })
        .collect();
    let of_project =
        |l: &BTreeMap<String, String>| l.get(labels::PROJECT).is_some_and(|p| p == name);
    let networks = observed
        .networks
        .iter()
        .filter(|n| of_project(&n.labels))
        .map(|n| NetworkSpec {
            key: n
                .labels
                .get(labels::NETWORK)
                .cloned()
                .unwrap_or_else(|| n.name.clone()),
            name: n.name.clone(),
            driver: None,
            external: false,
            internal: false,
            attachable: false,
            enable_ipv6: false,
            labels: n.labels.clone(),
            driver_opts: BTreeMap::new(),
            subnets: Vec::new(),
        })
        .collect();
    let volumes = observed
        .volumes
        .iter()
        .filter(|v| of_project(&v.labels))
        .map(|v| VolumeSpec {
            key: v
                .labels
                .get(labels::VOLUME)
                .cloned()
                .unwrap_or_else(|| v.name.clone()),
            name: v.name.clone(),
            driver: None,
            external: false,
            labels: v.labels.clone(),
            driver_opts: BTreeMap::new(),
        })
        .collect();
    let label = |key: &str| {
        observed
            .containers
            .iter()
            .find_map(|c| c.labels.get(key).cloned())
    };
    ProjectSpec {
        env_files: Vec::new(),
        name: name.to_string(),
        legacy: observed
            .containers
            .iter()
            .any(|c| c.labels.contains_key(labels::LEGACY)),
        compatibility: false,
        working_dir: label(labels::WORKING_DIR).unwrap_or_default(),
        config_files: label(labels::CONFIG_FILES)
            .map(|f| {
                f.split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        services,
        networks,
        volumes,
    }
}

/// `com.docker.compose.depends_on`: `service:condition:restart,...`. Unknown conditions read as
/// `service_started`; malformed entries are skipped.
fn parse_depends_on(text: &str) -> Vec<Dependency> {
    text.split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(':');
            let service = parts.next().filter(|s| !s.is_empty())?;
            let condition = match parts.next().unwrap_or_default() {
                "service_healthy" => Condition::ServiceHealthy,
                "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                _ => Condition::ServiceStarted,
            };
            Some(Dependency {
                service: service.to_string(),
                condition,
                required: true,
                restart: parts.next() == Some("true"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::{ObservedNetwork, ObservedVolume, RunState};

    fn container(
        project: &str,
        service: &str,
        number: u32,
        extra: &[(&str, &str)],
    ) -> ObservedContainer {
        let mut labels: BTreeMap<String, String> = [
            (labels::PROJECT, project),
            (labels::SERVICE, service),
            (labels::IMAGE, "debian:bookworm-slim"),
            (labels::WORKING_DIR, "/src/app"),
            (labels::CONFIG_FILES, "/src/app/compose.yaml"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            labels.insert(k.to_string(), v.to_string());
        }
        ObservedContainer {
            id: format!("id-{service}-{number}"),
            name: format!("{project}-{service}-{number}"),
            service: service.into(),
            number,
            oneoff: false,
            config_hash: None,
            image: "debian:bookworm-slim".into(),
            image_id: "sha256:1".into(),
            command: "sleep 600".into(),
            state: RunState::Running,
            status: "Up 1 second".into(),
            exit_code: None,
            health: None,
            created: 0,
            ports: Vec::new(),
            labels,
        }
    }

    fn labelled(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn services_networks_and_volumes_come_from_the_labels() {
        let observed = Observed {
            containers: vec![
                container(
                    "p",
                    "web",
                    2,
                    &[(
                        labels::DEPENDS_ON,
                        "db:service_healthy:false,gone:service_started:false",
                    )],
                ),
                container("p", "web", 1, &[]),
                container("p", "db", 1, &[]),
            ],
            networks: vec![
                ObservedNetwork {
                    id: "n1".into(),
                    name: "p_default".into(),
                    labels: labelled(&[(labels::PROJECT, "p"), (labels::NETWORK, "default")]),
                },
                ObservedNetwork {
                    id: "n2".into(),
                    name: "other_default".into(),
                    labels: labelled(&[(labels::PROJECT, "other")]),
                },
            ],
            volumes: vec![ObservedVolume {
                name: "p_data".into(),
                labels: labelled(&[(labels::PROJECT, "p"), (labels::VOLUME, "data")]),
            }],
            images: BTreeMap::new(),
            image_ages: BTreeMap::new(),
        };
        let spec = project_from_labels("p", &observed);
        assert_eq!(spec.name, "p");
        assert!(!spec.legacy);
        assert_eq!(spec.working_dir, "/src/app");
        assert_eq!(spec.config_files, vec!["/src/app/compose.yaml".to_string()]);
        let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        let web = spec.service("web").unwrap();
        assert_eq!(web.replicas, 2);
        assert_eq!(web.image, "debian:bookworm-slim");
        assert_eq!(
            web.depends_on,
            vec![Dependency {
                service: "db".into(),
                condition: Condition::ServiceHealthy,
                required: true,
                restart: false,
            }],
            "dependencies on services that are not there are dropped"
        );
        assert_eq!(spec.networks.len(), 1);
        assert_eq!(spec.networks[0].name, "p_default");
        assert_eq!(spec.networks[0].key, "default");
        assert_eq!(spec.volumes.len(), 1);
        assert_eq!(spec.volumes[0].key, "data");
        assert!(!spec.volumes[0].external && !spec.networks[0].external);
    }

    #[test]
    fn down_of_a_project_from_labels_removes_everything_labelled() {
        let observed = Observed {
            containers: vec![container("p", "web", 1, &[]), {
                let mut c = container("p", "web", 1, &[(labels::ONEOFF, "True")]);
                c.oneoff = true;
                c.name = "p-web-run-1234".into();
                c
            }],
            networks: vec![ObservedNetwork {
                id: "n1".into(),
                name: "p_default".into(),
                labels: labelled(&[(labels::PROJECT, "p")]),
            }],
            volumes: vec![ObservedVolume {
                name: "p_data".into(),
                labels: labelled(&[(labels::PROJECT, "p")]),
            }],
            images: BTreeMap::new(),
            image_ages: BTreeMap::new(),
        };
        let spec = project_from_labels("p", &observed);
        assert_eq!(
            spec.service("web").unwrap().replicas,
            1,
            "one-offs are not replicas"
        );
        let plan = crate::plan::reconcile_down(
            &spec,
            &observed,
            &crate::plan::DownOptions {
                volumes: true,
                remove_orphans: false,
                services: Vec::new(),
            },
        );
        let text = plan.to_string();
        for name in ["p-web-1", "p-web-run-1234", "p_default", "p_data"] {
            assert!(text.contains(name), "{name} not in plan:\n{text}");
        }
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }

    #[test]
    fn no_containers_make_an_empty_project() {
        let spec = project_from_labels("p", &Observed::default());
        assert!(spec.services.is_empty() && spec.networks.is_empty() && spec.volumes.is_empty());
    }

    #[test]
    fn legacy_containers_make_a_legacy_project() {
        let observed = Observed {
            containers: vec![container("p", "app", 1, &[(labels::LEGACY, "true")])],
            ..Default::default()
        };
        assert!(project_from_labels("p", &observed).legacy);
    }
}
