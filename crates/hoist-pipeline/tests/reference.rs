//! The annotated `examples/books-ms/hoist.yml` is the format's reference: it must parse, define
//! all nine steps, and say what the book's pipeline does, so the documentation cannot drift.

use std::path::Path;

use hoist_pipeline::config::{self, Strategy, Work};
use hoist_pipeline::steps::StepId;

#[test]
fn the_reference_file_defines_the_books_nine_steps() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/books-ms/hoist.yml");
    let file = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.service, "books-ms");
    for step in StepId::ALL {
        assert!(
            file.work(step).is_some(),
            "step {} is documented",
            step.key()
        );
    }
    assert_eq!(file.work(StepId::Checkout), Some(&Work::Checkout));
    assert_eq!(
        file.work(StepId::PostDeploymentTests),
        Some(&Work::Run {
            service: "integ".into(),
            env: vec![],
            retry_for: Some(30),
        })
    );
    let Some(Work::Integrate(integrate)) = file.work(StepId::Integrate) else {
        panic!("step 7 integrates");
    };
    assert_eq!(integrate.path.as_deref(), Some("/api/v1/books"));
    assert_eq!(integrate.port, 8080);
    let prod = file.target("prod").expect("a prod target");
    assert_eq!(prod.public_address, "http://10.200.0.2");
    assert_eq!(prod.registry, "10.200.0.1:5000");
    assert_eq!(prod.proxy.image, "10.200.0.1:5000/hoist-proxy:latest");
    assert!(file.target("prod-tls").unwrap().tls.is_some());
    // Step 6 releases blue-green behind the proxy; the TLS target keeps Compose's recreate.
    assert_eq!(file.strategy(prod), Strategy::BlueGreen);
    assert_eq!(
        file.strategy(file.target("prod-tls").unwrap()),
        Strategy::Recreate
    );
    // The fleet: three hosts, each with its own proxy on port 80, one at a time.
    let fleet = file.target("fleet").expect("a fleet target");
    let hosts: Vec<(&str, &str, &str)> = fleet
        .members()
        .iter()
        .map(|h| (h.name.as_str(), h.host.as_str(), h.public_address.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("10.200.0.2", "tcp://10.200.0.2:2375", "http://10.200.0.2"),
            ("10.200.0.3", "tcp://10.200.0.3:2376", "http://10.200.0.3"),
            ("prod3", "tcp://10.200.0.4:2375", "http://10.200.0.4"),
        ]
    );
    assert_eq!(fleet.batch, 1);
    for h in fleet.members() {
        assert_eq!((h.proxy.port, h.registry.as_str()), (80, "10.200.0.1:5000"));
        assert_eq!(h.tls.is_some(), h.name == "10.200.0.3", "{}", h.name);
        assert_eq!(
            h.upstream_host,
            h.public_address.trim_start_matches("http://")
        );
    }
    assert_eq!(file.strategy(fleet), Strategy::BlueGreen);
    // The Swarm: its manager is the engine; one task at a time, each watched 5 s.
    let swarm = file.target("swarm").expect("a swarm target");
    assert_eq!(swarm.host, "tcp://10.200.0.11:2375");
    let rolls = swarm.swarm.as_ref().expect("swarm settings");
    assert_eq!(
        (rolls.parallelism, rolls.monitor.as_deref()),
        (Some(1), Some("5s"))
    );
    assert_eq!(
        (swarm.proxy.port, swarm.registry.as_str()),
        (80, "10.200.0.1:5000")
    );
    let Some(Work::Deploy {
        service,
        health_path,
        health_timeout,
        drain,
        ..
    }) = file.work(StepId::Deploy)
    else {
        panic!("step 6 deploys");
    };
    assert_eq!(service, "app");
    assert_eq!(health_path.as_deref(), Some("/api/v1/books"));
    assert_eq!((*health_timeout, *drain), (60, 2));
    for f in file.dev_files.iter().chain(&file.deploy_files) {
        assert!(f.exists(), "{} exists", f.display());
    }
}
