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
