//! The integration proxy: one nginx container per target that routes a path prefix or a host
//! name to a service's containers (the book's step 7, chapters 9 and 10), without logging into
//! the host and without Consul, Registrator or consul-template.
//!
//! The routing table ([`ProxyConfig`]) is plain data rendered to nginx's text by pure functions
//! ([`config`]). [`Proxy::apply`] moves it into the container: both files are staged through
//! the archive API, then one exec swaps them in, checks them with `nginx -t`, reloads nginx
//! with SIGHUP and returns once nginx's new workers took over; the old workers finish their
//! requests. A configuration nginx rejects is never applied: the previous files are put back
//! and the error carries nginx's own message.
//!
//! How nginx reaches a service: through the target host's address and the port the engine
//! published for the service's container ([`published_servers`]), exactly as the book's
//! Registrator registered `ServiceAddress:ServicePort` for consul-template's upstream. Why not
//! container names on a shared network: the book's legacy v1 project runs on the default
//! bridge, where the engine resolves no names, and a v2 project's network would have to be
//! joined by the proxy (one more engine call per project, and a proxy that several projects'
//! networks hold on to). Published ports work the same for both, and for two colours at once.
//!
//! The proxy itself runs in the host's network (`network_mode: host`) and nginx listens on the
//! target's proxy port directly. Why: a container on a bridge reaches the host's published ports
//! only through the engine's userland proxy (`docker-proxy`, a process of the engine), which dies
//! when the engine stops; from the host's network the same ports are reached through the kernel's
//! NAT rules, which stay. So a live release keeps serving while its engine restarts (with live
//! restore, as production engines run), and nginx sees the clients' real addresses instead of
//! the bridge's gateway.
//!
//! Blue-green builds on [`Proxy::update`]: keep one upstream per colour and switch the route:
//!
//! ```no_run
//! # async fn example(engine: &hoist_docker::Engine) -> Result<(), hoist_pipeline::proxy::ProxyError> {
//! use hoist_core::events::Discard;
//! use hoist_pipeline::proxy::{Match, Proxy, ProxySpec, Route, Upstream};
//!
//! let proxy = Proxy::new(engine, ProxySpec::new("10.200.0.1:5000/hoist-proxy"));
//! proxy.ensure(&Discard).await?;
//! // Blue is live; green is started beside it and published on 32790.
//! proxy
//!     .update(&Discard, |table| {
//!         table.set_upstream(Upstream::new("books-ms-green", ["10.200.0.2:32790"]));
//!         table.switch("books-ms", "books-ms-green")?;
//!         Ok(())
//!     })
//!     .await?;
//! // A failed post-integration test switches back the same way.
//! proxy
//!     .update(&Discard, |table| table.switch("books-ms", "books-ms-blue").map(|_| ()))
//!     .await?;
//! # let _ = (Match::PathPrefix(String::new()), Route { name: String::new(),
//! #     matcher: Match::Host(String::new()), upstream: String::new(), directives: vec![],
//! #     hosts: vec![] });
//! # Ok(()) }
//! ```

pub mod config;
pub mod maintenance;
pub mod tls;

use std::collections::BTreeMap;

use hoist_core::events::{Event, EventSink, Phase};
use hoist_core::plan::UpOptions;
use hoist_core::spec::{ContainerSpec, ProjectSpec, PullPolicy, ServiceSpec};
use hoist_docker::execute::ExecOptions;
use hoist_docker::orchestrate::{self, OrchestrateError};
use hoist_docker::{ArchiveError, Engine, EngineError, ExecCommand, ExecError, FileUpload};

pub use config::{ConfigError, Match, ProxyConfig, Route, Upstream};

/// Label on every proxy container hoist keeps, so it can be told from the services.
pub const PROXY_LABEL: &str = "io.hoist.proxy";
/// nginx's configuration file that hoist owns (included by nginx.conf's `conf.d/*.conf`).
pub const CONF_PATH: &str = "/etc/nginx/conf.d/hoist.conf";
/// The routing table the configuration was rendered from, beside it but not included by nginx.
pub const TABLE_PATH: &str = "/etc/nginx/hoist/routes.json";
/// The official image's welcome site, which would answer before hoist's default server.
const OFFICIAL_DEFAULT_SITE: &str = "/etc/nginx/conf.d/default.conf";
/// Where [`Proxy::apply`] uploads the new files before the swap (one folder per apply).
const STAGE_DIR: &str = "/etc/nginx/hoist/stage";

