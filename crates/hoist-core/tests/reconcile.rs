//! Decision tests for `up` and `down`: a compose-like project and an observed engine state in, the
//! plan text out. Every case goes through `check_up`/`check_down`, so the plan's printed form is
//! the specification.

use std::collections::BTreeMap;

use hoist_core::hash::{config_hash, resource_hash};
use hoist_core::observed::{Observed, ObservedContainer, ObservedNetwork, RunState};
use hoist_core::plan::{
    DownOptions, PlanError, RemoveImages, UpOptions, images_to_remove, plan_images, reconcile_down,
    reconcile_resources, reconcile_up, restart_selection, without_unselected_dependencies,
};
use hoist_core::spec::{
    BuildSpec, Condition, ContainerSpec, Dependency, Link, MountSpec, NetworkAttachment,
    NetworkSpec, ProjectSpec, PullPolicy, ServiceSpec, Share, ShareKind, VolumeSpec,
};

fn svc(name: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        image: format!("img/{name}"),
        pull_policy: PullPolicy::Missing,
        build: None,
        replicas: 1,
        container_name: None,
        depends_on: vec![],
        links: vec![],
        networks: vec![],
        container: ContainerSpec {
            image: format!("img/{name}"),
            ..Default::default()
        },
        healthcheck_disabled: false,
        stop_timeout_secs: None,
        post_start: Vec::new(),
        pre_stop: Vec::new(),
        shares: vec![],
    }
}

fn depends(mut s: ServiceSpec, on: &str, condition: Condition) -> ServiceSpec {
    s.depends_on.push(Dependency {
        service: on.into(),
        condition,
        required: true,
        restart: false,
    });
    s
}

fn link(mut s: ServiceSpec, to: &str) -> ServiceSpec {
    s.links.push(Link {
        service: to.into(),
        alias: to.into(),
    });
    s
}

/// A v2 project: every service on `<name>_default`.
fn v2(name: &str, services: Vec<ServiceSpec>) -> ProjectSpec {
    let net = format!("{name}_default");
    ProjectSpec {
        env_files: Vec::new(),
        name: name.into(),
        legacy: false,
        compatibility: false,
        working_dir: "/src".into(),
        config_files: vec!["/src/compose.yaml".into()],
        services: services
            .into_iter()
            .map(|mut s| {
                s.networks.push(NetworkAttachment {
                    network: net.clone(),
                    aliases: vec![s.name.clone()],
                    ipv4_address: None,
                    ipv6_address: None,
                });
                s
            })
            .collect(),
        networks: vec![NetworkSpec {
            key: "default".into(),
            name: net,
            driver: None,
            external: false,
            internal: false,
            attachable: false,
            enable_ipv6: false,
            labels: BTreeMap::new(),
            driver_opts: BTreeMap::new(),
            subnets: vec![],
        }],
        volumes: vec![],
    }
}

/// A legacy v1 project: default bridge, no project networks.
fn v1(name: &str, services: Vec<ServiceSpec>) -> ProjectSpec {
    ProjectSpec {
        env_files: Vec::new(),
        name: name.into(),
        legacy: true,
        compatibility: false,
        working_dir: "/src".into(),
        config_files: vec!["/src/docker-compose.yml".into()],
        services,
        networks: vec![],
        volumes: vec![],
    }
}

/// The container `up` would have made for `service`, in state `state`.
fn running(project: &ProjectSpec, service: &str, state: RunState) -> ObservedContainer {
    let spec = project.service(service).unwrap();
    ObservedContainer {
        id: format!("id-{service}"),
        name: project.container_name(spec, 1),
        service: service.into(),
        number: 1,
        oneoff: false,
        config_hash: Some(config_hash(spec)),
        image: spec.image.clone(),
        image_id: format!("sha256:{service}"),
        command: String::new(),
        state,
        status: String::new(),
        exit_code: None,
        health: None,
        created: 0,
        ports: vec![],
        labels: BTreeMap::new(),
    }
}

fn check_up(project: &ProjectSpec, observed: &Observed, opts: &UpOptions, expected: &str) {
    let plan = reconcile_up(project, observed, opts).expect("plan");
    assert_eq!(plan.to_string().trim(), expected.trim());
}

fn check_down(project: &ProjectSpec, observed: &Observed, opts: &DownOptions, expected: &str) {
    let plan = reconcile_down(project, observed, opts);
    assert_eq!(plan.to_string().trim(), expected.trim());
}

