//! The generated project the loader benchmark and `scripts/bench/config` resolve (shared through
//! `#[path]` by `benches/load.rs` and `examples/generate.rs`).

use std::fmt::Write as _;

/// A project of `n` services: a shared anchor merged into every service, three base services,
/// every service extending one of them (two of them through a chain), with ports, volumes,
/// environment, labels, healthchecks and dependencies.
pub fn generate(n: usize) -> String {
    let mut s = String::new();
    s.push_str(
        "x-common: &common\n  restart: unless-stopped\n  labels:\n    com.example.team: platform\n  logging:\n    driver: json-file\n    options:\n      max-size: 10m\n\n",
    );
    s.push_str("services:\n");
    s.push_str("  base-web:\n    <<: *common\n    image: nginx:${NGINX_TAG:-1.27}\n    environment:\n      - MODE=web\n      - LOG_LEVEL=info\n    healthcheck:\n      test: curl -f http://localhost/ || exit 1\n      interval: 30s\n      timeout: 5s\n      retries: 3\n");
    s.push_str("  base-worker:\n    <<: *common\n    extends: base-web\n    image: registry.example.com/worker:2\n    command: worker --queue default\n    environment:\n      MODE: worker\n");
    s.push_str("  base-db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: example\n    volumes:\n      - db-data:/var/lib/postgresql/data\n");
    for i in 0..n {
        let base = ["base-web", "base-worker", "base-db"][i % 3];
        let _ = write!(
            s,
            "  svc{i}:\n    <<: *common\n    extends:\n      service: {base}\n    container_name: svc-{i}\n    ports:\n      - \"{}:80\"\n      - \"127.0.0.1:{}:9000/udp\"\n    environment:\n      - INDEX={i}\n      - PEER=svc{}\n    volumes:\n      - ./data/{i}:/data\n      - cache-{}:/cache:ro\n    labels:\n      - \"com.example.index={i}\"\n    depends_on:\n      - base-db\n",
            10000 + i,
            20000 + i,
            (i + 1) % n,
            i % 10
        );
    }
    s.push_str("volumes:\n  db-data:\n");
    for i in 0..10 {
        let _ = writeln!(s, "  cache-{i}:");
    }
    s
}