/// Up to this many bytes of configuration and table travel in the exec's environment (one
/// variable may hold 128 KiB on Linux); more is uploaded first.
const INLINE_MAX: usize = 96 * 1024;

/// Exit codes of [`APPLY_SCRIPT`] besides 0 (written, checked, reloaded and taken over).
const UNCHANGED: i64 = 3;
const REJECTED: i64 = 1;
/// Rejected, and there were no previous files to put back.
const REJECTED_FIRST: i64 = 2;
/// Checked and in place, but `kill -HUP 1` was refused inside the container.
const NO_SIGNAL: i64 = 6;
/// The table is no longer the one the change was based on; nothing was touched.
const CONFLICT: i64 = 7;

/// The apply, inside the proxy container, run as `sh -c SCRIPT hoist-apply STAGE` with the new
/// files in STAGE (or in `HOIST_CONF` and `HOIST_TABLE`, written there first): with
/// `HOIST_BASE`, refused (exit 7) unless the table in place is the base the change was made on
/// (`base.json`, or none for `absent`); nothing to do when the staged configuration is the one in place; otherwise note nginx's accepting
/// workers, move the staged files in (keeping the previous ones), `nginx -t`; on rejection put
/// the previous files back and print nginx's message; else SIGHUP nginx (PID 1, as `docker
/// kill -s HUP` does) and wait, looking every 5 ms for about 10 s, until no worker that
/// accepted before the reload still accepts: old workers retitle themselves `... is shutting
/// down` and only finish their in-flight requests. Workers the script cannot see (another
/// process title) leave nothing to wait for.
pub const APPLY_SCRIPT: &str = r#"
stage=$1
conf=/etc/nginx/conf.d/hoist.conf
table=/etc/nginx/hoist/routes.json
trap 'rm -rf "$stage"' EXIT
if [ -n "${HOIST_CONF:-}" ]; then
  mkdir -p "$stage" && printf '%s' "$HOIST_CONF" > "$stage/hoist.conf" &&
    printf '%s' "$HOIST_TABLE" > "$stage/routes.json" || exit 5
  if [ "${HOIST_BASE:-}" = file ]; then
    printf '%s' "$HOIST_BASE_TABLE" > "$stage/base.json" || exit 5
  fi
fi
case "${HOIST_BASE:-}" in
  file) cmp -s "$stage/base.json" "$table" || exit 7;;
  absent) [ -f "$table" ] && exit 7;;
esac
if [ -f "$table" ] && cmp -s "$stage/hoist.conf" "$conf"; then exit 3; fi
workers() {
  for d in /proc/[0-9]*; do
    c=
    read -r c 2>/dev/null < "$d/cmdline"
    case "$c" in "nginx: worker process"|"nginx: worker process "*) ;; *) continue;; esac
    case "$c" in *"shutting down"*) ;; *) printf '%s ' "${d#/proc/}";; esac
  done
}
before=" $(workers)"
had=0
if [ -f "$conf" ] && [ -f "$table" ]; then
  cp -p "$conf" "$stage/previous.conf" && cp -p "$table" "$stage/previous.json" && had=1
fi
mv -f "$stage/hoist.conf" "$conf" && mv -f "$stage/routes.json" "$table" || exit 5
if ! out=$(nginx -t -q 2>&1); then
  if [ $had = 1 ]; then
    mv -f "$stage/previous.conf" "$conf"
    mv -f "$stage/previous.json" "$table"
    echo "$out" >&2
    exit 1
  fi
  echo "$out" >&2
  exit 2
fi
kill -HUP 1 || exit 6
[ "$before" = " " ] && exit 0
i=0
while :; do
  now=$(workers)
  if [ -n "$now" ]; then
    old=0
    for p in $now; do case "$before" in *" $p "*) old=1;; esac; done
    [ $old = 0 ] && exit 0
  fi
  i=$((i+1))
  if [ $i -ge 1400 ]; then echo "nginx did not finish reloading within about 10 s" >&2; exit 4; fi
  sleep 0.005