fn only(services: &[&str]) -> UpOptions {
    UpOptions {
        services: services.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn book() -> ProjectSpec {
    v1(
        "vagrant",
        vec![svc("base"), link(svc("app"), "db"), svc("db")],
    )
}

#[test]
fn the_books_up_d_app_starts_db_first_then_app() {
    check_up(
        &book(),
        &Observed::default(),
        &only(&["app"]),
        r"
  1. create container vagrant_db_1 (no container yet)
  2. start container vagrant_db_1 (no container yet) after 1
  3. create container vagrant_app_1 (no container yet) after 2
  4. start container vagrant_app_1 (no container yet) after 3",
    );
}

#[test]
fn no_start_makes_the_containers_in_order_and_starts_nothing() {
    let project = v2(
        "p",
        vec![
            svc("db"),
            depends(svc("app"), "db", Condition::ServiceHealthy),
        ],
    );
    check_up(
        &project,
        &Observed::default(),
        &UpOptions {
            no_start: true,
            ..only(&["app"])
        },
        r"
  1. create network p_default (not on the engine)
  2. create container p-db-1 (no container yet) after 1
  3. create container p-app-1 (no container yet) after 1",
    );
    // A changed running container is made again, and not started.
    let mut changed = project.clone();
    let observed = Observed {
        containers: vec![
            running(&project, "db", RunState::Running),
            running(&project, "app", RunState::Running),
        ],
        networks: vec![ObservedNetwork {
            id: "n1".into(),
            name: "p_default".into(),
            labels: BTreeMap::new(),
        }],
        ..Default::default()
    };
    changed.services[1].container.env = vec!["V=2".into()];
    check_up(
        &changed,
        &observed,
        &UpOptions {
            no_start: true,
            ..only(&["app"])
        },
        r"
  1. stop container p-app-1 (recreate: configuration changed)
  2. remove container p-app-1 (recreate: configuration changed) after 1
  3. create container p-app-1 (recreate: configuration changed) after 2
  -  p-db-1 is up to date",
    );
}

#[test]
fn an_unchanged_running_project_is_left_alone() {
    let project = book();
    let observed = Observed {
        containers: vec![
            running(&project, "db", RunState::Running),
            running(&project, "app", RunState::Running),
        ],
        ..Default::default()
    };
    check_up(
        &project,
        &observed,
        &only(&["app"]),
        r"
nothing to do
  -  vagrant_db_1 is up to date
  -  vagrant_app_1 is up to date",
    );
}

#[test]
fn a_changed_configuration_recreates_only_that_service() {
    let mut project = book();
    let observed = Observed {
        containers: vec![
            running(&project, "db", RunState::Running),
            running(&project, "app", RunState::Running),
        ],
        ..Default::default()
    };
    project.services[1].container.env = vec!["SERVICE_NAME=books-ms-v2".into()];
    check_up(
        &project,
        &observed,
        &only(&["app"]),
        r"
  1. stop container vagrant_app_1 (recreate: configuration changed)
  2. remove container vagrant_app_1 (recreate: configuration changed) after 1
  3. create container vagrant_app_1 (recreate: configuration changed) after 2
  4. start container vagrant_app_1 (recreate: configuration changed) after 3
  -  vagrant_db_1 is up to date",
    );
}

#[test]
fn a_new_image_behind_the_same_tag_recreates() {
    let project = book();
    let mut observed = Observed {
        containers: vec![
            running(&project, "db", RunState::Running),
            running(&project, "app", RunState::Running),
        ],
        ..Default::default()
    };
    observed
        .images
        .insert("img/app".into(), "sha256:newer".into());
    observed.images.insert("img/db".into(), "sha256:db".into());
    let plan = reconcile_up(&project, &observed, &only(&["app"])).unwrap();
    assert!(
        plan.to_string()
            .contains("remove container vagrant_app_1 (recreate: image changed)"),
        "{plan}"
    );
    assert_eq!(plan.unchanged, vec!["vagrant_db_1"]);
}

#[test]
fn no_recreate_and_force_recreate() {
    let mut project = book();
    let observed = Observed {
        containers: vec![
            running(&project, "db", RunState::Exited),
            running(&project, "app", RunState::Running),
        ],
        ..Default::default()
    };
    project.services[1].container.env = vec!["X=1".into()];
    let opts = UpOptions {
        no_recreate: true,
        ..only(&["app"])
    };
    check_up(
        &project,
        &observed,
        &opts,
        r"
  1. start container vagrant_db_1 (stopped)
  -  vagrant_app_1 is up to date",
    );
    let opts = UpOptions {
        force_recreate: true,
        no_deps: true,
        ..only(&["db"])
    };
    check_up(
        &project,
        &observed,
        &opts,
        r"
  1. remove container vagrant_db_1 (recreate: --force-recreate)
  2. create container vagrant_db_1 (recreate: --force-recreate) after 1
  3. start container vagrant_db_1 (recreate: --force-recreate) after 2",
    );
}

#[test]
fn v2_projects_create_their_network_and_wait_for_healthy_dependencies() {
    let db = svc("db");
    let project = v2(
        "shop",
        vec![depends(svc("web"), "db", Condition::ServiceHealthy), db],
    );
    check_up(
        &project,
        &Observed::default(),
        &UpOptions::default(),
        r"
  1. create network shop_default (not on the engine)
  2. create container shop-db-1 (no container yet) after 1
  3. start container shop-db-1 (no container yet) after 2
  4. wait until shop-db-1 is healthy (a dependent service waits for it) after 3
  5. create container shop-web-1 (no container yet) after 1
  6. start container shop-web-1 (no container yet) after 4, 5",
    );
    let observed = Observed {
        networks: vec![ObservedNetwork {
            id: "n1".into(),
            name: "shop_default".into(),
            labels: BTreeMap::new(),
        }],
        ..Default::default()
    };
    let plan = reconcile_up(&project, &observed, &UpOptions::default()).unwrap();
    assert!(!plan.to_string().contains("create network"), "{plan}");
}

#[test]
fn an_optional_dependencys_wait_is_marked_optional() {
    let mut web = depends(svc("web"), "db", Condition::ServiceHealthy);
    web.depends_on[0].required = false;
    let project = v2("shop", vec![web, svc("db")]);
    let plan = reconcile_up(&project, &Observed::default(), &UpOptions::default()).unwrap();
    let waits: Vec<usize> = plan
        .steps
        .iter()
        .filter(|s| s.action.to_string().starts_with("wait until"))
        .map(|s| s.id)
        .collect();
    assert_eq!(waits.len(), 1, "{plan}");
    assert_eq!(plan.optional.iter().copied().collect::<Vec<_>>(), waits);

    let required = v2(
        "shop",
        vec![
            depends(svc("web"), "db", Condition::ServiceHealthy),
            svc("db"),
        ],
    );
    let plan = reconcile_up(&required, &Observed::default(), &UpOptions::default()).unwrap();
    assert!(plan.optional.is_empty(), "{plan}");
}

#[test]
fn wait_waits_for_a_one_shot_dependency_to_complete_not_to_run() {
    let project = v2(
        "jobs",
        vec![
            svc("oneshot"),
            depends(
                svc("longrunning"),
                "oneshot",
                Condition::ServiceCompletedSuccessfully,
            ),
        ],
    );
    let opts = UpOptions {
        wait: true,
        ..Default::default()
    };
    check_up(
        &project,
        &Observed::default(),
        &opts,
        r"
  1. create network jobs_default (not on the engine)
  2. create container jobs-oneshot-1 (no container yet) after 1
  3. start container jobs-oneshot-1 (no container yet) after 2
  4. wait until jobs-oneshot-1 has completed successfully (a dependent service waits for it) after 3
  5. create container jobs-longrunning-1 (no container yet) after 1
  6. start container jobs-longrunning-1 (no container yet) after 4, 5
  7. wait until jobs-oneshot-1 has completed successfully (--wait) after 3
  8. wait until jobs-longrunning-1 is ready (--wait) after 6",
    );
}

#[test]
fn independent_services_do_not_wait_for_each_other() {
    let project = v2("many", (0..3).map(|i| svc(&format!("s{i}"))).collect());
    let plan = reconcile_up(&project, &Observed::default(), &UpOptions::default()).unwrap();
    for step in &plan.steps {
        if step.action.to_string().starts_with("create container") {
            assert_eq!(step.after, vec![1], "{plan}");
        }
    }
}

#[test]
fn scaling_adds_and_removes_numbered_replicas() {
    let mut project = v1("vagrant", vec![svc("app")]);
    project.services[0].replicas = 2;
    check_up(
        &project,
        &Observed::default(),
        &UpOptions::default(),
        r"
  1. create container vagrant_app_1 (no container yet)
  2. start container vagrant_app_1 (no container yet) after 1
  3. create container vagrant_app_2 (no container yet)
  4. start container vagrant_app_2 (no container yet) after 3",
    );
    let mut second = running(&project, "app", RunState::Running);
    second.number = 2;
    second.name = "vagrant_app_2".into();
    let observed = Observed {
        containers: vec![running(&project, "app", RunState::Running), second],
        ..Default::default()
    };
    project.services[0].replicas = 1;
    check_up(
        &project,
        &observed,
        &UpOptions::default(),
        r"
  1. stop container vagrant_app_2 (scaled down)
  2. remove container vagrant_app_2 (scaled down) after 1
  -  vagrant_app_1 is up to date",
    );
}

#[test]
fn orphans_warn_or_go_with_remove_orphans() {
    let project = v1("vagrant", vec![svc("app")]);
    let mut old = running(&project, "app", RunState::Running);
    old.service = "legacy".into();
    old.name = "vagrant_legacy_1".into();
    let observed = Observed {
        containers: vec![running(&project, "app", RunState::Running), old],
        ..Default::default()
    };
    check_up(
        &project,
        &observed,
        &UpOptions::default(),
        r"
warning: found orphan container vagrant_legacy_1 for service legacy; remove it with --remove-orphans
nothing to do
  -  vagrant_app_1 is up to date",
    );
    let opts = UpOptions {
        remove_orphans: true,
        ..Default::default()
    };
    check_up(
        &project,
        &observed,
        &opts,
        r"
  1. stop container vagrant_legacy_1 (orphan (--remove-orphans))
  2. remove container vagrant_legacy_1 (orphan (--remove-orphans)) after 1
  -  vagrant_app_1 is up to date",
    );
}

#[test]
fn bad_requests_are_errors_that_name_the_service() {
    let project = book();
    assert_eq!(
        reconcile_up(&project, &Observed::default(), &only(&["nope"])).unwrap_err(),
        PlanError::NoSuchService("nope".into())
    );
    let broken = v1("p", vec![link(svc("app"), "db")]);
    assert_eq!(
        reconcile_up(&broken, &Observed::default(), &UpOptions::default()).unwrap_err(),
        PlanError::MissingDependency {
            service: "app".into(),
            dependency: "db".into()
        }
    );
    let cycle = v1("p", vec![link(svc("a"), "b"), link(svc("b"), "a")]);
    assert_eq!(
        reconcile_up(&cycle, &Observed::default(), &UpOptions::default()).unwrap_err(),
        PlanError::Cycle("a, b".into())
    );
    let mut b = svc("b");
    b.healthcheck_disabled = true;
    let no_health = v2(
        "p",
        vec![depends(svc("a"), "b", Condition::ServiceHealthy), b],
    );
    assert!(matches!(
        reconcile_up(&no_health, &Observed::default(), &UpOptions::default()).unwrap_err(),
        PlanError::NoHealthcheck { .. }
    ));
}

#[test]
fn down_stops_dependents_before_their_dependencies() {
    let project = book();
    let observed = Observed {
        containers: vec![
            running(&project, "db", RunState::Running),
            running(&project, "app", RunState::Running),
        ],
        ..Default::default()
    };
    check_down(
        &project,
        &observed,
        &DownOptions::default(),
        r"
  1. stop container vagrant_app_1 (down)
  2. remove container vagrant_app_1 (down) after 1
  3. stop container vagrant_db_1 (down) after 1
  4. remove container vagrant_db_1 (down) after 3",
    );
}

#[test]
fn down_stops_then_removes_containers_then_the_network() {
    let project = v2("shop", vec![svc("web"), svc("db")]);
    let observed = Observed {
        containers: vec![
            running(&project, "web", RunState::Running),
            running(&project, "db", RunState::Exited),
        ],
        networks: vec![ObservedNetwork {
            id: "n1".into(),
            name: "shop_default".into(),
            labels: BTreeMap::new(),
        }],
        ..Default::default()
    };
    check_down(
        &project,
        &observed,
        &DownOptions::default(),
        r"
  1. remove container shop-db-1 (down)
  2. stop container shop-web-1 (down)
  3. remove container shop-web-1 (down) after 2
  4. remove network shop_default (down) after 1, 3",
    );
}

#[test]
fn down_of_named_services_takes_their_dependents_and_leaves_the_rest_and_the_network() {
    let web = depends(svc("web"), "api", Condition::ServiceStarted);
    let project = v2("shop", vec![web, svc("api"), svc("db")]);
    let observed = Observed {
        containers: vec![
            running(&project, "web", RunState::Running),
            running(&project, "api", RunState::Running),
            running(&project, "db", RunState::Running),
        ],
        networks: vec![ObservedNetwork {
            id: "n1".into(),
            name: "shop_default".into(),
            labels: BTreeMap::new(),
        }],
        ..Default::default()
    };
    check_down(
        &project,
        &observed,
        &DownOptions {
            services: vec!["api".into()],
            ..Default::default()
        },
        r"
  1. stop container shop-web-1 (down)
  2. remove container shop-web-1 (down) after 1
  3. stop container shop-api-1 (down) after 1
  4. remove container shop-api-1 (down) after 3",
    );
}

/// A blue-green colour starts outside `up`: on a fresh target its networks and volumes must be
/// created first, as `up` would, while its dependencies are left to `up` of their own.
#[test]
fn a_service_started_outside_up_gets_the_networks_and_volumes_it_uses_and_nothing_else() {
    let mut app = depends(svc("app"), "db", Condition::ServiceStarted);
    app.container.mounts.push(MountSpec {
        kind: "volume".into(),
        source: "shop_data".into(),
        target: "/data".into(),
        read_only: false,
        create_host_path: false,
        bind_options: false,
    });
    let mut db = svc("db");
    db.container.mounts.push(MountSpec {
        kind: "volume".into(),
        source: "shop_dbdata".into(),
        target: "/var/lib/db".into(),
        read_only: false,
        create_host_path: false,
        bind_options: false,
    });
    let mut project = v2("shop", vec![app, db]);
    for name in ["shop_data", "shop_dbdata"] {
        project.volumes.push(VolumeSpec {
            key: name.trim_start_matches("shop_").into(),
            name: name.into(),
            driver: None,
            external: false,
            labels: BTreeMap::new(),
            driver_opts: BTreeMap::new(),
        });
    }
    let plan = reconcile_resources(&project, &Observed::default(), &["app".into()]).unwrap();
    assert_eq!(
        plan.to_string().trim(),
        "1. create network shop_default (not on the engine)\n  2. create volume shop_data (not on the engine)"
    );
    // What the engine has already is not created again.
    let observed = Observed {
        networks: vec![ObservedNetwork {
            id: "n1".into(),
            name: "shop_default".into(),
            labels: BTreeMap::new(),
        }],
        ..Default::default()
    };
    let plan = reconcile_resources(&project, &observed, &["app".into()]).unwrap();
    assert!(!plan.to_string().contains("network"), "{plan}");
    assert!(
        plan.to_string().contains("create volume shop_data"),
        "{plan}"
    );
    // A legacy project has no networks of its own: nothing to create.
    let legacy = v1("shop", vec![svc("app")]);
    assert!(
        reconcile_resources(&legacy, &Observed::default(), &["app".into()])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_recreated_container_names_the_one_it_replaces_as_compose_does() {
    let mut named = svc("db");
    named.container_name = Some("the_db".into());
    let project = v2("p", vec![svc("app"), named]);
    let observed = Observed {
        containers: vec![
            running(&project, "app", RunState::Running),
            running(&project, "db", RunState::Exited),
        ],
        ..Default::default()
    };
    let opts = UpOptions {
        force_recreate: true,
        ..only(&[])
    };
    let plan = reconcile_up(&project, &observed, &opts).expect("plan");
    let replaces: Vec<Option<String>> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            hoist_core::plan::Action::CreateContainer { replaces, .. } => Some(replaces.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        replaces,
        vec![Some("app-1".to_string()), Some("the_db".to_string())]
    );
    let fresh = reconcile_up(&project, &Observed::default(), &only(&[])).expect("plan");
    assert!(fresh.steps.iter().all(|s| !matches!(
        &s.action,
        hoist_core::plan::Action::CreateContainer {
            replaces: Some(_),
            ..
        }
    )));
}

#[test]
fn no_deps_keeps_only_dependencies_between_named_services() {
    let project = v2(
        "p",
        vec![
            svc("db"),
            depends(svc("cache"), "db", Condition::ServiceStarted),
            depends(
                depends(svc("app"), "db", Condition::ServiceHealthy),
                "cache",
                Condition::ServiceStarted,
            ),
        ],
    );
    let deps = |p: &ProjectSpec, name: &str| -> Vec<String> {
        p.service(name)
            .expect("service")
            .depends_on
            .iter()
            .map(|d| d.service.clone())
            .collect()
    };
    let stripped = without_unselected_dependencies(&project, &["app".into(), "cache".into()]);
    assert_eq!(deps(&stripped, "app"), vec!["cache".to_string()]);
    assert!(deps(&stripped, "cache").is_empty());
    let all = without_unselected_dependencies(&project, &[]);
    assert_eq!(all, project);
}

#[test]
fn down_rmi_all_takes_every_service_image_once_and_local_only_built_ones() {
    let mut built = svc("built");
    built.build = Some(BuildSpec {
        context: ".".into(),
        dockerfile: "Dockerfile".into(),
        args: BTreeMap::new(),
        target: None,
        labels: BTreeMap::new(),
    });
    let mut twin = svc("twin");
    twin.image = "img/web".into();
    let project = v2("p", vec![svc("web"), twin, built]);
    assert_eq!(
        images_to_remove(&project, RemoveImages::All),
        ["img/web", "img/built"]
    );
    assert_eq!(
        images_to_remove(&project, RemoveImages::Local),
        ["img/built"]
    );
    assert!("none".parse::<RemoveImages>().is_err());
}

#[test]
fn up_refuses_two_selected_services_with_one_container_name_only_when_both_run() {
    let mut a = svc("a");
    a.container_name = Some("same".into());
    let mut b = svc("b");
    b.container_name = Some("same".into());
    let project = v2("p", vec![a, b]);
    let err = reconcile_up(&project, &Observed::default(), &UpOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"container name "same" is already in use by service b"#
    );
    let one = UpOptions {
        services: vec!["a".into()],
        ..Default::default()
    };
    assert!(reconcile_up(&project, &Observed::default(), &one).is_ok());
}

#[test]
fn no_deps_refuses_to_share_with_a_service_that_has_no_container() {
    let mut app = svc("app");
    app.shares.push(Share {
        kind: ShareKind::Volume,
        service: "db".into(),
    });
    let project = v2("p", vec![svc("db"), app]);
    let opts = UpOptions {
        services: vec!["app".into()],
        no_deps: true,
        ..Default::default()
    };
    let err = reconcile_up(&project, &Observed::default(), &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot share volume with service db: container missing"
    );
    let mut observed = Observed::default();
    observed
        .containers
        .push(running(&project, "db", RunState::Running));
    assert!(reconcile_up(&project, &observed, &opts).is_ok());
}

#[test]
fn all_resources_creates_the_networks_and_volumes_no_selected_service_uses() {
    let mut project = v2("res", vec![svc("app")]);
    let mut unused = project.networks[0].clone();
    unused.key = "spare".into();
    unused.name = "res_spare".into();
    let mut external = unused.clone();
    external.name = "theirs".into();
    external.external = true;
    project.networks.extend([unused, external]);
    for (name, external) in [("res_data", false), ("shared", true)] {
        project.volumes.push(VolumeSpec {
            key: name.into(),
            name: name.into(),
            driver: None,
            external,
            labels: BTreeMap::new(),
            driver_opts: BTreeMap::new(),
        });
    }
    let opts = UpOptions {
        all_resources: true,
        ..Default::default()
    };
    let plan = reconcile_up(&project, &Observed::default(), &opts).unwrap();
    let resources: Vec<String> = plan
        .to_string()
        .lines()
        .filter(|l| l.contains("create network") || l.contains("create volume"))
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        resources,
        [
            "1. create network res_default (not on the engine)",
            "2. create network res_spare (--all-resources)",
            "3. create volume res_data (--all-resources)",
        ]
    );
    // Without the flag only what the services use is made.
    let plan = reconcile_up(&project, &Observed::default(), &UpOptions::default()).unwrap();
    assert!(!plan.to_string().contains("res_spare"), "{plan}");
    assert!(!plan.to_string().contains("res_data"), "{plan}");
}

#[test]
fn recreating_a_dependency_stops_the_dependents_that_restart_with_it_and_starts_them_after() {
    let mut with_restart = depends(svc("follower"), "db", Condition::ServiceStarted);
    with_restart.depends_on[0].restart = true;
    let project = v2(
        "r",
        vec![
            svc("db"),
            with_restart,
            depends(svc("bystander"), "db", Condition::ServiceStarted),
        ],
    );
    let mut db = running(&project, "db", RunState::Running);
    db.config_hash = Some("an older configuration".into());
    let observed = Observed {
        containers: vec![
            db,
            running(&project, "follower", RunState::Running),
            running(&project, "bystander", RunState::Running),
        ],
        ..Default::default()
    };
    check_up(
        &project,
        &observed,
        &UpOptions::default(),
        "1. create network r_default (not on the engine)
  2. stop container r-follower-1 (its dependency db is recreated)
  3. stop container r-db-1 (recreate: configuration changed) after 2
  4. remove container r-db-1 (recreate: configuration changed) after 3
  5. create container r-db-1 (recreate: configuration changed) after 1, 4
  6. start container r-db-1 (recreate: configuration changed) after 5
  7. start container r-follower-1 (restarted once what it uses was recreated) after 2, 6
  -  r-bystander-1 is up to date",
    );
    // Nothing to recreate: nothing is stopped.
    let observed = Observed {
        containers: vec![
            running(&project, "db", RunState::Running),
            running(&project, "follower", RunState::Running),
        ],
        ..Default::default()
    };
    let plan = reconcile_up(&project, &observed, &UpOptions::default()).unwrap();
    assert!(!plan.to_string().contains("stop"), "{plan}");
}

#[test]
fn restart_takes_the_dependents_that_restart_with_a_named_service_in_dependency_order() {
    let mut follower = depends(svc("follower"), "db", Condition::ServiceHealthy);
    follower.depends_on[0].restart = true;
    let mut second = depends(svc("second"), "follower", Condition::ServiceStarted);
    second.depends_on[0].restart = true;
    let project = v2(
        "r",
        vec![
            second,
            follower,
            depends(svc("bystander"), "db", Condition::ServiceStarted),
            svc("db"),
        ],
    );
    assert_eq!(
        restart_selection(&project, &["db".into()]).unwrap(),
        ["db", "follower", "second"]
    );
    assert_eq!(
        restart_selection(&project, &["bystander".into()]).unwrap(),
        ["bystander"]
    );
    assert_eq!(restart_selection(&project, &[]).unwrap().len(), 4);
    assert!(restart_selection(&project, &["nope".into()]).is_err());
}

#[test]
fn up_build_builds_what_has_a_build_section_and_no_build_builds_nothing() {
    let mut built = svc("built");
    built.image = "img/built".into();
    built.build = Some(BuildSpec {
        context: ".".into(),
        dockerfile: "Dockerfile".into(),
        args: BTreeMap::new(),
        target: None,
        labels: BTreeMap::new(),
    });
    let project = v2("b", vec![svc("web"), built]);
    let services: Vec<&ServiceSpec> = project.services.iter().collect();
    let mut observed = Observed::default();
    for s in &project.services {
        observed
            .images
            .insert(s.image.clone(), format!("sha256:{}", s.name));
    }
    // Both images are there: nothing to do, unless --build.
    let plan = plan_images(&project, &observed, &services, None, None).unwrap();
    assert!(plan.is_empty(), "{plan}");
    let plan = plan_images(&project, &observed, &services, None, Some(true)).unwrap();
    assert_eq!(
        plan.to_string().trim(),
        "1. build img/built (service built) (--build)"
    );
    // --no-build with the built image missing: an error naming the service.
    observed.images.remove("img/built");
    let err = plan_images(&project, &observed, &services, None, Some(false)).unwrap_err();
    assert!(err.to_string().contains("built"), "{err}");
    let plan = plan_images(&project, &observed, &services, None, None).unwrap();
    assert_eq!(
        plan.to_string().trim(),
        "1. build img/built (service built) (image not built yet)"
    );
}

#[test]
fn a_changed_network_is_made_again_with_its_containers_stopped_off_it_and_back_on() {
    let project = v2("n", vec![svc("web")]);
    let network = &project.networks[0];
    let observed_network = |hash: &str| ObservedNetwork {
        id: "n1".into(),
        name: network.name.clone(),
        labels: BTreeMap::from([(
            hoist_core::spec::labels::CONFIG_HASH.to_string(),
            hash.to_string(),
        )]),
    };
    let observed = Observed {
        containers: vec![running(&project, "web", RunState::Running)],
        networks: vec![observed_network("an older definition")],
        ..Default::default()
    };
    check_up(
        &project,
        &observed,
        &UpOptions::default(),
        "1. stop container n-web-1 (network changed: n_default)
  2. disconnect container n-web-1 from network n_default (network changed: n_default) after 1
  3. remove network n_default (network changed: n_default) after 2
  4. create network n_default (network changed: n_default) after 3
  5. connect container n-web-1 to network n_default (network changed: n_default) after 4
  6. start container n-web-1 (restarted once what it uses was recreated) after 5",
    );
    // The same definition, or a network made before networks carried a hash: left alone.
    for hash in [resource_hash(network), String::new()] {
        let observed = Observed {
            containers: vec![running(&project, "web", RunState::Running)],
            networks: vec![observed_network(&hash)],
            ..Default::default()
        };
        let plan = reconcile_up(&project, &observed, &UpOptions::default()).unwrap();
        assert!(plan.steps.is_empty(), "{plan}");
    }
}

#[test]
fn a_changed_volume_is_made_again_only_with_yes_and_its_users_with_it() {
    let mut app = svc("app");
    app.container.mounts.push(MountSpec {
        kind: "volume".into(),
        source: "v_data".into(),
        target: "/data".into(),
        read_only: false,
        create_host_path: false,
        bind_options: false,
    });
    let mut project = v2("v", vec![app, svc("other")]);
    project.volumes.push(VolumeSpec {
        key: "data".into(),
        name: "v_data".into(),
        driver: None,
        external: false,
        labels: BTreeMap::new(),
        driver_opts: BTreeMap::new(),
    });
    let observed = Observed {
        containers: vec![
            running(&project, "app", RunState::Running),
            running(&project, "other", RunState::Running),
        ],
        networks: vec![ObservedNetwork {
            id: "n1".into(),
            name: "v_default".into(),
            labels: BTreeMap::new(),
        }],
        volumes: vec![hoist_core::observed::ObservedVolume {
            name: "v_data".into(),
            labels: BTreeMap::from([(
                hoist_core::spec::labels::CONFIG_HASH.to_string(),
                "an older definition".to_string(),
            )]),
        }],
        ..Default::default()
    };
    let plan = reconcile_up(&project, &observed, &UpOptions::default()).unwrap();
    assert!(plan.steps.is_empty(), "{plan}");
    assert!(plan.warnings[0].contains("up -y"), "{:?}", plan.warnings);
    let yes = UpOptions {
        assume_yes: true,
        ..Default::default()
    };
    check_up(
        &project,
        &observed,
        &yes,
        "1. stop container v-app-1 (volume v_data changed)
  2. remove container v-app-1 (volume v_data changed) after 1
  3. remove volume v_data (volume changed: v_data) after 2
  4. create volume v_data (volume v_data changed) after 3
  5. create container v-app-1 (no container yet) after 4
  6. start container v-app-1 (no container yet) after 5
  -  v-other-1 is up to date",
    );
}

#[test]
fn a_refresh_pull_policy_pulls_a_missing_image_or_one_older_than_its_interval() {
    for (text, seconds) in [
        ("daily", 86_400),
        ("weekly", 604_800),
        ("every_12h", 43_200),
        ("every_1h30m", 5_400),
        ("every_2w1d", 1_296_000),
    ] {
        assert_eq!(text.parse(), Ok(PullPolicy::Refresh(seconds)), "{text}");
    }
    for bad in ["every_", "every_h", "every_5", "every_0s", "hourly"] {
        assert!(bad.parse::<PullPolicy>().is_err(), "{bad}");
    }
    let mut web = svc("web");
    web.pull_policy = PullPolicy::Refresh(86_400);
    let project = v2("r", vec![web]);
    let services: Vec<&ServiceSpec> = project.services.iter().collect();
    let mut observed = Observed::default();
    let plan = |observed: &Observed| {
        plan_images(&project, observed, &services, None, None)
            .unwrap()
            .to_string()
    };
    assert!(plan(&observed).contains("pull img/web"), "missing");
    observed
        .images
        .insert("img/web".into(), "sha256:web".into());
    observed.image_ages.insert("img/web".into(), 3_600);
    assert_eq!(plan(&observed).trim(), "nothing to do", "an hour old");
    observed.image_ages.insert("img/web".into(), 90_000);
    assert!(
        plan(&observed).contains("pull img/web"),
        "older than a day: {}",
        plan(&observed)
    );
}