done
"#;

/// A routing table as read from the proxy, with its bytes: the base of [`Proxy::update_on`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableSnapshot {
    pub table: ProxyConfig,
    /// The file's bytes; `None` when the proxy had no table.
    raw: Option<Vec<u8>>,
}

/// The table file's bytes.
fn table_bytes(table: &ProxyConfig) -> Vec<u8> {
    serde_json::to_vec_pretty(table).expect("a table serialises")
}

/// A name for a staging folder, unique enough between two hoist processes on one proxy.
fn stage_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// Which proxy to keep on a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    /// Container name, also its compose project name (`hoist-proxy`).
    pub name: String,
    /// An nginx image whose nginx.conf includes `/etc/nginx/conf.d/*.conf` and that has a POSIX
    /// shell with `cmp` and `sleep` for [`APPLY_SCRIPT`] (the official image, its Alpine variant
    /// and Debian's package all do).
    pub image: String,
    /// The host port nginx listens on (the proxy shares the host's network).
    pub port: u16,
    /// The host port nginx serves HTTPS on, for host routes with a certificate (443).
    pub https_port: u16,
    /// Pull the image before creating the container: `missing` (default) or `always`.
    pub pull: PullPolicy,
    /// A network to join instead of the host's (a Swarm stack's attachable overlay, whose DNS
    /// names the services' tasks): nginx then listens inside the container and the engine
    /// publishes `port` on the host.
    pub network: Option<String>,
}

impl ProxySpec {
    pub const DEFAULT_NAME: &str = "hoist-proxy";
    pub const DEFAULT_IMAGE: &str = "nginx";

    /// The default name and port with the given image.
    pub fn new(image: impl Into<String>) -> ProxySpec {
        ProxySpec {
            name: Self::DEFAULT_NAME.into(),
            image: image.into(),
            port: 80,
            https_port: 443,
            pull: PullPolicy::Missing,
            network: None,
        }
    }

    /// The proxy as a one-service compose project, so that creating, recreating on a changed
    /// image or port, pulling and labelling all go through the same `up` as every service, and
    /// `hoist ps -p hoist-proxy` (or `docker compose`) shows it.
    pub fn project(&self) -> ProjectSpec {
        let mut labels = BTreeMap::new();
        labels.insert(PROXY_LABEL.to_string(), "true".to_string());
        let container = ContainerSpec {
            image: self.image.clone(),
            labels,
            // The host's network: nginx listens on the target's port itself, and reaches the
            // services' published ports without the engine's userland proxy (module docs).
            network_mode: Some("host".into()),
            // An image's own welcome site would listen on port 80 of the host before hoist's
            // configuration replaces it; it goes before nginx starts. A fixed command, no input.
            cmd: Some(vec![
                "sh".into(),
                "-c".into(),
                format!("rm -f {OFFICIAL_DEFAULT_SITE} && exec nginx -g 'daemon off;'"),
            ]),
            // The proxy outlives engine restarts, as the book's nginx container did.
            restart: Some("unless-stopped".into()),
            // nginx finishes in-flight requests on SIGQUIT.
            stop_signal: Some("SIGQUIT".into()),
            // Certificates, keys and the ACME account outlive the container (config::TLS_DIR).
            mounts: vec![hoist_core::spec::MountSpec {
                kind: "volume".into(),
                source: self.tls_volume(),
                target: config::TLS_DIR.into(),
                read_only: false,
                create_host_path: false,
                bind_options: false,
            }],
            ..Default::default()
        };
        let mut container = container;
        let mut attachments = Vec::new();
        let mut networks = Vec::new();
        if let Some(network) = &self.network {
            container.network_mode = None;
            // Plain HTTP only: HTTPS on a Swarm's proxy is not served yet.
            container.exposed_ports = vec![format!("{}/tcp", self.port)];
            container.ports = vec![hoist_core::spec::PortBinding {
                container_port: format!("{}/tcp", self.port),
                host_ip: None,
                host_port: Some(self.port.to_string()),
            }];
            attachments.push(hoist_core::spec::NetworkAttachment {
                network: network.clone(),
                aliases: Vec::new(),
                ipv4_address: None,
                ipv6_address: None,
            });
            networks.push(hoist_core::spec::NetworkSpec {
                key: network.clone(),
                name: network.clone(),
                driver: None,
                external: true,
                internal: false,
                attachable: true,
                enable_ipv6: false,
                labels: BTreeMap::new(),
                driver_opts: BTreeMap::new(),
                subnets: Vec::new(),
            });
        }
        ProjectSpec {
            env_files: Vec::new(),
            name: self.name.clone(),
            legacy: false,
            compatibility: false,
            working_dir: String::new(),
            config_files: Vec::new(),
            services: vec![ServiceSpec {
                name: "nginx".into(),
                image: self.image.clone(),
                pull_policy: self.pull,
                build: None,
                replicas: 1,
                container_name: Some(self.name.clone()),
                depends_on: Vec::new(),
                links: Vec::new(),
                networks: attachments,
                container,
                healthcheck_disabled: false,
                stop_timeout_secs: None,
                post_start: Vec::new(),
                pre_stop: Vec::new(),
                shares: vec![],
            }],
            networks,
            volumes: vec![hoist_core::spec::VolumeSpec {
                key: "tls".into(),
                name: self.tls_volume(),
                driver: None,
                external: false,
                labels: BTreeMap::new(),
                driver_opts: BTreeMap::new(),
            }],
        }
    }

    /// The volume that holds the proxy's certificates (`hoist-proxy_tls`).
    pub fn tls_volume(&self) -> String {
        format!("{}_tls", self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// nginx refused the configuration; the previous one is still in place and serving.
    #[error("proxy {proxy}: {message}")]
    Rejected { proxy: String, message: String },

    /// The table changed since it was read ([`Proxy::update_on`] reads it again).
    #[error("the proxy's routing table changed while it was being updated")]
    Conflict,

    #[error("proxy {proxy}: the routing table {TABLE_PATH} cannot be read: {why}")]
    BadTable { proxy: String, why: String },

    #[error("proxy {proxy}: {what}: {message}")]
    Failed {
        proxy: String,
        what: &'static str,
        message: String,
    },

    #[error("starting proxy {proxy}: {source}")]
    Start {
        proxy: String,
        #[source]
        source: OrchestrateError,
    },

    #[error(transparent)]
    Archive(#[from] ArchiveError),

    #[error(transparent)]
    Exec(#[from] ExecError),

    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ProxyError {
    /// nginx's own message when it rejected the configuration.
    pub fn nginx_message(&self) -> Option<&str> {
        match self {
            ProxyError::Rejected { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// What [`Proxy::apply`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The rendered configuration was already in place; nginx was not reloaded.
    Unchanged,
    /// Written, checked and reloaded.
    Reloaded,
}

/// One target's proxy.
pub struct Proxy<'e> {
    engine: &'e Engine,
    spec: ProxySpec,
}

impl<'e> Proxy<'e> {
    pub fn new(engine: &'e Engine, spec: ProxySpec) -> Proxy<'e> {
        Proxy { engine, spec }
    }

    pub fn spec(&self) -> &ProxySpec {
        &self.spec
    }

    /// Makes sure the proxy container runs (creating, or recreating it when its image or port
    /// changed) and serves at least an empty table, so unrouted paths answer 404.
    pub async fn ensure(&self, sink: &dyn EventSink) -> Result<(), ProxyError> {
        let project = self.spec.project();
        let opts = UpOptions::default();
        orchestrate::up(
            self.engine,
            &project,
            &opts,
            None,
            &ExecOptions::default(),
            sink,
        )
        .await
        .map_err(|source| ProxyError::Start {
            proxy: self.spec.name.clone(),
            source,
        })?;
        if self.read_table().await?.is_none() {
            // A new container: take over from whatever site the image ships with.
            let rm = ExecCommand::new(["rm", "-f", OFFICIAL_DEFAULT_SITE]);
            self.engine.exec(&self.spec.name, &rm).await?;
            self.apply(&ProxyConfig::default(), sink).await?;
        }
        Ok(())
    }

    /// The routing table in force; empty when the proxy has none yet.
    pub async fn config(&self) -> Result<ProxyConfig, ProxyError> {
        Ok(self.read_table().await?.unwrap_or_default())
    }

    async fn read_table(&self) -> Result<Option<ProxyConfig>, ProxyError> {
        let snapshot = self.snapshot().await?;
        Ok(snapshot.raw.is_some().then_some(snapshot.table))
    }

    /// The routing table in force with the bytes it was read from, to change it later with
    /// [`Proxy::update_on`] without reading it again.
    pub async fn snapshot(&self) -> Result<TableSnapshot, ProxyError> {
        let Some(file) = self
            .engine
            .download_file(&self.spec.name, TABLE_PATH)
            .await?
        else {
            return Ok(TableSnapshot::default());
        };
        let table = serde_json::from_slice(&file.contents).map_err(|e| ProxyError::BadTable {
            proxy: self.spec.name.clone(),
            why: e.to_string(),
        })?;
        Ok(TableSnapshot {
            table,
            raw: Some(file.contents),
        })
    }

    /// [`Proxy::update`] on a table read earlier: `change` edits `base`'s table and the result
    /// is applied only if the proxy's table is still the one `base` was read from (checked in
    /// the same exec, so nothing is read through the slow archive API). When another change
    /// came in between, the table is read again and `change` applied to it. `base` follows:
    /// afterwards it holds the table in force.
    pub async fn update_on<F>(
        &self,
        base: &mut TableSnapshot,
        sink: &dyn EventSink,
        change: F,
    ) -> Result<Applied, ProxyError>
    where
        F: Fn(&mut ProxyConfig) -> Result<(), ConfigError>,
    {
        for _ in 0..2 {
            let mut table = base.table.clone();
            change(&mut table)?;
            match self.apply_on(&table, Some(base), sink).await {
                Err(ProxyError::Conflict) => *base = self.snapshot().await?,
                Ok(applied) => {
                    if applied == Applied::Reloaded {
                        *base = TableSnapshot {
                            raw: Some(table_bytes(&table)),
                            table,
                        };
                    }
                    return Ok(applied);
                }
                Err(e) => return Err(e),
            }
        }
        // Changed under us twice in a row: read and apply without the check.
        let mut table = self.config().await?;
        change(&mut table)?;
        let applied = self.apply(&table, sink).await?;
        *base = self.snapshot().await?;
        Ok(applied)
    }

    /// Reads the table, lets `change` edit it, and applies the result.
    pub async fn update<F>(&self, sink: &dyn EventSink, change: F) -> Result<Applied, ProxyError>
    where
        F: FnOnce(&mut ProxyConfig) -> Result<(), ConfigError>,
    {
        let mut table = self.config().await?;
        change(&mut table)?;
        self.apply(&table, sink).await
    }

    /// Makes `table` the proxy's configuration: write, `nginx -t`, SIGHUP, and wait until
    /// nginx's new workers took over (no worker of the old configuration accepts any more).
    /// When nginx rejects it, the previous files are put back (nginx never loaded the rejected
    /// ones) and the error carries nginx's message.
    ///
    /// One exec after the table was read ([`APPLY_SCRIPT`]; a large table is uploaded to a
    /// staging folder first): it compares, swaps, checks, reloads and watches the workers
    /// inside the container, where a look at them costs a millisecond instead of an exec.
    pub async fn apply(
        &self,
        table: &ProxyConfig,
        sink: &dyn EventSink,
    ) -> Result<Applied, ProxyError> {
        self.apply_on(table, None, sink).await
    }

    /// [`Proxy::apply`], refused with [`ProxyError::Conflict`] when `base` is given and the
    /// table in the container is no longer the one it was read from.
    async fn apply_on(
        &self,
        table: &ProxyConfig,
        base: Option<&TableSnapshot>,
        sink: &dyn EventSink,
    ) -> Result<Applied, ProxyError> {
        let name = &self.spec.name;
        let text = table.render_tls(self.spec.port, self.spec.https_port)?;
        let table_json = table_bytes(table);
        // A folder of its own per apply, so that two applies never read each other's files.
        let stage = format!("{STAGE_DIR}/{}", stage_name());
        let mut script = ExecCommand::new(["sh", "-c", APPLY_SCRIPT, "hoist-apply", &stage]);
        let base_raw = base.map(|b| b.raw.clone().unwrap_or_default());
        let size = text.len() + table_json.len() + base_raw.as_ref().map_or(0, Vec::len);
        if let Some(raw) = &base_raw {
            // An empty base: there was no table.
            script.env.push(format!(
                "HOIST_BASE={}",
                if raw.is_empty() { "absent" } else { "file" }
            ));
        }
        if size <= INLINE_MAX {
            // Small enough to travel in the exec's environment: no separate upload.
            script.env.push(format!("HOIST_CONF={text}"));
            script.env.push(format!(
                "HOIST_TABLE={}",
                String::from_utf8_lossy(&table_json)
            ));
            if let Some(raw) = &base_raw {
                script
                    .env
                    .push(format!("HOIST_BASE_TABLE={}", String::from_utf8_lossy(raw)));
            }
        } else {
            let mut files = vec![
                FileUpload::new(format!("{stage}/hoist.conf"), text, 0o644),
                FileUpload::new(format!("{stage}/routes.json"), table_json, 0o644),
            ];
            if let Some(raw) = base_raw {
                files.push(FileUpload::new(format!("{stage}/base.json"), raw, 0o644));
            }
            self.engine.upload_files(name, &files).await?;
        }
        let out = self.engine.exec(name, &script).await?;
        match out.exit_code {
            0 => {
                sink.emit(Event::new("Proxy", name.clone(), Phase::Done, "Reloaded"));
                Ok(Applied::Reloaded)
            }
            UNCHANGED => Ok(Applied::Unchanged),
            CONFLICT => Err(ProxyError::Conflict),
            NO_SIGNAL => {
                // The exec may not signal nginx (another user): the engine can. The takeover is
                // then not waited for.
                self.engine.signal(name, "HUP").await?;
                sink.emit(Event::new("Proxy", name.clone(), Phase::Done, "Reloaded"));
                Ok(Applied::Reloaded)
            }
            REJECTED | REJECTED_FIRST => {
                let message = nginx_error(&out.stderr_text(), &out.stdout_text());
                if out.exit_code == REJECTED_FIRST {
                    // No previous files to put back: the empty table, which nginx accepts.
                    self.restore(None, None).await?;
                }
                sink.emit(Event::new(
                    "Proxy",
                    name.clone(),
                    Phase::Failed,
                    message.clone(),
                ));
                Err(ProxyError::Rejected {
                    proxy: name.clone(),
                    message,
                })
            }
            code => Err(ProxyError::Failed {
                proxy: name.clone(),
                what: "applying the configuration",
                message: format!(
                    "exit {code}: {}",
                    format!("{} {}", out.stderr_text(), out.stdout_text()).trim()
                ),
            }),
        }
    }

    /// Puts back the files that were there before a rejected apply. Without previous files
    /// (a new proxy), the empty table is written instead, which nginx accepts.
    async fn restore(
        &self,
        conf: Option<hoist_docker::ContainerFile>,
        table: Option<hoist_docker::ContainerFile>,
    ) -> Result<(), ProxyError> {
        let files = match (conf, table) {
            (Some(conf), Some(table)) => vec![
                FileUpload::new(CONF_PATH, conf.contents, conf.mode),
                FileUpload::new(TABLE_PATH, table.contents, table.mode),
            ],
            _ => {
                let empty = ProxyConfig::default();
                vec![
                    FileUpload::new(
                        CONF_PATH,
                        empty.render_tls(self.spec.port, self.spec.https_port)?,
                        0o644,
                    ),
                    FileUpload::new(
                        TABLE_PATH,
                        serde_json::to_vec_pretty(&empty).expect("a table serialises"),
                        0o644,
                    ),
                ]
            }
        };
        self.engine.upload_files(&self.spec.name, &files).await?;
        Ok(())
    }
}

/// nginx's message from `nginx -t` output: its `[emerg]`/`[error]` lines, without the closing
/// "test failed" line, which says nothing more.
pub fn nginx_error(stderr: &str, stdout: &str) -> String {
    let all = format!("{stderr}\n{stdout}");
    let lines: Vec<String> = all
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.ends_with("test failed"))
        .map(plain_nginx_line)
        .collect();
    let important: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("[emerg]") || l.contains("[error]") || l.contains("[crit]"))
        .cloned()
        .collect();
    let chosen = if important.is_empty() {
        lines
    } else {
        important
    };
    if chosen.is_empty() {
        "nginx -t failed without a message".into()
    } else {
        chosen.join("; ")
    }
}

/// nginx writes `2026/11/27 15:02:00 [emerg] 31#31: message` when its error log is stderr (as
/// in images that link it there) and `nginx: [emerg] message` otherwise: both become the latter,
/// which reads the same whatever the image.
fn plain_nginx_line(line: &str) -> String {
    let parts: Vec<&str> = line.splitn(5, ' ').collect();
    let dated = parts.len() == 5
        && parts[0].len() == 10
        && parts[0].chars().all(|c| c.is_ascii_digit() || c == '/')
        && parts[1].chars().all(|c| c.is_ascii_digit() || c == ':')
        && parts[2].starts_with('[')
        && parts[3].ends_with(':')
        && parts[3].contains('#');
    if dated {
        format!("nginx: {} {}", parts[2], parts[4])
    } else {
        line.to_string()
    }
}

/// The `host:port` servers of a service's running containers on the engine, for an upstream:
/// the port the engine published for `container_port`, reached at `host` (the target's address
/// as the proxy container sees it). One-off containers and blue-green colours are left out. A
/// container that publishes on one host address only is reached there.
pub async fn published_servers(
    engine: &Engine,
    project: &str,
    service: &str,
    container_port: u16,
    host: &str,
) -> Result<Vec<String>, EngineError> {
    let observed = engine.observe_project(project, &[], &[], &[]).await?;
    let mut servers = Vec::new();
    for container in observed.service_containers(service) {
        // Blue-green colours have upstreams of their own; this is the uncoloured service.
        if !container.state.is_running() || hoist_core::bluegreen::color_of(container).is_some() {
            continue;
        }
        let published = container.ports.iter().find(|p| {
            p.private_port == container_port && p.protocol == "tcp" && p.public_port.is_some()
        });
        if let Some(port) = published {
            let address = match port.host_ip.as_deref() {
                Some(ip) if !ip.is_empty() && ip != "0.0.0.0" && ip != "::" => ip,
                _ => host,
            };
            let server = format!("{address}:{}", port.public_port.unwrap_or_default());
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
    }
    servers.sort();
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_error_keeps_the_emerg_line() {
        let stderr = "nginx: [emerg] unknown directive \"proxy_bogus\" in /etc/nginx/conf.d/hoist.conf:17\nnginx: configuration file /etc/nginx/nginx.conf test failed\n";
        assert_eq!(
            nginx_error(stderr, ""),
            "nginx: [emerg] unknown directive \"proxy_bogus\" in /etc/nginx/conf.d/hoist.conf:17"
        );
        assert_eq!(nginx_error("", ""), "nginx -t failed without a message");
        let dated = "2026/11/27 15:02:00 [emerg] 31#31: unknown directive \"proxy_bogus\" in /etc/nginx/conf.d/hoist.conf:21\nnginx: configuration file /etc/nginx/nginx.conf test failed";
        assert_eq!(
            nginx_error(dated, ""),
            "nginx: [emerg] unknown directive \"proxy_bogus\" in /etc/nginx/conf.d/hoist.conf:21"
        );
    }

    #[test]
    fn the_proxy_project_runs_in_the_hosts_network_without_published_ports() {
        let spec = ProxySpec {
            port: 8088,
            ..ProxySpec::new("10.200.0.1:5000/hoist-proxy")
        };
        let project = spec.project();
        let service = &project.services[0];
        assert_eq!(service.container_name.as_deref(), Some("hoist-proxy"));
        assert_eq!(service.container.network_mode.as_deref(), Some("host"));
        assert!(service.container.ports.is_empty());
        assert!(service.container.exposed_ports.is_empty());
        let cmd = service.container.cmd.as_ref().expect("a command").join(" ");
        assert!(
            cmd.contains("rm -f /etc/nginx/conf.d/default.conf"),
            "{cmd}"
        );
        assert!(cmd.ends_with("exec nginx -g 'daemon off;'"), "{cmd}");
        assert_eq!(
            service
                .container
                .labels
                .get(PROXY_LABEL)
                .map(String::as_str),
            Some("true")
        );
    }
}
